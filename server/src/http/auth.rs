//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.

use super::{ApiJson, ClientAddress};
use crate::accounts::{new_token, token_hash};
use crate::audit::{self, Action, Event, Outcome};
use crate::error::ApiError;
use crate::login::Refused;
use crate::state::{AppState, Session};
use crate::time::{from_ms, now_ms};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clinic_protocol::User;
use clinic_protocol::rest::{LoginRequest, LoginResponse};

/// Longest username or password looked at; longer ones are refused before any hashing.
const MAX_CREDENTIAL_BYTES: usize = 1024;

pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if request.username.len() > MAX_CREDENTIAL_BYTES
        || request.password.len() > MAX_CREDENTIAL_BYTES
    {
        return Err(ApiError::too_large("username or password is too long"));
    }
    let username = request.username.trim().to_lowercase();
    // Counted before anything else happens, so concurrent guesses cannot outrun the limit.
    let attempt = state.logins.begin(&username, client).map_err(refused)?;
    let account = state.store.account(&username).await?;
    let stored = account
        .as_ref()
        .filter(|a| !a.disabled)
        .map(|a| a.password_hash.clone());
    let good = state
        .logins
        .check(attempt, request.password, stored)
        .await
        .map_err(refused)?;
    let known = account.as_ref().map(|a| a.user.id.clone());
    let Some(account) = account.filter(|_| good) else {
        // The name typed is kept (bounded) so that guessing at accounts shows in the review.
        let failed = match &known {
            Some(id) => Event::by(id, Action::LoginFailed),
            None => Event::anonymous(Action::LoginFailed),
        };
        let typed: String = username.chars().take(64).collect();
        let failed = failed
            .subject(typed)
            .outcome(Outcome::Failed)
            .detail(serde_json::json!({ "address": client.to_string() }));
        audit::commit(&state.store, vec![failed]).await?;
        return Err(ApiError::unauthorized("wrong username or password"));
    };

    let token = new_token();
    let hash = token_hash(&token);
    let ttl_ms = i64::try_from(state.config.token_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let expires_at = now_ms().saturating_add(ttl_ms);
    let address = client.to_string();
    state
        .store
        .sign_in(
            hash,
            &account.user.id,
            expires_at,
            address,
            state.hub.token_hashes_of(&account.user.id),
        )
        .await?;
    tracing::info!(username, "login");
    Ok(Json(LoginResponse {
        token,
        user: account.user,
        expires_at: from_ms(expires_at),
    }))
}

fn refused(refused: Refused) -> ApiError {
    match refused {
        Refused::Throttled(wait) => ApiError::rate_limited(wait),
        Refused::Busy(wait) => ApiError {
            message: "the server is checking too many logins; try again in a moment".into(),
            ..ApiError::rate_limited(wait)
        },
    }
}

/// Revokes the caller's token and closes the sockets that used it.
pub(super) async fn logout(
    State(state): State<AppState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .sign_out(session.token_hash.clone(), &session.user.id)
        .await?;
    state.hub.close_token(&session.token_hash);
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn me(session: Session) -> Json<User> {
    Json(session.user)
}
