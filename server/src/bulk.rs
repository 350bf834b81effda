//! Bulk set-up for benchmarks and load tests: thousands of accounts with ready tokens, and long
//! conversation histories, written straight into a data folder (no server running needed).
//!
//! Not for production use: every account gets the same password (hashed once, since argon2 per
//! account would take minutes for 10,000 accounts) and a token is issued without a login.

use crate::accounts::{AccountError, hash_password, new_token, token_hash};
use crate::config::db_path;
use crate::store::{self, messages, receipts, users};
use crate::time::now_ms;
use clinic_protocol::{ClientId, ConversationKey, MessageId, NewMessage, Role, User};
use rusqlite::OptionalExtension;
use std::path::Path;

/// Rows written per transaction when seeding history (bounded so one transaction stays small).
const SEED_CHUNK: usize = 5_000;

/// An account made by [`create_users`] with a token that authenticates it.
#[derive(Debug, Clone)]
pub struct BulkUser {
    pub user: User,
    /// Bearer token, valid for `token_ttl_secs`.
    pub token: String,
}

fn open(data_dir: &Path) -> Result<rusqlite::Connection, AccountError> {
    crate::datadir::private_dir(data_dir)?;
    Ok(store::open_write(
        &db_path(data_dir),
        crate::Synchronous::Normal,
    )?)
}

/// Creates `count` accounts named `{prefix}{i}` (i from 0) with `role`, all sharing `password`
/// (hashed once), and issues each a token valid for `token_ttl_secs`. One transaction.
pub fn create_users(
    data_dir: &Path,
    prefix: &str,
    role: Role,
    count: usize,
    password: &str,
    token_ttl_secs: i64,
) -> Result<Vec<BulkUser>, AccountError> {
    let hash = hash_password(password)?;
    let mut conn = open(data_dir)?;
    let expires_at = now_ms().saturating_add(token_ttl_secs.saturating_mul(1000));
    let made = store::writer::run_direct(&mut conn, |conn, _| {
        let mut made = Vec::with_capacity(count);
        for i in 0..count {
            let username = format!("{prefix}{i}");
            let user = users::insert(
                conn,
                &users::InsertUser {
                    username: &username,
                    name: &format!("Bench {role:?} {i}"),
                    role,
                    password_hash: &hash,
                    date_of_birth: None,
                    blood_group: None,
                },
            )?;
            let token = new_token();
            users::insert_token(conn, &token_hash(&token), &user.id, expires_at, &[])?;
            made.push(BulkUser { user, token });
        }
        Ok::<_, crate::error::ApiError>(made)
    })?;
    Ok(made)
}

/// Writes `count` messages into the conversation of `patient` and `doctor`, alternating senders,
/// through the same code path as a live send (ids, sequences, notifications). Client ids are
/// `seed-{patientId}-{i}` (a doctor seeded into several conversations sends each its own), so
/// calling it twice adds nothing new.
pub fn seed_conversation(
    data_dir: &Path,
    patient: &User,
    doctor: &User,
    count: usize,
) -> Result<(), AccountError> {
    seed_conversation_with(data_dir, patient, doctor, count, |i| {
        format!("history message {i}")
    })
}

/// As [`seed_conversation`], with the text of message `i` from `text`.
pub fn seed_conversation_with(
    data_dir: &Path,
    patient: &User,
    doctor: &User,
    count: usize,
    mut text: impl FnMut(usize) -> String,
) -> Result<(), AccountError> {
    let mut conn = open(data_dir)?;
    let mut next = 0;
    while next < count {
        let end = (next + SEED_CHUNK).min(count);
        store::writer::run_direct(&mut conn, |conn, seqs| {
            for i in next..end {
                let sender = if i % 2 == 0 { patient } else { doctor };
                let client_id = ClientId::new(format!("seed-{}-{i}", patient.id));
                let new = NewMessage {
                    client_id: Some(client_id.clone()),
                    patient_id: patient.id.clone(),
                    doctor_id: doctor.id.clone(),
                    content: text(i),
                    is_emergency: false,
                    file_url: None,
                    file_name: None,
                    held_ms: None,
                };
                messages::send(conn, seqs, sender, &new, &client_id)?;
            }
            Ok::<_, crate::error::ApiError>(())
        })?;
        next = end;
    }
    Ok(())
}

