//! A benchmark, not a test (an ignored trial, run by bench/desktop-at-rest.sh): the app at rest
//! with a long conversation open. Prints the CPU share of a core and the RSS of all the app's
//! processes (the shell and its WebKit processes), with the composer focused (its caret
//! blinking), not, and alerting for an emergency nobody took (its banner glowing). Figures and
//! method: docs/benchmarks.md, "The desktop app at rest".

use super::{World, signed_in};
use anyhow::{Context, Result};
use std::time::Duration;

/// The processes of the running app: the shell and the WebKit processes it started.
const NAMES: [&str; 3] = ["clinic-desktop", "WebKitWebProces", "WebKitNetworkPr"];

/// One of the app's processes: id, name, CPU ticks so far, RSS and PSS in KiB.
struct Proc {
    pid: u32,
    name: String,
    ticks: u64,
    rss: u64,
    /// Proportional set size: shared pages (libraries, WebKit's shared memory) divided among
    /// the processes that map them, so the sum over processes counts each page once.
    pss: u64,
}

/// A `Name:   123 kB` field of a /proc status-like file, in KiB.
fn kib_field(text: &str, field: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether a process runs on this test's X display: other helpers' apps (same names, their own
/// headless sessions) must not count in the sums.
fn on_our_display(pid: u32, ours: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|kv| kv == ours))
        .unwrap_or(false)
}

/// Each of the app's processes now (those on this test's display).
fn app_processes() -> Result<Vec<Proc>> {
    let display = std::env::var("DISPLAY").context("DISPLAY (run under scripts/headless)")?;
    let ours = format!("DISPLAY={display}").into_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let name = comm.trim().to_owned();
        if !NAMES.contains(&name.as_str()) || !on_our_display(pid, &ours) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the ")" that ends the name: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').context("stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        found.push(Proc {
            pid,
            name,
            ticks,
            rss: kib_field(&status, "VmRSS:"),
            pss: kib_field(&rollup, "Pss:"),
        });
    }
    Ok(found)
}

/// CPU share of one core per process over `secs` (the processes' own CPU time, so other work on
/// the machine does not count), and the RSS and PSS at the end; prints lines starting `label`.
pub(super) async fn sample(label: &str, what: &str, secs: u64) -> Result<()> {
    let before = app_processes()?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = app_processes()?;
    // USER_HZ is 100 on Linux.
    let mut total_cpu = 0.0;
    let (mut total_rss, mut total_pss) = (0, 0);
    for p in &after {
        let Some(t0) = before.iter().find(|b| b.pid == p.pid).map(|b| b.ticks) else {
            continue;
        };
        let cpu = (p.ticks - t0) as f64 / secs as f64;
        total_cpu += cpu;
        total_rss += p.rss;
        total_pss += p.pss;
        println!(
            "{label} {what}: {} (pid {}) cpu {cpu:.1} % rss {} MiB pss {} MiB",
            p.name,
            p.pid,
            p.rss / 1024,
            p.pss / 1024
        );
    }
    println!(
        "{label} {what}: all app processes cpu {total_cpu:.1} % of a core, rss {} MiB, pss {} MiB",
        total_rss / 1024,
        total_pss / 1024
    );
    Ok(())
}

pub(super) async fn bench_desktop_at_rest(w: &World) -> Result<()> {
    let n: usize = std::env::var("CLINIC_AT_REST_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let tag = format!("at-rest-{}", std::process::id());
    for i in 1..=n {
        w.bob.run(&[
            "send",
            "--with",
            "dr.nguyen",
            &format!("{tag} message {i}: a line of ordinary length for a chat."),
        ])?;
    }
    w.bob.run(&["sync"])?;
    let (driver, app) = w.app(&w.profile("dr.nguyen")).await?;
    signed_in(w, &app, "dr.nguyen").await?;
    app.click("conversation-bob").await?;
    app.wait("chat-window").await?;
    app.wait_until(
        "[data-testid=message][data-mine=false]",
        "the newest message",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains(&format!("message {n}:")))
        },
    )
    .await?;
    println!("at-rest: {n} messages in the conversation");
    tokio::time::sleep(Duration::from_secs(5)).await;
    sample("at-rest", "composer focused (caret blinking)", 20).await?;
    app.wait_script(
        "the composer to lose focus",
        "document.activeElement.blur(); return true;",
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sample("at-rest", "nothing focused", 20).await?;
    // A doctor's app alerting for an emergency nobody took yet: its banner glows until one does.
    w.bob.run(&[
        "send",
        "--with",
        "dr.nguyen",
        "--emergency",
        &format!("{tag} chest pain"),
    ])?;
    w.bob.run(&["sync"])?;
    app.wait_css(".emergency-banner.is-alerting")
        .await
        .context("the emergency alerting")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sample("at-rest", "an emergency alerting", 20).await?;
    app.click("emergency-acknowledge").await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}
