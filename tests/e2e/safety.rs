//! The emergency-safety scenarios (issue 12): a doctor on do-not-disturb still sees an
//! emergency with what the patient wrote and can acknowledge it, "Open chat" jumps to the
//! emergency message, a second Emergency press joins the open emergency, an emergency nobody
//! answers tells the patient the clinic's emergency number, a resolution stays in the
//! conversation (after a restart too), and a device without sound says so. Each leaves no
//! emergency open behind it, so the scenarios around it start from a quiet clinic.

use super::{World, click_css, log_in, signed_in};
use anyhow::{Context, Result, bail};
use clinic_e2e::{App, Cli, Server};

/// What bob writes in the do-not-disturb scenario: long enough for the banner to cut it.
const BOB_EMERGENCY: &str = "My chest hurts and my left arm is numb. I am alone at home and \
    I feel dizzy when I stand up; I took my tablets an hour ago and it did not help.";

/// The open (not resolved) emergencies of `patient_name`, as a doctor's CLI lists them.
pub(super) fn open_of(doctor: &Cli, patient_name: &str) -> Result<Vec<(String, String)>> {
    let open: Vec<serde_json::Value> =
        serde_json::from_str(&doctor.run(&["emergencies", "--json"])?)?;
    Ok(open
        .iter()
        .filter(|e| e["patientName"] == patient_name && e["state"] != "RESOLVED")
        .filter_map(|e| {
            Some((
                e["id"].as_str()?.to_owned(),
                e["state"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// Resolves every open emergency of `patient_name` (earlier scenarios leave some acknowledged).
pub(super) fn resolve_all(doctor: &Cli, patient_name: &str) -> Result<()> {
    for (id, _) in open_of(doctor, patient_name)? {
        doctor.run(&[
            "emergency",
            "resolve",
            &id,
            "--note",
            "end-to-end test: resolved",
        ])?;
    }
    Ok(())
}

/// Do-not-disturb mutes, never hides: the doctor sees the banner with bob's words, its age and
/// Acknowledge, with nothing ringing; "Open chat" scrolls the conversation to the emergency
/// (above later messages) and highlights it; acknowledging says who took it.
pub(super) async fn dnd_doctor_sees_emergency(w: &World) -> Result<()> {
    resolve_all(&w.nguyen, "Bob Kowalski")?;
    let (driver, app) = w.app(&w.profile("dr.nguyen")).await?;
    signed_in(w, &app, "dr.nguyen")
        .await
        .context("dr.nguyen signed in")?;
    w.nguyen.run(&["availability", "dnd"])?;
    // Each step says what it was: a clean-clone run once failed here with only "webdriver
    // returned error:" (the next scenario's app then did not start in time either).
    w.outside(&app, "availability-set-elsewhere")
        .await
        .context("the transcript read after the availability set elsewhere")?;
    app.wait("dnd-indicator")
        .await
        .context("the top bar says do not disturb")?;

    w.bob
        .run(&["send", "--with", "dr.nguyen", "--emergency", BOB_EMERGENCY])?;
    // Later messages push the emergency above the fold.
    for i in 1..=25 {
        w.bob
            .run(&["send", "--with", "dr.nguyen", &format!("later message {i}")])?;
    }
    w.bob.run(&["sync"])?;
    let raised = open_of(&w.nguyen, "Bob Kowalski")?;
    let [(id, _)] = raised.as_slice() else {
        bail!("bob should have one open emergency: {raised:?}");
    };
    // Other scenarios may leave emergencies open: this one's row, by its id.
    let item = format!("[data-testid=emergency-item][data-emergency-id=\"{id}\"]");
    app.wait_css(&item)
        .await
        .context("the banner shows on do-not-disturb")?;
    app.wait("banner-dnd")
        .await
        .context("the banner says do not disturb")?;
    app.wait_until(
        &format!("{item} [data-testid=emergency-text]"),
        "the patient's words in the banner",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("My chest hurts and my left arm is numb."))
        },
    )
    .await?;
    app.wait_until(
        &format!("{item} [data-testid=emergency-age]"),
        "its age",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("raised just now") || t.contains(" s ago"))
        },
    )
    .await?;
    app.wait_css(&format!("{item} [data-testid=emergency-acknowledge]"))
        .await
        .context("the emergency's Acknowledge")?;
    // Shown, not rung: on do-not-disturb the device rings only once the emergency escalates
    // (two minutes, longer than this scenario waits).
    app.wait_css("[data-testid=emergency-banner][data-alerting=false]")
        .await
        .context("the device not ringing on do-not-disturb")?;
    w.shot(&app, "dnd-emergency", false)
        .await
        .context("the screenshot of the emergency on do-not-disturb")?;

    click_css(&app, &format!("{item} [data-testid=emergency-open-chat]")).await?;
    app.wait_until(
        "[data-highlighted=true] [data-testid=message]",
        "the emergency message scrolled to and highlighted",
        |found| found.iter().any(|(t, _)| t.contains("My chest hurts")),
    )
    .await?;
    // A patient new to this doctor is named (not "?"), once the core has learnt the contact.
    app.wait_until("[data-testid=chat-title]", "the patient's name", |found| {
        found.iter().any(|(t, _)| t.contains("Bob Kowalski"))
    })
    .await?;
    w.shot(&app, "emergency-open-chat", false).await?;

    // Taken from the keyboard, as a doctor who does not reach for the mouse: Ctrl+E from the
    // conversation brings the focus to the banner's Acknowledge, Enter takes it (the mouse's
    // way is the other scenarios').
    app.press(&['\u{E009}', 'e']).await?;
    app.wait_script(
        "Ctrl+E brings the focus to this emergency's Acknowledge",
        &format!(
            "const f = document.activeElement; \
             return f?.dataset.testid === 'emergency-acknowledge' && !!f.closest({});",
            serde_json::to_string(&item)?
        ),
    )
    .await?;
    app.press(&['\u{E007}']).await?;
    app.wait_until(
        &format!("{item} [data-testid=emergency-taken-by]"),
        "who took it (this doctor: 'you') and when",
        |found| found.iter().any(|(t, _)| t.contains("Acknowledged by you")),
    )
    .await?;
    w.nguyen.run(&["availability", "available"])?;
    app.wait_gone("dnd-indicator").await?;
    resolve_all(&w.nguyen, "Bob Kowalski")?;
    app.wait_script(
        "bob's row gone once resolved",
        &format!("return document.querySelector('{item}') === null"),
    )
    .await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// The patient presses Emergency twice: the second joins the open emergency (one emergency,
/// both messages), and the status line follows that one emergency.
pub(super) async fn second_emergency_joins(w: &World) -> Result<()> {
    resolve_all(&w.patel, "Alice Martin")?;
    let (driver, app) = w.app(&w.profile("alice")).await?;
    signed_in(w, &app, "alice").await?;
    app.click("conversation-dr.patel").await?;
    for text in ["First press: I fell.", "Second press: still on the floor."] {
        app.click("emergency-button").await?;
        app.fill("emergency-text", text).await?;
        app.click("emergency-confirm-send").await?;
        app.wait_until(
            "[data-testid=message][data-mine=true]:not([data-status=SENDING])",
            "the emergency sent",
            |found| found.iter().any(|(t, _)| t.contains(text)),
        )
        .await?;
    }
    app.wait_css("[data-testid=emergency-status][data-state=raised]")
        .await
        .context("the status follows the one open emergency")?;
    let open = open_of(&w.patel, "Alice Martin")?;
    if open.len() != 1 {
        bail!("two presses opened {} emergencies: {open:?}", open.len());
    }
    w.shot(&app, "second-emergency-joins", false).await?;
    resolve_all(&w.patel, "Alice Martin")?;
    app.wait_css("[data-testid=emergency-status][data-state=resolved]")
        .await?;
    app.wait_until(
        "[data-testid=emergency-status]",
        "who resolved it, and the note",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("Resolved by Dr. Asha Patel: end-to-end test: resolved"))
        },
    )
    .await?;
    resolution_under_last_press(&app).await?;
    w.close(app).await?;
    drop(driver);
    // After a restart the conversation still says who resolved it and the note: the shell's
    // cache has the resolved emergency (it is not in the snapshot of open ones).
    let (driver, app) = w.app(&w.profile("alice")).await?;
    signed_in(w, &app, "alice").await?;
    app.click("conversation-dr.patel").await?;
    // Opened at the first message she has not read: the resolution is under her last press.
    super::receipts::scroll_list(&app, false).await?;
    resolution_under_last_press(&app)
        .await
        .context("after a restart")?;
    w.shot(&app, "resolution-in-conversation", false).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// The conversation says who resolved the emergency and the note, under its second press only.
async fn resolution_under_last_press(app: &App) -> Result<()> {
    let said = "Emergency resolved by Dr. Asha Patel";
    app.wait_until(
        ".message-row:has([data-testid=resolution-note])",
        "who resolved it and the note, under the second press",
        |rows| {
            rows.iter().any(|(t, _)| {
                t.contains("Second press: still on the floor.")
                    && t.contains(said)
                    && t.contains("end-to-end test: resolved")
            }) && !rows.iter().any(|(t, _)| t.contains("First press: I fell."))
        },
    )
    .await?;
    Ok(())
}

/// The number the guidance scenario's server is configured with, as clinic IT would.
const CLINIC_PHONE: &str = "+44 20 7946 0000";

/// A server of its own with `--emergency-phone` and a short repeat interval: the patient sees the
/// number in the emergency dialog, and once nobody has acknowledged after the repeat interval,
/// the status says so with the time since and the number.
pub(super) async fn unanswered_emergency_shows_number(w: &World) -> Result<()> {
    let server = Server::start_with(
        &w.tmp.path().join("guidance-server"),
        "127.0.0.1:0",
        &[
            "--emergency-phone",
            CLINIC_PHONE,
            "--emergency-repeat-secs",
            "3",
        ],
    )?;
    let (driver, app) = w.app(&w.profile("alice-guidance")).await?;
    log_in(&app, &server.url(), "alice", &server.pairing_code).await?;
    app.click("conversation-dr.patel").await?;
    app.click("emergency-button").await?;
    app.wait_until(
        "[data-testid=emergency-dialog-phone]",
        "the number in the dialog",
        |found| found.iter().any(|(t, _)| t.contains(CLINIC_PHONE)),
    )
    .await?;
    app.fill("emergency-text", "I cannot breathe properly.")
        .await?;
    app.click("emergency-confirm-send").await?;
    app.wait_css("[data-testid=emergency-status][data-state=unanswered]")
        .await
        .context("nobody answered after the repeat interval")?;
    app.wait_until(
        "[data-testid=emergency-status]",
        "the time since and the number",
        |found| {
            found.iter().any(|(t, _)| {
                t.contains("No doctor has answered yet (raised") && t.contains(CLINIC_PHONE)
            })
        },
    )
    .await?;
    w.shot(&app, "emergency-unanswered", false).await?;
    app.click("settings-button").await?;
    app.click("logout-button").await?;
    app.wait("login-form").await?;
    w.close(app).await?;
    drop(driver);
    server.kill();
    Ok(())
}

/// The e2e box has no sound device: the test alert says the sound did not play (and what did
/// work), and the app then says this device cannot ring.
pub(super) async fn device_without_sound_says_so(w: &World) -> Result<()> {
    let (driver, app) = w.app(&w.profile("dr.okafor")).await?;
    signed_in(w, &app, "dr.okafor").await?;
    // Said from the start, before anything rang.
    app.wait_until(
        "[data-testid=device-warning]",
        "the warning at start",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("This device cannot ring"))
        },
    )
    .await?;
    app.click("settings-button").await?;
    app.click("send-test-alert").await?;
    app.wait_until(
        "[data-testid=test-alert-result]",
        "the test alert's report",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("Sound: did not play (no sound device)."))
        },
    )
    .await?;
    w.shot(&app, "test-alert-no-sound", false).await?;
    app.click("settings-close").await?;
    app.wait_until("[data-testid=device-warning]", "the warning", |found| {
        found
            .iter()
            .any(|(t, _)| t.contains("This device cannot ring"))
    })
    .await?;
    w.shot(&app, "device-cannot-ring", false).await?;

    // A small window (800 x 600) with the warnings and an emergency above the conversation
    // still leaves room to read it: the banner's list scrolls past a quarter of the height.
    // (Bob writes to his own doctor, and dr.okafor opens carol's conversation: bob stays new
    // to him for the care scenario.)
    w.bob.run(&[
        "send",
        "--with",
        "dr.patel",
        "--emergency",
        "Small window: I feel faint.",
    ])?;
    w.bob.run(&["sync"])?;
    app.wait_until(
        "[data-testid=emergency-item]",
        "bob's emergency in the banner",
        |found| found.iter().any(|(t, _)| t.contains("Bob")),
    )
    .await?;
    app.click("new-conversation").await?;
    app.fill("patient-search", "carol").await?;
    app.click("patient-result-carol").await?;
    app.wait_attr("conversation-carol", "data-active", "true")
        .await?;
    app.wait("message-list").await?;
    app.set_window_size(800, 600).await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let height = app
        .script(
            "return document.querySelector('[data-testid=message-list]')\
             .getBoundingClientRect().height;",
        )
        .await?
        .as_f64()
        .unwrap_or_default();
    w.shot(&app, "doctor-800x600", false).await?;
    resolve_all(&w.patel, "Bob Kowalski")?;
    if height < 120.0 {
        bail!("at 800 x 600 the conversation has {height} px left to show messages");
    }
    w.close(app).await?;
    drop(driver);
    Ok(())
}
