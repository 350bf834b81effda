//! Frames from the server: each is applied to the cache (one transaction) and reported as
//! events; unreadable or unknown frames are skipped.

use super::{Conn, End, Step, failed};
use crate::events::ClientEvent;
use clinic_protocol::{ClientFrame, ConversationKey, ErrorCode, MessageStatus, ServerFrame};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Someone this client has no contact for wrote (a patient new to this doctor, or the other
/// party of a conversation opened on another device): fetch the contacts and conversations
/// again in the background, so the list shows their name (and a patient's age and blood group)
/// instead of nothing. At most one such refresh runs at a time.
fn learn_contact(shared: &Arc<crate::shared::Shared>, other: &clinic_protocol::UserId) {
    let known = shared
        .cache
        .contacts()
        .map(|list| list.iter().any(|c| &c.id == other))
        .unwrap_or(true);
    if known
        || shared
            .directory_refreshing
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        if let Err(e) = crate::client::refresh_directory(&shared).await {
            tracing::debug!("could not refresh contacts for a new conversation: {e}");
        }
        shared
            .directory_refreshing
            .store(false, std::sync::atomic::Ordering::Release);
        shared.emit(ClientEvent::ConversationsChanged);
    });
}

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
                learn_contact(&shared, message.conversation().other(&me));
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                if mine {
                    // Sent from this account elsewhere, or settles one of our outbox entries.
                    shared.refresh_queued();
                }
                shared.emit_messages(changed);
                if owed {
                    self.owe_delivered([id]);
                    if self.delivered_full() {
                        self.flush_delivered().await?;
                    }
                }
            }
            ServerFrame::MessageAck { client_id, message } => {
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                // Count the outbox before telling anyone, so a UI reacting to the event sees
                // a queue that already agrees with it.
                self.acked(&client_id);
                shared.emit_messages(changed);
                self.fill().await?;
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(client_id),
            } => {
                if shared.cache.is_queued_change(&client_id).map_err(failed)? {
                    self.change_refused(&client_id, code, &message)?;
                } else {
                    self.send_refused(&client_id, code, &message).await?;
                }
            }
            ServerFrame::MessageUpdated {
                message,
                client_id: Some(client_id),
            } => self.change_answered(&client_id, message)?,
            ServerFrame::MessageUpdated {
                message,
                client_id: None,
            } => {
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                shared.emit_messages(changed);
                shared.remove_dropped_files();
            }
            ServerFrame::Error {
                code: ErrorCode::Unauthorized,
                message,
                client_id: None,
            } => return Err(End::SignedOut(message)),
            ServerFrame::Error {
                code,
                message,
                client_id,
            } => {
                // Perhaps the answer to a catch-up resumed after a want of room: asked again at
                // the next ping (a page that comes twice is stored once).
                if self.sync_resumed && client_id.is_none() {
                    self.sync_resumed = false;
                    self.sync_waits_for_room = true;
                }
                shared.emit(ClientEvent::ServerError { code, message });
            }
            ServerFrame::ConversationPurged(purge) => {
                let files = shared.cache.attachments_purged_by(&purge).map_err(failed)?;
                shared.cache.apply_purge(&purge).map_err(failed)?;
                shared.history_purged(purge, &files);
            }
            ServerFrame::SyncBatch(page) => {
                self.sync_resumed = false;
                let owed: Vec<_> = page
                    .messages
                    .iter()
                    .filter(|m| m.sender_id != me && m.status == MessageStatus::Sent)
                    .map(|m| m.id.clone())
                    .collect();
                let files = page
                    .purges
                    .iter()
                    .map(|p| shared.cache.attachments_purged_by(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(failed)?;
                let asked = shared.cache.cursor().map_err(failed)?;
                let (messages, emergencies) =
                    shared.cache.apply_sync_page(&me, &page).map_err(failed)?;
                for (purge, files) in page.purges.into_iter().zip(files) {
                    shared.history_purged(purge, &files);
                }
                // Stored: one delivered receipt for the whole page.
                self.owe_delivered(owed);
                self.flush_delivered().await?;
                shared.refresh_queued();
                shared.emit_messages(messages);
                shared.remove_dropped_files();
                for emergency in emergencies {
                    // Already stored with the page; this tells the UI and the alarm.
                    shared.emergency_changed(emergency).map_err(failed)?;
                }
                // A "more" whose cursor did not move would be asked for again and again.
                let mut more = page.has_more && page.cursor > asked;
                if page.has_more && !more {
                    tracing::warn!(
                        "the server said more was to come without moving the cursor past {}",
                        asked.0
                    );
                }
                // The rest waits for room, from this cursor (the ping's tick looks again);
                // messages that come live are still taken (emergencies above all).
                if more && let Some(free) = shared.disk_low() {
                    more = false;
                    self.sync_waits_for_room = true;
                    tracing::warn!(
                        free,
                        "the disk is nearly full: no more sync pages asked for"
                    );
                    // Told once until a catch-up reaches its end: a link that comes and goes
                    // does not bring the notice back at every connection.
                    if !shared.disk_full_told.swap(true, Ordering::Relaxed) {
                        shared.emit(ClientEvent::Warning {
                            code: "diskFull".to_owned(),
                            message: format!(
                                "This computer's disk is nearly full ({} MiB free): some messages \
                                 sent while you were away were not fetched. New ones still \
                                 arrive; once there is room, the rest is fetched.",
                                free / (1024 * 1024)
                            ),
                        });
                    }
                }
                if !page.has_more {
                    shared.disk_full_told.store(false, Ordering::Relaxed);
                }
                if more {
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
            ServerFrame::UserAvailability {
                user_id,
                availability,
            } => shared
                .peer_availability(&user_id, availability)
                .map_err(failed)?,
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
                // The whole message, when this computer has it: a repeat of the alert carries
                // the preview again, and a doctor must be able to read every word (the banner
                // shows what the alert brings).
                let message = if truncated {
                    match shared.cache.message_by_id(&message.id) {
                        Ok(Some(whole)) if whole.is_acked() => whole.into_wire(),
                        _ => message,
                    }
                } else {
                    message
                };
                let _turn = shared.attention.turn();
                let effects = shared.attention.alerted(&emergency, escalated);
                shared.emit(ClientEvent::EmergencyAlert {
                    emergency,
                    message,
                    repeat,
                    escalated,
                });
                shared.attend(effects);
            }
            ServerFrame::EmergencyUpdated { emergency } => {
                shared.emergency_changed(emergency).map_err(failed)?;
            }
            ServerFrame::Notification { notification } => {
                // Its message came first (`message:received`): the version its text shows.
                let version = notification
                    .message_id
                    .as_ref()
                    .and_then(|id| shared.cache.message_by_id(id).ok().flatten())
                    .map_or(1, |m| m.version());
                let _turn = shared.attention.turn();
                let effects = shared.attention.notification(&notification, version);
                shared.emit(ClientEvent::Notification { notification });
                shared.attend(effects);
            }
            ServerFrame::AvailabilityChanged { availability } => {
                shared.availability_changed(availability).map_err(failed)?;
            }
            ServerFrame::Authenticated { .. }
            | ServerFrame::ChatJoined(_)
            | ServerFrame::ChatLeft(_)
            | ServerFrame::TypingStarted { .. } => {}
        }
        Ok(())
    }
}
