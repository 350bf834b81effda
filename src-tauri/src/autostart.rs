//! Start on login. On Linux an XDG autostart entry in `$XDG_CONFIG_HOME/autostart` (by default
//! `~/.config/autostart`) that starts the binary from wherever it is installed (`/usr/bin` from the
//! packages); the autostart plugin's Linux backend ignores XDG_CONFIG_HOME, so it is used only on
//! Windows and macOS.

use std::path::{Path, PathBuf};

/// The entry's file name: the app identifier, like the data folder's.
const ENTRY: &str = "org.clinic.messaging.desktop";
/// Where the autostart plugin of earlier versions wrote its entry (`~/.config/autostart/`):
/// removed when the setting changes, so the app never starts twice.
const PLUGIN_ENTRY: &str = "Clinic Messaging.desktop";

/// Turns start-on-login on or off for this user.
#[cfg(target_os = "linux")]
pub fn set<R: tauri::Runtime>(_app: &tauri::AppHandle<R>, on: bool) -> Result<(), String> {
    let home = directories::UserDirs::new().ok_or("no home folder to keep the autostart entry")?;
    let home = home.home_dir();
    let _ = std::fs::remove_file(home.join(".config/autostart").join(PLUGIN_ENTRY));
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the app's binary: {e}"))?;
    let dir = autostart_dir(std::env::var_os("XDG_CONFIG_HOME"), home);
    apply(&dir, &exe, on).map_err(|e| e.to_string())
}

/// `$XDG_CONFIG_HOME/autostart`, or `~/.config/autostart` when it is unset, empty or relative
/// (the XDG Base Directory spec says to ignore a relative one).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn autostart_dir(xdg_config_home: Option<std::ffi::OsString>, home: &Path) -> PathBuf {
    xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".config"))
        .join("autostart")
}

#[cfg(not(target_os = "linux"))]
pub fn set<R: tauri::Runtime>(app: &tauri::AppHandle<R>, on: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let result = if on {
        launcher.enable()
    } else {
        launcher.disable()
    };
    result.map_err(|e| e.to_string())
}

/// Writes (or removes) the entry in `dir` for the binary `exe`.
fn apply(dir: &Path, exe: &Path, on: bool) -> std::io::Result<()> {
    let path = dir.join(ENTRY);
    if !on {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(dir)?;
    let tmp: PathBuf = path.with_extension("desktop.tmp");
    std::fs::write(&tmp, entry(exe))?;
    std::fs::rename(tmp, path)
}

fn entry(exe: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nVersion=1.0\nName=Clinic Messaging\n\
         Comment=Start Clinic Messaging on login\nExec={}\nIcon=clinic-desktop\nTerminal=false\n\
         StartupWMClass=clinic-desktop\nX-GNOME-Autostart-enabled=true\n",
        exec_quoted(exe)
    )
}

/// The path as the Desktop Entry spec wants it in `Exec=`: quoted, with `"`, `` ` ``, `$` and `\`
/// escaped (and `%` doubled, as field codes start with it).
fn exec_quoted(exe: &Path) -> String {
    let mut out = String::from('"');
    for c in exe.to_string_lossy().chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_starts_the_installed_binary_and_goes_away_when_turned_off() {
        let dir = std::env::temp_dir().join(format!("clinic-autostart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let autostart = dir.join("autostart");
        apply(&autostart, Path::new("/usr/bin/clinic-desktop"), true)
            .unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(autostart.join(ENTRY)).unwrap_or_default();
        assert!(
            text.contains("\nExec=\"/usr/bin/clinic-desktop\"\n"),
            "{text}"
        );
        assert!(text.starts_with("[Desktop Entry]\nType=Application\n"));
        apply(&autostart, Path::new("/usr/bin/clinic-desktop"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!autostart.join(ENTRY).exists());
        // Turning off what is already off is fine.
        apply(&autostart, Path::new("/usr/bin/clinic-desktop"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_entry_goes_under_xdg_config_home_when_it_is_set() {
        let home = Path::new("/home/pat");
        let xdg = std::env::temp_dir().join(format!("clinic-xdg-{}", std::process::id()));
        let dir = autostart_dir(Some(xdg.clone().into_os_string()), home);
        assert_eq!(dir, xdg.join("autostart"));
        apply(&dir, Path::new("/usr/bin/clinic-desktop"), true).unwrap_or_else(|e| panic!("{e}"));
        assert!(xdg.join("autostart").join(ENTRY).is_file());
        let _ = std::fs::remove_dir_all(&xdg);
        for unset in [None, Some("".into()), Some("relative/config".into())] {
            assert_eq!(
                autostart_dir(unset, home),
                Path::new("/home/pat/.config/autostart")
            );
        }
    }

    #[test]
    fn odd_paths_are_quoted_for_exec() {
        assert_eq!(
            exec_quoted(Path::new("/home/pat/my apps/100% \"clinic\"$x")),
            r#""/home/pat/my apps/100%% \"clinic\"\$x""#
        );
    }
}
