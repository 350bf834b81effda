//! Accounts without the server: create, list, disable and reset users in a data folder (used by
//! the CLI, the demo and tests), plus password and token hashing shared with login.

use crate::audit::{self, Action, Event};
use crate::config::db_path;
use crate::error::ApiError;
use crate::store::{self, users};
use argon2::password_hash::{self, PasswordHash, PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use chrono::NaiveDate;
use clinic_protocol::{ErrorCode, Role, User};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::LazyLock;

/// A new account, as clinic IT enters it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub name: String,
    pub role: Role,
    pub password: String,
    /// Patients: shown to doctors as age.
    pub date_of_birth: Option<NaiveDate>,
    pub blood_group: Option<String>,
}

/// An account as `list_users` shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub user: User,
    pub date_of_birth: Option<NaiveDate>,
    pub blood_group: Option<String>,
    pub disabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("username {0:?} is taken")]
    UsernameTaken(String),
    #[error("no user {0:?}")]
    NotFound(String),
    #[error("no active session {0}")]
    SessionNotFound(String),
    #[error("no active hold {0} (see `clinic-server hold list`)")]
    HoldNotFound(i64),
    #[error("cannot prepare the data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for AccountError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Database(err.to_string())
    }
}

impl From<ApiError> for AccountError {
    fn from(err: ApiError) -> Self {
        match err.code {
            ErrorCode::BadRequest | ErrorCode::TooLarge => Self::Invalid(err.message),
            _ => Self::Database(err.message),
        }
    }
}

/// Through the client's error, so that the CLI reads a store refusal the same way either way.
impl From<crate::store::StoreError> for AccountError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::from(err).into()
    }
}

const MAX_USERNAME: usize = 64;
const MAX_NAME: usize = 128;
const MAX_PASSWORD: usize = 1024;

