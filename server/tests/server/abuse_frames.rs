//! Findings 7 and 10 of the abuse review and the WebSocket items of finding 11, against the
//! real binary: a typing flood cannot close the doctor's socket; a small `sync` frame is
//! answered with one bounded page; text that hides or reorders what a reader sees is refused;
//! close codes and the `/ws` error body are as docs/protocol.md says; a web page from another
//! origin cannot open `/ws`.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{BinaryClinic, Ws, binary_clinic, key, send_frame};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn join(ws: &mut Ws, c: &BinaryClinic) {
    let mut frame = key(&c.pat, &c.doc);
    frame["type"] = json!("join:chat");
    ws.send(frame).await;
    ws.expect("chat:joined").await;
}

#[tokio::test]
async fn a_typing_flood_does_not_close_the_doctors_socket() {
    let c = binary_clinic(&[], &[]).await;
    let mut doc = c.server.ws(&c.doc.token).await;
    let mut pat = c.server.ws(&c.pat.token).await;
    join(&mut doc, &c).await;
    join(&mut pat, &c).await;
    // 60,000 typing frames as fast as the socket takes them, while the doctor reads nothing.
    let mut typing = key(&c.pat, &c.doc);
    typing["type"] = json!("typing:start");
    let text = typing.to_string();
    for _ in 0..60_000 {
        pat.stream.feed(Message::text(text.clone())).await.unwrap();
    }
    pat.stream.flush().await.unwrap();
    pat.send(send_frame("after", &c.pat, &c.doc, "are you there?"))
        .await;
    pat.expect("message:ack").await;
    // Now the doctor reads: the socket is open, the message is there, and only a handful of
    // the typing frames were ever queued.
    let mut typing = 0;
    loop {
        let Some(frame) = doc.next().await else {
            panic!("the doctor's socket was closed after {typing} typing frames");
        };
        match frame["type"].as_str().unwrap() {
            "typing:started" => typing += 1,
            "message:received" => break,
            _ => {}
        }
    }
    assert!(typing >= 1, "typing still works");
    assert!(typing <= 50, "{typing} typing frames reached the doctor");
}

#[tokio::test]
async fn a_socket_too_slow_for_its_queue_is_closed_with_1013() {
    // Ten patients write: one account's rate of writes (200 lines, or 12 of the longest
    // messages, a second after 2,000) would make this flood take over a minute.
    let names: Vec<String> = (2..=10).map(|i| format!("pat{i}")).collect();
    let others: Vec<(&str, Role)> = names.iter().map(|n| (n.as_str(), Role::Patient)).collect();
    let c = binary_clinic(&[], &others).await;
    let mut doc = c.server.ws(&c.doc.token).await;
    let mut patients = vec![c.pat.clone()];
    for name in &names {
        patients.push(c.server.login(name).await);
    }
    let mut sockets = Vec::new();
    for patient in &patients {
        sockets.push(c.server.ws(&patient.token).await);
    }
    // Far more than the doctor's queue and socket buffers hold, while the doctor reads nothing.
    // (In rounds, reading the acks: the senders are not the ones being slow.)
    let content = "m".repeat(clinic_protocol::limits::MAX_CONTENT_BYTES);
    for round in 0..20 {
        let who = round % patients.len();
        let (patient, socket) = (&patients[who], &mut sockets[who]);
        for i in 0..50 {
            let id = format!("big-{round}-{i}");
            socket
                .send(send_frame(&id, patient, &c.doc, &content))
                .await;
        }
        for _ in 0..50 {
            socket.expect("message:ack").await;
        }
    }
    // The doctor reads what reached it, then the close frame: 1013, reconnect and sync.
    assert_eq!(doc.closed().await, Some(1013));
}

