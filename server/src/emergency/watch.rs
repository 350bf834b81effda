//! The watch over emergencies nobody has taken yet: it sends the first alert, repeats it every
//! `emergency_repeat_interval` to available doctors, escalates after `emergency_escalate_after`
//! (to every doctor, also on do-not-disturb, and to the server alarm), and stops the moment a
//! doctor acknowledges or resolves. Deadlines count from `raisedAt`, so after a restart the
//! reloaded emergencies carry on where they were.
//!
//! Alerts are queued to sockets while the watch's lock is held, and `taken` removes an
//! emergency under the same lock before its `emergency:updated` goes out: a repeat can therefore
//! never reach a socket after the update that ended it.

use super::siren::Siren;
use crate::config::Config;
use crate::error::ApiError;
use crate::hub::{Hub, Outbox, encode};
use crate::limiter::KeyedBuckets;
use crate::state::AppState;
use chrono::Utc;
use clinic_protocol::{Emergency, EmergencyId, Message, Seq, ServerFrame, UserId, limits};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// Most emergencies repeated at once. Beyond this (a flood, not a clinic) new ones still get
/// their first alert and stay in the open list, but are not repeated.
const MAX_WATCHED: usize = 1000;
/// A repeat interval below this would only burn CPU.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Longer timings are treated as this (a year), so deadline arithmetic cannot overflow.
const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long the watch remembers an emergency a doctor took or resolved, with the change seq
/// of that transition: far longer than the answers of one batch take to be handled.
const CLOSED_MEMORY: Duration = Duration::from_secs(60);

/// Doctors an alert reached, each with how many of their sockets it was queued to.
pub(crate) type Reached = Vec<(UserId, usize)>;

#[derive(Debug)]
struct Entry {
    emergency: Emergency,
    /// The patient's latest emergency message, its content cut to the alert's preview.
    message: Message,
    truncated: bool,
    repeat: u32,
    next_repeat: Instant,
    /// None once escalated, or while the escalation is being written.
    escalate_at: Option<Instant>,
    /// Doctors whose first alert is recorded (or being recorded).
    alerted: HashSet<UserId>,
    /// The change seq of the raise or reopening the entry is for (0 for one reloaded after a
    /// restart: nothing older can come).
    seq: i64,
}

impl Entry {
    fn frame(&self) -> ServerFrame {
        ServerFrame::EmergencyAlert {
            emergency: self.emergency.clone(),
            message: self.message.clone(),
            repeat: self.repeat,
            escalated: self.emergency.escalated_at.is_some(),
            truncated: self.truncated,
        }
    }

    fn set_message(&mut self, message: Message) {
        (self.message, self.truncated) = preview(message);
    }

    /// Alerts every online doctor and returns the ones asked to ring for the first time (all
    /// of them once escalated, else those available: do-not-disturb shows, never rings).
    fn send(&mut self, hub: &Hub) -> Reached {
        let escalated = self.emergency.escalated_at.is_some();
        let mut reached = hub.alert_doctors(&self.emergency.id, &self.frame(), escalated);
        reached.retain(|(doctor, _)| self.alerted.insert(doctor.clone()));
        reached
    }
}

/// `message` with its content cut to the alert's preview (on a character boundary), and
/// whether anything was cut: an alert is a call to act, not a 16 KiB read.
fn preview(mut message: Message) -> (Message, bool) {
    let mut end = limits::ALERT_PREVIEW_BYTES;
    if message.content.len() <= end {
        return (message, false);
    }
    while !message.content.is_char_boundary(end) {
        end -= 1;
    }
    message.content.truncate(end);
    (message, true)
}

