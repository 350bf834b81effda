//! Emergencies: alert to every online doctor and to doctors who connect later, acknowledge and
//! resolve over WebSocket and REST, refusals, and their place in sync and the conversation list.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{TestServer, Ws, clinic};
use serde_json::json;

#[tokio::test]
async fn emergency_lifecycle() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    // An older quiet conversation, so that the emergency has to be sorted first.
    server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": "routine"}),
        )
        .await;
    let (mut doc1, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let (mut pat2, _) = Ws::connect(&server, &c.pat2.token).await;
    pat2.send(json!({"type": "message:send", "clientId": "sos", "patientId": c.pat2.id(), "doctorId": c.doc1.id(), "content": "I can't breathe", "isEmergency": true})).await;
    let ack = pat2.expect("message:ack").await;
    assert_eq!(ack["message"]["messageType"], "EMERGENCY");

    // Every online doctor is alerted, not only the conversation's.
    let alert = doc2.expect("emergency:alert").await;
    assert_eq!(alert["emergency"]["state"], "RAISED");
    assert_eq!(alert["emergency"]["patientId"], c.pat2.id());
    assert_eq!(alert["message"]["content"], "I can't breathe");
    let emergency_id = alert["emergency"]["id"].as_str().unwrap().to_owned();
    doc1.expect("emergency:alert").await;
    // The doctors' in-app notifications are written after the alert went out, then pushed.
    let note = doc2.expect("notification").await;
    assert_eq!(note["notification"]["kind"], "EMERGENCY");
    assert_eq!(note["notification"]["messageId"], ack["message"]["id"]);
    let (_, notes) = server.get(&c.doc2.token, "/api/notifications").await;
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "EMERGENCY" && n["id"] == note["notification"]["id"]),
        "the pushed notification is stored: {notes}"
    );

    // A doctor who connects while it is open gets it on connect.
    let doc3 = server.account("doc3", Role::Doctor).await;
    let (mut doc3_ws, _) = Ws::connect(&server, &doc3.token).await;
    assert_eq!(
        doc3_ws.expect("emergency:alert").await["emergency"]["id"],
        emergency_id.as_str()
    );

    // Doctors see it first in their list, and in the open list.
    let (_, list) = server.get(&c.doc1.token, "/api/chat/conversations").await;
    assert_eq!(list[0]["otherParty"]["id"], c.pat2.id());
    assert_eq!(list[0]["hasEmergency"], true);
    let (_, open) = server
        .get(&c.doc2.token, "/api/emergencies?open=true")
        .await;
    assert_eq!(open.as_array().unwrap().len(), 1);

    // Patients cannot move it along; unknown ids are not found.
    let (status, body) = server
        .post(
            &c.pat2.token,
            &format!("/api/emergencies/{emergency_id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    pat2.send(json!({"type": "emergency:resolve", "emergencyId": emergency_id}))
        .await;
    assert_eq!(pat2.expect("error").await["code"], "forbidden");
    let (status, _) = server
        .post(
            &c.doc1.token,
            "/api/emergencies/e-nope/acknowledge",
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // Acknowledge over WebSocket: the patient and all doctors are told.
    doc2.send(json!({"type": "emergency:acknowledge", "emergencyId": emergency_id}))
        .await;
    let updated = pat2.expect("emergency:updated").await;
    assert_eq!(updated["emergency"]["state"], "ACKNOWLEDGED");
    assert_eq!(updated["emergency"]["acknowledgedBy"], c.doc2.id());
    assert_eq!(
        doc1.expect("emergency:updated").await["emergency"]["state"],
        "ACKNOWLEDGED"
    );
    assert_eq!(
        pat2.expect("notification").await["notification"]["kind"],
        "EMERGENCY_UPDATE"
    );

    // Resolve over REST with a note; resolving again is a conflict.
    let path = format!("/api/emergencies/{emergency_id}/resolve");
    let (status, resolved) = server
        .post(&c.doc1.token, &path, json!({"note": "inhaler, fine now"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(resolved["state"], "RESOLVED");
    assert_eq!(resolved["resolutionNote"], "inhaler, fine now");
    // Taken by one doctor, resolved by another: each is named.
    assert_eq!(
        (&resolved["acknowledgedByName"], &resolved["resolvedByName"]),
        (&json!("Test doc2"), &json!("Test doc1"))
    );
    let told = pat2.expect("emergency:updated").await;
    assert_eq!(told["emergency"]["state"], "RESOLVED");
    assert_eq!(told["emergency"]["resolvedByName"], "Test doc1");
    let (status, body) = server.post(&c.doc2.token, &path, json!({})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));

    // Sync carries the emergency in its latest state; the open list is empty.
    let (_, page) = server.get(&c.pat2.token, "/api/sync?since=0").await;
    assert_eq!(page["emergencies"][0]["state"], "RESOLVED");
    assert_eq!(page["emergencies"][0]["resolvedByName"], "Test doc1");
    assert!(page["messages"][0]["resolvedAt"].is_string());
    let (_, open) = server
        .get(&c.doc2.token, "/api/emergencies?open=true")
        .await;
    assert_eq!(open, json!([]));
    let (_, list) = server.get(&c.doc1.token, "/api/chat/conversations").await;
    assert_eq!(list[0]["hasEmergency"], false);
}
