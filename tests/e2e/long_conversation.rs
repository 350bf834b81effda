//! A benchmark, not a test (an ignored trial, run by bench/desktop-long-conversation.sh): the
//! app on a conversation of 10,000 messages (default). Prints, for three launches of an app whose
//! session is saved: the cold start (launch to the conversation list in the DOM), then the CPU
//! share of a core and the RSS/PSS of all the app's processes with that conversation open,
//! composer focused and not. Figures and method: docs/benchmarks.md, "The desktop app at rest".

use super::{PASSWORD, World, at_rest::sample};
use anyhow::{Context, Result, bail};
use clinic_e2e::{App, Driver, Server, binary};
use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Launches measured after the first (which signs in and loads the history).
const ROUNDS: usize = 3;

/// Writes `n` messages between bob and dr.nguyen straight into the server's data folder (the
/// same code path as a live send; `clinic send` once per message would take minutes), with the
/// server stopped, then starts it again on the same address.
fn seed(w: &World, n: usize) -> Result<()> {
    let mut slot = w.server.lock().unwrap_or_else(|e| e.into_inner());
    let server = slot.take().context("the server is not running")?;
    let (data_dir, addr) = (server.data_dir.clone(), server.addr);
    server.kill();
    let status = std::process::Command::new(binary("clinic-bench")?)
        .args([
            "--gen-cpu=-1",
            "seed",
            "--patient",
            "bob",
            "--doctor",
            "dr.nguyen",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .arg(format!("--messages={n}"))
        .status()
        .context("clinic-bench seed")?;
    let restarted = Server::start(&data_dir, &addr.to_string());
    if !status.success() {
        bail!("clinic-bench seed failed ({status})");
    }
    *slot = Some(restarted?);
    Ok(())
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Starts the app with a saved session, no contract transcript: the driver, the app, and the
/// time (Unix ms) just before the WebDriver session asked for the app. A launch right after the
/// previous instance stopped can meet its single-instance name still on the bus and exit: that
/// launch is retried once (as `start_app` does), timed afresh.
async fn launch(w: &World, profile: &Path) -> Result<(Driver, App, f64)> {
    let env = [("CLINIC_PROFILE_DIR", profile)];
    let driver = Driver::start(&env)?;
    let launched = unix_ms();
    match App::launch(&driver, &w.app_binary, &w.shots).await {
        Ok(app) => return Ok((driver, app, launched)),
        Err(e) => println!("long: launch failed ({e:#}); retrying once"),
    }
    drop(driver);
    let driver = Driver::start(&env)?;
    let launched = unix_ms();
    let app = App::launch(&driver, &w.app_binary, &w.shots).await?;
    Ok((driver, app, launched))
}

pub(super) async fn bench_desktop_long_conversation(w: &World) -> Result<()> {
    let n: usize = std::env::var("CLINIC_LONG_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    seed(w, n)?;
    // The newest seeded message (`history message {n-1}`; even indexes are bob's).
    let newest = format!("history message {}", n - 1);
    // Read through the DOM (textContent): WebDriver's visible text came back empty for every
    // row in some launches of the compositing build, with the rows plainly on screen.
    let shows_newest = format!(
        "return [...document.querySelectorAll('[data-testid=message]')]\
         .some(e => e.textContent.includes('{newest}'));"
    );
    let profile = w.profile("dr.nguyen-long");
    println!("long: {n} messages, app {}", w.app_binary.display());

    // First launch: sign in; the core syncs the conversation into its cache.
    let (driver, app) = w.app(&profile).await?;
    let started = std::time::Instant::now();
    app.wait("login-form").await?;
    app.fill("server-url", &w.url).await?;
    app.fill("username", "dr.nguyen").await?;
    app.fill("password", PASSWORD).await?;
    app.fill("pairing-code", &w.code).await?;
    app.click("login-submit").await?;
    app.wait("chat-layout").await.context("signed-in screen")?;
    // Online only once the whole history is synced into the cache: allow minutes.
    let mut tries = 0;
    while let Err(e) = app
        .wait_attr("connection-state", "data-state", "online")
        .await
    {
        tries += 1;
        if tries == 10 {
            return Err(e.context("online after the first sync"));
        }
    }
    println!(
        "long: first sign-in, {n} messages synced into the cache, online after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    app.click("conversation-bob").await?;
    app.wait_script("the newest message", &shows_newest).await?;
    w.close(app).await?;
    drop(driver);

    for round in 1..=ROUNDS {
        // Measured from just before the WebDriver session starts the app (that session's own
        // set-up, about half a second, is included). No contract transcript in these launches.
        let (driver, app, launched) = launch(w, &profile).await?;
        let (listed, page) = app.appeared_at("[data-testid=conversation-bob]").await?;
        println!(
            "long round {round}: cold start {:.0} ms to the conversation list (page load began at {:.0} ms)",
            listed - launched,
            page - launched
        );
        app.click("conversation-bob").await?;
        if let Err(e) = app.wait_script("the newest message", &shows_newest).await {
            let shot = app.screenshot("long-conversation-failed").await?;
            return Err(e.context(format!("screenshot {}", shot.display())));
        }
        let rows = Cell::new(0);
        app.wait_until("[data-testid=message]", "the rendered rows", |found| {
            rows.set(found.len());
            true
        })
        .await?;
        println!("long round {round}: {} message rows in the DOM", rows.get());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let label = format!("long round {round}");
        sample(&label, "composer focused (caret blinking)", 20).await?;
        app.wait_script(
            "the composer to lose focus",
            "document.activeElement.blur(); return true;",
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        sample(&label, "nothing focused", 20).await?;
        app.close().await?;
        drop(driver);
    }
    Ok(())
}
