//! Sessions without the server: list and revoke logins in a data folder (`clinic-server sessions
//! ...`). Safe while a server serves the same folder: it notices a revoked session within
//! `Config::session_check_interval` and closes that session's live sockets.

use crate::accounts::{AccountError, open};
use crate::store::{self, tokens, users};
use crate::time::from_ms;
use chrono::{DateTime, Utc};
use std::path::Path;

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

/// Ends every session of a user; returns how many were active.
pub fn revoke_user(data_dir: &Path, username: &str) -> Result<usize, AccountError> {
    let username = username.to_lowercase();
    let mut conn = open(data_dir)?;
    if users::by_username(&conn, &username)?.is_none() {
        return Err(AccountError::NotFound(username));
    }
    Ok(store::writer::run_direct(&mut conn, |conn, _| {
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
    })?)
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
    Ok(())
}
