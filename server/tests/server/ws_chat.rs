//! WebSocket chat through the real server: sends, acks, broadcast to both participants and their
//! other devices, typing, receipts, presence, pipelining, idempotent clientId, catch-up.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Ws, clinic, key, send_frame};
use serde_json::{Value, json};

#[tokio::test]
async fn send_ack_and_broadcast_to_both_participants_and_other_devices() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc1, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut pat1_phone, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut pat1_pc, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;

    pat1_phone
        .send(send_frame("c-1", &c.pat1, &c.doc1, "hello doctor"))
        .await;
    let ack = pat1_phone.expect("message:ack").await;
    assert_eq!(ack["clientId"], "c-1");
    let message = &ack["message"];
    assert_eq!(message["content"], "hello doctor");
    assert_eq!(message["status"], "SENT");
    assert_eq!(message["senderId"], c.pat1.id());
    assert!(message["seq"].as_i64().unwrap() > 0);

    let received = doc1.expect("message:received").await;
    assert_eq!(received["message"]["id"], message["id"]);
    let other_device = pat1_pc.expect("message:received").await;
    assert_eq!(other_device["message"]["id"], message["id"]);
    let note = doc1.expect("notification").await;
    assert_eq!(note["notification"]["kind"], "NEW_MESSAGE");

    // doc2 is no participant: a message to doc2 arrives, and nothing of the first one before it.
    pat1_phone
        .send(send_frame("c-2", &c.pat1, &c.doc2, "second opinion?"))
        .await;
    let (frame, skipped) = doc2.expect_skipping("message:received").await;
    assert_eq!(frame["message"]["content"], "second opinion?");
    assert!(
        skipped.iter().all(|t| t != "message:received"),
        "{skipped:?}"
    );
}

