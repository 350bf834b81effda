//! A proxy on 127.0.0.1 in front of the real server, for faults the server does not make on
//! its own. It terminates TLS with the server's own certificate (so a paired client cannot tell
//! it from the server) and speaks TLS to the server: it relays HTTP as bytes (stalling uploads
//! on request: it takes the request and never reads on, until the test drops those connections;
//! or letting the server see an upload's first bytes and then nothing more, so that the server
//! abandons it) and WebSocket frame by frame (counting connections and frame types, answering chosen sends
//! with `error internal`, changes and catch-up requests with `error unavailable` itself, holding
//! the server's frames back), or going silent as a frozen server does (connections stay open, nothing
//! is read or answered, not even a ping; an HTTP connection open as it goes silent is dropped).

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::tungstenite::Message as Ws;

/// Both ends of the proxy's TLS, from the server's data folder (`DATA-DIR/tls/`).
struct Tls {
    acceptor: TlsAcceptor,
    client: Arc<rustls::ClientConfig>,
}

impl Tls {
    fn of_server(data_dir: &Path) -> Self {
        let dir = data_dir.join("tls");
        // The in-process server writes its CA, then its key, then its certificate as it starts
        // serving (each file whole, by rename): on a busy machine (the client's tests run in
        // parallel threads) that took longer than ten seconds once, and a proxy that waited for
        // the key alone found no certificate yet (three runs in forty, four at a time).
        let deadline = std::time::Instant::now() + super::PATIENCE;
        let files = ["ca.pem", "server.key", "server.pem"];
        while !files.iter().all(|f| dir.join(f).exists()) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let provider = clinic_server::tls::provider();
        let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
            .unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            client: Arc::new(client),
        }
    }

    /// A TLS connection to the server, as a client that trusts the clinic CA.
    async fn connect(
        &self,
        upstream: SocketAddr,
    ) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(upstream).await.ok()?;
        let name = ServerName::from(upstream.ip());
        TlsConnector::from(Arc::clone(&self.client))
            .connect(name, tcp)
            .await
            .ok()
    }
}

#[derive(Debug, Default)]
struct Rules {
    stall_uploads: AtomicBool,
    /// Wakes the stalled uploads to drop their connections.
    drop_stalled: Notify,
    refuse_marker: Mutex<Option<String>>,
    /// Unsends and edits still to answer with `error unavailable` (counting down).
    refuse_changes: AtomicUsize,
    /// `sync` requests still to answer with an `error unavailable` tied to no send.
    refuse_syncs: AtomicUsize,
    hold_server_frames: AtomicBool,
    released: Notify,
    ws_connections: AtomicUsize,
    /// `type` of every frame a client sent, in order.
    client_frames: Mutex<Vec<String>>,
    uploads_stalled: AtomicUsize,
    pause_next_upload: AtomicBool,
    /// Upload requests seen, stalled, paused or relayed.
    uploads: AtomicUsize,
    /// True while the proxy is silent.
    silent: tokio::sync::watch::Sender<bool>,
}

/// The proxy; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    rules: Arc<Rules>,
}

/// What every relayed connection needs.
struct Route {
    upstream: SocketAddr,
    tls: Tls,
    rules: Arc<Rules>,
}

