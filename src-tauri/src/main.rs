//! Entry point of the desktop app: everything lives in the library so tests can reach it.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before anything starts a thread or WebKit: may restart the process (see compositing.rs).
    clinic_desktop::compositing::turn_off_unless_chosen();
    // One rustls crypto provider (ring) for the whole process, before anything opens TLS.
    clinic_client::tls::install_crypto_provider();
    clinic_desktop::run();
}
