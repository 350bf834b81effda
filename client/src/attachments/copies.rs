//! The copies of attachments on this computer: written sealed (the sender's copy, an earlier
//! version's plain one sealed in place), and the plain copies handed to viewers, each process in
//! a folder of its own so one process never deletes what another's viewer is reading.

use super::remove_folder;
use crate::error::{ClientError, Result};
use crate::sealed::{self, FilesKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A temp file left in a copy's folder longer than this was left by a process that stopped
/// (a copy takes seconds): it is removed.
const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// A new private file in `dir` under a name no other writer uses (`.tmp…`), deleted unless
/// persisted.
pub(super) fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    crate::profile::private_dir(dir)?;
    // `tempfile` creates it with `O_EXCL` and mode 0600: nothing planted there is followed.
    Ok(tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?)
}

/// Writes the temp file's content to disk and gives it its final name, the name on disk too (the
/// folder flushed), so that what it replaced may be wiped.
fn persist(temp: tempfile::NamedTempFile, target: &Path) -> Result<()> {
    temp.as_file().sync_all()?;
    temp.persist(target).map_err(|e| ClientError::Io(e.error))?;
    #[cfg(unix)]
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Copies `source` sealed to `target` (a copy's place in the profile), through a temp name so a
/// crash never leaves a short copy under the final name.
pub(super) fn seal_to(key: &FilesKey, source: &Path, target: &Path) -> Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| ClientError::Invalid("bad attachment path".into()))?;
    let temp = temp_in(dir)?;
    let mut out = std::io::BufWriter::new(temp);
    let mut from = std::fs::File::open(source)?;
    sealed::seal(key, sealed::place_of(target), &mut from, &mut out)?;
    let temp = out
        .into_inner()
        .map_err(|e| ClientError::Io(e.into_error()))?;
    persist(temp, target)
}

/// Seals in place the copy at `path` if an earlier version kept it plain (a regular file only:
/// a link is never followed). The plain file's blocks are overwritten with zeros once the
/// sealed copy has its name. Returns whether it sealed it.
pub(crate) fn seal_in_place(key: &FilesKey, path: &Path) -> Result<bool> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() || sealed::looks_sealed(path)? {
        return Ok(false);
    }
    let dir = path
        .parent()
        .ok_or_else(|| ClientError::Invalid("bad attachment path".into()))?;
    let mut plain = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let temp = temp_in(dir)?;
    let mut out = std::io::BufWriter::new(temp);
    sealed::seal(key, sealed::place_of(path), &mut plain, &mut out)?;
    let temp = out
        .into_inner()
        .map_err(|e| ClientError::Io(e.into_error()))?;
    // Another process may have sealed it meanwhile (and be wiping what was read here): only
    // what is still the file at `path` is put in its place.
    if !same_file(&plain, path)? {
        return Ok(false);
    }
    persist(temp, path)?;
    crate::profile::zero_out(&mut plain)?;
    Ok(true)
}

/// Whether `path` still names the file `open` was opened from.
fn same_file(open: &std::fs::File, path: &Path) -> Result<bool> {
    let (held, named) = (open.metadata()?, std::fs::symlink_metadata(path)?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(held.dev() == named.dev() && held.ino() == named.ino())
    }
    #[cfg(not(unix))]
    {
        Ok(held.len() == named.len() && held.modified().ok() == named.modified().ok())
    }
}

/// What [`tidy`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tidied {
    /// Plain copies of an earlier version, sealed now.
    pub sealed: usize,
    /// Temp files a stopped process left (an earlier version's `.partial` among them).
    pub leftovers: usize,
    /// Copies that could not be sealed (each logged).
    pub failed: usize,
}

