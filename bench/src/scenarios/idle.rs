//! S1: idle connections. Connect 1k, then 5k, then 10k authenticated sockets that do nothing
//! but answer pings; report connects/s and the server's RSS growth per connection.

use super::{Clinic, Env, connect_all};
use crate::conn::Conn;
use crate::report::{emit, round3};
use futures_util::StreamExt;
use futures_util::stream::SelectAll;
use serde_json::json;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Sockets one keeper task reads.
const PER_KEEPER: usize = 500;

/// Holds sockets open, reading (which answers the server's pings) until told to stop.
fn keep(conns: Vec<Conn>) -> (oneshot::Sender<()>, JoinHandle<usize>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut streams = SelectAll::new();
        for conn in conns {
            streams.push(conn.ws);
        }
        let mut frames = 0;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                item = streams.next(), if !streams.is_empty() => {
                    if item.is_some() {
                        frames += 1;
                    }
                }
            }
        }
        frames
    });
    (stop, task)
}

pub async fn run(env: &Env, levels: &[usize], hold: Duration) -> anyhow::Result<()> {
    let most = levels.iter().copied().max().unwrap_or(0);
    // Patients without conversations: no presence traffic, so the sockets are truly idle.
    let clinic = Clinic::new(most, 0)?;
    let server = clinic.start(env)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = server.rss_kib()?;
    let mut keepers = Vec::new();
    let mut connected = 0usize;
    let mut ok = 0usize;
    for &level in levels {
        let level = level.max(connected);
        let (conns, elapsed, failed) =
            connect_all(&server, &clinic.patients[connected..level]).await;
        let made = conns.len();
        ok += made;
        connected = level;
        for chunk in chunks(conns, PER_KEEPER) {
            keepers.push(keep(chunk));
        }
        tokio::time::sleep(hold).await;
        let rss = server.rss_kib()?;
        let mut fields = super::fields(env);
        fields.insert("connections".into(), json!(ok));
        fields.insert("failed".into(), json!(failed));
        fields.insert(
            "connects_per_s".into(),
            json!(round3(made as f64 / elapsed.as_secs_f64().max(1e-9))),
        );
        fields.insert("rss_base_kib".into(), json!(base));
        fields.insert("rss_kib".into(), json!(rss));
        fields.insert(
            "kib_per_conn".into(),
            json!(round3(rss.saturating_sub(base) as f64 / ok.max(1) as f64)),
        );
        emit("s1", fields, env.out.as_deref())?;
    }
    for (stop, task) in keepers {
        let _ = stop.send(());
        let _ = task.await;
    }
    server.stop()
}

/// Splits a vector into owned chunks of at most `size`.
pub fn chunks<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(size.max(1)).collect());
    }
    out
}
