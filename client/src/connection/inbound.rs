//! Frames from the server: each is applied to the cache (one transaction) and reported as
//! events; unreadable or unknown frames are skipped.

use super::{Conn, End, Step, failed};
use crate::events::ClientEvent;
use clinic_protocol::{ClientFrame, ConversationKey, ErrorCode, MessageStatus, ServerFrame};
use std::sync::Arc;
use tokio::sync::mpsc;

impl Conn {
    pub(super) async fn on_text(
        &mut self,
        text: &str,
        tx: &mpsc::Sender<ClientFrame>,
        was_online: &mut bool,
    ) -> Step {
        let frame = match serde_json::from_str::<ServerFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                // Unknown types (a newer server) and garbage alike: skip, never crash.
                let head: String = text.chars().take(80).collect();
                tracing::debug!("ignoring unreadable frame ({e}): {head}");
                return Ok(());
            }
        };
        let shared = Arc::clone(&self.shared);
        let me = shared.me().clone();
        match frame {
            ServerFrame::MessageReceived { message } => {
                let owed = message.sender_id != me && message.status == MessageStatus::Sent;
                let id = message.id.clone();
                let mine = message.sender_id == me;
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                if mine {
                    // Sent from this account elsewhere, or settles one of our outbox entries.
                    shared.refresh_queued();
                }
                shared.emit_messages(changed);
                if owed {
                    self.send(&ClientFrame::MessageDelivered {
                        message_ids: vec![id],
                    })
                    .await?;
                }
            }
            ServerFrame::MessageAck { client_id, message } => {
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                // Count the outbox before telling anyone, so a UI reacting to the event sees
                // a queue that already agrees with it.
                self.settled(&client_id);
                shared.emit_messages(changed);
                self.fill().await?;
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(client_id),
            } => {
                if code.is_transient() {
                    // Start over on a fresh socket; the outbox still holds it, and the clientId
                    // makes the repeat safe.
                    return Err(failed(format!(
                        "send refused for now ({code:?}): {message}"
                    )));
                }
                // The server lost the upload the send names (swept): upload it again.
                if code == ErrorCode::NotFound
                    && shared
                        .cache
                        .requeue_upload(&me, client_id.as_str())
                        .map_err(failed)?
                {
                    self.settled(&client_id);
                    return self.fill().await;
                }
                let changed = shared
                    .cache
                    .mark_failed(&me, client_id.as_str(), &format!("{code:?}: {message}"))
                    .map_err(failed)?;
                // Count the outbox before telling anyone, so a UI reacting to the event sees
                // a queue that already agrees with it.
                self.settled(&client_id);
                shared.emit_messages(changed);
                self.fill().await?;
            }
            ServerFrame::Error {
                code: ErrorCode::Unauthorized,
                message,
                client_id: None,
            } => return Err(End::SignedOut(message)),
            ServerFrame::Error { code, message, .. } => {
                shared.emit(ClientEvent::ServerError { code, message });
            }
            ServerFrame::SyncBatch(page) => {
                let (messages, emergencies) =
                    shared.cache.apply_sync_page(&me, &page).map_err(failed)?;
                shared.refresh_queued();
                shared.emit_messages(messages);
                for emergency in emergencies {
                    shared.emit(ClientEvent::EmergencyUpdated { emergency });
                }
                if page.has_more {
                    // One page per request: ask for the next one from where this one ended.
                    self.send(&ClientFrame::Sync {
                        since: page.cursor,
                        limit: None,
                    })
                    .await?;
                } else if !self.synced {
                    self.caught_up(tx, was_online).await?;
                }
            }
            ServerFrame::MessageReadConfirmed {
                message_ids,
                read_at,
                ..
            } => {
                let changed = shared
                    .cache
                    .apply_receipts(&message_ids, MessageStatus::Read, read_at)
                    .map_err(failed)?;
                shared.emit_messages(changed);
            }
            ServerFrame::MessageDeliveredConfirmed {
                message_ids,
                delivered_at,
                ..
            } => {
                let changed = shared
                    .cache
                    .apply_receipts(&message_ids, MessageStatus::Delivered, delivered_at)
                    .map_err(failed)?;
                shared.emit_messages(changed);
            }
            ServerFrame::TypingStarted {
                patient_id,
                doctor_id,
                user_id,
            } if user_id != me => {
                let key = (ConversationKey::new(patient_id, doctor_id), user_id);
                shared.typing.started(key, &shared.events);
            }
            ServerFrame::TypingStopped {
                patient_id,
                doctor_id,
                user_id,
            } => {
                let key = (ConversationKey::new(patient_id, doctor_id), user_id);
                shared.typing.stopped(&key, &shared.events);
            }
            ServerFrame::UserOnline { user_id } => shared.set_online(&user_id, true),
            ServerFrame::UserOffline { user_id } => shared.set_online(&user_id, false),
            ServerFrame::EmergencyAlert {
                emergency,
                message,
                repeat,
                escalated,
                truncated,
            } => {
                shared.cache.save_emergency(&emergency).map_err(failed)?;
                // A preview must never replace the whole message in the cache; that comes with
                // `message:received` or `sync`.
                if !truncated {
                    let changed = shared
                        .cache
                        .apply_message(&me, message.clone())
                        .map_err(failed)?;
                    shared.emit_messages(changed);
                }
                shared.emit(ClientEvent::EmergencyAlert {
                    emergency,
                    message,
                    repeat,
                    escalated,
                });
            }
            ServerFrame::EmergencyUpdated { emergency } => {
                shared.cache.save_emergency(&emergency).map_err(failed)?;
                shared.emit(ClientEvent::EmergencyUpdated { emergency });
            }
            ServerFrame::Notification { notification } => {
                shared.emit(ClientEvent::Notification { notification });
            }
            ServerFrame::Authenticated { .. }
            | ServerFrame::ChatJoined(_)
            | ServerFrame::ChatLeft(_)
            | ServerFrame::TypingStarted { .. } => {}
        }
        Ok(())
    }
}
