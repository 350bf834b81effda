//! Unsend / retract and edit through the real server: tombstones live and in sync, edits with
//! their version list, the retracted file leaving the disk, the search index that cannot find a
//! retracted text again (not after a rebuild, not after VACUUM), and every refusal of the spec
//! with its status, its sentence, and nothing written.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Account, Clinic, PNG, TestServer, Ws, clinic, split};
use serde_json::{Value, json};
use std::time::Duration;

/// `from` sends `text` into the conversation of pat1 and doc1; returns the stored message.
async fn send(server: &TestServer, c: &Clinic, from: &Account, text: &str) -> Value {
    let body = json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": text});
    let (status, m) = server.post(&from.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{m}");
    m
}

async fn retract(server: &TestServer, who: &Account, id: &str, body: Value) -> (u16, Value) {
    server
        .post(
            &who.token,
            &format!("/api/chat/messages/{id}/retract"),
            body,
        )
        .await
}

async fn edit(server: &TestServer, who: &Account, id: &str, text: &str, base: u32) -> (u16, Value) {
    server
        .post(
            &who.token,
            &format!("/api/chat/messages/{id}/edit"),
            json!({"content": text, "baseVersion": base}),
        )
        .await
}

/// The contents `who` finds for `q`.
async fn found(server: &TestServer, who: &Account, q: &str) -> Vec<String> {
    let (status, page) = server
        .get(&who.token, &format!("/api/search/messages?q={q}"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["content"].as_str().unwrap().to_owned())
        .collect()
}

/// The last change seq `who` can see: unchanged means nothing was written for them.
async fn cursor(server: &TestServer, who: &Account) -> i64 {
    let (status, page) = server.get(&who.token, "/api/sync?since=0&limit=1000").await;
    assert_eq!(status, 200, "{page}");
    page["cursor"].as_i64().unwrap()
}

/// Both participants' view of the conversation, as history pages.
async fn history(server: &TestServer, who: &Account, c: &Clinic) -> Vec<Value> {
    let (status, page) = server
        .get(
            &who.token,
            &format!(
                "/api/chat/messages?patientId={}&doctorId={}",
                c.pat1.id(),
                c.doc1.id()
            ),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_patient_unsends_and_both_see_the_tombstone_live_and_in_sync() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doctor_ws, hello) = Ws::connect(&server, &c.doc1.token).await;
    // The windows are told to every client when it signs in.
    assert_eq!(
        hello["clinic"]["messageWindows"],
        json!({"unsendSecs": 86400, "retractSecs": 900, "editSecs": 86400, "maxEdits": 10})
    );
    let m = send(&server, &c, &c.pat1, "I took zebracillin twice by mistake").await;
    doctor_ws.expect("message:received").await;
    let id = m["id"].as_str().unwrap();
    assert_eq!(found(&server, &c.doc1, "zebracillin").await.len(), 1);

    let (status, tomb) = retract(&server, &c.pat1, id, json!({})).await;
    assert_eq!(status, 200, "{tomb}");
    assert_eq!(tomb["content"], "");
    assert_eq!(tomb["retracted"]["by"], c.pat1.id());
    assert!(tomb["retracted"]["at"].is_string());

    // Live to the other participant.
    let live = doctor_ws.expect("message:updated").await;
    assert_eq!(live["message"], tomb);
    assert!(live.get("clientId").is_none());

    // Asking again answers the same tombstone and writes nothing.
    let before = cursor(&server, &c.pat1).await;
    let (status, again) = retract(&server, &c.pat1, id, json!({})).await;
    assert_eq!((status, &again), (200, &tomb));
    assert_eq!(cursor(&server, &c.pat1).await, before);

    // Sync from the start (an offline device) and history carry the tombstone, not the text.
    let (_, page) = server.get(&c.doc1.token, "/api/sync?since=0").await;
    let synced: Vec<&Value> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == id)
        .collect();
    assert_eq!(synced, [&tomb]);
    for who in [&c.pat1, &c.doc1] {
        assert_eq!(history(&server, who, &c).await, std::slice::from_ref(&tomb));
    }
    // Search, notification previews and the version list no longer hold the text.
    assert!(found(&server, &c.doc1, "zebracillin").await.is_empty());
    assert!(found(&server, &c.pat1, "~ebracil").await.is_empty());
    let (_, notes) = server.get(&c.doc1.token, "/api/notifications").await;
    assert!(!notes.to_string().contains("zebracillin"), "{notes}");
    let (status, versions) = server
        .get(&c.doc1.token, &format!("/api/chat/messages/{id}/versions"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(versions, json!({"messageId": id, "versions": []}));
    // A tombstone cannot be edited.
    let (status, body) = edit(&server, &c.pat1, id, "new text", 1).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("unsent"));
}

#[tokio::test]
async fn an_unread_message_unsent_leaves_the_unread_count_and_the_notifications() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (before, notes_before) = common::doctor_unread(&server, &c).await;
    let kept = send(&server, &c, &c.pat1, "my knee still hurts").await;
    let gone = send(&server, &c, &c.pat1, "wrong photo, ignore").await;
    assert_eq!(
        common::doctor_unread(&server, &c).await,
        (before + 2, notes_before + 2),
        "the control: both count as unread"
    );
    let (status, _) = retract(&server, &c.pat1, gone["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        common::doctor_unread(&server, &c).await,
        (before + 1, notes_before + 1),
        "a tombstone is nothing to read: the badge and the notifications drop"
    );
    // An edit leaves the count alone: the message is still there to read.
    let (status, _) = edit(
        &server,
        &c.pat1,
        kept["id"].as_str().unwrap(),
        "my knee hurts",
        1,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        common::doctor_unread(&server, &c).await,
        (before + 1, notes_before + 1)
    );
}

#[tokio::test]
async fn edits_keep_every_version_visible_to_both() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut patient_ws, _) = Ws::connect(&server, &c.pat1.token).await;
    let m = send(&server, &c, &c.doc1, "Take 500 mg of ibuprofen").await;
    patient_ws.expect("message:received").await;
    let id = m["id"].as_str().unwrap();

    let (status, edited) = edit(&server, &c.doc1, id, "Take 200 mg of paracetamol", 1).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["content"], "Take 200 mg of paracetamol");
    assert_eq!(edited["edited"]["version"], 2);
    let live = patient_ws.expect("message:updated").await;
    assert_eq!(live["message"], edited);

    // The same text again: 200, no new version, nothing written.
    let before = cursor(&server, &c.doc1).await;
    let (status, same) = edit(&server, &c.doc1, id, "Take 200 mg of paracetamol", 2).await;
    assert_eq!((status, &same), (200, &edited));
    assert_eq!(cursor(&server, &c.doc1).await, before);

    // The patient sees the version list; search finds only the text that stands.
    let (status, versions) = server
        .get(&c.pat1.token, &format!("/api/chat/messages/{id}/versions"))
        .await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Take 500 mg of ibuprofen", "Take 200 mg of paracetamol"]
    );
    assert_eq!(versions["versions"][1]["version"], 2);
    assert!(found(&server, &c.pat1, "ibuprofen").await.is_empty());
    assert_eq!(found(&server, &c.pat1, "paracetamol").await.len(), 1);
    // The recipient's notification preview follows the edit.
    let (_, notes) = server.get(&c.pat1.token, "/api/notifications").await;
    assert!(!notes.to_string().contains("ibuprofen"), "{notes}");
    assert!(notes.to_string().contains("paracetamol"), "{notes}");

    // At most 10 edits: versions 2..=11, then the 11th edit is refused.
    for version in 2..=10 {
        let (status, body) = edit(&server, &c.doc1, id, &format!("dose {version}"), version).await;
        assert_eq!(status, 200, "{body}");
    }
    let before = cursor(&server, &c.doc1).await;
    let (status, body) = edit(&server, &c.doc1, id, "one more", 11).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "conflict");
    assert!(
        body["message"].as_str().unwrap().contains("10 times"),
        "{body}"
    );
    assert_eq!(cursor(&server, &c.doc1).await, before);
}

