//! `GET /api/availability` and `PUT /api/availability {availability}`: a doctor's stored
//! do-not-disturb setting.

use super::ApiJson;
use crate::error::ApiError;
use crate::state::{AppState, Session};
use axum::Json;
use axum::extract::State;
use clinic_protocol::rest::AvailabilityBody;

pub(super) async fn get(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<AvailabilityBody>, ApiError> {
    let availability = crate::availability::get(&state, &session.user.id).await?;
    Ok(Json(AvailabilityBody { availability }))
}

pub(super) async fn put(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<AvailabilityBody>,
) -> Result<Json<AvailabilityBody>, ApiError> {
    state
        .writes
        .charge(&session.user.id, crate::writes::Write::One)?;
    let availability = crate::availability::set(&state, &session.user, body.availability).await?;
    Ok(Json(AvailabilityBody { availability }))
}
