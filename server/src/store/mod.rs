//! Storage: SQLite in WAL mode, one writer thread with group commit, a small pool of read-only
//! connections used off the async runtime.

pub(crate) mod budget;
pub(crate) mod care;
pub(crate) mod changes;
pub(crate) mod check;
pub(crate) mod checkpoint;
pub(crate) mod counts;
pub(crate) mod emergencies;
mod error;
pub(crate) mod marker;
pub(crate) mod messages;
pub(crate) mod notifications;
mod ops;
pub(crate) use ops::Queued;
pub(crate) mod peers;
pub(crate) mod projection;
pub(crate) mod read_marks;
pub(crate) mod receipts;
pub(crate) mod retention;
pub(crate) mod rows;
pub(crate) mod schema;
pub(crate) mod search;
pub(crate) mod search_index;
pub(crate) mod tokens;
pub(crate) mod uploads;
pub(crate) mod users;
pub(crate) mod versions;
pub(crate) mod views;
pub(crate) mod writer;

use crate::config::Synchronous;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use error::StoreError;
pub(crate) use schema::latest as schema_versions;
pub(crate) use writer::{Seqs, Writer};

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements a write connection keeps. rusqlite keeps 16 by default; the writer runs
/// more than that between sends, receipts, emergencies, audit rows, notifications and the
/// checks before them, and a statement pushed out is compiled again on its next use.
const STATEMENT_CACHE: usize = 64;

/// Opens (creating if needed, private) the database for writing and brings its schema up to
/// date. A database that needs an upgrade is checked first, as a serving start does
/// (`open_serving`): an upgrade writes to it (v20 rewrites the message table), and must neither
/// build on damaged pages nor free them unseen. A new, empty database passes at once.
pub(crate) fn open_write(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = open_private(path)?;
    if schema::needs_upgrade(&conn)? {
        check::check(path, &conn).map_err(|failed| match failed {
            check::Failed::Error(err) => err,
            other => rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!(
                    "the database needs a schema upgrade and did not pass the check before it: \
                     {}; restore the latest backup (`clinic-server restore`)",
                    other.detail()
                )),
            ),
        })?;
    }
    prepare(conn, synchronous)
}

/// [`open_write`] for a database its caller has just checked as a whole (`restore` runs
/// `PRAGMA integrity_check` on the backup it copies in): the check before an upgrade would read
/// every page again.
pub(crate) fn open_write_checked(
    path: &Path,
    synchronous: Synchronous,
) -> rusqlite::Result<Connection> {
    prepare(open_private(path)?, synchronous)
}

/// Opens the database, creating it as a private (0600) file if there is none; SQLite gives its
/// log and shared-memory files the same permissions.
fn open_private(path: &Path) -> rusqlite::Result<Connection> {
    // Every command that opens the clinic's database comes here: none may open (or create) one
    // in a folder a restore left half swapped, whose database and log may be apart.
    if let Some(interrupted) = path.parent().and_then(crate::restore::interrupted) {
        let folder = path.parent().unwrap_or(path);
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(interrupted.sentence(folder)),
        ));
    }
    if !path.exists()
        && let Err(err) = crate::datadir::private_file(path, false)
    {
        tracing::warn!(error = %err, path = %path.display(), "cannot create the database file");
    }
    stable_plans(Connection::open(path)?)
}

