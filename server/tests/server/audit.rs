//! The audit log through the real server: every route and frame that touches patient data
//! writes its row (DENIED for refusals), a failed audit write fails the request and commits
//! nothing, the log holds no message text, tampering is found by `verify` at the right row, and
//! the `clinic-server audit` commands with their refusals.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, Ws, clinic, key, send_frame};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    actor: Option<String>,
    action: String,
    patient: Option<String>,
    doctor: Option<String>,
    subject: Option<String>,
    outcome: String,
    detail: Option<String>,
}

fn db(dir: &Path) -> Connection {
    Connection::open(clinic_server::config::db_path(dir)).unwrap()
}

fn last_id(dir: &Path) -> i64 {
    db(dir)
        .query_row("SELECT coalesce(max(id), 0) FROM audit", [], |r| r.get(0))
        .unwrap()
}

fn rows_after(dir: &Path, id: i64) -> Vec<Row> {
    let conn = db(dir);
    let mut stmt = conn
        .prepare(
            "SELECT actor, action, patient_id, doctor_id, subject, outcome, detail FROM audit \
             WHERE id > ?1 ORDER BY id",
        )
        .unwrap();
    stmt.query_map([id], |r| {
        Ok(Row {
            actor: r.get(0)?,
            action: r.get(1)?,
            patient: r.get(2)?,
            doctor: r.get(3)?,
            subject: r.get(4)?,
            outcome: r.get(5)?,
            detail: r.get(6)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// `from` sends `content` (with `extra` fields) into pat1's conversation with doc1; the status.
async fn send_text(
    server: &TestServer,
    c: &common::Clinic,
    from: &common::Account,
    content: &str,
    extra: Value,
) -> u16 {
    let mut body = json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": content});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    server.post(&from.token, "/api/chat/messages", body).await.0
}

fn history_path(c: &common::Clinic) -> String {
    format!(
        "/api/chat/messages?patientId={}&doctorId={}",
        c.pat1.id(),
        c.doc1.id()
    )
}

async fn wrong_login(server: &TestServer, username: &str) -> u16 {
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": username, "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// One request or frame and the audit row it must write.
enum Call {
    Get(&'static str, String),
    Post(&'static str, String, Value),
    /// Who, the frame, and the kind of frame that answers it.
    Frame(&'static str, Value, &'static str),
}

struct Case {
    name: &'static str,
    call: Call,
    /// (actor, action, outcome, patient): the patient the row is about, if any.
    actor: &'static str,
    action: &'static str,
    outcome: &'static str,
    patient: Option<&'static str>,
}

#[tokio::test]
async fn every_route_and_frame_on_patient_data_writes_its_row() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let dir = server.dir.path().to_path_buf();
    // A file message and an emergency to read and handle.
    let response = server
        .http
        .post(server.url("/api/chat/upload"))
        .bearer_auth(&c.pat1.token)
        .multipart(common::upload_form(
            &c.pat1,
            &c.doc1,
            "scan.png",
            common::PNG.to_vec(),
            "image/png",
        ))
        .send()
        .await
        .unwrap();
    let (status, uploaded) = common::split(response).await;
    assert_eq!(status, 201, "{uploaded}");
    let file_url = uploaded["fileUrl"].as_str().unwrap().to_owned();
    // The upload is recorded as it arrives (before any message names it), and so is a
    // stranger's refused upload into that conversation.
    let before = last_id(&dir);
    let (status, refused) = server
        .upload(
            &c.doc2,
            (&c.pat1, &c.doc1),
            "x.png",
            common::PNG.to_vec(),
            "image/png",
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    let conn = db(&dir);
    let uploads: Vec<(String, String, String, Option<String>)> = conn
        .prepare(
            "SELECT actor, outcome, patient_id, subject FROM audit \
             WHERE action = 'FILE_UPLOAD' ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    let file_id = file_url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        uploads,
        [
            (
                c.pat1.id().to_owned(),
                "OK".to_owned(),
                c.pat1.id().to_owned(),
                Some(file_id)
            ),
            (
                c.doc2.id().to_owned(),
                "DENIED".to_owned(),
                c.pat1.id().to_owned(),
                None
            ),
        ]
    );
    assert!(last_id(&dir) > before);
    let body = json!({"clientId": "f1", "patientId": c.pat1.id(), "doctorId": c.doc1.id(),
                      "content": "", "fileUrl": file_url});
    assert_eq!(
        server
            .post(&c.pat1.token, "/api/chat/messages", body)
            .await
            .0,
        201
    );
    let body = json!({"clientId": "sos", "patientId": c.pat2.id(), "doctorId": c.doc1.id(),
                      "content": "chest pain", "isEmergency": true});
    assert_eq!(
        server
            .post(&c.pat2.token, "/api/chat/messages", body)
            .await
            .0,
        201
    );
    let (_, list) = server.get(&c.doc1.token, "/api/emergencies").await;
    let emergency = list[0]["id"].as_str().unwrap().to_owned();

    let (p1, d1) = (c.pat1.id().to_owned(), c.doc1.id().to_owned());
    let history = format!("/api/chat/messages?patientId={p1}&doctorId={d1}");
    let send = json!({"patientId": p1, "doctorId": d1, "content": "hello"});
    // Messages to edit, retract and unsend.
    let mut ids = Vec::new();
    for (who, client_id) in [
        (&c.doc1, "e1"),
        (&c.doc1, "r1"),
        (&c.pat1, "u1"),
        (&c.doc1, "r2"),
    ] {
        let body = json!({"clientId": client_id, "patientId": p1, "doctorId": d1,
                          "content": format!("to change {client_id}")});
        let (status, message) = server.post(&who.token, "/api/chat/messages", body).await;
        assert_eq!(status, 201, "{message}");
        ids.push(message["id"].as_str().unwrap().to_owned());
    }
    let (to_edit, to_retract, to_unsend, to_retract_ws) = (
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
        ids[3].clone(),
    );
    let edit = json!({"content": "changed", "baseVersion": 1});
    let cases = vec![
        Case {
            name: "edit",
            call: Call::Post(
                "doc1",
                format!("/api/chat/messages/{to_edit}/edit"),
                edit.clone(),
            ),
            actor: "doc1",
            action: "MESSAGE_EDIT",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "edit of someone else's message",
            call: Call::Post("pat1", format!("/api/chat/messages/{to_edit}/edit"), edit),
            actor: "pat1",
            action: "MESSAGE_EDIT",
            outcome: "DENIED",
            // Her conversation: `audit query --patient` finds the refusal under her.
            patient: Some("pat1"),
        },
        Case {
            name: "contacts",
            call: Call::Get("doc1", "/api/contacts".into()),
            actor: "doc1",
            action: "CONTACTS_READ",
            outcome: "OK",
            patient: None,
        },
        Case {
            name: "versions",
            call: Call::Get("pat1", format!("/api/chat/messages/{to_edit}/versions")),
            actor: "pat1",
            action: "VERSIONS_READ",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "retract",
            call: Call::Post(
                "doc1",
                format!("/api/chat/messages/{to_retract}/retract"),
                json!({"reason": "wrong patient", "misdirected": true}),
            ),
            actor: "doc1",
            action: "MESSAGE_RETRACT",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "unsend",
            call: Call::Post(
                "pat1",
                format!("/api/chat/messages/{to_unsend}/retract"),
                json!({}),
            ),
            actor: "pat1",
            action: "MESSAGE_UNSEND",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "ws retract",
            call: Call::Frame(
                "doc1",
                json!({"type": "message:retract", "clientId": "w9", "messageId": to_retract_ws}),
                "message:updated",
            ),
            actor: "doc1",
            action: "MESSAGE_RETRACT",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "history",
            call: Call::Get("pat1", history.clone()),
            actor: "pat1",
            action: "HISTORY_READ",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "history of others",
            call: Call::Get("pat2", history.clone()),
            actor: "pat2",
            action: "HISTORY_READ",
            outcome: "DENIED",
            patient: Some("pat1"),
        },
        Case {
            name: "send",
            call: Call::Post("doc1", "/api/chat/messages".into(), send.clone()),
            actor: "doc1",
            action: "MESSAGE_CREATE",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "send to others",
            call: Call::Post(
                "doc2",
                "/api/chat/messages".into(),
                json!({"patientId": p1, "doctorId": d1, "content": "x"}),
            ),
            actor: "doc2",
            action: "MESSAGE_CREATE",
            outcome: "DENIED",
            patient: Some("pat1"),
        },
        Case {
            name: "sync",
            call: Call::Get("pat1", "/api/sync?since=0".into()),
            actor: "pat1",
            action: "SYNC_READ",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "search",
            call: Call::Get("doc1", "/api/search/messages?q=hello".into()),
            actor: "doc1",
            action: "SEARCH",
            outcome: "OK",
            patient: None,
        },
        Case {
            name: "search of others",
            call: Call::Get(
                "doc2",
                format!("/api/search/messages?q=hello&patientId={p1}&doctorId={d1}"),
            ),
            actor: "doc2",
            action: "SEARCH",
            outcome: "DENIED",
            patient: Some("pat1"),
        },
        Case {
            name: "download",
            call: Call::Get("doc1", file_url.clone()),
            actor: "doc1",
            action: "FILE_DOWNLOAD",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "download of others",
            call: Call::Get("doc2", file_url.clone()),
            actor: "doc2",
            action: "FILE_DOWNLOAD",
            outcome: "DENIED",
            patient: Some("pat1"),
        },
        Case {
            name: "conversations",
            call: Call::Get("pat1", "/api/chat/conversations".into()),
            actor: "pat1",
            action: "CONVERSATIONS_READ",
            outcome: "OK",
            patient: None,
        },
        Case {
            name: "notifications",
            call: Call::Get("doc1", "/api/notifications".into()),
            actor: "doc1",
            action: "NOTIFICATIONS_READ",
            outcome: "OK",
            patient: None,
        },
        Case {
            name: "patients",
            call: Call::Get("doc1", "/api/patients".into()),
            actor: "doc1",
            action: "PATIENT_LIST",
            outcome: "OK",
            patient: None,
        },
        Case {
            name: "patients by a patient",
            call: Call::Get("pat1", "/api/patients".into()),
            actor: "pat1",
            action: "PATIENT_LIST",
            outcome: "DENIED",
            patient: None,
        },
        Case {
            name: "emergencies",
            call: Call::Get("doc2", "/api/emergencies".into()),
            actor: "doc2",
            action: "EMERGENCY_READ",
            outcome: "OK",
            patient: None,
        },
        Case {
            name: "an emergency",
            call: Call::Get("doc2", format!("/api/emergencies/{emergency}")),
            actor: "doc2",
            action: "EMERGENCY_READ",
            outcome: "OK",
            patient: Some("pat2"),
        },
        Case {
            name: "another's emergency",
            call: Call::Get("pat1", format!("/api/emergencies/{emergency}")),
            actor: "pat1",
            action: "EMERGENCY_READ",
            outcome: "DENIED",
            patient: None,
        },
        Case {
            name: "acknowledge by a patient",
            call: Call::Post(
                "pat1",
                format!("/api/emergencies/{emergency}/acknowledge"),
                json!({}),
            ),
            actor: "pat1",
            action: "EMERGENCY_ACKNOWLEDGE",
            outcome: "DENIED",
            patient: None,
        },
        Case {
            name: "acknowledge",
            call: Call::Post(
                "doc2",
                format!("/api/emergencies/{emergency}/acknowledge"),
                json!({}),
            ),
            actor: "doc2",
            action: "EMERGENCY_ACKNOWLEDGE",
            outcome: "OK",
            patient: Some("pat2"),
        },
        Case {
            name: "ws send",
            call: Call::Frame(
                "pat1",
                send_frame("w1", &c.pat1, &c.doc1, "ws hello"),
                "message:ack",
            ),
            actor: "pat1",
            action: "MESSAGE_CREATE",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "ws send to others",
            call: Call::Frame("pat2", send_frame("w2", &c.pat1, &c.doc1, "x"), "error"),
            actor: "pat2",
            action: "MESSAGE_CREATE",
            outcome: "DENIED",
            patient: Some("pat1"),
        },
        Case {
            name: "ws sync",
            call: Call::Frame("doc1", json!({"type": "sync", "since": 0}), "sync:batch"),
            actor: "doc1",
            action: "SYNC_READ",
            outcome: "OK",
            patient: Some("pat1"),
        },
        Case {
            name: "ws join of others",
            call: Call::Frame(
                "doc2",
                {
                    let mut k = key(&c.pat1, &c.doc1);
                    k["type"] = json!("join:chat");
                    k
                },
                "error",
            ),
            actor: "doc2",
            action: "CONVERSATION_JOIN",
            outcome: "DENIED",
            patient: Some("pat1"),
        },
        Case {
            name: "ws resolve by a patient",
            call: Call::Frame(
                "pat1",
                json!({"type": "emergency:resolve", "emergencyId": emergency}),
                "error",
            ),
            actor: "pat1",
            action: "EMERGENCY_RESOLVE",
            outcome: "DENIED",
            patient: None,
        },
        Case {
            name: "ws resolve",
            call: Call::Frame(
                "doc2",
                json!({"type": "emergency:resolve", "emergencyId": emergency, "note": "settled"}),
                "emergency:updated",
            ),
            actor: "doc2",
            action: "EMERGENCY_RESOLVE",
            outcome: "OK",
            patient: Some("pat2"),
        },
    ];
    let account = |name: &str| match name {
        "pat1" => &c.pat1,
        "pat2" => &c.pat2,
        "doc1" => &c.doc1,
        _ => &c.doc2,
    };
    for case in cases {
        let before = last_id(&dir);
        match &case.call {
            Call::Get(who, path) => {
                server.get(&account(who).token, path).await;
            }
            Call::Post(who, path, body) => {
                server.post(&account(who).token, path, body.clone()).await;
            }
            Call::Frame(who, frame, answer) => {
                let (mut ws, _) = Ws::connect(&server, &account(who).token).await;
                ws.send(frame.clone()).await;
                ws.expect_skipping(answer).await;
            }
        }
        let actor_id = account(case.actor).id().to_owned();
        // The row is written before the answer; a socket may first be sent other frames
        // (a doctor's catch-up), so wait for it rather than for a particular frame.
        let deadline = std::time::Instant::now() + common::WAIT;
        let row = loop {
            let rows = rows_after(&dir, before);
            let found = rows
                .iter()
                .find(|r| r.action == case.action && r.actor.as_deref() == Some(actor_id.as_str()));
            match found {
                Some(row) => break row.clone(),
                None if std::time::Instant::now() > deadline => {
                    panic!("{}: no {} row in {rows:?}", case.name, case.action)
                }
                None => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        assert_eq!(row.outcome, case.outcome, "{}: {row:?}", case.name);
        if let Some(patient) = case.patient {
            assert_eq!(
                row.patient.as_deref(),
                Some(account(patient).id()),
                "{}: {row:?}",
                case.name
            );
        }
    }
    // Logins (also failed) and logouts.
    let before = last_id(&dir);
    assert_eq!(wrong_login(&server, "pat1").await, 401);
    let token = server.login("pat1").await;
    let response = server
        .http
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let rows = rows_after(&dir, before);
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("LOGIN_FAILED", "FAILED"),
            ("LOGIN", "OK"),
            ("LOGOUT", "OK")
        ]
    );
    assert!(rows.iter().all(|r| r.actor.as_deref() == Some(c.pat1.id())));
    // The whole chain is intact.
    assert!(clinic_server::audit::verify(&db(&dir)).unwrap().is_ok());
    // Emergency transitions were recorded with the conversation.
    let conn = db(&dir);
    let raised: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'EMERGENCY_RAISE' AND patient_id = ?1",
            [c.pat2.id()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raised, 1);
    server.stop().await;
}

/// A trigger that refuses audit inserts stands in for a full disk or a broken audit table.
fn break_audit(dir: &Path) {
    db(dir)
        .execute_batch(
            "CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN \
             SELECT RAISE(ABORT, 'injected audit failure'); END;",
        )
        .unwrap();
}

fn mend_audit(dir: &Path) {
    db(dir).execute_batch("DROP TRIGGER audit_broken").unwrap();
}

#[tokio::test]
async fn a_failed_audit_write_fails_the_request_and_commits_nothing() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let dir = server.dir.path().to_path_buf();
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    let history = history_path(&c);
    assert_eq!(
        send_text(&server, &c, &c.pat1, "first", json!({})).await,
        201
    );
    doc.expect("message:received").await;

    break_audit(&dir);
    let body =
        json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": "lost-token-7f3a"});
    let (status, answer) = server.post(&c.pat1.token, "/api/chat/messages", body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer.get("content").is_none() && answer["message"].as_str().unwrap().contains("audit")
    );
    // Over WebSocket too: an error for the clientId, no ack.
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    pat.send(send_frame("ws-lost", &c.pat1, &c.doc1, "lost-token-7f3a"))
        .await;
    let error = pat.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["clientId"].as_str()),
        (Some("unavailable"), Some("ws-lost"))
    );
    // Reads return 503 and no content.
    let (status, answer) = server.get(&c.doc1.token, &history).await;
    assert_eq!(status, 503);
    assert!(!answer.to_string().contains("first"), "{answer}");
    let (status, answer) = server.get(&c.doc1.token, "/api/sync?since=0").await;
    assert_eq!(status, 503);
    assert!(!answer.to_string().contains("first"), "{answer}");
    let (status, _) = server
        .get(&c.doc1.token, "/api/search/messages?q=first")
        .await;
    assert_eq!(status, 503);
    // A failed login is not let through unrecorded either.
    assert_eq!(wrong_login(&server, "pat1").await, 503);

    mend_audit(&dir);
    let stored: i64 = db(&dir)
        .query_row(
            "SELECT (SELECT count(*) FROM messages WHERE content LIKE '%lost-token%')
                  + (SELECT count(*) FROM event_log WHERE content LIKE '%lost-token%')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0, "nothing of the failed sends was stored");
    // Nor delivered: the next thing the doctor receives is the message after the failure.
    assert_eq!(
        send_text(&server, &c, &c.pat1, "after", json!({})).await,
        201
    );
    let received = doc.expect("message:received").await;
    assert_eq!(received["message"]["content"], "after");
    let (status, page) = server.get(&c.doc1.token, &history).await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "after"]);
    assert!(clinic_server::audit::verify(&db(&dir)).unwrap().is_ok());
    server.stop().await;
}

/// `POST /api/conversations` answers with the patient's details (birth date, blood group) and
/// the last message, whether it opened the conversation or found it: each answer has its row,
/// about that patient, so the access report lists it.
#[tokio::test]
async fn starting_a_conversation_that_exists_is_recorded_as_a_read() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let dir = server.dir.path().to_path_buf();
    let start = || {
        server.post(
            &c.doc1.token,
            "/api/conversations",
            json!({"patientId": c.pat2.id()}),
        )
    };
    let before = last_id(&dir);
    assert_eq!(start().await.0, 201);
    let started = rows_after(&dir, before);
    let kinds: Vec<&str> = started.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(kinds, ["CONVERSATION_START"], "{started:?}");

    let before = last_id(&dir);
    let (status, conversation) = start().await;
    assert_eq!(status, 200);
    assert_eq!(
        conversation["otherParty"]["bloodGroup"], "AB+",
        "{conversation}"
    );
    let read = rows_after(&dir, before);
    assert_eq!(
        read,
        [Row {
            actor: Some(c.doc1.id().to_owned()),
            action: "CONVERSATIONS_READ".into(),
            patient: Some(c.pat2.id().to_owned()),
            doctor: Some(c.doc1.id().to_owned()),
            subject: None,
            outcome: "OK".into(),
            detail: Some(r#"{"conversations":1}"#.into()),
        }]
    );
    let dir = server.stop().await;
    let out = cli(dir.path(), &["audit", "access-report", "--patient", "pat2"]);
    let (report, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("doc1") && l.contains("CONVERSATIONS_READ")),
        "{report}"
    );
}

#[tokio::test]
async fn the_audit_log_holds_no_message_text() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let dir = server.dir.path().to_path_buf();
    let tokens = ["zebra-token-91", "quokka-token-52", "emergency-token-33"];
    assert_eq!(
        send_text(&server, &c, &c.pat1, tokens[0], json!({})).await,
        201
    );
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    doc.send(send_frame("q", &c.pat1, &c.doc1, tokens[1])).await;
    doc.expect("message:ack").await;
    let emergency = json!({"isEmergency": true});
    assert_eq!(
        send_text(&server, &c, &c.pat1, tokens[2], emergency).await,
        201
    );
    let history = history_path(&c);
    assert_eq!(server.get(&c.doc1.token, &history).await.0, 200);
    assert_eq!(server.get(&c.doc1.token, "/api/sync?since=0").await.0, 200);
    let conn = db(&dir);
    let dump: String = conn
        .query_row(
            "SELECT group_concat(concat_ws('|', actor, action, patient_id, doctor_id, subject, outcome, detail), '|') FROM audit",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(dump.contains(c.pat1.id()), "the rows are there: {dump}");
    for token in tokens {
        assert!(!dump.contains(token), "{token} found in the audit log");
    }
    server.stop().await;
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("USER", "it-admin")
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A data folder with some history: messages, reads, a refusal, a failed login.
async fn some_history() -> (tempfile::TempDir, common::Clinic) {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    assert_eq!(send_text(&server, &c, &c.pat1, "hi", json!({})).await, 201);
    let history = history_path(&c);
    assert_eq!(server.get(&c.doc1.token, &history).await.0, 200);
    assert_eq!(server.get(&c.doc2.token, &history).await.0, 403);
    assert_eq!(wrong_login(&server, "=cmd|calc").await, 401);
    (server.stop().await, c)
}

/// Whether `printed` could act on a terminal: a control character other than the line breaks
/// between lines, or an invisible format character.
fn acts_on_a_terminal(printed: &str) -> bool {
    printed
        .chars()
        .any(|c| (c.is_control() && c != '\n') || clinic_protocol::text::is_format(c))
}

/// Anyone can make the server store a name: a failed login keeps what was typed. `audit review`
/// shows it, in every format, with nothing that acts on IT's terminal (hidden text, the
/// clipboard through OSC 52, a reset, the one-byte CSI, an override) and one row per line.
#[tokio::test]
async fn hostile_login_names_reach_the_review_as_text() {
    let server = TestServer::start().await;
    let names = [
        "x\u{1b}[8m",
        "\u{1b}]52;c;aGk=\u{7}",
        "\u{1b}c",
        "y\u{9b}2J",
        "root\u{202e}nimda",
        "z\n2026-12-05T11:06:00.000Z,forged",
    ];
    for name in names {
        assert_eq!(wrong_login(&server, name).await, 401, "{name:?}");
    }
    let dir = server.stop().await;
    for format in ["table", "csv", "jsonl"] {
        let out = cli(
            dir.path(),
            &["audit", "review", "--since", "1h", "--format", format],
        );
        let (printed, err) = text(&out);
        assert!(out.status.success(), "{format}: {err}");
        assert!(!acts_on_a_terminal(&printed), "{format}: {printed:?}");
        let failed = printed
            .lines()
            .filter(|l| l.contains("LOGIN_FAILED"))
            .count();
        assert_eq!(failed, names.len(), "{format}: {printed}");
        let hidden = if format == "jsonl" {
            "x\\u001b[8m"
        } else {
            "x\\u{1b}[8m"
        };
        assert!(printed.contains(hidden), "{format}: {printed}");
        if format == "jsonl" {
            // The same names, once parsed.
            let subjects: Vec<String> = printed
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|row| row["action"] == "LOGIN_FAILED")
                .map(|row| row["subject"].as_str().unwrap().to_owned())
                .collect();
            assert!(subjects.iter().any(|s| s == "y\u{9b}2j"), "{subjects:?}");
            assert!(
                subjects.iter().any(|s| s == "root\u{202e}nimda"),
                "{subjects:?}"
            );
        }
    }
}

#[tokio::test]
async fn tampering_is_found_at_the_right_row() {
    let (dir, _c) = some_history().await;
    let original = clinic_server::config::db_path(dir.path());
    let rows: i64 = db(dir.path())
        .query_row("SELECT max(id) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(rows >= 8, "{rows}");
    let verdict = |tamper: &str| {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(&original, clinic_server::config::db_path(copy.path())).unwrap();
        let conn = db(copy.path());
        conn.execute_batch(&format!(
            "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {tamper}"
        ))
        .unwrap();
        let result = clinic_server::audit::verify(&conn).unwrap();
        drop(conn);
        let output = cli(copy.path(), &["audit", "verify"]);
        (result, output)
    };
    // Untouched: intact, also through the CLI.
    let (result, output) = verdict("");
    assert_eq!(result, Ok(rows));
    assert!(output.status.success(), "{:?}", text(&output));
    // Edited.
    let (result, output) = verdict("UPDATE audit SET detail = '{}' WHERE id = 5");
    assert_eq!(result.unwrap_err().row, 5);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output)
            .1
            .contains("broken at row 5: its contents do not match"),
        "{:?}",
        text(&output)
    );
    // Deleted.
    let (result, _) = verdict("DELETE FROM audit WHERE id = 4");
    let broken = result.unwrap_err();
    assert_eq!(broken.row, 4, "{broken}");
    assert!(broken.problem.contains("row 4 is missing"), "{broken}");
    // Swapped (the contents of rows 3 and 6, ids kept).
    let (result, _) = verdict(
        "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE id IN (3, 6);
         UPDATE audit SET at = (SELECT at FROM t WHERE id = 6), actor = (SELECT actor FROM t WHERE id = 6),
             action = (SELECT action FROM t WHERE id = 6), patient_id = (SELECT patient_id FROM t WHERE id = 6),
             doctor_id = (SELECT doctor_id FROM t WHERE id = 6), subject = (SELECT subject FROM t WHERE id = 6),
             outcome = (SELECT outcome FROM t WHERE id = 6), detail = (SELECT detail FROM t WHERE id = 6),
             prev_hash = (SELECT prev_hash FROM t WHERE id = 6), hash = (SELECT hash FROM t WHERE id = 6)
         WHERE id = 3;
         UPDATE audit SET at = (SELECT at FROM t WHERE id = 3), actor = (SELECT actor FROM t WHERE id = 3),
             action = (SELECT action FROM t WHERE id = 3), patient_id = (SELECT patient_id FROM t WHERE id = 3),
             doctor_id = (SELECT doctor_id FROM t WHERE id = 3), subject = (SELECT subject FROM t WHERE id = 3),
             outcome = (SELECT outcome FROM t WHERE id = 3), detail = (SELECT detail FROM t WHERE id = 3),
             prev_hash = (SELECT prev_hash FROM t WHERE id = 3), hash = (SELECT hash FROM t WHERE id = 3)
         WHERE id = 6;",
    );
    assert_eq!(result.unwrap_err().row, 3);
    // Truncated: the last two rows gone.
    let (result, output) = verdict(&format!("DELETE FROM audit WHERE id > {}", rows - 2));
    let broken = result.unwrap_err();
    assert_eq!(broken.row, rows - 1, "{broken}");
    assert!(broken.problem.contains("cut short"), "{broken}");
    assert_eq!(output.status.code(), Some(1));
    // A rewritten row whose hash is recomputed still breaks the next row's link.
    let conn = db(dir.path());
    let refused = conn.execute("DELETE FROM audit WHERE id = 1", []);
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    let refused = conn.execute("UPDATE audit SET actor = 'x' WHERE id = 1", []);
    assert!(refused.unwrap_err().to_string().contains("append-only"));
}

/// Rewrites `dir`'s audit log from row `from` on as someone able to change the whole database
/// would: row `from` altered, every hash after it recomputed (docs/audit.md says how), so the
/// chain alone verifies again.
fn rewrite_from(dir: &Path, from: i64) {
    use sha2::{Digest, Sha256};
    let conn = db(dir);
    conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    conn.execute("UPDATE audit SET actor = 'nobody' WHERE id = ?1", [from])
        .unwrap();
    let mut prev: String = conn
        .query_row("SELECT prev_hash FROM audit WHERE id = ?1", [from], |r| {
            r.get(0)
        })
        .unwrap();
    let last = last_id(dir);
    for id in from..=last {
        let canonical: Value = conn
            .query_row(
                "SELECT id, at, actor, action, patient_id, doctor_id, subject, outcome, detail \
                 FROM audit WHERE id = ?1",
                [id],
                |r| {
                    Ok(json!([
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        prev
                    ]))
                },
            )
            .unwrap();
        let hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
        conn.execute(
            "UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
            rusqlite::params![id, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn a_rewritten_log_is_found_by_a_head_kept_outside_the_database() {
    let (dir, _c) = some_history().await;
    let d = dir.path();
    // The head a backup prints, kept with it.
    let backups = tempfile::tempdir().unwrap();
    let out = cli(
        d,
        &[
            "backup",
            "--to",
            backups.path().join("b.sqlite").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let line = text(&out)
        .0
        .lines()
        .find_map(|l| l.strip_prefix("audit chain head: row ").map(str::to_owned))
        .unwrap();
    let (row, rest) = line.split_once(", hash ").unwrap();
    let hash = rest.split_whitespace().next().unwrap().to_owned();
    let head = format!("{row}:{hash}");
    let row: i64 = row.parse().unwrap();

    // The untouched database holds it, by row and hash or by the hash alone (in any case).
    for given in [head.clone(), hash.to_uppercase()] {
        let out = cli(d, &["audit", "verify", "--head", &given]);
        assert!(out.status.success(), "{:?}", text(&out));
        assert!(
            text(&out)
                .0
                .contains("and it holds the 1 chain head you gave"),
            "{:?}",
            text(&out)
        );
    }

    // A copy rewritten from row 3 on: every link checks, so verify alone is fooled...
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        clinic_server::config::db_path(d),
        clinic_server::config::db_path(copy.path()),
    )
    .unwrap();
    rewrite_from(copy.path(), 3);
    let out = cli(copy.path(), &["audit", "verify"]);
    assert!(out.status.success(), "the control: {:?}", text(&out));
    // ...but not with the head kept outside.
    let before = last_id(copy.path());
    let out = cli(copy.path(), &["audit", "verify", "--head", &head]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let said = text(&out).1;
    assert!(
        said.contains(&format!(
            "the audit log does not hold the chain head you gave (row {row}, hash {hash}): \
             row {row} has hash "
        )) && said.contains(&format!("the log was rewritten at row {row} or before it")),
        "{said}"
    );
    let out = cli(copy.path(), &["audit", "verify", "--head", &hash]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("has that hash: the log was rewritten"),
        "{:?}",
        text(&out)
    );
    // The failed checks are recorded, naming the head.
    let recorded = rows_after(copy.path(), before);
    assert_eq!(recorded[0].action, "AUDIT_VERIFY");
    assert_eq!(recorded[0].outcome, "FAILED");
    assert!(
        recorded[0]
            .detail
            .as_deref()
            .unwrap()
            .contains(&format!("\"headRow\":{row}")),
        "{recorded:?}"
    );

    // A head past the end (the log rewritten shorter), among good ones: the first missing is named.
    let beyond = format!("{}:{hash}", row + 1000);
    let out = cli(d, &["audit", "verify", "--head", &head, "--head", &beyond]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains(&format!(
            "row {}, hash {hash}): the log ends at row",
            row + 1000
        )),
        "{:?}",
        text(&out)
    );

    // A malformed head is refused before anything is read or written.
    let before = last_id(d);
    for bad in ["12", "12:abc", "row 12, hash x", ":"] {
        let out = cli(d, &["audit", "verify", "--head", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {:?}", text(&out));
        assert!(
            text(&out).1.contains("is not a chain head: write ROW:HASH"),
            "{bad}: {:?}",
            text(&out)
        );
    }
    assert_eq!(last_id(d), before);
}

#[tokio::test]
async fn the_audit_commands_and_their_refusals() {
    let (dir, c) = some_history().await;
    let d = dir.path();
    let count = || -> i64 {
        db(d)
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap()
    };

    // query, in each format; reading is audited.
    let before = count();
    let out = cli(
        d,
        &[
            "audit",
            "query",
            "--patient",
            "pat1",
            "--action",
            "history_read",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("ID"), "{stdout}");
    assert!(
        stdout.contains("HISTORY_READ") && stdout.contains("doc1") && stdout.contains("DENIED"),
        "{stdout}"
    );
    assert_eq!(count(), before + 1);
    let last: (String, String) = db(d)
        .query_row(
            "SELECT actor, action FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(last, ("admin:it-admin".to_owned(), "AUDIT_READ".to_owned()));

    let out = cli(
        d,
        &["audit", "query", "--outcome", "denied", "--format", "jsonl"],
    );
    let (stdout, _) = text(&out);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(
        (lines[0]["actor"].as_str(), lines[0]["outcome"].as_str()),
        (Some("doc2"), Some("DENIED"))
    );

    // CSV: the failed login's typed name starts with "=" and is neutralised.
    let out = cli(
        d,
        &[
            "audit",
            "query",
            "--action",
            "LOGIN_FAILED",
            "--format",
            "csv",
        ],
    );
    let (stdout, _) = text(&out);
    assert!(stdout.contains(",'=cmd|calc,"), "{stdout}");
    assert!(!stdout.contains(",=cmd"), "{stdout}");

    let out = cli(
        d,
        &[
            "audit",
            "query",
            "--from",
            "2000-01-01",
            "--to",
            "2999-01-01T00:00:00Z",
            "--actor",
            "pat1",
        ],
    );
    assert!(out.status.success());
    assert!(text(&out).0.contains("MESSAGE_CREATE"));

    // access-report: who read pat1's messages.
    let out = cli(d, &["audit", "access-report", "--patient", "pat1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc1_line = stdout
        .lines()
        .find(|l| l.starts_with("doc1"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(doc1_line.contains("HISTORY_READ"), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("doc2")),
        "a refusal is not a read: {stdout}"
    );

    // review: the failed login and the refusal.
    let out = cli(d, &["audit", "review", "--since", "24h"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("LOGIN_FAILED") && stdout.contains("DENIED"),
        "{stdout}"
    );
    assert!(!stdout.contains("MESSAGE_CREATE"), "{stdout}");

    // verify, recorded too.
    let out = cli(d, &["audit", "verify"]);
    assert!(out.status.success());
    assert!(text(&out).0.contains("intact"));

    // Bad arguments: a sentence naming the flag and the form; nothing written.
    let before = count();
    let refusals: &[(&[&str], &str)] = &[
        (&["audit", "query", "--from", "yesterday"], "--from"),
        (&["audit", "query", "--to", "30/11/2026"], "YYYY-MM-DD"),
        (&["audit", "query", "--action", "READ_ALL"], "HISTORY_READ"),
        (
            &["audit", "query", "--outcome", "maybe"],
            "OK, DENIED or FAILED",
        ),
        (&["audit", "query", "--format", "xml"], "table"),
        (
            &["audit", "query", "--patient", "nobody"],
            "--patient: there is no user",
        ),
        (
            &["audit", "access-report", "--patient", "doc1"],
            "--patient: doc1 is not a patient's account but a doctor's",
        ),
        (
            &["audit", "query", "--actor", "nobody"],
            "--actor: there is no user",
        ),
        (&["audit", "access-report"], "--patient"),
        (
            &["audit", "access-report", "--patient", "nobody"],
            "--patient: there is no user",
        ),
        (
            &["audit", "review", "--since", "24 hours"],
            "such as 24h or 7d",
        ),
        (&["audit", "review", "--since=-1d"], "--since"),
        (&["audit", "review", "--since", "0h"], "24h"),
    ];
    for (args, says) in refusals {
        let out = cli(d, args);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("Error {") && !stderr.contains("Invalid("),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(count(), before, "a refused command wrote nothing");
    let _ = c;
    // Its reader gone before it writes (`clinic-server audit query ... | head`): it ends
    // quietly, no panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(d)
        .args(["audit", "query", "--patient", "pat1"])
        .env("RUST_LOG", "warn")
        .env("USER", "it-admin")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&closed.stderr);
    assert_eq!(closed.status.code(), Some(0), "{said}");
    assert!(!said.contains("panicked"), "{said}");
}

#[test]
fn admin_commands_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let add = |name: &str, role: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
            .arg("--data-dir")
            .arg(d)
            .args([
                "user",
                "add",
                "--username",
                name,
                "--name",
                name,
                "--role",
                role,
                "--password-stdin",
            ])
            .env("USER", "it-admin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"long enough password\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    add("pat", "patient");
    add("doc", "doctor");
    assert!(cli(d, &["user", "disable", "pat"]).status.success());
    assert!(cli(d, &["user", "enable", "pat"]).status.success());
    assert!(
        cli(d, &["sessions", "revoke", "--user", "pat"])
            .status
            .success()
    );
    assert!(
        cli(
            d,
            &["hold", "add", "--patient", "pat", "--reason", "case 12"]
        )
        .status
        .success()
    );
    assert!(
        cli(d, &["hold", "release", "1", "--reason", "closed"])
            .status
            .success()
    );
    let backup = d.join("copy.db");
    let out = cli(d, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("audit chain head: row 8"),
        "{:?}",
        text(&out)
    );
    let actions: Vec<(String, String)> = db(d)
        .prepare("SELECT actor, action FROM audit ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let names: Vec<&str> = actions.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "ACCOUNT_CREATE",
            "ACCOUNT_CREATE",
            "ACCOUNT_DISABLE",
            "ACCOUNT_ENABLE",
            "SESSION_REVOKE",
            "HOLD_ADD",
            "HOLD_RELEASE",
            "EXPORT"
        ]
    );
    assert!(actions.iter().all(|(actor, _)| actor == "admin:it-admin"));
    // The backup holds the chain up to and with its own export row, intact.
    let copy = Connection::open(&backup).unwrap();
    assert_eq!(clinic_server::audit::verify(&copy).unwrap(), Ok(8));
}

/// Reads that span several patients (the conversation list, contacts, the patient lookup,
/// notifications, the emergency list, a search) are found by `access-report` and
/// `query --patient` for each patient they showed, and for no other.
#[tokio::test]
async fn reads_of_lists_and_searches_show_in_each_patients_access_report() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let body = json!({"clientId": "a1", "patientId": c.pat1.id(), "doctorId": c.doc1.id(),
                      "content": "dizzy since monday"});
    assert_eq!(
        server
            .post(&c.pat1.token, "/api/chat/messages", body)
            .await
            .0,
        201
    );
    let body = json!({"clientId": "a2", "patientId": c.pat1.id(), "doctorId": c.doc1.id(),
                      "content": "help", "isEmergency": true});
    assert_eq!(
        server
            .post(&c.pat1.token, "/api/chat/messages", body)
            .await
            .0,
        201
    );
    for path in [
        "/api/chat/conversations",
        "/api/contacts",
        "/api/patients?q=pat1",
        "/api/notifications",
        "/api/emergencies",
        "/api/search/messages?q=dizzy",
    ] {
        assert_eq!(server.get(&c.doc2.token, path).await.0, 200, "{path}");
        assert_eq!(server.get(&c.doc1.token, path).await.0, 200, "{path}");
    }
    assert_eq!(
        server.get(&c.pat1.token, "/api/chat/conversations").await.0,
        200
    );
    // pat2's doctor from now on: the list doc2 reads next shows her; the one before did not
    // (times are kept to the millisecond: a few apart, so that "before" means before).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let body = json!({"patientId": c.pat2.id()});
    assert_eq!(
        server
            .post(&c.doc2.token, "/api/conversations", body)
            .await
            .0,
        201
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        server.get(&c.doc2.token, "/api/chat/conversations").await.0,
        200
    );
    let dir = server.stop().await;
    let report = |patient: &str| {
        let out = cli(
            dir.path(),
            &[
                "audit",
                "access-report",
                "--patient",
                patient,
                "--format",
                "jsonl",
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let mut lines: Vec<(String, String)> = stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|r| {
                (
                    r["reader"].as_str().unwrap().to_owned(),
                    r["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        lines.sort();
        lines
    };
    let of = |reader: &str| -> Vec<String> {
        report("pat1")
            .into_iter()
            .filter(|(r, _)| r == reader)
            .map(|(_, a)| a)
            .collect()
    };
    assert_eq!(
        of("doc1"),
        [
            "CONTACTS_READ",
            "CONVERSATIONS_READ",
            "EMERGENCY_READ",
            "NOTIFICATIONS_READ",
            "PATIENT_LIST",
            "SEARCH"
        ],
        "doc1's conversation, contacts, lookup, notifications, emergency list and search"
    );
    assert_eq!(
        of("doc2"),
        ["EMERGENCY_READ", "NOTIFICATIONS_READ", "PATIENT_LIST"],
        "doc2 shares no conversation with pat1, but saw her emergency and looked her up"
    );
    // pat1 reading her own list is a read of her data too.
    assert!(
        report("pat1").contains(&("pat1".to_owned(), "CONVERSATIONS_READ".to_owned())),
        "{:?}",
        report("pat1")
    );
    let pat2: Vec<(String, String)> = report("pat2")
        .into_iter()
        .filter(|(r, _)| r.starts_with("doc"))
        .collect();
    assert_eq!(
        pat2,
        [("doc2".to_owned(), "CONVERSATIONS_READ".to_owned())],
        "only what doc2 read once pat2 was theirs"
    );
    let out = cli(
        dir.path(),
        &[
            "audit",
            "access-report",
            "--patient",
            "pat2",
            "--format",
            "jsonl",
        ],
    );
    let times: Vec<i64> = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["reader"] == "doc2")
        .map(|r| r["times"].as_i64().unwrap())
        .collect();
    assert_eq!(
        times,
        [1],
        "the list doc2 read before pat2 was theirs is not hers"
    );
    let out = cli(
        dir.path(),
        &[
            "audit",
            "query",
            "--patient",
            "pat1",
            "--action",
            "SEARCH",
            "--format",
            "jsonl",
        ],
    );
    let (stdout, _) = text(&out);
    let searchers: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["actor"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        searchers,
        ["doc1"],
        "doc2's search found nothing of pat1: {stdout}"
    );
}

/// `review` shows every message taken back as sent to the wrong person, a patient's unsend as
/// well as a doctor's retraction, and not an ordinary unsend.
#[tokio::test]
async fn review_shows_misdirected_unsends_and_retractions() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let mut ids = Vec::new();
    for (who, client_id) in [(&c.doc1, "r1"), (&c.pat1, "r2"), (&c.pat1, "r3")] {
        let body = json!({"clientId": client_id, "patientId": c.pat1.id(),
                          "doctorId": c.doc1.id(), "content": "for someone else"});
        let (status, message) = server.post(&who.token, "/api/chat/messages", body).await;
        assert_eq!(status, 201, "{message}");
        ids.push(message["id"].as_str().unwrap().to_owned());
    }
    let misdirected = json!({"reason": "wrong person", "misdirected": true});
    for (who, id, body) in [
        (&c.doc1, &ids[0], misdirected.clone()),
        (&c.pat1, &ids[1], misdirected),
        (&c.pat1, &ids[2], json!({})),
    ] {
        let path = format!("/api/chat/messages/{id}/retract");
        assert_eq!(server.post(&who.token, &path, body).await.0, 200);
    }
    let dir = server.stop().await;
    let out = cli(
        dir.path(),
        &["audit", "review", "--since", "24h", "--format", "jsonl"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let mut shown: Vec<(String, String)> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|row| row["action"] != "AUDIT_READ")
        .map(|row| {
            (
                row["action"].as_str().unwrap().to_owned(),
                row["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        vec![
            ("MESSAGE_RETRACT".to_owned(), ids[0].clone()),
            ("MESSAGE_UNSEND".to_owned(), ids[1].clone()),
        ],
        "{stdout}"
    );
}

#[tokio::test]
async fn originals_shows_what_was_edited_and_taken_back_and_is_audited() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let body = json!({"clientId": "o1", "patientId": c.pat1.id(), "doctorId": c.doc1.id(),
                      "content": "take 50 mg originals-first"});
    let (status, message) = server.post(&c.doc1.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{message}");
    let id = message["id"].as_str().unwrap().to_owned();
    let edit = json!({"content": "take 5 mg originals-second", "baseVersion": 1});
    let path = format!("/api/chat/messages/{id}/edit");
    assert_eq!(server.post(&c.doc1.token, &path, edit).await.0, 200);
    let retract = json!({"reason": "wrong patient", "misdirected": true});
    let path = format!("/api/chat/messages/{id}/retract");
    assert_eq!(server.post(&c.doc1.token, &path, retract).await.0, 200);
    let dir = server.stop().await;

    let before = last_id(dir.path());
    let out = cli(
        dir.path(),
        &["audit", "originals", "--message", &id, "--format", "jsonl"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(rows[0]["content"], "take 50 mg originals-first");
    assert_eq!(rows[0]["change"], "EDIT");
    assert_eq!(rows[1]["content"], "take 5 mg originals-second");
    assert_eq!(rows[1]["change"], "RETRACT");
    assert_eq!(rows[1]["misdirected"], true);
    assert_eq!(rows[1]["by"], c.doc1.user.username.as_str());
    // The reading is audited (who, which message, whose conversation), without the text.
    let rows = rows_after(dir.path(), before);
    let export = rows.iter().find(|r| r.action == "EXPORT").unwrap();
    assert_eq!(export.actor.as_deref(), Some("admin:it-admin"));
    assert_eq!(export.subject.as_deref(), Some(id.as_str()));
    assert_eq!(export.patient.as_deref(), Some(c.pat1.id()));
    let all: String = db(dir.path())
        .query_row(
            "SELECT group_concat(coalesce(detail, ''), ' ') FROM audit",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!all.contains("originals-first"), "{all}");

    // An unknown message: a sentence naming the flag, exit 1, nothing written.
    let before = last_id(dir.path());
    let out = cli(dir.path(), &["audit", "originals", "--message", "m-none"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--message: there is no message"),
        "{stderr}"
    );
    assert_eq!(last_id(dir.path()), before);
}
