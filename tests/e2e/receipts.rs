//! True receipts in the real window: a message is read only when the app's window has the focus
//! and the message is on screen. Dr. Nguyen's app with Bob (the CLI) writing: nothing is read
//! while another program is in front or while the message is scrolled out of view, and it is
//! read once both hold; a conversation opens at its first unread message, so what is below it
//! stays unread until scrolled to (a reader's scrolling, not a jump over it). Bob's own history
//! (from the server) is what says "read".

use super::{World, signed_in};
use anyhow::{Context, Result, bail};
use clinic_e2e::App;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The status Bob's copy (from the server) of his message `text` has.
fn status_for_bob(w: &World, text: &str) -> Result<String> {
    let history = w.bob.history("dr.nguyen")?;
    let found = history
        .iter()
        .find(|m| m["content"] == text)
        .with_context(|| format!("{text:?} in bob's history"))?;
    Ok(found["status"].as_str().unwrap_or_default().to_owned())
}

/// Waits until Bob's copy of `text` is READ.
fn read_for_bob(w: &World, text: &str) -> Result<()> {
    w.bob
        .wait_history("dr.nguyen", &format!("{text:?} read"), |h| {
            h.iter()
                .any(|m| m["content"] == text && m["status"] == "READ")
        })
        .map(drop)
}

/// The message stays unread for Bob once the app has it: two seconds is many times the app's
/// own path from "seen" to the server.
async fn stays_unread(w: &World, app: &App, text: &str, shot: &str) -> Result<()> {
    let quoted = serde_json::to_string(text)?;
    app.wait_script(
        &format!("{text:?} to reach the app"),
        &format!(
            "return (window.__CLINIC_TRANSCRIPT__ || []).some(l => l.kind === 'event'
               && l.event.type === 'message' && l.event.message.content === {quoted});"
        ),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.shot(app, shot, false).await?;
    let status = status_for_bob(w, text)?;
    if status == "READ" {
        bail!("{text:?} was marked read although it was not seen");
    }
    Ok(())
}

/// Another program in front of the app (a small X window given the keyboard focus), as when
/// the doctor switches to the patient records system.
struct OtherProgram(Child);

