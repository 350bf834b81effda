//! WebSocket refusals: other people's conversations, typing leaks, bad frames, oversized frames,
//! rate limits, sockets that never authenticate, tokens after logout.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, Ws, clinic, key, send_frame};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_patient_cannot_use_another_patients_conversation() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat1, _) = Ws::connect(&server, &c.pat1.token).await;
    pat1.send(send_frame("c-1", &c.pat1, &c.doc1, "private"))
        .await;
    let sent = pat1.expect("message:ack").await["message"].clone();

    let (mut pat2, _) = Ws::connect(&server, &c.pat2.token).await;
    let mut join = key(&c.pat1, &c.doc1);
    join["type"] = json!("join:chat");
    pat2.send(join).await;
    assert_eq!(pat2.expect("error").await["code"], "forbidden");

    pat2.send(send_frame("c-x", &c.pat1, &c.doc1, "intrusion"))
        .await;
    let refused = pat2.expect("error").await;
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(refused["clientId"], "c-x");

    pat2.send(json!({"type": "message:read", "messageId": sent["id"], "patientId": c.pat1.id(), "doctorId": c.doc1.id()})).await;
    assert_eq!(pat2.expect("error").await["code"], "forbidden");

    // Receipts for messages not addressed to the caller change nothing and tell no one.
    pat2.send(json!({"type": "message:delivered", "messageIds": [sent["id"]]}))
        .await;
    pat2.send(json!({"type": "sync", "since": 0})).await;
    let batch = pat2.expect("sync:batch").await;
    assert_eq!(batch["messages"], json!([]));

    // Unknown doctor: not_found.
    pat2.send(json!({"type": "message:send", "clientId": "c-y", "patientId": c.pat2.id(), "doctorId": "u-nobody", "content": "hi"})).await;
    assert_eq!(pat2.expect("error").await["code"], "not_found");
}

#[tokio::test]
async fn a_doctors_typing_does_not_reach_a_third_party() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut pat1, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut pat2, _) = Ws::connect(&server, &c.pat2.token).await;
    // pat2 joins its own conversation with doc1, pat1 joins theirs.
    for (ws, p) in [(&mut pat1, &c.pat1), (&mut pat2, &c.pat2)] {
        let mut join = key(p, &c.doc1);
        join["type"] = json!("join:chat");
        ws.send(join).await;
        ws.expect("chat:joined").await;
    }
    let mut typing = key(&c.pat1, &c.doc1);
    typing["type"] = json!("typing:start");
    doc.send(typing).await;
    pat1.expect("typing:started").await;
    // A barrier: the doctor writes to pat2 after typing to pat1; pat2 must see the message and
    // no typing frame before it.
    doc.send(send_frame("barrier", &c.pat2, &c.doc1, "hello pat2"))
        .await;
    let (_, skipped) = pat2.expect_skipping("message:received").await;
    assert!(
        !skipped.iter().any(|t| t.starts_with("typing")),
        "leaked: {skipped:?}"
    );
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_lives_on() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut bystander, _) = Ws::connect(&server, &c.doc1.token).await;

    pat.send_text("{not json".into()).await;
    assert_eq!(pat.expect("error").await["code"], "bad_request");
    pat.send(json!({"type": "no:such:event"})).await;
    assert_eq!(pat.expect("error").await["code"], "unknown_event");
    pat.send(json!({"type": "message:send", "patientId": c.pat1.id()}))
        .await;
    assert_eq!(pat.expect("error").await["code"], "bad_request");
    pat.send(json!({"type": "message:send", "patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": "no client id"})).await;
    assert_eq!(pat.expect("error").await["code"], "bad_request");
    // A command too malformed to parse is refused with its clientId, so an outbox can settle it.
    pat.send(json!({"type": "message:edit", "clientId": "e1", "messageId": "m", "baseVersion": 1.5, "content": "x"})).await;
    let refused = pat.expect("error").await;
    assert_eq!(refused["code"], "bad_request");
    assert_eq!(refused["clientId"], "e1");
    pat.send(json!({"type": "message:send", "clientId": "s1", "patientId": c.pat1.id(), "doctorId": 7, "content": "x"})).await;
    let refused = pat.expect("error").await;
    assert_eq!(refused["code"], "bad_request");
    assert_eq!(refused["clientId"], "s1");
    let huge_content = "x".repeat(clinic_protocol::limits::MAX_CONTENT_BYTES + 1);
    pat.send(send_frame("big", &c.pat1, &c.doc1, &huge_content))
        .await;
    let refused = pat.expect("error").await;
    assert_eq!(refused["code"], "too_large");
    assert_eq!(refused["clientId"], "big");

    // Over the frame limit (but under the hard limit): an error, and the socket keeps working.
    let over = format!(
        r#"{{"type":"sync","since":0,"pad":"{}"}}"#,
        "y".repeat(clinic_protocol::limits::MAX_FRAME_BYTES)
    );
    pat.send_text(over).await;
    assert_eq!(pat.expect("error").await["code"], "too_large");
    pat.send(send_frame("ok", &c.pat1, &c.doc1, "still alive"))
        .await;
    pat.expect("message:ack").await;

    // Far over the hard limit: this socket is closed, others are not.
    let mut doomed = Ws::connect(&server, &c.pat2.token).await.0;
    doomed.send_text("z".repeat(2 * 1024 * 1024)).await;
    let code = doomed.closed().await;
    assert!(code.is_none() || code == Some(1009), "close code {code:?}");
    bystander.send(json!({"type": "sync", "since": 0})).await;
    bystander.expect("sync:batch").await;
}

