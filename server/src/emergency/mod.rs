//! Emergencies, live side: alerting doctors when a patient raises one, moving it along
//! (acknowledge, resolve) and telling everyone concerned. The alerts of emergencies nobody has
//! taken yet are kept by the [`Watch`], which repeats and escalates them and rings the server's
//! own alarm ([`siren`]) when `serve --alarm` asked for one.

mod siren;
mod watch;

pub(crate) use watch::Watch;

use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::hub::{Hub, Outbox, encode};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::emergencies::{Raise, Raised, Transition};
use clinic_protocol::{
    ConversationKey, Emergency, EmergencyId, EmergencyState, Message, Role, ServerFrame, User,
};

/// A patient raised an emergency (its message is committed): alert the doctors now and keep
/// alerting until someone takes it. A repeated raise joins the patient's open emergency: one
/// still waiting is alerted again at once (within the raise rate), one a doctor had taken waits
/// for a doctor again. Returns whether the doctors were alerted (then they get notifications);
/// not when the watch applied a newer change of it first (a doctor's take committed after the
/// raise: the watch orders them by change seq).
pub(crate) fn raised(state: &AppState, raised: &Raised, message: &Message) -> bool {
    let emergency = &raised.emergency;
    let (watch, hub) = (&state.emergencies, &state.hub);
    // Its state, told under the watch's lock: to every online doctor when it waits for a
    // doctor again, and at once to the patient, even while no doctor is online (their
    // "received": alerting, and failing that escalation, is then the server's job).
    let announce = |now: &Emergency| {
        let updated = ServerFrame::EmergencyUpdated {
            emergency: now.clone(),
        };
        if raised.how == Raise::Reopened {
            hub.to_role(Role::Doctor, &updated);
        }
        hub.to_users(&[&now.patient_id], &updated, None);
    };
    let reached = match raised.how {
        Raise::New => watch.watch(
            hub,
            emergency.clone(),
            message.clone(),
            raised.seq,
            announce,
        ),
        Raise::Joined => {
            if !watch.may_realert(&emergency.patient_id) {
                return false;
            }
            watch.realert(hub, emergency, message.clone(), raised.seq, announce)
        }
        Raise::Reopened => {
            // Not limited by the raise rate: only a doctor's acknowledgement makes one again.
            let _ = watch.may_realert(&emergency.patient_id);
            watch.watch(
                hub,
                emergency.clone(),
                message.clone(),
                raised.seq,
                announce,
            )
        }
    };
    let Some(reached) = reached else {
        return false;
    };
    record_alerted(state, emergency.id.clone(), reached);
    true
}

/// Longest the database work an alert leads to (the doctors' notifications, the record of whom
/// it reached) waits for the alerts to be written out first (`Hub::alerts_written`); it waits
/// that long only while a socket is too slow to take its alert or alerts keep going out.
pub(crate) const ALERTS_FIRST: std::time::Duration = std::time::Duration::from_millis(250);

/// Records (in the background), once the alert is written out to these doctors' devices, that
/// it reached them, and tells the patient once the count changed: their "received".
fn record_alerted(state: &AppState, id: EmergencyId, reached: watch::Reached) {
    if reached.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        state.hub.alerts_written(ALERTS_FIRST).await;
        let recorded = state.store.record_alerted(&id, reached.clone()).await;
        match recorded {
            Ok(Some(reach)) => state.emergencies.alerted(&state.hub, &id, reach),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, emergency = %id, "could not record an alert");
                state.emergencies.forget_alerted(&id, &reached);
            }
        }
    });
}

/// Tells the patient and every online doctor that an emergency changed state.
fn publish(hub: &Hub, emergency: &Emergency) {
    let updated = ServerFrame::EmergencyUpdated {
        emergency: emergency.clone(),
    };
    hub.to_role(Role::Doctor, &updated);
    hub.to_users(&[&emergency.patient_id], &updated, None);
}

/// Tells the patient what a doctor did (the stored notification of it).
fn notify(hub: &Hub, transition: &Transition) {
    hub.to_users(
        &[&transition.emergency.patient_id],
        &ServerFrame::Notification {
            notification: transition.notification.clone(),
        },
        None,
    );
}

