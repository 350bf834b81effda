//! Emergencies in SQLite: raised with their message, alerted, escalated, acknowledged and
//! resolved, each transition recorded with who and when (see [`transitions`]).

pub(crate) mod transitions;

pub(crate) use transitions::Reach;

#[cfg(test)]
mod tests;

use super::projection::{
    self, LoggedAlert, LoggedEscalate, LoggedRaise, LoggedResolve, LoggedStamp, LoggedTake,
};
use super::rows::{self, EMERGENCY_SELECT};
use super::{Seqs, notifications};
use crate::store::StoreError;
use crate::time::{from_ms, now_ms};
use clinic_protocol::rest::EmergencyDetail;
use clinic_protocol::{
    ConversationKey, Emergency, EmergencyId, EmergencyState, Message, MessageId, Notification,
    NotificationKind, Role, Seq, TransitionKind, User, UserId, limits,
};
use rusqlite::{Connection, OptionalExtension, params};

/// How an emergency message met the patient's emergencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raise {
    /// No emergency of the patient was open: this message opened one.
    New,
    /// One was waiting for a doctor: the message joined it.
    Joined,
    /// One had been acknowledged and not resolved: the message joined it, and it waits for a
    /// doctor again.
    Reopened,
}

/// The emergency an emergency message raised or joined, as it is after the message.
#[derive(Debug, Clone)]
pub(crate) struct Raised {
    pub emergency: Emergency,
    pub how: Raise,
    /// The change seq of the raise, or of the message that joined: where it falls among the
    /// emergency's transitions (the alert watch orders them by it).
    pub seq: Seq,
}

/// The patient's open emergency (at most one), if any.
fn open_of(conn: &Connection, patient: &UserId) -> Result<Option<Emergency>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{EMERGENCY_SELECT} WHERE e.patient_id = ?1 AND e.state != 'RESOLVED' \
             ORDER BY e.raised_at DESC LIMIT 1"
        ))?
        .query_row([patient.as_str()], rows::emergency)
        .optional()?
        .map(|(e, _)| e))
}

/// The patient's open emergency as it will be once the log has moved: in a batch that logs,
/// the one the newest logged change of the patient's emergency left (the writer's
/// memory; none after a resolution, since a patient has at most one open), else the stored
/// one.
fn open_as_it_will_be(
    conn: &Connection,
    seqs: &mut Seqs,
    patient: &UserId,
) -> Result<Option<Emergency>, StoreError> {
    if !seqs.log_sends() {
        return open_of(conn, patient);
    }
    if let Some((seq, logged)) = seqs.logged().emergency_of(patient.as_str()) {
        let logged = logged.clone();
        if still_logged(conn, seqs, seq, patient)? {
            return Ok(Some(logged).filter(|e| e.state != EmergencyState::Resolved));
        }
    }
    with_logged_alerts(conn, open_of(conn, patient)?)
}

/// Emergency `id` as it will be once the log has moved (see [`open_as_it_will_be`]). The
/// memory holds only each patient's newest: an emergency resolved in the log and followed
/// there by the raise of the patient's next one is found by its resolution waiting in the log,
/// and refused as closed (by every command that calls this), stored or not yet.
fn as_it_will_be(
    conn: &Connection,
    seqs: &mut Seqs,
    id: &EmergencyId,
) -> Result<Option<Emergency>, StoreError> {
    if !seqs.log_sends() {
        return get(conn, id);
    }
    if let Some((seq, logged)) = seqs.logged().emergency(id) {
        let logged = logged.clone();
        if still_logged(conn, seqs, seq, &logged.patient_id)? {
            return Ok(Some(logged));
        }
    }
    if projection::resolve_logged(conn, id)? {
        return Err(StoreError::conflict("the emergency is already resolved"));
    }
    with_logged_alerts(conn, get(conn, id)?)
}

/// A stored emergency as the alert records waiting in the log will leave it (each names only
/// doctors it reached first, so the counts add up).
fn with_logged_alerts(
    conn: &Connection,
    emergency: Option<Emergency>,
) -> Result<Option<Emergency>, StoreError> {
    let Some(mut emergency) = emergency else {
        return Ok(None);
    };
    let logged = projection::logged_alerts(conn, &emergency.id)?;
    if let Some((at, _)) = logged.first() {
        emergency.alerted_at = emergency.alerted_at.or(Some(from_ms(*at)));
        emergency.alerted_doctors = emergency
            .alerted_doctors
            .saturating_add(u32::try_from(logged.len()).unwrap_or(u32::MAX));
    }
    Ok(Some(emergency))
}

