//! What the lock screen says of a wrong try to unlock and of the logout the last one brings,
//! worded here once for every shell: the tries left, the wait, and what becomes of an
//! emergency not sent yet (the number to call included) and of a shared computer's messages
//! not sent yet.

use super::Device;
use crate::Client;
use std::time::Duration;

/// The `logout_pending` refusal, and the lock screen's line while the logout waits
/// ([`crate::LockStatus::logs_out_when`]): the 5th wrong try while her emergency waits to be
/// sent, or on a shared computer anything else (the logout would delete it).
pub fn logout_pending(unsent: Option<&Unsent>, queue: Queue) -> String {
    let no_more = "Too many wrong tries to unlock: no more are taken.";
    if matches!(unsent, Some(Unsent { parked: false, .. })) {
        return format!(
            "{no_more} This app logs out as soon as the emergency has been sent (or refused by \
             the clinic's server)."
        );
    }
    match queue.waiting_words() {
        Some((what, have)) => format!(
            "{no_more} This app logs out as soon as the {what} waiting to be sent {have} gone (or \
             been refused by the clinic's server), or after {} hours without: on this shared \
             computer, logging out deletes what has not gone.",
            crate::lock::MESSAGES_WAIT.as_secs() / 3600
        ),
        None => format!("{no_more} This app logs out now."),
    }
}

/// Her messages, unsends and edits not sent yet on a shared computer, whose cache the logout
/// deletes (on a personal one they wait for her next sign-in: nothing is counted). Those
/// waiting are sent before a logout after the wrong tries (for at most
/// [`crate::lock::MESSAGES_WAIT`]); those the clinic refused (parked) go with the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queue {
    pub waiting: u64,
    /// Unsends and edits waiting.
    pub changes: u64,
    pub parked: u64,
}

impl Queue {
    /// What waits to be sent, in words ("2 messages", "1 message and 1 change to a message"),
    /// with its verb ("has", "have"); `None` when nothing does.
    fn waiting_words(self) -> Option<(String, &'static str)> {
        let changes = match self.changes {
            1 => "1 change to a message".to_owned(),
            n => format!("{n} changes to messages"),
        };
        let words = match (self.waiting, self.changes) {
            (0, 0) => return None,
            (n, 0) => messages(n),
            (0, _) => changes,
            (n, _) => format!("{} and {changes}", messages(n)),
        };
        let verb = if self.waiting + self.changes == 1 {
            "has"
        } else {
            "have"
        };
        Some((words, verb))
    }
}

/// The user's messages not sent yet, as the sentences need them (see [`Queue`]).
pub fn queue(client: &Client) -> Queue {
    queue_on(client.lock_status().device, client)
}

/// [`queue`] for a computer used as `device` (the lock's own status needs it, without asking
/// for itself).
pub(crate) fn queue_on(device: Device, client: &Client) -> Queue {
    if device != Device::Shared {
        return Queue::default();
    }
    let count = |what: &str, n: crate::Result<u64>| {
        n.unwrap_or_else(|e| {
            tracing::warn!("cannot count the {what}: {e}");
            0
        })
    };
    Queue {
        waiting: client.queued(),
        changes: count("changes waiting", client.changes_waiting()),
        parked: count("sends the clinic refused", client.failed_count()),
    }
}

/// Her emergency open at the clinic (it reached the server and is not resolved): the logout
/// says so, and how to read what the doctors wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The doctor on it, if one took it.
    taker: Option<String>,
    /// The clinic's emergency number, or words for the local one.
    call: String,
}

/// The patient's newest emergency open at the clinic, if any (see [`Open`]).
pub fn open(client: &Client) -> Option<Open> {
    let me = client.user();
    let open = client.open_emergencies().unwrap_or_else(|e| {
        tracing::warn!("cannot read the open emergencies: {e}");
        Vec::new()
    });
    let newest = open
        .into_iter()
        .filter(|e| e.patient_id == me.id)
        .max_by_key(|e| e.raised_at)?;
    Some(Open {
        taker: newest.acknowledged_by_name,
        call: call(client),
    })
}

fn call(client: &Client) -> String {
    client
        .clinic_info()
        .and_then(|c| c.emergency_phone)
        .unwrap_or_else(|| "your local emergency number".to_owned())
}

fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".to_owned()
    } else {
        format!("{n} messages")
    }
}

/// A try refused during the delay after wrong ones.
pub fn wait(wait: Duration) -> String {
    format!(
        "Too many wrong tries: wait {} seconds, then try again.",
        wait.as_secs().max(1)
    )
}

