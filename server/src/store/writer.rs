//! The single writer: one thread owns the write connection and commits commands in groups (many
//! commands, one transaction, one fsync), replying to each only after the commit.

use super::checkpoint::{Checkpointer, LongReads};
use super::marker::{self, Marker};
use super::projection::{self, LoggedKeys, Progress};
use super::read_marks::{ReadMarks, Saving};
use crate::store::StoreError;
use clinic_protocol::Seq;
use rusqlite::{Connection, TransactionBehavior};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// How long one step moving logged sends into `messages` should hold the writer: a command
/// arriving during a step waits for it. Bigger steps cost less per message (one search-index
/// flush per statement, index pages shared), so a step takes as many rows as fit in this time
/// at the cost per row measured so far. 2 ms rather than 4 gave the same CPU per message and
/// sustained rate, a p99 a fifth lower from 3,000 to 8,000 msg/s, and an emergency raised amid
/// chat (then, before schema v27, written directly after moving the log) committed in half the
/// time; 1 ms rather than 2 (with at least 16 rows instead of 32) the same CPU and sustained
/// rate again, and a p99 about a tenth to a fifth lower at 1,000 and 3,000 msg/s, at up to 9%
/// more bytes per message (docs/benchmarks.md, "A smaller step", "A step of 1 ms").
const STEP_BUDGET_US: f64 = 1_000.0;
/// Fewest and most rows in one step.
const SLICE: (i64, i64) = (16, 2048);
/// When no command has arrived for this long, a step moves what is there.
const IDLE_MOVE: Duration = Duration::from_millis(2);
/// The readers' marks are saved at most this often (`read_marks.rs`): a save is an UPDATE per
/// conversation whose mark moved, and saving in every step cost the writer about a tenth more
/// per message at 1,000 msg/s with the app's read marks (docs/benchmarks.md). A crash loses the
/// marks not saved yet: the first "read up to" after the start walks what came after the saved
/// ones.
const SAVE_MARKS: Duration = Duration::from_secs(5);

/// When the writer works between commands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// After this long without a command, a step moves what the log holds.
    pub(crate) idle_move: Duration,
    /// Committed read marks are saved at most this often.
    pub(crate) save_marks: Duration,
}

impl Pace {
    /// The server's.
    pub(crate) const SERVING: Self = Self {
        idle_move: IDLE_MOVE,
        save_marks: SAVE_MARKS,
    };
}
/// After a failed step, the next waits this long, so that a failing projection does not spin
/// the writer.
const RETRY_STEP: Duration = Duration::from_millis(100);
/// Queue entries the search index has applied before the writer drops them without a move.
const PRUNE_AT: i64 = 1024;

/// Called after the batch's commit (or its failure) to hand the command's result back.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A command's body: runs inside the batch transaction, says whether it succeeded, and how to
/// reply.
type Body = Box<dyn FnOnce(&Connection, &mut Seqs) -> (bool, Finish) + Send>;

/// How a command keeps its failure from spoiling the others of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Inside a savepoint, rolled back on failure: the general case, at the price of two more
    /// statements per command (and FTS5 writes its pending entries out at each savepoint).
    Savepoint,
    /// No savepoint: the command makes every refusal before its first write. Should it fail
    /// after writing anyway (a storage error), the whole batch is rolled back and every command
    /// in it answered "retry": nothing half-written is ever committed.
    Validated,
    /// A text send (an emergency too, with its raise), a receipt (by message ids, or "read up
    /// to" a message), an edit or a retraction (its message's uploads and doomed files, which
    /// take no change seq, written directly), a doctor taking or resolving an emergency, its
    /// escalation, the record of whom its alert reached, and two that take no change seq
    /// either: the doctors' notifications of an emergency, and the removal of content files a
    /// committed retraction or purge doomed:
    /// validated, and in a batch of nothing but those it appends to the log (`event_log`)
    /// instead of writing `messages` and `emergencies` (see `Seqs::log_sends`).
    Append,
}

/// A queued command.
struct Job {
    guard: Guard,
    body: Body,
}

/// Allocator of the one global change sequence. Loaded from the `counters` table and the send
/// log in the transaction that uses it, and saved back in the same transaction, so other
/// processes (the CLI) writing in between stay consistent.
///
/// A batch whose newest change is a logged send does not write `counters`: that row's page
/// would be one more page in every commit, and the log says as much, since its rows are always
/// the newest changes. The move out of the log brings `counters` up to what it moves, in the
/// same transaction (`projection::apply`), before the rows leave the log.
#[derive(Debug)]
pub(crate) struct Seqs {
    last: i64,
    log_sends: bool,
    /// The log's keys: the writer's, lent to each batch; empty elsewhere (the log is moved
    /// before anything else writes).
    logged: LoggedKeys,
    /// How far readers are known to have read: the writer's, lent to each batch; elsewhere
    /// empty at first (a "read up to" then reads the conversation's saved marks) and never
    /// saved.
    read_marks: ReadMarks,
}

