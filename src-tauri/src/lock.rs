//! The app lock's commands (docs/desktop-api.md): input, "Lock now", unlock, PIN and policy.
//! The lock and its sentences are the client core's (`clinic_client::lock`); the try that ends
//! the session signs the shell out as a logout would.

use crate::desktop::Desktop;
use crate::error::{CmdResult, CommandError};
use clinic_client::LockStatus;
use clinic_client::lock::{Device, Unlock, sentences};
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
/// delay); the 5th wrong try logs out and fails with `logged_out`, or, while her emergency (on a
/// shared computer, anything) waits to be sent, fails with `logout_pending` and logs out once
/// it has gone.
#[tauri::command]
pub async fn unlock<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    secret: String,
) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    let has_pin = client.lock_status().has_pin;
    // Taken before the try: a logout it brings may delete what they count.
    let (unsent, queue) = (sentences::unsent(&client), sentences::queue(&client));
    let open = sentences::open(&client);
    let outcome = match client.unlock(&secret).await {
        Ok(outcome) => outcome,
        // The 5th wrong try's logout failed half way (the keyring, the disk): the session ends
        // here all the same, rather than staying open, locked, refusing every press.
        Err(e) if client.is_ending() => {
            tracing::warn!("the logout after the wrong tries failed: {e}");
            // Not "deleted with this computer's messages": something may be left behind.
            let reason = sentences::could_not_finish(&CommandError::from(e).message);
            if let Err(e) = desktop.logout(&app, Some(reason.clone())).await {
                tracing::warn!("could not log out: {}", e.message);
            }
            return Err(CommandError::new("logged_out", reason));
        }
        Err(e) => return Err(e.into()),
    };
    match outcome {
        Unlock::Unlocked => Ok(client.lock_status()),
        // The wait is the lock screen's own countdown (the `lock` event's `waitSecs`): a
        // sentence saying it would stand still beside it, and stay once it has passed.
        Unlock::Wrong { left, .. } => Err(CommandError::new(
            "wrong_secret",
            sentences::wrong_try(has_pin, left, None, unsent.as_ref(), queue),
        )),
        Unlock::Wait(wait) => Err(CommandError::new("wait", sentences::wait(wait))),
        Unlock::LogOutWhenSent => {
            desktop.log_out_when_sent(&app).await;
            Err(CommandError::new(
                "logout_pending",
                sentences::logout_pending(unsent.as_ref(), queue),
            ))
        }
        Unlock::LogOut => {
            let reason = sentences::logged_out(unsent.as_ref(), queue, open.as_ref());
            // The core already ended the session; the shell lets go of it the same way (and
            // the page is told why even if that fails half way).
            desktop.logout(&app, Some(reason.clone())).await?;
            Err(CommandError::new("logged_out", reason))
        }
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
