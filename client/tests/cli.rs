//! The `clinic` CLI end to end: login (bad and good password), whoami, tail following a
//! conversation live, conversations, logout.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_follows_and_logs_out() {
    let data = demo_data_dir();
    let (profile, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();

    assert!(!cli_login(profile.path(), &url, "alice", "wrong"));
    let out = clinic(profile.path()).arg("whoami").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "no session yet");
    assert!(cli_login(profile.path(), &url, "alice", PASSWORD));
    let out = clinic(profile.path()).arg("whoami").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("alice"));

    let mut tail = clinic(profile.path())
        .args(["tail", "--with", "dr.patel", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    // Wait for the follower to be online before the peer writes.
    loop {
        let line = lines.next().unwrap().unwrap();
        if line.contains(r#""state":"online""#) {
            break;
        }
    }
    let patel = common::login(&url, patel_dir.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    let tag = prefix("tail");
    patel.send(&conversation, &tag, false).unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        for line in lines {
            let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if event["type"] == "messageUpserted" && event["message"]["content"] == tag.as_str() {
                return true;
            }
        }
        false
    });
    assert!(tokio::time::timeout(PATIENCE, seen).await.unwrap().unwrap());
    tail.kill().unwrap();
    tail.wait().unwrap();
    patel.disconnect().await;

    let out = clinic(profile.path())
        .args(["conversations", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["otherParty"]["username"] == "dr.patel")
    );

    assert!(
        clinic(profile.path())
            .arg("logout")
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        clinic(profile.path()).arg("sync").status().unwrap().code(),
        Some(4)
    );
    assert!(
        !profile
            .path()
            .join("credentials")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().path().extension().is_some_and(|x| x == "token") })
    );
}
