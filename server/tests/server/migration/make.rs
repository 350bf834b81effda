//! The story the v11 fixture holds, played through the real server: two patients and two
//! doctors, text and file messages, receipts, an edit, an unsend and a misdirected retraction,
//! two emergencies (one resolved, one acknowledged), a doctor on do-not-disturb, notifications
//! partly read.

use crate::common::{self, Account, Binary, PASSWORD, PNG, WAIT};
use chrono::NaiveDate;
use clinic_protocol::Role;
use clinic_server::accounts::{NewAccount, create_user};
use serde_json::{Value, json};
use std::path::Path;

/// The accounts, patients first (password [`PASSWORD`]).
pub const USERS: [(&str, Role); 4] = [
    ("ada", Role::Patient),
    ("ben", Role::Patient),
    ("cho", Role::Doctor),
    ("dee", Role::Doctor),
];
pub const UNSENT_TEXT: &str = "I wrote this to the wrong place";
const UNSENT_CLIENT: &str = "ada-4";
pub const EDITED_FIRST: &str = "Take 200 mg twice a day";
const EDITED_CLIENT: &str = "cho-2";

/// Plays the story on a new data folder and leaves that folder (database and files, without
/// the TLS keys, the lock or a WAL) in `fixture/data`.
pub async fn fixture(fixture: &Path) {
    let dir = tempfile::tempdir().unwrap();
    for (username, role) in USERS {
        let patient = role == Role::Patient;
        create_user(
            dir.path(),
            NewAccount {
                username: username.into(),
                name: format!("{} Example", username.to_uppercase()),
                role,
                password: PASSWORD.into(),
                date_of_birth: patient.then(|| NaiveDate::from_ymd_opt(1984, 3, 9).unwrap()),
                blood_group: patient.then(|| "O-".to_owned()),
            },
        )
        .unwrap();
    }
    let server = Binary::start(dir.path(), &[]);
    story(&server).await;
    server.stop();

    let data = fixture.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data).unwrap();
    }
    std::fs::create_dir_all(&data).unwrap();
    assert!(
        !dir.path().join("clinic.db-wal").exists()
            || std::fs::metadata(dir.path().join("clinic.db-wal"))
                .unwrap()
                .len()
                == 0,
        "a clean stop leaves no WAL to carry"
    );
    std::fs::copy(dir.path().join("clinic.db"), data.join("clinic.db")).unwrap();
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(dir.path().join("files"))
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());
}

