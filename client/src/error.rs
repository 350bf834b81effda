//! The one error type of the client core, serializable so a desktop shell can hand it to its UI.

use clinic_protocol::ErrorCode;
use serde::{Serialize, Serializer};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("local cache: {0}")]
    Cache(#[from] rusqlite::Error),
    /// The cache file is encrypted with another key than the one given.
    #[error("the local cache cannot be opened with this computer's key")]
    WrongCacheKey,
    #[error("network: {0}")]
    Http(reqwest::Error),
    /// The server could not prove it holds a certificate from the pinned clinic CA.
    #[error(
        "This is not your clinic's server (its pairing code changed): nothing was sent to it. \
         Check the server's address; if it is right, tell your clinic."
    )]
    NotYourServer,
    /// At pairing: the server presented a CA whose code is not the one the user entered.
    #[error(
        "This is not your clinic's server (its pairing code is not the one you entered): \
         nothing was sent to it. Check the address and the code on the paper from your \
         clinic; if both are right, tell your clinic."
    )]
    CodeMismatch,
    /// At a login: a code typed for a server this profile is paired with under another one. It
    /// is not taken (a code typed cannot replace a pairing: someone in between could give one);
    /// nothing is asked of the server.
    #[error(
        "This computer is paired with this server under another pairing code, so the code \
         entered is not taken: nothing was sent to it. If your clinic gave you a new code, its \
         IT must first remove the old pairing on this computer."
    )]
    PairedWithAnother,
    /// An `https://` server this profile has not paired with yet.
    #[error(
        "this server is not paired yet. Its pairing code is {code}: compare it with the code \
         your clinic gave you, then pair with that code"
    )]
    NotPaired { code: String },
    #[error(
        "the server's certificate has expired or is not valid yet (check this computer's date \
         and time; if it is right, tell the clinic's IT)"
    )]
    CertificateExpired,
    /// The typed pairing code is not one (its own sentence says why).
    #[error("{0}")]
    PairingCode(#[from] clinic_protocol::pairing::CodeError),
    #[error("server refused ({status}, {code:?}): {message}")]
    Server {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    #[error("not logged in: run login first")]
    NotLoggedIn,
    #[error("the session was refused by the server; log in again")]
    SessionExpired,
    /// The app is locked: unlock it first.
    #[error("the app is locked; unlock it with your PIN or password")]
    Locked,
    #[error("not connected to the server")]
    NotConnected,
    /// An action that needs the server's answer did not get one (the sentence says what that
    /// means for the user, e.g. that the alarm keeps ringing).
    #[error("{0}")]
    Unconfirmed(String),
    #[error("unknown contact {0:?}; sync while online to refresh contacts")]
    UnknownContact(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Too late for what was asked (a sentence for people says why).
    #[error("{0}")]
    TooLate(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("credential store: {0}")]
    Credentials(String),
    /// The profile folder is not this account's alone (see `Profile::check_private`).
    #[error(
        "The app's folder is not private: {path} ({why}). Nothing was saved there; remove it or \
         ask for help, then sign in again."
    )]
    ProfileNotPrivate { path: String, why: String },
    /// The cache was last opened by a newer version of the app, whose steps this one does not
    /// know (it would write it without them, e.g. sends without counting their writes).
    #[error(
        "This computer's message cache was last used by a newer version of Clinic Messaging \
         (cache step {found}; this version knows {known}). Install the newer version again: \
         nothing was changed."
    )]
    CacheFromNewerApp { found: i64, known: usize },
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// At login: nothing usable answered at the address (refused, unknown name, no answer in
    /// time). `why` says which, in words.
    #[error(
        "Could not reach the clinic server at {address}: {why}. Check the address and the port \
         your clinic gave you, and this computer's connection (at home, to the internet; at the \
         clinic, to its network). If both are right, the server may be down: tell the clinic."
    )]
    Unreachable { address: String, why: String },
    /// At login: something answered, but not a clinic server (e.g. a web page). Its body is
    /// never shown.
    #[error(
        "{address} answered, but it is not a clinic server. Check the address and the port \
         (a clinic server listens on port {port} unless your clinic's IT chose another).",
        port = clinic_protocol::DEFAULT_PORT
    )]
    NotClinicServer { address: String },
    /// The server answered with something no clinic server sends (a broken or hostile one, or
    /// something else at its address): larger than any answer (`why` says so), or not what
    /// the request answers. None of it was kept; like [`Self::Http`], nothing usable came back.
    #[error("The clinic server's answer could not be used ({why}). Tell the clinic's IT.")]
    BadAnswer { why: String },
    /// The user cancelled the sign-in.
    #[error("Sign-in cancelled.")]
    Cancelled,
    /// This computer's copy of an attachment does not open: damaged, cut, or kept under
    /// another key (another account's, or this one's before its cache was reset).
    #[error(
        "This computer's copy of the file cannot be read: it is damaged, or it was saved for a \
         sign-in whose key this computer no longer has."
    )]
    CopyUnreadable,
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad data: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A failed request that was really a failed identity check says so in its own words.
impl From<reqwest::Error> for ClientError {
    fn from(err: reqwest::Error) -> Self {
        crate::tls::identity_error(&err).unwrap_or(Self::Http(err))
    }
}