/// The alerting of emergencies waiting for a doctor.
///
/// The answers of one batch of the writer are handled by their own tasks, in any order: a
/// doctor's take and a patient's press that reopens the same emergency, committed together,
/// may reach the watch in either order. So every change carries its change seq, and the watch
/// applies only what is newer than what it knows of that emergency: the seq of its entry, or
/// of the take or resolution that ended it (`closed`, kept for [`CLOSED_MEMORY`]). A take
/// older than a reopening already watched leaves it watched (and is not published as the
/// emergency's state); a raise or press older than a take already applied alerts no one.
#[derive(Debug)]
pub(crate) struct Watch {
    open: Mutex<HashMap<EmergencyId, Entry>>,
    /// Emergencies taken or resolved lately: the change seq of that and when. Locked after
    /// `open`, never before.
    closed: Mutex<HashMap<EmergencyId, (i64, Instant)>>,
    /// Per patient: how often a repeated raise may alert the doctors again.
    raises: KeyedBuckets<UserId>,
    /// Wakes the timer task when a new emergency may have an earlier deadline.
    wake: Notify,
    repeat_every: Duration,
    escalate_after: Duration,
    siren: Option<Siren>,
}

impl Watch {
    /// A watch with the configured timings; the server alarm starts only with `config.alarm`.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            closed: Mutex::new(HashMap::new()),
            raises: KeyedBuckets::new(config.emergency_raise_rate),
            wake: Notify::new(),
            repeat_every: config
                .emergency_repeat_interval
                .clamp(MIN_INTERVAL, MAX_INTERVAL),
            escalate_after: config.emergency_escalate_after.min(MAX_INTERVAL),
            siren: config.alarm.then(Siren::start),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<EmergencyId, Entry>> {
        // Entries stay consistent even if a holder panicked: each is updated field by field.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed(&self) -> MutexGuard<'_, HashMap<EmergencyId, (i64, Instant)>> {
        self.closed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a raise of `id` at change seq `seq` is newer than its take or resolution, if
    /// the watch knows of one.
    fn after_close(&self, id: &EmergencyId, seq: i64) -> bool {
        self.closed()
            .get(id)
            .is_none_or(|(closed, _)| *closed < seq)
    }

    /// Whether a raise or reopening of `id` at change seq `seq` is newer than everything the
    /// watch knows of it (so it is to be watched, and published).
    pub(crate) fn is_current(&self, id: &EmergencyId, seq: Seq) -> bool {
        let open = self.lock();
        open.get(id).is_none_or(|entry| entry.seq < seq.0) && self.after_close(id, seq.0)
    }

    /// An entry whose deadlines count from the emergency's `raisedAt`.
    fn entry(
        &self,
        emergency: Emergency,
        message: Message,
        alerted: HashSet<UserId>,
        seq: i64,
    ) -> Entry {
        let now = Instant::now();
        let elapsed = (Utc::now() - emergency.raised_at)
            .to_std()
            .unwrap_or_default();
        let every = self.repeat_every;
        let done = u32::try_from(elapsed.as_nanos() / every.as_nanos()).unwrap_or(u32::MAX);
        let next_repeat = now
            + every
                .saturating_mul(done.saturating_add(1))
                .saturating_sub(elapsed);
        let escalate_at = emergency
            .escalated_at
            .is_none()
            .then(|| now + self.escalate_after.saturating_sub(elapsed));
        let (message, truncated) = preview(message);
        Entry {
            emergency,
            message,
            truncated,
            repeat: done,
            next_repeat,
            escalate_at,
            alerted,
            seq,
        }
    }

    fn insert(&self, open: &mut HashMap<EmergencyId, Entry>, entry: Entry) {
        if let Some(siren) = &self.siren {
            siren.raise(&entry.emergency);
        }
        if open.len() >= MAX_WATCHED {
            tracing::warn!(emergency = %entry.emergency.id, "too many open emergencies; this one is not repeated");
            return;
        }
        open.insert(entry.emergency.id.clone(), entry);
        self.wake.notify_one();
    }

    /// A new or reopened emergency, raised at change seq `seq`: the first alert goes out now.
    /// Returns the doctors it reached; None, alerting no one, when the watch already knows of
    /// something newer (a take committed after it).
    pub(crate) fn watch(
        &self,
        hub: &Hub,
        emergency: Emergency,
        message: Message,
        seq: Seq,
    ) -> Option<Reached> {
        let mut entry = self.entry(emergency, message, HashSet::new(), seq.0);
        let mut open = self.lock();
        let id = &entry.emergency.id;
        if open.get(id).is_some_and(|e| e.seq >= seq.0) || !self.after_close(id, seq.0) {
            return None;
        }
        let reached = entry.send(hub);
        self.insert(&mut open, entry);
        Some(reached)
    }

    /// A repeated raise of an emergency still waiting, by a message of change seq `seq`: its
    /// alert now carries `message`, and goes out again at once. Returns the doctors reached for
    /// the first time; None, alerting no one, when a take committed after the message is
    /// already applied.
    pub(crate) fn realert(
        &self,
        hub: &Hub,
        emergency: &Emergency,
        message: Message,
        seq: Seq,
    ) -> Option<Reached> {
        let mut open = self.lock();
        if !self.after_close(&emergency.id, seq.0) {
            return None;
        }
        Some(match open.get_mut(&emergency.id) {
            Some(entry) => {
                entry.set_message(message);
                entry.send(hub)
            }
            // Not repeated (more open emergencies than the watch keeps): one alert all the same.
            None => {
                let mut entry = self.entry(emergency.clone(), message, HashSet::new(), seq.0);
                entry.send(hub)
            }
        })
    }

    /// Whether a repeated raise by `patient` may alert the doctors again now (its own rate).
    pub(crate) fn may_realert(&self, patient: &UserId) -> bool {
        self.raises.take(patient).is_ok()
    }

    /// An emergency still waiting after a restart: the timers carry on from `raisedAt`.
    fn resume(&self, emergency: Emergency, message: Message, alerted: HashSet<UserId>) {
        let entry = self.entry(emergency, message, alerted, 0);
        self.insert(&mut self.lock(), entry);
    }

    /// A doctor took or resolved it, at change seq `seq`: no more repeats, and the server
    /// alarm stops for it. False, changing nothing, when a reopening committed after it is
    /// watched already (the take is then not the emergency's state to publish).
    pub(crate) fn taken(&self, id: &EmergencyId, seq: Seq) -> bool {
        let mut open = self.lock();
        if open.get(id).is_some_and(|entry| entry.seq > seq.0) {
            return false;
        }
        open.remove(id);
        let mut closed = self.closed();
        let now = Instant::now();
        closed.retain(|_, (_, at)| now.duration_since(*at) < CLOSED_MEMORY);
        let newest = closed.entry(id.clone()).or_insert((seq.0, now));
        if newest.0 < seq.0 {
            *newest = (seq.0, now);
        }
        drop(closed);
        drop(open);
        if let Some(siren) = &self.siren {
            siren.stop(id);
        }
        true
    }

    /// The alert's reach was recorded: later repeats carry the new count, and the patient
    /// learns that their emergency was received.
    pub(crate) fn alerted(&self, hub: &Hub, recorded: Emergency) {
        let mut open = self.lock();
        // Not watched any more: the acknowledgement already told the patient more than this.
        let Some(entry) = open.get_mut(&recorded.id) else {
            return;
        };
        // Only the alert fields: an escalation written meanwhile must not be undone here.
        entry.emergency.alerted_at = recorded.alerted_at;
        entry.emergency.alerted_doctors = recorded.alerted_doctors;
        hub.to_users(
            &[&entry.emergency.patient_id],
            &ServerFrame::EmergencyUpdated {
                emergency: entry.emergency.clone(),
            },
            None,
        );
    }

    /// Recording failed: let a later alert try again.
    pub(crate) fn forget_alerted(&self, id: &EmergencyId, reached: &Reached) {
        if let Some(entry) = self.lock().get_mut(id) {
            for (doctor, _) in reached {
                entry.alerted.remove(doctor);
            }
        }
    }

    /// A doctor's new socket gets the alert of every emergency waiting for someone (on
    /// do-not-disturb too: shown, not rung). Returns the emergencies whose alert asked this
    /// doctor to ring for the first time.
    pub(crate) fn alert_socket(
        &self,
        doctor: &UserId,
        outbox: &Outbox,
        available: bool,
    ) -> Vec<EmergencyId> {
        let mut open = self.lock();
        let mut entries: Vec<&mut Entry> = open.values_mut().collect();
        entries.sort_by_key(|e| e.emergency.raised_at);
        let mut first = Vec::new();
        for entry in entries {
            // Do-not-disturb mutes, never hides: the app shows it without ringing.
            outbox.alert(&entry.emergency.id, encode(&entry.frame()));
            if (available || entry.emergency.escalated_at.is_some())
                && entry.alerted.insert(doctor.clone())
            {
                first.push(entry.emergency.id.clone());
            }
        }
        first
    }

    /// Sends the repeats that are due and picks the escalations that are due. Returns the
    /// doctors newly reached, the emergencies to escalate, and when to look again.
    fn tick(
        &self,
        hub: &Hub,
    ) -> (
        Vec<(EmergencyId, Reached)>,
        Vec<EmergencyId>,
        Option<Instant>,
    ) {
        let now = Instant::now();
        let mut open = self.lock();
        let (mut reached, mut escalate, mut next) = (Vec::new(), Vec::new(), None::<Instant>);
        for (id, entry) in open.iter_mut() {
            if entry.escalate_at.is_some_and(|at| at <= now) {
                // The escalated alert replaces this round's repeat.
                entry.escalate_at = None;
                entry.next_repeat = now + self.repeat_every;
                escalate.push(id.clone());
            } else if entry.next_repeat <= now {
                entry.repeat = entry.repeat.saturating_add(1);
                entry.next_repeat = now + self.repeat_every;
                let new = entry.send(hub);
                if !new.is_empty() {
                    reached.push((id.clone(), new));
                }
            }
            for at in [Some(entry.next_repeat), entry.escalate_at]
                .into_iter()
                .flatten()
            {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        (reached, escalate, next)
    }

    /// The escalation is on disk: tell every doctor (do-not-disturb or not) and the patient,
    /// and the server alarm. Returns the doctors reached for the first time.
    fn escalated(&self, hub: &Hub, recorded: &Emergency) -> Reached {
        let mut open = self.lock();
        let Some(entry) = open.get_mut(&recorded.id) else {
            return Vec::new();
        };
        entry.emergency.escalated_at = recorded.escalated_at;
        let updated = ServerFrame::EmergencyUpdated {
            emergency: entry.emergency.clone(),
        };
        hub.to_doctors(&updated, true);
        hub.to_users(&[&entry.emergency.patient_id], &updated, None);
        if let Some(siren) = &self.siren {
            siren.escalated(&entry.emergency);
        }
        entry.send(hub)
    }

    /// The escalation could not be written: try again after one repeat interval.
    fn retry_escalation(&self, id: &EmergencyId) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.escalate_at = Some(Instant::now() + self.repeat_every);
        }
    }

    /// Reloads the emergencies still waiting for a doctor (after a restart).
    pub(crate) async fn reload(state: &AppState) -> Result<usize, ApiError> {
        let waiting = state.store.waiting_emergencies(MAX_WATCHED).await?;
        let count = waiting.len();
        for (emergency, message, alerted) in waiting {
            state.emergencies.resume(emergency, message, alerted);
        }
        Ok(count)
    }

    /// Repeats and escalates until the task is aborted at shutdown.
    pub(crate) async fn run(state: AppState) {
        let watch = &state.emergencies;
        loop {
            let (reached, escalate, next) = watch.tick(&state.hub);
            for (id, doctors) in reached {
                super::record_alerted(&state, id, doctors);
            }
            for id in escalate {
                escalate_one(&state, id).await;
            }
            // A far deadline when idle: `watch` wakes us for a new emergency.
            let until = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                () = sleep_until(until) => {}
                () = watch.wake.notified() => {}
            }
        }
    }
}