/// Seals every copy an earlier version kept plain (sent and received) and removes the temp
/// files a stopped process left, each file on its own: one that fails is logged and the rest go
/// on. Copies that look sealed but do not open with `key` (another account's) stay as they are:
/// their owner opens them, or a download replaces them.
pub(crate) fn tidy(profile_dir: &Path, key: &FilesKey) -> Tidied {
    let mut done = Tidied::default();
    for side in ["sent", "received"] {
        let Ok(folders) = std::fs::read_dir(profile_dir.join("attachments").join(side)) else {
            continue;
        };
        for folder in folders.flatten() {
            // Only real folders and files: a link is never followed (nor sealed).
            if !folder.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(files) = std::fs::read_dir(folder.path()) else {
                continue;
            };
            for file in files.flatten() {
                if !file.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let path = file.path();
                if file.file_name().to_string_lossy().starts_with('.') {
                    if is_leftover(&path) && remove_leftover(&path).is_ok() {
                        done.leftovers += 1;
                    }
                    continue;
                }
                match seal_in_place(key, &path) {
                    Ok(true) => done.sealed += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!("could not seal a copy of an attachment kept plain: {e}");
                        done.failed += 1;
                    }
                }
            }
        }
    }
    done
}

/// Removes a temp file a stopped process left. An earlier version's `.partial` is plain: zeroed
/// before it goes (only that one: a sealed temp needs no wiping, and its handle could be the
/// finished copy's if its writer were still renaming it).
fn remove_leftover(path: &Path) -> Result<()> {
    if !sealed::looks_sealed(path)? {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        crate::profile::zero_out(&mut file)?;
    }
    Ok(std::fs::remove_file(path)?)
}

fn is_leftover(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > LEFTOVER_AGE))
}

/// Where copies handed to other programs live: `<profile>/attachments/opened/`.
fn opened_root(profile_dir: &Path) -> PathBuf {
    profile_dir.join("attachments").join("opened")
}

/// The file in each process's folder under `opened/` that it holds locked while it lives.
const OWNER: &str = ".owner";

/// This process's folder under each profile's `opened/`, with its locked owner file.
static OWN_FOLDERS: Mutex<Option<HashMap<PathBuf, (PathBuf, std::fs::File)>>> = Mutex::new(None);

/// This process's folder under `opened/` (made, and its owner file locked, on first use).
fn own_folder(profile_dir: &Path) -> Result<PathBuf> {
    let mut folders = OWN_FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
    let folders = folders.get_or_insert_with(HashMap::new);
    if let Some((dir, _)) = folders.get(profile_dir)
        && dir.is_dir()
    {
        return Ok(dir.clone());
    }
    let root = opened_root(profile_dir);
    crate::profile::private_dir(&root)?;
    // Made under a dot name, its owner file locked, then named: no other process ever sees it
    // named without its lock (they leave dot names alone until they are old).
    let making = tempfile::Builder::new()
        .prefix(".new")
        .rand_bytes(12)
        .tempdir_in(&root)?;
    crate::profile::private_dir(making.path())?;
    let owner = crate::profile::private_file(&making.path().join(OWNER))?;
    match owner.try_lock() {
        // Where locks are not kept (a network share), the folder has no owner to tell by:
        // others take it for one whose process stopped, as before folders had owners.
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(ClientError::Invalid(
                "the folder for files being opened is in use".into(),
            ));
        }
    }
    let name = making
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().trim_start_matches(".new").to_owned())
        .unwrap_or_default();
    let dir = root.join(name);
    std::fs::rename(making.keep(), &dir)?;
    folders.insert(profile_dir.to_path_buf(), (dir.clone(), owner));
    Ok(dir)
}

/// A plain copy of the sealed file at `sealed_path` for a viewer to open, named `name`, in this
/// process's folder under the profile's `opened/` (private, like the rest; deleted by
/// [`remove_opened`]). The same file opened again replaces its copy (under a temp name, so a
/// viewer never reads half of it).
pub(crate) fn open_for_viewer(
    profile_dir: &Path,
    key: &FilesKey,
    sealed_path: &Path,
    name: &str,
) -> Result<PathBuf> {
    let own = own_folder(profile_dir)?;
    let dir = own.join(viewer_folder_name(
        sealed_path.parent().unwrap_or(sealed_path),
    ));
    let temp = temp_in(&dir)?;
    let mut out = std::io::BufWriter::new(temp);
    sealed::open_into(key, sealed_path, &mut out)?;
    let temp = out
        .into_inner()
        .map_err(|e| ClientError::Io(e.into_error()))?;
    let target = dir.join(name);
    // Named only while the folder is still this process's: a logout meanwhile removed it, and
    // the copy goes with the temp file rather than stay after it.
    let folders = OWN_FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
    let still = folders
        .as_ref()
        .and_then(|f| f.get(profile_dir))
        .is_some_and(|(dir, _)| *dir == own);
    if !still {
        drop(temp);
        let _ = std::fs::remove_dir_all(&own);
        return Err(ClientError::Invalid(
            "the session ended while the file was being prepared".into(),
        ));
    }
    persist(temp, &target)?;
    Ok(target)
}

