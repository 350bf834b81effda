//! `clinic-server restore FILE`: puts a backup (`clinic-server backup --to FILE`) in place as
//! the data folder's database, safely. Copying a backup over `clinic.db` by hand after a crash
//! leaves the crash's write-ahead log beside it, which SQLite then replays onto the wrong
//! database. Here everything that can fail happens before the database in place is touched:
//! the backup is checked, copied through SQLite (with any log beside it, so what was checked is
//! what is copied), brought up to date and checked again in a staging folder, and its files
//! are copied (checked against their hashes); only then is the old database, with its log,
//! moved into a folder of its own and the new one renamed into place. The server must be
//! stopped (the folder's lock says whether it is).

use crate::config::db_path;
use crate::datadir::{self, database_files};
use crate::store::{self, marker};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub users: i64,
    pub messages: i64,
    /// The last change sequence of the restored database.
    pub last_change: i64,
    /// Where the database that was there before went (None: there was none).
    pub previous: Option<PathBuf>,
    /// Files copied from the backup's `FILE.files/` folder.
    pub files_copied: u64,
    /// Attachments the restored database names that neither the backup's folder nor the data
    /// folder holds (their messages stay; downloading them answers "not found").
    pub files_missing: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0} is not a usable backup: {1}")]
    BadBackup(PathBuf, String),
    #[error(transparent)]
    Server(#[from] crate::ServerError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "not enough free space in {dir}: the restore needs {needed} MB and {free} MB are free; \
         nothing was changed"
    )]
    Space {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
    let what = what.into();
    move |source| RestoreError::Io { what, source }
}

/// Room left beside what a restore writes (SQLite's log while upgrading, the server's start).
const SPARE_BYTES: u64 = 64 * 1024 * 1024;

/// Opens `file` read-only if it is a sound clinic database that is not the data folder's own;
/// returns the connection and its last change sequence.
fn check_backup(file: &Path, data_dir: &Path) -> Result<(rusqlite::Connection, i64), RestoreError> {
    let bad = |why: &str| RestoreError::BadBackup(file.to_path_buf(), why.to_owned());
    match std::fs::metadata(file) {
        Err(_) => return Err(bad("no such file")),
        Ok(meta) if !meta.is_file() => return Err(bad("not a regular file")),
        Ok(_) => {}
    }
    let own = std::fs::canonicalize(db_path(data_dir)).ok();
    if own.is_some() && std::fs::canonicalize(file).ok() == own {
        return Err(bad(
            "it is this data folder's own database (restore a copy made by `backup --to`)",
        ));
    }
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| bad(&e.to_string()))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check(5)")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| bad(&e.to_string()))?
        .into_iter()
        .filter(|line| line != "ok")
        .collect();
    if !problems.is_empty() {
        return Err(bad(&format!("damaged: {}", problems.join("; "))));
    }
    let last = marker::committed(&conn).map_err(|_| bad("not a clinic database"))?;
    Ok((conn, last))
}

/// A folder of the data folder that is new (never one that exists: two restores in one
/// second must not share one, or the second would move its database over the first's).
fn new_folder(data_dir: &Path, prefix: &str) -> Result<PathBuf, RestoreError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    for n in 0..1000 {
        let name = match n {
            0 => format!("{prefix}-{stamp}"),
            n => format!("{prefix}-{stamp}-{n}"),
        };
        let dir = data_dir.join(name);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(format!("creating {}", dir.display()))(e)),
        }
    }
    Err(RestoreError::Io {
        what: format!("creating a {prefix} folder in {}", data_dir.display()),
        source: std::io::ErrorKind::AlreadyExists.into(),
    })
}

/// The staging folder: removed when the restore ends, whichever way.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes staging folders a restore that was killed left behind (the folder's lock is held,
/// so no restore is using one).
fn remove_old_staging(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with("restoring-")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn ensure_space(data_dir: &Path, needed: u64) -> Result<(), RestoreError> {
    let needed = needed.saturating_add(SPARE_BYTES);
    match datadir::free_bytes(data_dir) {
        Some(free) if free < needed => Err(RestoreError::Space {
            dir: data_dir.to_path_buf(),
            needed: needed.div_ceil(1 << 20),
            free: free / (1 << 20),
        }),
        _ => Ok(()),
    }
}

/// The backup, copied through SQLite, upgraded and checked in `staging`: returns the staged
/// database's counts and the hashes of the files it names.
fn stage(
    backup: &Path,
    conn: rusqlite::Connection,
    staged: &Path,
) -> Result<(i64, i64, HashSet<String>), RestoreError> {
    let bad = |why: String| RestoreError::BadBackup(backup.to_path_buf(), why);
    // Through the checked connection, so a log beside the backup (a copy of a folder taken
    // after a crash) is part of the copy, as it was part of the check.
    drop(
        datadir::private_file(staged, true)
            .map_err(io(format!("creating {}", staged.display())))?,
    );
    conn.execute("VACUUM INTO ?1", [staged.to_string_lossy()])
        .map_err(|e| io(format!("copying {}", backup.display()))(std::io::Error::other(e)))?;
    drop(conn);
    // Opened the way the server opens it (an older backup's schema is brought up to date
    // here), it must pass the server's own check.
    let first_line = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        let line = text.lines().next().unwrap_or_default();
        line.chars().take(300).collect::<String>()
    };
    let conn = store::open_write_checked(staged, crate::Synchronous::Full).map_err(|e| {
        bad(format!(
            "it cannot be brought up to date: {}",
            first_line(&e)
        ))
    })?;
    store::check::check(staged, &conn).map_err(|failed| {
        bad(format!(
            "after its upgrade it fails the check: {}",
            failed.detail()
        ))
    })?;
    let count = |table: &str| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| bad(first_line(&e)))
    };
    let (users, messages) = (count("users")?, count("messages")?);
    let wanted = conn
        .prepare("SELECT DISTINCT sha256 FROM uploads")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<HashSet<_>>>()
        })
        .map_err(|e| bad(first_line(&e)))?;
    // Everything into the database file itself: only that file is moved into place.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| io(format!("writing {}", staged.display()))(std::io::Error::other(e)))?;
    conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get::<_, String>(0))
        .map_err(|e| io(format!("writing {}", staged.display()))(std::io::Error::other(e)))?;
    drop(conn);
    std::fs::File::open(staged)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", staged.display())))?;
    Ok((users, messages, wanted))
}

