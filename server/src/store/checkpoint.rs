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
//!
//! A long reader (the start-up check while serving) keeps any checkpoint from copying frames
//! committed after its snapshot, so the log grows meanwhile, and the first inline pass after it
//! would copy that whole backlog while sends wait behind the commit. So a long reader says so
//! (`LongReads::begin`): from then until the log next starts over, the writer leaves the
//! backlog to the thread and finishes inline only once at most `INLINE_AT_MOST` frames are left
//! (or the log passed `INLINE_ANYWAY_AT`, which keeps it bounded behind a writer faster than
//! the thread).

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::thread::JoinHandle;

/// WAL frames (pages) after which the thread is woken (SQLite's own default is 1,000).
pub(crate) const START_AT: i32 = 1000;
/// WAL frames after which the writer finishes the checkpoint itself so the log starts over (a
/// log of about 63 MiB). Each inline pass holds the commit that triggers it, and the sends behind
/// it, for a few milliseconds: at 4,000 frames that came every 80 ms at 8,000 msg/s and put S3's
/// p99 at that rate over 50 ms in two runs of six; at 16,000 in none of six
/// (docs/benchmarks.md). A start after a kill reads the log to rebuild its index: no slower at
/// this size in `restart`.
const RECYCLE_AT: i32 = 16 * START_AT;
/// After a long reader, most frames the writer copies in its inline pass; more are left to the
/// thread.
const INLINE_AT_MOST: i32 = START_AT;
/// The log's length past which the writer copies inline whatever a long reader left.
const INLINE_ANYWAY_AT: i32 = 128 * START_AT;
/// How long the thread rests after a pass that could copy nothing new behind a long reader.
const HELD_BACK_REST: std::time::Duration = std::time::Duration::from_millis(20);

/// What the writer's hook and the thread share.
#[derive(Debug, Default)]
struct Backfill {
    /// The log's length from which the writer finishes the checkpoint inline (`RECYCLE_AT`).
    recycle_at: i32,
    /// The log's length in frames after the latest commit.
    log: AtomicI32,
    /// The log's length when the latest pass ended, and how many frames it had copied by then.
    pass_log: AtomicI32,
    pass_copied: AtomicI32,
    /// Long readers running now.
    long_readers: AtomicI32,
    /// A long reader ran since the log last started over.
    held: AtomicBool,
    /// The most frames one inline pass copied (for tests and the debug log).
    largest_inline: AtomicI32,
}

impl Backfill {
    /// Frames of a log of `frames` not copied back yet, as far as the latest pass knows.
    fn uncopied(&self, frames: i32) -> i32 {
        if frames < self.pass_log.load(Ordering::Relaxed) {
            // The log started over since: none of the new one is copied.
            frames
        } else {
            frames - self.pass_copied.load(Ordering::Relaxed)
        }
    }

    /// Whether the writer finishes the checkpoint inline now, for a log of `frames`.
    fn inline_due(&self, frames: i32) -> bool {
        frames >= self.recycle_at
            && (!self.held.load(Ordering::Relaxed)
                || self.uncopied(frames) <= INLINE_AT_MOST
                || frames >= INLINE_ANYWAY_AT)
    }

    fn passed(&self, log: i32, copied: i32) {
        self.pass_log.store(log, Ordering::Relaxed);
        self.pass_copied.store(copied, Ordering::Relaxed);
    }

    /// The log started over: nothing of it is copied, and nothing held it back unless a long
    /// reader still runs.
    fn started_over(&self) {
        self.passed(0, 0);
        if self.long_readers.load(Ordering::Relaxed) == 0 {
            self.held.store(false, Ordering::Relaxed);
        }
    }
}

/// Where long readers of the database say so (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct LongReads(Arc<Backfill>);

impl LongReads {
    /// A long reader begins; it ends when the guard is dropped.
    pub(crate) fn begin(&self) -> LongRead {
        self.0.long_readers.fetch_add(1, Ordering::Relaxed);
        self.0.held.store(true, Ordering::Relaxed);
        LongRead(Arc::clone(&self.0))
    }
}

