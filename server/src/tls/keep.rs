//! The clinic CA in backups: `backup` copies it beside the database (`FILE.tls/`) and `restore`
//! puts it back, so the apps paired with the clinic connect to a restored server as before (a
//! new CA would have every patient pair again). The server certificate is not kept: a server
//! issues one from the CA when it starts.

use super::pki::TlsPaths;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CA's files in `tls/`: its certificate (what apps pin) and its key.
const CA_FILES: [&str; 2] = ["ca.pem", "ca.key"];

/// Where the backup `file` keeps the CA: `FILE.tls/`.
pub fn beside(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tls");
    PathBuf::from(name)
}

/// Copies the data folder's CA into `beside(to)`, a private folder of this account (0700, its
/// files 0600: whoever holds the key can impersonate the server to every paired app). False
/// when the folder has no CA (a server run with `--tls off` or the clinic's own certificate).
pub fn backup(data_dir: &Path, to: &Path) -> std::io::Result<bool> {
    let paths = TlsPaths::new(data_dir);
    if !paths.ca_cert().is_file() || !paths.ca_key().is_file() {
        return Ok(false);
    }
    let dir = beside(to);
    crate::datadir::own_private_dir(&dir)?;
    for name in CA_FILES {
        let bytes = std::fs::read(paths.dir.join(name))?;
        let mut file = crate::datadir::own_private_file(&dir.join(name))?;
        file.set_len(0)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    Ok(true)
}

/// What a restore did with the CA kept beside the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// The backup has none (made by an older version, or of a server without one).
    NoneKept,
    /// The data folder has the same CA already.
    Same,
    /// Put in a data folder that had none.
    Put,
    /// Put in place of the data folder's own, which was moved (with its server certificate)
    /// into this folder.
    Replaced(PathBuf),
}

/// Puts the CA kept beside `backup` into the data folder. A different CA there is moved into a
/// folder `aside()` makes, never deleted. The new `tls/` is written whole under another name
/// first and renamed into place, so a kill leaves either CA, never half of one.
pub fn restore(
    data_dir: &Path,
    backup: &Path,
    aside: impl FnOnce() -> std::io::Result<PathBuf>,
) -> std::io::Result<Restored> {
    let kept = beside(backup);
    let mut files = Vec::new();
    for name in CA_FILES {
        match std::fs::read(kept.join(name)) {
            Ok(bytes) => files.push((name, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restored::NoneKept),
            Err(e) => return Err(e),
        }
    }
    let paths = TlsPaths::new(data_dir);
    let present = paths.dir.exists();
    let same = files
        .iter()
        .all(|(name, bytes)| std::fs::read(paths.dir.join(name)).is_ok_and(|b| &b == bytes));
    if same {
        return Ok(Restored::Same);
    }
    let staging = data_dir.join(format!("tls.restoring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    crate::datadir::private_dir(&staging)?;
    for (name, bytes) in &files {
        let mut file = crate::datadir::private_file(&staging.join(name), true)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    let moved = if present {
        let aside = aside()?;
        std::fs::rename(&paths.dir, aside.join("tls"))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staging, &paths.dir)?;
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(moved.map_or(Restored::Put, Restored::Replaced))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ca(dir: &Path, text: &str) {
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), format!("{text} cert")).unwrap();
        std::fs::write(tls.join("ca.key"), format!("{text} key")).unwrap();
        std::fs::write(tls.join("server.pem"), format!("{text} leaf")).unwrap();
    }

    #[test]
    fn the_ca_goes_with_a_backup_and_comes_back_with_its_restore() {
        let (clinic, backups, new) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let file = backups.path().join("b.db");
        assert!(
            !backup(clinic.path(), &file).unwrap(),
            "no CA, nothing kept"
        );
        assert!(!beside(&file).exists());
        ca(clinic.path(), "old");
        assert!(backup(clinic.path(), &file).unwrap());
        let kept: Vec<_> = std::fs::read_dir(beside(&file))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            kept.len(),
            2,
            "the CA only, not the server certificate: {kept:?}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&beside(&file)), 0o700);
            assert_eq!(mode(&beside(&file).join("ca.key")), 0o600);
        }

        let never = || -> std::io::Result<PathBuf> { panic!("nothing to move aside") };
        assert_eq!(restore(new.path(), &file, never).unwrap(), Restored::Put);
        assert_eq!(restore(new.path(), &file, never).unwrap(), Restored::Same);
        let read = |d: &Path, n: &str| std::fs::read_to_string(d.join("tls").join(n)).unwrap();
        assert_eq!(read(new.path(), "ca.key"), "old key");

        // A folder that made a CA of its own (a server started before the restore): moved
        // aside whole, the backup's in its place.
        let other = tempfile::tempdir().unwrap();
        ca(other.path(), "new");
        let aside = other.path().join("tls-before-restore-x");
        let made = aside.clone();
        let done = restore(other.path(), &file, move || {
            std::fs::create_dir(&made)?;
            Ok(made)
        })
        .unwrap();
        assert_eq!(done, Restored::Replaced(aside.clone()));
        assert_eq!(read(other.path(), "ca.pem"), "old cert");
        assert!(!other.path().join("tls").join("server.pem").exists());
        assert_eq!(read(&aside, "ca.key"), "new key");
        assert_eq!(read(&aside, "server.pem"), "new leaf");

        let nothing_kept = backups.path().join("older.db");
        assert_eq!(
            restore(other.path(), &nothing_kept, never).unwrap(),
            Restored::NoneKept
        );
    }
}
