//! Shared harness of the client's integration tests: the real server over HTTPS with its clinic
//! CA (in-process on 127.0.0.1, or its binary for true SIGKILLs), clients with file credentials
//! in temp profiles that pair with the server's code as a user would, and a REST view of what
//! the server stored.

#![allow(dead_code, clippy::unwrap_used)]

pub mod mitm;
pub mod proxy;

use clinic_client::api::Api;
use clinic_client::{
    BackoffConfig, Client, ClientOptions, FileStore, LocalMessage, Pairing, Profile, Trust, Tuning,
};
use clinic_protocol::pairing::PairingCode;
use clinic_protocol::{ConversationKey, Message, Seq};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The clinic CA (DER) of each server a test started, by its URL: what IT would hand out as
/// the pairing code.
static CAS: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());

/// The clinic CA of a data folder, made now if it does not exist yet (call before the server
/// starts: it then uses the same one).
fn data_dir_ca(data_dir: &Path) -> Vec<u8> {
    use clinic_server::tls::pki::{TlsPaths, ensure_ca};
    ensure_ca(&TlsPaths::new(data_dir)).unwrap().cert_der
}

/// Notes the CA of the server at `url`.
fn remember_ca(url: &str, der: Vec<u8>) {
    let mut cas = CAS.lock().unwrap();
    cas.retain(|(u, _)| u != url);
    cas.push((url.to_owned(), der));
}

fn ca_of(url: &str) -> Vec<u8> {
    let url = url.trim_end_matches('/');
    CAS.lock()
        .unwrap()
        .iter()
        .find(|(u, _)| u == url)
        .map(|(_, der)| der.clone())
        .unwrap_or_else(|| panic!("no test server at {url}"))
}

/// The pairing code of the server at `url`, as `clinic-server tls fingerprint` prints it.
pub fn code_for(url: &str) -> String {
    PairingCode::of_certificate(&ca_of(url)).to_string()
}

/// What a paired client trusts for the server at `url`.
pub fn trust_for(url: &str) -> Trust {
    Trust::pinned(&ca_of(url))
}

/// A REST client for the server at `url`, trusting its CA.
pub fn api(url: &str) -> Api {
    if url.starts_with("http://") {
        return Api::new(url, None).unwrap();
    }
    Api::new(url, Some(&trust_for(url))).unwrap()
}

pub const PASSWORD: &str = "clinic-demo";
/// Generous bound so a broken build fails instead of hanging; never a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A data folder with the demo clinic (alice, bob, carol; dr.patel, dr.nguyen, dr.okafor).
pub fn demo_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    clinic_server::demo::seed(dir.path()).unwrap();
    dir
}

/// The real server, in-process on its own runtime so a test can stop it abruptly.
pub struct InProcessServer {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
    /// Resolves once `clinic_server::run` has returned (its threads joined, its files closed).
    stopped: Option<oneshot::Receiver<()>>,
}

impl InProcessServer {
    /// Serves `data_dir` over TLS (its clinic CA) on 127.0.0.1:`port` (0 = any free port).
    pub async fn start(data_dir: &Path, port: u16) -> Self {
        Self::start_with(data_dir, port, |_| {}).await
    }

