//! Uploaded files on disk. Layout inside the data folder:
//!
//! - `files/<first two hex digits>/<sha256>`: the content, named by its hash (identical
//!   uploads share one file); never a client's name.
//! - `uploads-tmp/<random>.part`: uploads still streaming in (same filesystem, so moving one
//!   into place is an atomic rename).
//!
//! Which upload is whose lives in the `uploads` table; see `store::uploads`.

pub(crate) mod allowance;
pub(crate) mod incoming;
pub mod name;
pub(crate) mod sniff;
pub(crate) mod sweep;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The folder of stored file contents.
pub fn files_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("files")
}

pub(crate) fn temp_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads-tmp")
}

/// Where the content with this hash lives; `None` for a name that is not a hash. Hashes come
/// from the database, which a restored backup brings: `../..` or an absolute path there must
/// never name a file outside this folder (to serve, or to remove).
pub(crate) fn content_path(data_dir: &Path, sha256: &str) -> Option<PathBuf> {
    is_content_name(sha256).then(|| {
        files_dir(data_dir)
            .join(sha256.get(..2).unwrap_or("00"))
            .join(sha256)
    })
}

/// 128 random bits, hex: unguessable upload ids and temp names.
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// True for a string that can be an upload id (so nothing else reaches the database or a path).
pub(crate) fn is_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Every stored content file as (hash, path).
fn stored(data_dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    stored_in(&files_dir(data_dir))
}

/// Every content file under `root` (`<two hex digits>/<sha256>`) as (hash, path).
fn stored_in(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let shards = match std::fs::read_dir(root) {
        Ok(shards) => shards,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for shard in shards {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(shard.path())? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                out.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                ));
            }
        }
    }
    Ok(out)
}

/// Makes the stored files' folders 0700 and the files 0600: those of a data folder from an
/// older version (or copied in by hand) may be readable by others, which the folder's own 0700
/// hides only while nobody loosens it. One pass at each start (a server does it while it
/// serves), which logs how many it changed; files stored later are made private.
/// Links are never followed (a `files` link to `/etc` must not have root tighten `/etc`), and a
/// file this account cannot change is said in the log, not a reason to stay down.
pub(crate) fn make_private(data_dir: &Path) {
    make_private_until(data_dir, &|| false);
}

/// [`make_private`], given up once `stop` says so (a server stopping: the next start goes on).
pub(crate) fn make_private_until(data_dir: &Path, stop: &dyn Fn() -> bool) {
    #[cfg(unix)]
    {
        // Root in a folder another account owns: that account could swap a folder for a link
        // between the look and the change. Its own server's start does it instead.
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(data_dir).map(|m| m.uid()).unwrap_or(0);
        if rustix::process::geteuid().is_root() && owner != 0 {
            return;
        }
    }
    let mut changed = 0u64;
    let mut tighten = |path: &Path, folder: bool| {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        let (done, private) = if meta.file_type().is_symlink() {
            tracing::warn!(path = %path.display(), "a link among the stored files: left as it is");
            return;
        } else if folder && meta.is_dir() {
            (crate::datadir::private_dir(path), 0o700)
        } else if meta.is_file() {
            (crate::datadir::make_private(path), 0o600)
        } else {
            return;
        };
        match done {
            Ok(()) if mode_of(&meta).is_some_and(|mode| mode != private) => changed += 1,
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "could not make a stored file private: {e}");
            }
        }
    };
    for root in [files_dir(data_dir), temp_dir(data_dir)] {
        if !std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        tighten(&root, true);
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            if stop() {
                return;
            }
            let path = entry.path();
            tighten(&path, true);
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Ok(inner) = std::fs::read_dir(&path)
            {
                for file in inner.flatten() {
                    if stop() {
                        return;
                    }
                    tighten(&file.path(), false);
                }
            }
        }
    }
    if changed > 0 {
        tracing::info!(
            changed,
            "stored files and folders were made private (files 0600, folders 0700)"
        );
    }
}

/// The permission bits of `meta` (none off Unix).
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(meta.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// True for a content name: a SHA-256 in lower-case hex.
pub(crate) fn is_content_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Copies every content file under `from` into `to` (same layout, private), skipping those
/// already there: content files never change, so copying into the same folder again only
/// copies what is new. A file that does not hold the content its name says is left out and
/// the others are copied; then the error names every one left out. Returns how many files
/// were copied.
fn copy_contents(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut copied = 0;
    let mut damaged = Vec::new();
    for (sha256, path) in stored_in(from)? {
        if !is_content_name(&sha256) {
            continue;
        }
        let target = to.join(sha256.get(..2).unwrap_or("00")).join(&sha256);
        if target.exists() {
            continue;
        }
        match copy_checked(&path, &target, &sha256) {
            Ok(()) => copied += 1,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => damaged.push(sha256),
            Err(e) => return Err(e),
        }
    }
    if damaged.is_empty() {
        Ok(copied)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} stored files do not hold the content their names say and were left out \
                 (the other {copied} were copied): {}",
                damaged.len(),
                damaged.join(", ")
            ),
        ))
    }
}

