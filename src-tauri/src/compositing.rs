//! WebKitGTK's accelerated compositing: off by default, decided before WebKit starts.
//!
//! Why: WebKitGTK composites with OpenGL, and without a GPU (virtual machines, many office PCs,
//! Xvfb) that GL is software, so every repaint, even the composer caret's blink twice a second,
//! is a full-window software composite: 40 % of a core with a conversation open and nothing
//! happening (docs/benchmarks.md, "The desktop app at rest"). The app draws flat text and
//! images; painting without compositing costs it nothing visible. WebKit reads
//! `WEBKIT_DISABLE_COMPOSITING_MODE` once, when the first web view is made, so it must be in the
//! environment before Tauri starts. Setting it in-process needs `unsafe` (`std::env::set_var`
//! is unsound with other threads around, and this workspace forbids unsafe code), so the app
//! starts itself again (`exec`, same process id) with the variable set.
//!
//! Overridable: a value already in the environment is left alone, and WebKit treats `0` as
//! "keep compositing", so `WEBKIT_DISABLE_COMPOSITING_MODE=0 clinic-desktop` brings GPU
//! compositing back on a machine where it is cheap.

/// The variable WebKitGTK reads to turn accelerated compositing off (any value but `0`).
pub const VARIABLE: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Whether to restart with compositing off: only when nobody chose a value.
fn needs_restart(current: Option<&std::ffi::OsStr>) -> bool {
    current.is_none()
}

/// Turns WebKit's compositing off for this process unless the environment already decides.
/// Call first thing in `main`: on success it does not return (the process image is replaced,
/// keeping its id, arguments and environment plus the variable); if the restart fails the app
/// carries on with compositing as WebKit chooses.
pub fn turn_off_unless_chosen() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        if !needs_restart(std::env::var_os(VARIABLE).as_deref()) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        // `exec` only returns on failure. Logging is not set up yet: stderr, like GTK's messages.
        let error = command.args(args).env(VARIABLE, "1").exec();
        eprintln!("could not restart with {VARIABLE}=1 ({error}); compositing stays on");
    }
}

#[cfg(test)]
mod tests {
    use super::needs_restart;
    use std::ffi::OsStr;

    #[test]
    fn a_value_already_set_is_respected() {
        assert!(needs_restart(None));
        assert!(!needs_restart(Some(OsStr::new("0"))));
        assert!(!needs_restart(Some(OsStr::new("1"))));
        assert!(!needs_restart(Some(OsStr::new(""))));
    }
}
