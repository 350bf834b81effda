//! The search index, off the writer: the two FTS5 indexes of what messages say live in a file
//! of their own (`search.db`, beside `clinic.db`), kept by a thread of their own that follows
//! the queue of changed messages (`search_changes`, schema v19).
//!
//! Why: fed by triggers in the writer's transactions (schema v7-v18), the indexes were a fifth
//! of the writer's CPU, a fifth of its bytes, and the slowest part of each move of the send log,
//! which every send queued behind it waited for. Here their work takes no lock of the database
//! the sends commit to, and it is done in batches of what arrived in the meantime.
//!
//! Invariants:
//! - The database queues every change a search could see (a message added, its text or file
//!   name changed, retracted, deleted) in `search_changes`, in the transaction of the change.
//!   The index records, in its own transaction, how far in that queue it has applied
//!   (`state.indexed`); applying an entry reads the message as it is now, so entries applied
//!   twice or late do no harm. The writer drops the entries the index has applied.
//! - A search first waits until the index has applied every change committed before it began
//!   (the deadline of the search bounds the wait), then filters what the index finds by the
//!   messages as they are: a stale entry can never show a message its reader may not see.
//! - The index belongs to one database (`state.source`, the database's `search_source`
//!   counter) and never runs ahead of its queue. Otherwise (another clinic's or a restored
//!   database, a deleted or damaged index file) it is rebuilt from the messages, in slices,
//!   while the server serves; searches meanwhile answer that the index is being rebuilt.

use super::projection::Progress;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The index file's name, beside the database.
pub(crate) const FILE_NAME: &str = "search.db";

/// Queue entries applied per transaction of the index.
const BATCH: i64 = 2000;
/// Messages indexed per transaction of a rebuild.
const REBUILD_SLICE: i64 = 2000;
/// How often an idle index looks for changes (a search asks at once).
const POLL: Duration = Duration::from_millis(100);
/// How long after a failure the index tries again.
const RETRY: Duration = Duration::from_secs(1);
/// How long a search waits for an index being rebuilt, or failing, before it says so.
const NOT_READY_WAIT: Duration = Duration::from_millis(500);

/// The index's tables, in the schema `schema` (`main` in `search.db`; tests attach one).
///
/// The two FTS5 indexes read the text they index from `texts`, a copy of what each message
/// said when it was indexed: removing a message from them takes exactly those words out of the
/// index pages themselves (`secure-delete`), which FTS5 can only do when it has the words. (A
/// contentless table deleting by rowid, tried first, leaves them in place behind a tombstone
/// until a merge happens to rewrite the segment.) `state.seen` is the newest queue entry any
/// transaction of the index has read messages alongside: the database must not be behind it.
pub(crate) fn create_tables(conn: &Connection, schema: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {schema}.state (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             source INTEGER NOT NULL,
             indexed INTEGER NOT NULL,
             seen INTEGER NOT NULL,
             rebuild_next INTEGER,
             rebuild_upto INTEGER
         ) STRICT;
         CREATE TABLE IF NOT EXISTS {schema}.texts (
             seq INTEGER PRIMARY KEY,
             content TEXT,
             file_name TEXT
         ) STRICT;
         CREATE VIRTUAL TABLE IF NOT EXISTS {schema}.messages_words USING fts5(
             content, file_name, content = 'texts', content_rowid = 'seq',
             tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
         );
         CREATE VIRTUAL TABLE IF NOT EXISTS {schema}.messages_parts USING fts5(
             content, file_name, content = 'texts', content_rowid = 'seq',
             tokenize = 'trigram remove_diacritics 1'
         );
         INSERT INTO {schema}.messages_words (messages_words, rank) VALUES ('secure-delete', 1);
         INSERT INTO {schema}.messages_parts (messages_parts, rank) VALUES ('secure-delete', 1);
         INSERT INTO {schema}.messages_words (messages_words, rank) VALUES ('automerge', 8);
         INSERT INTO {schema}.messages_parts (messages_parts, rank) VALUES ('automerge', 8);"
    ))
}

/// The index file of the database at `db`.
pub(crate) fn path_for(db: &Path) -> PathBuf {
    db.with_file_name(FILE_NAME)
}

/// The index file and the files SQLite keeps beside it.
pub(crate) fn files(db: &Path) -> [PathBuf; 3] {
    crate::datadir::sqlite_files(&path_for(db))
}

/// Where the index stands, as searches see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Applied the queue up to this entry.
    Indexed(i64),
    /// Being rebuilt: `done` of about `total` messages (by seq).
    Rebuilding { done: i64, total: i64 },
    /// Failing (logged); trying again.
    Failed,
}

