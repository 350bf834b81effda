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
use std::os::unix::fs::OpenOptionsExt;
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

    pub fn save_session(&self, session: &Session) -> Result<()> {
        private_dir(&self.dir)?;
        let path = self.session_path();
        let tmp = path.with_extension("tmp");
        std::io::Write::write_all(
            &mut private_file(&tmp)?,
            &serde_json::to_vec_pretty(session)?,
        )?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// Writes a file of this profile readable by its owner only, replacing it atomically.
    fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(tmp, path)?;
        Ok(())
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

    pub fn save_pin(&self, server_url: &str, trust: &Trust) -> Result<()> {
        let mut pins = self.load_pins()?;
        pins.insert(server_url.to_owned(), trust.clone());
        self.write_private(&self.pins_path(), &serde_json::to_vec_pretty(&pins)?)
    }

    /// Forgets the pin of a server (after IT replaced its CA; the next login pairs again).
    /// False if there was none.
    pub fn forget_pin(&self, server_url: &str) -> Result<bool> {
        let mut pins = self.load_pins()?;
        let had = pins.remove(server_url).is_some();
        if had {
            self.write_private(&self.pins_path(), &serde_json::to_vec_pretty(&pins)?)?;
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
            session.user.username.replace(['/', '\\', '.'], "_"),
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

/// Creates `dir` if needed, readable by this account only (0700): a profile holds health data.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
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
