//! The send queue: sends not yet acknowledged, in lanes. Each conversation is a lane that keeps
//! its order; emergencies have a lane of their own that never waits behind a conversation. An
//! attachment's upload is an entry of its own just before the send that carries the file, so the
//! send depends on it by position. A row lives until the server's copy of the message arrives
//! (ack, live event or sync), or is parked (`failed`) with the stable code of its last refusal
//! until the user retries or discards it.

use super::Cache;
use super::messages::{find, insert_row, update_row};
use crate::error::Result;
use crate::record::LocalMessage;
use chrono::{DateTime, Utc};
use clinic_protocol::{ClientId, ConversationKey, MessageStatus, NewMessage, UserId};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

/// The lane of every emergency, served before any conversation's.
pub const EMERGENCY_LANE: &str = "emergency";

/// What an entry does when it reaches the head of its lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Upload the attachment (REST), then record its URL on the message.
    Upload,
    /// `message:send` over the socket.
    Send,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Send => "send",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "upload" {
            Self::Upload
        } else {
            Self::Send
        }
    }
}

/// The head of a lane, ready to be worked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub pos: i64,
    pub kind: EntryKind,
    pub lane: String,
    /// Attempts so far that the server refused (or, for uploads, that failed).
    pub attempts: u32,
    /// The sender's copy of the attachment (upload entries).
    pub attachment_path: Option<String>,
    pub message: LocalMessage,
}

impl QueueEntry {
    pub fn is_emergency(&self) -> bool {
        self.lane == EMERGENCY_LANE
    }

    /// The `message:send` body of a send entry, sent `now`: how long it has waited since it was
    /// written is measured on this device's clock alone, so a clock that is merely wrong does
    /// not move it. The wall clock, not a steady one: a steady clock stops while the computer
    /// sleeps, which is how most messages wait; a clock corrected meanwhile moves the wait by
    /// the correction, and one put back counts as no wait.
    pub fn wire(&self, now: DateTime<Utc>) -> NewMessage {
        let m = &self.message;
        let held = (now - m.created_at).num_milliseconds();
        NewMessage {
            client_id: Some(m.client_id.clone()),
            patient_id: m.patient_id.clone(),
            doctor_id: m.doctor_id.clone(),
            content: m.content.clone(),
            is_emergency: m.is_emergency,
            file_url: m.file_url.clone(),
            file_name: m.file_name.clone(),
            held_ms: Some(u64::try_from(held).unwrap_or(0)),
        }
    }
}

