//! Chat over REST: messages (history, send, read and delivered receipts), conversations,
//! contacts, and catch-up (`GET /api/sync`).

use super::{ApiJson, ApiQuery, Reading};
use crate::audit::{self, Action, Event};
use crate::chat::{MessageFrames, ReceiptKind, publish_receipts, publish_sent};
use crate::error::ApiError;
use crate::state::{AppState, Session};
use crate::writes::Write;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use clinic_protocol::rest::{
    EditRequest, MarkReadRequest, MarkReadResponse, MessageVersions, MessagesQuery, RetractRequest,
    SyncPage, SyncQuery,
};
use clinic_protocol::{
    ClientId, Contact, Conversation, ConversationKey, Message, MessageId, NewMessage, limits,
};

/// A page of history; when older messages remain (a full page, or one cut by size), a `Link`
/// header names the next page (`rel="next"`, RFC 8288).
pub(super) async fn list(
    State(state): State<AppState>,
    Reading(session): Reading,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> Result<(HeaderMap, Json<Vec<Message>>), ApiError> {
    let key = ConversationKey::new(query.patient_id, query.doctor_id);
    let limit = query
        .limit
        .unwrap_or(limits::DEFAULT_PAGE)
        .clamp(1, limits::MAX_PAGE);
    let attempt = Event::by(&session.user.id, Action::HistoryRead).conversation(&key);
    let _page_share = state.store.pages.take(1).await?;
    let page = state
        .store
        .page(&session.user, key.clone(), limit, query.before)
        .await;
    let page = audit::audited(&state.store, page, attempt, |page, attempt| {
        vec![attempt.detail(audit::seq_range(&page.messages))]
    })
    .await?;
    let mut headers = HeaderMap::new();
    if let Some(oldest) = page.messages.first().filter(|_| page.has_more) {
        headers.insert(header::LINK, next_page(key, limit, &oldest.id)?);
    }
    Ok((headers, Json(page.messages)))
}

/// `Link: <?patientId=…&doctorId=…&limit=…&before=oldest>; rel="next"`: a reference of a query
/// alone, which resolves against the request's own path (RFC 3986), so it stays right behind a
/// reverse proxy that serves the API under a prefix.
fn next_page(
    key: ConversationKey,
    limit: u32,
    oldest: &MessageId,
) -> Result<HeaderValue, ApiError> {
    let query = MessagesQuery {
        patient_id: key.patient_id,
        doctor_id: key.doctor_id,
        limit: Some(limit),
        before: Some(oldest.clone()),
    };
    let failed =
        |e: &dyn std::fmt::Display| ApiError::internal(format!("could not write a page link: {e}"));
    let query = serde_urlencoded::to_string(&query).map_err(|e| failed(&e))?;
    HeaderValue::try_from(format!("<?{query}>; rel=\"next\"")).map_err(|e| failed(&e))
}

/// 201 with the new message, or 200 with the stored one when `clientId` was seen before.
pub(super) async fn send(
    State(state): State<AppState>,
    session: Session,
    ApiJson(new): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let client_id = new
        .client_id
        .clone()
        .unwrap_or_else(|| ClientId::new(format!("srv-{}", uuid::Uuid::now_v7().simple())));
    let sender = session.user;
    state.writes.charge(&sender.id, Write::message(&new))?;
    let attempt = Event::by(&sender.id, Action::MessageCreate).conversation(&ConversationKey::new(
        new.patient_id.clone(),
        new.doctor_id.clone(),
    ));
    let sent = match state.store.send(sender, new, client_id).await {
        Ok(queued) => queued.committed().await,
        Err(err) => Err(err),
    };
    let sent = audit::audited(&state.store, sent, attempt, |_, _| Vec::new()).await?;
    publish_sent(&state, &sent, None, &MessageFrames::new(&sent.message));
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent.message)))
}

async fn receipts(
    state: &AppState,
    session: Session,
    request: MarkReadRequest,
    kind: ReceiptKind,
) -> Result<Json<MarkReadResponse>, ApiError> {
    let ids = request.message_ids;
    let reader = &session.user.id;
    state.writes.charge(reader, Write::Ids(ids.len()))?;
    let receipts = match kind {
        ReceiptKind::Read => state.store.mark_read(reader, ids).await,
        ReceiptKind::Delivered => state.store.mark_delivered(reader, ids).await,
    }?;
    publish_receipts(&state.hub, &receipts, &session.user.id, kind);
    let message_ids = receipts.into_iter().flat_map(|r| r.ids).collect();
    Ok(Json(MarkReadResponse {
        success: true,
        message_ids,
    }))
}

