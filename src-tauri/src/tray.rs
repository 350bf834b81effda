//! The tray icon: doctors keep the app here through a shift. Shows unread and emergency state,
//! and offers open (on the conversation that needs the user), availability and quit.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

const TRAY_ID: &str = "main";
const ICON_NORMAL: &[u8] = include_bytes!("../../assets/icons/tray.png");
const ICON_UNREAD: &[u8] = include_bytes!("../../assets/icons/tray-unread.png");
const ICON_EMERGENCY: &[u8] = include_bytes!("../../assets/icons/tray-emergency.png");

/// What the tray shows; derived from the client's state by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrayState {
    pub unread: u32,
    pub open_emergencies: u32,
}

impl TrayState {
    fn tooltip(self) -> String {
        let mut text = String::from("Clinic Messaging");
        if self.open_emergencies > 0 {
            text.push_str(&format!(" - {} open emergency", self.open_emergencies));
            if self.open_emergencies > 1 {
                text.push('s');
            }
        }
        if self.unread > 0 {
            text.push_str(&format!(" - {} unread", self.unread));
        }
        text
    }

    fn icon(self) -> &'static [u8] {
        if self.open_emergencies > 0 {
            ICON_EMERGENCY
        } else if self.unread > 0 {
            ICON_UNREAD
        } else {
            ICON_NORMAL
        }
    }
}

/// Brings the main window back from the tray (or from behind other windows).
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Whether the tray icon was made (it is not when the tray library failed at start).
pub fn exists<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.tray_by_id(TRAY_ID).is_some()
}

/// Builds the tray; the do-not-disturb check mark follows the server's word once signed in.
/// Its icon files go to `icon_dir` (private to this account).
pub fn build<R: Runtime>(app: &AppHandle<R>, icon_dir: &Path) -> tauri::Result<TrayIcon<R>> {
    let open = MenuItem::with_id(app, "open", "Open Clinic Messaging", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(app, "dnd", "Do not disturb", true, false, None::<&str>)?;
    app.manage(DndItem(dnd.clone()));
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&open, &dnd, &separator, &quit])?;
    TrayIconBuilder::with_id(TRAY_ID)
        .temp_dir_path(icon_dir)
        .icon(Image::from_bytes(ICON_NORMAL)?)
        .tooltip(TrayState::default().tooltip())
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "open" => crate::on_open(app),
            "dnd" => {
                let on = dnd.is_checked().unwrap_or(false);
                crate::on_availability_toggled(app, on);
            }
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_main(tray.app_handle());
            }
        })
        .build(app)
}

/// The tray menu's do-not-disturb item, kept so the settings panel can move its check mark.
struct DndItem<R: Runtime>(CheckMenuItem<R>);

/// Shows the stored availability in the tray menu (it may have changed in the settings panel,
/// or with the CLI on another machine).
pub fn show_do_not_disturb<R: Runtime>(app: &AppHandle<R>, on: bool) {
    if let Some(item) = app.try_state::<DndItem<R>>()
        && let Err(e) = item.0.set_checked(on)
    {
        tracing::warn!("tray menu: {e}");
    }
}

/// The tray's last painted state and whether it is flashing; managed as app state.
#[derive(Debug, Default)]
pub struct TrayMemory {
    state: Mutex<TrayState>,
    flashing: AtomicBool,
}

fn set_icon<R: Runtime>(app: &AppHandle<R>, bytes: &[u8]) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match Image::from_bytes(bytes) {
        Ok(icon) => {
            if let Err(e) = tray.set_icon(Some(icon)) {
                tracing::warn!("tray icon: {e}");
            }
        }
        Err(e) => tracing::warn!("tray icon image: {e}"),
    }
}

/// Repaints the tray for a new state; a failure here is cosmetic and only logged.
pub fn update<R: Runtime>(app: &AppHandle<R>, state: TrayState) {
    let memory = app.state::<TrayMemory>();
    *memory.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    if !memory.flashing.load(Ordering::SeqCst) {
        set_icon(app, state.icon());
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID)
        && let Err(e) = tray.set_tooltip(Some(state.tooltip()))
    {
        tracing::warn!("tray tooltip: {e}");
    }
}

/// Flashes the tray red while `ringing` holds (an alarm nobody acknowledged), then repaints the
/// last state. A second call while flashing does nothing.
pub fn flash_while<R: Runtime>(app: &AppHandle<R>, ringing: impl Fn() -> bool + Send + 'static) {
    const PERIOD: Duration = Duration::from_millis(600);
    if app
        .state::<TrayMemory>()
        .flashing
        .swap(true, Ordering::SeqCst)
    {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut lit = true;
        while ringing() {
            set_icon(&app, if lit { ICON_EMERGENCY } else { ICON_NORMAL });
            lit = !lit;
            tokio::time::sleep(PERIOD).await;
        }
        let memory = app.state::<TrayMemory>();
        memory.flashing.store(false, Ordering::SeqCst);
        let state = *memory.state.lock().unwrap_or_else(|e| e.into_inner());
        set_icon(&app, state.icon());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tooltip_names_emergencies_and_unread() {
        assert_eq!(TrayState::default().tooltip(), "Clinic Messaging");
        let state = TrayState {
            unread: 3,
            open_emergencies: 1,
        };
        assert_eq!(
            state.tooltip(),
            "Clinic Messaging - 1 open emergency - 3 unread"
        );
        assert_eq!(state.icon(), ICON_EMERGENCY);
        assert_eq!(
            TrayState {
                unread: 2,
                open_emergencies: 0
            }
            .icon(),
            ICON_UNREAD
        );
    }
}
