//! The app lock's commands (docs/desktop-api.md): input, "Lock now", unlock, PIN and policy.
//! The lock itself is the client core's; a wrong try's sentence is worded here for the lock
//! screen, and the try that ends the session signs the shell out as a logout would.

use crate::desktop::Desktop;
use crate::error::{CmdResult, CommandError};
use crate::ui::UiEvent;
use clinic_client::LockStatus;
use clinic_client::lock::{Device, Unlock};
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
/// delay); the 5th wrong try logs out and fails with `logged_out`.
#[tauri::command]
pub async fn unlock<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    secret: String,
) -> CmdResult<LockStatus> {
    let client = desktop.client().await?;
    match client.unlock(&secret).await? {
        Unlock::Unlocked => Ok(client.lock_status()),
        Unlock::Wrong { left, wait } => {
            let wait = wait.map_or(String::new(), |w| {
                format!(" Wait {} seconds before the next try.", w.as_secs())
            });
            let tries = if left == 1 { "try" } else { "tries" };
            Err(CommandError::new(
                "wrong_secret",
                format!(
                    "Wrong PIN or password. {left} {tries} left before you are logged out.{wait}"
                ),
            ))
        }
        Unlock::Wait(wait) => Err(CommandError::new(
            "wait",
            format!(
                "Too many wrong tries: wait {} seconds, then try again.",
                wait.as_secs().max(1)
            ),
        )),
        Unlock::LogOut => {
            let reason = "Too many wrong PIN or password tries: you were logged out.";
            // The core already ended the session; the shell lets go of it the same way.
            desktop.logout(&app).await?;
            desktop.send(UiEvent::Session {
                session: None,
                reason: Some(reason.to_owned()),
            });
            Err(CommandError::new("logged_out", reason))
        }
    }
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