/// The last change sequence given out: the counter, or the newest logged send or receipt if it
/// is newer.
pub(crate) const LAST_SEQ: &str = "SELECT max(value, (SELECT coalesce(max(seq), 0) FROM event_log)) \
     FROM counters WHERE name = 'change_seq'";

impl Seqs {
    fn load(conn: &Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            last: Self::last(conn)?,
            log_sends: false,
            logged: LoggedKeys::default(),
            read_marks: ReadMarks::default(),
        })
    }

    fn last(conn: &Connection) -> rusqlite::Result<i64> {
        conn.prepare_cached(LAST_SEQ)?.query_row([], |r| r.get(0))
    }

    /// The keys of the sends in the log, for the idempotency check.
    pub(crate) fn logged(&self) -> &LoggedKeys {
        &self.logged
    }

    pub(crate) fn logged_mut(&mut self) -> &mut LoggedKeys {
        &mut self.logged
    }

    /// How far readers are known to have read (see [`ReadMarks`]).
    pub(crate) fn read_marks_mut(&mut self) -> &mut ReadMarks {
        &mut self.read_marks
    }

    /// Whether a text send (an emergency's raise with it), a receipt (by message ids or "read
    /// up to"), an edit, a retraction, a doctor taking or resolving an emergency, its escalation
    /// or the record of whom its alert reached in this batch goes to the log (`projection.rs`).
    /// Only
    /// in a batch of nothing but those, and not while the log could not be moved: any other command
    /// may read or change messages, so its batch moves the log first and writes its sends,
    /// receipts and changes to `messages` directly, which keeps every logged row newer than
    /// every other change.
    pub(crate) fn log_sends(&self) -> bool {
        self.log_sends
    }

    /// Writes the counter unless it already says as much or the newest logged send or receipt
    /// does (an UPDATE that matches no row writes no page).
    pub(crate) fn save(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "UPDATE counters SET value = ?1 WHERE name = 'change_seq' AND value < ?1 \
             AND ?1 > (SELECT coalesce(max(seq), 0) FROM event_log)",
        )?
        .execute([self.last])?;
        Ok(())
    }

    /// The next change sequence value.
    pub(crate) fn next(&mut self) -> Seq {
        self.last += 1;
        Seq(self.last)
    }
}

/// A command holding the writer (tests): what is queued meanwhile shares the next batch.
#[cfg(test)]
pub(crate) struct Held {
    gate: std::sync::mpsc::Sender<()>,
    done: oneshot::Receiver<Result<(), StoreError>>,
}

#[cfg(test)]
impl Held {
    /// Lets the writer go on and waits for the holding command's commit.
    pub(crate) async fn release(self) {
        self.gate.send(()).ok();
        self.done.await.ok();
    }
}

#[cfg(test)]
impl Writer {
    /// Queues a command that holds the writer until [`Held::release`]; returns once it runs.
    /// Its own batch moves the log first, as that of any command that does not log.
    pub(crate) async fn hold(&self) -> Held {
        self.hold_as(Guard::Savepoint).await
    }

    /// [`Writer::hold`] with a command whose batch leaves the log as it is.
    pub(crate) async fn hold_logging(&self) -> Held {
        self.hold_as(Guard::Append).await
    }

    async fn hold_as(&self, guard: Guard) -> Held {
        let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
        let (running_tx, running) = oneshot::channel::<()>();
        let done = self
            .queue(guard, move |_, _| {
                running_tx.send(()).ok();
                gate_rx.recv().ok();
                Ok::<_, StoreError>(())
            })
            .await
            .expect("the writer takes commands");
        running.await.expect("the holding command runs");
        Held { gate, done }
    }
}

#[cfg(test)]
impl Seqs {
    /// The sequence as a batch would start it, logging plain sends or not.
    pub(crate) fn loaded(conn: &Connection, log_sends: bool) -> Self {
        let mut seqs = Self::load(conn).expect("counters");
        seqs.log_sends = log_sends;
        seqs
    }
}

/// Handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    progress: Arc<Progress>,
    long_reads: LongReads,
}

