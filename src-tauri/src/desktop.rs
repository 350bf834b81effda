//! The shell's state: where the profile lives, which credential store holds the token, the
//! signed-in client (if any), the settings, and the UI's channel. Session start and end happen
//! here; everything else is the client core's.

use crate::error::{CmdResult, CommandError};
use crate::settings::{self, Settings};
use crate::status::{ConnectionStatus, SessionInfo};
use crate::ui::{DeviceCheck, DeviceState, Known, Snapshot, UiEvent};
use clinic_client::{
    Client, ClientOptions, ConnectionState, CredentialStore, KeyringStore, Pairing, Profile,
};
use clinic_protocol::ws::Availability;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::async_runtime::JoinHandle;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};

/// Environment overrides, for tests and for machines without an OS keyring.
pub const PROFILE_DIR_ENV: &str = "CLINIC_PROFILE_DIR";
pub const CREDENTIAL_STORE_ENV: &str = "CLINIC_CREDENTIAL_STORE";

#[derive(Debug)]
struct Active {
    client: Client,
    forwarder: JoinHandle<()>,
    /// Which session this is (each start counts one), for a task that ends it later.
    id: u64,
    /// The wrong tries to unlock ran out: a task ends the session once nothing its logout would
    /// lose waits to be sent (`Client::sends_settled`).
    ending: bool,
}

#[derive(Debug)]
pub struct Desktop {
    profile_dir: PathBuf,
    credentials: Arc<dyn CredentialStore>,
    active: tokio::sync::Mutex<Option<Active>>,
    settings: Mutex<Settings>,
    status: Mutex<ConnectionStatus>,
    /// Where events for the UI go (the latest subscription); `None` before the UI subscribed.
    channel: Mutex<Outlet>,
    /// What this device can do, as last found out (`notify::check_device`).
    device: Mutex<DeviceCheck>,
    /// Bumped by `cancel_login`: a sign-in waiting for the server gives up.
    login_cancel: tokio::sync::watch::Sender<u64>,
    /// The id of the last session started.
    sessions: AtomicU64,
    /// Held by each start and end of a session from its first step to its last, so that a
    /// logout still under way (its server call may take seconds) cannot undo a new sign-in.
    transition: tokio::sync::Mutex<()>,
}

/// Starts the task that ends `active` once nothing of its user that the logout would lose waits
/// to be sent (an emergency; on a shared computer any message, for at most 12 hours), unless one
/// was started.
fn end_when_sent<R: Runtime>(app: &AppHandle<R>, active: &mut Active) {
    if std::mem::replace(&mut active.ending, true) {
        return;
    }
    let (app, client, id) = (app.clone(), active.client.clone(), active.id);
    tauri::async_runtime::spawn(async move {
        let desktop = app.state::<Desktop>();
        let mut pressed = false;
        let outcome = loop {
            pressed |= client.lock_status().unsent_emergency.is_some();
            // Looked at now and then: a session that ended otherwise (her own "Log out")
            // leaves nothing to wait for.
            if tokio::time::timeout(Duration::from_secs(5), client.sends_settled())
                .await
                .is_err()
            {
                if !desktop.is_current(id).await {
                    return;
                }
                continue;
            }
            // Said before the logout, which may delete what it reads.
            let reason = clinic_client::lock::sentences::logged_out_after_tries(&client, pressed);
            match desktop.logout_session(&app, Some(id), Some(reason)).await {
                // Pressed again since: wait for that one too.
                Ok(Ending::Waits) => {}
                outcome => break outcome,
            }
        };
        // Ended, the page was told why, also when the client's logout failed half way (the
        // session is gone from the shell all the same: `logout_session`).
        if let Err(e) = outcome {
            tracing::warn!("could not log out after the wrong tries: {}", e.message);
        }
    });
}

/// What [`Desktop::logout_session`] did.
#[derive(Debug)]
enum Ending {
    /// The session ended; whether the server confirmed the token is revoked.
    Ended { revoked: bool },
    /// Not ended: something the logout would lose waits to be sent (`Client::sends_settled`).
    Waits,
    /// Not ended: the session asked for had ended already.
    NotCurrent,
}

