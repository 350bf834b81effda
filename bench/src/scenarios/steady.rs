//! S2: a steady clinic day. 1,000 users in 500 (patient, doctor) pairs chat at a modest total
//! rate; report end-to-end (recipient's `message:received`) and ack latency percentiles.

use super::{Clinic, Env, connect_pairs};
use crate::load::{Load, Step};
use crate::report::emit;
use serde_json::json;
use std::time::Duration;

/// Pairs per generator task.
pub const PAIRS_PER_GROUP: usize = 50;

pub async fn run(env: &Env, users: usize, rate: f64, duration: Duration) -> anyhow::Result<()> {
    let pairs = (users / 2).max(1);
    let clinic = Clinic::new(pairs, pairs)?;
    let server = clinic.start(env)?;
    let (conns, connect_time) = connect_pairs(&server, &clinic).await?;
    let load = Load::start(conns, PAIRS_PER_GROUP);
    let result = load
        .step(Step {
            step: 1,
            rate,
            duration,
            warmup: Duration::from_secs(2),
            content_bytes: 100,
        })
        .await;
    let rss = server.rss_kib()?;
    load.stop().await;
    let mut fields = super::fields(env);
    fields.insert("users".into(), json!(pairs * 2));
    fields.insert("rate".into(), json!(rate));
    fields.insert("duration_s".into(), json!(duration.as_secs_f64()));
    fields.insert("connect_s".into(), json!(connect_time.as_secs_f64()));
    fields.insert("rss_kib".into(), json!(rss));
    fields.insert("result".into(), result.json());
    emit("s2", fields, env.out.as_deref())?;
    server.stop()
}
