//! `GET /api/emergencies[?open=true]`, `GET /api/emergencies/{id}` (with its transitions),
//! `POST /api/emergencies/{id}/acknowledge`, `POST /api/emergencies/{id}/resolve {note}`.

use super::{ApiQuery, OptionalJson, Reading};
use crate::audit::{self, Action, Event};
use crate::emergency;
use crate::error::ApiError;
use crate::state::{AppState, Session};
use axum::Json;
use axum::extract::{Path, State};
use clinic_protocol::rest::{EmergenciesQuery, EmergencyDetail, ResolveRequest};
use clinic_protocol::{Emergency, EmergencyId};

pub(super) async fn list(
    State(state): State<AppState>,
    Reading(session): Reading,
    ApiQuery(query): ApiQuery<EmergenciesQuery>,
) -> Result<Json<Vec<Emergency>>, ApiError> {
    let open = query.open.unwrap_or(false);
    let attempt = Event::by(&session.user.id, Action::EmergencyRead);
    let list = state.store.emergencies(&session.user, open).await;
    let list = audit::audited(&state.store, list, attempt, |list, attempt| {
        let patients = audit::patients_in(list.iter().map(|e| e.patient_id.as_str()));
        vec![attempt.detail(serde_json::json!({ "emergencies": list.len(), "patients": patients }))]
    })
    .await?;
    Ok(Json(list))
}

pub(super) async fn detail(
    State(state): State<AppState>,
    Reading(session): Reading,
    Path(id): Path<String>,
) -> Result<Json<EmergencyDetail>, ApiError> {
    Ok(Json(
        emergency::detail(&state, &session.user, EmergencyId::new(id)).await?,
    ))
}

pub(super) async fn acknowledge(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Emergency>, ApiError> {
    Ok(Json(
        emergency::acknowledge(&state, &session.user, EmergencyId::new(id)).await?,
    ))
}

pub(super) async fn resolve(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<ResolveRequest>,
) -> Result<Json<Emergency>, ApiError> {
    let found =
        emergency::resolve(&state, &session.user, EmergencyId::new(id), request.note).await?;
    Ok(Json(found))
}
