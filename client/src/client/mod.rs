//! The `Client` handle: cheap to clone, one per signed-in user. Everything a UI needs: log in,
//! connect, state and events, optimistic sends, history from the cache, receipts, typing,
//! emergencies, presence.

mod attachments;
mod care;
mod changes;
mod directory;
mod drafts;
mod live;
mod lock;
mod search;
mod unended;

pub use crate::cache::Drafts;
pub use attachments::Contents;
pub use lock::{LockStatus, UnsentEmergency};
pub use search::Found;

use crate::api::Api;
use crate::cache::{Cache, CacheReset, Discard};
use crate::connection;
use crate::credentials::CredentialStore;
use crate::error::{ClientError, Result};
use crate::events::{ClientEvent, ConnectionState};
use crate::lock::{AppLock, Clock, SystemClock};
use crate::profile::{Profile, Session, account};
use crate::record::LocalMessage;
use crate::shared::{Shared, Tuning};
use crate::tls::{self, Pairing};
use chrono::{DateTime, Utc};
use clinic_protocol::limits::{self, MAX_CONTENT_BYTES};
use clinic_protocol::{
    ClientId, Contact, Conversation, ConversationKey, Emergency, Role, Seq, User, UserId,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Where a client keeps its state and its token.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub profile_dir: PathBuf,
    pub credentials: Arc<dyn CredentialStore>,
    pub tuning: Tuning,
    /// The app lock's time (a fake one in tests).
    pub clock: Arc<dyn Clock>,
}

impl ClientOptions {
    pub fn new(profile_dir: impl Into<PathBuf>, credentials: Arc<dyn CredentialStore>) -> Self {
        Self {
            profile_dir: profile_dir.into(),
            credentials,
            tuning: Tuning::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// The running connection task; stopping it when the last handle goes away.
#[derive(Debug)]
struct Task {
    handle: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.handle.abort();
    }
}

/// A signed-in client. Clone freely; all clones share one cache, one connection, one event
/// stream. Methods that only touch the cache are synchronous and work offline.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    profile: Profile,
    credentials: Arc<dyn CredentialStore>,
    task: Arc<Mutex<Option<Task>>>,
    /// Set when this session's cache could not be opened and started afresh.
    cache_reset: Option<CacheReset>,
    lock: Arc<Mutex<AppLock>>,
    /// One unlock try at a time: a try checked with the server spans an await, and tries side
    /// by side would each be counted as the only one (past the waits and the last try).
    unlocking: Arc<tokio::sync::Mutex<()>>,
    /// A task ends the sessions kept aside for this server (see [`Client::end_kept_sessions`]).
    ending_kept: Arc<std::sync::atomic::AtomicBool>,
}

/// A list asked of the server ([`Client::fetch_open_emergencies`],
/// [`Client::fetch_conversations`]), or this computer's copy when it could not be reached.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub list: Vec<T>,
    /// The server could not be reached: the list is as this computer last saw it.
    pub offline: bool,
}

/// The open emergencies [`Client::fetch_open_emergencies`] found.
pub type OpenEmergencies = Fetched<Emergency>;

impl Client {
    /// Logs in over REST, keeps the token in the credential store and the session in the
    /// profile, and fetches contacts and conversations. Does not connect yet.
    ///
    /// An `https://` server must be paired: `pairing` gives the code the user typed (or the CA
    /// they confirmed, see [`tls::fetch_server_ca`]) the first time; the CA is then pinned in the
    /// profile and every later connection must prove it holds a certificate from it.
    ///
    /// An address typed without a scheme or port gets `https://` and the clinic's default port.
    pub async fn login(
        options: ClientOptions,
        server_url: &str,
        username: &str,
        password: &str,
        pairing: Pairing,
    ) -> Result<Self> {
        let never = std::future::pending();
        Self::login_until(options, server_url, username, password, pairing, never).await
    }