impl Writer {
    /// Starts the writer thread on `conn`, with checkpoints on a thread of their own. Both stop
    /// when every `Writer` clone is dropped.
    pub(crate) fn start(
        conn: Connection,
        queue: usize,
        max_batch: usize,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        Self::start_paced(conn, queue, max_batch, Pace::SERVING)
    }

    /// [`Writer::start`] with the idle time after which a step moves the send log (tests set it
    /// long, so that the log holds still between their commands).
    #[cfg(test)]
    pub(crate) fn start_moving_after(
        conn: Connection,
        queue: usize,
        max_batch: usize,
        idle_move: Duration,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let pace = Pace {
            idle_move,
            ..Pace::SERVING
        };
        Self::start_paced(conn, queue, max_batch, pace)
    }

    /// [`Writer::start`] with its own [`Pace`].
    pub(crate) fn start_paced(
        mut conn: Connection,
        queue: usize,
        max_batch: usize,
        pace: Pace,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let db = PathBuf::from(conn.path().unwrap_or_default());
        let seq = marker::committed(&conn).map_err(std::io::Error::other)?;
        let marker = Marker::start(&db, seq)?;
        let checkpointer = Checkpointer::start(&mut conn)?;
        let long_reads = checkpointer.long_reads();
        let progress = Progress::new();
        let shared = Arc::clone(&progress);
        let handle = std::thread::Builder::new()
            .name("clinic-writer".into())
            .spawn(move || {
                writer_loop(conn, rx, max_batch.max(1), &marker, &shared, pace);
                marker.finish();
                checkpointer.join();
            })?;
        Ok((
            Self {
                jobs: tx,
                progress,
                long_reads,
            },
            handle,
        ))
    }

    /// Where a reader that holds one snapshot for long says so, so that the backlog it leaves
    /// in the log is copied back by the checkpoint thread rather than inside a commit.
    pub(crate) fn long_reads(&self) -> LongReads {
        self.long_reads.clone()
    }

    /// How far the send log has moved into `messages` (readers wait on it).
    pub(crate) fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Queues `f` and returns where its result will arrive. Commands queued by one task run in
    /// the order they were queued, which is what keeps one socket's sends in frame order. `f`
    /// runs inside a savepoint: it may refuse at any point, and what it wrote is undone.
    pub(crate) async fn submit<T, E, F>(
        &self,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        self.queue(Guard::Savepoint, f).await
    }

    /// Like [`Writer::submit`] for a command that makes all its refusals before its first write
    /// (the hot commands: plain sends, receipts, audit rows of reads). It runs without a
    /// savepoint; a failure after a write rolls the whole batch back.
    pub(crate) async fn submit_validated<T, E, F>(
        &self,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        self.queue(Guard::Validated, f).await
    }

    /// Like [`Writer::submit_validated`] for the commands of [`Guard::Append`], which may go to
    /// the log (see [`Seqs::log_sends`]).
    pub(crate) async fn submit_append<T, E, F>(
        &self,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        self.queue(Guard::Append, f).await
    }

    async fn queue<T, E, F>(
        &self,
        guard: Guard,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        self.queue_then(guard, f, |_| {}).await
    }

    /// Like [`Writer::queue`], and `committed` runs on the writer's thread with the command's
    /// value once its batch committed, before anyone is told: commands' `committed` run in the
    /// order of their commits.
    async fn queue_then<T, E, F, C>(
        &self,
        guard: Guard,
        f: F,
        committed: C,
    ) -> Result<oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let (reply, receiver) = oneshot::channel();
        let body: Body = Box::new(move |conn, seqs| {
            let result = f(conn, seqs);
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit| {
                // A command's own failure says more than the batch's (which it may have caused).
                let result = result.and_then(|value| commit.map(|()| value).map_err(E::from));
                if let Ok(value) = &result {
                    committed(value);
                }
                // The receiver may be gone (client disconnected); nothing to do then.
                let _ = reply.send(result);
            });
            (ok, finish)
        });
        self.jobs
            .send(Job { guard, body })
            .await
            .map_err(|_| StoreError::unavailable("the server is shutting down"))?;
        Ok(receiver)
    }

    /// Runs `f` in the next batch and waits for the commit.
    pub(crate) async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        Self::wait(self.submit(f).await?).await
    }

    /// Runs `f` as a command that may log (see [`Writer::submit_append`]) and waits for the
    /// commit.
    pub(crate) async fn run_append<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        Self::wait(self.submit_append(f).await?).await
    }

    /// [`Writer::run_append`], with `committed` run on the writer's thread after the commit (see
    /// [`Writer::queue_then`]): what it publishes reaches every socket in the order of the commits.
    pub(crate) async fn run_append_then<T, E, F, C>(&self, f: F, committed: C) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        Self::wait(self.queue_then(Guard::Append, f, committed).await?).await
    }

    /// Runs `f` as a validated command (see [`Writer::submit_validated`]) and waits for the
    /// commit.
    pub(crate) async fn run_validated<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection, &mut Seqs) -> Result<T, E> + Send + 'static,
    {
        Self::wait(self.submit_validated(f).await?).await
    }

    async fn wait<T, E: From<StoreError>>(
        receiver: oneshot::Receiver<Result<T, E>>,
    ) -> Result<T, E> {
        receiver
            .await
            .map_err(|_| E::from(StoreError::unavailable("the write was not completed")))?
    }
}

