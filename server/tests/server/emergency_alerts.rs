//! Closed-loop emergency alerts: every connected doctor (and each of their devices) is alerted,
//! the alert repeats until someone acknowledges and stops after, is shown at once to doctors on
//! do-not-disturb and rings for them once it escalates after the timeout, and doctors who connect
//! later get it at once. The patient sees that it was received and who took it.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Account, TestServer, Ws, clinic};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Short timers so the tests see several repeats; a long escalation unless a test wants one.
async fn server(escalate_after: Duration) -> TestServer {
    TestServer::start_with(|c| {
        c.emergency_repeat_interval = Duration::from_millis(200);
        c.emergency_escalate_after = escalate_after;
    })
    .await
}

fn sos(patient: &Account, doctor: &Account) -> Value {
    json!({"type": "message:send", "clientId": "sos", "patientId": patient.id(),
           "doctorId": doctor.id(), "content": "I can't breathe", "isEmergency": true})
}

/// The next frame of `kind` for which `check` holds (others are skipped).
async fn expect_where(ws: &mut Ws, kind: &str, check: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = ws.expect(kind).await;
        if check(&frame) {
            return frame;
        }
    }
}

/// Every frame that arrives within `window` (to show that something does *not* come).
async fn frames_within(ws: &mut Ws, window: Duration) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, ws.stream.next()).await {
        if let Message::Text(text) = message {
            seen.push(serde_json::from_str(&text).unwrap());
        }
    }
    seen
}

fn alerts(frames: &[Value]) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "emergency:alert")
        .collect()
}

