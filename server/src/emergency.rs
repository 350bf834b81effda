//! Emergencies, live side: alerting every online doctor, moving an emergency along
//! (acknowledge, resolve) and telling everyone concerned. Repeat and escalation timers belong
//! here too when they come.

use crate::error::ApiError;
use crate::hub::{Hub, Outbox, encode};
use crate::state::AppState;
use crate::store::emergencies::{self, Transition};
use crate::store::messages;
use clinic_protocol::{Emergency, EmergencyId, EmergencyState, Message, Role, ServerFrame, User};

/// Tells every online doctor about a new emergency.
pub(crate) fn alert(hub: &Hub, emergency: &Emergency, message: &Message) {
    hub.to_role(
        Role::Doctor,
        &ServerFrame::EmergencyAlert {
            emergency: emergency.clone(),
            message: message.clone(),
            repeat: 0,
            escalated: emergency.escalated_at.is_some(),
        },
    );
}

/// Tells the patient and every online doctor that an emergency changed state.
fn publish(hub: &Hub, transition: &Transition) {
    let updated = ServerFrame::EmergencyUpdated {
        emergency: transition.emergency.clone(),
    };
    hub.to_role(Role::Doctor, &updated);
    hub.to_users(&[&transition.emergency.patient_id], &updated, None);
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
    let doctor_for_writer = doctor.clone();
    let transition = state
        .store
        .writer
        .run(move |conn, seqs| emergencies::acknowledge(conn, seqs, &doctor_for_writer, &id))
        .await?;
    publish(&state.hub, &transition);
    Ok(transition.emergency)
}

/// A doctor closes an emergency.
pub(crate) async fn resolve(
    state: &AppState,
    doctor: &User,
    id: EmergencyId,
    note: Option<String>,
) -> Result<Emergency, ApiError> {
    let doctor_for_writer = doctor.clone();
    let transition = state
        .store
        .writer
        .run(move |conn, seqs| {
            emergencies::resolve(conn, seqs, &doctor_for_writer, &id, note.as_deref())
        })
        .await?;
    publish(&state.hub, &transition);
    Ok(transition.emergency)
}

/// For a doctor's new socket: an `emergency:alert` for each emergency still waiting for someone,
/// and an `emergency:updated` for each acknowledged but unresolved one.
pub(crate) async fn on_connect(
    state: &AppState,
    user: &User,
    outbox: &Outbox,
) -> Result<(), ApiError> {
    if user.role != Role::Doctor {
        return Ok(());
    }
    let doctor = user.clone();
    let open = state
        .store
        .reads
        .run(move |conn| {
            let mut open = Vec::new();
            for emergency in emergencies::list(conn, &doctor, true)? {
                let message = messages::by_id(conn, &emergency.message_id)?;
                open.push((emergency, message));
            }
            Ok(open)
        })
        .await?;
    for (emergency, message) in open.into_iter().rev() {
        let frame = match (emergency.state, message) {
            (EmergencyState::Raised, Some(message)) => ServerFrame::EmergencyAlert {
                escalated: emergency.escalated_at.is_some(),
                emergency,
                message,
                repeat: 0,
            },
            _ => ServerFrame::EmergencyUpdated { emergency },
        };
        outbox.push(encode(&frame));
    }
    Ok(())
}
