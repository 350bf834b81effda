//! The event pump: forwards the client core's events to the UI (docs/desktop-api.md "Events"),
//! and turns the ones a person must notice into tray changes and native notifications.

use crate::desktop::Desktop;
use crate::status::ConnectionStatus;
use crate::tray::{self, TrayState};
use clinic_client::{Client, ClientEvent, ConnectionState, LocalMessage};
use clinic_protocol::ws::Availability;
use serde::Serialize;
use serde_json::json;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

fn emit<R: Runtime, S: Serialize + Clone>(app: &AppHandle<R>, event: &str, payload: S) {
    if let Err(e) = app.emit(event, payload) {
        tracing::warn!("emit {event}: {e}");
    }
}

/// Runs until the client is dropped (logout) or the task is aborted.
pub async fn run<R: Runtime>(app: AppHandle<R>, client: Client) {
    let mut events = client.subscribe();
    // The state may have moved before we subscribed: start from the current one.
    on_connection(&app, &client, &client.state(), client.queued());
    refresh_tray(&app, &client);
    loop {
        match events.recv().await {
            Ok(event) => on_event(&app, &client, event).await,
            Err(RecvError::Lagged(missed)) => {
                // We missed events: the UI re-reads everything from the cache.
                tracing::warn!("UI forwarder lagged by {missed} events");
                emit(&app, "conversations", json!({}));
            }
            Err(RecvError::Closed) => break,
        }
    }
}

async fn on_event<R: Runtime>(app: &AppHandle<R>, client: &Client, event: ClientEvent) {
    match event {
        ClientEvent::Connection { state, queued } => on_connection(app, client, &state, queued),
        ClientEvent::MessageUpserted { message } => {
            let incoming = message.sender_id != client.user().id;
            emit(app, "message", json!({ "message": message }));
            if incoming {
                refresh_tray(app, client);
            }
        }
        ClientEvent::Typing {
            patient_id,
            doctor_id,
            user_id,
            typing,
        } => emit(
            app,
            "typing",
            json!({"patientId": patient_id, "doctorId": doctor_id, "userId": user_id, "typing": typing}),
        ),
        ClientEvent::Presence { user_id, online } => emit(
            app,
            "presence",
            json!({"userId": user_id, "online": online}),
        ),
        ClientEvent::EmergencyAlert {
            emergency,
            message,
            repeat,
            ..
        } => {
            crate::notify::on_emergency_alert(app, &emergency, repeat);
            let message = LocalMessage::from(message);
            emit(
                app,
                "emergency",
                json!({"emergency": emergency, "message": message, "alerting": true}),
            );
            refresh_tray(app, client);
        }
        ClientEvent::EmergencyUpdated { emergency } => {
            crate::notify::on_emergency_updated(app, &emergency);
            let alerting = crate::notify::alerting(app);
            emit(
                app,
                "emergency",
                json!({"emergency": emergency, "message": null, "alerting": alerting}),
            );
            emit(app, "conversations", json!({}));
            refresh_tray(app, client);
        }
        ClientEvent::Notification { notification } => {
            crate::notify::on_notification(app, &notification);
        }
        ClientEvent::UploadProgress {
            client_id,
            sent,
            total,
        } => emit(
            app,
            "upload-progress",
            json!({"clientId": client_id, "sent": sent, "total": total}),
        ),
        ClientEvent::ServerError { code, message } => {
            tracing::warn!("server error {code:?}: {message}");
        }
    }
}

fn on_connection<R: Runtime>(
    app: &AppHandle<R>,
    client: &Client,
    state: &ConnectionState,
    queued: u64,
) {
    let desktop = app.state::<Desktop>();
    desktop.set_status(app, ConnectionStatus::from_client(state, queued));
    match state {
        ConnectionState::Online => {
            // The server keeps availability per connection: tell it again after every connect.
            if desktop.settings().availability == Availability::DoNotDisturb {
                let _ = client.set_presence(Availability::DoNotDisturb);
            }
            emit(app, "conversations", json!({}));
        }
        ConnectionState::SignedOut { reason } => {
            emit(app, "session", json!({"session": null, "reason": reason}));
        }
        _ => {}
    }
}

/// Repaints the tray from the cache: open emergencies first, then unread messages.
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

/// After logout: quiet tray, and the UI back to the login screen.
pub fn on_session_end<R: Runtime>(app: &AppHandle<R>) {
    tray::update(app, TrayState::default());
    emit(app, "session", json!({"session": null, "reason": null}));
}