/// The 5th wrong try's logout failed half way (`why`): the session ends all the same, and
/// something may be left behind.
pub fn could_not_finish(why: &str) -> String {
    format!(
        "Too many wrong tries to unlock: you were logged out, but this app could not finish \
         ({why}). Ask whoever looks after this computer to check it."
    )
}

/// Her emergency not sent yet when a wrong try was made: a 5th one logs out once it has gone;
/// one parked after a refusal is deleted with a shared computer's cache at that logout, or held
/// until she signs in again, and the sentences say so.
#[derive(Debug, Clone)]
pub struct Unsent {
    shared: bool,
    /// Refused and parked: it goes only when she presses Retry.
    parked: bool,
    /// The clinic's emergency number, or words for the local one.
    call: String,
}

/// The user's emergency not sent yet, if any, as the sentences need it.
pub fn unsent(client: &Client) -> Option<Unsent> {
    unsent_in(&client.lock_status(), client)
}

/// [`unsent`] as `lock` tells of it.
pub(crate) fn unsent_in(lock: &crate::LockStatus, client: &Client) -> Option<Unsent> {
    lock.unsent_emergency.as_ref().map(|e| Unsent {
        shared: lock.device == Device::Shared,
        parked: e.status == clinic_protocol::MessageStatus::Failed,
        call: call(client),
    })
}

/// Why the session ended after the wrong tries ran out while an emergency waited: it reached
/// the clinic first, or it was refused (or the server ended the session) and is what it is.
/// `pressed`: an emergency of hers was seen waiting (a restart after the tries ran out may find
/// none: it went before, or there never was one).
pub fn logged_out_after_tries(client: &Client, pressed: bool) -> String {
    let (queue, open) = (queue(client), open(client));
    match unsent(client) {
        None if pressed => format!(
            "Too many wrong tries to unlock: you were logged out once your emergency had \
             reached the clinic.{}{}{}",
            refused_deleted(queue.parked),
            waiting_deleted(queue),
            still_open(open.as_ref())
        ),
        unsent => logged_out(unsent.as_ref(), queue, open.as_ref()),
    }
}

/// What a logged-out patient with an emergency open at the clinic should know.
fn still_open(open: Option<&Open>) -> String {
    let Some(Open { taker, call }) = open else {
        return String::new();
    };
    let on_it = taker
        .as_ref()
        .map_or(String::new(), |name| format!(" ({name} is on it)"));
    format!(
        " Your emergency is still open at the clinic{on_it}: sign in again to read what the \
         doctors wrote. If you need help now, call {call}."
    )
}

/// What a shared computer's logout did to `parked` messages the clinic refused.
fn refused_deleted(parked: u64) -> String {
    match parked {
        0 => String::new(),
        n => format!(
            " {} the clinic had refused {} deleted with this computer's messages.",
            messages(n),
            if n == 1 { "was" } else { "were" }
        ),
    }
}

/// A wrong try's sentence: the tries left, the wait, and before the last one what the logout
/// would do to an emergency not sent yet. A PIN is named only to someone who set one.
pub fn wrong_try(
    has_pin: bool,
    left: u32,
    wait: Option<Duration>,
    unsent: Option<&Unsent>,
    queue: Queue,
) -> String {
    let wrong = if has_pin {
        "PIN or password"
    } else {
        "password"
    };
    let wait = wait.map_or(String::new(), |w| {
        format!(" Wait {} seconds before the next try.", w.as_secs())
    });
    format!("Wrong {wrong}. {}{wait}", tries_left(left, unsent, queue))
}

/// The wrong tries made so far, as a locked app says it when no wrong try's sentence was told
/// (after a restart, or a try made by `clinic unlock`): `used` of them, `left` before the logout.
pub fn tries_so_far(used: u32, left: u32, unsent: Option<&Unsent>, queue: Queue) -> String {
    let tries = if used == 1 { "try" } else { "tries" };
    format!(
        "{used} wrong {tries} to unlock so far. {}",
        tries_left(left, unsent, queue)
    )
}

