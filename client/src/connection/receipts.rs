//! What a live socket owes the server besides sends: joins, read marks (one `message:read` per
//! conversation, "read up to"), delivered receipts gathered into batches (one frame per catch-up
//! page, or per short interval for live messages), all sent again after a reconnect.

use super::{Conn, Step, failed};
use crate::events::ConnectionState;
use clinic_protocol::limits::MAX_IDS_PER_REQUEST;
use clinic_protocol::{ClientFrame, MessageId};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Delivered receipts waiting to go out together.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    ids: Vec<MessageId>,
    /// When the batch goes out at the latest.
    pub(super) due: Option<Instant>,
}

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
        self.flush_reads().await?;
        let owed = shared
            .cache
            .undelivered_to(shared.me(), 20 * MAX_IDS_PER_REQUEST)
            .map_err(failed)?;
        self.owe_delivered(owed);
        self.flush_delivered().await?;
        self.fill().await?;
        let background = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = crate::client::refresh_directory(&background).await {
                tracing::debug!("could not refresh contacts and conversations: {e}");
            }
        });
        Ok(())
    }

    /// Sends every owed read mark: one frame per conversation, naming its newest read message.
    pub(super) async fn flush_reads(&mut self) -> Step {
        let owed = self.shared.cache.owed_reads().map_err(failed)?;
        for (conversation, message_id) in owed {
            self.send(&ClientFrame::MessageRead {
                message_id: message_id.clone(),
                patient_id: conversation.patient_id,
                doctor_id: conversation.doctor_id,
            })
            .await?;
            self.shared.cache.settle_read(&message_id).map_err(failed)?;
        }
        Ok(())
    }

    /// Adds messages this device stored to the next delivered receipt; a full batch goes at
    /// once, a partial one when it is due.
    pub(super) fn owe_delivered(&mut self, ids: impl IntoIterator<Item = MessageId>) {
        let before = self.delivered.ids.len();
        self.delivered.ids.extend(ids);
        if before == 0 && !self.delivered.ids.is_empty() {
            self.delivered.due = Some(Instant::now() + self.shared.tuning.delivered_delay);
        }
    }

    pub(super) fn delivered_full(&self) -> bool {
        self.delivered.ids.len() >= MAX_IDS_PER_REQUEST
    }

    /// Sends the delivered receipts gathered so far (in frames of at most the server's limit),
    /// leaving out messages read here meanwhile: the read marks owed go first, and a read mark
    /// makes its messages delivered too (with the conversation open, a message is read as it
    /// arrives, so its delivered receipt would say nothing).
    pub(super) async fn flush_delivered(&mut self) -> Step {
        self.delivered.due = None;
        let ids = std::mem::take(&mut self.delivered.ids);
        if ids.is_empty() {
            return Ok(());
        }
        self.flush_reads().await?;
        let ids = self.shared.cache.not_read(ids).map_err(failed)?;
        for chunk in ids.chunks(MAX_IDS_PER_REQUEST) {
            self.send(&ClientFrame::MessageDelivered {
                message_ids: chunk.to_vec(),
            })
            .await?;
        }
        Ok(())
    }
}
