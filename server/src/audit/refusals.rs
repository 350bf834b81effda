//! Refusals written to the audit log at a bounded rate per account: past the rate they are
//! counted in memory and written as one `DENIED` row per kind of attempt (with how many, from
//! when to when) at the end of each window, so one account refused in a loop cannot grow the log
//! without bound and no refusal goes uncounted.

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
/// Distinct subjects or conversations a held row names in its detail; the rest are counted.
const NAMED: usize = 10;

/// The refusals of every account, and how many each may still have written one by one.
#[derive(Debug)]
pub(crate) struct Refusals {
    rate: Rate,
    actors: Mutex<HashMap<String, Actor>>,
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

impl Refusals {
    /// At most `rate` refusals of one account are written one by one; the rest are held.
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            actors: Mutex::new(HashMap::new()),
        }
    }

    /// A refusal (`event` is `DENIED`): the rows to write now, which are `event` itself while its
    /// account is within its rate, else none (it is held for [`Refusals::take_held`]).
    pub(crate) fn admit(&self, event: Event) -> Vec<Event> {
        debug_assert_eq!(event.outcome, Outcome::Denied);
        let key = event.actor.clone().unwrap_or_default();
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        let actor = actors.entry(key).or_insert_with(|| Actor {
            bucket: Bucket::with(self.rate),
            held: HashMap::new(),
        });
        if actor.bucket.take() {
            return vec![event];
        }
        let conversation = (event.patient.clone(), event.doctor.clone());
        let mut kind = Kind {
            action: event.action,
            conversation: Some(conversation.clone()),
        };
        let distinct = actor
            .held
            .keys()
            .filter(|k| k.conversation.is_some())
            .count();
        if !actor.held.contains_key(&kind) && distinct >= KINDS_PER_ACTOR {
            kind.conversation = None;
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
        if let (Some(patient), Some(doctor)) = conversation {
            held.conversations.add(Some(&format!("{patient}/{doctor}")));
        }
        Vec::new()
    }

    /// One `DENIED` row for each kind of refusal held since the last call; accounts with nothing
    /// held and a full bucket are forgotten.
    pub(crate) fn take_held(&self) -> Vec<Event> {
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows = Vec::new();
        for actor in actors.values_mut() {
            rows.extend(actor.held.drain().map(|(kind, held)| held.row(kind)));
        }
        actors.retain(|_, actor| !actor.bucket.is_full());
        rows
    }
}

impl Held {
    fn row(self, kind: Kind) -> Event {
        let mut detail = serde_json::json!({
            "refusal": self.refusal,
            "repeated": self.count,
            "firstAt": self.first_at,
            "lastAt": self.last_at,
        });
        if self.subjects.only().is_none() && !self.subjects.values.is_empty() {
            detail["subjects"] = serde_json::json!(self.subjects.values);
            detail["moreSubjects"] = serde_json::json!(self.subjects.more);
        }
        let (patient, doctor) = match kind.conversation {
            Some(conversation) => conversation,
            None => {
                detail["conversations"] = serde_json::json!(self.conversations.values);
                detail["moreConversations"] = serde_json::json!(self.conversations.more);
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
                    .len()
            })
            .sum();
        assert_eq!(written, 3, "the burst is written one by one");
        // Another account has its own rate.
        assert_eq!(refusals.admit(refusal("mallory", "p1", "m0")).len(), 1);
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
    fn many_conversations_are_held_together_and_named() {
        let refusals = Refusals::new(Rate::new(0.0, 0.0));
        for i in 0..100 {
            assert!(
                refusals
                    .admit(refusal("eve", &format!("p{i}"), "m"))
                    .is_empty()
            );
        }
        let rows = refusals.take_held();
        assert_eq!(
            rows.len(),
            KINDS_PER_ACTOR + 1,
            "memory and rows stay bounded"
        );
        assert_eq!(repeated(&rows), 100, "every refusal is counted");
        let together = rows.iter().find(|r| r.patient.is_none()).unwrap();
        let detail = together.detail.as_ref().unwrap();
        assert_eq!(detail["conversations"].as_array().unwrap().len(), NAMED);
        let named = u64::try_from(NAMED).unwrap();
        assert_eq!(detail["moreConversations"], 100 - 16 - named);
        assert_eq!(together.subject.as_deref(), Some("m"));
    }
}
