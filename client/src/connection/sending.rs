//! The send queue worked over a live socket. Lanes run side by side: each conversation has at
//! most one send in flight (so a refusal can never let a later message overtake it) and
//! emergencies have a lane of their own that is written first and never waits for an upload,
//! a retry or another conversation. An upload is its own entry, run as a task beside the
//! socket. A refused entry is retried on the same socket after a backoff, then parked as failed
//! with its reason; a refusal never costs the connection.

use super::{Conn, Step, failed, lost};
use crate::attachments::{self, file_safe};
use crate::cache::{EntryKind, QueueEntry};
use crate::error::Result;
use crate::refusal::Refusal;
use clinic_protocol::rest::UploadResponse;
use clinic_protocol::{ClientFrame, ClientId, ErrorCode};
use futures_util::SinkExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How long an upload whose task panicked waits before it is tried again.
const PANICKED_UPLOAD_PAUSE: Duration = Duration::from_secs(5);

/// An emergency refused for now is tried again at least this often, for as long as it takes.
const EMERGENCY_RETRY_CAP: Duration = Duration::from_secs(2);

/// A send written to the socket and not yet answered.
#[derive(Debug)]
struct Flight {
    client_id: ClientId,
    pos: i64,
    since: Instant,
}

/// How an upload task ended.
#[derive(Debug)]
pub(super) struct UploadDone {
    lane: String,
    pos: i64,
    client_id: ClientId,
    result: Result<UploadResponse>,
}

/// The queue's state on one socket; dropped with it (uploads under way are aborted and start
/// over on the next connection).
#[derive(Debug, Default)]
pub(super) struct Lanes {
    inflight: HashMap<String, Flight>,
    /// Lanes with an upload streaming: its entry's position and its task.
    uploading: HashMap<String, (i64, AbortHandle)>,
    pub(super) uploads: JoinSet<UploadDone>,
    /// Entries waiting out a backoff after a refusal, by queue position.
    not_before: HashMap<i64, Instant>,
    /// When the earliest of those is due.
    pub(super) retry_at: Option<Instant>,
}

impl Lanes {
    fn busy(&self, lane: &str) -> bool {
        self.inflight.contains_key(lane) || self.uploading.contains_key(lane)
    }

    /// Takes the flight of `client_id` off its lane.
    fn land(&mut self, client_id: &ClientId) -> Option<(String, Flight)> {
        let lane = self
            .inflight
            .iter()
            .find(|(_, f)| &f.client_id == client_id)
            .map(|(lane, _)| lane.clone())?;
        self.inflight.remove(&lane).map(|f| (lane, f))
    }

    /// True when a send has waited for its answer longer than `limit`.
    pub(super) fn overdue(&self, limit: Duration) -> bool {
        self.inflight.values().any(|f| f.since.elapsed() > limit)
    }
}

