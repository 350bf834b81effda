//! `GET /metrics` scraped while real traffic flows: a failed login, sockets, messages over REST
//! and WebSocket, an emergency raised and acknowledged, a socket too slow to read, and the search
//! index taking in messages and being rebuilt. One test
//! only: the recorder is process-wide, so nothing else may count in this binary meanwhile.
//!
//! Its own test binary for that reason (the server's other integration tests are one binary,
//! `tests/server/main.rs`, whose traffic would move these counters); it shares their harness.
#![allow(clippy::unwrap_used)]

#[path = "server/common/mod.rs"]
mod common;

use clinic_protocol::Role;
use common::{TestServer, WAIT, Ws};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Every sample of the Prometheus text, keyed by name and labels as written.
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').unwrap();
            (key.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn get(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

/// Scrapes until `key` satisfies `ok` (gauges follow sockets closing in the background).
async fn until(server: &TestServer, key: &str, ok: impl Fn(f64) -> bool) -> HashMap<String, f64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let samples = scrape(server).await;
        if ok(get(&samples, key)) {
            return samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} stuck at {}",
            get(&samples, key)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_move_with_real_traffic() {
    // The flood below is one account's: its rate of writes is not what this test is about.
    let server = TestServer::start_with(|c| {
        c.write_rate = clinic_server::config::Rate::new(1e6, 1e6);
    })
    .await;
    let doctor = server.account("dr.metrics", Role::Doctor).await;
    let patient = server.account("pat.metrics", Role::Patient).await;
    let before = scrape(&server).await;
    assert_eq!(get(&before, "clinic_sockets_connected"), 0.0);
    assert_eq!(get(&before, "clinic_emergencies_open"), 0.0);

    // A wrong password is a login failure.
    let refused = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "dr.metrics", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Two sockets, three messages: two over REST, one over the doctor's socket.
    let (mut doctor_ws, _) = Ws::connect(&server, &doctor.token).await;
    let (mut patient_ws, _) = Ws::connect(&server, &patient.token).await;
    let message = |content: &str| json!({"patientId": patient.id(), "doctorId": doctor.id(), "content": content});
    for content in ["good morning", "the new dose works"] {
        let (status, _) = server
            .post(&patient.token, "/api/chat/messages", message(content))
            .await;
        assert_eq!(status, 201);
    }
    doctor_ws
        .send(json!({"type": "message:send", "clientId": "m-1",
                     "patientId": patient.id(), "doctorId": doctor.id(), "content": "glad to hear"}))
        .await;
    doctor_ws.expect("message:ack").await;
    let during = until(&server, "clinic_sockets_connected", |v| v == 2.0).await;
    assert_eq!(
        get(&during, "clinic_login_failures_total") - get(&before, "clinic_login_failures_total"),
        1.0
    );
    assert_eq!(
        get(&during, "clinic_messages_total") - get(&before, "clinic_messages_total"),
        3.0
    );
    // Every write went through a group commit: the histograms counted them.
    assert!(
        get(&during, "clinic_commit_seconds_count")
            >= get(&before, "clinic_commit_seconds_count") + 3.0
    );
    assert!(
        get(&during, "clinic_commit_batch_size_count")
            >= get(&before, "clinic_commit_batch_size_count") + 3.0
    );
    assert!(
        get(&during, "clinic_commit_batch_size_sum")
            >= get(&during, "clinic_commit_batch_size_count")
    );
    assert!(get(&during, "clinic_commit_seconds_bucket{le=\"+Inf\"}") >= 3.0);

    // An emergency: open and unacknowledged, then acknowledged.
    let (status, sent) = server
        .post(
            &patient.token,
            "/api/chat/messages",
            json!({
            "patientId": patient.id(), "doctorId": doctor.id(),
            "content": "chest pain", "isEmergency": true}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let alert = doctor_ws.expect("emergency:alert").await;
    let id = alert["emergency"]["id"].as_str().unwrap().to_owned();
    let raised = scrape(&server).await;
    assert_eq!(get(&raised, "clinic_emergencies_open"), 1.0);
    assert_eq!(get(&raised, "clinic_emergencies_unacknowledged"), 1.0);
    let (status, _) = server
        .post(
            &doctor.token,
            &format!("/api/emergencies/{id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    // Every alert queued was written out (a count that leaked would make each emergency's
    // bookkeeping wait its longest, `ALERTS_FIRST`).
    let written = until(&server, "clinic_emergency_alerts_unwritten", |v| v == 0.0).await;
    assert!(written.contains_key("clinic_emergency_alerts_unwritten"));
    let taken = scrape(&server).await;
    assert_eq!(get(&taken, "clinic_emergencies_open"), 1.0);
    assert_eq!(get(&taken, "clinic_emergencies_unacknowledged"), 0.0);
    assert_eq!(get(&taken, "clinic_emergency_ack_seconds_count"), 1.0);

    // A socket that never reads: large messages to it fill the kernel's buffers, then its queue,
    // and the server closes it rather than grow. (The doctor's socket goes first: it would hear
    // its own sends too.)
    drop(doctor_ws);
    until(&server, "clinic_sockets_connected", |v| v == 1.0).await;
    let drops = "clinic_outbound_queue_drops_total";
    let big = "x".repeat(clinic_protocol::limits::MAX_CONTENT_BYTES - 64);
    let mut flood = 0;
    while get(&scrape(&server).await, drops) == get(&before, drops) {
        assert!(
            flood < 5_000,
            "no drop after {flood} messages to a socket that never reads"
        );
        for _ in 0..50 {
            let (status, _) = server
                .post(&doctor.token, "/api/chat/messages", message(&big))
                .await;
            assert_eq!(status, 201);
            flood += 1;
        }
    }
    until(&server, "clinic_sockets_connected", |v| v == 0.0).await;
    assert_eq!(patient_ws.closed().await, Some(1013), "closed as too slow");

    // The search index takes in every message sent; it is not failing.
    let indexed = until(&server, "clinic_search_index_behind", |v| v == 0.0).await;
    for gauge in ["clinic_search_index_behind", "clinic_search_index_failing"] {
        assert!(indexed.contains_key(gauge), "{gauge} is shown");
    }
    assert_eq!(get(&indexed, "clinic_search_index_failing"), 0.0);
    // Without its file on a large store, it is rebuilt while the server serves: the gauge says
    // how much is left, and comes down to nothing.
    let dir = server.stop().await;
    let copies = 200_000;
    clinic_server::testing::copy_newest_message(dir.path(), copies).unwrap();
    clinic_server::testing::remove_search_index(dir.path()).unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let rebuilding = scrape(&server).await;
    let left = get(&rebuilding, "clinic_search_index_behind");
    assert!(left > 0.0 && left < (2 * copies) as f64, "{left}");
    assert_eq!(get(&rebuilding, "clinic_search_index_failing"), 0.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while get(&scrape(&server).await, "clinic_search_index_behind") > 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "never rebuilt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}
