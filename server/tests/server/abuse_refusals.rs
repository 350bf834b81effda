//! One account refused in a loop: past its rate of refusals they are counted, not written one
//! row each, and every refusal is in the audit log once the window ends or the server stops.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_server::config::Rate;
use common::{TestServer, Ws, clinic, send_frame};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The `DENIED` rows of `actor`: (refusals each stands for, detail).
fn denied(dir: &Path, actor: &str) -> Vec<(u64, Value)> {
    let conn = rusqlite::Connection::open(clinic_server::config::db_path(dir)).unwrap();
    let mut stmt = conn
        .prepare("SELECT detail FROM audit WHERE outcome = 'DENIED' AND actor = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([actor], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|detail| {
            let detail: Value = serde_json::from_str(&detail.unwrap()).unwrap();
            (detail["repeated"].as_u64().unwrap_or(1), detail)
        })
        .collect()
}

/// Sends into the conversations of patients `ghost-N` (N in `attempts`), each answered
/// `forbidden`: one conversation each.
async fn into_ghosts(ws: &mut Ws, c: &common::Clinic, attempts: std::ops::Range<usize>) {
    for i in attempts {
        let mut frame = send_frame(&format!("x-{i}"), &c.pat1, &c.doc1, "intrusion");
        frame["patientId"] = format!("ghost-{i}").into();
        ws.send(frame).await;
        assert_eq!(ws.expect("error").await["code"], "forbidden");
    }
}

/// `count` sends into someone else's conversation, each answered `forbidden`.
async fn refused_sends(ws: &mut Ws, c: &common::Clinic, count: usize) {
    for i in 0..count {
        ws.send(send_frame(&format!("x-{i}"), &c.pat1, &c.doc1, "intrusion"))
            .await;
    }
    for _ in 0..count {
        assert_eq!(ws.expect("error").await["code"], "forbidden");
    }
}

#[tokio::test]
async fn refusals_past_the_rate_are_written_as_counts_at_the_end_of_the_window() {
    let server = TestServer::start_with(|config| {
        config.refusal_rate = Rate::new(0.0, 5.0);
        config.refusal_window = Duration::from_millis(300);
    })
    .await;
    let c = clinic(&server).await;
    let (mut ws, _) = Ws::connect(&server, &c.pat2.token).await;
    refused_sends(&mut ws, &c, 300).await;
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = denied(server.dir.path(), c.pat2.id());
        if rows.iter().map(|(n, _)| n).sum::<u64>() == 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counted: u64 = rows.iter().map(|(n, _)| n).sum();
    assert_eq!(counted, 300, "every refusal is counted: {rows:?}");
    assert!(
        rows.len() < 20,
        "five rows one by one, then a count per window: {rows:?}"
    );
    // The sends may span the end of a window or more: then each window's row counts its part.
    let held = &rows[5..];
    assert_eq!(held.iter().map(|(n, _)| n).sum::<u64>(), 295, "{rows:?}");
    for (_, summary) in held {
        assert!(
            summary["refusal"].as_str().unwrap().contains("participant"),
            "{summary}"
        );
        assert!(
            summary["firstAt"].as_str().unwrap().ends_with('Z'),
            "{summary}"
        );
    }
    // Another account's refusals are still written one by one.
    let (mut other, _) = Ws::connect(&server, &c.doc2.token).await;
    refused_sends(&mut other, &c, 1).await;
    assert_eq!(denied(server.dir.path(), c.doc2.id()).len(), 1);
}

/// A server whose refusals past the first `burst` of an account are held for an hour (written at
/// shutdown), and pat2 connected: a patient of another conversation.
async fn pat2_held_for_an_hour(burst: f64) -> (TestServer, common::Clinic, String, Ws) {
    let server = TestServer::start_with(|config| {
        config.refusal_rate = Rate::new(0.0, burst);
        config.refusal_window = Duration::from_secs(3600);
    })
    .await;
    let c = clinic(&server).await;
    let pat2 = c.pat2.id().to_owned();
    let (ws, _) = Ws::connect(&server, &c.pat2.token).await;
    (server, c, pat2, ws)
}

#[tokio::test]
async fn refusals_held_at_shutdown_are_written_before_the_server_stops() {
    let (server, c, pat2, mut ws) = pat2_held_for_an_hour(5.0).await;
    refused_sends(&mut ws, &c, 40).await;
    assert_eq!(
        denied(server.dir.path(), &pat2).len(),
        5,
        "the rest is held"
    );
    drop(ws);
    let dir = server.stop().await;
    let rows = denied(dir.path(), &pat2);
    assert_eq!(rows.iter().map(|(n, _)| n).sum::<u64>(), 40, "{rows:?}");
    assert_eq!(rows.len(), 6);
}

