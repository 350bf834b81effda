//! The recorded history of each emergency: one row per transition (who, when), always written in
//! the same transaction as the change it records.

use crate::audit::{self, Action, Event};
use crate::store::StoreError;
use crate::store::rows::{self, TRANSITION_SELECT, transition_text};
use crate::store::{Seqs, projection};
use crate::time::{from_ms, now_ms};
use chrono::{DateTime, Utc};
use clinic_protocol::{ConversationKey, EmergencyId, EmergencyTransition, TransitionKind, UserId};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// Most transitions returned for one emergency; repeats are never recorded, so a real history
/// is a handful of rows plus one per doctor.
const MAX_TRANSITIONS: u32 = 1000;

/// Appends one transition (its audit row is written when the change is made or logged).
pub(crate) fn insert(
    conn: &Connection,
    id: &EmergencyId,
    kind: TransitionKind,
    actor: Option<&UserId>,
    note: Option<&str>,
    at_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO emergency_transitions (emergency_id, kind, actor_id, note, at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id.as_str(),
        transition_text(kind),
        actor.map(UserId::as_str),
        note,
        at_ms
    ])?;
    Ok(())
}

/// The audit row of a transition of emergency `id` in conversation `key` (none for an alert).
pub(crate) fn audit_row(
    conn: &Connection,
    id: &EmergencyId,
    key: &ConversationKey,
    kind: TransitionKind,
    actor: Option<&UserId>,
    note: Option<&str>,
) -> Result<(), StoreError> {
    let action = match kind {
        TransitionKind::Raised => Action::EmergencyRaise,
        TransitionKind::Acknowledged => Action::EmergencyAcknowledge,
        TransitionKind::Escalated => Action::EmergencyEscalate,
        TransitionKind::Resolved => Action::EmergencyResolve,
        TransitionKind::Alerted | TransitionKind::Other => return Ok(()),
    };
    // A resolution note may describe the patient's condition: only whether there was one.
    let event = match actor {
        Some(actor) => Event::by(actor, action),
        None => Event::new("system", action),
    };
    audit::record(
        conn,
        &event
            .conversation(key)
            .subject(id.as_str())
            .detail(serde_json::json!({ "note": note.is_some() })),
    )
}

/// How far an emergency's alert has reached, as recorded: when it first reached a doctor, and
/// how many doctors it reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reach {
    pub at: DateTime<Utc>,
    pub doctors: u32,
}

/// Records the first alert to each of `doctors` (with how many of their devices it was queued
/// to). Doctors already recorded are skipped. Returns how far the alert has reached when at
/// least one doctor was new, so the change can be published. In a batch that logs (schema v31)
/// the record is appended to the log for the move to write ([`super::log_alerted`]), unless
/// the log is empty: then writing it now keeps every logged row newer than it all the same,
/// and costs less than a row of a thousand doctors written to the log and moved (S4 without
/// chat, where the log has moved by the time the alerts are out).
pub(crate) fn record_alerted(
    conn: &Connection,
    seqs: &mut Seqs,
    id: &EmergencyId,
    doctors: &[(UserId, usize)],
) -> Result<Option<Reach>, StoreError> {
    if seqs.log_sends() && !projection::empty(conn)? {
        return super::log_alerted(conn, seqs, id, doctors);
    }
    let reached = reached_param(doctors)?;
    if !write_alerted(conn, id, &reached, now_ms(), || seqs.next().0)? {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached("SELECT alerted_at, alerted_doctors FROM emergencies WHERE id = ?1")?
        .query_row([id.as_str()], |r| {
            Ok(Reach {
                at: from_ms(r.get(0)?),
                doctors: r.get(1)?,
            })
        })
        .optional()?)
}

/// `doctors` as the statements take them: a JSON array of [doctor, devices].
pub(crate) fn reached_param(doctors: &[(UserId, usize)]) -> Result<String, StoreError> {
    let reached = doctors
        .iter()
        .map(|(doctor, devices)| (doctor.as_str(), i64::try_from(*devices).unwrap_or(i64::MAX)))
        .collect::<Vec<_>>();
    rows::json_param(&reached)
}