#[tokio::test]
async fn reaches_every_doctor_and_device_repeats_until_acknowledged_then_stops() {
    let server = server(Duration::from_secs(600)).await;
    let c = clinic(&server).await;
    let doc3 = server.account("doc3", Role::Doctor).await;
    let (mut doc1, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut doc1_phone, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let (mut doc3_ws, _) = Ws::connect(&server, &doc3.token).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    // Another patient hears nothing of it.
    let (mut other_patient, _) = Ws::connect(&server, &c.pat2.token).await;

    pat.send(sos(&c.pat1, &c.doc1)).await;
    pat.expect("message:ack").await;
    let mut id = String::new();
    for ws in [&mut doc1, &mut doc1_phone, &mut doc2, &mut doc3_ws] {
        let alert = ws.expect("emergency:alert").await;
        assert_eq!(
            (alert["repeat"].as_u64(), alert["escalated"].as_bool()),
            (Some(0), Some(false))
        );
        assert_eq!(alert["message"]["content"], "I can't breathe");
        id = alert["emergency"]["id"].as_str().unwrap().to_owned();
    }

    // The patient learns it was received, by all three doctors once all are recorded.
    let received = expect_where(&mut pat, "emergency:updated", |f| {
        f["emergency"]["alertedDoctors"] == 3
    })
    .await;
    assert!(received["emergency"]["alertedAt"].is_string());
    assert_eq!(received["emergency"]["state"], "RAISED");

    // It repeats, with a growing counter, on every device.
    for ws in [&mut doc1_phone, &mut doc3_ws] {
        let again = expect_where(ws, "emergency:alert", |f| f["repeat"].as_u64() >= Some(2)).await;
        assert_eq!(again["emergency"]["id"], id.as_str());
    }

    // A doctor who connects later gets the open alert at once, and is counted.
    let doc4 = server.account("doc4", Role::Doctor).await;
    let (mut doc4_ws, _) = Ws::connect(&server, &doc4.token).await;
    assert_eq!(
        doc4_ws.expect("emergency:alert").await["emergency"]["id"],
        id.as_str()
    );
    expect_where(&mut pat, "emergency:updated", |f| {
        f["emergency"]["alertedDoctors"] == 4
    })
    .await;

    // doc2 takes it: everyone sees who, and the repeats stop.
    doc2.send(json!({"type": "emergency:acknowledge", "emergencyId": id}))
        .await;
    let taken = expect_where(&mut pat, "emergency:updated", |f| {
        f["emergency"]["state"] == "ACKNOWLEDGED"
    })
    .await;
    assert_eq!(taken["emergency"]["acknowledgedBy"], c.doc2.id());
    assert_eq!(taken["emergency"]["acknowledgedByName"], "Test doc2");
    for ws in [&mut doc1, &mut doc1_phone, &mut doc3_ws, &mut doc4_ws] {
        let seen = ws.expect("emergency:updated");
        let seen = seen.await;
        assert_eq!(seen["emergency"]["state"], "ACKNOWLEDGED");
        // Five repeat intervals without a single further alert.
        let after = frames_within(ws, Duration::from_secs(1)).await;
        assert!(
            alerts(&after).is_empty(),
            "alerts after acknowledge: {after:?}"
        );
    }
    let heard = frames_within(&mut other_patient, Duration::from_millis(200)).await;
    assert!(
        heard
            .iter()
            .all(|f| !f["type"].as_str().unwrap().starts_with("emergency")),
        "{heard:?}"
    );
}

#[tokio::test]
async fn escalates_after_the_timeout_to_doctors_on_do_not_disturb() {
    let server = server(Duration::from_secs(1)).await;
    let c = clinic(&server).await;
    let (mut available, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut resting, _) = Ws::connect(&server, &c.doc2.token).await;
    resting
        .send(json!({"type": "presence:set", "availability": "DO_NOT_DISTURB"}))
        .await;
    // A round trip, so the presence is set before the emergency is raised.
    resting.send(json!({"type": "sync", "since": 0})).await;
    resting.expect("sync:batch").await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    pat.send(sos(&c.pat1, &c.doc1)).await;

    // The available doctor hears it (and its repeats) before escalation...
    let first = available.expect("emergency:alert").await;
    assert_eq!(first["escalated"], false);
    let id = first["emergency"]["id"].as_str().unwrap().to_owned();
    // ...the doctor on do-not-disturb gets it too (do-not-disturb mutes, never hides: the app
    // shows the banner and Acknowledge without ringing), not escalated yet...
    let shown = resting.expect("emergency:alert").await;
    assert_eq!(shown["escalated"], false, "{shown}");
    assert_eq!(shown["emergency"]["id"], first["emergency"]["id"]);
    // ...and is asked to ring once it escalates.
    let first_heard =
        expect_where(&mut resting, "emergency:alert", |f| f["escalated"] == true).await;
    assert!(first_heard["emergency"]["escalatedAt"].is_string());

    // Escalation is an update for everyone, and the alert says so.
    let escalated = expect_where(&mut available, "emergency:updated", |f| {
        f["emergency"]["escalatedAt"].is_string()
    })
    .await;
    assert_eq!(escalated["emergency"]["state"], "RAISED");
    expect_where(&mut available, "emergency:alert", |f| {
        f["escalated"] == true
    })
    .await;
    expect_where(&mut pat, "emergency:updated", |f| {
        f["emergency"]["escalatedAt"].is_string()
    })
    .await;
    // Once escalated, the repeats reach do-not-disturb too.
    expect_where(&mut resting, "emergency:alert", |f| {
        f["escalated"] == true && f["repeat"].as_u64() > first_heard["repeat"].as_u64()
    })
    .await;

    // The escalation is on record, once.
    let (status, detail) = server
        .get(&c.doc1.token, &format!("/api/emergencies/{id}"))
        .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = detail["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "ESCALATED").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds[0], "RAISED");

    // Resolving ends it for all, do-not-disturb included.
    let (status, _) = server
        .post(
            &c.doc2.token,
            &format!("/api/emergencies/{id}/resolve"),
            json!({"note": "on my way, paramedics called"}),
        )
        .await;
    assert_eq!(status, 200);
    for ws in [&mut available, &mut resting] {
        expect_where(ws, "emergency:updated", |f| {
            f["emergency"]["state"] == "RESOLVED"
        })
        .await;
        let after = frames_within(ws, Duration::from_millis(800)).await;
        assert!(alerts(&after).is_empty(), "alerts after resolve: {after:?}");
    }
}

/// A committed emergency is alerted at once even while the patient's socket is busy with a later
/// frame: here her next send waits 20 s for its rate. Each socket answered its commands only
/// between frames, so a frame that waited (a rate, a `sync` answer waiting for room while the
/// client did not read) held back the doctors' alerts, repeats and escalation of an emergency
/// already stored and acknowledged to no one yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_emergency_is_alerted_while_its_socket_waits_on_a_later_frame() {
    let server = TestServer::start_with(|c| {
        c.send_rate_per_sec = 0.05;
        c.send_burst = 1.0;
    })
    .await;
    let c = clinic(&server).await;
    let (mut doctor, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut patient, _) = Ws::connect(&server, &c.pat1.token).await;
    let mut emergency = common::send_frame("sos-1", &c.pat1, &c.doc1, "Chest pain, can't breathe");
    emergency["isEmergency"] = json!(true);
    let next = common::send_frame("after-1", &c.pat1, &c.doc1, "And my left arm hurts");
    // In one write: the second send is read while the first commits, and waits for its token.
    use futures_util::SinkExt;
    for frame in [emergency, next] {
        patient
            .stream
            .feed(Message::text(frame.to_string()))
            .await
            .unwrap();
    }
    patient.stream.flush().await.unwrap();
    let started = std::time::Instant::now();
    let alert = tokio::time::timeout(Duration::from_secs(5), doctor.expect("emergency:alert"))
        .await
        .expect("the doctor is alerted while the patient's next send waits for its rate");
    assert_eq!(alert["message"]["clientId"], "sos-1", "{alert}");
    let ack = tokio::time::timeout(Duration::from_secs(5), patient.expect("message:ack"))
        .await
        .expect("and the patient's app hears that the clinic has it");
    assert_eq!(ack["clientId"], "sos-1");
    assert!(started.elapsed() < Duration::from_secs(5));
}