/// Records, in a batch that logs (schema v31), the first alert to each of `doctors`, as
/// [`transitions::record_alerted`] writes it outside one: judged on the doctors recorded for
/// the emergency, stored and waiting in the log, and appended to the log for the move to write
/// ([`apply_logged_alert`]). How far the alert has reached when at least one doctor was new;
/// nothing for an emergency neither stored nor raised in the log.
pub(crate) fn log_alerted(
    conn: &Connection,
    seqs: &mut Seqs,
    id: &EmergencyId,
    doctors: &[(UserId, usize)],
) -> Result<Option<Reach>, StoreError> {
    // As it will be, whatever its state (a doctor may have taken it since the alert went out):
    // the writer's memory, else the stored one (none when only its raise is in the log, behind
    // the patient's next emergency).
    let remembered = seqs
        .logged()
        .emergency(id)
        .map(|(seq, logged)| (seq, logged.clone()));
    let mut known = None;
    if let Some((seq, logged)) = remembered
        && still_logged(conn, seqs, seq, &logged.patient_id)?
    {
        known = Some(logged);
    }
    let stored = match known {
        Some(_) => None,
        None => get(conn, id)?,
    };
    if known.is_none() && stored.is_none() && !projection::raise_logged(conn, id)? {
        return Ok(None);
    }
    let mut reached = transitions::alerted(conn, id)?;
    let logged = projection::logged_alerts(conn, id)?;
    let mut at = stored
        .as_ref()
        .or(known.as_ref())
        .and_then(|e| e.alerted_at)
        .or(logged.first().map(|(at, _)| from_ms(*at)));
    reached.extend(logged.into_iter().map(|(_, doctor)| doctor));
    let new: Vec<(UserId, usize)> = doctors
        .iter()
        .filter(|(doctor, _)| reached.insert(doctor.clone()))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(None);
    }
    let now = now_ms();
    let at = *at.get_or_insert(from_ms(now));
    let reach = Reach {
        at,
        doctors: u32::try_from(reached.len()).unwrap_or(u32::MAX),
    };
    let alert = LoggedAlert {
        seq: seqs.next().0,
        emergency: id.clone(),
        reached: transitions::reached_param(&new)?,
        at: now,
    };
    let known = known.map(|mut e| {
        e.alerted_at = Some(reach.at);
        e.alerted_doctors = reach.doctors;
        e
    });
    projection::log_alert(conn, seqs.logged_mut(), &alert, known.as_ref())?;
    Ok(Some(reach))
}

/// Applies a logged alert record in the move, as [`transitions::record_alerted`] writes one
/// outside a batch that logs. One whose emergency is not stored (its raise left out of the
/// move as a repeat) records nothing, as the direct write would.
pub(crate) fn apply_logged_alert(conn: &Connection, alert: &LoggedAlert) -> rusqlite::Result<()> {
    transitions::write_alerted(conn, &alert.emergency, &alert.reached, alert.at, || {
        alert.seq
    })?;
    Ok(())
}

/// Whether the patient's remembered row `seq` is still in the log. Another process (the CLI)
/// may have moved it: then the stored emergency says how it is now, and the writer forgets it.
fn still_logged(
    conn: &Connection,
    seqs: &mut Seqs,
    seq: i64,
    patient: &UserId,
) -> Result<bool, StoreError> {
    if projection::logged(conn, seq)? {
        return Ok(true);
    }
    seqs.logged_mut().forget_emergency(patient.as_str());
    Ok(false)
}

/// Records an emergency message (in the message's transaction): a patient has at most one open
/// emergency, so the message opens a new one only when none is open, and joins it otherwise
/// (then nothing is written for it). In a batch that logs (schema v27) it is judged on the
/// patient's emergency as it will be once the log has moved, and its raise is appended to the
/// log for the move to write ([`apply_logged`]); otherwise the raise is written now, the same
/// way. Its audit row is written now either way.
pub(crate) fn raise_or_join(
    conn: &Connection,
    seqs: &mut Seqs,
    message: &Message,
    patient_name: &str,
) -> Result<Raised, StoreError> {
    let (emergency, how) = match open_as_it_will_be(conn, seqs, &message.patient_id)? {
        Some(open) if open.state == EmergencyState::Raised => {
            return Ok(Raised {
                emergency: open,
                how: Raise::Joined,
                seq: message.seq,
            });
        }
        Some(mut taken) => {
            // Taken by a doctor and pressed again: the patient needs someone again.
            taken.state = EmergencyState::Raised;
            taken.reopened_at = Some(message.created_at);
            taken.acknowledged_by = None;
            taken.acknowledged_by_name = None;
            taken.acknowledged_at = None;
            (taken, Raise::Reopened)
        }
        None => (new_emergency(message, patient_name), Raise::New),
    };
    let raise = LoggedRaise {
        seq: seqs.next().0,
        emergency: emergency.id.clone(),
        message: message.id.clone(),
        patient: message.patient_id.clone(),
        doctor: emergency.doctor_id.clone(),
        at: message.created_at.timestamp_millis(),
        reopen: how == Raise::Reopened,
    };
    if seqs.log_sends() {
        projection::log_raise(conn, seqs.logged_mut(), &raise, &emergency)?;
    } else if !write(conn, &raise)? {
        return Err(StoreError::internal("emergency vanished"));
    }
    let key = ConversationKey::new(emergency.patient_id.clone(), emergency.doctor_id.clone());
    transitions::audit_row(
        conn,
        &emergency.id,
        &key,
        TransitionKind::Raised,
        Some(&message.patient_id),
        None,
    )?;
    Ok(Raised {
        emergency,
        how,
        seq: Seq(raise.seq),
    })
}