/// The UI's channel, if it subscribed.
#[derive(Default)]
struct Outlet {
    channel: Option<Channel<UiEvent>>,
    /// Why the last session ended, until another starts: a snapshot while signed out carries
    /// it, so a page that subscribes after it was told (the app restarted and its session ended
    /// at once; a reload while it ended) still says it. `None` after her own "Log out".
    ended: Option<String>,
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.channel.is_some() {
            "Outlet(subscribed)"
        } else {
            "Outlet(none)"
        })
    }
}

impl Desktop {
    pub fn new<R: Runtime>(app: &AppHandle<R>) -> Self {
        let profile_dir = std::env::var_os(PROFILE_DIR_ENV)
            .map(PathBuf::from)
            .or_else(|| app.path().app_data_dir().ok())
            .unwrap_or_else(|| PathBuf::from(".clinic-profile"));
        let profile = Profile::new(&profile_dir);
        let credentials: Arc<dyn CredentialStore> =
            match std::env::var(CREDENTIAL_STORE_ENV).as_deref() {
                Ok("file") => Arc::new(profile.file_store()),
                _ => Arc::new(KeyringStore::new()),
            };
        let settings = settings::load(&profile_dir);
        tracing::info!("profile in {}", profile_dir.display());
        // Signed in or not: what a viewer was handed by an app that stopped without quitting
        // (a crash) is plain, and goes now.
        clinic_client::attachments::remove_stopped_viewers(&profile_dir);
        Self {
            profile_dir,
            credentials,
            active: tokio::sync::Mutex::new(None),
            settings: Mutex::new(settings),
            status: Mutex::new(ConnectionStatus::offline()),
            channel: Mutex::new(Outlet::default()),
            device: Mutex::new(DeviceCheck {
                sound: DeviceState::Untested,
                notifications: DeviceState::Untested,
                notifications_suppressed: Known::Unknown,
                tray_host: Known::Unknown,
            }),
            login_cancel: tokio::sync::watch::Sender::new(0),
            sessions: AtomicU64::new(0),
            transition: tokio::sync::Mutex::new(()),
        }
    }

