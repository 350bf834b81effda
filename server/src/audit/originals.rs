//! `clinic-server audit originals --message ID`: every text a message had, including what an
//! edit replaced and what its sender unsent or retracted. The sealed versions are read nowhere
//! else (the API shows the current text and, for an edited message, its edits; never what was
//! taken back), and each reading appends an `EXPORT` row in the same transaction.

use super::report::{Format, at_text, render_rows};
use super::{Action, Event, record};
use crate::accounts::{AccountError, open};
use crate::store::writer::run_direct;
use clinic_protocol::{ConversationKey, UserId};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;

/// One sealed version: the text as it was until `replaced_at`, and what replaced it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    pub version: i64,
    pub content: String,
    pub file_name: Option<String>,
    /// RFC 3339, UTC: when this text was written and when it was replaced.
    pub written_at: String,
    pub replaced_at: String,
    /// `EDIT` or `RETRACT`.
    pub change: String,
    /// The username of who changed it (always the sender).
    pub by: String,
    pub reason: Option<String>,
    pub misdirected: bool,
}

/// The sealed versions of `message_id`, oldest first, recorded as read by `actor`.
pub fn originals(
    data_dir: &Path,
    actor: &str,
    message_id: &str,
) -> Result<Vec<Sealed>, AccountError> {
    let mut conn = open(data_dir)?;
    let mut failure = None;
    let result = run_direct(&mut conn, |conn, _| {
        let (key, versions) = read(conn, message_id).map_err(|e| {
            failure = Some(e);
            crate::error::ApiError::bad_request("refused")
        })?;
        record(
            conn,
            &Event::new(actor, Action::Export)
                .conversation(&key)
                .subject(message_id)
                .detail(serde_json::json!({ "command": "originals", "versions": versions.len() })),
        )?;
        Ok::<_, crate::error::ApiError>(versions)
    });
    match (result, failure) {
        (_, Some(err)) => Err(err),
        (result, None) => Ok(result?),
    }
}

fn read(
    conn: &Connection,
    message_id: &str,
) -> Result<(ConversationKey, Vec<Sealed>), AccountError> {
    let key = conn
        .query_row(
            "SELECT patient_id, doctor_id FROM messages WHERE id = ?1",
            [message_id.trim()],
            |r| {
                Ok(ConversationKey::new(
                    UserId::new(r.get::<_, String>(0)?),
                    UserId::new(r.get::<_, String>(1)?),
                ))
            },
        )
        .optional()?
        .ok_or_else(|| {
            AccountError::Invalid(format!(
                "--message: there is no message {message_id:?} (retention may have removed it; \
                 message ids are shown by `clinic history`)"
            ))
        })?;
    let mut stmt = conn.prepare(
        "SELECT v.version, v.content, v.file_name, v.written_at, v.replaced_at, v.change, \
         coalesce(u.username, v.actor_id), v.reason, v.misdirected \
         FROM message_versions v LEFT JOIN users u ON u.id = v.actor_id \
         WHERE v.message_id = ?1 ORDER BY v.id",
    )?;
    let versions = stmt
        .query_map([message_id.trim()], |r| {
            Ok(Sealed {
                version: r.get(0)?,
                content: r.get(1)?,
                file_name: r.get(2)?,
                written_at: at_text(r.get(3)?),
                replaced_at: at_text(r.get(4)?),
                change: r.get(5)?,
                by: r.get(6)?,
                reason: r.get(7)?,
                misdirected: r.get::<_, i64>(8)? != 0,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((key, versions))
}

/// The versions as a table, CSV or JSON lines.
pub fn render(format: Format, rows: &[Sealed]) -> String {
    render_rows(
        format,
        &[
            "VERSION",
            "WRITTEN",
            "REPLACED",
            "CHANGE",
            "BY",
            "MISDIRECTED",
            "REASON",
            "FILE",
            "TEXT",
        ],
        rows,
        |s| {
            vec![
                s.version.to_string(),
                s.written_at.clone(),
                s.replaced_at.clone(),
                s.change.clone(),
                s.by.clone(),
                if s.misdirected { "yes" } else { "no" }.to_owned(),
                s.reason.clone().unwrap_or_default(),
                s.file_name.clone().unwrap_or_default(),
                s.content.clone(),
            ]
        },
    )
}