/// Records an ALERTED transition at `at` for each doctor of `reached` (a JSON array of
/// [doctor, devices]) not recorded yet, and then the emergency's count, with change seq
/// `seq()`. False, writing nothing, when none was new or the emergency is not stored.
pub(crate) fn write_alerted(
    conn: &Connection,
    id: &EmergencyId,
    reached: &str,
    at: i64,
    seq: impl FnOnce() -> i64,
) -> rusqlite::Result<bool> {
    // One statement for every doctor, passed as a JSON array: a statement per doctor held the
    // writer about twice as long with a thousand doctors (benchmark S4).
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO emergency_transitions (emergency_id, kind, actor_id, devices, at) \
             SELECT ?1, 'ALERTED', j.value ->> 0, j.value ->> 1, ?3 FROM json_each(?2) AS j \
             WHERE EXISTS (SELECT 1 FROM emergencies WHERE id = ?1)",
        )?
        .execute(params![id.as_str(), reached, at])?;
    if added == 0 {
        return Ok(false);
    }
    conn.prepare_cached(COUNT_ALERTED)?
        .execute(params![id.as_str(), at, seq()])?;
    Ok(true)
}

/// Sets emergency `?1`'s count of doctors alerted from its transitions (and when it was first
/// alerted, `?2`, and its change seq, `?3`).
pub(crate) const COUNT_ALERTED: &str = "UPDATE emergencies SET alerted_at = \
     COALESCE(alerted_at, ?2), alerted_doctors = (SELECT COUNT(*) FROM emergency_transitions \
     WHERE emergency_id = ?1 AND kind = 'ALERTED'), change_seq = ?3 WHERE id = ?1";

/// The doctors alerted of emergency `?1`.
pub(crate) const ALERTED: &str =
    "SELECT actor_id FROM emergency_transitions WHERE emergency_id = ?1 AND kind = 'ALERTED'";

/// The doctors an emergency's alert has reached (recorded), to avoid recording them again.
pub(crate) fn alerted(conn: &Connection, id: &EmergencyId) -> Result<HashSet<UserId>, StoreError> {
    let mut stmt = conn.prepare_cached(ALERTED)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::users::for_test as user;
    use crate::store::{Seqs, messages};
    use clinic_protocol::{ClientId, NewMessage, Role};

    /// One statement records every doctor reached: new ones once each (a doctor listed twice
    /// too), those already recorded not again, with their device counts; nothing for no
    /// doctors or an emergency that does not exist.
    #[test]
    fn the_doctors_an_alert_reached_are_recorded_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let patient = user(&tx, "p", Role::Patient);
        let doctors: Vec<_> = (0..3)
            .map(|i| user(&tx, &format!("d{i}"), Role::Doctor).id)
            .collect();
        let mut seqs = Seqs::loaded(&tx, false);
        let new = NewMessage {
            client_id: None,
            patient_id: patient.id.clone(),
            doctor_id: doctors[0].clone(),
            content: "help".to_owned(),
            is_emergency: true,
            file_url: None,
            file_name: None,
            held_ms: None,
        };
        let sent = messages::send(&tx, &mut seqs, &patient, &new, &ClientId::new("e-1")).unwrap();
        let id = sent.emergency.unwrap().emergency.id;

        let first = record_alerted(&tx, &mut seqs, &id, &[(doctors[0].clone(), 2)]).unwrap();
        assert_eq!(first.map(|r| r.doctors), Some(1));
        let reached = [
            (doctors[0].clone(), 5),
            (doctors[1].clone(), 1),
            (doctors[2].clone(), 3),
            (doctors[1].clone(), 1),
        ];
        let second = record_alerted(&tx, &mut seqs, &id, &reached).unwrap();
        assert_eq!(second.map(|r| r.doctors), Some(3));
        assert_eq!(
            second.map(|r| r.at),
            first.map(|r| r.at),
            "first reached then"
        );
        let devices: Vec<(String, i64)> = tx
            .prepare(
                "SELECT actor_id, devices FROM emergency_transitions \
                 WHERE emergency_id = ?1 AND kind = 'ALERTED' ORDER BY id",
            )
            .unwrap()
            .query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<(String, i64)> = [(0, 2), (1, 1), (2, 3)]
            .iter()
            .map(|&(i, n)| (doctors[i].as_str().to_owned(), n))
            .collect();
        assert_eq!(devices, expected);
        assert!(
            record_alerted(&tx, &mut seqs, &id, &reached)
                .unwrap()
                .is_none()
        );
        assert!(record_alerted(&tx, &mut seqs, &id, &[]).unwrap().is_none());
        let nowhere = EmergencyId::from("e-nowhere");
        assert!(
            record_alerted(&tx, &mut seqs, &nowhere, &reached[..1])
                .unwrap()
                .is_none()
        );
        let stray: i64 = tx
            .query_row(
                "SELECT count(*) FROM emergency_transitions WHERE emergency_id = 'e-nowhere'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stray, 0);
    }
}
