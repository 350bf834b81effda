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
use crate::store::emergencies::{Escalation, Reach};
use chrono::Utc;
use clinic_protocol::{Emergency, EmergencyId, Message, Seq, ServerFrame, UserId, limits};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The newest change the watch applied to an emergency.
#[derive(Debug, Clone, Copy)]
struct Latest {
    /// Its change seq (0 for an emergency reloaded after a restart: nothing older can come).
    seq: i64,
    /// Taken or resolved (then forgotten [`CLOSED_MEMORY`] after `at`), not waiting for a
    /// doctor.
    closed: bool,
    /// When it was applied (and its state told).
    at: Instant,
}

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
/// applies only what is newer than the newest change it applied to that emergency (`latest`,
/// kept while it waits and for [`CLOSED_MEMORY`] after a take or resolution), and tells the
/// doctors and the patient of it under the same lock, so what they are told last is the
/// newest. A take older than a reopening already applied leaves it watched and is not
/// published as the emergency's state; a raise or press older than a change already applied
/// alerts no one.
#[derive(Debug)]
pub(crate) struct Watch {
    open: Mutex<HashMap<EmergencyId, Entry>>,
    /// The newest change applied to each emergency waiting (watched or not: past
    /// [`MAX_WATCHED`] too) or lately closed. Locked after `open`, never before.
    latest: Mutex<HashMap<EmergencyId, Latest>>,
    /// Per patient: how often a repeated raise may alert the doctors again.
    raises: KeyedBuckets<UserId>,
    /// Wakes the timer task when a new emergency may have an earlier deadline.
    wake: Notify,
    /// A check for purged emergencies is running (`forget_purged`): at most one at a time.
    checking: AtomicBool,
    repeat_every: Duration,
    escalate_after: Duration,
    siren: Option<Siren>,
}

impl Watch {
    /// A watch with the configured timings; the server alarm starts only with `config.alarm`.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            latest: Mutex::new(HashMap::new()),
            raises: KeyedBuckets::new(config.emergency_raise_rate),
            wake: Notify::new(),
            checking: AtomicBool::new(false),
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

    fn latest(&self) -> MutexGuard<'_, HashMap<EmergencyId, Latest>> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records change `seq` of `id` as the newest applied, if it is newer than what is
    /// recorded; false, recording nothing, if not. Called with `open` held.
    fn advance(&self, id: &EmergencyId, seq: i64, closed: bool) -> bool {
        let mut latest = self.latest();
        if latest.get(id).is_some_and(|known| known.seq >= seq) {
            return false;
        }
        let now = Instant::now();
        if closed {
            latest.retain(|_, known| !known.closed || now.duration_since(known.at) < CLOSED_MEMORY);
        }
        latest.insert(
            id.clone(),
            Latest {
                seq,
                closed,
                at: now,
            },
        );
        true
    }

    /// Whether the watch applied a change of `id` (and told its state to the sockets then
    /// connected) after `since`: a doctor's new socket, registered before `since`, then has
    /// that state, newer than what it read of the emergency before.
    pub(crate) fn changed_since(&self, id: &EmergencyId, since: Instant) -> bool {
        self.latest().get(id).is_some_and(|known| known.at > since)
    }

