//! The committed-sequence marker: a small file beside the database holding the last change
//! sequence the writer committed. SQLite cannot tell a log that was cut short or damaged
//! (its later commits are silently dropped when the database opens) from one that simply ended
//! there; this file can. At start a database behind its marker is reported loudly.
//!
//! The marker is written by a thread of its own after commits (at most every
//! `MIN_INTERVAL`), never by the writer, so no commit waits for it; it can trail the database
//! by that much, never lead it.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Shortest time between two writes of the marker.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// The marker of the database at `db`.
pub(crate) fn path(db: &Path) -> PathBuf {
    db.with_file_name("clinic.seq")
}

/// The sequence the marker holds, if there is a readable one.
pub(crate) fn read(db: &Path) -> Option<i64> {
    std::fs::read_to_string(path(db)).ok()?.trim().parse().ok()
}

/// Writes the marker (a new file renamed over the old one, so it is never half written).
pub(crate) fn write(db: &Path, seq: i64) -> std::io::Result<()> {
    let target = path(db);
    let temp = target.with_extension("seq.tmp");
    std::io::Write::write_all(
        &mut crate::datadir::private_file(&temp, true)?,
        format!("{seq}\n").as_bytes(),
    )?;
    std::fs::rename(&temp, &target)
}

/// The last committed change sequence of the database `conn` is open on.
pub(crate) fn committed(conn: &Connection) -> rusqlite::Result<i64> {
    // A backup made before schema v13 has no log, and its counter is the whole story; one made
    // before v21 has only the send log, one made before v25 the send log and the receipt log.
    let logs: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name IN ('event_log', 'send_log', 'receipt_log') ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let logs: Vec<&str> = logs.iter().map(String::as_str).collect();
    let sql = match logs.as_slice() {
        ["event_log"] => super::writer::LAST_SEQ,
        ["receipt_log", "send_log"] => {
            "SELECT max(value, (SELECT coalesce(max(seq), 0) FROM send_log), \
             (SELECT coalesce(max(seq), 0) FROM receipt_log)) FROM counters \
             WHERE name = 'change_seq'"
        }
        ["send_log"] => {
            "SELECT max(value, (SELECT coalesce(max(seq), 0) FROM send_log)) FROM counters \
             WHERE name = 'change_seq'"
        }
        _ => "SELECT value FROM counters WHERE name = 'change_seq'",
    };
    conn.query_row(sql, [], |r| r.get(0))
}

/// Compares the database with its marker; returns how many committed changes are missing
/// (0 when none, or when there is no marker yet).
pub(crate) fn missing(db: &Path, conn: &Connection) -> rusqlite::Result<i64> {
    let now = committed(conn)?;
    Ok(read(db).map_or(0, |marked| (marked - now).max(0)))
}

/// The thread that keeps the marker up to date.
#[derive(Debug)]
pub(crate) struct Marker {
    last: Arc<AtomicI64>,
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Marker {
    /// Starts keeping the marker of `db`, which stands at `seq` now.
    pub(crate) fn start(db: &Path, seq: i64) -> std::io::Result<Self> {
        write(db, seq)?;
        let last = Arc::new(AtomicI64::new(seq));
        let (wake, woken) = mpsc::sync_channel(1);
        let db = db.to_path_buf();
        let seen = Arc::clone(&last);
        let thread = std::thread::Builder::new()
            .name("clinic-marker".into())
            .spawn(move || keep(&db, &seen, &woken, seq))?;
        Ok(Self { last, wake, thread })
    }

    /// A commit up to `seq` is durable.
    pub(crate) fn committed(&self, seq: i64) {
        self.last.store(seq, Ordering::Release);
        // Full: a wake-up is pending and will see this value too.
        let _ = self.wake.try_send(());
    }

    /// Writes the last value and stops the thread.
    pub(crate) fn finish(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}

fn keep(db: &Path, last: &AtomicI64, woken: &Receiver<()>, mut written: i64) {
    loop {
        let stop = woken.recv().is_err();
        let seq = last.load(Ordering::Acquire);
        if seq != written {
            match write(db, seq) {
                Ok(()) => written = seq,
                Err(err) => tracing::warn!(error = %err, "cannot write the commit marker"),
            }
        }
        if stop {
            return;
        }
        std::thread::sleep(MIN_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::schema;

    /// The last committed change of a database of any schema `restore` may be given: the
    /// counter alone before the send log (v13), the send log too before the receipt log (v21),
    /// then both logs, then the one log (v25).
    #[test]
    fn the_last_change_is_read_as_each_schema_keeps_it() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate_to(&mut conn, 12).unwrap();
        conn.execute_batch("UPDATE counters SET value = 5 WHERE name = 'change_seq'")
            .unwrap();
        assert_eq!(committed(&conn).unwrap(), 5);
        schema::migrate_to(&mut conn, 20).unwrap();
        conn.execute_batch(
            "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, \
             recipient_id, content, created_at) VALUES (7, 'm', 'c', 'p', 'd', 'p', 'd', 'x', 0)",
        )
        .unwrap();
        assert_eq!(committed(&conn).unwrap(), 7, "a v13-v20 database");
        schema::migrate_to(&mut conn, 24).unwrap();
        conn.execute_batch(
            "INSERT INTO receipt_log (seq, message_id, status, at) VALUES (9, 'm', 'READ', 0)",
        )
        .unwrap();
        assert_eq!(committed(&conn).unwrap(), 9, "a v21-v24 database");
        schema::migrate(&mut conn).unwrap();
        assert_eq!(committed(&conn).unwrap(), 9, "both logs became one");
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at) VALUES (11, 'DELIVERED', 'm', 0)",
        )
        .unwrap();
        assert_eq!(committed(&conn).unwrap(), 11);
    }
}
