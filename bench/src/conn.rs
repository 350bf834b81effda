//! One client connection: TCP to 127.0.0.1, WebSocket upgrade with small buffers (the generator
//! holds up to 10,000 of them), and `authenticate {token}` as the first frame, like the app.

use crate::frames::{self, Inbound};
use anyhow::{Context, bail};
use clinic_protocol::{ClientFrame, UserId};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TcpStream>;

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
pub async fn connect(addr: SocketAddr, user: &UserId, token: &str) -> anyhow::Result<Conn> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(addr, user, token))
        .await
        .context("connect timed out")?
}

/// Connects and upgrades without reading anything afterwards (a slow consumer).
pub async fn connect_raw(addr: SocketAddr) -> anyhow::Result<Ws> {
    let tcp = TcpStream::connect(addr).await.context("tcp connect")?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://{addr}/ws");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config()))
        .await
        .context("websocket upgrade")?;
    Ok(ws)
}

async fn connect_inner(addr: SocketAddr, user: &UserId, token: &str) -> anyhow::Result<Conn> {
    let mut ws = connect_raw(addr).await?;
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
