//! The connection task: open the WebSocket, authenticate, catch up from the cursor, then pump
//! frames (live events in; the send queue, receipts and control frames out) until the socket
//! dies; then wait a jittered backoff and start over, forever, until stopped or the token is
//! refused. Only the link failing ends a socket: a refused send never does.

use crate::backoff::Backoff;
use crate::events::ConnectionState;
use crate::shared::Shared;
use clinic_protocol::{ClientFrame, ErrorCode, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a client was signed out by its server (the token revoked, expired, or the account
/// disabled), as the login screen says it.
pub const SESSION_ENDED: &str = "Your session has ended: you were signed out on the clinic's \
     server, or the sign-in expired. Sign in again.";

mod changes;
mod inbound;
mod receipts;
mod sending;

/// Largest frame accepted from the server. Catch-up pages are far larger than anything a client
/// sends, but a hostile or broken server must not make us buffer without bound.
pub const MAX_INBOUND_BYTES: usize = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between tries to reach the server while an emergency waits to be sent: the
/// backoff's cap (30 s) is for ordinary messages, and the patient is told of each wait.
pub const EMERGENCY_RETRY: Duration = Duration::from_secs(2);
/// Longest wait between a doctor's tries: while the server is out of reach no emergency can
/// reach this doctor, so a server back after an outage must not wait for the backoff's cap.
/// Doctors are few; patients, the many, keep the full backoff.
pub const DOCTOR_RETRY: Duration = Duration::from_secs(5);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// A ping this often: the server's pong is what tells a live link from one that went silent
/// without closing (a server that froze, a network gone between, a laptop's link dropped).
const PING_EVERY: Duration = Duration::from_secs(5);
/// No frame at all (not even a pong) for this long: the server or the network is gone. Short,
/// since a doctor is warned only once the app knows it is offline (three pongs missed; a
/// server under load still answers pings from its socket tasks, not its writer).
const SILENCE_LIMIT: Duration = Duration::from_secs(15);
/// A send in flight and no answer for this long: the socket is broken; start over on a fresh
/// one (the entry is sent again with the same `clientId`).
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection ended.
enum End {
    Stopped,
    SignedOut(String),
    /// The sentence, and whether it was the server failing to prove it is the paired clinic's.
    Failed(String, bool),
}

type Step = Result<(), End>;

fn failed(e: impl Display) -> End {
    End::Failed(e.to_string(), false)
}

/// The server ended the socket (a restart, a shutdown, this socket refused).
const CLOSED: &str = "The clinic server closed the connection.";

/// Why a socket could not be opened, as a sentence for the connection badge and the CLI: the
/// identity checks' own sentences, the network's failures a person can act on in words.
fn link_error(url: &url::Url, err: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    let described = crate::tls::describe_ws_error(err);
    if described != err.to_string() {
        return described;
    }
    let reason = match err {
        Error::Io(io) => crate::api::io_reason(url, io),
        Error::Http(response) => Some(format!(
            "something answered at that address that is not a clinic server (HTTP {})",
            response.status().as_u16()
        )),
        _ => None,
    };
    match reason {
        Some(why) => format!("The clinic server cannot be reached: {why}."),
        None => described,
    }
}

/// What a failed socket's opening says of who answers at the address: the server could not
/// prove it is the paired clinic's, or it did (an HTTP status in answer to the upgrade comes
/// only after the TLS handshake with the pinned CA: a server starting, a proxy before it), or
/// neither (nothing answered: refused, reset, timed out; nor a certificate out of date, whose
/// dates are checked before its issuer, so an impostor's gets the same answer).
fn who_answered(err: &tokio_tungstenite::tungstenite::Error) -> (bool, bool) {
    use tokio_tungstenite::tungstenite::Error;
    match crate::tls::ws_identity_error(err) {
        Some(crate::ClientError::NotYourServer) => (true, false),
        Some(_) => (false, false),
        None => (false, matches!(err, Error::Http(_))),
    }
}

/// Why a live socket failed, as a sentence.
fn lost(err: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::ConnectionClosed | Error::AlreadyClosed | Error::Protocol(_) | Error::Io(_) => {
            "The connection to the clinic server was lost.".to_owned()
        }
        other => format!("The connection to the clinic server failed: {other}."),
    }
}

/// Runs until `stop` turns true (or its sender is dropped) or the server refuses the token.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(shared.tuning.backoff);
    let mut attempt = 0u32;
    // Why the last attempt failed: said while the next one is under way too.
    let mut last_error = None;
    let mut last_not_yours = false;
    loop {
        attempt = attempt.saturating_add(1);
        shared.set_state(ConnectionState::Connecting {
            attempt,
            last_error: last_error.clone(),
            not_your_server: last_not_yours,
        });
        let mut was_online = false;
        // Whether a server proved it is the paired clinic's on this try (the socket opened).
        let mut answered = false;
        let end = tokio::select! {
            end = session(&shared, &mut was_online, &mut answered) => end,
            _ = stop.wait_for(|s| *s) => End::Stopped,
        };
        shared.went_offline();
        let (error, not_your_server) = match end {
            End::Stopped => {
                shared.set_state(ConnectionState::Idle);
                return;
            }
            End::SignedOut(said) => {
                // Nothing rings for a user who is no longer signed in.
                {
                    let _turn = shared.attention.turn();
                    shared.attend(shared.attention.end());
                }
                // Nor is anything of theirs left plain for a viewer.
                crate::attachments::remove_opened(&shared.profile_dir);
                // The server's words are for the log; people read what it means for them.
                tracing::info!("the server ended the session: {said}");
                shared.set_state(ConnectionState::SignedOut {
                    reason: SESSION_ENDED.to_owned(),
                });
                return;
            }
            // A try that reached no server (refused, timed out) says nothing of who answers
            // at the address: the last verdict stands, and the warning with it.
            End::Failed(error, not_yours) => (error, not_yours || (last_not_yours && !answered)),
        };
        if was_online {
            // A good connection ended: the outage starts now, so does the backoff.
            backoff.reset();
            attempt = 0;
        }
        let mut delay = backoff.next_delay();
        if shared.emergency_waiting() {
            delay = Backoff::capped(delay, EMERGENCY_RETRY);
        }
        if shared.user.role == clinic_protocol::Role::Doctor {
            delay = Backoff::capped(delay, DOCTOR_RETRY);
        }
        tracing::info!("connection lost ({error}); retrying in {delay:?}");
        last_error = Some(error.clone());
        last_not_yours = not_your_server;
        shared.set_state(ConnectionState::Offline {
            attempt,
            last_error: error,
            retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            not_your_server,
        });
        tokio::select! {
            () = sleep(delay) => {}
            () = shared.reconnect_now.notified() => {}
            _ = stop.wait_for(|s| *s) => {
                shared.set_state(ConnectionState::Idle);
                return;
            }
        }
    }
}

