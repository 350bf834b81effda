//! Durability: the real binary is killed with SIGKILL while clients send; after a restart every
//! message the server acknowledged is there, exactly once.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_tungstenite::tungstenite::Message;

pub(crate) async fn login(dir: &Path, addr: &str, username: &str) -> (String, String) {
    let account = common::login_at(dir, addr, username).await;
    (account.token.clone(), account.id().to_owned())
}

/// Sends as fast as acks allow until the socket dies, counting acks in `count`; returns
/// clientId -> acked message id.
pub(crate) async fn sender(
    dir: PathBuf,
    addr: String,
    token: String,
    patient: String,
    doctor: String,
    tag: usize,
    count: Arc<AtomicUsize>,
) -> HashMap<String, String> {
    let mut ws = common::ws_at(&dir, &addr).await.stream;
    ws.send(Message::text(
        json!({"type": "authenticate", "token": token}).to_string(),
    ))
    .await
    .unwrap();
    let mut acked = HashMap::new();
    let mut next = 0usize;
    // Keep up to 32 sends in flight: pipelined, so batches form.
    let mut in_flight = 0usize;
    loop {
        while in_flight < 32 {
            let frame = json!({"type": "message:send", "clientId": format!("t{tag}-{next}"), "patientId": patient, "doctorId": doctor, "content": format!("msg {next}")});
            if ws.send(Message::text(frame.to_string())).await.is_err() {
                return acked;
            }
            next += 1;
            in_flight += 1;
        }
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "message:ack" {
                    acked.insert(
                        frame["clientId"].as_str().unwrap().to_owned(),
                        frame["message"]["id"].as_str().unwrap().to_owned(),
                    );
                    in_flight -= 1;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(Ok(_)) => {}
            _ => return acked,
        }
    }
}

/// One page of `GET /api/sync`.
pub(crate) async fn sync_page(
    client: &reqwest::Client,
    addr: &str,
    token: &str,
    since: i64,
) -> Value {
    get_json(
        client,
        addr,
        token,
        &format!("/api/sync?since={since}&limit=500"),
    )
    .await
}

/// Every message `token`'s holder syncs from the start, by clientId (each must come once).
pub(crate) async fn synced(
    client: &reqwest::Client,
    addr: &str,
    token: &str,
) -> HashMap<String, Value> {
    let mut stored = HashMap::new();
    let mut since = 0i64;
    loop {
        let page = sync_page(client, addr, token, since).await;
        for m in page["messages"].as_array().unwrap() {
            let client_id = m["clientId"].as_str().unwrap().to_owned();
            let previous = stored.insert(client_id, m.clone());
            assert!(previous.is_none(), "a clientId stored twice");
        }
        since = page["cursor"].as_i64().unwrap();
        if page["hasMore"] == false {
            return stored;
        }
    }
}

/// `GET path` as the holder of `token`, its JSON body.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    addr: &str,
    token: &str,
    path: &str,
) -> Value {
    client
        .get(format!("https://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_acknowledged_message_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    common::accounts(
        dir.path(),
        &[
            ("p1", Role::Patient),
            ("p2", Role::Patient),
            ("d1", Role::Doctor),
        ],
    );
    let (mut child, addr) = common::spawn_server(dir.path(), &[]);
    let data = dir.path().to_path_buf();
    let (t1, p1) = login(&data, &addr, "p1").await;
    let (t2, p2) = login(&data, &addr, "p2").await;
    let (_, d1) = login(&data, &addr, "d1").await;
    let s1 = tokio::spawn(sender(
        data.clone(),
        addr.clone(),
        t1,
        p1.clone(),
        d1.clone(),
        1,
        Arc::default(),
    ));
    let s2 = tokio::spawn(sender(
        data.clone(),
        addr.clone(),
        t2,
        p2.clone(),
        d1.clone(),
        2,
        Arc::default(),
    ));

    // Let acks accumulate (however long that takes here), then kill mid-stream.
    let client = common::http_client(&common::tls_config(&data));
    let (td, _) = login(&data, &addr, "d1").await;
    while sync_page(&client, &addr, &td, 0).await["messages"]
        .as_array()
        .unwrap()
        .len()
        < 300
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut acked = s1.await.unwrap();
    acked.extend(s2.await.unwrap());
    assert!(
        acked.len() >= 100,
        "only {} acks before the kill",
        acked.len()
    );

    let (mut child, addr) = common::spawn_server(dir.path(), &[]);
    let (td, _) = login(&data, &addr, "d1").await;
    let stored: HashMap<String, String> = synced(&client, &addr, &td)
        .await
        .into_iter()
        .map(|(client_id, m)| (client_id, m["id"].as_str().unwrap().to_owned()))
        .collect();
    for (client_id, id) in &acked {
        assert_eq!(
            stored.get(client_id),
            Some(id),
            "acknowledged {client_id} lost or changed"
        );
    }

    // An online backup while this server is serving holds the same messages.
    let copy = dir.path().join("backup.db");
    let status = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "backup",
            "--to",
            copy.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let copy = rusqlite::Connection::open(&copy).unwrap();
    let count: i64 = copy
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, i64::try_from(stored.len()).unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
}
