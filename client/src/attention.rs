//! The attention policy of a device: when it rings, when it shows a native notification and
//! chimes, and which emergencies its user silenced here. A desktop shell only carries out what
//! this decides ([`ClientEvent::Alarm`], [`ClientEvent::Notify`]); the CLI ignores it.
//!
//! - An emergency alert rings until the server says the emergency moved on (this device's
//!   confirmed acknowledge, someone else's, or a resolve): never on a mere click.
//! - Do-not-disturb mutes sound and notifications, never the banner or Acknowledge (the server
//!   sends every alert to doctors on do-not-disturb too); escalated alerts ring even then.
//! - Silencing quiets this device for the emergencies ringing now; their repeats stay quiet
//!   here, a new emergency rings again. Logging out silences everything. Otherwise each repeat
//!   shows the emergency's notification again (a dismissed one comes back).
//! - A new message notifies (with a chime) only while the window is not in front of the user,
//!   and shows its text only when the user allowed it.
//! - An emergency's notification is withdrawn once the emergency is handled (acknowledged or
//!   resolved, by anyone) or the session ends: a handled emergency must not keep shouting.
//! - A new message's notification is withdrawn when its sender unsends or retracts it, and when
//!   they edit it while it shows the old text: what was taken back must not stay on screen.
//!   Logging out withdraws them too.

use crate::events::ClientEvent;
use crate::record::LocalMessage;
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ConversationKey, Emergency, EmergencyId, EmergencyState, MessageId, Notification,
    NotificationKind,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// Set on an emergency's notice (its id) and on a message's ([`message_tag`]):
    /// [`ClientEvent::WithdrawNotice`] with this tag takes it off the screen.
    pub tag: Option<String>,
}

/// Most emergencies remembered as silenced (a hostile server cannot grow this without bound).
const MAX_SILENCED: usize = 10_000;

/// Most message notifications remembered for withdrawal; past it the oldest are forgotten (the
/// notification service has long since let them expire).
const MAX_SHOWN_MESSAGES: usize = 1_000;

/// The tag of a new message's notice: emergency and message ids never collide with it.
pub fn message_tag(id: &MessageId) -> String {
    format!("message:{}", id.as_str())
}

/// A message's notification that may still be on screen.
#[derive(Debug, Clone, Copy)]
struct ShownMessage {
    /// The version of the text it showed (`None`: it showed no text).
    text_version: Option<u32>,
    /// Order of showing, to forget the oldest first.
    order: u64,
}

