//! Errors: `ApiError` is what a client is told (mapped once to an HTTP status + `ErrorBody`, or to
//! an `error` frame); `ServerError` is what `run` returns when the server cannot start or stops
//! abnormally.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinic_protocol::{ErrorBody, ErrorCode};
use std::time::Duration;

/// Why `run` failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot prepare the data folder {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} holds no clinic database: check --data-dir, put a backup in place with \
         `clinic-server --data-dir {path} restore FILE`, or start a new, empty clinic there with \
         `init` (or `serve --init`)"
    )]
    NoDatabase { path: std::path::PathBuf },
    #[error(
        "the database {path} is damaged ({detail}); the server will not serve it. Restore the \
         latest backup with `clinic-server --data-dir DIR restore FILE`"
    )]
    Damaged {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("another clinic-server is using the data folder {path}; stop it first")]
    InUse { path: std::path::PathBuf },
    #[error(
        "{file} cannot be opened or made: run this command as the owner of the data folder \
         {path} (for the packaged server: sudo -u clinic clinic-server ...); if you are its owner \
         and the file was left by another account: `sudo chown --reference='{path}' '{file}'`"
    )]
    NotOwner {
        path: std::path::PathBuf,
        file: std::path::PathBuf,
    },
    #[error(
        "a restore is running in the data folder {path}; run this command again once it has \
         finished"
    )]
    Restoring { path: std::path::PathBuf },
    #[error(
        "another clinic-server command (a backup, `user`, `audit`, ...) is using the data folder \
         {path}; restore once it has finished"
    )]
    CommandRunning { path: std::path::PathBuf },
    /// A restore was interrupted while it moved databases (the sentence says what to do).
    #[error("{0}")]
    RestoreInterrupted(String),
    #[error(
        "{path} is another program's database (it holds {tables}), not a clinic's: check \
         --data-dir; nothing was changed"
    )]
    NotClinicDatabase {
        path: std::path::PathBuf,
        tables: String,
    },
    #[error(
        "the database {path} was made by a newer clinic-server (schema {found}; this one knows up \
         to {known}): run that version again, or restore a backup this one made; nothing was \
         changed"
    )]
    NewerSchema {
        path: std::path::PathBuf,
        found: i64,
        known: usize,
    },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// An error a client is told about: a stable code plus a message for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// For `rate_limited`: when to try again (becomes `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TooLarge, message)
    }

    pub fn rate_limited(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorCode::RateLimited, "too many requests; slow down")
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::RequestTimeout, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::BadRequest | ErrorCode::UnknownEvent | ErrorCode::Unknown => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::TooLate | ErrorCode::StaleVersion => {
                StatusCode::CONFLICT
            }
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code, self.message.clone())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> Self {
        // The details go to the log, not to the client.
        tracing::error!(error = %err, "database error");
        Self::internal("database error")
    }
}

/// The one place a storage error becomes what a client is told.
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match err {
            E::NotFound(message) => Self::not_found(message),
            E::Forbidden(message) => Self::forbidden(message),
            E::Conflict(message) => Self::conflict(message),
            E::TooLate(message) => Self::new(ErrorCode::TooLate, message),
            E::Stale(message) => Self::new(ErrorCode::StaleVersion, message),
            E::BadInput(message) => Self::bad_request(message),
            E::TooLarge(message) => Self::too_large(message),
            E::Unavailable(message) => Self::unavailable(message),
            E::Internal(message) => Self::internal(message),
            E::Database(err) => err.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(wait) = self.retry_after {
            // Rounded up: a client that waits exactly this long must not be refused again.
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(wait: Duration) -> Option<String> {
        let response = ApiError::rate_limited(wait).into_response();
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn store_errors_keep_their_sentence_and_get_their_code() {
        use crate::store::StoreError as E;
        let cases = [
            (E::not_found("a"), ErrorCode::NotFound),
            (E::forbidden("b"), ErrorCode::Forbidden),
            (E::conflict("c"), ErrorCode::Conflict),
            (E::TooLate("d".into()), ErrorCode::TooLate),
            (E::Stale("e".into()), ErrorCode::StaleVersion),
            (E::bad_input("f"), ErrorCode::BadRequest),
            (E::too_large("g"), ErrorCode::TooLarge),
            (E::unavailable("h"), ErrorCode::Unavailable),
            (E::internal("i"), ErrorCode::Internal),
        ];
        for (err, code) in cases {
            let sentence = err.to_string();
            let api = ApiError::from(err);
            assert_eq!((api.code, api.message), (code, sentence));
            assert_eq!(api.retry_after, None);
        }
        // The database's own words stay in the log; the client reads the generic sentence.
        let failed = ApiError::from(E::from(rusqlite::Error::InvalidQuery));
        assert_eq!(
            (failed.code, failed.message.as_str()),
            (ErrorCode::Internal, "database error")
        );
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        assert_eq!(
            retry_after(Duration::from_millis(1500)).as_deref(),
            Some("2")
        );
        assert_eq!(retry_after(Duration::from_secs(2)).as_deref(), Some("2"));
        assert_eq!(retry_after(Duration::from_millis(10)).as_deref(), Some("1"));
        assert_eq!(retry_after(Duration::ZERO).as_deref(), Some("1"));
    }
}
