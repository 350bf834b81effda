//! A doctor's availability is stored per user: set over REST or `presence:set`, it is answered
//! to every socket of theirs, given again on the next connect, kept across a restart, and it
//! decides which doctors are asked to ring (do-not-disturb still gets the alert, to show it).
//! Patients cannot set one.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, Ws, clinic, send_frame};
use serde_json::json;

#[tokio::test]
async fn availability_is_stored_per_user_and_told_to_every_device() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, body) = server.get(&c.doc1.token, "/api/availability").await;
    assert_eq!((status, body), (200, json!({"availability": "AVAILABLE"})));

    // The tray of one device sets it; the other device of the same doctor is told.
    let (mut desk, hello) = Ws::connect(&server, &c.doc1.token).await;
    assert_eq!(hello["availability"], "AVAILABLE");
    let (status, body) = server
        .request(
            reqwest::Method::PUT,
            &c.doc1.token,
            "/api/availability",
            Some(json!({"availability": "DO_NOT_DISTURB"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"availability": "DO_NOT_DISTURB"}))
    );
    let changed = desk.expect("availability:changed").await;
    assert_eq!(changed["availability"], "DO_NOT_DISTURB");

    // A new socket hears the stored value, and alerts follow it: no routine alert.
    let (mut phone, hello) = Ws::connect(&server, &c.doc1.token).await;
    assert_eq!(hello["availability"], "DO_NOT_DISTURB");
    let (mut other_doctor, _) = Ws::connect(&server, &c.doc2.token).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    let mut sos = send_frame("sos", &c.pat1, &c.doc1, "help");
    sos["isEmergency"] = json!(true);
    pat.send(sos).await;
    other_doctor.expect("emergency:alert").await;
    pat.expect("message:ack").await;
    // Do-not-disturb mutes, never hides: the doctor's device gets the alert (not escalated), so
    // the app shows the banner and Acknowledge without ringing.
    let shown = phone.expect("emergency:alert").await;
    assert_eq!(shown["escalated"], false, "{shown}");
    // Only the available doctor counts as alerted (asked to ring) for the patient.
    let received = loop {
        let frame = pat.expect("emergency:updated").await;
        if frame["emergency"]["alertedDoctors"].as_u64() > Some(0) {
            break frame;
        }
    };
    assert_eq!(received["emergency"]["alertedDoctors"], 1, "{received}");

    // presence:set stores it too; patients have no availability to set.
    phone
        .send(json!({"type": "presence:set", "availability": "AVAILABLE"}))
        .await;
    assert_eq!(
        desk.expect("availability:changed").await["availability"],
        "AVAILABLE"
    );
    let (status, body) = server
        .request(
            reqwest::Method::PUT,
            &c.pat1.token,
            "/api/availability",
            Some(json!({"availability": "DO_NOT_DISTURB"})),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("forbidden")));

    // Kept across a restart of the server.
    server
        .request(
            reqwest::Method::PUT,
            &c.doc2.token,
            "/api/availability",
            Some(json!({"availability": "DO_NOT_DISTURB"})),
        )
        .await;
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let (status, body) = server.get(&c.doc2.token, "/api/availability").await;
    assert_eq!(
        (status, body),
        (200, json!({"availability": "DO_NOT_DISTURB"}))
    );
}
