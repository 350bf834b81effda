//! Where the session token lives: the OS keyring by default, or — only when asked for
//! explicitly, for headless machines — a file readable by its owner alone.

use crate::error::{ClientError, Result};
use sha2::{Digest, Sha256};
use std::fmt::Debug;
use std::path::PathBuf;

/// A place to keep one secret per account (`account` is "server URL + username").
pub trait CredentialStore: Send + Sync + Debug {
    fn load(&self, account: &str) -> Result<Option<String>>;
    fn save(&self, account: &str, secret: &str) -> Result<()>;
    fn delete(&self, account: &str) -> Result<()>;
    /// A short name, recorded in the profile so later runs use the same store.
    fn kind(&self) -> &'static str;
}

/// The OS keyring (Secret Service / keyutils on Linux, Keychain, Credential Manager).
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    pub const SERVICE: &'static str = "clinic-messaging";

    pub fn new() -> Self {
        Self {
            service: Self::SERVICE.to_owned(),
        }
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, account).map_err(keyring_error)
    }
}

impl Default for KeyringStore {
    fn default() -> Self {
        Self::new()
    }
}

impl CredentialStore for KeyringStore {
    fn load(&self, account: &str) -> Result<Option<String>> {
        match self.entry(account)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn save(&self, account: &str, secret: &str) -> Result<()> {
        self.entry(account)?
            .set_password(secret)
            .map_err(keyring_error)
    }

    fn delete(&self, account: &str) -> Result<()> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn kind(&self) -> &'static str {
        "keyring"
    }
}

fn keyring_error(e: keyring::Error) -> ClientError {
    ClientError::Credentials(e.to_string())
}

/// A plain file per account under `dir`, mode 0600. The token is NOT encrypted: anyone who can
/// read the file can act as the user until the token expires or is revoked. Only for headless
/// machines without a keyring (and tests), and only when chosen explicitly.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, account: &str) -> PathBuf {
        let digest = hex::encode(Sha256::digest(account.as_bytes()));
        self.dir.join(format!("{}.token", &digest[..24]))
    }
}

impl CredentialStore for FileStore {
    fn load(&self, account: &str) -> Result<Option<String>> {
        match std::fs::read_to_string(self.path(account)) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn save(&self, account: &str, secret: &str) -> Result<()> {
        // A new file renamed into place, so a crash never leaves a half-written token behind.
        crate::profile::write_private(&self.path(account), secret.as_bytes())?;
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<()> {
        match std::fs::remove_file(self.path(account)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("creds"));
        assert_eq!(store.load("a").unwrap(), None);
        store.save("a", "secret-token").unwrap();
        assert_eq!(store.load("a").unwrap().as_deref(), Some("secret-token"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path("a"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.delete("a").unwrap();
        store.delete("a").unwrap();
        assert_eq!(store.load("a").unwrap(), None);
    }
}
