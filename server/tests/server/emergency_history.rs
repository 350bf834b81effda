//! Every emergency transition is stored with who and when, served by `GET /api/emergencies/{id}`
//! to doctors and the patient concerned, and survives a restart; an emergency still waiting for
//! a doctor keeps being alerted after the restart. Patients cannot acknowledge or resolve, and
//! nobody can move an emergency that does not exist.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, Ws, clinic};
use serde_json::{Value, json};
use std::time::Duration;

fn sos(c: &common::Clinic, client_id: &str) -> Value {
    json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": "Chest pain",
           "isEmergency": true, "clientId": client_id})
}

/// Raises an emergency over REST; returns its id (from the open list).
async fn raise(server: &TestServer, c: &common::Clinic, client_id: &str) -> String {
    let (status, _) = server
        .post(&c.pat1.token, "/api/chat/messages", sos(c, client_id))
        .await;
    assert_eq!(status, 201);
    let (_, open) = server
        .get(&c.doc1.token, "/api/emergencies?open=true")
        .await;
    open[0]["id"].as_str().unwrap().to_owned()
}

fn kinds(detail: &Value) -> Vec<String> {
    detail["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the emergency until `check` holds: alerts are recorded in the background, right after
/// they are queued.
async fn detail_when(
    server: &TestServer,
    token: &str,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/emergencies/{id}");
    tokio::time::timeout(common::WAIT, async {
        loop {
            let (status, detail) = server.get(token, &path).await;
            assert_eq!(status, 200, "{detail}");
            if check(&detail) {
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap()
}

async fn restart(
    server: TestServer,
    adjust: impl FnOnce(&mut clinic_server::Config),
) -> TestServer {
    let dir = server.stop().await;
    TestServer::start_in(dir, adjust).await
}

#[tokio::test]
async fn transitions_are_recorded_visible_to_all_and_survive_restarts() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let (mut doc2_tablet, _) = Ws::connect(&server, &c.doc2.token).await;
    let id = raise(&server, &c, "sos-1").await;
    doc2.expect("emergency:alert").await;
    doc2_tablet.expect("emergency:alert").await;
    detail_when(&server, &c.doc1.token, &id, |d| {
        d["emergency"]["alertedDoctors"] == 1
    })
    .await;

    let path = format!("/api/emergencies/{id}");
    let (status, _) = server
        .post(&c.doc1.token, &format!("{path}/acknowledge"), json!({}))
        .await;
    assert_eq!(status, 200);

    // Stored with who and when; the alert to doc2 with both devices.
    let (status, detail) = server.get(&c.pat1.token, &path).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(kinds(&detail), ["RAISED", "ALERTED", "ACKNOWLEDGED"]);
    let t = &detail["transitions"];
    assert_eq!(t[0]["actorId"], c.pat1.id());
    assert_eq!(
        (t[1]["actorId"].as_str(), t[1]["devices"].as_u64()),
        (Some(c.doc2.id()), Some(2))
    );
    assert_eq!(t[2]["actorName"], "Test doc1");
    assert!(t[2]["at"].is_string());
    assert_eq!(detail["emergency"]["alertedDoctors"], 1);

    // Only doctors and the patient concerned see it; unknown ids are not found.
    let (status, _) = server.get(&c.pat2.token, &path).await;
    assert_eq!(status, 403);
    let (status, _) = server.get(&c.doc1.token, "/api/emergencies/e-nope").await;
    assert_eq!(status, 404);

    let server = restart(server, |_| {}).await;
    let (_, detail) = server.get(&c.doc2.token, &path).await;
    assert_eq!(detail["emergency"]["state"], "ACKNOWLEDGED");
    assert_eq!(detail["emergency"]["acknowledgedBy"], c.doc1.id());
    // An acknowledged emergency is not alerted again after the restart, only shown.
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let (first, skipped) = doc2.expect_skipping("emergency:updated").await;
    assert_eq!(first["emergency"]["state"], "ACKNOWLEDGED");
    assert!(
        !skipped.iter().any(|s| s == "emergency:alert"),
        "{skipped:?}"
    );

    let (status, _) = server
        .post(
            &c.doc2.token,
            &format!("{path}/resolve"),
            json!({"note": "ECG normal"}),
        )
        .await;
    assert_eq!(status, 200);
    let server = restart(server, |_| {}).await;
    let (_, detail) = server.get(&c.pat1.token, &path).await;
    assert_eq!(detail["emergency"]["state"], "RESOLVED");
    assert_eq!(
        kinds(&detail),
        ["RAISED", "ALERTED", "ACKNOWLEDGED", "RESOLVED"]
    );
    assert_eq!(detail["transitions"][3]["note"], "ECG normal");
    assert_eq!(detail["transitions"][3]["actorId"], c.doc2.id());

    // The doctor's list shows open emergencies first (from two patients: a patient's second
    // raise would join their open emergency).
    let newer = raise(&server, &c, "sos-2").await;
    let (status, _) = server
        .post(
            &c.pat2.token,
            "/api/chat/messages",
            json!({"patientId": c.pat2.id(), "doctorId": c.doc1.id(), "content": "Dizzy",
                   "isEmergency": true, "clientId": "sos-3"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, open) = server
        .get(&c.doc1.token, "/api/emergencies?open=true")
        .await;
    let third = open
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["patientId"] == c.pat2.id())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .post(
            &c.doc1.token,
            &format!("/api/emergencies/{third}/acknowledge"),
            json!({}),
        )
        .await;
    let (_, all) = server.get(&c.doc1.token, "/api/emergencies").await;
    let order: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [newer.as_str(), third.as_str(), id.as_str()]);
    server.stop().await;
}

#[tokio::test]
async fn a_waiting_emergency_keeps_alerting_and_escalates_after_a_restart() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    // Nobody online: raised, alerted to no one.
    let id = raise(&server, &c, "sos-1").await;
    let (_, detail) = server
        .get(&c.pat1.token, &format!("/api/emergencies/{id}"))
        .await;
    assert_eq!(detail["emergency"]["alertedDoctors"], 0);
    assert!(detail["emergency"]["alertedAt"].is_null());

    // Back with short timers: the deadlines count from when it was raised, so the escalation
    // is already due and the repeats carry on.
    let server = restart(server, |c| {
        c.emergency_repeat_interval = Duration::from_millis(100);
        c.emergency_escalate_after = Duration::from_millis(300);
    })
    .await;
    let (mut doc1, _) = Ws::connect(&server, &c.doc1.token).await;
    loop {
        let alert = doc1.expect("emergency:alert").await;
        assert_eq!(alert["emergency"]["id"], id.as_str());
        if alert["escalated"] == true {
            break;
        }
    }
    let detail = detail_when(&server, &c.pat1.token, &id, |d| {
        d["emergency"]["alertedDoctors"] == 1
    })
    .await;
    assert!(detail["emergency"]["escalatedAt"].is_string(), "{detail}");
    let mut recorded = kinds(&detail);
    recorded.sort();
    assert_eq!(recorded, ["ALERTED", "ESCALATED", "RAISED"], "{detail}");
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;

    doc1.send(json!({"type": "emergency:acknowledge", "emergencyId": id}))
        .await;
    let taken = pat.expect("emergency:updated").await;
    assert_eq!(taken["emergency"]["acknowledgedByName"], "Test doc1");
    server.stop().await;
}

#[tokio::test]
async fn patients_cannot_move_emergencies_and_unknown_ones_cannot_be_moved() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let id = raise(&server, &c, "sos-1").await;
    for action in ["acknowledge", "resolve"] {
        let (status, body) = server
            .post(
                &c.pat1.token,
                &format!("/api/emergencies/{id}/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{action}"
        );
        let (status, body) = server
            .post(
                &c.doc1.token,
                &format!("/api/emergencies/e-nope/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{action}"
        );
    }
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    for kind in ["emergency:acknowledge", "emergency:resolve"] {
        pat.send(json!({"type": kind, "emergencyId": id})).await;
        assert_eq!(pat.expect("error").await["code"], "forbidden", "{kind}");
    }
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    doc.send(json!({"type": "emergency:resolve", "emergencyId": "e-nope", "note": "?"}))
        .await;
    assert_eq!(doc.expect("error").await["code"], "not_found");

    // Nothing moved, and nothing was recorded for the refusals.
    let (_, detail) = server
        .get(&c.doc1.token, &format!("/api/emergencies/{id}"))
        .await;
    assert_eq!(detail["emergency"]["state"], "RAISED");
    assert!(
        kinds(&detail)
            .iter()
            .all(|k| k == "RAISED" || k == "ALERTED"),
        "{detail}"
    );
    server.stop().await;
}
