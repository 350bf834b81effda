//! The desktop's own settings (notification privacy, autostart), kept as JSON in the profile
//! directory next to the client's session. A doctor's availability is not here: the server
//! stores it, so every device and the CLI agree.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Settings {
    /// Show message text in native notifications (off: they name the sender only, so nothing
    /// clinical shows on a lock screen).
    pub show_message_content: bool,
    pub start_on_login: bool,
    /// How large the window draws everything (Settings, or Ctrl + and Ctrl -).
    pub text_size: TextSize,
}

/// The window's zoom, in steps a person tells apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum TextSize {
    #[default]
    Normal,
    Large,
    Larger,
    Largest,
}

impl TextSize {
    /// The webview's zoom factor.
    pub fn zoom(self) -> f64 {
        match self {
            Self::Normal => 1.0,
            Self::Large => 1.25,
            Self::Larger => 1.5,
            Self::Largest => 1.75,
        }
    }
}

/// Draws the main window at `size`. A failure is logged: the text stays as it was.
pub fn apply_text_size<R: tauri::Runtime>(app: &tauri::AppHandle<R>, size: TextSize) {
    use tauri::Manager;
    if let Some(window) = app.get_webview_window("main")
        && let Err(e) = window.set_zoom(size.zoom())
    {
        tracing::warn!("could not set the text size: {e}");
    }
}

fn path(profile_dir: &Path) -> PathBuf {
    profile_dir.join("settings.json")
}

/// Missing or unreadable settings fall back to the defaults: a broken file must not stop a doctor
/// from starting the app.
pub fn load(profile_dir: &Path) -> Settings {
    match std::fs::read(path(profile_dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("settings.json unreadable ({e}); using defaults");
            Settings::default()
        }),
        Err(_) => Settings::default(),
    }
}

/// Writes through a new private file and a rename, so a crash never leaves half a file (and the
/// profile folder, made here before the first sign-in, is private from the start).
pub fn save(profile_dir: &Path, settings: &Settings) -> std::io::Result<()> {
    clinic_client::profile::write_private(&path(profile_dir), &serde_json::to_vec_pretty(settings)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = std::env::temp_dir().join(format!("clinic-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(load(&dir), Settings::default());
        let s = Settings {
            show_message_content: true,
            start_on_login: true,
            text_size: TextSize::Larger,
        };
        save(&dir, &s).expect("save");
        assert_eq!(load(&dir), s);
        std::fs::write(dir.join("settings.json"), b"{not json").expect("write");
        assert_eq!(load(&dir), Settings::default());
        // Written by an older version: the text size is the default.
        std::fs::write(dir.join("settings.json"), br#"{"startOnLogin":true}"#).expect("write");
        assert_eq!(load(&dir).text_size, TextSize::Normal);
        assert!(load(&dir).start_on_login);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