/// Why a search cannot use the index now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotReady {
    #[error("The search index is being rebuilt ({percent}% done). Try again in a minute.")]
    Rebuilding { percent: i64 },
    #[error("Search is not working right now. The server's log says why.")]
    Failed,
    #[error("The search took too long. Try again in a moment.")]
    Behind,
}

#[derive(Debug)]
struct Shared {
    status: watch::Sender<Status>,
    /// The latest status that was not `Failed`: where a failing index stands.
    stood: Mutex<Status>,
    /// Set to have the thread look for changes now.
    asked: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn ask(&self) {
        if let Ok(mut asked) = self.asked.lock() {
            *asked = true;
        }
        self.wake.notify_one();
    }

    /// Waits until asked (if `asked_wakes`), stopped or `timeout` passed.
    fn wait(&self, timeout: Duration, asked_wakes: bool) {
        let Ok(asked) = self.asked.lock() else {
            return;
        };
        let stop = &self.stop;
        if let Ok((mut asked, _)) = self.wake.wait_timeout_while(asked, timeout, |asked| {
            !(stop.load(Ordering::SeqCst) || *asked && asked_wakes)
        }) {
            *asked = false;
        }
    }

    /// Stops the thread (under the lock its wait checks, so the wake-up cannot be missed).
    fn stop(&self) {
        let held = self.asked.lock();
        self.stop.store(true, Ordering::SeqCst);
        drop(held);
        self.wake.notify_one();
    }
}

/// Stops the thread when the last handle is gone.
#[derive(Debug)]
struct Stopper(Arc<Shared>);

