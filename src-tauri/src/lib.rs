//! The desktop shell: window, tray, single instance and autostart; every command delegates to
//! `clinic-client`, which holds all the app's logic (see docs/desktop-api.md for the contract
//! with the UI).

mod autostart;
mod commands;
mod desktop;
mod error;
mod files;
mod forward;
mod notify;
mod settings;
mod status;
mod tray;

use desktop::Desktop;
use tauri::{AppHandle, Manager, Runtime, WindowEvent};

/// Called from the tray when the doctor toggles do-not-disturb.
fn on_availability_changed<R: Runtime>(app: &AppHandle<R>, do_not_disturb: bool) {
    use clinic_protocol::ws::Availability;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let desktop = app.state::<Desktop>();
        let mut settings = desktop.settings();
        settings.availability = if do_not_disturb {
            Availability::DoNotDisturb
        } else {
            Availability::Available
        };
        match desktop.save_settings(settings) {
            Ok(saved) => {
                if let Ok(client) = desktop.client().await {
                    let _ = client.set_presence(saved.availability);
                }
            }
            Err(e) => tracing::warn!("saving availability: {}", e.message),
        }
    });
}

/// Starts the app; returns when the user quits.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = tauri::Builder::default()
        // First: a second launch must focus the running app before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tray::show_main(app)
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .setup(|app| {
            let handle = app.handle().clone();
            app.manage(Desktop::new(&handle));
            app.manage(tray::TrayMemory::default());
            app.manage(clinic_alarm::Alarm::start(
                clinic_alarm::AlarmConfig::default(),
            ));
            let do_not_disturb = handle.state::<Desktop>().settings().availability
                == clinic_protocol::ws::Availability::DoNotDisturb;
            tray::build(&handle, do_not_disturb)?;
            // Restore the saved session now, so a tray app started on login connects even
            // before anyone opens the window.
            tauri::async_runtime::spawn(async move {
                let desktop = handle.state::<Desktop>();
                desktop.restore(&handle).await;
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing hides to the tray: a doctor's app keeps running through the shift.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_session,
            commands::login,
            commands::logout,
            commands::list_conversations,
            commands::list_contacts,
            commands::load_messages,
            commands::send_message,
            commands::retry_message,
            commands::mark_read,
            commands::set_typing,
            commands::acknowledge_emergency,
            commands::resolve_emergency,
            commands::list_open_emergencies,
            commands::silence_alarm,
            commands::alarm_status,
            commands::get_settings,
            commands::set_settings,
            commands::send_test_alert,
            commands::connection_status,
            files::pick_file,
            files::describe_file,
            files::attachment_preview,
            files::open_attachment,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!("the app stopped with an error: {e}");
        std::process::exit(1);
    }
}
