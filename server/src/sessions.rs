//! Sessions without the server: list and revoke logins in a data folder (`clinic-server sessions
//! ...`). Safe while a server serves the same folder: a command that ends sessions (here, and
//! `user disable` / `reset-password`) replaces the folder's `clinic.sessions-ended` file, which a
//! running server looks at twice a second, and then closes the ended sessions' live sockets; it
//! checks every `Config::session_check_interval` anyway (expiries, a marker it could not write).

use crate::accounts::{AccountError, open};
use crate::store::{self, tokens, users};
use crate::time::from_ms;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// An active session as `sessions list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The first characters of the token's hash: enough to revoke it, useless to sign in.
    pub id: String,
    pub username: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// The absolute end of the session (the idle expiry may end it sooner).
    pub expires_at: DateTime<Utc>,
}

/// Unrevoked, unexpired sessions, newest first; of one user if `username` is given.
pub fn list(data_dir: &Path, username: Option<&str>) -> Result<Vec<SessionInfo>, AccountError> {
    let conn = open(data_dir)?;
    let username = username.map(str::to_lowercase);
    if let Some(name) = &username
        && users::by_username(&conn, name)?.is_none()
    {
        return Err(AccountError::NotFound(name.clone()));
    }
    Ok(tokens::active(&conn, username.as_deref())?
        .into_iter()
        .map(|row| SessionInfo {
            id: row.id,
            username: row.username,
            created_at: from_ms(row.created_at),
            last_used_at: from_ms(row.last_used_at),
            expires_at: from_ms(row.expires_at),
        })
        .collect())
}

/// The file a command replaces after it ended sessions (see the module's comment).
pub fn ended_marker_path(data_dir: &Path) -> PathBuf {
    data_dir.join("clinic.sessions-ended")
}

/// Tells a server running on `data_dir` that sessions ended, by replacing the marker file (a new
/// file each time, so a marker another account left is replaced too). Best effort: without it
/// the server finds them at its next session check.
pub(crate) fn tell_server(data_dir: &Path) {
    // A new file of a random name (created, never opened if it exists: a link or a FIFO the
    // folder's owner planted there cannot redirect or hang a command run as root), renamed
    // over the marker (a link there is replaced, not followed).
    let told = tempfile::Builder::new()
        .prefix(".clinic.sessions-ended.")
        .tempfile_in(data_dir)
        .and_then(|file| {
            file.persist(ended_marker_path(data_dir))
                .map_err(|e| e.error)
        });
    if let Err(err) = told {
        tracing::debug!(error = %err, "could not tell a running server that sessions ended");
    }
}

/// What a server watches of the marker: it changed when this differs from the last look.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EndedMarker {
    path: PathBuf,
    seen: Option<(u64, std::time::SystemTime)>,
}

impl EndedMarker {
    pub(crate) fn watch(data_dir: &Path) -> Self {
        let path = ended_marker_path(data_dir);
        let seen = Self::look(&path);
        Self { path, seen }
    }

    /// Whether a command replaced the marker since the last call (one `stat`).
    pub(crate) fn changed(&mut self) -> bool {
        let now = Self::look(&self.path);
        now != std::mem::replace(&mut self.seen, now)
    }

    fn look(path: &Path) -> Option<(u64, std::time::SystemTime)> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some((inode, meta.modified().ok()?))
    }
}

/// Ends every session of a user; returns how many were active.
pub fn revoke_user(data_dir: &Path, username: &str) -> Result<usize, AccountError> {
    let username = username.to_lowercase();
    let mut conn = open(data_dir)?;
    if users::by_username(&conn, &username)?.is_none() {
        return Err(AccountError::NotFound(username));
    }
    let ended = store::writer::run_direct(&mut conn, |conn, _| {
        let count = tokens::revoke_user(conn, &username)?;
        if let Some(account) = crate::store::users::by_username(conn, &username)? {
            crate::audit::record(
                conn,
                &crate::audit::Event::new(
                    crate::audit::cli_actor(),
                    crate::audit::Action::SessionRevoke,
                )
                .subject(account.user.id.as_str())
                .detail(serde_json::json!({ "sessions": count })),
            )?;
        }
        Ok::<_, crate::error::ApiError>(count)
    })?;
    tell_server(data_dir);
    Ok(ended)
}

/// Ends the session whose id (or a unique start of it) is `id`.
pub fn revoke_session(data_dir: &Path, id: &str) -> Result<(), AccountError> {
    let mut conn = open(data_dir)?;
    let revoked = store::writer::run_direct(&mut conn, |conn, _| {
        let revoked = tokens::revoke_id(conn, id)?;
        if revoked > 0 {
            crate::audit::record(
                conn,
                &crate::audit::Event::new(
                    crate::audit::cli_actor(),
                    crate::audit::Action::SessionRevoke,
                )
                .detail(serde_json::json!({ "session": id })),
            )?;
        }
        Ok::<_, crate::error::ApiError>(revoked)
    })?;
    if revoked == 0 {
        return Err(AccountError::SessionNotFound(id.to_owned()));
    }
    tell_server(data_dir);
    Ok(())
}
