//! The care routes under abuse (`GET /api/patients`, `POST /api/conversations`): bodies and
//! queries out of bounds, ids that name nobody or the wrong kind of account, patients and admins
//! refused, a per-user rate with `Retry-After`, and a flood on loopback that is answered in
//! bounded time with nothing but 200, 201 and 429 while the server stays healthy. Every refusal
//! writes nothing.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{TestServer, clinic};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// How many conversations the data folder holds.
fn conversations(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("clinic.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM conversations", [], |r| r.get(0))
        .unwrap()
}

fn says(body: &Value, part: &str) {
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(part), "{body}");
    assert!(!message.to_lowercase().contains("sqlite"), "{body}");
}

#[tokio::test]
async fn bad_input_is_refused_with_a_sentence_and_writes_nothing() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let admin = server.account("it.admin", Role::Admin).await;
    let before = conversations(server.dir.path());

    // Patients and admins are refused on both routes.
    for token in [&c.pat1.token, &admin.token] {
        let (status, body) = server.get(token, "/api/patients?q=pat").await;
        assert_eq!(status, 403, "{body}");
        says(&body, "only doctors");
        let (status, body) = server
            .post(
                token,
                "/api/conversations",
                json!({"patientId": c.pat2.id()}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
    }
    // No token at all.
    let (status, _) = server.get("not-a-token", "/api/patients").await;
    assert_eq!(status, 401);

    // Queries out of bounds.
    let long = "a".repeat(101);
    let (status, body) = server
        .get(&c.doc1.token, &format!("/api/patients?q={long}"))
        .await;
    assert_eq!(status, 400, "{body}");
    says(&body, "longer than 100 characters");
    for bad in ["limit=abc", "limit=-1", "limit=99999999999"] {
        let (status, body) = server
            .get(&c.doc1.token, &format!("/api/patients?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // A limit past the largest page is cut to it, not refused.
    let (status, body) = server.get(&c.doc1.token, "/api/patients?limit=5000").await;
    assert_eq!(status, 200, "{body}");

    // Ids that name nobody, or a doctor.
    for id in [json!("no-such-user"), json!(""), json!(c.doc2.id())] {
        let (status, body) = server
            .post(
                &c.doc1.token,
                "/api/conversations",
                json!({ "patientId": id }),
            )
            .await;
        assert_eq!(status, 404, "{id}: {body}");
    }
    // Bodies of the wrong shape.
    for body in [
        json!({}),
        json!({"patientId": 7}),
        json!({"patientId": null}),
    ] {
        let (status, answer) = server
            .post(&c.doc1.token, "/api/conversations", body.clone())
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let broken = server
        .http
        .post(server.url("/api/conversations"))
        .bearer_auth(&c.doc1.token)
        .header("content-type", "application/json")
        .body("{\"patientId\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    // A body over the JSON limit (256 KiB) is refused before it is read.
    let huge = json!({"patientId": c.pat1.id(), "padding": "x".repeat(300 * 1024)});
    let (status, body) = server.post(&c.doc1.token, "/api/conversations", huge).await;
    assert_eq!(status, 413, "{body}");

    assert_eq!(
        conversations(server.dir.path()),
        before,
        "no refusal opened a conversation"
    );
    // The same doctor can still open a real one.
    let (status, body) = server
        .post(
            &c.doc1.token,
            "/api/conversations",
            json!({"patientId": c.pat1.id()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn each_user_has_a_rate_and_hears_when_to_come_back() {
    let server = TestServer::start_with(|config| {
        config.care_rate = clinic_server::config::Rate::new(0.5, 3.0);
    })
    .await;
    let c = clinic(&server).await;
    for _ in 0..3 {
        let (status, body) = server.get(&c.doc1.token, "/api/patients").await;
        assert_eq!(status, 200, "{body}");
    }
    let response = server
        .http
        .get(server.url("/api/patients"))
        .bearer_auth(&c.doc1.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Starting conversations draws on the same rate, and a refused start writes nothing.
    let before = conversations(server.dir.path());
    let (status, body) = server
        .post(
            &c.doc1.token,
            "/api/conversations",
            json!({"patientId": c.pat1.id()}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(conversations(server.dir.path()), before);
    // Another doctor is not slowed down by the first one's flood.
    let (status, _) = server.get(&c.doc2.token, "/api/patients").await;
    assert_eq!(status, 200);
}

/// Reads write audit rows: one account looping on them is slowed down (429 with Retry-After),
/// so it cannot grow the audit log without bound, and nobody else is.
#[tokio::test]
async fn audited_reads_have_a_rate_per_user() {
    let server = TestServer::start_with(|config| {
        config.read_rate = clinic_server::config::Rate::new(0.5, 5.0);
    })
    .await;
    let c = clinic(&server).await;
    let rows = |who: &str| -> i64 {
        rusqlite::Connection::open(server.dir.path().join("clinic.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit WHERE action = 'CONVERSATIONS_READ' AND actor = ?1",
                [who],
                |r| r.get(0),
            )
            .unwrap()
    };
    let mut refused = None;
    for _ in 0..20 {
        let response = server
            .http
            .get(server.url("/api/chat/conversations"))
            .bearer_auth(&c.pat1.token)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let refused = refused.expect("the sixth read within a second is refused");
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(rows(c.pat1.id()), 5, "a refused read writes no audit row");
    // History, sync and search draw on the same rate.
    let (status, body) = server.get(&c.pat1.token, "/api/sync?since=0").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    // Another patient reads on.
    let (status, _) = server.get(&c.pat2.token, "/api/chat/conversations").await;
    assert_eq!(status, 200);
}

/// 400 requests from 20 concurrent clients on loopback: every one is answered within the bound
/// with 200, 201 or 429 (never a 5xx or a dropped connection), and the server still serves.
#[tokio::test]
async fn a_flood_is_answered_in_bounded_time() {
    const CLIENTS: usize = 20;
    const EACH: usize = 20;
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let patient = c.pat1.id().to_owned();
    let flood = async {
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let http = server.http.clone();
            let token = c.doc1.token.clone();
            let patients = server.url("/api/patients?q=pat");
            let start = server.url("/api/conversations");
            let patient = patient.clone();
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for j in 0..EACH {
                    let request = if (i + j) % 2 == 0 {
                        http.get(&patients)
                    } else {
                        http.post(&start).json(&json!({ "patientId": patient }))
                    };
                    let response = request.bearer_auth(&token).send().await.unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    };
    let statuses = tokio::time::timeout(Duration::from_secs(120), flood)
        .await
        .expect("the flood is answered in bounded time");
    assert_eq!(statuses.len(), CLIENTS * EACH);
    assert!(
        statuses.iter().all(|s| [200, 201, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "the flood met the rate");
    assert!(
        statuses.iter().filter(|s| **s == 201).count() <= 1,
        "one conversation opened, however often asked"
    );
    // Still serving, everyone else included.
    let (status, _) = server.get(&c.doc2.token, "/api/patients").await;
    assert_eq!(status, 200);
    let (status, _) = server
        .post(
            &c.pat2.token,
            "/api/chat/messages",
            json!({"patientId": c.pat2.id(), "doctorId": c.doc2.id(), "content": "still here"}),
        )
        .await;
    assert_eq!(status, 201);
}
