//! Our unsends and edits worked over a live socket: every queued change is sent once per
//! socket, in the order it was made, after catch-up; the server's `message:updated` with its
//! clientId settles it, a refusal drops it with a notice on the message (it stays as it was).
//! A change refused only for now (busy server) is sent again on the next connection.

use super::{Conn, Step, failed};
use crate::cache::ChangeBody;
use clinic_protocol::{ClientId, ErrorCode, Message, Role};

impl Conn {
    /// Sends every queued change not yet sent on this socket.
    pub(super) async fn send_changes(&mut self) -> Step {
        let queued = self.shared.cache.queued_changes().map_err(failed)?;
        for change in queued {
            if self.changes_sent.insert(change.client_id.clone()) {
                self.send(&change.frame()).await?;
            }
        }
        Ok(())
    }

    /// `message:updated` answering our change `client_id`.
    pub(super) fn change_answered(&mut self, client_id: &ClientId, message: Message) -> Step {
        self.changes_sent.remove(client_id);
        let shared = &self.shared;
        let changed = shared
            .cache
            .change_done(shared.me(), client_id, message)
            .map_err(failed)?;
        shared.emit_messages(changed);
        shared.remove_dropped_files();
        Ok(())
    }

    /// An `error` answering our change `client_id`.
    pub(super) fn change_refused(
        &mut self,
        client_id: &ClientId,
        code: ErrorCode,
        why: &str,
    ) -> Step {
        if code.is_transient() {
            tracing::info!("change {client_id} refused for now ({code:?}): {why}");
            return Ok(());
        }
        self.changes_sent.remove(client_id);
        let shared = &self.shared;
        let kind = shared
            .cache
            .queued_changes()
            .map_err(failed)?
            .into_iter()
            .find(|c| &c.client_id == client_id)
            .map(|c| c.body);
        let verb = match (kind, shared.user.role) {
            (Some(ChangeBody::Edit(_)), _) => "edit",
            (_, Role::Patient) => "unsend",
            _ => "retract",
        };
        let notice = if code == ErrorCode::TooLate {
            format!("Couldn't {verb}: too late. {why}")
        } else {
            format!("Couldn't {verb}: {why}")
        };
        let changed = shared
            .cache
            .change_refused(client_id, &notice)
            .map_err(failed)?;
        shared.emit_messages(changed);
        Ok(())
    }
}
