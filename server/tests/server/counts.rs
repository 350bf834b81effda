//! The conversations' unread counters and saved read marks checked against their messages by
//! the running server, a while after its start: counters and a mark that drifted (set wrong by
//! hand while it was stopped, as a bug would leave them) are set right, and what the apps are
//! shown, and what a "read up to" reaches, follows.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, Ws, clinic};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn counters_that_drifted_are_set_right_by_the_running_server() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let mut last = serde_json::Value::Null;
    for text in ["one", "two", "three"] {
        let body = json!({"patientId": c.pat1.id(), "doctorId": c.doc1.id(), "content": text});
        let (status, m) = server.post(&c.pat1.token, "/api/chat/messages", body).await;
        assert_eq!(status, 201, "{m}");
        last = m;
    }
    assert_eq!(common::doctor_unread(&server, &c).await, (3, 3));
    let dir = server.stop().await;

    let conn = rusqlite::Connection::open(dir.path().join("clinic.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE conversations SET doctor_unread = 42, doctor_notices = 0, \
             doctor_read = 1000000 WHERE patient_id = ?1 AND doctor_id = ?2",
            [c.pat1.id(), c.doc1.id()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    // Long enough that the first look comes before the check.
    let first_check = Duration::from_secs(5);
    let server = TestServer::start_in(dir, |config| config.counts_first_check = first_check).await;
    let started = std::time::Instant::now();
    // Drifted: a wrong count, and the unread notifications hidden (the list reads only the
    // conversations whose count says they have some).
    let drifted = common::doctor_unread(&server, &c).await;
    assert!(started.elapsed() < first_check, "looked too late");
    assert_eq!(drifted, (42, 0));
    let deadline = started + first_check + common::WAIT * 4;
    while common::doctor_unread(&server, &c).await != (3, 3) {
        assert!(std::time::Instant::now() < deadline, "never set right");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The doctor's mark, saved above three unread messages, was brought below them: reading up
    // to the last reaches all three.
    let (mut doc, _) = Ws::connect(&server, &c.doc1.token).await;
    doc.send(json!({"type": "message:read", "messageId": last["id"], "patientId": c.pat1.id(), "doctorId": c.doc1.id()}))
        .await;
    let read = doc.expect("message:read:confirmed").await;
    assert_eq!(read["messageIds"].as_array().unwrap().len(), 3, "{read}");
    assert_eq!(common::doctor_unread(&server, &c).await, (0, 3));
}