#[derive(Debug)]
struct State {
    ringing: BTreeSet<EmergencyId>,
    /// Emergencies whose notification may still be on screen, each with the notice that names
    /// its patient (shown again when the app unlocks).
    notified: HashMap<EmergencyId, Notice>,
    /// Messages whose notification may still be on screen.
    shown_messages: HashMap<MessageId, ShownMessage>,
    shown_count: u64,
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
    /// Held from a decision until its effects are emitted ([`Attention::turn`]).
    turn: Mutex<()>,
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
            turn: Mutex::new(()),
            state: Mutex::new(State {
                ringing: BTreeSet::new(),
                notified: HashMap::new(),
                shown_messages: HashMap::new(),
                shown_count: 0,
                silenced: HashSet::new(),
                in_view: false,
                show_content: false,
                locked: false,
                availability,
            }),
        }
    }

    /// Held by a caller from a decision of this policy until its effects are emitted, so that
    /// effects reach the UI in the order the decisions were taken: the lock's withdrawal of
    /// everything after an alert's named notice, never before it; an emergency's withdrawal
    /// after the unlock that showed it named again.
    pub(crate) fn turn(&self) -> MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(|e| e.into_inner())
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
        let named = Notice {
            critical: true,
            title: format!("EMERGENCY: {}", emergency.patient_name),
            body: "A patient needs help now. Open Clinic Messaging to acknowledge.".to_owned(),
            conversation: Some(ConversationKey::new(
                emergency.patient_id.clone(),
                emergency.doctor_id.clone(),
            )),
            chime: false,
            tag: Some(emergency.id.as_str().to_owned()),
        };
        // A repeat (or the escalation) of one ringing here shows its notification again: one
        // dismissed comes back, which on a device that cannot ring is all there is besides
        // the window. The alarm keeps one notification per tag, so it is never shown twice.
        if state.ringing.insert(emergency.id.clone()) {
            effects.0.push(alarm(&state));
        }
        let notice = if state.locked {
            locked_form(named.clone())
        } else {
            named.clone()
        };
        effects.0.push(ClientEvent::Notify { notice });
        if state.notified.len() < MAX_SILENCED {
            state.notified.insert(emergency.id.clone(), named);
        }
        effects
    }

    /// The app locked or unlocked. Locking takes everything shown while unlocked off the
    /// screen (a notification naming a patient or quoting a message must not outlive the lock)
    /// and shows each emergency still ringing again, naming nobody: on a device that cannot
    /// ring, that notification is what is left to see. Unlocking shows each of those named
    /// again, as it was before the lock.
    pub(crate) fn lock_changed(&self, locked: bool) -> Effects {
        let mut state = self.lock();
        let was = std::mem::replace(&mut state.locked, locked);
        if locked == was {
            return Effects::default();
        }
        if !locked {
            let mut effects = Vec::new();
            for (id, named) in std::mem::take(&mut state.notified) {
                // Withdrawn first: the alarm keeps one notification per tag.
                effects.push(ClientEvent::WithdrawNotice {
                    tag: id.as_str().to_owned(),
                });
                if state.ringing.contains(&id) {
                    effects.push(ClientEvent::Notify {
                        notice: named.clone(),
                    });
                    state.notified.insert(id, named);
                }
            }
            return Effects(effects);
        }
        state.shown_messages.clear();
        notices_while_locked(&mut state)
    }

    /// What the screen's notifications should be, for one who may have missed some of this
    /// policy's effects (a forwarder that lagged). Locked: as [`Attention::lock_changed`] made
    /// them. Unlocked: what is on screen is not known, so everything is withdrawn (a message's
    /// notice too: it was news, and may be stale) and each emergency still ringing here is
    /// shown again, named.
    pub(crate) fn notices_again(&self) -> Effects {
        let mut state = self.lock();
        if state.locked {
            return notices_while_locked(&mut state);
        }
        state.shown_messages.clear();
        let State {
            ringing, notified, ..
        } = &mut *state;
        notified.retain(|id, _| ringing.contains(id));
        let mut effects = vec![ClientEvent::WithdrawAllNotices];
        effects.extend(notified.values().map(|named| ClientEvent::Notify {
            notice: named.clone(),
        }));
        Effects(effects)
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
        if state.notified.remove(&emergency.id).is_some() {
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
            if state.notified.remove(id).is_some() {
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
            .into_keys()
            .map(|id| ClientEvent::WithdrawNotice {
                tag: id.as_str().to_owned(),
            })
            .collect();
        effects.extend(
            std::mem::take(&mut state.shown_messages)
                .into_keys()
                .map(|id| ClientEvent::WithdrawNotice {
                    tag: message_tag(&id),
                }),
        );
        if !std::mem::take(&mut state.ringing).is_empty() {
            effects.insert(0, alarm(&state));
        }
        Effects(effects)
    }

    /// An in-app notification from the server: maybe a native one. `version` is the version of
    /// its message's text as this device holds it (1 when unknown).
    pub(crate) fn notification(&self, n: &Notification, version: u32) -> Effects {
        let mut state = self.lock();
        let routine = matches!(
            n.kind,
            NotificationKind::NewMessage | NotificationKind::EmergencyUpdate
        );
        let in_view = state.in_view && !state.locked;
        if !routine || in_view || state.availability == Availability::DoNotDisturb {
            return Effects::default();
        }
        // A new message's notice can be taken back with the message.
        let message = n
            .message_id
            .as_ref()
            .filter(|_| n.kind == NotificationKind::NewMessage);
        if state.locked {
            let tag = message.map(|id| state.remember_message(id, None));
            return Effects(vec![ClientEvent::Notify {
                notice: locked_form(Notice {
                    critical: false,
                    title: String::new(),
                    body: String::new(),
                    conversation: None,
                    chime: n.kind == NotificationKind::NewMessage,
                    tag,
                }),
            }]);
        }
        let with_text = state.show_content || n.kind == NotificationKind::EmergencyUpdate;
        let body = if with_text {
            n.body.clone()
        } else {
            "Open Clinic Messaging to read it.".into()
        };
        let tag = message.map(|id| state.remember_message(id, with_text.then_some(version)));
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
                tag,
            },
        }])
    }

    /// These messages changed on this device (arrived, read, edited, unsent): withdraw the
    /// notification of each one unsent or retracted, and of each one edited since its
    /// notification showed its text.
    pub(crate) fn messages_changed<'a>(
        &self,
        messages: impl IntoIterator<Item = &'a LocalMessage>,
    ) -> Effects {
        let mut state = self.lock();
        let mut effects = Effects::default();
        if state.shown_messages.is_empty() {
            return effects;
        }
        for message in messages {
            let Some(id) = &message.id else { continue };
            let Some(shown) = state.shown_messages.get(id) else {
                continue;
            };
            let stale = message.retracted.is_some()
                || shown
                    .text_version
                    .is_some_and(|version| message.version() != version);
            if stale {
                state.shown_messages.remove(id);
                effects.0.push(ClientEvent::WithdrawNotice {
                    tag: message_tag(id),
                });
            }
        }
        effects
    }
}

