//! Accounts and sessions: login, logout, expiry, throttling, disabling.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{PASSWORD, TestServer, Ws};
use serde_json::json;
use std::time::Duration;

async fn try_login(
    server: &TestServer,
    username: &str,
    password: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = common::split(response).await;
    (status, body, retry)
}

#[tokio::test]
async fn login_logout_and_me() {
    let server = TestServer::start().await;
    let user = server.user("Alice", Role::Patient).await;
    assert_eq!(user.username, "alice");
    let (status, body, _) = try_login(&server, "ALICE", PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["role"], "PATIENT");
    assert!(body["expiresAt"].is_string());
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, me) = server.get(&token, "/api/auth/me").await;
    assert_eq!((status, me["id"].as_str()), (200, Some(user.id.as_str())));

    let (status, body, _) = try_login(&server, "alice", "wrong").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _, _) = try_login(&server, "nobody", "wrong").await;
    assert_eq!(status, 401);

    let (status, _) = server.post(&token, "/api/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    let (status, body) = server.get(&token, "/api/auth/me").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.login_max_failures = 3;
        c.login_base_lockout = Duration::from_secs(60);
    })
    .await;
    server.user("bob", Role::Patient).await;
    for _ in 0..3 {
        assert_eq!(try_login(&server, "bob", "guess").await.0, 401);
    }
    // Locked out, even with the right password.
    let (status, body, retry) = try_login(&server, "bob", PASSWORD).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
}

#[tokio::test]
async fn guessing_across_usernames_locks_the_address() {
    let server = TestServer::start_with(|c| {
        c.login_max_failures_per_ip = 3;
        c.login_base_lockout = Duration::from_secs(60);
    })
    .await;
    server.user("dave", Role::Patient).await;
    for name in ["x1", "x2", "x3"] {
        assert_eq!(try_login(&server, name, "guess").await.0, 401);
    }
    assert_eq!(try_login(&server, "dave", PASSWORD).await.0, 429);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let server = TestServer::start_with(|c| c.token_ttl = Duration::ZERO).await;
    server.user("carol", Role::Patient).await;
    let (status, body, _) = try_login(&server, "carol", PASSWORD).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap();
    let (status, _) = server.get(token, "/api/auth/me").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions_and_sockets() {
    let server =
        TestServer::start_with(|c| c.session_check_interval = Duration::from_millis(100)).await;
    let doc = server.account("doc", Role::Doctor).await;
    let (mut ws, _) = Ws::connect(&server, &doc.token).await;
    let dir = server.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || clinic_server::accounts::set_disabled(&dir, "doc", true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ws.closed().await, Some(1008));
    let (status, _) = server.get(&doc.token, "/api/auth/me").await;
    assert_eq!(status, 401);
    assert_eq!(try_login(&server, "doc", PASSWORD).await.0, 401);

    let dir = server.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || clinic_server::accounts::set_disabled(&dir, "doc", false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(try_login(&server, "doc", PASSWORD).await.0, 200);
}

/// A command run beside the server (`sessions revoke`, `user disable`, `reset-password`) has the
/// ended sessions' sockets closed at once, not at the server's next session check (an hour
/// here), so a stolen laptop's app stops hearing messages as IT ends its session.
#[tokio::test]
async fn sessions_ended_by_a_command_close_their_sockets_at_once() {
    let server =
        TestServer::start_with(|c| c.session_check_interval = Duration::from_secs(3600)).await;
    let doc = server.account("doc", Role::Doctor).await;
    let pat = server.account("pat", Role::Patient).await;
    let nurse = server.account("nurse", Role::Doctor).await;
    let (mut doc_ws, _) = Ws::connect(&server, &doc.token).await;
    let (mut pat_ws, _) = Ws::connect(&server, &pat.token).await;
    let (mut nurse_ws, _) = Ws::connect(&server, &nurse.token).await;
    let dir = server.dir.path().to_path_buf();
    let run = |command: fn(&std::path::Path)| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || command(&dir))
    };
    run(|dir| {
        clinic_server::sessions::revoke_user(dir, "doc").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(doc_ws.closed().await, Some(1008));
    run(|dir| clinic_server::accounts::set_disabled(dir, "pat", true).unwrap())
        .await
        .unwrap();
    assert_eq!(pat_ws.closed().await, Some(1008));
    run(|dir| {
        clinic_server::accounts::reset_password(dir, "nurse", "a-new-password").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(nurse_ws.closed().await, Some(1008));
}

#[tokio::test]
async fn graceful_shutdown_closes_sockets_and_keeps_data() {
    let server = TestServer::start().await;
    let pat = server.account("pat", Role::Patient).await;
    let doc = server.account("doc", Role::Doctor).await;
    let (mut ws, _) = Ws::connect(&server, &pat.token).await;
    ws.send(common::send_frame("c-1", &pat, &doc, "before shutdown"))
        .await;
    ws.expect("message:ack").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(ws.closed().await, Some(1001));
    let dir = stopping.await.unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let token = server.login("doc").await;
    let (_, page) = server
        .get(
            &token,
            &format!(
                "/api/chat/messages?patientId={}&doctorId={}",
                pat.id(),
                doc.id()
            ),
        )
        .await;
    assert_eq!(page[0]["content"], "before shutdown");
}
