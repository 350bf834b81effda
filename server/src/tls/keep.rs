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
    /// to this path.
    Replaced(PathBuf),
}

/// Where a restore writes the CA it puts in place, whole, before it moves the folder's own
/// aside: a kill between the two leaves it there, and [`finish_interrupted`] puts it in place.
fn staging(data_dir: &Path) -> PathBuf {
    data_dir.join("tls.restoring")
}

/// The CA a backup kept, read and checked before a restore changes anything.
#[derive(Debug)]
pub struct Kept {
    files: Vec<(&'static str, Vec<u8>)>,
}

/// Reads the CA kept beside `backup`: `None` when the backup kept none (an older version made
/// it, or a server without a CA). One that is there but cannot be used (a link, a file
/// missing or unreadable, a key that is not the certificate's) is an error naming what is
/// wrong, so the restore stops before anything moves: restoring the database under another CA
/// would leave every paired app refused.
pub fn read_kept(backup: &Path) -> std::io::Result<Option<Kept>> {
    let dir = beside(backup);
    let bad = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the clinic CA kept in {} cannot be used: {why} (put the backup's whole CA there, \
                 or remove the folder to restore without it)",
                dir.display()
            ),
        )
    };
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(bad("it is a symbolic link".to_owned()));
        }
        Ok(meta) if !meta.is_dir() => return Err(bad("it is not a folder".to_owned())),
        Ok(_) => {}
    }
    // A folder with neither file (a `tls/` that held only a server certificate, moved aside
    // with a database) kept no CA; one with only one of them is half a CA.
    if CA_FILES.iter().all(|name| !dir.join(name).exists()) {
        return Ok(None);
    }
    let mut files = Vec::new();
    for name in CA_FILES {
        let bytes =
            std::fs::read(dir.join(name)).map_err(|e| bad(format!("reading {name}: {e}")))?;
        files.push((name, bytes));
    }
    let text = |i: usize| String::from_utf8_lossy(&files[i].1).into_owned();
    super::pki::check_ca(&text(0), &text(1)).map_err(bad)?;
    Ok(Some(Kept { files }))
}

/// Writes the kept CA whole into `tls.restoring/`, before a restore moves anything: false
/// when the data folder has that CA already (nothing to put in place).
pub fn stage(data_dir: &Path, kept: &Kept) -> std::io::Result<bool> {
    let paths = TlsPaths::new(data_dir);
    let staging = staging(data_dir);
    let _ = std::fs::remove_dir_all(&staging);
    let same = kept
        .files
        .iter()
        .all(|(name, bytes)| std::fs::read(paths.dir.join(name)).is_ok_and(|b| &b == bytes));
    if same {
        return Ok(false);
    }
    crate::datadir::private_dir(&staging)?;
    for (name, bytes) in &kept.files {
        let mut file = crate::datadir::private_file(&staging.join(name), true)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    sync_dir(data_dir);
    Ok(true)
}

/// Puts the CA [`stage`] wrote in place of the data folder's `tls/`, which goes to the path
/// `aside()` gives (the restore's `before-restore-TIME/clinic.db.tls`, beside the database it
/// moved aside, so that restoring that database brings its CA back too), never deleted. The
/// restore calls it while its note still stands: a kill here leaves a half-done restore, which
/// nothing serves and the next restore finishes. A `tls/` there already is one an interrupted
/// restore put in place (the folder's own is at `aside()` since), and goes.
pub fn put_in_place(
    data_dir: &Path,
    aside: impl FnOnce() -> std::io::Result<PathBuf>,
) -> std::io::Result<Restored> {
    let paths = TlsPaths::new(data_dir);
    let had_ca = paths.ca_cert().exists() || paths.ca_key().exists();
    let moved = if paths.dir.exists() {
        let to = aside()?;
        if to.exists() {
            std::fs::remove_dir_all(&paths.dir)?;
            None
        } else {
            std::fs::rename(&paths.dir, &to)?;
            Some(to)
        }
    } else {
        None
    };
    std::fs::rename(staging(data_dir), &paths.dir)?;
    sync_dir(data_dir);
    Ok(match moved {
        Some(to) if had_ca => Restored::Replaced(to),
        _ => Restored::Put,
    })
}

/// What a killed restore's CA step left when no restore is half done any more (a restore
/// killed before it moved anything, whose staged CA is stale): removed. A `tls.restoring/`
/// standing alone (no `tls/`) is put in place, never left for a start to replace with a new
/// CA. Called before anything reads or makes the CA.
pub fn finish_interrupted(data_dir: &Path) -> std::io::Result<()> {
    let staging = staging(data_dir);
    if !staging.exists() || crate::restore::interrupted(data_dir).is_some() {
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
        let kept = read_kept(&file).unwrap().unwrap();
        assert!(stage(new.path(), &kept).unwrap());
        assert_eq!(put_in_place(new.path(), never).unwrap(), Restored::Put);
        assert!(
            !stage(new.path(), &kept).unwrap(),
            "the same CA: nothing to put"
        );
        assert_eq!(cert(new.path()), old);

        // A folder that made a CA of its own (a server started before the restore): moved
        // aside whole, the backup's in its place, without the old server certificate.
        let other = tempfile::tempdir().unwrap();
        let own = ca(other.path());
        let aside = other.path().join("before-restore-x");
        std::fs::create_dir(&aside).unwrap();
        let to = aside.join("clinic.db.tls");
        let given = to.clone();
        assert!(stage(other.path(), &kept).unwrap());
        let done = put_in_place(other.path(), move || Ok(given)).unwrap();
        assert_eq!(done, Restored::Replaced(to.clone()));
        assert_eq!(cert(other.path()), old);
        assert!(!TlsPaths::new(other.path()).leaf_chain().exists());
        // Kept as a backup keeps it: restoring the database moved aside brings it back.
        let back = read_kept(&aside.join("clinic.db")).unwrap().unwrap();
        assert_eq!(back.files[0].1, own);

        // The CA deleted after a leak: a backup under the same name keeps no copy of it.
        std::fs::remove_dir_all(TlsPaths::new(clinic.path()).dir).unwrap();
        assert!(!backup(clinic.path(), &file).unwrap());
        assert!(!beside(&file).exists(), "the leaked key's old copy went");
        assert!(read_kept(&file).unwrap().is_none());
    }

    #[test]
    fn a_kept_ca_that_cannot_be_used_is_refused_before_anything_moves() {
        let (a, backups) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        ca(a.path());
        let file = backups.path().join("b.db");
        assert!(backup(a.path(), &file).unwrap());
        std::fs::remove_file(beside(&file).join("ca.key")).unwrap();
        let refused = read_kept(&file).unwrap_err().to_string();
        assert!(refused.contains("reading ca.key"), "{refused}");
        std::fs::remove_dir_all(beside(&file)).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(TlsPaths::new(a.path()).dir, beside(&file)).unwrap();
            let refused = read_kept(&file).unwrap_err().to_string();
            assert!(refused.contains("symbolic link"), "{refused}");
        }
    }

    #[test]
    fn a_kept_ca_whose_key_is_not_its_own_is_refused_when_read() {
        let (a, b, backups) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        ca(a.path());
        ca(b.path());
        let file = backups.path().join("b.db");
        assert!(backup(a.path(), &file).unwrap());
        assert!(read_kept(&file).unwrap().is_some());
        std::fs::copy(
            TlsPaths::new(b.path()).ca_key(),
            beside(&file).join("ca.key"),
        )
        .unwrap();
        let refused = read_kept(&file).unwrap_err().to_string();
        assert!(
            refused.contains("ca.key is not the key of ca.pem"),
            "{refused}"
        );
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
