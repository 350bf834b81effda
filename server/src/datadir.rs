//! The data folder as a whole: private to the account that runs the server (folder 0700, files
//! 0600), held by one server at a time (a lock file), never silently replaced by a new empty
//! clinic (a database must exist unless `--init`), and put back from a backup by `restore`.

use crate::config::db_path;
use crate::error::ServerError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file a running server holds.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("clinic.lock")
}

/// The lock file the commands other than `serve` share and `restore` holds alone: a command
/// that opened the database before a restore began cannot go on writing to it after the
/// restore moved it aside.
pub fn commands_lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("clinic.commands.lock")
}

/// Creates `dir` (and its parents) if needed and makes it private (0700).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // An existing folder (made by an older version, or by hand) is tightened too.
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Opens `path` for writing, creating it private (0600) if it does not exist.
pub fn private_file(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Opens a file a command writes health data into (a backup's copy): a new one is created
/// private (0600); an existing one is used only if it is a plain file of this account with no
/// other name, and is made private: never a link, never another account's file (its owner would
/// keep reading it), never one hard-linked elsewhere.
pub fn own_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        options.mode(0o600).custom_flags(
            // A link fails (ELOOP); a FIFO does not hold the command up.
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
        );
        let file = options.open(path).map_err(|e| {
            if is_link_refused(&e) {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "it is a symbolic link: give the path of a new file",
                )
            } else {
                e
            }
        })?;
        let meta = file.metadata()?;
        let refuse = |why: &str| {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{why}: give the path of a new file"),
            ))
        };
        if !meta.is_file() {
            return refuse("it is not a plain file");
        }
        if meta.uid() != rustix::process::geteuid().as_raw() {
            return refuse("it belongs to another account, who could read the copy");
        }
        if meta.nlink() > 1 {
            return refuse("it has other names (hard links) the copy could be read through");
        }
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Refuses a backup's destination that is part of the data folder being backed up, or of
/// another clinic's (its database, the database's log, the search index, a lock, anything in
/// its folders: writing the copy there destroys what it copies, a live database among them), or
/// an existing file that is not an earlier backup (a clinic database: another program's
/// database is no more ours to overwrite than a text file). A destination in a folder that
/// does not exist is left to the open to report.
pub fn check_backup_destination(data_dir: &Path, to: &Path) -> std::io::Result<()> {
    let refuse = |why: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{why}: give the path of a new file, outside the data folder's own files"),
        ))
    };
    let own_file = "it is one of a data folder's own files (the database, its log or a lock)";
    let Some(name) = to.file_name() else {
        return refuse("it names no file");
    };
    let parent = match to.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // In any case: a file system that ignores it has `Clinic.DB` for `clinic.db`.
    let name_text = name.to_string_lossy().to_lowercase();
    let clinic_name = name_text.starts_with("clinic.") || name_text.starts_with("search.");
    if let (Ok(data), Ok(parent)) = (
        std::fs::canonicalize(data_dir),
        std::fs::canonicalize(parent),
    ) && let Ok(within) = parent.join(name).strip_prefix(&data)
    {
        let first = within
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let own_folder = ["files", "uploads-tmp", "tls"].contains(&first.as_str())
            || first.starts_with("before-restore-")
            || first.starts_with("tls-before-restore-")
            || first.starts_with("tls.restoring");
        if within.components().count() > 1 && own_folder {
            return refuse("it is inside one of the data folder's own folders");
        }
        if clinic_name {
            return refuse(own_file);
        }
    }
    // Another clinic's data folder (one a server or a command has used, or that holds a
    // clinic's folders), and any clinic database named as a data folder names its own: never
    // an earlier backup to write over, however it looks.
    let data_folder = [
        "clinic.lock",
        "clinic.commands.lock",
        "clinic.seq",
        "files",
        "tls",
        "uploads-tmp",
    ]
    .iter()
    .any(|f| parent.join(f).exists());
    if clinic_name && (data_folder || (name_text == "clinic.db" && is_clinic_database(to))) {
        return refuse(own_file);
    }
    // The same files by another name (a bind mount of the folder, a file system that ignores
    // case): the database and the search index are SQLite files like any earlier backup.
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(to) {
        use std::os::unix::fs::MetadataExt;
        let db = db_path(data_dir);
        let own = [crate::store::search_index::path_for(&db), db];
        if own
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .any(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()))
        {
            return refuse(own_file);
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(to)
        && meta.is_file()
        && meta.len() > 0
        && !is_clinic_database(to)
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is a file that is not an earlier backup (not a clinic database): give the path \
             of a new file",
        ));
    }
    Ok(())
}

