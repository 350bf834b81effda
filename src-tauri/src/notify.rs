//! Carries out the client core's attention decisions with `clinic-alarm`: the alarm rings for
//! exactly the emergencies the core says, notifications are shown as the core words them, and a
//! click on one opens its conversation. No policy here.

use crate::desktop::Desktop;
use crate::desktop_check::SessionCheck;
use crate::error::{CmdResult, CommandError};
use crate::ui::{DeviceCheck, DeviceState, UiEvent};
use clinic_alarm::Alarm;
use clinic_client::attention::Notice;
use clinic_protocol::{ConversationKey, EmergencyId};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tauri::{AppHandle, Manager, Runtime};

fn alarm<R: Runtime>(app: &AppHandle<R>) -> Alarm {
    app.state::<Alarm>().inner().clone()
}

/// The emergency keys this shell made the alarm ring for.
#[derive(Debug, Default)]
pub struct Rung(Mutex<BTreeSet<String>>);

/// Makes the alarm ring for exactly `ringing` (and flashes the tray while it does).
pub fn sync_alarm<R: Runtime>(app: &AppHandle<R>, ringing: &[EmergencyId]) {
    let alarm = alarm(app);
    let wanted: BTreeSet<String> = ringing.iter().map(|id| id.as_str().to_owned()).collect();
    let rung = app.state::<Rung>();
    let mut rung = rung.0.lock().unwrap_or_else(|e| e.into_inner());
    for gone in rung.difference(&wanted) {
        alarm.stop(gone);
    }
    for new in wanted.difference(&rung) {
        alarm.ring(new.clone());
    }
    *rung = wanted;
    if alarm.is_ringing() {
        let alarm = alarm.clone();
        crate::tray::flash_while(app, move || alarm.is_ringing());
        check_device_soon(app);
    }
}

/// The alarm's outputs and the desktop session's answers, as the UI shows them.
fn device_of(status: &clinic_alarm::AlarmStatus, session: SessionCheck) -> DeviceCheck {
    let state = |a: clinic_alarm::Availability| match a {
        clinic_alarm::Availability::Available => DeviceState::Works,
        clinic_alarm::Availability::Unavailable => DeviceState::Missing,
        clinic_alarm::Availability::Unknown => DeviceState::Untested,
    };
    DeviceCheck {
        sound: state(status.audio),
        notifications: state(status.notifications),
        notifications_suppressed: session.notifications_suppressed,
        tray_host: session.tray_host,
    }
}

/// Reads what this device can do now (the alarm's outputs, and the session bus about
/// notifications held back and the tray) and tells the UI if that changed.
pub async fn check_device<R: Runtime>(app: &AppHandle<R>) -> DeviceCheck {
    let mut session = crate::desktop_check::check_session().await;
    if !crate::tray::exists(app) {
        // Ours could not be made: a hidden window would have nothing to bring it back.
        session.tray_host = crate::ui::Known::No;
    }
    let device = device_of(&alarm(app).status(), session);
    let desktop = app.state::<Desktop>();
    if desktop.set_device(device) {
        desktop.send(UiEvent::Device { device });
    }
    device
}

/// Opens the sound device, silently, and tells the page what it found: a computer that cannot
/// ring says so from the sign-in, not at its first emergency. While it cannot, the alarm tries
/// again every `reprobe_every` and the page is told as soon as one works (a sound server that
/// started after the app, a headset plugged in).
///
/// Called when a doctor signs in (a patient's app never rings). The alarm is always asked to
/// probe (a sign-out since the last call stopped its own tries again); a second call while the
/// first still waits for the outcome leaves that wait to tell the page.
pub fn probe_sound<R: Runtime>(app: &AppHandle<R>) {
    let probing = app.state::<Probing>();
    probing.wanted.store(true, Ordering::SeqCst);
    probing.asked.fetch_add(1, Ordering::SeqCst);
    let alarm = alarm(app);
    alarm.probe();
    if probing.running.swap(true, Ordering::SeqCst) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let probing = app.state::<Probing>();
        loop {
            let asked = probing.asked.load(Ordering::SeqCst);
            tokio::time::sleep(OUTCOME_AFTER).await;
            // Also while untested: a device slow to answer the first probe is known at a later
            // look.
            while probing.wanted.load(Ordering::SeqCst)
                && matches!(
                    check_device(&app).await.sound,
                    DeviceState::Missing | DeviceState::Untested
                )
            {
                tokio::time::sleep(alarm.reprobe_every()).await;
            }
            probing.running.store(false, Ordering::SeqCst);
            // A sign-in asked for a probe while this look was ending (and left it to this
            // look to tell the page): look again, unless another look has started.
            if probing.asked.load(Ordering::SeqCst) == asked
                || probing.running.swap(true, Ordering::SeqCst)
            {
                break;
            }
        }
    });
}

