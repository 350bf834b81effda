//! The start-up check for damage (`PRAGMA quick_check`): before serving where it is quick or
//! matters most, otherwise while serving, and the notes it leaves for the next start.
//!
//! Why not always before serving: the check reads the whole file (about 4 s for 1.2 GB, a
//! million messages, on the benchmark machine), and a clinic whose server restarts after a crash
//! must be able to raise and hear emergencies again within seconds. So a start checks before it
//! serves when:
//! - the database and its log are at most `check_before_serving_bytes` (a check of about a
//!   second);
//! - its schema needs upgrading (the upgrade rewrites tables before anything else runs), or its
//!   version cannot even be read;
//! - an earlier check found it damaged (`clinic.damaged` beside it): it stays refused until a
//!   check passes (or `restore` puts a backup in its place);
//! - an earlier check while serving gave no verdict (`clinic.unchecked` beside it: the server
//!   stopped or crashed before the check ended, or the check could not run). So a database that
//!   makes the server crash during its check is checked first on the next start.
//!
//! Otherwise the start leaves `clinic.unchecked`, and the check reads a snapshot on a read-only
//! connection of its own while the server serves. A pass removes the note. Damage (or a read
//! error from the disk) makes the server log what is wrong, leave `clinic.damaged` and stop with
//! the same sentence a refusal before serving gives. What was written in between went into that
//! database; SQLite refuses a write only where it notices the damage.

use super::schema;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The note a failed check leaves beside the database `db`.
pub(crate) fn damage_note(db: &Path) -> PathBuf {
    db.with_file_name("clinic.damaged")
}

/// The note a check while serving leaves beside the database `db` until its verdict.
pub(crate) fn unchecked_note(db: &Path) -> PathBuf {
    db.with_file_name("clinic.unchecked")
}

/// `PRAGMA quick_check`: empty when the database is sound, else what is wrong (a few lines).
fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// Whether the database `db`, open on `conn`, is checked before the server serves it (see the
/// module's comment); `limit` is `Config::check_before_serving_bytes`.
pub(crate) fn before_serving(db: &Path, conn: &Connection, limit: u64) -> bool {
    let earlier = [damage_note(db), unchecked_note(db)];
    if let Some(note) = earlier.iter().find(|note| note.exists()) {
        tracing::warn!(
            note = %note.display(),
            "an earlier check found the database damaged or gave no verdict: checking it before \
             serving"
        );
        return true;
    }
    // Unreadable: the check says why, in the sentence a damaged database gets.
    schema::needs_upgrade(conn).unwrap_or(true) || size(db) <= limit
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
    /// What is wrong with the file (or the disk under it).
    Damaged(String),
    /// The check could not run (busy, stopped): no verdict.
    Error(rusqlite::Error),
    /// Its note could not be written.
    Note(std::io::Error),
}

impl Failed {
    /// The sentence for people: what is wrong, or why the check could not tell.
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::Damaged(detail) => detail.clone(),
            Self::Error(err) => err.to_string(),
            Self::Note(err) => format!("cannot write the check's note: {err}"),
        }
    }
}

impl From<rusqlite::Error> for Failed {
    fn from(err: rusqlite::Error) -> Self {
        if matches!(
            err.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase | ErrorCode::SystemIoFailure)
        ) {
            Self::Damaged(err.to_string())
        } else {
            Self::Error(err)
        }
    }
}

