//! State shared by a `Client` handle and its connection task.

use crate::api::Api;
use crate::attention::{Attention, Effects};
use crate::backoff::BackoffConfig;
use crate::cache::Cache;
use crate::error::Result;
use crate::events::{ClientEvent, ConnectionState};
use crate::record::LocalMessage;
use crate::typing::Typing;
use clinic_protocol::{ClientFrame, ConversationKey, Emergency, LockPolicy, User, UserId};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc, watch};

/// Tunables of a client; the defaults suit the desktop app.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub backoff: BackoffConfig,
    /// Attempts of one queued send (or upload) that the server refuses with a transient code
    /// before it is parked as failed. Emergencies are never parked for a transient refusal.
    pub send_attempts: u32,
    /// Wait between those attempts (doubling from `base`, at most `cap`), on the same socket.
    pub send_retry: BackoffConfig,
    /// Delivered receipts wait this long to go out together in one frame.
    pub delivered_delay: Duration,
    /// A peer's typing indicator ends this long after its last `typing:start`.
    pub typing_timeout: Duration,
    /// Capacity of the event broadcast; slower receivers see `Lagged`.
    pub event_capacity: usize,
    /// Free space the profile's disk keeps: below it, catching up asks the server for no more
    /// pages (a server sending page after page, a broken or hostile one, cannot fill the disk).
    pub disk_reserve: u64,
    /// Sessions kept aside to be ended (a logout or a password check the server did not hear)
    /// are tried again this often while the client lives.
    pub kept_sessions_retry: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            send_attempts: 5,
            send_retry: BackoffConfig {
                base: Duration::from_millis(250),
                cap: Duration::from_secs(8),
            },
            delivered_delay: Duration::from_millis(500),
            typing_timeout: Duration::from_secs(6),
            event_capacity: 4096,
            disk_reserve: 128 * 1024 * 1024,
            kept_sessions_retry: Duration::from_secs(60),
        }
    }
}

