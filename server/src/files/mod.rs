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

/// Where the content with this hash lives.
pub(crate) fn content_path(data_dir: &Path, sha256: &str) -> PathBuf {
    files_dir(data_dir)
        .join(sha256.get(..2).unwrap_or("00"))
        .join(sha256)
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

/// True for a content name: a SHA-256 in lower-case hex.
fn is_content_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Copies every content file under `from` into `to` (same layout, private), skipping those
/// already there: content files never change, so copying into the same folder again only
/// copies what is new. Returns how many files were copied.
fn copy_contents(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut copied = 0;
    for (sha256, path) in stored_in(from)? {
        if !is_content_name(&sha256) {
            continue;
        }
        let target = to.join(sha256.get(..2).unwrap_or("00")).join(&sha256);
        if target.exists() {
            continue;
        }
        if let Some(dir) = target.parent() {
            crate::datadir::private_dir(dir)?;
        }
        // Copy under a temp name first so an interrupted copy never leaves a short file
        // under a content name.
        let partial = target.with_extension("part");
        std::fs::copy(&path, &partial)?;
        crate::datadir::make_private(&partial)?;
        std::fs::rename(&partial, &target)?;
        copied += 1;
    }
    Ok(copied)
}

/// Copies every stored file into `to` (same layout), skipping those already there. Returns
/// how many files were copied. `to` is made (private) even when there is nothing to copy, so a
/// backup always has its folder, as the command says.
pub fn backup(data_dir: &Path, to: &Path) -> std::io::Result<u64> {
    crate::datadir::private_dir(to)?;
    copy_contents(&files_dir(data_dir), to)
}

/// Copies the files of a backup (`FILE.files/`) into the data folder, skipping those already
/// there. Returns how many files were copied.
pub fn restore(from: &Path, data_dir: &Path) -> std::io::Result<u64> {
    copy_contents(from, &files_dir(data_dir))
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
    match std::fs::remove_file(content_path(data_dir, sha256)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