impl OtherProgram {
    fn focus() -> Result<Self> {
        let child = Command::new("xmessage")
            .args([
                "-geometry",
                "+900+600",
                "-name",
                "other-program",
                "Another program",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xmessage (x11-utils)")?;
        let found = Command::new("xdotool")
            .args([
                "search",
                "--sync",
                "--onlyvisible",
                "--classname",
                "other-program",
            ])
            .output()
            .context("xdotool")?;
        let window = String::from_utf8_lossy(&found.stdout)
            .lines()
            .last()
            .map(str::to_owned)
            .context("the other program's window")?;
        let status = Command::new("xdotool")
            .args(["windowfocus", "--sync", &window])
            .status()?;
        if !status.success() {
            bail!("could not focus the other program");
        }
        Ok(Self(child))
    }
}

impl Drop for OtherProgram {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Gives the app's window the keyboard focus back, as a click on it would.
fn focus_app() -> Result<()> {
    let found = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Clinic Messaging$"])
        .output()
        .context("xdotool")?;
    let window = String::from_utf8_lossy(&found.stdout)
        .lines()
        .last()
        .map(str::to_owned)
        .context("the app's window")?;
    let status = Command::new("xdotool")
        .args(["windowfocus", "--sync", &window])
        .status()?;
    if !status.success() {
        bail!("could not focus the app");
    }
    Ok(())
}

async fn has_focus(app: &App, focused: bool) -> Result<()> {
    app.wait_script(
        if focused {
            "the app to have focus"
        } else {
            "the app to lose focus"
        },
        &format!("return document.hasFocus() === {focused};"),
    )
    .await
}

/// Scrolls the message list to its top or bottom, as a reader would, and waits until it stays
/// there (the app handles a scroll in the frame after it).
pub(super) async fn scroll_list(app: &App, to_top: bool) -> Result<()> {
    let top = if to_top { "0" } else { "el.scrollHeight" };
    // As a reader's wheel does it: the wheel event, then the scroll. The list tells the reader's
    // scrolling from layout's (a resize, a row measured) by the input before it.
    let delta = if to_top { "-1" } else { "1" };
    app.wait_script(
        "the list to stay scrolled",
        &format!(
            "const el = document.querySelector('[data-testid=message-list]');
             const there = {to_top} ? el.scrollTop === 0
               : el.scrollHeight - el.scrollTop - el.clientHeight < 2;
             if (!there) {{
               el.dispatchEvent(new WheelEvent('wheel', {{ deltaY: {delta}, bubbles: true }}));
               el.scrollTop = {top}; window.__settled = 0; return false;
             }}
             window.__settled = (window.__settled || 0) + 1;
             return window.__settled >= 5;"
        ),
    )
    .await
}

/// Scrolls the message list down to its end as a reader does, a third of a view at a time, each
/// step only once the page has drawn the last one (two animation frames: the intersection
/// observer that says what is on screen runs as a frame is drawn, and software rendering under
/// load can take longer than any fixed pause), not in one jump: a message skipped by a jump
/// stays unread, with everything after it.
pub(super) async fn read_down(app: &App) -> Result<()> {
    app.wait_script(
        "the list to be read down to its end",
        "const el = document.querySelector('[data-testid=message-list]');
         if (window.__drawn === false) return false;
         if (el.scrollHeight - el.scrollTop - el.clientHeight < 2) {
           window.__settled = (window.__settled || 0) + 1;
           return window.__settled >= 5;
         }
         window.__settled = 0;
         window.__drawn = false;
         el.dispatchEvent(new WheelEvent('wheel', { deltaY: 1, bubbles: true }));
         el.scrollTop = el.scrollTop + el.clientHeight / 3;
         requestAnimationFrame(() => requestAnimationFrame(() => { window.__drawn = true; }));
         return false;",
    )
    .await
}

pub(super) async fn true_receipts(w: &World) -> Result<()> {
    // A conversation longer than the window.
    let tag = format!("receipts-{}", std::process::id());
    for i in 1..=30 {
        w.bob
            .run(&["send", "--with", "dr.nguyen", &format!("{tag} history {i}")])?;
    }
    w.bob.run(&["sync"])?;

    let (driver, app) = w.app(&w.profile("dr.nguyen")).await?;
    signed_in(w, &app, "dr.nguyen").await?;
    focus_app()?;
    has_focus(&app, true).await?;
    app.click("conversation-bob").await?;
    app.wait("chat-window").await?;
    // Opened at the first unread message, under the "New messages" divider, not at the bottom:
    // the newest, below the fold, is not read until the reader scrolls down to it (opened at the
    // bottom, every message above it was marked read unseen).
    app.wait("unread-divider").await?;
    let newest = format!("{tag} history 30");
    // Two seconds is many times the app's own path from "seen" to the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.shot(&app, "receipt-opened-at-unread", false).await?;
    if status_for_bob(w, &newest)? == "READ" {
        bail!("the newest message, below the fold as the conversation opened, was marked read");
    }
    // Read down to it: a jump to the bottom would pass over the messages between unseen, and
    // they (with the newest) would stay unread.
    read_down(&app).await?;
    if let Err(e) = read_for_bob(w, &newest) {
        // What the page had marked, and what it holds unread: the reason, if it is the page's.
        let state = app
            .script(
                "return {
                   marks: (window.__CLINIC_TRANSCRIPT__ || [])
                     .filter(l => l.kind === 'call' && l.command === 'mark_read')
                     .map(l => [l.args.messageId, 'ok' in l]),
                   unread: [...document.querySelectorAll('[data-testid=message][data-mine=false]')]
                     .filter(b => b.dataset.status !== 'READ')
                     .map(b => b.textContent.slice(0, 40)),
                   focused: document.hasFocus(),
                 };",
            )
            .await
            .unwrap_or_default();
        return Err(e.context(format!(
            "what is on screen in a focused window is read (the page: {state})"
        )));
    }

    // Another program in front: a new message shows in the app but is not read.
    let away = format!("{tag} sent while another program was in front");
    {
        let _other = OtherProgram::focus()?;
        has_focus(&app, false).await?;
        w.bob.run(&["send", "--with", "dr.nguyen", &away])?;
        w.bob.run(&["sync"])?;
        stays_unread(w, &app, &away, "receipt-unfocused")
            .await
            .context("unfocused window")?;
        app.wait_until(
            "[data-testid=message][data-mine=false]",
            "the message on screen",
            |found| found.iter().any(|(t, _)| t.contains(&away)),
        )
        .await?;
    }
    // Back to the app: the message on screen is read.
    focus_app()?;
    has_focus(&app, true).await?;
    read_for_bob(w, &away).context("read once the window has focus again")?;

    // Scrolled up to older messages: a new one arrives below the fold and is not read.
    scroll_list(&app, true).await?;
    let below = format!("{tag} arrived below the fold");
    w.bob.run(&["send", "--with", "dr.nguyen", &below])?;
    w.bob.run(&["sync"])?;
    stays_unread(w, &app, &below, "receipt-below-fold")
        .await
        .context("a message off screen")?;
    // The list says a message arrived below, and its button takes the reader down to it, which
    // reads it.
    app.wait_until(
        "[data-testid=jump-to-latest]",
        "the new messages button",
        |found| found.iter().any(|(t, _)| t.contains("1 new message")),
    )
    .await?;
    app.click("jump-to-latest").await?;
    app.wait_gone("jump-to-latest").await?;
    read_for_bob(w, &below).context("read once scrolled into view")?;
    // Scrolled up and down again by the reader: the list follows the newest message again.
    scroll_list(&app, true).await?;
    scroll_list(&app, false).await?;
    app.wait_css("[data-testid=message][data-mine=false][data-status=READ]")
        .await?;
    w.shot(&app, "receipt-read", false).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}
