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
    let dir = beside(to);
    if !paths.ca_cert().is_file() || !paths.ca_key().is_file() {
        // An earlier backup's copy under the same name is not this one's (the CA was deleted
        // since, after a leak): a restore must not bring it back.
        for name in CA_FILES {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let _ = std::fs::remove_dir(&dir);
        return Ok(false);
    }
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

/// Where a restore writes the CA it puts in place, whole, before it moves the folder's own
/// aside: a kill between the two leaves it there, and [`finish_interrupted`] puts it in place.
fn staging(data_dir: &Path) -> PathBuf {
    data_dir.join("tls.restoring")
}

/// Puts the CA kept beside `backup` into the data folder. A different CA there is moved into a
/// folder `aside()` makes, never deleted. The kept CA is checked first (a certificate and the
/// key that is its own) and written whole into `tls.restoring/` before anything moves, so a
/// kill leaves the folder's CA in place, or the restored one waiting there, which the next
/// start or restore puts in place ([`finish_interrupted`]): never no CA, which a start would
/// replace with a new one.
pub fn restore(
    data_dir: &Path,
    backup: &Path,
    aside: impl FnOnce() -> std::io::Result<PathBuf>,
) -> std::io::Result<Restored> {
    finish_interrupted(data_dir)?;
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
    let same = files
        .iter()
        .all(|(name, bytes)| std::fs::read(paths.dir.join(name)).is_ok_and(|b| &b == bytes));
    if same {
        return Ok(Restored::Same);
    }
    let staging = staging(data_dir);
    let _ = std::fs::remove_dir_all(&staging);
    crate::datadir::private_dir(&staging)?;
    for (name, bytes) in &files {
        let mut file = crate::datadir::private_file(&staging.join(name), true)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    if let Err(e) = super::pki::load_ca_checked(&TlsPaths {
        dir: staging.clone(),
    }) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the clinic CA kept in {} is not usable: {e}",
                kept.display()
            ),
        ));
    }
    sync_dir(data_dir);
    let had_ca = paths.ca_cert().exists() || paths.ca_key().exists();
    let moved = if paths.dir.exists() {
        let aside = aside()?;
        std::fs::rename(&paths.dir, aside.join("tls"))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staging, &paths.dir)?;
    sync_dir(data_dir);
    Ok(match moved {
        Some(aside) if had_ca => Restored::Replaced(aside),
        _ => Restored::Put,
    })
}

/// Finishes what a killed restore left: the restored CA waiting in `tls.restoring/` is put in
/// place when the folder has no `tls/` (the old one was moved aside), else it was never put in
/// place and goes. Called before anything reads or makes the CA (a start, `tls fingerprint`, a
/// restore).
pub fn finish_interrupted(data_dir: &Path) -> std::io::Result<()> {
    let staging = staging(data_dir);
    if !staging.exists() {
        return Ok(());
    }
    let paths = TlsPaths::new(data_dir);
    let whole = super::pki::load_ca_checked(&TlsPaths {
        dir: staging.clone(),
    })
    .is_ok();
    if !paths.dir.exists() && whole {
        std::fs::rename(&staging, &paths.dir)?;
        tracing::warn!(
            "put in place the clinic CA an interrupted restore had left in {}",
            staging.display()
        );
    } else {
        std::fs::remove_dir_all(&staging)?;
    }
    sync_dir(data_dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A real CA in `dir/tls/` (and a server certificate beside it); its certificate's bytes.
    fn ca(dir: &Path) -> Vec<u8> {
        let paths = TlsPaths::new(dir);
        super::super::pki::ensure_ca(&paths).unwrap();
        std::fs::write(paths.leaf_chain(), "leaf").unwrap();
        std::fs::read(paths.ca_cert()).unwrap()
    }

    fn cert(dir: &Path) -> Vec<u8> {
        std::fs::read(TlsPaths::new(dir).ca_cert()).unwrap()
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
        let old = ca(clinic.path());
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
        assert_eq!(cert(new.path()), old);

        // A folder that made a CA of its own (a server started before the restore): moved
        // aside whole, the backup's in its place, without the old server certificate.
        let other = tempfile::tempdir().unwrap();
        let own = ca(other.path());
        let aside = other.path().join("tls-before-restore-x");
        let made = aside.clone();
        let done = restore(other.path(), &file, move || {
            std::fs::create_dir(&made)?;
            Ok(made)
        })
        .unwrap();
        assert_eq!(done, Restored::Replaced(aside.clone()));
        assert_eq!(cert(other.path()), old);
        assert!(!TlsPaths::new(other.path()).leaf_chain().exists());
        assert_eq!(cert(&aside), own);
        assert!(TlsPaths::new(&aside).leaf_chain().exists());

        // The CA deleted after a leak: a backup under the same name keeps no copy of it.
        std::fs::remove_dir_all(TlsPaths::new(clinic.path()).dir).unwrap();
        assert!(!backup(clinic.path(), &file).unwrap());
        assert!(!beside(&file).exists(), "the leaked key's old copy went");

        let nothing_kept = backups.path().join("older.db");
        assert_eq!(
            restore(other.path(), &nothing_kept, never).unwrap(),
            Restored::NoneKept
        );
    }

    #[test]
    fn a_kept_ca_whose_key_is_not_its_own_is_refused_and_nothing_moves() {
        let (a, b, backups, target) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        ca(a.path());
        ca(b.path());
        let file = backups.path().join("b.db");
        assert!(backup(a.path(), &file).unwrap());
        std::fs::copy(
            TlsPaths::new(b.path()).ca_key(),
            beside(&file).join("ca.key"),
        )
        .unwrap();
        let own = ca(target.path());
        let never = || -> std::io::Result<PathBuf> { panic!("nothing may move") };
        let refused = restore(target.path(), &file, never).unwrap_err();
        assert!(refused.to_string().contains("is not usable"), "{refused}");
        assert_eq!(cert(target.path()), own);
        assert!(!staging(target.path()).exists());
    }

    #[test]
    fn a_restore_killed_between_its_moves_is_finished_by_the_next_start() {
        let (from, target) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let restored = ca(from.path());
        // Killed after the restored CA was written whole and the old one moved aside.
        std::fs::rename(TlsPaths::new(from.path()).dir, staging(target.path())).unwrap();
        let started = super::super::pki::ensure_ca(&TlsPaths::new(target.path())).unwrap();
        assert_eq!(started.cert_pem.as_bytes(), restored, "no new CA made");
        assert_eq!(cert(target.path()), restored);
        assert!(!staging(target.path()).exists());
        // Killed before the old one moved: the folder's own stays, the staged copy goes.
        let own = cert(target.path());
        let again = tempfile::tempdir().unwrap();
        ca(again.path());
        std::fs::rename(TlsPaths::new(again.path()).dir, staging(target.path())).unwrap();
        finish_interrupted(target.path()).unwrap();
        assert_eq!(cert(target.path()), own);
        assert!(!staging(target.path()).exists());
    }
}
