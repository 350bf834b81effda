//! The attention policy of a device: when it rings, when it shows a native notification and
//! chimes, and which emergencies its user silenced here. A desktop shell only carries out what
//! this decides ([`ClientEvent::Alarm`], [`ClientEvent::Notify`]); the CLI ignores it.
//!
//! - An emergency alert rings until the server says the emergency moved on (this device's
//!   confirmed acknowledge, someone else's, or a resolve): never on a mere click.
//! - Do-not-disturb mutes sound and notifications, never the banner or Acknowledge (the server
//!   sends every alert to doctors on do-not-disturb too); escalated alerts ring even then.
//! - Silencing quiets this device for the emergencies ringing now; their repeats stay quiet
//!   here, a new emergency rings again. Logging out silences everything.
//! - A new message notifies (with a chime) only while the window is not in front of the user,
//!   and shows its text only when the user allowed it.
//! - An emergency's notification is withdrawn once the emergency is handled (acknowledged or
//!   resolved, by anyone) or the session ends: a handled emergency must not keep shouting.

use crate::events::ClientEvent;
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ConversationKey, Emergency, EmergencyId, EmergencyState, Notification, NotificationKind,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Mutex, MutexGuard};

/// A native notification the shell should show.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// An emergency: stays on screen, urgent.
    pub critical: bool,
    pub title: String,
    pub body: String,
    /// The conversation a click on the notification opens.
    pub conversation: Option<ConversationKey>,
    /// Play the short message chime with it.
    pub chime: bool,
    /// Set on an emergency's notice (its id): [`ClientEvent::WithdrawNotice`] with this tag
    /// takes it off the screen.
    pub tag: Option<String>,
}

/// Most emergencies remembered as silenced (a hostile server cannot grow this without bound).
const MAX_SILENCED: usize = 10_000;

#[derive(Debug)]
struct State {
    ringing: BTreeSet<EmergencyId>,
    /// Emergencies whose notification may still be on screen.
    notified: HashSet<EmergencyId>,
    silenced: HashSet<EmergencyId>,
    /// The window is visible and focused.
    in_view: bool,
    show_content: bool,
    /// The app is locked: notifications name nobody and say nothing of the message.
    locked: bool,
    availability: Availability,
}

#[derive(Debug)]
pub(crate) struct Attention {
    state: Mutex<State>,
}

/// What a change asks of the device.
#[derive(Debug, Default)]
pub(crate) struct Effects(Vec<ClientEvent>);

impl Effects {
    pub(crate) fn into_events(self) -> Vec<ClientEvent> {
        self.0
    }
}

