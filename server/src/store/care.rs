//! The care relation: which doctor may talk to which patient. A relation is a row of
//! `conversations` (the pair), opened by a first message, by a doctor who acknowledges or
//! resolves the patient's emergency, or by a doctor who starts it from the patient picker.
//! Patients never see other patients; the clinic's patient list is for doctors only.

use super::users::{self, Account};
use super::views;
use crate::store::StoreError;
use crate::time::now_ms;
use clinic_protocol::{Contact, Conversation, ConversationKey, Role, User, UserId};
use rusqlite::{Connection, params};
use std::collections::HashSet;

/// Default and largest page of `GET /api/patients`.
pub(crate) const DEFAULT_PATIENTS: u32 = 50;
pub(crate) const MAX_PATIENTS: u32 = 200;
/// Longest search text accepted (a name, not a document).
const MAX_QUERY_CHARS: usize = 100;

/// Opens the relation between `patient` and `doctor` if there is none. True when it is new (the
/// two now share a conversation and should learn of each other's presence).
pub(crate) fn open(
    conn: &Connection,
    patient: &UserId,
    doctor: &UserId,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT OR IGNORE INTO conversations (patient_id, doctor_id, created_at) \
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![patient.as_str(), doctor.as_str(), now_ms()])?
        > 0)
}

fn doctor_only(user: &User) -> Result<(), StoreError> {
    if user.role == Role::Doctor {
        Ok(())
    } else {
        Err(StoreError::forbidden(
            "only doctors can look up the clinic's patients",
        ))
    }
}

/// `GET /api/patients`: the clinic's enabled patients whose name or username contains `q`
/// (case-insensitive), in name order. Doctors only.
pub(crate) fn search_patients(
    conn: &Connection,
    viewer: &User,
    q: &str,
    limit: Option<u32>,
    online: &HashSet<UserId>,
) -> Result<Vec<Contact>, StoreError> {
    doctor_only(viewer)?;
    let q = q.trim();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(StoreError::bad_input(format!(
            "q is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let limit = limit.unwrap_or(DEFAULT_PATIENTS).clamp(1, MAX_PATIENTS) as usize;
    let needle = q.to_lowercase();
    // Filtered here rather than with LIKE: SQLite folds case for ASCII only, names are not.
    let found: Vec<Account> = users::active_with_role(conn, Role::Patient)?
        .into_iter()
        .filter(|a| {
            needle.is_empty()
                || a.user.name.to_lowercase().contains(&needle)
                || a.user.username.to_lowercase().contains(&needle)
        })
        .take(limit)
        .collect();
    // Presence is shared within a care relation only: a patient the doctor has no conversation
    // with shows offline, whether or not they are.
    let mine: HashSet<UserId> = views::partners(conn, viewer)?.into_iter().collect();
    let online: HashSet<UserId> = online.intersection(&mine).cloned().collect();
    Ok(found
        .iter()
        .map(|a| views::contact(a, viewer.role, &online))
        .collect())
}

/// `POST /api/conversations {patientId}`: a doctor opens the conversation with a patient of the
/// clinic. Returns it and whether it is new.
pub(crate) fn start(
    conn: &Connection,
    doctor: &User,
    patient: &UserId,
    online: &HashSet<UserId>,
) -> Result<(Conversation, bool), StoreError> {
    doctor_only(doctor)?;
    let key = ConversationKey::new(patient.clone(), doctor.id.clone());
    // The same check as a send: a real, enabled patient (else `not_found`).
    super::messages::check_access(conn, doctor, &key)?;
    let created = open(conn, patient, &doctor.id)?;
    // One that existed is answered with the patient's details and its last message, as the
    // conversation list gives them: recorded as a read of the list, of this one conversation.
    let event = if created {
        crate::audit::Event::by(&doctor.id, crate::audit::Action::ConversationStart)
    } else {
        crate::audit::Event::by(&doctor.id, crate::audit::Action::ConversationsRead)
            .detail(serde_json::json!({ "conversations": 1 }))
    };
    crate::audit::record(conn, &event.conversation(&key))?;
    let conversation = views::conversations(conn, doctor, online)?
        .into_iter()
        .find(|c| c.patient_id == key.patient_id && c.doctor_id == key.doctor_id)
        .ok_or_else(|| StoreError::internal("a conversation just opened is missing"))?;
    Ok((conversation, created))
}