#[tokio::test]
async fn replayed_client_id_gets_the_same_ack_and_no_second_message() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    pat.send(send_frame("same", &c.pat1, &c.doc1, "once")).await;
    let first = pat.expect("message:ack").await;
    pat.send(send_frame("same", &c.pat1, &c.doc1, "once")).await;
    let second = pat.expect("message:ack").await;
    assert_eq!(first["message"]["id"], second["message"]["id"]);
    assert_eq!(first["message"]["seq"], second["message"]["seq"]);
    // Over REST too, the same clientId is the same message.
    let (status, body) = server
        .post(&c.pat1.token, "/api/chat/messages", json!({"clientId": "same", "patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": "once"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], first["message"]["id"]);
    let path = format!(
        "/api/chat/messages?patientId={}&doctorId={}",
        c.pat1.id(),
        c.doc1.id()
    );
    let (_, history) = server.get(&c.doc1.token, &path).await;
    assert_eq!(history.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pipelined_sends_are_acked_in_order_with_increasing_seqs() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    for i in 0..100 {
        pat.send(send_frame(
            &format!("p-{i}"),
            &c.pat1,
            &c.doc1,
            &format!("m{i}"),
        ))
        .await;
    }
    let mut last = 0;
    for i in 0..100 {
        let ack = pat.expect("message:ack").await;
        assert_eq!(ack["clientId"], format!("p-{i}"));
        let seq = ack["message"]["seq"].as_i64().unwrap();
        assert!(seq > last, "seq {seq} after {last}");
        last = seq;
    }
}

/// doc1 and pat1 connected, and the patient's first message, acknowledged and received.
async fn first_message(server: &common::TestServer, c: &common::Clinic) -> (Ws, Ws, Value) {
    let (mut doc, _) = Ws::connect(server, &c.doc1.token).await;
    let (mut pat, _) = Ws::connect(server, &c.pat1.token).await;
    pat.send(send_frame("c-1", &c.pat1, &c.doc1, "are you there?"))
        .await;
    let sent = pat.expect("message:ack").await["message"].clone();
    doc.expect("message:received").await;
    (doc, pat, sent)
}

/// A frame of `kind` about pat1 and doc1's conversation (`join:chat`, `typing:start`, ...).
fn about_their_chat(kind: &str, c: &common::Clinic) -> Value {
    let mut frame = key(&c.pat1, &c.doc1);
    frame["type"] = json!(kind);
    frame
}

/// doc1 and pat1 join their conversation (typing then reaches the other).
async fn both_join(doc: &mut Ws, pat: &mut Ws, c: &common::Clinic) {
    let join = about_their_chat("join:chat", c);
    doc.send(join.clone()).await;
    doc.expect("chat:joined").await;
    pat.send(join).await;
    pat.expect("chat:joined").await;
}

#[tokio::test]
async fn typing_receipts_and_presence() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, mut pat, sent) = first_message(&server, &c).await;

    // Typing reaches the other participant once they joined the chat.
    both_join(&mut doc, &mut pat, &c).await;
    let mut typing = about_their_chat("typing:start", &c);
    pat.send(typing.clone()).await;
    let started = doc.expect("typing:started").await;
    assert_eq!(started["userId"], c.pat1.id());
    typing["type"] = json!("typing:stop");
    pat.send(typing).await;
    doc.expect("typing:stopped").await;

    // After leave:chat the doctor no longer sees typing; the next thing to arrive is a message.
    doc.send(about_their_chat("leave:chat", &c)).await;
    doc.expect("chat:left").await;
    pat.send(about_their_chat("typing:start", &c)).await;
    pat.send(send_frame("c-2", &c.pat1, &c.doc1, "still there?"))
        .await;
    let (_, skipped) = doc.expect_skipping("message:received").await;
    assert!(
        !skipped.iter().any(|t| t.starts_with("typing")),
        "{skipped:?}"
    );

    // Availability is the doctors' business.
    doc.send(json!({"type": "presence:set", "availability": "DO_NOT_DISTURB"}))
        .await;
    pat.send(json!({"type": "presence:set", "availability": "DO_NOT_DISTURB"}))
        .await;
    assert_eq!(pat.expect("error").await["code"], "forbidden");

    // Delivered, then read: both sides are told.
    doc.send(json!({"type": "message:delivered", "messageIds": [sent["id"]]}))
        .await;
    let delivered = pat.expect("message:delivered:confirmed").await;
    assert_eq!(delivered["messageIds"], json!([sent["id"]]));
    doc.send(json!({"type": "message:read", "messageId": sent["id"], "patientId": c.pat1.id(), "doctorId": c.doc1.id()})).await;
    let read = pat.expect("message:read:confirmed").await;
    assert_eq!(read["readerId"], c.doc1.id());
    doc.expect("message:read:confirmed").await;

    // Presence: the patient goes offline and comes back; the doctor who shares a conversation
    // is told, and sees the patient in `onlineUsers` on a new socket.
    drop(pat);
    let offline = doc.expect("user:offline").await;
    assert_eq!(offline["userId"], c.pat1.id());
    let (_pat_again, auth) = Ws::connect(&server, &c.pat1.token).await;
    assert_eq!(auth["user"]["id"], c.pat1.id());
    assert_eq!(auth["onlineUsers"], json!([c.doc1.id()]));
    let online = doc.expect("user:online").await;
    assert_eq!(online["userId"], c.pat1.id());
}

