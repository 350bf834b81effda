//! Accounts and login tokens in SQLite.

use super::rows::{self, USER_COLUMNS};
use crate::store::StoreError;
use crate::time::now_ms;
use chrono::NaiveDate;
use clinic_protocol::ws::Availability;
use clinic_protocol::{Role, User, UserId};
use rusqlite::{Connection, OptionalExtension, params};

/// A stored account with what login and the views need beyond [`User`].
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub user: User,
    pub password_hash: String,
    pub date_of_birth: Option<NaiveDate>,
    pub blood_group: Option<String>,
    pub disabled: bool,
    /// A doctor's stored availability (always `AVAILABLE` for others).
    pub availability: Availability,
}

macro_rules! account_select {
    () => {
        "SELECT id, username, name, role, password_hash, date_of_birth, blood_group, disabled, \
         availability FROM users"
    };
}
const ACCOUNT_SELECT: &str = account_select!();

fn account(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        user: rows::user(row)?,
        password_hash: row.get(4)?,
        date_of_birth: row
            .get::<_, Option<String>>(5)?
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()),
        blood_group: row.get(6)?,
        disabled: row.get(7)?,
        availability: availability_from(row.get::<_, Option<String>>(8)?.as_deref()),
    })
}

fn availability_from(text: Option<&str>) -> Availability {
    match text {
        Some("DO_NOT_DISTURB") => Availability::DoNotDisturb,
        _ => Availability::Available,
    }
}

pub(crate) struct InsertUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub date_of_birth: Option<NaiveDate>,
    pub blood_group: Option<&'a str>,
}

pub(crate) fn insert(conn: &Connection, new: &InsertUser<'_>) -> Result<User, StoreError> {
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1)",
        [new.username],
        |r| r.get(0),
    )?;
    if taken {
        return Err(StoreError::conflict(format!(
            "username {:?} is taken",
            new.username
        )));
    }
    let id = rows::new_id("u-");
    conn.execute(
        "INSERT INTO users (id, username, name, role, password_hash, date_of_birth, blood_group, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            new.username,
            new.name,
            rows::role_text(new.role),
            new.password_hash,
            new.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
            new.blood_group,
            now_ms()
        ],
    )?;
    Ok(User {
        id: id.into(),
        username: new.username.to_owned(),
        name: new.name.to_owned(),
        role: new.role,
    })
}

pub(crate) fn by_username(
    conn: &Connection,
    username: &str,
) -> Result<Option<Account>, StoreError> {
    Ok(conn
        .query_row(
            &format!("{ACCOUNT_SELECT} WHERE username = ?1"),
            [username],
            account,
        )
        .optional()?)
}

pub(crate) fn by_id(conn: &Connection, id: &UserId) -> Result<Option<Account>, StoreError> {
    Ok(conn
        .prepare_cached(concat!(account_select!(), " WHERE id = ?1"))?
        .query_row([id.as_str()], account)
        .optional()?)
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn.prepare(&format!("{ACCOUNT_SELECT} ORDER BY role, username"))?;
    let accounts = stmt.query_map([], account)?.collect::<Result<_, _>>()?;
    Ok(accounts)
}

/// Active users of one role (e.g. every doctor of the clinic).
pub(crate) fn active_with_role(conn: &Connection, role: Role) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "{ACCOUNT_SELECT} WHERE role = ?1 AND disabled = 0 ORDER BY name"
    ))?;
    let accounts = stmt
        .query_map([rows::role_text(role)], account)?
        .collect::<Result<_, _>>()?;
    Ok(accounts)
}

/// The ids of the enabled accounts with `role` (the recipients of a clinic-wide alert).
pub(crate) fn active_ids_with_role(
    conn: &Connection,
    role: Role,
) -> Result<Vec<UserId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM users WHERE role = ?1 AND disabled = 0")?;
    let ids = stmt
        .query_map([rows::role_text(role)], |r| r.get::<_, String>(0))?
        .map(|id| id.map(UserId::from))
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Sets `disabled`; disabling also revokes every token. False when no such user.
pub(crate) fn set_disabled(
    conn: &Connection,
    username: &str,
    disabled: bool,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE users SET disabled = ?2 WHERE username = ?1",
        params![username, disabled],
    )?;
    super::peers::forget();
    if disabled {
        conn.execute(
            "UPDATE tokens SET revoked = 1 WHERE user_id = (SELECT id FROM users WHERE username = ?1)",
            [username],
        )?;
    }
    Ok(changed > 0)
}

/// Replaces the password hash and revokes every token. False when no such user.
pub(crate) fn set_password(
    conn: &Connection,
    username: &str,
    hash: &str,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE username = ?1",
        params![username, hash],
    )?;
    conn.execute(
        "UPDATE tokens SET revoked = 1 WHERE user_id = (SELECT id FROM users WHERE username = ?1)",
        [username],
    )?;
    Ok(changed > 0)
}

/// Sessions one account keeps: a sign-in past them ends the one used longest ago. A person's
/// devices are far fewer; the bound keeps a loop of sign-ins from growing the table.
pub(crate) const MAX_SESSIONS_PER_ACCOUNT: i64 = 50;

