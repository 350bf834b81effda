//! Retention in SQL: legal holds, the conversations whose keep-until date has passed, and purges
//! that remove a conversation's messages in bounded batches (each its own transaction, so a
//! killed run resumes where it stopped) and, when done, take a change seq for sync.

use super::writer::Seqs;
use crate::retention::Policy;
use crate::store::StoreError;
use crate::time::from_ms;
use chrono::{DateTime, NaiveDate, Utc};
use clinic_protocol::rest::Purge;
use clinic_protocol::{ConversationKey, EmergencyId, Role, Seq, User, UserId};
use rusqlite::{Connection, OptionalExtension, params};

/// A legal hold as `hold list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: i64,
    pub patient: String,
    /// `None`: every conversation of the patient.
    pub doctor: Option<String>,
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub release_reason: Option<String>,
}

/// A conversation and what the policy says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub key: ConversationKey,
    pub patient: String,
    pub doctor: String,
    pub messages: u64,
    pub last_activity: DateTime<Utc>,
    pub keep_until: DateTime<Utc>,
    /// A legal hold keeps it.
    pub held: bool,
}

pub(crate) fn place_hold(
    conn: &Connection,
    patient_id: &UserId,
    doctor_id: Option<&UserId>,
    reason: &str,
    now: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO holds (patient_id, doctor_id, reason, placed_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            patient_id.as_str(),
            doctor_id.map(UserId::as_str),
            reason,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Releases an active hold; false if there is no active hold with this id.
pub(crate) fn release_hold(
    conn: &Connection,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE holds SET released_at = ?2, release_reason = ?3
         WHERE id = ?1 AND released_at IS NULL",
        params![id, now, reason],
    )?;
    Ok(changed == 1)
}

/// Holds, newest first; only the active ones unless `all`.
pub(crate) fn holds(conn: &Connection, all: bool) -> Result<Vec<Hold>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT h.id, p.username, d.username, h.reason, h.placed_at, h.released_at,
                h.release_reason
         FROM holds h JOIN users p ON p.id = h.patient_id LEFT JOIN users d ON d.id = h.doctor_id
         WHERE ?1 OR h.released_at IS NULL ORDER BY h.id DESC",
    )?;
    let rows = stmt.query_map([all], |r| {
        Ok(Hold {
            id: r.get(0)?,
            patient: r.get(1)?,
            doctor: r.get(2)?,
            reason: r.get(3)?,
            placed_at: from_ms(r.get(4)?),
            released_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
            release_reason: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether an active hold covers the conversation of patient `?1` and doctor `?2` (through the
/// partial index `holds_patient`: a plan test in `store::tests`).
pub(super) const HELD: &str = "SELECT EXISTS (SELECT 1 FROM holds WHERE released_at IS NULL \
     AND patient_id = ?1 AND (doctor_id IS NULL OR doctor_id = ?2))";

fn is_held(conn: &Connection, key: &ConversationKey) -> rusqlite::Result<bool> {
    conn.query_row(
        HELD,
        params![key.patient_id.as_str(), key.doctor_id.as_str()],
        |r| r.get(0),
    )
}

/// The newest step people took on the emergencies raised in the conversation of patient `?1`
/// and doctor `?2` (raised, taken, pressed again, resolved; not the server's own alerts and
/// escalations), if any: part of the conversation's last activity. An emergency pressed again
/// from another conversation lives on in this one, which must not go with it (an attacker
/// purged one a patient had just reopened). A press that joins an open emergency changes no
/// column of it: while one is open (a patient has at most one), her newest emergency message
/// anywhere counts.
const EMERGENCY_ACTIVITY: &str = "SELECT max(max(e.raised_at, coalesce(e.acknowledged_at, 0),
         coalesce(e.reopened_at, 0), coalesce(e.resolved_at, 0),
         CASE WHEN e.state <> 'RESOLVED' THEN coalesce((SELECT max(j.created_at) FROM messages j
              WHERE j.patient_id = ?1 AND j.is_emergency = 1), 0) ELSE 0 END))
     FROM emergencies e JOIN messages m ON m.id = e.message_id
     WHERE e.patient_id = ?1 AND m.patient_id = ?1 AND m.doctor_id = ?2";

fn emergency_activity(conn: &Connection, key: &ConversationKey) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(EMERGENCY_ACTIVITY)?.query_row(
        params![key.patient_id.as_str(), key.doctor_id.as_str()],
        |r| r.get(0),
    )
}

/// Every conversation with messages whose keep-until date is at or before `now`, oldest last
/// activity first (held ones included and marked). One pass over the messages: a nightly cost.
pub(crate) fn due(conn: &Connection, policy: &Policy, now: i64) -> Result<Vec<Due>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT m.patient_id, m.doctor_id, p.username, d.username, p.date_of_birth,
                count(*), max(m.created_at)
         FROM messages m JOIN users p ON p.id = m.patient_id JOIN users d ON d.id = m.doctor_id
         GROUP BY m.patient_id, m.doctor_id ORDER BY max(m.created_at)",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                ConversationKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let now = from_ms(now);
    let mut due = Vec::new();
    for (key, patient, doctor, birth, messages, last) in rows {
        let birth = birth.and_then(|b| b.parse::<NaiveDate>().ok());
        if policy.keep_until(from_ms(last), birth) > now {
            continue;
        }
        // Due by its messages: an emergency raised in it may have moved since.
        let last = last.max(emergency_activity(conn, &key)?.unwrap_or(0));
        let last_activity = from_ms(last);
        let keep_until = policy.keep_until(last_activity, birth);
        if keep_until <= now {
            let held = is_held(conn, &key)?;
            due.push(Due {
                key,
                patient,
                doctor,
                messages: u64::try_from(messages).unwrap_or(0),
                last_activity,
                keep_until,
                held,
            });
        }
    }
    Ok(due)
}

/// Whether `key` may go now: it has messages, its keep-until date (from its last message or
/// the last step of an emergency raised in it) has passed and no active hold covers it (one
/// conversation's rows, through its index).
pub(crate) fn still_due(
    conn: &Connection,
    key: &ConversationKey,
    policy: &Policy,
    now: i64,
) -> Result<bool, StoreError> {
    let (last, birth): (Option<i64>, Option<String>) = conn.query_row(
        "SELECT (SELECT max(created_at) FROM messages WHERE patient_id = ?1 AND doctor_id = ?2),
                (SELECT date_of_birth FROM users WHERE id = ?1)",
        params![key.patient_id.as_str(), key.doctor_id.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some(last) = last else {
        return Ok(false);
    };
    let last = last.max(emergency_activity(conn, key)?.unwrap_or(0));
    let birth = birth.and_then(|b| b.parse::<NaiveDate>().ok());
    Ok(policy.keep_until(from_ms(last), birth) <= from_ms(now) && !is_held(conn, key)?)
}

/// A purge under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unfinished {
    pub id: i64,
    pub key: ConversationKey,
    pub up_to_seq: i64,
}

/// Unfinished purges of conversations without an active hold.
pub(crate) fn unfinished(conn: &Connection) -> Result<Vec<Unfinished>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, patient_id, doctor_id, up_to_seq FROM purges WHERE finished_at IS NULL
         ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Unfinished {
                id: r.get(0)?,
                key: ConversationKey::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                up_to_seq: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut open = Vec::new();
    for purge in rows {
        if !is_held(conn, &purge.key)? {
            open.push(purge);
        }
    }
    Ok(open)
}

/// Starts purging `key` up to its newest message (nothing if a purge of it is under way).
pub(crate) fn begin(conn: &Connection, key: &ConversationKey, now: i64) -> Result<(), StoreError> {
    let newest: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM messages WHERE patient_id = ?1 AND doctor_id = ?2",
        params![key.patient_id.as_str(), key.doctor_id.as_str()],
        |r| r.get(0),
    )?;
    if let Some(up_to) = newest {
        conn.execute(
            "INSERT OR IGNORE INTO purges (patient_id, doctor_id, up_to_seq, started_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![key.patient_id.as_str(), key.doctor_id.as_str(), up_to, now],
        )?;
    }
    Ok(())
}

/// What one batch of a purge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub removed: u64,
    /// The purge finished in this batch (nothing was left).
    pub finished: bool,
    /// Content files (by sha256) whose last upload row went, now in `doomed_files`: remove
    /// them after the commit.
    pub doomed: Vec<String>,
}

