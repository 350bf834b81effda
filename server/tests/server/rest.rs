//! REST through the real server: messages (history pages, idempotent send, mark read),
//! conversations, contacts, sync, notifications, and the refusals of bad input.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, clinic};
use serde_json::{Value, json};

fn messages_path(patient: &str, doctor: &str, extra: &str) -> String {
    format!("/api/chat/messages?patientId={patient}&doctorId={doctor}{extra}")
}

fn new_message(patient: &str, doctor: &str, content: &str) -> Value {
    json!({"patientId": patient, "doctorId": doctor, "content": content})
}

#[tokio::test]
async fn messages_history_send_and_mark_read() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (p, d) = (c.pat1.id(), c.doc1.id());
    let mut ids = Vec::new();
    for i in 0..7 {
        let (token, body) = if i % 2 == 0 {
            (&c.pat1.token, new_message(p, d, &format!("m{i}")))
        } else {
            (&c.doc1.token, new_message(p, d, &format!("m{i}")))
        };
        let (status, message) = server.post(token, "/api/chat/messages", body).await;
        assert_eq!(status, 201, "{message}");
        assert!(message["clientId"].as_str().unwrap().starts_with("srv-"));
        ids.push(message["id"].as_str().unwrap().to_owned());
    }
    // Newest page, oldest first, then paging back with `before`.
    let (status, page) = server
        .get(&c.pat1.token, &messages_path(p, d, "&limit=3"))
        .await;
    assert_eq!(status, 200);
    let contents: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["m4", "m5", "m6"]);
    let (_, older) = server
        .get(
            &c.doc1.token,
            &messages_path(p, d, &format!("&limit=3&before={}", ids[4])),
        )
        .await;
    let contents: Vec<&str> = older
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["m1", "m2", "m3"]);

    // Mark read: only messages addressed to the caller change.
    let (status, read) = server
        .patch(
            &c.doc1.token,
            "/api/chat/messages",
            json!({"messageIds": ids}),
        )
        .await;
    assert_eq!(status, 200);
    let changed = read["messageIds"].as_array().unwrap();
    assert_eq!(changed.len(), 4, "the patient's four messages: {read}");
    let (_, page) = server.get(&c.pat1.token, &messages_path(p, d, "")).await;
    for m in page.as_array().unwrap() {
        let expected = if m["senderId"] == p { "READ" } else { "SENT" };
        assert_eq!(m["status"], expected);
    }

    // Delivered receipts over REST.
    let (status, delivered) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages/delivered",
            json!({"messageIds": [ids[1]]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(delivered["messageIds"], json!([ids[1]]));
}

#[tokio::test]
async fn participants_only_and_clear_errors_for_bad_input() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (p, d) = (c.pat1.id(), c.doc1.id());
    server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            new_message(p, d, "private"),
        )
        .await;

    // Another patient, another doctor: 403 with the error body.
    let (status, body) = server.get(&c.pat2.token, &messages_path(p, d, "")).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden");
    let (status, _) = server.get(&c.doc2.token, &messages_path(p, d, "")).await;
    assert_eq!(status, 403);
    let (status, _) = server
        .post(&c.pat2.token, "/api/chat/messages", new_message(p, d, "hi"))
        .await;
    assert_eq!(status, 403);

    // Unknown ids: 404.
    let (status, body) = server
        .get(&c.pat1.token, &messages_path(p, "u-nobody", ""))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _) = server
        .get(&c.pat1.token, &messages_path(p, d, "&before=m-unknown"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            new_message(p, c.pat2.id(), "to a patient?"),
        )
        .await;
    assert_eq!(status, 404);

    // Malformed and missing fields: 400; oversized: 413; no token: 401; unknown path: 404.
    let response = server
        .http
        .post(server.url("/api/chat/messages"))
        .bearer_auth(&c.pat1.token)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let (status, body) = common::split(response).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
    let (status, _) = server
        .post(&c.pat1.token, "/api/chat/messages", json!({"patientId": p}))
        .await;
    assert_eq!(status, 400);
    let big = "x".repeat(clinic_protocol::limits::MAX_CONTENT_BYTES + 1);
    let (status, body) = server
        .post(&c.pat1.token, "/api/chat/messages", new_message(p, d, &big))
        .await;
    assert_eq!((status, body["code"].as_str()), (413, Some("too_large")));
    let huge = "x".repeat(clinic_protocol::limits::MAX_JSON_BODY_BYTES + 10);
    let (status, body) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            new_message(p, d, &huge),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (413, Some("too_large")));
    let (status, _) = server
        .post(
            &c.doc1.token,
            "/api/chat/messages",
            json!({"patientId": p, "doctorId": d, "content": "x", "isEmergency": true}),
        )
        .await;
    assert_eq!(status, 403, "doctors do not raise emergencies");
    let response = server
        .http
        .get(server.url("/api/chat/conversations"))
        .send()
        .await
        .unwrap();
    let (status, body) = common::split(response).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body) = server.get(&c.pat1.token, "/api/nothing/here").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let ids: Vec<String> = (0..clinic_protocol::limits::MAX_IDS_PER_REQUEST + 1)
        .map(|i| format!("m-{i}"))
        .collect();
    let (status, _) = server
        .patch(
            &c.pat1.token,
            "/api/chat/messages",
            json!({"messageIds": ids}),
        )
        .await;
    assert_eq!(status, 413);

    // Nothing half-written: the only message is the first one.
    let (_, page) = server.get(&c.pat1.token, &messages_path(p, d, "")).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn conversations_contacts_sync_and_notifications() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            new_message(c.pat1.id(), c.doc1.id(), "from pat1"),
        )
        .await;
    server
        .post(
            &c.pat2.token,
            "/api/chat/messages",
            new_message(c.pat2.id(), c.doc1.id(), "from pat2"),
        )
        .await;
    server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            new_message(c.pat1.id(), c.doc2.id(), "to doc2"),
        )
        .await;

    let (status, list) = server.get(&c.doc1.token, "/api/chat/conversations").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0]["otherParty"]["id"],
        c.pat2.id(),
        "most recent first"
    );
    assert_eq!(list[0]["unreadCount"], 1);
    assert_eq!(list[0]["lastMessage"]["content"], "from pat2");
    assert_eq!(list[0]["otherParty"]["bloodGroup"], "AB+");
    assert!(list[0]["otherParty"]["age"].as_u64().unwrap() >= 40);
    assert_eq!(list[0]["hasEmergency"], false);

    let (_, mine) = server.get(&c.pat1.token, "/api/chat/conversations").await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["otherParty"]["id"], c.doc2.id());
    assert_eq!(mine[0]["unreadCount"], 0);
    assert!(mine[0]["otherParty"]["bloodGroup"].is_null());

    // Contacts: every doctor for a patient; a doctor's patients.
    let (_, doctors) = server.get(&c.pat2.token, "/api/contacts").await;
    assert_eq!(doctors.as_array().unwrap().len(), 2);
    let (_, patients) = server.get(&c.doc2.token, "/api/contacts").await;
    let patients = patients.as_array().unwrap();
    assert_eq!(patients.len(), 1);
    assert_eq!(patients[0]["id"], c.pat1.id());

    // Sync over REST, in pages.
    let (_, first) = server.get(&c.pat1.token, "/api/sync?since=0&limit=1").await;
    assert_eq!(first["messages"].as_array().unwrap().len(), 1);
    assert_eq!(first["hasMore"], true);
    let (_, rest) = server
        .get(
            &c.pat1.token,
            &format!("/api/sync?since={}", first["cursor"]),
        )
        .await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1);
    assert_eq!(rest["hasMore"], false);
    let (status, _) = server.get(&c.pat1.token, "/api/sync?since=abc").await;
    assert_eq!(status, 400);

    // Notifications for the recipient, marked read by their owner only.
    let (_, notes) = server.get(&c.doc1.token, "/api/notifications").await;
    let notes = notes.as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["kind"], "NEW_MESSAGE");
    let ids: Vec<Value> = notes.iter().map(|n| n["id"].clone()).collect();
    let (status, _) = server
        .patch(&c.pat1.token, "/api/notifications", json!({"ids": ids}))
        .await;
    assert_eq!(status, 204);
    let (_, unread) = server
        .get(&c.doc1.token, "/api/notifications?unreadOnly=true")
        .await;
    assert_eq!(
        unread.as_array().unwrap().len(),
        2,
        "someone else's ids change nothing"
    );
    server
        .patch(&c.doc1.token, "/api/notifications", json!({"ids": ids}))
        .await;
    let (_, unread) = server
        .get(&c.doc1.token, "/api/notifications?unreadOnly=true")
        .await;
    assert_eq!(unread.as_array().unwrap().len(), 0);

    let response = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let (status, health) = common::split(response).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
}