impl ClientError {
    /// Nothing usable came back from the server: it could not be reached, or what it answered
    /// could not be used. What is held here is then the best there is (the cache's emergencies,
    /// an offline search), and nothing asked of the server is known to have been done.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Http(_) | Self::BadAnswer { .. })
    }

    /// A short stable name for the kind of error, for UIs that branch on it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cache(_) => "cache",
            Self::WrongCacheKey => "wrongCacheKey",
            Self::Http(_) => "network",
            Self::NotYourServer => "notYourServer",
            Self::CodeMismatch => "codeMismatch",
            Self::PairedWithAnother => "pairedWithAnother",
            Self::NotPaired { .. } => "notPaired",
            Self::CertificateExpired => "certificateExpired",
            Self::PairingCode(_) => "pairingCode",
            Self::Server { .. } => "server",
            Self::NotLoggedIn => "notLoggedIn",
            Self::SessionExpired => "sessionExpired",
            Self::Locked => "locked",
            Self::NotConnected => "notConnected",
            Self::Unconfirmed(_) => "unconfirmed",
            Self::UnknownContact(_) => "unknownContact",
            Self::NotFound(_) => "notFound",
            Self::TooLate(_) => "tooLate",
            Self::Invalid(_) => "invalid",
            Self::Credentials(_) => "credentials",
            Self::ProfileNotPrivate { .. } => "profileNotPrivate",
            Self::CacheFromNewerApp { .. } => "cacheFromNewerApp",
            Self::Timeout(_) => "timeout",
            Self::Unreachable { .. } => "unreachable",
            Self::BadAnswer { .. } => "badAnswer",
            Self::NotClinicServer { .. } => "notClinicServer",
            Self::Cancelled => "cancelled",
            Self::CopyUnreadable => "copyUnreadable",
            Self::Io(_) => "io",
            Self::Json(_) => "json",
        }
    }
}

/// Serialized as `{"kind": "...", "message": "..."}` so Tauri commands can return it as is.
impl Serialize for ClientError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ClientError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// `text` as a sentence for people: a capital first letter and a full stop (the reasons the
/// client and the server give are not all written as one); none for an empty text.
pub fn sentence(text: &str) -> Option<String> {
    let text = text.trim();
    let mut chars = text.chars();
    let first = chars.next()?;
    let mut sentence: String = first.to_uppercase().chain(chars).collect();
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    Some(sentence)
}

#[cfg(test)]
mod sentence_tests {
    use super::sentence;

    #[test]
    fn reasons_are_shown_as_sentences() {
        let rebuilding = "The search index is being rebuilt (40% done). Try again in a minute.";
        assert_eq!(sentence(rebuilding).as_deref(), Some(rebuilding));
        assert_eq!(
            sentence(" the server is shutting down ").as_deref(),
            Some("The server is shutting down.")
        );
        assert_eq!(sentence("  ").as_deref(), None);
    }
}
