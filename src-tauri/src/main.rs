//! Entry point of the desktop app: everything lives in the library so tests can reach it.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // One rustls crypto provider (ring) for the whole process, before anything opens TLS.
    clinic_client::tls::install_crypto_provider();
    clinic_desktop::run();
}
