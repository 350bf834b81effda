//! An authenticated socket: registration in the hub, presence, and the frame loop with pipelined
//! sends and receipts (answered in frame order, after commit).

use super::{error_frame, frames, is_too_large, refuse_oversized};
use crate::audit::{self, Action, Event};
use crate::chat::{MessageFrames, ReceiptKind, publish_receipts, publish_sent};
use crate::config::FrameRates;
use crate::emergency;
use crate::error::ApiError;
use crate::hub::{Outbox, SocketId, encode};
use crate::limiter::Bucket;
use crate::state::{AppState, Session};
use crate::store::Queued;
use crate::store::StoreError;
use crate::store::messages::Sent;
use crate::store::receipts::Receipt;
use crate::store::versions::Changed;
use crate::writes::Write;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, close_code};
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{
    ClientFrame, ClientId, ConversationKey, Role, ServerFrame, User, UserId, limits,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, SplitStream};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

/// Most conversations whose access check a socket remembers.
const MAX_VERIFIED: usize = 1024;

/// A command of this socket's that the writer is committing.
type Pending = BoxFuture<'static, Done>;

/// What a committed command leaves to answer.
// Not boxed: a send's result is the common case, and one value lives per pending command only
// until it is answered; boxing would add an allocation to every send.
#[allow(clippy::large_enum_variant)]
enum Done {
    /// A send, to acknowledge (and deliver).
    Sent(ClientId, Result<Sent, ApiError>),
    /// Receipts, to announce to both sides.
    Marked(ReceiptKind, Result<Vec<Receipt>, ApiError>),
}

/// What answering a committed command needs of its socket, apart from the socket's own state, so
/// that commands are answered while a frame's handler holds the socket (see [`answering`]).
struct Answers<'a> {
    state: &'a AppState,
    user_id: UserId,
    id: SocketId,
    outbox: &'a Outbox,
}

impl<'a> Answers<'a> {
    fn of(socket: &Socket<'a>) -> Self {
        Self {
            state: socket.state,
            user_id: socket.user.id.clone(),
            id: socket.id,
            outbox: socket.outbox,
        }
    }

    fn answer(&self, done: Done) {
        match done {
            Done::Sent(client_id, result) => self.acknowledge(client_id, result),
            Done::Marked(kind, marked) => self.announce_receipts(kind, marked),
        }
    }

    /// `message:ack` to this socket, and the send to everyone else it concerns.
    fn acknowledge(&self, client_id: ClientId, result: Result<Sent, ApiError>) {
        match result {
            Ok(sent) => {
                let frames = MessageFrames::new(&sent.message);
                self.outbox.push(frames.ack(&client_id));
                publish_sent(self.state, &sent, Some(self.id), &frames);
            }
            Err(err) => self.outbox.push(encode(&error_frame(err, Some(client_id)))),
        }
    }

    /// Tells both sides of each conversation about the receipts just written.
    fn announce_receipts(&self, kind: ReceiptKind, marked: Result<Vec<Receipt>, ApiError>) {
        match marked {
            Ok(receipts) => publish_receipts(&self.state.hub, &receipts, &self.user_id, kind),
            Err(err) => self.outbox.push(encode(&error_frame(err, None))),
        }
    }
}

/// Runs a frame's `work` to its end, answering this socket's commands as they commit meanwhile;
/// `None` when the socket is closed first (its session revoked, the server shutting down): a
/// frame still waiting for its rate then writes nothing.
async fn answering<T>(
    work: impl Future<Output = T>,
    pending: &mut FuturesOrdered<Pending>,
    answers: &Answers<'_>,
    close: &CancellationToken,
) -> Option<T> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return Some(out),
            Some(done) = pending.next(), if !pending.is_empty() => answers.answer(done),
            () = close.cancelled() => return None,
        }
    }
}

struct Socket<'a> {
    state: &'a AppState,
    user: User,
    id: SocketId,
    outbox: &'a Outbox,
    /// Conversations this socket may use (checked once against the database).
    verified: HashSet<ConversationKey>,
    sends: Bucket,
    rates: Rates,
}

/// The socket's token bucket for each kind of frame other than `message:send`.
struct Rates {
    typing: Bucket,
    receipts: Bucket,
    rooms: Bucket,
    sync: Bucket,
    emergency: Bucket,
    presence: Bucket,
    other: Bucket,
}

