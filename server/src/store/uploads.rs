//! Uploads in SQLite: who uploaded what for which conversation, and which message it is
//! attached to. Unattached uploads older than a grace period are swept with their content.

use crate::files;
use crate::store::StoreError;
use clinic_protocol::{ConversationKey, User, UserId};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The path every download URL starts with.
pub(crate) const URL_PREFIX: &str = "/api/files/";

#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub id: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub file_name: String,
    pub uploader_id: UserId,
    pub key: ConversationKey,
    pub message_id: Option<String>,
}

impl Upload {
    pub(crate) fn url(&self) -> String {
        format!("{URL_PREFIX}{}", self.id)
    }

    /// Participants may fetch it once it is attached; before that only its uploader.
    pub(crate) fn visible_to(&self, user: &UserId) -> bool {
        self.key.has_participant(user) && (self.message_id.is_some() || &self.uploader_id == user)
    }
}

/// The upload id of a `fileUrl` as we hand them out (`/api/files/<id>`, optionally with the
/// server's origin in front).
pub(crate) fn id_from_url(url: &str) -> Option<&str> {
    let path = match url.find("://") {
        Some(at) => {
            let rest = url.get(at + 3..)?;
            rest.get(rest.find('/')?..)?
        }
        None => url,
    };
    path.strip_prefix(URL_PREFIX).filter(|id| files::is_id(id))
}

pub(crate) fn insert(conn: &Connection, upload: &Upload, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO uploads (id, sha256, size, content_type, file_name, uploader_id, patient_id, \
         doctor_id, message_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)",
        params![
            upload.id,
            upload.sha256,
            i64::try_from(upload.size).unwrap_or(i64::MAX),
            upload.content_type,
            upload.file_name,
            upload.uploader_id.as_str(),
            upload.key.patient_id.as_str(),
            upload.key.doctor_id.as_str(),
            now
        ],
    )?;
    Ok(())
}

pub(crate) fn by_id(conn: &Connection, id: &str) -> Result<Option<Upload>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, sha256, size, content_type, file_name, uploader_id, patient_id, \
             doctor_id, message_id FROM uploads WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Upload {
                id: r.get(0)?,
                sha256: r.get(1)?,
                size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                content_type: r.get(3)?,
                file_name: r.get(4)?,
                uploader_id: r.get::<_, String>(5)?.into(),
                key: ConversationKey::new(r.get::<_, String>(6)?, r.get::<_, String>(7)?),
                message_id: r.get(8)?,
            })
        })
        .optional()?)
}

/// Bytes `user` uploaded since `since` (ms), and when the oldest of those uploads was made.
pub(crate) fn uploaded_since(
    conn: &Connection,
    user: &UserId,
    since: i64,
) -> Result<(u64, Option<i64>), StoreError> {
    let (bytes, oldest): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(size), 0), MIN(created_at) FROM uploads \
             WHERE uploader_id = ?1 AND created_at > ?2",
        )?
        .query_row(params![user.as_str(), since], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok((u64::try_from(bytes).unwrap_or(0), oldest))
}

/// The upload a send names in `fileUrl`: it must exist, belong to this conversation and have
/// been uploaded by the sender (anything else is `not_found`: ids cannot be probed), and be
/// attached to no message yet: an upload is one message's, so that taking that message back
/// (which deletes its upload) never takes a file from another, an emergency's among them. A
/// send repeated under its clientId never gets here (it is answered with its message).
pub(crate) fn for_send(
    conn: &Connection,
    url: &str,
    sender: &User,
    key: &ConversationKey,
) -> Result<Upload, StoreError> {
    let gone =
        || StoreError::not_found("no such upload in this conversation: upload the file again");
    let id = id_from_url(url).ok_or_else(gone)?;
    let upload = by_id(conn, id)?.ok_or_else(gone)?;
    if &upload.key != key || upload.uploader_id != sender.id {
        return Err(gone());
    }
    if upload.message_id.is_some() {
        return Err(StoreError::bad_input(
            "this file is already attached to another message: attach it again to send it again",
        ));
    }
    Ok(upload)
}

/// Marks an upload attached (in the send's transaction; `for_send` refused one attached already).
pub(crate) fn attach(conn: &Connection, id: &str, message_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE uploads SET message_id = ?2 WHERE id = ?1 AND message_id IS NULL",
        params![id, message_id],
    )?;
    Ok(())
}

/// Deletes the uploads never attached to a message made at or before `?1` (through the partial
/// index `uploads_unattached`, never the whole table: a plan test in `store::tests`).
pub(super) const SWEEP_UNATTACHED: &str =
    "DELETE FROM uploads WHERE message_id IS NULL AND created_at <= ?1 RETURNING sha256";

/// Deletes uploads never attached to a message and older than `grace`, then every content
/// file no row refers to any more (and crash leftovers older than `grace`). Runs on the writer
/// thread, so a concurrent upload of the same content cannot lose its file. Returns how many
/// uploads were deleted.
pub(crate) fn sweep(
    conn: &Connection,
    data_dir: &Path,
    now: i64,
    grace: Duration,
) -> Result<usize, StoreError> {
    let cutoff = now.saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
    let orphans: Vec<String> = conn
        .prepare(SWEEP_UNATTACHED)?
        .query_map([cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let referenced: HashSet<String> = conn
        .prepare("SELECT DISTINCT sha256 FROM uploads")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let internal = |e: std::io::Error| {
        tracing::error!("sweeping uploads failed: {e}");
        StoreError::internal("could not remove old uploads")
    };
    for sha256 in &orphans {
        if !referenced.contains(sha256) {
            files::remove_content(data_dir, sha256).map_err(internal)?;
        }
    }
    files::remove_leftovers(data_dir, &referenced, grace).map_err(internal)?;
    Ok(orphans.len())
}