#[tokio::test]
async fn sync_answers_one_page_per_request() {
    let c = binary_clinic(&[], &[]).await;
    let mut pat = c.server.ws(&c.pat.token).await;
    for i in 0..600 {
        pat.send(send_frame(&format!("s-{i}"), &c.pat, &c.doc, "history"))
            .await;
    }
    for _ in 0..600 {
        pat.expect("message:ack").await;
    }
    let mut doc = c.server.ws(&c.doc.token).await;
    // A 28-byte request gets one page of the default size, not the whole history.
    doc.send(json!({"type": "sync", "since": 0})).await;
    let first = doc.expect("sync:batch").await;
    assert_eq!(first["messages"].as_array().unwrap().len(), 200);
    assert_eq!(first["hasMore"], true);
    // The next frame answers the next request, with its own limit.
    doc.send(json!({"type": "sync", "since": first["cursor"], "limit": 5}))
        .await;
    let second = doc.expect("sync:batch").await;
    assert_eq!(second["messages"].as_array().unwrap().len(), 5);
    // Over the maximum: clamped like the REST route.
    doc.send(json!({"type": "sync", "since": 0, "limit": 100000}))
        .await;
    let third = doc.expect("sync:batch").await;
    assert_eq!(third["messages"].as_array().unwrap().len(), 500);

    // Ten sockets looping sync from 0 share the server with everyone else: each gets its
    // pages, and the health check answers meanwhile.
    let mut loops = Vec::new();
    for _ in 0..10 {
        let mut ws = c.server.ws(&c.doc.token).await;
        loops.push(tokio::spawn(async move {
            for _ in 0..30 {
                ws.send(json!({"type": "sync", "since": 0})).await;
                ws.expect("sync:batch").await;
            }
        }));
    }
    let health = c
        .server
        .http
        .get(c.server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for task in loops {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn text_that_hides_or_reorders_what_a_reader_sees_is_refused() {
    let c = binary_clinic(&[], &[]).await;
    let mut pat = c.server.ws(&c.pat.token).await;
    for (i, content) in [
        "nul\0inside",
        "bell\u{7}",
        "file\u{202e}fdp.exe",
        "\u{2067}isolated\u{2069}",
        "\u{200b}\u{200b}\u{feff}",
    ]
    .into_iter()
    .enumerate()
    {
        pat.send(send_frame(&format!("bad-{i}"), &c.pat, &c.doc, content))
            .await;
        let refused = pat.expect("error").await;
        assert_eq!(refused["code"], "bad_request", "{content:?}: {refused}");
        assert_eq!(refused["clientId"], format!("bad-{i}"));
    }
    // Right-to-left text with its ordinary marks is fine.
    pat.send(send_frame("rtl", &c.pat, &c.doc, "שלום \u{200f}(עברית)"))
        .await;
    pat.expect("message:ack").await;
    // So is a `clientId` that could reorder or hide what a log shows: refused, not stored.
    for client_id in [
        "ack\u{202e}fdp",
        "two words",
        "zero\u{200b}width",
        "filler\u{3164}",
    ] {
        pat.send(send_frame(client_id, &c.pat, &c.doc, "fine words"))
            .await;
        let refused = pat.expect("error").await;
        assert_eq!(refused["code"], "bad_request", "{client_id:?}: {refused}");
    }
    let (status, _) = c
        .server
        .post(
            &c.pat.token,
            "/api/chat/messages",
            json!({"patientId": c.pat.id(), "doctorId": c.doc.id(), "content": "a\u{0}b"}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn close_codes_and_errors_are_as_documented() {
    let c = binary_clinic(&[], &[]).await;
    // A bad token: an error frame, then close 1008.
    let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
        c.server.ws_url(),
        None,
        false,
        Some(c.server.connector()),
    )
    .await
    .unwrap();
    let mut bad = Ws { stream };
    bad.send(json!({"type": "authenticate", "token": "nope"}))
        .await;
    assert_eq!(bad.expect("error").await["code"], "unauthorized");
    assert_eq!(bad.closed().await, Some(1008));

    // Logout: close 1008.
    let mut live = c.server.ws(&c.pat.token).await;
    let (status, _) = c
        .server
        .post(&c.pat.token, "/api/auth/logout", json!({}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(live.closed().await, Some(1008));

    // A frame over the hard limit: an error frame and close 1009.
    let mut big = c.server.ws(&c.doc.token).await;
    // The server may answer and close before a slow client has written the whole frame, so
    // that write may fail: what counts is what the server said.
    let _ = big.stream.send(Message::text("z".repeat(300 * 1024))).await;
    assert_eq!(big.expect("error").await["code"], "too_large");
    assert_eq!(big.closed().await, Some(1009));

    // Not an upgrade: our JSON error body.
    let response = c.server.http.get(c.server.url("/ws")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body["code"], "bad_request", "{body}");
    assert!(body["message"].is_string());

    // Shutting down: close 1001.
    let mut last = c.server.ws(&c.doc.token).await;
    let stopping = std::thread::spawn(move || c.server.stop());
    assert_eq!(last.closed().await, Some(1001));
    stopping.join().unwrap();
}

#[tokio::test]
async fn a_page_from_another_origin_cannot_open_the_websocket() {
    let c = binary_clinic(&[], &[]).await;
    let upgrade = |origin: Option<String>| {
        let mut request = c.server.ws_url().into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(c.server.connector()),
        )
    };
    match upgrade(Some("http://evil.example".into())).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("a foreign origin was let in: {:?}", other.map(|_| ())),
    }
    match upgrade(Some(format!("http://{}", c.server.addr))).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!(
            "a page in clear text under the server's name was let in: {:?}",
            other.map(|_| ())
        ),
    }
    assert!(
        upgrade(Some(format!("https://{}", c.server.addr)))
            .await
            .is_ok(),
        "the server's own origin"
    );
    assert!(upgrade(None).await.is_ok(), "no origin: not a browser");
}

/// The state of the server's side of the TCP connection from local port `client`, as the
/// kernel lists it (`/proc/net/tcp`: 01 is ESTABLISHED), and the bytes waiting in its send
/// queue; `None` once it is gone.
#[cfg(target_os = "linux")]
fn server_side(server: &str, client: u16) -> Option<(String, u64)> {
    let server: std::net::SocketAddr = server.parse().unwrap();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let hex = |field: &str| u64::from_str_radix(field, 16).unwrap();
    let port = |field: &str| hex(field.rsplit(':').next().unwrap());
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (port(fields[1]) == u64::from(server.port()) && port(fields[2]) == u64::from(client)).then(
            || {
                let queued = hex(fields[4].split(':').next().unwrap());
                (fields[3].to_owned(), queued)
            },
        )
    })
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_socket_that_reads_nothing_is_let_go_once_closed() {
    // About 4 MiB of history, written within the patient's rate (acks read as they come).
    let c = binary_clinic(&[], &[]).await;
    let mut pat = c.server.ws(&c.pat.token).await;
    let content = "h".repeat(16 * 1024);
    for round in 0..12 {
        for i in 0..20 {
            pat.send(send_frame(
                &format!("h-{round}-{i}"),
                &c.pat,
                &c.doc,
                &content,
            ))
            .await;
        }
        for _ in 0..20 {
            pat.expect("message:ack").await;
        }
    }
    // The doctor's socket with a tiny receive buffer asks for it all three times, and then
    // reads nothing: the server's writes to it block.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let tcp = tcp.connect(c.server.addr.parse().unwrap()).await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let request = c.server.ws_url().into_client_request().unwrap();
    let (stream, _) = tokio_tungstenite::client_async_tls_with_config(
        request,
        tcp,
        None,
        Some(c.server.connector()),
    )
    .await
    .unwrap();
    let mut stuck = Ws { stream };
    stuck
        .send(json!({"type": "authenticate", "token": c.doc.token}))
        .await;
    for _ in 0..3 {
        stuck
            .send(json!({"type": "sync", "since": 0, "limit": 500}))
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (state, queued) = server_side(&c.server.addr, port).unwrap();
    assert_eq!(state, "01", "connected");
    assert!(queued > 0, "the server's writes wait for the peer");
    // Its session ends (as a revoked or shed one does): within the time a closing socket has
    // to flush (12 s), the server lets go of it though it still read nothing.
    let (status, _) = c
        .server
        .post(&c.doc.token, "/api/auth/logout", json!({}))
        .await;
    assert_eq!(status, 204);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while server_side(&c.server.addr, port).is_some_and(|(state, _)| state == "01") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server still holds the socket 20 s after closing it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    drop(stuck);
    // Meanwhile and after, the others are served.
    pat.send(send_frame("after", &c.pat, &c.doc, "still here"))
        .await;
    pat.expect("message:ack").await;
}