/// Whether `path` is a clinic database (an earlier backup): SQLite, with the clinic's tables
/// (those every version had).
/// Read only; a file that is not SQLite is not one.
fn is_clinic_database(path: &Path) -> bool {
    let mut head = [0u8; 16];
    let read = File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    if read.is_err() || &head != b"SQLite format 3\0" {
        return false;
    }
    // Immutable: SQLite opens no log or shared memory beside it (a link planted there is
    // neither followed nor created). The path's bytes, percent-encoded where a URI needs it,
    // from one leading slash (two would name a host).
    let Ok(full) = std::path::absolute(path) else {
        return false;
    };
    let mut uri = String::from("file:/");
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(full.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = full.to_string_lossy().into_owned().into_bytes();
    for &b in bytes.iter().skip_while(|&&b| b == b'/') {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    ) else {
        return false;
    };
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
         AND name IN ('users', 'messages')",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n == 2)
}

/// Makes `dir` (a backup's `FILE.files/`) a private folder of this account: created if missing;
/// an existing one only if it is a folder of this account, never a link (whose target would be
/// made 0700 and filled with health data) nor another account's folder.
pub fn own_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let meta = std::fs::symlink_metadata(dir)?;
        let refuse = |why: &str| {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{} {why}: give the path of a new file", dir.display()),
            ))
        };
        if meta.file_type().is_symlink() {
            return refuse("is a symbolic link");
        }
        if !meta.is_dir() {
            return refuse("is not a folder");
        }
        if meta.uid() != rustix::process::geteuid().as_raw() {
            return refuse("belongs to another account, who could read the copies");
        }
    }
    private_dir(dir)
}

/// Whether `path` (not followed if a link) is the file `file` has open.
pub fn is_same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// Makes an existing file private (0600); a missing one is fine.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o777 != 0o600 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Bytes free for unprivileged use on the filesystem holding `dir` (None when unknown).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    fs4::available_space(dir).ok()
}

/// The database and the files SQLite keeps beside it.
pub(crate) fn database_files(data_dir: &Path) -> [PathBuf; 3] {
    sqlite_files(&db_path(data_dir))
}

/// The SQLite file `db` and its write-ahead log and shared memory, log first.
pub(crate) fn sqlite_files(db: &Path) -> [PathBuf; 3] {
    let beside = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [beside("-wal"), beside("-shm"), db.to_path_buf()]
}

/// Makes the data folder private, its database files and stored attachments 0600 (they may
/// predate this version).
pub fn prepare(data_dir: &Path) -> Result<(), ServerError> {
    prepare_folder(data_dir)?;
    crate::files::make_private(data_dir);
    Ok(())
}

/// [`prepare`] but for the stored attachments, whose walk grows with them (a stat of each, from
/// the disk after a reboot): a server's start does that while it serves.
pub(crate) fn prepare_folder(data_dir: &Path) -> Result<(), ServerError> {
    let failed = |source| ServerError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    private_dir(data_dir).map_err(failed)?;
    let index = crate::store::search_index::files(&db_path(data_dir));
    for path in database_files(data_dir).into_iter().chain(index) {
        make_private(&path).map_err(failed)?;
    }
    Ok(())
}

