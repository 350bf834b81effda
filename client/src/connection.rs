//! The connection task: open the WebSocket, authenticate, catch up from the cursor, then pump
//! frames (live events in, outbox and control frames out) until the socket dies; then wait a
//! jittered backoff and start over, forever, until stopped or the token is refused.

use crate::backoff::Backoff;
use crate::events::{ClientEvent, ConnectionState};
use crate::shared::Shared;
use clinic_protocol::limits::MAX_IDS_PER_REQUEST;
use clinic_protocol::{ClientFrame, ClientId, ErrorCode, MessageStatus, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Largest frame accepted from the server. Catch-up pages are far larger than anything a client
/// sends, but a hostile or broken server must not make us buffer without bound.
pub const MAX_INBOUND_BYTES: usize = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(15);
/// No frame at all (not even a pong) for this long: the server or the network is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Sends in flight and no ack for this long: start over on a fresh socket.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection ended.
enum End {
    Stopped,
    SignedOut(String),
    Failed(String),
}

type Step = Result<(), End>;

fn failed(e: impl Display) -> End {
    End::Failed(e.to_string())
}

/// Runs until `stop` turns true (or its sender is dropped) or the server refuses the token.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(shared.tuning.backoff);
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        shared.set_state(ConnectionState::Connecting { attempt });
        let mut was_online = false;
        let end = tokio::select! {
            end = session(&shared, &mut was_online) => end,
            _ = stop.wait_for(|s| *s) => End::Stopped,
        };
        shared.went_offline();
        let error = match end {
            End::Stopped => {
                shared.set_state(ConnectionState::Idle);
                return;
            }
            End::SignedOut(reason) => {
                shared.set_state(ConnectionState::SignedOut { reason });
                return;
            }
            End::Failed(error) => error,
        };
        if was_online {
            // A good connection ended: the outage starts now, so does the backoff.
            backoff.reset();
            attempt = 0;
        }
        let delay = backoff.next_delay();
        tracing::info!("connection lost ({error}); retrying in {delay:?}");
        shared.set_state(ConnectionState::Offline {
            attempt,
            last_error: error,
            retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
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

async fn session(shared: &Arc<Shared>, was_online: &mut bool) -> End {
    let mut conn = match Conn::open(shared).await {
        Ok(conn) => conn,
        Err(end) => return end,
    };
    match conn.pump(was_online).await {
        Ok(()) => End::Stopped,
        Err(end) => end,
    }
}

/// One live socket and the sender's window on it.
struct Conn {
    shared: Arc<Shared>,
    ws: Ws,
    /// Sends written to this socket and not yet acked, oldest first.
    inflight: VecDeque<ClientId>,
    /// Outbox position of the last send written to this socket.
    last_pos: i64,
    synced: bool,
    last_heard: Instant,
    last_progress: Instant,
}

impl Conn {
    async fn open(shared: &Arc<Shared>) -> Result<Self, End> {
        let url = shared.api.ws_url().map_err(failed)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_INBOUND_BYTES))
            .max_frame_size(Some(MAX_INBOUND_BYTES));
        let connect =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true);
        let (ws, _) = timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| failed("connect timed out"))?
            .map_err(failed)?;
        let now = Instant::now();
        let mut conn = Self {
            shared: Arc::clone(shared),
            ws,
            inflight: VecDeque::new(),
            last_pos: 0,
            synced: false,
            last_heard: now,
            last_progress: now,
        };
        conn.send(&ClientFrame::Authenticate {
            token: shared.token.clone(),
        })
        .await?;
        timeout(AUTH_TIMEOUT, conn.await_authenticated())
            .await
            .map_err(|_| failed("no answer to authenticate"))??;
        shared.set_state(ConnectionState::Syncing);
        let since = shared.cache.cursor().map_err(failed)?;
        conn.send(&ClientFrame::Sync { since }).await?;
        Ok(conn)
    }

    async fn await_authenticated(&mut self) -> Step {
        loop {
            let text = match self.ws.next().await {
                None => return Err(failed("connection closed during authentication")),
                Some(Err(e)) => return Err(failed(e)),
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(_))) => return Err(failed("closed by server")),
                Some(Ok(_)) => continue,
            };
            match serde_json::from_str::<ServerFrame>(&text) {
                Ok(ServerFrame::Authenticated { online_users, .. }) => {
                    for user in &online_users {
                        self.shared.set_online(user, true);
                    }
                    return Ok(());
                }
                Ok(ServerFrame::Error {
                    code: ErrorCode::Unauthorized,
                    message,
                    ..
                }) => return Err(End::SignedOut(message)),
                Ok(ServerFrame::Error { code, message, .. }) => {
                    return Err(failed(format!(
                        "authentication failed ({code:?}): {message}"
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
                        None => return Err(failed("connection closed")),
                        Some(Err(e)) => return Err(failed(e)),
                        Some(Ok(WsMessage::Text(text))) => {
                            self.on_text(&text, &tx, was_online).await?;
                        }
                        Some(Ok(WsMessage::Close(_))) => return Err(failed("closed by server")),
                        // Pings are answered by tungstenite; binary frames are not ours.
                        Some(Ok(_)) => {}
                    }
                }
                Some(frame) = rx.recv() => self.send(&frame).await?,
                () = self.shared.outbox_wake.notified(), if self.synced => self.fill().await?,
                _ = ticker.tick() => {
                    if self.last_heard.elapsed() > SILENCE_LIMIT {
                        return Err(failed("server silent"));
                    }
                    if !self.inflight.is_empty() && self.last_progress.elapsed() > ACK_TIMEOUT {
                        return Err(failed("sends not acknowledged"));
                    }
                    self.ws.send(WsMessage::Ping(Vec::new().into())).await.map_err(failed)?;
                }
            }
        }
    }

    async fn on_text(
        &mut self,
        text: &str,
        tx: &mpsc::Sender<ClientFrame>,
        was_online: &mut bool,
    ) -> Step {
        let frame = match serde_json::from_str::<ServerFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                // Unknown types (a newer server) and garbage alike: skip, never crash.
                let head: String = text.chars().take(80).collect();
                tracing::debug!("ignoring unreadable frame ({e}): {head}");
                return Ok(());
            }
        };
        let shared = Arc::clone(&self.shared);
        let me = shared.me().clone();
        match frame {
            ServerFrame::MessageReceived { message } => {
                let owed = message.sender_id != me && message.status == MessageStatus::Sent;
                let id = message.id.clone();
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                shared.emit_messages(changed);
                if owed {
                    self.send(&ClientFrame::MessageDelivered {
                        message_ids: vec![id],
                    })
                    .await?;
                }
            }
            ServerFrame::MessageAck { client_id, message } => {
                let changed = shared.cache.apply_message(&me, message).map_err(failed)?;
                shared.emit_messages(changed);
                self.settled(&client_id);
                self.fill().await?;
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(client_id),
            } => {
                if code.is_transient() {
                    // Start over on a fresh socket; the outbox still holds it, and the clientId
                    // makes the repeat safe.
                    return Err(failed(format!(
                        "send refused for now ({code:?}): {message}"
                    )));
                }
                let changed = shared
                    .cache
                    .mark_failed(&me, client_id.as_str(), &format!("{code:?}: {message}"))
                    .map_err(failed)?;
                shared.emit_messages(changed);
                self.settled(&client_id);
                self.fill().await?;
            }
            ServerFrame::Error {
                code: ErrorCode::Unauthorized,
                message,
                client_id: None,
            } => return Err(End::SignedOut(message)),
            ServerFrame::Error { code, message, .. } => {
                shared.emit(ClientEvent::ServerError { code, message });
            }
            ServerFrame::SyncBatch(page) => {
                let (messages, emergencies) =
                    shared.cache.apply_sync_page(&me, &page).map_err(failed)?;
                shared.emit_messages(messages);
                for emergency in emergencies {
                    shared.emit(ClientEvent::EmergencyUpdated { emergency });
                }
                shared.refresh_queued();
                if !page.has_more && !self.synced {
                    self.caught_up(tx, was_online).await?;
                }
            }
            ServerFrame::MessageReadConfirmed {
                message_ids,
                read_at,
                ..
            } => {
                let changed = shared
                    .cache
                    .apply_receipts(&message_ids, MessageStatus::Read, read_at)
                    .map_err(failed)?;
                shared.emit_messages(changed);
            }
            ServerFrame::MessageDeliveredConfirmed {
                message_ids,
                delivered_at,
                ..
            } => {
                let changed = shared
                    .cache
                    .apply_receipts(&message_ids, MessageStatus::Delivered, delivered_at)
                    .map_err(failed)?;
                shared.emit_messages(changed);
            }
            ServerFrame::TypingStarted {
                patient_id,
                doctor_id,
                user_id,
            } if user_id != me => {
                let key = (
                    clinic_protocol::ConversationKey::new(patient_id, doctor_id),
                    user_id,
                );
                shared.typing.started(key, &shared.events);
            }
            ServerFrame::TypingStopped {
                patient_id,
                doctor_id,
                user_id,
            } => {
                let key = (
                    clinic_protocol::ConversationKey::new(patient_id, doctor_id),
                    user_id,
                );
                shared.typing.stopped(&key, &shared.events);
            }
            ServerFrame::UserOnline { user_id } => shared.set_online(&user_id, true),
            ServerFrame::UserOffline { user_id } => shared.set_online(&user_id, false),
            ServerFrame::EmergencyAlert {
                emergency,
                message,
                repeat,
                escalated,
            } => {
                shared.cache.save_emergency(&emergency).map_err(failed)?;
                let changed = shared
                    .cache
                    .apply_message(&me, message.clone())
                    .map_err(failed)?;
                shared.emit_messages(changed);
                shared.emit(ClientEvent::EmergencyAlert {
                    emergency,
                    message,
                    repeat,
                    escalated,
                });
            }
            ServerFrame::EmergencyUpdated { emergency } => {
                shared.cache.save_emergency(&emergency).map_err(failed)?;
                shared.emit(ClientEvent::EmergencyUpdated { emergency });
            }
            ServerFrame::Notification { notification } => {
                shared.emit(ClientEvent::Notification { notification });
            }
            ServerFrame::Authenticated { .. }
            | ServerFrame::ChatJoined(_)
            | ServerFrame::ChatLeft(_)
            | ServerFrame::TypingStarted { .. } => {}
        }
        Ok(())
    }

    /// Catch-up finished: report online, then send what was owed while away.
    async fn caught_up(&mut self, tx: &mpsc::Sender<ClientFrame>, was_online: &mut bool) -> Step {
        self.synced = true;
        *was_online = true;
        let shared = Arc::clone(&self.shared);
        *shared.live() = Some(tx.clone());
        shared.set_state(ConnectionState::Online);
        let joined: Vec<_> = shared.joined().iter().cloned().collect();
        for key in joined {
            self.send(&ClientFrame::JoinChat(key)).await?;
        }
        for (conversation, message_id) in shared.cache.owed_reads().map_err(failed)? {
            self.send(&ClientFrame::MessageRead {
                message_id: message_id.clone(),
                patient_id: conversation.patient_id,
                doctor_id: conversation.doctor_id,
            })
            .await?;
            shared.cache.settle_read(&message_id).map_err(failed)?;
        }
        let owed = shared
            .cache
            .undelivered_to(shared.me(), 20 * MAX_IDS_PER_REQUEST)
            .map_err(failed)?;
        for chunk in owed.chunks(MAX_IDS_PER_REQUEST) {
            self.send(&ClientFrame::MessageDelivered {
                message_ids: chunk.to_vec(),
            })
            .await?;
        }
        self.fill().await?;
        let background = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = crate::client::refresh_directory(&background).await {
                tracing::debug!("could not refresh contacts and conversations: {e}");
            }
        });
        Ok(())
    }

    fn settled(&mut self, client_id: &ClientId) {
        self.inflight.retain(|c| c != client_id);
        self.last_progress = Instant::now();
        self.shared.refresh_queued();
    }

    /// Writes outbox entries until the window is full. Frames from one socket get increasing
    /// server seqs in frame order, so the outbox order is the conversation order.
    async fn fill(&mut self) -> Step {
        let room = self
            .shared
            .tuning
            .send_window
            .max(1)
            .saturating_sub(self.inflight.len());
        if room == 0 || !self.synced {
            return Ok(());
        }
        let entries = self
            .shared
            .cache
            .outbox_after(self.shared.me(), self.last_pos, room)
            .map_err(failed)?;
        if entries.is_empty() {
            return Ok(());
        }
        if self.inflight.is_empty() {
            self.last_progress = Instant::now();
        }
        for entry in entries {
            // Attachments (issue 6) will be uploaded here before the send; until then the entry
            // goes out as a plain message.
            let client_id = entry
                .message
                .client_id
                .clone()
                .unwrap_or_else(|| ClientId::from(""));
            let text =
                serde_json::to_string(&ClientFrame::MessageSend(entry.message)).map_err(failed)?;
            self.ws.feed(WsMessage::text(text)).await.map_err(failed)?;
            self.inflight.push_back(client_id);
            self.last_pos = entry.pos;
        }
        self.ws.flush().await.map_err(failed)
    }

    async fn send(&mut self, frame: &ClientFrame) -> Step {
        let text = serde_json::to_string(frame).map_err(failed)?;
        self.ws.send(WsMessage::text(text)).await.map_err(failed)
    }
}
