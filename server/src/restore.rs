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
use crate::datadir;
use crate::store::{self, marker};
use clinic_protocol::text::for_terminal;
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
    /// What became of the clinic CA kept beside the backup.
    pub ca: crate::tls::keep::Restored,
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
    /// A note of an interrupted restore that cannot be read (the sentence says what to do).
    #[error("{0}")]
    Note(String),
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

/// Opens `file` read-only if it is a sound clinic database that is not the data folder's own.
fn check_backup(file: &Path, data_dir: &Path) -> Result<rusqlite::Connection, RestoreError> {
    let bad = |why: &str| RestoreError::BadBackup(file.to_path_buf(), why.to_owned());
    let meta = match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(bad("no such file")),
        Err(e) => return Err(bad(&format!("it cannot be read ({e})"))),
        Ok(meta) if !meta.is_file() => return Err(bad("not a regular file")),
        Ok(meta) => meta,
    };
    // The same file, by any name (a link, a hard link): read without its log, and moved aside
    // before it was read, it would be lost.
    if std::fs::metadata(db_path(data_dir)).is_ok_and(|own| same_file(&own, &meta)) {
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
    marker::committed(&conn).map_err(|_| bad("not a clinic database"))?;
    Ok(conn)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// A folder of the data folder that is new (never one that exists: two restores in one
/// second must not share one, or the second would move its database over the first's).
fn new_folder(data_dir: &Path, prefix: &str) -> Result<PathBuf, RestoreError> {
    new_folder_at(data_dir, prefix, chrono::Utc::now())
}

fn new_folder_at(
    data_dir: &Path,
    prefix: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PathBuf, RestoreError> {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
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
/// Removes `before-restore` folders with no database in them: what a restore killed after it
/// made one and before its note leaves (nothing, or links to attachments the data folder
/// holds). Only without a note: with one, its folder is being filled.
fn remove_stray_folders(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let named = entry
            .file_name()
            .to_string_lossy()
            .starts_with("before-restore-");
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let holds_database = datadir::sqlite_files(&path.join("clinic.db"))
            .iter()
            .any(|p| std::fs::symlink_metadata(p).is_ok());
        // A CA moved aside with a database is kept even if the database was taken elsewhere.
        let holds_ca = crate::tls::keep::beside(&path.join("clinic.db")).exists();
        if named && is_dir && !holds_database && !holds_ca {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

pub(crate) fn remove_old_staging(data_dir: &Path) {
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

/// What the staged copy holds.
struct Staged {
    users: i64,
    messages: i64,
    /// Its last change sequence, read from the copy itself (what was copied, not what was seen
    /// before).
    last_change: i64,
    /// The hashes of the files it names.
    wanted: HashSet<String>,
}

/// The backup, copied through SQLite, upgraded and checked at `staged`.
fn stage(backup: &Path, conn: rusqlite::Connection, staged: &Path) -> Result<Staged, RestoreError> {
    let bad = |why: String| RestoreError::BadBackup(backup.to_path_buf(), why);
    // Through the checked connection, so a log beside the backup (a copy of a folder taken
    // after a crash) is part of the copy, as it was part of the check.
    drop(
        datadir::private_file(staged, true)
            .map_err(io(format!("creating {}", staged.display())))?,
    );
    let target = staged.to_str().ok_or_else(|| {
        io(format!("copying {}", backup.display()))(std::io::Error::other(
            "the data folder's path is not UTF-8",
        ))
    })?;
    conn.execute("VACUUM INTO ?1", [target])
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
    let last_change = marker::committed(&conn).map_err(|e| bad(first_line(&e)))?;
    let names = |sql: &str| {
        conn.prepare(sql)
            .and_then(|mut stmt| {
                stmt.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<HashSet<_>>>()
            })
            .map_err(|e| bad(first_line(&e)))
    };
    let wanted = names("SELECT DISTINCT sha256 FROM uploads")?;
    // The server reads and removes files by these names: any that is not a hash could name a
    // file anywhere (`../../tls/ca.key`), so such a backup is no clinic's.
    let doomed = names("SELECT DISTINCT sha256 FROM doomed_files")?;
    if let Some(odd) = wanted
        .iter()
        .chain(&doomed)
        .find(|n| !crate::files::is_content_name(n))
    {
        return Err(bad(format!(
            "it names a file by something that is not a content hash ({})",
            for_terminal(&odd.chars().take(80).collect::<String>())
        )));
    }
    // Everything into the database file itself: only that file is moved into place.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| io(format!("writing {}", staged.display()))(std::io::Error::other(e)))?;
    conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get::<_, String>(0))
        .map_err(|e| io(format!("writing {}", staged.display()))(std::io::Error::other(e)))?;
    drop(conn);
    std::fs::File::open(staged)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", staged.display())))?;
    Ok(Staged {
        users,
        messages,
        last_change,
        wanted,
    })
}

/// Restores `backup` (and the files of `backup.files/` its database names) into `data_dir`.
/// Refuses while a server holds the folder. Nothing in the data folder changes until the
/// restored database has passed its checks and its files are copied; then the database that
/// was there, with its log, is moved into a new `before-restore-<time>` folder, never deleted.
pub fn restore(data_dir: &Path, backup: &Path) -> Result<Restored, RestoreError> {
    restore_until(data_dir, backup, None)
}

/// [`restore`], stopping (as a kill would) after `killed_after` steps of the move, for the
/// tests of what every such stop leaves.
fn restore_until(
    data_dir: &Path,
    backup: &Path,
    killed_after: Option<usize>,
) -> Result<Restored, RestoreError> {
    let conn = check_backup(backup, data_dir)?;
    // Its CA too, before anything changes: a database restored under another CA leaves every
    // paired app refused.
    let kept_ca = crate::tls::keep::read_kept(backup)
        .map_err(|e| RestoreError::BadBackup(backup.to_path_buf(), e.to_string()))?;
    datadir::prepare(data_dir)?;
    let _held = datadir::hold_alone(data_dir)?;
    // A note this program did not write is refused before anything is copied in.
    if let Some(unreadable @ Interrupted::Unreadable(_)) = interrupted(data_dir) {
        return Err(RestoreError::Note(unreadable.sentence(data_dir)));
    }
    remove_old_staging(data_dir);
    if interrupted(data_dir).is_none() {
        remove_stray_folders(data_dir);
    }

    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = backup.as_os_str().to_owned();
    wal.push("-wal");
    ensure_space(data_dir, size(backup) + size(Path::new(&wal)))?;
    let staging = Staging(new_folder(data_dir, "restoring")?);
    let staged = staging.0.join("clinic.db");
    let Staged {
        users,
        messages,
        last_change,
        wanted,
    } = stage(backup, conn, &staged)?;

    let mut files_from = backup.as_os_str().to_owned();
    files_from.push(".files");
    let files_from = PathBuf::from(files_from);
    let files = crate::files::to_restore(&files_from, data_dir, &wanted)
        .map_err(io(format!("reading {}", files_from.display())))?;
    ensure_space(data_dir, files.bytes)?;
    let files_copied = crate::files::restore(&files, data_dir)
        .map_err(io(format!("copying files from {}", files_from.display())))?;

    // The backup's CA is written whole before anything moves, and put in place while the
    // restore's note stands (a kill then leaves a half-done restore, which nothing serves and
    // the next restore finishes). The folder's own goes with the database moved aside (as
    // `clinic.db.tls/`, where a backup keeps it), so that restoring that database brings it back.
    let staged_ca = match &kept_ca {
        Some(kept) => crate::tls::keep::stage(data_dir, kept)
            .map_err(io("writing the clinic CA kept with the backup".to_owned()))?,
        None => false,
    };
    let mut ca = if kept_ca.is_some() {
        crate::tls::keep::Restored::Same
    } else {
        crate::tls::keep::Restored::NoneKept
    };
    let mut put_ca = |aside: Option<&Path>| -> Result<(), RestoreError> {
        if !staged_ca {
            return Ok(());
        }
        ca = crate::tls::keep::put_in_place(data_dir, || match aside {
            Some(aside) => Ok(crate::tls::keep::beside(&aside.join("clinic.db"))),
            None => new_folder(data_dir, "tls-before-restore")
                .map(|dir| dir.join("tls"))
                .map_err(|e| match e {
                    RestoreError::Io { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                }),
        })
        .map_err(io(
            "putting the clinic CA in place (the restore is half done: run it again to finish)"
                .to_owned(),
        ))?;
        Ok(())
    };
    let previous = swap(
        data_dir,
        &staging.0,
        &staged,
        last_change,
        killed_after,
        &mut put_ca,
    )?;
    Ok(Restored {
        users,
        messages,
        last_change,
        previous,
        files_copied,
        files_missing: files.missing,
        ca,
    })
}

/// The note a restore keeps while it moves databases, naming the folder (of the data folder)
/// the old one goes to: while it exists the data folder is half swapped, nothing opens its
/// database (`serve`, the other commands: `store::open_private`), and the next `restore`
/// finishes the move before it puts its own copy in place.
fn note_path(data_dir: &Path) -> PathBuf {
    data_dir.join("clinic.restoring")
}

/// A restore interrupted (killed, a power loss) while it moved databases: the folder the
/// database that was there goes to, or why the note cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    Aside(PathBuf),
    /// A note that is not one this program wrote (it writes whole notes only).
    Unreadable(String),
}

impl Interrupted {
    /// What to tell someone who wants to use the folder.
    pub fn sentence(&self, data_dir: &Path) -> String {
        let folder = data_dir.display();
        match self {
            Interrupted::Aside(aside) => format!(
                "a restore into {folder} was interrupted; nothing opens a database half put in \
                 place. Run `clinic-server --data-dir {folder} restore FILE` again (any backup) \
                 to finish; the database that was there is in {} (or, the part not moved yet, \
                 still in {folder})",
                aside.display()
            ),
            Interrupted::Unreadable(why) => format!(
                "{folder} holds a note of an interrupted restore that cannot be read ({why}); \
                 nothing opens the database until it is gone. Find the newest \
                 before-restore-* folder: a clinic.db, clinic.db-wal or clinic.db-shm in the data \
                 folder and one in that folder belong together; put them in one place, then \
                 delete clinic.restoring"
            ),
        }
    }
}

/// The interrupted restore whose note is in `data_dir`, if any.
pub fn interrupted(data_dir: &Path) -> Option<Interrupted> {
    let note = note_path(data_dir);
    let meta = std::fs::symlink_metadata(&note).ok()?;
    if !meta.is_file() || meta.len() > 1024 {
        return Some(Interrupted::Unreadable(
            "not a note this program wrote".into(),
        ));
    }
    let text = match std::fs::read_to_string(&note) {
        Ok(text) => text,
        Err(e) => return Some(Interrupted::Unreadable(e.to_string())),
    };
    let name = text.trim_end_matches('\n');
    // Only a folder of the data folder, by the name a restore gives it.
    let plain = !name.is_empty()
        && name.starts_with("before-restore-")
        && !name.contains(['/', '\\'])
        && name != "."
        && name != "..";
    let aside = data_dir.join(name);
    let is_dir = std::fs::symlink_metadata(&aside).is_ok_and(|m| m.is_dir());
    if plain && is_dir {
        Some(Interrupted::Aside(aside))
    } else {
        Some(Interrupted::Unreadable(format!(
            "it names {:?}, which is not a before-restore folder here",
            clinic_protocol::text::for_terminal(&name.chars().take(80).collect::<String>())
        )))
    }
}

/// Writes the note whole or not at all: a temp file, synced, renamed into place.
fn write_note(data_dir: &Path, aside: &Path) -> std::io::Result<()> {
    let name = aside
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("the folder's name is not UTF-8"))?;
    let temp = data_dir.join("clinic.restoring.tmp");
    let _ = std::fs::remove_file(&temp);
    let written = (|| {
        let mut file = datadir::private_file(&temp, true)?;
        std::io::Write::write_all(&mut file, format!("{name}\n").as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, note_path(data_dir))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    sync_dir(data_dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// What belongs to the database in place and goes aside with it: its log and shared memory
/// above all (they would be replayed onto the restored copy), the check's notes and the commit
/// marker (they describe it), and the search index (built from it).
fn belonging(db: &Path) -> Vec<PathBuf> {
    crate::datadir::sqlite_files(db)
        .into_iter()
        .chain(store::search_index::files(db))
        .chain([
            store::search_index::damage_note(db),
            store::check::damage_note(db),
            store::check::unchecked_note(db),
            marker::path(db),
        ])
        .filter(|p| p.exists())
        .collect()
}

/// Moves the database in place (if any) into a new `before-restore` folder with its
/// attachments (kept in `staging` first; a folder a kill leaves before the note holds no
/// database, and the next restore removes it), and `staged` into its place; or finishes the
/// move an interrupted restore began. Returns the folder the old database went to.
fn swap(
    data_dir: &Path,
    staging: &Path,
    staged: &Path,
    last_change: i64,
    killed_after: Option<usize>,
    before_done: &mut dyn FnMut(Option<&Path>) -> Result<(), RestoreError>,
) -> Result<Option<PathBuf>, RestoreError> {
    let mut steps = 0;
    let mut killed = || {
        steps += 1;
        killed_after.is_some_and(|k| steps > k)
    };
    let db = db_path(data_dir);
    let present = belonging(&db);
    let aside = match interrupted(data_dir) {
        Some(Interrupted::Aside(aside)) => Some(aside),
        Some(unreadable) => return Err(RestoreError::Note(unreadable.sentence(data_dir))),
        None if present.is_empty() => None,
        None => {
            // Its attachments go with it (as `clinic.db.files/`), so that restoring
            // `before-restore-TIME/clinic.db` puts it back whole after the restored
            // database's sweeps removed the files only it named.
            let kept = staging.join("clinic.db.files");
            crate::files::keep_all(data_dir, &kept)
                .map_err(io(format!("keeping the attachments in {}", kept.display())))?;
            if killed() {
                return Ok(None);
            }
            let aside = new_folder(data_dir, "before-restore")?;
            if killed() {
                return Ok(None);
            }
            let noted = std::fs::rename(&kept, aside.join("clinic.db.files"))
                .and_then(|()| write_note(data_dir, &aside));
            if let Err(e) = noted {
                let _ = std::fs::remove_file(note_path(data_dir));
                let _ = std::fs::remove_dir_all(&aside);
                return Err(io("writing the restore's note")(e));
            }
            if killed() {
                return Ok(Some(aside));
            }
            Some(aside)
        }
    };
    let half = |what: String| {
        let place = match &aside {
            Some(aside) => format!("; the database that was there is in {}", aside.display()),
            None => String::new(),
        };
        io(format!(
            "{what} (the restore is half done: run it again to finish{place})"
        ))
    };
    if let Some(aside) = &aside {
        // The database goes last (its log first): once it stands in the folder, whatever of a
        // database is still here is the interrupted restore's copy.
        let old_all_moved = aside.join("clinic.db").exists();
        for path in present {
            let to = aside.join(path.file_name().unwrap_or_default());
            if to.exists() || old_all_moved {
                // Moved there already by the restore that was interrupted: what stands here now
                // is that restore's copy, which this one replaces.
                std::fs::remove_file(&path)
                    .map_err(half(format!("removing {}", path.display())))?;
            } else {
                std::fs::rename(&path, &to)
                    .map_err(half(format!("moving {} aside", path.display())))?;
            }
            if killed() {
                return Ok(Some(aside.clone()));
            }
        }
        sync_dir(aside);
    }
    if killed() {
        return Ok(aside);
    }
    std::fs::rename(staged, &db).map_err(half(format!(
        "moving the restored database to {}",
        db.display()
    )))?;
    sync_dir(data_dir);
    if killed() {
        return Ok(aside);
    }
    // The database now legitimately stands where the backup stood.
    marker::write(&db, last_change).map_err(half("writing the commit marker".into()))?;
    if killed() {
        return Ok(aside);
    }
    // What goes with the database (its CA) goes before the note does.
    before_done(aside.as_deref())?;
    match std::fs::remove_file(note_path(data_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(half("removing the restore's note".into())(e));
        }
        _ => sync_dir(data_dir),
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_folder_is_always_new_even_within_one_second() {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let first = new_folder_at(dir.path(), "before-restore", now).unwrap();
        let second = new_folder_at(dir.path(), "before-restore", now).unwrap();
        let third = new_folder_at(dir.path(), "before-restore", now).unwrap();
        assert_ne!(first, second);
        assert!(
            second.to_string_lossy().ends_with("-1"),
            "{}",
            second.display()
        );
        assert!(
            third.to_string_lossy().ends_with("-2"),
            "{}",
            third.display()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&second).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
    }

    /// A database whose last 300 commits are only in its log, as a crash leaves one.
    fn crashed_database(data_dir: &Path) {
        let source = tempfile::tempdir().unwrap();
        let db = source.path().join("clinic.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute("CREATE TABLE old (n INTEGER)", []).unwrap();
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)", []).ok();
        for n in 0..300 {
            conn.execute("INSERT INTO old VALUES (?1)", [n]).unwrap();
        }
        // Copied while it is open: the log is not folded in, as after a kill.
        for name in ["clinic.db", "clinic.db-wal"] {
            std::fs::copy(source.path().join(name), data_dir.join(name)).unwrap();
        }
        drop(conn);
    }

    /// The rows of the crashed database, read through whatever log lies beside it.
    fn old_rows(db: &Path) -> Option<i64> {
        // Read-only: never a file made, nor the log folded in by the reading.
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        conn.query_row("SELECT count(*) FROM old", [], |r| r.get(0))
            .ok()
    }

    /// A kill after every step of the move: the folder is either as it was, or refused by
    /// everything that opens it until a restore finishes the move; never is the old database
    /// apart from its log, and after the next restore it is whole in its folder.
    #[test]
    fn a_kill_at_any_step_loses_nothing_and_the_next_restore_finishes() {
        use crate::tls::pki::{TlsPaths, ensure_ca};
        let backups = tempfile::tempdir().unwrap();
        let backup = backups.path().join("backup.db");
        drop(store::open_write(&backup, crate::Synchronous::Full).unwrap());
        // The backup keeps its clinic's CA; each folder has a CA of its own.
        let clinic = tempfile::tempdir().unwrap();
        let kept_pem = ensure_ca(&TlsPaths::new(clinic.path())).unwrap().cert_pem;
        assert!(crate::tls::keep::backup(clinic.path(), &backup).unwrap());
        let pem = |dir: &Path| std::fs::read_to_string(TlsPaths::new(dir).ca_cert()).ok();
        let mut stops = 0;
        for killed_after in 0.. {
            let data = tempfile::tempdir().unwrap();
            crashed_database(data.path());
            let own_pem = ensure_ca(&TlsPaths::new(data.path())).unwrap().cert_pem;
            let db = db_path(data.path());
            restore_until(data.path(), &backup, Some(killed_after)).unwrap();
            let done = interrupted(data.path()).is_none()
                && old_rows(&db).is_none()
                && marker::read(&db).is_some();
            // Whatever the kill left that a start would serve has a CA, and the one that goes
            // with its database: a start never makes a new one.
            if interrupted(data.path()).is_none() {
                let expected = if done { &kept_pem } else { &own_pem };
                assert_eq!(
                    pem(data.path()).as_ref(),
                    Some(expected),
                    "step {killed_after}"
                );
            }
            match interrupted(data.path()) {
                Some(Interrupted::Aside(_)) => {
                    let refused = store::open_write(&db, crate::Synchronous::Full).unwrap_err();
                    assert!(refused.to_string().contains("was interrupted"), "{refused}");
                    assert!(datadir::check_database(data.path(), false).is_err());
                }
                Some(other) => panic!("step {killed_after}: {other:?}"),
                // Not begun, or done.
                None if !done => assert_eq!(old_rows(&db), Some(300), "step {killed_after}"),
                None => {}
            }
            let again = restore(data.path(), &backup).unwrap();
            assert!(interrupted(data.path()).is_none());
            let folders: Vec<PathBuf> = std::fs::read_dir(data.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("before-restore")
                })
                .collect();
            // Done, the next restore moved the restored copy aside too; else only the old one
            // (a folder a kill left empty is gone).
            assert_eq!(
                folders.len(),
                if done { 2 } else { 1 },
                "step {killed_after}: {folders:?}"
            );
            let old: Vec<&PathBuf> = folders
                .iter()
                .filter(|f| old_rows(&f.join("clinic.db")) == Some(300))
                .collect();
            assert_eq!(
                old.len(),
                1,
                "step {killed_after}: the old database, whole, once"
            );
            // It had no commit marker: none of the restored copy's went in with it.
            assert!(!old[0].join("clinic.seq").exists(), "step {killed_after}");
            // Its CA went with it; the backup's is in place.
            let beside = crate::tls::keep::beside(&old[0].join("clinic.db"));
            assert_eq!(
                std::fs::read_to_string(beside.join("ca.pem")).ok().as_ref(),
                Some(&own_pem),
                "step {killed_after}"
            );
            assert_eq!(
                pem(data.path()).as_ref(),
                Some(&kept_pem),
                "step {killed_after}"
            );
            assert!(again.previous.is_some());
            assert_eq!(old_rows(&db), None, "the backup is in place");
            stops += 1;
            if done {
                break;
            }
        }
        assert!(stops > 6, "every step was tried: {stops}");
    }
}