/// Every refusal: exact status and code, a sentence, nothing written.
#[tokio::test]
async fn every_refusal_has_its_status_a_sentence_and_writes_nothing() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let m = send(&server, &c, &c.pat1, "please call me").await;
    let id = m["id"].as_str().unwrap().to_owned();
    let body = json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(),
                      "content": "I can't breathe", "isEmergency": true});
    let (status, emergency) = server.post(&c.pat1.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{emergency}");
    let emergency_id = emergency["id"].as_str().unwrap().to_owned();

    type Case<'a> = (&'a str, &'a Account, String, Value, u16, &'a str, &'a str);
    let retract_path = |id: &str| format!("/api/chat/messages/{id}/retract");
    let edit_path = |id: &str| format!("/api/chat/messages/{id}/edit");
    let cases: Vec<Case<'_>> = vec![
        (
            "not the sender",
            &c.doc1,
            retract_path(&id),
            json!({}),
            403,
            "forbidden",
            "Only the person who sent",
        ),
        (
            "not the sender edits",
            &c.doc1,
            edit_path(&id),
            json!({"content": "x", "baseVersion": 1}),
            403,
            "forbidden",
            "Only the person who sent",
        ),
        (
            "another conversation",
            &c.pat2,
            retract_path(&id),
            json!({}),
            404,
            "not_found",
            "no such message",
        ),
        (
            "unknown message",
            &c.pat1,
            retract_path("m-nope"),
            json!({}),
            404,
            "not_found",
            "no such message",
        ),
        (
            "empty edit",
            &c.pat1,
            edit_path(&id),
            json!({"content": "  ", "baseVersion": 1}),
            400,
            "bad_request",
            "to remove it, unsend it",
        ),
        (
            "stale base version",
            &c.pat1,
            edit_path(&id),
            json!({"content": "please call me now", "baseVersion": 3}),
            409,
            "stale_version",
            "version 1 now",
        ),
        (
            "emergency unsend",
            &c.pat1,
            retract_path(&emergency_id),
            json!({}),
            409,
            "conflict",
            "resolve it with a note",
        ),
        (
            "emergency edit",
            &c.pat1,
            edit_path(&emergency_id),
            json!({"content": "fine now", "baseVersion": 1}),
            409,
            "conflict",
            "resolve it with a note",
        ),
        (
            "misdirected without a reason",
            &c.pat1,
            retract_path(&id),
            json!({"misdirected": true}),
            400,
            "bad_request",
            "with a reason",
        ),
        (
            "edit too long",
            &c.pat1,
            edit_path(&id),
            json!({"content": "x".repeat(16 * 1024 + 1), "baseVersion": 1}),
            413,
            "too_large",
            "longer than",
        ),
        (
            "reason too long",
            &c.pat1,
            retract_path(&id),
            json!({"reason": "x".repeat(1025)}),
            413,
            "too_large",
            "longer than",
        ),
        (
            "malformed body",
            &c.pat1,
            edit_path(&id),
            json!({"content": 5}),
            400,
            "bad_request",
            "",
        ),
    ];
    for (name, who, path, body, status, code, sentence) in cases {
        let before = (
            cursor(&server, &c.pat1).await,
            history(&server, &c.pat1, &c).await,
        );
        let (got, answer) = server.post(&who.token, &path, body).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["code"], code, "{name}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(sentence), "{name}: {message}");
        assert!(
            !message.contains("SQL") && !message.contains("Error"),
            "{name}: {message}"
        );
        let after = (
            cursor(&server, &c.pat1).await,
            history(&server, &c.pat1, &c).await,
        );
        assert_eq!(before, after, "{name} wrote something");
    }
}

