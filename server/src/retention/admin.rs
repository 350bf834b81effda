//! Retention and legal holds without the server (`clinic-server retention ...`, `hold ...`):
//! safe while a server serves the same folder, since every step takes the write lock.

use super::{Due, Hold, Mode, Policy, Step, queue, remove_doomed, step};
use crate::accounts::{AccountError, open};
use crate::audit::{self, Action, Event};
use crate::store::{retention as sql, users, writer::run_direct};
use crate::time::now_ms;
use clinic_protocol::Role;
use std::path::Path;

/// Conversations the policy would remove now (held ones included, marked).
pub fn preview(data_dir: &Path, policy: &Policy) -> Result<Vec<Due>, AccountError> {
    let conn = open(data_dir)?;
    Ok(sql::due(&conn, policy, now_ms())?)
}

/// A conversation a run removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub patient: String,
    pub doctor: String,
    /// Messages removed (by this run and any killed run it finished).
    pub messages: u64,
}

/// Removes every due, unheld conversation now (finishing what a killed run began first).
pub fn run(data_dir: &Path, policy: &Policy) -> Result<Vec<Purged>, AccountError> {
    let mut conn = open(data_dir)?;
    // Files a crashed run left doomed go first.
    run_direct(&mut conn, |conn, _| remove_doomed(conn, data_dir, None))?;
    let mut purged = Vec::new();
    // Read outside the write lock: it reads every message.
    let mut keys = queue(&conn, policy, now_ms())?;
    loop {
        let done = run_direct(&mut conn, |conn, seqs| {
            step(conn, seqs, policy, now_ms(), Mode::Full, &mut keys)
        })?;
        match done {
            Step::Idle => return Ok(purged),
            Step::Began(_) | Step::Stopped(_) => {}
            Step::Removed { purge, batch } => {
                if !batch.doomed.is_empty() {
                    run_direct(&mut conn, |conn, _| remove_doomed(conn, data_dir, None))?;
                }
                if batch.finished {
                    let name = |id| {
                        users::by_id(&conn, id)
                            .map(|a| a.map(|a| a.user.username).unwrap_or_default())
                    };
                    purged.push(Purged {
                        patient: name(&purge.key.patient_id)?,
                        doctor: name(&purge.key.doctor_id)?,
                        messages: sql::removed(&conn, purge.id)?,
                    });
                }
            }
        }
    }
}

/// Places a legal hold on a patient's conversations (with one doctor, or all of them).
pub fn hold_add(
    data_dir: &Path,
    patient: &str,
    doctor: Option<&str>,
    reason: &str,
) -> Result<i64, AccountError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AccountError::Invalid(
            "give the reason for the hold (--reason), e.g. the case or request it serves".into(),
        ));
    }
    let mut conn = open(data_dir)?;
    let patient = account_with_role(&conn, patient, Role::Patient)?;
    let doctor = doctor
        .map(|d| account_with_role(&conn, d, Role::Doctor))
        .transpose()?;
    Ok(run_direct(&mut conn, |conn, _| {
        let id = sql::place_hold(conn, &patient, doctor.as_ref(), reason, now_ms())?;
        // The reason is the administrator's, but may name a case: it stays in `holds`.
        let mut event = Event::new(audit::cli_actor(), Action::HoldAdd)
            .patient(&patient)
            .subject(id.to_string());
        event.doctor = doctor.as_ref().map(|d| d.as_str().to_owned());
        audit::record(conn, &event)?;
        Ok::<_, crate::error::ApiError>(id)
    })?)
}

/// Active holds, or every hold ever placed with `all`.
pub fn holds(data_dir: &Path, all: bool) -> Result<Vec<Hold>, AccountError> {
    let conn = open(data_dir)?;
    Ok(sql::holds(&conn, all)?)
}

/// Releases a hold. Deletes nothing: the conversations go at the next run only if the policy
/// says so then.
pub fn hold_release(data_dir: &Path, id: i64, reason: &str) -> Result<(), AccountError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AccountError::Invalid(
            "give the reason the hold ends (--reason)".into(),
        ));
    }
    let mut conn = open(data_dir)?;
    let released = run_direct(&mut conn, |conn, _| {
        let released = sql::release_hold(conn, id, reason, now_ms())?;
        if released {
            audit::record(
                conn,
                &Event::new(audit::cli_actor(), Action::HoldRelease).subject(id.to_string()),
            )?;
        }
        Ok::<_, crate::error::ApiError>(released)
    })?;
    if released {
        Ok(())
    } else {
        Err(AccountError::HoldNotFound(id))
    }
}

fn account_with_role(
    conn: &rusqlite::Connection,
    username: &str,
    role: Role,
) -> Result<clinic_protocol::UserId, AccountError> {
    let username = username.to_lowercase();
    match users::by_username(conn, &username)? {
        Some(account) if account.user.role == role => Ok(account.user.id),
        Some(_) => Err(AccountError::Invalid(format!(
            "{username} is not a {}",
            role.as_str().to_lowercase()
        ))),
        None => Err(AccountError::NotFound(username)),
    }
}
