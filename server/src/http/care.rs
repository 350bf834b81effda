//! The care relation over REST: `GET /api/patients?q=` (doctors look up the clinic's patients)
//! and `POST /api/conversations {patientId}` (a doctor opens the conversation with one), both
//! at a per-user rate (`Config::care_rate`).

use super::{ApiJson, ApiQuery};
use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::state::{AppState, Session};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clinic_protocol::rest::{PatientsQuery, StartConversationRequest};
use clinic_protocol::{Contact, Conversation};

pub(super) async fn patients(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<PatientsQuery>,
) -> Result<Json<Vec<Contact>>, ApiError> {
    state
        .care
        .take(&session.user.id)
        .map_err(ApiError::rate_limited)?;
    let online = state.hub.online_users();
    let attempt = Event::by(&session.user.id, Action::PatientList);
    let list = state
        .store
        .search_patients(&session.user, query.q, query.limit, online)
        .await;
    let list = audit::audited(&state.store, list, attempt, |list, attempt| {
        let patients = audit::patients_in(list.iter().map(|c| c.id.as_str()));
        vec![attempt.detail(serde_json::json!({ "results": list.len(), "patients": patients }))]
    })
    .await?;
    Ok(Json(list))
}

/// 201 with a new conversation, 200 with one that existed.
pub(super) async fn start(
    State(state): State<AppState>,
    session: Session,
    ApiJson(request): ApiJson<StartConversationRequest>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    state
        .care
        .take(&session.user.id)
        .map_err(ApiError::rate_limited)?;
    let online = state.hub.online_users();
    let attempt =
        Event::by(&session.user.id, Action::ConversationStart).patient(&request.patient_id);
    let started = state
        .store
        .start_conversation(&session.user, request.patient_id, online)
        .await;
    // Its row (CONVERSATION_START, or for one that existed CONVERSATIONS_READ: the answer
    // carries the patient's details) is written in the store's transaction, before the answer.
    let (conversation, created) =
        audit::audited(&state.store, started, attempt, |_, _| Vec::new()).await?;
    if created {
        crate::chat::introduce(
            &state.hub,
            &conversation.patient_id,
            &conversation.doctor_id,
        );
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(conversation)))
}
