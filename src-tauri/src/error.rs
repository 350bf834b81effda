//! The one error type of the Tauri commands: `{code, message}` with stable codes the UI branches
//! on (the protocol's error codes plus the desktop's own), mapped once from the client core.

use clinic_client::ClientError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
    /// With `not_paired`: the server's pairing code, for the user to compare with the one the
    /// clinic gave them on paper (the UI words its own sentence around it).
    #[serde(rename = "serverCode", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(rename = "serverCode", optional))]
    pub server_code: Option<String>,
}

impl CommandError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            server_code: None,
        }
    }

    pub fn not_logged_in() -> Self {
        Self::new("not_logged_in", "not logged in")
    }
}

/// The code the UI branches on for a protocol error code (an unknown one counts as internal).
fn protocol_code(code: clinic_protocol::ErrorCode) -> &'static str {
    use clinic_protocol::ErrorCode as C;
    match code {
        C::UnknownEvent => "bad_request",
        C::Unknown => "internal",
        known => known.as_str(),
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Server { code, .. } => protocol_code(*code),
            ClientError::Http(_)
            | ClientError::Unreachable { .. }
            | ClientError::NotConnected
            | ClientError::Timeout(_)
            | ClientError::BadAnswer { .. }
            | ClientError::Unconfirmed(_) => "network",
            ClientError::NotLoggedIn => "not_logged_in",
            ClientError::SessionExpired => "unauthorized",
            ClientError::UnknownContact(_) | ClientError::NotFound(_) => "not_found",
            ClientError::Invalid(_) => "bad_request",
            ClientError::TooLate(_) => "too_late",
            ClientError::Credentials(_) => "keyring",
            ClientError::Io(_) | ClientError::CopyUnreadable => "io",
            ClientError::Cache(_) | ClientError::Json(_) | ClientError::WrongCacheKey => "internal",
            ClientError::Locked => "locked",
            ClientError::NotYourServer
            | ClientError::CodeMismatch
            | ClientError::PairedWithAnother => "not_your_server",
            ClientError::NotPaired { .. } => "not_paired",
            ClientError::CertificateExpired => "certificate_expired",
            ClientError::PairingCode(_) => "bad_request",
            ClientError::NotClinicServer { .. } => "not_clinic_server",
            ClientError::Cancelled => "cancelled",
            ClientError::ProfileNotPrivate { .. } => "profile_not_private",
            ClientError::CacheFromNewerApp { .. } => "cache_from_newer_app",
        };
        let message = match &e {
            // People read this on the login screen: say it plainly.
            ClientError::Server {
                code: clinic_protocol::ErrorCode::Unauthorized,
                ..
            } => "Wrong username or password.".to_owned(),
            ClientError::Http(_) => "Cannot reach the clinic server.".to_owned(),
            // The server's own sentence (e.g. "Dr. X already took it."), not our wrapping.
            ClientError::Server { message, .. } => message.clone(),
            // Why the client refused, as a sentence, without the "invalid input:" or "not
            // found:" a log needs.
            ClientError::Invalid(why) | ClientError::NotFound(why) => {
                clinic_client::error::sentence(why).unwrap_or_else(|| e.to_string())
            }
            _ => e.to_string(),
        };
        let server_code = match &e {
            ClientError::NotPaired { code } => Some(code.clone()),
            _ => None,
        };
        Self {
            code,
            message,
            server_code,
        }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        Self::new("io", e.to_string())
    }
}

pub type CmdResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_map_to_stable_codes() {
        let e: CommandError = ClientError::NotLoggedIn.into();
        assert_eq!(e.code, "not_logged_in");
        let e: CommandError = ClientError::Invalid("a message needs some text".into()).into();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("bad_request", "A message needs some text.")
        );
        let e: CommandError =
            ClientError::NotFound("no doctor of the clinic is known to this app yet".into()).into();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "not_found",
                "No doctor of the clinic is known to this app yet."
            )
        );
        let e: CommandError = ClientError::Server {
            status: 403,
            code: clinic_protocol::ErrorCode::Forbidden,
            message: "not yours".into(),
        }
        .into();
        assert_eq!(e.code, "forbidden");
        let e: CommandError = ClientError::Server {
            status: 401,
            code: clinic_protocol::ErrorCode::Unauthorized,
            message: "bad".into(),
        }
        .into();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("unauthorized", "Wrong username or password.")
        );
        let e: CommandError = ClientError::NotPaired {
            code: "ABCD-EFGH".into(),
        }
        .into();
        assert_eq!(
            (e.code, e.server_code.as_deref()),
            ("not_paired", Some("ABCD-EFGH"))
        );
        assert_eq!(
            serde_json::to_value(&e).expect("json")["serverCode"],
            "ABCD-EFGH"
        );
        let e: CommandError = ClientError::NotYourServer.into();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "not_your_server",
                "This is not your clinic's server (its pairing code changed): nothing was sent to \
                 it. Check the server's address; if it is right, tell your clinic."
            )
        );
        let json = serde_json::to_value(CommandError::new("io", "disk full")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"code": "io", "message": "disk full"})
        );
    }
}