/// `/readyz` tells how many bytes are free only to the addresses that may read the metrics
/// (this test's loopback under the default, `lan`; nobody under `off`), ready or nearly full.
#[tokio::test]
async fn readiness_tells_free_bytes_only_to_the_clinics_network() {
    for (access, told) in [
        (clinic_server::MetricsAccess::Lan, true),
        (clinic_server::MetricsAccess::Off, false),
    ] {
        for full in [false, true] {
            let server = TestServer::start_with(|config| {
                config.metrics = access;
                if full {
                    config.min_free_bytes = u64::MAX;
                }
            })
            .await;
            let response = server.http.get(server.url("/readyz")).send().await.unwrap();
            let (status, body) = common::split(response).await;
            let said = if full {
                assert_eq!(status, 503, "{body}");
                body["message"].as_str().unwrap().contains("MiB free")
            } else {
                assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
                body["freeBytes"].as_u64().is_some()
            };
            assert_eq!(said, told, "{access:?}, full {full}: {body}");
            // `/metrics` refused says why: off for everyone, or only the clinic's network.
            let response = server
                .http
                .get(server.url("/metrics"))
                .send()
                .await
                .unwrap();
            let (status, body) = common::split(response).await;
            if access == clinic_server::MetricsAccess::Off {
                assert_eq!(status, 403, "{body}");
                assert_eq!(
                    body["message"],
                    "metrics are not served on this server (--metrics off)"
                );
            } else {
                assert_eq!(status, 200);
            }
        }
    }
}

