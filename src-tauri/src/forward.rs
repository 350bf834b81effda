//! The event pump: forwards the client core's events to the UI's channel as typed [`UiEvent`]s
//! and carries out what the core's attention policy decided (alarm, notifications, tray). It
//! decides nothing itself; bursts of list changes are coalesced into one list.

use crate::desktop::Desktop;
use crate::status::ConnectionStatus;
use crate::tray::{self, TrayState};
use crate::ui::UiEvent;
use clinic_client::{Client, ClientEvent, ConnectionState, LocalMessage};
use clinic_protocol::ws::Availability;
use std::time::Duration;
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

/// Changes to the conversation list within this long go to the UI as one list.
const LIST_COALESCE: Duration = Duration::from_millis(100);

/// How often the app lock's idle time is checked.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Runs until the client is dropped (logout) or the task is aborted.
pub async fn run<R: Runtime>(app: AppHandle<R>, client: Client) {
    let mut events = client.subscribe();
    let desktop = app.state::<Desktop>();
    // The state may have moved before we subscribed: start from the current one.
    desktop.set_status(&app, ConnectionStatus::of(&client));
    crate::notify::sync_alarm(&app, &client.ringing());
    // Heard on the first connection, maybe before we subscribed.
    if let Some(clinic) = client.clinic_info() {
        desktop.send(UiEvent::Clinic { clinic });
    }
    tray::show_do_not_disturb(&app, client.availability() == Availability::DoNotDisturb);
    refresh_tray(&app, &client);
    let mut list_due: Option<tokio::time::Instant> = None;
    let mut idle_check = tokio::time::interval(IDLE_CHECK);
    loop {
        let due = list_due;
        tokio::select! {
            received = events.recv() => match received {
                Ok(ClientEvent::ConversationsChanged) => {
                    list_due.get_or_insert_with(|| tokio::time::Instant::now() + LIST_COALESCE);
                }
                Ok(event) => on_event(&app, &client, event),
                Err(RecvError::Lagged(missed)) => {
                    // We missed events: the UI gets the whole state again, and what the missed
                    // ones would have done outside the page is done again: the alarm follows what
                    // rings, and the notifications are set again (naming no one while locked).
                    tracing::warn!("UI forwarder lagged by {missed} events");
                    let snapshot = desktop.snapshot(Some(&client));
                    desktop.send(UiEvent::Snapshot { snapshot });
                    crate::notify::sync_alarm(&app, &client.ringing());
                    for event in client.notices_again() {
                        on_event(&app, &client, event);
                    }
                    tray::show_do_not_disturb(
                        &app,
                        client.availability() == Availability::DoNotDisturb,
                    );
                    refresh_tray(&app, &client);
                }
                Err(RecvError::Closed) => break,
            },
            _ = idle_check.tick() => {
                if let Err(e) = client.check_idle() {
                    tracing::warn!("could not lock the app: {e}");
                }
                // `clinic unlock` on this profile: its tries and its unlock show here too.
                if client.is_locked()
                    && let Err(e) = client.follow_lock()
                {
                    tracing::warn!("could not read the lock's state: {e}");
                }
            }
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)),
                if due.is_some() =>
            {
                list_due = None;
                if client.is_locked() {
                    continue;
                }
                match client.conversation_list() {
                    Ok(conversations) => desktop.send(UiEvent::Conversations { conversations }),
                    Err(e) => tracing::warn!("conversation list: {e}"),
                }
                refresh_tray(&app, &client);
            }
        }
    }
}