impl Conn {
    /// Starts the head of every idle lane that is due: emergencies first, then conversations.
    pub(super) async fn fill(&mut self) -> Step {
        if !self.synced {
            return Ok(());
        }
        // The next wake-up is found again below, from the changes and the lanes' heads.
        self.lanes.retry_at = None;
        // Unsends and edits travel beside the lanes: they only name messages the server has.
        self.send_changes().await?;
        // Before the heads are read: a lane freed here is looked at with what its queue holds.
        self.abort_dropped_uploads()?;
        let heads = self
            .shared
            .cache
            .queue_heads(self.shared.me())
            .map_err(failed)?;
        let now = Instant::now();
        let mut sends = Vec::new();
        for entry in heads {
            if self.lanes.busy(&entry.lane) {
                continue;
            }
            if let Some(at) = self.lanes.not_before.get(&entry.pos).copied() {
                if at > now {
                    self.lanes.retry_at = Some(self.lanes.retry_at.map_or(at, |r| r.min(at)));
                    continue;
                }
                self.lanes.not_before.remove(&entry.pos);
            }
            match entry.kind {
                EntryKind::Upload => self.start_upload(entry),
                EntryKind::Send => sends.push(entry),
            }
        }
        if sends.is_empty() {
            return Ok(());
        }
        // Recorded before the writes, all in one transaction: a send discarded meanwhile is not
        // written (its lane is looked at again), and one written can no longer be discarded.
        let positions: Vec<i64> = sends.iter().map(|e| e.pos).collect();
        let (marked, changed) = self
            .shared
            .cache
            .mark_written(self.shared.me(), &positions)
            .map_err(failed)?;
        self.shared.emit_messages(changed);
        let to_write: Vec<QueueEntry> = sends
            .into_iter()
            .zip(marked)
            .filter_map(|(entry, marked)| marked.then_some(entry))
            .collect();
        if to_write.len() < positions.len() {
            self.shared.outbox_wake.notify_one();
        }
        for (i, entry) in to_write.iter().enumerate() {
            let frame = ClientFrame::MessageSend(entry.wire(chrono::Utc::now()));
            let text = serde_json::to_string(&frame).map_err(failed)?;
            if let Err(e) = self.ws.feed(WsMessage::text(text)).await {
                // The line went: the sends not written yet are not on their way after all.
                let unwritten: Vec<i64> = to_write[i..].iter().map(|e| e.pos).collect();
                match self
                    .shared
                    .cache
                    .unmark_written(self.shared.me(), &unwritten)
                {
                    Ok(changed) => self.shared.emit_messages(changed),
                    Err(err) => tracing::warn!("cannot count the unwritten sends: {err}"),
                }
                return Err(failed(lost(&e)));
            }
            self.lanes.inflight.insert(
                entry.lane.clone(),
                Flight {
                    client_id: entry.message.client_id.clone(),
                    pos: entry.pos,
                    since: now,
                },
            );
        }
        if !to_write.is_empty() {
            self.ws.flush().await.map_err(|e| failed(lost(&e)))?;
        }
        Ok(())
    }

    /// Stops the uploads whose message was discarded while they streamed: their conversation
    /// goes on, and the file stops going to the server.
    fn abort_dropped_uploads(&mut self) -> Step {
        let running: Vec<(String, i64)> = self
            .lanes
            .uploading
            .iter()
            .map(|(lane, (pos, _))| (lane.clone(), *pos))
            .collect();
        for (lane, pos) in running {
            if !self.shared.cache.is_entry(pos).map_err(failed)?
                && let Some((_, task)) = self.lanes.uploading.remove(&lane)
            {
                task.abort();
            }
        }
        Ok(())
    }

    /// An upload task ended without an answer (it panicked, or was aborted above): its lane is
    /// free again; after a panic the upload is tried again only after a pause, so one that
    /// panics each time does not spin.
    pub(super) fn upload_gone(&mut self, task: tokio::task::Id, panicked: bool) {
        let Some(lane) = self
            .lanes
            .uploading
            .iter()
            .find(|(_, (_, handle))| handle.id() == task)
            .map(|(lane, _)| lane.clone())
        else {
            return;
        };
        if let Some((pos, _)) = self.lanes.uploading.remove(&lane)
            && panicked
        {
            self.lanes
                .not_before
                .insert(pos, Instant::now() + PANICKED_UPLOAD_PAUSE);
        }
    }

    fn start_upload(&mut self, entry: QueueEntry) {
        let Some(path) = entry.attachment_path.clone() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let client_id = entry.message.client_id.clone();
        let key = entry.message.conversation();
        let name = entry
            .message
            .file_name
            .clone()
            .unwrap_or_else(|| file_safe(&path));
        let (lane, pos) = (entry.lane, entry.pos);
        let task_lane = lane.clone();
        let task = self.lanes.uploads.spawn(async move {
            let result =
                attachments::upload(&shared, &client_id, &key, &PathBuf::from(path), &name).await;
            UploadDone {
                lane,
                pos,
                client_id,
                result,
            }
        });
        self.lanes.uploading.insert(task_lane, (pos, task));
    }

