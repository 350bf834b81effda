//! The sender's side of a live socket: what is owed after catching up (joins, read and delivered
//! receipts) and the outbox, written in order through a window of unacknowledged sends.

use super::{Conn, Step, failed};
use crate::attachments::{self, Ready};
use crate::events::ConnectionState;
use clinic_protocol::limits::MAX_IDS_PER_REQUEST;
use clinic_protocol::{ClientFrame, ClientId};
use futures_util::SinkExt;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

impl Conn {
    /// Catch-up finished: report online, then send what was owed while away.
    pub(super) async fn caught_up(
        &mut self,
        tx: &mpsc::Sender<ClientFrame>,
        was_online: &mut bool,
    ) -> Step {
        self.synced = true;
        *was_online = true;
        let shared = Arc::clone(&self.shared);
        *shared.live() = Some(tx.clone());
        shared.set_state(ConnectionState::Online);
        let joined: Vec<_> = shared.joined().iter().cloned().collect();
        for key in joined {
            self.send(&ClientFrame::JoinChat(key)).await?;
        }
        for (conversation, message_id) in shared.cache.owed_reads().map_err(failed)? {
            self.send(&ClientFrame::MessageRead {
                message_id: message_id.clone(),
                patient_id: conversation.patient_id,
                doctor_id: conversation.doctor_id,
            })
            .await?;
            shared.cache.settle_read(&message_id).map_err(failed)?;
        }
        let owed = shared
            .cache
            .undelivered_to(shared.me(), 20 * MAX_IDS_PER_REQUEST)
            .map_err(failed)?;
        for chunk in owed.chunks(MAX_IDS_PER_REQUEST) {
            self.send(&ClientFrame::MessageDelivered {
                message_ids: chunk.to_vec(),
            })
            .await?;
        }
        self.fill().await?;
        let background = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = crate::client::refresh_directory(&background).await {
                tracing::debug!("could not refresh contacts and conversations: {e}");
            }
        });
        Ok(())
    }

    pub(super) fn settled(&mut self, client_id: &ClientId) {
        self.inflight.retain(|c| c != client_id);
        self.last_progress = Instant::now();
        self.shared.refresh_queued();
    }

    /// Writes outbox entries until the window is full. Frames from one socket get increasing
    /// server seqs in frame order, so the outbox order is the conversation order.
    pub(super) async fn fill(&mut self) -> Step {
        let room = self
            .shared
            .tuning
            .send_window
            .max(1)
            .saturating_sub(self.inflight.len());
        if room == 0 || !self.synced {
            return Ok(());
        }
        let allowed = self.pace.available();
        if allowed == 0 {
            self.paced_until = Some(self.pace.next_at());
            return Ok(());
        }
        let room = room.min(allowed);
        let entries = self
            .shared
            .cache
            .outbox_after(self.shared.me(), self.last_pos, room)
            .map_err(failed)?;
        if entries.is_empty() {
            return Ok(());
        }
        if self.inflight.is_empty() {
            self.last_progress = Instant::now();
        }
        for entry in entries {
            // A file still to upload holds back this entry and the ones after it (order).
            let message =
                match attachments::ready(&self.shared, entry.message, entry.attachment_path) {
                    Ready::Send(message) => message,
                    Ready::Wait => break,
                };
            let client_id = message
                .client_id
                .clone()
                .unwrap_or_else(|| ClientId::from(""));
            let text = serde_json::to_string(&ClientFrame::MessageSend(message)).map_err(failed)?;
            self.ws.feed(WsMessage::text(text)).await.map_err(failed)?;
            self.inflight.push_back(client_id);
            self.last_pos = entry.pos;
            self.pace.take(1);
        }
        self.ws.flush().await.map_err(failed)
    }
}
