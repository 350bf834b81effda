//! The benchmark scenarios and what they share: a fresh data folder with bulk accounts, the
//! server process, and connecting many clients at once.

pub mod cost;
pub mod cpu_path;
pub mod fanout;
pub mod history;
pub mod idle;
pub mod ramp;
pub mod restart;
pub mod search;
pub mod slow;
pub mod steady;
pub mod storm;
pub mod versus;

use crate::conn::{self, Conn};
use crate::server::{self, Server, ServerSpec};
use crate::stack::Stack;
use anyhow::{Context, bail};
use clinic_protocol::{Role, User};
use clinic_server::bulk::{self, BulkUser};
use futures_util::StreamExt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Password of every bench account (hashed once by `bulk::create_users`).
pub const PASSWORD: &str = "bench-password";
/// Sockets connecting at the same time (below the server's accept backlog of 1024).
pub const CONNECT_CONCURRENCY: usize = 256;

/// Where and how a scenario runs.
#[derive(Debug, Clone)]
pub struct Env {
    pub server: ServerSpec,
    /// Results file the JSON lines are appended to.
    pub out: Option<PathBuf>,
}

/// A fresh data folder with `patients` and `doctors` bench accounts (`p0..`, `d0..`) for one
/// stack.
#[derive(Debug)]
pub struct Clinic {
    pub dir: tempfile::TempDir,
    pub stack: Stack,
    pub patients: Vec<BulkUser>,
    pub doctors: Vec<BulkUser>,
}

impl Clinic {
    /// Accounts for clinic-server.
    pub fn new(patients: usize, doctors: usize) -> anyhow::Result<Self> {
        let dir = temp_dir()?;
        let ttl = 24 * 3600;
        let p = bulk::create_users(dir.path(), "p", Role::Patient, patients, PASSWORD, ttl)?;
        let d = bulk::create_users(dir.path(), "d", Role::Doctor, doctors, PASSWORD, ttl)?;
        Ok(Self {
            dir,
            stack: Stack::Clinic,
            patients: p,
            doctors: d,
        })
    }

    /// The same accounts for `stack`: for the reference server, written by its own
    /// `seed.js` into its own database.
    pub fn for_stack(
        env: &Env,
        stack: Stack,
        patients: usize,
        doctors: usize,
    ) -> anyhow::Result<Self> {
        match stack {
            Stack::Clinic => Self::new(patients, doctors),
            Stack::Reference => {
                let dir = temp_dir()?;
                let mut made = seed_reference(&env.server, dir.path(), patients, doctors)?;
                let doctors = made.split_off(patients);
                Ok(Self {
                    dir,
                    stack,
                    patients: made,
                    doctors,
                })
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn start(&self, env: &Env) -> anyhow::Result<Server> {
        Server::start(&env.server, self.stack, self.path())
    }
}

fn temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("clinic-bench-")
        .tempdir()
        .context("creating a temp data folder")
}

/// Runs `node bench/reference/seed.js` and reads the accounts it made (patients, then doctors).
fn seed_reference(
    spec: &ServerSpec,
    dir: &Path,
    patients: usize,
    doctors: usize,
) -> anyhow::Result<Vec<BulkUser>> {
    #[derive(serde::Deserialize)]
    struct Made {
        user: User,
        token: String,
    }
    let output = Command::new("node")
        .arg(spec.reference_dir.join("seed.js"))
        .arg("--db")
        .arg(server::reference_db(dir))
        .args(["--patients", &patients.to_string()])
        .args(["--doctors", &doctors.to_string()])
        .args(["--password", PASSWORD])
        .stderr(Stdio::inherit())
        .output()
        .context("running node bench/reference/seed.js (is node installed?)")?;
    if !output.status.success() {
        bail!(
            "bench/reference/seed.js failed ({}); run `npm ci` in bench/reference",
            output.status
        );
    }
    let mut made = Vec::with_capacity(patients + doctors);
    for line in output.stdout.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let m: Made = serde_json::from_str(&line).context("reading seed.js output")?;
        made.push(BulkUser {
            user: m.user,
            token: m.token,
        });
    }
    anyhow::ensure!(
        made.len() == patients + doctors,
        "seed.js made {} accounts, not {}",
        made.len(),
        patients + doctors
    );
    Ok(made)
}

/// The fields every result starts with.
pub fn fields(env: &Env) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert(
        "durability".into(),
        serde_json::json!(env.server.durability.as_str()),
    );
    fields.insert("tls".into(), serde_json::json!(env.server.tls));
    // An A/B of one build with different settings is told apart by these.
    if !env.server.serve_args.is_empty() {
        fields.insert(
            "serve_args".into(),
            serde_json::json!(env.server.serve_args),
        );
    }
    fields
}

/// Connects and authenticates every user (in order), `CONNECT_CONCURRENCY` at a time. Returns
/// the connections, how long it took, and how many failed.
pub async fn connect_all(server: &Server, users: &[BulkUser]) -> (Vec<Conn>, Duration, usize) {
    connect_all_to(server, Stack::Clinic, users).await
}

/// [`connect_all`] for either stack.
pub async fn connect_all_to(
    server: &Server,
    stack: Stack,
    users: &[BulkUser],
) -> (Vec<Conn>, Duration, usize) {
    let endpoint = &server.endpoint;
    let started = Instant::now();
    let results: Vec<anyhow::Result<Conn>> = futures_util::stream::iter(users.iter())
        .map(|u| conn::connect(endpoint, stack, &u.user.id, &u.token))
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut conns = Vec::with_capacity(results.len());
    let mut failed = 0;
    for result in results {
        match result {
            Ok(c) => conns.push(c),
            Err(err) => {
                if failed == 0 {
                    eprintln!("connect failed: {err:#}");
                }
                failed += 1;
            }
        }
    }
    (conns, elapsed, failed)
}

/// Connects patients and doctors and returns them as (patient i, doctor i) pairs.
pub async fn connect_pairs(
    server: &Server,
    clinic: &Clinic,
) -> anyhow::Result<(Vec<(Conn, Conn)>, Duration)> {
    let started = Instant::now();
    let (patients, _, failed_p) = connect_all_to(server, clinic.stack, &clinic.patients).await;
    let (doctors, _, failed_d) = connect_all_to(server, clinic.stack, &clinic.doctors).await;
    anyhow::ensure!(
        failed_p + failed_d == 0,
        "{} connections failed",
        failed_p + failed_d
    );
    Ok((
        patients.into_iter().zip(doctors).collect(),
        started.elapsed(),
    ))
}
