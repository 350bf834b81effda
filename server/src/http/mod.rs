//! The HTTP surface: the router, and extractors that turn every bad request into our JSON error.

mod auth;
mod availability;
mod body;
mod care;
mod chat;
mod download;
mod emergencies;
mod metrics;
mod notifications;
mod search;
mod upload;

use crate::accept::ConnTag;
use crate::error::ApiError;
use crate::state::{AppState, Session};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use clinic_protocol::rest::{Health, Ready};
use serde::de::DeserializeOwned;

pub(crate) fn router(state: AppState) -> Router {
    let body_limit = state.config.max_json_body_bytes;
    let upload_limit = usize::try_from(state.config.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(body::MULTIPART_SLACK);
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::metrics))
        .route("/download", get(download::page))
        .route("/download/{file}", get(download::file))
        .route("/ws", get(crate::ws::upgrade))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::me))
        .route(
            "/api/chat/messages",
            get(chat::list).post(chat::send).patch(chat::mark_read),
        )
        .route("/api/chat/messages/delivered", post(chat::mark_delivered))
        .route("/api/chat/messages/{id}/retract", post(chat::retract))
        .route("/api/chat/messages/{id}/edit", post(chat::edit))
        .route("/api/chat/messages/{id}/versions", get(chat::versions))
        .route("/api/chat/conversations", get(chat::conversations))
        .route("/api/contacts", get(chat::contacts))
        .route("/api/patients", get(care::patients))
        .route("/api/conversations", post(care::start))
        .route("/api/sync", get(chat::sync))
        .route("/api/search/messages", get(search::messages))
        .route(
            "/api/notifications",
            get(notifications::list).patch(notifications::mark_read),
        )
        .route(
            "/api/availability",
            get(availability::get).put(availability::put),
        )
        .route("/api/emergencies", get(emergencies::list))
        .route("/api/emergencies/{id}", get(emergencies::detail))
        .route(
            "/api/emergencies/{id}/acknowledge",
            post(emergencies::acknowledge),
        )
        .route("/api/emergencies/{id}/resolve", post(emergencies::resolve))
        .route(
            body::UPLOAD_PATH,
            // Uploads have their own limit (enforced while streaming, too); a little slack for
            // the multipart framing and the id fields.
            post(upload::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/files/{id}", get(upload::download))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                code: clinic_protocol::ErrorCode::BadRequest,
                message: "method not allowed on this endpoint".into(),
                retry_after: None,
            }
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body::guard,
        ))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.probe_read().await.map_err(|err| {
        // Mapped first for its log line, which names a database failure.
        let _ = ApiError::from(err);
        ApiError::unavailable("database unavailable")
    })?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// `GET /readyz`: 200 only when a write commits (through the writer, like every message) and
/// the data folder's disk has more than `min_free_bytes` free; else 503 saying which. How many
/// bytes are free is told only to the addresses that may read the metrics.
async fn ready(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
) -> Result<Json<Ready>, ApiError> {
    let at = crate::time::now_ms();
    state.store.probe_write(at).await.map_err(|err| {
        // Mapped first for its log line, which names a database failure.
        let _ = ApiError::from(err);
        ApiError::unavailable("the database cannot commit a write")
    })?;
    let free = crate::datadir::free_bytes(&state.config.data_dir).unwrap_or(u64::MAX);
    let told = metrics::allowed(state.config.metrics, client);
    if free < state.config.min_free_bytes {
        tracing::warn!(free, "not ready: the disk is nearly full");
        let how_much = if told {
            format!(" ({} MiB free)", free / (1024 * 1024))
        } else {
            String::new()
        };
        return Err(ApiError::unavailable(format!(
            "the disk of the data folder is nearly full{how_much}"
        )));
    }
    Ok(Json(Ready {
        status: "ready".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        free_bytes: told.then_some(free),
    }))
}

/// The client's address: the connection's peer, or behind a reverse proxy on this machine that
/// the server was told to trust (`Config::trust_forwarded_for`), the last address its
/// `X-Forwarded-For` names (the one the proxy itself saw; earlier ones are the client's word).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .copied()
            .ok_or_else(|| ApiError::internal("no peer address"))?;
        let peer = peer.ip();
        if !state.config.trust_forwarded_for || !peer.is_loopback() {
            return Ok(Self(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|last| last.trim().parse().ok());
        Ok(Self(forwarded.unwrap_or(peer)))
    }
}

/// The token of an `Authorization: Bearer ...` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let session = state.session(token).await?;
        // A connection that carried a signed-in request is never shed for a newcomer (but for
        // those of an account past its protected ones).
        if let Some(tag) = parts.extensions.get::<ConnTag>() {
            tag.authenticated(session.user.id.as_str());
        }
        Ok(session)
    }
}

/// The session of a request that reads (and so writes an audit row): at most
/// `Config::read_rate` per user, past it `429 rate_limited` with `Retry-After`.
pub(crate) struct Reading(pub Session);

impl FromRequestParts<AppState> for Reading {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = Session::from_request_parts(parts, state).await?;
        state
            .reads
            .take(&session.user.id)
            .map_err(ApiError::rate_limited)?;
        Ok(Self(session))
    }
}

/// JSON body whose rejections are our `ErrorBody` (400, 413 over the size limit, or 408 when
/// the body did not arrive in time).
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("request body is over the size limit")
    } else if body::arrived_too_slowly(rejection) {
        body::too_slow()
    } else {
        ApiError::bad_request(rejection.body_text())
    }
}

/// An optional JSON body: empty means `T::default()`.
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large("request body is over the size limit")
                } else if body::arrived_too_slowly(&r) {
                    body::too_slow()
                } else {
                    ApiError::bad_request(r.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// Query string whose rejections are our `ErrorBody`.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}
