//! The desktop shell: window, tray, single instance and autostart; every command delegates to
//! `clinic-client`, which holds all the app's logic (see docs/desktop-api.md for the contract
//! with the UI).

mod autostart;
#[cfg(test)]
mod bindings;
mod commands;
pub mod compositing;
mod desktop;
mod desktop_check;
mod drafts;
mod error;
mod files;
mod forward;
mod links;
mod lock;
mod notify;
mod screen;
mod settings;
mod status;
mod transcript;
mod tray;
mod ui;

use desktop::Desktop;
use tauri::{AppHandle, Manager, Runtime, WindowEvent};

/// The tray's do-not-disturb item was toggled: ask the server; the check mark follows what it
/// stored (and goes back if it could not be reached).
fn on_availability_toggled<R: Runtime>(app: &AppHandle<R>, do_not_disturb: bool) {
    use clinic_protocol::ws::Availability;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let desktop = app.state::<Desktop>();
        let Ok(client) = desktop.client().await else {
            tray::show_do_not_disturb(&app, false);
            return;
        };
        let wanted = if do_not_disturb {
            Availability::DoNotDisturb
        } else {
            Availability::Available
        };
        if let Err(e) = client.set_availability(wanted).await {
            let e = error::CommandError::from(e);
            tray::show_do_not_disturb(&app, client.availability() == Availability::DoNotDisturb);
            desktop.send(ui::UiEvent::Notice {
                code: e.code.to_owned(),
                message: e.message,
            });
        }
    });
}

/// The tray's "open": the window, on the conversation that most needs the user.
fn on_open<R: Runtime>(app: &AppHandle<R>) {
    tray::show_main(app);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let Ok(client) = app.state::<Desktop>().client().await else {
            return;
        };
        if let Ok(Some(key)) = client.conversation_needing_attention() {
            notify::open_conversation(&app, &key);
        }
    });
}

/// Whether the user is looking at the app: its window visible and focused.
pub(crate) fn window_in_view<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.get_webview_window("main")
        .map(|w| w.is_visible().unwrap_or(false) && w.is_focused().unwrap_or(false))
        .unwrap_or(false)
}

/// Tells the client core whether the user is looking (new-message notifications depend on it).
fn report_in_view<R: Runtime>(app: &AppHandle<R>, in_view: bool) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Ok(client) = app.state::<Desktop>().client().await {
            client.set_in_view(in_view);
        }
    });
}

/// A session's end or a shutdown sends SIGTERM, a terminal's Ctrl+C SIGINT: both quit as the
/// tray's Quit does, so that what quitting tidies (the plain copies handed to viewers) is tidied.
fn quit_on_signals<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let (Ok(mut term), Ok(mut interrupt)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot follow SIGTERM: quitting by it tidies nothing");
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: quitting"),
                _ = interrupt.recv() => tracing::info!("SIGINT: quitting"),
            }
            app.exit(0);
            // The signals stay caught: if the quit does not finish, the process ends anyway
            // (a shutdown must not wait for its timeout).
            std::thread::spawn(|| {
                std::thread::sleep(std::time::Duration::from_secs(3));
                tracing::warn!("the quit did not finish in 3 s: exiting");
                std::process::exit(0);
            });
        });
    }
    #[cfg(not(unix))]
    let _ = app;
}