/// Marks everything in the conversation of `patient` and `doctor` read by both, as each one's
/// "read up to" its newest message would (the statuses, times and change sequences a clinic's
/// history has): a seeded history as a running clinic's looks, read, for benchmarks.
pub fn read_conversation(
    data_dir: &Path,
    patient: &User,
    doctor: &User,
) -> Result<(), AccountError> {
    let mut conn = open(data_dir)?;
    let key = ConversationKey {
        patient_id: patient.id.clone(),
        doctor_id: doctor.id.clone(),
    };
    let newest: Option<String> = conn
        .query_row(
            "SELECT id FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 \
             ORDER BY seq DESC LIMIT 1",
            [patient.id.as_str(), doctor.id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(newest) = newest.map(MessageId::from) else {
        return Ok(());
    };
    store::writer::run_direct(&mut conn, |conn, seqs| {
        for reader in [patient, doctor] {
            receipts::mark_read_up_to(conn, seqs, reader, &key, &newest)?;
        }
        Ok::<_, crate::error::ApiError>(())
    })?;
    Ok(())
}

/// Like [`seed_conversation`] between two existing accounts named by username (e.g. the demo
/// clinic's `bob` and `dr.nguyen`), for benchmarks of a client on a long conversation.
pub fn seed_conversation_between(
    data_dir: &Path,
    patient: &str,
    doctor: &str,
    count: usize,
) -> Result<(), AccountError> {
    let conn = open(data_dir)?;
    let find = |username: &str, role: Role| -> Result<User, AccountError> {
        match users::by_username(&conn, username)? {
            Some(account) if account.user.role == role => Ok(account.user),
            Some(_) => Err(AccountError::Invalid(format!(
                "{username} is not a {}",
                role.as_str().to_lowercase()
            ))),
            None => Err(AccountError::NotFound(username.to_owned())),
        }
    };
    let (patient, doctor) = (find(patient, Role::Patient)?, find(doctor, Role::Doctor)?);
    drop(conn);
    seed_conversation(data_dir, &patient, &doctor, count)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn count(data_dir: &Path) -> i64 {
        open(data_dir)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn seeds_between_named_accounts_once() {
        let dir = tempfile::tempdir().unwrap();
        create_users(dir.path(), "p", Role::Patient, 1, "pw-for-bench", 60).unwrap();
        create_users(dir.path(), "d", Role::Doctor, 1, "pw-for-bench", 60).unwrap();
        seed_conversation_between(dir.path(), "p0", "d0", 5).unwrap();
        assert_eq!(count(dir.path()), 5);
        // Client ids repeat, so a second call adds nothing.
        seed_conversation_between(dir.path(), "p0", "d0", 5).unwrap();
        assert_eq!(count(dir.path()), 5);
        assert!(matches!(
            seed_conversation_between(dir.path(), "d0", "p0", 1),
            Err(AccountError::Invalid(_))
        ));
        assert!(matches!(
            seed_conversation_between(dir.path(), "nobody", "d0", 1),
            Err(AccountError::NotFound(_))
        ));
    }

    #[test]
    fn a_seeded_conversation_is_read_by_both_with_a_change_each() {
        let dir = tempfile::tempdir().unwrap();
        let p = create_users(dir.path(), "p", Role::Patient, 1, "pw-for-bench", 60).unwrap();
        let d = create_users(dir.path(), "d", Role::Doctor, 1, "pw-for-bench", 60).unwrap();
        let (p, d) = (&p[0].user, &d[0].user);
        read_conversation(dir.path(), p, d).unwrap();
        seed_conversation(dir.path(), p, d, 6).unwrap();
        read_conversation(dir.path(), p, d).unwrap();
        let conn = open(dir.path()).unwrap();
        let (read, changed, unread): (i64, i64, i64) = conn
            .query_row(
                "SELECT sum(status = 'READ'), sum(change_seq != seq), \
                 (SELECT patient_unread + doctor_unread FROM conversations) FROM messages",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((read, changed, unread), (6, 6, 0));
    }
}
