//! Refusals written to the audit log at a bounded rate per account: past the rate they are
//! counted in memory and written as one `DENIED` row per kind of attempt (with how many, from
//! when to when) at the end of each window, so one account refused in a loop cannot grow the log
//! without bound and no refusal goes uncounted. Every conversation refused is named, in its
//! row's columns or, past [`KINDS_PER_ACTOR`], in the detail of a row naming many.

use super::{Event, Outcome};
use crate::config::Rate;
use crate::limiter::Bucket;
use crate::time::now_ms;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Distinct kinds of held attempts one account keeps apart (an action on one conversation);
/// beyond them the account's further attempts of an action are held together, naming their
/// conversations in the detail.
const KINDS_PER_ACTOR: usize = 16;
/// Distinct subjects (messages, files) a held row names in its detail; the rest are counted.
const NAMED: usize = 10;
/// Conversations a row of attempts held together names; one more writes it at once and starts
/// the next, so no conversation goes unnamed.
const NAMED_CONVERSATIONS: usize = 200;
/// Rows that could not be written, kept to be tried again at the next window; past this many the
/// oldest are given up (and the error log says how many).
const UNWRITTEN: usize = 10_000;

/// The refusals of every account, and how many each may still have written one by one.
#[derive(Debug)]
pub(crate) struct Refusals {
    rate: Rate,
    actors: Mutex<HashMap<String, Actor>>,
    unwritten: Mutex<Vec<Event>>,
}

#[derive(Debug)]
struct Actor {
    bucket: Bucket,
    held: HashMap<Kind, Held>,
}

/// What held refusals have in common: who, what, on which conversation (`None` for the
/// attempts held together past [`KINDS_PER_ACTOR`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind {
    action: super::Action,
    conversation: Option<(Option<String>, Option<String>)>,
}

#[derive(Debug)]
struct Held {
    actor: Option<String>,
    count: u64,
    first_at: i64,
    last_at: i64,
    refusal: Option<serde_json::Value>,
    subjects: Named,
    conversations: Named,
}

/// Distinct values, at most [`NAMED`] of them, and how many more there were.
#[derive(Debug, Default)]
struct Named {
    values: BTreeSet<String>,
    more: u64,
}

impl Named {
    fn add(&mut self, value: Option<&str>) {
        let Some(value) = value else { return };
        if self.values.contains(value) {
            return;
        }
        if self.values.len() < NAMED {
            self.values.insert(value.to_owned());
        } else {
            self.more += 1;
        }
    }

    /// The one value, when exactly one was seen.
    fn only(&self) -> Option<&String> {
        (self.values.len() == 1 && self.more == 0)
            .then(|| self.values.first())
            .flatten()
    }
}

/// What [`Refusals::admit`] made of a refusal.
#[derive(Debug)]
pub(crate) enum Admitted {
    /// Within its account's rate: the refusal's own row, to write now.
    Write(Event),
    /// Held, to be counted in its account's next row ([`Refusals::take_held`]).
    Held,
    /// Held too, and a full row of attempts held together that had no room for it, to write
    /// now (given back with [`Refusals::put_back`] if it cannot be).
    Full(Event),
}

#[cfg(test)]
impl Admitted {
    /// The rows to write now.
    pub(crate) fn rows(self) -> Vec<Event> {
        match self {
            Self::Write(row) | Self::Full(row) => vec![row],
            Self::Held => Vec::new(),
        }
    }
}