/// Starts the app; returns when the user quits.
pub fn run() {
    tracing_subscriber::fmt()
        // stderr, like GTK's own messages: the journal and test harnesses keep it.
        .with_writer(std::io::stderr)
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
        .plugin(links::navigation_guard())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(transcript::plugin())
        .setup(|app| {
            let handle = app.handle().clone();
            app.manage(Desktop::new(&handle));
            // The window is created hidden and shown once its text size is set, so that its
            // first frame is drawn at that size.
            settings::apply_text_size(&handle, handle.state::<Desktop>().settings().text_size);
            if let Some(window) = handle.get_webview_window("main")
                && let Err(e) = window.show()
            {
                // Not fatal: a doctor's tray app must start all the same.
                tracing::warn!("could not show the window: {e}");
            }
            app.manage(tray::TrayMemory::default());
            app.manage(notify::Rung::default());
            app.manage(notify::Probing::default());
            app.manage(files::Chosen::default());
            app.manage(clinic_alarm::Alarm::start(
                clinic_alarm::AlarmConfig::default(),
            ));
            // Not fatal either: without a tray the window stays (closing it minimizes), and
            // an emergency still rings and notifies.
            let built = handle
                .state::<Desktop>()
                .tray_icon_dir()
                .map_err(tauri::Error::from)
                .and_then(|dir| tray::build(&handle, &dir));
            if let Err(e) = built {
                tracing::warn!("no tray icon: {e}");
            }
            screen::watch(&handle);
            quit_on_signals(&handle);
            // Whether the desktop holds notifications back or shows no tray: known from the
            // start (whether it can ring, once a doctor signs in: `Desktop::start`).
            let checking = handle.clone();
            tauri::async_runtime::spawn(async move {
                notify::check_device(&checking).await;
            });
            // Restore the saved session now, so a tray app started on login connects even
            // before anyone opens the window.
            tauri::async_runtime::spawn(async move {
                let desktop = handle.state::<Desktop>();
                // A failure is logged; the page hears it when it subscribes.
                let _ = desktop.restore(&handle).await;
            });
            Ok(())
        })
        .on_window_event(|window, event| match event {
            // Closing hides to the tray: a doctor's app keeps running through the shift. With
            // no tray known to bring it back from (GNOME without its extension), it is
            // minimized instead: hidden, it would look quit while it keeps ringing.
            WindowEvent::CloseRequested { api, .. } => {
                api.prevent_close();
                // Unknown (the check has not answered, no session bus): minimized too.
                let tray = window.state::<Desktop>().device().tray_host;
                let _ = if tray == ui::Known::Yes {
                    window.hide()
                } else {
                    window.minimize()
                };
                report_in_view(window.app_handle(), false);
            }
            WindowEvent::Focused(focused) => {
                let visible = window.is_visible().unwrap_or(false);
                report_in_view(window.app_handle(), *focused && visible);
            }
            // What the user dropped may be sent: recorded in the same main-thread callback that
            // tells the webview, so before any `describe_file` it sends for the drop is handled.
            WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) => {
                window.state::<files::Chosen>().allow(paths.iter().cloned());
            }
            _ => {}
        })
        .on_webview_event(|webview, event| {
            if let tauri::WebviewEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = event {
                webview
                    .state::<files::Chosen>()
                    .allow(paths.iter().cloned());
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::subscribe,
            commands::login,
            commands::cancel_login,
            commands::logout,
            commands::load_messages,
            commands::send_message,
            commands::retry_message,
            commands::search_messages,
            commands::find_patients,
            commands::start_conversation,
            commands::discard_message,
            commands::unsend_message,
            commands::edit_message,
            commands::message_versions,
            commands::mark_read,
            commands::set_typing,
            commands::view_conversation,
            commands::purged_at,
            commands::resolved_emergencies,
            commands::acknowledge_emergency,
            commands::resolve_emergency,
            commands::silence_alarm,
            commands::set_availability,
            commands::set_settings,
            commands::send_test_alert,
            lock::user_active,
            lock::lock_now,
            drafts::save_draft,
            drafts::keep_drafts,
            drafts::drafts,
            lock::unlock,
            lock::raise_emergency,
            lock::set_pin,
            lock::set_lock_policy,
            files::pick_file,
            files::describe_file,
            files::attachment_preview,
            files::open_attachment,
            links::open_link,
        ])
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|handle, event| {
            // Quitting: the plain copies handed to viewers go (the next start removes them too,
            // after a crash).
            if let tauri::RunEvent::Exit = event
                && let Some(desktop) = handle.try_state::<Desktop>()
            {
                desktop.remove_opened_files();
            }
        }),
        Err(e) => {
            tracing::error!("the app stopped with an error: {e}");
            std::process::exit(1);
        }
    }
}
