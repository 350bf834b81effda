//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points
//! the cargo-fuzz targets use, so every `cargo test` runs it: no input found by fuzzing (or
//! written by hand) may panic a decoder or get a 500 from the server. Crash reproducers saved by
//! a fuzz run (`fuzz/artifacts/<target>/`) are replayed too once they are checked in.
#![allow(clippy::unwrap_used)]

use clinic_server::fuzzing::{self, Harness};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "artifacts"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, run: impl Fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data)));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
}

#[test]
fn websocket_frames() {
    replay("ws_frame", fuzzing::ws_frame);
}

#[test]
fn upload_sniffer() {
    replay("sniff", fuzzing::sniff);
}

#[test]
fn rest_bodies_and_multipart_uploads() {
    let harness = Harness::new();
    replay("rest_body", |data| {
        let _ = harness.rest_body(data);
    });
    replay("multipart", |data| {
        let _ = harness.multipart(data);
    });
    // The harness reaches the handlers, not only the parsers: well-formed seeds succeed.
    let seed = |target: &str, name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus")
                .join(target)
                .join(name),
        )
        .unwrap()
    };
    // (The replay above already sent both: repeats are answered with what was stored.)
    assert!(harness.rest_body(&seed("rest_body", "send")).is_success());
    assert!(harness.multipart(&seed("multipart", "upload")).is_success());
}
