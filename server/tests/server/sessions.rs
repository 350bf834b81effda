//! Sessions against the real server binary: `clinic-server sessions list` and `revoke` (by user
//! and by session id) while the server runs, the live sockets of a revoked session closing
//! within seconds, and the idle and absolute expiry.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Account, WAIT, http_client, login_at, tls_config, ws_at};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn accounts(dir: &Path) {
    common::accounts(
        dir,
        &[
            ("pat", Role::Patient),
            ("doc", Role::Doctor),
            ("nurse", Role::Doctor),
        ],
    );
}

fn sessions(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir)
        .arg("sessions")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sessions {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `GET /api/auth/me` with the account's token: the status.
async fn me(dir: &Path, addr: &str, account: &Account) -> u16 {
    http_client(&tls_config(dir))
        .get(format!("https://{addr}/api/auth/me"))
        .bearer_auth(&account.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A signed-in WebSocket of `account`.
async fn live(dir: &Path, addr: &str, account: &Account) -> common::Ws {
    let mut ws = ws_at(dir, addr).await;
    ws.send(json!({"type": "authenticate", "token": account.token}))
        .await;
    ws.expect("authenticated").await;
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_sessions_end_and_their_sockets_close_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path());
    let (mut child, addr) = common::spawn_server(dir.path(), &["--session-check-secs", "1"]);
    let pat = login_at(dir.path(), &addr, "pat").await;
    let doc_desk = login_at(dir.path(), &addr, "doc").await;
    let doc_laptop = login_at(dir.path(), &addr, "doc").await;
    let nurse = login_at(dir.path(), &addr, "nurse").await;

    let listed = sessions(dir.path(), &["list"]);
    assert_eq!(
        listed.lines().count(),
        5,
        "a header and four sessions: {listed}"
    );
    let of_doc = sessions(dir.path(), &["list", "--user", "doc"]);
    let ids: Vec<&str> = of_doc
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{of_doc}");
    // Ids are a short prefix of the token's hash, never the token.
    for account in [&doc_desk, &doc_laptop] {
        assert!(!of_doc.contains(&account.token));
    }

    // Revoke one session by id: that device is signed out, the other keeps working.
    let mut desk_ws = live(dir.path(), &addr, &doc_desk).await;
    let mut laptop_ws = live(dir.path(), &addr, &doc_laptop).await;
    let hash = hex_sha256(&doc_desk.token);
    let id = ids.iter().find(|id| hash.starts_with(*id)).unwrap();
    sessions(dir.path(), &["revoke", "--session", id]);
    desk_ws.closed().await;
    assert_eq!(me(dir.path(), &addr, &doc_desk).await, 401);
    assert_eq!(me(dir.path(), &addr, &doc_laptop).await, 200);
    laptop_ws.send(json!({"type": "sync", "since": 0})).await;
    laptop_ws.expect("sync:batch").await;

    // Revoke every session of a user: their sockets close, other users are untouched.
    let mut pat_ws = live(dir.path(), &addr, &pat).await;
    let mut nurse_ws = live(dir.path(), &addr, &nurse).await;
    let out = sessions(dir.path(), &["revoke", "--user", "pat"]);
    assert!(out.contains("ended 1 sessions of pat"), "{out}");
    pat_ws.closed().await;
    assert_eq!(me(dir.path(), &addr, &pat).await, 401);
    nurse_ws.send(json!({"type": "sync", "since": 0})).await;
    nurse_ws.expect("sync:batch").await;
    assert!(!sessions(dir.path(), &["list"]).contains("\tpat\t"));
    child.kill().unwrap();
    child.wait().unwrap();
}

fn hex_sha256(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_at_their_absolute_end() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path());
    let (mut child, addr) = common::spawn_server(
        dir.path(),
        &[
            "--session-idle-secs",
            "2",
            "--session-max-secs",
            "12",
            "--session-check-secs",
            "0.5",
        ],
    );
    // Used every half second, a session outlives its idle expiry...
    let busy = login_at(dir.path(), &addr, "doc").await;
    let idle = login_at(dir.path(), &addr, "nurse").await;
    let connected = login_at(dir.path(), &addr, "pat").await;
    let mut connected_ws = live(dir.path(), &addr, &connected).await;
    for _ in 0..8 {
        assert_eq!(me(dir.path(), &addr, &busy).await, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // ...one left alone does not, and one with a live WebSocket counts as used.
    assert_eq!(me(dir.path(), &addr, &idle).await, 401);
    assert_eq!(me(dir.path(), &addr, &connected).await, 200);

    // The absolute end comes however busy the session is, and closes its socket.
    let deadline = tokio::time::Instant::now() + WAIT;
    while me(dir.path(), &addr, &busy).await == 200 {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    connected_ws.closed().await;
    child.kill().unwrap();
    child.wait().unwrap();
}
