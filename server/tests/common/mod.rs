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
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        split(request.send().await.unwrap()).await
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
pub fn spawn_server(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    (child, addr)
}

/// Creates accounts (password [`PASSWORD`]) in a data folder, without a server.
pub fn create_accounts(data_dir: &Path, accounts: &[(&str, Role)]) {
    for (username, role) in accounts {
        create_user(
            data_dir,
            NewAccount {
                username: (*username).into(),
                name: (*username).into(),
                role: *role,
                password: PASSWORD.into(),
                date_of_birth: None,
                blood_group: None,
            },
        )
        .unwrap();
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

/// Logs in over REST against a server at `addr` serving `data_dir` (e.g. one from
/// [`spawn_server`]).
pub async fn login_at(data_dir: &Path, addr: &str, username: &str) -> Account {
    let body: Value = http_client(&tls_config(data_dir))
        .post(format!("https://{addr}/api/auth/login"))
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
