//! Offline-first reads for a UI's conversation list and a tray's badge: answered from the cache
//! alone, never waiting for the network (the connection task keeps the cache fresh).

use super::Client;
use crate::error::Result;
use clinic_protocol::ws::Availability;
use clinic_protocol::{Conversation, ConversationKey, UserId};
use std::collections::{HashMap, HashSet};

impl Client {
    /// The conversation list from the cache, with unread counts and open emergencies as this
    /// client knows them now. See [`crate::Cache::local_conversations`].
    pub fn cached_conversations(&self) -> Result<Vec<Conversation>> {
        let me = &self.shared.user;
        self.shared.cache.local_conversations(&me.id, me.role)
    }

    /// What a UI lists: every conversation (as [`Client::cached_conversations`]) followed by
    /// the contacts not talked to yet (a patient sees every doctor of the clinic), each as an
    /// empty conversation, in name order. The one list a UI shows; it sorts nothing itself.
    pub fn conversation_list(&self) -> Result<Vec<Conversation>> {
        let mut list = self.cached_conversations()?;
        let online = self.shared.presence().clone();
        let talked: HashSet<UserId> = list.iter().map(|c| c.other_party.id.clone()).collect();
        let mut fresh: Vec<Conversation> = self
            .contacts()?
            .into_iter()
            .filter(|c| !talked.contains(&c.id) && c.id != self.shared.user.id)
            .filter_map(|contact| {
                let key = self.conversation_with_contact(&contact).ok()?;
                Some(Conversation {
                    patient_id: key.patient_id,
                    doctor_id: key.doctor_id,
                    other_party: contact,
                    last_message: None,
                    unread_count: 0,
                    has_emergency: false,
                    emergency: None,
                })
            })
            .collect();
        fresh.sort_by(|a, b| a.other_party.name.cmp(&b.other_party.name));
        list.extend(fresh);
        // The contacts hold the latest availability (`user:availability` updates them).
        let availability: HashMap<UserId, Availability> = self
            .contacts()?
            .into_iter()
            .filter_map(|c| Some((c.id, c.availability?)))
            .collect();
        for c in &mut list {
            c.other_party.online = online.contains(&c.other_party.id);
            if let Some(a) = availability.get(&c.other_party.id) {
                c.other_party.availability = Some(*a);
            }
        }
        Ok(list)
    }

    /// The conversation a user opening the app most likely wants: the first with an open
    /// emergency (doctors), else the first with unread messages.
    pub fn conversation_needing_attention(&self) -> Result<Option<ConversationKey>> {
        let list = self.cached_conversations()?;
        let first = list
            .iter()
            .find(|c| c.has_emergency && self.user().role == clinic_protocol::Role::Doctor)
            .or_else(|| list.iter().find(|c| c.unread_count > 0));
        Ok(first.map(|c| ConversationKey::new(c.patient_id.clone(), c.doctor_id.clone())))
    }

    /// Messages addressed to this user not yet read, across all conversations.
    pub fn unread_count(&self) -> Result<u64> {
        self.shared.cache.unread_total(&self.shared.user.id)
    }
}

impl crate::shared::Shared {
    /// `user:availability`: a doctor this user talks to changed it; kept with their contact.
    pub(crate) fn peer_availability(
        &self,
        user: &UserId,
        availability: Availability,
    ) -> Result<()> {
        let Some(mut contact) = self.cache.contacts()?.into_iter().find(|c| &c.id == user) else {
            return Ok(());
        };
        if contact.availability != Some(availability) {
            contact.availability = Some(availability);
            self.cache.merge_contacts(std::slice::from_ref(&contact))?;
        }
        self.emit(crate::events::ClientEvent::PeerAvailability {
            user_id: user.clone(),
            availability,
        });
        Ok(())
    }
}
