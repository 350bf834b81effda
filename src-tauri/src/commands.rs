//! The Tauri commands of docs/desktop-api.md. Each one delegates to the client core (or to the
//! shell's settings); none holds logic worth a test of its own.

use crate::desktop::Desktop;
use crate::error::{CmdResult, CommandError};
use crate::settings::Settings;
use crate::status::{ConnectionStatus, SessionInfo};
use clinic_client::LocalMessage;
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ClientId, Contact, Conversation, ConversationKey, Emergency, EmergencyId, MessageId, Seq,
    UserId,
};
use tauri::{AppHandle, Runtime, State};

fn key(patient_id: String, doctor_id: String) -> ConversationKey {
    ConversationKey::new(UserId::new(patient_id), UserId::new(doctor_id))
}

#[tauri::command]
pub async fn get_session<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
) -> CmdResult<Option<SessionInfo>> {
    Ok(desktop.restore(&app).await)
}

#[tauri::command]
pub async fn login<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    pin: Option<String>,
) -> CmdResult<SessionInfo> {
    let pairing = clinic_client::Pairing::from_pin(pin.as_deref());
    desktop
        .login(&app, server_url.trim(), username.trim(), &password, pairing)
        .await
}

#[tauri::command]
pub async fn logout<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>) -> CmdResult<()> {
    desktop.logout(&app).await
}

#[tauri::command]
pub async fn list_conversations(desktop: State<'_, Desktop>) -> CmdResult<Vec<Conversation>> {
    Ok(desktop.client().await?.cached_conversations()?)
}

#[tauri::command]
pub async fn list_contacts(desktop: State<'_, Desktop>) -> CmdResult<Vec<Contact>> {
    let client = desktop.client().await?;
    let online = client.online_users();
    let mut contacts = client.contacts()?;
    for c in &mut contacts {
        c.online = online.contains(&c.id);
    }
    Ok(contacts)
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
    Ok(client.history(&key(patient_id, doctor_id), limit, before_seq.map(Seq))?)
}

#[tauri::command]
pub async fn send_message(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
    content: String,
    is_emergency: bool,
    attachment_path: Option<String>,
) -> CmdResult<LocalMessage> {
    let client = desktop.client().await?;
    let conversation = key(patient_id, doctor_id);
    match attachment_path {
        Some(path) => Ok(client.send_with_attachment(
            &conversation,
            &content,
            is_emergency,
            path.as_ref(),
        )?),
        None => Ok(client.send(&conversation, &content, is_emergency)?),
    }
}

#[tauri::command]
pub async fn retry_message(desktop: State<'_, Desktop>, client_id: String) -> CmdResult<()> {
    desktop.client().await?.retry(&ClientId::new(client_id))?;
    Ok(())
}

#[tauri::command]
pub async fn mark_read(
    desktop: State<'_, Desktop>,
    patient_id: String,
    doctor_id: String,
    message_ids: Vec<String>,
) -> CmdResult<()> {
    let client = desktop.client().await?;
    let _ = (patient_id, doctor_id);
    // Reading a message marks everything before it too: the newest id is enough, but the UI
    // may send them in any order, so mark each (repeats are no-ops).
    for id in message_ids {
        match client.mark_read(&MessageId::new(id)) {
            Ok(()) | Err(clinic_client::ClientError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
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
pub async fn acknowledge_emergency<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    emergency_id: String,
) -> CmdResult<()> {
    let id = EmergencyId::new(emergency_id);
    desktop.client().await?.acknowledge_emergency(&id)?;
    crate::notify::stop_alarm(&app, &id);
    Ok(())
}

#[tauri::command]
pub async fn resolve_emergency(
    desktop: State<'_, Desktop>,
    emergency_id: String,
    note: String,
) -> CmdResult<()> {
    let note = Some(note.trim().to_owned()).filter(|n| !n.is_empty());
    desktop
        .client()
        .await?
        .resolve_emergency(&EmergencyId::new(emergency_id), note)?;
    Ok(())
}

#[tauri::command]
pub async fn list_open_emergencies(desktop: State<'_, Desktop>) -> CmdResult<Vec<Emergency>> {
    Ok(desktop.client().await?.open_emergencies()?)
}

#[tauri::command]
pub async fn silence_alarm<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::notify::silence(&app);
    Ok(())
}

#[tauri::command]
pub async fn get_settings(desktop: State<'_, Desktop>) -> CmdResult<Settings> {
    Ok(desktop.settings())
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
            .map_err(|e| CommandError::new("io", format!("start on login: {e}")))?;
    }
    let saved = desktop.save_settings(settings)?;
    crate::tray::show_do_not_disturb(&app, saved.availability == Availability::DoNotDisturb);
    // Offline is fine: the pump sends the availability again after the next connect.
    if saved.availability != previous.availability
        && let Ok(client) = desktop.client().await
    {
        let _ = client.set_presence(saved.availability);
    }
    Ok(saved)
}

#[tauri::command]
pub async fn send_test_alert<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::notify::test_alert(&app).await
}

#[tauri::command]
pub async fn connection_status(desktop: State<'_, Desktop>) -> CmdResult<ConnectionStatus> {
    Ok(desktop.status())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AlarmStatus {
    alerting: bool,
}

#[tauri::command]
pub async fn alarm_status<R: Runtime>(app: AppHandle<R>) -> CmdResult<AlarmStatus> {
    Ok(AlarmStatus {
        alerting: crate::notify::alerting(&app),
    })
}
