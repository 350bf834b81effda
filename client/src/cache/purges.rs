//! History the clinic's retention policy removed: the conversation's messages up to a seq go
//! from the cache (with their emergencies, also those the purge names by id, summaries and owed
//! read marks), and the purge is kept so the conversation can say so.

use super::Cache;
use crate::error::Result;
use chrono::{DateTime, Utc};
use clinic_protocol::rest::Purge;
use clinic_protocol::{ConversationKey, MessageId};
use rusqlite::{OptionalExtension, Transaction, params};

impl Cache {
    /// Applies a purge the server announced; returns the ids of the messages removed here.
    pub fn apply_purge(&self, purge: &Purge) -> Result<Vec<MessageId>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let removed = apply_in(&tx, purge)?;
        tx.commit()?;
        Ok(removed)
    }

    /// The attachments of the cached messages a purge will remove: what to delete from disk
    /// once it is applied.
    pub fn attachments_purged_by(&self, purge: &Purge) -> Result<Vec<PurgedFile>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT json_extract(data, '$.fileUrl'), json_extract(data, '$.fileName'),
                    json_extract(data, '$.localFilePath')
             FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND seq IS NOT NULL
               AND seq <= ?3 AND id IS NOT NULL
               AND (json_extract(data, '$.fileUrl') IS NOT NULL
                    OR json_extract(data, '$.localFilePath') IS NOT NULL)",
        )?;
        let rows = stmt.query_map(
            params![
                purge.patient_id.as_str(),
                purge.doctor_id.as_str(),
                purge.up_to_seq.0
            ],
            |r| {
                Ok(PurgedFile {
                    file_url: r.get(0)?,
                    file_name: r.get(1)?,
                    local_path: r.get(2)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When the retention policy last removed this conversation's older messages.
    pub fn purged_at(&self, key: &ConversationKey) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self
            .lock()
            .query_row(
                "SELECT purged_at FROM purges WHERE patient_id = ?1 AND doctor_id = ?2",
                params![key.patient_id.as_str(), key.doctor_id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(at.and_then(|a| DateTime::parse_from_rfc3339(&a).ok().map(|d| d.to_utc())))
    }
}

/// The attachment of a purged message: its downloaded copy (by `file_url` and `file_name`) and
/// the sender's own copy (`local_path`), whichever exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedFile {
    pub file_url: Option<String>,
    pub file_name: Option<String>,
    pub local_path: Option<String>,
}

pub(super) fn apply_in(tx: &Transaction<'_>, purge: &Purge) -> Result<Vec<MessageId>> {
    let (patient, doctor) = (purge.patient_id.as_str(), purge.doctor_id.as_str());
    let removed: Vec<String> = tx
        .prepare(
            "DELETE FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND seq IS NOT NULL
             AND seq <= ?3 AND id IS NOT NULL RETURNING id",
        )?
        .query_map(params![patient, doctor, purge.up_to_seq.0], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &removed {
        tx.execute(
            "DELETE FROM emergencies WHERE json_extract(data, '$.messageId') = ?1",
            [id],
        )?;
        tx.execute("DELETE FROM pending_reads WHERE message_id = ?1", [id])?;
    }
    // A doctor holds every emergency, also of conversations whose messages they never had.
    for id in &purge.emergency_ids {
        tx.execute("DELETE FROM emergencies WHERE id = ?1", [id.as_str()])?;
    }
    tx.execute(
        "UPDATE conversations SET data = json_remove(data, '$.lastMessage')
         WHERE patient_id = ?1 AND doctor_id = ?2
           AND json_extract(data, '$.lastMessage.seq') <= ?3",
        params![patient, doctor, purge.up_to_seq.0],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO purges (patient_id, doctor_id, up_to_seq, purged_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            patient,
            doctor,
            purge.up_to_seq.0,
            purge.purged_at.to_rfc3339()
        ],
    )?;
    Ok(removed.into_iter().map(MessageId::from).collect())
}
