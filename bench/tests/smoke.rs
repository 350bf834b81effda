//! The load generator against the debug `clinic-server` over TLS, tiny sizes: the benchmark
//! tools keep working (and keep speaking TLS, as clinics run the server) between benchmark runs.

use std::path::PathBuf;
use std::process::Command;

/// The workspace's `clinic-server`, built beside this test's binaries (`cargo test --workspace`).
fn server_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let bin = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("clinic-server");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first",
        bin.display()
    );
    bin
}

/// Runs one scenario unpinned, results to stdout only; returns its JSON line.
fn scenario(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-bench"))
        .arg("--server-bin")
        .arg(server_binary())
        .args(["--server-cpu", "-1", "--gen-cpu", "-1", "--out", "-"])
        .args(args)
        .output()
        .expect("running clinic-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "clinic-bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON result in:\n{stdout}"));
    serde_json::from_str(line).expect("a JSON result line")
}

#[test]
fn steady_chat_over_tls_delivers_every_message() {
    let r = scenario(&["s2", "--users", "20", "--rate", "20", "--secs", "2"]);
    assert_eq!(r["tls"], true, "{r}");
    let result = &r["result"];
    assert_eq!(result["errors"], 0, "{r}");
    assert!(result["sent"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(result["received"], result["sent"], "{r}");
    assert_eq!(result["acked"], result["sent"], "{r}");
}

/// `--receipts`: every socket reports what it received as delivered, as the desktop app does,
/// and the server takes the receipts (it confirms them to the conversations, refuses none).
#[test]
fn the_load_sends_delivered_receipts_the_server_confirms() {
    let step = reporting(&["--receipts"]);
    assert!(step["receipts"].as_u64().unwrap_or(0) > 0, "{step}");
    assert!(
        step["delivered_confirmed"].as_u64().unwrap_or(0) > 0,
        "{step}"
    );
}

/// `--reads`: every socket marks what it receives read at once, as the desktop app does with
/// the conversation open, and the server confirms the marks to both sides. (With `--receipts`
/// too, the delivered receipts then change nothing: their messages are read already.)
#[test]
fn the_load_marks_messages_read_and_the_server_confirms() {
    let step = reporting(&["--reads"]);
    assert!(step["reads"].as_u64().unwrap_or(0) > 0, "{step}");
    assert!(step["read_confirmed"].as_u64().unwrap_or(0) > 0, "{step}");
}

/// `--edits 4`: of every four messages sent, the sender edits one once acked, as the desktop
/// app's edit, and the server takes each edit (answers the asker and tells the other side)
/// and refuses none.
#[test]
fn the_load_edits_messages_and_the_server_takes_the_edits() {
    let step = reporting(&["--edits", "4"]);
    let edits = step["edits"].as_u64().unwrap_or(0);
    let acked = step["acked"].as_u64().unwrap_or(0);
    assert!(edits > 0 && edits <= acked / 4, "{step}");
    // The asker's answer and the other participant's news, both read by the generator.
    assert!(step["updated"].as_u64().unwrap_or(0) >= edits, "{step}");
}

/// A small `cost` run with `flags` (`--receipts`, `--reads` or `--edits N`): its one step,
/// checked to say which it sent and to have no errors.
fn reporting(flags: &[&str]) -> serde_json::Value {
    let mut args = vec!["cost", "--users", "20", "--rates", "40", "--step-secs", "3"];
    args.extend_from_slice(flags);
    let r = scenario(&args);
    assert_eq!(r["receipts"], flags.contains(&"--receipts"), "{r}");
    assert_eq!(r["reads"], flags.contains(&"--reads"), "{r}");
    let edits = flags.iter().position(|f| *f == "--edits");
    let edit_every = edits.map(|i| serde_json::json!(flags[i + 1].parse::<u32>().unwrap_or(0)));
    assert_eq!(r.get("edit_every"), edit_every.as_ref(), "{r}");
    let step = r["steps"][0].clone();
    assert_eq!(step["errors"], 0, "{r}");
    step
}

/// `--prefill`: a database with read history before the server starts; the server serves it
/// and the step runs as on an empty one.
#[test]
fn cost_runs_on_a_prefilled_database() {
    let r = scenario(&[
        "cost",
        "--reads",
        "--prefill",
        "300",
        "--users",
        "20",
        "--rates",
        "40",
        "--step-secs",
        "2",
    ]);
    assert_eq!(r["prefill"], 300, "{r}");
    let step = &r["steps"][0];
    assert_eq!(step["errors"], 0, "{r}");
    assert!(step["acked"].as_u64().unwrap_or(0) > 0, "{r}");
    assert!(step["read_confirmed"].as_u64().unwrap_or(0) > 0, "{r}");
}

#[test]
fn reconnect_storm_over_tls_loses_nothing() {
    let r = scenario(&[
        "s5",
        "--clients",
        "20",
        "--doctors",
        "2",
        "--per-client",
        "2",
    ]);
    assert_eq!(r["tls"], true, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["doubled"], 0, "{r}");
    assert_eq!(r["reconnect_failures"], 0, "{r}");
    assert_eq!(r["caught_up_clients"], 20, "{r}");
}

#[test]
fn plain_is_still_available_for_old_comparisons() {
    let r = scenario(&["--plain", "s6", "--messages", "120", "--latest", "3"]);
    assert_eq!(r["tls"], false, "{r}");
    assert_eq!(r["distinct_seen"], 120, "{r}");
    assert_eq!(r["out_of_order"], 0, "{r}");
}
