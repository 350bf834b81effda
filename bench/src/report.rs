//! Latency histograms (HdrHistogram, microseconds) and the result record of a run: one JSON line
//! (appended to a results file) and one Markdown table row per scenario run.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;

/// Highest latency recorded: anything slower is clamped (and still counted).
const MAX_US: u64 = 120_000_000;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        // Three significant figures from 1 us to 2 minutes: a few tens of KiB per histogram.
        Self(Histogram::new_with_bounds(1, MAX_US, 3).expect("constant, valid bounds"))
    }

    pub fn record(&mut self, us: u64) {
        let _ = self.0.record(us.clamp(1, MAX_US));
    }

    pub fn add(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Milliseconds at quantile `q` (0 when empty).
    pub fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        round3(self.0.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> f64 {
        round3(self.0.max() as f64 / 1000.0)
    }

    /// `{count, p50_ms, p99_ms, p999_ms, max_ms}`.
    pub fn summary(&self) -> Value {
        json!({
            "count": self.count(),
            "p50_ms": self.ms(0.5),
            "p99_ms": self.ms(0.99),
            "p999_ms": self.ms(0.999),
            "max_ms": self.max_ms(),
        })
    }
}

/// Rounds to three decimals so the JSON stays readable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One scenario run's results: prints a JSON line and a table row, and appends the JSON line to
/// `out` when given.
pub fn emit(scenario: &str, fields: Map<String, Value>, out: Option<&Path>) -> anyhow::Result<()> {
    let mut record = Map::new();
    record.insert("scenario".into(), json!(scenario));
    record.insert("unix_time".into(), json!(unix_time()));
    // Other work on the box (the cores are shared) shows up as latency; keep it on record.
    record.insert("loadavg".into(), json!(loadavg()));
    // Runs on a busy box may raise their priority (`nice -n -20 bench/run.sh ...`).
    record.insert("nice".into(), json!(nice()));
    record.extend(fields);
    let line = Value::Object(record.clone()).to_string();
    println!("{line}");
    println!("{}", table_row(&record));
    if let Some(path) = out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

/// `| s2 | key=value | ... |` with nested objects flattened as `key.sub=value`.
pub fn table_row(record: &Map<String, Value>) -> String {
    let mut cells = Vec::new();
    if let Some(Value::String(name)) = record.get("scenario") {
        cells.push(name.clone());
    }
    flatten("", record, &mut cells);
    format!("| {} |", cells.join(" | "))
}

fn flatten(prefix: &str, map: &Map<String, Value>, cells: &mut Vec<String>) {
    for (key, value) in map {
        if matches!(
            key.as_str(),
            "unix_time" | "steps" | "runs" | "scenario" | "loadavg" | "nice"
        ) {
            continue;
        }
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten(&name, inner, cells),
            other => cells.push(format!("{name}={other}")),
        }
    }
}

/// The 1-minute load average of the machine (0 if unknown).
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// This process's nice value (0 if unknown): field 19 of `/proc/self/stat`, counted after the
/// command name, which may contain spaces but ends with the last `)`.
fn nice() -> i64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| nice_from_stat(&s))
        .unwrap_or(0)
}

fn nice_from_stat(stat: &str) -> Option<i64> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(16)?
        .parse()
        .ok()
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_merge() {
        let mut a = Latency::new();
        for us in 1..=1000 {
            a.record(us);
        }
        let mut b = Latency::new();
        b.record(50_000);
        a.add(&b);
        assert_eq!(a.count(), 1001);
        assert!((a.ms(0.5) - 0.5).abs() < 0.01, "p50 {}", a.ms(0.5));
        assert!((a.max_ms() - 50.0).abs() < 0.1);
        assert_eq!(Latency::new().ms(0.99), 0.0);
    }

    #[test]
    fn nice_value_from_proc_stat() {
        // The command name may hold spaces and parentheses; fields count from the last ')'.
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 -20 1 0 99 \
                    1000 200 18446744073709551615";
        assert_eq!(nice_from_stat(stat), Some(-20));
        assert_eq!(nice_from_stat("garbage"), None);
        assert!(
            nice_from_stat(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
                .is_some()
        );
    }

    #[test]
    fn table_row_flattens() {
        let mut map = Map::new();
        map.insert("scenario".into(), json!("s2"));
        map.insert("e2e".into(), json!({"p99_ms": 1.5}));
        map.insert("rate".into(), json!(1000));
        assert_eq!(table_row(&map), "| s2 | e2e.p99_ms=1.5 | rate=1000 |");
    }
}