#[tokio::test]
async fn sync_after_reconnect_returns_everything_since_the_cursor() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    for i in 0..250 {
        pat.send(send_frame(
            &format!("s-{i}"),
            &c.pat1,
            &c.doc1,
            &format!("m{i}"),
        ))
        .await;
    }
    for _ in 0..250 {
        pat.expect("message:ack").await;
    }
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    // One page per request, asked for again from its cursor while it says there is more.
    let mut ids = std::collections::HashSet::new();
    let mut cursor = 0;
    let mut pages = 0;
    loop {
        doc.send(json!({"type": "sync", "since": cursor, "limit": 100}))
            .await;
        let batch = doc.expect("sync:batch").await;
        pages += 1;
        for m in batch["messages"].as_array().unwrap() {
            ids.insert(m["id"].as_str().unwrap().to_owned());
        }
        cursor = batch["cursor"].as_i64().unwrap().max(cursor);
        if !batch["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(ids.len(), 250);
    assert_eq!(pages, 3);

    // Later changes only: one more message and a receipt.
    pat.send(send_frame("late", &c.pat1, &c.doc1, "one more"))
        .await;
    let late = pat.expect("message:ack").await["message"].clone();
    doc.send(json!({"type": "sync", "since": cursor})).await;
    let batch = doc.expect("sync:batch").await;
    let messages = batch["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], late["id"]);
    assert_eq!(batch["hasMore"], false);
}

#[tokio::test]
async fn a_first_message_makes_the_two_see_each_others_presence() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, auth) = Ws::connect(&server, &c.doc2.token).await;
    assert_eq!(auth["onlineUsers"], json!([]));
    let (mut pat, _) = Ws::connect(&server, &c.pat2.token).await;
    pat.send(send_frame("first", &c.pat2, &c.doc2, "hello, new doctor"))
        .await;
    assert_eq!(pat.expect("user:online").await["userId"], c.doc2.id());
    assert_eq!(doc.expect("user:online").await["userId"], c.pat2.id());
    drop(pat);
    assert_eq!(doc.expect("user:offline").await["userId"], c.pat2.id());
}

/// A receipt waits for its commit among the socket's pending commands, not in its frame loop:
/// while another program (the CLI, say) holds the database's write lock, the socket that sent
/// `message:delivered` goes on relaying its typing; the receipt is confirmed once the lock goes.
#[tokio::test]
async fn a_receipt_waiting_for_its_commit_does_not_hold_its_socket() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, mut pat, sent) = first_message(&server, &c).await;
    both_join(&mut doc, &mut pat, &c).await;

    let other = server.stall_writer();
    doc.send(json!({"type": "message:delivered", "messageIds": [sent["id"]]}))
        .await;
    let typing = about_their_chat("typing:start", &c);
    doc.send(typing).await;
    // Well within the writer's wait for the lock (10 s): the old loop relayed nothing until then.
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        pat.expect("typing:started"),
    )
    .await
    .expect("typing relayed while the receipt waits for the lock");
    assert_eq!(started["userId"], c.doc1.id());
    other.execute_batch("COMMIT").unwrap();

    let confirmed = pat.expect("message:delivered:confirmed").await;
    assert_eq!(confirmed["messageIds"], json!([sent["id"]]));
    doc.expect("message:delivered:confirmed").await;
}

/// Receipts waiting for a stalled writer are held to a budget of ids across the server: a socket
/// whose receipt does not fit waits for it, unread (its later frames wait in the network), while
/// other sockets go on; once the writer moves, everything is answered in order.
#[tokio::test]
async fn receipts_over_the_budget_wait_with_their_socket_while_the_writer_is_stalled() {
    let server = common::TestServer::start_with(|config| {
        config.receipt_ids_queued = clinic_protocol::limits::MAX_IDS_PER_REQUEST;
    })
    .await;
    let c = clinic(&server).await;
    let (mut doc, mut pat, sent) = first_message(&server, &c).await;
    both_join(&mut doc, &mut pat, &c).await;

    let other = server.stall_writer();
    // The whole budget: the real id and ids of nothing.
    let mut ids = vec![sent["id"].clone()];
    ids.extend(
        (1..clinic_protocol::limits::MAX_IDS_PER_REQUEST).map(|i| json!(format!("m-none-{i}"))),
    );
    doc.send(json!({"type": "message:delivered", "messageIds": ids}))
        .await;
    // Does not fit until the first is written: the socket stops reading here.
    doc.send(json!({"type": "message:delivered", "messageIds": [sent["id"]]}))
        .await;
    let typing = about_their_chat("typing:start", &c);
    doc.send(typing.clone()).await;
    // Another socket is read meanwhile.
    pat.send(typing).await;
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        doc.expect("typing:started"),
    )
    .await
    .expect("the other socket is still read");
    assert_eq!(started["userId"], c.pat1.id());
    let held = tokio::time::timeout(
        std::time::Duration::from_millis(1500),
        pat.expect("typing:started"),
    )
    .await;
    assert!(held.is_err(), "the socket over the budget was still read");

    other.execute_batch("COMMIT").unwrap();
    // The receipt's confirmation and the typing it held back, in either order.
    let (mut confirmed, mut started) = (None, None);
    while confirmed.is_none() || started.is_none() {
        let frame = pat.next().await.expect("the socket stays open");
        match frame["type"].as_str() {
            Some("message:delivered:confirmed") => confirmed = Some(frame),
            Some("typing:started") => started = Some(frame),
            _ => {}
        }
    }
    assert_eq!(confirmed.unwrap()["messageIds"], json!([sent["id"]]));
    assert_eq!(started.unwrap()["userId"], c.doc1.id());
}

