//! The benchmark scenarios and what they share: a fresh data folder with bulk accounts, the
//! server process, and connecting many clients at once.

pub mod fanout;
pub mod history;
pub mod idle;
pub mod ramp;
pub mod slow;
pub mod steady;
pub mod storm;

use crate::conn::{self, Conn};
use crate::server::{Server, ServerSpec};
use anyhow::Context;
use clinic_protocol::Role;
use clinic_server::bulk::{self, BulkUser};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
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

/// A fresh data folder with `patients` and `doctors` bench accounts.
#[derive(Debug)]
pub struct Clinic {
    pub dir: tempfile::TempDir,
    pub patients: Vec<BulkUser>,
    pub doctors: Vec<BulkUser>,
}

impl Clinic {
    pub fn new(patients: usize, doctors: usize) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("clinic-bench-")
            .tempdir()
            .context("creating a temp data folder")?;
        let ttl = 24 * 3600;
        let p = bulk::create_users(dir.path(), "p", Role::Patient, patients, PASSWORD, ttl)?;
        let d = bulk::create_users(dir.path(), "d", Role::Doctor, doctors, PASSWORD, ttl)?;
        Ok(Self {
            dir,
            patients: p,
            doctors: d,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn start(&self, env: &Env) -> anyhow::Result<Server> {
        Server::start(&env.server, self.path())
    }
}

/// The fields every result starts with.
pub fn fields(env: &Env) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert(
        "durability".into(),
        serde_json::json!(env.server.durability.as_str()),
    );
    fields
}

/// Connects and authenticates every user (in order), `CONNECT_CONCURRENCY` at a time. Returns
/// the connections, how long it took, and how many failed.
pub async fn connect_all(server: &Server, users: &[BulkUser]) -> (Vec<Conn>, Duration, usize) {
    let target = &server.target;
    let started = Instant::now();
    let results: Vec<anyhow::Result<Conn>> = futures_util::stream::iter(users.iter())
        .map(|u| conn::connect(target, &u.user.id, &u.token))
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
    let (patients, _, failed_p) = connect_all(server, &clinic.patients).await;
    let (doctors, _, failed_d) = connect_all(server, &clinic.doctors).await;
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