impl Refusals {
    /// At most `rate` refusals of one account are written one by one; the rest are held.
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            actors: Mutex::new(HashMap::new()),
            unwritten: Mutex::new(Vec::new()),
        }
    }

    /// A refusal (`event` is `DENIED`): written while its account is within its rate, else held
    /// for [`Refusals::take_held`], giving up the full row of attempts held together when it
    /// names a conversation that row has no room for.
    pub(crate) fn admit(&self, event: Event) -> Admitted {
        debug_assert_eq!(event.outcome, Outcome::Denied);
        let key = event.actor.clone().unwrap_or_default();
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        let actor = actors.entry(key).or_insert_with(|| Actor {
            bucket: Bucket::with(self.rate),
            held: HashMap::new(),
        });
        if actor.bucket.take() {
            return Admitted::Write(event);
        }
        let conversation = (event.patient.clone(), event.doctor.clone());
        // "PATIENT/DOCTOR", or "PATIENT/" for an attempt on a patient alone (starting a
        // conversation), which `audit query --patient` finds the same way.
        let named = conversation
            .0
            .as_ref()
            .map(|patient| format!("{patient}/{}", conversation.1.as_deref().unwrap_or("")));
        let mut kind = Kind {
            action: event.action,
            conversation: Some(conversation),
        };
        let distinct = actor
            .held
            .keys()
            .filter(|k| k.conversation.is_some())
            .count();
        if !actor.held.contains_key(&kind) && distinct >= KINDS_PER_ACTOR {
            kind.conversation = None;
        }
        let mut admitted = Admitted::Held;
        if kind.conversation.is_none()
            && let Some(full) = actor.held.get(&kind)
            && full.conversations.values.len() >= NAMED_CONVERSATIONS
            && named
                .as_ref()
                .is_some_and(|n| !full.conversations.values.contains(n))
            && let Some(full) = actor.held.remove(&kind)
        {
            admitted = Admitted::Full(full.row(kind.clone()));
        }
        let now = now_ms();
        let held = actor.held.entry(kind).or_insert_with(|| Held {
            actor: event.actor.clone(),
            count: 0,
            first_at: now,
            last_at: now,
            refusal: None,
            subjects: Named::default(),
            conversations: Named::default(),
        });
        held.count += 1;
        held.last_at = now;
        held.refusal = event
            .detail
            .as_ref()
            .and_then(|d| d.get("refusal"))
            .cloned();
        held.subjects.add(event.subject.as_deref());
        if let Some(named) = named {
            held.conversations.values.insert(named);
        }
        admitted
    }

    /// The rows to write at the end of a window: those that could not be written before, then
    /// one `DENIED` row for each kind of refusal held since the last call. Accounts with nothing
    /// held and a full bucket are forgotten.
    pub(crate) fn take_held(&self) -> Vec<Event> {
        let mut rows =
            std::mem::take(&mut *self.unwritten.lock().unwrap_or_else(|p| p.into_inner()));
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        for actor in actors.values_mut() {
            rows.extend(actor.held.drain().map(|(kind, held)| held.row(kind)));
        }
        actors.retain(|_, actor| !actor.bucket.is_full());
        rows
    }

    /// Rows that could not be written, to be tried again with the next ones (the oldest given
    /// up past [`UNWRITTEN`]); how many were given up.
    pub(crate) fn put_back(&self, rows: Vec<Event>) -> usize {
        // In the order they were held: the oldest go first when there are too many.
        let mut unwritten = self.unwritten.lock().unwrap_or_else(|p| p.into_inner());
        unwritten.extend(rows);
        let over = unwritten.len().saturating_sub(UNWRITTEN);
        unwritten.drain(..over);
        over
    }
}

