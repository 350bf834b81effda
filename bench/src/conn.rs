//! One client connection: TCP to 127.0.0.1, TLS when the server speaks it, WebSocket upgrade with
//! small buffers (the generator holds up to 10,000 of them), and `authenticate {token}` as the
//! first frame, like the app. For the reference server the Engine.IO handshake and the Socket.IO
//! namespace connect come first.

use crate::endpoint::Endpoint;
use crate::frames::Inbound;
use crate::socketio;
use crate::stack::Stack;
use anyhow::{Context, bail};
use clinic_protocol::{ClientFrame, UserId};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connect plus authenticate may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The same for the reference server, whose every sign-in is broadcast to every socket (the
/// seed's presence), so that signing in 1,000 users sends ~500,000 frames from one Node thread.
const REFERENCE_CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// A signed-in socket, who it is, and which server protocol it speaks.
#[derive(Debug)]
pub struct Conn {
    pub ws: Ws,
    pub user: UserId,
    pub stack: Stack,
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
pub async fn connect(
    endpoint: &Endpoint,
    stack: Stack,
    user: &UserId,
    token: &str,
) -> anyhow::Result<Conn> {
    let limit = match stack {
        Stack::Clinic => CONNECT_TIMEOUT,
        Stack::Reference => REFERENCE_CONNECT_TIMEOUT,
    };
    tokio::time::timeout(limit, connect_inner(endpoint, stack, user, token))
        .await
        .context("connect timed out")?
}

/// Connects and upgrades to clinic-server's `/ws` without reading anything afterwards (a slow
/// consumer).
pub async fn connect_raw(endpoint: &Endpoint) -> anyhow::Result<Ws> {
    upgrade(endpoint, Stack::Clinic).await
}

async fn upgrade(endpoint: &Endpoint, stack: Stack) -> anyhow::Result<Ws> {
    let tcp = TcpStream::connect(endpoint.addr)
        .await
        .context("tcp connect")?;
    tcp.set_nodelay(true)?;
    let connector = match &endpoint.tls {
        Some(tls) => Connector::Rustls(tls.clone()),
        None => Connector::Plain,
    };
    let (ws, _) = tokio_tungstenite::client_async_tls_with_config(
        endpoint.ws_url(stack.ws_path()),
        tcp,
        Some(config()),
        Some(connector),
    )
    .await
    .context("websocket upgrade")?;
    Ok(ws)
}

/// Reads frames until `want` says it has what it waited for (answering Engine.IO pings).
async fn read_until(
    ws: &mut Ws,
    stack: Stack,
    what: &str,
    want: fn(&Inbound) -> bool,
) -> anyhow::Result<()> {
    while let Some(message) = ws.next().await {
        if let Message::Text(body) = message? {
            match stack.parse(body.as_str()) {
                Inbound::Ping => ws.send(Message::text(socketio::PONG)).await?,
                Inbound::Error { code, message } => bail!("{what} refused: {code} {message}"),
                inbound if want(&inbound) => return Ok(()),
                _ => {}
            }
        }
    }
    bail!("closed before {what}")
}

async fn connect_inner(
    endpoint: &Endpoint,
    stack: Stack,
    user: &UserId,
    token: &str,
) -> anyhow::Result<Conn> {
    let mut ws = upgrade(endpoint, stack).await?;
    if stack == Stack::Reference {
        read_until(&mut ws, stack, "engine.io open", |i| {
            matches!(i, Inbound::Open)
        })
        .await?;
        ws.send(Message::text(socketio::CONNECT)).await?;
        read_until(&mut ws, stack, "namespace connect", |i| {
            matches!(i, Inbound::Connected)
        })
        .await?;
    }
    ws.send(stack.authenticate(token)).await?;
    read_until(&mut ws, stack, "authenticate", |i| {
        matches!(i, Inbound::Authenticated)
    })
    .await?;
    Ok(Conn {
        ws,
        user: user.clone(),
        stack,
    })
}
