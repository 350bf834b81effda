//! What the lock screen says of a wrong try to unlock and of the logout the last one brings,
//! worded here once for every shell: the tries left, the wait, and what becomes of an
//! emergency not sent yet (the number to call included).

use super::Device;
use crate::Client;
use std::time::Duration;

/// The `logout_pending` refusal: the 5th wrong try while her emergency waits to be sent.
pub const LOGOUT_PENDING: &str = "Too many wrong tries to unlock: no more are taken. This app logs \
                                  out as soon as the emergency has been sent (or refused by the \
                                  clinic's server).";

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
    let lock = client.lock_status();
    lock.unsent_emergency.as_ref().map(|e| Unsent {
        shared: lock.device == Device::Shared,
        parked: e.status == clinic_protocol::MessageStatus::Failed,
        call: client
            .clinic_info()
            .and_then(|c| c.emergency_phone)
            .unwrap_or_else(|| "your local emergency number".to_owned()),
    })
}

/// Why the session ended after the wrong tries ran out while an emergency waited: it reached
/// the clinic first, or it was refused (or the server ended the session) and is what it is.
/// `pressed`: an emergency of hers was seen waiting (a restart after the tries ran out may find
/// none: it went before, or there never was one).
pub fn logged_out_after_tries(client: &Client, pressed: bool) -> String {
    match unsent(client) {
        None if pressed => "Too many wrong tries to unlock: you were logged out once your \
                            emergency had reached the clinic."
            .to_owned(),
        unsent => logged_out(unsent.as_ref()),
    }
}

/// A wrong try's sentence: the tries left, the wait, and before the last one what the logout
/// would do to an emergency not sent yet. A PIN is named only to someone who set one.
pub fn wrong_try(
    has_pin: bool,
    left: u32,
    wait: Option<Duration>,
    unsent: Option<&Unsent>,
) -> String {
    let wrong = if has_pin {
        "PIN or password"
    } else {
        "password"
    };
    let wait = wait.map_or(String::new(), |w| {
        format!(" Wait {} seconds before the next try.", w.as_secs())
    });
    match unsent {
        Some(Unsent {
            parked: false,
            call,
            ..
        }) if left == 1 => format!(
            "Wrong {wrong}. 1 try left: a wrong one logs you out once your emergency has reached \
             the clinic (it has not yet). If you need help now, call {call}.{wait}"
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
                "Wrong {wrong}. 1 try left: a wrong one logs you out, and your emergency was \
                 refused and has not reached the clinic, so {fate}. If you need help now, call \
                 {call}.{wait}"
            )
        }
        _ => {
            let tries = if left == 1 { "try" } else { "tries" };
            format!("Wrong {wrong}. {left} {tries} left before you are logged out.{wait}")
        }
    }
}

/// Why the 5th wrong try's logout happened, and what became of an emergency not sent yet.
pub fn logged_out(unsent: Option<&Unsent>) -> String {
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
    fn the_last_try_and_the_logout_say_what_becomes_of_an_emergency_not_sent() {
        assert_eq!(
            wrong_try(false, 3, None, None),
            "Wrong password. 3 tries left before you are logged out."
        );
        let wait = Some(Duration::from_secs(30));
        assert_eq!(
            wrong_try(true, 1, wait, None),
            "Wrong PIN or password. 1 try left before you are logged out. Wait 30 seconds \
             before the next try."
        );
        let shared = Unsent {
            shared: true,
            parked: false,
            call: "112".to_owned(),
        };
        assert_eq!(
            wrong_try(false, 2, None, Some(&shared)),
            "Wrong password. 2 tries left before you are logged out.",
            "only before the last try"
        );
        assert_eq!(
            wrong_try(false, 1, wait, Some(&shared)),
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
            wrong_try(false, 1, None, Some(&shared_parked)),
            "Wrong password. 1 try left: a wrong one logs you out, and your emergency was \
             refused and has not reached the clinic, so it would be deleted and never sent. If \
             you need help now, call 112."
        );
        assert_eq!(
            logged_out(Some(&shared)),
            "Too many wrong tries to unlock: you were logged out. Your emergency had not reached \
             the clinic and was deleted with this computer's messages: if you need help now, \
             call 112."
        );
        let personal = Unsent {
            shared: false,
            parked: false,
            call: "your local emergency number".to_owned(),
        };
        assert!(logged_out(Some(&personal)).contains("goes once you sign in again"));
        let parked = Unsent {
            parked: true,
            ..personal
        };
        assert!(
            logged_out(Some(&parked))
                .contains("was refused: after signing in, open it and press Retry")
        );
        assert!(wrong_try(false, 1, None, Some(&parked)).contains("press Retry"));
        assert_eq!(
            logged_out(None),
            "Too many wrong tries to unlock: you were logged out."
        );
    }
}
