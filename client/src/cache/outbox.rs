//! The outbox: sends not yet acknowledged, in the order they must reach the server. A row lives
//! until the server's copy of the message arrives (ack, live event or sync) or it is refused for
//! good (then it stays, `failed`, until retried).

use super::Cache;
use super::messages::{find, update_row};
use crate::error::Result;
use crate::record::LocalMessage;
use clinic_protocol::{MessageStatus, NewMessage, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

/// One pending send, ready to go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Delivery order; never reused, so "everything after the last one sent" is well defined.
    pub pos: i64,
    pub message: NewMessage,
    /// Seam for attachments (issue 6): a local file to upload first.
    pub attachment_path: Option<String>,
}

impl Cache {
    /// Pending entries after `after_pos`, in order, at most `limit`.
    pub fn outbox_after(
        &self,
        me: &UserId,
        after_pos: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT o.pos, o.attachment_path, m.data FROM outbox o
             JOIN messages m ON m.sender_id = ?1 AND m.client_id = o.client_id
             WHERE o.state = 'pending' AND o.pos > ?2 ORDER BY o.pos LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                me.as_str(),
                after_pos,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (pos, attachment_path, data) = row?;
            let Ok(m) = serde_json::from_str::<LocalMessage>(&data) else {
                continue;
            };
            out.push(OutboxEntry {
                pos,
                message: NewMessage {
                    client_id: Some(m.client_id),
                    patient_id: m.patient_id,
                    doctor_id: m.doctor_id,
                    content: m.content,
                    is_emergency: m.is_emergency,
                    file_url: m.file_url,
                    file_name: m.file_name,
                },
                attachment_path,
            });
        }
        Ok(out)
    }

    /// Sends waiting to be delivered (not counting failed ones).
    pub fn outbox_len(&self) -> Result<u64> {
        self.count_outbox("pending")
    }

    /// Sends refused for good, waiting for the user to retry.
    pub fn outbox_failed(&self) -> Result<u64> {
        self.count_outbox("failed")
    }

    fn count_outbox(&self, state: &str) -> Result<u64> {
        let conn = self.lock();
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = ?1",
            params![state],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The server refused a send for good: the message turns `FAILED` with the reason.
    pub fn mark_failed(
        &self,
        me: &UserId,
        client_id: &str,
        reason: &str,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE outbox SET state = 'failed' WHERE client_id = ?1 AND state = 'pending'",
            params![client_id],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let changed = set_local_status(&tx, me, client_id, MessageStatus::Failed, Some(reason))?;
        tx.commit()?;
        Ok(changed)
    }

    /// Puts a failed send back at the end of the outbox (with the same `clientId`, so the
    /// server still cannot store it twice).
    pub fn retry(&self, me: &UserId, client_id: &str) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let attachment: Option<Option<String>> = tx
            .query_row(
                "SELECT attachment_path FROM outbox WHERE client_id = ?1 AND state = 'failed'",
                params![client_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(attachment) = attachment else {
            return Ok(None);
        };
        to_the_end(&tx, client_id, attachment.as_deref())?;
        let changed = set_local_status(&tx, me, client_id, MessageStatus::Sending, None)?;
        tx.commit()?;
        Ok(changed)
    }
}

/// Moves a send to the end of the outbox as `pending`. Delete and re-insert: the AUTOINCREMENT
/// position puts it after everything queued.
pub(super) fn to_the_end(
    tx: &Transaction<'_>,
    client_id: &str,
    attachment: Option<&str>,
) -> Result<()> {
    tx.execute(
        "DELETE FROM outbox WHERE client_id = ?1",
        params![client_id],
    )?;
    tx.execute(
        "INSERT INTO outbox (client_id, attachment_path, created_at) VALUES (?1, ?2, ?3)",
        params![client_id, attachment, chrono::Utc::now().to_rfc3339()],
    )?;
    Ok(())
}

/// Sets the local status (and failure reason) of one of `me`'s messages.
fn set_local_status(
    tx: &Transaction<'_>,
    me: &UserId,
    client_id: &str,
    status: MessageStatus,
    error: Option<&str>,
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
    m.error = error.map(str::to_owned);
    update_row(tx, local_id, &m)?;
    Ok(Some(m))
}
