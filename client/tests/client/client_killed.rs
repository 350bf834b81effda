//! The `clinic` process is killed with messages in its outbox; a new process with the same
//! profile delivers them, exactly once. Also covers the CLI contract: `send` exits 0 offline,
//! `sync` exits 3 when the server is unreachable, `history --json` reads the cache offline.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::LocalMessage;
use clinic_protocol::MessageStatus;
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    if !out.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_delivers_a_killed_one_s_outbox_exactly_once() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let (port, url) = (server.addr.port(), server.url());

    assert!(cli_login(profile.path(), &url, "alice", PASSWORD));
    drop(server);

    // Offline: every send is accepted into the outbox.
    let tag = prefix("killed");
    let expected = numbered(&tag, 60);
    for text in &expected {
        let out = run(clinic(profile.path()).args(["send", "--with", "dr.patel", text]));
        assert!(
            out.status.success(),
            "send must succeed with the server down"
        );
    }
    let out = run(clinic(profile.path()).args(["sync", "--timeout", "20"]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "sync reports an unreachable server"
    );
    // In words a person can act on, not the operating system's error.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!(
            "The clinic server cannot be reached: nothing is listening on port {port}."
        )) && !said.contains("os error"),
        "{said}"
    );

    // A follower killed while the server is down...
    let mut tail = spawn_tail(profile.path());
    tail.kill().unwrap();
    tail.wait().unwrap();

    // ...and one killed (SIGKILL) as soon as delivery has begun.
    let server = InProcessServer::start(data.path(), port).await;
    let conversation = clinic_protocol::ConversationKey::new(
        server_user_id(&url, "alice").await,
        server_user_id(&url, "dr.patel").await,
    );
    let mut tail = spawn_tail(profile.path());
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let stored = server_messages(&url, "dr.patel", &conversation).await;
        if stored.iter().any(|m| m.content.starts_with(&tag)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "tail never delivered");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tail.kill().unwrap();
    tail.wait().unwrap();

    // A new process finishes the job; a second sync changes nothing.
    for _ in 0..2 {
        let out = run(clinic(profile.path()).args(["sync"]));
        assert!(out.status.success());
    }
    let stored = server_messages(&url, "dr.patel", &conversation).await;
    let on_server = contents_with(stored.iter().map(|m| m.content.as_str()), &tag);
    assert_eq!(on_server, expected, "exactly once, in order");
    let out = run(clinic(profile.path()).args(["outbox", "--json"]));
    let outbox: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(outbox.is_empty(), "nothing queued or failed: {outbox:?}");

    // History comes from the cache, with no server.
    drop(server);
    let out = run(clinic(profile.path()).args(["history", "--with", "dr.patel", "--json"]));
    assert!(out.status.success());
    let history: Vec<LocalMessage> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(local_contents(&history, &tag), expected);
    assert!(
        history
            .iter()
            .filter(|m| m.content.starts_with(&tag))
            .all(|m| m.status >= MessageStatus::Sent)
    );
}

fn spawn_tail(profile: &Path) -> std::process::Child {
    clinic(profile)
        .args(["tail", "--with", "dr.patel", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn server_user_id(url: &str, username: &str) -> clinic_protocol::UserId {
    let api = common::api(url);
    api.login(username, PASSWORD).await.unwrap().user.id
}
