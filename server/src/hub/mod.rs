//! The live fan-out: which sockets are open for which user, which conversations they joined, and
//! frame delivery to them through bounded per-socket queues that never block the sender.

use axum::extract::ws::{Utf8Bytes, close_code};
use clinic_protocol::ws::Availability;
use clinic_protocol::{ConversationKey, EmergencyId, Role, ServerFrame, User, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod alerts;

pub(crate) use alerts::{Alerts, InFlight};

pub(crate) type SocketId = u64;

/// Most bytes of frames one socket may have waiting. The queue's frame count alone would let a
/// socket that never reads hold over a thousand maximum-size messages (tens of MiB; benchmark
/// S7 in docs/benchmarks.md); past this budget it is closed like one whose queue is full.
pub(crate) const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// Queued bytes past which a socket counts as behind: typing indicators for it are dropped
/// rather than queued (they are stale by the time it would read them).
const BEHIND_BYTES: usize = 64 * 1024;

/// The sending side of one socket: its bounded queue and the switch that closes it.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    pub frames: mpsc::Sender<Utf8Bytes>,
    pub close: CancellationToken,
    /// Close code and reason; the first one set wins.
    pub reason: Arc<OnceLock<(u16, &'static str)>>,
    /// Bytes of the frames queued and not yet taken by the write task.
    queued: Arc<AtomicUsize>,
    /// A [`Outbox::push_wait`] waits for room in bytes: the write task wakes it.
    room: Arc<Room>,
    /// Emergency alerts, ahead of the queue.
    pub alerts: Arc<Alerts>,
}

impl Outbox {
    /// A socket's outbox; its alerts count in `in_flight` (the hub's, `Hub::alerts_in_flight`).
    pub(crate) fn new(
        frames: mpsc::Sender<Utf8Bytes>,
        close: CancellationToken,
        in_flight: Arc<InFlight>,
    ) -> Self {
        Self {
            frames,
            close,
            reason: Arc::new(OnceLock::new()),
            queued: Arc::new(AtomicUsize::new(0)),
            room: Arc::default(),
            alerts: Arc::new(Alerts::new(in_flight)),
        }
    }

    /// Queues the alert of emergency `id` ahead of everything else (see [`Alerts`]).
    pub(crate) fn alert(&self, id: &EmergencyId, frame: Utf8Bytes) {
        if !self.alerts.put(id, frame) {
            tracing::warn!("too many emergency alerts waiting; closing a slow socket");
            self.close_with(close_code::AGAIN, "too slow: reconnect and sync");
        }
    }

    /// Queues a frame that is worthless once stale (typing), unless the socket is behind:
    /// then it is dropped, never queued, and never a reason to close the socket.
    pub(crate) fn offer(&self, frame: Utf8Bytes) {
        let behind = self.queued.load(Ordering::Relaxed) + frame.len() > BEHIND_BYTES
            || self.frames.capacity() < self.frames.max_capacity() / 2;
        if !behind {
            self.push(frame);
        }
    }

    /// The write task took `frame` off the queue.
    pub(crate) fn taken(&self, frame: &Utf8Bytes) {
        self.queued.fetch_sub(frame.len(), Ordering::SeqCst);
        // Only a waiting `push_wait` needs the wake-up (checked after the bytes went: see
        // `Room`), so the write path pays no lock per frame.
        if self.room.waiting.load(Ordering::SeqCst) > 0 {
            self.room.freed.notify_waiters();
        }
    }

    /// Closes the socket with a close frame carrying `code` and `reason`.
    pub(crate) fn close_with(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.close.cancel();
    }

    /// Queues a frame, waiting for room (for long answers such as a sync; only this socket
    /// waits): for a free slot, and until the frame fits in half the byte budget (or the queue
    /// is empty), so answers never take the room live frames need, and a client that asks
    /// without reading holds at most that much.
    pub(crate) async fn push_wait(&self, frame: Utf8Bytes) {
        let len = frame.len();
        let fits = |queued: usize| queued == 0 || queued + len <= MAX_QUEUED_BYTES / 2;
        if !fits(self.queued.load(Ordering::SeqCst)) {
            let _waiting = self.room.wait();
            loop {
                let freed = self.room.freed.notified();
                tokio::pin!(freed);
                freed.as_mut().enable();
                if fits(self.queued.load(Ordering::SeqCst)) {
                    break;
                }
                tokio::select! {
                    () = freed => {}
                    () = self.close.cancelled() => return,
                }
            }
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        // An error means the socket is closing; the frame has nowhere to go.
        if self.frames.send(frame).await.is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// Queues a frame; a socket too slow to keep its queue from filling is closed (it will
    /// reconnect and catch up with `sync`) rather than let it grow memory or stall others.
    pub(crate) fn push(&self, frame: Utf8Bytes) {
        let len = frame.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            // Said once per socket: frames keep coming until its task sees the close.
            if !self.close.is_cancelled() {
                tracing::warn!("outbound queue over its byte budget; closing a slow socket");
            }
            metrics::counter!(crate::metrics::QUEUE_DROPS).increment(1);
            self.close_with(close_code::AGAIN, "too slow: reconnect and sync");
            return;
        }
        if let Err(err) = self.frames.try_send(frame) {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            if let mpsc::error::TrySendError::Full(_) = err {
                if !self.close.is_cancelled() {
                    tracing::warn!("outbound queue full; closing a slow socket");
                }
                metrics::counter!(crate::metrics::QUEUE_DROPS).increment(1);
                self.close_with(close_code::AGAIN, "too slow: reconnect and sync");
            }
        }
    }
}

/// Wakes a [`Outbox::push_wait`] when the write task frees bytes. A waiter counts itself in
/// `waiting` before it reads the queued bytes, and the write task reads `waiting` after it
/// subtracts them (both `SeqCst`): either the waiter sees the bytes gone, or the write task
/// sees it waiting and wakes it.
#[derive(Debug, Default)]
struct Room {
    waiting: AtomicUsize,
    freed: tokio::sync::Notify,
}

impl Room {
    /// Counts a waiter until the guard drops (also when its future is dropped).
    fn wait(&self) -> impl Drop + '_ {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(&self.waiting)
    }
}

#[derive(Debug)]
struct Entry {
    user: User,
    token_hash: String,
    outbox: Outbox,
    joined: HashSet<ConversationKey>,
}

#[derive(Debug, Default)]
struct State {
    sockets: HashMap<SocketId, Entry>,
    by_user: HashMap<UserId, Vec<SocketId>>,
    availability: HashMap<UserId, Availability>,
    next_id: SocketId,
}

#[derive(Debug, Default)]
pub(crate) struct Hub {
    state: Mutex<State>,
    /// Alerts queued to sockets and not yet written out.
    alerts_in_flight: Arc<InFlight>,
}

/// Serializes a frame once for any number of sockets.
pub(crate) fn encode(frame: &ServerFrame) -> Utf8Bytes {
    match serde_json::to_string(frame) {
        Ok(text) => Utf8Bytes::from(text),
        Err(err) => {
            // Our own types always serialize; keep going rather than panic if one ever doesn't.
            tracing::error!(error = %err, "cannot serialize a frame");
            Utf8Bytes::from_static(r#"{"type":"error","code":"internal","message":"encoding"}"#)
        }
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a harmful way.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a socket; true when it is the user's first (the user just came online).
    pub(crate) fn register(
        &self,
        user: &User,
        token_hash: &str,
        outbox: Outbox,
    ) -> (SocketId, bool) {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.sockets.insert(
            id,
            Entry {
                user: user.clone(),
                token_hash: token_hash.to_owned(),
                outbox,
                joined: HashSet::new(),
            },
        );
        let sockets = state.by_user.entry(user.id.clone()).or_default();
        sockets.push(id);
        (id, sockets.len() == 1)
    }

    /// Removes a socket; true when it was the user's last (the user went offline).
    pub(crate) fn unregister(&self, id: SocketId) -> bool {
        let mut state = self.lock();
        let Some(entry) = state.sockets.remove(&id) else {
            return false;
        };
        let user_id = entry.user.id;
        let last = match state.by_user.get_mut(&user_id) {
            Some(sockets) => {
                sockets.retain(|s| *s != id);
                sockets.is_empty()
            }
            None => true,
        };
        if last {
            state.by_user.remove(&user_id);
            state.availability.remove(&user_id);
        }
        last
    }

    /// Authenticated sockets open now.
    pub(crate) fn socket_count(&self) -> usize {
        self.lock().sockets.len()
    }

    pub(crate) fn join(&self, id: SocketId, key: ConversationKey) {
        if let Some(entry) = self.lock().sockets.get_mut(&id) {
            entry.joined.insert(key);
        }
    }

    pub(crate) fn leave(&self, id: SocketId, key: &ConversationKey) {
        if let Some(entry) = self.lock().sockets.get_mut(&id) {
            entry.joined.remove(key);
        }
    }

    pub(crate) fn is_online(&self, user: &UserId) -> bool {
        self.lock().by_user.contains_key(user)
    }

    pub(crate) fn online_users(&self) -> HashSet<UserId> {
        self.lock().by_user.keys().cloned().collect()
    }

    pub(crate) fn set_availability(&self, user: &UserId, availability: Availability) {
        self.lock().availability.insert(user.clone(), availability);
    }

    /// To every socket of each of `users`, except `skip`.
    pub(crate) fn to_users(&self, users: &[&UserId], frame: &ServerFrame, skip: Option<SocketId>) {
        self.text_to_users(users, &encode(frame), skip);
    }

    /// An encoded frame to every socket of each of `users`, except `skip`.
    pub(crate) fn text_to_users(
        &self,
        users: &[&UserId],
        text: &Utf8Bytes,
        skip: Option<SocketId>,
    ) {
        let state = self.lock();
        for user in users {
            for id in state.by_user.get(*user).into_iter().flatten() {
                if Some(*id) != skip
                    && let Some(entry) = state.sockets.get(id)
                {
                    entry.outbox.push(text.clone());
                }
            }
        }
    }

    /// To one socket, if it is still connected.
    pub(crate) fn to_socket(&self, id: SocketId, frame: &ServerFrame) {
        let text = encode(frame);
        if let Some(entry) = self.lock().sockets.get(&id) {
            entry.outbox.push(text);
        }
    }

    /// To both participants of a conversation, except the socket `skip`.
    pub(crate) fn to_conversation(
        &self,
        key: &ConversationKey,
        frame: &ServerFrame,
        skip: Option<SocketId>,
    ) {
        self.to_users(&[&key.patient_id, &key.doctor_id], frame, skip);
    }

    /// To the sockets of `key`'s participants other than `from` that joined `key` (typing).
    pub(crate) fn to_joined(&self, key: &ConversationKey, from: &UserId, frame: &ServerFrame) {
        let text = encode(frame);
        let state = self.lock();
        for id in state.by_user.get(key.other(from)).into_iter().flatten() {
            if let Some(entry) = state.sockets.get(id)
                && entry.joined.contains(key)
            {
                entry.outbox.offer(text.clone());
            }
        }
    }

    /// A doctor's availability (available unless they asked for do-not-disturb).
    pub(crate) fn availability(&self, user: &UserId) -> Availability {
        self.lock()
            .availability
            .get(user)
            .copied()
            .unwrap_or(Availability::Available)
    }

    /// To every socket of every online doctor, leaving out doctors on do-not-disturb unless
    /// `include_dnd`. Returns each doctor reached with how many sockets the frame was queued to.
    pub(crate) fn to_doctors(
        &self,
        frame: &ServerFrame,
        include_dnd: bool,
    ) -> Vec<(UserId, usize)> {
        let text = encode(frame);
        self.each_doctor(include_dnd, |outbox| outbox.push(text.clone()))
    }

    /// The alert of emergency `id` to every socket of every online doctor, ahead of every
    /// socket's queue (see [`Alerts`]). Doctors on do-not-disturb get it too (their app shows the
    /// banner and Acknowledge without ringing, until `escalated`); the doctors returned are the
    /// ones asked to ring (all of them once `escalated`), each with how many sockets it reached.
    pub(crate) fn alert_doctors(
        &self,
        id: &EmergencyId,
        frame: &ServerFrame,
        escalated: bool,
    ) -> Vec<(UserId, usize)> {
        let text = encode(frame);
        let resting: Vec<(UserId, usize)> = if escalated {
            Vec::new()
        } else {
            let state = self.lock();
            state
                .availability
                .iter()
                .filter(|(_, a)| **a == Availability::DoNotDisturb)
                .map(|(user, _)| (user.clone(), 0))
                .collect()
        };
        let mut reached = self.each_doctor(true, |outbox| outbox.alert(id, text.clone()));
        reached.retain(|(user, _)| !resting.iter().any(|(r, _)| r == user));
        reached
    }

    /// Where the alerts queued to sockets are counted until written (see [`Alerts`]): each
    /// socket's outbox is made with it.
    pub(crate) fn alerts_in_flight(&self) -> &Arc<InFlight> {
        &self.alerts_in_flight
    }

    /// Waits until no alert is in flight: every one queued to an open socket has been written
    /// out (or `within` has passed, for a socket too slow to take it, or while alerts keep
    /// going out). What an alert leads to in the database (the doctors' notifications, the
    /// record of whom it reached) waits for this: on one core, a thousand rows written while a
    /// thousand alerts go out made the last doctor hear it about twice as late (benchmark S4).
    pub(crate) async fn alerts_written(&self, within: std::time::Duration) {
        self.alerts_in_flight.settled(within).await;
    }

    fn each_doctor(&self, include_dnd: bool, deliver: impl Fn(&Outbox)) -> Vec<(UserId, usize)> {
        let state = self.lock();
        let mut reached = Vec::new();
        for (user, sockets) in &state.by_user {
            if !include_dnd && state.availability.get(user) == Some(&Availability::DoNotDisturb) {
                continue;
            }
            let mut queued = 0;
            for entry in sockets.iter().filter_map(|id| state.sockets.get(id)) {
                if entry.user.role == Role::Doctor {
                    deliver(&entry.outbox);
                    queued += 1;
                }
            }
            if queued > 0 {
                reached.push((user.clone(), queued));
            }
        }
        reached
    }

    /// To every socket of every online user with `role`.
    pub(crate) fn to_role(&self, role: Role, frame: &ServerFrame) {
        let text = encode(frame);
        let state = self.lock();
        for entry in state.sockets.values().filter(|e| e.user.role == role) {
            entry.outbox.push(text.clone());
        }
    }

    /// Closes every socket authenticated with this token (logout).
    pub(crate) fn close_token(&self, token_hash: &str) {
        for entry in self
            .lock()
            .sockets
            .values()
            .filter(|e| e.token_hash == token_hash)
        {
            entry.outbox.close_with(close_code::POLICY, "session ended");
        }
    }

    /// The distinct token hashes of `user`'s live sockets (sessions a sign-in must not end).
    pub(crate) fn token_hashes_of(&self, user: &UserId) -> Vec<String> {
        let state = self.lock();
        let set: HashSet<String> = state
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| state.sockets.get(id))
            .map(|e| e.token_hash.clone())
            .collect();
        set.into_iter().collect()
    }

    /// The distinct token hashes of live sockets (for the session sweep).
    pub(crate) fn token_hashes(&self) -> Vec<String> {
        let set: HashSet<String> = self
            .lock()
            .sockets
            .values()
            .map(|e| e.token_hash.clone())
            .collect();
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_closes_the_socket_instead_of_growing() {
        let (tx, mut rx) = mpsc::channel(2);
        let outbox = Outbox::new(tx, CancellationToken::new(), Arc::default());
        outbox.push(Utf8Bytes::from_static("1"));
        outbox.push(Utf8Bytes::from_static("2"));
        assert!(!outbox.close.is_cancelled());
        outbox.push(Utf8Bytes::from_static("3"));
        assert!(outbox.close.is_cancelled());
        assert_eq!(outbox.reason.get().map(|r| r.0), Some(close_code::AGAIN));
        assert_eq!(rx.try_recv().ok().as_deref(), Some("1"));
        assert_eq!(rx.try_recv().ok().as_deref(), Some("2"));
        assert!(
            rx.try_recv().is_err(),
            "the overflowing frame was dropped, not queued"
        );
    }

    #[test]
    fn a_socket_over_its_byte_budget_is_closed() {
        let (tx, mut rx) = mpsc::channel(1024);
        let outbox = Outbox::new(tx, CancellationToken::new(), Arc::default());
        let big = Utf8Bytes::from("x".repeat(MAX_QUEUED_BYTES / 2));
        outbox.push(big.clone());
        outbox.push(big.clone());
        assert!(!outbox.close.is_cancelled());
        outbox.push(Utf8Bytes::from_static("one byte too many"));
        assert!(outbox.close.is_cancelled());
        // What the write task takes off the queue no longer counts.
        let (tx, mut rx2) = mpsc::channel(1024);
        let outbox = Outbox::new(tx, CancellationToken::new(), Arc::default());
        for _ in 0..4 {
            outbox.push(big.clone());
            let taken = rx2.try_recv().expect("queued");
            outbox.taken(&taken);
        }
        assert!(!outbox.close.is_cancelled());
        assert!(rx.try_recv().is_ok());
    }

    #[tokio::test]
    async fn an_answer_waits_for_room_in_half_the_byte_budget() {
        let (tx, mut rx) = mpsc::channel(1024);
        let outbox = Outbox::new(tx, CancellationToken::new(), Arc::default());
        let page = Utf8Bytes::from("x".repeat(MAX_QUEUED_BYTES / 3));
        // The first goes in at once; one larger than the room goes in when the queue is empty.
        outbox.push_wait(page.clone()).await;
        let second = outbox.push_wait(page.clone());
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), second.as_mut())
                .await
                .is_err(),
            "a second page would pass half the budget: it waits"
        );
        // Live frames still have their room meanwhile.
        outbox.push(Utf8Bytes::from("y".repeat(MAX_QUEUED_BYTES / 2)));
        assert!(!outbox.close.is_cancelled());
        let taken = rx.recv().await.expect("queued");
        outbox.taken(&taken);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), second.as_mut())
                .await
                .is_err(),
            "still over half with the live frame queued"
        );
        let taken = rx.recv().await.expect("queued");
        outbox.taken(&taken);
        tokio::time::timeout(std::time::Duration::from_secs(5), second)
            .await
            .expect("woken once the write task took the frames");
        let taken = rx.recv().await.expect("queued");
        assert_eq!(taken.len(), page.len());
        outbox.taken(&taken);

        // A waiting answer that is dropped (its socket task ended) stops counting as waiting.
        let big = Utf8Bytes::from("x".repeat(MAX_QUEUED_BYTES));
        outbox.push_wait(big.clone()).await;
        {
            let dropped = outbox.push_wait(big.clone());
            tokio::pin!(dropped);
            let polled =
                tokio::time::timeout(std::time::Duration::from_millis(50), dropped.as_mut()).await;
            assert!(polled.is_err(), "it waits");
            assert_eq!(outbox.room.waiting.load(Ordering::SeqCst), 1);
        }
        assert_eq!(outbox.room.waiting.load(Ordering::SeqCst), 0);

        // A waiting answer gives up when the socket closes.
        let waiting = outbox.push_wait(big);
        tokio::pin!(waiting);
        let polled =
            tokio::time::timeout(std::time::Duration::from_millis(50), waiting.as_mut()).await;
        assert!(polled.is_err(), "it waits");
        outbox.close_with(close_code::AGAIN, "closing");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("returns on close");
        assert_eq!(outbox.room.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn doctors_on_do_not_disturb_get_only_what_includes_them() {
        let hub = Hub::default();
        let mut queues = Vec::new();
        for (id, role) in [
            ("d1", Role::Doctor),
            ("d2", Role::Doctor),
            ("p", Role::Patient),
        ] {
            let user = User {
                id: id.into(),
                username: id.into(),
                name: id.into(),
                role,
            };
            let (tx, rx) = mpsc::channel(8);
            hub.register(
                &user,
                "t",
                Outbox::new(tx, CancellationToken::new(), Arc::default()),
            );
            queues.push(rx);
        }
        hub.set_availability(&"d2".into(), Availability::DoNotDisturb);
        assert_eq!(hub.availability(&"d2".into()), Availability::DoNotDisturb);
        let frame = ServerFrame::error(clinic_protocol::ErrorCode::Internal, "x");
        assert_eq!(hub.to_doctors(&frame, false), [("d1".into(), 1)]);
        let mut everyone = hub.to_doctors(&frame, true);
        everyone.sort();
        assert_eq!(everyone, [("d1".into(), 1), ("d2".into(), 1)]);
        let counts: Vec<usize> = queues
            .iter_mut()
            .map(|q| std::iter::from_fn(|| q.try_recv().ok()).count())
            .collect();
        assert_eq!(counts, [2, 1, 0], "never to a patient");
    }

    #[test]
    fn typing_reaches_only_joined_sockets_of_the_other_participant() {
        let hub = Hub::default();
        let user = |id: &str, role| User {
            id: id.into(),
            username: id.into(),
            name: id.into(),
            role,
        };
        let (doc, pat, other) = (
            user("d", Role::Doctor),
            user("p", Role::Patient),
            user("q", Role::Patient),
        );
        let key = ConversationKey::new("p", "d");
        let mut queues = Vec::new();
        for who in [&doc, &pat, &other] {
            let (tx, rx) = mpsc::channel(8);
            let (id, first) = hub.register(
                who,
                "t",
                Outbox::new(tx, CancellationToken::new(), Arc::default()),
            );
            assert!(first);
            hub.join(id, key.clone());
            queues.push(rx);
        }
        let frame = ServerFrame::TypingStarted {
            patient_id: "p".into(),
            doctor_id: "d".into(),
            user_id: "d".into(),
        };
        hub.to_joined(&key, &doc.id, &frame);
        assert!(queues[0].try_recv().is_err(), "not to the typist");
        assert!(queues[1].try_recv().is_ok(), "to the patient");
        assert!(
            queues[2].try_recv().is_err(),
            "never to a third party, joined or not"
        );
    }
}