/// With a page budget of one and the writer stalled, two sockets' `sync`s are both answered once
/// the writer moves, and the budget is given back (a third `sync` is answered). That the second
/// waits before it reads is the budget's own unit test (`store/budget.rs`); here, that the wiring
/// neither loses a page nor keeps its share.
#[tokio::test]
async fn syncs_over_the_page_budget_wait_for_the_writer_and_are_all_answered() {
    let server = common::TestServer::start_with(|config| config.pages_at_once = 1).await;
    let c = clinic(&server).await;
    let (mut doc, mut pat, sent) = first_message(&server, &c).await;

    let other = server.stall_writer();
    let sync = json!({"type": "sync", "since": 0});
    doc.send(sync.clone()).await;
    pat.send(sync.clone()).await;
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        doc.expect("sync:batch"),
    )
    .await;
    assert!(
        early.is_err(),
        "a page was answered before its audit row was written"
    );
    other.execute_batch("COMMIT").unwrap();

    for ws in [&mut doc, &mut pat] {
        let batch = ws.expect("sync:batch").await;
        assert_eq!(batch["messages"][0]["id"], sent["id"]);
    }
    doc.send(sync).await;
    assert_eq!(
        doc.expect("sync:batch").await["messages"][0]["id"],
        sent["id"]
    );
}

/// Messages of nearly the largest content after `first_message`: client ids `large-0` to
/// `large-{count - 1}`, about 1.3 MB for 80 of them, the one at `emergency` an emergency.
/// Returns every client id, oldest first.
async fn send_large(
    pat: &mut Ws,
    c: &common::Clinic,
    count: usize,
    emergency: Option<usize>,
) -> Vec<String> {
    let large = "x".repeat(clinic_protocol::limits::MAX_CONTENT_BYTES - 16);
    for window in (0..count).collect::<Vec<_>>().chunks(20) {
        for i in window {
            let mut frame = send_frame(
                &format!("large-{i}"),
                &c.pat1,
                &c.doc1,
                &format!("{i} {large}"),
            );
            frame["isEmergency"] = json!(emergency == Some(*i));
            pat.send(frame).await;
        }
        for _ in window {
            pat.expect("message:ack").await;
        }
    }
    std::iter::once("c-1".to_owned())
        .chain((0..count).map(|i| format!("large-{i}")))
        .collect()
}

