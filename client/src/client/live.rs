//! Actions that need the live socket (typing, joins, emergency transitions, presence) and read
//! receipts, which wait in the cache while offline.

use super::Client;
use crate::error::{ClientError, Result};
use clinic_protocol::ws::Availability;
use clinic_protocol::{ClientFrame, ConversationKey, EmergencyId, MessageId};

impl Client {
    /// The UI showed `message_id`: it and everything before it addressed to this user become
    /// read, in the cache at once and on the server now or after the next connect.
    pub fn mark_read(&self, message_id: &MessageId) -> Result<()> {
        let me = self.shared.me().clone();
        let Some((conversation, changed)) = self.shared.cache.mark_read_up_to(&me, message_id)?
        else {
            return Err(ClientError::NotFound(format!("message {message_id}")));
        };
        self.shared.emit_messages(changed);
        let frame = ClientFrame::MessageRead {
            message_id: message_id.clone(),
            patient_id: conversation.patient_id.clone(),
            doctor_id: conversation.doctor_id.clone(),
        };
        if self.send_live(frame).is_err() {
            self.shared.cache.owe_read(&conversation, message_id)?;
        }
        Ok(())
    }

    /// Follow a conversation's typing indicators (kept across reconnects).
    pub fn join(&self, conversation: &ConversationKey) {
        self.shared.joined().insert(conversation.clone());
        let _ = self.send_live(ClientFrame::JoinChat(conversation.clone()));
    }

    pub fn leave(&self, conversation: &ConversationKey) {
        self.shared.joined().remove(conversation);
        let _ = self.send_live(ClientFrame::LeaveChat(conversation.clone()));
    }

    /// Tell the peer this user is (or stopped) typing. Call `true` again every few seconds
    /// while typing continues: peers time out after [`Tuning::typing_timeout`]. Dropped
    /// silently while offline (a stale indicator is worse than none).
    pub fn set_typing(&self, conversation: &ConversationKey, typing: bool) {
        let frame = if typing {
            ClientFrame::TypingStart(conversation.clone())
        } else {
            ClientFrame::TypingStop(conversation.clone())
        };
        let _ = self.send_live(frame);
    }

    /// A doctor takes an emergency. Needs a connection (an alarm must not look handled when
    /// it is not).
    pub fn acknowledge_emergency(&self, emergency_id: &EmergencyId) -> Result<()> {
        self.send_live(ClientFrame::EmergencyAcknowledge {
            emergency_id: emergency_id.clone(),
        })
    }

    pub fn resolve_emergency(
        &self,
        emergency_id: &EmergencyId,
        note: Option<String>,
    ) -> Result<()> {
        self.send_live(ClientFrame::EmergencyResolve {
            emergency_id: emergency_id.clone(),
            note,
        })
    }

    pub fn set_presence(&self, availability: Availability) -> Result<()> {
        self.send_live(ClientFrame::PresenceSet { availability })
    }

    fn send_live(&self, frame: ClientFrame) -> Result<()> {
        let live = self.shared.live().clone();
        match live {
            Some(tx) => tx.try_send(frame).map_err(|_| ClientError::NotConnected),
            None => Err(ClientError::NotConnected),
        }
    }
}
