//! Messages in the cache: optimistic local copies, server copies merged onto them by id or by
//! (senderId, clientId) so nothing is ever stored twice, receipts, and history in display order.

use super::Cache;
use crate::error::Result;
use crate::record::LocalMessage;
use chrono::{DateTime, Utc};
use clinic_protocol::rest::SyncPage;
use clinic_protocol::{ConversationKey, Emergency, Message, MessageId, MessageStatus, Seq, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

impl Cache {
    /// Merges one server message (live event or ack). Returns the stored copy when it changed.
    pub fn apply_message(&self, me: &UserId, message: Message) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let changed = upsert(&tx, me, message)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Applies a catch-up page and moves the cursor, in one transaction: either all of it is
    /// stored or none (and the same page is asked for again).
    pub fn apply_sync_page(
        &self,
        me: &UserId,
        page: &SyncPage,
    ) -> Result<(Vec<LocalMessage>, Vec<Emergency>)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        // Purges first. A message the server still has never has a seq at or below a purge's
        // `upToSeq`, so nothing the page brings is dropped by them.
        for purge in &page.purges {
            super::purges::apply_in(&tx, purge)?;
        }
        let mut changed = Vec::new();
        for message in &page.messages {
            if let Some(m) = upsert(&tx, me, message.clone())? {
                changed.push(m);
            }
        }
        for emergency in &page.emergencies {
            super::meta::upsert_emergency(&tx, emergency)?;
        }
        super::meta::set_cursor_in(&tx, page.cursor)?;
        tx.commit()?;
        Ok((changed, page.emergencies.clone()))
    }

    /// Raises the status of the given messages to `status` (receipts never lower a status).
    pub fn apply_receipts(
        &self,
        ids: &[MessageId],
        status: MessageStatus,
        at: DateTime<Utc>,
    ) -> Result<Vec<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut changed = Vec::new();
        for id in ids {
            let Some((local_id, old)) = find(&tx, "id = ?1", params![id.as_str()])? else {
                continue;
            };
            let mut new = old.clone();
            raise(&mut new, status, at);
            if new != old {
                update_row(&tx, local_id, &new)?;
                changed.push(new);
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Marks `message_id` and everything before it addressed to `me` in its conversation as
    /// read, locally. Returns the conversation and the messages that changed.
    pub fn mark_read_up_to(
        &self,
        me: &UserId,
        message_id: &MessageId,
    ) -> Result<Option<(ConversationKey, Vec<LocalMessage>)>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let Some((_, target)) = find(&tx, "id = ?1", params![message_id.as_str()])? else {
            return Ok(None);
        };
        let conversation = target.conversation();
        let upto = target.seq.unwrap_or_default().0;
        let rows: Vec<(i64, String)> = tx
            .prepare(
                "SELECT local_id, data FROM messages WHERE patient_id = ?1 AND doctor_id = ?2
                 AND sender_id != ?3 AND seq IS NOT NULL AND seq <= ?4 AND status != 'READ'",
            )?
            .query_map(
                params![
                    conversation.patient_id.as_str(),
                    conversation.doctor_id.as_str(),
                    me.as_str(),
                    upto
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let mut changed = Vec::new();
        let now = Utc::now();
        for (local_id, data) in rows {
            let Ok(mut m) = serde_json::from_str::<LocalMessage>(&data) else {
                continue;
            };
            raise(&mut m, MessageStatus::Read, now);
            update_row(&tx, local_id, &m)?;
            changed.push(m);
        }
        tx.commit()?;
        Ok(Some((conversation, changed)))
    }

    /// The newest message addressed to `me` in a conversation, if any of those is not read yet:
    /// the one a "read up to" mark names.
    pub fn newest_unread_for(
        &self,
        me: &UserId,
        conversation: &ConversationKey,
    ) -> Result<Option<MessageId>> {
        let conn = self.lock();
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM messages WHERE patient_id = ?1 AND doctor_id = ?2
                 AND sender_id != ?3 AND seq IS NOT NULL
                 AND EXISTS (SELECT 1 FROM messages u WHERE u.patient_id = ?1
                     AND u.doctor_id = ?2 AND u.sender_id != ?3 AND u.seq IS NOT NULL
                     AND u.status != 'READ')
                 ORDER BY seq DESC LIMIT 1",
                params![
                    conversation.patient_id.as_str(),
                    conversation.doctor_id.as_str(),
                    me.as_str()
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.map(MessageId))
    }

    /// The last `limit` messages of a conversation in display order: acknowledged ones by server
    /// `seq`, then unacknowledged ones in creation order. With `before`, only acknowledged
    /// messages older than that `seq` (paging back).
    pub fn history(
        &self,
        conversation: &ConversationKey,
        limit: u32,
        before: Option<Seq>,
    ) -> Result<Vec<LocalMessage>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT data FROM messages WHERE patient_id = ?1 AND doctor_id = ?2
             AND (?3 IS NULL OR (seq IS NOT NULL AND seq < ?3))
             ORDER BY (seq IS NULL) DESC, seq DESC, local_id DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                conversation.patient_id.as_str(),
                conversation.doctor_id.as_str(),
                before.map(|s| s.0),
                limit
            ],
            |r| r.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for data in rows {
            // A row that does not parse (written by a newer build?) is skipped, not fatal.
            if let Ok(m) = serde_json::from_str::<LocalMessage>(&data?) {
                out.push(m);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// One message by the sender's `clientId` (the handle a UI keeps for optimistic sends).
    pub fn message_by_client_id(
        &self,
        sender: &UserId,
        client_id: &str,
    ) -> Result<Option<LocalMessage>> {
        let conn = self.lock();
        Ok(find(
            &conn,
            "sender_id = ?1 AND client_id = ?2",
            params![sender.as_str(), client_id],
        )?
        .map(|(_, m)| m))
    }

    /// Ids of stored messages addressed to `me` that the server still shows as only `SENT`:
    /// their delivered receipts are owed.
    pub fn undelivered_to(&self, me: &UserId, limit: usize) -> Result<Vec<MessageId>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id FROM messages WHERE status = 'SENT' AND sender_id != ?1
             AND id IS NOT NULL ORDER BY seq LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(
                params![me.as_str(), i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get::<_, String>(0).map(MessageId),
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Of `ids`, those not read here: a delivered receipt for a message already read says
    /// nothing (the read mark that read it makes it delivered too, on the server). Ids not in
    /// the cache are kept.
    pub fn not_read(&self, ids: Vec<MessageId>) -> Result<Vec<MessageId>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT status = 'READ' FROM messages WHERE id = ?1")?;
        let mut kept = Vec::with_capacity(ids.len());
        for id in ids {
            let read: Option<bool> = stmt.query_row([id.as_str()], |r| r.get(0)).optional()?;
            if read != Some(true) {
                kept.push(id);
            }
        }
        Ok(kept)
    }

    /// Stores a page of older history fetched from the server (upserts; the sync cursor is not
    /// touched: later changes still come through sync).
    pub fn store_history(&self, me: &UserId, messages: Vec<Message>) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for message in messages {
            upsert(&tx, me, message)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The id of the message with `seq` in a conversation (the anchor of a page before it).
    pub fn message_id_at(
        &self,
        conversation: &ConversationKey,
        seq: Option<Seq>,
    ) -> Result<Option<MessageId>> {
        let Some(seq) = seq else {
            return Ok(None);
        };
        let id: Option<Option<String>> = self
            .lock()
            .query_row(
                "SELECT id FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND seq = ?3",
                params![
                    conversation.patient_id.as_str(),
                    conversation.doctor_id.as_str(),
                    seq.0
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.flatten().map(MessageId))
    }

    /// One stored message by its server id.
    pub fn message_by_id(&self, id: &MessageId) -> Result<Option<LocalMessage>> {
        let conn = self.lock();
        Ok(find(&conn, "id = ?1", params![id.as_str()])?.map(|(_, m)| m))
    }

    /// The conversation a stored message belongs to.
    pub fn conversation_of(&self, message_id: &MessageId) -> Result<Option<ConversationKey>> {
        let conn = self.lock();
        Ok(find(&conn, "id = ?1", params![message_id.as_str()])?.map(|(_, m)| m.conversation()))
    }

    /// How many messages the cache holds (all conversations).
    pub fn message_count(&self) -> Result<u64> {
        let conn = self.lock();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Finds one row and parses it; a row whose data no longer parses counts as absent.
pub(super) fn find(
    conn: &rusqlite::Connection,
    condition: &str,
    args: impl rusqlite::Params,
) -> Result<Option<(i64, LocalMessage)>> {
    let sql = format!("SELECT local_id, data FROM messages WHERE {condition}");
    let row: Option<(i64, String)> = conn
        .query_row(&sql, args, |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(id, data)| serde_json::from_str(&data).ok().map(|m| (id, m))))
}

pub(super) fn insert_row(tx: &Transaction<'_>, m: &LocalMessage) -> Result<()> {
    tx.execute(
        "INSERT INTO messages (id, seq, client_id, sender_id, patient_id, doctor_id, status, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.id.as_ref().map(|i| i.as_str()),
            m.seq.map(|s| s.0),
            m.client_id.as_str(),
            m.sender_id.as_str(),
            m.patient_id.as_str(),
            m.doctor_id.as_str(),
            m.status.as_str(),
            serde_json::to_string(m)?
        ],
    )?;
    Ok(())
}

pub(super) fn update_row(tx: &Transaction<'_>, local_id: i64, m: &LocalMessage) -> Result<()> {
    tx.execute(
        "UPDATE messages SET id = ?1, seq = ?2, status = ?3, data = ?4 WHERE local_id = ?5",
        params![
            m.id.as_ref().map(|i| i.as_str()),
            m.seq.map(|s| s.0),
            m.status.as_str(),
            serde_json::to_string(m)?,
            local_id
        ],
    )?;
    Ok(())
}

/// Inserts or merges a server copy. Matching by id first, then by (senderId, clientId), is what
/// turns the optimistic copy into the acknowledged one instead of adding a second row. A copy of
/// one of `me`'s sends also settles its outbox entry, whichever way it arrived.
pub(super) fn upsert(
    tx: &Transaction<'_>,
    me: &UserId,
    incoming: Message,
) -> Result<Option<LocalMessage>> {
    if &incoming.sender_id == me {
        tx.execute(
            "DELETE FROM send_queue WHERE client_id = ?1",
            params![incoming.client_id.as_str()],
        )?;
    }
    let existing = match find(tx, "id = ?1", params![incoming.id.as_str()])? {
        Some(found) => Some(found),
        None => find(
            tx,
            "sender_id = ?1 AND client_id = ?2",
            params![incoming.sender_id.as_str(), incoming.client_id.as_str()],
        )?,
    };
    let Some((local_id, old)) = existing else {
        let m = LocalMessage::from(incoming);
        insert_row(tx, &m)?;
        return Ok(Some(m));
    };
    let mut new = LocalMessage::from(incoming);
    // Identity columns are fixed at first sight, so a later copy cannot collide with another row.
    new.client_id = old.client_id.clone();
    new.sender_id = old.sender_id.clone();
    new.patient_id = old.patient_id.clone();
    new.doctor_id = old.doctor_id.clone();
    // Copies and receipts arrive in any order; a status only ever goes up.
    new.status = new.status.max(old.status);
    new.delivered_at = new.delivered_at.or(old.delivered_at);
    new.read_at = new.read_at.or(old.read_at);
    // The server knows nothing of the sender's local copy of an attachment.
    new.local_file_path = old.local_file_path.clone();
    // Nor of our changes still queued, or the notice of one it refused.
    new.pending_change = old.pending_change.clone();
    new.change_notice = old.change_notice.clone();
    // A tombstone is final and a text only moves to a newer version: the server publishes each
    // change from its caller's task, so an edit's copy can arrive after a later edit's or after
    // the unsend, and must not bring an older (or unsent) text back.
    if old.retracted.is_some() || old.version() > new.version() {
        new.content = old.content.clone();
        new.edited = old.edited;
        new.retracted = old.retracted.clone();
        new.file_url = old.file_url.clone();
        new.file_name = old.file_name.clone();
        new.file_size = old.file_size;
        new.file_type = old.file_type.clone();
    }
    new.resolved_at = new.resolved_at.or(old.resolved_at);
    new.updated_at = new.updated_at.max(old.updated_at);
    if new.retracted.is_some() && old.retracted.is_none() {
        // Unsent: its file goes from this computer too (after the commit, see
        // `Cache::take_dropped_files`).
        super::changes::drop_files(tx, &old)?;
        new.local_file_path = None;
    }
    if new == old {
        return Ok(None);
    }
    update_row(tx, local_id, &new)?;
    if new.retracted != old.retracted || new.edited != old.edited {
        // The conversation list's copy of its last message follows an unsend or an edit.
        tx.execute(
            "UPDATE conversations SET data = json_set(data, '$.lastMessage', json(?2))
             WHERE json_extract(data, '$.lastMessage.id') = ?1",
            params![
                new.id.as_ref().map(|i| i.as_str()),
                serde_json::to_string(&new.clone().into_wire())?
            ],
        )?;
    }
    Ok(Some(new))
}

fn raise(m: &mut LocalMessage, status: MessageStatus, at: DateTime<Utc>) {
    if status >= MessageStatus::Delivered && m.delivered_at.is_none() {
        m.delivered_at = Some(at);
    }
    if status == MessageStatus::Read && m.read_at.is_none() {
        m.read_at = Some(at);
    }
    m.status = m.status.max(status);
}