/// One send as `clinic outbox` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    pub client_id: ClientId,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub content: String,
    pub file_name: Option<String>,
    pub is_emergency: bool,
    /// `queued` (waiting or under way) or `failed` (parked until retried or discarded).
    pub state: &'static str,
    /// `upload` while the attachment still has to go up, then `send`.
    pub step: &'static str,
    pub attempts: u32,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What [`Cache::discard`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discard {
    /// Gone, with this local copy.
    Discarded(Box<LocalMessage>),
    /// Written to the server more often than refused: it may be stored there, so it stays (once
    /// it arrives it can be unsent).
    OnItsWay,
    /// No send waits with this id.
    NotQueued,
}

/// The lane a message travels in.
pub fn lane_of(message: &LocalMessage) -> String {
    if message.is_emergency {
        EMERGENCY_LANE.to_owned()
    } else {
        conversation_lane(&message.conversation())
    }
}

fn conversation_lane(key: &ConversationKey) -> String {
    format!("{}|{}", key.patient_id, key.doctor_id)
}

impl Cache {
    /// Stores a new optimistic message (status `SENDING`) and its queue entries (an upload
    /// first when there is a file to send), atomically.
    pub fn enqueue(&self, message: &LocalMessage, attachment_path: Option<&str>) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        insert_row(&tx, message)?;
        let lane = lane_of(message);
        if attachment_path.is_some() && message.file_url.is_none() {
            push(
                &tx,
                message.client_id.as_str(),
                EntryKind::Upload,
                &lane,
                attachment_path,
            )?;
        }
        push(
            &tx,
            message.client_id.as_str(),
            EntryKind::Send,
            &lane,
            attachment_path,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The first pending entry of every lane, emergencies first, then by age.
    pub fn queue_heads(&self, me: &UserId) -> Result<Vec<QueueEntry>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT q.pos, q.kind, q.lane, q.attempts, q.attachment_path, m.data
             FROM send_queue q JOIN messages m ON m.sender_id = ?1 AND m.client_id = q.client_id
             WHERE q.state = 'pending' AND q.pos = (SELECT MIN(h.pos) FROM send_queue h
                 WHERE h.state = 'pending' AND h.lane = q.lane)
             ORDER BY (q.lane = 'emergency') DESC, q.pos",
        )?;
        let rows = stmt.query_map(params![me.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (pos, kind, lane, attempts, attachment_path, data) = row?;
            // A row written by a newer build that no longer parses is left alone.
            let Ok(message) = serde_json::from_str::<LocalMessage>(&data) else {
                continue;
            };
            out.push(QueueEntry {
                pos,
                kind: EntryKind::parse(&kind),
                lane,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                attachment_path,
                message,
            });
        }
        Ok(out)
    }

    /// Sends waiting to be delivered (parked ones not counted).
    pub fn outbox_len(&self) -> Result<u64> {
        self.count_sends("pending")
    }

    /// Sends parked after a refusal, waiting for the user to retry or discard them.
    pub fn outbox_failed(&self) -> Result<u64> {
        self.count_sends("failed")
    }

    /// Both counts at once, waiting and parked: one read of the queue per refresh.
    pub fn outbox_counts(&self) -> Result<(u64, u64)> {
        let (waiting, parked): (i64, i64) = self.lock().query_row(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'failed'), 0) \
             FROM send_queue WHERE kind = 'send'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((
            u64::try_from(waiting).unwrap_or(0),
            u64::try_from(parked).unwrap_or(0),
        ))
    }

    fn count_sends(&self, state: &str) -> Result<u64> {
        let n: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM send_queue WHERE kind = 'send' AND state = ?1",
            params![state],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every queued and parked send of `me`, oldest first, with its reason when parked.
    pub fn outbox_items(&self, me: &UserId) -> Result<Vec<OutboxItem>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT s.state, s.attempts,
                    EXISTS (SELECT 1 FROM send_queue u WHERE u.client_id = s.client_id
                            AND u.kind = 'upload'),
                    m.data
             FROM send_queue s JOIN messages m ON m.sender_id = ?1 AND m.client_id = s.client_id
             WHERE s.kind = 'send' ORDER BY s.pos",
        )?;
        let rows = stmt.query_map(params![me.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (state, attempts, uploading, data) = row?;
            let Ok(m) = serde_json::from_str::<LocalMessage>(&data) else {
                continue;
            };
            out.push(OutboxItem {
                client_id: m.client_id,
                patient_id: m.patient_id,
                doctor_id: m.doctor_id,
                content: m.content,
                file_name: m.file_name,
                is_emergency: m.is_emergency,
                state: if state == "failed" {
                    "failed"
                } else {
                    "queued"
                },
                step: if uploading { "upload" } else { "send" },
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                error_code: m.error_code,
                error: m.error,
                created_at: m.created_at,
            });
        }
        Ok(out)
    }

    /// Whether any emergency message of `me` waits to be sent (not one parked after a refusal).
    pub fn emergency_waiting(&self, me: &UserId) -> Result<bool> {
        Ok(self.lock().query_row(
            "SELECT EXISTS (SELECT 1 FROM send_queue s
               JOIN messages m ON m.sender_id = ?1 AND m.client_id = s.client_id AND m.id IS NULL
               WHERE s.kind = 'send' AND s.lane = ?2 AND s.state = 'pending')",
            params![me.as_str(), EMERGENCY_LANE],
            |r| r.get(0),
        )?)
    }

    /// `me`'s newest emergency message not sent yet (waiting or parked), by when it was written.
    pub fn newest_unsent_emergency(&self, me: &UserId) -> Result<Option<LocalMessage>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT m.data FROM send_queue s
             JOIN messages m ON m.sender_id = ?1 AND m.client_id = s.client_id AND m.id IS NULL
             WHERE s.kind = 'send' AND s.lane = ?2",
        )?;
        let rows = stmt.query_map(params![me.as_str(), EMERGENCY_LANE], |r| {
            r.get::<_, String>(0)
        })?;
        let mut newest: Option<LocalMessage> = None;
        for data in rows {
            let Ok(m) = serde_json::from_str::<LocalMessage>(&data?) else {
                continue;
            };
            if newest.as_ref().is_none_or(|n| m.created_at > n.created_at) {
                newest = Some(m);
            }
        }
        Ok(newest)
    }

    /// The sends at `positions` are about to be written to the socket: from now on each may be
    /// on the server, so it can no longer be discarded (until every write of it was refused).
    /// One transaction for them all; false for one no longer queued (discarded meanwhile),
    /// which must not be written. Also returns the messages that turned `on_its_way`.
    pub fn mark_written(
        &self,
        me: &UserId,
        positions: &[i64],
    ) -> Result<(Vec<bool>, Vec<LocalMessage>)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut marked = Vec::with_capacity(positions.len());
        let mut changed = Vec::new();
        for pos in positions {
            let client_id: Option<String> = tx
                .query_row(
                    "UPDATE send_queue SET writes = writes + 1 WHERE pos = ?1 AND state = 'pending'
                     RETURNING client_id",
                    params![pos],
                    |r| r.get(0),
                )
                .optional()?;
            marked.push(client_id.is_some());
            if let Some(client_id) = client_id {
                changed.extend(set_on_its_way(&tx, me, &client_id, true)?);
            }
        }
        tx.commit()?;
        Ok((marked, changed))
    }

    /// The sends at `positions` were marked written but never went (the connection failed
    /// first): their count goes back; returns the messages no longer `on_its_way`.
    pub fn unmark_written(&self, me: &UserId, positions: &[i64]) -> Result<Vec<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut changed = Vec::new();
        for pos in positions {
            let row: Option<(String, i64, i64)> = tx
                .query_row(
                    "UPDATE send_queue SET writes = max(writes - 1, 0) WHERE pos = ?1
                     RETURNING client_id, writes, attempts",
                    params![pos],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((client_id, writes, attempts)) = row {
                changed.extend(set_on_its_way(&tx, me, &client_id, writes > attempts)?);
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// One more attempt of this entry was refused (that write stored nothing); returns how
    /// many there have been, and my message when it is no longer `on_its_way` (every write of
    /// it refused: it may be dropped again).
    pub fn count_attempt(
        &self,
        me: &UserId,
        client_id: &str,
        kind: EntryKind,
    ) -> Result<(u32, Option<LocalMessage>)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let counted: Option<(i64, i64)> = tx
            .query_row(
                "UPDATE send_queue SET attempts = attempts + 1 WHERE client_id = ?1 AND kind = ?2
                 RETURNING attempts, writes",
                params![client_id, kind.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((attempts, writes)) = counted else {
            return Ok((0, None));
        };
        let changed = if kind == EntryKind::Send && writes <= attempts {
            set_on_its_way(&tx, me, client_id, false)?
        } else {
            None
        };
        tx.commit()?;
        Ok((u32::try_from(attempts).unwrap_or(u32::MAX), changed))
    }

    /// Parks a send (and its upload, if any): the message turns `FAILED` with the stable
    /// `code` and a sentence for people, and its lane moves on without it.
    pub fn park(
        &self,
        me: &UserId,
        client_id: &str,
        code: &str,
        sentence: &str,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE send_queue SET state = 'failed' WHERE client_id = ?1 AND state = 'pending'",
            params![client_id],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let changed = set_local_status(
            &tx,
            me,
            client_id,
            MessageStatus::Failed,
            Some((code, sentence)),
        )?;
        tx.commit()?;
        Ok(changed)
    }

    /// Puts a parked send back at the end of its lane with its attempts reset (same
    /// `clientId`, so the server still cannot store it twice).
    pub fn retry(&self, me: &UserId, client_id: &str) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let rows: Vec<(String, String, Option<String>)> = tx
            .prepare(
                "SELECT kind, lane, attachment_path FROM send_queue
                 WHERE client_id = ?1 AND state = 'failed' ORDER BY pos",
            )?
            .query_map(params![client_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if rows.is_empty() {
            return Ok(None);
        }
        // Writes that no refusal answered (an ack lost with its connection) stay counted: the
        // server may have stored one of them.
        let unanswered: i64 = tx.query_row(
            "SELECT coalesce(sum(max(writes - attempts, 0)), 0) FROM send_queue
             WHERE client_id = ?1 AND kind = 'send'",
            params![client_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "DELETE FROM send_queue WHERE client_id = ?1",
            params![client_id],
        )?;
        for (kind, lane, attachment) in &rows {
            push(
                &tx,
                client_id,
                EntryKind::parse(kind),
                lane,
                attachment.as_deref(),
            )?;
        }
        keep_writes(&tx, client_id, unanswered)?;
        set_on_its_way(&tx, me, client_id, unanswered > 0)?;
        let changed = set_local_status(&tx, me, client_id, MessageStatus::Sending, None)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Drops a send and its local copy for good, if it cannot be on the server: parked after a
    /// refusal, or waiting with every write of it refused (never written: offline, or behind
    /// another of its conversation). Returns the message as it was (its attachment copy is the
    /// caller's to delete).
    pub fn discard(&self, me: &UserId, client_id: &str) -> Result<Discard> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let (parked, written): (bool, bool) = tx.query_row(
            "SELECT coalesce(max(state = 'failed'), 0),
                    coalesce(max(kind = 'send' AND writes > attempts), 0)
             FROM send_queue WHERE client_id = ?1",
            params![client_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if written && !parked {
            return Ok(Discard::OnItsWay);
        }
        let Some((local_id, message)) = find(
            &tx,
            "sender_id = ?1 AND client_id = ?2 AND id IS NULL",
            params![me.as_str(), client_id],
        )?
        else {
            return Ok(Discard::NotQueued);
        };
        let n = tx.execute(
            "DELETE FROM send_queue WHERE client_id = ?1",
            params![client_id],
        )?;
        if n == 0 {
            // Its copy is the server's already, or not ours: nothing waits to be discarded.
            return Ok(Discard::NotQueued);
        }
        tx.execute(
            "DELETE FROM messages WHERE local_id = ?1",
            params![local_id],
        )?;
        tx.commit()?;
        Ok(Discard::Discarded(Box::new(message)))
    }

    /// Whether the queue still holds the entry at `pos`.
    pub fn is_entry(&self, pos: i64) -> Result<bool> {
        Ok(self.lock().query_row(
            "SELECT EXISTS (SELECT 1 FROM send_queue WHERE pos = ?1)",
            params![pos],
            |r| r.get(0),
        )?)
    }

    /// Whether a send with this `clientId` is queued and not parked (may be under way).
    pub fn is_queued(&self, client_id: &str) -> Result<bool> {
        Ok(self.lock().query_row(
            "SELECT EXISTS (SELECT 1 FROM send_queue WHERE client_id = ?1 AND state = 'pending')",
            params![client_id],
            |r| r.get(0),
        )?)
    }
}

/// Appends an entry at the end of its lane (the AUTOINCREMENT position is after everything).
pub(super) fn push(
    tx: &Transaction<'_>,
    client_id: &str,
    kind: EntryKind,
    lane: &str,
    attachment: Option<&str>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO send_queue (client_id, kind, lane, attachment_path, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            client_id,
            kind.as_str(),
            lane,
            attachment,
            Utc::now().to_rfc3339()
        ],
    )?;
    Ok(())
}

/// Sets `on_its_way` on my waiting message `client_id`; returns it when that changed it.
fn set_on_its_way(
    tx: &Transaction<'_>,
    me: &UserId,
    client_id: &str,
    on_its_way: bool,
) -> Result<Option<LocalMessage>> {
    let Some((local_id, mut m)) = find(
        tx,
        "sender_id = ?1 AND client_id = ?2 AND id IS NULL",
        params![me.as_str(), client_id],
    )?
    else {
        return Ok(None);
    };
    if m.on_its_way == on_its_way {
        return Ok(None);
    }
    m.on_its_way = on_its_way;
    update_row(tx, local_id, &m)?;
    Ok(Some(m))
}

/// Counts `writes` of the send `client_id` just pushed again (a retry, an upload requeued): the
/// writes of it no refusal answered, so that it is not droppable while the server may have it.
pub(super) fn keep_writes(tx: &Transaction<'_>, client_id: &str, writes: i64) -> Result<()> {
    tx.execute(
        "UPDATE send_queue SET writes = ?2 WHERE client_id = ?1 AND kind = 'send'",
        params![client_id, writes],
    )?;
    Ok(())
}

/// Sets the local status (and the reason of a failure) of one of `me`'s messages.
fn set_local_status(
    tx: &Transaction<'_>,
    me: &UserId,
    client_id: &str,
    status: MessageStatus,
    reason: Option<(&str, &str)>,
) -> Result<Option<LocalMessage>> {
    let Some((local_id, mut m)) = find(
        tx,
        "sender_id = ?1 AND client_id = ?2",
        params![me.as_str(), client_id],
    )?
    else {
        return Ok(None);
    };
    m.status = status;
    m.error_code = reason.map(|(code, _)| code.to_owned());
    m.error = reason.map(|(_, sentence)| sentence.to_owned());
    update_row(tx, local_id, &m)?;
    Ok(Some(m))
}