impl Attention {
    pub(crate) fn new(availability: Availability) -> Self {
        Self {
            state: Mutex::new(State {
                ringing: BTreeSet::new(),
                notified: HashSet::new(),
                silenced: HashSet::new(),
                in_view: false,
                show_content: false,
                locked: false,
                availability,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Emergencies ringing on this device now.
    pub(crate) fn ringing(&self) -> Vec<EmergencyId> {
        self.lock().ringing.iter().cloned().collect()
    }

    pub(crate) fn availability(&self) -> Availability {
        self.lock().availability
    }

    pub(crate) fn set_availability(&self, availability: Availability) {
        self.lock().availability = availability;
    }

    pub(crate) fn set_in_view(&self, in_view: bool) {
        self.lock().in_view = in_view;
    }

    pub(crate) fn set_show_content(&self, show: bool) {
        self.lock().show_content = show;
    }

    pub(crate) fn set_locked(&self, locked: bool) {
        self.lock().locked = locked;
    }

    /// An `emergency:alert` (first or repeated) reached this doctor's device.
    pub(crate) fn alerted(&self, emergency: &Emergency, escalated: bool) -> Effects {
        let mut state = self.lock();
        let mut effects = Effects::default();
        if emergency.state != EmergencyState::Raised
            || state.silenced.contains(&emergency.id)
            || (state.availability == Availability::DoNotDisturb && !escalated)
        {
            return effects;
        }
        if state.ringing.insert(emergency.id.clone()) {
            effects.0.push(alarm(&state));
            let (title, body) = if state.locked {
                (
                    "EMERGENCY from a patient".to_owned(),
                    "Unlock Clinic Messaging to respond.".to_owned(),
                )
            } else {
                (
                    format!("EMERGENCY: {}", emergency.patient_name),
                    "A patient needs help now. Open Clinic Messaging to acknowledge.".to_owned(),
                )
            };
            effects.0.push(ClientEvent::Notify {
                notice: Notice {
                    critical: true,
                    title,
                    body,
                    conversation: Some(ConversationKey::new(
                        emergency.patient_id.clone(),
                        emergency.doctor_id.clone(),
                    )),
                    chime: false,
                    tag: Some(emergency.id.as_str().to_owned()),
                },
            });
            if state.notified.len() < MAX_SILENCED {
                state.notified.insert(emergency.id.clone());
            }
        }
        effects
    }

    /// The server says an emergency changed. Anything but `RAISED` means someone has it: stop.
    pub(crate) fn updated(&self, emergency: &Emergency) -> Effects {
        let mut state = self.lock();
        let mut effects = Effects::default();
        if emergency.state == EmergencyState::Raised {
            return effects;
        }
        state.silenced.remove(&emergency.id);
        if state.ringing.remove(&emergency.id) {
            effects.0.push(alarm(&state));
        }
        if state.notified.remove(&emergency.id) {
            effects.0.push(ClientEvent::WithdrawNotice {
                tag: emergency.id.as_str().to_owned(),
            });
        }
        effects
    }

    /// These emergencies no longer exist (the clinic's retention removed them): stop ringing
    /// and take their notifications down.
    pub(crate) fn gone(&self, ids: &[EmergencyId]) -> Effects {
        let mut state = self.lock();
        let mut effects = Effects::default();
        let mut stop_ringing = false;
        for id in ids {
            state.silenced.remove(id);
            stop_ringing |= state.ringing.remove(id);
            if state.notified.remove(id) {
                effects.0.push(ClientEvent::WithdrawNotice {
                    tag: id.as_str().to_owned(),
                });
            }
        }
        if stop_ringing {
            effects.0.insert(0, alarm(&state));
        }
        effects
    }

    /// The user pressed "silence this device".
    pub(crate) fn silence(&self) -> Effects {
        let mut state = self.lock();
        let quiet: Vec<EmergencyId> = std::mem::take(&mut state.ringing).into_iter().collect();
        for id in quiet {
            if state.silenced.len() < MAX_SILENCED {
                state.silenced.insert(id);
            }
        }
        Effects(vec![alarm(&state)])
    }

    /// The session ended (logout, token refused): nothing rings for a signed-out user.
    pub(crate) fn end(&self) -> Effects {
        let mut state = self.lock();
        state.silenced.clear();
        let mut effects: Vec<ClientEvent> = std::mem::take(&mut state.notified)
            .into_iter()
            .map(|id| ClientEvent::WithdrawNotice {
                tag: id.as_str().to_owned(),
            })
            .collect();
        if !std::mem::take(&mut state.ringing).is_empty() {
            effects.insert(0, alarm(&state));
        }
        Effects(effects)
    }

    /// An in-app notification from the server: maybe a native one.
    pub(crate) fn notification(&self, n: &Notification) -> Effects {
        let state = self.lock();
        let routine = matches!(
            n.kind,
            NotificationKind::NewMessage | NotificationKind::EmergencyUpdate
        );
        let in_view = state.in_view && !state.locked;
        if !routine || in_view || state.availability == Availability::DoNotDisturb {
            return Effects::default();
        }
        if state.locked {
            return Effects(vec![ClientEvent::Notify {
                notice: Notice {
                    critical: false,
                    title: "Clinic Messaging".into(),
                    body: "Something new. Unlock Clinic Messaging to read it.".into(),
                    conversation: None,
                    chime: n.kind == NotificationKind::NewMessage,
                    tag: None,
                },
            }]);
        }
        let body = if state.show_content || n.kind == NotificationKind::EmergencyUpdate {
            n.body.clone()
        } else {
            "Open Clinic Messaging to read it.".into()
        };
        let conversation = match (&n.patient_id, &n.doctor_id) {
            (Some(p), Some(d)) => Some(ConversationKey::new(p.clone(), d.clone())),
            _ => None,
        };
        Effects(vec![ClientEvent::Notify {
            notice: Notice {
                critical: false,
                title: n.title.clone(),
                body,
                conversation,
                chime: n.kind == NotificationKind::NewMessage,
                tag: None,
            },
        }])
    }
}

fn alarm(state: &State) -> ClientEvent {
    ClientEvent::Alarm {
        alerting: !state.ringing.is_empty(),
        ringing: state.ringing.iter().cloned().collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn emergency(id: &str, state: EmergencyState) -> Emergency {
        Emergency {
            id: id.into(),
            message_id: "m".into(),
            patient_id: "p".into(),
            patient_name: "Pat".into(),
            doctor_id: "d".into(),
            state,
            raised_at: chrono::Utc::now(),
            escalated_at: None,
            acknowledged_by: None,
            acknowledged_by_name: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_at: None,
            resolution_note: None,
            alerted_at: None,
            alerted_doctors: 0,
        }
    }

    fn alerting(effects: &Effects) -> Option<bool> {
        effects.0.iter().find_map(|e| match e {
            ClientEvent::Alarm { alerting, .. } => Some(*alerting),
            _ => None,
        })
    }

    #[test]
    fn rings_until_the_server_says_someone_has_it() {
        let a = Attention::new(Availability::Available);
        let raised = emergency("e1", EmergencyState::Raised);
        let first = a.alerted(&raised, false);
        assert_eq!(alerting(&first), Some(true));
        assert!(
            first
                .0
                .iter()
                .any(|e| matches!(e, ClientEvent::Notify { notice } if notice.critical))
        );
        assert!(
            a.alerted(&raised, false).0.is_empty(),
            "a repeat changes nothing"
        );
        assert!(
            a.updated(&raised).0.is_empty(),
            "still raised: keeps ringing"
        );
        let taken = a.updated(&emergency("e1", EmergencyState::Acknowledged));
        assert_eq!(alerting(&taken), Some(false));
        assert!(a.ringing().is_empty());
    }

    fn withdrawn(effects: &Effects) -> Vec<String> {
        effects
            .0
            .iter()
            .filter_map(|e| match e {
                ClientEvent::WithdrawNotice { tag } => Some(tag.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_emergencys_notification_is_withdrawn_once_it_is_handled() {
        let a = Attention::new(Availability::Available);
        let shown = a.alerted(&emergency("e1", EmergencyState::Raised), false);
        assert!(shown.0.iter().any(|e| matches!(e,
            ClientEvent::Notify { notice } if notice.tag.as_deref() == Some("e1"))));
        assert!(withdrawn(&a.updated(&emergency("e1", EmergencyState::Raised))).is_empty());
        // Handled by anyone (this update is all the device learns): withdrawn, once.
        let taken = a.updated(&emergency("e1", EmergencyState::Acknowledged));
        assert_eq!(withdrawn(&taken), ["e1"]);
        assert!(withdrawn(&a.updated(&emergency("e1", EmergencyState::Resolved))).is_empty());

        // Silenced here: the alarm stops but the notification stays until it is handled.
        a.alerted(&emergency("e2", EmergencyState::Raised), false);
        assert!(withdrawn(&a.silence()).is_empty());
        assert_eq!(
            withdrawn(&a.updated(&emergency("e2", EmergencyState::Resolved))),
            ["e2"]
        );

        // Never shown (do-not-disturb): nothing to withdraw. Logging out withdraws the rest.
        let quiet = Attention::new(Availability::DoNotDisturb);
        quiet.alerted(&emergency("e3", EmergencyState::Raised), false);
        assert!(
            withdrawn(&quiet.updated(&emergency("e3", EmergencyState::Acknowledged))).is_empty()
        );
        a.alerted(&emergency("e4", EmergencyState::Raised), false);
        assert_eq!(withdrawn(&a.end()), ["e4"]);
    }

    #[test]
    fn silenced_here_stays_quiet_and_logout_ends_it() {
        let a = Attention::new(Availability::Available);
        let e1 = emergency("e1", EmergencyState::Raised);
        a.alerted(&e1, false);
        assert_eq!(alerting(&a.silence()), Some(false));
        assert!(a.alerted(&e1, false).0.is_empty(), "its repeats stay quiet");
        let e2 = emergency("e2", EmergencyState::Raised);
        assert_eq!(
            alerting(&a.alerted(&e2, false)),
            Some(true),
            "a new one rings"
        );
        assert_eq!(alerting(&a.end()), Some(false));
        assert!(a.ringing().is_empty());
    }

    #[test]
    fn do_not_disturb_mutes_routine_alerts_and_messages_not_escalations() {
        let a = Attention::new(Availability::DoNotDisturb);
        let e1 = emergency("e1", EmergencyState::Raised);
        assert!(a.alerted(&e1, false).0.is_empty());
        assert_eq!(alerting(&a.alerted(&e1, true)), Some(true));
        let n = Notification {
            id: "n".into(),
            user_id: "d".into(),
            kind: NotificationKind::NewMessage,
            title: "New message from Pat".into(),
            body: "my chest hurts".into(),
            message_id: None,
            patient_id: Some("p".into()),
            doctor_id: Some("d".into()),
            read: false,
            created_at: chrono::Utc::now(),
        };
        assert!(a.notification(&n).0.is_empty());
        a.set_availability(Availability::Available);
        let shown = a.notification(&n).into_events();
        match &shown[..] {
            [ClientEvent::Notify { notice }] => {
                assert_eq!(notice.body, "Open Clinic Messaging to read it.");
                assert!(notice.chime);
                assert_eq!(notice.conversation, Some(ConversationKey::new("p", "d")));
            }
            other => panic!("{other:?}"),
        }
        a.set_show_content(true);
        assert!(matches!(&a.notification(&n).into_events()[..],
            [ClientEvent::Notify { notice }] if notice.body == "my chest hurts"));
        a.set_in_view(true);
        assert!(
            a.notification(&n).0.is_empty(),
            "not while the user is looking"
        );
    }
}
