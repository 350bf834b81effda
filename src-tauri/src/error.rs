//! The one error type of the Tauri commands: `{code, message}` with stable codes the UI branches
//! on (the protocol's error codes plus the desktop's own), mapped once from the client core.

use clinic_client::ClientError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
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
            | ClientError::NotConnected
            | ClientError::Timeout(_)
            | ClientError::Unconfirmed(_) => "network",
            ClientError::NotLoggedIn => "not_logged_in",
            ClientError::SessionExpired => "unauthorized",
            ClientError::UnknownContact(_) | ClientError::NotFound(_) => "not_found",
            ClientError::Invalid(_) => "bad_request",
            ClientError::Credentials(_) => "keyring",
            ClientError::Io(_) => "io",
            ClientError::Cache(_) | ClientError::Json(_) => "internal",
            ClientError::NotYourServer | ClientError::CodeMismatch => "not_your_server",
            ClientError::NotPaired { .. } => "not_paired",
            ClientError::CertificateExpired => "certificate_expired",
            ClientError::PairingCode(_) => "bad_request",
        };
        let message = match &e {
            // People read this on the login screen: say it plainly.
            ClientError::Server {
                code: clinic_protocol::ErrorCode::Unauthorized,
                ..
            } => "wrong username or password".to_owned(),
            ClientError::Http(_) => "Cannot reach the clinic server.".to_owned(),
            // The server's own sentence (e.g. "Dr. X already took it."), not our wrapping.
            ClientError::Server { message, .. } => message.clone(),
            _ => e.to_string(),
        };
        Self { code, message }
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
            ("unauthorized", "wrong username or password")
        );
        let json = serde_json::to_value(CommandError::new("io", "disk full")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"code": "io", "message": "disk full"})
        );
    }
}
