//! File sharing over REST: `POST /api/chat/upload` streams a multipart file to disk (never whole
//! in memory) for a conversation's participant; `GET /api/files/{id}` streams it back to
//! participants only, with headers that keep a browser or webview from running it.

use super::Reading;
use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::files::allowance::{Granted, over_quota};
use crate::files::incoming::{Finished, Incoming};
use crate::files::{self, name};
use crate::state::{AppState, Session};
use crate::store::uploads;
use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinic_protocol::rest::UploadResponse;
use clinic_protocol::{ConversationKey, ErrorCode, User};
use std::time::Duration;
use tokio_util::io::ReaderStream;

/// Longest `patientId` / `doctorId` field accepted.
const MAX_ID_FIELD_BYTES: usize = 256;

fn multipart_error(e: &MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("the upload is over the size limit")
    } else if super::body::arrived_too_slowly(e) {
        // A stalled line, not a bad file: the client sends it again.
        super::body::too_slow()
    } else {
        ApiError::bad_request(format!("bad multipart body: {}", e.body_text()))
    }
}

async fn small_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        if bytes.len() + chunk.len() > MAX_ID_FIELD_BYTES {
            return Err(ApiError::too_large("an id field is too long"));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("an id field is not UTF-8"))
}

/// Streams the `file` field into a temp file, at most `granted.limit` bytes; dropping the
/// result (any error on the way, or the request future being dropped on disconnect) removes it.
async fn receive(
    state: &AppState,
    granted: &Granted,
    mut field: Field<'_>,
) -> Result<Finished, ApiError> {
    let temp_dir = files::temp_dir(&state.config.data_dir);
    let mut incoming = Incoming::create(&temp_dir, granted.limit).await?;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        incoming.write(&chunk).await.map_err(|err| {
            if err.code == ErrorCode::TooLarge && granted.quota_limited {
                over_quota(&state.config, Duration::from_secs(3600))
            } else {
                err
            }
        })?;
    }
    incoming.finish().await
}

async fn check(state: &AppState, user: &User, key: &ConversationKey) -> Result<(), ApiError> {
    denied_audited(state, user, key, state.store.check_access(user, key).await).await
}

/// A refusal (403: not a participant) of an upload into `key` is written to the audit log, as every
/// refusal of a patient's data is; other failures only go back to the client.
async fn denied_audited<T>(
    state: &AppState,
    user: &User,
    key: &ConversationKey,
    result: Result<T, crate::store::StoreError>,
) -> Result<T, ApiError> {
    match result {
        Ok(value) => Ok(value),
        Err(err) => {
            let err = ApiError::from(err);
            if err.code == ErrorCode::Forbidden {
                let attempt = Event::by(&user.id, Action::FileUpload).conversation(key);
                audit::refused(&state.store, attempt.denied(&err)).await?;
            }
            Err(err)
        }
    }
}

/// `POST /api/chat/upload` (multipart `patientId`, `doctorId`, `file`) -> 201 `UploadResponse`.
pub(super) async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    // Before a byte of the body is read (no `100 Continue` for a refused upload).
    let granted = state
        .uploads
        .grant(&state.config, &state.store, &session.user.id)
        .await?;
    let mut multipart = multipart.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let (mut patient, mut doctor, mut received) = (None, None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e))?
    {
        match field.name() {
            Some("patientId") => patient = Some(small_text(field).await?),
            Some("doctorId") => doctor = Some(small_text(field).await?),
            Some("file") => {
                if received.is_some() {
                    return Err(ApiError::bad_request("one file per upload"));
                }
                // With the ids first (as documented), a stranger is refused before any byte
                // reaches the disk.
                if let (Some(p), Some(d)) = (&patient, &doctor) {
                    check(
                        &state,
                        &session.user,
                        &ConversationKey::new(p.clone(), d.clone()),
                    )
                    .await?;
                }
                let file_name = name::sanitize(field.file_name().unwrap_or_default());
                received = Some((receive(&state, &granted, field).await?, file_name));
            }
            // Unknown fields are skipped (the body limit bounds them).
            _ => {}
        }
    }
    let (Some(patient), Some(doctor)) = (patient, doctor) else {
        return Err(ApiError::bad_request("patientId and doctorId are required"));
    };
    let (finished, file_name) =
        received.ok_or_else(|| ApiError::bad_request("the file field is missing"))?;
    let key = ConversationKey::new(patient, doctor);
    let upload = uploads::Upload {
        id: files::random_id(),
        sha256: finished.sha256.clone(),
        size: finished.size,
        content_type: finished.content_type.to_owned(),
        file_name: name::for_type(&file_name, finished.content_type),
        uploader_id: session.user.id.clone(),
        key,
        message_id: None,
    };
    let added = state
        .store
        .add_upload(
            &session.user,
            upload.clone(),
            finished,
            state.config.data_dir.clone(),
        )
        .await;
    denied_audited(&state, &session.user, &upload.key, added).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadResponse {
            file_url: upload.url(),
            file_name: upload.file_name,
            size: upload.size,
            content_type: upload.content_type,
        }),
    ))
}

/// `GET /api/files/{id}`: the content, for participants only (404 for anyone else, so ids
/// cannot be probed).
pub(super) async fn download(
    State(state): State<AppState>,
    Reading(session): Reading,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found("no such file");
    if !files::is_id(&id) {
        return Err(missing());
    }
    let attempt = Event::by(&session.user.id, Action::FileDownload).subject(id.clone());
    let found = match state.store.upload(&id).await? {
        Some(u) if u.visible_to(&session.user.id) => Some((u, true)),
        Some(u) => {
            let may = state.store.emergency_file_for(&session.user, &u).await?;
            Some((u, may))
        }
        None => None,
    };
    // Someone else's file is answered 404 (ids cannot be probed) but audited as DENIED.
    let upload = match found {
        Some((u, true)) => {
            audit::commit(&state.store, vec![attempt.conversation(&u.key)]).await?;
            u
        }
        Some((u, false)) => {
            let refusal = ApiError::forbidden("not a participant of this file's conversation");
            audit::refused(&state.store, attempt.conversation(&u.key).denied(&refusal)).await?;
            return Err(missing());
        }
        None => return Err(missing()),
    };
    let Some(path) = files::content_path(&state.config.data_dir, &upload.sha256) else {
        tracing::error!(name = %upload.sha256, "an upload row names no stored content");
        return Err(missing());
    };
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), "a stored upload is unreadable: {e}");
        missing()
    })?;
    let inline = upload.content_type.starts_with("image/");
    let headers = [
        (header::CONTENT_TYPE, upload.content_type.clone()),
        (header::CONTENT_LENGTH, upload.size.to_string()),
        (
            header::CONTENT_DISPOSITION,
            name::content_disposition(&upload.file_name, inline),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox".to_owned(),
        ),
        (header::CACHE_CONTROL, "private, no-store".to_owned()),
    ];
    let mut response = Body::from_stream(ReaderStream::new(file)).into_response();
    for (name, value) in headers {
        let value = HeaderValue::from_str(&value).map_err(|_| ApiError::internal("bad header"))?;
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}
