//! The WebSocket endpoint `/ws`: upgrade with small buffers, authentication (first frame or
//! Bearer header), the write half fed by the socket's bounded queue, and presence on
//! connect/disconnect.

mod frames;
mod session;

use crate::accept::ConnTag;
use crate::error::ApiError;
use crate::http::bearer;
use crate::hub::{Alerts, Outbox, encode};
use crate::state::{AppState, Session};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use clinic_protocol::{ClientFrame, ErrorCode, ServerFrame};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// tungstenite's buffers default to 128 KiB each per connection; clinic frames are small.
/// The read buffer is allocated (and zero-filled) up front for every socket, so it dominates an
/// idle socket's memory: 1 KiB holds a few typical frames (a socket rarely has more waiting),
/// and a larger frame still gets a buffer of its own size once its header is read (benchmark
/// S1 in docs/benchmarks.md: 8 KiB here cost 6 KiB more per idle connection).
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 8 * 1024;
/// Most queued frames written with one flush.
const MAX_COALESCE: usize = 64;
/// How long the last queued frames and the close frame may take once a socket is closing.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
/// How long a socket closed as too slow has to read what was already sent before its close
/// frame (nothing more is queued for it meanwhile).
const CLOSE_SLOW: Duration = Duration::from_secs(10);
/// Longest one write to a socket may wait for its peer to take bytes. A peer that takes none for
/// this long is gone or hostile: waiting on, its task, buffers and descriptor would be held for
/// ever, also after the socket was closed or shed (an attacker held hundreds so).
const WRITE_STALL: Duration = Duration::from_secs(45);

/// `write` (one write to the socket), failed once it waited `WRITE_STALL` for the peer.
async fn within_stall<T>(
    write: impl std::future::Future<Output = Result<T, axum::Error>>,
) -> Result<T, axum::Error> {
    tokio::time::timeout(WRITE_STALL, write)
        .await
        .unwrap_or_else(|_| {
            Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer took nothing written to it",
            )))
        })
}

/// One text frame through the frame parser (for the fuzz targets).
pub(crate) fn parse_frame(text: &str, max_bytes: usize) -> Result<ClientFrame, ApiError> {
    frames::parse(text, max_bytes)
}

/// Whether the frame parser's one-pass path agrees with serde's derived parser on `text` (for
/// the fuzz targets).
pub(crate) fn frame_parsers_agree(text: &str) -> bool {
    frames::agrees_with_derived(text)
}

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    tag: Option<Extension<ConnTag>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let tag = tag.map(|Extension(tag)| tag);
    // Our error body, like every other endpoint, for a request that is no WebSocket upgrade.
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::bad_request(format!(
                "/ws takes WebSocket upgrades only: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    let tls = state.config.tls.mode != crate::tls::TlsMode::Off;
    if let Err(err) = check_origin(&headers, &state.config.allowed_origins, tls) {
        return err.into_response();
    }
    let pre = match bearer(&headers) {
        Some(token) => match state.session(token).await {
            Ok(session) => Some(session),
            Err(err) => return err.into_response(),
        },
        None => None,
    };
    let hard_limit = state.config.max_ws_message_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| connection(socket, state, pre, tag))
        .into_response()
}

/// A browser sends `Origin` with every WebSocket upgrade, and a page from any site may ask
/// for one; only the server's own origin (same host and port as the request, and `https` when
/// the server speaks TLS: a page served in clear text under its name is someone else's) and
/// the configured ones may. Without TLS the page may be `https` too, served by a reverse proxy
/// in front. Clients that send no `Origin` (the desktop app, the CLI) are not web pages.
fn check_origin(headers: &HeaderMap, allowed: &[String], tls: bool) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let refused = || ApiError::forbidden("WebSocket connections from this web origin are refused");
    let origin = origin.to_str().map_err(|_| refused())?.trim();
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(refused)?;
    let (scheme, origin_host) = origin
        .split_once("://")
        .map(|(scheme, rest)| (scheme, rest.trim_end_matches('/')))
        .ok_or_else(refused)?;
    let scheme_fits =
        scheme.eq_ignore_ascii_case("https") || (!tls && scheme.eq_ignore_ascii_case("http"));
    if scheme_fits && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// `tag` is the connection's place under the caps, held as long as the socket lives.
