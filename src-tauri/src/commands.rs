//! The Tauri commands of docs/desktop-api.md. Each one delegates to the client core (or to the
//! shell's settings); none holds logic worth a test of its own.

use crate::desktop::{Desktop, session_of};
use crate::error::{CmdResult, CommandError};
use crate::settings::Settings;
use crate::ui::{Snapshot, UiEvent};
use chrono::{DateTime, Utc};
use clinic_client::{Found, LocalMessage};
use clinic_protocol::rest::MessageVersions;
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ClientId, Contact, Conversation, ConversationKey, Emergency, EmergencyId, MessageId, Seq,
    UserId,
};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

fn key(patient_id: String, doctor_id: String) -> ConversationKey {
    ConversationKey::new(UserId::new(patient_id), UserId::new(doctor_id))
}

/// The UI starts here: events go to `events` from now on, and the answer is the state as it is
/// (the saved session restored without the network, if there is one).
#[tauri::command]
pub async fn subscribe<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    events: Channel<UiEvent>,
) -> CmdResult<Snapshot> {
    desktop.set_channel(events);
    // A saved session that cannot be opened fails the subscription with its sentence: the
    // page shows it on the login screen (signing in again says it too).
    let client = desktop.restore(&app).await?;
    if let Some(client) = &client {
        desktop.announce_cache_reset(client);
    }
    Ok(desktop.snapshot(client.as_ref()))
}

#[tauri::command]
pub async fn login<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    pin: Option<String>,
) -> CmdResult<Snapshot> {
    let pairing = clinic_client::Pairing::from_pin(pin.as_deref());
    let client = desktop
        .login(&app, server_url.trim(), username.trim(), &password, pairing)
        .await?;
    tracing::info!("signed in as {}", session_of(&client).user.username);
    desktop.announce_cache_reset(&client);
    Ok(desktop.snapshot(Some(&client)))
}

/// Makes a `login` that is still waiting for the server end with `cancelled`.
#[tauri::command]
pub fn cancel_login(desktop: State<'_, Desktop>) {
    desktop.cancel_login();
}

/// Whether the server confirmed the end of the session.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoggedOut {
    /// False when the server could not be reached (the token is forgotten here anyway).
    pub revoked: bool,
}

#[tauri::command]
pub async fn logout<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
) -> CmdResult<LoggedOut> {
    let revoked = desktop.logout(&app, None).await?;
    Ok(LoggedOut { revoked })
}

/// Searches the signed-in user's messages on the server (`clinic_protocol::search` language),
/// optionally in one conversation, from a previous page's cursor.
#[tauri::command]
pub async fn search_messages(
    desktop: State<'_, Desktop>,
    query: String,
    patient_id: Option<String>,
    doctor_id: Option<String>,
    cursor: Option<String>,
) -> CmdResult<Found> {
    let client = desktop.client().await?;
    let conversation = match (patient_id, doctor_id) {
        (Some(p), Some(d)) => Some(key(p, d)),
        _ => None,
    };
    Ok(client
        .search(&query, conversation.as_ref(), cursor.as_deref())
        .await?)
}

/// Doctors: the clinic's patients whose name contains `query` (the patient picker).
#[tauri::command]
pub async fn find_patients(desktop: State<'_, Desktop>, query: String) -> CmdResult<Vec<Contact>> {
    let client = desktop.client().await?;
    Ok(client.find_patients(&query).await?)
}

/// Doctors: opens the conversation with a patient of the clinic (the server grants it).
#[tauri::command]
pub async fn start_conversation(
    desktop: State<'_, Desktop>,
    patient_id: String,
) -> CmdResult<Conversation> {
    let client = desktop.client().await?;
    Ok(client.start_conversation(&UserId::new(patient_id)).await?)
}

#[tauri::command]
pub async fn load_messages(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
    before_seq: Option<i64>,
    limit: u32,
) -> CmdResult<Vec<LocalMessage>> {
    let client = desktop.client().await?;
    let limit = limit.clamp(1, clinic_protocol::limits::MAX_PAGE);
    Ok(client
        .load_history(&key(patient_id, doctor_id), limit, before_seq.map(Seq))
        .await?)
}

#[tauri::command]
pub async fn send_message(
    desktop: State<'_, Desktop>,
    chosen: State<'_, crate::files::Chosen>,
    patient_id: String,
    doctor_id: String,
    content: String,
    is_emergency: bool,
    attachment_path: Option<String>,
) -> CmdResult<LocalMessage> {
    let client = desktop.client().await?;
    let conversation = key(patient_id, doctor_id);
    match attachment_path.map(std::path::PathBuf::from) {
        Some(path) => {
            chosen.check(&path)?;
            Ok(client.send_with_attachment(&conversation, &content, is_emergency, &path)?)
        }
        None => Ok(client.send(&conversation, &content, is_emergency)?),
    }
}

#[tauri::command]
pub async fn retry_message(
    desktop: State<'_, Desktop>,
    client_id: String,
) -> CmdResult<LocalMessage> {
    Ok(desktop.client().await?.retry(&ClientId::new(client_id))?)
}

