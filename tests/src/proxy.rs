//! A proxy on 127.0.0.1 in front of the HTTPS server, so a scenario can hold back what the
//! server pushes on WebSocket connections (the app then has not heard of a change yet) while
//! REST requests pass. Used for the acknowledge conflict: another doctor took the emergency and
//! this app's news of it is still on its way.
//!
//! It ends TLS with the server's own certificate and key from its data folder (as a reverse
//! proxy on the server's machine would), so the app's pin on the clinic CA holds, and it can
//! tell a WebSocket upgrade from a REST request; it speaks TLS to the server again, trusting
//! the clinic CA. Past the first request line it relays bytes and never parses frames.

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::{TlsAcceptor, TlsConnector};

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

/// Both ends of the proxy's TLS, from the server's data folder (`DATA-DIR/tls/`).
struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl Tls {
    fn of_server(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("tls");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .context("the server's certificate")?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).context("its key")?;
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(dir.join("ca.pem")).context("the clinic CA")?)?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

impl Proxy {
    /// In front of the HTTPS server listening on `upstream` with its files in `data_dir`.
    pub async fn start(upstream: SocketAddr, data_dir: &Path) -> Result<Self> {
        let tls = Arc::new(Tls::of_server(data_dir)?);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hold = Arc::new(Hold::default());
        let shared = Arc::clone(&hold);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (tls, hold) = (Arc::clone(&tls), Arc::clone(&shared));
                tokio::spawn(async move {
                    let _ = relay(client, upstream, &tls, hold).await;
                });
            }
        });
        Ok(Self { addr, hold })
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
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

async fn relay(client: TcpStream, upstream: SocketAddr, tls: &Tls, hold: Arc<Hold>) -> Result<()> {
    let mut client = tls.acceptor.accept(client).await?;
    let server = TcpStream::connect(upstream).await?;
    let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let mut server = tls.connector.connect(name, server).await?;
    // The first bytes of the first request say whether this is a WebSocket upgrade.
    let mut first = vec![0u8; 16 * 1024];
    let n = client.read(&mut first).await?;
    let websocket = first[..n].starts_with(b"GET /ws");
    server.write_all(&first[..n]).await?;
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, server_write) = tokio::io::split(server);
    let up = tokio::spawn(copy_up(client_read, server_write));
    down(server_read, client_write, websocket, &hold).await;
    up.abort();
    Ok(())
}

async fn copy_up(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) {
    let _ = tokio::io::copy(&mut from, &mut to).await;
    let _ = to.shutdown().await;
}

/// Server to app; on a WebSocket, waits while pushes are held.
async fn down(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    websocket: bool,
    hold: &Hold,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
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
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
