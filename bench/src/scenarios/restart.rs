//! `restart`: how long clinic-server takes to serve again after SIGKILL with a large database.
//! Seeds `messages` messages over `pairs` conversations (through the server's own send path,
//! with `clinic_server::bulk`), then `runs` times: connects every user, sends at `load_rate`,
//! kills the server with SIGKILL in the middle of it (so the log holds commits that no
//! checkpoint copied yet, as after a crash), and starts it again, timing from the start of the
//! process to its "listening on" line, to the first `200` from `GET /healthz`, and to the first
//! successful `POST /api/auth/login` (which also checks the password with argon2; its own time
//! is reported as `login_request_ms`), then to the first message stored and acknowledged by
//! `POST /api/chat/messages` (`send_ms`), and to the end of the damage check (`checked_ms`:
//! run while serving for a large database; the next cycle's kill comes after it, because a kill
//! before it makes the next start check first). The page cache stays warm: this is a process
//! crash, not a reboot.

use super::steady::PAIRS_PER_GROUP;
use super::{Clinic, Env, PASSWORD, connect_pairs};
use crate::load::{Load, Step};
use crate::report::{emit, round3};
use anyhow::{Context, bail};
use clinic_server::bulk;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Restart parameters.
#[derive(Debug, Clone)]
pub struct Restart {
    pub messages: usize,
    pub pairs: usize,
    pub runs: usize,
    pub load_rate: f64,
    pub kill_after: Duration,
}

/// Longest wait for the restarted server to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(1);

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

/// Total size of the files in `dir` whose names end with `suffix`, in MiB.
fn mib_of(dir: &Path, suffix: &str) -> f64 {
    let bytes: u64 = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    round3(bytes as f64 / (1024.0 * 1024.0))
}

/// Polls until `probe` answers `true`; returns when, counted from `started`.
async fn wait_for<F, Fut>(started: Instant, what: &str, mut probe: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while started.elapsed() < READY_TIMEOUT {
        if probe().await {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(POLL).await;
    }
    bail!("{what} did not succeed within {READY_TIMEOUT:?}")
}

pub async fn run(env: &Env, r: &Restart) -> anyhow::Result<()> {
    let pairs = r.pairs.max(1);
    let clinic = Clinic::new(pairs, pairs)?;
    let seeding = Instant::now();
    for (i, (patient, doctor)) in clinic.patients.iter().zip(&clinic.doctors).enumerate() {
        let count = r.messages / pairs + usize::from(i < r.messages % pairs);
        bulk::seed_conversation(clinic.path(), &patient.user, &doctor.user, count)
            .context("seeding history")?;
    }
    let seed_s = seeding.elapsed().as_secs_f64();
    eprintln!("restart: seeded {} messages in {seed_s:.1} s", r.messages);
    let patient = &clinic.patients[0];
    let mut server = clinic.start(env)?;
    // The same clinic CA across restarts (it lives in the data folder).
    let http = server.endpoint.http_client()?;
    let mut runs = Vec::new();
    for run in 0..r.runs {
        let (conns, _) = connect_pairs(&server, &clinic).await?;
        let load = Load::start(conns, PAIRS_PER_GROUP);
        let step = Step {
            step: u32::try_from(run + 1).unwrap_or(u32::MAX),
            rate: r.load_rate,
            duration: r.kill_after + Duration::from_secs(1),
            warmup: Duration::ZERO,
            content_bytes: 100,
        };
        let victim = server;
        let (result, killed) = tokio::join!(load.step(step), async move {
            tokio::time::sleep(r.kill_after).await;
            victim.kill()
        });
        killed?;
        load.stop().await;
        let (db_mib, wal_mib) = (
            mib_of(clinic.path(), ".db"),
            mib_of(clinic.path(), ".db-wal"),
        );

        let started = Instant::now();
        server = clinic.start(env)?;
        let listening = started.elapsed();
        let base = server.endpoint.base_url();
        let healthz = wait_for(started, "GET /healthz", || async {
            matches!(http.get(format!("{base}/healthz")).send().await,
                     Ok(resp) if resp.status().is_success())
        })
        .await?;
        let login_request = async || {
            let sent = Instant::now();
            let ok = matches!(http
                .post(format!("{base}/api/auth/login"))
                .json(&json!({"username": patient.user.username, "password": PASSWORD}))
                .send()
                .await, Ok(resp) if resp.status().is_success());
            ok.then(|| sent.elapsed())
        };
        let (login, login_request) = loop {
            if let Some(took) = login_request().await {
                break (started.elapsed(), took);
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("POST /api/auth/login did not succeed within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(POLL).await;
        };
        // Serving means taking messages: one sent over REST, stored before the answer.
        let status = http
            .post(format!("{base}/api/chat/messages"))
            .bearer_auth(&patient.token)
            .json(
                &json!({"patientId": patient.user.id, "doctorId": clinic.doctors[0].user.id,
                          "content": format!("after restart {}", run + 1)}),
            )
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "a send after restart: {status}");
        let send = started.elapsed();
        // The history is there: the newest page of the first conversation is full.
        let page: Vec<Value> = http
            .get(format!("{base}/api/chat/messages"))
            .query(&[
                ("patientId", patient.user.id.to_string()),
                ("doctorId", clinic.doctors[0].user.id.to_string()),
                ("limit", "50".into()),
            ])
            .bearer_auth(&patient.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::ensure!(
            page.len() == 50,
            "history after restart: {} messages",
            page.len()
        );
        // A large database is checked for damage while the server serves; a kill before the
        // verdict makes the next start check first. The cycles time crashes after it.
        let unchecked = clinic.path().join("clinic.unchecked");
        let checked = wait_for(started, "the check while serving", || {
            let done = !unchecked.exists();
            async move { done }
        })
        .await?;
        eprintln!(
            "restart {}: listening {:.1} ms, /healthz {:.1} ms, login {:.1} ms, a send stored {:.1} ms, checked {:.1} ms (db {db_mib} MiB, wal {wal_mib} MiB)",
            run + 1,
            ms(listening),
            ms(healthz),
            ms(login),
            ms(send),
            ms(checked)
        );
        runs.push(json!({
            "sent_before_kill": result.sent,
            "acked_before_kill": result.acked,
            "db_mib": db_mib,
            "wal_mib": wal_mib,
            "listening_ms": ms(listening),
            "healthz_ms": ms(healthz),
            "login_ms": ms(login),
            "login_request_ms": ms(login_request),
            "send_ms": ms(send),
            "checked_ms": ms(checked),
        }));
    }
    let median = |key: &str| {
        let mut values: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    };
    let mut fields = super::fields(env);
    fields.insert("messages".into(), json!(r.messages));
    fields.insert("conversations".into(), json!(pairs));
    fields.insert("seed_s".into(), json!(round3(seed_s)));
    fields.insert("load_rate".into(), json!(r.load_rate));
    fields.insert("kill_after_s".into(), json!(r.kill_after.as_secs_f64()));
    fields.insert("healthz_ms".into(), json!(median("healthz_ms")));
    fields.insert("login_ms".into(), json!(median("login_ms")));
    fields.insert("send_ms".into(), json!(median("send_ms")));
    fields.insert("runs".into(), Value::Array(runs));
    emit("restart", fields, env.out.as_deref())?;
    server.stop()
}