fn on_event<R: Runtime>(app: &AppHandle<R>, client: &Client, event: ClientEvent) {
    let desktop = app.state::<Desktop>();
    // Locked: the page is told only what the core allows (the snapshot after unlocking brings
    // the rest).
    let event = if client.is_locked() {
        match client.event_while_locked(event) {
            Some(shown) => shown,
            None => return,
        }
    } else {
        event
    };
    let ui = match event {
        ClientEvent::Connection {
            state,
            queued,
            failed,
        } => {
            desktop.set_status(app, ConnectionStatus::from_client(&state, queued, failed));
            match state {
                ConnectionState::SignedOut { reason } => {
                    crate::notify::session_ended(app);
                    UiEvent::Session {
                        session: None,
                        reason: Some(reason),
                    }
                }
                _ => return,
            }
        }
        ClientEvent::MessageUpserted { message } => UiEvent::Message { message },
        ClientEvent::MessageDiscarded {
            client_id,
            sender_id,
            patient_id,
            doctor_id,
        } => UiEvent::MessageDiscarded {
            client_id,
            sender_id,
            patient_id,
            doctor_id,
        },
        ClientEvent::HistoryPurged {
            patient_id,
            doctor_id,
            up_to_seq,
            purged_at,
            emergency_ids,
        } => UiEvent::HistoryPurged {
            patient_id,
            doctor_id,
            up_to_seq,
            purged_at,
            emergency_ids,
        },
        ClientEvent::Typing {
            patient_id,
            doctor_id,
            user_id,
            typing,
        } => UiEvent::Typing {
            patient_id,
            doctor_id,
            user_id,
            typing,
        },
        ClientEvent::Presence { user_id, online } => UiEvent::Presence { user_id, online },
        ClientEvent::PeerAvailability {
            user_id,
            availability,
        } => UiEvent::PeerAvailability {
            user_id,
            availability,
        },
        ClientEvent::EmergencyAlert {
            emergency, message, ..
        } => UiEvent::Emergency {
            emergency,
            message: Some(LocalMessage::from(message)),
        },
        ClientEvent::EmergencyUpdated { emergency } => UiEvent::Emergency {
            emergency,
            message: None,
        },
        // Native notifications are the attention policy's (`Notify`); the UI needs nothing.
        ClientEvent::Notification { .. } | ClientEvent::ConversationsChanged => return,
        ClientEvent::UploadProgress {
            client_id,
            sent,
            total,
        } => UiEvent::UploadProgress {
            client_id,
            sent,
            total,
        },
        ClientEvent::ServerError { code, message } => {
            tracing::warn!("server error {}: {message}", code.as_str());
            UiEvent::Notice {
                code: code.as_str().to_owned(),
                message,
            }
        }
        ClientEvent::Warning { code, message } => {
            tracing::warn!("{code}: {message}");
            UiEvent::Notice { code, message }
        }
        ClientEvent::Alarm { alerting, ringing } => {
            crate::notify::sync_alarm(app, &ringing);
            refresh_tray(app, client);
            UiEvent::Alarm { alerting, ringing }
        }
        ClientEvent::Notify { notice } => {
            crate::notify::show(app, notice);
            return;
        }
        ClientEvent::WithdrawNotice { tag } => {
            crate::notify::withdraw(app, &tag);
            return;
        }
        ClientEvent::WithdrawAllNotices => {
            crate::notify::withdraw_all(app);
            return;
        }
        ClientEvent::Clinic { clinic } => UiEvent::Clinic { clinic },
        ClientEvent::Availability { availability } => {
            tray::show_do_not_disturb(app, availability == Availability::DoNotDisturb);
            UiEvent::Availability { availability }
        }
        ClientEvent::Lock { status } => {
            let unlocked = !status.locked;
            desktop.send(UiEvent::Lock { status });
            if unlocked {
                let snapshot = desktop.snapshot(Some(client));
                desktop.send(UiEvent::Snapshot { snapshot });
            }
            return;
        }
    };
    desktop.send(ui);
}

/// Repaints the tray from the core: open emergencies first, then unread messages.
fn refresh_tray<R: Runtime>(app: &AppHandle<R>, client: &Client) {
    let open_emergencies = client.open_emergencies().map(|e| e.len()).unwrap_or(0);
    let unread = client.unread_count().unwrap_or(0);
    tray::update(
        app,
        TrayState {
            unread: u32::try_from(unread).unwrap_or(u32::MAX),
            open_emergencies: u32::try_from(open_emergencies).unwrap_or(u32::MAX),
        },
    );
}

/// After logout: quiet tray, no notification left on screen, and the UI back to the login
/// screen, told `why` when it was not her own "Log out".
pub fn on_session_end<R: Runtime>(app: &AppHandle<R>, why: Option<String>) {
    tray::update(app, TrayState::default());
    crate::notify::session_ended(app);
    app.state::<Desktop>().send(UiEvent::Session {
        session: None,
        reason: why,
    });
}