/// Checks the database on `conn`. A pass removes the notes of earlier checks (the database was
/// repaired or replaced by other means than `restore`, or the last check had no verdict).
pub(crate) fn check(db: &Path, conn: &Connection) -> Result<(), Failed> {
    let problems = quick_check(conn)?;
    if !problems.is_empty() {
        return Err(Failed::Damaged(problems.join("; ")));
    }
    for note in [damage_note(db), unchecked_note(db)] {
        match std::fs::remove_file(&note) {
            Ok(()) => tracing::info!(note = %note.display(), "the database passes its check"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(error = %err, note = %note.display(), "cannot remove"),
        }
    }
    Ok(())
}

/// Writes `line` (with the time) to `note`, privately and durably.
fn write_note(note: &Path, line: &str) -> std::io::Result<()> {
    let mut file = crate::datadir::private_file(note, true)?;
    writeln!(file, "{}: {line}", chrono::Utc::now().to_rfc3339())?;
    file.sync_all()
}

/// The check a start left to run while the server serves, on a read-only connection of its own.
pub(crate) struct WhileServing {
    db: PathBuf,
    conn: Connection,
    stop: Arc<AtomicBool>,
}

impl WhileServing {
    /// Opens the connection and leaves `clinic.unchecked` until the verdict.
    pub(crate) fn open(db: &Path) -> Result<Self, Failed> {
        write_note(&unchecked_note(db), "checking while serving").map_err(Failed::Note)?;
        let mut conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        // Polled every thousand steps of the check, so a stop asked for before the check
        // started is not lost (an interrupt is, when no statement runs yet).
        conn.progress_handler(1_000, Some(move || stopping.load(Ordering::Relaxed)))?;
        Ok(Self {
            db: db.to_path_buf(),
            conn,
            stop,
        })
    }

    /// Set when the server stops: the check ends without a verdict.
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Runs the check (a snapshot: sends go on meanwhile). Damage is logged, noted beside the
    /// database (so the next start refuses it before serving) and returned. A check that cannot
    /// run is logged and leaves `clinic.unchecked`, so the next start checks first; stopping
    /// the clinic for it now would do more harm.
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
            Err(Failed::Error(_) | Failed::Note(_)) if self.stop.load(Ordering::Relaxed) => {
                tracing::info!(
                    "the database check stopped with the server; the next start checks first"
                );
                return Ok(());
            }
            Err(failed @ (Failed::Error(_) | Failed::Note(_))) => {
                tracing::error!(
                    error = %failed.detail(),
                    "could not check the database while serving; the next start checks it first"
                );
                return Ok(());
            }
            Err(Failed::Damaged(detail)) => detail,
        };
        tracing::error!(%detail, database = %self.db.display(), "the database is damaged: stopping");
        let note = damage_note(&self.db);
        if let Err(err) = write_note(&note, &detail) {
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
        assert!(before_serving(&db, &conn, 0));
        schema::migrate(&mut conn).unwrap();
        assert!(!schema::needs_upgrade(&conn).unwrap());
        // Up to the limit first, past it while serving.
        let bytes = size(&db);
        assert!(bytes > 0);
        assert!(before_serving(&db, &conn, bytes));
        assert!(!before_serving(&db, &conn, bytes - 1));
        // A note of earlier damage, or of a check without a verdict: first again, until a check
        // passes.
        for note in [damage_note(&db), unchecked_note(&db)] {
            std::fs::write(&note, "earlier").unwrap();
            assert!(before_serving(&db, &conn, 0));
            check(&db, &conn).unwrap();
            assert!(!note.exists());
            assert!(!before_serving(&db, &conn, 0));
        }
    }

    /// A database file of schema `version` with a table of `rows` rows of 500 bytes.
    fn database_of(version: usize, rows: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clinic.db");
        let mut conn = Connection::open(&db).unwrap();
        schema::migrate_to(&mut conn, version).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE filler (v TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO filler SELECT printf('%0500d', i) FROM n;"
        ))
        .unwrap();
        (dir, db)
    }

    /// Every opening for writing (the CLI, `restore`) checks a database before upgrading it:
    /// a damaged one is refused with a sentence and left as it was.
    #[test]
    fn a_damaged_database_is_not_upgraded() {
        let (_dir, db) = database_of(19, 200);
        let mut bytes = std::fs::read(&db).unwrap();
        let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
        let pages = bytes.len() / page;
        assert!(pages > 20, "{pages} pages");
        // The filler's last pages scribbled over.
        for byte in &mut bytes[(pages - 4) * page..(pages - 1) * page] {
            *byte = 0x5a;
        }
        std::fs::write(&db, &bytes).unwrap();

        let err = crate::store::open_write(&db, crate::Synchronous::Full)
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not pass the check before it"), "{err}");
        assert!(err.contains("clinic-server restore"), "{err}");
        let conn = Connection::open(&db).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 19, "not upgraded");
    }

    #[test]
    fn a_check_while_serving_leaves_a_note_until_its_verdict_and_stops_when_asked() {
        // Enough pages for the check to take more than one progress interval.
        let (_dir, db) = database_of(schema::latest(), 2000);
        let later = WhileServing::open(&db).unwrap();
        assert!(unchecked_note(&db).exists());
        later.run().unwrap();
        assert!(!unchecked_note(&db).exists(), "a pass removes it");

        // Asked to stop before it began: no verdict, the note stays for the next start.
        let later = WhileServing::open(&db).unwrap();
        later.stop_flag().store(true, Ordering::Relaxed);
        later.run().unwrap();
        assert!(unchecked_note(&db).exists());
        assert!(!damage_note(&db).exists());
    }
}
