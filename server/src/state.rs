//! What every request handler shares: configuration, storage, the live hub, the login throttle.

use crate::accounts::token_hash;
use crate::config::Config;
use crate::emergency::Watch;
use crate::error::ApiError;
use crate::files::allowance::Allowance;
use crate::hub::Hub;
use crate::login::Logins;
use crate::store::{Store, users};
use clinic_protocol::User;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Arc<Hub>,
    /// Emergencies nobody has taken yet: their repeats, escalation and the server alarm.
    pub emergencies: Arc<Watch>,
    /// Login throttles and the password-check threads.
    pub logins: Arc<Logins>,
    /// What each user may upload.
    pub uploads: Arc<Allowance>,
    /// Cancelled when the server shuts down: sockets close with a close frame.
    pub shutdown: CancellationToken,
    /// Live socket tasks, waited for at shutdown.
    pub tasks: TaskTracker,
}

/// A signed-in caller: who, and the hash of the token they used.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user: User,
    pub token_hash: String,
}

impl AppState {
    /// Resolves a bearer token to its session, or `unauthorized`.
    pub(crate) async fn session(&self, token: &str) -> Result<Session, ApiError> {
        let hash = token_hash(token);
        let lookup = hash.clone();
        let user = self
            .store
            .reads
            .run(move |conn| users::by_token(conn, &lookup))
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid, expired or revoked token"))?;
        Ok(Session {
            user,
            token_hash: hash,
        })
    }
}