/// Whether the purge still has messages to remove.
pub(crate) fn has_left(conn: &Connection, purge: &Unfinished) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE patient_id = ?1 AND doctor_id = ?2
                        AND seq <= ?3)",
        params![
            purge.key.patient_id.as_str(),
            purge.key.doctor_id.as_str(),
            purge.up_to_seq
        ],
        |r| r.get(0),
    )?)
}

/// Ends a purge that is no longer due (a hold came and went, or the conversation is active
/// again) at what it already removed: it finishes at the seq just below the oldest message left
/// (so devices drop exactly what the server dropped), or goes if it removed nothing.
pub(crate) fn stop_early(
    conn: &Connection,
    seqs: &mut Seqs,
    purge: &Unfinished,
    now: i64,
) -> Result<(), StoreError> {
    if removed(conn, purge.id)? == 0 {
        conn.execute("DELETE FROM purges WHERE id = ?1", [purge.id])?;
        return Ok(());
    }
    conn.execute(
        "UPDATE purges SET finished_at = ?2, change_seq = ?3,
             up_to_seq = min(up_to_seq, coalesce(
                 (SELECT min(seq) - 1 FROM messages WHERE patient_id = ?4 AND doctor_id = ?5),
                 up_to_seq))
         WHERE id = ?1",
        params![
            purge.id,
            now,
            seqs.next().0,
            purge.key.patient_id.as_str(),
            purge.key.doctor_id.as_str()
        ],
    )?;
    Ok(())
}

