//! S5: reconnect storm. 5,000 patients are online, each with a conversation; all drop at once,
//! their doctors write to them while they are away, then all come back at once and catch up
//! with `sync {since: cursor}`. Reports the time until the last one has everything, and any
//! message lost or doubled.

use super::{CONNECT_CONCURRENCY, Clinic, Env, connect_all};
use crate::conn::{self, Conn, text};
use crate::endpoint::Endpoint;
use crate::frames::{self, Inbound};
use crate::report::{Latency, emit, round3};
use crate::stack::Stack;
use anyhow::{Context, bail};
use clinic_protocol::{ClientFrame, ClientId, NewMessage, Seq, UserId};
use clinic_server::bulk::BulkUser;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Longest a single client may take to catch up before it counts its missing messages as lost.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// Sends one message and waits for its ack; returns the ack's `seq`.
async fn send_and_ack(conn: &mut Conn, to: &NewMessage) -> anyhow::Result<i64> {
    conn.ws
        .send(text(&ClientFrame::MessageSend(to.clone())))
        .await?;
    while let Some(frame) = conn.ws.next().await {
        if let Message::Text(body) = frame? {
            match frames::parse(body.as_str()) {
                Inbound::Ack(m)
                    if Some(m.client_id.as_str()) == to.client_id.as_ref().map(|c| c.as_str()) =>
                {
                    return Ok(m.seq);
                }
                Inbound::Error { code, message } => bail!("send refused: {code} {message}"),
                _ => {}
            }
        }
    }
    bail!("closed before ack")
}

fn message(client_id: String, patient: &UserId, doctor: &UserId, content: &str) -> NewMessage {
    NewMessage {
        client_id: Some(ClientId::new(client_id)),
        patient_id: patient.clone(),
        doctor_id: doctor.clone(),
        content: content.to_owned(),
        is_emergency: false,
        file_url: None,
        file_name: None,
        held_ms: None,
    }
}

/// What one returning client saw.
#[derive(Debug, Default)]
struct Return {
    caught_up: Option<Duration>,
    lost: usize,
    doubled: usize,
    repeated_frames: usize,
    failed: bool,
}

/// Reconnects, asks for everything since `cursor`, and reads until every expected client id is
/// there (or the limit passes).
async fn come_back(
    endpoint: Endpoint,
    user: BulkUser,
    cursor: i64,
    expected: HashSet<String>,
    t0: Instant,
) -> Return {
    let mut out = Return::default();
    let mut conn = match conn::connect(&endpoint, Stack::Clinic, &user.user.id, &user.token).await {
        Ok(c) => c,
        Err(_) => {
            out.failed = true;
            out.lost = expected.len();
            return out;
        }
    };
    if conn
        .ws
        .send(text(&ClientFrame::Sync {
            since: Seq(cursor),
            limit: None,
        }))
        .await
        .is_err()
    {
        out.failed = true;
        out.lost = expected.len();
        return out;
    }
    let mut ids_by_client: HashMap<String, HashSet<String>> = HashMap::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut missing = expected.clone();
    let deadline = tokio::time::Instant::now() + CATCH_UP_LIMIT;
    while !missing.is_empty() {
        let next = tokio::time::timeout_at(deadline, conn.ws.next()).await;
        let Ok(Some(Ok(Message::Text(body)))) = next else {
            if matches!(next, Ok(Some(Ok(_)))) {
                continue;
            }
            break;
        };
        let messages = match frames::parse(body.as_str()) {
            Inbound::SyncBatch {
                messages,
                cursor,
                has_more,
            } => {
                // One page per request: ask for the next from where this one ended.
                if has_more {
                    let next = ClientFrame::Sync {
                        since: Seq(cursor),
                        limit: None,
                    };
                    if conn.ws.send(text(&next)).await.is_err() {
                        break;
                    }
                }
                messages
            }
            Inbound::Received(m) => vec![m],
            _ => continue,
        };
        for m in messages {
            if !seen_ids.insert(m.id.clone()) {
                out.repeated_frames += 1;
            }
            missing.remove(&m.client_id);
            ids_by_client.entry(m.client_id).or_default().insert(m.id);
        }
    }
    if missing.is_empty() {
        out.caught_up = Some(t0.elapsed());
    }
    out.lost = missing.len();
    out.doubled = ids_by_client
        .iter()
        .filter(|(client, ids)| expected.contains(*client) && ids.len() > 1)
        .count();
    out
}

