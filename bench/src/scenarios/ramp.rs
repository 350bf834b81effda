//! S3: ramp the offered load step by step; the highest step whose p99 stays within the limit
//! while every message is delivered is the sustained maximum. The ramp stops once the server
//! stops keeping up, or after two steps in a row over the limit (one step over can be a stall
//! caused by other work on a shared machine). Run once with `synchronous=FULL` (group commit)
//! and once with NORMAL. The same ramp drives the reference server in `versus`.

use super::steady::PAIRS_PER_GROUP;
use super::{Clinic, Env, connect_pairs};
use crate::load::{Load, Reports, Step};
use crate::report::emit;
use crate::stack::Stack;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Ramp parameters.
#[derive(Debug, Clone)]
pub struct Ramp {
    pub users: usize,
    pub rates: Vec<f64>,
    pub step: Duration,
    pub p99_limit_ms: f64,
    /// What every socket reports back, as the desktop app does (clinic only).
    pub reports: Reports,
}

/// Refuses receipts for a stack that has none (the seed's).
pub fn receipts_for(stack: Stack, reports: Reports) -> anyhow::Result<()> {
    if reports.any() && stack != Stack::Clinic {
        anyhow::bail!(
            "--receipts, --reads and --edits need clinic-server: the seed's stack has no receipts \
             or edits to send"
        );
    }
    Ok(())
}

/// The result fields that say what the sockets reported.
pub fn report_fields(fields: &mut Map<String, Value>, reports: Reports) {
    fields.insert("receipts".into(), json!(reports.delivered));
    fields.insert("reads".into(), json!(reports.read));
    if reports.edit_every > 0 {
        fields.insert("edit_every".into(), json!(reports.edit_every));
    }
}

/// Pause between connecting everyone and the first step, so that what the connects caused
/// (the reference server tells every socket about every user coming online: ~500,000 frames
/// for 1,000 users) is read and gone before anything is measured.
pub const SETTLE: Duration = Duration::from_secs(5);

/// What one ramp measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Highest offered rate within the limit with everything delivered (0 if none).
    pub sustained: f64,
    pub max_delivered: f64,
    pub peak_rss_kib: u64,
    pub steps: Vec<Value>,
}

impl Outcome {
    /// The result fields of this ramp.
    pub fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("sustained_msgs_per_s".into(), json!(self.sustained));
        fields.insert(
            "max_delivered_per_s".into(),
            json!(crate::report::round3(self.max_delivered)),
        );
        fields.insert("peak_rss_kib".into(), json!(self.peak_rss_kib));
        fields.insert("steps".into(), Value::Array(self.steps.clone()));
        fields
    }
}

pub async fn run(env: &Env, ramp: &Ramp) -> anyhow::Result<()> {
    let outcome = ramp_stack(env, Stack::Clinic, ramp).await?;
    let mut fields = super::fields(env);
    fields.insert("users".into(), json!((ramp.users / 2).max(1) * 2));
    fields.insert("p99_limit_ms".into(), json!(ramp.p99_limit_ms));
    report_fields(&mut fields, ramp.reports);
    fields.extend(outcome.fields());
    emit("s3", fields, env.out.as_deref())
}

/// Ramps one stack: fresh accounts and server, every user connected, then the steps.
pub async fn ramp_stack(env: &Env, stack: Stack, ramp: &Ramp) -> anyhow::Result<Outcome> {
    let pairs = (ramp.users / 2).max(1);
    receipts_for(stack, ramp.reports)?;
    let clinic = Clinic::for_stack(env, stack, pairs, pairs)?;
    let server = clinic.start(env)?;
    let (conns, _) = connect_pairs(&server, &clinic).await?;
    let load = Load::start_with(conns, PAIRS_PER_GROUP, ramp.reports);
    tokio::time::sleep(SETTLE).await;
    let mut outcome = Outcome {
        sustained: 0.0,
        max_delivered: 0.0,
        peak_rss_kib: server.rss_kib()?,
        steps: Vec::new(),
    };
    let mut over_in_a_row = 0;
    let label = env.server.durability_of(stack);
    for (i, &rate) in ramp.rates.iter().enumerate() {
        let result = load.step(Step::ramp(i, rate, ramp.step)).await;
        outcome.peak_rss_kib = outcome.peak_rss_kib.max(server.rss_kib()?);
        let p99 = result.e2e.ms(0.99);
        // Keeping up: nearly all offered messages delivered inside the window, none lost.
        let kept_up = result.delivered_per_sec() >= rate * 0.95 && result.received >= result.sent;
        let within = p99 <= ramp.p99_limit_ms && kept_up;
        eprintln!(
            "{} {label}: offered {rate}/s delivered {:.0}/s p50 {} p99 {} p99.9 {} ms (lag p99 {} ms){}",
            stack.name(),
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
        outcome.steps.push(step);
        outcome.max_delivered = outcome.max_delivered.max(result.delivered_per_sec());
        if within {
            outcome.sustained = rate;
            over_in_a_row = 0;
        } else {
            over_in_a_row += 1;
        }
        if !kept_up || over_in_a_row >= 2 {
            break;
        }
    }
    load.stop().await;
    server.stop()?;
    Ok(outcome)
}