impl Drop for Stopper {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Handle to the index thread; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct SearchIndex {
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    _stopper: Arc<Stopper>,
}

impl SearchIndex {
    /// Opens (creating, or rebuilding, as needed) the index of the database at `db`, whose
    /// schema is up to date, and starts its thread. `progress` learns how far it has applied.
    pub(crate) fn start(
        db: &Path,
        progress: Arc<Progress>,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let source = super::open_existing(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(std::io::Error::other)?;
        let path = path_for(db);
        let (index, status) = open_checked(&path, &source).map_err(std::io::Error::other)?;
        if let Status::Indexed(upto) = status {
            progress.searched(upto);
        }
        let (sender, receiver) = watch::channel(status);
        let shared = Arc::new(Shared {
            status: sender,
            stood: Mutex::new(status),
            asked: Mutex::new(false),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("clinic-search".into())
                .spawn(move || run(&path, &index, &source, &shared, &progress))?
        };
        Ok((
            Self {
                _stopper: Arc::new(Stopper(Arc::clone(&shared))),
                shared,
                status: receiver,
            },
            thread,
        ))
    }

    /// How far the index is behind a database whose newest queue entry is `newest`, and
    /// whether it is failing (see [`lag`]).
    pub(crate) fn lag(&self, newest: i64) -> (i64, bool) {
        let stood = self.shared.stood.lock().map_or(Status::Failed, |s| *s);
        lag(newest, *self.status.borrow(), stood)
    }

    /// Waits until the index has applied the queue up to `entry` (the newest entry a search
    /// must see), asking the thread to look now; gives up at `deadline`.
    pub(crate) async fn caught_up(
        &self,
        entry: i64,
        deadline: std::time::Instant,
    ) -> Result<(), NotReady> {
        let mut status = self.status.clone();
        if matches!(*status.borrow(), Status::Indexed(upto) if upto >= entry) {
            return Ok(());
        }
        self.shared.ask();
        // An index being rebuilt, or failing, is not waited for long: a small one is done in
        // a moment, a large one takes minutes, and the answer should come at once then.
        let deadline = match *status.borrow() {
            Status::Indexed(_) => deadline,
            Status::Rebuilding { .. } | Status::Failed => {
                deadline.min(std::time::Instant::now() + NOT_READY_WAIT)
            }
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let waited = tokio::time::timeout(
            left,
            status.wait_for(|s| matches!(*s, Status::Indexed(upto) if upto >= entry)),
        )
        .await;
        let ok = matches!(waited, Ok(Ok(_)));
        drop(waited);
        if ok {
            return Ok(());
        }
        Err(match *self.status.borrow() {
            Status::Rebuilding { done, total } => NotReady::Rebuilding {
                percent: (done * 100).checked_div(total).unwrap_or(0).clamp(0, 99),
            },
            Status::Failed => NotReady::Failed,
            Status::Indexed(_) => NotReady::Behind,
        })
    }
}

/// How far an index whose status is `now` is behind a database whose newest queue entry is
/// `newest`, and whether it is failing. Behind means the queue entries not yet applied or, while
/// it is rebuilt, the sequence numbers left to index (roughly messages: receipts and other
/// changes take sequence numbers too; changes queued meanwhile count once it is done). A failing
/// index counts from where it stood before (`stood`, never `Failed` unless it never stood).
fn lag(newest: i64, now: Status, stood: Status) -> (i64, bool) {
    let failing = now == Status::Failed;
    let behind = match if failing { stood } else { now } {
        Status::Indexed(upto) => newest - upto,
        Status::Rebuilding { done, total } => total - done,
        Status::Failed => newest,
    };
    (behind.max(0), failing)
}

/// Whether `conn` has the index attached (a read connection opened while the file was missing
/// has not): a search without it says the index is not working rather than failing blindly.
pub(crate) fn attached(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT count(*) FROM pragma_database_list WHERE name = 'search'")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|n| n > 0)
}

/// The newest queue entry, as the snapshot of `conn` sees it: what a search begun now must find
/// applied.
pub(crate) fn newest_entry(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'search_changes'), 0)",
    )?
    .query_row([], |r| r.get(0))
}

/// Not checked page by page at start (that would cost seconds on a large index, every start):
/// damage found while it is used leaves a note, and the next start makes the index anew.
fn open_index(path: &Path) -> rusqlite::Result<Connection> {
    let conn = super::open_private(path)?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // The writer drops the queue entries the index says it applied: what it says must last.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A removed text's bytes are overwritten where they stood, not left in free space.
    conn.pragma_update(None, "secure_delete", "ON")?;
    create_tables(&conn, "main")?;
    Ok(conn)
}

/// The note that the index was found damaged (see [`open_index`]).
pub(crate) fn damage_note(db: &Path) -> PathBuf {
    db.with_file_name("search.damaged")
}

fn is_damage(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// The index's recorded state, if any.
#[derive(Debug, Clone, Copy)]
struct State {
    source: i64,
    indexed: i64,
    seen: i64,
    rebuild: Option<(i64, i64)>,
}

fn state(index: &Connection) -> rusqlite::Result<Option<State>> {
    index
        .query_row(
            "SELECT source, indexed, seen, rebuild_next, rebuild_upto FROM state WHERE id = 1",
            [],
            |r| {
                let next: Option<i64> = r.get(3)?;
                let upto: Option<i64> = r.get(4)?;
                Ok(State {
                    source: r.get(0)?,
                    indexed: r.get(1)?,
                    seen: r.get(2)?,
                    rebuild: next.zip(upto),
                })
            },
        )
        .optional()
}

/// What [`begin_with`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begun {
    /// The index follows this database (a rebuild may be under way, or just begun).
    Ready(Status),
    /// The index is not this database's as it stands: to be made anew.
    Stale,
}

/// The database as one snapshot saw it, for [`begin_with`].
struct Source {
    /// `search_source`: which database this is.
    id: i64,
    /// The newest queue entry ever given out.
    newest: i64,
    /// The oldest queue entry still there.
    oldest: Option<i64>,
    max_seq: i64,
}

/// [`begin_with`] against the database as `source` sees it now (tests).
#[cfg(test)]
fn begin(index: &Connection, source: &Connection) -> rusqlite::Result<Begun> {
    begin_with(index, &read_source(source)?)
}

/// The database as one snapshot of `source` sees it.
fn read_source(source: &Connection) -> rusqlite::Result<Source> {
    let tx = source.unchecked_transaction()?;
    let db = tx.query_row(
        "SELECT coalesce((SELECT value FROM counters WHERE name = 'search_source'), 0), \
         coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'search_changes'), 0), \
         (SELECT min(id) FROM search_changes), coalesce((SELECT max(seq) FROM messages), 0)",
        [],
        |r| {
            Ok(Source {
                id: r.get(0)?,
                newest: r.get(1)?,
                oldest: r.get(2)?,
                max_seq: r.get(3)?,
            })
        },
    )?;
    tx.finish()?;
    Ok(db)
}

/// Checks the index against the database; an empty one starts a rebuild.
///
/// The index is stale when it is another database's, or when the database is behind what the
/// index has seen (a database restored, or a power loss that took changes the index had
/// already applied), or when queue entries the index has not applied are gone (an older index
/// file put back): then it could find what is gone or miss what is there.
fn begin_with(index: &Connection, db: &Source) -> rusqlite::Result<Begun> {
    match state(index)? {
        Some(s) => {
            let gap = s.indexed < db.newest && db.oldest.is_none_or(|id| id > s.indexed + 1);
            let ahead = s.indexed.max(s.seen) > db.newest;
            if s.source != db.id || ahead || gap {
                return Ok(Begun::Stale);
            }
            Ok(Begun::Ready(match s.rebuild {
                Some((next, upto)) => Status::Rebuilding {
                    done: next,
                    total: upto,
                },
                None => Status::Indexed(s.indexed),
            }))
        }
        None => {
            if db.max_seq > 0 {
                tracing::info!("building the search index while serving");
            }
            // Everything queued so far is covered by indexing the messages as this snapshot
            // saw them; later entries are applied after. (Without a state the index holds
            // nothing: its rows come after the state's.)
            let rebuild = (db.max_seq > 0).then_some((0, db.max_seq));
            index.execute(
                "INSERT INTO state (id, source, indexed, seen, rebuild_next, rebuild_upto) \
                 VALUES (1, ?1, ?2, ?2, ?3, ?4)",
                params![db.id, db.newest, rebuild.map(|r| r.0), rebuild.map(|r| r.1)],
            )?;
            Ok(Begun::Ready(match rebuild {
                Some((done, total)) => Status::Rebuilding { done, total },
                None => Status::Indexed(db.newest),
            }))
        }
    }
}

/// Opens the index of the database `source` reads and checks it, making it anew (a new file:
/// quicker than emptying a large one) if it was found damaged, is stale (see [`begin_with`]) or
/// cannot be read: it holds nothing the database does not, and must never keep the server
/// from starting.
fn open_checked(path: &Path, source: &Connection) -> rusqlite::Result<(Connection, Status)> {
    let note = damage_note(path);
    if note.exists() {
        tracing::warn!("the search index was found damaged; building it again while serving");
        remove_files(path);
        let _ = std::fs::remove_file(&note);
    }
    // Read first: a failure here is the database's, not a reason to remake the index.
    let db = read_source(source)?;
    let checked = open_index(path).and_then(|index| Ok((begin_with(&index, &db)?, index)));
    match checked {
        Ok((Begun::Ready(status), index)) => return Ok((index, status)),
        Ok((Begun::Stale, index)) => {
            drop(index);
            tracing::warn!(
                "the search index does not match the database (restored, copied from \
                 elsewhere, or behind it); building it again while serving"
            );
        }
        Err(err) => tracing::warn!(
            error = %err,
            "the search index cannot be used; building it again while serving"
        ),
    }
    remove_files(path);
    let index = open_index(path)?;
    match begin_with(&index, &db)? {
        Begun::Ready(status) => Ok((index, status)),
        Begun::Stale => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some("a new search index does not match its database".into()),
        )),
    }
}

