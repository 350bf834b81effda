//! The app lock end to end (included by desktop.rs): a doctor sets a PIN and a one-minute idle
//! time, the app locks by itself, the page holds no message text, an emergency still rings and
//! says "unlock to respond", the PIN unlocks; the desktop's screen lock locks it too and the
//! password unlocks; then IT revokes the doctor's sessions and the app shows the login screen
//! within seconds. A locked patient's app says where her emergency stands, also one not sent yet
//! and after a restart, and raises one without the password; wrong tries that ran out while it
//! waited log out only once it reached the clinic.

use super::*;
use clinic_e2e::NotificationLog;

/// Seconds the app may take beyond its one-minute idle time to lock (the check runs every
/// second; the machine may be loaded).
const LOCK_SLACK_SECS: u64 = 60;

/// A script true once the composer holds exactly `text`.
fn composer_holds(text: &str) -> Result<String> {
    Ok(format!(
        "return document.querySelector('[data-testid=message-input]')?.value === {};",
        serde_json::to_string(text)?
    ))
}

/// True (in the webview) when the lock screen is up and `text` is nowhere in the page.
fn locked_without(text: &str) -> String {
    format!(
        "return document.querySelector('[data-testid=lock-screen]') !== null \
         && !document.documentElement.outerHTML.includes({text:?}) \
         && !document.body.innerText.includes({text:?});"
    )
}