/// Applies a logged raise in the move, as [`raise_or_join`] writes one outside a batch that
/// logs.
pub(crate) fn apply_logged(conn: &Connection, raise: &LoggedRaise) -> rusqlite::Result<()> {
    let stored: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)")?
        .query_row([raise.message.as_str()], |r| r.get(0))?;
    if !stored {
        // Only a raise of a logged send the move left out as a repeat (impossible while the
        // writer's keys are complete: `projection::drop_repeats`).
        // Failing here would stop every later move, emergencies included.
        // The patient's later presses that joined it have no emergency either: the patient is
        // named so that someone can raise one.
        tracing::error!(
            message = raise.message.as_str(),
            patient = raise.patient.as_str(),
            "a logged raise names a message that was never stored; left out of the move"
        );
        return Ok(());
    }
    if !write(conn, raise)? {
        // Only if something removed the emergency without moving the log first (nothing
        // does). Failing here would stop every later move, as above.
        tracing::error!(
            emergency = raise.emergency.as_str(),
            patient = raise.patient.as_str(),
            "a logged raise reopens an emergency that is not stored; left out of the move"
        );
    }
    Ok(())
}

/// Writes a raise: the emergency's row (new, or back to waiting for a doctor) and its RAISED
/// transition. False, writing nothing, when the emergency to reopen is not stored.
fn write(conn: &Connection, raise: &LoggedRaise) -> rusqlite::Result<bool> {
    if raise.reopen {
        let reopened = conn
            .prepare_cached(
                "UPDATE emergencies SET state = 'RAISED', acknowledged_by = NULL, \
                 acknowledged_at = NULL, change_seq = ?2, reopened_at = ?3 WHERE id = ?1",
            )?
            .execute(params![raise.emergency.as_str(), raise.seq, raise.at])?;
        if reopened == 0 {
            return Ok(false);
        }
    } else {
        conn.prepare_cached(
            "INSERT INTO emergencies (id, message_id, patient_id, doctor_id, state, raised_at, \
             change_seq) VALUES (?1, ?2, ?3, ?4, 'RAISED', ?5, ?6)",
        )?
        .execute(params![
            raise.emergency.as_str(),
            raise.message.as_str(),
            raise.patient.as_str(),
            raise.doctor.as_str(),
            raise.at,
            raise.seq
        ])?;
    }
    transitions::insert(
        conn,
        &raise.emergency,
        TransitionKind::Raised,
        Some(&raise.patient),
        None,
        raise.at,
    )?;
    Ok(true)
}

/// Applies a doctor's logged take in the move, as [`acknowledge`] writes one outside a batch
/// that logs.
pub(crate) fn apply_logged_take(conn: &Connection, take: &LoggedTake) -> rusqlite::Result<()> {
    if !write_take(conn, take)? {
        // Only if the emergency is not stored or not waiting: its raise was left out of the
        // move (a repeat, `apply_logged`), or something changed it without moving the log first
        // (nothing does). Failing here would stop every later move, emergencies included.
        tracing::error!(
            emergency = take.emergency.as_str(),
            doctor = take.doctor.as_str(),
            "a logged take names an emergency that is not stored as waiting; left out of the move"
        );
    }
    Ok(())
}

