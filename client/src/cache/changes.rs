//! Unsend / retract and edit in the cache: our own changes queued (offline too) in the order
//! they were made, shown at once on the message, settled by the server's copy or dropped with a
//! notice when refused; and the files of messages that became tombstones, deleted after commit.

use super::Cache;
use super::messages::{find, update_row, upsert};
use crate::error::Result;
use crate::record::{ChangeKind, LocalMessage, PendingChange};
use chrono::Utc;
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ClientFrame, ClientId, Message, MessageId, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

/// A change waiting for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedChange {
    pub client_id: ClientId,
    pub message_id: MessageId,
    pub body: ChangeBody,
}

/// What a queued change asks of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeBody {
    Retract(RetractRequest),
    Edit(EditRequest),
}

impl QueuedChange {
    /// Its `message:retract` / `message:edit` frame.
    pub fn frame(&self) -> ClientFrame {
        match &self.body {
            ChangeBody::Retract(r) => ClientFrame::MessageRetract {
                client_id: self.client_id.clone(),
                message_id: self.message_id.clone(),
                reason: r.reason.clone(),
                misdirected: r.misdirected,
            },
            ChangeBody::Edit(e) => ClientFrame::MessageEdit {
                client_id: self.client_id.clone(),
                message_id: self.message_id.clone(),
                content: e.content.clone(),
                base_version: e.base_version,
            },
        }
    }
}

/// A file of a message that became a tombstone, to delete from this computer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedFile {
    pub file_url: Option<String>,
    pub file_name: Option<String>,
    pub local_path: Option<String>,
}

