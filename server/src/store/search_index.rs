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

/// The index's tables, in the schema `schema` (`main` in `search.db`; tests attach one). Both
/// are contentless (the text stays in `clinic.db` only) and delete by rowid; a deletion removes
/// the words from the index pages themselves (`secure-delete`), not only marks them.
pub(crate) fn create_tables(conn: &Connection, schema: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {schema}.state (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             source INTEGER NOT NULL,
             indexed INTEGER NOT NULL,
             rebuild_next INTEGER,
             rebuild_upto INTEGER
         ) STRICT;
         CREATE VIRTUAL TABLE IF NOT EXISTS {schema}.messages_words USING fts5(
             content, file_name, content = '', contentless_delete = 1,
             tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
         );
         CREATE VIRTUAL TABLE IF NOT EXISTS {schema}.messages_parts USING fts5(
             content, file_name, content = '', contentless_delete = 1,
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
    let index = path_for(db);
    let beside = |suffix: &str| {
        let mut name = index.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [beside("-wal"), beside("-shm"), index]
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

    /// Waits until asked, stopped or `timeout` passed.
    fn wait(&self, timeout: Duration) {
        let Ok(asked) = self.asked.lock() else {
            return;
        };
        let stop = &self.stop;
        if let Ok((mut asked, _)) = self.wake.wait_timeout_while(asked, timeout, |asked| {
            !*asked && !stop.load(Ordering::SeqCst)
        }) {
            *asked = false;
        }
    }
}

/// Stops the thread when the last handle is gone.
#[derive(Debug)]
struct Stopper(Arc<Shared>);

impl Drop for Stopper {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
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

/// The newest queue entry, as the snapshot of `conn` sees it: what a search begun now must find
/// applied.
pub(crate) fn newest_entry(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'search_changes'), 0)",
    )?
    .query_row([], |r| r.get(0))
}

/// Opens the index file, creating it private; a file SQLite cannot use is deleted and made anew
/// (it holds nothing that is not in the database).
fn open_or_reset(path: &Path) -> rusqlite::Result<Connection> {
    match open_index(path) {
        Ok(conn) => Ok(conn),
        Err(err) => {
            tracing::warn!(
                error = %err,
                path = %path.display(),
                "the search index cannot be used; making it anew"
            );
            for file in files(path) {
                let _ = std::fs::remove_file(file);
            }
            open_index(path)
        }
    }
}

/// Not checked page by page at start (that would cost seconds on a large index, every start):
/// damage found while it is used leaves a note, and the next start makes the index anew.
fn open_index(path: &Path) -> rusqlite::Result<Connection> {
    let conn = super::open_private(path)?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // The writer drops the queue entries the index says it applied: what it says must last.
    conn.pragma_update(None, "synchronous", "FULL")?;
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
    rebuild: Option<(i64, i64)>,
}

fn state(index: &Connection) -> rusqlite::Result<Option<State>> {
    index
        .query_row(
            "SELECT source, indexed, rebuild_next, rebuild_upto FROM state WHERE id = 1",
            [],
            |r| {
                let next: Option<i64> = r.get(2)?;
                let upto: Option<i64> = r.get(3)?;
                Ok(State {
                    source: r.get(0)?,
                    indexed: r.get(1)?,
                    rebuild: next.zip(upto),
                })
            },
        )
        .optional()
}

/// What [`begin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begun {
    /// The index follows this database (a rebuild may be under way, or just begun).
    Ready(Status),
    /// The index is another database's, or ahead of the queue: to be made anew.
    Stale,
}