/// Writes a doctor's take: the emergency's row and its ACKNOWLEDGED transition. False, writing
/// nothing, when the emergency is not stored as waiting for a doctor.
fn write_take(conn: &Connection, take: &LoggedTake) -> rusqlite::Result<bool> {
    let taken = conn
        .prepare_cached(
            "UPDATE emergencies SET state = 'ACKNOWLEDGED', acknowledged_by = ?2, \
             acknowledged_at = ?3, change_seq = ?4 WHERE id = ?1 AND state = 'RAISED'",
        )?
        .execute(params![
            take.emergency.as_str(),
            take.doctor.as_str(),
            take.at,
            take.seq
        ])?;
    if taken == 0 {
        return Ok(false);
    }
    transitions::insert(
        conn,
        &take.emergency,
        TransitionKind::Acknowledged,
        Some(&take.doctor),
        None,
        take.at,
    )?;
    Ok(true)
}

/// A new emergency of `message`, waiting for a doctor.
fn new_emergency(message: &Message, patient_name: &str) -> Emergency {
    Emergency {
        id: rows::new_id("e-").into(),
        message_id: message.id.clone(),
        patient_id: message.patient_id.clone(),
        patient_name: patient_name.to_owned(),
        doctor_id: message.doctor_id.clone(),
        state: EmergencyState::Raised,
        raised_at: message.created_at,
        written_at: message.written_at,
        reopened_at: None,
        escalated_at: None,
        alerted_at: None,
        alerted_doctors: 0,
        acknowledged_by: None,
        acknowledged_by_name: None,
        acknowledged_at: None,
        resolved_by: None,
        resolved_by_name: None,
        resolved_at: None,
        resolution_note: None,
    }
}

pub(crate) fn get(conn: &Connection, id: &EmergencyId) -> Result<Option<Emergency>, StoreError> {
    Ok(conn
        .query_row(
            &format!("{EMERGENCY_SELECT} WHERE e.id = ?1"),
            [id.as_str()],
            rows::emergency,
        )
        .optional()?
        .map(|(e, _)| e))
}