impl Cache {
    /// Unsends and edits queued and not yet answered by the server.
    pub fn changes_waiting(&self) -> Result<u64> {
        let n: i64 = self
            .lock()
            .query_row("SELECT COUNT(*) FROM change_queue", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Queues `body` for the message `message_id` and marks the message with it, atomically.
    /// Returns the message as it now shows, or `None` when the cache does not hold it.
    pub fn queue_change(
        &self,
        message_id: &MessageId,
        client_id: &ClientId,
        body: &ChangeBody,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let Some((local_id, mut m)) = find(&tx, "id = ?1", params![message_id.as_str()])? else {
            return Ok(None);
        };
        let (kind, json, content) = match body {
            ChangeBody::Retract(r) => ("retract", serde_json::to_string(r)?, None),
            ChangeBody::Edit(e) => ("edit", serde_json::to_string(e)?, Some(e.content.clone())),
        };
        tx.execute(
            "INSERT INTO change_queue (client_id, message_id, kind, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                client_id.as_str(),
                message_id.as_str(),
                kind,
                json,
                Utc::now().to_rfc3339()
            ],
        )?;
        m.pending_change = Some(PendingChange {
            kind: if kind == "retract" {
                ChangeKind::Retract
            } else {
                ChangeKind::Edit
            },
            client_id: client_id.clone(),
            content,
        });
        m.change_notice = None;
        update_row(&tx, local_id, &m)?;
        tx.commit()?;
        Ok(Some(m))
    }

    /// Every queued change, oldest first.
    pub fn queued_changes(&self) -> Result<Vec<QueuedChange>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT client_id, message_id, kind, body FROM change_queue ORDER BY pos")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (client_id, message_id, kind, body) = row?;
            let body = if kind == "retract" {
                serde_json::from_str(&body).map(ChangeBody::Retract)
            } else {
                serde_json::from_str(&body).map(ChangeBody::Edit)
            };
            // A row a newer build wrote that no longer parses is left alone.
            let Ok(body) = body else { continue };
            out.push(QueuedChange {
                client_id: ClientId::new(client_id),
                message_id: MessageId::new(message_id),
                body,
            });
        }
        Ok(out)
    }

    /// True when `client_id` names a queued change (not a send).
    pub fn is_queued_change(&self, client_id: &ClientId) -> Result<bool> {
        Ok(self.lock().query_row(
            "SELECT EXISTS (SELECT 1 FROM change_queue WHERE client_id = ?1)",
            params![client_id.as_str()],
            |r| r.get(0),
        )?)
    }

    /// The server applied our change `client_id` (or found it already applied): store its copy
    /// and settle the change. Returns the message when it changed here.
    pub fn change_done(
        &self,
        me: &UserId,
        client_id: &ClientId,
        message: Message,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let id = message.id.clone();
        tx.execute(
            "DELETE FROM change_queue WHERE client_id = ?1",
            params![client_id.as_str()],
        )?;
        let mut changed = upsert(&tx, me, message)?;
        if let Some(m) = settle(&tx, &id, client_id, None)? {
            changed = Some(m);
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The server refused our change `client_id` for good: it is dropped, the message stays as
    /// it was, with `notice` saying why.
    pub fn change_refused(
        &self,
        client_id: &ClientId,
        notice: &str,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let message_id: Option<String> = tx
            .query_row(
                "DELETE FROM change_queue WHERE client_id = ?1 RETURNING message_id",
                params![client_id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(message_id) = message_id else {
            return Ok(None);
        };
        let changed = settle(&tx, &MessageId::new(message_id), client_id, Some(notice))?;
        tx.commit()?;
        Ok(changed)
    }

    /// The server keeps refusing our change `client_id` for now: it stays queued, and its
    /// message says so with `notice` (cleared once the change is settled). Returns the message
    /// when its notice changed.
    pub fn change_delayed(
        &self,
        client_id: &ClientId,
        notice: &str,
    ) -> Result<Option<LocalMessage>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let message_id: Option<String> = tx
            .query_row(
                "SELECT message_id FROM change_queue WHERE client_id = ?1",
                params![client_id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(message_id) = message_id else {
            return Ok(None);
        };
        let Some((local_id, mut m)) = find(&tx, "id = ?1", params![message_id])? else {
            return Ok(None);
        };
        if m.pending_change
            .as_ref()
            .is_none_or(|p| &p.client_id != client_id)
            || m.change_notice.as_deref() == Some(notice)
        {
            return Ok(None);
        }
        m.change_notice = Some(notice.to_owned());
        update_row(&tx, local_id, &m)?;
        tx.commit()?;
        Ok(Some(m))
    }

    /// Files of messages that became tombstones, taken off the list: the caller deletes them.
    pub fn take_dropped_files(&self) -> Result<Vec<DroppedFile>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let files = tx
            .prepare("DELETE FROM dropped_files RETURNING file_url, file_name, local_path")?
            .query_map([], |r| {
                Ok(DroppedFile {
                    file_url: r.get(0)?,
                    file_name: r.get(1)?,
                    local_path: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(files)
    }
}

/// Clears the pending change `client_id` from the message (and sets the notice of a refusal).
fn settle(
    tx: &Transaction<'_>,
    message_id: &MessageId,
    client_id: &ClientId,
    notice: Option<&str>,
) -> Result<Option<LocalMessage>> {
    let Some((local_id, mut m)) = find(tx, "id = ?1", params![message_id.as_str()])? else {
        return Ok(None);
    };
    if m.pending_change
        .as_ref()
        .is_none_or(|p| &p.client_id != client_id)
        && notice.is_none()
    {
        return Ok(None);
    }
    if m.pending_change
        .as_ref()
        .is_some_and(|p| &p.client_id == client_id)
    {
        m.pending_change = None;
        // A "still trying" said while it waited is over.
        m.change_notice = None;
    }
    if let Some(notice) = notice {
        m.change_notice = Some(notice.to_owned());
    }
    update_row(tx, local_id, &m)?;
    Ok(Some(m))
}

/// Remembers the files of `old`, which just became a tombstone, for deletion after commit.
pub(super) fn drop_files(tx: &Transaction<'_>, old: &LocalMessage) -> Result<()> {
    if old.file_url.is_none() && old.local_file_path.is_none() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO dropped_files (file_url, file_name, local_path) VALUES (?1, ?2, ?3)",
        params![old.file_url, old.file_name, old.local_file_path],
    )?;
    Ok(())
}