/// Most users tracked as online at once.
const MAX_PRESENCE: usize = 100_000;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) user: User,
    pub(crate) api: Api,
    pub(crate) token: String,
    pub(crate) cache: Cache,
    pub(crate) tuning: Tuning,
    pub(crate) events: broadcast::Sender<ClientEvent>,
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) queued: watch::Sender<u64>,
    /// Sends parked after a refusal (told with the connection state, like `queued`).
    pub(crate) failed: AtomicU64,
    /// Poked when the outbox gained entries.
    pub(crate) outbox_wake: Notify,
    /// Poked when a read receipt is owed.
    pub(crate) receipts_wake: Notify,
    /// Poked to skip the current reconnect delay.
    pub(crate) reconnect_now: Notify,
    /// The way to the live socket while online; `None` otherwise.
    pub(crate) live: Mutex<Option<mpsc::Sender<ClientFrame>>>,
    pub(crate) typing: Arc<Typing>,
    pub(crate) attention: Attention,
    pub(crate) presence: Mutex<HashSet<UserId>>,
    /// Conversations joined (for typing indicators); re-joined after every reconnect.
    pub(crate) joined: Mutex<HashSet<ConversationKey>>,
    /// A contact refresh for a message from someone unknown is under way.
    pub(crate) directory_refreshing: std::sync::atomic::AtomicBool,
    /// The clinic's lock policy as its server last said it: read on every input event, so it is
    /// kept here and only written through to the cache (which keeps it offline and after a
    /// restart) when the server says something new.
    pub(crate) lock_policy: Mutex<Option<LockPolicy>>,
    /// The profile folder (downloaded and sent attachment copies live under it).
    pub(crate) profile_dir: std::path::PathBuf,
    /// `Tuning::disk_reserve`, which may be changed while connected.
    pub(crate) disk_reserve: AtomicU64,
    /// A catch-up stopped for want of room was told (once, until a catch-up reaches its end, on
    /// this connection or a later one).
    pub(crate) disk_full_told: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        user: User,
        api: Api,
        token: String,
        cache: Cache,
        tuning: Tuning,
        profile_dir: std::path::PathBuf,
    ) -> Result<Self> {
        let queued = cache.outbox_len()?;
        let failed = cache.outbox_failed()?;
        let availability = cache.availability()?;
        let lock_policy = cache.lock_policy()?;
        let (events, _) = broadcast::channel(tuning.event_capacity.max(16));
        let tuning_reserve = tuning.disk_reserve;
        Ok(Self {
            user,
            api,
            token,
            cache,
            typing: Arc::new(Typing::new(tuning.typing_timeout)),
            attention: Attention::new(availability),
            tuning,
            events,
            state: watch::channel(ConnectionState::Idle).0,
            queued: watch::channel(queued).0,
            failed: AtomicU64::new(failed),
            outbox_wake: Notify::new(),
            receipts_wake: Notify::new(),
            reconnect_now: Notify::new(),
            live: Mutex::new(None),
            presence: Mutex::new(HashSet::new()),
            joined: Mutex::new(HashSet::new()),
            directory_refreshing: std::sync::atomic::AtomicBool::new(false),
            lock_policy: Mutex::new(lock_policy),
            profile_dir,
            disk_reserve: AtomicU64::new(tuning_reserve),
            disk_full_told: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether the profile's disk has less free space than it keeps (unknown: no).
    pub(crate) fn disk_low(&self) -> Option<u64> {
        crate::profile::free_bytes(&self.profile_dir)
            .filter(|&free| free < self.disk_reserve.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The largest attachment this clinic's server takes, as it last said.
    pub(crate) fn upload_limit(&self) -> u64 {
        let info = self.cache.clinic_info().ok().flatten();
        clinic_protocol::ClinicInfo::upload_limit(info.as_ref())
    }

    /// Whether a catch-up stopped for want of room may go on (unknown free space: yes).
    pub(crate) fn disk_has_room_again(&self) -> bool {
        let reserve = self.disk_reserve.load(std::sync::atomic::Ordering::Relaxed);
        crate::profile::free_bytes(&self.profile_dir).is_none_or(|free| room_again(free, reserve))
    }

    pub(crate) fn me(&self) -> &UserId {
        &self.user.id
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        // No receiver is fine: events are a view, the cache is the truth.
        let _ = self.events.send(event);
    }

    /// Carries out what the attention policy decided.
    pub(crate) fn attend(&self, effects: Effects) {
        for event in effects.into_events() {
            self.emit(event);
        }
    }

    /// The server told us how an emergency stands now: keep it, tell the UI, and stop ringing
    /// if someone has it.
    pub(crate) fn emergency_changed(&self, emergency: Emergency) -> Result<()> {
        self.cache.save_emergency(&emergency)?;
        let turn = self.attention.turn();
        let effects = self.attention.updated(&emergency);
        self.emit(ClientEvent::EmergencyUpdated { emergency });
        self.attend(effects);
        drop(turn);
        self.emit(ClientEvent::ConversationsChanged);
        Ok(())
    }

    /// Tells of changed messages, then (once) that the conversation list changed with them;
    /// a notification still showing what one of them no longer says is withdrawn.
    pub(crate) fn emit_messages(&self, messages: impl IntoIterator<Item = LocalMessage>) {
        let messages: Vec<LocalMessage> = messages.into_iter().collect();
        if messages.is_empty() {
            return;
        }
        let turn = self.attention.turn();
        let effects = self.attention.messages_changed(&messages);
        for message in messages {
            self.emit(ClientEvent::MessageUpserted { message });
        }
        self.attend(effects);
        drop(turn);
        self.emit(ClientEvent::ConversationsChanged);
    }

    /// Deletes from this computer the files of messages that became tombstones (the sender's
    /// copy and a downloaded copy alike).
    pub(crate) fn remove_dropped_files(&self) {
        let files = match self.cache.take_dropped_files() {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!("could not list the files of unsent messages: {e}");
                return;
            }
        };
        for file in files {
            if let Some(path) = &file.local_path {
                crate::attachments::remove_copy(std::path::Path::new(path));
            }
            if let Some(url) = &file.file_url {
                crate::attachments::remove_received(
                    &self.profile_dir,
                    self.api.base().as_str(),
                    url,
                );
            }
        }
    }

    pub(crate) fn set_state(&self, state: ConnectionState) {
        self.state.send_replace(state.clone());
        self.tell_connection(state);
    }

    /// The connection event: `state` with the outbox's counts as last read.
    fn tell_connection(&self, state: ConnectionState) {
        let queued = *self.queued.borrow();
        let failed = self.failed.load(Ordering::Relaxed);
        self.emit(ClientEvent::Connection {
            state,
            queued,
            failed,
        });
    }

    /// Whether an emergency of this user waits to be sent, counting one the cache cannot tell
    /// of as waiting: for decisions that would delete it (a logout) rather than hurry it.
    pub(crate) fn emergency_may_wait(&self) -> bool {
        self.cache.emergency_waiting(self.me()).unwrap_or_else(|e| {
            tracing::warn!("cannot read the send queue: {e}");
            true
        })
    }

    /// Whether a logout now would lose something of this user's waiting to be sent: an
    /// emergency (on a personal computer it would wait for her next sign-in), or on a shared
    /// computer, whose cache the logout deletes, any send, unsend or edit. What the cache cannot
    /// tell of counts as waiting.
    pub(crate) fn logout_would_lose(&self, shared_pc: bool) -> bool {
        let anything_waits = || {
            let sends = self.cache.outbox_counts().map(|(waiting, _)| waiting);
            let changes = self.cache.changes_waiting();
            match (sends, changes) {
                (Ok(sends), Ok(changes)) => sends + changes > 0,
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!("cannot count what waits to be sent: {e}");
                    true
                }
            }
        };
        self.emergency_may_wait() || (shared_pc && anything_waits())
    }

    /// Whether an emergency of this user waits to be sent (not one parked after a refusal).
    pub(crate) fn emergency_waiting(&self) -> bool {
        match self.cache.emergency_waiting(self.me()) {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::warn!("cannot read the send queue: {e}");
                false
            }
        }
    }

    /// Re-reads the outbox size after it changed. Counting inside `send_modify` (which holds
    /// the watch's lock) keeps two racing refreshes from storing a stale count last.
    /// A changed count is told at once (with the connection state, as the UI shows them
    /// together): "2 messages waiting to send" must not outlive their delivery, and a send
    /// parked, retried or discarded changes what logging out would leave behind.
    pub(crate) fn refresh_queued(&self) {
        let mut changed = false;
        self.queued
            .send_modify(|queued| match self.cache.outbox_counts() {
                Ok((waiting, parked)) => {
                    changed |= *queued != waiting;
                    *queued = waiting;
                    changed |= self.failed.swap(parked, Ordering::Relaxed) != parked;
                }
                Err(e) => tracing::warn!("cannot count the outbox: {e}"),
            });
        if changed {
            let state = self.state.borrow().clone();
            self.tell_connection(state);
        }
    }

    pub(crate) fn live(&self) -> MutexGuard<'_, Option<mpsc::Sender<ClientFrame>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn presence(&self) -> MutexGuard<'_, HashSet<UserId>> {
        self.presence.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn joined(&self) -> MutexGuard<'_, HashSet<ConversationKey>> {
        self.joined.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_online(&self, user: &UserId, online: bool) {
        let changed = if online {
            let mut presence = self.presence();
            // Bounded: a server announcing endless made-up users cannot grow memory.
            presence.len() < MAX_PRESENCE && presence.insert(user.clone())
        } else {
            self.presence().remove(user)
        };
        if changed {
            self.emit(ClientEvent::Presence {
                user_id: user.clone(),
                online,
            });
        }
    }

    /// The socket is gone: nothing live is known any more.
    pub(crate) fn went_offline(&self) {
        *self.live() = None;
        self.typing.clear(&self.events);
        let gone: Vec<UserId> = self.presence().drain().collect();
        for user_id in gone {
            self.emit(ClientEvent::Presence {
                user_id,
                online: false,
            });
        }
    }
}

/// A catch-up stopped below the reserve goes on only with a quarter of it more free: a disk
/// hovering at the reserve would otherwise stop it again after every page it resumed with.
fn room_again(free: u64, reserve: u64) -> bool {
    free >= reserve.saturating_add(reserve / 4)
}

#[cfg(test)]
mod tests {
    use super::room_again;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn a_catch_up_stopped_for_room_goes_on_above_the_reserve_and_a_quarter() {
        assert!(!room_again(128 * MIB, 128 * MIB));
        assert!(!room_again(159 * MIB, 128 * MIB));
        assert!(room_again(160 * MIB, 128 * MIB));
        assert!(room_again(0, 0));
        assert!(!room_again(u64::MAX - 1, u64::MAX));
    }
}