/// Restores `backup` (and the files of `backup.files/` its database names) into `data_dir`.
/// Refuses while a server holds the folder. Nothing in the data folder changes until the
/// restored database has passed its checks and its files are copied; then the database that
/// was there, with its log, is moved into a new `before-restore-<time>` folder, never deleted.
pub fn restore(data_dir: &Path, backup: &Path) -> Result<Restored, RestoreError> {
    let (conn, last_change) = check_backup(backup, data_dir)?;
    datadir::prepare(data_dir)?;
    let _held = datadir::hold(data_dir)?;
    remove_old_staging(data_dir);

    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = backup.as_os_str().to_owned();
    wal.push("-wal");
    ensure_space(data_dir, size(backup) + size(Path::new(&wal)))?;
    let staging = Staging(new_folder(data_dir, "restoring")?);
    let staged = staging.0.join("clinic.db");
    let (users, messages, wanted) = stage(backup, conn, &staged)?;

    let mut files_from = backup.as_os_str().to_owned();
    files_from.push(".files");
    let files_from = PathBuf::from(files_from);
    let files = crate::files::to_restore(&files_from, data_dir, &wanted)
        .map_err(io(format!("reading {}", files_from.display())))?;
    ensure_space(data_dir, files.bytes)?;
    let files_copied = crate::files::restore(&files, data_dir)
        .map_err(io(format!("copying files from {}", files_from.display())))?;

    // Out of the way now: the database and, above all, its log and shared memory, which
    // belong to it and would be replayed onto the restored copy. The check's notes describe
    // the database that goes aside, so they go with it; so does the search index, built from
    // the database it belonged to.
    let db = db_path(data_dir);
    let present: Vec<PathBuf> = database_files(data_dir)
        .into_iter()
        .chain(store::search_index::files(&db))
        .chain([store::search_index::damage_note(&db)])
        .chain([
            store::check::damage_note(&db),
            store::check::unchecked_note(&db),
        ])
        .filter(|p| p.exists())
        .collect();
    let previous = if present.is_empty() {
        None
    } else {
        let aside = new_folder(data_dir, "before-restore")?;
        // Its attachments go with it (links, as `clinic.db.files/`), so that restoring
        // `before-restore-TIME/clinic.db` puts it back whole after the restored database's
        // sweeps removed the files only it named.
        let aside_files = aside.join("clinic.db.files");
        if let Err(e) = crate::files::link_all(data_dir, &aside_files) {
            let _ = std::fs::remove_dir_all(&aside);
            return Err(io(format!(
                "linking the attachments into {}",
                aside_files.display()
            ))(e));
        }
        let mut moved = Vec::new();
        for path in present {
            let to = aside.join(path.file_name().unwrap_or_default());
            if let Err(e) = std::fs::rename(&path, &to) {
                put_back(&moved);
                return Err(io(format!("moving {} aside", path.display()))(e));
            }
            moved.push((path, to));
        }
        Some((aside, moved))
    };
    if let Err(e) = std::fs::rename(&staged, &db) {
        if let Some((_, moved)) = &previous {
            put_back(moved);
        }
        return Err(io(format!(
            "moving the restored database to {}",
            db.display()
        ))(e));
    }
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    // The database now legitimately stands where the backup stood.
    marker::write(&db, last_change).map_err(io("writing the commit marker"))?;
    Ok(Restored {
        users,
        messages,
        last_change,
        previous: previous.map(|(aside, _)| aside),
        files_copied,
        files_missing: files.missing,
    })
}

/// Moves what was moved aside back where it was (a restore that failed at the last step).
fn put_back(moved: &[(PathBuf, PathBuf)]) {
    for (from, to) in moved.iter().rev() {
        if let Err(e) = std::fs::rename(to, from) {
            tracing::error!(error = %e, from = %to.display(), to = %from.display(), "cannot put back");
        }
    }
}
