//! S3: ramp the offered load step by step; the highest step whose p99 stays within the limit
//! while every message is delivered is the sustained maximum. The ramp stops once the server
//! stops keeping up, or after two steps in a row over the limit (one step over can be a stall
//! caused by other work on a shared machine). Run once with `synchronous=FULL` (group commit)
//! and once with NORMAL.

use super::steady::PAIRS_PER_GROUP;
use super::{Clinic, Env, connect_pairs};
use crate::load::{Load, Step};
use crate::report::emit;
use serde_json::{Value, json};
use std::time::Duration;

/// Ramp parameters.
#[derive(Debug, Clone)]
pub struct Ramp {
    pub users: usize,
    pub rates: Vec<f64>,
    pub step: Duration,
    pub p99_limit_ms: f64,
}

pub async fn run(env: &Env, ramp: &Ramp) -> anyhow::Result<()> {
    let pairs = (ramp.users / 2).max(1);
    let clinic = Clinic::new(pairs, pairs)?;
    let server = clinic.start(env)?;
    let (conns, _) = connect_pairs(&server, &clinic).await?;
    let load = Load::start(conns, PAIRS_PER_GROUP);
    let mut steps: Vec<Value> = Vec::new();
    let mut sustained = 0.0f64;
    let mut max_delivered = 0.0f64;
    let mut over_in_a_row = 0;
    let mut peak_rss = server.rss_kib()?;
    for (i, &rate) in ramp.rates.iter().enumerate() {
        let result = load
            .step(Step {
                step: u32::try_from(i + 1).unwrap_or(u32::MAX),
                rate,
                duration: ramp.step,
                warmup: Duration::from_secs(1),
                content_bytes: 100,
            })
            .await;
        peak_rss = peak_rss.max(server.rss_kib()?);
        let p99 = result.e2e.ms(0.99);
        // Keeping up: nearly all offered messages delivered inside the window, none lost.
        let kept_up = result.delivered_per_sec() >= rate * 0.95 && result.received >= result.sent;
        let within = p99 <= ramp.p99_limit_ms && kept_up;
        eprintln!(
            "s3 {}: offered {rate}/s delivered {:.0}/s p50 {} p99 {} p99.9 {} ms (lag p99 {} ms){}",
            env.server.durability.as_str(),
            result.delivered_per_sec(),
            result.e2e.ms(0.5),
            p99,
            result.e2e.ms(0.999),
            result.send_lag.ms(0.99),
            if within { "" } else { "  <- over the limit" }
        );
        let mut step = result.json();
        if let Value::Object(map) = &mut step {
            map.insert("offered".into(), json!(rate));
            map.insert("within_limit".into(), json!(within));
        }
        steps.push(step);
        max_delivered = max_delivered.max(result.delivered_per_sec());
        if within {
            sustained = rate;
            over_in_a_row = 0;
        } else {
            over_in_a_row += 1;
        }
        if !kept_up || over_in_a_row >= 2 {
            break;
        }
    }
    load.stop().await;
    let mut fields = super::fields(env);
    fields.insert("users".into(), json!(pairs * 2));
    fields.insert("p99_limit_ms".into(), json!(ramp.p99_limit_ms));
    fields.insert("sustained_msgs_per_s".into(), json!(sustained));
    fields.insert(
        "max_delivered_per_s".into(),
        json!(crate::report::round3(max_delivered)),
    );
    fields.insert("peak_rss_kib".into(), json!(peak_rss));
    fields.insert("steps".into(), Value::Array(steps));
    emit("s3", fields, env.out.as_deref())?;
    server.stop()
}
