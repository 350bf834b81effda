//! The desktop app end to end: the real server with the demo clinic, the real app in a real
//! window (under `scripts/headless`), driven over WebDriver, with the `clinic` CLI as the other
//! person. Screenshots go to target/e2e-screenshots (and to docs/screenshots with
//! CLINIC_UPDATE_SCREENSHOTS=1).

use anyhow::{Context, Result};
use clinic_e2e::{
    App, Cli, NotificationLog, Server, binary, choose_in_file_dialog, publish, set_window_mapped,
    start_app,
};
use std::path::{Path, PathBuf};

const PASSWORD: &str = "clinic-demo";

/// The smallest file every PDF reader (and the server's content sniffing) accepts as a PDF.
const MINIMAL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

fn shots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots")
}

fn has_display() -> bool {
    std::env::var_os("DISPLAY").is_some()
}

async fn log_in(app: &App, server_url: &str, username: &str) -> Result<()> {
    app.wait("login-form").await?;
    app.fill("server-url", server_url).await?;
    app.fill("username", username).await?;
    app.fill("password", PASSWORD).await?;
    app.click("login-submit").await?;
    app.wait("chat-layout").await.context("signed-in screen")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_and_doctor_chat_in_the_real_window() -> Result<()> {
    if !has_display() {
        // scripts/test always runs this inside scripts/headless; a bare `cargo test` has no X.
        eprintln!("skipped: no DISPLAY (run through scripts/headless)");
        return Ok(());
    }
    // Not a dot-directory: the file dialog is asked for a path inside it.
    let tmp = tempfile::Builder::new().prefix("clinic-e2e-").tempdir()?;
    let server = Server::start(&tmp.path().join("server"), "127.0.0.1:0")?;
    let url = server.url();
    let doctor = Cli::login(&url, &tmp.path().join("cli-dr.patel"), "dr.patel", PASSWORD)?;
    let app_binary = binary("clinic-desktop")?;
    let shots = shots_dir();

    // --- The patient's app: log in, send, see the doctor's reply with ticks. ---
    let alice_profile = tmp.path().join("app-alice");
    let (driver, app) = start_app(
        &[("CLINIC_PROFILE_DIR", &alice_profile)],
        &app_binary,
        &shots,
    )
    .await?;
    log_in(&app, &url, "alice").await?;
    app.wait_attr("chat-layout", "data-role", "PATIENT").await?;
    app.wait_attr("connection-state", "data-state", "online")
        .await?;
    app.click("conversation-dr.patel").await?;
    app.wait("chat-window").await?;

    let hello = "Hello Dr. Patel, this is the end-to-end test.";
    app.fill("message-input", hello).await?;
    app.click("send-button").await?;
    // Acknowledged by the server: one tick at least.
    app.wait_until(
        "[data-testid=message][data-mine=true]",
        "my message acknowledged",
        |found| found.iter().any(|(t, _)| t.contains(hello)),
    )
    .await?;
    app.wait_css("[data-testid=message][data-mine=true]:not([data-status=SENDING]):not([data-status=FAILED])")
        .await?;

    // The doctor (CLI) sees it, once.
    let history = doctor.wait_history("alice", "alice's message", |h| {
        h.iter().any(|m| m["content"] == hello)
    })?;
    assert_eq!(
        history.iter().filter(|m| m["content"] == hello).count(),
        1,
        "exactly once"
    );

    // The doctor's client stored it, so alice's bubble turns DELIVERED (or READ).
    app.wait_css("[data-testid=message][data-mine=true][data-status=DELIVERED], [data-testid=message][data-mine=true][data-status=READ]")
        .await
        .context("delivered tick")?;

    // The reply arrives while the window is out of sight: a native notification names the
    // sender, and (by default) never the text, which could show on a lock screen.
    let notifications = NotificationLog::start(&tmp.path().join("notify.log"))?;
    set_window_mapped(false)?;
    let reply = "Thanks Alice, I have your message.";
    doctor.run(&["send", "--with", "alice", reply])?;
    doctor.run(&["sync"])?;
    let shown = notifications
        .wait_for("New message from Dr. Asha Patel")
        .await?;
    assert!(
        !shown.contains(reply),
        "message text leaked into a notification:\n{shown}"
    );
    set_window_mapped(true)?;
    app.wait_until(
        "[data-testid=message][data-mine=false]",
        "the doctor's reply",
        |found| found.iter().any(|(t, _)| t.contains(reply)),
    )
    .await?;
    let shot = app.screenshot("patient").await?;
    publish(&shot, "patient")?;

    // --- Attachments: an image and a PDF through the native file dialog. ---
    let image = tmp.path().join("rash-photo.png");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/icons/128x128.png"),
        &image,
    )?;
    let pdf = tmp.path().join("lab-results.pdf");
    std::fs::write(&pdf, MINIMAL_PDF)?;
    for (file, kind, caption) in [
        (image, "image", "A photo of the rash."),
        (pdf, "pdf", "My lab results."),
    ] {
        app.click("attach-button").await?;
        tokio::task::spawn_blocking(move || choose_in_file_dialog(&file)).await??;
        app.wait("attachment-preview")
            .await
            .context("attachment chosen")?;
        app.fill("message-input", caption).await?;
        app.click("send-button").await?;
        let sent = format!(
            "[data-testid=message][data-mine=true]:not([data-status=SENDING]):not([data-status=FAILED]) [data-testid=file-preview][data-kind={kind}]"
        );
        app.wait_css(&sent)
            .await
            .with_context(|| format!("{kind} attachment sent"))?;
    }
    let history = doctor.wait_history("alice", "both attachments", |h| {
        let named = |n: &str| {
            h.iter()
                .any(|m| m["fileName"] == n && m["fileUrl"].is_string())
        };
        named("rash-photo.png") && named("lab-results.pdf")
    })?;
    let files = history.iter().filter(|m| m["fileUrl"].is_string()).count();
    assert_eq!(files, 2, "each attachment exactly once");
    let shot = app.screenshot("attachments").await?;
    publish(&shot, "attachments")?;

    // --- Offline: the server goes away, a send waits, and is delivered once it is back. ---
    let addr = server.addr;
    let data_dir = server.data_dir.clone();
    server.kill();
    app.wait_attr("connection-state", "data-state", "offline")
        .await
        .context("offline badge")?;
    let offline_text = "Sent while the server was down.";
    app.fill("message-input", offline_text).await?;
    app.click("send-button").await?;
    app.wait_css("[data-testid=message][data-mine=true][data-status=SENDING]")
        .await?;
    app.wait_attr("queued-count", "data-count", "1").await?;
    let shot = app.screenshot("offline").await?;
    publish(&shot, "offline")?;

    let server = Server::start(&data_dir, &addr.to_string())?;
    app.wait_attr("connection-state", "data-state", "online")
        .await
        .context("back online")?;
    app.wait_until(
        "[data-testid=message][data-mine=true]",
        "the offline message sent",
        |found| found.iter().any(|(t, _)| t.contains(offline_text)),
    )
    .await?;
    let history = doctor.wait_history("alice", "the offline message", |h| {
        h.iter().any(|m| m["content"] == offline_text)
    })?;
    assert_eq!(
        history
            .iter()
            .filter(|m| m["content"] == offline_text)
            .count(),
        1,
        "exactly once"
    );

    // --- An emergency from the patient. ---
    app.click("emergency-button").await?;
    app.fill("emergency-text", "I feel faint and my chest hurts.")
        .await?;
    app.click("emergency-confirm-send").await?;
    app.wait_css("[data-testid=emergency-status][data-state=raised], [data-testid=emergency-status][data-state=acknowledged]")
        .await
        .context("patient sees the emergency was received")?;
    app.close().await?;
    drop(driver);

    // --- The next start signs in by itself (token from the OS keyring); logout forgets it. ---
    let (driver, app) = start_app(
        &[("CLINIC_PROFILE_DIR", &alice_profile)],
        &app_binary,
        &shots,
    )
    .await?;
    app.wait_attr("chat-layout", "data-role", "PATIENT")
        .await
        .context("signed in again without a password")?;
    app.click("settings-button").await?;
    app.click("logout-button").await?;
    app.wait("login-form")
        .await
        .context("back at the login screen")?;
    app.close().await?;
    drop(driver);
    let (driver, app) = start_app(
        &[("CLINIC_PROFILE_DIR", &alice_profile)],
        &app_binary,
        &shots,
    )
    .await?;
    app.wait("login-form")
        .await
        .context("still signed out after a restart")?;
    app.close().await?;
    drop(driver);

    // --- The doctor's app: unread count, emergency first with the banner, acknowledge. ---
    let doctor_profile = tmp.path().join("app-dr.patel");
    let (driver, app) = start_app(
        &[("CLINIC_PROFILE_DIR", &doctor_profile)],
        &app_binary,
        &shots,
    )
    .await?;
    log_in(&app, &server.url(), "dr.patel").await?;
    app.wait_attr("chat-layout", "data-role", "DOCTOR").await?;
    app.wait_attr("connection-state", "data-state", "online")
        .await
        .context("doctor online")?;
    app.wait("emergency-banner")
        .await
        .context("emergency banner")?;
    let unread = app
        .wait_css("[data-testid=conversation-alice] [data-testid=unread-count]")
        .await
        .context("unread badge on alice's conversation")?;
    let count: u32 = unread
        .text()
        .await?
        .trim()
        .parse()
        .context("unread count is a number")?;
    assert!(count >= 1, "unread count {count}");
    app.wait("conversation-alice").await?;
    app.wait_css("[data-testid=conversation-alice] [data-testid=emergency-badge]")
        .await?;
    let shot = app.screenshot("doctor-emergency").await?;
    publish(&shot, "doctor-emergency")?;

    // This device rings until someone acknowledges (the UI offers to silence it meanwhile).
    app.wait("silence-alarm")
        .await
        .context("the doctor's device is alerting")?;
    app.click("emergency-acknowledge").await?;
    app.wait_css("[data-testid=emergency-item][data-state=ACKNOWLEDGED]")
        .await
        .context("acknowledged in the banner")?;
    app.wait_gone("silence-alarm")
        .await
        .context("the alarm stops once acknowledged")?;
    app.click("conversation-alice").await?;
    app.wait("patient-info").await?;
    app.wait_until(
        "[data-testid=message]",
        "alice's messages in the doctor's window",
        |found| found.iter().any(|(t, _)| t.contains(hello)),
    )
    .await?;
    let shot = app.screenshot("doctor").await?;
    publish(&shot, "doctor")?;

    // Start of a shift: the doctor checks that alerts reach them.
    app.click("settings-button").await?;
    app.click("send-test-alert").await?;
    notifications
        .wait_for("Test alert")
        .await
        .context("test alert notification")?;
    app.close().await?;
    drop(driver);
    Ok(())
}