/// Removes up to `limit` of the purge's oldest messages with what hangs on them (emergencies
/// and their transitions, notifications, uploads), or finishes the purge when none are left.
/// The emergencies that went are kept with the purge (to tell every doctor), and the content
/// files no upload refers to any more are recorded as doomed, both in this transaction.
pub(crate) fn batch(
    conn: &Connection,
    seqs: &mut Seqs,
    purge: &Unfinished,
    limit: u32,
    now: i64,
) -> Result<Batch, StoreError> {
    let key = &purge.key;
    let ids: Vec<String> = conn
        .prepare(
            "SELECT id FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND seq <= ?3
             ORDER BY seq LIMIT ?4",
        )?
        .query_map(
            params![
                key.patient_id.as_str(),
                key.doctor_id.as_str(),
                purge.up_to_seq,
                limit
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        conn.execute(
            "UPDATE purges SET finished_at = ?2, change_seq = ?3 WHERE id = ?1",
            params![purge.id, now, seqs.next().0],
        )?;
        return Ok(Batch {
            removed: 0,
            finished: true,
            doomed: Vec::new(),
        });
    }
    let mut files = Vec::new();
    for id in &ids {
        conn.execute(
            "DELETE FROM emergency_transitions WHERE emergency_id IN
                 (SELECT id FROM emergencies WHERE message_id = ?1)",
            [id],
        )?;
        let emergencies: Vec<String> = conn
            .prepare_cached("DELETE FROM emergencies WHERE message_id = ?1 RETURNING id")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for emergency in &emergencies {
            conn.execute(
                "INSERT OR IGNORE INTO purged_emergencies (purge_id, emergency_id) VALUES (?1, ?2)",
                params![purge.id, emergency],
            )?;
            conn.execute(
                "UPDATE purges SET had_emergency = 1 WHERE id = ?1",
                [purge.id],
            )?;
        }
        conn.execute("DELETE FROM notifications WHERE message_id = ?1", [id])?;
        let mut gone =
            conn.prepare_cached("DELETE FROM uploads WHERE message_id = ?1 RETURNING sha256")?;
        for sha in gone.query_map([id], |r| r.get::<_, String>(0))? {
            files.push(sha?);
        }
        conn.execute("DELETE FROM messages WHERE id = ?1", [id])?;
        // Sealed versions go with their message (the append-only trigger allows only that).
        conn.execute("DELETE FROM message_versions WHERE message_id = ?1", [id])?;
    }
    let removed = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    conn.execute(
        "UPDATE purges SET messages = messages + ?2 WHERE id = ?1",
        params![purge.id, removed],
    )?;
    let removed = u64::try_from(removed).unwrap_or(0);
    let doomed = doom_unreferenced(conn, files)?;
    Ok(Batch {
        removed,
        finished: false,
        doomed,
    })
}

/// Content files a purge left to remove (recorded in its transaction).
pub(crate) fn doomed_files(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT sha256 FROM doomed_files ORDER BY sha256")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The file is gone from disk (or an upload uses it again): forget it.
pub(crate) fn forget_doomed(conn: &Connection, sha256: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM doomed_files WHERE sha256 = ?1", [sha256])?;
    Ok(())
}

/// Records as doomed those of `files` (content files by sha256 whose uploads just went in this
/// transaction) that no upload refers to any more, and returns them: they are removed after the
/// commit, and a crash before that never leaves one behind (the next start removes it).
pub(crate) fn doom_unreferenced(
    conn: &Connection,
    files: Vec<String>,
) -> rusqlite::Result<Vec<String>> {
    let mut doomed = Vec::new();
    for sha in files {
        if !is_referenced(conn, &sha)? {
            conn.prepare_cached("INSERT OR IGNORE INTO doomed_files (sha256) VALUES (?1)")?
                .execute([&sha])?;
            doomed.push(sha);
        }
    }
    Ok(doomed)
}

pub(crate) fn is_referenced(conn: &Connection, sha256: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM uploads WHERE sha256 = ?1)",
        [sha256],
        |r| r.get(0),
    )
}

