//! The care relation (docs/protocol.md, "Who may talk to whom"): a doctor who acknowledges or
//! resolves another doctor's patient's emergency gets a conversation with that patient (and the
//! patient's details), never the other doctor's conversation; doctors look up the clinic's
//! patients and start conversations with them; patients can do neither. Also: patients hear a
//! doctor's do-not-disturb. Real server on 127.0.0.1:0, real WebSocket clients.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{TestServer, Ws, clinic, send_frame};
use serde_json::{Value, json};

fn messages_path(patient: &common::Account, doctor: &common::Account) -> String {
    format!(
        "/api/chat/messages?patientId={}&doctorId={}",
        patient.id(),
        doctor.id()
    )
}

fn conversation_with<'a>(list: &'a Value, other: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["otherParty"]["id"] == other)
}

#[tokio::test]
async fn a_doctor_who_acknowledges_another_doctors_patient_can_talk_to_them() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let mut sos = send_frame("sos", &c.pat1, &c.doc1, "I cannot breathe");
    sos["isEmergency"] = json!(true);
    pat.send(sos).await;
    pat.expect("message:ack").await;
    let alert = doc2.expect("emergency:alert").await;
    let emergency_id = alert["emergency"]["id"].as_str().unwrap().to_owned();

    // Before: doc2 has no conversation with pat1 and cannot read doc1's.
    let (_, list) = server.get(&c.doc2.token, "/api/chat/conversations").await;
    assert!(conversation_with(&list, c.pat1.id()).is_none(), "{list}");
    let (status, _) = server
        .get(&c.doc2.token, &messages_path(&c.pat1, &c.doc1))
        .await;
    assert_eq!(status, 403);

    let (status, body) = server
        .post(
            &c.doc2.token,
            &format!("/api/emergencies/{emergency_id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The patient (online) learns that the doctor who took it is online: they now share one.
    let online = pat.expect("user:online").await;
    assert_eq!(online["userId"], c.doc2.id());

    // After: the conversation with the patient's details, in the list and the contacts.
    let (_, list) = server.get(&c.doc2.token, "/api/chat/conversations").await;
    let conv = conversation_with(&list, c.pat1.id()).expect("pat1 in doc2's list");
    assert_eq!(conv["doctorId"], c.doc2.id());
    assert_eq!(conv["otherParty"]["bloodGroup"], "AB+");
    assert!(conv["otherParty"]["age"].as_u64().is_some(), "{conv}");
    let (_, contacts) = server.get(&c.doc2.token, "/api/contacts").await;
    assert!(
        contacts
            .as_array()
            .unwrap()
            .iter()
            .any(|c2| c2["id"] == c.pat1.id()),
        "{contacts}"
    );

    // The reply reaches the patient at once.
    doc2.send(send_frame(
        "reply",
        &c.pat1,
        &c.doc2,
        "On my way, sit upright",
    ))
    .await;
    let ack = doc2.expect("message:ack").await;
    assert_eq!(ack["message"]["doctorId"], c.doc2.id());
    let got = pat.expect("message:received").await;
    assert_eq!(got["message"]["content"], "On my way, sit upright");
    assert_eq!(got["message"]["senderId"], c.doc2.id());

    // Still never the other doctor's conversation.
    let (status, _) = server
        .get(&c.doc2.token, &messages_path(&c.pat1, &c.doc1))
        .await;
    assert_eq!(status, 403);
    doc2.send(send_frame("sneak", &c.pat1, &c.doc1, "hi")).await;
    let refused = doc2.expect("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
}

#[tokio::test]
async fn resolving_an_emergency_also_opens_the_conversation() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, _) = server
        .post(
            &c.pat2.token,
            "/api/chat/messages",
            json!({"patientId": c.pat2.id(), "doctorId": c.doc1.id(),
                   "content": "fell down", "isEmergency": true, "clientId": "e1"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, open) = server.get(&c.doc2.token, "/api/emergencies").await;
    let id = open[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = server
        .post(
            &c.doc2.token,
            &format!("/api/emergencies/{id}/resolve"),
            json!({"note": "called an ambulance"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = server.get(&c.doc2.token, "/api/chat/conversations").await;
    assert!(conversation_with(&list, c.pat2.id()).is_some(), "{list}");
    // The patient sees the doctor who helped in their list too.
    let (_, list) = server.get(&c.pat2.token, "/api/chat/conversations").await;
    assert!(conversation_with(&list, c.doc2.id()).is_some(), "{list}");
}

#[tokio::test]
async fn doctors_look_up_patients_and_patients_cannot() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let admin = server.account("admin1", Role::Admin).await;

    let (status, all) = server.get(&c.doc1.token, "/api/patients").await;
    assert_eq!(status, 200, "{all}");
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pat1", "pat2"], "patients only, in name order");
    assert_eq!(all[0]["bloodGroup"], "AB+");

    // Both online; presence is shown only within a care relation (doc1 and pat1 here).
    let (_pat1_ws, _) = Ws::connect(&server, &c.pat1.token).await;
    let (_pat2_ws, _) = Ws::connect(&server, &c.pat2.token).await;
    let (status, _) = server
        .post(
            &c.doc1.token,
            "/api/conversations",
            json!({"patientId": c.pat1.id()}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, all) = server.get(&c.doc1.token, "/api/patients").await;
    let online: Vec<bool> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["online"].as_bool().unwrap())
        .collect();
    assert_eq!(online, [true, false], "{all}");

    // Case-insensitive, by name or username; bounded.
    let (_, one) = server
        .get(&c.doc1.token, "/api/patients?q=TEST%20PAT2")
        .await;
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["id"], c.pat2.id());
    let (_, none) = server.get(&c.doc1.token, "/api/patients?q=doc").await;
    assert_eq!(none, json!([]), "doctors are not patients");
    let (_, limited) = server.get(&c.doc1.token, "/api/patients?limit=1").await;
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let long = "x".repeat(101);
    let (status, body) = server
        .get(&c.doc1.token, &format!("/api/patients?q={long}"))
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("bad_request")));

    // Patients (and admins) cannot enumerate patients.
    for token in [&c.pat1.token, &admin.token] {
        let (status, body) = server.get(token, "/api/patients").await;
        assert_eq!((status, body["code"].clone()), (403, json!("forbidden")));
    }
    // A patient's contacts are the clinic's doctors, never other patients.
    let (_, contacts) = server.get(&c.pat1.token, "/api/contacts").await;
    assert!(
        contacts
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["role"] == "DOCTOR"),
        "{contacts}"
    );
}

#[tokio::test]
async fn a_doctor_starts_a_conversation_with_a_patient_of_the_clinic() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat2.token).await;
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;

    let (status, conv) = server
        .post(
            &c.doc1.token,
            "/api/conversations",
            json!({"patientId": c.pat2.id()}),
        )
        .await;
    assert_eq!(status, 201, "{conv}");
    assert_eq!(conv["patientId"], c.pat2.id());
    assert_eq!(conv["doctorId"], c.doc1.id());
    assert_eq!(conv["otherParty"]["bloodGroup"], "AB+");
    assert_eq!(conv["otherParty"]["online"], true);
    assert_eq!(conv["lastMessage"], Value::Null);
    // Both now share a conversation: presence both ways.
    assert_eq!(pat.expect("user:online").await["userId"], c.doc1.id());
    assert_eq!(doc.expect("user:online").await["userId"], c.pat2.id());
    // Again: the same conversation, 200.
    let (status, again) = server
        .post(
            &c.doc1.token,
            "/api/conversations",
            json!({"patientId": c.pat2.id()}),
        )
        .await;
    assert_eq!(
        (status, again["patientId"].clone()),
        (200, json!(c.pat2.id()))
    );
    // It is in the patient's list too, and the doctor's contacts.
    let (_, list) = server.get(&c.pat2.token, "/api/chat/conversations").await;
    assert!(conversation_with(&list, c.doc1.id()).is_some(), "{list}");
    let (_, contacts) = server.get(&c.doc1.token, "/api/contacts").await;
    assert_eq!(contacts[0]["id"], c.pat2.id(), "{contacts}");

    // Refusals: patients cannot start one; only real, enabled patients can be picked.
    let (status, body) = server
        .post(
            &c.pat1.token,
            "/api/conversations",
            json!({"patientId": c.pat2.id()}),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("forbidden")));
    for patient_id in [c.doc2.id(), "u-nobody"] {
        let (status, body) = server
            .post(
                &c.doc1.token,
                "/api/conversations",
                json!({"patientId": patient_id}),
            )
            .await;
        assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    }
}

