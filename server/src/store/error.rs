//! `StoreError`: what the storage boundary reports. Each refusal carries the sentence a person
//! reads; `crate::error` maps it to the client's `ApiError` (and its code) in one place, so a
//! store behind another database reports the same things the same way.

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// What the caller named does not exist (for them).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (not a participant, wrong role).
    #[error("{0}")]
    Forbidden(String),
    /// The change contradicts what is stored (already resolved, already taken, too many edits).
    #[error("{0}")]
    Conflict(String),
    /// The time allowed for this change has passed.
    #[error("{0}")]
    TooLate(String),
    /// The change was made against an older version of what is stored.
    #[error("{0}")]
    Stale(String),
    /// The request itself is malformed (empty, control characters, unknown values).
    #[error("{0}")]
    BadInput(String),
    /// Something in the request is longer or more numerous than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The store cannot take the operation now (busy, stopping, a failed commit, the audit log
    /// unwritable, a search cut off): worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// The store found itself inconsistent or could not finish its own work.
    #[error("{0}")]
    Internal(String),
    /// The database itself failed; the details are for the log, never for the client.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    pub(crate) fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::TooLarge(message.into())
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}