/// Copies `from` to `target` through a private temp file (never a short file, nor one readable
/// by others, under a content name), checking on the way that the content is the `sha256` its
/// name says: a file that is not is refused, and the temp file goes on any failure.
fn copy_checked(from: &Path, target: &Path, sha256: &str) -> std::io::Result<()> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    if let Some(dir) = target.parent() {
        crate::datadir::private_dir(dir)?;
    }
    let partial = target.with_extension("part");
    // One left by a copy that was killed keeps its mode when opened again: made anew, 0600.
    let _ = std::fs::remove_file(&partial);
    let copy = || -> std::io::Result<()> {
        let mut input = std::fs::File::open(from)?;
        let mut out = crate::datadir::private_file(&partial, true)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            out.write_all(chunk)?;
        }
        if hex::encode(hasher.finalize()) != sha256 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} does not hold the content its name says", from.display()),
            ));
        }
        out.sync_all()?;
        std::fs::rename(&partial, target)
    };
    copy().inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}

/// Copies every stored file into `to` (same layout), skipping those already there. Returns
/// how many files were copied. `to` is made (private) even when there is nothing to copy, so a
/// backup always has its folder, as the command says.
pub fn backup(data_dir: &Path, to: &Path) -> std::io::Result<u64> {
    crate::datadir::own_private_dir(to)?;
    copy_contents(&files_dir(data_dir), to)
}

/// Every stored file, in a backup's layout under `to` (which a restore reads as `FILE.files/`):
/// the database a restore moves aside keeps its attachments, whatever the restored one's sweeps
/// remove later. Hard links where the file system allows them (no space, no time), else copies
/// (a `to` on another file system, one without links), once the free space is known to hold
/// them; a file that no longer holds its content is not copied (it is no less damaged for
/// staying where it is). Returns how many files were kept.
pub fn keep_all(data_dir: &Path, to: &Path) -> std::io::Result<u64> {
    keep_all_linking(data_dir, to, |from, to| std::fs::hard_link(from, to))
}

/// [`keep_all`] with `link` for the hard link (the tests give one that fails, as on a file
/// system without links).
fn keep_all_linking(
    data_dir: &Path,
    to: &Path,
    link: impl Fn(&Path, &Path) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    crate::datadir::private_dir(to)?;
    let files: Vec<_> = stored(data_dir)?
        .into_iter()
        .filter(|(sha256, _)| is_content_name(sha256))
        .collect();
    let mut kept = 0;
    let mut copying = false;
    for (i, (sha256, path)) in files.iter().enumerate() {
        let dir = to.join(sha256.get(..2).unwrap_or("00"));
        crate::datadir::private_dir(&dir)?;
        let target = dir.join(sha256);
        if !copying {
            match link(path, &target) {
                Ok(()) => {
                    kept += 1;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => {
                    copying = true;
                    let rest: u64 = files[i..]
                        .iter()
                        .filter_map(|(_, p)| std::fs::metadata(p).ok())
                        .map(|m| m.len())
                        .sum();
                    let spare = 64 * 1024 * 1024;
                    if crate::datadir::free_bytes(to).is_some_and(|free| free < rest + spare) {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::StorageFull,
                            format!(
                                "the attachments cannot be linked here and copying them needs \
                                 {} MB more than is free",
                                (rest + spare).div_ceil(1 << 20)
                            ),
                        ));
                    }
                }
            }
        }
        match copy_checked(path, &target, sha256) {
            Ok(()) => kept += 1,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                tracing::warn!(file = %path.display(), "a stored file does not hold its content");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(kept)
}

/// What restoring a backup's files (`FILE.files/`) into a data folder would copy.
#[derive(Debug, Default)]
pub struct FilesToRestore {
    files: Vec<(String, PathBuf)>,
    /// Bytes to copy.
    pub bytes: u64,
    /// Files the restored database names that neither the backup nor the data folder has.
    pub missing: u64,
}

/// The files of a backup that the restored database names (`wanted`, by hash) and the data
/// folder lacks: nothing else in the backup's folder is copied, and a name in `wanted` that is
/// not a hash (the database is the backup's, so not trusted) names no file.
pub fn to_restore(
    from: &Path,
    data_dir: &Path,
    wanted: &HashSet<String>,
) -> std::io::Result<FilesToRestore> {
    let wanted: HashSet<&String> = wanted.iter().filter(|s| is_content_name(s)).collect();
    let mut plan = FilesToRestore::default();
    let mut found = HashSet::new();
    for (sha256, path) in stored_in(from)? {
        if !wanted.contains(&sha256) || !found.insert(sha256.clone()) {
            continue;
        }
        if !content_path(data_dir, &sha256).is_some_and(|p| p.exists()) {
            plan.bytes += std::fs::symlink_metadata(&path)?.len();
            plan.files.push((sha256, path));
        }
    }
    plan.missing = wanted
        .iter()
        .filter(|sha256| {
            !found.contains(**sha256) && !content_path(data_dir, sha256).is_some_and(|p| p.exists())
        })
        .count() as u64;
    Ok(plan)
}

/// Copies what [`to_restore`] found, each file checked against its hash. Returns how many.
pub fn restore(plan: &FilesToRestore, data_dir: &Path) -> std::io::Result<u64> {
    for (sha256, path) in &plan.files {
        if let Some(target) = content_path(data_dir, sha256) {
            copy_checked(path, &target, sha256)?;
        }
    }
    Ok(plan.files.len() as u64)
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|a| a >= age)
}