#[tokio::test]
async fn patients_write_to_any_doctor_but_never_to_another_patient() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    // Any doctor of the clinic (their contact list): allowed, as before.
    pat.send(send_frame("hi", &c.pat1, &c.doc2, "hello")).await;
    pat.expect("message:ack").await;
    // Another patient's conversation, or posing as the doctor side: refused.
    pat.send(send_frame("x", &c.pat2, &c.doc2, "hello")).await;
    assert_eq!(pat.expect("error").await["code"], "forbidden");
    pat.send(json!({"type": "join:chat", "patientId": c.pat2.id(), "doctorId": c.doc1.id()}))
        .await;
    assert_eq!(pat.expect("error").await["code"], "forbidden");
}

#[tokio::test]
async fn patients_see_a_doctors_do_not_disturb() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (mut pat, _) = Ws::connect(&server, &c.pat1.token).await;
    pat.send(send_frame("hi", &c.pat1, &c.doc1, "hello")).await;
    pat.expect("message:ack").await;
    let (_, contacts) = server.get(&c.pat1.token, "/api/contacts").await;
    let doc1 = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == c.doc1.id())
        .unwrap()
        .clone();
    assert_eq!(doc1["availability"], "AVAILABLE");

    let (status, _) = server
        .request(
            reqwest::Method::PUT,
            &c.doc1.token,
            "/api/availability",
            Some(json!({"availability": "DO_NOT_DISTURB"})),
        )
        .await;
    assert_eq!(status, 200);
    let told = pat.expect("user:availability").await;
    assert_eq!(told["userId"], c.doc1.id());
    assert_eq!(told["availability"], "DO_NOT_DISTURB");
    let (_, list) = server.get(&c.pat1.token, "/api/chat/conversations").await;
    let conv = conversation_with(&list, c.doc1.id()).unwrap();
    assert_eq!(conv["otherParty"]["availability"], "DO_NOT_DISTURB");
    // Doctors see no availability of patients.
    let (_, list) = server.get(&c.doc1.token, "/api/chat/conversations").await;
    let conv = conversation_with(&list, c.pat1.id()).unwrap();
    assert!(conv["otherParty"].get("availability").is_none(), "{conv}");
}
