//! Shared test plumbing: run the `clinic-alarm` binary in a controlled environment (private HOME
//! with its own ALSA config, chosen D-Bus address) and read what it printed and played.
#![allow(dead_code, clippy::unwrap_used)]

pub mod bus;
pub mod wav;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// Longest any single probe run may take before we call it hung (not a speed assertion).
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// A running `clinic-alarm` with its stdout lines arriving on a channel.
pub struct Probe {
    child: Child,
    lines: Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Probe {
    /// Starts the probe with a clean environment: only PATH, HOME, the bus address and RUST_LOG.
    pub fn spawn(home: &Path, bus_address: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clinic-alarm"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// The next stdout line (panics if the probe hangs or exits first).
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(HANG_GUARD) {
            Ok(line) => line,
            Err(err) => {
                let _ = self.child.kill();
                panic!("probe printed no further line: {err}");
            }
        }
    }

    /// The next `status` line, parsed; other lines on the way are returned too.
    pub fn next_status(&mut self, seen: &mut Vec<String>) -> Status {
        loop {
            let line = self.next_line();
            if line.starts_with("status ") {
                return Status::parse(&line);
            }
            seen.push(line);
        }
    }

    /// Waits for exit; returns (remaining stdout lines, stderr). Panics on failure or hang.
    pub fn finish(self) -> (Vec<String>, String) {
        let (status, lines, stderr) = self.exit();
        assert!(status.success(), "probe failed: {status}\n{stderr}");
        (lines, stderr)
    }

    /// Waits for exit, failed or not; returns (exit status, remaining stdout lines, stderr).
    /// Panics on a hang.
    pub fn exit(mut self) -> (std::process::ExitStatus, Vec<String>, String) {
        let deadline = std::time::Instant::now() + HANG_GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("probe hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr.join().unwrap();
        (status, self.lines.try_iter().collect(), stderr)
    }
}

/// Runs the probe to completion: (all stdout lines, stderr).
pub fn run(home: &Path, bus_address: &str, args: &[&str]) -> (Vec<String>, String) {
    let probe = Probe::spawn(home, bus_address, args);
    let mut lines = Vec::new();
    while let Ok(line) = probe.lines.recv_timeout(HANG_GUARD) {
        lines.push(line);
    }
    let (rest, stderr) = probe.finish();
    lines.extend(rest);
    (lines, stderr)
}

/// Runs the probe to completion, failed or not: (exit status, all stdout lines, stderr).
pub fn run_to_exit(
    home: &Path,
    bus_address: &str,
    args: &[&str],
) -> (std::process::ExitStatus, Vec<String>, String) {
    let probe = Probe::spawn(home, bus_address, args);
    let mut lines = Vec::new();
    while let Ok(line) = probe.lines.recv_timeout(HANG_GUARD) {
        lines.push(line);
    }
    let (status, rest, stderr) = probe.exit();
    lines.extend(rest);
    (status, lines, stderr)
}

/// One parsed `status key=value ...` line.
#[derive(Debug)]
pub struct Status(HashMap<String, String>);

impl Status {
    pub fn parse(line: &str) -> Self {
        Self(
            line.split_whitespace()
                .skip(1)
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
    }

    pub fn num(&self, key: &str) -> u64 {
        self.get(key).parse().unwrap()
    }
}

/// Writes an `.asoundrc` into `home` with `pcm` as the default PCM definition.
pub fn asoundrc(home: &Path, pcm: &str) {
    std::fs::write(home.join(".asoundrc"), format!("pcm.!default {pcm}\n")).unwrap();
}

/// Fails the test when a program it needs is missing (`scripts/setup` installs them): a test
/// that cannot run must not pass.
pub fn require(programs: &[&str]) {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !have(p)).collect();
    assert!(
        missing.is_empty(),
        "not installed: {} (apt-get install dbus, or run scripts/setup)",
        missing.join(", ")
    );
}

/// Whether a program is on PATH.
fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Lines of `stderr` from our crate's log at `level` (ALSA's own stderr noise is ignored).
pub fn log_lines<'a>(stderr: &'a str, level: &str, needle: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| l.contains(level) && l.contains("clinic_alarm") && l.contains(needle))
        .collect()
}

/// Splits a probe script written as one string ("ring a wait 300 status") into arguments.
pub fn script(steps: &str) -> Vec<&str> {
    steps.split_whitespace().collect()
}

/// A D-Bus address where no bus listens: notifications fail at once.
pub fn no_bus(home: &Path) -> String {
    format!("unix:path={}", home.join("no-such-bus").display())
}