impl Held {
    fn row(self, kind: Kind) -> Event {
        let mut detail = serde_json::json!({
            "refusal": self.refusal,
            "repeated": self.count,
            "firstAt": super::report::at_text(self.first_at),
            "lastAt": super::report::at_text(self.last_at),
        });
        if self.subjects.only().is_none() && !self.subjects.values.is_empty() {
            detail["subjects"] = serde_json::json!(self.subjects.values);
            detail["moreSubjects"] = serde_json::json!(self.subjects.more);
        }
        let (patient, doctor) = match kind.conversation {
            Some(conversation) => conversation,
            None => {
                detail["conversations"] = serde_json::json!(self.conversations.values);
                (None, None)
            }
        };
        Event {
            actor: self.actor,
            action: kind.action,
            patient,
            doctor,
            subject: self.subjects.only().cloned(),
            outcome: Outcome::Denied,
            detail: Some(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::audit::Action;
    use crate::error::ApiError;
    use clinic_protocol::{ConversationKey, UserId};

    fn refusal(actor: &str, patient: &str, subject: &str) -> Event {
        Event::new(actor, Action::MessageEdit)
            .conversation(&ConversationKey::new(
                UserId::from(patient),
                UserId::from("doc"),
            ))
            .subject(subject)
            .denied(&ApiError::forbidden("not yours"))
    }

    fn repeated(rows: &[Event]) -> u64 {
        rows.iter()
            .map(|e| e.detail.as_ref().unwrap()["repeated"].as_u64().unwrap())
            .sum()
    }

    #[test]
    fn past_the_rate_refusals_are_counted_and_written_once_per_kind() {
        let refusals = Refusals::new(Rate::new(0.0, 3.0));
        let written: usize = (0..10)
            .map(|i| {
                refusals
                    .admit(refusal("eve", "p1", &format!("m{}", i % 2)))
                    .rows()
                    .len()
            })
            .sum();
        assert_eq!(written, 3, "the burst is written one by one");
        // Another account has its own rate.
        assert!(matches!(
            refusals.admit(refusal("mallory", "p1", "m0")),
            Admitted::Write(_)
        ));
        let rows = refusals.take_held();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.actor.as_deref(), Some("eve"));
        assert_eq!(row.outcome, Outcome::Denied);
        assert_eq!(row.patient.as_deref(), Some("p1"));
        assert_eq!(row.subject, None, "two messages were named");
        let detail = row.detail.as_ref().unwrap();
        assert_eq!(detail["repeated"], 7);
        assert_eq!(detail["refusal"], "not yours");
        assert_eq!(detail["subjects"], serde_json::json!(["m0", "m1"]));
        assert!(
            refusals.take_held().is_empty(),
            "each refusal is written once"
        );
    }

    #[test]
    fn many_conversations_are_held_together_and_every_one_named() {
        let refusals = Refusals::new(Rate::new(0.0, 0.0));
        let mut written = Vec::new();
        for i in 0..500 {
            written.extend(refusals.admit(refusal("eve", &format!("p{i}"), "m")).rows());
        }
        // 16 kept apart; the rest together, a row of 200 conversations written at once when
        // the 201st comes.
        assert_eq!(written.len(), 2, "two full rows");
        let rows: Vec<Event> = written.into_iter().chain(refusals.take_held()).collect();
        assert_eq!(
            rows.len(),
            KINDS_PER_ACTOR + 3,
            "memory and rows stay bounded"
        );
        assert_eq!(repeated(&rows), 500, "every refusal is counted");
        let mut named = std::collections::BTreeSet::new();
        for row in &rows {
            match (&row.patient, &row.detail.as_ref().unwrap()["conversations"]) {
                (Some(patient), _) => named.insert(patient.clone()),
                (None, listed) => {
                    let listed = listed.as_array().unwrap();
                    assert!(listed.len() <= NAMED_CONVERSATIONS);
                    for c in listed {
                        named.insert(c.as_str().unwrap().split('/').next().unwrap().to_owned());
                    }
                    true
                }
            };
            assert_eq!(row.subject.as_deref(), Some("m"));
        }
        assert_eq!(named.len(), 500, "every conversation is named");
    }

    /// An attempt on a patient alone (starting a conversation) is named too, as "PATIENT/".
    #[test]
    fn attempts_on_a_patient_alone_are_named() {
        let refusals = Refusals::new(Rate::new(0.0, 0.0));
        for i in 0..20 {
            let start = Event::new("eve", Action::ConversationStart)
                .patient(&UserId::from(format!("p{i}")))
                .denied(&ApiError::forbidden("no"));
            refusals.admit(start);
        }
        let rows = refusals.take_held();
        let together = rows.iter().find(|r| r.patient.is_none()).unwrap();
        let named = &together.detail.as_ref().unwrap()["conversations"];
        assert_eq!(named.as_array().unwrap().len(), 4, "{named}");
        assert!(
            named
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n.as_str().unwrap().ends_with('/'))
        );
    }

    #[test]
    fn rows_not_written_are_tried_again_and_bounded() {
        let refusals = Refusals::new(Rate::new(0.0, 0.0));
        refusals.admit(refusal("eve", "p1", "m"));
        let rows = refusals.take_held();
        assert_eq!(refusals.put_back(rows), 0);
        let again = refusals.take_held();
        assert_eq!(repeated(&again), 1, "the row that failed comes again");
        let many: Vec<Event> = (0..UNWRITTEN + 5)
            .map(|i| refusal("eve", &format!("p{i}"), "m"))
            .collect();
        assert_eq!(refusals.put_back(many), 5);
        assert_eq!(refusals.take_held().len(), UNWRITTEN);
    }
}