/// How many tries are left, and before the last one what the logout would do to an emergency
/// or messages not sent yet.
fn tries_left(left: u32, unsent: Option<&Unsent>, queue: Queue) -> String {
    match unsent {
        Some(Unsent {
            parked: false,
            call,
            ..
        }) if left == 1 => format!(
            "1 try left: a wrong one logs you out once your emergency has reached the clinic (it \
             has not yet). If you need help now, call {call}."
        ),
        Some(Unsent {
            shared,
            parked: true,
            call,
        }) if left == 1 => {
            let fate = if *shared {
                "it would be deleted and never sent"
            } else {
                "it would wait, refused, for you to sign in and press Retry"
            };
            format!(
                "1 try left: a wrong one logs you out, and your emergency was refused and has not \
                 reached the clinic, so {fate}. If you need help now, call {call}."
            )
        }
        _ if left == 1 && queue.waiting_words().is_some() => {
            let (what, have) = queue.waiting_words().unwrap_or_default();
            format!(
                "1 try left: a wrong one logs you out once the {what} waiting to be sent {have} \
                 gone."
            )
        }
        _ if left == 1 && queue.parked > 0 => format!(
            "1 try left: a wrong one logs you out and deletes your {} the clinic refused, with \
             this computer's messages.",
            messages(queue.parked)
        ),
        _ => {
            let tries = if left == 1 { "try" } else { "tries" };
            format!("{left} {tries} left before you are logged out.")
        }
    }
}

/// Why the 5th wrong try's logout happened, and what became of an emergency not sent yet and of
/// a shared computer's messages the clinic refused.
pub fn logged_out(unsent: Option<&Unsent>, queue: Queue, open: Option<&Open>) -> String {
    // A parked emergency is told of on its own, and so is one not sent yet (its number to
    // call included).
    let parked = queue.parked - u64::from(unsent.is_some_and(|u| u.parked)).min(queue.parked);
    let open = if unsent.is_some() { None } else { open };
    format!(
        "{}{}{}{}",
        logged_out_for(unsent),
        refused_deleted(parked),
        waiting_deleted(queue),
        still_open(open)
    )
}

/// What a shared computer's logout did to what still waited to be sent (only after waiting
/// [`crate::lock::MESSAGES_WAIT`] for it).
fn waiting_deleted(queue: Queue) -> String {
    match queue.waiting_words() {
        Some((what, have)) => format!(
            " The {what} waiting to be sent {} deleted with this computer's messages: {} not \
             reached the clinic in {} hours.",
            if have == "has" { "was" } else { "were" },
            if have == "has" { "it had" } else { "they had" },
            crate::lock::MESSAGES_WAIT.as_secs() / 3600
        ),
        None => String::new(),
    }
}