/// The name of the folder, in a process's folder under `opened/`, that holds the viewer's copy
/// of the copy kept in `copy_folder` (each copy has a folder of its own).
fn viewer_folder_name(copy_folder: &Path) -> String {
    let digest = hex::encode(Sha256::digest(copy_folder.as_os_str().as_encoded_bytes()));
    digest.get(..32).unwrap_or(&digest).to_owned()
}

/// Deletes the plain copies handed to viewers, by any process, of the copy kept in
/// `copy_folder` (`<profile>/attachments/<side>/<folder>`): the message was unsent, retracted
/// or purged, so no plain copy of its file stays for the rest of a shift. A viewer that has
/// one open keeps reading it until it closes it; its name is gone.
pub(crate) fn remove_viewer_copies(copy_folder: &Path) {
    let Some(attachments) = copy_folder
        .parent()
        .and_then(Path::parent)
        .filter(|a| a.file_name().is_some_and(|n| n == "attachments"))
    else {
        return;
    };
    let name = viewer_folder_name(copy_folder);
    let Ok(folders) = std::fs::read_dir(attachments.join("opened")) else {
        return;
    };
    for folder in folders.flatten() {
        // Real folders only: a link is never followed.
        if folder.file_type().is_ok_and(|t| t.is_dir()) {
            let copy = folder.path().join(&name);
            if std::fs::symlink_metadata(&copy).is_ok_and(|m| m.is_dir()) {
                remove_folder(&copy);
            }
        }
    }
}

/// Deletes the plain copies handed to viewers by this process and by processes that stopped
/// (at logout, at quit). A viewer that still has one open keeps reading it until it closes
/// it; its name is gone.
pub fn remove_opened(profile_dir: &Path) {
    {
        // Held while the folder goes: a copy being made meanwhile is named before or not at all.
        let mut folders = OWN_FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((dir, owner)) = folders.as_mut().and_then(|f| f.remove(profile_dir)) {
            drop(owner);
            remove_folder(&dir);
        }
    }
    remove_stopped_viewers(profile_dir);
}