    /// An entry whose deadlines count from when the emergency began waiting for a doctor
    /// ([`Emergency::waiting_since`]: its reopening, else its raise).
    fn entry(&self, emergency: Emergency, message: Message, alerted: HashSet<UserId>) -> Entry {
        let now = Instant::now();
        // A reopened one waits for a doctor since its reopening; its escalation, if it had
        // escalated before, is kept (it alerts doctors on do-not-disturb too at once).
        let elapsed = (Utc::now() - emergency.waiting_since())
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
        }
    }

    fn insert(&self, open: &mut HashMap<EmergencyId, Entry>, entry: Entry) {
        if let Some(siren) = &self.siren {
            siren.raise(&entry.emergency);
        }
        if open.len() >= MAX_WATCHED && !open.contains_key(&entry.emergency.id) {
            tracing::warn!(emergency = %entry.emergency.id, "too many open emergencies; this one is not repeated");
            return;
        }
        open.insert(entry.emergency.id.clone(), entry);
        self.wake.notify_one();
    }

    /// A new or reopened emergency, raised at change seq `seq`: `announce` (its state to those
    /// who are told) runs, then the first alert goes out, both under the watch's lock. Returns
    /// the doctors it reached; None, announcing and alerting nothing, when the watch applied a
    /// newer change of it already (a take committed after it).
    pub(crate) fn watch(
        &self,
        hub: &Hub,
        emergency: Emergency,
        message: Message,
        seq: Seq,
        announce: impl FnOnce(&Emergency),
    ) -> Option<Reached> {
        let mut entry = self.entry(emergency, message, HashSet::new());
        let mut open = self.lock();
        if !self.advance(&entry.emergency.id, seq.0, false) {
            return None;
        }
        announce(&entry.emergency);
        let reached = entry.send(hub);
        self.insert(&mut open, entry);
        Some(reached)
    }

    /// A repeated raise of an emergency still waiting, by a message of change seq `seq`:
    /// `announce` runs with the emergency as the watch has it (its escalation and alert count
    /// may be newer than the press's), then its alert, now carrying `message`, goes out again
    /// at once. Returns the doctors reached for the first time; None, announcing and alerting
    /// nothing, when the watch applied a newer change of it already (a take, or a later press).
    pub(crate) fn realert(
        &self,
        hub: &Hub,
        emergency: &Emergency,
        message: Message,
        seq: Seq,
        announce: impl FnOnce(&Emergency),
    ) -> Option<Reached> {
        let mut open = self.lock();
        if !self.advance(&emergency.id, seq.0, false) {
            return None;
        }
        Some(match open.get_mut(&emergency.id) {
            Some(entry) => {
                announce(&entry.emergency);
                entry.set_message(message);
                entry.send(hub)
            }
            // Not repeated (more open emergencies than the watch keeps): one alert all the same.
            None => {
                announce(emergency);
                let mut entry = self.entry(emergency.clone(), message, HashSet::new());
                entry.send(hub)
            }
        })
    }

    /// Whether a repeated raise by `patient` may alert the doctors again now (its own rate).
    pub(crate) fn may_realert(&self, patient: &UserId) -> bool {
        self.raises.take(patient).is_ok()
    }

    /// An emergency still waiting after a restart: the timers carry on from when it began
    /// waiting (its reopening, else its raise).
    fn resume(&self, emergency: Emergency, message: Message, alerted: HashSet<UserId>) {
        let entry = self.entry(emergency, message, alerted);
        let mut open = self.lock();
        self.advance(&entry.emergency.id, 0, false);
        self.insert(&mut open, entry);
    }

    /// A doctor took or resolved it, at change seq `seq`: no more repeats, `announce` (its new
    /// state) runs under the watch's lock, and the server alarm stops for it. False, changing
    /// and announcing nothing, when the watch applied a newer change of it already (a
    /// reopening committed after it: the take is then not the emergency's state).
    pub(crate) fn taken(&self, id: &EmergencyId, seq: Seq, announce: impl FnOnce()) -> bool {
        let mut open = self.lock();
        if !self.advance(id, seq.0, true) {
            return false;
        }
        open.remove(id);
        announce();
        drop(open);
        if let Some(siren) = &self.siren {
            siren.stop(id);
        }
        true
    }

    /// Emergencies a purge removed: no more repeats or escalation, and the server alarm stops
    /// for them. Nothing can change them any more, so no change of them is applied after this.
    pub(crate) fn gone(&self, ids: &[EmergencyId]) {
        let mut open = self.lock();
        for id in ids {
            self.advance(id, i64::MAX, true);
            open.remove(id);
        }
        drop(open);
        if let Some(siren) = &self.siren {
            for id in ids {
                siren.stop(id);
            }
        }
    }

    /// The alert's reach was recorded: later repeats carry the new count, and the patient
    /// learns that their emergency was received.
    pub(crate) fn alerted(&self, hub: &Hub, id: &EmergencyId, recorded: Reach) {
        let mut open = self.lock();
        // Not watched any more: the acknowledgement already told the patient more than this.
        let Some(entry) = open.get_mut(id) else {
            return;
        };
        // Records answered in another order than they were committed must not lower the count,
        // which only grows.
        entry.emergency.alerted_at = entry.emergency.alerted_at.or(Some(recorded.at));
        entry.emergency.alerted_doctors = entry.emergency.alerted_doctors.max(recorded.doctors);
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

    /// The emergencies whose repeat or escalation is due now.
    fn due(&self) -> Vec<EmergencyId> {
        let now = Instant::now();
        self.lock()
            .iter()
            .filter(|(_, e)| e.next_repeat <= now || e.escalate_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect()
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
            let due = watch.due();
            // Not awaited: a repeat never waits for the store (a stalled writer must not
            // silence the alarm), so a purged emergency may repeat once more.
            if !due.is_empty() && !watch.checking.swap(true, Ordering::AcqRel) {
                let state = state.clone();
                tokio::spawn(async move {
                    forget_purged(&state, due).await;
                    state.emergencies.checking.store(false, Ordering::Release);
                });
            }
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

/// Drops from the watch those of `due` that are not stored any more: a purge by the CLI in
/// another process, which the serving server is not told of, removed them (a read sees every
/// logged raise: the log is moved first). If the store cannot say, they go on repeating: an
/// alert too many is better than one too few.
async fn forget_purged(state: &AppState, due: Vec<EmergencyId>) {
    match state.store.missing_emergencies(due).await {
        Ok(gone) if !gone.is_empty() => {
            tracing::info!(
                count = gone.len(),
                "emergencies waiting for a doctor were purged; no longer alerted"
            );
            state.emergencies.gone(&gone);
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error = %err, "could not check the emergencies due for a repeat")
        }
    }
}

async fn escalate_one(state: &AppState, id: EmergencyId) {
    let written = state.store.escalate(&id).await;
    match written {
        Ok(Escalation::Waiting(emergency, newly)) => {
            if newly {
                tracing::warn!(emergency = %id, patient = %emergency.patient_name, "emergency escalated: nobody acknowledged it in time");
            }
            // Escalated before too (a reopening the watch heard of after that escalation, or
            // one before a restart): told again all the same, so that it is alerted as such.
            let reached = state.emergencies.escalated(&state.hub, &emergency);
            super::record_alerted(state, id, reached);
        }
        // The take or resolution tells the watch itself.
        Ok(Escalation::Taken) => {}
        // Purged by the CLI in another process (the server's own retention run tells the
        // watch when it announces the purge): nothing is left to take, so nothing may ring.
        Ok(Escalation::Gone) => {
            tracing::info!(emergency = %id, "an emergency waiting for a doctor was purged; no longer alerted");
            state.emergencies.gone(std::slice::from_ref(&id));
        }
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
            written_at: None,
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

    /// A watch with emergency `e-1` raised at change seq 5, the emergency.
    fn watching_one() -> (tempfile::TempDir, Watch, Hub, Emergency) {
        let (dir, watch, hub) = watching();
        let e = emergency("e-1");
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(5), |_| ())
                .is_some()
        );
        (dir, watch, hub, e)
    }

    /// A take and a reopening committed in one batch (take at 10, reopening at 11) end as
    /// committed whichever is handled first: the emergency waits again, watched, and the take
    /// handled late neither ends it nor is announced.
    #[test]
    fn a_reopening_after_a_take_stays_watched_in_either_order() {
        let (_dir, watch, hub) = watching();
        for (id, take_first) in [("e-1", true), ("e-2", false)] {
            let e = emergency(id);
            let told = std::cell::RefCell::new(Vec::new());
            let told_ref = &told;
            let tell = |what: &'static str| move |_: &Emergency| told_ref.borrow_mut().push(what);
            let tell_taken = |what: &'static str| move || told_ref.borrow_mut().push(what);
            assert!(
                watch
                    .watch(&hub, e.clone(), message(), Seq(5), tell("raised"))
                    .is_some()
            );
            if take_first {
                assert!(watch.taken(&e.id, Seq(10), tell_taken("taken")));
                assert!(
                    watch
                        .watch(&hub, e.clone(), message(), Seq(11), tell("reopened"))
                        .is_some()
                );
            } else {
                assert!(
                    watch
                        .watch(&hub, e.clone(), message(), Seq(11), tell("reopened"))
                        .is_some()
                );
                assert!(
                    !watch.taken(&e.id, Seq(10), tell_taken("taken")),
                    "older than the reopening"
                );
            }
            assert!(watch.lock().contains_key(&e.id));
            assert_eq!(
                told.borrow().last(),
                Some(&"reopened"),
                "{:?}",
                told.borrow()
            );
        }
    }

    /// A reopening and a take committed in one batch (reopening at 11, take at 12), or a press
    /// that joined and a take (20, 21): handled take first, the raise announces and alerts
    /// nothing and the emergency stays unwatched (it is taken); in order, the take ends it.
    #[test]
    fn a_raise_before_a_take_handled_after_it_alerts_no_one() {
        let (_dir, watch, hub) = watching();
        let told = std::cell::RefCell::new(Vec::new());
        let told_ref = &told;
        let tell = |what: &'static str| move |_: &Emergency| told_ref.borrow_mut().push(what);
        let tell_taken = |what: &'static str| move || told_ref.borrow_mut().push(what);
        let e = emergency("e-1");
        assert!(watch.taken(&e.id, Seq(12), tell_taken("taken")));
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(11), tell("reopened"))
                .is_none()
        );
        assert!(!watch.lock().contains_key(&e.id));
        assert_eq!(*told.borrow(), ["taken"]);

        let e = emergency("e-2");
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(15), |_| ())
                .is_some()
        );
        assert!(watch.taken(&e.id, Seq(21), || ()));
        assert!(
            watch
                .realert(&hub, &e, message(), Seq(20), tell("joined"))
                .is_none()
        );
        assert!(!watch.lock().contains_key(&e.id));
        assert_eq!(*told.borrow(), ["taken"]);

        let e = emergency("e-3");
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(30), |_| ())
                .is_some()
        );
        assert!(
            watch
                .realert(&hub, &e, message(), Seq(32), |_| ())
                .is_some()
        );
        assert!(
            watch
                .realert(&hub, &e, message(), Seq(31), |_| ())
                .is_none(),
            "an older press after a newer one"
        );
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(30), |_| ())
                .is_none(),
            "no twice"
        );
        assert!(watch.taken(&e.id, Seq(33), || ()));
        assert!(!watch.lock().contains_key(&e.id));
        // Reopened later: watched again.
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(40), |_| ())
                .is_some()
        );
        assert!(watch.lock().contains_key(&e.id));
    }

    /// Past [`MAX_WATCHED`] an emergency is alerted once and not repeated, and the order still
    /// holds: a take older than a reopening handled first neither ends it nor is announced.
    #[test]
    fn the_order_holds_for_emergencies_the_watch_does_not_repeat() {
        let (_dir, watch, hub) = watching();
        for i in 0..MAX_WATCHED {
            let e = emergency(&format!("e-full-{i}"));
            assert!(watch.watch(&hub, e, message(), Seq(1), |_| ()).is_some());
        }
        let e = emergency("e-over");
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(5), |_| ())
                .is_some()
        );
        assert!(!watch.lock().contains_key(&e.id), "not repeated");
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(11), |_| ())
                .is_some()
        );
        assert!(!watch.taken(&e.id, Seq(10), || panic!("announced a stale take")));
        assert!(watch.taken(&e.id, Seq(12), || ()));
        assert!(watch.watch(&hub, e, message(), Seq(11), |_| ()).is_none());
    }

    /// A press announces the emergency as the watch has it: an escalation it heard of after
    /// the press was judged is not taken back.
    #[test]
    fn a_press_announces_the_emergency_as_the_watch_has_it() {
        let (_dir, watch, hub, e) = watching_one();
        let mut escalated = e.clone();
        escalated.escalated_at = Some(Utc::now());
        watch.escalated(&hub, &escalated);
        let told = std::cell::RefCell::new(None);
        let announce = |now: &Emergency| *told.borrow_mut() = Some(now.escalated_at);
        assert!(
            watch
                .realert(&hub, &e, message(), Seq(6), announce)
                .is_some()
        );
        assert_eq!(*told.borrow(), Some(escalated.escalated_at));
    }

    /// Alert records answered out of order never lower what the watch tells: the first time
    /// it reached a doctor stays, and the count only grows.
    #[test]
    fn an_alert_record_answered_late_does_not_lower_the_reach() {
        let (_dir, watch, hub, e) = watching_one();
        let first = Utc::now();
        let later = first + chrono::TimeDelta::milliseconds(5);
        watch.alerted(
            &hub,
            &e.id,
            Reach {
                at: first,
                doctors: 8,
            },
        );
        watch.alerted(
            &hub,
            &e.id,
            Reach {
                at: later,
                doctors: 5,
            },
        );
        let open = watch.lock();
        let now = &open.get(&e.id).unwrap().emergency;
        assert_eq!((now.alerted_at, now.alerted_doctors), (Some(first), 8));
    }

    /// A purged emergency leaves the watch for good: no repeat is due, and a raise or take of
    /// it heard late changes and announces nothing.
    #[test]
    fn a_purged_emergency_is_not_watched_again() {
        let (_dir, watch, hub, e) = watching_one();
        watch.gone(std::slice::from_ref(&e.id));
        assert!(watch.lock().is_empty());
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(9), |_| panic!("announced"))
                .is_none()
        );
        assert!(!watch.taken(&e.id, Seq(10), || panic!("announced")));
        assert!(watch.due().is_empty());
    }

    /// What the watch keeps of a taken emergency is forgotten a while after (at the next take),
    /// never of one still waiting.
    #[tokio::test(start_paused = true)]
    async fn taken_emergencies_are_forgotten_later() {
        let (_dir, watch, hub) = watching();
        let waiting = emergency("e-waiting");
        assert!(
            watch
                .watch(&hub, waiting.clone(), message(), Seq(1), |_| ())
                .is_some()
        );
        assert!(watch.taken(&EmergencyId::from("e-1"), Seq(2), || ()));
        tokio::time::advance(CLOSED_MEMORY / 2).await;
        assert!(watch.taken(&EmergencyId::from("e-2"), Seq(3), || ()));
        assert_eq!(watch.latest().len(), 3);
        tokio::time::advance(CLOSED_MEMORY / 2 + Duration::from_secs(1)).await;
        assert!(watch.taken(&EmergencyId::from("e-3"), Seq(4), || ()));
        let mut kept: Vec<String> = watch
            .latest()
            .keys()
            .map(|id| id.as_str().to_owned())
            .collect();
        kept.sort();
        assert_eq!(kept, ["e-2", "e-3", "e-waiting"]);
    }

    /// A change applied after a moment counts as changed since it; one before, or none, not.
    #[tokio::test(start_paused = true)]
    async fn what_changed_since_a_moment() {
        let (_dir, watch, hub) = watching();
        let e = emergency("e-1");
        assert!(
            watch
                .watch(&hub, e.clone(), message(), Seq(1), |_| ())
                .is_some()
        );
        tokio::time::advance(Duration::from_millis(5)).await;
        let since = Instant::now();
        assert!(!watch.changed_since(&e.id, since));
        assert!(!watch.changed_since(&EmergencyId::from("e-none"), since));
        tokio::time::advance(Duration::from_millis(5)).await;
        assert!(watch.taken(&e.id, Seq(2), || ()));
        assert!(watch.changed_since(&e.id, since));
    }
}