async fn connection(
    socket: WebSocket,
    state: AppState,
    pre: Option<Session>,
    tag: Option<ConnTag>,
) {
    let _tracked = state.tasks.token();
    let (sink, mut stream) = socket.split();
    let (frames, queue) = mpsc::channel(state.config.socket_queue.max(1));
    let outbox = Outbox::new(
        frames,
        state.shutdown.child_token(),
        Arc::clone(state.hub.alerts_in_flight()),
    );
    // However this task ends (a panic included), the socket's alerts stop counting as in flight
    // (the hub may hold its outbox after that); a session that ends closes them sooner, before
    // anything that may wait (`session::run`).
    let _alerts = CloseAlerts(Arc::clone(&outbox.alerts));
    let writer = tokio::spawn(write_loop(
        sink,
        queue,
        outbox.clone(),
        state.config.ping_interval,
    ));

    let session = match pre {
        Some(session) => Some(session),
        None => {
            // Until it signs in, the socket may be shed to make room for a newcomer.
            let shed = async {
                match &tag {
                    Some(tag) => tag.shed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                session = authenticate(&mut stream, &state, &outbox) => session,
                () = shed => {
                    outbox.close_with(close_code::AGAIN, "server busy");
                    None
                }
            }
        }
    };
    if let (Some(tag), Some(session)) = (&tag, &session) {
        tag.authenticated(session.user.id.as_str());
    }
    if let Some(session) = session {
        // One of an account's sockets past its protected ones may still be shed for a
        // newcomer: closed as a revoked one is, its commands answered first.
        let shed = async {
            match &tag {
                Some(tag) => tag.shed().await,
                None => std::future::pending().await,
            }
        };
        let run = session::run(&state, session, &mut stream, &outbox);
        tokio::pin!(run);
        tokio::select! {
            () = &mut run => {}
            () = shed => {
                outbox.close_with(close_code::AGAIN, "server busy");
                run.await;
            }
        }
    }
    // A socket closed by shutdown or by the server keeps that reason; otherwise a normal close.
    if !outbox.close.is_cancelled() {
        outbox.close_with(close_code::NORMAL, "bye");
    }
    // The writer has its time to flush and close (`write_loop`); one stuck in a write to a peer
    // that takes nothing is dropped with the socket, so a closed or shed socket lets go of its
    // descriptor within seconds.
    let mut writer = writer;
    if tokio::time::timeout(CLOSE_SLOW + CLOSE_FLUSH, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Closes a socket's alert lane when dropped.
struct CloseAlerts(Arc<Alerts>);

impl Drop for CloseAlerts {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The first frame of an authenticated socket. Alerts wait until it is written: a client
/// takes nothing before it (and may drop what comes first).
const GREETING: &str = r#"{"type":"authenticated""#;

/// The write half of a socket: queued frames, alerts ahead of them, keepalive pings.
struct Pump {
    sink: SplitSink<WebSocket, Message>,
    queue: mpsc::Receiver<Utf8Bytes>,
    outbox: Outbox,
    /// The `authenticated` frame is written: alerts may go out.
    greeted: bool,
    /// Alerts fed to the sink and not yet flushed: written out with the flush.
    unflushed: usize,
}

/// Sends queued frames and keepalive pings until the socket is closed, then flushes what is left
/// and sends a close frame.
async fn write_loop(
    sink: SplitSink<WebSocket, Message>,
    queue: mpsc::Receiver<Utf8Bytes>,
    outbox: Outbox,
    ping_every: Duration,
) {
    let mut pump = Pump {
        sink,
        queue,
        outbox: outbox.clone(),
        greeted: false,
        unflushed: 0,
    };
    if pump.run(ping_every).await.is_err() {
        outbox.close.cancel();
        return;
    }
    let (code, reason) = outbox
        .reason
        .get()
        .copied()
        .unwrap_or((close_code::AWAY, "server shutting down"));
    // A socket closed for being too slow gets its close frame right after what it has not read
    // yet (and its alerts), not after a full queue it would never get through: it reconnects
    // and syncs. Any other close lets the last queued frames go first.
    let (flush_queue, within) = if code == close_code::AGAIN {
        (false, CLOSE_SLOW)
    } else {
        (true, CLOSE_FLUSH)
    };
    let _ = tokio::time::timeout(within, async {
        pump.feed_alerts().await?;
        while flush_queue && let Ok(text) = pump.queue.try_recv() {
            pump.feed(text).await?;
            pump.feed_alerts().await?;
        }
        pump.sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await
    })
    .await;
}

impl Pump {
    /// Until the socket is closed (Ok) or a write fails (Err).
    async fn run(&mut self, ping_every: Duration) -> Result<(), axum::Error> {
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        loop {
            // Alerts first, whatever woke us.
            if self.feed_alerts().await? {
                self.flush().await?;
            }
            tokio::select! {
                biased;
                () = self.outbox.close.cancelled() => return Ok(()),
                // Loops round to the alerts above.
                () = self.outbox.alerts.wake.notified() => {}
                frame = self.queue.recv() => match frame {
                    Some(text) => self.send_queued(text).await?,
                    None => return Ok(()),
                },
                _ = ping.tick() => {
                    within_stall(self.sink.send(Message::Ping(Default::default()))).await?;
                }
            }
        }
    }

    /// Writes `first` and whatever else is already queued (up to `MAX_COALESCE` frames) with
    /// one flush: a burst such as a message and its notification, or an emergency alert after
    /// its notification, costs one write to the socket instead of one per frame (benchmarks
    /// S3, S4).
    ///
    /// Waiting alerts go first, also between two queued frames: an alert put in its lane before
    /// a frame was queued (say the `emergency:updated` that ends it) is written before that
    /// frame.
    async fn send_queued(&mut self, first: Utf8Bytes) -> Result<(), axum::Error> {
        // An alert may have come into its lane after the select looked there and before it took
        // `first` from the queue.
        self.feed_alerts().await?;
        self.feed(first).await?;
        for _ in 1..MAX_COALESCE {
            self.feed_alerts().await?;
            match self.queue.try_recv() {
                Ok(text) => self.feed(text).await?,
                Err(_) => break,
            }
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), axum::Error> {
        within_stall(self.sink.flush()).await?;
        self.outbox
            .alerts
            .written(std::mem::take(&mut self.unflushed));
        Ok(())
    }

    async fn feed(&mut self, text: Utf8Bytes) -> Result<(), axum::Error> {
        self.outbox.taken(&text);
        if !self.greeted && text.as_str().starts_with(GREETING) {
            self.greeted = true;
        }
        within_stall(self.sink.feed(Message::Text(text))).await
    }

    /// Feeds the waiting alerts (once the socket is greeted); true when there were any.
    async fn feed_alerts(&mut self) -> Result<bool, axum::Error> {
        if !self.greeted {
            return Ok(false);
        }
        let alerts = self.outbox.alerts.take();
        let any = !alerts.is_empty();
        for text in alerts {
            within_stall(self.sink.feed(Message::Text(text))).await?;
            self.unflushed += 1;
        }
        Ok(any)
    }
}

/// Waits for `authenticate {token}` until the auth timeout. Other frames get `unauthorized`.
async fn authenticate(
    stream: &mut SplitStream<WebSocket>,
    state: &AppState,
    outbox: &Outbox,
) -> Option<Session> {
    let deadline = Instant::now() + state.config.auth_timeout;
    loop {
        let incoming = tokio::select! {
            () = outbox.close.cancelled() => return None,
            () = sleep_until(deadline) => {
                reply_error(outbox, ApiError::unauthorized("not authenticated in time"));
                outbox.close_with(close_code::POLICY, "authentication timeout");
                return None;
            }
            incoming = stream.next() => incoming,
        };
        let text = match incoming {
            Some(Err(err)) => {
                if is_too_large(&err) {
                    refuse_oversized(outbox);
                }
                return None;
            }
            None | Some(Ok(Message::Close(_))) => return None,
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
        };
        match frames::parse(&text, state.config.max_frame_bytes) {
            Ok(ClientFrame::Authenticate { token }) => match state.session(&token).await {
                Ok(session) => return Some(session),
                Err(err) => {
                    reply_error(outbox, err);
                    outbox.close_with(close_code::POLICY, "authentication failed");
                    return None;
                }
            },
            Ok(_) => reply_error(
                outbox,
                ApiError::unauthorized("send `authenticate {token}` first"),
            ),
            Err(err) => reply_error(outbox, err),
        }
    }
}

fn reply_error(outbox: &Outbox, err: ApiError) {
    outbox.push(encode(&error_frame(err, None)));
}

fn error_frame(err: ApiError, client_id: Option<clinic_protocol::ClientId>) -> ServerFrame {
    ServerFrame::Error {
        code: err.code,
        message: err.message,
        client_id,
    }
}

/// True for a read error that means "frame over the hard limit".
fn is_too_large(err: &axum::Error) -> bool {
    let text = err.to_string();
    text.contains("too long") || text.contains("too big") || text.contains("Space limit")
}

/// The error frame and close for a frame tungstenite refused to buffer.
fn refuse_oversized(outbox: &Outbox) {
    outbox.push(encode(&ServerFrame::error(
        ErrorCode::TooLarge,
        "frame is over the size limit",
    )));
    outbox.close_with(close_code::SIZE, "frame too large");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "clinic.lan:8470".parse().unwrap());
        headers.insert(header::ORIGIN, origin.parse().unwrap());
        headers
    }

    #[test]
    fn the_servers_own_origin_is_https_with_tls_and_either_scheme_behind_a_proxy() {
        let allowed = vec!["https://portal.example".to_owned()];
        let check = |origin: &str, tls: bool| check_origin(&headers(origin), &allowed, tls).is_ok();
        assert!(check("https://clinic.lan:8470", true));
        assert!(
            !check("http://clinic.lan:8470", true),
            "clear text under its name"
        );
        assert!(
            check("https://clinic.lan:8470", false),
            "TLS ended by a proxy"
        );
        assert!(check("http://clinic.lan:8470", false));
        assert!(!check("ftp://clinic.lan:8470", false));
        assert!(!check("https://clinic.lan:9999", true), "another port");
        assert!(!check("https://evil.example", true));
        assert!(check("https://portal.example", true), "configured");
        assert!(
            check_origin(&HeaderMap::new(), &allowed, true).is_ok(),
            "not a page"
        );
    }
}