fn validate(account: &NewAccount) -> Result<(), AccountError> {
    let username_ok = !account.username.is_empty()
        && account.username.len() <= MAX_USERNAME
        && account
            .username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !username_ok {
        return Err(AccountError::Invalid(format!(
            "username must be 1-{MAX_USERNAME} characters of a-z, 0-9, '.', '_', '-', '@'"
        )));
    }
    if account.name.trim().is_empty() {
        return Err(AccountError::Invalid(
            "the name is blank: give the person's name as the apps should show it".into(),
        ));
    }
    if account.name.len() > MAX_NAME {
        return Err(AccountError::Invalid(format!(
            "the name is too long (at most {MAX_NAME} bytes, about {MAX_NAME} letters)"
        )));
    }
    // A name is shown in lists, banners and terminals: a control character there (an escape
    // sequence) is no one's name and could repaint IT's terminal.
    if account.name.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "the name holds a control character (a tab, a line break, an escape): give it as \
             plain text"
                .into(),
        ));
    }
    check_password(&account.password)?;
    // Retention counts from a patient's birthday: one in the future (a typo for 1999) would
    // keep their records for a century, one before 1900 is no patient's.
    if let Some(born) = account.date_of_birth {
        // Today anywhere: a date already begun east of UTC (up to 14 hours) is no typo.
        let today = (chrono::Utc::now() + chrono::Duration::hours(14)).date_naive();
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
        if born > today || born < earliest {
            return Err(AccountError::Invalid(format!(
                "date of birth must be between {earliest} and today ({today})"
            )));
        }
    }
    if account.blood_group.as_ref().is_some_and(|g| g.len() > 8) {
        return Err(AccountError::Invalid("blood group is too long".into()));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.is_empty() {
        return Err(AccountError::Invalid("password must not be empty".into()));
    }
    if password.len() > MAX_PASSWORD {
        return Err(AccountError::Invalid(format!(
            "password must be at most {MAX_PASSWORD} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn open(data_dir: &Path) -> Result<rusqlite::Connection, AccountError> {
    crate::datadir::private_dir(data_dir)?;
    Ok(store::open_write(
        &db_path(data_dir),
        crate::Synchronous::Full,
    )?)
}

/// Creates an account in the data folder (creating the database if needed). Safe while a server
/// serves the same folder. Usernames are stored lower-case.
pub fn create_user(data_dir: &Path, account: NewAccount) -> Result<User, AccountError> {
    let account = NewAccount {
        username: account.username.to_lowercase(),
        ..account
    };
    validate(&account)?;
    let hash = hash_password(&account.password)?;
    let mut conn = open(data_dir)?;
    let result = store::writer::run_direct(&mut conn, |conn, _| {
        let user = users::insert(
            conn,
            &users::InsertUser {
                username: &account.username,
                name: account.name.trim(),
                role: account.role,
                password_hash: &hash,
                date_of_birth: account.date_of_birth,
                blood_group: account.blood_group.as_deref(),
            },
        )?;
        admin_event(conn, Action::AccountCreate, &user.id)?;
        Ok::<_, ApiError>(user)
    });
    match result {
        Err(err) if err.code == ErrorCode::Conflict => {
            Err(AccountError::UsernameTaken(account.username))
        }
        other => Ok(other?),
    }
}

/// Every account, by role then username.
pub fn list_users(data_dir: &Path) -> Result<Vec<AccountInfo>, AccountError> {
    let conn = open(data_dir)?;
    Ok(users::list(&conn)?
        .into_iter()
        .map(|a| AccountInfo {
            user: a.user,
            date_of_birth: a.date_of_birth,
            blood_group: a.blood_group,
            disabled: a.disabled,
        })
        .collect())
}

/// Disables (revoking every token; a running server closes the user's sockets at once, see
/// `sessions`) or re-enables an account.
pub fn set_disabled(data_dir: &Path, username: &str, disabled: bool) -> Result<(), AccountError> {
    let username = username.to_lowercase();
    let mut conn = open(data_dir)?;
    let found = store::writer::run_direct(&mut conn, |conn, _| {
        let found = users::set_disabled(conn, &username, disabled)?;
        if found {
            let action = if disabled {
                Action::AccountDisable
            } else {
                Action::AccountEnable
            };
            admin_event(conn, action, &id_of(conn, &username)?)?;
        }
        Ok::<_, crate::error::ApiError>(found)
    })?;
    if !found {
        return Err(AccountError::NotFound(username));
    }
    if disabled {
        crate::sessions::tell_server(data_dir);
    }
    Ok(())
}

/// How many doctors' accounts are enabled: none left means a patient's emergency reaches no
/// doctor's app (the clinic's alarm only), which `user disable` says.
pub fn active_doctors(data_dir: &Path) -> Result<usize, AccountError> {
    let conn = open(data_dir)?;
    Ok(users::active_ids_with_role(&conn, Role::Doctor)?.len())
}

/// Sets a new password and revokes every token of the account.
pub fn reset_password(data_dir: &Path, username: &str, password: &str) -> Result<(), AccountError> {
    check_password(password)?;
    let username = username.to_lowercase();
    let hash = hash_password(password)?;
    let mut conn = open(data_dir)?;
    let found = store::writer::run_direct(&mut conn, |conn, _| {
        let found = users::set_password(conn, &username, &hash)?;
        if found {
            admin_event(conn, Action::PasswordReset, &id_of(conn, &username)?)?;
        }
        Ok::<_, crate::error::ApiError>(found)
    })?;
    if !found {
        return Err(AccountError::NotFound(username));
    }
    crate::sessions::tell_server(data_dir);
    Ok(())
}

/// Records an administrator's change to the account `user` (actor: the OS user of the CLI).
pub(crate) fn admin_event(
    conn: &rusqlite::Connection,
    action: Action,
    user: &clinic_protocol::UserId,
) -> Result<(), ApiError> {
    Ok(audit::record(
        conn,
        &Event::new(audit::cli_actor(), action).subject(user.as_str()),
    )?)
}

fn id_of(conn: &rusqlite::Connection, username: &str) -> Result<clinic_protocol::UserId, ApiError> {
    users::by_username(conn, username)?
        .map(|a| a.user.id)
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// An argon2id hash (PHC string) of `password`. Slow on purpose: call off the async runtime.
pub(crate) fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Invalid(format!("cannot hash password: {e}")))
}

/// A hash to verify against when the username is unknown, so that unknown and known usernames
/// take the same time to refuse.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not a real password").unwrap_or_default());

/// Largest argon2 memory a stored hash may ask for, in KiB blocks (ours use the default,
/// 19 MiB): a hash edited into the database cannot make a login take gigabytes.
const MAX_MEMORY_BLOCKS: u32 = 256 * 1024;

/// Checks `password` against a stored hash (or the dummy one). Slow on purpose. The argon2
/// working memory is `memory`, kept by the caller from one check to the next: allocated afresh
/// for every check, the allocator kept each one (19 MiB more resident memory per failed login).
pub(crate) fn verify_password(
    password: &str,
    stored: Option<&str>,
    memory: &mut Vec<Block>,
) -> bool {
    let stored = stored.unwrap_or(DUMMY_HASH.as_str());
    let mut check = || -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        if params.m_cost() > MAX_MEMORY_BLOCKS {
            return None;
        }
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = Version::try_from(parsed.version.unwrap_or(0x13)).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut memory[..blocks],
            )
            .ok()?;
        // Constant-time comparison.
        Some(password_hash::Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false) && stored != DUMMY_HASH.as_str()
}

/// A new bearer token: 32 random bytes, base64url.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: its SHA-256, hex.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_verify_in_reused_memory() {
        let hash = hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        assert!(verify_password("correct horse", Some(&hash), &mut memory));
        let kept = memory.len();
        assert!(kept > 0);
        assert!(!verify_password("wrong horse", Some(&hash), &mut memory));
        assert!(
            !verify_password("correct horse", None, &mut memory),
            "unknown user"
        );
        assert!(!verify_password("x", Some("not a hash"), &mut memory));
        assert_eq!(memory.len(), kept, "the same memory, not more");
    }

    #[test]
    fn a_password_is_refused_with_the_reason_it_is() {
        let why = |p: &str| match check_password(p) {
            Err(AccountError::Invalid(why)) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(why(""), "password must not be empty");
        assert_eq!(
            why(&"x".repeat(MAX_PASSWORD + 1)),
            "password must be at most 1024 bytes"
        );
        assert!(check_password(&"x".repeat(MAX_PASSWORD)).is_ok());
    }
}
