//! Unsend in the real app: the patient (bob) opens his message's menu, picks "Unsend" and
//! confirms; his bubble becomes "Message unsent by you at …". He edits another message in place:
//! the text he corrects is readable in its box (his bubble's white text does not leak into it),
//! and the edit reaches dr.patel. Then dr.patel's window shows the
//! tombstone "Message unsent by Bob Kowalski at …" in place of the text, with a screenshot.
//! Last, with dr.patel's window out of sight, a message from bob raises a native notification,
//! and bob unsending it (from the CLI) takes that notification off the screen.

use super::{World, click_css, newest_bubble, signed_in};
use anyhow::{Context, Result, bail};
use clinic_e2e::{NotificationLog, set_window_mapped};

const TEXT: &str = "I doubled the dose by mistake, please ignore my last question";
const WITHDRAWN: &str = "Sorry, that photo was meant for my sister";
const TO_EDIT: &str = "I take 50 mg twice a day";
// No capital letters: under Xvfb WebKitWebDriver sometimes types them in lower case.
const EDITED: &str = "25 mg twice a day, not 50";

pub(super) async fn unsend(w: &World) -> Result<()> {
    // The one to edit is the newest, so the conversation list carries an edited last message.
    w.bob.run(&["send", "--with", "dr.patel", TEXT])?;
    w.bob.run(&["send", "--with", "dr.patel", TO_EDIT])?;
    w.bob.run(&["sync"])?;

    let (driver, app) = w.app(&w.profile("bob-unsend")).await?;
    signed_in(w, &app, "bob").await?;
    click_css(&app, "[data-testid=conversation-dr\\.patel]").await?;
    let mine = "[data-testid=message][data-mine=true]";
    app.wait_until(mine, "bob's message", |found| {
        found.iter().any(|(t, _)| t.contains(TEXT))
    })
    .await?;
    let target = newest_bubble(&app, "[data-testid=message][data-mine=true]", TEXT).await?;
    app.right_click(&format!("{target} .bubble-meta")).await?;
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
    app.click_when_still("message-unsend-confirm").await?;
    app.wait_until(
        &format!("{target} [data-testid=message-tombstone]"),
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
    edit_in_place(w, &app).await?;
    w.close(app).await?;
    drop(driver);

    let (driver, app) = w.app(&w.profile("patel-unsend")).await?;
    signed_in(w, &app, "dr.patel").await?;
    click_css(&app, "[data-testid=conversation-bob]").await?;
    // Opened at the first message this doctor has not read: the newest is further down.
    super::receipts::scroll_list(&app, false).await?;
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
    // Her reply Bob read: the read mark stands out on the doctor's green bubble too.
    super::message_actions::read_disc_stands_out(&app, "doctor's").await?;
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

/// Bob corrects a dose in place: the box shows the text he is correcting, readable (contrast
/// of at least 4.5:1 between its text and its background), and the edit reaches dr.patel.
async fn edit_in_place(w: &World, app: &clinic_e2e::App) -> Result<()> {
    let target = newest_bubble(app, "[data-testid=message][data-mine=true]", TO_EDIT).await?;
    app.right_click(&format!("{target} .bubble-meta")).await?;
    app.click("message-action-edit").await?;
    app.wait("message-edit-text").await?;
    let seen = app
        .script(
            "const box = document.querySelector('[data-testid=message-edit-text]'); \
             const style = getComputedStyle(box); \
             const rgb = (c) => c.match(/[0-9.]+/g).slice(0, 3).map(Number); \
             const alpha = (c) => { const v = c.match(/[0-9.]+/g); return v.length > 3 ? Number(v[3]) : 1; }; \
             const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { const s = v / 255; \
                 return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; }); \
                 return 0.2126 * r + 0.7152 * g + 0.0722 * b; }; \
             const [hi, lo] = [lum(style.color), lum(style.backgroundColor)].sort((a, b) => b - a); \
             return { value: box.value, contrast: (hi + 0.05) / (lo + 0.05), \
                      opaque: alpha(style.backgroundColor) === 1, \
                      background: style.backgroundColor, color: style.color };",
        )
        .await?;
    if seen["value"] != TO_EDIT {
        bail!("the edit box does not hold the text being corrected: {seen}");
    }
    // A see-through box shows the bubble behind it: its own colour would say nothing.
    if seen["opaque"] != true {
        bail!("the edit box has no background of its own: {seen}");
    }
    let contrast = seen["contrast"].as_f64().unwrap_or(0.0);
    if contrast < 4.5 {
        bail!("the text in the edit box is not readable (contrast {contrast:.2}): {seen}");
    }
    w.shot(app, "edit-box", false).await?;
    app.fill("message-edit-text", EDITED).await?;
    let typed = app
        .script("return document.querySelector('[data-testid=message-edit-text]').value;")
        .await?;
    if typed != EDITED {
        bail!("the edit box holds {typed} after typing the correction");
    }
    app.click("message-edit-save").await?;
    app.wait_until(
        &format!("{target} [data-testid=message-edited]"),
        "the edit, confirmed by the server",
        |found| found.iter().any(|(t, _)| t.starts_with("edited")),
    )
    .await
    .context("the edit reached the server")?;
    w.patel
        .wait_history("bob", "bob's edit", |history| {
            history.iter().any(|m| m["content"] == EDITED)
                && !history.iter().any(|m| m["content"] == TO_EDIT)
        })
        .context("dr.patel sees the corrected dose")?;
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
