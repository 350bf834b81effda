//! The desktop app driven over WebDriver: tauri-driver starts the real `clinic-desktop` in a real
//! window (WebKitWebDriver underneath), and [`App`] finds elements by their `data-testid`.

use anyhow::{Context, Result, bail};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running tauri-driver whose app processes see `env`; stopped with SIGTERM on drop (SIGKILL
/// would leave WebKitWebDriver holding its port).
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub fn start(env: &[(&str, &Path)]) -> Result<Self> {
        let port = free_port()?;
        let native_port = free_port()?;
        let mut cmd = Command::new("tauri-driver");
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        // The app turns WebKit's compositing off unless this variable is set (see
        // src-tauri/src/compositing.rs). WebKit's WebDriver waits for the page's next paint after
        // a screenshot request and between typed keys, and with compositing off an idle page
        // (no caret blinking) does not paint: screenshots and typing then hang until something
        // on screen changes. So the scenarios keep compositing on, as before, unless the run
        // chose (the benchmarks run the app's own default; they take no screenshots).
        if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
            cmd.env("WEBKIT_DISABLE_COMPOSITING_MODE", "0");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .context("starting tauri-driver (cargo install tauri-driver)")?;
        let driver = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(driver);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("tauri-driver did not listen on {port}")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One app session (one launched app process).
#[derive(Debug)]
pub struct App {
    client: Client,
    shots: PathBuf,
    binary: PathBuf,
}

fn by_testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

impl App {
    pub async fn launch(driver: &Driver, app_binary: &Path, shots: &Path) -> Result<Self> {
        // Already installed by an earlier launch is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app_binary }),
        );
        let mut builder = ClientBuilder::rustls()?;
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = tokio::time::timeout(WAIT, builder.connect(&url))
            .await
            .context("the app did not start within the timeout")?
            .context("WebDriver session")?;
        std::fs::create_dir_all(shots)?;
        Ok(Self {
            client,
            shots: shots.to_owned(),
            binary: app_binary.to_owned(),
        })
    }

    /// With compositing off, WebKitWebDriver's screenshots and typed keys wait for a paint an
    /// idle page never makes (see `Driver::start`). To run the scenarios in the app's default
    /// mode anyway (`WEBKIT_DISABLE_COMPOSITING_MODE=1 CLINIC_E2E_KEEP_PAINTING=1`), a 1-pixel
    /// element in a corner changes colour every 50 ms so the page keeps painting. Off unless
    /// asked: it costs CPU, which the benchmarks must not measure. Idempotent.
    async fn keep_painting(&self) -> Result<()> {
        if std::env::var_os("CLINIC_E2E_KEEP_PAINTING").is_none() {
            return Ok(());
        }
        let script = r#"
            if (!window.__e2ePainting) {
                window.__e2ePainting = setInterval(() => {
                    let d = document.getElementById('e2e-paint');
                    if (!d) {
                        d = document.createElement('div');
                        d.id = 'e2e-paint';
                        d.setAttribute('aria-hidden', 'true');
                        d.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none';
                        document.body.appendChild(d);
                    }
                    d.style.background = d.style.background === 'rgb(0, 0, 1)' ? 'rgb(0, 0, 2)' : 'rgb(0, 0, 1)';
                }, 50);
            }
            return true;
        "#;
        self.client.execute(script, vec![]).await?;
        Ok(())
    }

    /// Waits for an element matching a CSS selector.
    pub async fn wait_css(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for {css}"))
    }

    pub async fn wait(&self, testid: &str) -> Result<Element> {
        self.wait_css(&by_testid(testid)).await
    }

    /// Waits until `check` holds for the elements matching `css` (polling the DOM).
    pub async fn wait_until(
        &self,
        css: &str,
        what: &str,
        check: impl Fn(&[(String, Element)]) -> bool,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut found = Vec::new();
            // A list re-rendering while it is read can fail the lookup ("stale element"):
            // that is "not yet", and the next poll sees the new rows.
            for e in self
                .client
                .find_all(Locator::Css(css))
                .await
                .unwrap_or_default()
            {
                let text = e.text().await.unwrap_or_default();
                found.push((text, e));
            }
            if check(&found) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let texts: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
                bail!("timed out waiting for {what}; saw {texts:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The wall-clock time (Unix ms, this machine's clock) at which an element matching `css`
    /// was first in the DOM, watched with a MutationObserver from now on (now, if it already is),
    /// and the time the page began loading (`performance.timeOrigin`). For start-up benchmarks.
    pub async fn appeared_at(&self, css: &str) -> Result<(f64, f64)> {
        let script = r#"
            const [css, done] = arguments;
            const report = () => done([Date.now(), performance.timeOrigin]);
            if (document.querySelector(css)) return report();
            const seen = new MutationObserver(() => {
                if (document.querySelector(css)) { seen.disconnect(); report(); }
            });
            seen.observe(document, { childList: true, subtree: true });
        "#;
        let found = tokio::time::timeout(WAIT, self.client.execute_async(script, vec![css.into()]))
            .await
            .with_context(|| format!("waiting for {css}"))??;
        let at = |i: usize| found.get(i).and_then(serde_json::Value::as_f64);
        match (at(0), at(1)) {
            (Some(seen), Some(origin)) => Ok((seen, origin)),
            _ => bail!("unexpected answer {found}"),
        }
    }

    /// Waits until a script run in the webview returns `true` (for what the DOM cannot show,
    /// such as "this command has been answered").
    pub async fn wait_script(&self, what: &str, script: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.client.execute(script, vec![]).await? == serde_json::Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, testid: &str) -> Result<()> {
        let e = self.wait(testid).await?;
        self.keep_painting().await?;
        e.click().await.with_context(|| format!("click {testid}"))
    }

    /// Clicks `testid` once it has stopped moving: a control that just appeared inside a list
    /// that is still scrolling to keep its newest row in view would take the click at its old
    /// place (a person's hand takes longer than the scroll).
    pub async fn click_when_still(&self, testid: &str) -> Result<()> {
        let css = serde_json::to_string(&by_testid(testid))?;
        let script = format!(
            "const r = document.querySelector({css})?.getBoundingClientRect(); \
             return r ? [r.x, r.y] : null;"
        );
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = serde_json::Value::Null;
        loop {
            let now = self.script(&script).await?;
            if !now.is_null() && now == last {
                return self.click(testid).await;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{testid} did not stop moving (last at {now})");
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Replaces an input's value with `text` (empties it for "").
    pub async fn fill(&self, testid: &str, text: &str) -> Result<()> {
        let e = self.wait(testid).await?;
        self.keep_painting().await?;
        e.clear().await?;
        if text.is_empty() {
            return Ok(());
        }
        e.send_keys(text)
            .await
            .with_context(|| format!("type into {testid}"))
    }

    pub async fn attr(&self, testid: &str, name: &str) -> Result<Option<String>> {
        Ok(self.wait(testid).await?.attr(name).await?)
    }

    /// Waits until `testid` has `name` = `value`.
    pub async fn wait_attr(&self, testid: &str, name: &str, value: &str) -> Result<()> {
        let css = format!("{}[{name}=\"{value}\"]", by_testid(testid));
        self.wait_css(&css).await.map(drop)
    }

    /// A right-click in the middle of the first element matching `css` (a real pointer event,
    /// so the page's `contextmenu` handling is what is tested).
    pub async fn right_click(&self, css: &str) -> Result<()> {
        use fantoccini::actions::{InputSource, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction};
        let element = self.wait_css(css).await?;
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_RIGHT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_RIGHT,
            });
        self.client
            .perform_actions(mouse)
            .await
            .with_context(|| format!("right-click {css}"))
    }

    /// Presses keys together, in order, then lets them go (e.g. Shift then F10); the focused
    /// element gets them.
    pub async fn press(&self, keys: &[char]) -> Result<()> {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".into());
        for &value in keys {
            actions = actions.then(KeyAction::Down { value });
        }
        for &value in keys.iter().rev() {
            actions = actions.then(KeyAction::Up { value });
        }
        self.client.perform_actions(actions).await.context("keys")?;
        self.client.release_actions().await.context("release keys")
    }

    /// Runs a script in the webview and answers what it returned.
    pub async fn script(&self, script: &str) -> Result<serde_json::Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// The address the webview shows now.
    pub async fn current_url(&self) -> Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// Resizes the window (its inner size is what the page lays out in).
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        Ok(self.client.set_window_size(width, height).await?)
    }

    /// Saves a screenshot of the window as `<name>.png` (and returns its path).
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        // The frame after a DOM change may not be painted yet.
        self.keep_painting().await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = self.client.screenshot().await?;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// The contract transcript the UI recorded since the last call (ui/src/backend.ts records
    /// only in an app started with CLINIC_E2E_TRANSCRIPT=1; without it this fails).
    pub async fn take_transcript(&self) -> Result<Vec<serde_json::Value>> {
        let script =
            "const t = window.__CLINIC_TRANSCRIPT__; return Array.isArray(t) ? t.splice(0) : null;";
        match self.client.execute(script, vec![]).await? {
            serde_json::Value::Array(lines) => Ok(lines),
            _ => bail!("the app recorded no transcript (started without CLINIC_E2E_TRANSCRIPT=1?)"),
        }
    }

    /// Ends the session and makes sure the app process is gone: closing its window only hides
    /// it to the tray, and a leftover instance would make the next launch hand over to it and exit
    /// (the app allows one instance per desktop session).
    pub async fn close(self) -> Result<()> {
        let closed = tokio::time::timeout(WAIT, self.client.close()).await;
        let binary = self.binary.clone();
        tokio::task::spawn_blocking(move || stop_processes_of(&binary)).await??;
        closed
            .context("closing the WebDriver session timed out")?
            .context("closing the WebDriver session")
    }

    /// Sends the app SIGTERM, as a session's end or a shutdown does, and waits until it quits
    /// by itself (closing the WebDriver session kills it instead, so a quit's own work could
    /// not be seen). Killed after 10 s, with an error.
    pub async fn quit_by_sigterm(self) -> Result<()> {
        let binary = self.binary.clone();
        let quit = tokio::task::spawn_blocking(move || {
            let pattern = binary.to_string_lossy().into_owned();
            Command::new("pkill")
                .args(["-TERM", "-f", &pattern])
                .status()?;
            for _ in 0..100 {
                let alive = Command::new("pgrep").args(["-f", &pattern]).output()?;
                if alive.stdout.is_empty() {
                    return Ok(true);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            stop_processes_of(&binary)?;
            Ok::<_, anyhow::Error>(false)
        })
        .await??;
        // The session's browser is gone: nothing to close.
        drop(self.client);
        if !quit {
            bail!("the app did not quit within 10 s of SIGTERM");
        }
        Ok(())
    }
}

/// Stops every process running `binary` (SIGTERM, then SIGKILL after 5 s) and waits for them.
fn stop_processes_of(binary: &Path) -> Result<()> {
    let pattern = binary.to_string_lossy().into_owned();
    let _ = Command::new("pkill")
        .args(["-TERM", "-f", &pattern])
        .status();
    for _ in 0..50 {
        let alive = Command::new("pgrep").args(["-f", &pattern]).output()?;
        if alive.stdout.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", &pattern])
        .status();
    Ok(())
}

/// Answers the app's native "Attach a file" dialog as a person would: focus it, open the
/// location field (Ctrl+L), type the path, press Enter. WebDriver cannot reach native dialogs.
pub fn choose_in_file_dialog(path: &Path) -> Result<()> {
    let find = Command::new("xdotool")
        .args([
            "search",
            "--sync",
            "--onlyvisible",
            "--name",
            "Attach a file",
        ])
        .output()
        .context("xdotool (apt-get install xdotool)")?;
    let window = String::from_utf8_lossy(&find.stdout)
        .lines()
        .last()
        .map(str::to_owned)
        .context("the file dialog did not open")?;
    let run = |args: &[&str]| -> Result<()> {
        let status = Command::new("xdotool").args(args).status()?;
        if !status.success() {
            bail!("xdotool {args:?} failed");
        }
        Ok(())
    };
    run(&["windowfocus", "--sync", &window])?;
    std::thread::sleep(Duration::from_millis(300));
    run(&["key", "--clearmodifiers", "ctrl+l"])?;
    std::thread::sleep(Duration::from_millis(200));
    run(&["type", "--delay", "5", &path.to_string_lossy()])?;
    // Let the dialog take in the typed path (it completes as you type) before confirming.
    std::thread::sleep(Duration::from_millis(700));
    run(&["key", "Return"])?;
    Ok(())
}

impl App {
    /// Waits until no element has `testid`.
    pub async fn wait_gone(&self, testid: &str) -> Result<()> {
        self.wait_until(
            &by_testid(testid),
            &format!("{testid} to go away"),
            |found| found.is_empty(),
        )
        .await
    }
}

/// Hides (`false`) or shows (`true`) the app's window at the X level, as a person switching to
/// another program would, so that the app no longer has the user's attention.
pub fn set_window_mapped(mapped: bool) -> Result<()> {
    let find = Command::new("xdotool")
        .args(["search", "--name", "^Clinic Messaging$"])
        .output()
        .context("xdotool")?;
    let windows = String::from_utf8_lossy(&find.stdout).into_owned();
    if windows.trim().is_empty() {
        bail!("no app window found");
    }
    for window in windows.lines() {
        let verb = if mapped { "windowmap" } else { "windowunmap" };
        Command::new("xdotool")
            .args([verb, "--sync", window])
            .status()?;
    }
    Ok(())
}

/// Moves the X pointer over the app's window, from one point of it to another 40 px away (real
/// input, as a hand on the mouse makes it: WebDriver's own pointer moves do not go through X).
pub fn move_pointer_over_window() -> Result<()> {
    let find = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Clinic Messaging$"])
        .output()
        .context("xdotool")?;
    let windows = String::from_utf8_lossy(&find.stdout).into_owned();
    let window = windows.lines().next().context("no app window found")?;
    for (x, y) in [("200", "200"), ("240", "220")] {
        let moved = Command::new("xdotool")
            .args(["mousemove", "--sync", "--window", window, x, y])
            .status()?;
        if !moved.success() {
            bail!("xdotool mousemove failed");
        }
    }
    Ok(())
}

/// Records every `Notify` call on the session bus (what notification daemons are asked to show).
#[derive(Debug)]
pub struct NotificationLog {
    child: Child,
    path: PathBuf,
}

impl NotificationLog {
    /// The notifications shown (`Notify` calls) from now on.
    pub fn start(path: &Path) -> Result<Self> {
        Self::calls_of(path, "Notify")
    }

    /// The notifications taken off the screen by the app (`CloseNotification` calls).
    pub fn closes(path: &Path) -> Result<Self> {
        Self::calls_of(path, "CloseNotification")
    }

    fn calls_of(path: &Path, member: &str) -> Result<Self> {
        let out = std::fs::File::create(path)?;
        let rule = format!(
            "type='method_call',interface='org.freedesktop.Notifications',member='{member}'"
        );
        let child = Command::new("dbus-monitor")
            .args(["--session", &rule])
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .context("dbus-monitor")?;
        Ok(Self {
            child,
            path: path.to_owned(),
        })
    }

    /// The log so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// Waits until the log mentions `needle`, and returns the whole log.
    pub async fn wait_for(&self, needle: &str) -> Result<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no notification mentioning {needle:?}; saw:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for NotificationLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tauri-driver and the app for one session. WebKitWebDriver occasionally fails to bring
/// up a session right after the previous app exited (no app process appears at all); one retry
/// with a fresh driver, after clearing leftovers, gets past that without hiding app failures
/// (a second failure is reported).
pub async fn start_app(
    env: &[(&str, &Path)],
    app_binary: &Path,
    shots: &Path,
) -> Result<(Driver, App)> {
    let driver = Driver::start(env)?;
    match App::launch(&driver, app_binary, shots).await {
        Ok(app) => return Ok((driver, app)),
        Err(e) => eprintln!("app launch failed ({e:#}); retrying once with a fresh driver"),
    }
    drop(driver);
    let binary = app_binary.to_owned();
    tokio::task::spawn_blocking(move || stop_processes_of(&binary)).await??;
    let driver = Driver::start(env)?;
    let app = App::launch(&driver, app_binary, shots).await?;
    Ok((driver, app))
}

/// Copies a screenshot a person looks at in the README into docs/screenshots as `NAME.png`, when
/// asked to with CLINIC_UPDATE_SCREENSHOTS=1.
pub fn publish(shot: &Path, name: &str) -> Result<()> {
    if std::env::var_os("CLINIC_UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs)?;
        std::fs::copy(shot, docs.join(format!("{name}.png")))?;
    }
    Ok(())
}
