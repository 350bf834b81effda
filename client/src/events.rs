//! What the client tells a UI: connection state and a stream of events (camelCase JSON, tagged
//! by `type`), ready to be forwarded 1:1 by a desktop shell.

use crate::attention::Notice;
use crate::record::LocalMessage;
use chrono::{DateTime, Utc};
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ClientId, ClinicInfo, Emergency, EmergencyId, ErrorCode, Message, Notification, UserId,
};
use serde::{Deserialize, Serialize};

/// Where the connection is. Reported through a watch (latest value) and as
/// [`ClientEvent::Connection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ConnectionState {
    /// Not trying (before `connect`, or after `disconnect`).
    Idle,
    /// Opening the socket and authenticating; `attempt` counts since the last success, and
    /// `last_error` says why the last one failed (none on the first).
    Connecting {
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
        /// The last one failed because the server could not prove it is the paired clinic's
        /// (as [`ConnectionState::Offline`]'s).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_your_server: bool,
    },
    /// Authenticated; fetching everything since the cursor. Not yet "online".
    Syncing,
    /// Caught up and live.
    Online,
    /// The last attempt failed or the connection dropped; the next try is in `retryInMs`.
    Offline {
        attempt: u32,
        last_error: String,
        retry_in_ms: u64,
        /// The server at the address could not prove it is the paired clinic's (its pairing
        /// code changed, or something sits in between): trying again will not help until the
        /// clinic's IT says why. Kept through tries that reach no server at all (refused, timed
        /// out), which say nothing of who answers there, until one reaches a server again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_your_server: bool,
    },
    /// The server refused the token: the client stopped trying until the user logs in again.
    SignedOut { reason: String },
}

/// Events for a UI, delivered over a `tokio::sync::broadcast`: a slow receiver misses events
/// (it sees `Lagged`) and should then re-read what it shows from the cache.
// Events are built, cloned to receivers and dropped; boxing the big variants would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ClientEvent {
    /// The connection state changed, or what waits in the outbox: `queued` sends waiting to
    /// be delivered, `failed` ones parked after a refusal (waiting for a retry or discard).
    Connection {
        state: ConnectionState,
        queued: u64,
        failed: u64,
    },
    /// A message was added to the cache or changed (ack, receipt, failure): replace by
    /// `clientId` (stable from the first optimistic copy on) or by `id`.
    MessageUpserted {
        message: LocalMessage,
    },
    /// A parked send was discarded by the user: remove it (matched by sender and `clientId`).
    MessageDiscarded {
        client_id: ClientId,
        sender_id: UserId,
        patient_id: UserId,
        doctor_id: UserId,
    },
    /// The clinic's retention policy removed this conversation's messages up to `up_to_seq`
    /// and these emergencies (of any conversation a doctor holds emergencies of); they are
    /// gone from the cache too, with their downloaded files.
    HistoryPurged {
        patient_id: UserId,
        doctor_id: UserId,
        up_to_seq: i64,
        purged_at: DateTime<Utc>,
        emergency_ids: Vec<EmergencyId>,
    },
    /// A peer started or stopped typing; `typing: false` also comes after a timeout with no
    /// refresh, so a crashed peer never types forever.
    Typing {
        patient_id: UserId,
        doctor_id: UserId,
        user_id: UserId,
        typing: bool,
    },
    Presence {
        user_id: UserId,
        online: bool,
    },
    /// A doctor this user talks to changed their availability (patients show "Do not disturb"
    /// instead of "Online").
    PeerAvailability {
        user_id: UserId,
        availability: Availability,
    },
    /// To doctors: an open emergency, repeated until acknowledged.
    EmergencyAlert {
        emergency: Emergency,
        message: Message,
        repeat: u32,
        escalated: bool,
    },
    EmergencyUpdated {
        emergency: Emergency,
    },
    Notification {
        notification: Notification,
    },
    /// An attachment of one of the user's sends is uploading: `sent` of `total` bytes.
    UploadProgress {
        client_id: ClientId,
        sent: u64,
        total: u64,
    },
    /// An `error` frame not tied to one send (those become `FAILED` messages).
    ServerError {
        code: ErrorCode,
        message: String,
    },
    /// Something on this computer keeps the client from doing all it should, in a sentence
    /// (`code` is stable: `diskFull`).
    Warning {
        code: String,
        message: String,
    },
    /// What this device should ring for now (see the attention policy); empty: quiet.
    Alarm {
        alerting: bool,
        ringing: Vec<EmergencyId>,
    },
    /// A native notification to show (a click opens `notice.conversation`).
    Notify {
        notice: Notice,
    },
    /// Take the notification shown with this `tag` off the screen (its emergency was handled,
    /// its message unsent or its shown text edited, or the session ended).
    WithdrawNotice {
        tag: String,
    },
    /// Take every notification shown off the screen (the app locked: what was shown unlocked
    /// may name a patient); notices the same change asks for come after this.
    WithdrawAllNotices,
    /// This doctor's availability as the server stores it (set here, in the tray, or by the
    /// CLI on another machine).
    Availability {
        availability: Availability,
    },
    /// The clinic's settings (the emergency phone number) arrived or changed.
    Clinic {
        clinic: ClinicInfo,
    },
    /// The conversation list changed (order, unread counts, last message, emergencies): read
    /// [`crate::Client::cached_conversations`]. Several changes in a burst are told once.
    ConversationsChanged,
    /// The app lock changed (locked, unlocked, a wrong try, a new PIN or policy).
    Lock {
        status: crate::client::LockStatus,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shapes a UI parses: pinned here so a rename is a deliberate change.
    #[test]
    fn events_are_camel_case_json_tagged_by_type() {
        let event = ClientEvent::Connection {
            state: ConnectionState::Offline {
                attempt: 2,
                last_error: "refused".into(),
                retry_in_ms: 400,
                not_your_server: false,
            },
            queued: 3,
            failed: 1,
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"type": "connection", "queued": 3, "failed": 1,
                   "state": {"state": "offline", "attempt": 2, "lastError": "refused", "retryInMs": 400}})
        );
        let typing = ClientEvent::Typing {
            patient_id: "p".into(),
            doctor_id: "d".into(),
            user_id: "p".into(),
            typing: true,
        };
        assert_eq!(
            serde_json::to_value(&typing).unwrap(),
            json!({"type": "typing", "patientId": "p", "doctorId": "d", "userId": "p", "typing": true})
        );
        assert_eq!(
            serde_json::to_value(ConnectionState::Connecting {
                attempt: 1,
                last_error: None,
                not_your_server: false,
            })
            .unwrap(),
            json!({"state": "connecting", "attempt": 1})
        );
    }

    #[test]
    fn the_client_can_live_in_shared_app_state() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<crate::Client>();
        let e = crate::ClientError::NotConnected;
        assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "notConnected");
    }
}
