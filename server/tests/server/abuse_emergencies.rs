//! Finding 1 of the abuse review, against the real binary: one patient account flooding
//! emergencies cannot take the doctors offline. A patient has at most one open emergency (more
//! raises join it), an alert carries a preview of the message, and a doctor who connects while
//! emergencies wait gets their alerts without being closed as too slow; a real emergency from
//! another patient still gets through.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::{Role, limits};
use common::{Account, Binary, WAIT, Ws, accounts};
use serde_json::{Value, json};

/// Emergencies `ids` of the largest allowed size from `patient`, pipelined, all acknowledged.
async fn flood(ws: &mut Ws, patient: &Account, doctor: &Account, ids: std::ops::Range<usize>) {
    let content = "!".repeat(limits::MAX_CONTENT_BYTES);
    for i in ids.clone() {
        let frame = json!({"type": "message:send", "clientId": format!("sos-{i}"),
                           "patientId": patient.id(), "doctorId": doctor.id(),
                           "content": content, "isEmergency": true});
        ws.send(frame).await;
    }
    for _ in ids {
        ws.expect("message:ack").await;
    }
}

#[tokio::test]
async fn an_emergency_flood_from_one_patient_leaves_the_doctors_online() {
    let dir = tempfile::tempdir().unwrap();
    accounts(
        dir.path(),
        &[
            ("doc", Role::Doctor),
            ("flooder", Role::Patient),
            ("real", Role::Patient),
        ],
    );
    let server = Binary::start(dir.path(), &[]);
    let doc = server.login("doc").await;
    let flooder = server.login("flooder").await;
    let real = server.login("real").await;

    // 300 emergencies of the largest allowed size, pipelined on one socket.
    let mut attack = server.ws(&flooder.token).await;
    flood(&mut attack, &flooder, &doc, 0..300).await;

    // One open emergency for that patient; every raise is stored.
    let (_, open) = server.get(&doc.token, "/api/emergencies?open=true").await;
    let open = open.as_array().unwrap().clone();
    assert_eq!(
        open.len(),
        1,
        "one open emergency per patient: {}",
        open.len()
    );

    // A doctor connecting now gets that one alert, a preview, ahead of the answer to a sync
    // sent right away; the socket is not closed as too slow.
    let mut desk = server.ws(&doc.token).await;
    desk.send(json!({"type": "sync", "since": 0, "limit": 1}))
        .await;
    let mut alerts = Vec::new();
    loop {
        let frame = desk.next().await.expect("the doctor's socket stays open");
        match frame["type"].as_str().unwrap() {
            "emergency:alert" => alerts.push(frame),
            "sync:batch" => break,
            _ => {}
        }
    }
    assert_eq!(alerts.len(), 1, "one alert per open emergency");
    let alert = &alerts[0];
    assert!(alert["message"]["content"].as_str().unwrap().len() <= limits::ALERT_PREVIEW_BYTES);
    assert_eq!(alert["truncated"], true);
    assert!(
        alert.to_string().len() < 8 * 1024,
        "the alert frame is bounded"
    );

    // More raises join it: the patient's later presses re-alert within their own rate, and
    // the doctor's socket lives through them.
    flood(&mut attack, &flooder, &doc, 300..310).await;

    // A real emergency from someone else reaches the doctor.
    let sos = json!({"patientId": real.id(), "doctorId": doc.id(),
                     "content": "I fell and cannot get up", "isEmergency": true});
    let (status, _) = server.post(&real.token, "/api/chat/messages", sos).await;
    assert_eq!(status, 201);
    let alert = tokio::time::timeout(WAIT, async {
        loop {
            let frame = desk.next().await.expect("the doctor's socket stays open");
            if frame["type"] == "emergency:alert" && frame["emergency"]["patientId"] == real.id() {
                return frame;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(alert["message"]["content"], "I fell and cannot get up");
    assert_eq!(alert.get("truncated"), None, "a short message is whole");

    // Resolving closes the one emergency and marks every message that joined it.
    let id = open[0]["id"].as_str().unwrap();
    let resolve = format!("/api/emergencies/{id}/resolve");
    let (status, _) = server
        .post(
            &doc.token,
            &resolve,
            json!({"note": "spoke to the patient"}),
        )
        .await;
    assert_eq!(status, 200);
    let path = format!(
        "/api/chat/messages?patientId={}&doctorId={}&limit=500",
        flooder.id(),
        doc.id()
    );
    let history: Vec<_> = common::history_pages(&server.http, &server.url(""), &doc.token, &path)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(history.len(), 310);
    assert!(history.iter().all(|m| m["resolvedAt"].is_string()));
}

#[tokio::test]
async fn a_repeated_raise_after_an_acknowledgement_waits_for_a_doctor_again() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("doc", Role::Doctor), ("pat", Role::Patient)]);
    // Escalation after 3 s: the press that reopens it comes later than that after the first.
    let server = Binary::start(dir.path(), &["--emergency-escalate-secs", "3"]);
    let doc = server.login("doc").await;
    let pat = server.login("pat").await;
    let raise = |text: &str| {
        let body = json!({"patientId": pat.id(), "doctorId": doc.id(), "content": text,
                          "isEmergency": true});
        server.post(&pat.token, "/api/chat/messages", body)
    };
    assert_eq!(raise("chest pain").await.0, 201);
    let (_, open) = server.get(&doc.token, "/api/emergencies?open=true").await;
    let id = open[0]["id"].as_str().unwrap().to_owned();
    let mut desk = server.ws(&doc.token).await;
    desk.expect("emergency:alert").await;
    let acknowledge = format!("/api/emergencies/{id}/acknowledge");
    assert_eq!(
        server.post(&doc.token, &acknowledge, json!({})).await.0,
        200
    );

    // Pressed again while a doctor is on it, later than the escalation time after the first:
    // the same emergency, waiting again, alerting, its waiting counted from the reopening (not
    // overdue at once: escalated only once 3 s have passed since the reopening).
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    assert_eq!(raise("it is getting worse").await.0, 201);
    let alert = desk.expect("emergency:alert").await;
    let reopened = std::time::Instant::now();
    assert_eq!(alert["emergency"]["id"], id.as_str());
    assert_eq!(alert["emergency"]["state"], "RAISED");
    assert_eq!(alert["message"]["content"], "it is getting worse");
    assert_eq!(
        (&alert["escalated"], &alert["repeat"]),
        (&json!(false), &json!(0)),
        "{alert}"
    );
    assert_eq!(alert["emergency"]["escalatedAt"], Value::Null);
    let raised_at = alert["emergency"]["raisedAt"].as_str().unwrap().to_owned();
    let reopened_at = alert["emergency"]["reopenedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reopened_at > raised_at, "{raised_at} {reopened_at}");
    let escalated = desk.expect("emergency:alert").await;
    assert_eq!(escalated["escalated"], true, "{escalated}");
    assert!(
        reopened.elapsed() >= std::time::Duration::from_millis(2_500),
        "escalated {:?} after the reopening",
        reopened.elapsed()
    );
    assert_eq!(escalated["emergency"]["reopenedAt"], reopened_at.as_str());
    let (_, detail) = server
        .get(&doc.token, &format!("/api/emergencies/{id}"))
        .await;
    // (Which doctors an alert reached is recorded in the background, in any order.)
    let kinds: Vec<&str> = detail["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .filter(|k| *k != "ALERTED")
        .collect();
    assert_eq!(kinds.first(), Some(&"RAISED"));
    assert!(
        kinds.ends_with(&["ACKNOWLEDGED", "RAISED", "ESCALATED"]),
        "the reopening and its escalation are recorded: {kinds:?}"
    );
}
