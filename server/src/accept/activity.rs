//! Per-connection timers of the HTTP layer: a request's header must arrive within the header
//! timeout (counted from the connection's start, or from the first byte of a later request), and
//! a keep-alive connection with no request in progress closes after the idle timeout. The IO
//! wrapper [`Tracked`] notes every byte read or written; the request guard notes when requests
//! start and end; [`Activity::expired`] resolves once a deadline passes.

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug)]
struct State {
    /// Requests whose handler has not answered yet.
    in_flight: usize,
    /// Whether the connection has carried a request yet.
    served: bool,
    /// When the connection last became idle (accepted, or the last request answered).
    idle_since: Instant,
    /// First byte of a request head that has not been fully read yet.
    head_started: Option<Instant>,
    last_io: Instant,
}

/// The timers' view of one connection.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<State>,
    changed: Notify,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Activity {
    pub(crate) fn new(header_timeout: Duration, idle_timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                in_flight: 0,
                served: false,
                idle_since: now,
                head_started: None,
                last_io: now,
            }),
            changed: Notify::new(),
            header_timeout,
            idle_timeout,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn read(&self) {
        self.with(|s| {
            let now = Instant::now();
            s.last_io = now;
            if s.in_flight == 0 && s.head_started.is_none() {
                s.head_started = Some(now);
            }
        });
    }

    fn wrote(&self) {
        self.with(|s| s.last_io = Instant::now());
    }

    /// A request head was read and its handler runs until the guard is dropped.
    pub(crate) fn request(self: &std::sync::Arc<Self>) -> RequestGuard {
        self.with(|s| {
            s.in_flight += 1;
            s.served = true;
            s.head_started = None;
        });
        RequestGuard(std::sync::Arc::clone(self))
    }

    /// When the connection should be closed if nothing else happens; `None` while a request
    /// is being handled (request-level limits apply then).
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        self.with(|s| {
            if s.in_flight > 0 {
                None
            } else if let Some(started) = s.head_started {
                Some((started + self.header_timeout, "header read timeout"))
            } else if !s.served {
                Some((s.idle_since + self.header_timeout, "no request in time"))
            } else {
                Some((s.idle_since.max(s.last_io) + self.idle_timeout, "idle"))
            }
        })
    }

    /// Resolves with the reason once a deadline has passed.
    pub(crate) async fn expired(&self) -> &'static str {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline() {
                None => changed.await,
                Some((at, reason)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {
                            // Activity may have moved the deadline while we slept.
                            if self.deadline().is_some_and(|(now_at, _)| now_at <= Instant::now()) {
                                return reason;
                            }
                        }
                        () = &mut changed => {}
                    }
                }
            }
        }
    }
}

/// Held while a request's handler runs.
#[derive(Debug)]
pub(crate) struct RequestGuard(std::sync::Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
            }
        });
        self.0.changed.notify_one();
    }
}

/// A stream that tells its [`Activity`] about every byte moved.
#[derive(Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: std::sync::Arc<Activity>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, activity: std::sync::Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_expires_after_the_header_timeout() {
        let activity = Activity::new(Duration::from_secs(10), Duration::from_secs(60));
        let started = Instant::now();
        assert_eq!(activity.expired().await, "no request in time");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_expires_after_the_idle_timeout() {
        let activity = Arc::new(Activity::new(
            Duration::from_secs(10),
            Duration::from_secs(60),
        ));
        drop(activity.request());
        let started = Instant::now();
        assert_eq!(activity.expired().await, "idle");
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_sent_header_expires_after_the_header_timeout() {
        let activity = Arc::new(Activity::new(
            Duration::from_secs(10),
            Duration::from_secs(60),
        ));
        drop(activity.request());
        tokio::time::advance(Duration::from_secs(30)).await;
        activity.read();
        let started = Instant::now();
        assert_eq!(activity.expired().await, "header read timeout");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_expires_while_a_request_runs() {
        let activity = Arc::new(Activity::new(
            Duration::from_secs(10),
            Duration::from_secs(60),
        ));
        let guard = activity.request();
        let expired = tokio::time::timeout(Duration::from_secs(600), activity.expired()).await;
        assert!(expired.is_err());
        drop(guard);
    }
}