    /// [`Client::login`] that gives up with [`ClientError::Cancelled`] when `cancelled`
    /// completes while the server has not answered yet. Once it has, the login completes, so a
    /// cancel never leaves half a session behind.
    pub async fn login_until(
        options: ClientOptions,
        server_url: &str,
        username: &str,
        password: &str,
        pairing: Pairing,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<Self> {
        let base = crate::api::login_base(server_url)?;
        let profile = Profile::new(&options.profile_dir);
        // Before the server is asked for a token: nowhere it could not be kept privately.
        profile.check_private()?;
        let ask = async {
            let trust = tls::resolve(
                &base,
                profile.pin(base.as_str())?,
                &profile.pinned()?,
                pairing,
            )
            .await?;
            let api = Api::new(base.as_str(), trust.as_ref())?;
            let response = api.login(username, password).await?;
            Ok::<_, ClientError>((trust, api, response))
        };
        let (trust, api, response) = tokio::select! {
            answered = ask => answered?,
            () = cancelled => return Err(ClientError::Cancelled),
        };
        let session = Session {
            server_url: api.base().to_string(),
            user: response.user,
            credentials: options.credentials.kind().to_owned(),
        };
        let saved = (|| {
            if let Some(trust) = &trust {
                profile.save_pin(api.base().as_str(), trust)?;
            }
            options
                .credentials
                .save(&session.account(), &response.token)?;
            profile.save_session(&session)
        })();
        // A token this computer could not keep is ended, not left valid on the server.
        let end = |why: &ClientError| {
            let signed_in = api.clone().with_token(response.token.clone());
            let why = why.to_string();
            async move {
                if let Err(revoked) = signed_in.logout().await {
                    tracing::warn!(
                        "could not end the session that was not kept ({why}): {revoked}"
                    );
                }
            }
        };
        if let Err(e) = saved {
            end(&e).await;
            return Err(e);
        }
        let account = session.account();
        let credentials = Arc::clone(&options.credentials);
        let client = match Self::with_session(options, session, response.token.clone()) {
            Ok(client) => client,
            Err(e) => {
                // No session without its cache (e.g. one a newer version of the app keeps):
                // nothing is left signed in, here or on the server.
                end(&e).await;
                if let Err(forgot) = credentials.delete(&account) {
                    tracing::warn!(
                        "could not forget the token of a session that did not open: {forgot}"
                    );
                }
                if let Err(forgot) = profile.clear_session() {
                    tracing::warn!("could not forget the session that did not open: {forgot}");
                }
                return Err(e);
            }
        };
        // A new sign-in starts a new lock: no PIN yet, no wrong tries, this password unlocks.
        let started = {
            let mut lock = client.app_lock();
            lock.reset().and_then(|()| lock.remember_password(password))
        };
        if let Err(e) = started {
            // Signed in with a lock that would not open: signed out again, here and there.
            if let Err(out) = client.logout().await {
                tracing::warn!("could not end the session whose lock failed: {out}");
            }
            return Err(e);
        }
        client.shared.attention.set_locked(false);
        unended::end(&profile, &api).await;
        if let Err(e) = refresh_directory(&client.shared).await {
            tracing::warn!("logged in, but could not fetch contacts: {e}");
        }
        Ok(client)
    }

    /// Opens the profile's saved session without any network traffic.
    pub fn open(options: ClientOptions) -> Result<Self> {
        let profile = Profile::new(&options.profile_dir);
        profile.check_private()?;
        let session = profile.load_session()?.ok_or(ClientError::NotLoggedIn)?;
        let token = options
            .credentials
            .load(&session.account())?
            .ok_or(ClientError::NotLoggedIn)?;
        Self::with_session(options, session, token)
    }

    fn with_session(options: ClientOptions, session: Session, token: String) -> Result<Self> {
        let profile = Profile::new(&options.profile_dir);
        let trust = profile.pin(&session.server_url)?;
        let opened = Cache::open_with_store(
            &profile.cache_path(&session),
            options.credentials.as_ref(),
            &session.account(),
        )?;
        let api = Api::new(&session.server_url, trust.as_ref())?.with_token(token.clone());
        let shared = Shared::new(
            session.user,
            api,
            token,
            opened.cache,
            options.tuning,
            profile.dir().to_path_buf(),
        )?;
        let shared = Arc::new(shared);
        let vault = Box::new(CacheVault(Arc::clone(&shared)));
        let trusted = !opened.fresh && !opened.migrated;
        let lock = AppLock::load(profile.dir(), options.clock, vault, trusted)?;
        shared.attention.set_locked(lock.is_locked());
        let client = Self {
            shared,
            profile,
            credentials: options.credentials,
            task: Arc::new(Mutex::new(None)),
            cache_reset: opened.reset,
            lock: Arc::new(Mutex::new(lock)),
            unlocking: Arc::new(tokio::sync::Mutex::new(())),
            ending_kept: Arc::default(),
        };
        client.seal_files_at_start();
        // Locked by a state that was lost or kept by an earlier version: what is known now
        // stands for what was known as it locked (else every resolution would be news).
        let recorded = client
            .app_lock()
            .watch_if_unknown(|| client.emergencies_known());
        if let Err(e) = recorded {
            tracing::warn!("could not record which emergencies were open at this start: {e}");
        }
        Ok(client)
    }

    /// At a start, beside it (a doctor's year of files takes a while, once): the plain copies
    /// handed to viewers by processes that stopped (a crash, a session's end) go, the copies an earlier version kept in
    /// plain files are sealed (one touched before is sealed as it is used), and temp files a
    /// stopped process left are removed. Nothing of it stops the start (logged).
    fn seal_files_at_start(&self) {
        let profile = self.profile.dir().to_path_buf();
        let key = self.shared.cache.files_key().clone();
        let started = std::thread::Builder::new()
            .name("tidy-attachments".into())
            .spawn(move || {
                crate::attachments::remove_stopped_viewers(&profile);
                let done = crate::attachments::tidy(&profile, &key);
                if done.sealed + done.leftovers + done.failed > 0 {
                    tracing::info!(
                        "attachments: {} copies kept plain by an earlier version sealed, {} left \
                         over removed, {} could not be sealed",
                        done.sealed,
                        done.leftovers,
                        done.failed
                    );
                }
            });
        if let Err(e) = started {
            tracing::warn!("could not start tidying the attachments: {e}");
        }
    }

    /// Set when the local cache could not be opened with its key (see [`CacheReset`]) and was
    /// started afresh: a UI tells the user ([`CacheReset::sentence`]). History comes back from
    /// the server as the connection catches up from the start.
    pub fn cache_reset(&self) -> Option<CacheReset> {
        self.cache_reset
    }

    /// Ends the session: this device stops ringing, the server revokes the token (awaited),
    /// and the token and session are forgotten here. Returns whether the server confirmed the
    /// revocation; when it could not be reached the token is forgotten anyway (it expires by
    /// itself). The lock starts over (no PIN) and drafts are forgotten. On a personal computer
    /// the cache and the files stay, so history remains readable; on a shared one the cache is
    /// deleted with its key, and every file sent or received with it.
    pub async fn logout(&self) -> Result<bool> {
        // From here a press is refused with a sentence, not queued and then deleted.
        self.app_lock().set_ending();
        self.disconnect().await;
        {
            let _turn = self.shared.attention.turn();
            let effects = self.shared.attention.end();
            self.shared.attend(effects);
        }
        let revoked = match self.shared.api.logout().await {
            // Refused: the server had ended it already (revoked, expired).
            Ok(()) | Err(ClientError::Server { status: 401, .. }) => true,
            Err(e) => {
                tracing::warn!("could not revoke the token on the server: {e}");
                false
            }
        };
        let account = account(self.shared.api.base().as_str(), &self.user().username);
        // Best effort: a shared computer's cache goes below anyway, and a logout stops for
        // nothing that only its drafts could not be forgotten.
        if let Err(err) = self.shared.cache.clear_drafts() {
            tracing::warn!("could not forget the drafts at logout: {err}");
        }
        // Every step is tried even when one before it failed (a keyring refusing must not
        // leave a shared computer's messages behind); the first failure is the answer.
        let mut failed = None;
        let mut keep = |step: Result<()>| {
            if let Err(e) = step {
                tracing::warn!("logout: {e}");
                failed.get_or_insert(e);
            }
        };
        if !revoked {
            self.keep_to_end(&self.shared.token);
        }
        keep(self.credentials.delete(&account));
        let session = self.profile.load_session().unwrap_or_else(|e| {
            keep(Err(e));
            None
        });
        keep(self.profile.clear_session());
        let shared_pc = {
            let mut lock = self.app_lock();
            let shared_pc = lock.device() == crate::lock::Device::Shared;
            keep(lock.reset());
            shared_pc
        };
        self.shared.attention.set_locked(false);
        // What was handed to viewers is plain: it goes on any computer.
        crate::attachments::remove_opened(self.profile.dir());
        if shared_pc {
            if let Some(session) = session {
                // Other handles may still hold the file open; on Unix deleting it is still
                // final (the data goes when the last handle closes) and the key is gone at once.
                keep(Cache::erase(
                    &self.profile.cache_path(&session),
                    self.credentials.as_ref(),
                    &account,
                ));
            }
            // Files sent and received are the patients' too: every one in the profile goes,
            // also those an earlier user kept here on what was then a personal computer (their
            // history downloads them again when opened).
            keep(crate::attachments::remove_all(self.profile.dir()));
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(revoked),
        }
    }

    pub fn user(&self) -> &User {
        &self.shared.user
    }

    /// The signed-in account as the server has it now: `SessionExpired` once the session was
    /// ended there (revoked, expired, the account disabled), which [`Client::user`] (this
    /// computer's copy) cannot tell.
    pub async fn user_on_server(&self) -> Result<User> {
        match self.shared.api.me().await {
            Err(ClientError::Server { status: 401, .. }) => Err(ClientError::SessionExpired),
            answer => answer,
        }
    }

    /// A session of this user the server could not be told to end (it was out of reach): on a
    /// personal computer its token is kept aside and ended at the next sign-in to that server
    /// here; a shared computer forgets it (the next person at it could read a kept one), and it
    /// expires by itself.
    fn keep_to_end(&self, token: &str) {
        if self.app_lock().device() != crate::lock::Device::Personal {
            return;
        }
        let base = self.shared.api.base().as_str();
        let account = account(base, &self.user().username);
        if let Err(e) = unended::keep(
            &self.profile,
            self.credentials.as_ref(),
            base,
            &account,
            token,
        ) {
            tracing::warn!("could not keep the session aside to end it later: {e}");
        }
    }

    pub fn server_url(&self) -> &str {
        self.shared.api.base().as_str()
    }

    /// Starts the connection task (must be called within a tokio runtime). It reconnects by
    /// itself until [`Client::disconnect`] or until the token is refused. A no-op if running.
    pub fn connect(&self) {
        let mut slot = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|t| !t.handle.is_finished()) {
            return;
        }
        let (stop, stop_rx) = watch::channel(false);
        let handle = tokio::spawn(connection::run(Arc::clone(&self.shared), stop_rx));
        *slot = Some(Task { handle, stop });
        drop(slot);
        self.end_kept_sessions();
    }

