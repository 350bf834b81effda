//! One account's writes under a rate shared by REST and all of its sockets: long texts and
//! receipts of many ids cost more, REST past the rate is refused with `Retry-After` and writes
//! nothing, a socket is slowed down (never refused, its sends in order), an emergency is never
//! held back by its sender's other writes (it has a rate of its own), and another account
//! writes on.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_server::config::Rate;
use common::{Clinic, TestServer, Ws, clinic, send_frame};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn message(c: &Clinic, text: &str, emergency: bool) -> Value {
    json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": text,
           "isEmergency": emergency})
}

#[tokio::test]
async fn writes_have_a_rate_per_user_shared_by_rest_and_sockets() {
    // 34 at once, then one a second: two of the longest texts empty it. Two emergencies at once.
    let server = TestServer::start_with(|config| {
        config.write_rate = Rate::new(1.0, 34.0);
        config.emergency_send_rate = Rate::new(0.001, 2.0);
    })
    .await;
    let c = clinic(&server).await;
    let long = "x".repeat(16 * 1024);
    let (status, sent) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            message(&c, &long, false),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_str().unwrap().to_owned();
    let edit_path = format!("/api/chat/messages/{id}/edit");
    let edit = json!({"content": "y".repeat(16 * 1024), "baseVersion": 1});
    let (status, body) = server.post(&c.pat1.token, &edit_path, edit).await;
    assert_eq!(status, 200, "{body}");

    // The bucket is empty: a third long text is refused, says when to come back, and changes
    // nothing.
    let refused = server
        .http
        .post(server.url(&edit_path))
        .bearer_auth(&c.pat1.token)
        .json(&json!({"content": "z".repeat(16 * 1024), "baseVersion": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (15..=17).contains(&retry),
        "17 tokens at 1/s: Retry-After {retry}"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    // Receipts over REST draw on it too.
    let (status, body) = server
        .patch(
            &c.pat1.token,
            "/api/chat/messages",
            json!({"messageIds": [id.clone()]}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    let (_, versions) = server
        .get(&c.pat1.token, &format!("/api/chat/messages/{id}/versions"))
        .await;
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );

    // Another account writes on.
    let (status, body) = server
        .post(
            &c.pat2.token,
            "/api/chat/messages",
            json!({"patientId": c.pat2.id(), "doctorId": c.doc1.id(), "content": "hello"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // An emergency is not held back by its sender's other writes; a flood of them has its own
    // rate.
    for _ in 0..2 {
        let (status, body) = server
            .post(
                &c.pat1.token,
                "/api/chat/messages",
                message(&c, "chest pain", true),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            message(&c, "chest pain", true),
        )
        .await;
    assert_eq!(status, 429, "{body}");

    // The same account's socket shares the bucket, still about empty: its sends wait for it,
    // are not refused, and keep their order.
    let (mut ws, _) = Ws::connect(&server, &c.pat1.token).await;
    let started = Instant::now();
    for i in 0..3 {
        ws.send(send_frame(&format!("w-{i}"), &c.pat1, &c.doc1, "hello"))
            .await;
    }
    for i in 0..3 {
        let ack = ws.expect("message:ack").await;
        assert_eq!(ack["clientId"], format!("w-{i}"), "{ack}");
    }
    // At most a token or two came in since the edit; each send waits for one more: at 1/s, more
    // than a second for the three.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// A socket's long edits cost as REST's do: past the bucket the socket is slowed down, and the
/// edit is made, not refused.
#[tokio::test]
async fn a_socket_flooding_long_edits_is_slowed_down_not_refused() {
    let server = TestServer::start_with(|config| config.write_rate = Rate::new(17.0, 34.0)).await;
    let c = clinic(&server).await;
    let (status, sent) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            message(&c, "hi", false),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let (mut ws, _) = Ws::connect(&server, &c.pat1.token).await;
    let started = Instant::now();
    for version in 1..=4u32 {
        let text = format!("{version}{}", "x".repeat(16 * 1024 - 1));
        ws.send(
            json!({"type": "message:edit", "clientId": format!("e-{version}"),
                       "messageId": id, "content": text, "baseVersion": version}),
        )
        .await;
    }
    for version in 1..=4u32 {
        let (updated, skipped) = ws.expect_skipping("message:updated").await;
        assert!(!skipped.iter().any(|kind| kind == "error"), "{skipped:?}");
        assert_eq!(updated["clientId"], format!("e-{version}"), "{updated}");
    }
    // 1 (the send) + 4 x 17 = 69 tokens from a bucket of 34 at 17/s: about two seconds.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

/// A receipt or a notification mark costs by the ids it names: one of a thousand costs 101, so
/// an account cannot make the writer look up thousands of messages a second within its rate.
#[tokio::test]
async fn receipts_cost_by_the_ids_they_name() {
    let server = TestServer::start_with(|config| config.write_rate = Rate::new(0.001, 110.0)).await;
    let c = clinic(&server).await;
    let ids: Vec<String> = (0..1000).map(|i| format!("m-{i}")).collect();
    let (status, body) = server
        .patch(
            &c.doc1.token,
            "/api/chat/messages",
            json!({"messageIds": ids}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Nine tokens left: another thousand is refused (so is a mark of 500), one of a few goes.
    let (status, body) = server
        .patch(
            &c.doc1.token,
            "/api/chat/messages",
            json!({"messageIds": ids}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    let (status, body) = server
        .patch(
            &c.doc1.token,
            "/api/notifications",
            json!({"ids": ids[..500].to_vec()}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    let (status, body) = server
        .patch(&c.doc1.token, "/api/notifications", json!({"ids": ["n-1"]}))
        .await;
    assert_eq!(status, 204, "{body}");
}

/// A socket's `sync` draws on the account's rate of reads, shared with REST and its other
/// sockets: opening more sockets gets no more pages.
#[tokio::test]
async fn sync_frames_share_the_accounts_rate_of_reads() {
    let server = TestServer::start_with(|config| config.read_rate = Rate::new(1.0, 2.0)).await;
    let c = clinic(&server).await;
    let (mut first, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut second, _) = Ws::connect(&server, &c.pat1.token).await;
    let started = Instant::now();
    first.send(json!({"type": "sync", "since": 0})).await;
    second.send(json!({"type": "sync", "since": 0})).await;
    first.expect("sync:batch").await;
    second.expect("sync:batch").await;
    // The burst of two is spent: REST is refused, and a third page waits for its token.
    let (status, body) = server.get(&c.pat1.token, "/api/sync?since=0").await;
    assert_eq!(status, 429, "{body}");
    first.send(json!({"type": "sync", "since": 0})).await;
    first.expect("sync:batch").await;
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

/// A send waiting for its account's rate on a socket whose session is then ended writes nothing:
/// the socket closes at once, not when the wait is over.
#[tokio::test]
async fn a_send_waiting_for_the_rate_is_dropped_when_its_session_ends() {
    let server = TestServer::start_with(|config| config.write_rate = Rate::new(0.2, 1.0)).await;
    let c = clinic(&server).await;
    let (mut ws, _) = Ws::connect(&server, &c.pat1.token).await;
    ws.send(send_frame("first", &c.pat1, &c.doc1, "first"))
        .await;
    ws.expect("message:ack").await;
    // Five seconds short of a token: it waits.
    ws.send(send_frame("second", &c.pat1, &c.doc1, "second"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, _) = server
        .post(&c.pat1.token, "/api/auth/logout", json!({}))
        .await;
    assert_eq!(status, 204);
    ws.closed().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed only after the wait: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, history) = server
        .get(&c.doc1.token, &common::history_path(&c.pat1, &c.doc1))
        .await;
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(texts, ["first"], "the waiting send wrote nothing");
}
