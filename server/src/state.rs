//! What every request handler shares: configuration, storage, the live hub, the login throttle.

use crate::accounts::token_hash;
use crate::config::Config;
use crate::emergency::Watch;
use crate::error::ApiError;
use crate::files::allowance::Allowance;
use crate::hub::Hub;
use crate::login::Logins;
use crate::store::Store;
use crate::time::now_ms;
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
    /// Each user's rate of patient look-ups and conversation starts.
    pub care: Arc<crate::limiter::KeyedBuckets<clinic_protocol::UserId>>,
    /// Each user's rate of audited reads over REST ([`crate::http::Reading`]).
    pub reads: Arc<crate::limiter::KeyedBuckets<clinic_protocol::UserId>>,
    /// Each user's rate of writes, over REST and every socket ([`crate::writes`]).
    pub writes: Arc<crate::writes::Writes>,
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
    /// Resolves a bearer token to its session, or `unauthorized`. Marks the session as used
    /// (at most once per [`AppState::touch_interval`], so requests do not each cost a write).
    pub(crate) async fn session(&self, token: &str) -> Result<Session, ApiError> {
        let hash = token_hash(token);
        let (user, last_used) = self
            .store
            .session(&hash, self.idle_ms())
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid, expired or revoked token"))?;
        if now_ms().saturating_sub(last_used) >= self.touch_interval_ms() {
            let touched = vec![hash.clone()];
            let store = self.store.clone();
            // Fire and forget: the answer does not wait for the mark.
            tokio::spawn(async move {
                if let Err(err) = store.touch_sessions(touched).await {
                    tracing::warn!(error = %err, "could not mark a session as used");
                }
            });
        }
        Ok(Session {
            user,
            token_hash: hash,
        })
    }

    /// The idle expiry in milliseconds.
    pub(crate) fn idle_ms(&self) -> i64 {
        i64::try_from(self.config.session_idle_timeout.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// How stale a session's "last used" mark may get before it is written again: a tenth of the
    /// idle expiry, at most an hour.
    pub(crate) fn touch_interval_ms(&self) -> i64 {
        (self.idle_ms() / 10).min(3_600_000)
    }
}