/// How many messages a purge removed.
pub(crate) fn removed(conn: &Connection, id: i64) -> Result<u64, StoreError> {
    let n: Option<i64> = conn
        .query_row("SELECT messages FROM purges WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// A finished purge as sync tells it, with how many messages it removed.
pub(crate) fn finished(conn: &Connection, id: i64) -> Result<Option<(Purge, u64)>, StoreError> {
    let row = conn
        .query_row(
            "SELECT patient_id, doctor_id, up_to_seq, finished_at, messages FROM purges
             WHERE id = ?1 AND finished_at IS NOT NULL",
            [id],
            |r| Ok((purge_row(r)?, r.get::<_, i64>(4)?)),
        )
        .optional()?;
    let Some((mut purge, removed)) = row else {
        return Ok(None);
    };
    purge.emergency_ids = emergencies_of(conn, id)?;
    Ok(Some((purge, u64::try_from(removed).unwrap_or(0))))
}

/// A purge from the first four columns of a `purges` row (its emergencies still to add).
fn purge_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Purge> {
    Ok(Purge {
        patient_id: UserId::from(r.get::<_, String>(0)?),
        doctor_id: UserId::from(r.get::<_, String>(1)?),
        up_to_seq: Seq(r.get(2)?),
        purged_at: from_ms(r.get(3)?),
        emergency_ids: Vec::new(),
    })
}

fn emergencies_of(conn: &Connection, purge_id: i64) -> Result<Vec<EmergencyId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT emergency_id FROM purged_emergencies WHERE purge_id = ?1 ORDER BY emergency_id",
    )?;
    let ids = stmt.query_map([purge_id], |r| {
        Ok(EmergencyId::from(r.get::<_, String>(0)?))
    })?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Finished purges `user` must hear of after change `since` (with their change seq): the two
/// participants, and every doctor when an emergency went with it (every doctor holds every
/// emergency); who talked to whom is not told to anyone else.
pub(crate) fn changed_since(
    conn: &Connection,
    user: &User,
    since: Seq,
    limit: u32,
) -> Result<Vec<(Purge, Seq)>, StoreError> {
    let everyone = user.role == Role::Doctor;
    let mut stmt = conn.prepare_cached(
        "SELECT patient_id, doctor_id, up_to_seq, finished_at, change_seq, id FROM purges
         WHERE change_seq > ?1 AND ((?2 AND had_emergency) OR patient_id = ?3 OR doctor_id = ?3)
         ORDER BY change_seq LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(params![since.0, everyone, user.id.as_str(), limit], |r| {
            Ok((purge_row(r)?, Seq(r.get(4)?), r.get::<_, i64>(5)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut purges = Vec::with_capacity(rows.len());
    for (mut purge, seq, id) in rows {
        purge.emergency_ids = emergencies_of(conn, id)?;
        purges.push((purge, seq));
    }
    Ok(purges)
}

/// Removes the content files purges and retractions recorded as doomed (after their commit, and
/// again at every start in case a crash came in between), except one an upload refers to again;
/// `only` limits it to the files a committed purge batch or retraction named. In a write
/// transaction, so an upload of the same content cannot slip in between the check and the
/// removal. Every file goes before any row does, and a failed removal writes nothing: a command
/// of a batch that logs may not fail after its first write (`Guard::Append`). The rows of files
/// removed before the failure are forgotten at the next try, their files already gone.
///
/// Inside the server the removal shares its batch with other commands, which may doom files in
/// the same uncommitted transaction: a batch that then failed to commit would have lost files
/// its rolled-back rows still name. So the server names the files (`only`), all of them only at
/// start, before it serves; the CLI runs alone in its own transaction.
pub(crate) fn remove_doomed(
    conn: &Connection,
    data_dir: &std::path::Path,
    only: Option<&[String]>,
) -> Result<usize, StoreError> {
    let mut doomed = doomed_files(conn)?;
    if let Some(only) = only {
        doomed.retain(|sha| only.contains(sha));
    }
    for sha in &doomed {
        if !is_referenced(conn, sha)? {
            crate::files::remove_content(data_dir, sha).map_err(|e| {
                tracing::error!("retention: removing a purged file failed: {e}");
                StoreError::internal("could not remove a purged file")
            })?;
        }
    }
    for sha in &doomed {
        forget_doomed(conn, sha)?;
    }
    Ok(doomed.len())
}
