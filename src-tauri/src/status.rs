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
}

impl ConnectionStatus {
    pub fn offline() -> Self {
        Self {
            state: "offline",
            attempt: None,
            queued: 0,
            failed: 0,
            last_error: None,
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
        let (state, attempt, last_error) = match state {
            ConnectionState::Online => ("online", None, None),
            ConnectionState::Syncing => ("connecting", None, None),
            ConnectionState::Connecting {
                attempt,
                last_error,
            } => (
                "connecting",
                (*attempt > 0).then_some(*attempt),
                last_error.clone(),
            ),
            ConnectionState::Offline {
                attempt,
                last_error,
                ..
            } => ("offline", Some(*attempt), Some(last_error.clone())),
            ConnectionState::Idle => ("offline", None, None),
            ConnectionState::SignedOut { reason } => ("offline", None, Some(reason.clone())),
        };
        Self {
            state,
            attempt,
            queued,
            failed,
            last_error,
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
        let json = serde_json::to_value(ConnectionStatus::offline()).expect("json");
        assert_eq!(json["state"], "offline");
        assert!(json.get("lastError").is_some());
    }
}
