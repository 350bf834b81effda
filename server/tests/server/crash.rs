//! Durability: the real binary is killed with SIGKILL while clients send, while it moves sends
//! from its log into the message table, and while it replays that log on start; after a restart
//! every message the server acknowledged is there, exactly once.
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
    let url = format!("https://{addr}/api/sync?since={since}&limit=500");
    client
        .get(url)
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
    let mut stored: HashMap<String, String> = HashMap::new();
    let mut since = 0i64;
    loop {
        let page = sync_page(&client, &addr, &td, since).await;
        for m in page["messages"].as_array().unwrap() {
            let previous = stored.insert(
                m["clientId"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            );
            assert!(previous.is_none(), "a clientId stored twice");
        }
        since = page["cursor"].as_i64().unwrap();
        if page["hasMore"] == false {
            break;
        }
    }
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

/// Rows in `send_log` and in `messages` of the database in `dir`, read from a connection of
/// its own (which also recovers the write-ahead log a killed server left).
fn logged_and_moved(dir: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(dir.join("clinic.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    (count("send_log"), count("messages"))
}

/// A server killed while it moves a long send log into the message table (on start, before it
/// serves) keeps what it moved and moves the rest on the next start: every logged send ends up
/// in history exactly once, and the conversation's unread counter counts each once.
#[tokio::test]
async fn a_kill_while_the_send_log_is_replayed_loses_nothing() {
    // Long enough that the start-up replay takes many slices of 4,096 rows.
    const LOGGED: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    common::accounts(&data, &[("p1", Role::Patient), ("d1", Role::Doctor)]);
    let (mut child, addr) = common::spawn_server(&data, &[]);
    let patient = common::login_at(&data, &addr, "p1").await;
    let doctor = common::login_at(&data, &addr, "d1").await;
    let mut ws = common::ws_at(&data, &addr).await;
    ws.send(json!({"type": "authenticate", "token": patient.token}))
        .await;
    ws.expect("authenticated").await;
    ws.send(common::send_frame("first", &patient, &doctor, "hello"))
        .await;
    ws.expect("message:ack").await;
    child.kill().unwrap();
    child.wait().unwrap();

    // What a server that logged these sends and was killed before moving them leaves behind:
    // log rows after the last change, and the change counter past them, in one commit.
    {
        let mut conn = rusqlite::Connection::open(data.join("clinic.db")).unwrap();
        let tx = conn.transaction().unwrap();
        let last: i64 = tx
            .query_row(
                "SELECT value FROM counters WHERE name = 'change_seq'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, \
                     recipient_id, content, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?5, ?6, ?7)",
                )
                .unwrap();
            let at = chrono::Utc::now().timestamp_millis();
            for i in 1..=LOGGED {
                insert
                    .execute(rusqlite::params![
                        last + i,
                        format!("m-logged-{i}"),
                        format!("logged-{i}"),
                        patient.id(),
                        doctor.id(),
                        format!("logged message number {i}"),
                        at,
                    ])
                    .unwrap();
            }
        }
        tx.execute(
            "UPDATE counters SET value = ?1 WHERE name = 'change_seq'",
            [last + LOGGED],
        )
        .unwrap();
        tx.commit().unwrap();
    }

    // Start, and kill once some slices have moved and at least two are still to go.
    let mut starting = common::Spawned(
        common::serve_command(&data, &[])
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (logged, moved) = logged_and_moved(&data);
        if moved > 1 && logged > 2 * 4096 {
            break;
        }
        assert!(
            logged > 0 && std::time::Instant::now() < deadline,
            "the replay ended (or never began) before the test saw it half done"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    starting.kill().unwrap();
    starting.wait().unwrap();
    let (logged, moved) = logged_and_moved(&data);
    assert!(logged > 0 && moved > 1, "the kill did not land mid-replay");
    assert_eq!(
        logged + moved,
        LOGGED + 1,
        "a row is in the log and in the message table, or in neither"
    );

    // The next start moves the rest; history holds every send exactly once.
    let (_child, addr) = common::spawn_server(&data, &[]);
    let doctor = common::login_at(&data, &addr, "d1").await;
    let client = common::http_client(&common::tls_config(&data));
    let mut seen = std::collections::HashSet::new();
    let mut since = 0i64;
    loop {
        let page = sync_page(&client, &addr, &doctor.token, since).await;
        for m in page["messages"].as_array().unwrap() {
            let client_id = m["clientId"].as_str().unwrap().to_owned();
            assert!(seen.insert(client_id), "a send stored twice");
        }
        since = page["cursor"].as_i64().unwrap();
        if page["hasMore"] == false {
            break;
        }
    }
    assert_eq!(seen.len(), usize::try_from(LOGGED).unwrap() + 1);
    assert!(seen.contains("first") && seen.contains(&format!("logged-{LOGGED}")));
    assert_eq!(logged_and_moved(&data), (0, LOGGED + 1));
    let conversations: Value = client
        .get(format!("https://{addr}/api/chat/conversations"))
        .bearer_auth(&doctor.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unread = &conversations.as_array().unwrap()[0]["unreadCount"];
    assert_eq!(unread, &json!(LOGGED + 1), "{conversations}");
}

/// Kills while sends stream in, until one lands with sends logged and not yet moved into the
/// message table (the writer moves them a slice at a time between group commits): each restart
/// moves what the kill left, and every acknowledged send of every round is there exactly once.
#[tokio::test]
async fn kills_with_sends_waiting_in_the_log_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    common::accounts(&data, &[("p1", Role::Patient), ("d1", Role::Doctor)]);
    let mut acked = HashMap::new();
    let mut left_in_log = Vec::new();
    for round in 0..4 {
        let (mut child, addr) = common::spawn_server(&data, &[]);
        let (token, patient) = login(&data, &addr, "p1").await;
        let (_, doctor) = login(&data, &addr, "d1").await;
        let count = Arc::new(AtomicUsize::new(0));
        let sending = tokio::spawn(sender(
            data.clone(),
            addr.clone(),
            token,
            patient,
            doctor,
            round,
            count.clone(),
        ));
        while count.load(Ordering::Relaxed) < 200 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        acked.extend(sending.await.unwrap());
        let (logged, _) = logged_and_moved(&data);
        left_in_log.push(logged);
        if logged > 0 {
            break;
        }
    }
    assert!(
        left_in_log.iter().any(|&n| n > 0),
        "no kill left sends in the log: {left_in_log:?}"
    );

    let (_child, addr) = common::spawn_server(&data, &[]);
    let (token, _) = login(&data, &addr, "d1").await;
    let client = common::http_client(&common::tls_config(&data));
    let mut stored: HashMap<String, String> = HashMap::new();
    let mut since = 0i64;
    loop {
        let page = sync_page(&client, &addr, &token, since).await;
        for m in page["messages"].as_array().unwrap() {
            let previous = stored.insert(
                m["clientId"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            );
            assert!(previous.is_none(), "a clientId stored twice");
        }
        since = page["cursor"].as_i64().unwrap();
        if page["hasMore"] == false {
            break;
        }
    }
    for (client_id, id) in &acked {
        assert_eq!(
            stored.get(client_id),
            Some(id),
            "acknowledged {client_id} lost or changed (rows left in the log by each kill: \
             {left_in_log:?})"
        );
    }
    assert_eq!(logged_and_moved(&data).0, 0, "the log is moved on start");
}
