//! WAL checkpoints on a thread of their own, so the writer does not stop to copy pages into the
//! database file and fsync it between two commits.
//!
//! SQLite's automatic checkpoint runs inside the committing connection: every thousand pages
//! one commit also copied the log back and synced the main file, which was the p99 of every
//! latency benchmark. Here the writer's commit hook only wakes this thread, which runs PASSIVE
//! checkpoints while the writer carries on. A passive checkpoint alone never lets the log start
//! over under steady load, though: the log is only recycled when a write transaction *begins*
//! with every frame copied back, and a busy writer is always mid-transaction when the thread
//! finishes. So once the log passes `RECYCLE_AT` the hook checkpoints inline, between two
//! transactions: by then the thread has copied nearly everything, the inline pass copies the
//! last few frames, and the next transaction starts the log from the top. Past that point the
//! thread stands aside (only one checkpoint runs at a time, and its pass would make the inline
//! one fail), so the log stays within `RECYCLE_AT` plus what is committed during one pass.

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;

/// WAL frames (pages) after which the thread is woken (SQLite's own default is 1,000).
pub(crate) const START_AT: i32 = 1000;
/// WAL frames after which the writer finishes the checkpoint itself so the log starts over.
const RECYCLE_AT: i32 = 4 * START_AT;

/// The checkpoint thread.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Takes over checkpointing of `conn`'s database: installs a commit hook on `conn` (which
    /// replaces SQLite's automatic checkpoint) and starts the thread. The thread ends, after a
    /// final checkpoint that empties the log, once `conn` is closed.
    pub(crate) fn start(conn: &mut Connection) -> std::io::Result<Self> {
        let path = PathBuf::from(conn.path().unwrap_or_default());
        let (wake, requests) = mpsc::sync_channel::<()>(1);
        // The log's length after the latest commit, for the thread to see who owns the log.
        let log = Arc::new(AtomicI32::new(0));
        let log_seen = Arc::clone(&log);
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames: i32| {
            log.store(frames, Ordering::Relaxed);
            if frames >= RECYCLE_AT {
                // Busy means the thread is mid-pass; the next commit tries again.
                if let Err(err) = wal.checkpoint_v2(CheckpointMode::PASSIVE)
                    && err.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy)
                {
                    tracing::warn!(error = %err, "inline checkpoint failed");
                }
            } else if frames >= START_AT {
                // Full: a wake-up is already pending and covers this commit too. Disconnected:
                // the thread could not start, and the inline pass above bounds the log.
                let _ = wake.try_send(());
            }
            Ok(())
        }))
        .map_err(std::io::Error::other)?;
        let thread = std::thread::Builder::new()
            .name("clinic-checkpoint".into())
            .spawn(move || checkpoint_loop(&path, &requests, &log_seen))?;
        Ok(Self { thread })
    }

    /// Waits for the thread's final checkpoint (after the write connection was closed).
    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}

fn checkpoint_loop(path: &Path, requests: &Receiver<()>, log: &AtomicI32) {
    let conn = match open(path) {
        Ok(conn) => conn,
        Err(err) => {
            // The writer's inline checkpoints still bound the log; this only costs latency.
            tracing::error!(error = %err, "cannot open the checkpoint connection");
            return;
        }
    };
    while requests.recv().is_ok() {
        // Past RECYCLE_AT the writer finishes the job between two transactions; a pass here
        // would only hold the checkpoint lock and make its attempts fail.
        if log.load(Ordering::Relaxed) < RECYCLE_AT {
            run(&conn, "PASSIVE");
        }
    }
    // The writer is gone: leave an empty log behind (a clean state for backups and restarts).
    run(&conn, "TRUNCATE");
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    super::open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
}

fn run(conn: &Connection, mode: &str) {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok((busy, log, copied)) => tracing::debug!(mode, busy, log, copied, "checkpoint"),
        Err(err) => tracing::warn!(mode, error = %err, "checkpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn len(path: &Path, suffix: &str) -> u64 {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
    }

    /// A write connection with its checkpoint thread, and `commits` commits of a page-sized
    /// blob each (a leaf and an overflow page, sometimes an interior page, in the log).
    fn write_blobs(path: &Path, commits: i32) -> (Connection, Checkpointer, u64) {
        let mut conn = super::super::open_write(path, crate::Synchronous::Normal).unwrap();
        let checkpointer = Checkpointer::start(&mut conn).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let before = len(path, "");
        let blob = vec![7u8; 4096];
        for _ in 0..commits {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [&blob])
                .unwrap();
        }
        (conn, checkpointer, before)
    }

    #[test]
    fn the_thread_copies_the_log_back_and_empties_it_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let commits = START_AT;
        let (conn, checkpointer, before) = write_blobs(&path, commits);
        // Only a checkpoint writes pages into the main file; the writer's own automatic
        // checkpoint is off, so growth there is this thread's work.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while len(&path, "") < before + 4096 * u64::try_from(commits).unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint copied the log back: main file {} bytes",
                len(&path, "")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(conn);
        checkpointer.join();
        assert_eq!(len(&path, "-wal"), 0, "the last checkpoint empties the log");
        let conn = open(&path).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, i64::from(commits));
    }

    #[test]
    fn a_busy_writer_s_log_starts_over_instead_of_growing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // Back-to-back commits far past the recycling point. The log must be reused from the
        // top: its file stays within RECYCLE_AT frames plus what the writer commits while a
        // pass of the thread holds the checkpoint lock (up to another RECYCLE_AT or so when
        // unsynced commits race a busy thread).
        let commits = 5 * RECYCLE_AT;
        let (conn, checkpointer, _) = write_blobs(&path, commits);
        let frame = 4096 + 24;
        let limit = 4 * u64::try_from(RECYCLE_AT).unwrap() * frame;
        let written = 2 * u64::try_from(commits).unwrap() * frame;
        let wal = len(&path, "-wal");
        assert!(
            wal < limit,
            "the log grew to {wal} bytes of the {written} written (limit {limit})"
        );
        drop(conn);
        checkpointer.join();
    }
}