fn remove_files(path: &Path) {
    for file in files(path) {
        let _ = std::fs::remove_file(file);
    }
}

/// The thread: rebuild if needed, then follow the queue until stopped.
fn run(path: &Path, index: &Connection, source: &Connection, shared: &Shared, progress: &Progress) {
    // Below the writer and the sockets: what waits for the index is a search, which may wait.
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(error = %err, "cannot lower the search index thread's priority");
    }
    let mut failing = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let step = (|| -> rusqlite::Result<(Status, bool)> {
            let Some(s) = state(index)? else {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            };
            match s.rebuild {
                Some((next, upto)) => rebuild_slice(index, source, next, upto).map(|s| (s, true)),
                None => apply(index, source, s.indexed),
            }
        })();
        match step {
            Ok((status, more)) => {
                if failing {
                    tracing::info!("the search index works again");
                    failing = false;
                }
                if let Status::Indexed(upto) = status {
                    progress.searched(upto);
                }
                if *shared.status.borrow() != status {
                    shared.status.send_replace(status);
                }
                if let Ok(mut stood) = shared.stood.lock() {
                    *stood = status;
                }
                if !more {
                    shared.wait(POLL, true);
                }
            }
            Err(err) => {
                if is_damage(&err) && !damage_note(path).exists() {
                    tracing::error!(
                        error = %err,
                        "the search index is damaged; it is built again at the next start"
                    );
                    let _ = crate::datadir::private_file(&damage_note(path), true);
                }
                if !failing {
                    tracing::error!(error = %err, "cannot bring the search index up to date");
                    failing = true;
                }
                shared.status.send_replace(Status::Failed);
                // Searches asking do not make a failing index retry faster.
                shared.wait(RETRY, false);
            }
        }
    }
    // What was committed before the stop is applied before the thread ends (a rebuild under way
    // goes on at the next start): a retracted or deleted text leaves the index with the server.
    loop {
        let caught_up = state(index).and_then(|s| match s {
            Some(State {
                rebuild: None,
                indexed,
                ..
            }) => apply(index, source, indexed).map(|(_, more)| !more),
            _ => Ok(true),
        });
        match caught_up {
            Ok(false) => continue,
            Ok(true) => break,
            Err(err) => {
                tracing::warn!(error = %err, "could not bring the search index up to date before stopping");
                break;
            }
        }
    }
    tracing::debug!("search index stopped");
}

