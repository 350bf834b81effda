//! The WebSocket endpoint `/ws`: upgrade with small buffers, authentication (first frame or
//! Bearer header), the write half fed by the socket's bounded queue, and presence on
//! connect/disconnect.

mod frames;
mod session;

use crate::accept::ConnTag;
use crate::error::ApiError;
use crate::http::bearer;
use crate::hub::{Outbox, encode};
use crate::state::{AppState, Session};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use clinic_protocol::{ClientFrame, ErrorCode, ServerFrame};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
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

/// One text frame through the frame parser (for the fuzz targets).
pub(crate) fn parse_frame(text: &str, max_bytes: usize) -> Result<ClientFrame, ApiError> {
    frames::parse(text, max_bytes)
}

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    tag: Option<Extension<ConnTag>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let tag = tag.map(|Extension(tag)| tag);
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
    let outbox = Outbox::new(frames, state.shutdown.child_token());
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
    if let (Some(tag), Some(_)) = (&tag, &session) {
        tag.authenticated();
    }
    if let Some(session) = session {
        session::run(&state, session, &mut stream, &outbox).await;
    }
    // A socket closed by shutdown or by the server keeps that reason; otherwise a normal close.
    if !outbox.close.is_cancelled() {
        outbox.close_with(close_code::NORMAL, "bye");
    }
    let _ = writer.await;
}

/// Sends queued frames and keepalive pings until the socket is closed, then flushes what is left
/// and sends a close frame.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    outbox: Outbox,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    loop {
        tokio::select! {
            biased;
            () = outbox.close.cancelled() => break,
            frame = queue.recv() => match frame {
                Some(text) => {
                    outbox.taken(&text);
                    if send_queued(&mut sink, text, &mut queue, &outbox).await.is_err() {
                        outbox.close.cancel();
                        return;
                    }
                }
                None => break,
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    outbox.close.cancel();
                    return;
                }
            }
        }
    }
    let (code, reason) = outbox
        .reason
        .get()
        .copied()
        .unwrap_or((close_code::AWAY, "server shutting down"));
    let _ = tokio::time::timeout(CLOSE_FLUSH, async {
        while let Ok(text) = queue.try_recv() {
            outbox.taken(&text);
            sink.send(Message::Text(text)).await?;
        }
        sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await
    })
    .await;
}

/// Writes `first` and whatever else is already queued (up to `MAX_COALESCE` frames) with one
/// flush: a burst such as a message and its notification, or an emergency alert after its
/// notification, costs one write to the socket instead of one per frame (benchmarks S3, S4).
async fn send_queued(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Utf8Bytes,
    queue: &mut mpsc::Receiver<Utf8Bytes>,
    outbox: &Outbox,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first)).await?;
    for _ in 1..MAX_COALESCE {
        match queue.try_recv() {
            Ok(text) => {
                outbox.taken(&text);
                sink.feed(Message::Text(text)).await?;
            }
            Err(_) => break,
        }
    }
    sink.flush().await
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