/// A long reader running (see [`LongReads::begin`]).
#[derive(Debug)]
pub(crate) struct LongRead(Arc<Backfill>);

impl Drop for LongRead {
    fn drop(&mut self) {
        self.0.long_readers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The checkpoint thread.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    thread: JoinHandle<()>,
    backfill: Arc<Backfill>,
}

impl Checkpointer {
    /// Takes over checkpointing of `conn`'s database: installs a commit hook on `conn` (which
    /// replaces SQLite's automatic checkpoint) and starts the thread. The thread ends, after a
    /// final checkpoint that empties the log, once `conn` is closed.
    pub(crate) fn start(conn: &mut Connection) -> std::io::Result<Self> {
        Self::start_recycling_at(conn, RECYCLE_AT)
    }

    /// [`Checkpointer::start`] with the log recycled from `recycle_at` frames (smaller logs for
    /// tests).
    fn start_recycling_at(conn: &mut Connection, recycle_at: i32) -> std::io::Result<Self> {
        let path = PathBuf::from(conn.path().unwrap_or_default());
        let (wake, requests) = mpsc::sync_channel::<()>(1);
        let backfill = Arc::new(Backfill {
            recycle_at,
            ..Backfill::default()
        });
        let hook = Arc::clone(&backfill);
        let thread_side = Arc::clone(&backfill);
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames: i32| {
            if hook.log.swap(frames, Ordering::Relaxed) > frames {
                hook.started_over();
            }
            let inline = hook.inline_due(frames)
                // Disconnected: the thread could not start, and the inline pass bounds the log.
                // Full: a wake-up is already pending and covers this commit too.
                || (frames >= START_AT
                    && matches!(wake.try_send(()), Err(TrySendError::Disconnected(())))
                    && frames >= hook.recycle_at);
            if inline {
                let before = hook.uncopied(frames);
                match wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    Ok((log, copied)) => {
                        hook.passed(log, copied);
                        let now = (log - copied).max(0);
                        hook.largest_inline
                            .fetch_max(before - now, Ordering::Relaxed);
                    }
                    // Busy means the thread is mid-pass; the next commit tries again.
                    Err(err)
                        if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
                    Err(err) => tracing::warn!(error = %err, "inline checkpoint failed"),
                }
            }
            Ok(())
        }))
        .map_err(std::io::Error::other)?;
        let thread = std::thread::Builder::new()
            .name("clinic-checkpoint".into())
            .spawn(move || checkpoint_loop(&path, &requests, &thread_side))?;
        Ok(Self { thread, backfill })
    }

    /// Where long readers of this database say so.
    pub(crate) fn long_reads(&self) -> LongReads {
        LongReads(Arc::clone(&self.backfill))
    }

    /// Waits for the thread's final checkpoint (after the write connection was closed).
    pub(crate) fn join(self) {
        let _ = self.thread.join();
        tracing::debug!(
            frames = self.backfill.largest_inline.load(Ordering::Relaxed),
            "the largest inline checkpoint"
        );
    }
}

fn checkpoint_loop(path: &Path, requests: &Receiver<()>, backfill: &Backfill) {
    let conn = match open(path) {
        Ok(conn) => conn,
        Err(err) => {
            // The writer's inline checkpoints still bound the log; this only costs latency.
            tracing::error!(error = %err, "cannot open the checkpoint connection");
            return;
        }
    };
    while requests.recv().is_ok() {
        // When the writer is about to finish the job between two transactions, a pass here
        // would only hold the checkpoint lock and make its attempts fail.
        if backfill.inline_due(backfill.log.load(Ordering::Relaxed)) {
            continue;
        }
        let before = backfill.pass_copied.load(Ordering::Relaxed);
        if let Some((log, copied)) = run(&conn, "PASSIVE")
            && log >= 0
        {
            backfill.passed(log, copied);
            // Behind a long reader every commit wakes the thread, and a pass copies nothing.
            if backfill.long_readers.load(Ordering::Relaxed) > 0 && copied <= before {
                std::thread::sleep(HELD_BACK_REST);
            }
        }
    }
    // The writer is gone: leave an empty log behind (a clean state for backups and restarts).
    run(&conn, "TRUNCATE");
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    super::open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
}