/// Indexes the next slice of messages of a rebuild.
fn rebuild_slice(
    index: &Connection,
    source: &Connection,
    next: i64,
    upto: i64,
) -> rusqlite::Result<Status> {
    let (rows, newest): (Vec<(i64, Text)>, i64) = {
        let tx = source.unchecked_transaction()?;
        let newest = newest_entry(&tx)?;
        let rows = tx
            .prepare_cached(
                "SELECT seq, content, file_name FROM messages \
                 WHERE seq > ?1 AND seq <= ?2 AND retracted_at IS NULL ORDER BY seq LIMIT ?3",
            )?
            .query_map(params![next, upto, REBUILD_SLICE], |r| {
                Ok((
                    r.get(0)?,
                    Text {
                        content: r.get(1)?,
                        file_name: r.get(2)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        tx.finish()?;
        (rows, newest)
    };
    let reached = match rows.last() {
        Some((seq, ..)) if usize::try_from(REBUILD_SLICE).is_ok_and(|n| rows.len() == n) => *seq,
        _ => upto,
    };
    let tx = index.unchecked_transaction()?;
    for (seq, text) in &rows {
        insert(&tx, *seq, text)?;
    }
    let done = reached >= upto;
    tx.prepare_cached(
        "UPDATE state SET rebuild_next = CASE WHEN ?2 THEN NULL ELSE ?1 END, \
         rebuild_upto = CASE WHEN ?2 THEN NULL ELSE rebuild_upto END, \
         seen = max(seen, ?3) WHERE id = 1",
    )?
    .execute(params![reached, done, newest])?;
    tx.commit()?;
    if done {
        tracing::info!("the search index is complete");
        let indexed: i64 = index.query_row("SELECT indexed FROM state", [], |r| r.get(0))?;
        Ok(Status::Indexed(indexed))
    } else {
        Ok(Status::Rebuilding {
            done: reached,
            total: upto,
        })
    }
}

/// A queue entry, with what its message says now (`None`: deleted or retracted).
struct Entry {
    id: i64,
    seq: i64,
    now: Option<Text>,
}

struct Text {
    content: Option<String>,
    file_name: Option<String>,
}

/// Applies the queue after entry `indexed`, a batch per transaction. Returns the status and
/// whether more may be waiting.
fn apply(
    index: &Connection,
    source: &Connection,
    indexed: i64,
) -> rusqlite::Result<(Status, bool)> {
    let (entries, newest): (Vec<Entry>, i64) = {
        let tx = source.unchecked_transaction()?;
        let newest = newest_entry(&tx)?;
        let entries = tx
            .prepare_cached(
                "SELECT c.id, c.seq, m.seq IS NOT NULL, m.content, m.file_name \
                 FROM search_changes AS c \
                 LEFT JOIN messages AS m ON m.seq = c.seq AND m.retracted_at IS NULL \
                 WHERE c.id > ?1 ORDER BY c.id LIMIT ?2",
            )?
            .query_map(params![indexed, BATCH], |r| {
                let live: bool = r.get(2)?;
                Ok(Entry {
                    id: r.get(0)?,
                    seq: r.get(1)?,
                    now: if live {
                        Some(Text {
                            content: r.get(3)?,
                            file_name: r.get(4)?,
                        })
                    } else {
                        None
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        tx.finish()?;
        (entries, newest)
    };
    let Some(last) = entries.last().map(|e| e.id) else {
        return Ok((Status::Indexed(indexed), false));
    };
    let full = usize::try_from(BATCH).is_ok_and(|n| entries.len() == n);
    // Each message once (its entries all read it as it is now): out with what the index holds
    // of it, in with what it says.
    let mut seen = std::collections::HashSet::new();
    let tx = index.unchecked_transaction()?;
    for entry in entries.into_iter().filter(|e| seen.insert(e.seq)) {
        remove(&tx, entry.seq)?;
        if let Some(text) = &entry.now {
            insert(&tx, entry.seq, text)?;
        }
    }
    tx.prepare_cached("UPDATE state SET indexed = ?1, seen = max(seen, ?2) WHERE id = 1")?
        .execute(params![last, newest])?;
    tx.commit()?;
    Ok((Status::Indexed(last), full))
}

fn insert(conn: &Connection, seq: i64, text: &Text) -> rusqlite::Result<()> {
    for sql in [
        "INSERT INTO texts (seq, content, file_name) VALUES (?1, ?2, ?3)",
        "INSERT INTO messages_words (rowid, content, file_name) VALUES (?1, ?2, ?3)",
        "INSERT INTO messages_parts (rowid, content, file_name) VALUES (?1, ?2, ?3)",
    ] {
        conn.prepare_cached(sql)?
            .execute(params![seq, text.content, text.file_name])?;
    }
    Ok(())
}

/// Takes message `seq` out of the index, if it is in: its words, as indexed, then its text.
fn remove(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    let indexed: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached("SELECT content, file_name FROM texts WHERE seq = ?1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((content, file_name)) = indexed else {
        return Ok(());
    };
    for sql in [
        "INSERT INTO messages_words (messages_words, rowid, content, file_name) \
         VALUES ('delete', ?1, ?2, ?3)",
        "INSERT INTO messages_parts (messages_parts, rowid, content, file_name) \
         VALUES ('delete', ?1, ?2, ?3)",
    ] {
        conn.prepare_cached(sql)?
            .execute(params![seq, content, file_name])?;
    }
    conn.prepare_cached("DELETE FROM texts WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use std::time::Instant;

    const WORDS: [&str; 6] = ["apple", "banana", "cherry", "damson", "elder", "fennel"];

    struct Clinic {
        _dir: tempfile::TempDir,
        path: PathBuf,
        conn: Connection,
        next: i64,
        /// The model: what each standing message says.
        model: BTreeMap<i64, String>,
        /// Every message ever written (standing, retracted or deleted).
        written: Vec<i64>,
    }

    impl Clinic {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("clinic.db");
            let conn = crate::store::open_write(&path, Synchronous::Full).unwrap();
            conn.execute_batch(
                "INSERT INTO users (id, username, name, role, password_hash, created_at)
                     VALUES ('p', 'p', 'P', 'PATIENT', 'x', 0), ('d', 'd', 'D', 'DOCTOR', 'x', 0);
                 INSERT INTO conversations (patient_id, doctor_id, created_at)
                     VALUES ('p', 'd', 0);
                 PRAGMA foreign_keys = OFF;",
            )
            .unwrap();
            Self {
                _dir: dir,
                path,
                conn,
                next: 0,
                model: BTreeMap::new(),
                written: Vec::new(),
            }
        }

        fn send(&mut self, text: &str) {
            self.next += 1;
            let seq = self.next;
            self.conn
                .execute(
                    "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, \
                     doctor_id, sender_id, content, message_type, status, is_emergency, \
                     created_at, updated_at) \
                     VALUES (?1, ?2, ?2, ?1, 'p', 'd', 'p', ?3, 'REGULAR', 'SENT', 0, 0, 0)",
                    params![format!("m{seq}"), seq, text],
                )
                .unwrap();
            self.model.insert(seq, text.to_owned());
            self.written.push(seq);
        }

        fn edit(&mut self, seq: i64, text: &str) {
            self.conn
                .execute(
                    "UPDATE messages SET content = ?2 WHERE seq = ?1 AND retracted_at IS NULL",
                    params![seq, text],
                )
                .unwrap();
            if let Some(old) = self.model.get_mut(&seq) {
                text.clone_into(old);
            }
        }

        fn retract(&mut self, seq: i64) {
            self.conn
                .execute(
                    "UPDATE messages SET retracted_at = 1, content = '' WHERE seq = ?1",
                    [seq],
                )
                .unwrap();
            self.model.remove(&seq);
        }

        fn delete(&mut self, seq: i64) {
            self.conn
                .execute("DELETE FROM messages WHERE seq = ?1", [seq])
                .unwrap();
            self.model.remove(&seq);
        }

        /// Waits for the index, then compares every word's matches (and a part of a word) with
        /// the model.
        async fn check(&self, index: &SearchIndex, when: &str) {
            let newest = newest_entry(&self.conn).unwrap();
            index
                .caught_up(newest, Instant::now() + Duration::from_secs(20))
                .await
                .unwrap();
            let reader = crate::store::open_read(&self.path).unwrap();
            let found = |sql: &str, q: &str| -> Vec<i64> {
                reader
                    .prepare(sql)
                    .unwrap()
                    .query_map([q], |r| r.get(0))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap()
            };
            for word in WORDS {
                let expected: Vec<i64> = self
                    .model
                    .iter()
                    .filter(|(_, text)| text.split(' ').any(|w| w == word))
                    .map(|(seq, _)| *seq)
                    .collect();
                let words = found(
                    "SELECT rowid FROM search.messages_words WHERE messages_words MATCH ?1 \
                     ORDER BY rowid",
                    word,
                );
                assert_eq!(words, expected, "{when}: {word}");
                let part = &word[1..5];
                let parts = found(
                    "SELECT rowid FROM search.messages_parts WHERE messages_parts MATCH ?1 \
                     ORDER BY rowid",
                    &format!("\"{part}\""),
                );
                assert_eq!(parts, expected, "{when}: part {part} of {word}");
            }
        }
    }

    fn words(rng: &mut StdRng) -> String {
        let n = rng.gen_range(1..=3);
        (0..n)
            .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A random walk of sends, edits, retractions and deletions (of messages indexed or not
    /// yet), with the index caught up now and then, stopped and started again, its file
    /// deleted, and handed another database's name: every word and part of a word finds
    /// exactly the standing messages that say it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_index_finds_what_the_messages_say_through_every_change_restart_and_loss() {
        let mut rng = StdRng::seed_from_u64(19);
        let mut c = Clinic::new();
        let (mut index, mut thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
        for step in 0..600 {
            match rng.gen_range(0..10) {
                0..=4 => {
                    let text = words(&mut rng);
                    c.send(&text);
                }
                5 | 6 if !c.written.is_empty() => {
                    let seq = c.written[rng.gen_range(0..c.written.len())];
                    let text = words(&mut rng);
                    c.edit(seq, &text);
                }
                7 if !c.written.is_empty() => {
                    let seq = c.written[rng.gen_range(0..c.written.len())];
                    c.retract(seq);
                }
                8 if !c.written.is_empty() => {
                    let seq = c.written[rng.gen_range(0..c.written.len())];
                    c.delete(seq);
                }
                _ => {}
            }
            if step % 25 == 24 {
                c.check(&index, &format!("step {step}")).await;
            }
            match step {
                150 => {
                    drop(index);
                    thread.join().unwrap();
                    (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
                    c.check(&index, "after a restart").await;
                }
                300 => {
                    drop(index);
                    thread.join().unwrap();
                    for file in files(&c.path) {
                        let _ = std::fs::remove_file(file);
                    }
                    (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
                    c.check(&index, "after the index file was deleted").await;
                }
                450 => {
                    drop(index);
                    thread.join().unwrap();
                    c.conn
                        .execute(
                            "UPDATE counters SET value = value + 1 WHERE name = 'search_source'",
                            [],
                        )
                        .unwrap();
                    (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
                    c.check(&index, "after the database changed").await;
                }
                _ => {}
            }
        }
        c.check(&index, "at the end").await;
        drop(index);
        thread.join().unwrap();
    }

    /// A rebuild in slices picks up where it stopped, and changes made during it are applied
    /// after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_resumes_and_applies_what_changed_during_it() {
        let mut c = Clinic::new();
        for i in 0..(REBUILD_SLICE * 2 + 10) {
            c.send(WORDS[usize::try_from(i).unwrap() % WORDS.len()]);
        }
        let index = open_index(&path_for(&c.path)).unwrap();
        let source = crate::store::open_read(&c.path).unwrap();
        let status = begin(&index, &source).unwrap();
        assert_eq!(
            status,
            Begun::Ready(Status::Rebuilding {
                done: 0,
                total: c.next
            })
        );
        let status = rebuild_slice(&index, &source, 0, c.next).unwrap();
        assert_eq!(
            status,
            Status::Rebuilding {
                done: REBUILD_SLICE,
                total: c.next
            }
        );
        // Changed while the rebuild is under way: before and after where it stands.
        c.edit(1, "fennel fennel");
        c.edit(c.next, "fennel apple");
        c.delete(2);
        drop((index, source));
        let (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
        c.check(&index, "after the rebuild").await;
        drop(index);
        thread.join().unwrap();
    }

    /// What the index's state says about the database decides: its own, caught up or behind,
    /// is followed; ahead of the queue (a restored database) or another database's is made
    /// anew, and rebuilt.
    #[test]
    fn an_index_ahead_of_its_queue_or_another_databases_is_made_anew() {
        let mut c = Clinic::new();
        c.send("apple");
        let path = path_for(&c.path);
        let source = crate::store::open_read(&c.path).unwrap();
        let (mut index, status) = open_checked(&path, &source).unwrap();
        assert_eq!(status, Status::Rebuilding { done: 0, total: 1 });
        rebuild_slice(&index, &source, 0, 1).unwrap();
        let newest = newest_entry(&c.conn).unwrap();
        assert_eq!(
            begin(&index, &source).unwrap(),
            Begun::Ready(Status::Indexed(newest))
        );
        for (change, what) in [
            (
                "UPDATE state SET indexed = indexed + 5",
                "ahead of its queue",
            ),
            (
                "UPDATE state SET seen = seen + 5",
                "the database behind what it saw",
            ),
            ("UPDATE state SET source = source + 1", "another database's"),
            ("GAP", "entries it never applied dropped"),
        ] {
            if change == "GAP" {
                // The writer dropped entries an index further on had applied; this one has not.
                c.conn
                    .execute("INSERT INTO search_changes (seq) VALUES (1), (1)", [])
                    .unwrap();
                c.conn
                    .execute(
                        "DELETE FROM search_changes \
                         WHERE id < (SELECT max(id) FROM search_changes)",
                        [],
                    )
                    .unwrap();
            } else {
                index.execute(change, []).unwrap();
            }
            assert_eq!(begin(&index, &source).unwrap(), Begun::Stale, "{what}");
            drop(index);
            let (again, status) = open_checked(&path, &source).unwrap();
            assert_eq!(status, Status::Rebuilding { done: 0, total: 1 }, "{what}");
            rebuild_slice(&again, &source, 0, 1).unwrap();
            let found: i64 = again
                .query_row(
                    "SELECT rowid FROM messages_words WHERE messages_words MATCH 'apple'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(found, 1, "{what}");
            index = again;
        }
    }

    /// An index found damaged while in use (the note) is made anew at the next start, and so is
    /// a file that is not a database at all; both are built again from the messages.
    /// What `/metrics` shows: entries not applied, what a rebuild has left, and a failing
    /// index counted from where it stood before it failed.
    #[test]
    fn the_lag_counts_from_where_the_index_stands_even_while_it_fails() {
        let indexed = Status::Indexed(40);
        let rebuilding = Status::Rebuilding {
            done: 300,
            total: 1000,
        };
        assert_eq!(lag(50, indexed, indexed), (10, false));
        assert_eq!(lag(50, Status::Indexed(50), indexed), (0, false));
        assert_eq!(lag(50, rebuilding, rebuilding), (700, false));
        assert_eq!(lag(55, Status::Failed, indexed), (15, true));
        assert_eq!(lag(55, Status::Failed, rebuilding), (700, true));
        assert_eq!(lag(55, Status::Failed, Status::Failed), (55, true));
        // A database restored behind its index: nothing is behind.
        assert_eq!(lag(30, indexed, indexed), (0, false));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_damaged_index_is_made_anew() {
        let mut c = Clinic::new();
        c.send("apple banana");
        let path = path_for(&c.path);
        let (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
        c.check(&index, "built").await;
        drop(index);
        thread.join().unwrap();
        std::fs::write(damage_note(&c.path), b"").unwrap();
        let source = crate::store::open_read(&c.path).unwrap();
        let (_, status) = open_checked(&path, &source).unwrap();
        assert_eq!(status, Status::Rebuilding { done: 0, total: 1 }, "the note");
        assert!(!damage_note(&c.path).exists());
        for file in files(&path) {
            let _ = std::fs::remove_file(file);
        }
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
        c.check(&index, "from a file that was not a database").await;
        drop(index);
        thread.join().unwrap();
        // A state the index cannot read: made anew too, never an error that stops the start.
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE state; CREATE TABLE state (x);")
            .unwrap();
        let (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
        c.check(&index, "from a state it could not read").await;
        drop(index);
        thread.join().unwrap();
        assert!(is_damage(&rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None
        )));
    }

    /// A retracted or deleted text leaves the index itself, not only its matches: no term of
    /// it is left in either index, and its words are nowhere in the index file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_text_leaves_no_trace_in_the_index_file() {
        let mut c = Clinic::new();
        c.send("quetiapinexyz is what I take");
        c.send("lisinoprilxyz stays");
        c.send("zolpidemxyz at night");
        let (index, thread) = SearchIndex::start(&c.path, Progress::new()).unwrap();
        c.check(&index, "before").await;
        c.retract(1);
        c.delete(3);
        c.check(&index, "after").await;
        drop(index);
        thread.join().unwrap();
        let path = path_for(&c.path);
        let conn = Connection::open(&path).unwrap();
        for (table, term) in [
            ("messages_words", "quetiapinexyz"),
            ("messages_words", "zolpidemxyz"),
            ("messages_parts", "tia"),
            ("messages_parts", "lpi"),
        ] {
            conn.execute_batch(&format!(
                "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, {table}, 'row');"
            ))
            .unwrap();
            let left: i64 = conn
                .query_row("SELECT count(*) FROM temp.v WHERE term = ?1", [term], |r| {
                    r.get(0)
                })
                .unwrap();
            let control: i64 = conn
                .query_row(
                    "SELECT count(*) FROM temp.v WHERE term IN ('lisinoprilxyz', 'ino')",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!((left, control), (0, 1), "{table}: {term}");
            conn.execute_batch("DROP TABLE temp.v;").unwrap();
        }
        drop(conn);
        let mut bytes = Vec::new();
        for file in files(&path) {
            bytes.extend(std::fs::read(file).unwrap_or_default());
        }
        let has = |word: &str| bytes.windows(word.len()).any(|w| w == word.as_bytes());
        assert!(has("lisinoprilxyz"), "the control is in the file");
        assert!(!has("quetiapinexyz"), "a retracted text's words are gone");
        assert!(!has("zolpidemxyz"), "a deleted text's words are gone");
    }
}