/// Emergencies `user` may see: all of them for doctors, their own for patients. Open ones come
/// first (waiting for someone, then taken), each group newest first.
pub(crate) fn list(
    conn: &Connection,
    user: &User,
    open_only: bool,
) -> Result<Vec<Emergency>, StoreError> {
    let (filter, who) = scope(user);
    let open = if open_only {
        " AND e.state != 'RESOLVED'"
    } else {
        ""
    };
    let mut stmt = conn.prepare(&format!(
        "{EMERGENCY_SELECT} WHERE {filter}{open} ORDER BY CASE e.state WHEN 'RAISED' THEN 0 \
         WHEN 'ACKNOWLEDGED' THEN 1 ELSE 2 END, e.raised_at DESC LIMIT 500"
    ))?;
    let list = stmt
        .query_map([who], rows::emergency)?
        .map(|r| r.map(|(e, _)| e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(list)
}

/// Emergencies still waiting for a doctor, oldest first, for the alert timers after a restart.
pub(crate) fn waiting(conn: &Connection, limit: usize) -> Result<Vec<Emergency>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "{EMERGENCY_SELECT} WHERE e.state = 'RAISED' ORDER BY e.raised_at LIMIT ?1"
    ))?;
    let list = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], rows::emergency)?
        .map(|r| r.map(|(e, _)| e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(list)
}

/// One emergency with its history, for doctors and for the patient who raised it.
pub(crate) fn detail(
    conn: &Connection,
    user: &User,
    id: &EmergencyId,
) -> Result<EmergencyDetail, StoreError> {
    let emergency = get(conn, id)?.ok_or_else(|| StoreError::not_found("no such emergency"))?;
    let allowed = match user.role {
        Role::Doctor => true,
        Role::Patient => emergency.patient_id == user.id,
        Role::Admin => false,
    };
    if !allowed {
        return Err(StoreError::forbidden(
            "only doctors and the patient concerned see an emergency",
        ));
    }
    Ok(EmergencyDetail {
        transitions: transitions::list(conn, id)?,
        emergency,
    })
}

fn scope(user: &User) -> (&'static str, &str) {
    match user.role {
        Role::Doctor => ("?1 = ?1", user.id.as_str()),
        Role::Patient => ("e.patient_id = ?1", user.id.as_str()),
        Role::Admin => ("?1 IS NULL", user.id.as_str()),
    }
}

pub(crate) fn changed_since(
    conn: &Connection,
    user: &User,
    since: Seq,
    limit: u32,
) -> Result<Vec<(Emergency, Seq)>, StoreError> {
    let (filter, who) = scope(user);
    let mut stmt = conn.prepare_cached(&format!(
        "{EMERGENCY_SELECT} WHERE {filter} AND e.change_seq > ?2 ORDER BY e.change_seq LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(params![who, since.0, limit], rows::emergency)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What a transition did: the emergency as it is now, and the patient's notification.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub emergency: Emergency,
    pub notification: Notification,
    /// The doctor who acted had no conversation with the patient until now (see
    /// [`super::care`]): the two should learn of each other's presence.
    pub new_care: bool,
    /// The transition's change seq (the alert watch orders transitions by it).
    pub seq: Seq,
}

fn doctor_only(user: &User) -> Result<(), StoreError> {
    if user.role == Role::Doctor {
        Ok(())
    } else {
        Err(StoreError::forbidden("only doctors can handle emergencies"))
    }
}

/// RAISED -> ACKNOWLEDGED. Acknowledging an acknowledged emergency again is a conflict. Makes
/// every refusal before its first write (a validated command). In a batch that logs (schema
/// v28) it is judged on the emergency as it will be once the log has moved, and the take is
/// appended to the log for the move to write ([`apply_logged_take`]); otherwise it is written
/// now, the same way. Its audit row, the care relation and the patient's notification (none of
/// which takes a change seq) are written now either way.
pub(crate) fn acknowledge(
    conn: &Connection,
    seqs: &mut Seqs,
    doctor: &User,
    id: &EmergencyId,
) -> Result<Transition, StoreError> {
    doctor_only(doctor)?;
    let mut emergency =
        as_it_will_be(conn, seqs, id)?.ok_or_else(|| StoreError::not_found("no such emergency"))?;
    if emergency.state != EmergencyState::Raised {
        return Err(StoreError::conflict(format!(
            "the emergency is already {}",
            rows::state_text(emergency.state).to_lowercase()
        )));
    }
    let now = now_ms();
    emergency.state = EmergencyState::Acknowledged;
    emergency.acknowledged_by = Some(doctor.id.clone());
    emergency.acknowledged_by_name = Some(doctor.name.clone());
    emergency.acknowledged_at = Some(from_ms(now));
    let take = LoggedTake {
        seq: seqs.next().0,
        emergency: id.clone(),
        patient: emergency.patient_id.clone(),
        doctor: doctor.id.clone(),
        at: now,
    };
    if seqs.log_sends() {
        projection::log_take(conn, seqs.logged_mut(), &take, &emergency)?;
    } else if !write_take(conn, &take)? {
        return Err(StoreError::internal("emergency vanished"));
    }
    let title = format!("{} is on it", doctor.name);
    let done = [(TransitionKind::Acknowledged, None)];
    told(conn, emergency, doctor, &done, &title, Seq(take.seq))
}

/// What a doctor's take or resolution (`done`: its transitions, with their notes) writes at
/// once, logged or not (none of it takes a change seq): an audit row per transition, the care
/// relation it may open, and the patient's notification, titled `title`, of `emergency` as it
/// leaves it.
fn told(
    conn: &Connection,
    emergency: Emergency,
    doctor: &User,
    done: &[(TransitionKind, Option<&str>)],
    title: &str,
    seq: Seq,
) -> Result<Transition, StoreError> {
    let key = ConversationKey::new(emergency.patient_id.clone(), emergency.doctor_id.clone());
    for (kind, note) in done {
        transitions::audit_row(conn, &emergency.id, &key, *kind, Some(&doctor.id), *note)?;
    }
    let new_care = super::care::open(conn, &emergency.patient_id, &doctor.id)?;
    let notification = notify_patient(conn, &emergency, title)?;
    Ok(Transition {
        emergency,
        notification,
        new_care,
        seq,
    })
}

/// RAISED or ACKNOWLEDGED -> RESOLVED with an optional note. Resolving twice is a conflict.
/// Makes every refusal before its first write (a validated command). In a batch that logs
/// (schema v29) it is judged on the emergency as it will be once the log has moved, and the
/// resolution and the stamps of its messages are appended to the log for the move to write
/// ([`apply_logged_resolve`], [`apply_logged_stamp`]); otherwise they are written now, the
/// same way. Its audit rows, the care relation and the patient's notification are written now
/// either way.
pub(crate) fn resolve(
    conn: &Connection,
    seqs: &mut Seqs,
    doctor: &User,
    id: &EmergencyId,
    note: Option<&str>,
) -> Result<Transition, StoreError> {
    if note.is_some_and(|n| n.len() > limits::MAX_NOTE_BYTES) {
        return Err(StoreError::too_large(format!(
            "note is longer than {} bytes",
            limits::MAX_NOTE_BYTES
        )));
    }
    if let Some(note) = note {
        crate::text::check("note", note)?;
    }
    doctor_only(doctor)?;
    let mut emergency =
        as_it_will_be(conn, seqs, id)?.ok_or_else(|| StoreError::not_found("no such emergency"))?;
    if emergency.state == EmergencyState::Resolved {
        return Err(StoreError::conflict("the emergency is already resolved"));
    }
    let messages = to_stamp(conn, seqs.log_sends(), &emergency)?;
    let now = now_ms();
    // Someone resolving an emergency nobody had taken has evidently taken it.
    let takes = emergency.state == EmergencyState::Raised;
    emergency.state = EmergencyState::Resolved;
    if takes {
        emergency.acknowledged_by = Some(doctor.id.clone());
        emergency.acknowledged_by_name = Some(doctor.name.clone());
        emergency.acknowledged_at = Some(from_ms(now));
    }
    emergency.resolved_by = Some(doctor.id.clone());
    emergency.resolved_by_name = Some(doctor.name.clone());
    emergency.resolved_at = Some(from_ms(now));
    emergency.resolution_note = note.map(str::to_owned);
    let resolve = LoggedResolve {
        seq: seqs.next().0,
        emergency: id.clone(),
        patient: emergency.patient_id.clone(),
        doctor: doctor.id.clone(),
        note: note.map(str::to_owned),
        at: now,
        takes,
    };
    // The emergency messages carry `resolvedAt` too (as in the seed's schema), each with a
    // change seq of its own: the one that raised it and every later one that joined it.
    let stamps: Vec<LoggedStamp> = messages
        .into_iter()
        .map(|message| LoggedStamp {
            seq: seqs.next().0,
            message,
            emergency: id.clone(),
            at: now,
        })
        .collect();
    if seqs.log_sends() {
        projection::log_resolve(conn, seqs.logged_mut(), &resolve, &stamps, &emergency)?;
    } else {
        if !write_resolve(conn, &resolve)? {
            return Err(StoreError::internal("emergency vanished"));
        }
        for stamp in &stamps {
            write_stamp(conn, stamp)?;
        }
    }
    let mut done = vec![(TransitionKind::Resolved, note)];
    if takes {
        done.insert(0, (TransitionKind::Acknowledged, None));
    }
    let title = format!("Resolved by {}", doctor.name);
    told(conn, emergency, doctor, &done, &title, Seq(resolve.seq))
}

/// The emergency messages a resolution of `emergency` closes, in the order they get their
/// change seqs: the one that raised it, then every later one of the patient's not closed yet
/// (stored ones as stored, then, in a batch that logs, logged ones by seq), each once, none
/// that a resolution waiting in the log closes already.
fn to_stamp(
    conn: &Connection,
    logs: bool,
    emergency: &Emergency,
) -> Result<Vec<MessageId>, StoreError> {
    let not_stamped = if logs {
        " AND NOT EXISTS (SELECT 1 FROM event_log AS s WHERE s.id = m.id AND s.kind = 'STAMP')"
    } else {
        ""
    };
    // Stored ones in the order they were stored (a move inserts sends in seq order).
    let mut queries = vec![format!(
        "SELECT m.id FROM messages AS m WHERE m.patient_id = ?1 AND m.is_emergency = 1 \
         AND m.resolved_at IS NULL AND m.created_at >= ?2{not_stamped} ORDER BY m.rowid"
    )];
    if logs {
        // A log holds a few thousand rows at most (a 2-ms step of them): read whole.
        queries.push(format!(
            "SELECT m.id FROM event_log AS m WHERE m.kind = 'SEND' AND m.mark = 1 \
             AND m.patient_id = ?1 AND m.at >= ?2{not_stamped} ORDER BY m.seq"
        ));
    }
    let first = emergency.message_id.clone();
    let mut ids = vec![first.clone()];
    for sql in queries {
        let mut stmt = conn.prepare_cached(&sql)?;
        let found = stmt.query_map(
            params![
                emergency.patient_id.as_str(),
                emergency.raised_at.timestamp_millis()
            ],
            |r| r.get::<_, String>(0),
        )?;
        for id in found {
            let id = MessageId::from(id?);
            if id != first {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// Applies a doctor's logged resolution in the move, as [`resolve`] writes one outside a batch
/// that logs.
pub(crate) fn apply_logged_resolve(
    conn: &Connection,
    resolve: &LoggedResolve,
) -> rusqlite::Result<()> {
    if !write_resolve(conn, resolve)? {
        // Only if the emergency is not stored or closed: its raise was left out of the move (a
        // repeat, `apply_logged`), or something closed it without moving the log first
        // (nothing does). Failing here would stop every later move, emergencies included.
        tracing::error!(
            emergency = resolve.emergency.as_str(),
            doctor = resolve.doctor.as_str(),
            "a logged resolution names an emergency that is not stored as open; left out of the \
             move"
        );
    }
    Ok(())
}

/// Writes a doctor's resolution: the emergency's row, and its ACKNOWLEDGED transition when it
/// takes it too and its RESOLVED one. False, writing nothing, when the emergency is not stored
/// as open.
fn write_resolve(conn: &Connection, resolve: &LoggedResolve) -> rusqlite::Result<bool> {
    let resolved = conn
        .prepare_cached(
            "UPDATE emergencies SET state = 'RESOLVED', resolved_by = ?2, resolved_at = ?3, \
             resolution_note = ?4, acknowledged_by = COALESCE(acknowledged_by, ?2), \
             acknowledged_at = COALESCE(acknowledged_at, ?3), change_seq = ?5 \
             WHERE id = ?1 AND state != 'RESOLVED'",
        )?
        .execute(params![
            resolve.emergency.as_str(),
            resolve.doctor.as_str(),
            resolve.at,
            resolve.note,
            resolve.seq
        ])?;
    if resolved == 0 {
        return Ok(false);
    }
    if resolve.takes {
        transitions::insert(
            conn,
            &resolve.emergency,
            TransitionKind::Acknowledged,
            Some(&resolve.doctor),
            None,
            resolve.at,
        )?;
    }
    transitions::insert(
        conn,
        &resolve.emergency,
        TransitionKind::Resolved,
        Some(&resolve.doctor),
        resolve.note.as_deref(),
        resolve.at,
    )?;
    Ok(true)
}

/// Applies a logged stamp in the move, as [`resolve`] writes one outside a batch that logs.
/// A message never stored (a repeat left out) has nothing to stamp, nor one whose resolution
/// was left out of the move: the message stays open with its emergency.
pub(crate) fn apply_logged_stamp(conn: &Connection, stamp: &LoggedStamp) -> rusqlite::Result<()> {
    write_stamp(conn, stamp)
}

/// Sets an emergency message's `resolvedAt`, once its emergency is stored resolved. Its
/// `updated_at` and `change_seq` only go up: the move applies a slice's receipts first, which
/// may be newer (the stamp's seq then goes unused, as a receipt written after the stamp
/// would have left the row).
fn write_stamp(conn: &Connection, stamp: &LoggedStamp) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE messages SET resolved_at = ?2, updated_at = max(updated_at, ?2), \
         change_seq = max(change_seq, ?3) WHERE id = ?1 AND EXISTS (SELECT 1 FROM emergencies \
         WHERE id = ?4 AND state = 'RESOLVED')",
    )?
    .execute(params![
        stamp.message.as_str(),
        stamp.at,
        stamp.seq,
        stamp.emergency.as_str()
    ])?;
    Ok(())
}

/// What an escalation found.
#[derive(Debug)]
pub(crate) enum Escalation {
    /// It still waits for a doctor, escalated; `true` when this call escalated it (false when
    /// it had been already: the alert watch may have heard of a reopening, which carries no
    /// escalation, after the escalation of the emergency it reopened).
    Waiting(Box<Emergency>, bool),
    /// A doctor took or resolved it.
    Taken,
    /// It is not stored: a purge of its conversation (the server's retention run, or the CLI's
    /// in another process) removed it.
    Gone,
}

/// RAISED and not yet escalated -> escalated (`escalatedAt` set), at most once. In a batch
/// that logs (schema v30) it is judged on the emergency as it will be once the log has moved,
/// and the escalation is appended to the log for the move to write
/// ([`apply_logged_escalate`]); otherwise it is written now, the same way. Its audit row is
/// written now either way.
pub(crate) fn escalate(
    conn: &Connection,
    seqs: &mut Seqs,
    id: &EmergencyId,
) -> Result<Escalation, StoreError> {
    let mut waiting = match as_it_will_be(conn, seqs, id) {
        Ok(None) => return Ok(Escalation::Gone),
        // Refused this way only when a resolution of it waits in the log.
        Err(StoreError::Conflict(_)) => return Ok(Escalation::Taken),
        Err(err) => return Err(err),
        Ok(Some(e)) if e.state != EmergencyState::Raised => return Ok(Escalation::Taken),
        Ok(Some(e)) => e,
    };
    if waiting.escalated_at.is_some() {
        return Ok(Escalation::Waiting(Box::new(waiting), false));
    }
    let now = now_ms();
    waiting.escalated_at = Some(from_ms(now));
    let escalation = LoggedEscalate {
        seq: seqs.next().0,
        emergency: id.clone(),
        patient: waiting.patient_id.clone(),
        at: now,
    };
    if seqs.log_sends() {
        projection::log_escalate(conn, seqs.logged_mut(), &escalation, &waiting)?;
    } else if !write_escalate(conn, &escalation)? {
        return Err(StoreError::internal("emergency vanished"));
    }
    let key = ConversationKey::new(waiting.patient_id.clone(), waiting.doctor_id.clone());
    transitions::audit_row(conn, id, &key, TransitionKind::Escalated, None, None)?;
    Ok(Escalation::Waiting(Box::new(waiting), true))
}

/// Applies a logged escalation in the move, as [`escalate`] writes one outside a batch that
/// logs.
pub(crate) fn apply_logged_escalate(
    conn: &Connection,
    escalation: &LoggedEscalate,
) -> rusqlite::Result<()> {
    if !write_escalate(conn, escalation)? {
        // Only if the emergency is not stored as waiting unescalated: its raise was left out of
        // the move (a repeat, `apply_logged`), or something changed it without moving the log
        // first (nothing does). Failing here would stop every later move, emergencies included.
        tracing::error!(
            emergency = escalation.emergency.as_str(),
            patient = escalation.patient.as_str(),
            "a logged escalation names an emergency that is not stored as waiting unescalated; \
             left out of the move"
        );
    }
    Ok(())
}

/// Writes an escalation: the emergency's `escalated_at` and its ESCALATED transition. False,
/// writing nothing, when the emergency is not stored as waiting and not escalated yet.
fn write_escalate(conn: &Connection, escalation: &LoggedEscalate) -> rusqlite::Result<bool> {
    let escalated = conn
        .prepare_cached(
            "UPDATE emergencies SET escalated_at = ?2, change_seq = ?3 \
             WHERE id = ?1 AND state = 'RAISED' AND escalated_at IS NULL",
        )?
        .execute(params![
            escalation.emergency.as_str(),
            escalation.at,
            escalation.seq
        ])?;
    if escalated == 0 {
        return Ok(false);
    }
    transitions::insert(
        conn,
        &escalation.emergency,
        TransitionKind::Escalated,
        None,
        None,
        escalation.at,
    )?;
    Ok(true)
}

/// The patient's notification of what a doctor did to `emergency` (as it is now).
fn notify_patient(
    conn: &Connection,
    emergency: &Emergency,
    title: &str,
) -> Result<Notification, StoreError> {
    notifications::insert_raw(
        conn,
        &emergency.patient_id,
        NotificationKind::EmergencyUpdate,
        title,
        &format!(
            "Your emergency is now {}",
            rows::state_text(emergency.state).to_lowercase()
        ),
        Some(&emergency.message_id),
        Some((&emergency.patient_id, &emergency.doctor_id)),
        from_ms(now_ms()),
    )
}

/// Those of `ids` that are not stored.
pub(crate) fn missing(
    conn: &Connection,
    ids: &[EmergencyId],
) -> Result<Vec<EmergencyId>, StoreError> {
    let ids = rows::json_param(&ids.iter().map(EmergencyId::as_str).collect::<Vec<_>>())?;
    let mut stmt = conn.prepare_cached(
        "SELECT j.value FROM json_each(?1) AS j \
         WHERE NOT EXISTS (SELECT 1 FROM emergencies WHERE id = j.value)",
    )?;
    let missing = stmt
        .query_map([ids], |r| r.get::<_, String>(0))?
        .map(|r| r.map(EmergencyId::from))
        .collect::<Result<_, _>>()?;
    Ok(missing)
}

/// How many emergencies are open (not resolved), and how many of those no doctor has taken yet.
/// Read without moving the log (`/metrics` must answer while the writer is busy or failing), so
/// the raises, takes and resolutions waiting there count too: a raise that opens an emergency
/// adds an open one waiting for a doctor; one that reopens a taken one adds one waiting; a take
/// takes one waiting away; a resolution takes an open one away, and one waiting if nobody had
/// taken it (the changes of one emergency follow each other from how it is stored).
pub(crate) fn open_counts(conn: &Connection) -> Result<(i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(state != 'RESOLVED'), 0) + \
         (SELECT count(*) FILTER (WHERE kind = 'RAISE' AND mark = 0) \
         - count(*) FILTER (WHERE kind = 'RESOLVE') \
         FROM event_log WHERE kind IN ('RAISE', 'RESOLVE')), \
         COALESCE(SUM(state = 'RAISED'), 0) + \
         (SELECT count(*) FILTER (WHERE kind = 'RAISE') - count(*) FILTER (WHERE kind = 'TAKE') \
         - count(*) FILTER (WHERE kind = 'RESOLVE' AND mark = 1) \
         FROM event_log WHERE kind IN ('RAISE', 'TAKE', 'RESOLVE')) FROM emergencies",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
