//! `--log-format json` (or CLINIC_LOG_FORMAT=json): every log line is one JSON object that a log
//! collector can read, with the level, the target and the message at the top level. A start
//! also says how long its check of the database took.
#![allow(clippy::unwrap_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--init", "--listen", "127.0.0.1:0"])
        .env("CLINIC_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let (mut checked, mut serving) = (None, None);
    // The listener is bound (`serving on`) before the database is checked; requests wait.
    while checked.is_none() || serving.is_none() {
        let line = lines.next().expect("a log line").unwrap();
        let entry: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            entry["timestamp"].is_string() && entry["level"].is_string(),
            "{line}"
        );
        let message = entry["message"].as_str().unwrap_or_default();
        if message.starts_with("checked the database") {
            checked = Some(entry.clone());
        }
        if message.starts_with("serving on") {
            serving = Some(entry);
        }
    }
    let (checked, serving) = (checked.unwrap(), serving.unwrap());
    assert!(checked["ms"].is_u64(), "how long the check took: {checked}");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["data_dir"], dir.path().display().to_string());
    server.kill().unwrap();
    server.wait().unwrap();
}
