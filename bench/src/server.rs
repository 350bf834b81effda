//! The server under test as a separate process: started from the release `clinic-server` binary
//! with its own data folder, optionally pinned to a core with `taskset`, watched through
//! `/proc/<pid>/status`, stopped with SIGTERM.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
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
}

/// A running server process; killed on drop if not stopped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The address and TLS settings clients connect with.
    pub target: crate::conn::Target,
    pub pid: u32,
}

impl Server {
    /// Starts `clinic-server --data-dir DIR serve --listen 127.0.0.1:0` and waits for its
    /// "listening on" line.
    pub fn start(spec: &ServerSpec, data_dir: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(data_dir.join("server.log"))
            .context("creating the server log")?;
        let mut command = match spec.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&spec.binary);
                c
            }
            None => Command::new(&spec.binary),
        };
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--synchronous"])
            .arg(spec.durability.as_str())
            // Every generated connection comes from 127.0.0.1.
            .args(["--max-connections-per-address", "0"])
            // Warnings only: an info line per event would cost the server time we measure.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no server stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on https://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                bail!("the server did not report its address within 60 s");
            }
        };
        let addr: SocketAddr = addr.parse().context("parsing the server address")?;
        Ok(Self {
            child,
            addr,
            target: crate::conn::Target::new(addr, data_dir)?,
            pid,
        })
    }

    /// Resident memory of the server process, in KiB (VmRSS).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.pid)
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
