//! A message written offline keeps when it was written (`heldMs` in, `writtenAt` out): on its
//! ack, to the recipient, in an emergency's alert and the emergency itself, in history and
//! sync, before and after the send log moves into `messages`, and for a file sent over REST.
#![allow(clippy::unwrap_used)]

use crate::common;

use chrono::{DateTime, Utc};
use common::{Ws, clinic, send_frame};
use serde_json::{Value, json};

const HOUR_MS: i64 = 3_600_000;

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// `writtenAt` is `createdAt` less what the send said it waited, to the millisecond.
fn written_before_created(message: &Value, held_ms: i64) {
    let written = time(&message["writtenAt"]);
    let created = time(&message["createdAt"]);
    assert_eq!((created - written).num_milliseconds(), held_ms, "{message}");
}

/// The messages of a history page or a sync batch.
fn messages(page: &Value) -> &Vec<Value> {
    page.get("messages")
        .and_then(Value::as_array)
        .unwrap_or_else(|| page.as_array().unwrap())
}

fn held(client_id: &str, c: &common::Clinic, content: &str, held_ms: Value) -> Value {
    let mut frame = send_frame(client_id, &c.pat1, &c.doc1, content);
    frame["heldMs"] = held_ms;
    frame
}

#[tokio::test]
async fn a_message_written_offline_says_when_wherever_it_is_read() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;

    pat.send(held(
        "late",
        &c,
        "chest pain since noon",
        json!(2 * HOUR_MS),
    ))
    .await;
    let ack = pat.expect("message:ack").await["message"].clone();
    written_before_created(&ack, 2 * HOUR_MS);
    let received = doc.expect("message:received").await["message"].clone();
    assert_eq!(received["writtenAt"], ack["writtenAt"]);

    // A wait of a minute or less is a send's ordinary delay; a year and more is no clock's;
    // without `heldMs` (older clients) nothing is said either.
    for (id, held_ms) in [
        ("quick", json!(60_000)),
        ("absurd", json!(400 * 24 * HOUR_MS)),
        ("none", Value::Null),
    ] {
        pat.send(held(id, &c, id, held_ms)).await;
        let ack = pat.expect("message:ack").await;
        assert!(ack["message"].get("writtenAt").is_none(), "{ack}");
    }
    // A repeated send is answered with the message as first stored, whatever it says now.
    pat.send(held(
        "late",
        &c,
        "chest pain since noon",
        json!(3 * HOUR_MS),
    ))
    .await;
    let again = pat.expect("message:ack").await["message"].clone();
    assert_eq!(again["writtenAt"], ack["writtenAt"]);
    // A negative or fractional wait is a malformed frame, refused with its clientId.
    pat.send(held("bad", &c, "x", json!(-5))).await;
    let refused = pat.expect("error").await;
    assert_eq!(refused["clientId"], "bad", "{refused}");

    let history = common::history_path(&c.pat1, &c.doc1);
    let written_in = |page: &Value| -> Vec<Value> {
        messages(page)
            .iter()
            .filter(|m| m.get("writtenAt").is_some())
            .map(|m| m["id"].clone())
            .collect()
    };
    // While the send is in the log, and once it has moved into `messages`.
    for moved in [false, true] {
        if moved {
            clinic_server::testing::move_log(server.dir.path()).unwrap();
        }
        let (status, page) = server.get(&c.doc1.token, &history).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(written_in(&page), vec![ack["id"].clone()], "moved: {moved}");
        let found = messages(&page)
            .iter()
            .find(|m| m["id"] == ack["id"])
            .unwrap()
            .clone();
        assert_eq!(found["writtenAt"], ack["writtenAt"], "moved: {moved}");
        doc.send(json!({"type": "sync", "since": 0})).await;
        let batch = doc.expect("sync:batch").await;
        assert_eq!(
            written_in(&batch),
            vec![ack["id"].clone()],
            "moved: {moved}"
        );
    }
}