pub(crate) async fn app_lock(w: &World) -> Result<()> {
    let secret = format!("Lock test {}: blood pressure 150/95.", std::process::id());
    w.alice_cli.run(&["send", "--with", "dr.patel", &secret])?;
    w.alice_cli.run(&["sync"])?;

    let (driver, app) = w.app(&w.profile("patel-lock")).await?;
    log_in(&app, &w.url, "dr.patel", &w.code).await?;
    app.click("conversation-alice").await?;
    // Opened at the first message this doctor has not read (earlier scenarios' among them): the
    // newest is further down.
    super::receipts::scroll_list(&app, false).await?;
    app.wait_until("[data-testid=message]", "alice's message", |found| {
        found.iter().any(|(t, _)| t.contains(&secret))
    })
    .await?;

    // A PIN (a weak one refused first) and the shortest idle time.
    app.click("settings-button").await?;
    app.click("lock-settings-open").await?;
    app.fill("pin-input", "1234").await?;
    app.click("pin-save").await?;
    app.wait_until("[data-testid=pin-result]", "a weak PIN refused", |found| {
        found.iter().any(|(t, _)| t.contains("too easy to guess"))
    })
    .await?;
    app.fill("pin-input", "8203").await?;
    app.click("pin-save").await?;
    app.wait_until("[data-testid=pin-result]", "the PIN saved", |found| {
        found.iter().any(|(t, _)| t.contains("PIN saved"))
    })
    .await?;
    // The field into the middle of the dialog first, as a person scrolls to it: the dialog
    // scrolls, and an option at its edge did not take WebDriver's click.
    app.script(
        "document.querySelector('[data-testid=lock-idle]').scrollIntoView({ block: 'center' });",
    )
    .await?;
    click_css(&app, "[data-testid=lock-idle] option[value=\"1\"]").await?;
    w.shot(&app, "lock-settings", false).await?;
    app.click("settings-close").await?;

    // A hand on the mouse is activity: WebKitGTK tells a real move's distance, which is what
    // the UI counts (its own moves of no distance, when content shifts, are not counted), and
    // the shell is told (`user_active`; the UI tells it at most every 5 s, so after a pause).
    app.script(
        "window.__moved = 0; window.addEventListener('mousemove', \
         (e) => { window.__moved += Math.abs(e.movementX) + Math.abs(e.movementY); });",
    )
    .await?;
    let told =
        "(window.__CLINIC_TRANSCRIPT__ || []).filter((l) => l.command === 'user_active').length";
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let before = app.script(&format!("return {told};")).await?;
    clinic_e2e::move_pointer_over_window()?;
    app.wait_script(
        "a real mouse move with its distance",
        "return window.__moved > 0;",
    )
    .await?;
    app.wait_script(
        "the shell told of the move",
        &format!("return {told} > {before};"),
    )
    .await?;

    // No input from here: the app locks by itself after a minute.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60 + LOCK_SLACK_SECS);
    loop {
        match app
            .wait_script("the idle lock", &locked_without(&secret))
            .await
        {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(e).context("locked after a minute without input, no message text");
            }
            Err(_) => {}
        }
    }
    w.shot(&app, "locked", false).await?;

    // An emergency rings through the lock and says to unlock.
    let notifications = NotificationLog::start(&w.tmp.path().join("notify-lock.log"))?;
    w.bob.run(&[
        "send",
        "--with",
        "dr.patel",
        "--emergency",
        "Lock test: I fell again.",
    ])?;
    w.bob.run(&["sync"])?;
    app.wait("lock-emergency")
        .await
        .context("the locked app shows the emergency ringing")?;
    notifications
        .wait_for("EMERGENCY from a patient")
        .await
        .context("a notification without the patient's name")?;
    app.wait_script("still no message text", &locked_without("I fell again"))
        .await?;
    w.shot(&app, "locked-emergency", true).await?;

    // A wrong PIN is refused with the tries left; the right one unlocks.
    app.fill("unlock-secret", "1357").await?;
    app.click("unlock-submit").await?;
    app.wait_until("[data-testid=unlock-error]", "a wrong PIN", |found| {
        found.iter().any(|(t, _)| t.contains("4 tries left"))
    })
    .await?;
    let named_again = NotificationLog::start(&w.tmp.path().join("notify-unlocked.log"))?;
    app.fill("unlock-secret", "8203").await?;
    app.click("unlock-submit").await?;
    app.wait("chat-layout").await.context("unlocked")?;
    // Unlocked, the emergency's notification names the patient again, as before the lock.
    named_again
        .wait_for("EMERGENCY: Bob Kowalski")
        .await
        .context("the ringing emergency's notification named again after unlocking")?;
    // Still alerting (this box has no sound device, so the banner offers no "Silence this
    // device": the alert shows, and it is the banner's state that says so).
    app.wait_css(ALERTING)
        .await
        .context("the emergency still rings after unlocking")?;

    // A reply half written when the desktop's screen locks (its screen saver says so on the
    // session bus): the app locks too, the shell holds the draft meanwhile (the page has none),
    // and the password unlocks it with the draft back in the composer.
    let draft = "Half written: please measure again tonight and";
    app.fill("message-input", draft).await?;
    // What was shown while unlocked leaves the screen when the app locks, and the emergency
    // still ringing is shown again, naming nobody.
    let closed = NotificationLog::closes(&w.tmp.path().join("notify-lock-closed.log"))?;
    let shown_again = NotificationLog::start(&w.tmp.path().join("notify-lock-again.log"))?;
    let sent = std::process::Command::new("dbus-send")
        .args([
            "--session",
            "--type=signal",
            "/org/freedesktop/ScreenSaver",
            "org.freedesktop.ScreenSaver.ActiveChanged",
            "boolean:true",
        ])
        .status()
        .context("dbus-send")?;
    if !sent.success() {
        bail!("dbus-send failed: {sent}");
    }
    app.wait_script("the screen-lock lock", &locked_without(&secret))
        .await
        .context("the app locks with the screen")?;
    app.wait_script("no draft in the locked page", &locked_without(draft))
        .await?;
    closed
        .wait_for("CloseNotification")
        .await
        .context("the notifications shown before the lock are withdrawn")?;
    shown_again
        .wait_for("EMERGENCY from a patient")
        .await
        .context("the ringing emergency shown again without a name")?;
    if shown_again.text().contains("Bob Kowalski") {
        bail!("a notification named the patient while locked");
    }
    app.fill("unlock-secret", PASSWORD).await?;
    app.click("unlock-submit").await?;
    app.wait("chat-layout")
        .await
        .context("the password unlocks")?;
    app.wait_script("the draft back in the composer", &composer_holds(draft)?)
        .await?;

    // IT ends the doctor's sessions: the app shows the login screen within seconds.
    let data_dir = {
        let slot = w.server.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().context("the server")?.data_dir.clone()
    };
    let out = std::process::Command::new(binary("clinic-server")?)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["sessions", "revoke", "--user", "dr.patel"])
        .output()
        .context("clinic-server sessions revoke")?;
    if !out.status.success() {
        bail!("sessions revoke: {}", String::from_utf8_lossy(&out.stderr));
    }
    app.wait("login-form")
        .await
        .context("a revoked session shows the login screen")?;
    w.shot(&app, "session-revoked", false).await?;
    // A page that starts again does not show the ended session, and says why it ended.
    w.reload(&app).await?;
    app.wait_until(
        "[data-testid=login-error]",
        "the revoked session's sentence after a reload",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("Your session has ended"))
        },
    )
    .await?;
    w.close(app).await?;
    drop(driver);

    // Bob's emergency is still open: his own locked app says where it stands and the number to
    // call, from the page's memory when it locks (Ctrl+L) and from the shell's snapshot after a
    // restart, still locked.
    let bob = w.profile("bob-lock");
    let (driver, app) = w.app(&bob).await?;
    log_in(&app, &w.url, "bob", &w.code).await?;
    app.script("window.dispatchEvent(new KeyboardEvent('keydown', { key: 'l', ctrlKey: true }));")
        .await?;
    let own = "[data-testid=lock-own-emergency]";
    let says = |found: &[(String, _)]| {
        found
            .iter()
            .any(|(t, _)| t.starts_with("Your emergency is open.") && t.contains("call"))
    };
    app.wait_until(own, "bob's emergency on his lock screen", says)
        .await?;
    w.close(app).await?;
    drop(driver);
    let (driver, app) = w.app(&bob).await?;
    app.wait_until(own, "after a restart, from the shell", says)
        .await?;
    app.wait_script("still no message text", &locked_without("I fell again"))
        .await?;
    w.shot(&app, "locked-patient-emergency", false).await?;

    // A wrong password: he set no PIN, so none is named.
    app.fill("unlock-secret", "not his password").await?;
    app.click("unlock-submit").await?;
    app.wait_until("[data-testid=unlock-error]", "a wrong try", |found| {
        found
            .iter()
            .any(|(t, _)| t.starts_with("Wrong password. 4 tries left"))
    })
    .await?;

    // With the server down he presses again from the lock screen, with no password (as a
    // phone's emergency call): it says it has not reached the clinic, after a restart too (the
    // shell's lock, no page memory), and says it is open once it is delivered, still locked.
    let (addr, data_dir) = w.kill_server()?;
    let press = "Locked out press: dizzy again.";
    app.click("emergency-button").await?;
    app.wait("emergency-dialog-offline")
        .await
        .context("the dialog says he is offline")?;
    app.fill("emergency-text", press).await?;
    app.click("emergency-confirm-send").await?;
    let unsent = |found: &[(String, _)]| {
        found.iter().any(|(t, _)| {
            t.starts_with("Your emergency has not reached the clinic yet. You are offline")
                && t.contains("call")
        })
    };
    app.wait_until(own, "his unsent press on the lock screen", unsent)
        .await?;
    w.close(app).await?;
    drop(driver);
    // Someone used up his wrong tries meanwhile (written into the lock's state in the session's
    // encrypted cache while the app is closed, as the real tries would after waits of 30 and
    // 60 s): the restarted app takes no more, and logs out only once the press has reached the
    // clinic.
    use_up_tries(&bob)?;
    let (driver, app) = w.app(&bob).await?;
    app.wait_until(
        own,
        "his unsent press after a restart, from the shell",
        unsent,
    )
    .await?;
    app.wait("unlock-ran-out")
        .await
        .context("no more tries, and the logout waits for the press")?;
    app.wait_script("no text of the press", &locked_without(press))
        .await?;
    w.shot(&app, "locked-patient-unsent", false).await?;
    w.restart_server(addr, &data_dir)?;
    app.wait_until(
        "[data-testid=login-error]",
        "logged out once the press was delivered",
        |found| {
            found.iter().any(|(t, _)| {
                t.contains("you were logged out once your emergency had reached the clinic")
            })
        },
    )
    .await?;

    // Signed in again, the press is his message in the conversation with his doctor,
    // delivered once.
    log_in(&app, &w.url, "bob", &w.code).await?;
    app.click("conversation-dr.patel").await?;
    // Opened at the first message she has not read: her press, the newest, is further down.
    super::receipts::scroll_list(&app, false).await?;
    app.wait_until(
        "[data-testid=message][data-mine=true]:not([data-status=SENDING])",
        "the press from the lock screen, sent",
        |found| found.iter().filter(|(t, _)| t.contains(press)).count() == 1,
    )
    .await?;

    // What he writes is kept by the shell once he pauses, and is back after the app is closed
    // without locking (as a crash or a power cut would end it).
    let draft = "Half written before a crash: the dizziness started after";
    app.fill("message-input", draft).await?;
    w.wait_call(&app, "save_draft", |args| args["text"] == draft)
        .await
        .context("the draft saved once typing paused")?;
    w.close(app).await?;
    drop(driver);
    let (driver, app) = w.app(&bob).await?;
    // A shared computer's app may start locked; the draft waits behind the lock either way.
    app.wait_css("[data-testid=lock-screen], [data-testid=chat-layout]")
        .await?;
    let locked = app
        .script("return document.querySelector('[data-testid=lock-screen]') !== null;")
        .await?;
    if locked == serde_json::Value::Bool(true) {
        app.wait_script("no draft in the locked page", &locked_without(draft))
            .await?;
        app.fill("unlock-secret", PASSWORD).await?;
        app.click("unlock-submit").await?;
    }
    app.wait("chat-layout")
        .await
        .context("bob after the restart")?;
    app.click("conversation-dr.patel").await?;
    app.wait_script(
        "the draft back in the composer after a restart",
        &composer_holds(draft)?,
    )
    .await?;
    w.close(app).await?;
    drop(driver);

    // The app was closed after his press had gone but before it logged out: the restarted app
    // logs out at once, maybe before its page is up, and the page still says why (not that an
    // emergency went: this run of the app saw none), and that his emergency is still open at
    // the clinic.
    use_up_tries(&bob)?;
    let (driver, app) = w.app(&bob).await?;
    app.wait_until(
        "[data-testid=login-error]",
        "why a restart logged out at once",
        |found| {
            found.iter().any(|(t, _)| {
                t.contains("Too many wrong tries to unlock: you were logged out")
                    && !t.contains("had reached the clinic")
                    && t.contains("Your emergency is still open at the clinic")
            })
        },
    )
    .await?;
    // A page that starts again (its webview reloaded) still says it: the shell keeps why the
    // session ended until another starts.
    w.reload(&app).await?;
    app.wait_until(
        "[data-testid=login-error]",
        "why, after the page reloaded",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("Too many wrong tries to unlock: you were logged out"))
        },
    )
    .await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// Locks the session in `profile` (its app closed) with its wrong tries used up, in the
/// lock's state inside the session's encrypted cache, with the key from the keyring as the app
/// keeps it.
fn use_up_tries(profile: &Path) -> Result<()> {
    let profile = clinic_client::Profile::new(profile);
    let session = profile.load_session()?.context("no session")?;
    let cache = clinic_client::Cache::open_with_store(
        &profile.cache_path(&session),
        &clinic_client::KeyringStore::new(),
        &session.account(),
    )?
    .cache;
    let state = cache.lock_state()?.context("no lock state in the cache")?;
    let mut state: serde_json::Value = serde_json::from_str(&state)?;
    state["failures"] = 5.into();
    state["locked"] = true.into();
    cache.set_lock_state(&state.to_string())?;
    Ok(())
}
