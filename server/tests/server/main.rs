//! The server's integration tests, as one test binary: one module per feature file, all sharing
//! `common` (the real server on 127.0.0.1 port 0, real WebSocket and HTTPS clients, throwaway
//! data folders). One binary links the server once instead of once per file, and its tests run
//! in parallel threads, so every test owns its state: port 0, its own temp folders and accounts,
//! no environment variables or other process-wide settings changed in the test process (set
//! them on a child `Command` instead).
//!
//! A test that needs the process to itself (it reads process-wide state that the others would
//! move, such as the metrics recorder) is a binary of its own next to this folder, with a comment
//! saying why: `tests/metrics.rs`.
//!
//! To add a test file: create `tests/server/NAME.rs` (opening with a `//!` line; `use
//! crate::common;` where it needs the harness) and add `mod NAME;` below, in order. Run one file
//! with `cargo test -p clinic-server --test server NAME::`.

mod common;

mod abuse_bodies;
mod abuse_care;
mod abuse_emergencies;
mod abuse_frames;
mod abuse_logins;
mod abuse_private_files;
mod abuse_refusals;
mod abuse_storage;
mod abuse_uploads;
mod abuse_writes;
mod audit;
mod auth;
mod availability;
mod care;
mod cli;
mod connections;
mod counts;
mod crash;
mod crash_log;
mod download;
mod emergencies;
mod emergency_alarm;
mod emergency_alerts;
mod emergency_history;
mod emergency_received;
mod fuzz_corpus;
mod logs;
mod migration;
mod model;
mod records_unsend;
mod rest;
mod restore;
mod retention;
mod search;
mod sessions;
mod systemd;
mod tls;
mod uploads;
mod written_at;
mod ws_chat;
mod ws_refusals;