/// Checks the index against the database; an empty one starts a rebuild.
fn begin(index: &Connection, source: &Connection) -> rusqlite::Result<Begun> {
    let tx = source.unchecked_transaction()?;
    let (id, newest, max_seq): (i64, i64, i64) = tx.query_row(
        "SELECT coalesce((SELECT value FROM counters WHERE name = 'search_source'), 0), \
         coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'search_changes'), 0), \
         coalesce((SELECT max(seq) FROM messages), 0)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    tx.finish()?;
    match state(index)? {
        Some(s) if s.source == id && s.indexed <= newest => Ok(Begun::Ready(match s.rebuild {
            Some((next, upto)) => Status::Rebuilding {
                done: next,
                total: upto,
            },
            None => Status::Indexed(s.indexed),
        })),
        Some(_) => Ok(Begun::Stale),
        None => {
            if max_seq > 0 {
                tracing::info!("building the search index while serving");
            }
            // Everything queued so far is covered by indexing the messages as this snapshot
            // saw them; later entries are applied after. (Without a state the index holds
            // nothing: its rows come after the state's.)
            let rebuild = (max_seq > 0).then_some((0, max_seq));
            index.execute(
                "INSERT INTO state (id, source, indexed, rebuild_next, rebuild_upto) \
                 VALUES (1, ?1, ?2, ?3, ?4)",
                params![id, newest, rebuild.map(|r| r.0), rebuild.map(|r| r.1)],
            )?;
            Ok(Begun::Ready(match rebuild {
                Some((done, total)) => Status::Rebuilding { done, total },
                None => Status::Indexed(newest),
            }))
        }
    }
}

/// Opens the index of the database `source` reads and checks it, making it anew (a new file:
/// quicker than emptying a large one) if it was found damaged, is another database's or is
/// ahead of its queue.
fn open_checked(path: &Path, source: &Connection) -> rusqlite::Result<(Connection, Status)> {
    let note = damage_note(path);
    if note.exists() {
        tracing::warn!("the search index was found damaged; building it again while serving");
        for file in files(path) {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_file(&note);
    }
    let index = open_or_reset(path)?;
    if let Begun::Ready(status) = begin(&index, source)? {
        return Ok((index, status));
    }
    tracing::warn!(
        "the search index does not match the database (restored, or copied from elsewhere); \
         building it again while serving"
    );
    drop(index);
    for file in files(path) {
        let _ = std::fs::remove_file(file);
    }
    let index = open_index(path)?;
    match begin(&index, source)? {
        Begun::Ready(status) => Ok((index, status)),
        Begun::Stale => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some("a new search index does not match its database".into()),
        )),
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
                if !more {
                    shared.wait(POLL);
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
                shared.wait(RETRY);
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
    let rows: Vec<(i64, Option<String>, Option<String>)> = {
        let tx = source.unchecked_transaction()?;
        let rows = tx
            .prepare_cached(
                "SELECT seq, content, file_name FROM messages \
                 WHERE seq > ?1 AND seq <= ?2 AND retracted_at IS NULL ORDER BY seq LIMIT ?3",
            )?
            .query_map(params![next, upto, REBUILD_SLICE], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        tx.finish()?;
        rows
    };
    let reached = match rows.last() {
        Some((seq, ..)) if usize::try_from(REBUILD_SLICE).is_ok_and(|n| rows.len() == n) => *seq,
        _ => upto,
    };
    let tx = index.unchecked_transaction()?;
    for (seq, content, file_name) in &rows {
        insert(&tx, *seq, content.as_deref(), file_name.as_deref())?;
    }
    let done = reached >= upto;
    tx.prepare_cached(
        "UPDATE state SET rebuild_next = CASE WHEN ?2 THEN NULL ELSE ?1 END, \
         rebuild_upto = CASE WHEN ?2 THEN NULL ELSE rebuild_upto END WHERE id = 1",
    )?
    .execute(params![reached, done])?;
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
    /// A change (1), not the message's arrival (0): an earlier entry may have indexed it.
    changed: bool,
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
    let entries: Vec<Entry> = {
        let tx = source.unchecked_transaction()?;
        let entries = tx
            .prepare_cached(
                "SELECT c.id, c.seq, c.op != 0, m.seq IS NOT NULL, m.content, m.file_name \
                 FROM search_changes AS c \
                 LEFT JOIN messages AS m ON m.seq = c.seq AND m.retracted_at IS NULL \
                 WHERE c.id > ?1 ORDER BY c.id LIMIT ?2",
            )?
            .query_map(params![indexed, BATCH], |r| {
                let live: bool = r.get(3)?;
                Ok(Entry {
                    id: r.get(0)?,
                    seq: r.get(1)?,
                    changed: r.get(2)?,
                    now: if live {
                        Some(Text {
                            content: r.get(4)?,
                            file_name: r.get(5)?,
                        })
                    } else {
                        None
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        tx.finish()?;
        entries
    };
    let Some(last) = entries.last().map(|e| e.id) else {
        return Ok((Status::Indexed(indexed), false));
    };
    let full = usize::try_from(BATCH).is_ok_and(|n| entries.len() == n);
    // Each message once, as its first entry here says: whether an earlier entry may have
    // indexed it, and (read now, so alike in all its entries) what it says.
    let mut seen = std::collections::HashSet::new();
    let tx = index.unchecked_transaction()?;
    for entry in entries.into_iter().filter(|e| seen.insert(e.seq)) {
        if entry.changed {
            tx.prepare_cached("DELETE FROM messages_words WHERE rowid = ?1")?
                .execute([entry.seq])?;
            tx.prepare_cached("DELETE FROM messages_parts WHERE rowid = ?1")?
                .execute([entry.seq])?;
        }
        if let Some(text) = entry.now {
            insert(
                &tx,
                entry.seq,
                text.content.as_deref(),
                text.file_name.as_deref(),
            )?;
        }
    }
    tx.prepare_cached("UPDATE state SET indexed = ?1 WHERE id = 1")?
        .execute([last])?;
    tx.commit()?;
    Ok((Status::Indexed(last), full))
}

fn insert(
    conn: &Connection,
    seq: i64,
    content: Option<&str>,
    file_name: Option<&str>,
) -> rusqlite::Result<()> {
    for table in [
        "INSERT INTO messages_words (rowid, content, file_name) VALUES (?1, ?2, ?3)",
        "INSERT INTO messages_parts (rowid, content, file_name) VALUES (?1, ?2, ?3)",
    ] {
        conn.prepare_cached(table)?
            .execute(params![seq, content, file_name])?;
    }
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
        let index = open_or_reset(&path_for(&c.path)).unwrap();
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
            ("UPDATE state SET source = source + 1", "another database's"),
        ] {
            index.execute(change, []).unwrap();
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
        assert!(is_damage(&rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None
        )));
    }
}