pub async fn run(
    env: &Env,
    clients: usize,
    doctors: usize,
    per_client: usize,
) -> anyhow::Result<()> {
    let doctors = doctors.max(1);
    let clinic = Clinic::new(clients, doctors)?;
    let server = clinic.start(env)?;
    let doctor_of = |i: usize| &clinic.doctors[i % doctors];

    // Online, each with a first message (which creates the conversation and sets the cursor).
    let (patients, connect_time, failed) = connect_all(&server, &clinic.patients).await;
    anyhow::ensure!(failed == 0, "{failed} patients failed to connect");
    let cursors: Vec<i64> = futures_util::stream::iter(patients.into_iter().enumerate())
        .map(|(i, mut conn)| {
            let hello = message(
                format!("hello-{i}"),
                &conn.user,
                &doctor_of(i).user.id,
                "hello",
            );
            async move {
                let seq = send_and_ack(&mut conn, &hello).await;
                // Dropping the connection here is the "drop": no close frame, just gone.
                drop(conn);
                seq
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()
        .context("first messages")?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // While they are away, each doctor writes `per_client` messages to each of its patients.
    let (doctor_conns, _, failed) = connect_all(&server, &clinic.doctors).await;
    anyhow::ensure!(failed == 0, "{failed} doctors failed to connect");
    let mut expected: Vec<HashSet<String>> = vec![HashSet::new(); clients];
    let mut writers = Vec::new();
    for (d, mut conn) in doctor_conns.into_iter().enumerate() {
        let mut sends = Vec::new();
        for (i, patient) in clinic
            .patients
            .iter()
            .enumerate()
            .filter(|(i, _)| i % doctors == d)
        {
            for k in 0..per_client {
                let client_id = format!("away-{i}-{k}");
                expected[i].insert(client_id.clone());
                sends.push(message(
                    client_id,
                    &patient.user.id,
                    &conn.user,
                    "while you were away",
                ));
            }
        }
        writers.push(tokio::spawn(async move {
            for send in &sends {
                send_and_ack(&mut conn, send).await?;
            }
            anyhow::Ok(conn)
        }));
    }
    let mut doctor_conns = Vec::new();
    for writer in writers {
        doctor_conns.push(writer.await??);
    }

    // Everyone returns at once.
    let rss_before = server.rss_kib()?;
    let t0 = Instant::now();
    let returns: Vec<_> = clinic
        .patients
        .iter()
        .cloned()
        .zip(cursors)
        .zip(expected)
        .map(|((user, cursor), want)| {
            tokio::spawn(come_back(server.endpoint.clone(), user, cursor, want, t0))
        })
        .collect();
    let mut caught_up = Latency::new();
    let (mut lost, mut doubled, mut repeated, mut failures, mut done) = (0, 0, 0, 0, 0);
    for handle in returns {
        let r = handle.await?;
        if let Some(t) = r.caught_up {
            caught_up.record(u64::try_from(t.as_micros()).unwrap_or(u64::MAX));
            done += 1;
        }
        lost += r.lost;
        doubled += r.doubled;
        repeated += r.repeated_frames;
        failures += usize::from(r.failed);
    }
    let all_caught_up_s = round3(caught_up.max_ms() / 1000.0);
    let rss_after = server.rss_kib()?;
    drop(doctor_conns);
    let mut fields = super::fields(env);
    fields.insert("clients".into(), json!(clients));
    fields.insert("messages_while_away".into(), json!(clients * per_client));
    fields.insert(
        "initial_connect_s".into(),
        json!(round3(connect_time.as_secs_f64())),
    );
    fields.insert("caught_up_clients".into(), json!(done));
    fields.insert("all_caught_up_s".into(), json!(all_caught_up_s));
    fields.insert("per_client".into(), caught_up.summary());
    fields.insert("lost".into(), json!(lost));
    fields.insert("doubled".into(), json!(doubled));
    fields.insert("repeated_frames".into(), json!(repeated));
    fields.insert("reconnect_failures".into(), json!(failures));
    fields.insert("rss_before_kib".into(), json!(rss_before));
    fields.insert("rss_after_kib".into(), json!(rss_after));
    emit("s5", fields, env.out.as_deref())?;
    server.stop()
}
