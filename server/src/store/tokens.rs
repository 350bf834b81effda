//! Sessions (login tokens) as clinic IT sees them: list, revoke, and the "last used" mark that
//! drives the idle expiry. A session is named by the first characters of its token's hash, so
//! nothing that could sign in is ever shown.

use crate::store::StoreError;
use crate::time::now_ms;
use rusqlite::{Connection, params};

/// Hex characters of the token hash shown as a session's id.
pub(crate) const ID_CHARS: i64 = 16;

/// One active session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub id: String,
    pub username: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

/// Unrevoked sessions within their absolute lifetime, newest first (of `username` if given).
pub(crate) fn active(conn: &Connection, username: Option<&str>) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT substr(t.hash, 1, ?1), u.username, t.created_at, \
         COALESCE(t.last_used_at, t.created_at), t.expires_at \
         FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.revoked = 0 AND t.expires_at > ?2 AND (?3 IS NULL OR u.username = ?3) \
         ORDER BY t.created_at DESC",
    )?;
    let rows = stmt
        .query_map(params![ID_CHARS, now_ms(), username], |r| {
            Ok(Row {
                id: r.get(0)?,
                username: r.get(1)?,
                created_at: r.get(2)?,
                last_used_at: r.get(3)?,
                expires_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Revokes every session of a user; how many were active.
pub(crate) fn revoke_user(conn: &Connection, username: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE tokens SET revoked = 1 WHERE revoked = 0 \
         AND user_id = (SELECT id FROM users WHERE username = ?1)",
        [username],
    )?)
}

/// Revokes the sessions whose id starts with `id` (refused unless it names exactly one).
pub(crate) fn revoke_id(conn: &Connection, id: &str) -> Result<usize, StoreError> {
    if id.len() < 6 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(StoreError::bad_input(
            "a session id is at least 6 hex characters, as `sessions list` shows it",
        ));
    }
    let pattern = format!("{}%", id.to_ascii_lowercase());
    let matching: i64 = conn.query_row(
        "SELECT count(*) FROM tokens WHERE hash LIKE ?1 AND revoked = 0",
        [&pattern],
        |r| r.get(0),
    )?;
    if matching > 1 {
        return Err(StoreError::bad_input(format!(
            "{matching} sessions start with {id}; give more of the id"
        )));
    }
    Ok(conn.execute(
        "UPDATE tokens SET revoked = 1 WHERE hash LIKE ?1 AND revoked = 0",
        [&pattern],
    )?)
}

/// Marks sessions as used now.
pub(crate) fn touch(conn: &Connection, hashes: &[String]) -> Result<(), StoreError> {
    let now = now_ms();
    let mut stmt = conn.prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE hash = ?1")?;
    for hash in hashes {
        stmt.execute(params![hash, now])?;
    }
    Ok(())
}