/// Why a batch was not committed.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("a validated command failed after writing: {0}")]
    FailedAfterWriting(String),
}

/// Runs batches until every handle is gone, moving the send log into `messages` after a batch
/// that leaves a full step's worth and whenever the queue is idle; then moves what is left and
/// closes the connection.
fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    marker: &Marker,
    progress: &Progress,
    pace: Pace,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    let mut projector = Projector::new(&conn);
    let mut read_marks = ReadMarks::default();
    // Only to wait for the next command with a timeout.
    let clock = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    // After an idle step, the next one follows at once if the queue is still empty.
    let mut draining = false;
    loop {
        // Logged rows move after a short idle time; marks alone wait until they are due.
        let wait = if progress.pending() {
            Some(if draining {
                Duration::ZERO
            } else {
                pace.idle_move
            })
        } else {
            read_marks.save_due(pace.save_marks)
        };
        // After a failed step, no sooner than it may be tried again (instead of waiting for the
        // next command, which an idle server may not get for long).
        let wait = wait.map(|wait| wait.max(projector.retry_in()));
        let first = if let Some(wait) = wait {
            let next: Result<Option<Job>, ()> = match &clock {
                Ok(clock) => clock
                    .block_on(async { tokio::time::timeout(wait, rx.recv()).await })
                    .map_err(|_| ()),
                // Without a clock, marks that are not due yet and a step that failed lately wait
                // for the next command.
                Err(_) if !projector.healthy() || (!progress.pending() && !wait.is_zero()) => {
                    Ok(rx.blocking_recv())
                }
                Err(_) => match rx.try_recv() {
                    Ok(job) => Ok(Some(job)),
                    Err(TryRecvError::Disconnected) => Ok(None),
                    Err(TryRecvError::Empty) => Err(()),
                },
            };
            match next {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(()) => {
                    let marks = due(&mut read_marks, pace.save_marks);
                    projector.step(&mut conn, progress, None, marks);
                    draining = true;
                    continue;
                }
            }
        } else {
            match rx.blocking_recv() {
                Some(job) => job,
                None => break,
            }
        };
        draining = false;
        jobs.push(first);
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A step leaves the connection at `synchronous = NORMAL` only if setting it back failed:
        // then nothing is committed (and acknowledged) until it is back. The jobs dropped here
        // answer "unavailable" (their reply channels close) and may be retried.
        if let Err(err) = projector.durable(&conn) {
            tracing::error!(error = %err, "cannot make commits durable again; refusing the batch");
            jobs.clear();
            continue;
        }
        let memory = (&mut projector.keys, &mut read_marks);
        // While the log could not be moved, nothing is logged: each batch moves the log first,
        // and fails with it. A log that cannot move would take sends, emergencies and doctors'
        // takes of them, that no reader could see.
        let may_log = !projector.move_failed;
        let committed = run_batch(&mut conn, &mut jobs, progress, memory, may_log);
        if let Some(seq) = committed {
            marker.committed(seq);
        }
        if committed.is_some() && !progress.pending() {
            // The batch moved the log, if anything waited there.
            projector.move_failed = false;
        } else if committed.is_none() && progress.pending() {
            // The batch may have failed on moving the log: the next one moves it first.
            projector.move_failed = true;
        }
        // Under a steady stream of sends the queue is never idle: once a step's worth waits, all
        // of it moves, so the log never holds more than a step and a batch.
        let backlog = progress.backlog();
        if backlog >= projector.slice() && projector.healthy() {
            let marks = due(&mut read_marks, pace.save_marks);
            projector.step(&mut conn, progress, Some(backlog), marks);
        } else if progress.search_applied() - projector.pruned >= PRUNE_AT && projector.healthy() {
            // No sends to move, but other changes queued for the search index.
            let marks = due(&mut read_marks, pace.save_marks);
            projector.step(&mut conn, progress, Some(0), marks);
        } else if let Some(marks) = due(&mut read_marks, pace.save_marks)
            && projector.healthy()
        {
            // Commands that neither log nor queue for the search index: the marks are saved
            // when due all the same.
            projector.step(&mut conn, progress, Some(0), Some(marks));
        }
    }
    // A clean stop leaves nothing in the log, and every mark saved.
    while progress.pending() && projector.healthy() {
        projector.step(&mut conn, progress, None, None);
    }
    if read_marks.save_due(Duration::ZERO).is_some() {
        projector.step(&mut conn, progress, Some(0), Some(&mut read_marks));
    }
    tracing::debug!("writer stopped");
}

