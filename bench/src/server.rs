//! The server under test as a separate process: the release `clinic-server` binary, or the
//! reference server (`node bench/reference/server.js`), with its own data folder, optionally
//! pinned to a core with `taskset`, watched through `/proc/<pid>/status`, stopped with SIGTERM
//! (or killed with SIGKILL to measure recovery).

use crate::endpoint::Endpoint;
use crate::stack::Stack;
use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// SQLite durability of the server under test (`--synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Normal,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Normal => "normal",
        }
    }
}

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub binary: PathBuf,
    /// Core to pin the server to (`taskset -c`), if any.
    pub cpu: Option<usize>,
    pub durability: Durability,
    /// More arguments for `clinic-server serve`.
    pub serve_args: Vec<String>,
    /// Serve clinic-server over TLS (`https`/`wss`, its own clinic CA), as clinics run it; off
    /// (`--tls off`) only to compare with results recorded before TLS. The reference server
    /// always speaks plain HTTP, as the seed does.
    pub tls: bool,
    /// The reference server's folder (`bench/reference`, with `node_modules` installed).
    pub reference_dir: PathBuf,
    /// The reference server's `synchronous`; `None` keeps better-sqlite3's default (NORMAL in
    /// WAL mode: no fsync per commit).
    pub reference_durability: Option<Durability>,
}

impl ServerSpec {
    /// How the given stack stores: "full"/"normal", or "normal (default)" for the reference
    /// server left at its driver's default.
    pub fn durability_of(&self, stack: Stack) -> String {
        match (stack, self.reference_durability) {
            (Stack::Clinic, _) => self.durability.as_str().to_owned(),
            (Stack::Reference, Some(d)) => d.as_str().to_owned(),
            (Stack::Reference, None) => "normal (default)".to_owned(),
        }
    }

    fn command(&self, stack: Stack, data_dir: &Path) -> Command {
        let (program, args): (PathBuf, Vec<String>) = match stack {
            Stack::Clinic => {
                let mut args = vec![
                    "--data-dir".to_owned(),
                    data_dir.display().to_string(),
                    "serve".to_owned(),
                    "--listen".to_owned(),
                    "127.0.0.1:0".to_owned(),
                    "--synchronous".to_owned(),
                    self.durability.as_str().to_owned(),
                    // Every generated connection comes from 127.0.0.1.
                    "--max-connections-per-address".to_owned(),
                    "0".to_owned(),
                ];
                if !self.tls {
                    args.extend(["--tls".to_owned(), "off".to_owned()]);
                }
                args.extend(self.serve_args.iter().cloned());
                (self.binary.clone(), args)
            }
            Stack::Reference => {
                let mut args = vec![
                    self.reference_dir.join("server.js").display().to_string(),
                    "--db".to_owned(),
                    reference_db(data_dir).display().to_string(),
                    "--listen".to_owned(),
                    "127.0.0.1:0".to_owned(),
                ];
                if let Some(d) = self.reference_durability {
                    args.extend(["--synchronous".to_owned(), d.as_str().to_owned()]);
                }
                (PathBuf::from("node"), args)
            }
        };
        let mut command = match self.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        command.args(args);
        command
    }
}

/// The reference server's database inside a data folder.
pub fn reference_db(data_dir: &Path) -> PathBuf {
    data_dir.join("reference.db")
}

/// A running server process; killed on drop if not stopped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub endpoint: Endpoint,
    pub pid: u32,
}

impl Server {
    /// Starts `clinic-server --data-dir DIR serve --listen 127.0.0.1:0` (HTTPS unless the spec
    /// says plain; or the reference
    /// server on `DIR/reference.db`) and waits for its "listening on" line.
    pub fn start(spec: &ServerSpec, stack: Stack, data_dir: &Path) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .context("creating the server log")?;
        let mut command = spec.command(stack, data_dir);
        command
            // Warnings only: an info line per event would cost the server time we measure.
            .env("RUST_LOG", "warn")
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command
            .spawn()
            .with_context(|| format!("starting the {} server", stack.name()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no server stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "the {} server did not report its address within 60 s (see {})",
                    stack.name(),
                    data_dir.join("server.log").display()
                );
            }
        };
        let endpoint = match Endpoint::from_listening(&url, data_dir) {
            Ok(endpoint) => endpoint,
            Err(err) => {
                let _ = child.kill();
                return Err(err);
            }
        };
        Ok(Self {
            child,
            endpoint,
            pid,
        })
    }

    /// Resident memory of the server process, in KiB (VmRSS).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.pid)
    }

    /// SIGKILL, as a crash or a power cut would end it; returns once it is gone.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("sending SIGKILL")?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then up to 15 s for a clean shutdown, then SIGKILL.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        for _ in 0..150 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc status")
}

/// Pins this process (all its threads) to one core with `taskset`. Call before starting the
/// runtime so every thread inherits it.
pub fn pin_self(cpu: usize) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset failed: {status}");
    }
    Ok(())
}