/// True when the data folder holds a database (a file with something in it).
pub fn has_database(data_dir: &Path) -> bool {
    std::fs::metadata(db_path(data_dir)).is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// Refuses a data folder without a database unless `init` (a wrong `--data-dir`, or a lost
/// database, must not quietly become a new empty clinic), and one a restore was interrupted in.
pub fn check_database(data_dir: &Path, init: bool) -> Result<(), ServerError> {
    refuse_half_restored(data_dir)?;
    if init || has_database(data_dir) {
        Ok(())
    } else {
        Err(ServerError::NoDatabase {
            path: data_dir.to_path_buf(),
        })
    }
}

/// Refuses, before anything is made or listens (a certificate authority among them), a database
/// the server would refuse once open: one that is no SQLite database at all, another program's
/// (no clinic schema, tables of its own), or one a newer clinic-server made. Nothing is written.
pub fn check_schema(data_dir: &Path) -> Result<(), ServerError> {
    if !has_database(data_dir) {
        return Ok(());
    }
    let path = db_path(data_dir);
    let damaged = |detail: &str| ServerError::Damaged {
        path: path.clone(),
        detail: detail.to_owned(),
    };
    // What this cannot open or read (a file of another account's, a lock) is left to the checks
    // after it, which say what to do about that: only what it recognises is refused here.
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Ok(());
    };
    let version = match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
        Ok(version) => version,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(damaged("it is not a database"));
        }
        Err(_) => return Ok(()),
    };
    let known = crate::store::schema_versions();
    if usize::try_from(version).map_or(true, |v| v > known) {
        return Err(ServerError::NewerSchema {
            path,
            found: version,
            known,
        });
    }
    if version == 0 {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' \
             ORDER BY name LIMIT 6",
        )?;
        let tables = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if !tables.is_empty() {
            let mut named = tables
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if tables.len() > 5 {
                named.push_str(", ...");
            }
            return Err(ServerError::NotClinicDatabase {
                path,
                tables: format!("the tables {named}"),
            });
        }
    }
    Ok(())
}

/// Refuses a data folder a restore was interrupted in (the note says where the old database
/// went; see `restore::interrupted`).
pub fn refuse_half_restored(data_dir: &Path) -> Result<(), ServerError> {
    match crate::restore::interrupted(data_dir) {
        Some(interrupted) => Err(ServerError::RestoreInterrupted(
            interrupted.sentence(data_dir),
        )),
        None => Ok(()),
    }
}

/// Creates an empty clinic database in the data folder if it has none (`clinic-server init`,
/// the first step of a new installation). Returns whether one was created.
pub fn init(data_dir: &Path) -> Result<bool, ServerError> {
    refuse_half_restored(data_dir)?;
    prepare(data_dir)?;
    if has_database(data_dir) {
        return Ok(false);
    }
    crate::store::open_write(&db_path(data_dir), crate::Synchronous::Full)?;
    Ok(true)
}

/// The data folder held by this process: while it lives, no other server and no `restore`
/// can use the folder. Released when dropped or when the process ends, however it ends.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