    /// While sessions kept aside for this server wait to be ended (a logout here or a password
    /// check it did not hear), tries every [`Tuning::kept_sessions_retry`] while this client
    /// lives, rather than only at the next sign-in: one task at a time.
    pub(super) fn end_kept_sessions(&self) {
        use std::sync::atomic::Ordering;
        let base = self.shared.api.base().as_str().to_owned();
        if !unended::waiting(&self.profile, &base) || self.ending_kept.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (profile, running) = (self.profile.clone(), Arc::clone(&self.ending_kept));
        let shared = Arc::downgrade(&self.shared);
        let every = self.shared.tuning.kept_sessions_retry;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // Gone with the client (a logout, the app closed): the next sign-in ends them.
                let Some(api) = shared.upgrade().map(|s| s.api.clone()) else {
                    break;
                };
                unended::end(&profile, &api).await;
                if !unended::waiting(&profile, &base) {
                    break;
                }
            }
            running.store(false, Ordering::Release);
        });
    }

    /// Stops the connection task and waits for it to end.
    pub async fn disconnect(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            let _ = task.stop.send(true);
            let _ = (&mut task.handle).await;
        }
    }

    /// Skips the current reconnect delay (e.g. the user clicked "retry now").
    pub fn reconnect_now(&self) {
        self.shared.reconnect_now.notify_one();
    }

    pub fn state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.shared.events.subscribe()
    }

    /// Waits until the client is caught up and online. Fails at once when signed out.
    pub async fn wait_online(&self, within: Duration) -> Result<()> {
        let mut rx = self.watch_state();
        let wait = rx.wait_for(|s| {
            matches!(
                s,
                ConnectionState::Online | ConnectionState::SignedOut { .. }
            )
        });
        let state = tokio::time::timeout(within, wait)
            .await
            .map_err(|_| ClientError::Timeout("online"))?
            .map_err(|_| ClientError::NotConnected)?
            .clone();
        match state {
            ConnectionState::SignedOut { .. } => Err(ClientError::SessionExpired),
            _ => Ok(()),
        }
    }

    /// Changes the free space catching up leaves on the profile's disk (`Tuning::disk_reserve`);
    /// a catch-up stopped for it goes on at the next ping once there is that much.
    pub fn set_disk_reserve(&self, bytes: u64) {
        self.shared
            .disk_reserve
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sends waiting in the outbox (failed ones not counted), read from the cache itself so it
    /// always agrees with what `history` shows ([`Client::watch_queued`] may trail by a moment).
    pub fn queued(&self) -> u64 {
        self.shared
            .cache
            .outbox_len()
            .unwrap_or_else(|_| *self.shared.queued.borrow())
    }

    /// Unsends and edits queued and not yet answered by the server.
    pub fn changes_waiting(&self) -> Result<u64> {
        self.shared.cache.changes_waiting()
    }

    pub fn watch_queued(&self) -> watch::Receiver<u64> {
        self.shared.queued.subscribe()
    }

    /// Waits until the outbox holds nothing more to deliver.
    pub async fn wait_outbox_empty(&self, within: Duration) -> Result<()> {
        let mut rx = self.watch_queued();
        tokio::time::timeout(within, rx.wait_for(|n| *n == 0))
            .await
            .map_err(|_| ClientError::Timeout("the outbox to empty"))?
            .map_err(|_| ClientError::NotConnected)?;
        Ok(())
    }

    /// Sends parked after a refusal, waiting for [`Client::retry`] or [`Client::discard`].
    pub fn failed_count(&self) -> Result<u64> {
        self.shared.cache.outbox_failed()
    }

    /// Every queued and parked send, oldest first, with the reason of each parked one.
    pub fn outbox(&self) -> Result<Vec<crate::OutboxItem>> {
        self.shared.cache.outbox_items(self.shared.me())
    }

    /// Optimistic send: stores the message (status `SENDING`) in the cache and the send queue
    /// and returns at once, online or not. The connection task delivers it: in order within its
    /// conversation, or, for an emergency, before anything else.
    pub fn send(
        &self,
        conversation: &ConversationKey,
        content: &str,
        is_emergency: bool,
    ) -> Result<LocalMessage> {
        self.ensure_unlocked()?;
        self.queue_send(conversation, content, is_emergency)
    }

    /// A patient's emergency from wherever she is, the lock screen too: like a phone's emergency
    /// call it needs no PIN, since whoever is at her computer may need to call for help, and it
    /// shows nothing of her conversations. It goes into the conversation of her newest open
    /// emergency, else her newest conversation with a doctor of the server's last contact list
    /// (one who left the clinic would refuse it), else to the first of those doctors by name;
    /// it is queued and delivered as [`Client::send`]'s emergencies are.
    ///
    /// Raised while locked (nobody's password was asked): the text is cut to a few sentences, a
    /// line tells the doctors it came from the lock screen, and while one such press waits for
    /// the connection no other is queued.
    pub fn raise_emergency(&self, content: &str) -> Result<LocalMessage> {
        let me = self.user();
        if me.role != Role::Patient {
            return Err(ClientError::Invalid(
                "only a patient raises an emergency".to_owned(),
            ));
        }
        // Held to the end: two presses from the lock screen are checked and queued in turn,
        // and none is queued once the session is ending (a logout, `begin_ending_after_tries`).
        let lock = self.app_lock();
        if lock.is_ending() {
            return Err(ClientError::Invalid(
                "this app is logging out, so it cannot send this emergency".to_owned(),
            ));
        }
        let content = if lock.is_locked() {
            self.locked_press(content)?
        } else {
            content.to_owned()
        };
        let conversation = self.emergency_conversation()?;
        let press = self.queue_send(&conversation, &content, true);
        drop(lock);
        press
    }

    /// The text of a press from the lock screen (cut to a few sentences, never refused for its
    /// length), or why there is none: one is already waiting for the connection.
    fn locked_press(&self, content: &str) -> Result<String> {
        let offline = !matches!(self.state(), ConnectionState::Online);
        let waiting = offline
            && self
                .shared
                .cache
                .newest_unsent_emergency(self.shared.me())?
                .is_some_and(|m| m.status == clinic_protocol::MessageStatus::Sending);
        if waiting {
            return Err(ClientError::Invalid(
                "your emergency is already waiting to be sent: it goes out as soon as the app \
                 is connected"
                    .to_owned(),
            ));
        }
        let content = content.trim();
        if content.is_empty() {
            return Err(ClientError::Invalid("a message needs some text".into()));
        }
        let content = match content.len() > LOCKED_PRESS_BYTES {
            true => {
                const CUT: &str = " … (cut short)";
                let mut end = LOCKED_PRESS_BYTES - CUT.len();
                while !content.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}{CUT}", &content[..end])
            }
            false => content.to_owned(),
        };
        Ok(format!("{content}\n\n{LOCKED_PRESS_NOTE}"))
    }

    /// Where a patient's emergency goes (see [`Client::raise_emergency`]): a press joins her
    /// open emergency from any conversation, so one with a doctor who left is passed over.
    fn emergency_conversation(&self) -> Result<ConversationKey> {
        let me = self.user();
        let listed = self.shared.cache.listed_contacts()?;
        let at_the_clinic = |doctor: &UserId| listed.as_ref().is_none_or(|l| l.contains(doctor));
        let open = self
            .open_emergencies()?
            .into_iter()
            .filter(|e| e.patient_id == me.id && at_the_clinic(&e.doctor_id))
            .max_by_key(|e| e.raised_at);
        if let Some(e) = open {
            return Ok(ConversationKey::new(e.patient_id, e.doctor_id));
        }
        // Newest first; then the doctors not talked to yet, by name.
        let newest = self
            .cached_conversations()?
            .into_iter()
            .filter(|c| c.last_message.is_some())
            .map(|c| ConversationKey::new(c.patient_id, c.doctor_id))
            .find(|key| at_the_clinic(&key.doctor_id));
        if let Some(key) = newest {
            return Ok(key);
        }
        let mut doctors: Vec<Contact> = self
            .contacts()?
            .into_iter()
            .filter(|c| c.role == Role::Doctor && at_the_clinic(&c.id))
            .collect();
        doctors.sort_by(|a, b| a.name.cmp(&b.name));
        doctors
            .first()
            .map(|d| ConversationKey::new(me.id.clone(), d.id.clone()))
            .ok_or_else(|| {
                ClientError::NotFound("no doctor of the clinic is known to this app yet".to_owned())
            })
    }

    fn queue_send(
        &self,
        conversation: &ConversationKey,
        content: &str,
        is_emergency: bool,
    ) -> Result<LocalMessage> {
        // An emergency is never refused for characters nobody sees: they are taken out, where
        // any other message is refused with them (the server's rule).
        let cleaned = match is_emergency {
            true => clinic_protocol::text::Disguise::remove(content),
            false => std::borrow::Cow::Borrowed(content),
        };
        let content = cleaned.as_ref();
        // What shows nothing (zero-width or filler characters only) is blank too.
        if clinic_protocol::text::is_blank(content) {
            return Err(ClientError::Invalid("a message needs some text".into()));
        }
        check_words("the message", content)?;
        if content.len() > MAX_CONTENT_BYTES {
            return Err(ClientError::Invalid(format!(
                "a message holds at most {MAX_CONTENT_BYTES} bytes"
            )));
        }
        if !conversation.has_participant(self.shared.me()) {
            return Err(ClientError::Invalid("not a conversation of yours".into()));
        }
        let message = LocalMessage::pending(conversation, self.shared.me(), content, is_emergency);
        self.shared.cache.enqueue(&message, None)?;
        self.shared.refresh_queued();
        self.shared.emit(ClientEvent::MessageUpserted {
            message: message.clone(),
        });
        // The list shows it as the conversation's last message, online or not.
        self.shared.emit(ClientEvent::ConversationsChanged);
        self.shared.outbox_wake.notify_one();
        if is_emergency {
            self.try_now_for_emergency();
        }
        Ok(message)
    }

    /// An emergency was queued: offline, the server is tried now rather than at the end of
    /// the backoff's wait (the waits after it are short while it waits).
    fn try_now_for_emergency(&self) {
        if !matches!(self.state(), ConnectionState::Online) {
            self.reconnect_now();
        }
    }

    /// Puts a parked (`FAILED`) send back at the end of its lane, attempts reset. Only while
    /// unlocked.
    pub fn retry(&self, client_id: &ClientId) -> Result<LocalMessage> {
        self.ensure_unlocked()?;
        let message = self
            .shared
            .cache
            .retry(self.shared.me(), client_id.as_str())?
            .ok_or_else(|| ClientError::NotFound(format!("no failed send {client_id}")))?;
        self.shared.refresh_queued();
        self.shared.emit_messages([message.clone()]);
        self.shared.outbox_wake.notify_one();
        if message.is_emergency {
            self.try_now_for_emergency();
        }
        Ok(message)
    }

    /// Drops a send for good, with its local copy of any attachment: one parked (`FAILED`), or
    /// one still waiting that was never written to the server (offline, or behind another in
    /// its lane). One that may be on the server is refused (`TooLate`): once it arrives it can
    /// be unsent. Only while unlocked.
    pub fn discard(&self, client_id: &ClientId) -> Result<LocalMessage> {
        self.ensure_unlocked()?;
        let message = match self
            .shared
            .cache
            .discard(self.shared.me(), client_id.as_str())?
        {
            Discard::Discarded(message) => *message,
            Discard::OnItsWay => {
                return Err(ClientError::TooLate(
                    "This message is already on its way to the clinic and can no longer be \
                     stopped. Once it has arrived you can take it back from its menu."
                        .to_owned(),
                ));
            }
            Discard::NotQueued => {
                return Err(ClientError::NotFound(format!(
                    "no unsent message {client_id} (it was sent or discarded already)"
                )));
            }
        };
        if let Some(path) = &message.local_file_path {
            crate::attachments::remove_copy(std::path::Path::new(path));
        }
        self.shared.refresh_queued();
        // The queue moves on: the next in its conversation goes, an upload of it stops.
        self.shared.outbox_wake.notify_one();
        self.shared.emit(ClientEvent::MessageDiscarded {
            client_id: message.client_id.clone(),
            sender_id: message.sender_id.clone(),
            patient_id: message.patient_id.clone(),
            doctor_id: message.doctor_id.clone(),
        });
        // The list may have shown it under the name ("Not sent: ...").
        self.shared.emit(ClientEvent::ConversationsChanged);
        Ok(message)
    }

    /// The conversation with a contact, by username (from the cached contacts).
    pub fn conversation_with(&self, username: &str) -> Result<ConversationKey> {
        let contact = self
            .shared
            .cache
            .contact_by_username(username)?
            .ok_or_else(|| ClientError::UnknownContact(username.to_owned()))?;
        self.conversation_with_contact(&contact)
    }

    pub fn conversation_with_contact(&self, contact: &Contact) -> Result<ConversationKey> {
        let me = self.user();
        match (me.role, contact.role) {
            (Role::Patient, Role::Doctor) => {
                Ok(ConversationKey::new(me.id.clone(), contact.id.clone()))
            }
            (Role::Doctor, Role::Patient) => {
                Ok(ConversationKey::new(contact.id.clone(), me.id.clone()))
            }
            _ => Err(ClientError::Invalid(format!(
                "{} cannot message {} (conversations are between a patient and a doctor)",
                me.username, contact.username
            ))),
        }
    }

    /// The last `limit` messages of a conversation, from the cache (works with no server):
    /// acknowledged ones by server order, then pending ones in the order they were written.
    /// `before` pages back through acknowledged history.
    pub fn history(
        &self,
        conversation: &ConversationKey,
        limit: u32,
        before: Option<Seq>,
    ) -> Result<Vec<LocalMessage>> {
        self.ensure_unlocked()?;
        self.shared.cache.history(conversation, limit, before)
    }

    /// When the clinic's retention policy last removed this conversation's older messages (a
    /// UI says so where the history starts).
    pub fn purged_at(&self, conversation: &ConversationKey) -> Result<Option<DateTime<Utc>>> {
        self.shared.cache.purged_at(conversation)
    }

    /// A page of history for a UI: from the cache first; when the cache has fewer than `limit`
    /// (at most [`limits::MAX_PAGE`]) messages before `before` and the server is reachable, the
    /// older ones are fetched (`GET /api/chat/messages?before=`, again while the server cuts
    /// its pages short and says more remain), stored, and the page is read again. Offline, the
    /// cached page as it is. A fetch that fails is an error, not a short page: a UI takes a
    /// short page for the start of the conversation.
    pub async fn load_history(
        &self,
        conversation: &ConversationKey,
        limit: u32,
        before: Option<Seq>,
    ) -> Result<Vec<LocalMessage>> {
        /// An honest server fills a page of 500 of the largest messages in 9 rounds.
        const MAX_ROUNDS: usize = 16;
        let limit = limit.clamp(1, limits::MAX_PAGE);
        let mut page = self.history(conversation, limit, before)?;
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        if page.len() >= wanted
            || before.is_none()
            || !matches!(self.state(), ConnectionState::Online)
        {
            return Ok(page);
        }
        let mut oldest = page.iter().find_map(|m| m.id.clone()).or_else(|| {
            self.shared
                .cache
                .message_id_at(conversation, before)
                .ok()
                .flatten()
        });
        // Each round brings at least one older message, or it is the last.
        for _ in 0..MAX_ROUNDS {
            let Some(from) = oldest.take() else { break };
            let older = self
                .shared
                .api
                .messages(conversation, limit, Some(from.as_str()))
                .await?;
            let has_more = older.has_more;
            let next = older.messages.first().map(|m| m.id.clone());
            self.shared
                .cache
                .store_history(self.shared.me(), older.messages)?;
            let before_round = page.len();
            page = self.history(conversation, limit, before)?;
            if has_more && page.len() < wanted && page.len() > before_round {
                oldest = next;
            }
        }
        Ok(page)
    }

    /// One of this user's messages by its `clientId`.
    pub fn message(&self, client_id: &ClientId) -> Result<Option<LocalMessage>> {
        self.shared
            .cache
            .message_by_client_id(self.shared.me(), client_id.as_str())
    }

    /// The conversation list: fresh from the server when reachable (and then cached), else as
    /// last seen.
    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        Ok(self.fetch_conversations().await?.list)
    }

    /// The conversation list, and whether it is this computer's copy because the server could
    /// not be reached (see [`Client::conversations`]).
    pub async fn fetch_conversations(&self) -> Result<Fetched<Conversation>> {
        let cached = || -> Result<Fetched<Conversation>> {
            Ok(Fetched {
                list: self.shared.cache.conversations()?,
                offline: true,
            })
        };
        // While the connection task knows the server is away, do not wait on REST timeouts.
        let reachable = matches!(
            self.state(),
            ConnectionState::Online | ConnectionState::Idle | ConnectionState::Syncing
        );
        if !reachable {
            return cached();
        }
        match refresh_directory(&self.shared).await {
            Ok(list) => Ok(Fetched {
                list,
                offline: false,
            }),
            // Not the paired clinic's server, or the session ended there: said, not covered by
            // this computer's copy.
            Err(e @ (ClientError::NotYourServer | ClientError::CertificateExpired)) => Err(e),
            Err(ClientError::Server { status: 401, .. }) => Err(ClientError::SessionExpired),
            // Out of reach: as last seen.
            Err(e) if e.is_unreachable() => {
                tracing::debug!("conversations from cache ({e})");
                cached()
            }
            Err(e) => Err(e),
        }
    }

    /// Contacts as last fetched (refreshed on every connect).
    pub fn contacts(&self) -> Result<Vec<Contact>> {
        self.shared.cache.contacts()
    }

    /// The resolved emergencies of a conversation's patient, as last seen (oldest first): the
    /// conversation shows who resolved each and their note, after a restart too. Refused while
    /// locked.
    pub fn resolved_emergencies(&self, conversation: &ConversationKey) -> Result<Vec<Emergency>> {
        self.ensure_unlocked()?;
        self.shared.cache.resolved_emergencies(conversation)
    }

    /// Emergencies not yet resolved, as last seen.
    pub fn open_emergencies(&self) -> Result<Vec<Emergency>> {
        self.shared.cache.open_emergencies()
    }

    /// Emergencies not yet resolved: from the server when it answers (and then cached), else
    /// as last seen here (`offline`: one may have been taken or resolved since).
    pub async fn fetch_open_emergencies(&self) -> Result<OpenEmergencies> {
        match self.shared.api.emergencies(true).await {
            Ok(list) => {
                for e in &list {
                    self.shared.cache.save_emergency(e)?;
                }
                Ok(OpenEmergencies {
                    list,
                    offline: false,
                })
            }
            Err(e) if e.is_unreachable() => {
                tracing::debug!("emergencies from the cache ({e})");
                Ok(OpenEmergencies {
                    list: self.shared.cache.open_emergencies()?,
                    offline: true,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Users known to be online right now (empty while offline).
    pub fn online_users(&self) -> Vec<UserId> {
        self.shared.presence().iter().cloned().collect()
    }

    /// Peers typing right now, as (conversation, user).
    pub fn typists(&self) -> Vec<(ConversationKey, UserId)> {
        self.shared.typing.typists()
    }
}

/// The most a press from the lock screen holds: a few sentences for whoever is at the computer.
const LOCKED_PRESS_BYTES: usize = 1_000;

/// Added to a press from the lock screen, for the doctors: nobody's password was asked, so
/// whoever was at her computer may have sent it. Worded for both sides: she reads it in her own
/// bubble too.
pub const LOCKED_PRESS_NOTE: &str = "(Sent from the app's lock screen, without unlocking it.)";

/// Fetches contacts and conversations over REST into the cache; returns the conversations.
pub(crate) async fn refresh_directory(shared: &Shared) -> Result<Vec<Conversation>> {
    match shared.api.contacts().await {
        Ok(contacts) => shared.cache.save_contacts(&contacts)?,
        // Older servers have no contact list; conversations below still name the other party.
        Err(e) => tracing::debug!("no contact list from the server: {e}"),
    }
    let list = shared.api.conversations().await?;
    shared.cache.save_conversations(&list)?;
    let others: Vec<Contact> = list.iter().map(|c| c.other_party.clone()).collect();
    shared.cache.merge_contacts(&others)?;
    Ok(list)
}

/// The app lock's state in the session's encrypted cache (see `lock`).
struct CacheVault(Arc<Shared>);

impl std::fmt::Debug for CacheVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheVault")
    }
}

impl crate::lock::Vault for CacheVault {
    fn read(&self) -> Result<Option<String>> {
        self.0.cache.lock_state()
    }

    fn update(&self, change: &mut dyn FnMut(Option<&str>) -> Result<String>) -> Result<()> {
        self.0.cache.update_lock_state(change)
    }
}

/// Refuses before anything is queued what the server would refuse in a text: a control
/// character or a bidirectional override (queued, it would be parked with the server's refusal).
pub(crate) fn check_words(field: &str, text: &str) -> Result<()> {
    match clinic_protocol::text::Disguise::find(text) {
        Some(disguise) => Err(ClientError::Invalid(disguise.sentence(field))),
        None => Ok(()),
    }
}
