//! The cache's encryption at rest: SQLCipher with a random 256-bit raw key (no KDF at open; the
//! key is random, not a password) that lives in the credential store beside the token. Here:
//! the key itself, keying a connection, telling plaintext from ciphertext, and moving an older
//! plaintext cache into an encrypted file before wiping the plaintext.

use crate::error::{ClientError, Result};
use rand::RngCore;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The first bytes of every plaintext SQLite file; an SQLCipher file starts with random salt.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A cache's key. Never printed: `Debug` shows nothing of it. Zeroed in memory when dropped,
/// as are the texts made from it here.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    pub fn random() -> Self {
        let mut key = Self([0; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key.0);
        key
    }

    /// The form kept in a credential store (64 hex digits).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    /// `None` for anything but 64 hex digits (a damaged entry is treated like a missing one).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut key = Self([0; 32]);
        hex::decode_to_slice(s.trim(), &mut key.0).ok()?;
        Some(key)
    }

    /// The key of the files kept with this cache (derived from this one).
    pub(crate) fn files_key(&self) -> crate::sealed::FilesKey {
        crate::sealed::FilesKey::derive(&self.0)
    }

    /// The SQL literal SQLCipher takes for a raw key (hex digits only, so nothing to escape).
    fn literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("\"x'{}'\"", *self.to_hex()))
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Keys a fresh connection and proves the key fits: SQLCipher only notices a wrong key at the
/// first read, which then fails with "file is not a database".
pub(super) fn unlock(conn: &Connection, key: &CacheKey) -> Result<()> {
    conn.execute_batch(&Zeroizing::new(format!("PRAGMA key = {};", *key.literal())))?;
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(ClientError::WrongCacheKey)
        }
        Err(e) => Err(e.into()),
    }
}

/// True when `path` is a plaintext SQLite file (an older version's cache).
pub(super) fn is_plaintext(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut header = [0u8; 16];
    match std::fs::File::open(path) {
        Ok(mut file) => match file.read_exact(&mut header) {
            Ok(()) => Ok(&header == PLAINTEXT_HEADER),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The files SQLite keeps for a database: the file itself, its write-ahead log, its shared memory.
pub(super) fn family(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}

/// Where a plaintext cache waits to be wiped once its encrypted copy is in place; a crash in
/// between leaves it here, and the next open wipes it.
fn doomed(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".plaintext");
    PathBuf::from(name)
}

/// Rewrites the plaintext cache at `path` as an SQLCipher file with `key`, schema version and
/// all, then wipes every plaintext copy (file, log, shared memory).
pub(super) fn migrate_plaintext(path: &Path, key: &CacheKey) -> Result<()> {
    let target = {
        let mut name = path.as_os_str().to_owned();
        name.push(".encrypting");
        PathBuf::from(name)
    };
    remove_family(&target)?;
    drop(crate::profile::private_file(&target)?);
    {
        let conn = Connection::open(path)?;
        // Everything the log holds goes into the main file, so the export sees all of it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        conn.execute(
            &Zeroizing::new(format!(
                "ATTACH DATABASE ?1 AS encrypted KEY {}",
                *key.literal()
            )),
            [target.to_string_lossy()],
        )?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        // sqlcipher_export copies tables and indexes, not the schema version.
        conn.execute_batch(&format!(
            "PRAGMA encrypted.user_version = {version}; DETACH DATABASE encrypted;"
        ))?;
    }
    let old = doomed(path);
    std::fs::rename(path, &old)?;
    std::fs::rename(&target, path)?;
    let [_, wal, shm] = family(path);
    wipe(&wal)?;
    wipe(&shm)?;
    wipe(&old)?;
    Ok(())
}

/// Wipes a plaintext copy a crash left behind (see [`migrate_plaintext`]).
pub(super) fn wipe_leftovers(path: &Path) -> Result<()> {
    wipe(&doomed(path))
}

/// Overwrites a file with zeros, flushes, then removes it. On a copy-on-write file system or an
/// SSD the old blocks may survive below the file system; the docs say so.
fn wipe(path: &Path) -> Result<()> {
    let mut file = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    crate::profile::zero_out(&mut file)?;
    drop(file);
    std::fs::remove_file(path)?;
    Ok(())
}

/// Deletes a database and its log and shared memory (missing ones are fine).
pub(super) fn remove_family(path: &Path) -> Result<()> {
    for file in family(path) {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}
