//! One account refused in a loop: past its rate of refusals they are counted, not written one
//! row each, and every refusal is in the audit log once the window ends or the server stops.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_server::config::Rate;
use common::{TestServer, Ws, clinic, send_frame};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The `DENIED` rows of `actor`: (refusals each stands for, detail).
fn denied(dir: &Path, actor: &str) -> Vec<(u64, Value)> {
    let conn = rusqlite::Connection::open(clinic_server::config::db_path(dir)).unwrap();
    let mut stmt = conn
        .prepare("SELECT detail FROM audit WHERE outcome = 'DENIED' AND actor = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([actor], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|detail| {
            let detail: Value = serde_json::from_str(&detail.unwrap()).unwrap();
            (detail["repeated"].as_u64().unwrap_or(1), detail)
        })
        .collect()
}

/// `count` sends into someone else's conversation, each answered `forbidden`.
async fn refused_sends(ws: &mut Ws, c: &common::Clinic, count: usize) {
    for i in 0..count {
        ws.send(send_frame(&format!("x-{i}"), &c.pat1, &c.doc1, "intrusion"))
            .await;
    }
    for _ in 0..count {
        assert_eq!(ws.expect("error").await["code"], "forbidden");
    }
}

#[tokio::test]
async fn refusals_past_the_rate_are_written_as_counts_at_the_end_of_the_window() {
    let server = TestServer::start_with(|config| {
        config.refusal_rate = Rate::new(0.0, 5.0);
        config.refusal_window = Duration::from_millis(300);
    })
    .await;
    let c = clinic(&server).await;
    let (mut ws, _) = Ws::connect(&server, &c.pat2.token).await;
    refused_sends(&mut ws, &c, 300).await;
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = denied(server.dir.path(), c.pat2.id());
        if rows.iter().map(|(n, _)| n).sum::<u64>() == 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counted: u64 = rows.iter().map(|(n, _)| n).sum();
    assert_eq!(counted, 300, "every refusal is counted: {rows:?}");
    assert!(
        rows.len() < 20,
        "five rows one by one, then a count per window: {rows:?}"
    );
    // The sends may span the end of a window or more: then each window's row counts its part.
    let held = &rows[5..];
    assert_eq!(held.iter().map(|(n, _)| n).sum::<u64>(), 295, "{rows:?}");
    for (_, summary) in held {
        assert!(
            summary["refusal"].as_str().unwrap().contains("participant"),
            "{summary}"
        );
        assert!(
            summary["firstAt"].as_str().unwrap().ends_with('Z'),
            "{summary}"
        );
    }
    // Another account's refusals are still written one by one.
    let (mut other, _) = Ws::connect(&server, &c.doc2.token).await;
    refused_sends(&mut other, &c, 1).await;
    assert_eq!(denied(server.dir.path(), c.doc2.id()).len(), 1);
}

#[tokio::test]
async fn refusals_held_at_shutdown_are_written_before_the_server_stops() {
    let server = TestServer::start_with(|config| {
        config.refusal_rate = Rate::new(0.0, 5.0);
        config.refusal_window = Duration::from_secs(3600);
    })
    .await;
    let c = clinic(&server).await;
    let pat2 = c.pat2.id().to_owned();
    let (mut ws, _) = Ws::connect(&server, &c.pat2.token).await;
    refused_sends(&mut ws, &c, 40).await;
    assert_eq!(
        denied(server.dir.path(), &pat2).len(),
        5,
        "the rest is held"
    );
    drop(ws);
    let dir = server.stop().await;
    let rows = denied(dir.path(), &pat2);
    assert_eq!(rows.iter().map(|(n, _)| n).sum::<u64>(), 40, "{rows:?}");
    assert_eq!(rows.len(), 6);
}