/// The marks, if their save is due.
fn due(marks: &mut ReadMarks, every: Duration) -> Option<&mut ReadMarks> {
    (marks.save_due(every) == Some(Duration::ZERO)).then_some(marks)
}

/// Moves the send log into `messages`, a slice per transaction.
struct Projector {
    /// The connection's `synchronous` level (SQLite's number), restored after each step.
    synchronous: i64,
    /// The level could not be restored after a step (see [`Projector::durable`]).
    relaxed: bool,
    /// Set after a failed step: the next step waits [`RETRY_STEP`].
    failed: Option<std::time::Instant>,
    /// The last attempt to move the log (a step's, or a batch's that moves it first) failed:
    /// until one succeeds, batches do not log. A step that only saves read marks or drops the
    /// search queue says nothing about it.
    move_failed: bool,
    /// What moving one row has cost lately, in microseconds (a moving average).
    row_us: f64,
    /// The keys of the sends in the log: added by batches, dropped as steps move their rows.
    keys: LoggedKeys,
    /// The search index's queue is dropped up to here.
    pruned: i64,
}

impl Projector {
    fn new(conn: &Connection) -> Self {
        let synchronous = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap_or(2);
        Self {
            synchronous,
            relaxed: false,
            failed: None,
            move_failed: false,
            row_us: 50.0,
            keys: LoggedKeys::default(),
            pruned: 0,
        }
    }

    fn healthy(&self) -> bool {
        self.failed.is_none_or(|at| at.elapsed() > RETRY_STEP)
    }

    /// How long until a step may be tried again after a failed one (zero when it may).
    fn retry_in(&self) -> Duration {
        self.failed
            .map_or(Duration::ZERO, |at| RETRY_STEP.saturating_sub(at.elapsed()))
    }

    /// How many rows a step takes when nothing forces more.
    fn slice(&self) -> i64 {
        // Truncation is intended: a whole number of rows.
        #[allow(clippy::cast_possible_truncation)]
        let rows = (STEP_BUDGET_US / self.row_us.max(0.1)) as i64;
        rows.clamp(SLICE.0, SLICE.1)
    }

    /// Sets `synchronous` back if a step could not: a batch must commit as durably as configured.
    fn durable(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if self.relaxed {
            conn.pragma_update(None, "synchronous", self.synchronous)?;
            self.relaxed = false;
        }
        Ok(())
    }