async fn story(server: &Binary) {
    let mut who = Vec::new();
    for (username, _) in USERS {
        who.push(server.login(username).await);
    }
    let [ada, ben, cho, dee] = [&who[0], &who[1], &who[2], &who[3]];

    // Text over WebSocket and REST.
    let mut ada_ws = server.ws(&ada.token).await;
    let hello = send_ws(
        &mut ada_ws,
        ada,
        cho,
        "ada-1",
        "Hello doctor, the rash is back",
    )
    .await;
    let advice = send(server, cho, ada, cho, EDITED_CLIENT, EDITED_FIRST, false).await;
    let rash = send(
        server,
        ada,
        ada,
        cho,
        "ada-3",
        "It itches at night (Crème helps)",
        false,
    )
    .await;
    let unsent = send(server, ada, ada, cho, UNSENT_CLIENT, UNSENT_TEXT, false).await;
    send(
        server,
        ben,
        ben,
        cho,
        "ben-1",
        "Can I come in on Monday?",
        false,
    )
    .await;

    // Files: an image from the patient, a text from the doctor.
    let (status, png) = server.upload(ada, ada, cho, "rash.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{png}");
    let photo = send_file(server, ada, ada, cho, "ada-5", &png).await;
    let notes = b"Plan: cream twice a day for a week.\n".to_vec();
    let (status, txt) = server.upload(cho, ada, cho, "plan.txt", notes).await;
    assert_eq!(status, 201, "{txt}");
    send_file(server, cho, ada, cho, "cho-3", &txt).await;

    // Receipts: delivered, then read up to a message; the patient's copy of the advice delivered.
    let (status, body) = server
        .post(
            &cho.token,
            "/api/chat/messages/delivered",
            json!({"messageIds": [id(&hello), id(&photo)]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut cho_ws = server.ws(&cho.token).await;
    cho_ws
        .send(json!({
            "type": "message:read",
            "messageId": id(&rash),
            "patientId": ada.id(),
            "doctorId": cho.id(),
        }))
        .await;
    settle(&mut cho_ws).await;
    ada_ws
        .send(json!({"type": "message:delivered", "messageIds": [id(&advice)]}))
        .await;
    settle(&mut ada_ws).await;

    // The advice edited twice, the wrong message unsent, a misdirected one retracted.
    let edits = ["Take 200 mg three times a day", "Take 400 mg twice a day"];
    for (version, content) in (1..).zip(edits) {
        let (status, body) = server
            .post(
                &cho.token,
                &format!("/api/chat/messages/{}/edit", id(&advice)),
                json!({"content": content, "baseVersion": version}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = server
        .post(
            &ada.token,
            &format!("/api/chat/messages/{}/retract", id(&unsent)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let wrong = send(
        server,
        cho,
        ben,
        cho,
        "cho-4",
        "Your results are fine, Ada",
        false,
    )
    .await;
    let (status, body) = server
        .post(
            &cho.token,
            &format!("/api/chat/messages/{}/retract", id(&wrong)),
            json!({"misdirected": true, "reason": "meant for Ada"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Emergencies, with both doctors online to be alerted: Ada's is acknowledged and resolved
    // by a doctor who had no conversation with her; Ben's is acknowledged only.
    let _dee_ws = server.ws(&dee.token).await;
    let ada_emergency = raise(server, ada, cho, "ada-6", "I can't breathe properly").await;
    alerted(server, cho, &ada_emergency, 2).await;
    emergency(server, dee, &ada_emergency, "acknowledge", json!({})).await;
    emergency(
        server,
        dee,
        &ada_emergency,
        "resolve",
        json!({"note": "Called her; inhaler helped"}),
    )
    .await;
    let ben_emergency = raise(server, ben, dee, "ben-2", "Chest pain").await;
    alerted(server, cho, &ben_emergency, 2).await;
    emergency(server, cho, &ben_emergency, "acknowledge", json!({})).await;

    // Dee goes on do-not-disturb (stored per doctor).
    let (status, body) = server
        .request(
            reqwest::Method::PUT,
            &dee.token,
            "/api/availability",
            Some(json!({"availability": "DO_NOT_DISTURB"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Ada reads her oldest notification; the rest stay unread.
    let (status, list) = server.get(&ada.token, "/api/notifications?limit=500").await;
    assert_eq!(status, 200, "{list}");
    let oldest = list.as_array().unwrap().last().unwrap()["id"].clone();
    let (status, body) = server
        .request(
            reqwest::Method::PATCH,
            &ada.token,
            "/api/notifications",
            Some(json!({"ids": [oldest]})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

/// Returns once the frames sent on `ws` so far were handled (a `sync` after them is answered
/// only then); a refusal among them fails.
async fn settle(ws: &mut common::Ws) {
    ws.send(json!({"type": "sync", "since": i64::MAX, "limit": 1}))
        .await;
    let (_, skipped) = ws.expect_skipping("sync:batch").await;
    assert!(!skipped.iter().any(|t| t == "error"), "{skipped:?}");
}

fn id(message: &Value) -> String {
    message["id"].as_str().unwrap().to_owned()
}

async fn send_ws(
    ws: &mut common::Ws,
    patient: &Account,
    doctor: &Account,
    client_id: &str,
    text: &str,
) -> Value {
    ws.send(common::send_frame(client_id, patient, doctor, text))
        .await;
    ws.expect("message:ack").await["message"].clone()
}

async fn send(
    server: &Binary,
    from: &Account,
    patient: &Account,
    doctor: &Account,
    client_id: &str,
    text: &str,
    emergency: bool,
) -> Value {
    let body = json!({
        "clientId": client_id,
        "patientId": patient.id(),
        "doctorId": doctor.id(),
        "content": text,
        "isEmergency": emergency,
    });
    let (status, message) = server.post(&from.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{message}");
    message
}

async fn send_file(
    server: &Binary,
    from: &Account,
    patient: &Account,
    doctor: &Account,
    client_id: &str,
    upload: &Value,
) -> Value {
    let body = json!({
        "clientId": client_id,
        "patientId": patient.id(),
        "doctorId": doctor.id(),
        "content": "",
        "fileUrl": upload["fileUrl"],
        "fileName": upload["fileName"],
    });
    let (status, message) = server.post(&from.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{message}");
    message
}

/// A patient's emergency message; returns the emergency's id.
async fn raise(
    server: &Binary,
    patient: &Account,
    doctor: &Account,
    client_id: &str,
    text: &str,
) -> String {
    let message = send(server, patient, patient, doctor, client_id, text, true).await;
    let (status, list) = server.get(&patient.token, "/api/emergencies").await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["messageId"] == message["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the emergency's alert reached `doctors` doctors (their ALERTED transitions).
async fn alerted(server: &Binary, doctor: &Account, emergency: &str, doctors: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, detail) = server
            .get(&doctor.token, &format!("/api/emergencies/{emergency}"))
            .await;
        let count = detail["transitions"]
            .as_array()
            .map_or(0, |t| t.iter().filter(|t| t["kind"] == "ALERTED").count());
        if count >= doctors {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not alerted in time: {detail}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn emergency(server: &Binary, doctor: &Account, emergency: &str, what: &str, body: Value) {
    let (status, answer) = server
        .post(
            &doctor.token,
            &format!("/api/emergencies/{emergency}/{what}"),
            body,
        )
        .await;
    assert_eq!(status, 200, "{what}: {answer}");
}

/// The id of the message Ada unsent, from a snapshot.
pub fn unsent_id(snapshot: &Value) -> String {
    by_client_id(snapshot, UNSENT_CLIENT)
}

/// The id of the message the doctor edited, from a snapshot.
pub fn edited_id(snapshot: &Value) -> String {
    by_client_id(snapshot, EDITED_CLIENT)
}

fn by_client_id(snapshot: &Value, client_id: &str) -> String {
    snapshot["users"]["ada"]["sync"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["clientId"] == client_id)
        .unwrap_or_else(|| panic!("no message {client_id} in the snapshot"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
