//! Our unsends and edits worked over a live socket: every queued change is sent once per
//! socket, in the order it was made, after catch-up; the server's `message:updated` with its
//! clientId settles it, a refusal drops it with a notice on the message (it stays as it was).
//! A change refused only for now (a busy server) is sent again on the same socket after a
//! growing wait (the send queue's, at most its cap), and on the next connection; refused as
//! many times as a send is tried before it is parked, its message says it is still being tried
//! and why (a change is never parked: taking back a message sent to the wrong person must not
//! wait for someone to press Retry).

use super::{Conn, Step, failed};
use crate::cache::ChangeBody;
use clinic_protocol::{ClientId, ErrorCode, Message, Role};
use std::collections::{HashMap, HashSet};
use tokio::time::Instant;

/// The queued changes on one socket: sent and not answered yet, or waiting to be sent again.
#[derive(Debug, Default)]
pub(super) struct Changes {
    sent: HashSet<ClientId>,
    /// Refused for now: how many times, and not before when it goes again.
    again: HashMap<ClientId, (u32, Instant)>,
}

impl Changes {
    fn settled(&mut self, client_id: &ClientId) {
        self.sent.remove(client_id);
        self.again.remove(client_id);
    }
}

impl Conn {
    /// Sends every queued change not yet sent on this socket, unless its wait after a refusal
    /// for now has not run out (then the lanes' next wake-up is no later than its end).
    pub(super) async fn send_changes(&mut self) -> Step {
        let queued = self.shared.cache.queued_changes().map_err(failed)?;
        let now = Instant::now();
        for change in queued {
            if self.changes.sent.contains(&change.client_id) {
                continue;
            }
            if let Some(&(_, at)) = self.changes.again.get(&change.client_id)
                && at > now
            {
                self.lanes.retry_at = Some(self.lanes.retry_at.map_or(at, |r| r.min(at)));
                continue;
            }
            self.changes.sent.insert(change.client_id.clone());
            self.send(&change.frame()).await?;
        }
        Ok(())
    }

    /// `message:updated` answering our change `client_id`.
    pub(super) fn change_answered(&mut self, client_id: &ClientId, message: Message) -> Step {
        self.changes.settled(client_id);
        let shared = &self.shared;
        let changed = shared
            .cache
            .change_done(shared.me(), client_id, message)
            .map_err(failed)?;
        shared.emit_messages(changed);
        shared.remove_dropped_files();
        Ok(())
    }

    /// What the queued change `client_id` does, in the words its notices use.
    fn verb_of(&self, client_id: &ClientId) -> Result<&'static str, super::End> {
        let kind = self
            .shared
            .cache
            .queued_changes()
            .map_err(failed)?
            .into_iter()
            .find(|c| &c.client_id == client_id)
            .map(|c| c.body);
        Ok(match (kind, self.shared.user.role) {
            (Some(ChangeBody::Edit(_)), _) => "edit",
            (_, Role::Patient) => "unsend",
            _ => "retract",
        })
    }

    /// When the clinic's window for the change `client_id` ended (its message's sending time
    /// and the window the server announced), if both are known here.
    fn window_end(&self, client_id: &ClientId) -> Option<chrono::DateTime<chrono::Utc>> {
        let change = self
            .shared
            .cache
            .queued_changes()
            .ok()?
            .into_iter()
            .find(|c| &c.client_id == client_id)?;
        let windows = self.shared.cache.clinic_info().ok()??.message_windows?;
        let secs = match change.body {
            ChangeBody::Edit(_) => windows.edit_secs,
            ChangeBody::Retract(_) => windows.retract_secs_for(self.shared.user.role),
        };
        let message = self.shared.cache.message_by_id(&change.message_id).ok()??;
        message
            .created_at
            .checked_add_signed(chrono::Duration::seconds(i64::from(secs)))
    }

    /// An `error` answering our change `client_id`.
    pub(super) fn change_refused(
        &mut self,
        client_id: &ClientId,
        code: ErrorCode,
        why: &str,
    ) -> Step {
        if code.is_transient() {
            // Answered: it may go again, after a wait that grows with each refusal.
            self.changes.sent.remove(client_id);
            let attempts = self
                .changes
                .again
                .get(client_id)
                .map_or(1, |(n, _)| n.saturating_add(1));
            let wait = self.shared.tuning.send_retry.after(attempts);
            let at = Instant::now() + wait;
            self.changes.again.insert(client_id.clone(), (attempts, at));
            self.lanes.retry_at = Some(self.lanes.retry_at.map_or(at, |r| r.min(at)));
            tracing::info!(
                "change {client_id} refused for now ({code:?}): {why}; attempt {attempts}, next \
                 in {wait:?}"
            );
            if attempts >= self.shared.tuning.send_attempts {
                let verb = self.verb_of(client_id)?;
                let notice = format!("Still trying to {verb}: {why}");
                let changed = self
                    .shared
                    .cache
                    .change_delayed(client_id, &notice)
                    .map_err(failed)?;
                self.shared.emit_messages(changed);
            }
            return Ok(());
        }
        let verb = self.verb_of(client_id)?;
        let ended = self.window_end(client_id);
        self.changes.settled(client_id);
        let shared = &self.shared;
        let notice = if code == ErrorCode::TooLate {
            match ended.filter(|ended| *ended <= chrono::Utc::now()) {
                // This computer's time, as every other time the app shows (the server's
                // sentence gives its own, in UTC).
                Some(ended) => format!(
                    "Couldn't {verb}: too late. The time for it ended at {}.",
                    crate::time::showable(ended)
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                ),
                // What this computer knows says it was in time (the message's time here, or
                // the window, is not the server's): the server's own sentence, said once.
                _ => format!("Couldn't {verb}: too late. {}", without_too_late(why)),
            }
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

/// The server's "Too late to unsend: that ended at …" without its first words, which the
/// notice already says ("That ended at …").
fn without_too_late(why: &str) -> String {
    match why.split_once(": ") {
        Some((head, rest)) if head.starts_with("Too late to ") => {
            let mut chars = rest.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
        _ => why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_too_late;

    #[test]
    fn the_servers_too_late_is_said_once() {
        assert_eq!(
            without_too_late(
                "Too late to unsend: that ended at 2026-12-07 23:04 UTC, 1 minute after it was sent."
            ),
            "That ended at 2026-12-07 23:04 UTC, 1 minute after it was sent."
        );
        assert_eq!(without_too_late("Something else: x"), "Something else: x");
        assert_eq!(without_too_late("Too late to edit: "), "");
    }
}