/// Past the conversations a row of attempts held together can name, that row is written at once
/// to make room; when it cannot be written (here a trigger refuses it, as a full disk would) the
/// refusal is still answered, and the row is kept and written later with the rest: nothing goes
/// uncounted or unnamed.
#[tokio::test]
async fn a_full_row_that_cannot_be_written_is_kept_for_later() {
    let (server, c, pat2, mut ws) = pat2_held_for_an_hour(1.0).await;
    // One written at once, sixteen conversations kept apart, then 200 named in one row: 217
    // attempts fill it.
    // First, that these numbers fill the row: another account's 218th writes it at once.
    let (mut control, _) = Ws::connect(&server, &c.pat1.token).await;
    into_ghosts(&mut control, &c, 0..218).await;
    assert_eq!(denied(server.dir.path(), c.pat1.id()).len(), 2);

    into_ghosts(&mut ws, &c, 0..217).await;
    assert_eq!(
        denied(server.dir.path(), &pat2).len(),
        1,
        "the rest is held"
    );
    let db = rusqlite::Connection::open(clinic_server::config::db_path(server.dir.path())).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_room BEFORE INSERT ON audit WHEN NEW.outcome = 'DENIED' \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    // The 218th names a conversation the full row has no room for: the row cannot be written.
    into_ghosts(&mut ws, &c, 217..218).await;
    db.execute_batch("DROP TRIGGER no_room").unwrap();
    drop(db);
    assert_eq!(denied(server.dir.path(), &pat2).len(), 1, "not written yet");

    drop(ws);
    let dir = server.stop().await;
    let rows = denied(dir.path(), &pat2);
    assert_eq!(rows.iter().map(|(n, _)| n).sum::<u64>(), 218, "{rows:?}");
    let mut named: Vec<String> = Vec::new();
    for (_, detail) in &rows {
        if let Some(list) = detail["conversations"].as_array() {
            named.extend(list.iter().map(|n| n.as_str().unwrap().to_owned()));
        }
    }
    let conn = rusqlite::Connection::open(clinic_server::config::db_path(dir.path())).unwrap();
    let apart: Vec<String> = conn
        .prepare("SELECT patient_id FROM audit WHERE outcome = 'DENIED' AND actor = ?1 AND patient_id IS NOT NULL")
        .unwrap()
        .query_map([&pat2], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for i in 0..218 {
        let ghost = format!("ghost-{i}");
        assert!(
            apart.contains(&ghost) || named.iter().any(|n| n.starts_with(&format!("{ghost}/"))),
            "{ghost} is named: {rows:?}"
        );
    }
}

/// An id nobody made, as long as a body allows, is malformed: refused before anything looks for
/// it, so no audit row carries it and the refusals' memory holds none of it (an attacker's
/// finding: 400 such sends added 80 MB to the audit log and 120 MiB to the server).
#[tokio::test]
async fn an_id_longer_than_any_the_server_makes_is_refused_and_never_audited() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let huge = format!("u-{}", "a".repeat(100_000));
    let mut body = serde_json::json!({
        "patientId": huge, "doctorId": c.doc1.id(), "content": "x", "clientId": "big-1",
    });
    let (status, answer) = server
        .post(&c.pat2.token, "/api/chat/messages", body.clone())
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("at most 128 bytes"),
        "{answer}"
    );
    body["doctorId"] = huge.clone().into();
    body["patientId"] = c.pat2.id().into();
    assert_eq!(
        server
            .post(&c.pat2.token, "/api/chat/messages", body)
            .await
            .0,
        400
    );
    for path in [
        "/api/chat/messages?patientId={}&doctorId=d",
        "/api/search/messages?q=x&patientId={}&doctorId=d",
    ] {
        let path = path.replace("{}", &huge[..4_000]);
        let (status, answer) = server.get(&c.pat2.token, &path).await;
        assert_eq!(status, 400, "{answer}");
    }
    let (mut ws, _) = Ws::connect(&server, &c.pat2.token).await;
    let mut frame = send_frame("big-2", &c.pat2, &c.doc1, "x");
    // Within a frame's bound.
    frame["patientId"] = huge[..20_000].into();
    ws.send(frame).await;
    let refused = ws.expect("error").await;
    assert_eq!(refused["code"], "bad_request", "{refused}");
    // An edit's clientId is kept with the version it makes: bounded as every id is.
    ws.send(serde_json::json!({
        "type": "message:edit", "clientId": huge[..20_000], "messageId": "m-1",
        "content": "x", "baseVersion": 1,
    }))
    .await;
    let refused = ws.expect("error").await;
    assert_eq!(refused["code"], "bad_request", "{refused}");
    for path in [
        "/api/emergencies/{}/acknowledge",
        "/api/chat/messages/{}/retract",
    ] {
        // A path's id is no body's: looked up, not found, and not named anywhere either.
        let path = path.replace("{}", &"e".repeat(4_000));
        let (status, answer) = server
            .post(&c.doc1.token, &path, serde_json::json!({}))
            .await;
        assert_eq!(status, 404, "{answer}");
    }
    // The one row of the account's refusals, if any, is small: nothing of the id is in it.
    let conn =
        rusqlite::Connection::open(clinic_server::config::db_path(server.dir.path())).unwrap();
    let largest: i64 = conn
        .query_row(
            "SELECT coalesce(max(length(coalesce(detail, '')) + length(coalesce(patient_id, '')) \
             + length(coalesce(doctor_id, '')) + length(coalesce(subject, ''))), 0) FROM audit",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(largest < 2_000, "an audit row of {largest} bytes");
}
