//! Read and delivered receipts: moving messages addressed to the caller to READ or DELIVERED,
//! each change taking a new change sequence.

use super::Seqs;
use super::messages::check_access;
use crate::store::StoreError;
use crate::time::{from_ms, now_ms};
use chrono::{DateTime, Utc};
use clinic_protocol::{ConversationKey, MessageId, MessageStatus, User, UserId, limits};
use rusqlite::{Connection, OptionalExtension, params};
/// Messages of one conversation whose status changed together (a receipt to tell both sides of).
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub key: ConversationKey,
    pub ids: Vec<MessageId>,
    pub at: DateTime<Utc>,
}

/// Moves the given messages addressed to `recipient` to `to` (READ or DELIVERED), each taking a
/// new change sequence. Ids that are unknown, not addressed to the caller or already there are
/// skipped.
fn advance(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    candidates: Vec<(MessageId, ConversationKey)>,
    to: MessageStatus,
) -> Result<Vec<Receipt>, StoreError> {
    let now = now_ms();
    let mut receipts: Vec<Receipt> = Vec::new();
    let sql = match to {
        MessageStatus::Read => {
            "UPDATE messages SET status = 'READ', read_at = ?2, \
             delivered_at = COALESCE(delivered_at, ?2), updated_at = ?2, change_seq = ?3 \
             WHERE id = ?1 AND status != 'READ'"
        }
        _ => {
            "UPDATE messages SET status = 'DELIVERED', delivered_at = ?2, updated_at = ?2, \
             change_seq = ?3 WHERE id = ?1 AND status = 'SENT'"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    for (id, key) in candidates {
        if !key.has_participant(recipient) {
            continue;
        }
        let seq = seqs.next();
        if stmt.execute(params![id.as_str(), now, seq.0])? == 0 {
            continue;
        }
        match receipts.iter_mut().find(|r| r.key == key) {
            Some(receipt) => receipt.ids.push(id),
            None => receipts.push(Receipt {
                key,
                ids: vec![id],
                at: from_ms(now),
            }),
        }
    }
    Ok(receipts)
}

/// The candidates among `ids`: messages in the caller's conversations not sent by the caller.
fn addressed_to(
    conn: &Connection,
    caller: &UserId,
    ids: &[MessageId],
) -> Result<Vec<(MessageId, ConversationKey)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT patient_id, doctor_id FROM messages WHERE id = ?1 AND sender_id != ?2 \
         AND (patient_id = ?2 OR doctor_id = ?2)",
    )?;
    let mut found = Vec::new();
    for id in ids {
        let key = stmt
            .query_row(
                params![id.as_str(), caller.as_str()],
                super::rows::conversation_key,
            )
            .optional()?;
        if let Some(key) = key {
            found.push((id.clone(), key));
        }
    }
    Ok(found)
}

pub(crate) fn check_ids(ids: &[MessageId]) -> Result<(), StoreError> {
    if ids.len() > limits::MAX_IDS_PER_REQUEST {
        return Err(StoreError::too_large(format!(
            "at most {} ids per request",
            limits::MAX_IDS_PER_REQUEST
        )));
    }
    Ok(())
}

/// Marks the given messages addressed to `reader` as read.
pub(crate) fn mark_read(
    conn: &Connection,
    seqs: &mut Seqs,
    reader: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Receipt>, StoreError> {
    let candidates = addressed_to(conn, reader, ids)?;
    advance(conn, seqs, reader, candidates, MessageStatus::Read)
}

/// Marks the given messages addressed to `recipient` as delivered.
pub(crate) fn mark_delivered(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Receipt>, StoreError> {
    let candidates = addressed_to(conn, recipient, ids)?;
    advance(conn, seqs, recipient, candidates, MessageStatus::Delivered)
}

/// Marks `up_to` and every earlier message addressed to `reader` in its conversation as read.
pub(crate) fn mark_read_up_to(
    conn: &Connection,
    seqs: &mut Seqs,
    reader: &User,
    key: &ConversationKey,
    up_to: &MessageId,
) -> Result<Vec<Receipt>, StoreError> {
    check_access(conn, reader, key)?;
    let limit: Option<i64> = conn
        .query_row(
            "SELECT seq FROM messages WHERE id = ?1 AND patient_id = ?2 AND doctor_id = ?3",
            params![
                up_to.as_str(),
                key.patient_id.as_str(),
                key.doctor_id.as_str()
            ],
            |r| r.get(0),
        )
        .optional()?;
    let limit =
        limit.ok_or_else(|| StoreError::not_found("no such message in this conversation"))?;
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND sender_id != ?3 \
         AND status != 'READ' AND seq <= ?4 ORDER BY seq",
    )?;
    let candidates = stmt
        .query_map(
            params![
                key.patient_id.as_str(),
                key.doctor_id.as_str(),
                reader.id.as_str(),
                limit
            ],
            |r| Ok((MessageId::from(r.get::<_, String>(0)?), key.clone())),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    advance(conn, seqs, &reader.id, candidates, MessageStatus::Read)
}