impl Rates {
    fn new(rates: &FrameRates) -> Self {
        Self {
            typing: Bucket::with(rates.typing),
            receipts: Bucket::with(rates.receipts),
            rooms: Bucket::with(rates.rooms),
            sync: Bucket::with(rates.sync),
            emergency: Bucket::with(rates.emergency),
            presence: Bucket::with(rates.presence),
            other: Bucket::with(rates.other),
        }
    }

    /// The bucket `frame` draws from (`message:send` has its own, see [`Socket::send`]).
    fn of(&mut self, frame: &ClientFrame) -> &mut Bucket {
        match frame {
            ClientFrame::TypingStart(_) | ClientFrame::TypingStop(_) => &mut self.typing,
            ClientFrame::MessageRead { .. } | ClientFrame::MessageDelivered { .. } => {
                &mut self.receipts
            }
            ClientFrame::JoinChat(_) | ClientFrame::LeaveChat(_) => &mut self.rooms,
            ClientFrame::Sync { .. } => &mut self.sync,
            ClientFrame::EmergencyAcknowledge { .. } | ClientFrame::EmergencyResolve { .. } => {
                &mut self.emergency
            }
            ClientFrame::PresenceSet { .. } => &mut self.presence,
            ClientFrame::Authenticate { .. }
            | ClientFrame::MessageSend(_)
            | ClientFrame::MessageRetract { .. }
            | ClientFrame::MessageEdit { .. } => &mut self.other,
        }
    }
}

pub(super) async fn run(
    state: &AppState,
    session: Session,
    stream: &mut SplitStream<WebSocket>,
    outbox: &Outbox,
) {
    let user = session.user.clone();
    let partners = match partners_of(state, &user).await {
        Ok(partners) => partners,
        Err(err) => {
            outbox.push(encode(&error_frame(err, None)));
            return;
        }
    };
    let online_users = partners
        .iter()
        .filter(|p| state.hub.is_online(p))
        .cloned()
        .collect();
    let availability = match user.role {
        Role::Doctor => match crate::availability::get(state, &user.id).await {
            Ok(stored) => Some(stored),
            Err(err) => {
                outbox.push(encode(&error_frame(err, None)));
                return;
            }
        },
        _ => None,
    };
    outbox.push(encode(&ServerFrame::Authenticated {
        user: user.clone(),
        online_users,
        availability,
        clinic: Some(state.config.clinic_info()),
        lock_policy: Some(state.config.lock_policy()),
    }));
    // Registered before any `sync` is answered, so nothing falls between snapshot and live events.
    let (id, first) = state
        .hub
        .register(&user, &session.token_hash, outbox.clone());
    if let Some(stored) = availability {
        // Alert routing follows the stored availability from the first alert on.
        state.hub.set_availability(&user.id, stored);
    }
    if first {
        let refs: Vec<&UserId> = partners.iter().collect();
        state.hub.to_users(
            &refs,
            &ServerFrame::UserOnline {
                user_id: user.id.clone(),
            },
            None,
        );
    }
    if let Err(err) = emergency::on_connect(state, &user, outbox).await {
        outbox.push(encode(&error_frame(err, None)));
    }
    let config = &state.config;
    let mut socket = Socket {
        state,
        user,
        id,
        outbox,
        verified: HashSet::new(),
        sends: Bucket::new(config.send_rate_per_sec, config.send_burst),
        rates: Rates::new(&config.frame_rates),
    };
    let pending = socket.frame_loop(stream).await;
    // Before anything that may wait: the socket's alerts stop counting as in flight.
    outbox.alerts.close();

    if state.hub.unregister(id) {
        // Partners may have changed while connected (a first message); ask again.
        let partners = partners_of(state, &socket.user).await.unwrap_or(partners);
        let refs: Vec<&UserId> = partners.iter().collect();
        state.hub.to_users(
            &refs,
            &ServerFrame::UserOffline {
                user_id: socket.user.id.clone(),
            },
            None,
        );
    }
    socket.finish(pending).await;
}

/// Longest a closed socket's task waits for the commits it had queued (the writer's own wait for
/// the database's lock is 10 s).
const FINISH_LIMIT: Duration = Duration::from_secs(10);

