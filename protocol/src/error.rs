//! The one error shape of the wire: `{code, message}` in a REST body and in an `error` frame.

use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes. Clients branch on these; `message` is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request or frame is malformed (bad JSON, missing or invalid field).
    BadRequest,
    /// A WebSocket frame had an unknown `type`.
    UnknownEvent,
    /// No valid credentials (bad password, unknown, expired or revoked token).
    Unauthorized,
    /// Authenticated, but not allowed: not a participant, wrong role, disabled account.
    Forbidden,
    /// The thing named does not exist (or the caller may not know it exists).
    NotFound,
    /// The request conflicts with current state (e.g. resolving a resolved emergency).
    Conflict,
    /// A frame, body, field or file is over its limit.
    TooLarge,
    /// The window for unsending, retracting or editing that message has passed (HTTP 409; the
    /// message says when it ended).
    TooLate,
    /// An edit named a `baseVersion` that is no longer the message's version (HTTP 409): fetch
    /// the message and edit what is there now.
    StaleVersion,
    /// A file's content is not an allowed type.
    UnsupportedMediaType,
    /// A request body did not arrive in time (a stalled or very slow line); sending it again
    /// may succeed.
    RequestTimeout,
    /// Too many requests; slow down.
    RateLimited,
    /// Something failed on the server; the request may be retried.
    Internal,
    /// The server is shutting down or overloaded; retry later.
    Unavailable,
    /// A code this build does not know (a newer peer).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire name (`bad_request`, `too_large`, ...), the same string serde writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnknownEvent => "unknown_event",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::TooLarge => "too_large",
            Self::TooLate => "too_late",
            Self::StaleVersion => "stale_version",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RequestTimeout => "request_timeout",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
        }
    }

    /// True when retrying the same request later may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Internal | Self::Unavailable | Self::RateLimited | Self::RequestTimeout
        )
    }
}

/// The body of every REST error response, and the fields of the WebSocket `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
