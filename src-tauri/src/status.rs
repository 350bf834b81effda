//! What the UI is told about the connection and the session: the client core's state mapped to
//! the `connection` and `session` events of docs/desktop-api.md.

use clinic_client::{Client, ConnectionState};
use clinic_protocol::User;
use serde::Serialize;

/// The connection as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ConnectionStatus {
    /// `online`, `connecting` or `offline`.
    #[cfg_attr(test, ts(type = "'online' | 'connecting' | 'offline'"))]
    pub state: &'static str,
    /// Reconnect attempt since the link was lost (absent on the first connect).
    pub attempt: Option<u32>,
    /// Sends waiting to be delivered.
    #[cfg_attr(test, ts(type = "number"))]
    pub queued: u64,
    /// Sends parked after a refusal, waiting for Retry or Discard.
    #[cfg_attr(test, ts(type = "number"))]
    pub failed: u64,
    pub last_error: Option<String>,
    /// The last try failed because the server at the address could not prove it is the paired
    /// clinic's (its pairing code changed, or something sits in between): the badge says so.
    pub not_your_server: bool,
}

impl ConnectionStatus {
    pub fn offline() -> Self {
        Self {
            state: "offline",
            attempt: None,
            queued: 0,
            failed: 0,
            last_error: None,
            not_your_server: false,
        }
    }

    /// The client's state and outbox as they are now.
    pub fn of(client: &Client) -> Self {
        let failed = client.failed_count().unwrap_or_else(|e| {
            tracing::warn!("cannot count the parked sends: {e}");
            0
        });
        Self::from_client(&client.state(), client.queued(), failed)
    }

    pub fn from_client(state: &ConnectionState, queued: u64, failed: u64) -> Self {
        let (state, attempt, last_error, not_your_server) = match state {
            ConnectionState::Online => ("online", None, None, false),
            ConnectionState::Syncing => ("connecting", None, None, false),
            ConnectionState::Connecting {
                attempt,
                last_error,
                not_your_server,
            } => (
                "connecting",
                (*attempt > 0).then_some(*attempt),
                last_error.clone(),
                *not_your_server,
            ),
            ConnectionState::Offline {
                attempt,
                last_error,
                not_your_server,
                ..
            } => (
                "offline",
                Some(*attempt),
                Some(last_error.clone()),
                *not_your_server,
            ),
            ConnectionState::Idle => ("offline", None, None, false),
            ConnectionState::SignedOut { reason } => ("offline", None, Some(reason.clone()), false),
        };
        Self {
            state,
            attempt,
            queued,
            failed,
            last_error,
            not_your_server,
        }
    }
}

/// Who is signed in where (the token never reaches the UI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SessionInfo {
    pub server_url: String,
    pub user: User,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_the_three_the_ui_knows() {
        let s = ConnectionStatus::from_client(&ConnectionState::Online, 2, 1);
        assert_eq!((s.state, s.queued, s.failed), ("online", 2, 1));
        let trying = |attempt, last_error: Option<&str>| ConnectionState::Connecting {
            attempt,
            last_error: last_error.map(str::to_owned),
            not_your_server: false,
        };
        let s =
            ConnectionStatus::from_client(&trying(3, Some("The server stopped answering.")), 0, 0);
        assert_eq!((s.state, s.attempt), ("connecting", Some(3)));
        assert_eq!(
            s.last_error.as_deref(),
            Some("The server stopped answering.")
        );
        let s = ConnectionStatus::from_client(&trying(0, None), 0, 0);
        assert_eq!((s.attempt, s.last_error), (None, None));
        let s = ConnectionStatus::from_client(
            &ConnectionState::Offline {
                attempt: 1,
                last_error: "refused".into(),
                retry_in_ms: 500,
                not_your_server: false,
            },
            5,
            0,
        );
        assert_eq!(
            (s.state, s.last_error.as_deref(), s.queued),
            ("offline", Some("refused"), 5)
        );
        assert!(!s.not_your_server);
        // Not the paired clinic's server: told apart, also while the next try is under way.
        let s = ConnectionStatus::from_client(
            &ConnectionState::Connecting {
                attempt: 2,
                last_error: Some("This is not your clinic's server".into()),
                not_your_server: true,
            },
            0,
            0,
        );
        assert!(s.not_your_server);
        let json = serde_json::to_value(ConnectionStatus::offline()).expect("json");
        assert_eq!(json["state"], "offline");
        assert!(json.get("lastError").is_some());
    }
}