async fn partners_of(state: &AppState, user: &User) -> Result<Vec<UserId>, ApiError> {
    Ok(state.store.partners(user).await?)
}

impl Socket<'_> {
    /// Reads and answers frames until the socket closes; returns the commands still committing.
    /// A command that commits is answered at once, also while a frame's handler waits (for its
    /// rate, for room in a full queue, for the writer): what the others are told of a send (its
    /// message, an emergency's alerts) never waits for this socket's reader.
    async fn frame_loop(&mut self, stream: &mut SplitStream<WebSocket>) -> FuturesOrdered<Pending> {
        let idle_limit = self.state.config.ping_interval * 2;
        let mut idle_deadline = Instant::now() + idle_limit;
        let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
        let max_in_flight = self.state.config.max_in_flight.max(1);
        let answers = Answers::of(self);
        loop {
            tokio::select! {
                () = self.outbox.close.cancelled() => break,
                Some(done) = pending.next(), if !pending.is_empty() => answers.answer(done),
                () = sleep_until(idle_deadline) => {
                    self.outbox.close_with(close_code::AWAY, "no pong");
                    break;
                }
                incoming = stream.next(), if pending.len() < max_in_flight => {
                    idle_deadline = Instant::now() + idle_limit;
                    let text = match incoming {
                        None | Some(Ok(Message::Close(_))) => break,
                        Some(Err(err)) => {
                            if is_too_large(&err) {
                                refuse_oversized(self.outbox);
                            }
                            break;
                        }
                        Some(Ok(Message::Text(text))) => Some(text),
                        Some(Ok(Message::Binary(_))) => None,
                        Some(Ok(_)) => continue,
                    };
                    // Boxed: the handlers' futures are large, and inline they would sit in every
                    // idle socket's task for its whole life.
                    let outbox = self.outbox;
                    let work = Box::pin(self.on_frame(text));
                    match answering(work, &mut pending, &answers, &outbox.close).await {
                        Some(Some(queued)) => pending.push_back(queued),
                        Some(None) => {}
                        None => break,
                    }
                    // A socket held back for its rate was not idle: its pongs wait unread.
                    idle_deadline = Instant::now() + idle_limit;
                }
            }
        }
        pending
    }

    /// One frame read (`None`: a binary one), held to its rate and handled; returns the command
    /// it queued with the writer, if any.
    async fn on_frame(&mut self, text: Option<Utf8Bytes>) -> Option<Pending> {
        let max = self.state.config.max_frame_bytes;
        let Some(text) = text else {
            self.rates.other.wait().await;
            self.error(
                ApiError::bad_request("binary frames are not supported"),
                None,
            );
            return None;
        };
        match frames::parse(&text, max) {
            Ok(frame) if !self.paced(&frame).await => None,
            Ok(frame) => self.handle(frame).await,
            Err(err) => {
                self.rates.other.wait().await;
                self.error(err, frames::refused_client_id(&text, max));
                None
            }
        }
    }

    /// The commands a closed socket had queued are committed by the writer anyway: their acks
    /// have nowhere to go (the client's retry with the same clientId gets the stored message),
    /// but the other devices and the other side are told of the sends and receipts, which a
    /// retry would not do again (a receipt already made changes nothing).
    async fn finish(&self, mut pending: FuturesOrdered<Pending>) {
        if pending.is_empty() {
            return;
        }
        let answers = Answers::of(self);
        let answered = async {
            while let Some(done) = pending.next().await {
                answers.answer(done);
            }
        };
        if tokio::time::timeout(FINISH_LIMIT, answered).await.is_err() {
            tracing::warn!("a closed socket's commands did not commit in time; not announced");
        }
    }

    /// Holds `frame` to its kind's rate: typing over its rate is dropped (false: an indicator
    /// that late is worthless, and an error per frame would only add traffic); any other frame
    /// waits until it is due (the server stops reading this socket meanwhile, so a flood slows
    /// its sender down and nothing is refused or reordered). Sends are paced in `send`.
    async fn paced(&mut self, frame: &ClientFrame) -> bool {
        match frame {
            ClientFrame::MessageSend(_) => true,
            ClientFrame::TypingStart(_) | ClientFrame::TypingStop(_) => self.rates.typing.take(),
            other => {
                self.rates.of(other).wait().await;
                true
            }
        }
    }

    fn error(&self, err: ApiError, client_id: Option<ClientId>) {
        self.outbox.push(encode(&error_frame(err, client_id)));
    }

    /// Answers a refused `message:retract`/`message:edit` on this socket, with its `clientId`
    /// (a committed one was answered after its commit, `unsend::publish`).
    fn answer_change(&self, client_id: ClientId, done: Result<Changed, ApiError>) {
        if let Err(err) = done {
            self.error(err, Some(client_id));
        }
    }

    /// Checks (once per conversation) that the caller may use `key`.
    async fn verify(&mut self, key: &ConversationKey) -> Result<(), ApiError> {
        if self.verified.contains(key) {
            return Ok(());
        }
        let checked = self.state.store.check_access(&self.user, key).await;
        // Only a refusal is written: joining reads nothing of the conversation yet.
        let attempt = Event::by(&self.user.id, Action::ConversationJoin).conversation(key);
        audit::audited(&self.state.store, checked, attempt, |(), _| Vec::new()).await?;
        if self.verified.len() >= MAX_VERIFIED {
            self.verified.clear();
        }
        self.verified.insert(key.clone());
        Ok(())
    }

    /// Handles one frame; returns the command it queued with the writer, if any.
    async fn handle(&mut self, frame: ClientFrame) -> Option<Pending> {
        let result = match frame {
            ClientFrame::MessageSend(new) => return self.send(new).await,
            ClientFrame::Authenticate { .. } => Err(ApiError::bad_request("already authenticated")),
            ClientFrame::JoinChat(key) => self.join(key).await,
            ClientFrame::LeaveChat(key) => {
                self.state.hub.leave(self.id, &key);
                self.outbox.push(encode(&ServerFrame::ChatLeft(key)));
                Ok(())
            }
            ClientFrame::TypingStart(key) => self.typing(key, true).await,
            ClientFrame::TypingStop(key) => self.typing(key, false).await,
            ClientFrame::MessageRead {
                message_id,
                patient_id,
                doctor_id,
            } => {
                self.state.writes.wait(&self.user.id, Write::Ids(1)).await;
                let key = ConversationKey::new(patient_id, doctor_id);
                let queued = self
                    .state
                    .store
                    .queue_mark_read_up_to(&self.user, key, message_id)
                    .await;
                return Some(Self::receipts_pending(ReceiptKind::Read, queued));
            }
            ClientFrame::MessageDelivered { message_ids } => {
                let write = Write::Ids(message_ids.len());
                self.state.writes.wait(&self.user.id, write).await;
                let queued = self
                    .state
                    .store
                    .queue_mark_delivered(&self.user.id, message_ids)
                    .await;
                return Some(Self::receipts_pending(ReceiptKind::Delivered, queued));
            }
            ClientFrame::Sync { since, limit } => self.sync(since, limit).await,
            ClientFrame::EmergencyAcknowledge { emergency_id } => {
                emergency::acknowledge(self.state, &self.user, emergency_id)
                    .await
                    .map(|_| ())
            }
            ClientFrame::EmergencyResolve { emergency_id, note } => {
                emergency::resolve(self.state, &self.user, emergency_id, note)
                    .await
                    .map(|_| ())
            }
            ClientFrame::PresenceSet { availability } => {
                crate::availability::set(self.state, &self.user, availability)
                    .await
                    .map(drop)
            }
            ClientFrame::MessageRetract {
                client_id,
                message_id,
                reason,
                misdirected,
            } => {
                let write = Write::Text(reason.as_ref().map_or(0, String::len));
                self.state.writes.wait(&self.user.id, write).await;
                let request = RetractRequest {
                    reason,
                    misdirected,
                };
                let asker = (self.id, client_id.clone());
                let done = crate::unsend::retract(
                    self.state,
                    &self.user,
                    message_id,
                    request,
                    Some(asker),
                )
                .await;
                self.answer_change(client_id, done);
                return None;
            }
            ClientFrame::MessageEdit {
                client_id,
                message_id,
                content,
                base_version,
            } => {
                let write = Write::Text(content.len());
                self.state.writes.wait(&self.user.id, write).await;
                let request = EditRequest {
                    content,
                    base_version,
                };
                let asker = (self.id, client_id.clone());
                let done =
                    crate::unsend::edit(self.state, &self.user, message_id, request, Some(asker))
                        .await;
                self.answer_change(client_id, done);
                return None;
            }
        };
        if let Err(err) = result {
            self.error(err, None);
        }
        None
    }

    /// Queues a send with the writer now (so this socket's sends keep frame order); returns its
    /// commit to await among the pending ones, without blocking further frames.
    async fn send(&mut self, new: clinic_protocol::NewMessage) -> Option<Pending> {
        let Some(client_id) = new.client_id.clone() else {
            self.error(ApiError::bad_request("message:send needs a clientId"), None);
            return None;
        };
        // Too fast: stop reading this socket until a token is due, so its frames wait in the
        // TCP buffers (backpressure on the sender) instead of being refused. A refusal in the
        // middle of a pipelined burst would let the later sends overtake the refused one.
        self.sends.wait().await;
        self.state
            .writes
            .wait(&self.user.id, Write::message(&new))
            .await;
        let sender = self.user.clone();
        let attempt = Event::by(&sender.id, Action::MessageCreate).conversation(
            &clinic_protocol::ConversationKey::new(new.patient_id.clone(), new.doctor_id.clone()),
        );
        let store = self.state.store.clone();
        let queued = self.state.store.send(sender, new, client_id.clone()).await;
        match queued {
            Err(err) => {
                self.error(err.into(), Some(client_id));
                None
            }
            Ok(queued) => Some(Box::pin(async move {
                let result = queued.committed().await;
                let result = audit::audited(&store, result, attempt, |_, _| Vec::new()).await;
                Done::Sent(client_id, result)
            })),
        }
    }

    async fn join(&mut self, key: ConversationKey) -> Result<(), ApiError> {
        self.verify(&key).await?;
        self.state.hub.join(self.id, key.clone());
        self.outbox.push(encode(&ServerFrame::ChatJoined(key)));
        Ok(())
    }

    async fn typing(&mut self, key: ConversationKey, started: bool) -> Result<(), ApiError> {
        self.verify(&key).await?;
        let (patient_id, doctor_id, user_id) = (
            key.patient_id.clone(),
            key.doctor_id.clone(),
            self.user.id.clone(),
        );
        let frame = if started {
            ServerFrame::TypingStarted {
                patient_id,
                doctor_id,
                user_id,
            }
        } else {
            ServerFrame::TypingStopped {
                patient_id,
                doctor_id,
                user_id,
            }
        };
        self.state.hub.to_joined(&key, &self.user.id, &frame);
        Ok(())
    }

    /// Queued receipts to await among the pending commands, as sends are: the socket goes on
    /// reading (and acknowledging its sends) while they commit.
    fn receipts_pending(
        kind: ReceiptKind,
        queued: Result<Queued<Vec<Receipt>>, StoreError>,
    ) -> Pending {
        Box::pin(async move {
            let marked = match queued {
                Ok(queued) => queued.committed().await,
                Err(err) => Err(err),
            };
            Done::Marked(kind, marked.map_err(ApiError::from))
        })
    }

    /// Answers `sync {since, limit}` with one `sync:batch` (the client asks again from its
    /// cursor while it says `hasMore`): a small frame never makes the server read and send
    /// more than one page.
    async fn sync(&self, since: clinic_protocol::Seq, limit: Option<u32>) -> Result<(), ApiError> {
        let limit = limit.unwrap_or(limits::DEFAULT_SYNC_PAGE);
        // The account's audited reads, shared with REST and its other sockets: many sockets
        // asking at once get no more pages than one.
        self.state.reads.wait_n(&self.user.id, 1.0).await;
        let page_share = self.state.store.pages.take(1).await?;
        let page = self
            .state
            .store
            .changes_since(&self.user, since, limit)
            .await;
        let page = audit::audited(
            &self.state.store,
            page,
            Event::by(&self.user.id, Action::SyncRead),
            |page, attempt| audit::sync_events(page, &attempt),
        )
        .await?;
        let frame = encode(&ServerFrame::SyncBatch(page));
        // Given back before waiting for room in this socket's queue, which only its reader frees.
        drop(page_share);
        self.outbox.push_wait(frame).await;
        Ok(())
    }
}