    /// [`InProcessServer::start`] with the server's configuration adjusted first.
    pub async fn start_with(
        data_dir: &Path,
        port: u16,
        adjust: impl FnOnce(&mut clinic_server::Config),
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (addr_tx, addr_rx) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel::<()>();
        let mut config = clinic_server::Config::new(data_dir.to_path_buf());
        adjust(&mut config);
        let ca = data_dir_ca(data_dir);
        runtime.spawn(async move {
            let listener = bind(port).await;
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            clinic_server::run(listener, config, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
            let _ = stopped_tx.send(());
        });
        let addr = addr_rx.await.unwrap();
        remember_ca(&format!("https://{addr}"), ca);
        Self {
            addr,
            runtime: Some(runtime),
            stop: Some(stop),
            stopped: Some(stopped),
        }
    }

    /// Stops the server as a clinic's IT would (its sockets told, its threads joined), so its
    /// database may be changed from outside before it starts again.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            tokio::time::timeout(PATIENCE, stopped)
                .await
                .expect("the server stops")
                .expect("the server stopped cleanly");
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Drops every task and socket at once, with no goodbye (the closest to a crash that
    /// stays in-process).
    pub fn crash(mut self) {
        self.stop.take();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Binds with SO_REUSEADDR, retrying while a just-stopped server still holds the port.
async fn bind(port: u16) -> tokio::net::TcpListener {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        if socket.bind(addr).is_ok()
            && let Ok(listener) = socket.listen(1024)
        {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr}");
}

/// The server binary, built if needed, for tests that SIGKILL it.
pub fn server_binary() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_clinic"))
        .parent()
        .unwrap()
        .to_path_buf();
    // Resolve features as `cargo test --workspace` (and `cargo build --workspace --all-targets`
    // before it) did: the whole workspace with its tests, so dev-dependencies' features count.
    // Then the server it already built is up to date, instead of a second build of rustls and
    // the rest with other features (about 90 s).
    // Without the variables `cargo test` set for this process: build scripts (ring's) ask to be
    // rerun when `CARGO_PKG_NAME` and the like change, and a nested cargo that still had this
    // test's values rebuilt ring, rustls and everything above them (about a minute, with the
    // other tests of this binary running beside it).
    let mut cargo = std::process::Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            cargo.env_remove(name.as_ref());
        }
    }
    let status = cargo
        .args(["build", "--workspace", "--all-targets"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building clinic-server failed");
    let bin = dir.join("clinic-server");
    assert!(bin.exists(), "no server binary at {}", bin.display());
    bin
}

/// The server as a child process.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl ServerProcess {
    pub fn start(bin: &Path, data_dir: &Path, port: u16) -> Self {
        use std::io::BufRead;
        for _ in 0..100 {
            let mut child = std::process::Command::new(bin)
                .arg("--data-dir")
                .arg(data_dir)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
            if let Some(addr) = line.trim().strip_prefix("listening on https://") {
                let addr: SocketAddr = addr.parse().unwrap();
                // The server made its CA before it said it was listening.
                remember_ca(&format!("https://{addr}"), data_dir_ca(data_dir));
                return Self { addr, child };
            }
            // The port is still held by the killed process's sockets; try again.
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not start");
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options for a test client: file credentials in `profile`, fast reconnects.
pub fn options(profile: &Path) -> ClientOptions {
    let mut options = ClientOptions::new(
        profile,
        Arc::new(FileStore::new(profile.join("credentials"))),
    );
    options.tuning = Tuning {
        backoff: BackoffConfig {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(500),
        },
        typing_timeout: Duration::from_secs(1),
        ..Tuning::default()
    };
    options
}

/// The demo clinic served in-process, alice signed in from her own profile (so her contacts are
/// cached), and her conversation with dr.patel: where most offline tests begin.
pub struct AliceAndPatel {
    pub data: tempfile::TempDir,
    pub profile: tempfile::TempDir,
    pub server: InProcessServer,
    pub port: u16,
    pub url: String,
    pub alice: Client,
    pub conversation: ConversationKey,
}

pub async fn alice_and_patel() -> AliceAndPatel {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let port = server.addr.port();
    let url = server.url();
    let alice = login(&url, profile.path(), "alice").await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    AliceAndPatel {
        data,
        profile,
        server,
        port,
        url,
        alice,
        conversation,
    }
}

/// The demo clinic served in-process, with alice and dr.patel each signed in on a device of
/// their own and online.
pub struct BothOnline {
    pub data: tempfile::TempDir,
    pub profiles: (tempfile::TempDir, tempfile::TempDir),
    pub server: InProcessServer,
    pub alice: Client,
    pub patel: Client,
    pub conversation: ConversationKey,
}

pub async fn alice_and_patel_online() -> BothOnline {
    let data = demo_data_dir();
    let profiles = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login(&url, profiles.0.path(), "alice").await;
    let patel = login(&url, profiles.1.path(), "dr.patel").await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.connect();
    patel.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    patel.wait_online(PATIENCE).await.unwrap();
    BothOnline {
        data,
        profiles,
        server,
        alice,
        patel,
        conversation,
    }
}

/// Logs in with the server's pairing code (as a user given the code by IT would).
pub async fn login(url: &str, profile: &Path, username: &str) -> Client {
    Client::login(
        options(profile),
        url,
        username,
        PASSWORD,
        if url.starts_with("http://") {
            Pairing::Saved
        } else {
            Pairing::Code(code_for(url))
        },
    )
    .await
    .unwrap()
}

/// Everything the server holds in one conversation, as `username` sees it, oldest first
/// (read through the catch-up endpoint, one entry per message id).
pub async fn server_messages(
    url: &str,
    username: &str,
    conversation: &ConversationKey,
) -> Vec<Message> {
    let api = api(url);
    let token = api.login(username, PASSWORD).await.unwrap().token;
    let api = api.with_token(token);
    let mut by_id: HashMap<String, Message> = HashMap::new();
    let mut since = Seq(0);
    loop {
        let page = api.sync(since, Some(500)).await.unwrap();
        for m in page.messages {
            if &m.conversation() == conversation {
                by_id.insert(m.id.to_string(), m);
            }
        }
        since = page.cursor;
        if !page.has_more {
            break;
        }
    }
    let mut all: Vec<Message> = by_id.into_values().collect();
    all.sort_by_key(|m| m.seq);
    all
}

/// Contents of `messages` that start with `prefix`, in the order given.
pub fn contents_with<'a>(messages: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    messages
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The numbered contents a test sent: `prefix-0` .. `prefix-(n-1)`.
pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

pub fn local_contents(history: &[LocalMessage], prefix: &str) -> Vec<String> {
    contents_with(history.iter().map(|m| m.content.as_str()), prefix)
}

/// A fresh prefix so a test only counts its own messages (the demo clinic has some).
pub fn prefix(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().to_string()[..8])
}

/// Logs in (pairing as a user would) and waits until the client is online.
pub async fn login_online(url: &str, profile: &Path, username: &str) -> Client {
    let client = login(url, profile, username).await;
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    client
}

/// Waits until `done()` holds, re-checking after every event of `client` (lagging is fine:
/// the check reads the cache, not the events).
pub async fn wait_until(client: &Client, what: &str, mut done: impl FnMut() -> bool) {
    let mut events = client.subscribe();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => panic!("timed out waiting for {what}"),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => panic!("events closed"),
            Ok(_) => {}
        }
    }
}

/// The `clinic` binary on a profile, quiet.
pub fn clinic(profile: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_clinic"));
    cmd.arg("--profile").arg(profile).env("CLINIC_LOG", "off");
    cmd
}

/// `clinic login` as `username` with file credentials, the server's pairing code, and the
/// password on stdin.
pub fn cli_login(profile: &Path, url: &str, username: &str, password: &str) -> bool {
    cli_login_output(profile, url, username, password, Some(&code_for(url)))
        .status
        .success()
}

/// `clinic login` with file credentials and the given pairing code (if any); its output.
pub fn cli_login_output(
    profile: &Path,
    url: &str,
    username: &str,
    password: &str,
    pin: Option<&str>,
) -> std::process::Output {
    let mut args = vec!["--server", url, "--credentials", "file", "login"];
    args.extend(["--username", username]);
    if let Some(pin) = pin {
        args.extend(["--pin", pin]);
    }
    clinic_with_line(profile, &args, password)
}

/// `clinic` on `profile` with `args` and `line` as the first line of its stdin (a password).
pub fn clinic_with_line(profile: &Path, args: &[&str], line: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = clinic(profile)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
    child.wait_with_output().unwrap()
}

/// Polls `done()` every 50 ms until it holds (for conditions no client event announces).
pub async fn poll_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes the app lock's state of the session in `profile` (file credentials, its app closed)
/// into its encrypted cache, as only a test may: `{"locked":false}` as a sign-in leaves it,
/// `{` as damage.
pub fn set_lock_state(profile: &Path, state: &str) {
    let profile = Profile::new(profile);
    let session = profile.load_session().unwrap().unwrap();
    let store = FileStore::new(profile.dir().join("credentials"));
    clinic_client::Cache::open_with_store(
        &profile.cache_path(&session),
        &store,
        &session.account(),
    )
    .unwrap()
    .cache
    .set_lock_state(state)
    .unwrap();
}

/// Every file under `dir`, its folders' files included (a profile: caches, logs, session,
/// pins, credentials, attachments).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
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

/// This computer's (sealed) copy of `message`'s attachment, which it must have.
pub async fn attachment_copy(client: &Client, message: &LocalMessage) -> PathBuf {
    client
        .attachment_path(&message.sender_id, &message.client_id)
        .await
        .unwrap()
        .unwrap()
}