    /// What this device can do, as last found out.
    pub fn device(&self) -> DeviceCheck {
        *self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what this device can do; true when it changed.
    pub fn set_device(&self, device: DeviceCheck) -> bool {
        let mut kept = self.device.lock().unwrap_or_else(|e| e.into_inner());
        let changed = *kept != device;
        *kept = device;
        changed
    }

    fn options(&self) -> ClientOptions {
        ClientOptions::new(&self.profile_dir, Arc::clone(&self.credentials))
    }

    /// The signed-in client, or `not_logged_in`.
    pub async fn client(&self) -> CmdResult<Client> {
        let active = self.active.lock().await;
        active
            .as_ref()
            .map(|a| a.client.clone())
            .ok_or_else(CommandError::not_logged_in)
    }

    /// Restores the saved session without the network (token from the keyring) and starts
    /// connecting. `None` on first run or after logout; an error when a session is saved but
    /// cannot be opened (its cache kept by a newer version of the app, the keyring refusing),
    /// which the login screen says.
    pub async fn restore<R: Runtime>(
        &self,
        app: &AppHandle<R>,
    ) -> Result<Option<Client>, clinic_client::ClientError> {
        let _transition = self.transition.lock().await;
        let mut active = self.active.lock().await;
        if let Some(a) = active.as_ref() {
            return Ok(Some(a.client.clone()));
        }
        match Client::open(self.options()) {
            Ok(client) => {
                *active = Some(self.start(app, client.clone()));
                Ok(Some(client))
            }
            Err(clinic_client::ClientError::NotLoggedIn) => Ok(None),
            Err(e) => {
                tracing::warn!("could not restore the session: {e}");
                Err(e)
            }
        }
    }

    pub async fn login<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        server_url: &str,
        username: &str,
        password: &str,
        pairing: Pairing,
    ) -> CmdResult<Client> {
        let mut cancel = self.login_cancel.subscribe();
        cancel.mark_unchanged();
        let cancelled = async move {
            // A dropped sender never happens while `self` lives; then the login just runs on.
            if cancel.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let options = self.options();
        let _transition = self.transition.lock().await;
        let client =
            Client::login_until(options, server_url, username, password, pairing, cancelled)
                .await?;
        let mut active = self.active.lock().await;
        if let Some(old) = active.take() {
            old.forwarder.abort();
            old.client.disconnect().await;
        }
        *active = Some(self.start(app, client.clone()));
        Ok(client)
    }

    /// Makes a sign-in that is waiting for the server give up (`cancelled`).
    pub fn cancel_login(&self) {
        self.login_cancel.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Ends the session (the client silences this device first); `why` it ended when not by
    /// her own "Log out", which the page is told with the end. True when the server confirmed
    /// the token is revoked.
    pub async fn logout<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        why: Option<String>,
    ) -> CmdResult<bool> {
        match self.logout_session(app, None, why).await? {
            Ending::Ended { revoked } => Ok(revoked),
            Ending::Waits | Ending::NotCurrent => Ok(true),
        }
    }

    /// Ends the session. With `after_tries`, only that session (a task that outlived it must
    /// not end the next one), and only if nothing the logout would lose waits to be sent
    /// (`Client::begin_ending_after_tries`): from then on the core takes no press, so none is
    /// queued and then deleted by this logout.
    async fn logout_session<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        after_tries: Option<u64>,
        why: Option<String>,
    ) -> CmdResult<Ending> {
        let _transition = self.transition.lock().await;
        let old = {
            let mut active = self.active.lock().await;
            if let Some(id) = after_tries {
                match active.as_ref() {
                    Some(a) if a.id == id => {
                        if !a.client.begin_ending_after_tries() {
                            return Ok(Ending::Waits);
                        }
                    }
                    _ => return Ok(Ending::NotCurrent),
                }
            }
            active.take()
        };
        let mut revoked = Ok(true);
        if let Some(old) = old {
            old.forwarder.abort();
            // The forwarder is gone: carry out the client's "stop ringing" here, and take
            // the session's notifications away before the server is asked (which may take
            // seconds, or fail).
            crate::notify::sync_alarm(app, &[]);
            crate::notify::withdraw_all(app);
            revoked = old.client.logout().await;
        }
        // Gone from the shell even when the client's logout failed half way: the page must
        // not stay on a screen with nothing behind it.
        self.set_status(app, ConnectionStatus::offline());
        crate::forward::on_session_end(app, why);
        Ok(Ending::Ended { revoked: revoked? })
    }

    /// Connects and starts forwarding the client's events to the UI.
    fn start<R: Runtime>(&self, app: &AppHandle<R>, client: Client) -> Active {
        self.outlet().ended = None;
        client.set_notification_content(self.settings().show_message_content);
        client.set_in_view(crate::window_in_view(app));
        client.connect();
        if client.user().role == clinic_protocol::Role::Doctor {
            crate::notify::probe_sound(app);
        }
        let forwarder =
            tauri::async_runtime::spawn(crate::forward::run(app.clone(), client.clone()));
        let id = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        let mut active = Active {
            client,
            forwarder,
            id,
            ending: false,
        };
        // Restarted after the wrong tries ran out: the session still ends as it was to.
        if active.client.tries_ran_out() {
            end_when_sent(app, &mut active);
        }
        active
    }

    /// Whether session `id` is the one signed in.
    async fn is_current(&self, id: u64) -> bool {
        self.active
            .lock()
            .await
            .as_ref()
            .is_some_and(|a| a.id == id)
    }

    /// The wrong tries to unlock ran out while something the logout would lose waits to be sent
    /// (`Unlock::LogOutWhenSent`): the session ends once it has gone, or was refused, or the
    /// server ended it (a shared computer's messages are waited for 12 hours at most). Once per
    /// session.
    pub async fn log_out_when_sent<R: Runtime>(&self, app: &AppHandle<R>) {
        if let Some(active) = self.active.lock().await.as_mut() {
            end_when_sent(app, active);
        }
    }

    /// Deletes the plain copies of attachments handed to viewers (at quit).
    pub fn remove_opened_files(&self) {
        clinic_client::attachments::remove_opened(&self.profile_dir);
    }