async fn escalate_one(state: &AppState, id: EmergencyId) {
    let written = state.store.escalate(&id).await;
    match written {
        Ok(Some(emergency)) => {
            tracing::warn!(emergency = %id, patient = %emergency.patient_name, "emergency escalated: nobody acknowledged it in time");
            let reached = state.emergencies.escalated(&state.hub, &emergency);
            super::record_alerted(state, id, reached);
        }
        // Taken meanwhile, or escalated before a restart.
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, emergency = %id, "could not record an escalation; retrying");
            state.emergencies.retry_escalation(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clinic_protocol::EmergencyState;

    fn emergency(id: &str) -> Emergency {
        Emergency {
            id: EmergencyId::from(id),
            message_id: format!("m-{id}").into(),
            patient_id: UserId::from("p"),
            patient_name: "P".to_owned(),
            doctor_id: UserId::from("d"),
            state: EmergencyState::Raised,
            raised_at: Utc::now(),
            escalated_at: None,
            alerted_at: None,
            alerted_doctors: 0,
            acknowledged_by: None,
            acknowledged_by_name: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_at: None,
            resolution_note: None,
        }
    }

    fn message() -> Message {
        serde_json::from_value(serde_json::json!({
            "id": "m-1", "seq": 1, "clientId": "c-1", "patientId": "p", "doctorId": "d",
            "senderId": "p", "content": "help", "messageType": "EMERGENCY", "status": "SENT",
            "isEmergency": true, "createdAt": "2026-12-04T10:00:00Z",
            "updatedAt": "2026-12-04T10:00:00Z"
        }))
        .unwrap()
    }

    fn watching() -> (tempfile::TempDir, Watch, Hub) {
        let dir = tempfile::tempdir().unwrap();
        let watch = Watch::new(&Config::new(dir.path().to_path_buf()));
        (dir, watch, Hub::default())
    }

    /// A take and a reopening committed in one batch (take at 10, reopening at 11) end as
    /// committed whichever is handled first: the emergency waits again, watched, and the take
    /// handled late is not its state.
    #[test]
    fn a_reopening_after_a_take_stays_watched_in_either_order() {
        let (_dir, watch, hub) = watching();
        for (id, take_first) in [("e-1", true), ("e-2", false)] {
            let e = emergency(id);
            assert!(watch.watch(&hub, e.clone(), message(), Seq(5)).is_some());
            if take_first {
                assert!(watch.taken(&e.id, Seq(10)));
                assert!(watch.is_current(&e.id, Seq(11)));
                assert!(watch.watch(&hub, e.clone(), message(), Seq(11)).is_some());
            } else {
                assert!(watch.watch(&hub, e.clone(), message(), Seq(11)).is_some());
                assert!(!watch.taken(&e.id, Seq(10)), "older than the reopening");
            }
            assert_eq!(watch.lock().get(&e.id).map(|entry| entry.seq), Some(11));
        }
    }

    /// A reopening and a take committed in one batch (reopening at 11, take at 12), or a press
    /// that joined and a take (20, 21): handled take first, the raise alerts no one and the
    /// emergency stays unwatched (it is taken); in order, the take ends it.
    #[test]
    fn a_raise_before_a_take_handled_after_it_alerts_no_one() {
        let (_dir, watch, hub) = watching();
        let e = emergency("e-1");
        assert!(watch.taken(&e.id, Seq(12)));
        assert!(!watch.is_current(&e.id, Seq(11)));
        assert!(watch.watch(&hub, e.clone(), message(), Seq(11)).is_none());
        assert!(!watch.lock().contains_key(&e.id));

        let e = emergency("e-2");
        assert!(watch.watch(&hub, e.clone(), message(), Seq(15)).is_some());
        assert!(watch.taken(&e.id, Seq(21)));
        assert!(watch.realert(&hub, &e, message(), Seq(20)).is_none());
        assert!(!watch.lock().contains_key(&e.id));

        let e = emergency("e-3");
        assert!(watch.watch(&hub, e.clone(), message(), Seq(30)).is_some());
        assert!(watch.realert(&hub, &e, message(), Seq(31)).is_some());
        assert!(
            watch.watch(&hub, e.clone(), message(), Seq(30)).is_none(),
            "no twice"
        );
        assert!(watch.taken(&e.id, Seq(32)));
        assert!(!watch.lock().contains_key(&e.id));
        // Reopened later: watched again.
        assert!(watch.watch(&hub, e.clone(), message(), Seq(40)).is_some());
        assert!(watch.lock().contains_key(&e.id));
    }
}
