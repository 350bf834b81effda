//! One client connection: TCP to 127.0.0.1, TLS trusting the clinic CA of the server's data
//! folder (as a paired app does), WebSocket upgrade with small buffers (the generator holds up
//! to 10,000 of them), and `authenticate {token}` as the first frame, like the app.

use crate::frames::{self, Inbound};
use anyhow::{Context, bail};
use clinic_protocol::{ClientFrame, UserId};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// Where the server listens, and TLS settings that trust its clinic CA.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
}

impl Target {
    /// Trusts the clinic CA in `data_dir` (the server made it before it said it was listening).
    pub fn new(addr: SocketAddr, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(data_dir.join("tls").join("ca.pem"))
            .context("reading the clinic CA")?;
        let mut roots = rustls::RootCertStore::empty();
        for der in clinic_server::tls::pki::pem_certificates(&pem) {
            roots.add(der.into())?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(clinic_server::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            addr,
            tls: Arc::new(tls),
        })
    }

    /// An HTTPS client for this server.
    pub fn http(&self, timeout: Duration) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .use_preconfigured_tls(rustls::ClientConfig::clone(&self.tls))
            .timeout(timeout)
            .build()?)
    }
}

/// How long a connect plus authenticate may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A signed-in socket and who it is.
#[derive(Debug)]
pub struct Conn {
    pub ws: Ws,
    pub user: UserId,
}

/// A serialized client frame.
pub fn text(frame: &ClientFrame) -> Message {
    Message::text(serde_json::to_string(frame).unwrap_or_default())
}

fn config() -> WebSocketConfig {
    // tungstenite reads in 128 KiB chunks by default; frames here are small.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// Connects, upgrades and authenticates; returns once `authenticated` arrived.
pub async fn connect(target: &Target, user: &UserId, token: &str) -> anyhow::Result<Conn> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(target, user, token))
        .await
        .context("connect timed out")?
}

/// Connects and upgrades without reading anything afterwards (a slow consumer).
pub async fn connect_raw(target: &Target) -> anyhow::Result<Ws> {
    let addr = target.addr;
    let tcp = TcpStream::connect(addr).await.context("tcp connect")?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tcp = tokio_rustls::TlsConnector::from(Arc::clone(&target.tls))
        .connect(name, tcp)
        .await
        .context("tls handshake")?;
    let url = format!("wss://{addr}/ws");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config()))
        .await
        .context("websocket upgrade")?;
    Ok(ws)
}

async fn connect_inner(target: &Target, user: &UserId, token: &str) -> anyhow::Result<Conn> {
    let mut ws = connect_raw(target).await?;
    ws.send(text(&ClientFrame::Authenticate {
        token: token.to_owned(),
    }))
    .await?;
    while let Some(message) = ws.next().await {
        if let Message::Text(body) = message? {
            match frames::parse(body.as_str()) {
                Inbound::Authenticated => {
                    return Ok(Conn {
                        ws,
                        user: user.clone(),
                    });
                }
                Inbound::Error { code, message } => bail!("authenticate refused: {code} {message}"),
                _ => {}
            }
        }
    }
    bail!("closed before authenticated")
}