#[tokio::test]
async fn windows_end_with_a_sentence_saying_when_and_misdirected_retracts_at_any_age() {
    // Windows of zero: every message is already past them.
    let server = TestServer::start_with(|config| {
        config.unsend_window = Duration::ZERO;
        config.retract_window = Duration::ZERO;
        config.edit_window = Duration::ZERO;
    })
    .await;
    let c = clinic(&server).await;
    let from_patient = send(&server, &c, &c.pat1, "a note for the wrong doctor").await;
    let from_doctor = send(&server, &c, &c.doc1, "results for another patient").await;
    for (who, m, verb) in [
        (&c.pat1, &from_patient, "unsend"),
        (&c.doc1, &from_doctor, "retract"),
    ] {
        let id = m["id"].as_str().unwrap();
        let before = cursor(&server, who).await;
        let (status, body) = retract(&server, who, id, json!({})).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "too_late");
        let sentence = body["message"].as_str().unwrap();
        assert!(
            sentence.starts_with(&format!("Too late to {verb}: that ended at ")),
            "{sentence}"
        );
        assert!(sentence.contains("UTC"), "{sentence}");
        let (status, body) = edit(&server, who, id, "corrected", 1).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("too_late")),
            "{body}"
        );
        assert_eq!(cursor(&server, who).await, before);

        // Sent to the wrong person: allowed at any age, with a reason.
        let (status, tomb) = retract(
            &server,
            who,
            id,
            json!({"misdirected": true, "reason": "wrong person"}),
        )
        .await;
        assert_eq!(status, 200, "{tomb}");
        assert_eq!(tomb["content"], "");
    }
}

