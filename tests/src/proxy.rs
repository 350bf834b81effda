//! A byte-level TCP proxy on 127.0.0.1 in front of the server, so a scenario can hold back what
//! the server pushes on WebSocket connections (the app then has not heard of a change yet) while
//! REST requests pass. Used for the acknowledge conflict: another doctor took the emergency and
//! this app's news of it is still on its way.

use anyhow::Result;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Hold {
    on: AtomicBool,
    released: Notify,
}

/// The proxy; it runs on the runtime that started it.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    hold: Arc<Hold>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hold = Arc::new(Hold::default());
        let shared = Arc::clone(&hold);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, Arc::clone(&shared)));
            }
        });
        Ok(Self { addr, hold })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, bytes from the server on WebSocket connections wait here.
    pub fn hold_pushes(&self) {
        self.hold.on.store(true, Ordering::SeqCst);
    }

    /// Lets the held bytes (and everything after them) through.
    pub fn release(&self) {
        self.hold.on.store(false, Ordering::SeqCst);
        self.hold.released.notify_waiters();
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, hold: Arc<Hold>) {
    let mut head = [0u8; 8];
    let websocket =
        matches!(client.peek(&mut head).await, Ok(n) if head[..n].starts_with(b"GET /ws"));
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = server_read.read(&mut buf).await {
        if n == 0 {
            break;
        }
        while websocket && hold.on.load(Ordering::SeqCst) {
            let released = hold.released.notified();
            if !hold.on.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = client_write.shutdown().await;
    up.abort();
}