async fn session(shared: &Arc<Shared>, was_online: &mut bool, answered: &mut bool) -> End {
    let mut conn = match Conn::open(shared, answered).await {
        Ok(conn) => conn,
        Err(end) => return end,
    };
    match conn.pump(was_online).await {
        Ok(()) => End::Stopped,
        Err(end) => end,
    }
}

/// One live socket and the send queue's lanes on it.
struct Conn {
    shared: Arc<Shared>,
    ws: Ws,
    lanes: sending::Lanes,
    delivered: receipts::Delivered,
    synced: bool,
    last_heard: Instant,
    /// Queued changes (unsend, edit) sent on this socket and not yet answered, or waiting to go
    /// again after a refusal for now.
    changes: changes::Changes,
    /// Catching up stopped for want of disk space: asked again from the cursor once there is.
    sync_waits_for_room: bool,
    /// That ask is on its way: refused (an error not tied to a send), it is asked again.
    sync_resumed: bool,
}

impl Conn {
    async fn open(shared: &Arc<Shared>, answered: &mut bool) -> Result<Self, End> {
        let url = shared.api.ws_url().map_err(failed)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_INBOUND_BYTES))
            .max_frame_size(Some(MAX_INBOUND_BYTES));
        // The same TLS settings (and so the same pinned CA) as REST.
        let connector = shared.api.tls().map(tokio_tungstenite::Connector::Rustls);
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(config),
            true,
            connector,
        );
        let (ws, _) = timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                failed(format!(
                    "The clinic server did not answer within {} seconds.",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                let (not_yours, clinics) = who_answered(&e);
                *answered = clinics;
                End::Failed(link_error(&url, &e), not_yours)
            })?;
        *answered = true;
        let mut conn = Self {
            shared: Arc::clone(shared),
            ws,
            lanes: sending::Lanes::default(),
            delivered: receipts::Delivered::default(),
            synced: false,
            last_heard: Instant::now(),
            changes: changes::Changes::default(),
            sync_waits_for_room: false,
            sync_resumed: false,
        };
        conn.send(&ClientFrame::Authenticate {
            token: shared.token.clone(),
        })
        .await?;
        timeout(AUTH_TIMEOUT, conn.await_authenticated())
            .await
            .map_err(|_| failed("The clinic server did not answer the sign-in in time."))??;
        shared.set_state(ConnectionState::Syncing);
        let since = shared.cache.cursor().map_err(failed)?;
        conn.send(&ClientFrame::Sync { since, limit: None }).await?;
        Ok(conn)
    }

    async fn await_authenticated(&mut self) -> Step {
        loop {
            let text = match self.ws.next().await {
                None => return Err(failed("The connection closed while signing in.")),
                Some(Err(e)) => return Err(failed(lost(&e))),
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(_))) => return Err(failed(CLOSED)),
                Some(Ok(_)) => continue,
            };
            match serde_json::from_str::<ServerFrame>(&text) {
                Ok(ServerFrame::Authenticated {
                    online_users,
                    availability,
                    clinic,
                    lock_policy,
                    ..
                }) => {
                    if let Some(clinic) = clinic {
                        self.shared.clinic_changed(clinic).map_err(failed)?;
                    }
                    if let Some(policy) = lock_policy {
                        self.shared.lock_policy_changed(policy).map_err(failed)?;
                    }
                    for user in &online_users {
                        self.shared.set_online(user, true);
                    }
                    if let Some(stored) = availability {
                        self.shared.availability_changed(stored).map_err(failed)?;
                    }
                    return Ok(());
                }
                Ok(ServerFrame::Error {
                    code: ErrorCode::Unauthorized,
                    message,
                    ..
                }) => return Err(End::SignedOut(message)),
                Ok(ServerFrame::Error { message, .. }) => {
                    return Err(failed(format!(
                        "The clinic server refused the sign-in: {}.",
                        message.trim().trim_end_matches('.')
                    )));
                }
                // Anything else before the answer is noise; keep waiting (bounded by the timeout).
                _ => continue,
            }
        }
    }

    async fn pump(&mut self, was_online: &mut bool) -> Step {
        let (tx, mut rx) = mpsc::channel::<ClientFrame>(256);
        let mut ticker = interval(PING_EVERY);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                incoming = self.ws.next() => {
                    self.last_heard = Instant::now();
                    match incoming {
                        None => return Err(failed("The connection to the clinic server closed.")),
                        Some(Err(e)) => return Err(failed(lost(&e))),
                        Some(Ok(WsMessage::Text(text))) => {
                            self.on_text(&text, &tx, was_online).await?;
                        }
                        Some(Ok(WsMessage::Close(_))) => return Err(failed(CLOSED)),
                        // Pings are answered by tungstenite; binary frames are not ours.
                        Some(Ok(_)) => {}
                    }
                }
                Some(frame) = rx.recv() => self.send(&frame).await?,
                () = self.shared.outbox_wake.notified(), if self.synced => self.fill().await?,
                () = self.shared.receipts_wake.notified(), if self.synced => {
                    self.flush_reads().await?;
                }
                Some(done) = self.lanes.uploads.join_next(), if !self.lanes.uploads.is_empty() => {
                    match done {
                        Ok(done) => self.upload_finished(done).await?,
                        // A panic ends an upload task without an answer (try again), and so does
                        // its abort when its message was discarded.
                        Err(e) => {
                            if !e.is_cancelled() {
                                tracing::warn!("an upload task failed: {e}");
                            }
                            self.upload_gone(e.id(), !e.is_cancelled());
                            self.fill().await?;
                        }
                    }
                }
                () = sleep_until_some(self.lanes.retry_at), if self.lanes.retry_at.is_some() => {
                    self.lanes.retry_at = None;
                    self.fill().await?;
                }
                () = sleep_until_some(self.delivered.due), if self.delivered.due.is_some() => {
                    self.flush_delivered().await?;
                }
                _ = ticker.tick() => {
                    if self.last_heard.elapsed() > SILENCE_LIMIT {
                        return Err(failed("The clinic server stopped answering."));
                    }
                    if self.lanes.overdue(ACK_TIMEOUT) {
                        return Err(failed(
                            "The clinic server did not confirm the messages sent; connecting again.",
                        ));
                    }
                    self.ws.send(WsMessage::Ping(Vec::new().into())).await.map_err(|e| failed(lost(&e)))?;
                    if self.sync_waits_for_room && self.shared.disk_has_room_again() {
                        self.sync_waits_for_room = false;
                        self.sync_resumed = true;
                        let since = self.shared.cache.cursor().map_err(failed)?;
                        self.send(&ClientFrame::Sync { since, limit: None }).await?;
                    }
                }
            }
        }
    }

    async fn send(&mut self, frame: &ClientFrame) -> Step {
        let text = serde_json::to_string(frame).map_err(failed)?;
        self.ws
            .send(WsMessage::text(text))
            .await
            .map_err(|e| failed(lost(&e)))
    }
}