    /// Moves up to `rows` logged sends (by default [`Projector::slice`]) and saves `read_marks`
    /// if given (`read_marks.rs`) in a transaction of its own. Its commit is not synced
    /// (`synchronous = NORMAL`): the rows it moves are already durable in the log, and WAL
    /// commits land in order, so a crash can lose this step only together with everything after
    /// it, and the log is moved again on the next start.
    fn step(
        &mut self,
        conn: &mut Connection,
        progress: &Progress,
        rows: Option<i64>,
        mut read_marks: Option<&mut ReadMarks>,
    ) {
        let relax = self.synchronous > 1;
        let started = std::time::Instant::now();
        // Zero only drops the search index's queue.
        let limit = rows
            .unwrap_or_else(|| self.slice())
            .max(i64::from(rows != Some(0)));
        let outcome = (|| -> rusqlite::Result<(Option<projection::Moved>, Option<Saving>)> {
            if relax {
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                self.relaxed = true;
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let moved = if limit > 0 {
                projection::apply(&tx, limit)?
            } else {
                None
            };
            let searched = progress.search_applied();
            if searched > self.pruned {
                tx.prepare_cached("DELETE FROM search_changes WHERE id <= ?1")?
                    .execute([searched])?;
            }
            // The marks of committed batches only: a step runs between batches.
            let saving = read_marks.as_mut().map(|m| m.save(&tx)).transpose()?;
            tx.commit()?;
            self.pruned = self.pruned.max(searched);
            Ok((moved, saving))
        })();
        let outcome = outcome.map(|(moved, saving)| {
            if let (Some(marks), Some(saving)) = (read_marks, saving) {
                marks.saved(saving);
            }
            moved
        });
        if let Err(err) = self.durable(conn) {
            tracing::error!(error = %err, "cannot restore the synchronous setting after a step");
        }
        let took = started.elapsed();
        match outcome {
            Ok(Some(moved)) => {
                self.failed = None;
                self.move_failed = false;
                metrics::histogram!(crate::metrics::PROJECTION_SECONDS).record(took.as_secs_f64());
                #[allow(clippy::cast_precision_loss)] // a few thousand rows at most
                let row_us = took.as_secs_f64() * 1e6 / moved.rows.max(1) as f64;
                self.row_us = 0.7 * self.row_us + 0.3 * row_us;
                progress.applied(moved.upto);
                self.keys.moved(moved.upto);
            }
            // Only the search index's queue was dropped: the log was not looked at.
            Ok(None) if limit == 0 => self.failed = None,
            Ok(None) => {
                self.failed = None;
                self.move_failed = false;
                progress.caught_up();
                self.keys.moved(i64::MAX);
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot move the log into the message table");
                self.failed = Some(std::time::Instant::now());
                self.move_failed |= limit > 0;
            }
        }
    }
}

/// Runs every job in one transaction, then commits once and replies. A failing command leaves
/// no half-written rows and does not spoil the others: a [`Guard::Savepoint`] job is rolled back
/// to its savepoint; the others refuse before their first write, and one that fails after
/// writing rolls the whole batch back (everyone in it is told to retry).
/// Returns the change sequence the commit reached.
fn run_batch(
    conn: &mut Connection,
    jobs: &mut Vec<Job>,
    progress: &Progress,
    (logged, read_marks): (&mut LoggedKeys, &mut ReadMarks),
    may_log: bool,
) -> Option<i64> {
    let mut finishes: Vec<Finish> = Vec::with_capacity(jobs.len());
    metrics::histogram!(crate::metrics::BATCH_SIZE).record(jobs.len() as f64);
    let started = std::time::Instant::now();
    let log_sends = may_log && jobs.iter().all(|job| job.guard == Guard::Append);
    let mut seqs = Seqs {
        last: 0,
        log_sends,
        logged: std::mem::take(logged),
        read_marks: std::mem::take(read_marks),
    };
    let outcome = (|| -> Result<i64, BatchError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        seqs.last = Seqs::last(&tx)?;
        if !log_sends && progress.pending() {
            projection::apply_all(&tx)?;
        }
        for Job { guard, body } in jobs.drain(..) {
            let before = seqs.last;
            match guard {
                Guard::Savepoint => {
                    tx.prepare_cached("SAVEPOINT job")?.execute([])?;
                    let (ok, finish) = body(&tx, &mut seqs);
                    finishes.push(finish);
                    if ok {
                        tx.prepare_cached("RELEASE job")?.execute([])?;
                    } else {
                        tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
                        seqs.last = before;
                    }
                }
                Guard::Validated | Guard::Append => {
                    // Counts rows written by completed statements: a statement that fails is
                    // undone by SQLite itself and does not count.
                    let changes = tx.total_changes();
                    let (ok, finish) = body(&tx, &mut seqs);
                    finishes.push(finish);
                    if !ok {
                        if tx.total_changes() != changes {
                            return Err(BatchError::FailedAfterWriting(format!(
                                "{} rows written before the failure",
                                tx.total_changes() - changes
                            )));
                        }
                        seqs.last = before;
                    }
                }
            }
        }
        seqs.save(&tx)?;
        tx.commit()?;
        Ok(seqs.last)
    })();
    metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
    *logged = seqs.logged;
    *read_marks = seqs.read_marks;
    if outcome.is_ok() {
        logged.committed();
        read_marks.committed();
        if !log_sends {
            // The batch moved the whole log first.
            logged.moved(i64::MAX);
        }
    } else {
        logged.rolled_back();
        read_marks.rolled_back();
    }
    // Jobs that never ran (an error before them) drop their reply channel: the caller sees
    // `unavailable` and may retry; nothing of theirs was written.
    jobs.clear();
    let committed = outcome.as_ref().ok().copied();
    // Published before anyone hears of the commit, so that a reader who has heard waits for
    // what it wrote.
    if let Some(seq) = committed {
        if log_sends {
            progress.logged(seq);
        } else {
            // The batch moved the whole log: nothing up to its own last seq waits.
            progress.applied(seq);
        }
    }
    if let Err(err) = &outcome {
        tracing::error!(error = %err, "group commit failed; the batch was rolled back");
    }
    for finish in finishes {
        finish(match outcome {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::unavailable(
                "the write could not be committed; retry",
            )),
        });
    }
    committed
}

