//! Unsend in the real app: the patient (bob) opens his message's menu, picks "Unsend" and
//! confirms; his bubble becomes "Message unsent by you at …". Then dr.patel's window shows the
//! tombstone "Message unsent by Bob Kowalski at …" in place of the text, with a screenshot.
//! Last, with dr.patel's window out of sight, a message from bob raises a native notification,
//! and bob unsending it (from the CLI) takes that notification off the screen.

use super::{World, click_css, signed_in};
use anyhow::{Context, Result, bail};
use clinic_e2e::{NotificationLog, set_window_mapped};

const TEXT: &str = "I doubled the dose by mistake, please ignore my last question";
const WITHDRAWN: &str = "Sorry, that photo was meant for my sister";

pub(super) async fn unsend(w: &World) -> Result<()> {
    w.bob.run(&["send", "--with", "dr.patel", TEXT])?;
    w.bob.run(&["sync"])?;

    let (driver, app) = w.app(&w.profile("bob-unsend")).await?;
    signed_in(w, &app, "bob").await?;
    click_css(&app, "[data-testid=conversation-dr\\.patel]").await?;
    let mine = "[data-testid=message][data-mine=true]";
    app.wait_until(mine, "bob's message", |found| {
        found.iter().any(|(t, _)| t.contains(TEXT))
    })
    .await?;
    app.script(&format!(
        "const all = [...document.querySelectorAll('{mine}')] \
             .filter(b => b.textContent.includes({})); \
         all.at(-1).setAttribute('data-e2e-target', ''); return true;",
        serde_json::Value::from(TEXT)
    ))
    .await?;
    app.right_click("[data-e2e-target] .bubble-meta").await?;
    app.wait_until(
        "[data-testid=message-menu] [role=menuitem]",
        "the menu of one's own message",
        |items| {
            let labels: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
            labels == ["Copy text", "Edit", "Unsend"]
        },
    )
    .await?;
    w.shot(&app, "unsend-menu", false).await?;
    app.click("message-action-unsend").await?;
    app.click("message-unsend-confirm").await?;
    app.wait_until(
        "[data-e2e-target] [data-testid=message-tombstone]",
        "bob's tombstone, confirmed by the server",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.starts_with("Message unsent by you at"))
        },
    )
    .await
    .context("the unsend reached the server")?;
    app.wait_script(
        "nothing waiting",
        "return !document.querySelector('[data-testid=message-change-pending]');",
    )
    .await?;
    w.close(app).await?;
    drop(driver);

    let (driver, app) = w.app(&w.profile("patel-unsend")).await?;
    signed_in(w, &app, "dr.patel").await?;
    click_css(&app, "[data-testid=conversation-bob]").await?;
    app.wait_until(
        "[data-testid=message-tombstone]",
        "the tombstone in the doctor's window",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.starts_with("Message unsent by Bob Kowalski at"))
        },
    )
    .await?;
    app.wait_script(
        "the text gone from the doctor's window",
        &format!(
            "return !document.body.textContent.includes({});",
            serde_json::Value::from(TEXT)
        ),
    )
    .await?;
    w.shot(&app, "unsend", true).await?;
    notification_withdrawn(w).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// dr.patel's window is out of sight: bob's message raises a notification, his unsend closes it.
async fn notification_withdrawn(w: &World) -> Result<()> {
    let tmp = w.tmp.path();
    let shown = NotificationLog::start(&tmp.join("notify-unsend.log"))?;
    let closed = NotificationLog::closes(&tmp.join("notify-unsend-closed.log"))?;
    set_window_mapped(false)?;
    w.bob.run(&["send", "--with", "dr.patel", WITHDRAWN])?;
    w.bob.run(&["sync"])?;
    shown
        .wait_for("New message from Bob Kowalski")
        .await
        .context("the new message's native notification")?;
    if closed.text().contains("CloseNotification") {
        bail!("a notification was withdrawn before bob unsent anything");
    }
    let history = w.bob.history("dr.patel")?;
    let id = history
        .iter()
        .rev()
        .find(|m| m["content"] == WITHDRAWN)
        .and_then(|m| m["id"].as_str())
        .context("bob's message id")?
        .to_owned();
    w.bob.run(&["unsend", &id])?;
    let result = closed
        .wait_for("CloseNotification")
        .await
        .context("the unsent message's notification is withdrawn");
    set_window_mapped(true)?;
    result.map(drop)
}
