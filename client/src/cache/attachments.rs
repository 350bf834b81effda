//! Attachments in the cache: the uploaded file's URL remembered on the pending message (so a
//! restart does not upload again), sending again after the server lost the upload, and finding
//! a message by `clientId` for previews.

use super::Cache;
use super::messages::{find, update_row};
use super::outbox::{EntryKind, keep_writes, push};
use crate::error::Result;
use crate::record::LocalMessage;
use clinic_protocol::UserId;
use clinic_protocol::rest::UploadResponse;
use rusqlite::{OptionalExtension, params};

impl Cache {
    /// The attachment of a pending send is on the server: its URL, size and type go onto the
    /// message, which is then ready to be sent.
    pub fn set_uploaded(
        &self,
        me: &UserId,
        client_id: &str,
        uploaded: &UploadResponse,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let Some((local_id, mut m)) = find(
            &tx,
            "sender_id = ?1 AND client_id = ?2 AND id IS NULL",
            params![me.as_str(), client_id],
        )?
        else {
            return Ok(None);
        };
        m.file_url = Some(uploaded.file_url.clone());
        m.file_size = Some(uploaded.size);
        m.file_type = Some(uploaded.content_type.clone());
        update_row(&tx, local_id, &m)?;
        // The send that depends on the upload is now at the head of its lane.
        tx.execute(
            "DELETE FROM send_queue WHERE client_id = ?1 AND kind = 'upload'",
            params![client_id],
        )?;
        tx.commit()?;
        Ok(Some(m))
    }

    /// The server no longer knows the upload a pending send names (it was swept): forget the
    /// URL and queue the upload again, then the send, at the end of its lane. Returns the message
    /// as it is then, or `None` when the send has no attachment to upload (then the refusal
    /// stands). Writes of it that no refusal answered stay counted (this refusal answers one).
    pub fn requeue_upload(&self, me: &UserId, client_id: &str) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let row: Option<(String, Option<String>, i64)> = tx
            .query_row(
                "SELECT lane, attachment_path, max(writes - attempts - 1, 0) FROM send_queue
                 WHERE client_id = ?1 AND kind = 'send' AND state = 'pending'",
                params![client_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((lane, Some(path), unanswered)) = row else {
            return Ok(None);
        };
        let Some((local_id, mut m)) = find(
            &tx,
            "sender_id = ?1 AND client_id = ?2 AND id IS NULL",
            params![me.as_str(), client_id],
        )?
        else {
            return Ok(None);
        };
        m.file_url = None;
        m.on_its_way = unanswered > 0;
        update_row(&tx, local_id, &m)?;
        tx.execute(
            "DELETE FROM send_queue WHERE client_id = ?1",
            params![client_id],
        )?;
        push(&tx, client_id, EntryKind::Upload, &lane, Some(&path))?;
        push(&tx, client_id, EntryKind::Send, &lane, Some(&path))?;
        keep_writes(&tx, client_id, unanswered)?;
        tx.commit()?;
        Ok(Some(m))
    }
}
