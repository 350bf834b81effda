//! What a person must notice: the alarm that rings until an emergency is acknowledged, and native
//! notifications for new messages while the window is hidden or unfocused. Policy only; sound and
//! notification mechanics are the `clinic-alarm` crate's.

use crate::desktop::Desktop;
use crate::error::{CmdResult, CommandError};
use clinic_alarm::{Alarm, Notice};
use clinic_protocol::{Emergency, EmergencyId, EmergencyState, Notification, NotificationKind};
use serde_json::json;
use tauri::{AppHandle, Emitter, Manager, Runtime};

fn alarm<R: Runtime>(app: &AppHandle<R>) -> Alarm {
    app.state::<Alarm>().inner().clone()
}

fn announce_alarm<R: Runtime>(app: &AppHandle<R>, alarm: &Alarm) {
    let ringing = alarm.is_ringing();
    let _ = app.emit("alarm", json!({ "alerting": ringing }));
    if ringing {
        let alarm = alarm.clone();
        crate::tray::flash_while(app, move || alarm.is_ringing());
    }
}

fn window_in_view<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.get_webview_window("main")
        .map(|w| w.is_visible().unwrap_or(false) && w.is_focused().unwrap_or(false))
        .unwrap_or(false)
}

/// An emergency alert arrived (or repeated): ring until it is acknowledged, and raise a critical
/// notification the first time.
pub fn on_emergency_alert<R: Runtime>(app: &AppHandle<R>, emergency: &Emergency, repeat: u32) {
    let alarm = alarm(app);
    alarm.ring(emergency.id.as_str());
    announce_alarm(app, &alarm);
    if repeat == 0 {
        notify(
            &alarm,
            Notice::critical(
                format!("EMERGENCY: {}", emergency.patient_name),
                "A patient needs help now. Open Clinic Messaging to acknowledge.",
            ),
        );
    }
}

/// An emergency moved on: once someone took it (or it was resolved) this device stops ringing.
pub fn on_emergency_updated<R: Runtime>(app: &AppHandle<R>, emergency: &Emergency) {
    if emergency.state != EmergencyState::Raised {
        stop_alarm(app, &emergency.id);
    }
}

pub fn stop_alarm<R: Runtime>(app: &AppHandle<R>, id: &EmergencyId) {
    let alarm = alarm(app);
    alarm.stop(id.as_str());
    announce_alarm(app, &alarm);
}

/// Silences this device only: the emergency stays open (and the tray red) until acknowledged.
pub fn silence<R: Runtime>(app: &AppHandle<R>) {
    let alarm = alarm(app);
    alarm.silence();
    announce_alarm(app, &alarm);
}

pub fn alerting<R: Runtime>(app: &AppHandle<R>) -> bool {
    alarm(app).is_ringing()
}

/// A new-message notification from the server: shown natively only when the window is not in
/// front of the user, naming the sender; the text only if the user allowed it in the settings.
pub fn on_notification<R: Runtime>(app: &AppHandle<R>, n: &Notification) {
    if n.kind != NotificationKind::NewMessage || window_in_view(app) {
        return;
    }
    let show_content = app.state::<Desktop>().settings().show_message_content;
    let body = if show_content {
        n.body.clone()
    } else {
        "Open Clinic Messaging to read it.".into()
    };
    let alarm = alarm(app);
    alarm.chime();
    notify(&alarm, Notice::normal(n.title.clone(), body));
}

/// "Send test alert" in the settings: one round of the alarm sound and a critical notification,
/// so a doctor can check both at the start of a shift.
pub async fn test_alert<R: Runtime>(app: &AppHandle<R>) -> CmdResult<()> {
    const KEY: &str = "test-alert";
    let alarm = alarm(app);
    alarm.ring(KEY);
    let notice = Notice::critical(
        "Test alert",
        "If you heard the alarm and see this, emergencies will reach you.",
    );
    let shown = {
        let alarm = alarm.clone();
        tauri::async_runtime::spawn_blocking(move || alarm.notify(notice)).await
    };
    tokio::time::sleep(TEST_ALERT_RING).await;
    alarm.stop(KEY);
    match shown {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CommandError::new(
            "notifications",
            format!("no notification shown: {e}"),
        )),
        Err(e) => Err(CommandError::new("internal", e.to_string())),
    }
}

/// How long the test alert rings: long enough to hear it, short enough not to annoy.
const TEST_ALERT_RING: std::time::Duration = std::time::Duration::from_secs(3);

/// Shows a notice without blocking; a missing notification service is the alarm crate's to log.
fn notify(alarm: &Alarm, notice: Notice) {
    if let Err(e) = alarm.notify_later(notice) {
        tracing::debug!("notification not queued: {e}");
    }
}