#[tokio::test]
async fn the_demo_clinic_serves_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || clinic_server::demo::seed(&path))
        .await
        .unwrap()
        .unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let login = |username: &'static str| {
        let server = &server;
        async move {
            let response = server
                .http
                .post(server.url("/api/auth/login"))
                .json(
                    &json!({"username": username, "password": clinic_server::demo::DEMO_PASSWORD}),
                )
                .send()
                .await
                .unwrap();
            let (_, body) = common::split(response).await;
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let patel = login("dr.patel").await;
    let (_, list) = server.get(&patel, "/api/chat/conversations").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["otherParty"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob", "alice"]);
    assert_eq!(list[1]["otherParty"]["bloodGroup"], "A+");
    assert_eq!(list[1]["unreadCount"], 0, "Dr. Patel answered Alice last");
    let alice = login("alice").await;
    let (_, mine) = server.get(&alice, "/api/chat/conversations").await;
    assert_eq!(
        mine[0]["unreadCount"], 1,
        "Alice has the doctor's last message to read"
    );
    // Alice's first reading was written offline, 40 minutes before it went.
    let (_, page) = server
        .get(
            &alice,
            &format!(
                "/api/chat/messages?patientId={}&doctorId={}",
                mine[0]["patientId"].as_str().unwrap(),
                mine[0]["doctorId"].as_str().unwrap()
            ),
        )
        .await;
    let first = page
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"].as_str().unwrap().contains("150/95"))
        .unwrap();
    let written: chrono::DateTime<chrono::Utc> =
        first["writtenAt"].as_str().unwrap().parse().unwrap();
    let sent: chrono::DateTime<chrono::Utc> = first["createdAt"].as_str().unwrap().parse().unwrap();
    assert_eq!((sent - written).num_minutes(), 40);
    let nguyen = login("dr.nguyen").await;
    let (_, list) = server.get(&nguyen, "/api/chat/conversations").await;
    assert_eq!(list[0]["otherParty"]["username"], "carol");
    assert_eq!(list[0]["unreadCount"], 1);
}

/// Over REST as over sockets, a page waits for a share of the page budget before it reads:
/// with one page at a time and the writer stalled, a history page asked for while a sync page
/// waits for its audit row is read only after the stall, and so holds a message committed with
/// it (here by the connection that held the lock). Both are answered once the writer moves.
#[tokio::test]
async fn a_rest_page_over_the_budget_waits_before_it_reads() {
    let server = TestServer::start_with(|config| config.pages_at_once = 1).await;
    let c = clinic(&server).await;
    let (p, d) = (c.pat1.id(), c.doc1.id());
    let (status, first) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            new_message(p, d, "first"),
        )
        .await;
    assert_eq!(status, 201);
    // A read's audit row, like any write but a send, moves the send log first: the message is
    // in `messages` (where the copy below is made from) and no read waits for a move.
    let (status, _) = server.get(&c.doc1.token, &messages_path(p, d, "")).await;
    assert_eq!(status, 200);

    let other = server.stall_writer();
    let sync = {
        let (server, token) = (&server, c.doc1.token.clone());
        async move { server.get(&token, "/api/sync?since=0").await }
    };
    let history = {
        let (server, token, path) = (&server, c.doc1.token.clone(), messages_path(p, d, ""));
        async move {
            // The sync takes the only share first (a margin for a busy machine).
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            server.get(&token, &path).await
        }
    };
    let late = async {
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        // Written under the lock the writer waits for, as a copy of the first message.
        let columns: Vec<String> = other
            .prepare("SELECT name FROM pragma_table_info('messages')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let values: Vec<String> = columns
            .iter()
            .map(|column| match column.as_str() {
                "id" => "'m-late'".to_owned(),
                "client_id" => "'late'".to_owned(),
                "seq" | "change_seq" => "1000000".to_owned(),
                "content" => "'committed with the stall'".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        let copied = other
            .execute(
                &format!(
                    "INSERT INTO messages ({}) SELECT {} FROM messages WHERE id = ?1",
                    columns.join(", "),
                    values.join(", ")
                ),
                [first["id"].as_str().unwrap()],
            )
            .unwrap();
        assert_eq!(copied, 1);
        other.execute_batch("COMMIT").unwrap();
    };
    let ((sync_status, _), (history_status, history), ()) = tokio::join!(sync, history, late);
    assert_eq!((sync_status, history_status), (200, 200));
    let contents: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["first", "committed with the stall"],
        "the history page was read before its turn"
    );
}