/// `PATCH /api/chat/messages {messageIds}`: marks messages addressed to the caller read.
pub(super) async fn mark_read(
    State(state): State<AppState>,
    session: Session,
    ApiJson(request): ApiJson<MarkReadRequest>,
) -> Result<Json<MarkReadResponse>, ApiError> {
    receipts(&state, session, request, ReceiptKind::Read).await
}

/// `POST /api/chat/messages/delivered {messageIds}`: the caller's client stored these messages.
pub(super) async fn mark_delivered(
    State(state): State<AppState>,
    session: Session,
    ApiJson(request): ApiJson<MarkReadRequest>,
) -> Result<Json<MarkReadResponse>, ApiError> {
    receipts(&state, session, request, ReceiptKind::Delivered).await
}

pub(super) async fn conversations(
    State(state): State<AppState>,
    Reading(session): Reading,
) -> Result<Json<Vec<Conversation>>, ApiError> {
    let online = state.hub.online_users();
    let attempt = Event::by(&session.user.id, Action::ConversationsRead);
    let list = state.store.conversations(&session.user, online).await;
    let list = audit::audited(&state.store, list, attempt, |list, attempt| {
        // A read of each patient listed; which ones, the care relation tells (`audit::report`).
        vec![attempt.detail(serde_json::json!({ "conversations": list.len() }))]
    })
    .await?;
    Ok(Json(list))
}

pub(super) async fn contacts(
    State(state): State<AppState>,
    Reading(session): Reading,
) -> Result<Json<Vec<Contact>>, ApiError> {
    let online = state.hub.online_users();
    let attempt = Event::by(&session.user.id, Action::ContactsRead);
    let list = state.store.contacts(&session.user, online).await;
    let list = audit::audited(&state.store, list, attempt, |list, attempt| {
        // A doctor's contacts are their patients, with their details: which ones, the care
        // relation tells (`audit::report`).
        vec![attempt.detail(serde_json::json!({ "contacts": list.len() }))]
    })
    .await?;
    Ok(Json(list))
}

pub(super) async fn sync(
    State(state): State<AppState>,
    Reading(session): Reading,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<Json<SyncPage>, ApiError> {
    let limit = query.limit.unwrap_or(limits::DEFAULT_SYNC_PAGE);
    let _page_share = state.store.pages.take(1).await?;
    let page = state
        .store
        .changes_since(&session.user, query.since, limit)
        .await;
    let page = audit::audited(
        &state.store,
        page,
        Event::by(&session.user.id, Action::SyncRead),
        |page, attempt| audit::sync_events(page, &attempt),
    )
    .await?;
    Ok(Json(page))
}

/// `POST /api/chat/messages/{id}/retract`: 200 with the tombstone (also when it already was one).
pub(super) async fn retract(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RetractRequest>,
) -> Result<Json<Message>, ApiError> {
    let reason = request.reason.as_ref().map_or(0, String::len);
    state.writes.charge(&session.user.id, Write::Text(reason))?;
    let changed =
        crate::unsend::retract(&state, &session.user, MessageId::new(id), request, None).await?;
    Ok(Json(changed.message))
}

/// `POST /api/chat/messages/{id}/edit`: 200 with the message as it is now.
pub(super) async fn edit(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<EditRequest>,
) -> Result<Json<Message>, ApiError> {
    state
        .writes
        .charge(&session.user.id, Write::Text(request.content.len()))?;
    let changed =
        crate::unsend::edit(&state, &session.user, MessageId::new(id), request, None).await?;
    Ok(Json(changed.message))
}

/// `GET /api/chat/messages/{id}/versions`: every version of the text, for either participant.
pub(super) async fn versions(
    State(state): State<AppState>,
    Reading(session): Reading,
    Path(id): Path<String>,
) -> Result<Json<MessageVersions>, ApiError> {
    let id = MessageId::new(id);
    let attempt = Event::by(&session.user.id, Action::VersionsRead).subject(id.as_str());
    let list = state.store.versions(&session.user, id).await;
    let (list, _) = audit::audited(&state.store, list, attempt, |(list, key), attempt| {
        vec![
            attempt
                .conversation(key)
                .detail(serde_json::json!({ "versions": list.versions.len() })),
        ]
    })
    .await?;
    Ok(Json(list))
}