#[tokio::test]
async fn unauthenticated_sockets_are_refused_and_closed() {
    let server = TestServer::start_with(|c| c.auth_timeout = Duration::from_millis(300)).await;
    let c = clinic(&server).await;
    let mut ws = Ws::raw(&server).await;
    ws.send(json!({"type": "sync", "since": 0})).await;
    assert_eq!(ws.expect("error").await["code"], "unauthorized");
    // Silence past the auth timeout: an error frame, then a close.
    assert_eq!(ws.expect("error").await["code"], "unauthorized");
    assert_eq!(ws.closed().await, Some(1008));

    let mut bad = Ws::raw(&server).await;
    bad.send(json!({"type": "authenticate", "token": "garbage"}))
        .await;
    assert_eq!(bad.expect("error").await["code"], "unauthorized");
    bad.closed().await;

    // A logged-out token closes its socket and cannot authenticate again.
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    let (status, _) = server
        .post(&c.pat1.token, "/api/auth/logout", json!({}))
        .await;
    assert_eq!(status, 204);
    pat.closed().await;
    let mut again = Ws::raw(&server).await;
    again
        .send(json!({"type": "authenticate", "token": c.pat1.token}))
        .await;
    assert_eq!(again.expect("error").await["code"], "unauthorized");
}

#[tokio::test]
async fn sends_over_the_rate_limit_are_slowed_down_not_refused_or_reordered() {
    let server = TestServer::start_with(|c| {
        c.send_rate_per_sec = 10.0;
        c.send_burst = 3.0;
    })
    .await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    let started = std::time::Instant::now();
    for i in 0..8 {
        pat.send(send_frame(&format!("r-{i}"), &c.pat1, &c.doc1, "spam"))
            .await;
    }
    let mut seqs = Vec::new();
    for i in 0..8 {
        let ack = pat.expect("message:ack").await;
        assert_eq!(ack["clientId"], format!("r-{i}"), "acks in send order");
        seqs.push(ack["message"]["seq"].as_i64().unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "stored in send order: {seqs:?}"
    );
    // Five sends beyond the burst of three, at ten per second: at least about half a second.
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
}

#[tokio::test]
async fn bearer_header_at_upgrade_authenticates() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", c.doc1.token).parse().unwrap(),
    );
    let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        false,
        Some(server.connector()),
    )
    .await
    .unwrap();
    let mut ws = Ws { stream };
    ws.send(json!({"type": "sync", "since": 0})).await;
    ws.expect("sync:batch").await;

    let mut bad = server.ws_url().into_client_request().unwrap();
    bad.headers_mut()
        .insert("Authorization", "Bearer nope".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async_tls_with_config(
            bad,
            None,
            false,
            Some(server.connector())
        )
        .await
        .is_err()
    );
}

/// The writer keeps the accounts a send checks in memory; the CLI changes accounts from another
/// connection. A send to an account the CLI just disabled is refused (saying why), but not the
/// patient's emergency, which every other doctor is alerted of; a send to an account it enabled
/// again goes through, with no restart and no wait.
#[tokio::test]
async fn a_send_to_an_account_the_cli_just_disabled_is_refused() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    pat.send(send_frame("c-1", &c.pat1, &c.doc1, "before"))
        .await;
    pat.expect("message:ack").await;

    let cli = |disabled: bool| {
        let dir = server.dir.path().to_path_buf();
        let username = c.doc1.user.username.clone();
        tokio::task::spawn_blocking(move || {
            clinic_server::accounts::set_disabled(&dir, &username, disabled)
        })
    };
    cli(true).await.unwrap().unwrap();
    pat.send(send_frame("c-2", &c.pat1, &c.doc1, "after disabling"))
        .await;
    let refused = pat.expect("error").await;
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(
        refused["message"],
        format!(
            "{} no longer takes messages here (the account is disabled): write to another \
             doctor of the clinic",
            c.doc1.user.name
        )
    );
    assert_eq!(refused["clientId"], "c-2");

    // Her doctor left, and she needs help: the emergency goes out all the same.
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let mut sos = send_frame("c-sos", &c.pat1, &c.doc1, "I fell and cannot get up");
    sos["isEmergency"] = true.into();
    pat.send(sos).await;
    assert_eq!(pat.expect("message:ack").await["clientId"], "c-sos");
    let alert = doc2.expect("emergency:alert").await;
    assert_eq!(alert["message"]["content"], "I fell and cannot get up");

    cli(false).await.unwrap().unwrap();
    pat.send(send_frame("c-3", &c.pat1, &c.doc1, "after enabling"))
        .await;
    assert_eq!(pat.expect("message:ack").await["clientId"], "c-3");
}
