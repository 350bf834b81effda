//! The installed desktop package, end to end: `scripts/package-check` installs the .debs and runs
//! this (it is ignored by a plain `cargo test`) against /usr/bin/clinic-desktop and the installed
//! server. The app pairs by the server's code and signs in from its real default data folder and
//! keyring, and "start on login" writes an autostart entry under $XDG_CONFIG_HOME that starts the
//! installed binary.
//! Screenshots go to target/e2e-screenshots (docs/screenshots with CLINIC_UPDATE_SCREENSHOTS=1).

use anyhow::{Context, Result, bail};
use clinic_e2e::{publish, start_app};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Waits until `path` exists (`true`) or is gone (`false`).
fn wait_file(path: &Path, present: bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while path.exists() != present {
        if Instant::now() > deadline {
            bail!(
                "{} still {}",
                path.display(),
                if present { "missing" } else { "there" }
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scripts/package-check runs it against the installed packages"]
async fn the_installed_app_signs_in_and_starts_on_login() -> Result<()> {
    let url = std::env::var("CLINIC_INSTALLED_SERVER")
        .context("CLINIC_INSTALLED_SERVER: the installed server's address")?;
    let pin = std::env::var("CLINIC_INSTALLED_PIN")
        .context("CLINIC_INSTALLED_PIN: the installed server's pairing code")?;
    let app_binary = PathBuf::from("/usr/bin/clinic-desktop");
    let tmp = tempfile::Builder::new()
        .prefix("clinic-installed-")
        .tempdir()?;
    let config = tmp.path().join("config");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    let (driver, app) = start_app(&[("XDG_CONFIG_HOME", &config)], &app_binary, &shots).await?;

    app.wait("login-form").await?;
    publish(
        &app.screenshot("installed-first-start").await?,
        "installed-first-start",
    )?;
    app.fill("server-url", &url).await?;
    app.fill("pairing-code", &pin).await?;
    app.fill("username", "dr.patel").await?;
    app.fill("password", "clinic-demo").await?;
    app.click("login-submit").await?;
    app.wait("chat-layout").await.context("signed-in screen")?;
    app.wait_attr("connection-state", "data-state", "online")
        .await?;
    publish(
        &app.screenshot("installed-doctor").await?,
        "installed-doctor",
    )?;

    // Start on login: an XDG autostart entry for the installed binary, gone when turned off.
    let entry = config.join("autostart/org.clinic.messaging.desktop");
    app.click("settings-button").await?;
    app.wait("settings-panel").await?;
    app.click("setting-start-on-login").await?;
    wait_file(&entry, true)?;
    let text = std::fs::read_to_string(&entry)?;
    assert!(
        text.contains("\nExec=\"/usr/bin/clinic-desktop\"\n"),
        "{text}"
    );
    app.click("setting-start-on-login").await?;
    wait_file(&entry, false)?;

    app.close().await?;
    drop(driver);
    Ok(())
}