/// Deletes the plain copies handed to viewers by processes that stopped (their owner file is
/// not locked: a crash, a session's end); a running process's stay, this one's among them.
pub fn remove_stopped_viewers(profile_dir: &Path) {
    let own = OWN_FOLDERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|folders| folders.get(profile_dir).map(|(dir, _)| dir.clone()));
    let Ok(folders) = std::fs::read_dir(opened_root(profile_dir)) else {
        return;
    };
    for folder in folders.flatten() {
        let path = folder.path();
        if own.as_ref() == Some(&path) {
            continue;
        }
        if !folder.file_type().is_ok_and(|t| t.is_dir()) {
            // Not ours to keep (an earlier layout's file, or a link: removed, never followed).
            let _ = std::fs::remove_file(&path);
            continue;
        }
        // A folder another process is making (its owner file not locked yet), unless old.
        if folder.file_name().to_string_lossy().starts_with('.') && !is_leftover(&path) {
            continue;
        }
        let stopped = match std::fs::File::open(path.join(OWNER)) {
            Ok(owner) => !matches!(owner.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            // No owner file: an earlier version's copies.
            Err(_) => true,
        };
        if stopped {
            remove_folder(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FilesKey {
        FilesKey::derive(&[3; 32])
    }

    /// An earlier version's plain copy is sealed in place and reads back; its temp leftovers go
    /// once old; a link is neither followed nor sealed; a copy that fails does not stop the rest.
    #[test]
    fn plain_copies_are_sealed_and_leftovers_removed() {
        let profile = tempfile::tempdir().expect("dir");
        let folder = profile.path().join("attachments/received/ab12");
        std::fs::create_dir_all(&folder).expect("dirs");
        let copy = folder.join("scan.pdf");
        std::fs::write(&copy, b"%PDF-1.4 results").expect("write");
        let fresh = folder.join(".tmpABC");
        std::fs::write(&fresh, b"being written").expect("write");
        let old = folder.join(".partial");
        std::fs::write(&old, b"%PDF cut").expect("write");
        let long_ago = std::time::SystemTime::now() - 2 * LEFTOVER_AGE;
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(long_ago))
            .expect("age");
        let outside = tempfile::tempdir().expect("dir");
        let target = outside.path().join("notes.txt");
        std::fs::write(&target, b"not the app's").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, folder.join("link.txt")).expect("link");

        // What the plain file held, seen through a handle opened before: wiped.
        let mut before = std::fs::File::open(&copy).expect("open");
        let mut partial = std::fs::File::open(&old).expect("open");
        let done = tidy(profile.path(), &key());
        assert_eq!((done.sealed, done.leftovers, done.failed), (1, 1, 0));
        for (what, handle) in [("the copy", &mut before), ("the .partial", &mut partial)] {
            let mut was = Vec::new();
            std::io::Read::read_to_end(handle, &mut was).expect("read");
            assert!(
                !was.is_empty() && was.iter().all(|b| *b == 0),
                "{what} wiped"
            );
        }
        assert!(sealed::looks_sealed(&copy).expect("read"));
        assert_eq!(
            sealed::read(&key(), &copy, 100).expect("read"),
            Some(b"%PDF-1.4 results".to_vec())
        );
        assert!(fresh.exists(), "a temp file in use stays");
        assert!(!old.exists(), "an old leftover goes");
        assert_eq!(std::fs::read(&target).expect("read"), b"not the app's");
        assert_eq!(tidy(profile.path(), &key()), Tidied::default(), "once");
    }

    /// A running process's viewer copies survive another's cleanup; its own go with it.
    #[test]
    fn another_processs_viewer_copies_stay() {
        let profile = tempfile::tempdir().expect("dir");
        let copy = profile.path().join("attachments/sent/c-1/scan.pdf");
        std::fs::create_dir_all(copy.parent().expect("parent")).expect("dirs");
        let mut sealed_bytes = Vec::new();
        sealed::seal(
            &key(),
            sealed::place_of(&copy),
            &mut &b"%PDF-1.4"[..],
            &mut sealed_bytes,
        )
        .expect("seal");
        std::fs::write(&copy, sealed_bytes).expect("write");
        let plain = open_for_viewer(profile.path(), &key(), &copy, "scan.pdf").expect("open");
        assert_eq!(std::fs::read(&plain).expect("read"), b"%PDF-1.4");

        // Another process's folder, whose owner is alive (its lock is held here by a handle of
        // its own), and one whose owner stopped.
        let root = opened_root(profile.path());
        let (alive, stopped) = (root.join("alive"), root.join("stopped"));
        for dir in [&alive, &stopped] {
            std::fs::create_dir_all(dir).expect("dir");
            std::fs::write(dir.join("x.pdf"), b"%PDF").expect("write");
        }
        let held = std::fs::File::create(alive.join(OWNER)).expect("owner");
        held.lock().expect("lock");
        std::fs::File::create(stopped.join(OWNER)).expect("owner");

        remove_opened(profile.path());
        assert!(!plain.exists(), "this process's copy goes");
        assert!(!stopped.exists(), "a stopped process's go");
        assert!(alive.join("x.pdf").exists(), "a running process's stay");
        drop(held);
        remove_opened(profile.path());
        assert!(!alive.exists(), "once it stopped");
    }
}
