//! The app lock's commands (docs/desktop-api.md): input, "Lock now", unlock, PIN and policy.
//! The lock itself is the client core's; a wrong try's sentence is worded here for the lock
//! screen, and the try that ends the session signs the shell out as a logout would.

use crate::desktop::Desktop;
use crate::error::{CmdResult, CommandError};
use crate::ui::UiEvent;
use clinic_client::lock::{Device, Unlock};
use clinic_client::{Client, LockStatus};
use std::time::Duration;
use tauri::{AppHandle, Runtime, State};

/// The user pressed a key or clicked in the window: the idle time starts again.
#[tauri::command]
pub async fn user_active(desktop: State<'_, Desktop>) -> CmdResult<()> {
    if let Ok(client) = desktop.client().await {
        client.touch();
    }
    Ok(())
}

/// "Lock now" (Ctrl+L).
#[tauri::command]
pub async fn lock_now(desktop: State<'_, Desktop>) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    client.lock_now()?;
    Ok(client.lock_status())
}

/// Tries a PIN or the password. A wrong one fails with `wrong_secret` (or `wait` during the
/// delay); the 5th wrong try logs out and fails with `logged_out`, or, while her emergency waits
/// to be sent, fails with `logout_pending` and logs out once it has gone.
#[tauri::command]
pub async fn unlock<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    secret: String,
) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    let has_pin = client.lock_status().has_pin;
    let unsent = unsent(&client);
    let outcome = match client.unlock(&secret).await {
        Ok(outcome) => outcome,
        // The 5th wrong try's logout failed half way (the keyring, the disk): the session ends
        // here all the same, rather than staying open, locked, refusing every press.
        Err(e) if client.is_ending() => {
            tracing::warn!("the logout after the wrong tries failed: {e}");
            // Not "deleted with this computer's messages": something may be left behind.
            let reason = format!(
                "Too many wrong tries to unlock: you were logged out, but this app could not \
                 finish ({}). Ask whoever looks after this computer to check it.",
                crate::error::CommandError::from(e).message
            );
            if let Err(e) = desktop.logout(&app).await {
                tracing::warn!("could not log out: {}", e.message);
            }
            desktop.send(UiEvent::Session {
                session: None,
                reason: Some(reason.clone()),
            });
            return Err(CommandError::new("logged_out", reason));
        }
        Err(e) => return Err(e.into()),
    };
    match outcome {
        Unlock::Unlocked => Ok(client.lock_status()),
        Unlock::Wrong { left, wait } => Err(CommandError::new(
            "wrong_secret",
            wrong_try(has_pin, left, wait, unsent.as_ref()),
        )),
        Unlock::Wait(wait) => Err(CommandError::new(
            "wait",
            format!(
                "Too many wrong tries: wait {} seconds, then try again.",
                wait.as_secs().max(1)
            ),
        )),
        Unlock::LogOutWhenSent => {
            desktop.log_out_when_sent(&app).await;
            Err(CommandError::new(
                "logout_pending",
                "Too many wrong tries to unlock: no more are taken. This app logs out as soon as \
                 the emergency has been sent (or refused by the clinic's server).",
            ))
        }
        Unlock::LogOut => {
            let reason = logged_out(unsent.as_ref());
            // The core already ended the session; the shell lets go of it the same way.
            desktop.logout(&app).await?;
            desktop.send(UiEvent::Session {
                session: None,
                reason: Some(reason.clone()),
            });
            Err(CommandError::new("logged_out", reason))
        }
    }
}

/// Her emergency not sent yet when a wrong try was made: a 5th one logs out once it has gone;
/// one parked after a refusal is deleted with a shared computer's cache at that logout, or held
/// until she signs in again, and the sentences say so.
struct Unsent {
    shared: bool,
    /// Refused and parked: it goes only when she presses Retry.
    parked: bool,
    /// The clinic's emergency number, or words for the local one.
    call: String,
}

/// The user's emergency not sent yet, if any, as the sentences need it.
fn unsent(client: &Client) -> Option<Unsent> {
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
fn wrong_try(has_pin: bool, left: u32, wait: Option<Duration>, unsent: Option<&Unsent>) -> String {
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
fn logged_out(unsent: Option<&Unsent>) -> String {
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

/// A patient's emergency from the lock screen, without unlocking (`Client::raise_emergency`);
/// the lock as it is then, with the press not sent yet.
#[tauri::command]
pub async fn raise_emergency(
    desktop: State<'_, Desktop>,
    content: String,
) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    client.raise_emergency(&content)?;
    Ok(client.lock_status())
}

#[tauri::command]
pub async fn set_pin(desktop: State<'_, Desktop>, new_pin: String) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    client.set_pin(&new_pin)?;
    Ok(client.lock_status())
}

/// Who uses this computer, and an idle time in minutes shorter than the policy's (`None`:
/// the policy's).
#[tauri::command]
pub async fn set_lock_policy(
    desktop: State<'_, Desktop>,
    device: Device,
    idle_minutes: Option<u32>,
) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    let chosen = idle_minutes.map(|m| Duration::from_secs(u64::from(m) * 60));
    client.set_lock_policy(device, chosen)?;
    Ok(client.lock_status())
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
