//! Connection-level abuse against the real server binary (loopback only, bounded in count and
//! time): 1,100 idle connections under the usual 1024 open-file limit, slowloris half-sent
//! headers and silent TLS sockets cannot block a new login, a WebSocket or a REST emergency;
//! the server's memory is read from /proc. Timers close silent, half-sent and idle connections;
//! one address cannot hold more than its share, nor one account.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{TestServer, WAIT, Ws, http_client, tls_config};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE_CONNECTIONS: usize = 1_100;

fn accounts(dir: &Path) {
    common::accounts(dir, &[("pat", Role::Patient), ("doc", Role::Doctor)]);
}

/// The server binary with the open-file limit a service usually gets (1024).
fn spawn_limited(dir: &Path, extra: &[&str]) -> (common::Spawned, String) {
    let mut child = common::Spawned(
        Command::new("prlimit")
            .arg("--nofile=1024:1024")
            .arg(env!("CARGO_BIN_EXE_clinic-server"))
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let addr = common::listening_addr(&mut child);
    (child, addr)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A TLS connection that sends the start of a request head and then nothing more.
async fn half_sent_header(
    addr: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut stream = common::tls_stream(addr, tls).await;
    stream
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: clinic\r\nX-Slow: ")
        .await
        .unwrap();
    stream.flush().await.unwrap();
    stream
}

/// `patient` raises an emergency to `doctor` over REST (at `url`), which must get through.
async fn rest_emergency(
    http: &reqwest::Client,
    url: &str,
    patient: &common::Account,
    doctor: &common::Account,
) {
    let response = tokio::time::timeout(
        WAIT,
        http.post(url)
            .bearer_auth(&patient.token)
            .json(&json!({
                "patientId": patient.id(), "doctorId": doctor.id(),
                "content": "chest pain", "isEmergency": true,
            }))
            .send(),
    )
    .await
    .expect("a REST emergency gets through")
    .unwrap();
    assert_eq!(response.status(), 201);
}

/// Login, a WebSocket and a REST emergency all work.
async fn the_clinic_still_works(dir: &Path, addr: &str) {
    let patient = tokio::time::timeout(WAIT, common::login_at(dir, addr, "pat"))
        .await
        .expect("a new login gets through");
    let doctor = common::login_at(dir, addr, "doc").await;
    let mut ws = tokio::time::timeout(WAIT, common::ws_at(dir, addr))
        .await
        .expect("a new WebSocket gets through");
    ws.send(json!({"type": "authenticate", "token": doctor.token}))
        .await;
    ws.expect("authenticated").await;
    rest_emergency(
        &http_client(&tls_config(dir)),
        &format!("https://{addr}/api/chat/messages"),
        &patient,
        &doctor,
    )
    .await;
    let alert = ws.expect("emergency:alert").await;
    assert_eq!(alert["type"], "emergency:alert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_open_connections_cannot_lock_the_clinic_out() {
    // This test holds about 1,200 sockets itself; raise its own soft limit (bounded by the hard
    // one) so that it, not the server, is never the one that runs out.
    let limit = rlimit::increase_nofile_limit(4096).unwrap();
    assert!(
        limit > 1_300,
        "the test needs ~1,300 file descriptors, has {limit}"
    );
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path());
    // Timers far longer than the test: only the connection cap can keep the server usable.
    let (mut child, addr) = spawn_limited(
        dir.path(),
        &[
            "--max-connections-per-address",
            "0",
            "--tls-handshake-timeout-secs",
            "600",
            "--header-read-timeout-secs",
            "600",
            "--idle-timeout-secs",
            "600",
        ],
    );
    let tls = tls_config(dir.path());
    the_clinic_still_works(dir.path(), &addr).await;
    let before = rss_kib(child.id());

    let mut held = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(half_sent_header(&addr, &tls).await);
    }
    the_clinic_still_works(dir.path(), &addr).await;
    let after = rss_kib(child.id());
    println!(
        "server RSS {before} KiB before, {after} KiB with {IDLE_CONNECTIONS} idle and 20 \
         slowloris connections open"
    );
    assert!(
        after < before + 64 * 1024,
        "server memory grew by {} KiB",
        after - before
    );
    // Many of the idle ones were shed to make room: the server holds fewer than we opened.
    let mut closed = 0;
    for socket in &mut held {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), socket.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert!(closed > 0, "no idle connection was shed");
    drop((held, slow));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits until the peer closes `socket` (EOF or reset); panics after `WAIT`.
async fn closed_by_server(mut socket: impl AsyncReadExt + Unpin, what: &str) {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => panic!("{what} was not closed"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_and_idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path());
    let (mut child, addr) = common::spawn_server(
        dir.path(),
        &[
            "--tls-handshake-timeout-secs",
            "1",
            "--header-read-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "2",
        ],
    );
    let tls = tls_config(dir.path());
    // No TLS handshake at all.
    let silent = TcpStream::connect(&addr).await.unwrap();
    // A handshake and half a request head, trickled.
    let slowloris = half_sent_header(&addr, &tls).await;
    // A keep-alive connection that made one request and went quiet.
    let mut idle = common::tls_stream(&addr, &tls).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: clinic\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));

    closed_by_server(silent, "a connection without a TLS handshake").await;
    closed_by_server(slowloris, "a half-sent request head").await;
    closed_by_server(idle, "an idle keep-alive connection").await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn one_address_holds_only_its_share() {
    let server = TestServer::start_with(|config| config.connections.per_address = 4).await;
    let c = common::clinic(&server).await;
    // Four signed-in sockets from 127.0.0.1 fill its share...
    let mut sockets = Vec::new();
    for account in [&c.doc1, &c.doc2, &c.pat1, &c.pat2] {
        sockets.push(Ws::connect(&server, &account.token).await.0);
    }
    // ...so a fifth connection from the same address is turned away (closed, no answer),
    let refused = TcpStream::connect(server.addr).await.unwrap();
    closed_by_server(refused, "a connection over the address's share").await;
    // while an unauthenticated one would have been shed instead: close one, then a stranger's
    // silent connection is made room for by the next real request.
    drop(sockets.pop());
    let stranger = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body: Value = http_client(&server.tls)
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    closed_by_server(
        stranger,
        "the stranger's connection, shed for a real request",
    )
    .await;
}

#[tokio::test]
async fn one_account_cannot_take_every_connection() {
    let server = TestServer::start_with(|config| {
        config.connections.max = 24;
        config.connections.per_address = 0;
    })
    .await;
    let c = common::clinic(&server).await;
    // A patient opens socket after socket until the house is full and beyond.
    let mut hers = Vec::new();
    for _ in 0..30 {
        hers.push(Ws::connect(&server, &c.pat1.token).await.0);
    }
    // A doctor still gets in, and hears an emergency raised over REST.
    let (mut doctor, _) = tokio::time::timeout(WAIT, Ws::connect(&server, &c.doc1.token))
        .await
        .expect("the doctor's socket gets through");
    rest_emergency(
        &http_client(&server.tls),
        &server.url("/api/chat/messages"),
        &c.pat2,
        &c.doc1,
    )
    .await;
    doctor.expect("emergency:alert").await;
    // Hers past the first 16 gave way ("server busy", try again later); the first ones did not.
    let mut first = hers.remove(0);
    let mut frame = json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id()});
    frame["type"] = json!("join:chat");
    first.send(frame).await;
    first.expect("chat:joined").await;
    assert_eq!(
        hers[15].closed().await,
        Some(1013),
        "the oldest of hers past her first 16 was shed"
    );
}
