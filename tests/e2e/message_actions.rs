//! Message actions and links in the real app: a right-click on a message opens the app's own
//! menu (never the browser's), "Copy text" puts the message on the system clipboard (pasted
//! back into the composer to prove it), the menu opens from the keyboard too (Shift+F10), and a
//! link opens through the system's opener (a stand-in `xdg-open` first on PATH logs what it was
//! asked; no browser starts) while the window stays on the app. Then the same chat in dark mode
//! (GTK_THEME=Adwaita:dark), at 800 px (names wrap, whole) and at the narrowest window, and a
//! doctor's emergency banner and resolution form in dark mode, with screenshots of each.

use super::safety::{open_of, resolve_all};
use super::{World, click_css, newest_bubble, signed_in};
use anyhow::{Context, Result, bail};
use clinic_e2e::{App, Driver, start_app};
use std::path::Path;
use std::time::Duration;

const LINK: &str = "https://clinic.example/forms/intake";
const SHIFT: char = '\u{E008}';
const F10: char = '\u{E03A}';
const CONTROL: char = '\u{E009}';
const ESCAPE: char = '\u{E00C}';
/// GTK's dark theme, as a desktop set to dark mode gives it.
const DARK: &str = "Adwaita:dark";

/// A folder with an `xdg-open` that only logs its arguments to `log`.
fn fake_opener(dir: &Path, log: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let script = dir.join("xdg-open");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n", log.display()),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The app on `profile`, with the stand-in opener first on PATH and `extra` in its environment.
async fn app_with(
    w: &World,
    profile: &str,
    bin: &Path,
    extra: &[(&str, &Path)],
) -> Result<(Driver, App)> {
    let path = std::env::var("PATH").unwrap_or_default();
    let path = format!("{}:{path}", bin.display());
    let profile = w.profile(profile);
    let mut env: Vec<(&str, &Path)> = vec![
        ("CLINIC_PROFILE_DIR", &profile),
        ("CLINIC_E2E_TRANSCRIPT", Path::new("1")),
        ("PATH", Path::new(&path)),
    ];
    env.extend_from_slice(extra);
    start_app(&env, &w.app_binary, &w.shots).await
}

/// Opens bob's chat with dr.patel; returns a selector of her newest bubble that says `text`.
async fn open_chat(w: &World, app: &App, text: &str) -> Result<String> {
    signed_in(w, app, "bob").await?;
    click_css(app, "[data-testid=conversation-dr\\.patel]").await?;
    let bubble = "[data-testid=message][data-mine=false]".to_owned();
    app.wait_until(&bubble, "the doctor's message with a link", |found| {
        found.iter().any(|(t, _)| t.contains(text))
    })
    .await?;
    newest_bubble(app, &bubble, text).await
}

pub(super) async fn message_actions(w: &World) -> Result<()> {
    let text = format!("Please fill in the form at {LINK}. <b>Thanks</b>");
    w.patel.run(&["send", "--with", "bob", &text])?;
    w.patel.run(&["sync"])?;
    let bin = w.tmp.path().join("fake-bin");
    let log = w.tmp.path().join("xdg-open.log");
    fake_opener(&bin, &log)?;

    let (driver, app) = app_with(w, "bob-actions", &bin, &[]).await?;
    let target = open_chat(w, &app, "Please fill in the form").await?;
    // Its time line: right-clicked away from the link in the text.
    let bubble = format!("{target} .bubble-meta");
    // Markup in a message is text; the link is the one anchor in it.
    let anchors = app
        .script(&format!(
            "const b = document.querySelector('{target}'); \
             return [b.querySelectorAll('b').length, \
                     [...b.querySelectorAll('a')].map(a => a.getAttribute('href'))];"
        ))
        .await?;
    if anchors != serde_json::json!([0, [LINK]]) {
        bail!("the message should hold one link and no markup, found {anchors}");
    }

    // Right-click: the app's menu, with what this message offers.
    app.right_click(&bubble).await?;
    app.wait_until(
        "[data-testid=message-menu] [role=menuitem]",
        "the message menu",
        |items| {
            let labels: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
            labels == ["Copy text", "Copy link"]
        },
    )
    .await?;
    w.shot(&app, "message-menu", false).await?;
    app.click("message-action-copy-text").await?;
    app.wait_script(
        "the menu closed",
        "return !document.querySelector('[data-testid=message-menu]');",
    )
    .await?;
    // What was copied is on the system clipboard: paste it into the composer.
    app.click("message-input").await?;
    app.press(&[CONTROL, 'v']).await?;
    app.wait_script(
        "the copied text pasted into the composer",
        &format!(
            "return document.querySelector('[data-testid=message-input]').value === {};",
            serde_json::Value::from(text.as_str())
        ),
    )
    .await
    .context("Copy text reached the system clipboard")?;
    app.fill("message-input", "").await?;

    // From the keyboard: Shift+F10 on the focused message, Escape closes.
    app.script(&format!(
        "document.querySelector('{target}').focus(); return true;"
    ))
    .await?;
    app.press(&[SHIFT, F10]).await?;
    app.wait("message-menu")
        .await
        .context("Shift+F10 opens the menu")?;
    app.press(&[ESCAPE]).await?;
    app.wait_script(
        "Escape closed the menu",
        "return !document.querySelector('[data-testid=message-menu]');",
    )
    .await?;

    // A click on the link: the system's opener is asked, the window stays on the app.
    click_css(&app, &format!("{target} [data-testid=message-link]")).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let asked = std::fs::read_to_string(&log).unwrap_or_default();
        if asked.lines().any(|l| l.trim() == LINK) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("xdg-open was not asked to open {LINK}; it logged {asked:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = app.current_url().await?;
    if !url.starts_with("tauri://localhost") {
        bail!("the window left the app for {url}");
    }
    read_disc_stands_out(&app, "light").await?;
    w.shot(&app, "chat-light", false).await?;
    w.close(app).await?;
    drop(driver);

    // Dark mode follows the desktop's theme.
    let (driver, app) = app_with(w, "bob-actions", &bin, &[("GTK_THEME", Path::new(DARK))]).await?;
    open_chat(w, &app, "Please fill in the form").await?;
    app.wait_script(
        "the page in dark mode",
        "return matchMedia('(prefers-color-scheme: dark)').matches;",
    )
    .await
    .context("WebKitGTK follows GTK_THEME=Adwaita:dark")?;
    read_disc_stands_out(&app, "dark").await?;
    w.shot(&app, "chat-dark", false).await?;
    // At 800 px the list narrows: a name wraps to a second line rather than lose its end.
    app.set_window_size(800, 600).await?;
    app.wait_script(
        "every name whole at 800 px",
        "return window.innerWidth <= 820 && \
                [...document.querySelectorAll('.conversation-name')].every((n) => \
                    n.scrollHeight <= n.clientHeight + 1 && n.scrollWidth <= n.clientWidth + 1);",
    )
    .await
    .context("names readable at 800 px")?;
    w.shot(&app, "chat-dark-800", false).await?;
    // The narrowest window still works: the conversation list shows avatars only.
    app.set_window_size(560, 720).await?;
    app.wait_script(
        "the window at 560 px",
        "return window.innerWidth <= 600 && \
                document.querySelector('[data-testid=message-input]').offsetWidth > 200;",
    )
    .await
    .context("a usable composer at the minimum width")?;
    w.shot(&app, "chat-dark-narrow", false).await?;
    w.close(app).await?;
    drop(driver);
    emergency_in_dark(w, &bin).await
}

/// The read mark of the newest read message of mine stands out from its bubble (a graphic that
/// carries meaning: at least 3:1 against each colour of the bubble's gradient, with the
/// opacity of everything around it).
pub(super) async fn read_disc_stands_out(app: &App, theme: &str) -> Result<()> {
    let seen = app
        .script(
            "const t = [...document.querySelectorAll( \
                 '[data-testid=message][data-mine=true] .ticks-double-read')].at(-1); \
             if (!t) return null; \
             const bubble = t.closest('.bubble'); \
             let op = 1; \
             for (let e = t; e && e !== bubble; e = e.parentElement) \
                 op *= Number(getComputedStyle(e).opacity); \
             const style = getComputedStyle(bubble); \
             const stops = style.backgroundImage.match(/rgba?\\([^)]*\\)/g) \
                 ?? [style.backgroundColor]; \
             const rgb = (c) => c.match(/[0-9.]+/g).slice(0, 3).map(Number); \
             const lum = (c) => { const [r, g, b] = c.map((v) => { const s = v / 255; \
                 return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; }); \
                 return 0.2126 * r + 0.7152 * g + 0.0722 * b; }; \
             const disc = rgb(getComputedStyle(t).color); \
             return Math.min(...stops.map((s) => { const b = rgb(s); \
                 const seen = disc.map((v, i) => v * op + b[i] * (1 - op)); \
                 const [x, y] = [lum(seen), lum(b)]; \
                 return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }));",
        )
        .await?;
    let contrast = seen
        .as_f64()
        .with_context(|| format!("no read message of mine in the {theme} chat: {seen}"))?;
    if contrast < 3.0 {
        bail!("the read mark is faint on its bubble in the {theme} theme (contrast {contrast:.2})");
    }
    Ok(())
}

/// A doctor's emergency banner and the resolution form in dark mode (their colours are the
/// ones that must read at a glance); the emergency is resolved again at the end.
async fn emergency_in_dark(w: &World, bin: &Path) -> Result<()> {
    resolve_all(&w.nguyen, "Bob Kowalski")?;
    let (driver, app) = app_with(w, "nguyen-dark", bin, &[("GTK_THEME", Path::new(DARK))]).await?;
    signed_in(w, &app, "dr.nguyen").await?;
    w.bob.run(&[
        "send",
        "--with",
        "dr.nguyen",
        "--emergency",
        "Dark mode check: I feel dizzy and short of breath.",
    ])?;
    w.bob.run(&["sync"])?;
    let raised = open_of(&w.nguyen, "Bob Kowalski")?;
    let [(id, _)] = raised.as_slice() else {
        bail!("bob should have one open emergency: {raised:?}");
    };
    let item = format!("[data-testid=emergency-item][data-emergency-id=\"{id}\"]");
    app.wait_css(&format!("{item} [data-testid=emergency-acknowledge]"))
        .await
        .context("the banner in dark mode")?;
    w.shot(&app, "emergency-dark", false).await?;
    click_css(&app, &format!("{item} [data-testid=emergency-acknowledge]")).await?;
    click_css(&app, &format!("{item} [data-testid=emergency-resolve]")).await?;
    app.wait_until(
        &format!("{item} [data-testid=emergency-resolve-hint]"),
        "the note's word-for-word hint",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains("The patient sees this note word for word."))
        },
    )
    .await?;
    app.fill(
        "emergency-resolve-note",
        "Called back; breathing calmly now.",
    )
    .await?;
    w.shot(&app, "emergency-resolve-dark", false).await?;
    click_css(
        &app,
        &format!("{item} [data-testid=emergency-resolve-submit]"),
    )
    .await?;
    app.wait_script(
        "the emergency resolved",
        &format!(
            "return !document.querySelector('{}');",
            item.replace('\'', "\\'")
        ),
    )
    .await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}
