//! `cost`: what one message costs the server at a steady rate: CPU per message (the whole
//! process, and per thread, so clinic-server's writer and checkpoint threads show on their own)
//! and bytes written per message (the process's `write_bytes`, i.e. WAL and checkpoint pages
//! sent to storage, and each thread's `wchar`). The counters are read from `/proc` before and
//! after each step, after a short pause that lets trailing checkpoints finish, and divided by
//! the messages the step persisted (acked).

use super::steady::PAIRS_PER_GROUP;
use super::{Clinic, Env, connect_pairs};
use crate::load::{Load, Reports, Step};
use crate::procstat::Sample;
use crate::report::emit;
use crate::stack::Stack;
use anyhow::Context;
use clinic_server::bulk;
use serde_json::{Value, json};
use std::time::Duration;

/// Pause after a step before the closing sample (checkpoints run after the commits they copy).
const TRAIL: Duration = Duration::from_secs(1);

/// Cost parameters.
#[derive(Debug, Clone)]
pub struct Cost {
    pub stack: Stack,
    pub users: usize,
    pub rates: Vec<f64>,
    pub step: Duration,
    /// What every socket reports back, as the desktop app does (clinic only).
    pub reports: Reports,
    /// Messages in the database before the server starts, all read (clinic only).
    pub prefill: usize,
}

pub async fn run(env: &Env, cost: &Cost) -> anyhow::Result<()> {
    let pairs = (cost.users / 2).max(1);
    super::ramp::receipts_for(cost.stack, cost.reports)?;
    let clinic = Clinic::for_stack(env, cost.stack, pairs, pairs)?;
    if cost.prefill > 0 {
        anyhow::ensure!(
            cost.stack == Stack::Clinic,
            "--prefill is for clinic-server only"
        );
        let started = std::time::Instant::now();
        for (i, (patient, doctor)) in clinic.patients.iter().zip(&clinic.doctors).enumerate() {
            let count = cost.prefill / pairs + usize::from(i < cost.prefill % pairs);
            bulk::seed_conversation(clinic.path(), &patient.user, &doctor.user, count)
                .context("prefilling history")?;
            bulk::read_conversation(clinic.path(), &patient.user, &doctor.user)
                .context("reading the prefilled history")?;
        }
        eprintln!(
            "cost: prefilled {} messages, all read, in {:.1} s",
            cost.prefill,
            started.elapsed().as_secs_f64()
        );
    }
    let server = clinic.start(env)?;
    let (conns, _) = connect_pairs(&server, &clinic).await?;
    let load = Load::start_with(conns, PAIRS_PER_GROUP, cost.reports);
    tokio::time::sleep(super::ramp::SETTLE).await;
    let mut steps = Vec::new();
    for (i, &rate) in cost.rates.iter().enumerate() {
        let before = Sample::take(server.pid)?;
        let result = load.step(Step::ramp(i, rate, cost.step)).await;
        tokio::time::sleep(TRAIL).await;
        let spent = Sample::take(server.pid)?.since(&before);
        let per_message = spent.per_message(result.acked);
        let writer = spent.thread("clinic-writer");
        eprintln!(
            "cost {} at {rate}/s: {} persisted, {} B written and {} us CPU per message{}",
            cost.stack.name(),
            result.acked,
            per_message["write_bytes"],
            per_message["cpu_us"],
            if writer.cpu_ns > 0 {
                format!(
                    " (writer thread {:.1} us)",
                    writer.cpu_ns as f64 / 1000.0 / result.acked.max(1) as f64
                )
            } else {
                String::new()
            }
        );
        steps.push(json!({
            "offered": rate,
            "per_message": per_message,
            "delivered_per_s": crate::report::round3(result.delivered_per_sec()),
            "acked": result.acked,
            "errors": result.errors,
            "e2e": result.e2e.summary(),
            "receipts": result.receipts,
            "delivered_confirmed": result.delivered_confirmed,
            "reads": result.reads,
            "read_confirmed": result.read_confirmed,
            "edits": result.edits,
            "updated": result.updated,
        }));
    }
    load.stop().await;
    let mut fields = super::fields(env);
    fields.insert("stack".into(), json!(cost.stack.name()));
    fields.insert(
        "durability".into(),
        json!(env.server.durability_of(cost.stack)),
    );
    fields.insert("users".into(), json!(pairs * 2));
    fields.insert("step_s".into(), json!(cost.step.as_secs_f64()));
    if cost.prefill > 0 {
        fields.insert("prefill".into(), json!(cost.prefill));
    }
    super::ramp::report_fields(&mut fields, cost.reports);
    fields.insert("steps".into(), Value::Array(steps));
    emit("cost", fields, env.out.as_deref())?;
    server.stop()
}
