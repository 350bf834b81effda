//! Harness for the workspace end-to-end tests: runs the built `clinic-server`, `clinic` and
//! `clinic-desktop` binaries as real processes, and drives the app window over WebDriver
//! (tauri-driver + WebKitWebDriver) inside the headless session of `scripts/headless`.

pub mod app;
pub mod contract;
pub mod procs;
pub mod proxy;

pub use app::{
    App, Driver, NotificationLog, choose_in_file_dialog, move_pointer_over_window, publish,
    set_window_mapped, start_app,
};
pub use procs::{Cli, Server, binary};
pub use proxy::Proxy;