/// Sleeps until `at` (callers only poll this while it is set).
async fn sleep_until_some(at: Option<Instant>) {
    tokio::time::sleep_until(at.unwrap_or_else(Instant::now)).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::who_answered;
    use rustls::CertificateError;
    use tokio_tungstenite::tungstenite::error::{Error, TlsError};
    use tokio_tungstenite::tungstenite::http::Response;

    fn certificate(e: CertificateError) -> Error {
        Error::Tls(TlsError::Rustls(Box::new(
            rustls::Error::InvalidCertificate(e),
        )))
    }

    #[test]
    fn who_answered_a_failed_opening() {
        // Not the clinic's: another CA.
        assert_eq!(
            who_answered(&certificate(CertificateError::UnknownIssuer)),
            (true, false)
        );
        // A certificate out of date proves nothing: its dates are checked before its issuer.
        assert_eq!(
            who_answered(&certificate(CertificateError::Expired)),
            (false, false)
        );
        // The clinic's, past the pinned CA: an HTTP status (a server starting, a proxy).
        let status = Response::builder().status(503).body(None).unwrap();
        assert_eq!(who_answered(&Error::Http(Box::new(status))), (false, true));
        // Nothing answered: says nothing of who would.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(who_answered(&Error::Io(refused)), (false, false));
    }
}