/// A checkpoint in `mode`: the log's length and how many of its frames are copied back.
fn run(conn: &Connection, mode: &str) -> Option<(i32, i32)> {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i32>(1)?,
            r.get::<_, i32>(2)?,
        ))
    });
    match result {
        Ok((busy, log, copied)) => {
            tracing::debug!(mode, busy, log, copied, "checkpoint");
            Some((log, copied))
        }
        Err(err) => {
            tracing::warn!(mode, error = %err, "checkpoint failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    /// The tests' recycling point: the same logic on a smaller log.
    const TEST_RECYCLE_AT: i32 = 4 * START_AT;

    fn len(path: &Path, suffix: &str) -> u64 {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
    }

    /// A write connection with its checkpoint thread, and `commits` commits of a page-sized
    /// blob each (a leaf and an overflow page, sometimes an interior page, in the log).
    fn write_blobs(path: &Path, commits: i32) -> (Connection, Checkpointer, u64) {
        let mut conn = super::super::open_write(path, crate::Synchronous::Normal).unwrap();
        let checkpointer = Checkpointer::start_recycling_at(&mut conn, TEST_RECYCLE_AT).unwrap();
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
        // checkpoint is off, so growth there is this thread's work. Not necessarily all of it:
        // on a busy box a pass may catch up with the writer, the log then starts over, and its
        // last few hundred frames (fewer than START_AT, which wakes the thread, as SQLite's own
        // automatic checkpoint) wait for more commits or the close. What is sure is the first
        // START_AT frames: each commit writes at most four, one of them a new overflow page.
        let sure = u64::try_from(START_AT / 4).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while len(&path, "") < before + 4096 * sure {
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

    /// The tests that write thousands of commits as fast as they can run one at a time: side by
    /// side, each slows the other's checkpoint thread, which the busy writer's bound does not
    /// allow for.
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
        HEAVY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A long reader holds the log; once it is done, the thread copies what piled up
    /// meanwhile, not a commit of the writer (which would stall every send behind it).
    #[test]
    fn the_backlog_a_long_reader_leaves_is_copied_by_the_thread_not_the_writer() {
        let _alone = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (conn, checkpointer, _) = write_blobs(&path, 10);
        let long_read = checkpointer.long_reads().begin();
        let reader = open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let blob = vec![7u8; 4096];
        let commit = || {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [&blob])
                .unwrap();
        };
        for _ in 0..TEST_RECYCLE_AT {
            commit();
        }
        let held = checkpointer.backfill.log.load(Ordering::Relaxed);
        assert!(
            held > TEST_RECYCLE_AT,
            "the reader held the log: {held} frames"
        );
        reader.execute_batch("COMMIT").unwrap();
        drop(reader);
        drop(long_read);
        // Sends go on: the log starts over once the thread has copied the backlog.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while checkpointer.backfill.log.load(Ordering::Relaxed) >= held {
            assert!(
                std::time::Instant::now() < deadline,
                "the log never started over"
            );
            commit();
            std::thread::sleep(Duration::from_millis(2));
        }
        let inline = checkpointer.backfill.largest_inline.load(Ordering::Relaxed);
        assert!(
            inline <= 2 * INLINE_AT_MOST,
            "a commit copied {inline} of the {held} frames the reader had held"
        );
        drop(conn);
        checkpointer.join();
    }

    #[test]
    fn a_busy_writer_s_log_starts_over_instead_of_growing() {
        let _alone = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // Back-to-back commits far past the recycling point. The log must be reused from the
        // top: its file stays within TEST_RECYCLE_AT frames plus what the writer commits while a
        // pass of the thread holds the checkpoint lock (up to another TEST_RECYCLE_AT or so when
        // unsynced commits race a busy thread).
        let commits = 5 * TEST_RECYCLE_AT;
        let (conn, checkpointer, _) = write_blobs(&path, commits);
        let frame = 4096 + 24;
        let limit = 4 * u64::try_from(TEST_RECYCLE_AT).unwrap() * frame;
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
