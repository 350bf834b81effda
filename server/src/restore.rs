//! `clinic-server restore FILE`: puts a backup (`clinic-server backup --to FILE`) in place as
//! the data folder's database, safely. Copying a backup over `clinic.db` by hand after a crash
//! leaves the crash's write-ahead log beside it, which SQLite then replays onto the wrong
//! database; here the old database and its log are moved aside first, the backup is checked
//! before it is copied and the copy after it is in place (and upgraded, if it is older), and
//! the server must be stopped (the folder's lock says whether it is).

use crate::config::db_path;
use crate::datadir::{self, database_files};
use crate::store::{self, marker};
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
    #[error("the restored database failed its check ({0}); the previous one is kept aside")]
    Check(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
    let what = what.into();
    move |source| RestoreError::Io { what, source }
}

/// Checks that `file` is a sound clinic database; returns its last change sequence.
fn check_backup(file: &Path) -> Result<i64, RestoreError> {
    let bad = |why: String| RestoreError::BadBackup(file.to_path_buf(), why);
    if !file.is_file() {
        return Err(bad("no such file".into()));
    }
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| bad(e.to_string()))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check(5)")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .filter(|line| line != "ok")
        .collect();
    if !problems.is_empty() {
        return Err(bad(format!("damaged: {}", problems.join("; "))));
    }
    marker::committed(&conn).map_err(|_| bad("not a clinic database".into()))
}

/// Restores `backup` (and `backup.files/` if it exists) into `data_dir`. Refuses while a server
/// holds the folder. The database that was there, with its log, is moved into a
/// `before-restore-<time>` folder, never deleted.
pub fn restore(data_dir: &Path, backup: &Path) -> Result<Restored, RestoreError> {
    let last_change = check_backup(backup)?;
    datadir::prepare(data_dir)?;
    let _held = datadir::hold(data_dir)?;

    // Out of the way first: the database and, above all, its log and shared memory, which
    // belong to it and would be replayed onto the restored copy.
    // The check's notes describe the database that goes aside, so they go with it.
    // So does the search index, built from the database it belonged to.
    let present: Vec<PathBuf> = database_files(data_dir)
        .into_iter()
        .chain(store::search_index::files(&db_path(data_dir)))
        .chain([store::search_index::damage_note(&db_path(data_dir))])
        .chain([
            store::check::damage_note(&db_path(data_dir)),
            store::check::unchecked_note(&db_path(data_dir)),
        ])
        .filter(|p| p.exists())
        .collect();
    let previous = if present.is_empty() {
        None
    } else {
        let aside = data_dir.join(format!(
            "before-restore-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        datadir::private_dir(&aside).map_err(io(format!("creating {}", aside.display())))?;
        for path in present {
            let name = path.file_name().unwrap_or_default();
            std::fs::rename(&path, aside.join(name))
                .map_err(io(format!("moving {} aside", path.display())))?;
        }
        Some(aside)
    };

    // Copied under a temp name, synced, then renamed into place: never a half database.
    let db = db_path(data_dir);
    let partial = db.with_extension("db.restoring");
    {
        let mut out = datadir::private_file(&partial, true)
            .map_err(io(format!("creating {}", partial.display())))?;
        let mut input =
            std::fs::File::open(backup).map_err(io(format!("reading {}", backup.display())))?;
        std::io::copy(&mut input, &mut out)
            .map_err(io(format!("copying to {}", partial.display())))?;
        out.sync_all()
            .map_err(io(format!("syncing {}", partial.display())))?;
    }
    std::fs::rename(&partial, &db).map_err(io(format!("moving {} into place", db.display())))?;
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }

    // The result, opened the way the server opens it (an older backup's schema is brought up
    // to date here, after `check_backup` checked the backup as it was made), must pass the
    // server's own check.
    let conn = store::open_write_checked(&db, crate::Synchronous::Full)
        .map_err(|e| RestoreError::Check(e.to_string()))?;
    store::check::check(&db, &conn).map_err(|failed| RestoreError::Check(failed.detail()))?;
    let count = |table: &str| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| RestoreError::Check(e.to_string()))
    };
    let (users, messages) = (count("users")?, count("messages")?);
    // The database now legitimately stands where the backup stood.
    marker::write(&db, last_change).map_err(io("writing the commit marker"))?;
    drop(conn);

    let mut files_from = backup.as_os_str().to_owned();
    files_from.push(".files");
    let files_from = PathBuf::from(files_from);
    let files_copied = if files_from.is_dir() {
        crate::files::restore(&files_from, data_dir)
            .map_err(io(format!("copying files from {}", files_from.display())))?
    } else {
        0
    };
    Ok(Restored {
        users,
        messages,
        last_change,
        previous,
        files_copied,
    })
}