impl Proxy {
    /// In front of the HTTPS server on `upstream` whose files are in `data_dir`; clients pair
    /// with the proxy's URL by the same code as with the server's.
    pub async fn start(upstream: SocketAddr, data_dir: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rules = Arc::new(Rules::default());
        let route = Arc::new(Route {
            upstream,
            tls: Tls::of_server(data_dir),
            rules: Arc::clone(&rules),
        });
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(handle(tcp, Arc::clone(&route)));
            }
        });
        let proxy = Self { addr, rules };
        super::remember_ca(&proxy.url(), super::data_dir_ca(data_dir));
        proxy
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// From now on every `POST /api/chat/upload` is taken and never read.
    pub fn stall_uploads(&self) {
        self.rules.stall_uploads.store(true, Ordering::SeqCst);
    }

    /// Stops stalling and drops the connections of the uploads stalled so far, mid-request (the
    /// line went down): the client has to start those uploads again.
    pub fn drop_stalled_uploads(&self) {
        self.rules.stall_uploads.store(false, Ordering::SeqCst);
        self.rules.drop_stalled.notify_waiters();
    }

    pub fn uploads_stalled(&self) -> usize {
        self.rules.uploads_stalled.load(Ordering::SeqCst)
    }

    /// The next `POST /api/chat/upload` reaches the server with the bytes of its first read
    /// (its head and the start of its body) and then nothing more: the line went quiet. The
    /// server's answer still reaches the client; then the connection closes.
    pub fn pause_next_upload(&self) {
        self.rules.pause_next_upload.store(true, Ordering::SeqCst);
    }

    /// Upload requests that reached the proxy so far.
    pub fn uploads(&self) -> usize {
        self.rules.uploads.load(Ordering::SeqCst)
    }

    /// Answers every `message:send` whose content contains `marker` with `error internal`
    /// (the server never sees it).
    pub fn refuse_sends_containing(&self, marker: &str) {
        *self.rules.refuse_marker.lock().unwrap() = Some(marker.to_owned());
    }

    /// Answers the next `n` unsends and edits (`message:retract`, `message:edit`) with `error
    /// unavailable` itself, as a busy server does.
    pub fn refuse_changes(&self, n: usize) {
        self.rules.refuse_changes.store(n, Ordering::SeqCst);
    }

    /// Answers the next `n` catch-up requests (`sync`) with `error unavailable`, as a busy
    /// server does, rather than relaying them.
    pub fn refuse_syncs(&self, n: usize) {
        self.rules.refuse_syncs.store(n, Ordering::SeqCst);
    }

    /// Lets every send through again.
    pub fn stop_refusing(&self) {
        *self.rules.refuse_marker.lock().unwrap() = None;
    }

    /// Holds every server-to-client WebSocket frame back until [`Proxy::release`].
    pub fn hold_server_frames(&self) {
        self.rules.hold_server_frames.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.rules.hold_server_frames.store(false, Ordering::SeqCst);
        self.rules.released.notify_waiters();
    }

    /// From now on nothing is read or answered on any connection, old or new, and none is
    /// closed: what a client meets when the server froze or the network between went down
    /// without a word. Pings go unanswered.
    pub fn go_silent(&self) {
        self.rules.silent.send_replace(true);
    }

    /// Ends the silence: the connections it held are closed, new ones are served.
    pub fn speak_again(&self) {
        self.rules.silent.send_replace(false);
    }

    /// WebSocket connections opened through the proxy so far.
    pub fn ws_connections(&self) -> usize {
        self.rules.ws_connections.load(Ordering::SeqCst)
    }

    /// How many frames of this `type` clients sent so far.
    pub fn client_frames(&self, kind: &str) -> usize {
        self.rules
            .client_frames
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.as_str() == kind)
            .count()
    }
}

async fn handle(client: TcpStream, route: Arc<Route>) {
    // Taken by the kernel, never answered until the silence ends.
    until(&mut route.rules.silent.subscribe(), false).await;
    let Ok(client) = route.tls.acceptor.accept(client).await else {
        return;
    };
    // The request line says what this is; the bytes read to see it are replayed first.
    let (mut read, write) = tokio::io::split(client);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 7 {
        match tokio::time::timeout(Duration::from_secs(5), read.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return,
        }
    }
    let websocket = head.starts_with(b"GET /ws");
    let client = tokio::io::join(std::io::Cursor::new(head).chain(read), write);
    if websocket {
        relay_ws(client, route).await;
    } else {
        // An HTTP connection open as the proxy goes silent is dropped (a request on it then
        // fails at once and the client opens another, which meets the silence).
        let mut silent = route.rules.silent.subscribe();
        tokio::select! {
            () = relay_http(client, route) => {}
            () = until(&mut silent, true) => {}
        }
    }
}

/// Bytes both ways; while uploads stall, an upload request (also on a kept-alive connection) is
/// taken in and then nothing more is read from that client, so its upload never ends; a paused
/// upload reaches the server with its first read only.
async fn relay_http(
    client: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    route: Arc<Route>,
) {
    let Some(server) = route.tls.connect(route.upstream).await else {
        return;
    };
    let rules = Arc::clone(&route.rules);
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut server_read, mut server_write) = tokio::io::split(server);
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    const UPLOAD: &[u8] = b"POST /api/chat/upload";
    let mut buf = vec![0u8; 64 * 1024];
    // The end of the previous read: a request line may be split between two reads (the first
    // one of a connection always is, after the bytes `handle` read to tell WebSocket from HTTP).
    let mut tail: Vec<u8> = Vec::new();
    while let Ok(got) = client_read.read(&mut buf).await {
        if got == 0 {
            break;
        }
        let chunk = &buf[..got];
        let seen = [tail.as_slice(), chunk].concat();
        // Armed before the rule is read, so that a drop right after it is not missed.
        let dropped = rules.drop_stalled.notified();
        tokio::pin!(dropped);
        dropped.as_mut().enable();
        let upload = find(&seen, UPLOAD);
        if upload.is_some() {
            rules.uploads.fetch_add(1, Ordering::SeqCst);
        }
        if rules.stall_uploads.load(Ordering::SeqCst)
            && let Some(at) = upload
        {
            // What of this read comes before the request (the tail went to the server already).
            let _ = server_write
                .write_all(&chunk[..at.saturating_sub(tail.len())])
                .await;
            rules.uploads_stalled.fetch_add(1, Ordering::SeqCst);
            // Keep the connection open and unread until the test drops it.
            dropped.await;
            down.abort();
            return;
        }
        if upload.is_some() && rules.pause_next_upload.swap(false, Ordering::SeqCst) {
            let _ = server_write.write_all(chunk).await;
            let _ = server_write.flush().await;
            // Nothing more is read from the client: the server answers and closes, and that
            // answer goes to the client.
            let _ = down.await;
            return;
        }
        if server_write.write_all(chunk).await.is_err() {
            break;
        }
        tail = seen[seen.len().saturating_sub(UPLOAD.len() - 1)..].to_vec();
    }
    let _ = server_write.shutdown().await;
    let _ = down.await;
}

