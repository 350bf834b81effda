//! Request bodies kept in bounds for every route: a declared length over the route's limit is
//! refused before the body is touched (so no `100 Continue` invites it), a body that stalls or
//! dawdles is abandoned, and after an early refusal a small unread body is still read (up to
//! `DRAIN_BYTES`) so that an ordinary HTTP client that was still writing it gets the answer
//! instead of a reset connection.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Most bytes of an unread body read after the answer is decided.
const DRAIN_BYTES: usize = 1024 * 1024;
/// How long that reading may take.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The route of uploads, whose body limit and time are their own.
pub(super) const UPLOAD_PATH: &str = "/api/chat/upload";

/// Slack over the upload limit for the multipart framing and the id fields.
pub(super) const MULTIPART_SLACK: usize = 64 * 1024;

/// Why a body stopped: it did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct TooSlow;

/// Whether `err` (a rejection or a multipart error) is, somewhere down its sources, a body
/// abandoned by this guard: not the client's content but its line, so worth sending again.
pub(super) fn arrived_too_slowly(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|e| e.is::<TooSlow>())
}

/// The answer to a body abandoned by this guard.
pub(super) fn too_slow() -> ApiError {
    ApiError::request_timeout("the request body did not arrive in time; send it again")
}

/// The body as the handler reads it, shared with [`guard`] so that it can tell afterwards
/// whether the handler read it all, and read the rest.
struct Shared {
    body: Option<Body>,
    polled: bool,
    done: bool,
    idle_for: Duration,
    idle: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
}

struct Guarded(Arc<Mutex<Shared>>);

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let shared = &mut *shared;
        shared.polled = true;
        let Some(body) = shared.body.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + shared.idle_for;
                shared.idle.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                shared.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err))),
            Poll::Pending => {
                if shared.idle.as_mut().poll(cx).is_ready()
                    || shared.deadline.as_mut().poll(cx).is_ready()
                {
                    // Nothing more will be read from it.
                    shared.body = None;
                    shared.done = true;
                    Poll::Ready(Some(Err(axum::Error::new(TooSlow))))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        shared.done || shared.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// The middleware: see the module comment.
pub(super) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let config = &state.config;
    let upload = request.uri().path() == UPLOAD_PATH;
    let (limit, total) = if upload {
        let limit = usize::try_from(config.max_upload_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(MULTIPART_SLACK);
        (limit, config.upload_timeout)
    } else {
        (config.max_json_body_bytes, config.json_body_timeout)
    };
    let (parts, body) = request.into_parts();
    let waits_for_continue = expects_continue(&parts.headers);
    let declared = declared_length(&parts.headers);
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        let refusal = ApiError::too_large("request body is over the size limit").into_response();
        // A client waiting for `100 Continue` sends nothing more; one that did not wait gets
        // its (small enough) body read so that it sees this answer.
        if !waits_for_continue
            && declared.is_some_and(|len| len <= DRAIN_BYTES.try_into().unwrap_or(0))
        {
            drain(body).await;
        }
        return refusal;
    }
    if body.is_end_stream() {
        // No body at all (a GET, a WebSocket upgrade): nothing to bound.
        return next.run(Request::from_parts(parts, body)).await;
    }
    let now = Instant::now();
    let shared = Arc::new(Mutex::new(Shared {
        body: Some(body),
        polled: false,
        done: false,
        idle_for: config.body_idle_timeout,
        idle: Box::pin(tokio::time::sleep_until(now + config.body_idle_timeout)),
        deadline: Box::pin(tokio::time::sleep_until(now + total)),
    }));
    let request = Request::from_parts(parts, Body::new(Guarded(Arc::clone(&shared))));
    let response = next.run(request).await;
    let rest = {
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        // Not started while the client waits for `100 Continue`: it will not send it.
        let untouched = waits_for_continue && !shared.polled;
        if shared.done || untouched {
            None
        } else {
            shared.body.take()
        }
    };
    if let Some(rest) = rest
        && !rest.is_end_stream()
    {
        drain(rest).await;
    }
    response
}

/// Reads and discards up to `DRAIN_BYTES` of `body` for at most `DRAIN_TIME`.
async fn drain(mut body: Body) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}
