//! The alarm's integration tests, as one test binary: one module per feature file, all sharing
//! `common` (the `clinic-alarm` binary run with a private HOME, ALSA config and D-Bus). Its tests
//! run in parallel threads, so each one keeps its state in its own child processes and temp
//! folders, never in the test process's environment.
//!
//! A test that cannot share the process is a binary of its own next to this folder, with a
//! comment saying why: `tests/sound.rs` (it counts what plays in a fraction of a second of wall
//! time, which the other tests' processes slow down).
//!
//! To add a test file: create `tests/alarm/NAME.rs` (opening with a `//!` line; `use
//! crate::common;` where it needs the harness) and add `mod NAME;` below, in order. Run one file
//! with `cargo test -p clinic-alarm --test alarm NAME::`.

mod common;

mod graceful;
mod notify;
