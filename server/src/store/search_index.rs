//! Keeping the search index up to date off the send path: new messages enter it in bulk, a few
//! times a second and before every search, never one by one in the statement that stores them.
//!
//! FTS5 writes its pending entries out as a new index segment at every savepoint and every
//! commit, and each segment has to be merged later: as a trigger on `messages`, indexing cost a
//! segment per message (every statement that writes `messages` opens a statement savepoint). In
//! bulk it costs one per pass. The counter `search_seq` (schema v12) says how far the index goes;
//! edits, retractions and deletions of messages up to it change the index through a trigger in
//! their own statement, so a retracted text leaves the index in the transaction that retracts it,
//! and a message not indexed yet is indexed as it reads then (or not at all once retracted).

use super::Store;
use crate::error::ApiError;
use rusqlite::Connection;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How often the index catches up with the messages while the server runs.
const INTERVAL: Duration = Duration::from_millis(250);

/// Adds every message newer than the index (`search_seq`) that is not retracted, as it reads
/// now, and moves `search_seq` past them.
pub(crate) fn index_new(conn: &Connection) -> rusqlite::Result<()> {
    let indexed: i64 = conn
        .prepare_cached("SELECT value FROM counters WHERE name = 'search_seq'")?
        .query_row([], |r| r.get(0))?;
    let newest: Option<i64> = conn
        .prepare_cached("SELECT MAX(seq) FROM messages")?
        .query_row([], |r| r.get(0))?;
    let Some(newest) = newest.filter(|&n| n > indexed) else {
        return Ok(());
    };
    for table in [
        "INSERT INTO messages_words (rowid, content, file_name) SELECT seq, content, file_name \
         FROM messages WHERE seq > ?1 AND retracted_at IS NULL ORDER BY seq",
        "INSERT INTO messages_parts (rowid, content, file_name) SELECT seq, content, file_name \
         FROM messages WHERE seq > ?1 AND retracted_at IS NULL ORDER BY seq",
    ] {
        conn.prepare_cached(table)?.execute([indexed])?;
    }
    conn.prepare_cached("UPDATE counters SET value = ?1 WHERE name = 'search_seq'")?
        .execute([newest])?;
    Ok(())
}

/// The change sequence up to which every message is known to be in the index.
#[derive(Debug, Default)]
pub(crate) struct Indexed(AtomicI64);

/// Brings the index up to every commit made so far (a no-op when it already is): a search that
/// waits for this finds every message whose send was acknowledged before it started.
pub(crate) async fn catch_up(store: &Store) -> Result<(), ApiError> {
    if store.indexed.0.load(Ordering::Acquire) >= store.writer.committed() {
        return Ok(());
    }
    let through = store
        .writer
        .run_validated(|conn, seqs| {
            index_new(conn)?;
            Ok(seqs.last())
        })
        .await?;
    store.indexed.0.fetch_max(through, Ordering::AcqRel);
    Ok(())
}

/// Catches the index up every [`INTERVAL`] while the server runs.
pub(crate) async fn run(store: Store) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = catch_up(&store).await {
            tracing::warn!(error = %err, "the search index could not catch up; it will try again");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::writer::run_direct;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::store::open_write(&dir.path().join("t.db"), crate::Synchronous::Normal).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, username, name, role, password_hash, created_at) VALUES
                 ('p', 'pat', 'P', 'PATIENT', 'x', 0), ('d', 'doc', 'D', 'DOCTOR', 'x', 0);
             INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES ('p', 'd', 0);",
        )
        .unwrap();
        (dir, conn)
    }

    fn insert(conn: &Connection, seq: i64, content: &str) {
        conn.execute(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('m' || ?1, ?1, ?1, 'c' || ?1, 'p', 'd', 'p', ?2, 'TEXT', 'SENT', 0, 0, 0)",
            rusqlite::params![seq, content],
        )
        .unwrap();
    }

    fn found(conn: &Connection, word: &str) -> Vec<i64> {
        let mut stmt = conn
            .prepare(
                "SELECT rowid FROM messages_words WHERE messages_words MATCH ?1 ORDER BY rowid",
            )
            .unwrap();
        stmt.query_map([word], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[track_caller]
    fn intact(conn: &Connection) {
        for table in ["messages_words", "messages_parts"] {
            let checked = conn.execute(
                &format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"),
                [],
            );
            assert!(checked.is_ok(), "{table}: {checked:?}");
        }
    }

    /// Messages written in one transaction are found after it, as they read at its end: one
    /// changed before the index saw it is found by its new text only, a retracted one not at
    /// all, and the index stays consistent with its content (FTS5's own integrity check).
    #[test]
    fn a_transaction_indexes_its_messages_as_they_read_at_its_end() {
        let (_dir, mut conn) = store();
        run_direct(&mut conn, |conn, _| {
            insert(conn, 1, "ibuprofen twice daily");
            insert(conn, 2, "paracetamol at night");
            insert(conn, 3, "call me tomorrow");
            conn.execute(
                "UPDATE messages SET content = 'naproxen at night' WHERE seq = 2",
                [],
            )?;
            conn.execute(
                "UPDATE messages SET content = '', retracted_at = 1 WHERE seq = 3",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(found(&conn, "ibuprofen"), [1]);
        assert_eq!(found(&conn, "naproxen"), [2]);
        assert!(found(&conn, "paracetamol").is_empty());
        assert!(found(&conn, "tomorrow").is_empty());
        intact(&conn);

        // Later changes to indexed messages go through the triggers, in their own transaction.
        run_direct(&mut conn, |conn, _| {
            conn.execute(
                "UPDATE messages SET content = '', retracted_at = 2 WHERE seq = 1",
                [],
            )?;
            conn.execute("UPDATE messages SET content = 'aspirin' WHERE seq = 2", [])?;
            Ok(())
        })
        .unwrap();
        assert!(found(&conn, "ibuprofen").is_empty());
        assert!(found(&conn, "naproxen").is_empty());
        assert_eq!(found(&conn, "aspirin"), [2]);
        intact(&conn);
    }

    /// The migration marks what the old triggers had indexed, so nothing is indexed twice.
    #[test]
    fn nothing_is_indexed_twice() {
        let (_dir, mut conn) = store();
        run_direct(&mut conn, |conn, _| {
            insert(conn, 1, "amoxicillin");
            Ok(())
        })
        .unwrap();
        run_direct(&mut conn, |conn, _| {
            insert(conn, 2, "amoxicillin again");
            Ok(())
        })
        .unwrap();
        assert_eq!(found(&conn, "amoxicillin"), [1, 2]);
        let indexed: i64 = conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'search_seq'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 2);
        intact(&conn);
    }
}