/// Opens the database the server is to serve: refuses a damaged one (`PRAGMA quick_check`,
/// before anything is written to it, or while serving for a large one: see `check`) and
/// reports, loudly, committed changes that are missing (the database is behind its marker: a
/// damaged log, or an older copy put in place). Returns the check left for while serving, if any.
pub(crate) fn open_serving(
    path: &Path,
    synchronous: Synchronous,
    check_before_serving_bytes: u64,
) -> Result<(Connection, Option<check::WhileServing>), crate::ServerError> {
    let conn = open_private(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let damaged = |failed: check::Failed| crate::ServerError::Damaged {
        path: path.to_path_buf(),
        detail: failed.detail(),
    };
    let later = if check::before_serving(path, &conn, check_before_serving_bytes) {
        None
    } else {
        match check::WhileServing::open(path) {
            Ok(later) => {
                tracing::info!(
                    mib = check::size(path) >> 20,
                    "checking the database (PRAGMA quick_check) while serving: it is larger \
                     than --check-before-serving-mib"
                );
                Some(later)
            }
            Err(failed @ check::Failed::Damaged(_)) => return Err(damaged(failed)),
            Err(failed) => {
                tracing::warn!(
                    error = %failed.detail(),
                    "cannot check the database while serving: checking it first"
                );
                None
            }
        }
    };
    if later.is_none() {
        let checking = std::time::Instant::now();
        check::check(path, &conn).map_err(damaged)?;
        slow_start_step(checking, "checked the database (PRAGMA quick_check)");
    }
    let preparing = std::time::Instant::now();
    let conn = prepare(conn, synchronous)?;
    slow_start_step(preparing, "brought the schema up to date and moved the log");
    let missing = marker::missing(path, &conn)?;
    if missing > 0 {
        tracing::error!(
            missing,
            database = %path.display(),
            "the database is behind its last committed change: changes that were acknowledged \
             are missing (the write-ahead log was damaged or cut short, or an older copy of the \
             database was put in place without `clinic-server restore`). Serving what is there; \
             restore the latest backup if they matter"
        );
    }
    Ok((conn, later))
}

/// Logs how long a step before serving took: at `info`, or at `warn` past a second, so that a
/// slow start (a large database to check, a long log to move) is explained in the log clinic IT
/// reads.
fn slow_start_step(began: std::time::Instant, what: &str) {
    let took = began.elapsed();
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    if took > Duration::from_secs(1) {
        tracing::warn!(ms, "{what} before serving; it took more than a second");
    } else {
        tracing::info!(ms, "{what}");
    }
}

/// Configures a write connection (WAL, durability, foreign keys) and migrates its schema.
fn prepare(mut conn: Connection, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite refused WAL mode");
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Before `temp_store`: an upgrade that rebuilds a table sorts its indexes and journals its
    // pages in temp storage as large as the table, which belongs in files, not in memory.
    let upgrading = schema::needs_upgrade(&conn)?;
    let from = schema::version(&conn)?;
    schema::migrate(&mut conn)?;
    if upgrading {
        // Clinic IT compares these with a release's notes (and a backup's own version).
        let to = schema::version(&conn)?;
        if from == 0 {
            tracing::debug!(to, "made the database schema");
        } else {
            tracing::info!(from, to, "upgraded the database schema");
        }
        // An upgrade that rewrote a table left a log as large as the table; copied back now, the
        // log file starts over small instead of keeping that size on disk while the server runs.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    // Every command runs in its own savepoint, whose undo copies (the statement journal) would
    // otherwise spill to temp files after 64 KiB: one temp-file write per page per command, more
    // bytes than the WAL itself. In memory they are a memcpy, freed at each commit.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Sends a stopped (or killed) server logged and had not moved yet, a slice per transaction:
    // a kill in between keeps what has moved.
    let mut rows = 0;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let moved = projection::apply(&tx, REPLAY_SLICE)?;
        tx.commit()?;
        match moved {
            Some(moved) => rows += moved.rows,
            None => break,
        }
    }
    if rows > 0 {
        tracing::info!(
            rows,
            "moved the log (sends and receipts) into the message table"
        );
    }
    Ok(conn)
}

/// Rows per transaction when a database is opened with sends waiting in its log.
const REPLAY_SLICE: i64 = 4096;

fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // The search index (its own file, kept by its own thread) is read as the schema `search`,
    // read-only like the connection.
    let index = search_index::path_for(path);
    if index.exists() {
        conn.execute("ATTACH DATABASE ?1 AS search", [index.to_string_lossy()])?;
    }
    // Readers run every read of every feature (a sync page alone is up to six statements): with
    // rusqlite's default of 16 cached statements they would prepare some again on each call.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A further connection to a database `open_write` made (readers, the checkpoint thread).
fn open_existing(path: &Path, access: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = stable_plans(Connection::open_with_flags(
        path,
        access | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Turns on SQLite's query planner stability guarantee: a statement keeps the plan it was
/// prepared with whatever values are bound to it. Without it, SQLite marks a statement to be
/// prepared again when some bound values change: a `LIMIT ?` (whose value it compiles in) and,
/// in a query it plans with `ORDER BY` or a join, a `column = ?` of any type (it asks whether
/// the value is -1, 0 or 1). rusqlite clears the bindings of every statement it puts back in its
/// cache, and SQLite takes that as such a change: each of those statements was compiled anew on
/// every use (a read mark's lookup: 14% of the writer's time under load, docs/benchmarks.md).
/// Our plans come from the indexes and are checked by tests, not chosen by the values. Tests
/// that check plans on a connection of their own turn it on too.
pub(crate) fn stable_plans(conn: Connection) -> rusqlite::Result<Connection> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// Read-only connections, reused. In WAL mode readers never wait for the writer, except to have
/// sends that wait in the send log moved into the message table first.
#[derive(Debug)]
pub(crate) struct Reads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    writer: Writer,
    progress: Arc<projection::Progress>,
}

impl Reads {
    pub(crate) fn new(path: PathBuf, max_idle: usize, writer: Writer) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
            progress: writer.progress(),
            writer,
        })
    }

    /// Runs `f` on a blocking thread inside one read transaction (one consistent snapshot) that
    /// sees every message acknowledged before this call.
    ///
    /// `f` may fail with any error a [`StoreError`] converts into (the store's own failures here
    /// become that error too).
    pub(crate) async fn run<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        if self.progress.pending() {
            // A command that does not log: its batch moves the whole log first.
            self.writer
                .run_validated(|_, _| Ok::<_, StoreError>(()))
                .await?;
        }
        self.run_without_log(f).await
    }

    /// Like [`Reads::run`] without moving the send log first, for reads of nothing it holds (no
    /// message, notification or search row): accounts, sessions, uploads (a logged retraction
    /// deletes its message's uploads in its own commit), `/healthz`. They then neither wait for
    /// the writer nor fail with it.
    pub(crate) async fn run_without_log<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = this.take()?;
            let result = (|| {
                let tx = conn
                    .unchecked_transaction()
                    .map_err(|e| E::from(e.into()))?;
                let value = f(&tx)?;
                tx.finish().map_err(|e| E::from(e.into()))?;
                Ok(value)
            })();
            this.give(conn);
            result
        })
        .await
        .map_err(|_| E::from(StoreError::internal("read task failed")))?
    }

    /// A read-only connection of the caller's own, outside the pool (for a long pass that sets
    /// a progress handler on it).
    pub(crate) fn open_own(&self) -> Result<Connection, StoreError> {
        Ok(open_read(&self.path)?)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => Ok(open_read(&self.path)?),
        }
    }

    fn give(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
    }
}

