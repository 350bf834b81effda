//! The recorded history of each emergency: one row per transition (who, when), always written in
//! the same transaction as the change it records.

use super::get;
use crate::audit::{self, Action, Event};
use crate::store::Seqs;
use crate::store::StoreError;
use crate::store::rows::{self, TRANSITION_SELECT, transition_text};
use crate::time::now_ms;
use clinic_protocol::{
    ConversationKey, Emergency, EmergencyId, EmergencyTransition, TransitionKind, UserId,
};
use rusqlite::{Connection, params};
use std::collections::HashSet;

/// Most transitions returned for one emergency; repeats are never recorded, so a real history
/// is a handful of rows plus one per doctor.
const MAX_TRANSITIONS: u32 = 1000;

/// Appends one transition.
pub(crate) fn record(
    conn: &Connection,
    id: &EmergencyId,
    kind: TransitionKind,
    actor: Option<&UserId>,
    note: Option<&str>,
    at_ms: i64,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO emergency_transitions (emergency_id, kind, actor_id, note, at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    stmt.execute(params![
        id.as_str(),
        transition_text(kind),
        actor.map(UserId::as_str),
        note,
        at_ms
    ])?;
    let action = match kind {
        TransitionKind::Raised => Action::EmergencyRaise,
        TransitionKind::Acknowledged => Action::EmergencyAcknowledge,
        TransitionKind::Escalated => Action::EmergencyEscalate,
        TransitionKind::Resolved => Action::EmergencyResolve,
        TransitionKind::Alerted | TransitionKind::Other => return Ok(()),
    };
    let (patient, doctor): (String, String) = conn
        .prepare_cached("SELECT patient_id, doctor_id FROM emergencies WHERE id = ?1")?
        .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let key = ConversationKey::new(UserId::new(patient), UserId::new(doctor));
    // A resolution note may describe the patient's condition: only whether there was one.
    let event = match actor {
        Some(actor) => Event::by(actor, action),
        None => Event::new("system", action),
    };
    audit::record(
        conn,
        &event
            .conversation(&key)
            .subject(id.as_str())
            .detail(serde_json::json!({ "note": note.is_some() })),
    )
}

/// Records the first alert to each of `doctors` (with how many of their devices it was queued
/// to). Doctors already recorded are skipped. Returns the emergency as it is now when at least
/// one doctor was new, so the change can be published.
pub(crate) fn record_alerted(
    conn: &Connection,
    seqs: &mut Seqs,
    id: &EmergencyId,
    doctors: &[(UserId, usize)],
) -> Result<Option<Emergency>, StoreError> {
    let at = now_ms();
    // One statement for every doctor, passed as a JSON array: a statement per doctor held the
    // writer about twice as long with a thousand doctors (benchmark S4).
    let reached = doctors
        .iter()
        .map(|(doctor, devices)| (doctor.as_str(), devices))
        .collect::<Vec<_>>();
    let reached =
        serde_json::to_string(&reached).map_err(|e| StoreError::internal(e.to_string()))?;
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO emergency_transitions (emergency_id, kind, actor_id, devices, at) \
             SELECT ?1, 'ALERTED', j.value ->> 0, j.value ->> 1, ?3 FROM json_each(?2) AS j \
             WHERE EXISTS (SELECT 1 FROM emergencies WHERE id = ?1)",
        )?
        .execute(params![id.as_str(), reached, at])?;
    if added == 0 {
        return Ok(None);
    }
    conn.execute(
        "UPDATE emergencies SET alerted_at = COALESCE(alerted_at, ?2), alerted_doctors = \
         (SELECT COUNT(*) FROM emergency_transitions WHERE emergency_id = ?1 AND kind = 'ALERTED'), \
         change_seq = ?3 WHERE id = ?1",
        params![id.as_str(), at, seqs.next().0],
    )?;
    get(conn, id)
}

/// The doctors an emergency's alert has reached (recorded), to avoid recording them again.
pub(crate) fn alerted(conn: &Connection, id: &EmergencyId) -> Result<HashSet<UserId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT actor_id FROM emergency_transitions WHERE emergency_id = ?1 AND kind = 'ALERTED'",
    )?;
    let set = stmt
        .query_map([id.as_str()], |r| r.get::<_, String>(0))?
        .map(|r| r.map(UserId::from))
        .collect::<Result<_, _>>()?;
    Ok(set)
}

/// An emergency's transitions, oldest first.
pub(crate) fn list(
    conn: &Connection,
    id: &EmergencyId,
) -> Result<Vec<EmergencyTransition>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{TRANSITION_SELECT} WHERE t.emergency_id = ?1 ORDER BY t.id LIMIT ?2"
    ))?;
    let list = stmt
        .query_map(params![id.as_str(), MAX_TRANSITIONS], rows::transition)?
        .collect::<Result<_, _>>()?;
    Ok(list)
}