    /// An upload task ended: record the file's URL (its send is next in the lane) or count
    /// the failure.
    pub(super) async fn upload_finished(&mut self, done: UploadDone) -> Step {
        // Its lane's upload, unless it was aborted (discarded) and another started since.
        if self
            .lanes
            .uploading
            .get(&done.lane)
            .is_some_and(|(pos, _)| *pos == done.pos)
        {
            self.lanes.uploading.remove(&done.lane);
        }
        let me = self.shared.me().clone();
        match done.result {
            Ok(uploaded) => {
                let changed = self
                    .shared
                    .cache
                    .set_uploaded(&me, done.client_id.as_str(), &uploaded)
                    .map_err(failed)?;
                self.shared.emit_messages(changed);
            }
            Err(error) => {
                tracing::info!("upload of {} failed: {error}", done.client_id);
                let refusal = Refusal::of_upload(&error);
                self.refused(
                    done.pos,
                    &done.client_id,
                    EntryKind::Upload,
                    false,
                    &refusal,
                )?;
            }
        }
        self.fill().await
    }

    /// The server stored a send of ours: its lane is free again.
    pub(super) fn acked(&mut self, client_id: &ClientId) {
        self.lanes.land(client_id);
        self.shared.refresh_queued();
    }

    /// The server refused a send: retry it later on this socket, upload its file again, or
    /// park it; then let the lanes move on.
    pub(super) async fn send_refused(
        &mut self,
        client_id: &ClientId,
        code: ErrorCode,
        message: &str,
    ) -> Step {
        let Some((lane, flight)) = self.lanes.land(client_id) else {
            tracing::debug!("refusal of {client_id}, which is not in flight: {message}");
            return Ok(());
        };
        let me = self.shared.me().clone();
        // The server lost the upload the send names (swept): upload it again.
        if code == ErrorCode::NotFound
            && let Some(requeued) = self
                .shared
                .cache
                .requeue_upload(&me, client_id.as_str())
                .map_err(failed)?
        {
            self.shared.emit_messages([requeued]);
            return self.fill().await;
        }
        let refusal = Refusal::of_send(code, message);
        let emergency = lane == crate::cache::EMERGENCY_LANE;
        self.refused(flight.pos, client_id, EntryKind::Send, emergency, &refusal)?;
        self.fill().await
    }

    /// Counts a refused attempt; schedules the next one, or parks the send for good.
    fn refused(
        &mut self,
        pos: i64,
        client_id: &ClientId,
        kind: EntryKind,
        emergency: bool,
        refusal: &Refusal,
    ) -> Step {
        let cache = &self.shared.cache;
        let (attempts, changed) = cache
            .count_attempt(self.shared.me(), client_id.as_str(), kind)
            .map_err(failed)?;
        self.shared.emit_messages(changed);
        let tuning = &self.shared.tuning;
        if refusal.transient && (emergency || attempts < tuning.send_attempts.max(1)) {
            let mut wait = tuning.send_retry.after(attempts);
            if emergency {
                wait = wait.min(EMERGENCY_RETRY_CAP);
            }
            tracing::info!(
                "{client_id} refused for now ({}); attempt {attempts}, next in {wait:?}",
                refusal.code
            );
            self.lanes.not_before.insert(pos, Instant::now() + wait);
            return Ok(());
        }
        let sentence = refusal.parked_sentence(attempts);
        let changed = cache
            .park(
                self.shared.me(),
                client_id.as_str(),
                &refusal.code,
                &sentence,
            )
            .map_err(failed)?;
        // Count the outbox before telling anyone, so a UI reacting to the event sees a queue
        // that already agrees with it.
        self.shared.refresh_queued();
        self.shared.emit_messages(changed);
        Ok(())
    }
}