impl State {
    /// Remembers that a notice for message `id` is on screen; returns its tag.
    fn remember_message(&mut self, id: &MessageId, text_version: Option<u32>) -> String {
        if self.shown_messages.len() >= MAX_SHOWN_MESSAGES
            && !self.shown_messages.contains_key(id)
            && let Some(oldest) = self
                .shown_messages
                .iter()
                .min_by_key(|(_, shown)| shown.order)
                .map(|(id, _)| id.clone())
        {
            self.shown_messages.remove(&oldest);
        }
        self.shown_count += 1;
        self.shown_messages.insert(
            id.clone(),
            ShownMessage {
                text_version,
                order: self.shown_count,
            },
        );
        message_tag(id)
    }
}

/// Every notification shown is withdrawn (it may name a patient or quote her), and each emergency
/// still ringing here is shown again naming nobody.
fn notices_while_locked(state: &mut State) -> Effects {
    let State {
        ringing, notified, ..
    } = state;
    // Only those shown again below stay on screen.
    notified.retain(|id, _| ringing.contains(id));
    let mut effects = vec![ClientEvent::WithdrawAllNotices];
    for id in ringing.iter() {
        effects.push(ClientEvent::Notify {
            notice: locked_emergency(id),
        });
        if !notified.contains_key(id) && notified.len() < MAX_SILENCED {
            // Its name is not known here any more: unlocked, it shows as it does now.
            notified.insert(id.clone(), locked_emergency(id));
        }
    }
    Effects(effects)
}

/// An emergency's notification while the app is locked: critical, naming nobody.
fn locked_emergency(id: &EmergencyId) -> Notice {
    locked_form(Notice {
        critical: true,
        title: String::new(),
        body: String::new(),
        conversation: None,
        chime: false,
        tag: Some(id.as_str().to_owned()),
    })
}

