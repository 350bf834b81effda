//! Unsend / retract and edit one's own message: checked here against what the clinic allows
//! (so an obvious refusal is immediate), queued like a send (offline too, exactly once by its
//! clientId), shown at once, and settled or refused by the server. The version list of a
//! message is asked of the server.

use super::Client;
use crate::cache::ChangeBody;
use crate::error::{ClientError, Result};
use crate::events::ClientEvent;
use crate::record::LocalMessage;
use chrono::Utc;
use clinic_protocol::rest::{EditRequest, MessageVersions, RetractRequest};
use clinic_protocol::{ClientId, MessageId, Role, limits};

impl Client {
    /// Unsends (a patient) or retracts (a doctor) one's own message. `misdirected` (sent to the
    /// wrong person) is allowed at any age and needs a `reason`.
    pub fn unsend(
        &self,
        message_id: &MessageId,
        reason: Option<String>,
        misdirected: bool,
    ) -> Result<LocalMessage> {
        let reason = reason.filter(|r| !clinic_protocol::text::is_blank(r));
        if let Some(r) = &reason {
            super::check_words("the reason", r)?;
        }
        if misdirected && reason.is_none() {
            return Err(ClientError::Invalid(
                "say why: a message sent to the wrong person is retracted with a reason".into(),
            ));
        }
        if reason
            .as_ref()
            .is_some_and(|r| r.len() > limits::MAX_REASON_BYTES)
        {
            return Err(ClientError::Invalid(format!(
                "a reason holds at most {} bytes",
                limits::MAX_REASON_BYTES
            )));
        }
        let message = self.own_changeable(message_id, "unsend")?;
        if message.retracted.is_some() {
            return Ok(message);
        }
        if !misdirected {
            let secs = self
                .windows()
                .map(|w| w.retract_secs_for(self.shared.user.role));
            self.check_window(&message, secs, self.unsend_verb())?;
        }
        self.queue(
            message_id,
            ChangeBody::Retract(RetractRequest {
                reason,
                misdirected,
            }),
        )
    }

    /// Replaces the text of one's own message (the earlier text stays in its version list).
    pub fn edit(&self, message_id: &MessageId, content: &str) -> Result<LocalMessage> {
        if clinic_protocol::text::is_blank(content) {
            return Err(ClientError::Invalid(
                "an edit cannot leave the message empty; to remove it, unsend it".into(),
            ));
        }
        super::check_words("the message", content)?;
        if content.len() > limits::MAX_CONTENT_BYTES {
            return Err(ClientError::Invalid(format!(
                "a message holds at most {} bytes",
                limits::MAX_CONTENT_BYTES
            )));
        }
        let message = self.own_changeable(message_id, "edit")?;
        if message.retracted.is_some() {
            return Err(ClientError::Invalid(
                "this message was unsent; there is nothing left to edit".into(),
            ));
        }
        let windows = self.windows();
        self.check_window(&message, windows.map(|w| w.edit_secs), "edit")?;
        if let Some(w) = windows
            && message.version() > w.max_edits
        {
            return Err(ClientError::Invalid(format!(
                "this message was already edited {} times, the most allowed",
                w.max_edits
            )));
        }
        self.queue(
            message_id,
            ChangeBody::Edit(EditRequest {
                content: content.to_owned(),
                base_version: message.version(),
            }),
        )
    }

    /// One cached message by its server id.
    pub fn message_by_id(&self, message_id: &MessageId) -> Result<Option<LocalMessage>> {
        self.ensure_unlocked()?;
        self.shared.cache.message_by_id(message_id)
    }

    /// Every version of a message's text, oldest first (asked of the server).
    pub async fn versions(&self, message_id: &MessageId) -> Result<MessageVersions> {
        self.ensure_unlocked()?;
        self.shared.api.versions(message_id).await
    }

    fn unsend_verb(&self) -> &'static str {
        if self.shared.user.role == Role::Patient {
            "unsend"
        } else {
            "retract"
        }
    }

    fn windows(&self) -> Option<clinic_protocol::MessageWindows> {
        self.clinic_info().and_then(|c| c.message_windows)
    }

    /// The cached message `message_id` if it is one's own, on the server, and not an emergency.
    fn own_changeable(&self, message_id: &MessageId, what: &str) -> Result<LocalMessage> {
        self.ensure_unlocked()?;
        let message = self
            .shared
            .cache
            .message_by_id(message_id)?
            .ok_or_else(|| ClientError::NotFound(format!("message {message_id}")))?;
        if &message.sender_id != self.shared.me() {
            return Err(ClientError::Invalid(format!(
                "only the person who sent a message can {what} it"
            )));
        }
        if message.is_emergency {
            return Err(ClientError::Invalid(format!(
                "an emergency message can't be {}; resolve it with a note instead",
                if what == "edit" { "edited" } else { "unsent" }
            )));
        }
        Ok(message)
    }

    /// Refuses at once when the clinic's window (if known) has passed; the server decides in
    /// the end (a change queued offline may still be refused as too late).
    fn check_window(&self, message: &LocalMessage, secs: Option<u32>, what: &str) -> Result<()> {
        // A time the window's end cannot follow (only a hostile server's) has no end here.
        let ends = secs.and_then(|secs| {
            let length = chrono::Duration::seconds(i64::from(secs));
            message.created_at.checked_add_signed(length)
        });
        if let Some(ends) = ends
            && Utc::now() >= ends
        {
            return Err(ClientError::Invalid(format!(
                "too late to {what}: that ended at {}",
                // This computer's time, as the app and the CLI show every other.
                crate::time::showable(ends)
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
            )));
        }
        Ok(())
    }

    fn queue(&self, message_id: &MessageId, body: ChangeBody) -> Result<LocalMessage> {
        let client_id = ClientId::new(uuid::Uuid::now_v7().to_string());
        let message = self
            .shared
            .cache
            .queue_change(message_id, &client_id, &body)?
            .ok_or_else(|| ClientError::NotFound(format!("message {message_id}")))?;
        self.shared.emit(ClientEvent::MessageUpserted {
            message: message.clone(),
        });
        self.shared.outbox_wake.notify_one();
        Ok(message)
    }
}