/// Stores a new session of `user`, forgetting the user's revoked and expired ones (a forgotten
/// token is refused as a revoked one is) and, past [`MAX_SESSIONS_PER_ACCOUNT`], the ones used
/// longest ago, never one in `live` (a connected app's, whose mark of use is refreshed only
/// hourly). How many it ended that way.
pub(crate) fn insert_token(
    conn: &Connection,
    hash: &str,
    user: &UserId,
    expires_at: i64,
    live: &[String],
) -> Result<usize, StoreError> {
    let now = now_ms();
    conn.prepare_cached(
        "DELETE FROM tokens WHERE user_id = ?1 AND (revoked = 1 OR expires_at <= ?2)",
    )?
    .execute(params![user.as_str(), now])?;
    // The live ones are kept apart from the bound: the others fill what is left of it.
    let room = (MAX_SESSIONS_PER_ACCOUNT - 1)
        .saturating_sub(i64::try_from(live.len()).unwrap_or(i64::MAX))
        .max(0);
    let live = serde_json::to_string(live).map_err(|e| StoreError::internal(e.to_string()))?;
    let ended = conn
        .prepare_cached(
            "DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE user_id = ?1 \
             AND hash NOT IN (SELECT value FROM json_each(?3)) \
             ORDER BY COALESCE(last_used_at, created_at) DESC, rowid DESC LIMIT -1 OFFSET ?2)",
        )?
        .execute(params![user.as_str(), room, live])?;
    conn.execute(
        "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, user.as_str(), now, expires_at],
    )?;
    Ok(ended)
}

pub(crate) fn revoke_token(conn: &Connection, hash: &str) -> Result<(), StoreError> {
    conn.execute("UPDATE tokens SET revoked = 1 WHERE hash = ?1", [hash])?;
    Ok(())
}

/// The active user a token belongs to and when the token was last used, if the token is known,
/// unrevoked, within its absolute lifetime and used within the last `idle_ms`.
pub(crate) fn by_token(
    conn: &Connection,
    hash: &str,
    idle_ms: i64,
) -> Result<Option<(User, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {}, COALESCE(t.last_used_at, t.created_at) FROM tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.hash = ?1 AND t.revoked = 0 AND t.expires_at > ?2 \
             AND COALESCE(t.last_used_at, t.created_at) > ?2 - ?3 AND u.disabled = 0",
            prefixed_user_columns()
        ))?
        .query_row(params![hash, now_ms(), idle_ms], |row| {
            Ok((rows::user(row)?, row.get(USER_COLUMNS.split(", ").count())?))
        })
        .optional()?)
}

fn prefixed_user_columns() -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A user's stored availability (`AVAILABLE` unless a doctor chose do-not-disturb).
pub(crate) fn availability(conn: &Connection, id: &UserId) -> Result<Availability, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT availability FROM users WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(availability_from(text.as_deref()))
}

/// Stores a user's availability.
pub(crate) fn set_availability(
    conn: &Connection,
    id: &UserId,
    availability: Availability,
) -> Result<(), StoreError> {
    let text = match availability {
        Availability::Available => "AVAILABLE",
        Availability::DoNotDisturb => "DO_NOT_DISTURB",
    };
    conn.execute(
        "UPDATE users SET availability = ?2 WHERE id = ?1",
        params![id.as_str(), text],
    )?;
    Ok(())
}

/// A test's account: `username` as name and username, a placeholder password hash.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn for_test(conn: &Connection, username: &str, role: Role) -> User {
    insert(
        conn,
        &InsertUser {
            username,
            name: username,
            role,
            password_hash: "x",
            date_of_birth: None,
            blood_group: None,
        },
    )
    .unwrap()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_account_keeps_its_newest_used_sessions_and_forgets_ended_ones() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let alice = for_test(&conn, "alice", Role::Patient);
        let bob = for_test(&conn, "bob", Role::Patient);
        let far = now_ms() + 3_600_000;
        insert_token(&conn, "bob-1", &bob.id, far, &[]).unwrap();
        insert_token(&conn, "gone", &alice.id, far, &[]).unwrap();
        revoke_token(&conn, "gone").unwrap();
        insert_token(&conn, "expired", &alice.id, now_ms() - 1, &[]).unwrap();
        // The first one is a connected app's, last marked as used long ago: it is kept however
        // many sign-ins follow.
        insert_token(&conn, "in-use", &alice.id, far, &[]).unwrap();
        conn.execute(
            "UPDATE tokens SET last_used_at = ?1 WHERE hash = 'in-use'",
            [now_ms() - 1_800_000],
        )
        .unwrap();
        let live = ["in-use".to_owned()];
        let mut ended = 0;
        for i in 0..MAX_SESSIONS_PER_ACCOUNT + 10 {
            ended += insert_token(&conn, &format!("loop-{i}"), &alice.id, far, &live).unwrap();
        }
        assert_eq!(ended, 11);
        let held = |user: &UserId| -> Vec<String> {
            let mut stmt = conn
                .prepare("SELECT hash FROM tokens WHERE user_id = ?1 ORDER BY hash")
                .unwrap();
            stmt.query_map([user.as_str()], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let alices = held(&alice.id);
        assert_eq!(
            alices.len(),
            usize::try_from(MAX_SESSIONS_PER_ACCOUNT).unwrap()
        );
        assert!(alices.contains(&"in-use".to_owned()));
        assert!(alices.contains(&format!("loop-{}", MAX_SESSIONS_PER_ACCOUNT + 9)));
        assert!(!alices.contains(&"loop-0".to_owned()), "used longest ago");
        assert!(!alices.iter().any(|h| h == "gone" || h == "expired"));
        assert_eq!(held(&bob.id), ["bob-1"], "another account's are its own");
    }
}
