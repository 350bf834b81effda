//! `cpu-path`: the CPU steps of a send outside the database (frame parse, outgoing frames, the
//! audit row's digest, the participant's account, a statement-cache lookup), each timed in this
//! process the way it was done before (issue 15's CPU-path work; the digest before 2026-12-05)
//! and the way it is done now (`clinic_server::cpu_path`).
//! No server runs; the generator's core does the work.

use super::Env;
use crate::report::{emit, round3};
use serde_json::{Map, json};

pub fn run(env: &Env, rounds: u32, iterations: u32) -> anyhow::Result<()> {
    let steps = clinic_server::cpu_path::measure(rounds, iterations)?;
    let mut fields = Map::new();
    let (mut before, mut after) = (0.0, 0.0);
    let list: Vec<_> = steps
        .iter()
        .map(|s| {
            before += s.before_ns;
            after += s.after_ns;
            json!({
                "step": s.name,
                "before_ns": round3(s.before_ns),
                "after_ns": round3(s.after_ns),
            })
        })
        .collect();
    fields.insert("rounds".into(), json!(rounds));
    fields.insert("iterations".into(), json!(iterations));
    fields.insert("steps".into(), json!(list));
    fields.insert("before_ns".into(), json!(round3(before)));
    fields.insert("after_ns".into(), json!(round3(after)));
    emit("cpu-path", fields, env.out.as_deref())
}
