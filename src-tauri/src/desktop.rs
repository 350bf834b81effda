//! The shell's state: where the profile lives, which credential store holds the token, the
//! signed-in client (if any) and the settings. Session start and end happen here; everything
//! else is the client core's.

use crate::error::{CmdResult, CommandError};
use crate::settings::{self, Settings};
use crate::status::{ConnectionStatus, SessionInfo};
use clinic_client::{Client, ClientOptions, CredentialStore, KeyringStore, Pairing, Profile};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};

/// Environment overrides, for tests and for machines without an OS keyring.
pub const PROFILE_DIR_ENV: &str = "CLINIC_PROFILE_DIR";
pub const CREDENTIAL_STORE_ENV: &str = "CLINIC_CREDENTIAL_STORE";

#[derive(Debug)]
struct Active {
    client: Client,
    forwarder: JoinHandle<()>,
}

#[derive(Debug)]
pub struct Desktop {
    profile_dir: PathBuf,
    credentials: Arc<dyn CredentialStore>,
    active: tokio::sync::Mutex<Option<Active>>,
    settings: Mutex<Settings>,
    status: Mutex<ConnectionStatus>,
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
        Self {
            profile_dir,
            credentials,
            active: tokio::sync::Mutex::new(None),
            settings: Mutex::new(settings),
            status: Mutex::new(ConnectionStatus::offline()),
        }
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
    /// connecting. `None` on first run or after logout.
    pub async fn restore<R: Runtime>(&self, app: &AppHandle<R>) -> Option<SessionInfo> {
        let mut active = self.active.lock().await;
        if let Some(a) = active.as_ref() {
            return Some(session_of(&a.client));
        }
        match Client::open(self.options()) {
            Ok(client) => {
                let info = session_of(&client);
                *active = Some(self.start(app, client));
                Some(info)
            }
            Err(clinic_client::ClientError::NotLoggedIn) => None,
            Err(e) => {
                tracing::warn!("could not restore the session: {e}");
                None
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
    ) -> CmdResult<SessionInfo> {
        let client = Client::login(self.options(), server_url, username, password, pairing).await?;
        let info = session_of(&client);
        let mut active = self.active.lock().await;
        if let Some(old) = active.take() {
            old.forwarder.abort();
            old.client.disconnect().await;
        }
        *active = Some(self.start(app, client));
        Ok(info)
    }

    pub async fn logout<R: Runtime>(&self, app: &AppHandle<R>) -> CmdResult<()> {
        let old = self.active.lock().await.take();
        if let Some(old) = old {
            old.forwarder.abort();
            old.client.logout().await?;
        }
        self.set_status(app, ConnectionStatus::offline());
        crate::forward::on_session_end(app);
        Ok(())
    }

    /// Connects and starts forwarding the client's events to the UI.
    fn start<R: Runtime>(&self, app: &AppHandle<R>, client: Client) -> Active {
        client.connect();
        let forwarder =
            tauri::async_runtime::spawn(crate::forward::run(app.clone(), client.clone()));
        Active { client, forwarder }
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
    pub fn set_status<R: Runtime>(&self, app: &AppHandle<R>, status: ConnectionStatus) {
        let mut current = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if *current != status {
            *current = status.clone();
            drop(current);
            if let Err(e) = app.emit("connection", status) {
                tracing::warn!("emit connection: {e}");
            }
        }
    }
}

fn session_of(client: &Client) -> SessionInfo {
    SessionInfo {
        server_url: client.server_url().to_owned(),
        user: client.user().clone(),
    }
}
