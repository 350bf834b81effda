//! The care relation from a doctor's side: look up the clinic's patients, start a conversation
//! with one, and learn of the conversation an emergency taken for another doctor's patient
//! opened. The server decides who may talk to whom (docs/protocol.md); this only asks it.

use super::{Client, refresh_directory};
use crate::error::{ClientError, Result};
use crate::events::ClientEvent;
use clinic_protocol::{Contact, Conversation, Emergency, Role, UserId};

impl Client {
    /// The clinic's patients whose name contains `query` (doctors only; needs the server).
    pub async fn find_patients(&self, query: &str) -> Result<Vec<Contact>> {
        self.doctor_only()?;
        self.shared
            .api
            .patients(query.trim())
            .await
            .map_err(unreachable_as_unconfirmed)
    }

    /// Opens the conversation of this doctor with `patient` (a patient of the clinic), puts it
    /// in the cached list and returns it. Needs the server: the relation is its to grant.
    pub async fn start_conversation(&self, patient: &UserId) -> Result<Conversation> {
        self.doctor_only()?;
        let conversation = self
            .shared
            .api
            .start_conversation(patient)
            .await
            .map_err(unreachable_as_unconfirmed)?;
        self.shared
            .cache
            .merge_contacts(std::slice::from_ref(&conversation.other_party))?;
        self.learn_conversations().await;
        Ok(conversation)
    }

    /// After this doctor took `emergency`: taking it opened a conversation with the patient
    /// when they had none, so fetch the list again (the patient's name, age and blood group).
    pub(crate) async fn after_taking(&self, emergency: &Emergency) {
        let known = self
            .shared
            .cache
            .contacts()
            .map(|list| list.iter().any(|c| c.id == emergency.patient_id))
            .unwrap_or(false);
        if !known {
            self.learn_conversations().await;
        }
    }

    async fn learn_conversations(&self) {
        if let Err(e) = refresh_directory(&self.shared).await {
            tracing::info!("could not refresh the conversation list: {e}");
        }
        self.shared.emit(ClientEvent::ConversationsChanged);
    }

    fn doctor_only(&self) -> Result<()> {
        if self.user().role == Role::Doctor {
            Ok(())
        } else {
            Err(ClientError::Invalid(
                "only doctors look up the clinic's patients".into(),
            ))
        }
    }
}

fn unreachable_as_unconfirmed(e: ClientError) -> ClientError {
    match e {
        e if e.is_unreachable() => ClientError::Unconfirmed(
            "The clinic server could not be reached; try again when connected.".into(),
        ),
        e => e,
    }
}
