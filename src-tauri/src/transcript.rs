//! The contract transcript's switch, for the desktop e2e only: with `CLINIC_E2E_TRANSCRIPT=1` in
//! the environment (set by tests/e2e/desktop.rs, never by a user), the webview starts with
//! `window.__CLINIC_TRANSCRIPT__ = []`, and ui/src/backend.ts appends every command, its answer
//! and every channel event there for the test to read out over WebDriver. Without the variable
//! nothing is recorded.

use tauri::Runtime;
use tauri::plugin::{Builder, TauriPlugin};

pub fn plugin<R: Runtime>() -> TauriPlugin<R> {
    let builder = Builder::new("e2e-transcript");
    if std::env::var_os("CLINIC_E2E_TRANSCRIPT").is_some_and(|v| v == "1") {
        builder
            .js_init_script("window.__CLINIC_TRANSCRIPT__ = [];")
            .build()
    } else {
        builder.build()
    }
}
