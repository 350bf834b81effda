//! The start-up check for damage (`PRAGMA quick_check`): before serving where it is quick or
//! matters most, otherwise while serving, and the note a failed check leaves for the next start.
//!
//! Why not always before serving: the check reads the whole file (about 4 s for 1.2 GB, a
//! million messages, on the benchmark machine), and a clinic whose server restarts after a crash
//! must be able to raise and hear emergencies again within seconds. So a start checks before it
//! serves when:
//! - the database and its log are at most `check_before_serving_bytes` (a check of about a
//!   second);
//! - its schema needs upgrading (the upgrade rewrites tables before anything else runs);
//! - a check found it damaged before (`clinic.damaged` beside it): it stays refused until a
//!   check passes (or `restore` puts a backup in its place).
//!
//! Otherwise the check reads a snapshot on a read-only connection of its own while the server
//! serves. If it finds damage, the server logs what is wrong, leaves `clinic.damaged` and stops
//! with the same sentence a refusal before serving gives. What was written in between went into
//! that damaged database; SQLite refuses a write that touches a damaged page by itself.

use super::schema;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The note a failed check leaves beside the database `db`.
pub(crate) fn damage_note(db: &Path) -> PathBuf {
    db.with_file_name("clinic.damaged")
}

/// `PRAGMA quick_check`: empty when the database is sound, else what is wrong (a few lines).
pub(crate) fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// Whether the database `db`, open on `conn`, is checked before the server serves it (see the
/// module's comment); `limit` is `Config::check_before_serving_bytes`.
pub(crate) fn before_serving(db: &Path, conn: &Connection, limit: u64) -> rusqlite::Result<bool> {
    if damage_note(db).exists() || schema::needs_upgrade(conn)? {
        return Ok(true);
    }
    Ok(size(db) <= limit)
}

/// Bytes of the database and its write-ahead log.
pub(crate) fn size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Why a check did not pass.
#[derive(Debug)]
pub(crate) enum Failed {
    /// What is wrong with the file.
    Damaged(String),
    /// The check could not run (busy, unreadable): no verdict.
    Error(rusqlite::Error),
}

impl Failed {
    /// The sentence for people: what is wrong, or why the check could not tell.
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::Damaged(detail) => detail.clone(),
            Self::Error(err) => err.to_string(),
        }
    }
}

impl From<rusqlite::Error> for Failed {
    fn from(err: rusqlite::Error) -> Self {
        if matches!(
            err.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        ) {
            Self::Damaged(err.to_string())
        } else {
            Self::Error(err)
        }
    }
}

/// Checks the database on `conn`. A pass removes the damage note of an earlier check (the
/// database was repaired or replaced by other means than `restore`).
pub(crate) fn check(db: &Path, conn: &Connection) -> Result<(), Failed> {
    let problems = quick_check(conn)?;
    if !problems.is_empty() {
        return Err(Failed::Damaged(problems.join("; ")));
    }
    let note = damage_note(db);
    if note.exists() {
        match std::fs::remove_file(&note) {
            Ok(()) => tracing::warn!(
                note = %note.display(),
                "the database an earlier check found damaged passes the check now"
            ),
            Err(err) => tracing::warn!(error = %err, note = %note.display(), "cannot remove"),
        }
    }
    Ok(())
}

/// The check a start left to run while the server serves, on a read-only connection of its own.
pub(crate) struct WhileServing {
    db: PathBuf,
    conn: Connection,
}

impl WhileServing {
    pub(crate) fn open(db: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(Self {
            db: db.to_path_buf(),
            conn,
        })
    }

    /// Stops a running check (the server is stopping): it ends without a verdict.
    pub(crate) fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }

    /// Runs the check (a snapshot: sends go on meanwhile). Damage is noted beside the database,
    /// so that the next start refuses it before serving, and returned. A check that cannot run
    /// (not a sign of damage) is logged and counts as passed: stopping the clinic for it would
    /// do more harm.
    pub(crate) fn run(self) -> Result<(), String> {
        let began = Instant::now();
        let detail = match check(&self.db, &self.conn) {
            Ok(()) => {
                let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    ms,
                    "checked the database (PRAGMA quick_check) while serving"
                );
                return Ok(());
            }
            Err(Failed::Error(err))
                if err.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) =>
            {
                tracing::info!("the database check stopped with the server");
                return Ok(());
            }
            Err(Failed::Error(err)) => {
                tracing::error!(error = %err, "could not check the database while serving");
                return Ok(());
            }
            Err(Failed::Damaged(detail)) => detail,
        };
        let note = damage_note(&self.db);
        let written = crate::datadir::private_file(&note, true).and_then(|mut f| {
            writeln!(f, "{}: {detail}", chrono::Utc::now().to_rfc3339())?;
            f.sync_all()
        });
        if let Err(err) = written {
            tracing::error!(error = %err, note = %note.display(), "cannot note the damage");
        }
        Err(detail)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn what_is_checked_before_serving() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clinic.db");
        let mut conn = Connection::open(&db).unwrap();
        // A schema to upgrade: always first, however large.
        assert!(before_serving(&db, &conn, 0).unwrap());
        schema::migrate(&mut conn).unwrap();
        assert!(!schema::needs_upgrade(&conn).unwrap());
        // Up to the limit first, past it while serving.
        let bytes = size(&db);
        assert!(bytes > 0);
        assert!(before_serving(&db, &conn, bytes).unwrap());
        assert!(!before_serving(&db, &conn, bytes - 1).unwrap());
        // A note of earlier damage: first again, until a check passes.
        std::fs::write(damage_note(&db), "damaged").unwrap();
        assert!(before_serving(&db, &conn, 0).unwrap());
        check(&db, &conn).unwrap();
        assert!(!damage_note(&db).exists());
        assert!(!before_serving(&db, &conn, 0).unwrap());
    }
}
