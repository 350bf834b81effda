//! `GET /api/notifications` and `PATCH /api/notifications {ids}`.

use super::{ApiJson, ApiQuery, Reading};
use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::state::{AppState, Session};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clinic_protocol::Notification;
use clinic_protocol::limits;
use clinic_protocol::rest::{MarkNotificationsReadRequest, NotificationsQuery};

pub(super) async fn list(
    State(state): State<AppState>,
    Reading(session): Reading,
    ApiQuery(query): ApiQuery<NotificationsQuery>,
) -> Result<Json<Vec<Notification>>, ApiError> {
    let limit = query
        .limit
        .unwrap_or(limits::DEFAULT_PAGE)
        .clamp(1, limits::MAX_PAGE);
    let unread_only = query.unread_only.unwrap_or(false);
    let attempt = Event::by(&session.user.id, Action::NotificationsRead);
    let list = state
        .store
        .notifications(&session.user.id, unread_only, limit)
        .await;
    // Notifications carry message previews: reading them is reading those conversations.
    let list = audit::audited(&state.store, list, attempt, |list, attempt| {
        let patients = audit::patients_in(
            list.iter()
                .filter_map(|n| n.patient_id.as_ref().map(|p| p.as_str())),
        );
        vec![
            attempt
                .detail(serde_json::json!({ "notifications": list.len(), "patients": patients })),
        ]
    })
    .await?;
    Ok(Json(list))
}

pub(super) async fn mark_read(
    State(state): State<AppState>,
    session: Session,
    ApiJson(request): ApiJson<MarkNotificationsReadRequest>,
) -> Result<StatusCode, ApiError> {
    if request.ids.len() > limits::MAX_IDS_PER_REQUEST {
        return Err(ApiError::too_large("too many ids in one request"));
    }
    state.writes.charge(
        &session.user.id,
        crate::writes::Write::Ids(request.ids.len()),
    )?;
    state
        .store
        .mark_notifications_read(&session.user.id, request.ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