/// Removes what a crash can leave behind: temp uploads and content files no row refers to,
/// both older than `age` (younger ones may belong to an upload in progress). Returns how many
/// files were removed.
pub(crate) fn remove_leftovers(
    data_dir: &Path,
    referenced: &HashSet<String>,
    age: Duration,
) -> std::io::Result<usize> {
    let mut removed = 0;
    for (sha256, path) in stored(data_dir)? {
        if !referenced.contains(&sha256) && older_than(&path, age) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    if let Ok(entries) = std::fs::read_dir(temp_dir(data_dir)) {
        for entry in entries.flatten() {
            if older_than(&entry.path(), age) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Removes the content file of `sha256` (no row refers to it any more).
pub(crate) fn remove_content(data_dir: &Path, sha256: &str) -> std::io::Result<()> {
    let Some(path) = content_path(data_dir, sha256) else {
        tracing::warn!(
            name = sha256,
            "a file row names no stored content; nothing removed"
        );
        return Ok(());
    };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Names come from the database, which a restored backup brings.
    #[test]
    fn a_content_path_is_only_ever_under_the_files_folder() {
        let dir = Path::new("/srv/clinic");
        let sha = "ab".repeat(32);
        assert_eq!(
            content_path(dir, &sha).unwrap(),
            dir.join("files").join("ab").join(&sha)
        );
        for odd in [
            "../clinic.seq",
            "/etc/hostname",
            "",
            &"AB".repeat(32),
            &"a".repeat(63),
        ] {
            assert!(content_path(dir, odd).is_none(), "{odd}");
        }
    }

    #[test]
    fn a_damaged_file_is_left_out_of_a_backup_and_the_rest_copied() {
        let (data, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let names = three_stored_second_damaged(data.path());
        let err = backup(data.path(), to.path()).unwrap_err();
        assert!(err.to_string().contains(&names[1].0), "{err}");
        assert!(err.to_string().contains("the other 2 were copied"), "{err}");
        for (i, (sha, _, _)) in names.iter().enumerate() {
            let copied = to.path().join(&sha[..2]).join(sha);
            assert_eq!(copied.exists(), i != 1, "{sha}");
        }
        let parts: Vec<_> = walk(to.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "part"))
            .collect();
        assert!(parts.is_empty(), "{parts:?}");
    }

    /// On a file system without hard links every sound file is copied (0600, its content
    /// checked) and a damaged one left out; with links, the same files are linked.
    #[cfg(unix)]
    #[test]
    fn attachments_are_kept_as_copies_where_links_fail() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let data = tempfile::tempdir().unwrap();
        let names = three_stored_second_damaged(data.path());
        let unsupported = |_: &Path, _: &Path| Err(std::io::ErrorKind::Unsupported.into());
        let copies = data.path().join("kept-copies");
        assert_eq!(
            keep_all_linking(data.path(), &copies, unsupported).unwrap(),
            2
        );
        let linked = data.path().join("kept-links");
        assert_eq!(
            keep_all(data.path(), &linked).unwrap(),
            3,
            "a link does not read"
        );
        for (i, (sha, original, content)) in names.iter().enumerate() {
            let copy = copies.join(&sha[..2]).join(sha);
            assert_eq!(copy.exists(), i != 1, "{sha}");
            if i != 1 {
                assert_eq!(std::fs::read(&copy).unwrap(), *content);
                let meta = std::fs::metadata(&copy).unwrap();
                assert_eq!(meta.permissions().mode() & 0o777, 0o600);
                assert_ne!(meta.ino(), std::fs::metadata(original).unwrap().ino());
            }
            let link = linked.join(&sha[..2]).join(sha);
            assert_eq!(
                std::fs::metadata(&link).unwrap().ino(),
                std::fs::metadata(original).unwrap().ino()
            );
        }
        assert!(
            walk(&copies)
                .iter()
                .all(|p| p.extension().is_none_or(|e| e != "part"))
        );
    }

    /// Three stored files under `data` (name, path, the content it was stored with), the second
    /// no longer holding its content.
    fn three_stored_second_damaged(data: &Path) -> Vec<(String, PathBuf, &'static [u8])> {
        use sha2::{Digest, Sha256};
        let mut names = Vec::new();
        for content in [&b"one"[..], b"two", b"three"] {
            let sha = hex::encode(Sha256::digest(content));
            let path = content_path(data, &sha).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
            names.push((sha, path, content));
        }
        std::fs::write(&names[1].1, b"bit rot").unwrap();
        names
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