/// Runs `f` in its own transaction on `conn`, outside any server (CLI, demo seeding).
pub(crate) fn run_direct<T, E: From<StoreError>>(
    conn: &mut Connection,
    f: impl FnOnce(&Connection, &mut Seqs) -> Result<T, E>,
) -> Result<T, E> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    projection::apply_all(&tx).map_err(StoreError::from)?;
    let mut seqs = Seqs::load(&tx).map_err(StoreError::from)?;
    let value = f(&tx, &mut seqs)?;
    seqs.save(&tx).map_err(StoreError::from)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn insert(conn: &Connection, name: &str) -> Result<(), StoreError> {
        conn.execute("INSERT INTO counters (name, value) VALUES (?1, 0)", [name])?;
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_command_leaves_nothing_and_gives_its_seq_back() {
        let (_dir, writer, thread) = started();
        let first = writer
            .submit(|conn, seqs| insert(conn, "a").map(|()| seqs.next()))
            .await
            .unwrap();
        let failing = writer
            .submit(|conn, seqs| {
                insert(conn, "b")?;
                seqs.next();
                Err::<Seq, _>(StoreError::bad_input("refused"))
            })
            .await
            .unwrap();
        let third = writer
            .submit(|conn, seqs| insert(conn, "c").map(|()| seqs.next()))
            .await
            .unwrap();
        let first = first.await.unwrap().unwrap();
        assert!(failing.await.unwrap().is_err());
        let third = third.await.unwrap().unwrap();
        assert_eq!(
            third.0,
            first.0 + 1,
            "the failed command's seq was given back"
        );
        assert_eq!(names(&writer).await, ["a", "c", "change_seq"]);
        drop(writer);
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn a_validated_command_that_refuses_before_writing_spoils_nothing() {
        let (_dir, writer, thread) = started();
        let first = writer
            .submit_validated(|conn, seqs| insert(conn, "a").map(|()| seqs.next()))
            .await
            .unwrap();
        let refused = writer
            .submit_validated(|_, seqs| {
                seqs.next();
                Err::<Seq, _>(StoreError::bad_input("refused"))
            })
            .await
            .unwrap();
        let third = writer
            .submit_validated(|conn, seqs| insert(conn, "c").map(|()| seqs.next()))
            .await
            .unwrap();
        let first = first.await.unwrap().unwrap();
        assert!(refused.await.unwrap().is_err());
        assert_eq!(third.await.unwrap().unwrap().0, first.0 + 1);
        assert_eq!(names(&writer).await, ["a", "c", "change_seq"]);
        drop(writer);
        thread.join().unwrap();
    }

    /// A validated command that breaks its promise (fails after a write) must not leave its
    /// half in the database: the batch goes back whole and everyone in it is told to retry.
    #[tokio::test]
    async fn a_validated_command_failing_after_a_write_rolls_the_batch_back() {
        let (_dir, writer, thread) = started();
        // Hold the writer so that the three commands below share one batch.
        let held = writer.hold().await;
        let first = writer
            .submit_validated(|conn, _| insert(conn, "a"))
            .await
            .unwrap();
        let broken = writer
            .submit_validated(|conn, _| {
                insert(conn, "b")?;
                Err::<(), _>(StoreError::bad_input("refused too late"))
            })
            .await
            .unwrap();
        let third = writer
            .submit_validated(|conn, _| insert(conn, "c"))
            .await
            .unwrap();
        held.release().await;
        // The commands that ran get the failed commit; the one after the failure never ran and
        // finds its reply dropped (`Writer::wait` makes that "unavailable" too).
        assert!(matches!(
            first.await.unwrap().unwrap_err(),
            StoreError::Unavailable(_)
        ));
        assert_eq!(
            broken.await.unwrap().unwrap_err().to_string(),
            "refused too late",
            "the command that failed hears its own error"
        );
        assert!(third.await.is_err());
        assert_eq!(names(&writer).await, ["change_seq"]);
        drop(writer);
        thread.join().unwrap();
    }

    /// A step that moves part of the log drops the keys of what it moved and keeps the rest;
    /// a batch that rolls back takes its keys back, one that commits keeps them.
    #[test]
    fn the_log_s_keys_follow_commits_rollbacks_and_partial_moves() {
        use clinic_protocol::{ClientId, NewMessage, Role};
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            super::super::open_write(&dir.path().join("t.db"), crate::Synchronous::Full).unwrap();
        let patient = crate::store::users::for_test(&conn, "pat", Role::Patient);
        let doctor = crate::store::users::for_test(&conn, "doc", Role::Doctor);
        let mut projector = Projector::new(&conn);
        let progress = Progress::new();
        let log = |conn: &mut Connection, keys: &mut LoggedKeys, ids: &[&str], commit: bool| {
            let tx = conn.transaction().unwrap();
            let mut seqs = Seqs::load(&tx).unwrap();
            seqs.log_sends = true;
            seqs.logged = std::mem::take(keys);
            for id in ids {
                let new = NewMessage {
                    client_id: None,
                    patient_id: patient.id.clone(),
                    doctor_id: doctor.id.clone(),
                    content: (*id).to_owned(),
                    is_emergency: false,
                    file_url: None,
                    file_name: None,
                    held_ms: None,
                };
                let client_id = ClientId::from((*id).to_owned());
                let sent = crate::store::messages::send(&tx, &mut seqs, &patient, &new, &client_id);
                progress.logged(sent.unwrap().message.seq.0);
            }
            *keys = std::mem::take(&mut seqs.logged);
            if commit {
                seqs.save(&tx).unwrap();
                tx.commit().unwrap();
                keys.committed();
            } else {
                drop(tx);
                keys.rolled_back();
            }
        };
        let known = |keys: &LoggedKeys, id: &str| keys.get(patient.id.as_str(), id).is_some();
        // The conversation's logged sends, as seqs.
        let listed = |keys: &LoggedKeys| {
            keys.in_conversation(patient.id.as_str(), doctor.id.as_str(), 0, i64::MAX)
                .len()
        };
        log(&mut conn, &mut projector.keys, &["c-1", "c-2", "c-3"], true);
        log(&mut conn, &mut projector.keys, &["c-4"], false);
        assert!(known(&projector.keys, "c-3"));
        assert!(!known(&projector.keys, "c-4"), "rolled back");
        assert_eq!(
            listed(&projector.keys),
            3,
            "the rolled back send is not listed"
        );
        projector.step(&mut conn, &progress, Some(2), None);
        assert!(!known(&projector.keys, "c-1") && !known(&projector.keys, "c-2"));
        assert!(known(&projector.keys, "c-3"), "still in the log");
        assert_eq!(listed(&projector.keys), 1);
        projector.step(&mut conn, &progress, None, None);
        assert!(!known(&projector.keys, "c-3"));
        assert_eq!(listed(&projector.keys), 0);
    }

    /// Whether batches may log follows the attempts to move the log only: a failed step stops
    /// it, a step that only drops the search queue (or saves read marks) does not start it
    /// again, a step that moves the log does.
    #[test]
    fn only_a_move_that_succeeds_lets_batches_log_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            super::super::open_write(&dir.path().join("t.db"), crate::Synchronous::Full).unwrap();
        let mut projector = Projector::new(&conn);
        let progress = Progress::new();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, mark) VALUES (1, 'READ', 'm-none', 0, 0);
             CREATE TRIGGER refuse_moves BEFORE DELETE ON event_log
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
        progress.logged(1);
        assert!(!projector.move_failed);
        projector.step(&mut conn, &progress, None, None);
        assert!(projector.move_failed, "the move failed");
        progress.searched(PRUNE_AT * 2);
        projector.step(&mut conn, &progress, Some(0), None);
        assert!(
            projector.failed.is_none() && projector.move_failed,
            "dropping the search queue worked; the log still cannot move"
        );
        conn.execute_batch("DROP TRIGGER refuse_moves").unwrap();
        projector.step(&mut conn, &progress, None, None);
        assert!(!projector.move_failed, "moved");
        assert!(!progress.pending());
    }

    /// A writer on a fresh database in a temporary folder (kept while the test holds it).
    fn started() -> (tempfile::TempDir, Writer, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            super::super::open_write(&dir.path().join("t.db"), crate::Synchronous::Normal).unwrap();
        let (writer, thread) = Writer::start(conn, 16, 16).unwrap();
        (dir, writer, thread)
    }

    async fn names(writer: &Writer) -> Vec<String> {
        writer
            .run(|conn, _| {
                let mut stmt = conn.prepare(
                    "SELECT name FROM counters WHERE name != 'search_source' ORDER BY name",
                )?;
                let names = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok::<_, StoreError>(names)
            })
            .await
            .unwrap()
    }
}
