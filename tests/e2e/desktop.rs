//! The desktop app end to end, in scenarios over one shared server (the demo clinic): the real
//! app in a real window (under `scripts/headless`), driven over WebDriver, with the `clinic` CLI
//! as the other people. Each scenario is its own test with its own screenshot (in
//! target/e2e-screenshots; README ones also in docs/screenshots with CLINIC_UPDATE_SCREENSHOTS=1).
//! They run one at a time (the app is single-instance). No display or keyring is a failure.

mod at_rest;
mod care;
mod lock;
mod long_conversation;
mod message_actions;
mod receipts;
mod safety;
mod search;
mod unsend;

use anyhow::{Context, Result, bail};
use clinic_e2e::contract::{Normaliser, Placeholders, differences};
use clinic_e2e::{
    App, Cli, Driver, NotificationLog, Proxy, Server, binary, choose_in_file_dialog, publish,
    set_window_mapped, start_app,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use at_rest::bench_desktop_at_rest;
use care::care_for_another_doctors_patient;
use lock::app_lock;
use long_conversation::bench_desktop_long_conversation;
use message_actions::message_actions;
use receipts::true_receipts;
use safety::{
    device_without_sound_says_so, dnd_doctor_sees_emergency, second_emergency_joins,
    unanswered_emergency_shows_number,
};
use search::search;
use std::time::Duration;
use unsend::unsend;

const PASSWORD: &str = "clinic-demo";

/// The smallest file every PDF reader (and the server's content sniffing) accepts as a PDF.
const MINIMAL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

const HELLO: &str = "Hello Dr. Patel, this is the end-to-end test.";
/// Alice's emergency from the app (the patient scenario), or from the CLI when that did not run.
const PATIENT_EMERGENCY: &str = "I feel faint and my chest hurts.";
const CLI_EMERGENCY: &str = "Please help.";

/// What every scenario shares: the server, the CLI people, the patient's app profile.
struct World {
    rt: tokio::runtime::Runtime,
    tmp: tempfile::TempDir,
    server: Mutex<Option<Server>>,
    url: String,
    /// The server's pairing code, as the clinic would hand it out on paper.
    code: String,
    patel: Cli,
    nguyen: Cli,
    bob: Cli,
    alice_cli: Cli,
    app_binary: PathBuf,
    shots: PathBuf,
    /// The contract transcript of the scenario running now.
    transcript: Mutex<Vec<Value>>,
    /// The transcripts of the scenarios that passed, in order.
    recorded: Mutex<Vec<(&'static str, Vec<Value>)>>,
}

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();

fn world() -> Result<&'static World> {
    WORLD
        .get_or_init(|| World::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

impl World {
    fn start() -> Result<Self> {
        if std::env::var_os("DISPLAY").is_none() {
            bail!("no DISPLAY: the desktop scenarios run through scripts/headless");
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        // Not a dot-directory: the file dialog is asked for a path inside it.
        let tmp = tempfile::Builder::new().prefix("clinic-e2e-").tempdir()?;
        let server = Server::start(&tmp.path().join("server"), "127.0.0.1:0")?;
        let (url, code) = (server.url(), server.pairing_code.clone());
        let cli = |who: &str| {
            Cli::login(
                &server,
                &tmp.path().join(format!("cli-{who}")),
                who,
                PASSWORD,
            )
        };
        Ok(Self {
            patel: cli("dr.patel")?,
            nguyen: cli("dr.nguyen")?,
            bob: cli("bob")?,
            alice_cli: cli("alice")?,
            // The benchmarks run the release app (CLINIC_E2E_APP=target/release/clinic-desktop).
            app_binary: match std::env::var_os("CLINIC_E2E_APP") {
                Some(path) => PathBuf::from(path),
                None => binary("clinic-desktop")?,
            },
            shots: Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots"),
            server: Mutex::new(Some(server)),
            transcript: Mutex::default(),
            recorded: Mutex::default(),
            url,
            code,
            tmp,
            rt,
        })
    }

    fn profile(&self, name: &str) -> PathBuf {
        self.tmp.path().join(format!("app-{name}"))
    }

    async fn app(&self, profile: &Path) -> Result<(Driver, App)> {
        self.app_with(profile, &[]).await
    }

    /// [`World::app`] with more of the app's environment.
    async fn app_with(&self, profile: &Path, env: &[(&str, &Path)]) -> Result<(Driver, App)> {
        let mut all = vec![
            ("CLINIC_PROFILE_DIR", profile),
            ("CLINIC_E2E_TRANSCRIPT", Path::new("1")),
        ];
        all.extend_from_slice(env);
        start_app(&all, &self.app_binary, &self.shots).await
    }

    /// Keeps what the app recorded for the contract transcript, then closes it.
    async fn close(&self, app: App) -> Result<()> {
        let lines = app.take_transcript().await?;
        lock(&self.transcript).extend(lines);
        app.close().await
    }

    /// Keeps what the app recorded for the contract transcript, then quits it by SIGTERM.
    async fn quit_by_sigterm(&self, app: App) -> Result<()> {
        let lines = app.take_transcript().await?;
        lock(&self.transcript).extend(lines);
        app.quit_by_sigterm().await
    }

    /// Reloads the page, as a webview does after its process crashed (what it recorded for the
    /// contract is kept first: a reload loses it), and waits for the new page.
    async fn reload(&self, app: &App) -> Result<()> {
        let lines = app.take_transcript().await?;
        lock(&self.transcript).extend(lines);
        app.script("window.__CLINIC_OLD_PAGE__ = true; setTimeout(() => location.reload(), 0); return null;")
            .await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let new_page = "return document.readyState === 'complete' && window.__CLINIC_OLD_PAGE__ === undefined;";
        // While the page navigates a script may fail: that is not an answer yet.
        while app.script(new_page).await.ok() != Some(serde_json::Value::Bool(true)) {
            if std::time::Instant::now() > deadline {
                bail!("the page did not reload");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Waits until the app called `command` with arguments `args` accepts (the transcript's
    /// lines taken meanwhile are kept for the contract).
    async fn wait_call(
        &self,
        app: &App,
        command: &str,
        args: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let lines = app.take_transcript().await?;
            let found = lines
                .iter()
                .any(|l| l["kind"] == "call" && l["command"] == command && args(&l["args"]));
            lock(&self.transcript).extend(lines);
            if found {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("the app did not call {command} as expected");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Notes in the transcript something that happened outside the app (for the fake's replay),
    /// after what the app recorded so far.
    async fn outside(&self, app: &App, what: &str) -> Result<()> {
        let lines = app.take_transcript().await?;
        let mut transcript = lock(&self.transcript);
        transcript.extend(lines);
        transcript.push(serde_json::json!({ "kind": "outside", "what": what }));
        Ok(())
    }

    /// A screenshot; README ones are copied to docs/screenshots on request.
    async fn shot(&self, app: &App, name: &str, readme: bool) -> Result<()> {
        let shot = app.screenshot(name).await?;
        if readme {
            publish(&shot, name)?;
        }
        Ok(())
    }

    /// Stops the server and removes the temp folder (a static is never dropped).
    fn stop(&self) {
        if let Some(server) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(self.tmp.path());
    }
}

/// Signs in unless the profile already holds a session (an earlier scenario signed in), so
/// each scenario also runs alone (`cargo test -p clinic-e2e --test desktop -- offline`).
async fn signed_in(w: &World, app: &App, username: &str) -> Result<()> {
    let first = app
        .wait_css("[data-testid=login-form], [data-testid=chat-layout]")
        .await?;
    if first.attr("data-testid").await?.as_deref() == Some("login-form") {
        return log_in(app, &w.url, username, &w.code).await;
    }
    app.wait_attr("connection-state", "data-state", "online")
        .await
        .context("online")
}

/// Signs in with the server's pairing code typed into the form (a fresh profile pairs).
async fn log_in(app: &App, server_url: &str, username: &str, code: &str) -> Result<()> {
    app.wait("login-form").await?;
    app.fill("server-url", server_url).await?;
    app.fill("username", username).await?;
    app.fill("password", PASSWORD).await?;
    app.fill("pairing-code", code).await?;
    app.click("login-submit").await?;
    app.wait("chat-layout").await.context("signed-in screen")?;
    app.wait_attr("connection-state", "data-state", "online")
        .await
        .context("online")
}

/// The banner of a device that is alerting, and of one that is not.
const ALERTING: &str = "[data-testid=emergency-banner][data-alerting=true]";
const QUIET: &str = "[data-testid=emergency-banner][data-alerting=false]";

const MY_SETTLED: &str =
    "[data-testid=message][data-mine=true]:not([data-status=SENDING]):not([data-status=FAILED])";

/// A well-formed pairing code (its check characters right) that is not the server's.
fn wrong_code() -> String {
    clinic_protocol::pairing::PairingCode::of_certificate(b"not the clinic's CA").to_string()
}

/// Waits for the login error to contain `text`.
async fn login_error(app: &App, text: &str) -> Result<()> {
    app.wait_until("[data-testid=login-error]", text, |found| {
        found.iter().any(|(t, _)| t.contains(text))
    })
    .await
    .map(drop)
}

/// The tray library writes its icon into the profile's own folder (0700), never into a shared
/// temp folder where another account could plant links at its predictable names.
fn tray_icon_is_private(profile: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = profile.join("tray");
    let mode = std::fs::metadata(&dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        bail!("{} has mode {mode:o}", dir.display());
    }
    let icons = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .count();
    if icons == 0 {
        bail!("no icon in {}", dir.display());
    }
    Ok(())
}

/// Pairing by code (none: the server's code is shown to compare; a wrong one: refused),
/// signing in, the next start signing in by itself from the keyring, logout forgetting it.
async fn login_and_session(w: &World) -> Result<()> {
    let profile = w.profile("carol");
    let (driver, app) = w.app(&profile).await?;
    app.wait("pairing-code-hint").await?;
    tray_icon_is_private(&profile).context("the tray's icon file")?;
    app.fill("server-url", &w.url).await?;
    app.fill("username", "carol").await?;
    app.fill("password", PASSWORD).await?;
    app.click("login-submit").await?;
    let said = format!("The server's pairing code is {}", w.code);
    app.wait_until("[data-testid=pairing-notice]", &said, |found| {
        found.iter().any(|(t, _)| t.contains(&said))
    })
    .await
    .context("an unpaired server shows its code to compare")?;
    w.shot(&app, "pairing-needed", false).await?;
    app.fill("pairing-code", &wrong_code()).await?;
    app.click("login-submit").await?;
    login_error(&app, "This is not your clinic's server")
        .await
        .context("a wrong pairing code is refused")?;
    w.shot(&app, "pairing-wrong-code", false).await?;
    app.fill("pairing-code", &w.code).await?;
    app.fill("password", "wrong password").await?;
    app.click("login-submit").await?;
    login_error(&app, "Wrong username or password.")
        .await
        .context("a wrong password is refused")?;
    log_in(&app, &w.url, "carol", &w.code).await?;
    app.wait_attr("chat-layout", "data-role", "PATIENT").await?;
    w.close(app).await?;
    drop(driver);

    let (driver, app) = w.app(&profile).await?;
    app.wait_attr("chat-layout", "data-role", "PATIENT")
        .await
        .context("signed in again without a password")?;
    w.shot(&app, "session", false).await?;
    w.outside(&app, "profile-not-private").await?;
    w.close(app).await?;
    drop(driver);

    // A saved session that cannot be opened says why on the login screen (here another
    // account left a file in the profile folder, which others could write to), and nothing of
    // it is lost: put right, the app opens it again.
    {
        use std::os::unix::fs::PermissionsExt;
        let planted = profile.join("left-by-another-account");
        std::fs::write(&planted, b"")?;
        std::os::unix::fs::chown(&planted, Some(65534), Some(65534))?;
        std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o777))?;
        let (driver, app) = w.app(&profile).await?;
        login_error(&app, "The app's folder is not private")
            .await
            .context("a session that cannot be opened is said at start")?;
        w.close(app).await?;
        drop(driver);
        std::fs::remove_file(&planted)?;
        std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o700))?;
    }
    let (driver, app) = w.app(&profile).await?;
    app.wait_attr("chat-layout", "data-role", "PATIENT")
        .await
        .context("the session kept")?;
    // Ctrl + draws the window larger (fewer CSS pixels across it), kept by this computer.
    let width = app
        .script("return window.innerWidth;")
        .await?
        .as_f64()
        .context("the page's width")?;
    let key = |key: &str| {
        format!(
            "window.dispatchEvent(new KeyboardEvent('keydown', {{ key: '{key}', ctrlKey: true }})); \
             return null;"
        )
    };
    app.script(&key("=")).await?;
    let larger = format!("return window.innerWidth < {width} * 0.9;");
    app.wait_script("the window drawn larger", &larger).await?;
    w.close(app).await?;
    drop(driver);
    let (driver, app) = w.app(&profile).await?;
    app.wait("chat-layout").await?;
    app.wait_script("the text size kept after a restart", &larger)
        .await?;
    app.script(&key("0")).await?;
    let normal = format!("return window.innerWidth > {width} * 0.98;");
    app.wait_script("the text size back to normal", &normal)
        .await?;
    app.click("settings-button").await?;
    app.click("logout-button").await?;
    app.wait("login-form")
        .await
        .context("back at the login screen")?;
    w.close(app).await?;
    drop(driver);

    let (driver, app) = w.app(&profile).await?;
    app.wait("login-form")
        .await
        .context("still signed out after a restart")?;
    // The profile remembers the server it last signed in to, for the form.
    let offered = format!(
        "return document.querySelector('[data-testid=server-url]').value.startsWith({:?});",
        w.url.trim_end_matches('/')
    );
    app.wait_script("the form offers the last server", &offered)
        .await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// A message, exactly once, its delivered tick, and a reply while the window is away.
async fn chat_and_receipts(w: &World) -> Result<()> {
    let (driver, app) = w.app(&w.profile("alice")).await?;
    log_in(&app, &w.url, "alice", &w.code).await?;
    app.click("conversation-dr.patel").await?;
    app.wait("chat-window").await?;
    // The demo's first reading waited 40 minutes on her device: its bubble says when it was
    // written beside when it was sent.
    app.wait_until(
        "[data-testid=message-written]",
        "the reading written offline",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.starts_with("written ") && t.ends_with("· sent"))
        },
    )
    .await?;
    app.fill("message-input", HELLO).await?;
    app.click("send-button").await?;
    app.wait_css(MY_SETTLED).await.context("acknowledged")?;
    let history = w.patel.wait_history("alice", "alice's message", |h| {
        h.iter().any(|m| m["content"] == HELLO)
    })?;
    let copies = history.iter().filter(|m| m["content"] == HELLO).count();
    if copies != 1 {
        bail!("the message arrived {copies} times");
    }
    app.wait_css("[data-testid=message][data-mine=true][data-status=DELIVERED], [data-testid=message][data-mine=true][data-status=READ]")
        .await
        .context("delivered tick")?;

    // The reply arrives while the window is out of sight (and another conversation is open): a
    // native notification names the sender, and (by default) never the text, which could show
    // on a lock screen. Clicking it opens the conversation it is about.
    app.click("conversation-dr.nguyen").await?;
    app.wait_attr("conversation-dr.nguyen", "data-active", "true")
        .await?;
    let notifications = NotificationLog::start(&w.tmp.path().join("notify-chat.log"))?;
    set_window_mapped(false)?;
    let reply = "Thanks Alice, I have your message.";
    w.patel.run(&["send", "--with", "alice", reply])?;
    w.patel.run(&["sync"])?;
    let shown = notifications
        .wait_for("New message from Dr. Asha Patel")
        .await?;
    if shown.contains(reply) {
        bail!("message text leaked into a notification:\n{shown}");
    }
    click_notification()?;
    set_window_mapped(true)?;
    app.wait_attr("conversation-dr.patel", "data-active", "true")
        .await
        .context("the notification's click opens its conversation")?;
    app.wait_until(
        "[data-testid=message][data-mine=false]",
        "the doctor's reply",
        |found| found.iter().any(|(t, _)| t.contains(reply)),
    )
    .await?;
    w.shot(&app, "patient", true).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// Every file under `dir`, its folders' files included.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The files under `dir` that hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let holds = |f: &PathBuf| {
        std::fs::read(f)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle)
    };
    files_under(dir).into_iter().filter(holds).collect()
}

/// A program that opens PDFs by doing nothing, as the desktop's default for them (through
/// `xdg-open`'s own lookup): opening a file in the scenario starts no viewer window.
fn quiet_pdf_viewer(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let (config, data) = (root.join("xdg-config"), root.join("xdg-data"));
    std::fs::create_dir_all(data.join("applications"))?;
    std::fs::create_dir_all(&config)?;
    std::fs::write(
        data.join("applications/clinic-e2e-viewer.desktop"),
        "[Desktop Entry]\nType=Application\nName=Viewer\nExec=true %f\nMimeType=application/pdf;\n",
    )?;
    std::fs::write(
        config.join("mimeapps.list"),
        "[Default Applications]\napplication/pdf=clinic-e2e-viewer.desktop\n",
    )?;
    Ok((config, data))
}

/// An image and a PDF through the native file dialog, kept sealed in the profile, and opened as a
/// plain copy that is gone once the app quits; a file the server refuses for its kind is parked
/// on its bubble with Discard, one it refuses for now with Retry, which sends it.
async fn attachments(w: &World) -> Result<()> {
    let (config, data) = quiet_pdf_viewer(w.tmp.path())?;
    let profile = w.profile("alice");
    let viewer_env = [
        ("XDG_CONFIG_HOME", config.as_path()),
        ("XDG_DATA_HOME", data.as_path()),
    ];
    let (driver, app) = w.app_with(&profile, &viewer_env).await?;
    signed_in(w, &app, "alice").await?;
    app.click("conversation-dr.patel").await?;
    let image = w.tmp.path().join("rash-photo.png");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/icons/128x128.png"),
        &image,
    )?;
    let pdf = w.tmp.path().join("lab-results.pdf");
    std::fs::write(&pdf, MINIMAL_PDF)?;
    for (file, kind, caption) in [
        (image, "image", "A photo of the rash."),
        (pdf, "pdf", "My lab results."),
    ] {
        attach(&app, file, caption).await?;
        app.wait_css(&format!(
            "{MY_SETTLED} [data-testid=file-preview][data-kind={kind}]"
        ))
        .await
        .with_context(|| format!("{kind} attachment sent"))?;
    }
    let history = w.patel.wait_history("alice", "both attachments", |h| {
        let named = |n: &str| {
            h.iter()
                .any(|m| m["fileName"] == n && m["fileUrl"].is_string())
        };
        named("rash-photo.png") && named("lab-results.pdf")
    })?;
    let files = history.iter().filter(|m| m["fileUrl"].is_string()).count();
    if files != 2 {
        bail!("{files} attachments stored, expected each exactly once");
    }
    w.shot(&app, "attachments", true).await?;

    // A program renamed .pdf: the server refuses its content; the send is parked, not lost.
    let fake = w.tmp.path().join("discharge-letter.pdf");
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.resize(4096, 0);
    std::fs::write(&fake, elf)?;
    attach(&app, fake, "The discharge letter.").await?;
    let parked = "[data-testid=message][data-mine=true][data-status=FAILED][data-error-code=unsupported_media_type]";
    app.wait_css(parked)
        .await
        .context("the refused file is parked")?;
    app.wait_until(parked, "the reason on the bubble", |found| {
        found
            .iter()
            .any(|(t, _)| t.contains("The server does not accept this kind of file."))
    })
    .await?;
    // The same file would be refused again: Discard is offered, Retry is not.
    app.wait_css(&format!("{parked} [data-testid=message-discard]"))
        .await?;
    let retry = app
        .script(&format!(
            "return document.querySelector({:?}) !== null;",
            format!("{parked} [data-testid=message-retry]")
        ))
        .await?;
    if retry != Value::Bool(false) {
        bail!("Retry offered for a file the server refuses for its kind");
    }
    click_css(&app, &format!("{parked} [data-testid=message-discard]")).await?;
    app.wait_until(parked, "the discarded bubble to go", |found| {
        found.is_empty()
    })
    .await?;

    // A refusal for now (her day's upload allowance spent, as the restarted server counts it):
    // tried a few times, parked with Retry, which sends it once the server takes files again.
    let (addr, data_dir) = w.kill_server()?;
    w.restart_server_with(addr, &data_dir, &["--upload-quota-bytes", "1"])?;
    let later = w.tmp.path().join("referral.pdf");
    std::fs::write(&later, MINIMAL_PDF)?;
    attach(&app, later, "The referral.").await?;
    let waiting =
        "[data-testid=message][data-mine=true][data-status=FAILED][data-error-code=rate_limited]";
    app.wait_css(&format!("{waiting} [data-testid=message-retry]"))
        .await
        .context("the file refused for now is parked with Retry")?;
    w.shot(&app, "failed-retry", false).await?;
    let (addr, data_dir) = w.kill_server()?;
    w.restart_server(addr, &data_dir)?;
    app.wait_attr("connection-state", "data-state", "online")
        .await
        .context("back online")?;
    click_css(&app, &format!("{waiting} [data-testid=message-retry]")).await?;
    app.wait_until(MY_SETTLED, "the retried file sent", |found| {
        found.iter().any(|(t, _)| t.contains("The referral."))
    })
    .await?;
    let history = w.patel.wait_history("alice", "the retried file", |h| {
        h.iter().any(|m| m["fileName"] == "referral.pdf")
    })?;
    let copies = history
        .iter()
        .filter(|m| m["fileName"] == "referral.pdf")
        .count();
    if copies != 1 {
        bail!("the retried file arrived {copies} times");
    }

    // At rest no file of her profile holds the PDF; opened, it is a plain copy for the viewer,
    // gone once the app quits (by SIGTERM, as at a session's end).
    let pdf = &MINIMAL_PDF[..60];
    let plain = holding(&profile, pdf);
    if !plain.is_empty() {
        bail!("the PDF is plain on disk in {plain:?}");
    }
    click_css(
        &app,
        "[data-testid=message][data-mine=true] [data-testid=file-preview][data-kind=pdf] .file-open",
    )
    .await?;
    let opened = profile.join("attachments/opened");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while holding(&opened, pdf).is_empty() {
        if std::time::Instant::now() > deadline {
            bail!("no plain copy was made for the viewer");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The shell has answered the open (the copy is made before the viewer starts): quit only
    // then, so the contract's transcript holds the answer every time, not only when it won the
    // race with the quit.
    app.wait_script(
        "the shell's answer to open_attachment",
        "return (window.__CLINIC_TRANSCRIPT__ || []).some(l => l.kind === 'call'
           && l.command === 'open_attachment' && 'ok' in l);",
    )
    .await?;
    w.quit_by_sigterm(app).await?;
    drop(driver);
    let left = files_under(&opened);
    if !left.is_empty() {
        bail!("the viewer's copies stayed after the app quit: {left:?}");
    }
    Ok(())
}

/// Clicks the newest notification, as a person would (dunst's default action).
fn click_notification() -> Result<()> {
    let status = std::process::Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .context("dunstctl")?;
    if !status.success() {
        bail!("dunstctl action failed: {status}");
    }
    Ok(())
}

/// Clicks what `css` finds, again if the bubble re-rendered under the pointer (stale element).
async fn click_css(app: &App, css: &str) -> Result<()> {
    let mut last = None;
    for _ in 0..20 {
        match app.wait_css(css).await?.click().await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Err(last.map_or_else(
        || anyhow::anyhow!("cannot click {css}"),
        anyhow::Error::from,
    ))
}

async fn attach(app: &App, file: PathBuf, caption: &str) -> Result<()> {
    app.click("attach-button").await?;
    tokio::task::spawn_blocking(move || choose_in_file_dialog(&file)).await??;
    app.wait("attachment-preview")
        .await
        .context("attachment chosen")?;
    app.fill("message-input", caption).await?;
    app.click("send-button").await
}

/// A selector of the newest bubble matching `bubble` that says `text`, by its client id: each
/// bubble has a row of its own, so CSS alone cannot say "the last one", and a mark put on the
/// element would be lost when its row is drawn again.
async fn newest_bubble(app: &clinic_e2e::App, bubble: &str, text: &str) -> Result<String> {
    let id = app
        .script(&format!(
            "const all = [...document.querySelectorAll('{bubble}')] \
                 .filter(b => b.textContent.includes({})); \
             return all.at(-1)?.dataset.clientId ?? null;",
            serde_json::Value::from(text)
        ))
        .await?;
    let id = id
        .as_str()
        .with_context(|| format!("no bubble {bubble} says {text:?}"))?;
    Ok(format!("[data-testid=message][data-client-id={id:?}]"))
}

impl World {
    /// Kills the server (no goodbye); returns where it listened and its data, to start it again.
    fn kill_server(&self) -> Result<(std::net::SocketAddr, PathBuf)> {
        let mut slot = self.server.lock().unwrap_or_else(|e| e.into_inner());
        let server = slot.take().context("the server")?;
        let kept = (server.addr, server.data_dir.clone());
        server.kill();
        Ok(kept)
    }

    /// Starts the server killed by [`World::kill_server`] again, on the same address.
    fn restart_server(&self, addr: std::net::SocketAddr, data_dir: &Path) -> Result<()> {
        self.restart_server_with(addr, data_dir, &[])
    }

    /// Like [`World::restart_server`], with more `serve` flags.
    fn restart_server_with(
        &self,
        addr: std::net::SocketAddr,
        data_dir: &Path,
        serve_args: &[&str],
    ) -> Result<()> {
        let server = Server::start_with(data_dir, &addr.to_string(), serve_args)?;
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
        Ok(())
    }
}

/// The server goes away; a send waits in the queue and is delivered once it is back, one dropped
/// meanwhile ("Don't send") never arrives, and a search meanwhile says it searched only this
/// computer.
async fn offline(w: &World) -> Result<()> {
    let (driver, app) = w.app(&w.profile("alice")).await?;
    signed_in(w, &app, "alice").await?;
    app.click("conversation-dr.patel").await?;
    let (addr, data_dir) = w.kill_server()?;
    app.wait_attr("connection-state", "data-state", "offline")
        .await
        .context("offline badge")?;
    // The badge's tooltip says why in words, not the operating system's error.
    app.wait_css(&format!(
        "[data-testid=connection][title=\"The clinic server cannot be reached: nothing is \
         listening on port {}.\"]",
        addr.port()
    ))
    .await
    .context("the offline badge's reason")?;
    let text = "Sent while the server was down.";
    app.fill("message-input", text).await?;
    app.click("send-button").await?;
    app.wait_css("[data-testid=message][data-mine=true][data-status=SENDING]")
        .await?;
    app.wait_attr("queued-count", "data-count", "1").await?;
    let dropped = "Wrong conversation, do not send.";
    app.fill("message-input", dropped).await?;
    app.click("send-button").await?;
    app.wait_attr("queued-count", "data-count", "2").await?;
    let bubble = newest_bubble(&app, "[data-testid=message][data-status=SENDING]", dropped).await?;
    w.shot(&app, "offline", true).await?;
    click_css(&app, &format!("{bubble} [data-testid=message-dont-send]")).await?;
    app.wait_attr("queued-count", "data-count", "1")
        .await
        .context("the dropped message left the queue")?;
    // Its words are back in the composer, to be corrected; here they go.
    app.wait_script(
        "the dropped words in the composer",
        &format!(
            "return document.querySelector('[data-testid=message-input]').value === {};",
            serde_json::Value::from(dropped)
        ),
    )
    .await?;
    // Cleared as a person does (WebDriver's clear is not heard by the page): then forgotten.
    app.click("message-input").await?;
    app.press(&['\u{E009}', 'a']).await?;
    app.press(&['\u{E003}']).await?;
    app.wait_script(
        "the composer cleared",
        "return document.querySelector('[data-testid=message-input]').value === '';",
    )
    .await?;
    // Search still answers from this computer's cache, and says that is all it searched.
    app.fill("search-input", "server\u{E007}").await?;
    app.wait("search-offline")
        .await
        .context("the offline search label")?;

    w.restart_server(addr, &data_dir)?;
    app.wait_attr("connection-state", "data-state", "online")
        .await
        .context("back online")?;
    app.wait_until(MY_SETTLED, "the offline message sent", |found| {
        found.iter().any(|(t, _)| t.contains(text))
    })
    .await?;
    let history = w.patel.wait_history("alice", "the offline message", |h| {
        h.iter().any(|m| m["content"] == text)
    })?;
    let copies = history.iter().filter(|m| m["content"] == text).count();
    if copies != 1 {
        bail!("the offline message arrived {copies} times");
    }
    if history.iter().any(|m| m["content"] == dropped) {
        bail!("the message dropped while offline arrived");
    }
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// The patient presses Emergency before choosing a conversation (the shell chooses her doctor):
/// its conversation opens, and she sees that the server has it.
async fn emergency_as_patient(w: &World) -> Result<()> {
    let (driver, app) = w.app(&w.profile("alice")).await?;
    signed_in(w, &app, "alice").await?;
    app.wait("chat-empty").await?;
    app.click("emergency-button").await?;
    app.fill("emergency-text", PATIENT_EMERGENCY).await?;
    w.shot(&app, "emergency-dialog", false).await?;
    app.click("emergency-confirm-send").await?;
    app.wait_css("[data-testid=emergency-status][data-state=raised], [data-testid=emergency-status][data-state=acknowledged]")
        .await
        .context("the patient sees the emergency was received")?;
    w.shot(&app, "patient-emergency", false).await?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// The doctor's app rings; acknowledging what another doctor already took says who and keeps
/// ringing until the server's news arrives; acknowledging a fresh one stops the alarm.
async fn emergency_as_doctor(w: &World) -> Result<()> {
    // An open emergency of alice's (raised in the patient's scenario, or here).
    let alices_raised = |cli: &Cli| -> Result<Vec<String>> {
        let open: Vec<serde_json::Value> =
            serde_json::from_str(&cli.run(&["emergencies", "--json"])?)?;
        Ok(open
            .iter()
            .filter(|e| e["patientName"] == "Alice Martin" && e["state"] == "RAISED")
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect())
    };
    if alices_raised(&w.nguyen)?.is_empty() {
        w.alice_cli
            .run(&["send", "--with", "dr.patel", "--emergency", CLI_EMERGENCY])?;
        w.alice_cli.run(&["sync"])?;
    }
    let (server_addr, data_dir) = {
        let slot = w.server.lock().unwrap_or_else(|e| e.into_inner());
        let server = slot.as_ref().context("the server")?;
        (server.addr, server.data_dir.clone())
    };
    let proxy = Proxy::start(server_addr, &data_dir).await?;
    let (driver, app) = w.app(&w.profile("dr.patel")).await?;
    log_in(&app, &proxy.url(), "dr.patel", &w.code).await?;
    app.wait("emergency-banner")
        .await
        .context("emergency banner")?;
    app.wait_css("[data-testid=conversation-alice] [data-testid=unread-count]")
        .await
        .context("unread badge")?;
    app.wait_css("[data-testid=conversation-alice] [data-testid=emergency-badge]")
        .await?;
    // The banner says whether this device is alerting ("Silence this device" is not offered on
    // the e2e box: it has no sound device, so nothing could be silenced).
    app.wait_css(ALERTING)
        .await
        .context("the doctor's device is alerting")?;
    w.shot(&app, "doctor-emergency", true).await?;

    // Dr. Nguyen takes it while the news is held on its way to this app.
    let taken = alices_raised(&w.nguyen)?;
    let id = taken.first().context("alice's emergency")?.clone();
    proxy.hold_pushes();
    for id in &taken {
        w.nguyen.run(&["emergency", "ack", id])?;
    }
    w.outside(&app, "emergency-taken-elsewhere").await?;
    let item = format!("[data-testid=emergency-item][data-emergency-id=\"{id}\"]");
    click_css(&app, &format!("{item} [data-testid=emergency-acknowledge]")).await?;
    app.wait_until("[data-testid=notice]", "the conflict", |found| {
        found
            .iter()
            .any(|(t, _)| t.contains("Dr. Minh Nguyen already took it."))
    })
    .await?;
    app.wait_css(ALERTING)
        .await
        .context("a conflict does not silence")?;
    w.shot(&app, "conflict", false).await?;
    proxy.release();
    app.wait_css(&format!("{item}[data-state=ACKNOWLEDGED]"))
        .await
        .context("the server's news arrives")?;
    app.wait_css(QUIET)
        .await
        .context("the server's news stops the alarm")?;

    // Bob's emergency: acknowledged from this app, confirmed by the server, the alarm stops.
    w.bob
        .run(&["send", "--with", "dr.patel", "--emergency", "I fell."])?;
    w.bob.run(&["sync"])?;
    app.wait_css(
        "[data-testid=emergency-item][data-state=RAISED] [data-testid=emergency-acknowledge]",
    )
    .await
    .context("bob's emergency")?
    .click()
    .await?;
    if let Err(e) = app.wait_css(QUIET).await {
        // What the page had: its cards, its acknowledgements and the shell's last alarms.
        let state = app
            .script(
                "const t = window.__CLINIC_TRANSCRIPT__ || [];
                 return {
                   cards: [...document.querySelectorAll('[data-testid=emergency-item]')]
                     .map(i => i.dataset.state + ' ' + i.textContent.slice(0, 50)),
                   acks: t.filter(l => l.kind === 'call' && l.command === 'acknowledge_emergency')
                     .map(l => [l.args, l.ok === undefined ? l.error : 'ok']),
                   alarms: t.filter(l => l.kind === 'event' && l.event.type === 'alarm')
                     .slice(-3).map(l => l.event.ringing),
                 };",
            )
            .await
            .unwrap_or_default();
        return Err(e.context(format!(
            "the alarm stops once the server confirmed (the page: {state})"
        )));
    }
    // Bob's new emergency moves his row to the top of the list as the server's news comes in: a
    // click at where Alice's row was can land on his. Chosen until her conversation is open.
    app.wait_script(
        "alice's conversation open",
        "const t = document.querySelector('[data-testid=chat-title]');
         if (t && t.textContent.includes('Alice Martin')) return true;
         document.querySelector('[data-testid=conversation-alice]')?.click();
         return false;",
    )
    .await?;
    app.wait("patient-info").await?;
    // Opened at the first message the doctor has not read (earlier scenarios' among them): the
    // doctor scrolls down to the newest.
    receipts::scroll_list(&app, false).await?;
    // Alice's emergency message (the patient scenario's, or this one's) is in the history.
    app.wait_until(
        "[data-testid=message][data-mine=false]",
        "alice's emergency message in the doctor's window",
        |found| {
            found
                .iter()
                .any(|(t, _)| t.contains(PATIENT_EMERGENCY) || t.contains(CLI_EMERGENCY))
        },
    )
    .await?;
    w.shot(&app, "doctor", true).await?;

    // Start of a shift: the doctor checks that alerts reach them.
    let notifications = NotificationLog::start(&w.tmp.path().join("notify-test.log"))?;
    app.click("settings-button").await?;
    app.click("send-test-alert").await?;
    notifications
        .wait_for("Test alert")
        .await
        .context("test alert notification")?;

    // The end of the shift: logging out takes what the session showed off the screen (an
    // emergency's notification names a patient; the next person at this computer is not the
    // doctor).
    let closed = NotificationLog::closes(&w.tmp.path().join("notify-test-closed.log"))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if closed.text().contains("CloseNotification") {
        bail!(
            "a notification was closed before the logout:\n{}",
            closed.text()
        );
    }
    app.click("logout-button").await?;
    app.wait_css("[data-testid=login-form], [data-testid=logout-confirm-button]")
        .await?;
    let asked = app
        .script("return document.querySelector('[data-testid=logout-confirm-button]') !== null;")
        .await?;
    if asked == serde_json::Value::Bool(true) {
        app.click("logout-confirm-button").await?;
    }
    app.wait("login-form").await?;
    closed
        .wait_for("CloseNotification")
        .await
        .context("the session's notifications closed at logout")?;
    w.close(app).await?;
    drop(driver);
    Ok(())
}

/// A paired app meets a server at the same address with another clinic CA (its certificate
/// changed): it refuses to sign in with the sentence, and says so again with no code typed.
async fn changed_certificate(w: &World) -> Result<()> {
    let first = Server::start(&w.tmp.path().join("impostor-a"), "127.0.0.1:0")?;
    let (addr, url, first_code) = (
        first.addr.to_string(),
        first.url(),
        first.pairing_code.clone(),
    );
    let (driver, app) = w.app(&w.profile("dave")).await?;
    log_in(&app, &url, "carol", &first.pairing_code).await?;
    app.click("settings-button").await?;
    app.click("logout-button").await?;
    app.wait("login-form").await?;
    first.kill();

    // Another server (a new CA) now answers at the paired address.
    w.outside(&app, "server-certificate-changed").await?;
    let other = Server::start(&w.tmp.path().join("impostor-b"), &addr)?;
    if other.pairing_code == first_code {
        bail!("the second server kept the first one's CA");
    }
    app.fill("server-url", &url).await?;
    app.fill("username", "carol").await?;
    app.fill("password", PASSWORD).await?;
    app.fill("pairing-code", "").await?;
    app.click("login-submit").await?;
    login_error(
        &app,
        "This is not your clinic's server (its pairing code changed): nothing was sent to \
         it. Check the server's address; if it is right, tell your clinic.",
    )
    .await
    .context("a changed certificate is refused")?;
    w.shot(&app, "not-your-server", true).await?;
    app.fill("pairing-code", &other.pairing_code).await?;
    app.click("login-submit").await?;
    login_error(
        &app,
        "This computer is paired with this server under another pairing code",
    )
    .await
    .context("typing the new server's code does not replace the pin")?;
    w.close(app).await?;
    drop(driver);
    other.kill();
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const SCENARIOS: [&str; 17] = [
    "login_and_session",
    "chat_and_receipts",
    "search",
    "attachments",
    "offline",
    "emergency_as_patient",
    "emergency_as_doctor",
    "changed_certificate",
    "dnd_doctor_sees_emergency",
    "second_emergency_joins",
    "unanswered_emergency_shows_number",
    "device_without_sound_says_so",
    "true_receipts",
    "message_actions",
    "care_for_another_doctors_patient",
    "unsend",
    "app_lock",
];

/// Where the checked-in contract transcript lives (replayed against the fake by Vitest).
fn contract_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/contract/transcript.jsonl")
}

/// The real shell's transcript of this run against the checked-in one, by shape (command names,
/// argument keys, answer and event field sets and types, error codes). Needs every scenario to
/// have passed in this run; CLINIC_UPDATE_CONTRACT=1 rewrites the checked-in file instead.
fn contract(w: &World) -> Result<()> {
    let recorded = lock(&w.recorded);
    let missing: Vec<&str> = SCENARIOS
        .iter()
        .filter(|name| !recorded.iter().any(|(n, _)| n == *name))
        .copied()
        .collect();
    if !missing.is_empty() {
        bail!("the contract needs every scenario to pass in the same run; missing: {missing:?}");
    }
    let mut normaliser = Normaliser::new(Placeholders {
        server_url: w.url.clone(),
        pairing_code: w.code.clone(),
        wrong_codes: vec![wrong_code()],
        tmp: w.tmp.path().to_owned(),
    });
    let fresh: Vec<Value> = recorded
        .iter()
        .flat_map(|(name, lines)| normaliser.scenario(name, lines))
        .collect();
    let path = contract_fixture();
    if std::env::var_os("CLINIC_UPDATE_CONTRACT").is_some() {
        let text: String = fresh.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text)?;
        return Ok(());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} (CLINIC_UPDATE_CONTRACT=1 writes it)", path.display()))?;
    let kept: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("the checked-in transcript")?;
    let (new, gone) = differences(&fresh, &kept);
    if !new.is_empty() || !gone.is_empty() {
        bail!(
            "the shell's contract changed (update the fake in ui/src/fake/ if needed, then rerun \
             with CLINIC_UPDATE_CONTRACT=1):\n  only now:\n    {}\n  only in {}:\n    {}",
            new.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n    "),
            path.display(),
            gone.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n    "),
        );
    }
    Ok(())
}

fn failed(e: impl std::fmt::Display) -> Failed {
    Failed::from(e.to_string())
}

/// One scenario as its own test, run on the shared world.
macro_rules! trial {
    ($name:ident) => {
        Trial::test(stringify!($name), || {
            let w = world().map_err(|e| failed(format!("{e:#}")))?;
            lock(&w.transcript).clear();
            w.rt.block_on($name(w))
                .map_err(|e| failed(format!("{e:#}")))?;
            let lines = std::mem::take(&mut *lock(&w.transcript));
            lock(&w.recorded).push((stringify!($name), lines));
            Ok(())
        })
    };
}

fn main() {
    let mut args = Arguments::from_args();
    // One app window at a time: the app allows one instance per desktop session.
    args.test_threads = Some(1);
    let trials = vec![
        trial!(login_and_session),
        trial!(chat_and_receipts),
        trial!(search),
        trial!(attachments),
        trial!(offline),
        trial!(emergency_as_patient),
        trial!(emergency_as_doctor),
        trial!(changed_certificate),
        trial!(dnd_doctor_sees_emergency),
        trial!(second_emergency_joins),
        trial!(unanswered_emergency_shows_number),
        trial!(device_without_sound_says_so),
        trial!(true_receipts),
        trial!(message_actions),
        trial!(care_for_another_doctors_patient),
        trial!(unsend),
        // Revokes dr.patel's sessions at its end (the CLI's too): after the others.
        trial!(app_lock),
        // A benchmark (bench/desktop-at-rest.sh), not a test: run only with --ignored.
        trial!(bench_desktop_at_rest).with_ignored_flag(true),
        // Another (bench/desktop-long-conversation.sh): 10,000 messages, cold start, memory.
        trial!(bench_desktop_long_conversation).with_ignored_flag(true),
        // Last: the trials run in this order, one at a time.
        Trial::test("contract_transcript", || {
            let w = world().map_err(|e| failed(format!("{e:#}")))?;
            contract(w).map_err(|e| failed(format!("{e:#}")))
        }),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(Ok(w)) = WORLD.get() {
        w.stop();
    }
    conclusion.exit();
}