/// The session ended (a logout, or the server signed it out): what it showed leaves the screen,
/// and a sound device that did not work is no longer looked for.
pub fn session_ended<R: Runtime>(app: &AppHandle<R>) {
    withdraw_all(app);
    stop_probing(app);
}

/// The doctor signed out: nobody here relies on the sound, so a device that did not work is
/// no longer looked for (a ring or a chime still tries it).
fn stop_probing<R: Runtime>(app: &AppHandle<R>) {
    app.state::<Probing>().wanted.store(false, Ordering::SeqCst);
    alarm(app).stop_probing();
}

/// Whether [`probe_sound`]'s look is under way, and whether it is still wanted.
#[derive(Debug, Default)]
pub struct Probing {
    running: AtomicBool,
    wanted: AtomicBool,
    /// How many looks were asked for (each sign-in of a doctor).
    asked: AtomicU64,
}

/// How long after a ring or a notification its outcome is known (the device opens, the
/// notification service answers, both on threads of their own).
const OUTCOME_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Checks the device once the ring or notification just started has had time to work or fail.
fn check_device_soon<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(OUTCOME_AFTER).await;
        check_device(&app).await;
    });
}

/// Shows a notification the core asked for; a click opens its conversation.
pub fn show<R: Runtime>(app: &AppHandle<R>, notice: Notice) {
    let alarm = alarm(app);
    if notice.chime {
        alarm.chime();
    }
    let mut shown = if notice.critical {
        clinic_alarm::Notice::critical(notice.title, notice.body)
    } else {
        clinic_alarm::Notice::normal(notice.title, notice.body)
    };
    if let Some(tag) = notice.tag {
        shown = shown.tagged(tag);
    }
    let queued = match notice.conversation {
        Some(key) => {
            let app = app.clone();
            alarm.notify_later_then(shown, move || open_conversation(&app, &key))
        }
        None => alarm.notify_later(shown),
    };
    if let Err(e) = queued {
        tracing::debug!("notification not queued: {e}");
    }
    check_device_soon(app);
}

/// Takes a notification the core asked for off the screen again (its emergency was handled).
pub fn withdraw<R: Runtime>(app: &AppHandle<R>, tag: &str) {
    if let Err(e) = alarm(app).withdraw(tag) {
        tracing::debug!("notification not withdrawn: {e}");
    }
}

/// Takes every notification of the session that ended off the screen: an emergency's names a
/// patient, and whoever uses the computer next is not the one signed in.
pub fn withdraw_all<R: Runtime>(app: &AppHandle<R>) {
    if let Err(e) = alarm(app).withdraw_all() {
        tracing::debug!("notifications not withdrawn: {e}");
    }
}

/// Brings the window up on `key` (a notification or the tray was clicked).
pub fn open_conversation<R: Runtime>(app: &AppHandle<R>, key: &ConversationKey) {
    crate::tray::show_main(app);
    app.state::<Desktop>().send(UiEvent::OpenConversation {
        patient_id: key.patient_id.clone(),
        doctor_id: key.doctor_id.clone(),
    });
}

/// "Send test alert" in the settings: one round of the alarm sound and a critical notification,
/// so a doctor can check both at the start of a shift. Answers what worked and what did not.
pub async fn test_alert<R: Runtime>(app: &AppHandle<R>) -> CmdResult<DeviceCheck> {
    const KEY: &str = "test-alert";
    let alarm = alarm(app);
    alarm.ring(KEY);
    let notice = clinic_alarm::Notice::critical(
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
        Ok(Ok(())) => {}
        // What failed is in the answer: the notification service did not take it.
        Ok(Err(e)) => tracing::warn!("test alert: no notification could be shown: {e}"),
        Err(e) => return Err(CommandError::new("internal", e.to_string())),
    }
    Ok(check_device(app).await)
}

/// How long the test alert rings: long enough to hear it, short enough not to annoy.
const TEST_ALERT_RING: std::time::Duration = std::time::Duration::from_secs(3);
