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
use clinic_protocol::{Emergency, EmergencyId, Message, ServerFrame, UserId, limits};
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

#[derive(Debug)]
pub(crate) struct Watch {
    open: Mutex<HashMap<EmergencyId, Entry>>,
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

    /// An entry whose deadlines count from the emergency's `raisedAt`.
    fn entry(&self, emergency: Emergency, message: Message, alerted: HashSet<UserId>) -> Entry {
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

    /// A new emergency: the first alert goes out now. Returns the doctors it reached.
    pub(crate) fn watch(&self, hub: &Hub, emergency: Emergency, message: Message) -> Reached {
        let mut entry = self.entry(emergency, message, HashSet::new());
        let mut open = self.lock();
        let reached = entry.send(hub);
        self.insert(&mut open, entry);
        reached
    }

    /// A repeated raise of an emergency still waiting: its alert now carries `message`, and
    /// goes out again at once. Returns the doctors reached for the first time.
    pub(crate) fn realert(&self, hub: &Hub, emergency: &Emergency, message: Message) -> Reached {
        let mut open = self.lock();
        match open.get_mut(&emergency.id) {
            Some(entry) => {
                entry.set_message(message);
                entry.send(hub)
            }
            // Not repeated (more open emergencies than the watch keeps): one alert all the same.
            None => {
                let mut entry = self.entry(emergency.clone(), message, HashSet::new());
                entry.send(hub)
            }
        }
    }

    /// Whether a repeated raise by `patient` may alert the doctors again now (its own rate).
    pub(crate) fn may_realert(&self, patient: &UserId) -> bool {
        self.raises.take(patient).is_ok()
    }

    /// An emergency still waiting after a restart: the timers carry on from `raisedAt`.
    fn resume(&self, emergency: Emergency, message: Message, alerted: HashSet<UserId>) {
        let entry = self.entry(emergency, message, alerted);
        self.insert(&mut self.lock(), entry);
    }

    /// A doctor took or resolved it: no more repeats, and the server alarm stops for it.
    pub(crate) fn taken(&self, id: &EmergencyId) {
        self.lock().remove(id);
        if let Some(siren) = &self.siren {
            siren.stop(id);
        }
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