#[tauri::command]
pub async fn discard_message(desktop: State<'_, Desktop>, client_id: String) -> CmdResult<()> {
    desktop.client().await?.discard(&ClientId::new(client_id))?;
    Ok(())
}

/// Unsends (patients) or retracts (doctors) one's own message: queued like a send and shown at
/// once; the server's refusal comes back on the message as `changeNotice`.
#[tauri::command]
pub async fn unsend_message(
    desktop: State<'_, Desktop>,
    message_id: String,
    reason: Option<String>,
    misdirected: bool,
) -> CmdResult<LocalMessage> {
    Ok(desktop
        .client()
        .await?
        .unsend(&MessageId::new(message_id), reason, misdirected)?)
}

/// Replaces the text of one's own message (queued like a send).
#[tauri::command]
pub async fn edit_message(
    desktop: State<'_, Desktop>,
    message_id: String,
    content: String,
) -> CmdResult<LocalMessage> {
    Ok(desktop
        .client()
        .await?
        .edit(&MessageId::new(message_id), &content)?)
}

/// Every version of a message's text, oldest first (from the server).
#[tauri::command]
pub async fn message_versions(
    desktop: State<'_, Desktop>,
    message_id: String,
) -> CmdResult<MessageVersions> {
    Ok(desktop
        .client()
        .await?
        .versions(&MessageId::new(message_id))
        .await?)
}

/// The user saw `message_id` (window focused, message on screen): it and everything before it
/// addressed to the user is read (the UI decides what was seen, see ui/src/logic/receipts.ts).
#[tauri::command]
pub async fn mark_read(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
    message_id: String,
) -> CmdResult<()> {
    let client = desktop.client().await?;
    client.mark_seen(&key(patient_id, doctor_id), &MessageId::new(message_id))?;
    Ok(())
}

/// The user opened this conversation: its typing indicators are followed from now on (and the
/// one open before is left).
#[tauri::command]
pub async fn view_conversation(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
) -> CmdResult<()> {
    let client = desktop.client().await?;
    client.view(Some(&key(patient_id, doctor_id)));
    Ok(())
}

/// When the clinic's retention policy removed this conversation's older messages, from the
/// cache (so the notice shows after a restart too); `None` if it never did.
#[tauri::command]
pub async fn purged_at(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
) -> CmdResult<Option<DateTime<Utc>>> {
    let client = desktop.client().await?;
    Ok(client.purged_at(&key(patient_id, doctor_id))?)
}

/// The conversation's resolved emergencies from the cache, oldest first: who resolved each and
/// the note they left, shown with the messages they closed.
#[tauri::command]
pub async fn resolved_emergencies(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
) -> CmdResult<Vec<Emergency>> {
    let client = desktop.client().await?;
    Ok(client.resolved_emergencies(&key(patient_id, doctor_id))?)
}

#[tauri::command]
pub async fn set_typing(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
    typing: bool,
) -> CmdResult<()> {
    let client = desktop.client().await?;
    let conversation = key(patient_id, doctor_id);
    if typing {
        client.join(&conversation);
    }
    client.set_typing(&conversation, typing);
    Ok(())
}

#[tauri::command]
pub async fn acknowledge_emergency(
    desktop: State<'_, Desktop>,
    emergency_id: String,
) -> CmdResult<Emergency> {
    let id = EmergencyId::new(emergency_id);
    Ok(desktop.client().await?.acknowledge_emergency(&id).await?)
}

#[tauri::command]
pub async fn resolve_emergency(
    desktop: State<'_, Desktop>,
    emergency_id: String,
    note: String,
) -> CmdResult<Emergency> {
    let id = EmergencyId::new(emergency_id);
    Ok(desktop
        .client()
        .await?
        .resolve_emergency(&id, Some(note))
        .await?)
}

#[tauri::command]
pub async fn silence_alarm(desktop: State<'_, Desktop>) -> CmdResult<()> {
    desktop.client().await?.silence_alarm();
    Ok(())
}

#[tauri::command]
pub async fn set_availability(
    desktop: State<'_, Desktop>,
    availability: Availability,
) -> CmdResult<Availability> {
    Ok(desktop
        .client()
        .await?
        .set_availability(availability)
        .await?)
}

#[tauri::command]
pub async fn set_settings<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    settings: Settings,
) -> CmdResult<Settings> {
    let previous = desktop.settings();
    if settings.start_on_login != previous.start_on_login {
        crate::autostart::set(&app, settings.start_on_login)
            .map_err(|e| CommandError::new("io", format!("Start on login: {e}")))?;
    }
    let saved = desktop.save_settings(settings)?;
    if saved.text_size != previous.text_size {
        crate::settings::apply_text_size(&app, saved.text_size);
    }
    if let Ok(client) = desktop.client().await {
        client.set_notification_content(saved.show_message_content);
    }
    Ok(saved)
}

#[tauri::command]
pub async fn send_test_alert<R: Runtime>(app: AppHandle<R>) -> CmdResult<crate::ui::DeviceCheck> {
    crate::notify::test_alert(&app).await
}
