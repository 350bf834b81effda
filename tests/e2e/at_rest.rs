//! A benchmark, not a test (an ignored trial, run by bench/desktop-at-rest.sh): the app at rest
//! with a long conversation open. Prints the CPU share of a core and the RSS of all the app's
//! processes (the shell and its WebKit processes), with the composer focused (its caret
//! blinking) and not. Figures and method: docs/benchmarks.md, "The desktop app at rest".

use super::{World, signed_in};
use anyhow::{Context, Result};
use std::time::Duration;

/// The processes of the running app: the shell and the WebKit processes it started.
const NAMES: [&str; 3] = ["clinic-desktop", "WebKitWebProces", "WebKitNetworkPr"];

/// (pid, name, CPU ticks so far, RSS in KiB) of each of the app's processes.
fn app_processes() -> Result<Vec<(u32, String, u64, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let name = comm.trim().to_owned();
        if !NAMES.contains(&name.as_str()) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the ")" that ends the name: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').context("stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        found.push((pid, name, ticks, rss));
    }
    Ok(found)
}

/// CPU share of one core per process over `secs`, and the RSS at the end.
async fn sample(what: &str, secs: u64) -> Result<()> {
    let before = app_processes()?;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = app_processes()?;
    // USER_HZ is 100 on Linux.
    let mut total_cpu = 0.0;
    let mut total_rss = 0;
    for (pid, name, ticks, rss) in &after {
        let Some((_, _, t0, _)) = before.iter().find(|(p, ..)| p == pid) else {
            continue;
        };
        let cpu = (ticks - t0) as f64 / secs as f64;
        total_cpu += cpu;
        total_rss += rss;
        println!(
            "at-rest {what}: {name} (pid {pid}) cpu {cpu:.1} % rss {} MiB",
            rss / 1024
        );
    }
    println!(
        "at-rest {what}: all app processes cpu {total_cpu:.1} % of a core, rss {} MiB",
        total_rss / 1024
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
    sample("composer focused (caret blinking)", 20).await?;
    app.wait_script(
        "the composer to lose focus",
        "document.activeElement.blur(); return true;",
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sample("nothing focused", 20).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}