/// Until the proxy's silence is `value` (a guard of the value is not held across an await).
async fn until(silent: &mut tokio::sync::watch::Receiver<bool>, value: bool) {
    let _ = silent.wait_for(|s| *s == value).await.map(drop);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Frames both ways, applying the rules.
async fn relay_ws(client: impl AsyncRead + AsyncWrite + Unpin, route: Arc<Route>) {
    let Ok(client) = tokio_tungstenite::accept_async(client).await else {
        return;
    };
    let Ok((server, _)) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{}/ws", route.upstream),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(Arc::clone(
            &route.tls.client,
        ))),
    )
    .await
    else {
        return;
    };
    let rules = Arc::clone(&route.rules);
    rules.ws_connections.fetch_add(1, Ordering::SeqCst);
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    let (answers_tx, mut answers_rx) = tokio::sync::mpsc::unbounded_channel::<Ws>();
    let up_rules = Arc::clone(&rules);
    let up = async move {
        let mut silent = up_rules.silent.subscribe();
        loop {
            let frame = tokio::select! {
                frame = from_client.next() => Some(frame),
                () = until(&mut silent, true) => None,
            };
            let Some(frame) = frame else {
                // Not read again (a ping read would be answered): held open until the silence
                // ends, then dropped.
                until(&mut silent, false).await;
                break;
            };
            let Some(Ok(frame)) = frame else { break };
            if let Ws::Text(text) = &frame {
                let value: serde_json::Value =
                    serde_json::from_str(text.as_str()).unwrap_or_default();
                let kind = value["type"].as_str().unwrap_or_default().to_owned();
                up_rules.client_frames.lock().unwrap().push(kind.clone());
                let marker = up_rules.refuse_marker.lock().unwrap().clone();
                if kind == "message:send"
                    && let Some(marker) = marker
                    && value["content"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&marker)
                {
                    let refusal = serde_json::json!({
                        "type": "error", "code": "internal",
                        "message": "database is locked", "clientId": value["clientId"],
                    });
                    let _ = answers_tx.send(Ws::text(refusal.to_string()));
                    continue;
                }
                if kind == "sync"
                    && up_rules
                        .refuse_syncs
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let refusal = serde_json::json!({
                        "type": "error", "code": "unavailable",
                        "message": "the server is busy; try again",
                    });
                    let _ = answers_tx.send(Ws::text(refusal.to_string()));
                    continue;
                }
                if (kind == "message:retract" || kind == "message:edit")
                    && up_rules
                        .refuse_changes
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let refusal = serde_json::json!({
                        "type": "error", "code": "unavailable",
                        "message": "the server is busy; try again", "clientId": value["clientId"],
                    });
                    let _ = answers_tx.send(Ws::text(refusal.to_string()));
                    continue;
                }
            }
            if to_server.send(frame).await.is_err() {
                break;
            }
        }
    };
    let down = async move {
        let mut silent = rules.silent.subscribe();
        loop {
            let mut went_silent = false;
            tokio::select! {
                () = until(&mut silent, true) => went_silent = true,
                frame = from_server.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    while rules.hold_server_frames.load(Ordering::SeqCst) {
                        let released = rules.released.notified();
                        if !rules.hold_server_frames.load(Ordering::SeqCst) {
                            break;
                        }
                        released.await;
                    }
                    if to_client.send(frame).await.is_err() {
                        break;
                    }
                }
                Some(answer) = answers_rx.recv() => {
                    if to_client.send(answer).await.is_err() {
                        break;
                    }
                }
            }
            if went_silent {
                until(&mut silent, false).await;
                break;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