/// Takes the data folder's lock, or says that another process holds it.
pub fn hold(data_dir: &Path) -> Result<Held, ServerError> {
    let path = lock_path(data_dir);
    let mut file = lock_file(data_dir, &path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(ServerError::InUse {
                path: data_dir.to_path_buf(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(ServerError::DataDir { path, source });
        }
    }
    // For people looking: which process holds it.
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(Held { _file: file })
}

/// Opens a lock file of the data folder, creating it if missing. Never through a link (the
/// service account could point one at a file root would then create or truncate), and only a
/// plain file with one name. A lock needs no write access, so an existing one is opened for
/// writing where that is allowed (the server notes its process id in `clinic.lock`), else
/// read-only: a file another account left still locks. Root gives the folder's owner a lock
/// file it creates, and one left by another account (an earlier root run), so the service
/// account can use it after.
fn lock_file(data_dir: &Path, path: &Path) -> Result<File, ServerError> {
    let failed = |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    let not_owner = || ServerError::NotOwner {
        path: data_dir.to_path_buf(),
        file: path.to_path_buf(),
    };
    let open = |write: bool, create: bool| {
        let mut options = OpenOptions::new();
        options.read(true).write(write);
        if create {
            options.create_new(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // No link followed; a FIFO put there does not hold the command up.
            options.mode(0o600).custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            );
        }
        options.open(path).map_err(|e| {
            if is_link_refused(&e) {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "it is a symbolic link (remove it; it is made again)",
                )
            } else {
                e
            }
        })
    };
    let (file, created) = match open(true, false).or_else(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => open(false, false),
        _ => Err(e),
    }) {
        Ok(file) => (file, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match open(true, true) {
            Ok(file) => (file, true),
            // Another command made it a moment ago.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                (open(false, false).map_err(failed)?, false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(not_owner()),
            Err(e) => return Err(failed(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(not_owner()),
        Err(e) => return Err(failed(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().map_err(failed)?;
        if !meta.is_file() || meta.nlink() != 1 {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a plain file with one name (remove it; it is made again)",
            )));
        }
        if rustix::process::geteuid().is_root()
            && let Ok(folder) = std::fs::metadata(data_dir)
            && folder.uid() != 0
            && (created || meta.uid() != folder.uid())
        {
            let owner = (
                rustix::fs::Uid::from_raw(folder.uid()),
                rustix::fs::Gid::from_raw(folder.gid()),
            );
            if let Err(e) = rustix::fs::fchown(&file, Some(owner.0), Some(owner.1)) {
                // Not left behind as root's for the service account to trip on.
                if created {
                    let _ = std::fs::remove_file(path);
                }
                return Err(failed(e.into()));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = created;
    Ok(file)
}

/// Whether an open failed because `O_NOFOLLOW` met a link (ELOOP).
fn is_link_refused(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// A command (`user`, `backup`, `audit`, ...) using the data folder: while it lives, no
/// `restore` can begin; several commands (and a server) share the folder. A folder that does
/// not exist yet is not locked (the command finds no database there and says so).
#[derive(Debug)]
pub struct Shared {
    _file: Option<File>,
}

/// Shares the data folder with other commands, or says that a restore is running in it.
pub fn share(data_dir: &Path) -> Result<Shared, ServerError> {
    if !data_dir.is_dir() {
        return Ok(Shared { _file: None });
    }
    let path = commands_lock_path(data_dir);
    let file = lock_file(data_dir, &path)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Shared { _file: Some(file) }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Restoring {
            path: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::DataDir { path, source }),
    }
}

/// The data folder held for a restore: no server ([`hold`]) and no other command ([`share`]).
#[derive(Debug)]
pub struct HeldAlone {
    _server: Held,
    _commands: File,
}

/// Takes both of the data folder's locks, or says who holds one.
pub fn hold_alone(data_dir: &Path) -> Result<HeldAlone, ServerError> {
    let server = hold(data_dir)?;
    let path = commands_lock_path(data_dir);
    let file = lock_file(data_dir, &path)?;
    match file.try_lock() {
        Ok(()) => Ok(HeldAlone {
            _server: server,
            _commands: file,
        }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::CommandRunning {
            path: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::DataDir { path, source }),
    }
}

/// Like [`hold`], but waits up to `patience` for a server that is still stopping (a restart)
/// to let go.
pub async fn hold_waiting(
    data_dir: &Path,
    patience: std::time::Duration,
) -> Result<Held, ServerError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut said = false;
    loop {
        match hold(data_dir) {
            Err(ServerError::InUse { .. }) if tokio::time::Instant::now() < deadline => {
                // Said at once, not after the wait: IT sees why nothing happens yet.
                if !said {
                    said = true;
                    eprintln!(
                        "clinic-server: another clinic-server is using the data folder {}; \
                         waiting up to {} s for it to stop",
                        data_dir.display(),
                        patience.as_secs()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_folder_is_made_private_and_held_by_one_process() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(db_path(&dir), b"x").unwrap();
        std::fs::set_permissions(db_path(&dir), std::fs::Permissions::from_mode(0o644)).unwrap();
        // Attachments stored by an older version, readable by everyone.
        let shard = crate::files::files_dir(&dir).join("ab");
        std::fs::create_dir_all(&shard).unwrap();
        let content = shard.join(format!("ab{}", "0".repeat(62)));
        std::fs::write(&content, b"scan").unwrap();
        for path in [crate::files::files_dir(&dir), shard.clone()] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(&content, std::fs::Permissions::from_mode(0o644)).unwrap();
        // A link among them is not followed: what it names keeps its modes.
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(elsewhere.join("notes"), b"x").unwrap();
        std::fs::set_permissions(
            elsewhere.join("notes"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::os::unix::fs::symlink(&elsewhere, crate::files::files_dir(&dir).join("cd")).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&elsewhere), 0o755);
        assert_eq!(mode(&elsewhere.join("notes")), 0o644);
        // Nor is a `files` that is itself a link.
        let linked = root.path().join("linked");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(&elsewhere, crate::files::files_dir(&linked)).unwrap();
        prepare(&linked).unwrap();
        assert_eq!(mode(&elsewhere), 0o755);
        assert_eq!(mode(&elsewhere.join("notes")), 0o644);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&db_path(&dir)), 0o600);
        assert_eq!(mode(&crate::files::files_dir(&dir)), 0o700);
        assert_eq!(mode(&shard), 0o700);
        assert_eq!(mode(&content), 0o600);

        let held = hold(&dir).unwrap();
        assert!(matches!(hold(&dir), Err(ServerError::InUse { .. })));
        // A command may run beside a server, but no restore begins while it does.
        let command = share(&dir).unwrap();
        let second = share(&dir).unwrap();
        drop(held);
        assert!(matches!(
            hold_alone(&dir),
            Err(ServerError::CommandRunning { .. })
        ));
        drop((command, second));
        let alone = hold_alone(&dir).unwrap();
        assert!(matches!(share(&dir), Err(ServerError::Restoring { .. })));
        assert!(matches!(hold(&dir), Err(ServerError::InUse { .. })));
        drop(alone);
        assert!(hold(&dir).is_ok());
    }

    /// Root running a command in the service account's folder leaves lock files the service
    /// account can use (and repairs one an earlier root run left); a link at a lock file's
    /// place is never followed. (Another account opening a lock file it may only read:
    /// `cli::the_service_account_keeps_its_lock_files`.)
    #[test]
    fn lock_files_belong_to_the_folders_owner_and_are_never_links() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        let me = rustix::process::geteuid();
        let owner = if me.is_root() {
            std::os::unix::fs::chown(&dir, Some(4242), Some(4242)).unwrap();
            4242
        } else {
            me.as_raw()
        };
        let shared = share(&dir).unwrap();
        let lock = std::fs::metadata(commands_lock_path(&dir)).unwrap();
        assert_eq!(
            (lock.uid(), mode(&commands_lock_path(&dir))),
            (owner, 0o600)
        );
        drop(shared);
        if me.is_root() {
            // One an earlier root run left as root's is given back.
            std::os::unix::fs::chown(commands_lock_path(&dir), Some(0), Some(0)).unwrap();
            drop(share(&dir).unwrap());
            assert_eq!(
                std::fs::metadata(commands_lock_path(&dir)).unwrap().uid(),
                4242
            );
        }

        // A link planted where a lock file goes: refused, and its target neither made nor
        // written (root would otherwise create a file anywhere, or truncate one).
        let target = root.path().join("elsewhere.sh");
        std::fs::remove_file(commands_lock_path(&dir)).unwrap();
        std::os::unix::fs::symlink(&target, commands_lock_path(&dir)).unwrap();
        assert!(share(&dir).is_err());
        assert!(!target.exists());
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, lock_path(&dir)).unwrap();
        assert!(hold(&dir).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // Nor a hard link of another file.
        std::fs::remove_file(commands_lock_path(&dir)).unwrap();
        std::fs::hard_link(&target, commands_lock_path(&dir)).unwrap();
        assert!(share(&dir).is_err());
    }

    #[test]
    fn a_backup_goes_only_into_a_new_file_or_a_plain_one_of_this_account() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        own_private_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        let mine = dir.path().join("mine.db");
        std::fs::write(&mine, "old").unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o666)).unwrap();
        own_private_file(&mine).unwrap();
        assert_eq!(mode(&mine), 0o600, "made private");

        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&mine, &link).unwrap();
        let linked = dir.path().join("linked.db");
        std::fs::hard_link(&mine, &linked).unwrap();
        let other = dir.path().join("other.db");
        std::fs::write(&other, "").unwrap();
        // Another account's file can be made only by root (as CI runs).
        let me = rustix::process::geteuid();
        if me.is_root() {
            std::os::unix::fs::chown(&other, Some(4242), None).unwrap();
        }
        let refused = [(link, "symbolic link"), (linked, "hard links")]
            .into_iter()
            .chain(me.is_root().then(|| (other.clone(), "another account")));
        for (path, why) in refused {
            let err = own_private_file(&path).unwrap_err();
            assert!(err.to_string().contains(why), "{}: {err}", path.display());
        }
    }

    #[test]
    fn no_database_means_no_clinic_unless_told_to_start_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_database(dir.path(), false).is_err());
        std::fs::write(db_path(dir.path()), b"").unwrap();
        assert!(check_database(dir.path(), false).is_err(), "empty file");
        assert!(check_database(dir.path(), true).is_ok());
    }
}
