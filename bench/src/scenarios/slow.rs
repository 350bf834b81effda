//! S7: slow consumers. Doctors that never read their sockets are flooded with messages while
//! 1,000 other users chat at a steady rate. The server must keep its memory bounded (it closes
//! a socket whose queue fills) and the others' latency must not change.

use super::steady::PAIRS_PER_GROUP;
use super::{Clinic, Env, connect_all};
use crate::clock::{instant_of, now_us};
use crate::conn::{Conn, text};
use crate::load::{Load, Step};
use crate::report::emit;
use clinic_protocol::{ClientFrame, ClientId, NewMessage};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Per-flooder send rate: modest, so that only the slow reader (not the extra load) is tested;
/// near-maximum contents fill its queue and socket buffers within seconds.
const FLOOD_RATE: f64 = 50.0;
const FLOOD_BYTES: usize = 16_000;

/// Sends to `to` at `FLOOD_RATE` until `stop`, draining its own acks.
async fn flood(
    conn: Conn,
    to: clinic_protocol::UserId,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let (mut sink, mut stream) = conn.ws.split();
    let drain = tokio::spawn(async move { while stream.next().await.is_some() {} });
    let interval = (1e6 / FLOOD_RATE) as u64;
    let mut due = now_us();
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep_until(instant_of(due)).await;
        due += interval;
        k += 1;
        let frame = ClientFrame::MessageSend(NewMessage {
            client_id: Some(ClientId::new(format!("flood-{k}"))),
            patient_id: conn.user.clone(),
            doctor_id: to.clone(),
            content: "y".repeat(FLOOD_BYTES),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        });
        if sink.send(text(&frame)).await.is_err() {
            break;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
    drain.abort();
}

/// Reads a slow socket at last: true if the server had closed it (close frame or end).
async fn was_closed(mut conn: Conn) -> bool {
    let read_all = async {
        while let Some(frame) = conn.ws.next().await {
            match frame {
                Ok(Message::Close(_)) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .unwrap_or(false)
}

pub async fn run(
    env: &Env,
    users: usize,
    slow: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<()> {
    let pairs = (users / 2).max(1);
    let clinic = Clinic::new(pairs + slow, pairs + slow)?;
    let server = clinic.start(env)?;
    let (patients, _, f1) = connect_all(&server, &clinic.patients[..pairs]).await;
    let (doctors, _, f2) = connect_all(&server, &clinic.doctors[..pairs]).await;
    anyhow::ensure!(f1 + f2 == 0, "connect failures");
    let load = Load::start(patients.into_iter().zip(doctors).collect(), PAIRS_PER_GROUP);
    let step = |n| Step {
        step: n,
        rate,
        duration,
        warmup: Duration::from_secs(2),
        content_bytes: 100,
    };
    let baseline = load.step(step(1)).await;
    let rss_baseline = server.rss_kib()?;

    // The slow doctors authenticate, then never read again.
    let (slow_doctors, _, f3) = connect_all(&server, &clinic.doctors[pairs..]).await;
    let (flooders, _, f4) = connect_all(&server, &clinic.patients[pairs..]).await;
    anyhow::ensure!(f3 + f4 == 0, "connect failures");
    let stop = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicU64::new(0));
    let mut floods = Vec::new();
    for (conn, target) in flooders.into_iter().zip(&clinic.doctors[pairs..]) {
        floods.push(tokio::spawn(flood(
            conn,
            target.user.id.clone(),
            stop.clone(),
            flooded.clone(),
        )));
    }
    let pid = server.pid;
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak = 0u64;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(crate::server::rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };
    let loaded = load.step(step(2)).await;
    stop.store(true, Ordering::Relaxed);
    for f in floods {
        let _ = f.await;
    }
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = sampler.await?;
    let mut closed = 0;
    for conn in slow_doctors {
        closed += usize::from(was_closed(conn).await);
    }
    let rss_after = server.rss_kib()?;
    load.stop().await;

    let mut fields = super::fields(env);
    fields.insert("users".into(), json!(pairs * 2));
    fields.insert("rate".into(), json!(rate));
    fields.insert("slow_consumers".into(), json!(slow));
    fields.insert("flood_msgs".into(), json!(flooded.load(Ordering::Relaxed)));
    fields.insert(
        "flood_mib".into(),
        json!(flooded.load(Ordering::Relaxed) * FLOOD_BYTES as u64 / (1024 * 1024)),
    );
    fields.insert("slow_closed_by_server".into(), json!(closed));
    fields.insert("rss_baseline_kib".into(), json!(rss_baseline));
    fields.insert("rss_peak_kib".into(), json!(rss_peak));
    fields.insert("rss_after_kib".into(), json!(rss_after));
    fields.insert("baseline".into(), baseline.json());
    fields.insert("with_slow".into(), loaded.json());
    emit("s7", fields, env.out.as_deref())?;
    server.stop()
}