#[tokio::test]
async fn an_emergency_written_offline_tells_the_doctors_when() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    let mut frame = held("sos", &c, "I fainted", json!(HOUR_MS / 2));
    frame["isEmergency"] = json!(true);
    pat.send(frame).await;
    let ack = pat.expect("message:ack").await["message"].clone();
    written_before_created(&ack, HOUR_MS / 2);
    let alert = doc.expect("emergency:alert").await;
    assert_eq!(alert["message"]["writtenAt"], ack["writtenAt"], "{alert}");
    // The emergency itself says it too, for lists that do not hold the message.
    assert_eq!(alert["emergency"]["writtenAt"], ack["writtenAt"], "{alert}");
    let id = alert["emergency"]["id"].as_str().unwrap().to_owned();

    // To the doctors and the patient, in lists, the detail and sync (read from the tables: a
    // read moves the log first; the writer's own copy is tested in the store's tests).
    for token in [&c.doc1.token, &c.pat1.token] {
        let (status, list) = server.get(token, "/api/emergencies").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list[0]["id"], id.as_str(), "{list}");
        assert_eq!(list[0]["writtenAt"], ack["writtenAt"], "{list}");
        let (_, detail) = server.get(token, &format!("/api/emergencies/{id}")).await;
        assert_eq!(
            detail["emergency"]["writtenAt"], ack["writtenAt"],
            "{detail}"
        );
    }
    doc.send(json!({"type": "sync", "since": 0})).await;
    let batch = doc.expect("sync:batch").await;
    assert_eq!(
        batch["emergencies"][0]["writtenAt"], ack["writtenAt"],
        "{batch}"
    );
    // A doctor takes it: the update still says when it was written.
    let act = |what: &str, body: Value| {
        let path = format!("/api/emergencies/{id}/{what}");
        let (server, token) = (&server, &c.doc1.token);
        async move { server.post(token, &path, body).await }
    };
    let (status, taken) = act("acknowledge", json!({})).await;
    assert_eq!(status, 200, "{taken}");
    // (The patient heard of the raise first.)
    let update = loop {
        let update = pat.expect("emergency:updated").await;
        if update["emergency"]["state"] == "ACKNOWLEDGED" {
            break update;
        }
    };
    assert_eq!(
        update["emergency"]["writtenAt"], ack["writtenAt"],
        "{update}"
    );

    // Resolved, and pressed again at once: the new emergency says nothing of it.
    let (status, resolved) = act("resolve", json!({"note": "seen"})).await;
    assert_eq!(status, 200, "{resolved}");
    let mut quick = send_frame("now", &c.pat1, &c.doc1, "again");
    quick["isEmergency"] = json!(true);
    pat.send(quick).await;
    pat.expect("message:ack").await;
    let alert = doc.expect("emergency:alert").await;
    assert_ne!(alert["emergency"]["id"], id.as_str(), "{alert}");
    assert!(alert["emergency"].get("writtenAt").is_none(), "{alert}");
}

#[tokio::test]
async fn a_file_written_offline_says_when_over_rest() {
    let server = common::TestServer::start().await;
    let c = clinic(&server).await;
    let (status, file) = server
        .upload(
            &c.pat1,
            (&c.pat1, &c.doc1),
            "reading.txt",
            b"120/80".to_vec(),
            "text/plain",
        )
        .await;
    assert_eq!(status, 201, "{file}");
    let (status, sent) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            json!({
                "patientId": c.pat1.id(),
                "doctorId": c.doc1.id(),
                "content": "this morning's reading",
                "fileUrl": file["fileUrl"],
                "heldMs": 5 * HOUR_MS,
            }),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let message = sent.get("message").unwrap_or(&sent);
    written_before_created(message, 5 * HOUR_MS);
    let (_, page) = server
        .get(&c.doc1.token, &common::history_path(&c.pat1, &c.doc1))
        .await;
    let list = messages(&page);
    assert_eq!(list.len(), 1, "{page}");
    assert_eq!(list[0]["writtenAt"], message["writtenAt"]);
}