    /// Where the tray writes its icon files: the profile's own private folder (without
    /// `XDG_RUNTIME_DIR` the tray library would use a shared temp folder).
    pub fn tray_icon_dir(&self) -> std::io::Result<PathBuf> {
        Profile::new(&self.profile_dir).private_folder("tray")
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn save_settings(&self, new: Settings) -> CmdResult<Settings> {
        settings::save(&self.profile_dir, &new)?;
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = new.clone();
        Ok(new)
    }

    pub fn status(&self) -> ConnectionStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records and announces a new connection status (only when it changed).
    pub fn set_status<R: Runtime>(&self, _app: &AppHandle<R>, status: ConnectionStatus) {
        let mut current = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if *current != status {
            *current = status.clone();
            drop(current);
            self.send(UiEvent::Connection { status });
        }
    }

    /// The UI subscribed (again, after a reload): later events go to this channel.
    pub fn set_channel(&self, channel: Channel<UiEvent>) {
        self.outlet().channel = Some(channel);
    }

    fn outlet(&self) -> std::sync::MutexGuard<'_, Outlet> {
        self.channel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the last session ended, while no other has started (see `Outlet::ended`).
    fn ended(&self) -> Option<String> {
        self.outlet().ended.clone()
    }

    /// Sends an event to the UI. Before the UI subscribed its snapshot covers it, why the
    /// session ended included.
    pub fn send(&self, event: UiEvent) {
        let channel = {
            let mut outlet = self.outlet();
            if let UiEvent::Session {
                session: None,
                reason,
            } = &event
            {
                outlet.ended.clone_from(reason);
            }
            outlet.channel.clone()
        };
        if let Some(channel) = channel
            && let Err(e) = channel.send(event)
        {
            tracing::warn!("the UI's channel refused an event: {e}");
        }
    }

    /// Tells the user when the client had to start its cache afresh (the sentence states what
    /// was lost). The UI keeps a notice heard while it waits for its snapshot.
    pub fn announce_cache_reset(&self, client: &Client) {
        if let Some(reset) = client.cache_reset() {
            self.send(UiEvent::Notice {
                code: "cacheReset".to_owned(),
                message: reset.sentence(),
            });
        }
    }

    /// The state as the UI shows it, from the client core (no network).
    pub fn snapshot(&self, client: Option<&Client>) -> Snapshot {
        // A session the server ended is over for the page too (a reload must not show it).
        let signed_out = |c: &&Client| matches!(c.state(), ConnectionState::SignedOut { .. });
        let Some(client) = client.filter(|c| !signed_out(c)) else {
            let told_by_server = client.and_then(|c| match c.state() {
                ConnectionState::SignedOut { reason } => Some(reason),
                _ => None,
            });
            return Snapshot {
                session: None,
                ended: self.ended().or(told_by_server),
                last_server: Profile::new(&self.profile_dir).last_server(),
                connection: self.status(),
                settings: self.settings(),
                availability: Availability::Available,
                conversations: Vec::new(),
                emergencies: Vec::new(),
                ringing: Vec::new(),
                lock: None,
                clinic: None,
                device: self.device(),
            };
        };
        let lock = client.lock_status();
        if lock.locked {
            return Snapshot {
                session: Some(session_of(client)),
                ended: None,
                last_server: None,
                connection: ConnectionStatus::of(client),
                settings: self.settings(),
                availability: client.availability(),
                conversations: Vec::new(),
                emergencies: client.emergencies_while_locked().unwrap_or_else(|e| {
                    tracing::warn!("open emergencies: {e}");
                    Vec::new()
                }),
                ringing: client.ringing(),
                lock: Some(lock),
                clinic: client.clinic_info(),
                device: self.device(),
            };
        }
        Snapshot {
            session: Some(session_of(client)),
            ended: None,
            last_server: None,
            connection: ConnectionStatus::of(client),
            settings: self.settings(),
            availability: client.availability(),
            conversations: client.conversation_list().unwrap_or_else(|e| {
                tracing::warn!("conversation list: {e}");
                Vec::new()
            }),
            emergencies: client.open_emergencies().unwrap_or_default(),
            ringing: client.ringing(),
            lock: Some(lock),
            clinic: client.clinic_info(),
            device: self.device(),
        }
    }
}

pub fn session_of(client: &Client) -> SessionInfo {
    SessionInfo {
        server_url: client.server_url().to_owned(),
        user: client.user().clone(),
    }
}