/// What `notice` may show while the app is locked: the same kind of notice (critical or not,
/// its tag, its chime), naming nobody and quoting nothing. The policy makes only these while
/// locked; the client also passes every notice it emits while locked through this, so one made
/// just before the lock and emitted just after it cannot show a name on the locked screen.
pub(crate) fn locked_form(notice: Notice) -> Notice {
    let (title, body) = if notice.critical {
        (
            "EMERGENCY from a patient",
            "Unlock Clinic Messaging to respond.",
        )
    } else {
        (
            "Clinic Messaging",
            "Something new. Unlock Clinic Messaging to read it.",
        )
    };
    Notice {
        critical: notice.critical,
        title: title.to_owned(),
        body: body.to_owned(),
        conversation: None,
        chime: notice.chime,
        tag: notice.tag,
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
            written_at: None,
            reopened_at: None,
            escalated_at: None,
            acknowledged_by: None,
            acknowledged_by_name: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_by_name: None,
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
    fn locking_withdraws_what_was_shown_and_shows_each_ringing_emergency_again_unnamed() {
        let a = Attention::new(Availability::Available);
        let first = a.alerted(&emergency("e1", EmergencyState::Raised), false);
        assert!(first.0.iter().any(
            |e| matches!(e, ClientEvent::Notify { notice } if notice.title == "EMERGENCY: Pat")
        ));
        a.alerted(&emergency("e2", EmergencyState::Raised), false);
        a.silence();
        a.alerted(&emergency("e3", EmergencyState::Raised), false);
        let locked = a.lock_changed(true).into_events();
        assert!(
            matches!(locked[0], ClientEvent::WithdrawAllNotices),
            "{locked:?}"
        );
        let shown: Vec<(String, Option<String>)> = locked[1..]
            .iter()
            .map(|e| match e {
                ClientEvent::Notify { notice } => (notice.title.clone(), notice.tag.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shown,
            [("EMERGENCY from a patient".to_owned(), Some("e3".to_owned()))],
            "only what still rings here (e1 and e2 were silenced), naming nobody"
        );
        assert!(a.lock_changed(true).0.is_empty(), "locked already: nothing");
        assert_eq!(
            a.notices_again().into_events(),
            locked,
            "asked again while locked (a forwarder that lagged): the same"
        );
        // Handled while locked: its unnamed notice is withdrawn by its tag.
        let taken = a.updated(&emergency("e3", EmergencyState::Acknowledged));
        assert!(
            taken
                .0
                .iter()
                .any(|e| matches!(e, ClientEvent::WithdrawNotice { tag } if tag == "e3"))
        );
        a.alerted(&emergency("e4", EmergencyState::Raised), false);
        let unlocked = a.lock_changed(false).into_events();
        assert!(
            matches!(&unlocked[0], ClientEvent::WithdrawNotice { tag } if tag == "e4"),
            "{unlocked:?}"
        );
        assert!(
            matches!(&unlocked[1..], [ClientEvent::Notify { notice }]
                if notice.title == "EMERGENCY: Pat" && notice.tag.as_deref() == Some("e4")),
            "unlocking shows what still rings named again, in place of its unnamed notice \
             (the alarm keeps one per tag): {unlocked:?}"
        );
        assert!(a.lock_changed(false).0.is_empty(), "unlocked already");
        let again = a.notices_again().into_events();
        assert!(
            matches!(&again[..], [ClientEvent::WithdrawAllNotices, ClientEvent::Notify { notice }]
                if notice.title == "EMERGENCY: Pat" && notice.tag.as_deref() == Some("e4")),
            "asked again while unlocked: everything off, what rings shown named: {again:?}"
        );
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
        let repeat = a.alerted(&raised, false);
        assert_eq!(alerting(&repeat), None, "a repeat rings on as it did");
        assert!(
            matches!(&repeat.0[..], [ClientEvent::Notify { notice }] if notice.critical
                && notice.tag.as_deref() == Some("e1")),
            "and shows its notification again, under its tag: {repeat:?}"
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

    fn new_message(id: &str) -> Notification {
        Notification {
            id: format!("n-{id}").into(),
            user_id: "d".into(),
            kind: NotificationKind::NewMessage,
            title: "New message from Pat".into(),
            body: "I took the wrong pills".into(),
            message_id: Some(id.into()),
            patient_id: Some("p".into()),
            doctor_id: Some("d".into()),
            read: false,
            created_at: chrono::Utc::now(),
        }
    }

    /// Message `id` as this device holds it: standing, edited to `version`, or unsent.
    fn message(id: &str, version: u32, unsent: bool) -> LocalMessage {
        let now = chrono::Utc::now();
        let mut m =
            LocalMessage::pending(&ConversationKey::new("p", "d"), &"p".into(), "text", false);
        m.id = Some(id.into());
        m.edited = (version > 1).then_some(clinic_protocol::Edited { at: now, version });
        m.retracted = unsent.then(|| clinic_protocol::Tombstone {
            by: "p".into(),
            at: now,
        });
        m
    }

    fn notice_tag(effects: Effects) -> Option<String> {
        match &effects.into_events()[..] {
            [ClientEvent::Notify { notice }] => notice.tag.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_messages_notification_is_withdrawn_when_it_is_unsent_or_its_shown_text_edited() {
        let a = Attention::new(Availability::Available);
        a.set_show_content(true);
        // Shown with its text: tagged with the message.
        let tag = notice_tag(a.notification(&new_message("m1"), 1));
        assert_eq!(tag.as_deref(), Some("message:m1"));
        // A read receipt or a repeat changes nothing; an edit withdraws the old text.
        assert!(withdrawn(&a.messages_changed(&[message("m1", 1, false)])).is_empty());
        assert_eq!(
            withdrawn(&a.messages_changed(&[message("m1", 2, false)])),
            ["message:m1"]
        );
        assert!(withdrawn(&a.messages_changed(&[message("m1", 2, true)])).is_empty());

        // Shown already edited (version 3 when it came): only a later edit withdraws it.
        notice_tag(a.notification(&new_message("m2"), 3));
        assert!(withdrawn(&a.messages_changed(&[message("m2", 3, false)])).is_empty());
        assert_eq!(
            withdrawn(&a.messages_changed(&[message("m2", 4, false)])),
            ["message:m2"]
        );

        // Shown without its text: an edit leaves it, an unsend withdraws it.
        a.set_show_content(false);
        notice_tag(a.notification(&new_message("m3"), 1));
        assert!(withdrawn(&a.messages_changed(&[message("m3", 2, false)])).is_empty());
        assert_eq!(
            withdrawn(&a.messages_changed(&[message("m3", 2, true)])),
            ["message:m3"]
        );

        // Locked ("something new"): unsending it withdraws that too.
        a.set_locked(true);
        assert_eq!(
            notice_tag(a.notification(&new_message("m4"), 1)).as_deref(),
            Some("message:m4")
        );
        assert_eq!(
            withdrawn(&a.messages_changed(&[message("m4", 1, true)])),
            ["message:m4"]
        );
        a.set_locked(false);

        // Never shown (in view): nothing to withdraw. Logging out withdraws the rest.
        a.set_in_view(true);
        assert!(a.notification(&new_message("m5"), 1).0.is_empty());
        assert!(withdrawn(&a.messages_changed(&[message("m5", 1, true)])).is_empty());
        a.set_in_view(false);
        notice_tag(a.notification(&new_message("m6"), 1));
        assert_eq!(withdrawn(&a.end()), ["message:m6"]);
        assert!(withdrawn(&a.messages_changed(&[message("m6", 1, true)])).is_empty());
    }

    #[test]
    fn message_notifications_remembered_are_bounded_oldest_forgotten_first() {
        let a = Attention::new(Availability::Available);
        for i in 0..=MAX_SHOWN_MESSAGES {
            notice_tag(a.notification(&new_message(&format!("m{i}")), 1));
        }
        assert_eq!(a.lock().shown_messages.len(), MAX_SHOWN_MESSAGES);
        assert!(withdrawn(&a.messages_changed(&[message("m0", 1, true)])).is_empty());
        assert_eq!(
            withdrawn(&a.messages_changed(&[message("m1", 1, true)])),
            ["message:m1"]
        );
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
        assert!(a.notification(&n, 1).0.is_empty());
        a.set_availability(Availability::Available);
        let shown = a.notification(&n, 1).into_events();
        match &shown[..] {
            [ClientEvent::Notify { notice }] => {
                assert_eq!(notice.body, "Open Clinic Messaging to read it.");
                assert!(notice.chime);
                assert_eq!(notice.conversation, Some(ConversationKey::new("p", "d")));
            }
            other => panic!("{other:?}"),
        }
        a.set_show_content(true);
        assert!(matches!(&a.notification(&n, 1).into_events()[..],
            [ClientEvent::Notify { notice }] if notice.body == "my chest hurts"));
        a.set_in_view(true);
        assert!(
            a.notification(&n, 1).0.is_empty(),
            "not while the user is looking"
        );
    }
}