fn logged_out_for(unsent: Option<&Unsent>) -> String {
    let logged_out = "Too many wrong tries to unlock: you were logged out.";
    match unsent {
        Some(Unsent {
            shared,
            parked,
            call,
        }) => {
            let fate = match (shared, parked) {
                (true, _) => "was deleted with this computer's messages",
                (false, false) => "goes once you sign in again",
                (false, true) => "was refused: after signing in, open it and press Retry",
            };
            format!(
                "{logged_out} Your emergency had not reached the clinic and {fate}: if you need \
                 help now, call {call}."
            )
        }
        None => logged_out.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tries_so_far_say_what_the_last_one_would_do() {
        assert_eq!(
            tries_so_far(1, 4, None, Queue::default()),
            "1 wrong try to unlock so far. 4 tries left before you are logged out."
        );
        let waiting = Unsent {
            shared: false,
            parked: false,
            call: "112".to_owned(),
        };
        assert_eq!(
            tries_so_far(4, 1, Some(&waiting), Queue::default()),
            "4 wrong tries to unlock so far. 1 try left: a wrong one logs you out once your \
             emergency has reached the clinic (it has not yet). If you need help now, call 112."
        );
    }

    #[test]
    fn the_last_try_and_the_logout_say_what_becomes_of_an_emergency_not_sent() {
        assert_eq!(
            wrong_try(false, 3, None, None, Queue::default()),
            "Wrong password. 3 tries left before you are logged out."
        );
        let wait = Some(Duration::from_secs(30));
        assert_eq!(
            wrong_try(true, 1, wait, None, Queue::default()),
            "Wrong PIN or password. 1 try left before you are logged out. Wait 30 seconds \
             before the next try."
        );
        let shared = Unsent {
            shared: true,
            parked: false,
            call: "112".to_owned(),
        };
        assert_eq!(
            wrong_try(false, 2, None, Some(&shared), Queue::default()),
            "Wrong password. 2 tries left before you are logged out.",
            "only before the last try"
        );
        assert_eq!(
            wrong_try(false, 1, wait, Some(&shared), Queue::default()),
            "Wrong password. 1 try left: a wrong one logs you out once your emergency has \
             reached the clinic (it has not yet). If you need help now, call 112. Wait 30 \
             seconds before the next try."
        );
        let shared_parked = Unsent {
            shared: true,
            parked: true,
            call: "112".to_owned(),
        };
        assert_eq!(
            wrong_try(false, 1, None, Some(&shared_parked), Queue::default()),
            "Wrong password. 1 try left: a wrong one logs you out, and your emergency was \
             refused and has not reached the clinic, so it would be deleted and never sent. If \
             you need help now, call 112."
        );
        assert_eq!(
            logged_out(Some(&shared), Queue::default(), None),
            "Too many wrong tries to unlock: you were logged out. Your emergency had not reached \
             the clinic and was deleted with this computer's messages: if you need help now, \
             call 112."
        );
        let personal = Unsent {
            shared: false,
            parked: false,
            call: "your local emergency number".to_owned(),
        };
        assert!(
            logged_out(Some(&personal), Queue::default(), None)
                .contains("goes once you sign in again")
        );
        let parked = Unsent {
            parked: true,
            ..personal
        };
        assert!(
            logged_out(Some(&parked), Queue::default(), None)
                .contains("was refused: after signing in, open it and press Retry")
        );
        assert!(wrong_try(false, 1, None, Some(&parked), Queue::default()).contains("press Retry"));
        assert_eq!(
            logged_out(None, Queue::default(), None),
            "Too many wrong tries to unlock: you were logged out."
        );
    }

    #[test]
    fn a_shared_computers_messages_not_sent_are_told_of_before_the_last_try() {
        let two = Queue {
            waiting: 2,
            ..Queue::default()
        };
        assert_eq!(
            wrong_try(false, 1, None, None, two),
            "Wrong password. 1 try left: a wrong one logs you out once the 2 messages waiting \
             to be sent have gone."
        );
        assert_eq!(
            wrong_try(false, 2, None, None, two),
            "Wrong password. 2 tries left before you are logged out."
        );
        assert_eq!(
            logout_pending(None, two),
            "Too many wrong tries to unlock: no more are taken. This app logs out as soon as the \
             2 messages waiting to be sent have gone (or been refused by the clinic's server), or \
             after 12 hours without: on this shared computer, logging out deletes what has not \
             gone."
        );
        let refused = Queue {
            parked: 1,
            ..Queue::default()
        };
        assert!(wrong_try(true, 1, None, None, refused).contains("deletes your 1 message the"));
        assert_eq!(
            logged_out(None, refused, None),
            "Too many wrong tries to unlock: you were logged out. 1 message the clinic had \
             refused was deleted with this computer's messages."
        );
        // An emergency parked is told of on its own, not counted again.
        let press = Unsent {
            shared: true,
            parked: true,
            call: "112".to_owned(),
        };
        assert!(!logged_out(Some(&press), refused, None).contains("1 message the clinic"));
        let waiting_press = Unsent {
            parked: false,
            ..press
        };
        assert!(logout_pending(Some(&waiting_press), two).contains("the emergency has been sent"));
        // Unsends and edits are waited for too, and named.
        let both = Queue {
            waiting: 1,
            changes: 1,
            parked: 0,
        };
        assert!(
            wrong_try(false, 1, None, None, both)
                .contains("once the 1 message and 1 change to a message waiting to be sent have")
        );
        // Still there when the logout came (after the longest wait): they went with the cache.
        assert!(logged_out(None, both, None).contains(
            "The 1 message and 1 change to a message waiting to be sent were deleted with this \
             computer's messages: they had not reached the clinic in 12 hours."
        ));
    }

    #[test]
    fn a_patient_logged_out_with_an_emergency_open_is_told_how_to_read_the_doctors() {
        let open = Open {
            taker: Some("Dr. Anita Patel".to_owned()),
            call: "112".to_owned(),
        };
        assert_eq!(
            logged_out(None, Queue::default(), Some(&open)),
            "Too many wrong tries to unlock: you were logged out. Your emergency is still open \
             at the clinic (Dr. Anita Patel is on it): sign in again to read what the doctors \
             wrote. If you need help now, call 112."
        );
        let untaken = Open {
            taker: None,
            ..open
        };
        assert!(
            logged_out(None, Queue::default(), Some(&untaken))
                .contains("still open at the clinic: sign in again")
        );
    }
}
