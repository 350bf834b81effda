//! The care relation in the real window (issue 12): a doctor who acknowledges another doctor's
//! patient's emergency gets the conversation with them, sees the patient panel and replies, and
//! the reply reaches the patient; the emergency's notification is withdrawn once it is handled;
//! the patient picker opens a conversation with any patient; a patient sees "Do not disturb"
//! for a doctor on it.

use super::{MY_SETTLED, World, click_css, safety, signed_in};
use anyhow::{Context, Result, bail};
use clinic_e2e::NotificationLog;

const BOB_SOS: &str = "I slipped in the bathroom and cannot get up.";
const REPLY: &str = "Dr. Okafor here: I am calling you now, stay where you are.";

/// Kills a background CLI (`tail`) when the scenario ends, passed or failed.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) async fn care_for_another_doctors_patient(w: &World) -> Result<()> {
    safety::resolve_all(&w.patel, "Bob Kowalski")?;
    let (driver, app) = w.app(&w.profile("dr.okafor")).await?;
    signed_in(w, &app, "dr.okafor").await?;
    app.wait_script(
        "bob not in dr.okafor's list (a patient new to him)",
        "return document.querySelector('[data-testid=conversation-bob]') === null",
    )
    .await?;
    let shown = NotificationLog::start(&w.tmp.path().join("notify-care.log"))?;
    let closed = NotificationLog::closes(&w.tmp.path().join("notify-care-closed.log"))?;

    // Bob's emergency goes to his own doctor; every doctor sees it, dr.okafor too.
    w.bob
        .run(&["send", "--with", "dr.patel", "--emergency", BOB_SOS])?;
    w.bob.run(&["sync"])?;
    let open = safety::open_of(&w.patel, "Bob Kowalski")?;
    let [(id, _)] = open.as_slice() else {
        bail!("bob should have one open emergency: {open:?}");
    };
    let item = format!("[data-testid=emergency-item][data-emergency-id=\"{id}\"]");
    app.wait_css(&item).await.context("the banner")?;
    shown
        .wait_for("EMERGENCY: Bob Kowalski")
        .await
        .context("the emergency's native notification")?;
    if closed.text().contains("CloseNotification") {
        bail!("a notification was withdrawn before anyone handled the emergency");
    }

    click_css(&app, &format!("{item} [data-testid=emergency-acknowledge]")).await?;
    app.wait_css(&format!("{item} [data-testid=emergency-taken]"))
        .await
        .context("acknowledged")?;
    closed
        .wait_for("CloseNotification")
        .await
        .context("the handled emergency's notification is withdrawn")?;

    // Open chat: dr.okafor's own conversation with bob, the patient panel, a composer.
    click_css(&app, &format!("{item} [data-testid=emergency-open-chat]")).await?;
    app.wait_attr("conversation-bob", "data-active", "true")
        .await
        .context("bob in the list, open")?;
    app.wait_until("[data-testid=chat-title]", "the patient's name", |found| {
        found.iter().any(|(t, _)| t.contains("Bob Kowalski"))
    })
    .await?;
    app.wait_until(
        "[data-testid=patient-blood-group]",
        "the blood group",
        |found| found.iter().any(|(t, _)| t.contains("O-")),
    )
    .await
    .context("the patient panel")?;
    app.wait("patient-age").await?;
    app.fill("message-input", REPLY).await?;
    app.click("send-button").await?;
    app.wait_css(MY_SETTLED)
        .await
        .context("the reply acknowledged")?;
    w.bob
        .wait_history("dr.okafor", "dr.okafor's reply", |h| {
            h.iter().any(|m| m["content"] == REPLY)
        })
        .context("the reply reached the patient")?;
    w.shot(&app, "care-acknowledging-doctor-replies", false)
        .await?;

    // The patient picker: any patient of the clinic, by name.
    app.click("new-conversation").await?;
    app.fill("patient-search", "carol").await?;
    app.click("patient-result-carol").await?;
    app.wait_attr("conversation-carol", "data-active", "true")
        .await
        .context("the picked patient's conversation opens")?;
    app.wait_until("[data-testid=chat-title]", "carol's name", |found| {
        found.iter().any(|(t, _)| t.contains("Carol Diaz"))
    })
    .await?;
    w.shot(&app, "care-patient-picker", false).await?;
    safety::resolve_all(&w.patel, "Bob Kowalski")?;
    w.close(app).await?;
    drop(driver);

    // The patient's side: a doctor online on do-not-disturb shows as such, not as Online.
    let _patel_online = Background(w.patel.spawn(&["tail", "--with", "alice"])?);
    w.patel.run(&["availability", "dnd"])?;
    let result = patient_sees_do_not_disturb(w).await;
    w.patel.run(&["availability", "available"])?;
    result
}

async fn patient_sees_do_not_disturb(w: &World) -> Result<()> {
    let (driver, app) = w.app(&w.profile("alice")).await?;
    signed_in(w, &app, "alice").await?;
    app.click("conversation-dr.patel").await?;
    app.wait_until("[data-testid=peer-status]", "Do not disturb", |found| {
        found.iter().any(|(t, _)| t.contains("Do not disturb"))
    })
    .await
    .context("the patient sees the doctor's do-not-disturb")?;
    w.shot(&app, "care-patient-sees-dnd", false).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}
