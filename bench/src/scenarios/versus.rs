//! `versus`: the S3 ramp against clinic-server and then against the reference server (the seed's
//! Node + Socket.io + SQLite stack, `bench/reference/`) on the same box, with the same users,
//! rates, pinning and measurement; reports both sustained rates and their ratio.

use super::Env;
use super::ramp::{Ramp, ramp_stack};
use crate::report::{emit, round3};
use crate::stack::Stack;
use serde_json::{Value, json};

pub async fn run(env: &Env, ramp: &Ramp) -> anyhow::Result<()> {
    // Both stacks or neither (before the first one runs).
    super::ramp::receipts_for(crate::stack::Stack::Reference, ramp.reports)?;
    let mut fields = super::fields(env);
    fields.insert("users".into(), json!((ramp.users / 2).max(1) * 2));
    fields.insert("p99_limit_ms".into(), json!(ramp.p99_limit_ms));
    let mut sustained = Vec::new();
    for stack in [Stack::Clinic, Stack::Reference] {
        let outcome = ramp_stack(env, stack, ramp).await?;
        sustained.push(outcome.sustained);
        let mut record = outcome.fields();
        record.insert("durability".into(), json!(env.server.durability_of(stack)));
        fields.insert(stack.name().into(), Value::Object(record));
    }
    let ratio = match sustained[..] {
        [clinic, reference] if reference > 0.0 => Some(round3(clinic / reference)),
        _ => None,
    };
    eprintln!(
        "versus: clinic-server sustains {} msg/s, the reference stack {} msg/s: ratio {}",
        sustained[0],
        sustained[1],
        ratio.map_or("n/a (the reference sustained no step)".into(), |r| format!(
            "{r}x"
        ))
    );
    fields.insert("ratio".into(), json!(ratio));
    emit("versus", fields, env.out.as_deref())
}