/// A doctor takes an emergency.
pub(crate) async fn acknowledge(
    state: &AppState,
    doctor: &User,
    id: EmergencyId,
) -> Result<Emergency, ApiError> {
    let attempt = Event::by(&doctor.id, Action::EmergencyAcknowledge).subject(id.as_str());
    let written = state.store.acknowledge(doctor, id).await;
    let emergency = apply(state, written, attempt).await?;
    if let Some(at) = emergency.acknowledged_at {
        let waited = (at - emergency.waiting_since()).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!(crate::metrics::ACK_SECONDS).record(waited);
    }
    Ok(emergency)
}

/// A doctor closes an emergency.
pub(crate) async fn resolve(
    state: &AppState,
    doctor: &User,
    id: EmergencyId,
    note: Option<String>,
) -> Result<Emergency, ApiError> {
    let attempt = Event::by(&doctor.id, Action::EmergencyResolve).subject(id.as_str());
    let written = state.store.resolve(doctor, id, note).await;
    apply(state, written, attempt).await
}

/// Audits a doctor's written transition, ends the alerting for it and tells everyone its new
/// state (under the watch's lock, after the last repeat: none can follow it), then tells the
/// patient. Not its state when the watch applied a newer change first (a reopening committed
/// after it): the doctors and the patient were told that one. The doctor who acted is
/// answered with the emergency as the transition left it either way.
async fn apply(
    state: &AppState,
    written: Result<Transition, StoreError>,
    attempt: Event,
) -> Result<Emergency, ApiError> {
    let transition = audit::audited(&state.store, written, attempt, |_, _| Vec::new()).await?;
    state
        .emergencies
        .taken(&transition.emergency.id, transition.seq, || {
            publish(&state.hub, &transition.emergency);
        });
    if transition.new_care {
        let e = &transition.emergency;
        let doctor = e.resolved_by.as_ref().or(e.acknowledged_by.as_ref());
        if let Some(doctor) = doctor {
            crate::chat::introduce(&state.hub, &e.patient_id, doctor);
        }
    }
    notify(&state.hub, &transition);
    Ok(transition.emergency)
}

/// The emergency and its recorded transitions (doctors, and the patient who raised it).
pub(crate) async fn detail(
    state: &AppState,
    user: &User,
    id: EmergencyId,
) -> Result<clinic_protocol::rest::EmergencyDetail, ApiError> {
    let attempt = Event::by(&user.id, Action::EmergencyRead).subject(id.as_str());
    let found = state.store.emergency_detail(user, id).await;
    audit::audited(&state.store, found, attempt, |detail, attempt| {
        let e = &detail.emergency;
        vec![attempt.conversation(&ConversationKey::new(
            e.patient_id.clone(),
            e.doctor_id.clone(),
        ))]
    })
    .await
}

/// For a doctor's new socket: an `emergency:alert` for each emergency still waiting for someone
/// (also on do-not-disturb: the app shows it and rings only once it escalated), and an
/// `emergency:updated` for each acknowledged but unresolved one.
pub(crate) async fn on_connect(
    state: &AppState,
    user: &User,
    outbox: &Outbox,
) -> Result<(), ApiError> {
    if user.role != Role::Doctor {
        return Ok(());
    }
    // The socket is registered already: a change the watch applies from now on reaches it. One
    // applied after this moment may be newer than what the read below finds, and must not be
    // followed by that older state.
    let since = tokio::time::Instant::now();
    let taken: Vec<_> = state
        .store
        .emergencies(user, true)
        .await?
        .into_iter()
        .filter(|e| e.state == EmergencyState::Acknowledged)
        .filter(|e| !state.emergencies.changed_since(&e.id, since))
        .collect();
    // Waits for room instead of closing the socket: a catch-up must never be what makes a
    // doctor's socket look too slow.
    for emergency in taken.into_iter().rev() {
        outbox
            .push_wait(encode(&ServerFrame::EmergencyUpdated { emergency }))
            .await;
    }
    let available =
        state.hub.availability(&user.id) == clinic_protocol::ws::Availability::Available;
    for id in state.emergencies.alert_socket(&user.id, outbox, available) {
        record_alerted(state, id, vec![(user.id.clone(), 1)]);
    }
    Ok(())
}