/// The storage handle shared by every request: the writer and the read pool.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) writer: Writer,
    pub(crate) reads: Arc<Reads>,
    pub(crate) search: search_index::SearchIndex,
    /// Receipt ids queued with the writer, across the server ([`budget`]).
    pub(crate) receipt_ids: budget::Budget,
    /// Pages of messages (history, sync) being read or waiting for their audit row ([`budget`]).
    pub(crate) pages: budget::Budget,
    /// Refusals past their account's rate, held to be written as counts.
    pub(crate) refusals: Arc<crate::audit::refusals::Refusals>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rusqlite::{StatementStatus, params};

    /// Statements SQLite would otherwise prepare again whenever the cache lends them with new
    /// values are compiled once, on the writer's connection and on a reader's
    /// (`stable_plans`): the log's move with its `LIMIT ?` and a read mark's lookup (`column =
    /// ?` under `ORDER BY`).
    #[test]
    fn cached_statements_are_compiled_once_whatever_is_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = open_write(&path, Synchronous::Full).unwrap();
        let reader = open_read(&path).unwrap();
        let (limited, ordered) = (projection::SLICE_END, receipts::UNREAD_STORED);
        for (name, conn) in [("writer", &writer), ("reader", &reader)] {
            // Runs and compilations so far (opening the writer moved the empty log once).
            let status = |sql: &str| {
                let stmt = conn.prepare_cached(sql).unwrap();
                let runs = stmt.get_status(StatementStatus::Run);
                (runs, stmt.get_status(StatementStatus::RePrepare))
            };
            let before = [limited, ordered].map(status);
            for round in 0..5_i64 {
                let end: Option<i64> = conn
                    .prepare_cached(limited)
                    .unwrap()
                    .query_row([round + 1], |r| r.get(0))
                    .unwrap();
                assert_eq!(end, None);
                let who = format!("u{round}");
                let rows = conn
                    .prepare_cached(ordered)
                    .unwrap()
                    .query_map(params![who, who, who, round + 10, round], |r| {
                        r.get::<_, String>(0)
                    })
                    .unwrap()
                    .count();
                assert_eq!(rows, 0);
            }
            let after = [limited, ordered].map(status);
            let added: Vec<_> = before
                .iter()
                .zip(&after)
                .map(|(b, a)| (a.0 - b.0, a.1 - b.1))
                .collect();
            assert_eq!(added, [(5, 0), (5, 0)], "{name}: runs, compiled again");
        }
    }

    /// Queries meant to read a partial index read it, also now that its condition cannot be
    /// matched against a bound value (`stable_plans`): each spells the condition as a literal.
    #[test]
    fn queries_of_partial_indexes_use_them() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
            let steps = stmt
                .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
                .unwrap();
            steps.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        for (sql, index) in [
            (uploads::SWEEP_UNATTACHED, "uploads_unattached"),
            (retention::HELD, "holds_patient"),
            (
                emergencies::transitions::ALERTED,
                "emergency_transitions_alerted",
            ),
            (
                emergencies::transitions::COUNT_ALERTED,
                "emergency_transitions_alerted",
            ),
        ] {
            let plan = plan(sql);
            assert!(plan.contains(&format!("INDEX {index} ")), "{sql}: {plan}");
        }
    }
}
