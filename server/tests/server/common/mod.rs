//! Test harness: a real server on 127.0.0.1:0 with a temp data folder, speaking HTTPS with the
//! clinic CA of that folder (as in production), accounts, logins, and WebSocket clients that
//! wait for a given frame with a generous timeout.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::NaiveDate;
use clinic_protocol::{Role, User};
use clinic_server::accounts::{NewAccount, create_user};
use clinic_server::{Config, ServerError};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Only to keep a broken test from hanging; never a claim about speed.
pub const WAIT: Duration = Duration::from_secs(15);
pub const PASSWORD: &str = "correct horse";
/// A 1x1 PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub http: reqwest::Client,
    /// Trusts the clinic CA of `dir` (and nothing else).
    pub tls: Arc<rustls::ClientConfig>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, adjust).await
    }

    /// Starts a server on an existing data folder (e.g. after a restart).
    pub async fn start_in(dir: TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(dir.path().to_path_buf());
        // Tests do not need durability against power loss; the crash test uses the binary.
        config.synchronous = clinic_server::Synchronous::Normal;
        // Accounts are made after the start, in a folder that has no database yet.
        config.init = true;
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = tls_config(dir.path());
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(clinic_server::run(listener, config, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            http: http_client(&tls),
            tls,
            dir,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("wss://{}/ws", self.addr)
    }

    /// A TLS connection to the server for hand-written HTTP.
    pub async fn raw_tls(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        tls_stream(&self.addr.to_string(), &self.tls).await
    }

    /// The TLS settings for a WebSocket to this server.
    pub fn connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(Arc::clone(&self.tls))
    }

    /// Creates an account (patients get a date of birth and blood group).
    pub async fn user(&self, username: &str, role: Role) -> User {
        let dir = self.dir.path().to_path_buf();
        let account = NewAccount {
            username: username.into(),
            name: format!("Test {username}"),
            role,
            password: PASSWORD.into(),
            date_of_birth: (role == Role::Patient)
                .then(|| NaiveDate::from_ymd_opt(1980, 1, 2).unwrap()),
            blood_group: (role == Role::Patient).then(|| "AB+".to_owned()),
        };
        tokio::task::spawn_blocking(move || create_user(&dir, account))
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn login(&self, username: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of {username}");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// An account and a token for it.
    pub async fn account(&self, username: &str, role: Role) -> Account {
        let user = self.user(username, role).await;
        let token = self.login(username).await;
        Account { user, token }
    }

    /// A request with the token and an optional JSON body; returns status and JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.http, method, &self.url(path), token, body).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, token, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::PATCH, token, path, Some(body))
            .await
    }

    /// `who` uploads `bytes` of type `mime` named `name` into the conversation of `patient` and
    /// `doctor`.
    pub async fn upload(
        &self,
        who: &Account,
        (patient, doctor): (&Account, &Account),
        name: &str,
        bytes: Vec<u8>,
        mime: &str,
    ) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/chat/upload"))
            .bearer_auth(&who.token)
            .multipart(upload_form(patient, doctor, name, bytes, mime))
            .send()
            .await
            .unwrap();
        split(response).await
    }

    /// Takes the database's write lock from another connection (as another program would),
    /// which holds the server's writer up; `COMMIT` on the result lets it go.
    pub fn stall_writer(&self) -> rusqlite::Connection {
        let other = rusqlite::Connection::open(self.dir.path().join("clinic.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        other
    }

    /// Stops the server and returns its data folder.
    pub async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(WAIT, handle)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

/// A request to `url` with `token` and an optional JSON body; returns status and JSON body.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    split(request.send().await.unwrap()).await
}

/// Every page of history from `path` (a `GET /api/chat/messages`), following the `Link`
/// headers (`rel="next"`) to the start: the pages as fetched, newest first, each oldest first.
pub async fn history_pages(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> Vec<Vec<Value>> {
    let mut next = Some(path.to_owned());
    let mut pages = Vec::new();
    while let Some(path) = next.take() {
        assert!(pages.len() < 10_000, "the links do not end");
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        next = response.headers().get("link").map(|link| {
            let (target, rel) = link.to_str().unwrap().split_once(">; ").unwrap();
            assert_eq!(rel, r#"rel="next""#);
            // A query alone: it resolves against the path just asked for.
            let query = target.strip_prefix("<?").expect("a query reference");
            let (asked, _) = path.split_once('?').unwrap_or((&path, ""));
            format!("{asked}?{query}")
        });
        pages.push(response.json().await.unwrap());
    }
    pages
}

/// The multipart body of an upload into the conversation of `patient` and `doctor`.
pub fn upload_form(
    patient: &Account,
    doctor: &Account,
    name: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("patientId", patient.id().to_owned())
        .text("doctorId", doctor.id().to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str(mime)
                .unwrap(),
        )
}

pub async fn split(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub token: String,
}

impl Account {
    pub fn id(&self) -> &str {
        self.user.id.as_str()
    }
}

/// A raw WebSocket client speaking JSON frames.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn raw(server: &TestServer) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
            server.ws_url(),
            None,
            false,
            Some(server.connector()),
        )
        .await
        .unwrap();
        Self { stream }
    }

    /// Connects and authenticates with the first frame; returns after `authenticated`.
    pub async fn connect(server: &TestServer, token: &str) -> (Self, Value) {
        let mut ws = Self::raw(server).await;
        ws.send(json!({"type": "authenticate", "token": token}))
            .await;
        let authenticated = ws.expect("authenticated").await;
        (ws, authenticated)
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_text(&mut self, text: String) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// The next JSON frame, or None when the socket closed.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame in time");
            match message {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Skips frames until one of type `kind`; panics if the socket closes first.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_skipping(kind).await.0
    }

    /// Like `expect`, also returning the types of the frames skipped on the way.
    pub async fn expect_skipping(&mut self, kind: &str) -> (Value, Vec<String>) {
        let mut skipped = Vec::new();
        loop {
            let frame = self.next().await.unwrap_or_else(|| {
                panic!("socket closed while waiting for {kind}; skipped {skipped:?}")
            });
            let this = frame["type"].as_str().unwrap_or_default().to_owned();
            if this == kind {
                return (frame, skipped);
            }
            skipped.push(this);
        }
    }

    /// Waits until the server closes the socket; returns the close code if any.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("close in time");
            match message {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// Starts the real `clinic-server serve` binary on a free port with `extra` serve flags; returns
/// the process (to kill) and its address.
pub fn spawn_server(dir: &std::path::Path, extra: &[&str]) -> (Spawned, String) {
    let mut child = Spawned(
        serve_command(dir, extra)
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let addr = listening_addr(&mut child);
    (child, addr)
}

/// A server process killed when the test ends however it ends: a failed assertion must not
/// leave a server holding the test runner's output open (the run would hang instead of failing).
#[derive(Debug)]
pub struct Spawned(pub std::process::Child);

impl std::ops::Deref for Spawned {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TLS connection to `addr` (127.0.0.1) trusting `tls`, for hand-written HTTP.
pub async fn tls_stream(
    addr: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::clone(tls))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// TLS settings that trust the clinic CA of a data folder (made now if the server has not run
/// yet; the server then uses the same one) and nothing else.
pub fn tls_config(data_dir: &Path) -> Arc<rustls::ClientConfig> {
    use clinic_server::tls::pki::{TlsPaths, ensure_ca};
    let ca = ensure_ca(&TlsPaths::new(data_dir)).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der.into()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(clinic_server::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// An HTTPS client for the server of `tls` (see [`tls_config`]).
pub fn http_client(tls: &Arc<rustls::ClientConfig>) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(rustls::ClientConfig::clone(tls))
        .build()
        .unwrap()
}

/// `clinic-server --data-dir DIR serve --listen 127.0.0.1:0 EXTRA...`, stdout piped.
/// The command [`spawn_server`] runs (for a test that must not wait for it to listen).
pub fn serve_command(dir: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-server"));
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    command
}

/// Logs in over REST against a server at `addr` serving `data_dir` (e.g. one from
/// [`spawn_server`]).
pub async fn login_at(data_dir: &Path, addr: &str, username: &str) -> Account {
    login_with(
        &http_client(&tls_config(data_dir)),
        &format!("https://{addr}/api/auth/login"),
        username,
    )
    .await
}

/// `POST url` (a login endpoint) with `username` and [`PASSWORD`].
async fn login_with(http: &reqwest::Client, url: &str, username: &str) -> Account {
    let body: Value = http
        .post(url)
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Account {
        user: serde_json::from_value(body["user"].clone()).unwrap(),
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

/// Reads the `listening on https://ADDR` (or `http://` with `--tls off`) line a spawned
/// `clinic-server serve` prints first.
pub fn listening_addr(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let rest = line.trim().strip_prefix("listening on ");
    rest.and_then(|r| {
        r.strip_prefix("https://")
            .or_else(|| r.strip_prefix("http://"))
    })
    .unwrap_or_else(|| panic!("unexpected first line: {line}"))
    .to_owned()
}

/// A WebSocket to `wss://ADDR/ws` of a server serving `data_dir`.
pub async fn ws_at(data_dir: &Path, addr: &str) -> Ws {
    let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{addr}/ws"),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(tls_config(data_dir))),
    )
    .await
    .unwrap();
    Ws { stream }
}

/// A `message:send` frame.
pub fn send_frame(client_id: &str, patient: &Account, doctor: &Account, content: &str) -> Value {
    json!({
        "type": "message:send",
        "clientId": client_id,
        "patientId": patient.id(),
        "doctorId": doctor.id(),
        "content": content,
    })
}

/// The path of the history of the conversation of `patient` and `doctor`.
pub fn history_path(patient: &Account, doctor: &Account) -> String {
    format!(
        "/api/chat/messages?patientId={}&doctorId={}",
        patient.id(),
        doctor.id()
    )
}

/// The conversation key fields of a frame.
pub fn key(patient: &Account, doctor: &Account) -> Value {
    json!({"patientId": patient.id(), "doctorId": doctor.id()})
}

/// A clinic of two doctors and two patients, each logged in.
pub struct Clinic {
    pub doc1: Account,
    pub doc2: Account,
    pub pat1: Account,
    pub pat2: Account,
}

pub async fn clinic(server: &TestServer) -> Clinic {
    Clinic {
        doc1: server.account("doc1", Role::Doctor).await,
        doc2: server.account("doc2", Role::Doctor).await,
        pat1: server.account("pat1", Role::Patient).await,
        pat2: server.account("pat2", Role::Patient).await,
    }
}

/// The real `clinic-server` binary serving a data folder on 127.0.0.1, its log (stderr) kept in
/// a file the test can read; killed with SIGKILL when dropped.
pub struct Binary {
    pub child: std::process::Child,
    pub addr: String,
    /// Trusts the clinic CA of its data folder, and nothing else.
    pub tls: Arc<rustls::ClientConfig>,
    /// An HTTPS client with [`Binary::tls`].
    pub http: reqwest::Client,
    log: std::path::PathBuf,
    _log_dir: TempDir,
}

impl Binary {
    /// `clinic-server --data-dir DIR serve --listen 127.0.0.1:0 EXTRA...` (HTTPS with its clinic
    /// CA, as clinics run it); panics with the log if it does not start.
    pub fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_logging(dir, extra, "warn")
    }

    /// [`Binary::start`] with the log at `level` (`RUST_LOG`) instead of warnings only.
    pub fn start_logging(dir: &std::path::Path, extra: &[&str], level: &str) -> Self {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("server.log");
        // Made before the server starts (or the one already there): the server uses the same.
        let tls = tls_config(dir);
        let mut child = serve_command(dir, extra)
            .env("RUST_LOG", level)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on https://") else {
            let _ = child.wait();
            panic!(
                "the server did not start: {line}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Self {
            addr: addr.to_owned(),
            child,
            http: http_client(&tls),
            tls,
            log,
            _log_dir: log_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("wss://{}/ws", self.addr)
    }

    /// For WebSocket clients: TLS trusting this server's clinic CA.
    pub fn connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(Arc::clone(&self.tls))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Logs in (from 127.0.0.1).
    pub async fn login(&self, username: &str) -> Account {
        login_with(&self.http, &self.url("/api/auth/login"), username).await
    }

    /// A WebSocket authenticated with `token`, after its `authenticated` frame (which must come
    /// first: a client drops anything before it).
    pub async fn ws(&self, token: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
            self.ws_url(),
            None,
            false,
            Some(self.connector()),
        )
        .await
        .unwrap();
        let mut ws = Ws { stream };
        ws.send(json!({"type": "authenticate", "token": token}))
            .await;
        let first = ws.next().await.expect("an answer to authenticate");
        assert_eq!(first["type"], "authenticated", "{first}");
        ws
    }

    /// A REST request with `token` and an optional JSON body; returns status and JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.http, method, &self.url(path), token, body).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, token, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    /// `who` uploads `bytes` named `name` into the conversation of `patient` and `doctor`.
    pub async fn upload(
        &self,
        who: &Account,
        patient: &Account,
        doctor: &Account,
        name: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = upload_form(patient, doctor, name, bytes, "application/octet-stream");
        let response = self
            .http
            .post(self.url("/api/chat/upload"))
            .bearer_auth(&who.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        split(response).await
    }

    /// Stops it with SIGKILL (a crash); returns its log.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }

    /// Waits (up to [`WAIT`]) for it to stop by itself; returns how it ended and its log.
    pub fn exits(mut self) -> (std::process::ExitStatus, String) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "it did not stop by itself: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it with SIGTERM (a clean shutdown) and waits; returns its log.
    pub fn stop(mut self) -> String {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "no clean stop in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary serving a patient `pat` and a doctor `doc` (logged in), in a folder of its
/// own.
pub struct BinaryClinic {
    pub server: Binary,
    pub pat: Account,
    pub doc: Account,
    pub dir: TempDir,
}

/// [`BinaryClinic`] with `extra` serve flags, and more accounts (`others`, not logged in).
pub async fn binary_clinic(extra: &[&str], others: &[(&str, Role)]) -> BinaryClinic {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("pat", Role::Patient), ("doc", Role::Doctor)]);
    accounts(dir.path(), others);
    let server = Binary::start(dir.path(), extra);
    let pat = server.login("pat").await;
    let doc = server.login("doc").await;
    BinaryClinic {
        server,
        pat,
        doc,
        dir,
    }
}

/// Runs `clinic-server --data-dir DIR ARGS...` to its end (a refusal, or a CLI command).
pub fn run_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    run_cli_within(dir, args, WAIT)
}

/// [`run_cli`] for a command that reads a whole database first (the check before serving),
/// which a loaded machine running the other tests in parallel can make slow: `wait` is how long
/// before the test calls it hung.
pub fn run_cli_within(
    dir: &std::path::Path,
    args: &[&str],
    wait: Duration,
) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + wait;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("clinic-server {args:?} did not finish within {wait:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Creates accounts in a data folder without a server (password [`PASSWORD`]).
pub fn accounts(dir: &std::path::Path, people: &[(&str, Role)]) {
    for (username, role) in people {
        create_user(
            dir,
            NewAccount {
                username: (*username).into(),
                name: format!("Test {username}"),
                role: *role,
                password: PASSWORD.into(),
                date_of_birth: None,
                blood_group: None,
            },
        )
        .unwrap();
    }
}

/// A memory figure of a process from /proc (`VmRSS`, `VmHWM` = peak), in bytes.
pub fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// The permission bits of a path.
#[cfg(unix)]
pub fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// doc1's unread count in its conversation with pat1, and its unread notifications.
pub async fn doctor_unread(server: &TestServer, c: &Clinic) -> (u64, usize) {
    let (status, list) = server.get(&c.doc1.token, "/api/chat/conversations").await;
    assert_eq!(status, 200, "{list}");
    let unread = list
        .as_array()
        .unwrap()
        .iter()
        .find(|conv| conv["patientId"] == c.pat1.id())
        .map_or(0, |conv| conv["unreadCount"].as_u64().unwrap());
    let (status, notes) = server
        .get(&c.doc1.token, "/api/notifications?unreadOnly=true")
        .await;
    assert_eq!(status, 200, "{notes}");
    (unread, notes.as_array().unwrap().len())
}
