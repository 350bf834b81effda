//! What the API shows of a data folder, as JSON that two servers can be compared by: every
//! user's messages and emergencies (from a sync walk), notifications, conversations with unread
//! counts, emergency lists, availability; each conversation's history; each emergency with its transitions;
//! the versions of changed messages; a search; and every file's bytes (as SHA-256).

use super::make::USERS;
use crate::common::{Account, Binary};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The fixture's users logged in, by username.
pub async fn login(server: &Binary) -> Vec<(String, Account)> {
    let mut users = Vec::new();
    for (username, _) in USERS {
        users.push((username.to_owned(), server.login(username).await));
    }
    users
}

/// The snapshot, and each user's sync cursor after a walk from 0.
pub async fn take(server: &Binary, users: &[(String, Account)]) -> (Value, Value) {
    let mut per_user = Map::new();
    let mut cursors = Map::new();
    let mut conversations = BTreeSet::new();
    let mut emergencies = BTreeSet::new();
    let mut changed = BTreeSet::new();
    let mut files = BTreeSet::new();
    for (name, user) in users {
        let (sync, cursor) = sync_from(server, user, 0).await;
        cursors.insert(name.clone(), json!(cursor));
        for message in sync["messages"].as_array().unwrap() {
            conversations.insert((s(&message["patientId"]), s(&message["doctorId"])));
            if message.get("edited").is_some() || message.get("retracted").is_some() {
                changed.insert((s(&message["id"]), s(&message["senderId"])));
            }
            if let Some(url) = message["fileUrl"].as_str() {
                files.insert((url.to_owned(), s(&message["senderId"])));
            }
        }
        for emergency in sync["emergencies"].as_array().unwrap() {
            emergencies.insert(s(&emergency["id"]));
        }
        let mut list = get(server, user, "/api/chat/conversations").await;
        for conversation in list.as_array_mut().unwrap() {
            // Presence and age move with the clock, not with the data.
            let other = conversation["otherParty"].as_object_mut().unwrap();
            other.remove("online");
            other.remove("age");
        }
        per_user.insert(
            name.clone(),
            json!({
                "sync": sync,
                "conversations": list,
                "notifications": get(server, user, "/api/notifications?limit=500").await,
                "emergencies": get(server, user, "/api/emergencies").await,
                "availability": get(server, user, "/api/availability").await,
            }),
        );
    }
    let by_id = |id: &str| {
        users
            .iter()
            .find(|(_, a)| a.id() == id)
            .map(|(_, a)| a)
            .unwrap()
    };
    let doctor = &users.iter().find(|(n, _)| n == "cho").unwrap().1;
    let mut histories = Map::new();
    for (patient, doctor_id) in &conversations {
        let path = format!("/api/chat/messages?patientId={patient}&doctorId={doctor_id}&limit=500");
        histories.insert(
            format!("{patient}/{doctor_id}"),
            get(server, by_id(patient), &path).await,
        );
    }
    let mut details = Map::new();
    for id in &emergencies {
        details.insert(
            id.clone(),
            get(server, doctor, &format!("/api/emergencies/{id}")).await,
        );
    }
    let mut versions = Map::new();
    for (id, sender) in &changed {
        let path = format!("/api/chat/messages/{id}/versions");
        versions.insert(id.clone(), get(server, by_id(sender), &path).await);
    }
    let mut contents = Map::new();
    for (url, sender) in &files {
        contents.insert(url.clone(), download(server, by_id(sender), url).await);
    }
    let ada = &users[0].1;
    let search = get(server, ada, "/api/search/messages?q=creme").await;
    let snapshot = json!({
        "users": per_user,
        "histories": histories,
        "emergencies": details,
        "versions": versions,
        "files": contents,
        "search": search,
    });
    (snapshot, Value::Object(cursors))
}

/// Fields a record carries only while they apply (a tombstone, an edit, a doctor's
/// availability): absent from the fixture's answer, they must be absent now too.
const WHILE_THEY_APPLY: [&str; 3] = ["retracted", "edited", "availability"];

