//! The accept loop: every TCP connection is admitted against the caps (`limits`), gets its TLS
//! handshake (bounded in time; anything that does not start like TLS is closed without a byte),
//! then is served as HTTP/1.1 with header-read and idle keep-alive timers (`activity`) until it
//! ends, is shed, or the server shuts down. WebSocket upgrades leave the HTTP layer and live in
//! their own task (`ws/`), still counted against the caps.

mod activity;
mod limits;

pub(crate) use limits::ConnTag;

use crate::config::ConnectionLimits;
use activity::{Activity, Tracked};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use limits::{Caps, Registry};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// File descriptors kept free for the database, uploads and logs when the connection cap is
/// derived from the process's open-file limit.
const FD_RESERVE: u64 = 128;
/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What the accept loop needs.
pub(crate) struct Accept {
    pub router: Router,
    pub tls: Option<TlsAcceptor>,
    pub limits: ConnectionLimits,
    /// Cancelled at shutdown: connections finish their request and close.
    pub stop: CancellationToken,
}

/// The connection cap in force: the configured one, lowered to fit the open-file limit.
pub(crate) fn effective_caps(limits: &ConnectionLimits) -> (usize, usize) {
    let by_fds = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| {
            if soft > 2 * FD_RESERVE {
                soft - FD_RESERVE
            } else {
                soft / 2
            }
        })
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX);
    (limits.max.min(by_fds).max(1), limits.per_address)
}

impl std::fmt::Debug for Accept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accept")
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Accept {
    /// Accepts until `shutdown` resolves, then waits (bounded by `drain`) for open HTTP
    /// connections to finish.
    pub(crate) async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        drain: Duration,
    ) {
        let (total, per_ip) = effective_caps(&self.limits);
        if per_ip == 0 {
            tracing::info!(total, "connection caps: no cap per address");
        } else {
            tracing::info!(total, per_address = per_ip, "connection caps");
        }
        let registry = Registry::new(Caps { total, per_ip });
        let this = Arc::new(self);
        let tasks = TaskTracker::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors: make room by shedding an idle stranger, and do not
                    // spin while the kernel keeps refusing.
                    if matches!(err.raw_os_error(), Some(23 | 24)) {
                        registry.shed_oldest();
                        tracing::warn!("out of file descriptors; shed a connection");
                    } else {
                        tracing::debug!(error = %err, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let tag = match registry.admit(peer.ip()) {
                Ok(tag) => tag,
                Err(refused) => {
                    tracing::debug!(%peer, ?refused, "connection refused: cap reached");
                    continue;
                }
            };
            // Frames are small and must leave at once: with Nagle's algorithm a frame written
            // while the previous one is unacknowledged waits for the peer's delayed ACK, up to
            // 40 ms on Linux (benchmark S2 showed exactly that as its p99).
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
            tasks.spawn(Arc::clone(&this).connection(tcp, peer, tag));
        }
        this.stop.cancel();
        tasks.close();
        if tokio::time::timeout(drain, tasks.wait()).await.is_err() {
            tracing::warn!("some connections did not finish in time");
        }
    }

    async fn connection(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, tag: ConnTag) {
        let Some(tls) = &self.tls else {
            return self.http(tcp, peer, tag).await;
        };
        let handshake = tokio::time::timeout(self.limits.tls_handshake_timeout, async {
            let mut first = [0u8; 1];
            // Plain HTTP (or anything else) to the TLS port gets nothing back, not even an
            // alert: nothing a confused client could mistake for an answer.
            match tcp.peek(&mut first).await {
                Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => tls.accept(tcp).await.ok(),
                _ => None,
            }
        });
        let stream = tokio::select! {
            done = handshake => done.ok().flatten(),
            () = tag.shed() => None,
            () = self.stop.cancelled() => None,
        };
        match stream {
            Some(stream) => self.http(stream, peer, tag).await,
            None => tracing::debug!(%peer, "no TLS handshake"),
        }
    }

    async fn http<S>(&self, io: S, peer: SocketAddr, tag: ConnTag)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new(
            self.limits.header_read_timeout,
            self.limits.idle_timeout,
        ));
        let io = TokioIo::new(Tracked::new(io, Arc::clone(&activity)));
        let router = self.router.clone();
        let (service_tag, service_activity) = (tag.clone(), Arc::clone(&activity));
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(service_tag.clone());
            let guard = service_activity.request();
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(guard);
                response
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // Our own timers (`activity`) bound header reads and idle time; hyper's would also cut
        // an idle keep-alive connection at the header timeout.
        builder.header_read_timeout(None).keep_alive(true);
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                    return;
                }
                reason = activity.expired() => {
                    tracing::debug!(%peer, reason, "closing connection");
                    return;
                }
                () = tag.shed() => return,
                () = self.stop.cancelled(), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
