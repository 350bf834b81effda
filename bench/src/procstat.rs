//! What a server process has spent, read from `/proc`: CPU time per thread (nanoseconds from
//! `/proc/PID/task/TID/schedstat`), bytes written per thread (`wchar`: bytes handed to write
//! calls, `write_bytes`: bytes the thread caused to be sent to storage), and the process's own
//! `write_bytes`, which also keeps the bytes of threads that have ended. Two samples around a
//! measured interval give the cost of the work done in it.

use anyhow::Context;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One thread's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub cpu_ns: u64,
    pub wchar: u64,
    pub write_bytes: u64,
}

impl Counters {
    fn minus(self, earlier: Counters) -> Counters {
        Counters {
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            wchar: self.wchar.saturating_sub(earlier.wchar),
            write_bytes: self.write_bytes.saturating_sub(earlier.write_bytes),
        }
    }

    fn plus(self, other: Counters) -> Counters {
        Counters {
            cpu_ns: self.cpu_ns + other.cpu_ns,
            wchar: self.wchar + other.wchar,
            write_bytes: self.write_bytes + other.write_bytes,
        }
    }
}

/// A sample of a process: every live thread (by id, with its name) and the process totals.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    threads: BTreeMap<u32, (String, Counters)>,
    process_write_bytes: u64,
}

/// The value of `key` in a `/proc/.../io` file.
fn io_field(io: &str, key: &str) -> Option<u64> {
    io.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

fn thread(pid: u32, tid: u32) -> Option<(String, Counters)> {
    let base = format!("/proc/{pid}/task/{tid}");
    let name = std::fs::read_to_string(format!("{base}/comm")).ok()?;
    let schedstat = std::fs::read_to_string(format!("{base}/schedstat")).ok()?;
    let io = std::fs::read_to_string(format!("{base}/io")).ok()?;
    Some((
        name.trim().to_owned(),
        Counters {
            cpu_ns: schedstat.split_whitespace().next()?.parse().ok()?,
            wchar: io_field(&io, "wchar")?,
            write_bytes: io_field(&io, "write_bytes")?,
        },
    ))
}

impl Sample {
    /// Reads every thread of `pid`. Threads that end while it reads are skipped.
    pub fn take(pid: u32) -> anyhow::Result<Self> {
        let mut threads = BTreeMap::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
            .with_context(|| format!("reading /proc/{pid}/task"))?
        {
            let Some(tid) = entry?.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            if let Some(t) = thread(pid, tid) {
                threads.insert(tid, t);
            }
        }
        let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .with_context(|| format!("reading /proc/{pid}/io"))?;
        Ok(Self {
            threads,
            process_write_bytes: io_field(&io, "write_bytes").context("no write_bytes")?,
        })
    }

    /// What was spent between `earlier` and this sample, summed per thread name (tokio's
    /// workers share one name), plus the process's `write_bytes`. A thread that started in
    /// between counts from zero.
    pub fn since(&self, earlier: &Sample) -> Spent {
        let mut by_name: BTreeMap<String, Counters> = BTreeMap::new();
        for (tid, (name, now)) in &self.threads {
            let before = earlier
                .threads
                .get(tid)
                .map(|(_, c)| *c)
                .unwrap_or_default();
            let entry = by_name.entry(name.clone()).or_default();
            *entry = entry.plus(now.minus(before));
        }
        Spent {
            by_name,
            process_write_bytes: self
                .process_write_bytes
                .saturating_sub(earlier.process_write_bytes),
        }
    }
}

/// The difference of two samples.
#[derive(Debug, Clone, Default)]
pub struct Spent {
    pub by_name: BTreeMap<String, Counters>,
    pub process_write_bytes: u64,
}

impl Spent {
    /// CPU of every thread together, in nanoseconds.
    pub fn cpu_ns(&self) -> u64 {
        self.by_name.values().map(|c| c.cpu_ns).sum()
    }

    /// The counters of the threads named `name` (zero if none).
    pub fn thread(&self, name: &str) -> Counters {
        self.by_name.get(name).copied().unwrap_or_default()
    }

    /// Per-message costs as JSON: process CPU (us) and bytes sent to storage, and for each
    /// thread name that used CPU, its CPU (us), `wchar` and `write_bytes` per message.
    pub fn per_message(&self, messages: u64) -> Value {
        let n = messages.max(1) as f64;
        let per = |x: u64| crate::report::round3(x as f64 / n);
        let mut threads = Map::new();
        for (name, c) in &self.by_name {
            if c.cpu_ns == 0 && c.wchar == 0 {
                continue;
            }
            threads.insert(
                name.clone(),
                json!({
                    "cpu_us": crate::report::round3(c.cpu_ns as f64 / 1000.0 / n),
                    "wchar": per(c.wchar),
                    "write_bytes": per(c.write_bytes),
                }),
            );
        }
        json!({
            "messages": messages,
            "cpu_us": crate::report::round3(self.cpu_ns() as f64 / 1000.0 / n),
            "write_bytes": per(self.process_write_bytes),
            "threads": threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_counts_what_it_spends() {
        let pid = std::process::id();
        let before = Sample::take(pid).expect("sample");
        assert!(!before.threads.is_empty());
        // Spend some CPU and write some bytes on this thread.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::fs::write(dir.path().join("f"), vec![b'x'; 64 * 1024]).expect("write");
        let spent = Sample::take(pid).expect("sample").since(&before);
        assert!(spent.cpu_ns() > 0, "{x}");
        let wrote: u64 = spent.by_name.values().map(|c| c.wchar).sum();
        assert!(wrote >= 64 * 1024, "wchar {wrote}");
        let json = spent.per_message(2);
        assert_eq!(json["messages"], 2);
        assert!(json["threads"].as_object().is_some_and(|t| !t.is_empty()));
    }

    #[test]
    fn io_fields() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nwrite_bytes: 4096\n";
        assert_eq!(io_field(io, "wchar"), Some(20));
        assert_eq!(io_field(io, "write_bytes"), Some(4096));
        assert_eq!(io_field(io, "read_bytes"), None);
    }
}
