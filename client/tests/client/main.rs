//! The client's integration tests, as one test binary: one module per feature file, all sharing
//! `common` (the real server over HTTPS, in-process or as its binary, clients in temp profiles).
//! One binary links the client and the server once instead of once per file, and its tests run
//! in parallel threads, so every test owns its state: port 0, its own temp data folder and
//! profiles, unique keyring accounts, no environment variables or other process-wide settings
//! changed in the test process (set them on a child `Command` instead).
//!
//! A test that cannot share the process is a binary of its own next to this folder, with a
//! comment saying why: `tests/receipts.rs` (its frame count depends on how fast the client takes
//! in a burst, which other tests running beside it slow down).
//!
//! To add a test file: create `tests/client/NAME.rs` (opening with a `//!` line; `use
//! crate::common;` where it needs the harness) and add `mod NAME;` below, in order. Run one file
//! with `cargo test -p clinic-client --test client NAME::`.

mod common;

mod app_lock;
mod attachments;
mod cache_encryption;
mod care;
mod catch_up;
mod cli;
mod client_killed;
mod emergency;
mod history_pages;
mod hostile_answers;
mod hostile_server;
mod keyring;
mod login_errors;
mod logout_offline;
mod offline_outbox;
mod pinning;
mod private_files;
mod refusals;
mod retention;
mod search_offline;
mod seen;
mod send_queue;
mod server_crash;
mod silent_server;
mod unsend;
mod unsend_notices;