/// Holds a snapshot of now to the fixture's, part by part so that a failure names the part:
/// every value the fixture's answers had is there, the same. Objects may carry fields the
/// fixture's did not (the wire grows additively), except [`WHILE_THEY_APPLY`].
pub fn assert_same(now: &Value, expected: &Value) {
    for part in ["histories", "emergencies", "versions", "files", "search"] {
        contains(&now[part], &expected[part], part);
    }
    for (name, _) in USERS {
        for part in [
            "sync",
            "conversations",
            "notifications",
            "emergencies",
            "availability",
        ] {
            let path = format!("{name}'s {part}");
            contains(
                &now["users"][name][part],
                &expected["users"][name][part],
                &path,
            );
        }
    }
    contains(now, expected, "the snapshot");
}

fn contains(now: &Value, expected: &Value, path: &str) {
    match (now, expected) {
        (Value::Object(now), Value::Object(expected)) => {
            for (key, value) in expected {
                let inner = format!("{path}.{key}");
                let got = now
                    .get(key)
                    .unwrap_or_else(|| panic!("{inner} is gone (it was {value})"));
                contains(got, value, &inner);
            }
            for key in WHILE_THEY_APPLY {
                if !expected.contains_key(key) {
                    let got = now.get(key).unwrap_or(&Value::Null);
                    assert!(got.is_null(), "{path}.{key} appeared: {got}");
                }
            }
        }
        (Value::Array(now), Value::Array(expected)) => {
            assert_eq!(now.len(), expected.len(), "{path}: how many");
            for (i, (got, value)) in now.iter().zip(expected).enumerate() {
                contains(got, value, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(now, expected, "{path} differs"),
    }
}

/// After the upgrade a doctor writes to Ada and reads her messages: a sync from each cursor
/// the users had before brings exactly those changes.
pub async fn continue_after(server: &Binary, users: &[(String, Account)], cursors: &Value) {
    let (ada, cho) = (&users[0].1, &users[2].1);
    let body = json!({
        "clientId": "after-upgrade",
        "patientId": ada.id(),
        "doctorId": cho.id(),
        "content": "Still fine?",
    });
    let (status, message) = server.post(&cho.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{message}");
    assert!(
        message["seq"].as_i64().unwrap() > cursors["ada"].as_i64().unwrap(),
        "a new message must sort after everything before the upgrade: {message}"
    );
    for (name, user) in users {
        let (page, _) = sync_from(server, user, cursors[name].as_i64().unwrap()).await;
        let ids: Vec<&Value> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["id"])
            .collect();
        let expected: Vec<&Value> = if name == "ada" || name == "cho" {
            vec![&message["id"]]
        } else {
            Vec::new()
        };
        assert_eq!(ids, expected, "{name}'s sync after the upgrade");
        assert_eq!(
            page["emergencies"],
            json!([]),
            "{name}'s sync after the upgrade"
        );
    }
}

/// A whole sync walk from `since`: all pages' messages and emergencies, and the last cursor.
async fn sync_from(server: &Binary, user: &Account, since: i64) -> (Value, i64) {
    let (mut messages, mut emergencies) = (Vec::new(), Vec::new());
    let mut cursor = since;
    loop {
        let page = get(server, user, &format!("/api/sync?since={cursor}&limit=500")).await;
        messages.extend(page["messages"].as_array().unwrap().iter().cloned());
        emergencies.extend(page["emergencies"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_i64().unwrap();
        if page["hasMore"] == false {
            break;
        }
    }
    // Compared as sets: what matters is each record's state, not the order of changes.
    messages.sort_by_key(|m| s(&m["id"]));
    emergencies.sort_by_key(|e| s(&e["id"]));
    (
        json!({"messages": messages, "emergencies": emergencies}),
        cursor,
    )
}

async fn get(server: &Binary, user: &Account, path: &str) -> Value {
    let (status, body) = server.get(&user.token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A file's type, length and SHA-256 as downloaded.
async fn download(server: &Binary, user: &Account, url: &str) -> Value {
    let response = server
        .http
        .get(server.url(url))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    json!({"contentType": kind, "length": bytes.len(), "sha256": sha256})
}

fn s(value: &Value) -> String {
    value.as_str().unwrap().to_owned()
}