/// A page of large messages is cut by size (about `PAGE_BYTES`), says `hasMore`, and the
/// pages from its cursor bring every message exactly once, in order; an emergency changed after
/// the cut comes in a later page, not in place of the messages before it.
#[tokio::test]
async fn a_sync_page_of_large_messages_is_cut_by_size_and_loses_nothing() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, mut pat, _) = first_message(&server, &c).await;
    const COUNT: usize = 80;
    let expected = send_large(&mut pat, &c, COUNT, Some(70)).await;

    let (mut since, mut pages, mut seen) = (0, Vec::new(), Vec::new());
    let mut emergencies = Vec::new();
    loop {
        doc.send(json!({"type": "sync", "since": since, "limit": 500}))
            .await;
        let batch = doc.expect("sync:batch").await;
        let messages = batch["messages"].as_array().unwrap();
        pages.push(messages.len());
        seen.extend(
            messages
                .iter()
                .map(|m| m["clientId"].as_str().unwrap().to_owned()),
        );
        for emergency in batch["emergencies"].as_array().unwrap() {
            emergencies.push((pages.len(), emergency["id"].clone()));
        }
        since = batch["cursor"].as_i64().unwrap();
        if batch["hasMore"] == false {
            break;
        }
    }
    assert!(
        pages.len() > 1 && pages[0] < 70,
        "the first page reached the emergency: {pages:?}"
    );
    assert_eq!(seen, expected);
    assert_eq!(emergencies.len(), 1, "{emergencies:?}");
    assert!(
        emergencies[0].0 > 1,
        "the emergency came before the messages before it"
    );
}

/// A history page of large messages is cut by size too; its `Link` header names the page
/// before it (`rel="next"`), and following the links brings every message exactly once. A
/// page that reaches the first message has no link.
#[tokio::test]
async fn a_history_page_of_large_messages_is_cut_by_size_and_links_the_rest() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (_doc, mut pat, _) = first_message(&server, &c).await;
    const COUNT: usize = 80;
    let expected = send_large(&mut pat, &c, COUNT, None).await;

    let path = format!(
        "/api/chat/messages?patientId={}&doctorId={}&limit=500",
        c.pat1.id(),
        c.doc1.id()
    );
    let fetched = common::history_pages(&server.http, &server.url(""), &c.doc1.token, &path).await;
    let pages: Vec<usize> = fetched.iter().map(Vec::len).collect();
    // Each page is older than the one before it.
    let seen: Vec<String> = fetched
        .iter()
        .rev()
        .flatten()
        .map(|m| m["clientId"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        pages.len() > 1 && pages[0] < COUNT,
        "one page held them all: {pages:?}"
    );
    assert_eq!(seen, expected);

    // Cut by count: a full page links the next, the page that reaches the start does not.
    for text in ["one", "two"] {
        let body = json!({"patientId": c.pat2.id(), "doctorId": c.doc2.id(), "content": text});
        let (status, _) = server.post(&c.pat2.token, "/api/chat/messages", body).await;
        assert_eq!(status, 201);
    }
    for (limit, linked) in [(1, true), (2, false), (3, false)] {
        let path = format!(
            "/api/chat/messages?patientId={}&doctorId={}&limit={limit}",
            c.pat2.id(),
            c.doc2.id()
        );
        let response = server
            .http
            .get(server.url(&path))
            .bearer_auth(&c.doc2.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().contains_key("link"),
            linked,
            "limit {limit}"
        );
    }
}

/// A socket that closes while its send and its receipt wait for the write lock: both are
/// committed once the lock goes, and the other side hears of both (a retry would not tell them
/// of the receipt again).
#[tokio::test]
async fn what_a_closed_socket_queued_still_reaches_the_other_side() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, mut pat, sent) = first_message(&server, &c).await;

    let other = server.stall_writer();
    doc.send(json!({"type": "message:delivered", "messageIds": [sent["id"]]}))
        .await;
    doc.send(send_frame("c-2", &c.pat1, &c.doc1, "yes, here"))
        .await;
    drop(doc);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.execute_batch("COMMIT").unwrap();

    let within = std::time::Duration::from_secs(5);
    let confirmed = tokio::time::timeout(within, pat.expect("message:delivered:confirmed"))
        .await
        .expect("the receipt's confirmation");
    assert_eq!(confirmed["messageIds"], json!([sent["id"]]));
    let received = tokio::time::timeout(within, pat.expect("message:received"))
        .await
        .expect("the reply");
    assert_eq!(received["message"]["content"], "yes, here");
}
