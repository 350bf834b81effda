//! What the shell tells the UI: the snapshot a subscription starts with, then the events that
//! follow on its channel. These types (and the client core's that they carry) are exported to
//! TypeScript by `bindings.rs` into `ui/src/generated/bindings.ts`, never copied by hand.

use crate::settings::Settings;
use crate::status::{ConnectionStatus, SessionInfo};
use chrono::{DateTime, Utc};
use clinic_client::{LocalMessage, LockStatus};
use clinic_protocol::ws::Availability;
use clinic_protocol::{ClientId, ClinicInfo, Conversation, Emergency, EmergencyId, UserId};
use serde::Serialize;

/// Whether one of this device's outputs works, as far as the alarm knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum DeviceState {
    /// The last attempt worked.
    Works,
    /// The last attempt failed (no sound device, no notification service).
    Missing,
    /// Not tried yet (the sound device opens on the first ring or chime).
    Untested,
}

/// An answer the desktop session gave, or `Unknown` where it offers no way to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Known {
    Yes,
    No,
    Unknown,
}

/// What this device can do to get a doctor's attention: shown in the app, and the answer of
/// the test alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DeviceCheck {
    pub sound: DeviceState,
    pub notifications: DeviceState,
    /// The notification server holds notifications back (the desktop's do-not-disturb).
    pub notifications_suppressed: Known,
    /// A tray host (StatusNotifierWatcher) shows the app's tray icon.
    pub tray_host: Known,
}

/// Everything the UI shows, as it is now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Snapshot {
    /// `None` on first run or after logout (the UI shows the login screen).
    pub session: Option<SessionInfo>,
    /// While signed out: why the last session ended, when it did not end by her own "Log out"
    /// (the login screen says it, after a reload or a restart too); `None` once another starts.
    pub ended: Option<String>,
    /// While signed out: the server this profile last signed in to, for the sign-in form.
    pub last_server: Option<String>,
    pub connection: ConnectionStatus,
    pub settings: Settings,
    /// The doctor's availability as the server stores it.
    pub availability: Availability,
    /// In the order to show: doctors see open emergencies first; then most recent; then the
    /// contacts not talked to yet. Unread counts included.
    pub conversations: Vec<Conversation>,
    /// Emergencies not resolved.
    pub emergencies: Vec<Emergency>,
    /// Emergencies this device rings for now.
    pub ringing: Vec<EmergencyId>,
    /// The app lock (`None` when signed out). While locked the snapshot carries no
    /// conversations, and emergencies only of a patient's own open ones (the lock itself tells
    /// of her emergency not sent yet, without its text): nothing of a message reaches the page.
    pub lock: Option<LockStatus>,
    /// The clinic's settings (its emergency phone number), as last heard from the server.
    pub clinic: Option<ClinicInfo>,
    /// Whether this device can ring and notify.
    pub device: DeviceCheck,
}

/// One change, in the order it happened.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum UiEvent {
    /// The whole state again (a session started, or the shell fell behind).
    Snapshot {
        snapshot: Snapshot,
    },
    Connection {
        status: ConnectionStatus,
    },
    /// A message was added or changed: merge by `id`, else by (`senderId`, `clientId`).
    Message {
        message: LocalMessage,
    },
    /// A parked send was discarded: remove it.
    MessageDiscarded {
        client_id: ClientId,
        sender_id: UserId,
        patient_id: UserId,
        doctor_id: UserId,
    },
    /// The clinic's retention policy removed this conversation's messages up to `up_to_seq`:
    /// drop them and say where the history now starts; drop these emergencies too (of any
    /// conversation: doctors hold every emergency).
    HistoryPurged {
        patient_id: UserId,
        doctor_id: UserId,
        #[cfg_attr(test, ts(type = "number"))]
        up_to_seq: i64,
        purged_at: DateTime<Utc>,
        emergency_ids: Vec<EmergencyId>,
    },
    /// The conversation list, replaced whole (order and unread counts are the core's).
    Conversations {
        conversations: Vec<Conversation>,
    },
    /// `typing: false` also comes when a peer's indicator times out.
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
    /// A doctor the user talks to changed their availability (shown to patients).
    PeerAvailability {
        user_id: UserId,
        availability: Availability,
    },
    /// An emergency raised, repeated or changed (with its message when an alert carried it).
    Emergency {
        emergency: Emergency,
        message: Option<LocalMessage>,
    },
    /// What this device rings for now.
    Alarm {
        alerting: bool,
        ringing: Vec<EmergencyId>,
    },
    Availability {
        availability: Availability,
    },
    /// The clinic's settings arrived or changed.
    Clinic {
        clinic: ClinicInfo,
    },
    /// What this device can do changed (found out on a ring, a chime or a notification).
    Device {
        device: DeviceCheck,
    },
    UploadProgress {
        client_id: ClientId,
        #[cfg_attr(test, ts(type = "number"))]
        sent: u64,
        #[cfg_attr(test, ts(type = "number"))]
        total: u64,
    },
    /// The session ended outside the UI (`reason` is shown on the login screen).
    Session {
        session: Option<SessionInfo>,
        reason: Option<String>,
    },
    /// Show this conversation (a notification or the tray's "open" was clicked).
    OpenConversation {
        patient_id: UserId,
        doctor_id: UserId,
    },
    /// The app lock changed. While locked no message, list or emergency text is sent to the
    /// page; after unlocking a snapshot follows.
    Lock {
        status: LockStatus,
    },
    /// The server refused something that was not a send (those park on their bubble).
    Notice {
        code: String,
        message: String,
    },
}
