//! Account operations: signing in and out, resolving and touching sessions, a doctor's
//! availability. None of them reads what the send log holds, so their reads skip moving it.

use crate::audit::{self, Action, Event};
use crate::store::users::{self, Account};
use crate::store::{Store, StoreError, tokens};
use clinic_protocol::ws::Availability;
use clinic_protocol::{User, UserId};

impl Store {
    /// The account signed in with the token whose hash is `hash`, and when the token was last
    /// used; `None` when it is unknown, revoked, expired or idle for `idle_ms`.
    pub(crate) async fn session(
        &self,
        hash: &str,
        idle_ms: i64,
    ) -> Result<Option<(User, i64)>, StoreError> {
        let hash = hash.to_owned();
        self.reads
            .run_without_log(move |conn| users::by_token(conn, &hash, idle_ms))
            .await
    }

    /// For each token hash, when its session was last used (`None`: no longer valid).
    pub(crate) async fn sessions_last_used(
        &self,
        hashes: Vec<String>,
        idle_ms: i64,
    ) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        self.reads
            .run_without_log(move |conn| {
                hashes
                    .into_iter()
                    .map(|hash| {
                        let last_used = users::by_token(conn, &hash, idle_ms)?.map(|(_, at)| at);
                        Ok((hash, last_used))
                    })
                    .collect()
            })
            .await
    }

    /// Marks these sessions as used now.
    pub(crate) async fn touch_sessions(&self, hashes: Vec<String>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn, _| tokens::touch(conn, &hashes))
            .await
    }

    /// The account of this (lower-case) username, disabled or not.
    pub(crate) async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let username = username.to_owned();
        self.reads
            .run_without_log(move |conn| users::by_username(conn, &username))
            .await
    }

    /// Stores a new session token (by its hash) and audits the login from `address`, with how
    /// many of the user's sessions it ended past their bound (never one of `live`).
    pub(crate) async fn sign_in(
        &self,
        hash: String,
        user: &UserId,
        expires_at: i64,
        address: String,
        live: Vec<String>,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.writer
            .run(move |conn, _| {
                let ended = users::insert_token(conn, &hash, &user, expires_at, &live)?;
                let detail = if ended > 0 {
                    serde_json::json!({ "address": address, "sessionsEnded": ended })
                } else {
                    serde_json::json!({ "address": address })
                };
                audit::record(conn, &Event::by(&user, Action::Login).detail(detail))
            })
            .await
    }

    /// Revokes the session token whose hash is `hash` and audits the logout.
    pub(crate) async fn sign_out(&self, hash: String, user: &UserId) -> Result<(), StoreError> {
        let user = user.clone();
        self.writer
            .run(move |conn, _| {
                users::revoke_token(conn, &hash)?;
                audit::record(conn, &Event::by(&user, Action::Logout))
            })
            .await
    }

    /// A doctor's stored availability.
    pub(crate) async fn availability(&self, user: &UserId) -> Result<Availability, StoreError> {
        let user = user.clone();
        self.reads
            .run_without_log(move |conn| users::availability(conn, &user))
            .await
    }

    /// Stores a doctor's availability.
    pub(crate) async fn set_availability(
        &self,
        user: &UserId,
        availability: Availability,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.writer
            .run(move |conn, _| users::set_availability(conn, &user, availability))
            .await
    }
}