#[tokio::test]
async fn a_retracted_file_leaves_the_disk_and_cannot_be_downloaded() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let form = common::upload_form(&c.pat1, &c.doc1, "rash.png", PNG.to_vec(), "image/png");
    let response = server
        .http
        .post(server.url("/api/chat/upload"))
        .bearer_auth(&c.pat1.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, uploaded) = split(response).await;
    assert_eq!(status, 201, "{uploaded}");
    let url = uploaded["fileUrl"].as_str().unwrap().to_owned();
    let body = json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": "my rash",
                      "fileUrl": url});
    let (status, m) = server.post(&c.pat1.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{m}");
    let stored = || {
        walk(&server.dir.path().join("files"))
            .into_iter()
            .filter(|p| std::fs::read(p).is_ok_and(|b| b == PNG))
            .count()
    };
    assert_eq!(stored(), 1);

    let (status, tomb) = retract(&server, &c.pat1, m["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, 200, "{tomb}");
    for field in ["fileUrl", "fileName", "fileSize", "fileType"] {
        assert!(tomb[field].is_null(), "{field}: {tomb}");
    }
    assert_eq!(stored(), 0, "the file's bytes are gone from the disk");
    let response = server
        .http
        .get(server.url(&url))
        .bearer_auth(&c.doc1.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The history shows the tombstone (the retraction may have waited in the log: a read
    // waits for it to move).
    let listed = history(&server, &c.doc1, &c)
        .await
        .into_iter()
        .find(|x| x["id"] == m["id"])
        .unwrap();
    assert_eq!(listed, tomb);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn over_the_socket_with_a_client_id_the_asker_gets_its_answer_and_the_other_side_the_update()
{
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut patient_ws, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut doctor_ws, _) = Ws::connect(&server, &c.doc1.token).await;
    let m = send(&server, &c, &c.pat1, "headache since monday").await;
    let id = m["id"].as_str().unwrap();
    doctor_ws.expect("message:received").await;

    patient_ws
        .send(
            json!({"type": "message:edit", "clientId": "e-1", "messageId": id,
                     "content": "headache since sunday", "baseVersion": 1}),
        )
        .await;
    let answer = patient_ws.expect("message:updated").await;
    assert_eq!(answer["clientId"], "e-1");
    assert_eq!(answer["message"]["content"], "headache since sunday");
    let live = doctor_ws.expect("message:updated").await;
    assert_eq!(live["message"], answer["message"]);
    // A repeated clientId (a resend after a lost answer) is answered again, not applied again.
    patient_ws
        .send(
            json!({"type": "message:edit", "clientId": "e-1", "messageId": id,
                     "content": "headache since sunday", "baseVersion": 1}),
        )
        .await;
    let again = patient_ws.expect("message:updated").await;
    assert_eq!(again["message"]["edited"]["version"], 2);

    patient_ws
        .send(json!({"type": "message:retract", "clientId": "r-1", "messageId": id}))
        .await;
    let answer = patient_ws.expect("message:updated").await;
    assert_eq!(answer["clientId"], "r-1");
    assert_eq!(answer["message"]["content"], "");
    let live = doctor_ws.expect("message:updated").await;
    assert_eq!(live["message"]["retracted"]["by"], c.pat1.id());

    // A refusal carries the clientId.
    doctor_ws
        .send(json!({"type": "message:retract", "clientId": "r-2", "messageId": id}))
        .await;
    let error = doctor_ws.expect("error").await;
    assert_eq!(error["clientId"], "r-2");
    assert_eq!(error["code"], "forbidden");
}

/// Two devices of a patient edit and unsend one message at the same moment: every socket of both
/// participants hears that message's changes in the order they were committed, so the last it
/// hears is the tombstone and never an edit's text after it (the edit is either committed first
/// or refused). Each change was published by its caller's task after its commit, and an edit
/// reached sockets after the unsend that followed it in 6 of 30 such races.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_socket_hears_an_edit_and_an_unsend_in_commit_order() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut editor, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut unsender, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut doctor, _) = Ws::connect(&server, &c.doc1.token).await;
    let mut edited_first = 0;
    for round in 0..40 {
        let m = send(&server, &c, &c.pat1, &format!("round {round}")).await;
        let id = m["id"].as_str().unwrap().to_owned();
        for ws in [&mut editor, &mut unsender, &mut doctor] {
            let received = ws.expect("message:received").await;
            assert_eq!(received["message"]["id"], id.as_str());
        }
        let edit = json!({"type": "message:edit", "clientId": format!("e-{round}"),
            "messageId": id, "content": format!("round {round}, edited"), "baseVersion": 1});
        let unsend =
            json!({"type": "message:retract", "clientId": format!("r-{round}"), "messageId": id});
        tokio::join!(editor.send(edit), unsender.send(unsend));
        // A message sent after both answers is heard after every change published before it.
        let mut heard = [Vec::new(), Vec::new(), Vec::new()];
        let mut answered = [false, false];
        while answered != [true, true] {
            for (i, ws) in [&mut editor, &mut unsender].into_iter().enumerate() {
                if answered[i] {
                    continue;
                }
                let frame = ws.next().await.expect("a frame");
                if frame["clientId"].is_string() {
                    answered[i] = true;
                }
                if frame["type"] == "message:updated" {
                    heard[i].push(frame["message"].clone());
                }
            }
        }
        let marker = send(&server, &c, &c.pat1, &format!("after round {round}")).await;
        for (i, ws) in [&mut editor, &mut unsender, &mut doctor]
            .into_iter()
            .enumerate()
        {
            loop {
                let frame = ws.next().await.expect("a frame");
                if frame["type"] == "message:received" {
                    assert_eq!(frame["message"]["id"], marker["id"]);
                    break;
                }
                // Notifications and presence are not what this test is about.
                if frame["type"] == "message:updated" {
                    heard[i].push(frame["message"].clone());
                }
            }
        }
        for (who, messages) in ["the editor", "the unsender", "the doctor"]
            .iter()
            .zip(&heard)
        {
            let last = messages.last().expect("the unsend is heard");
            assert!(
                last["retracted"].is_object() && last["content"] == "",
                "round {round}: {who} heard {messages:?}"
            );
            assert!(
                messages
                    .iter()
                    .rev()
                    .skip(1)
                    .all(|m| m["retracted"].is_null()),
                "round {round}: {who} heard {messages:?}"
            );
        }
        if heard[2].len() == 2 {
            edited_first += 1;
        }
    }
    // Both orders happen: without edits committed first, the race was not tried.
    assert!(edited_first > 0, "no edit was committed before its unsend");
}

/// The search indexes are fed from the visible text only: after a retraction neither an index
/// rebuild nor VACUUM can find the text again. The sealed original stays, append-only.
#[tokio::test]
async fn the_index_cannot_find_a_retracted_text_after_a_rebuild_or_vacuum() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let gone = send(&server, &c, &c.pat1, "quetiapinexyz is what I take").await;
    send(&server, &c, &c.pat1, "lisinoprilxyz stays").await;
    // Found first: the index holds the text before the retraction takes it out.
    let (status, found) = server
        .get(&c.pat1.token, "/api/search/messages?q=quetiapinexyz")
        .await;
    assert_eq!(
        (status, found["results"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _) = retract(&server, &c.pat1, gone["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, 200);
    let dir = server.stop().await;

    let check = |dir: &std::path::Path, when: &str| {
        let index = rusqlite::Connection::open(dir.join("search.db")).unwrap();
        let count = |table: &str, q: &str| -> i64 {
            index
                .query_row(
                    &format!("SELECT count(*) FROM {table} WHERE {table} MATCH ?1"),
                    [q],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(count("messages_words", "quetiapinexyz"), 0, "{when}");
        assert_eq!(count("messages_parts", "\"tiapinex\""), 0, "{when}");
        // The control: what stands is found, so the index works.
        assert_eq!(count("messages_words", "lisinoprilxyz"), 1, "{when}");
        assert_eq!(count("messages_parts", "\"inoprilx\""), 1, "{when}");
        index
    };
    let index = check(dir.path(), "after the retraction");
    index.execute_batch("VACUUM").unwrap();
    drop(index);
    check(dir.path(), "after VACUUM of the index");
    // An index built again from the database (its file lost) finds nothing more.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("search.db{suffix}")));
    }
    let conn = rusqlite::Connection::open(dir.path().join("clinic.db")).unwrap();
    conn.execute_batch("VACUUM").unwrap();
    drop(conn);
    let server = TestServer::start_in(dir, |_| {}).await;
    let (status, found) = server
        .get(&c.pat1.token, "/api/search/messages?q=lisinoprilxyz")
        .await;
    assert_eq!(
        (status, found["results"].as_array().map(Vec::len)),
        (200, Some(1)),
        "rebuilt: {found}"
    );
    let dir = server.stop().await;
    check(dir.path(), "after VACUUM and a rebuild");
    let conn = rusqlite::Connection::open(dir.path().join("clinic.db")).unwrap();

    // The original is sealed, and the seal is append-only.
    let sealed: String = conn
        .query_row("SELECT content FROM message_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sealed, "quetiapinexyz is what I take");
    for sql in [
        "UPDATE message_versions SET content = 'x'",
        "DELETE FROM message_versions",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
}

/// Retention still purges a conversation whose messages were edited and retracted: the sealed
/// versions go with their messages (the only deletion the append-only table allows).
#[tokio::test]
async fn retention_purges_sealed_versions_with_their_messages() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let edited = send(&server, &c, &c.pat1, "first text").await;
    let gone = send(&server, &c, &c.pat1, "taken back").await;
    let (status, _) = edit(
        &server,
        &c.pat1,
        edited["id"].as_str().unwrap(),
        "second text",
        1,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = retract(&server, &c.pat1, gone["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, 200);
    let dir = server.stop().await;
    let db = dir.path().join("clinic.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE messages SET created_at = created_at - 20 * 365 * 86400000,
             written_at = written_at - 20 * 365 * 86400000",
        [],
    )
    .unwrap();
    let versions = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM message_versions", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(versions(&conn), 2);
    drop(conn);
    let policy = clinic_server::retention::Policy::parse("10y", false)
        .unwrap()
        .unwrap();
    let purged = clinic_server::retention::admin::run(dir.path(), &policy).unwrap();
    assert_eq!(
        purged.iter().map(|p| p.messages).sum::<u64>(),
        2,
        "{purged:?}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(versions(&conn), 0);
}
