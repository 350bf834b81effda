//! A profile directory: which server and user this client is signed in as (never the token),
//! and where that user's cache lives. One directory can hold caches of several users/servers.

use crate::credentials::{CredentialStore, FileStore, KeyringStore};
use crate::error::Result;
use crate::tls::Trust;
use clinic_protocol::User;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `login` leaves behind in `session.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub server_url: String,
    pub user: User,
    /// Which credential store holds the token: `keyring` or `file`.
    pub credentials: String,
}

impl Session {
    /// The credential store account name of this session.
    pub fn account(&self) -> String {
        account(&self.server_url, &self.user.username)
    }
}

pub(crate) fn account(server_url: &str, username: &str) -> String {
    format!("{username}@{server_url}")
}

#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The profile's folder `name`, made (or tightened to) 0700: for files a library writes
    /// on the app's behalf (the tray's icon), which must not go to a shared temp folder where
    /// another account could plant links at their predictable names.
    pub fn private_folder(&self, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir.join(name);
        private_dir(&dir)?;
        Ok(dir)
    }

    fn session_path(&self) -> PathBuf {
        self.dir.join("session.json")
    }

    pub fn load_session(&self) -> Result<Option<Session>> {
        match std::fs::read_to_string(self.session_path()) {
            Ok(s) => Ok(Some(serde_json::from_str(&s)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves the session, and its server as the one this profile last signed in to (a
    /// convenience for the next sign-in form: a failure to write that is only logged).
    pub fn save_session(&self, session: &Session) -> Result<()> {
        write_private(&self.session_path(), &serde_json::to_vec_pretty(session)?)?;
        if let Err(e) = write_private(&self.last_server_path(), session.server_url.as_bytes()) {
            tracing::warn!("could not remember the server for the next sign-in: {e}");
        }
        Ok(())
    }

    fn last_server_path(&self) -> PathBuf {
        self.dir.join("last-server")
    }

    /// The server this profile last signed in to, for the next sign-in form (kept after a
    /// logout: a clinic's address is no secret); a profile signed in before this was kept
    /// answers with its session's. `None` when it never signed in.
    /// Offered only from a private profile: an address another account planted there would
    /// have the user type her password for its server.
    pub fn last_server(&self) -> Option<String> {
        if self.check_private().is_err() {
            return None;
        }
        match std::fs::read(self.last_server_path()) {
            // An address, not a file of any size.
            Ok(bytes) if bytes.len() <= 2048 => String::from_utf8(bytes)
                .ok()
                .map(|url| url.trim().to_owned())
                .filter(|u| !u.is_empty()),
            Ok(_) => None,
            Err(_) => self.load_session().ok().flatten().map(|s| s.server_url),
        }
    }

    /// Refuses a profile folder that another account could have written into: one that belongs
    /// to someone else, or one left writable by others that holds anything not this account's
    /// (a planted token file, a link, a folder). A folder readable by others is made private.
    /// Called before a sign-in asks the server for a token and before a session is opened.
    pub fn check_private(&self) -> Result<()> {
        check_private(&self.dir)
    }

    fn pins_path(&self) -> PathBuf {
        self.dir.join("trusted-servers.json")
    }

    fn load_pins(&self) -> Result<BTreeMap<String, Trust>> {
        match std::fs::read_to_string(self.pins_path()) {
            Ok(s) => Ok(serde_json::from_str(&s)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// What this profile trusts for the server at `server_url` (a normalized base URL), kept
    /// across logouts so a changed certificate is noticed however long ago the pairing was.
    pub fn pin(&self, server_url: &str) -> Result<Option<Trust>> {
        Ok(self.load_pins()?.remove(server_url))
    }

    /// Every CA this profile trusts, at whatever address (a server moved to another address
    /// is known by its CA).
    pub fn pinned(&self) -> Result<Vec<Trust>> {
        Ok(self.load_pins()?.into_values().collect())
    }

    pub fn save_pin(&self, server_url: &str, trust: &Trust) -> Result<()> {
        let mut pins = self.load_pins()?;
        pins.insert(server_url.to_owned(), trust.clone());
        write_private(&self.pins_path(), &serde_json::to_vec_pretty(&pins)?)?;
        Ok(())
    }

    /// Forgets the pin of a server (after IT replaced its CA; the next login pairs again).
    /// False if there was none.
    pub fn forget_pin(&self, server_url: &str) -> Result<bool> {
        let mut pins = self.load_pins()?;
        let had = pins.remove(server_url).is_some();
        if had {
            write_private(&self.pins_path(), &serde_json::to_vec_pretty(&pins)?)?;
        }
        Ok(had)
    }

    pub fn clear_session(&self) -> Result<()> {
        match std::fs::remove_file(self.session_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The cache file of one user on one server (kept after logout: history stays readable).
    pub fn cache_path(&self, session: &Session) -> PathBuf {
        let key = format!("{}\n{}", session.server_url, session.user.id);
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        self.dir.join(format!(
            "cache-{}-{}.sqlite",
            name_part(&session.user.username),
            &digest[..12]
        ))
    }

    /// The explicit plain-file credential store of this profile (see [`FileStore`]).
    pub fn file_store(&self) -> FileStore {
        FileStore::new(self.dir.join("credentials"))
    }

    /// The store named `kind` (`file` → this profile's [`FileStore`], else the OS keyring).
    pub fn credential_store(&self, kind: &str) -> Arc<dyn CredentialStore> {
        match kind {
            "file" => Arc::new(self.file_store()),
            _ => Arc::new(KeyringStore::new()),
        }
    }
}

/// A username as part of a file name: the characters a clinic's usernames are made of (a-z,
/// 0-9, `_`, `-`, `@`) as they are, any other (the server's answer could hold a path, a control
/// character) as `_`, at most 64 of them. Names the server allows keep the name earlier
/// versions gave their cache (`.` was `_` there too).
fn name_part(username: &str) -> String {
    username
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Creates `dir` if needed, readable by this account only (0700): a profile holds health data.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        // Every folder made on the way is private too (`attachments/sent/<id>/`).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Writes `bytes` to `path`, readable by this account only, replacing it atomically: through a
/// new file of a name nobody can guess (created, never opened if it exists, so a planted file or
/// link at a fixed `.tmp` name cannot receive it), synced, then renamed over `path`. The folder
/// is created private (0700) if it is missing.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    private_dir(dir)?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// See [`Profile::check_private`].
fn check_private(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    return check_private_for(dir, rustix::process::geteuid().as_raw());
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// [`check_private`] for the account `me` (the tests give another account's id).
#[cfg(unix)]
fn check_private_for(dir: &Path, me: u32) -> Result<()> {
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = match std::fs::metadata(dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let refuse = |path: &Path, why: &str| crate::error::ClientError::ProfileNotPrivate {
            path: path.display().to_string(),
            why: why.to_owned(),
        };
        if meta.uid() != me {
            let why = format!(
                "it belongs to another account (uid {}; this one is uid {me})",
                meta.uid()
            );
            return Err(refuse(dir, &why));
        }
        if meta.mode() & 0o022 != 0 {
            // Others could write here: whatever they left is refused before anything is trusted.
            if let Some(planted) = not_mine(dir, me)? {
                return Err(refuse(&planted, "another account put it there"));
            }
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        // Folders an older version made under the umask (`attachments/`, each send's own).
        tighten_folders(dir)?;
    }
    Ok(())
}

/// Makes every folder under `dir` (links not followed) private.
#[cfg(unix)]
fn tighten_folders(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            if meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
            }
            tighten_folders(&path)?;
        }
    }
    Ok(())
}

/// The first entry under `dir` (links not followed) that this account (`me`) does not own.
#[cfg(unix)]
fn not_mine(dir: &Path, me: u32) -> std::io::Result<Option<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.uid() != me {
            return Ok(Some(path));
        }
        if meta.is_dir()
            && let Some(found) = not_mine(&path, me)?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Creates (or truncates) `path` readable and writable by this account only (0600); an existing
/// file made by an older version is tightened too.
pub(crate) fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Overwrites an open file with zeros and flushes it. On a copy-on-write file system or an SSD
/// the old blocks may survive below the file system; the docs say so.
pub(crate) fn zero_out(file: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut left = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let zeros = [0u8; 64 * 1024];
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    /// The sign-in form offers the server last signed in to, after a logout too, and a profile
    /// from before this was kept offers its session's.
    #[test]
    fn the_last_server_outlives_the_session() {
        let root = tempfile::tempdir().unwrap();
        let profile = Profile::new(root.path());
        assert_eq!(profile.last_server(), None);
        let session = |url: &str| Session {
            server_url: url.to_owned(),
            user: clinic_protocol::User {
                id: "u-1".into(),
                username: "alice".into(),
                name: "Alice".into(),
                role: clinic_protocol::Role::Patient,
            },
            credentials: "file".into(),
        };
        profile
            .save_session(&session("https://clinic.lan:8470/"))
            .unwrap();
        profile.clear_session().unwrap();
        assert_eq!(
            profile.last_server().as_deref(),
            Some("https://clinic.lan:8470/")
        );
        assert_eq!(mode(&root.path().join("last-server")), 0o600);
        std::fs::remove_file(root.path().join("last-server")).unwrap();
        write_private(
            &profile.session_path(),
            &serde_json::to_vec(&session("https://old.lan:8470/")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            profile.last_server().as_deref(),
            Some("https://old.lan:8470/")
        );
    }

    /// A clinic's usernames name their cache as before; anything else the server's answer
    /// holds (a path, terminal escapes, a NUL, a very long name) is no part of a file's name.
    #[test]
    fn a_username_names_a_cache_only_with_safe_characters() {
        assert_eq!(name_part("dr.patel"), "dr_patel");
        assert_eq!(name_part("a-b_c@clinic9"), "a-b_c@clinic9");
        assert_eq!(name_part("../\u{1b}[2J\u{7}\0bob"), "_____2J__bob");
        assert_eq!(name_part(&"é".repeat(300)), "_".repeat(64));
    }

    /// A file planted at the old fixed temporary name, and a hard link to the file being
    /// replaced, never receive what is written.
    #[test]
    fn a_private_write_goes_through_a_new_file_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("credentials");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let target = dir.join("x.token");
        let planted = dir.join("x.tmp");
        std::fs::write(&planted, "").unwrap();
        std::fs::write(&target, "old").unwrap();
        let outside = root.path().join("kept-by-someone-else");
        std::fs::hard_link(&target, &outside).unwrap();

        write_private(&target, b"secret").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"secret");
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(std::fs::read(&planted).unwrap(), b"", "the planted file");
        assert_eq!(std::fs::read(&outside).unwrap(), b"old", "the linked file");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file stays: {left:?}");
    }

    #[test]
    fn every_folder_made_on_the_way_is_private() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("attachments").join("sent").join("c-1");
        private_dir(&deep).unwrap();
        for dir in [
            root.path().join("attachments"),
            deep.parent().unwrap().into(),
            deep,
        ] {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn a_profile_others_could_write_into_is_refused_and_a_readable_one_made_private() {
        let root = tempfile::tempdir().unwrap();
        let me = std::fs::metadata(root.path()).unwrap().uid();
        let profile = root.path().join("profile");
        // Missing: nothing to check (the first write makes it 0700).
        check_private_for(&profile, me).unwrap();

        std::fs::create_dir_all(profile.join("credentials")).unwrap();
        std::fs::write(profile.join("credentials").join("a.token"), "t").unwrap();
        let sent = profile.join("attachments").join("sent").join("c-1");
        std::fs::create_dir_all(&sent).unwrap();
        for dir in [&profile, &profile.join("attachments"), &sent] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        check_private_for(&profile, me).unwrap();
        assert_eq!(mode(&profile), 0o700, "readable by others: made private");
        assert_eq!(
            mode(&profile.join("attachments")),
            0o700,
            "an older version's folder"
        );
        assert_eq!(mode(&sent), 0o700);

        // Another account's folder, or one others could write into with something of theirs
        // in it (here: everything is someone else's to an account with another id).
        let other = me + 1;
        let err = check_private_for(&profile, other).unwrap_err();
        assert!(
            err.to_string().contains("belongs to another account"),
            "{err}"
        );
        std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            not_mine(&profile, other).unwrap().as_deref(),
            Some(profile.join("credentials").as_path())
        );
        assert_eq!(not_mine(&profile, me).unwrap(), None);
        check_private_for(&profile, me).unwrap();
        assert_eq!(
            mode(&profile),
            0o700,
            "writable by others, all of it mine: made private"
        );
    }
}

/// Free space for an unprivileged user on the disk holding `dir`; `None` where unknown.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    fs4::available_space(dir).ok()
}
