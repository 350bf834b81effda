//! The domain records that travel on the wire: users, messages, conversations, emergencies,
//! notifications.

use crate::ids::{ClientId, EmergencyId, MessageId, NotificationId, Seq, UserId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What an account is. Serialized upper-case like the seed's enums; lower-case is accepted too.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    #[serde(alias = "patient")]
    Patient,
    #[serde(alias = "doctor")]
    Doctor,
    #[serde(alias = "admin")]
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "PATIENT",
            Self::Doctor => "DOCTOR",
            Self::Admin => "ADMIN",
        }
    }
}

/// The signed-in user, as returned by login and `authenticated`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub role: Role,
}

/// Another person one can talk to: a doctor for a patient, a patient for a doctor.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub role: Role,
    /// Patients only, and only shown to doctors.
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    /// Whole years, derived from `dateOfBirth`.
    #[serde(default)]
    pub age: Option<u32>,
    #[serde(default)]
    pub blood_group: Option<String>,
    #[serde(default)]
    pub online: bool,
    /// A doctor's stored availability (`DO_NOT_DISTURB` shows instead of "Online"); absent for
    /// patients and from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub availability: Option<crate::ws::Availability>,
}

/// A conversation is the pair (patient, doctor); there is exactly one per pair.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationKey {
    pub patient_id: UserId,
    pub doctor_id: UserId,
}

impl ConversationKey {
    pub fn new(patient_id: impl Into<UserId>, doctor_id: impl Into<UserId>) -> Self {
        Self {
            patient_id: patient_id.into(),
            doctor_id: doctor_id.into(),
        }
    }

    /// True when `user` is one of the two participants.
    pub fn has_participant(&self, user: &UserId) -> bool {
        &self.patient_id == user || &self.doctor_id == user
    }

    /// The participant who is not `user`.
    pub fn other(&self, user: &UserId) -> &UserId {
        if &self.patient_id == user {
            &self.doctor_id
        } else {
            &self.patient_id
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MessageType {
    Regular,
    Emergency,
    File,
    System,
}

/// `SENT`, `DELIVERED` and `READ` come from the server; `SENDING` and `FAILED` exist only in a
/// client's cache, for a message still in its outbox or refused for good.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MessageStatus {
    Failed,
    Sending,
    Sent,
    Delivered,
    Read,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::Sending => "SENDING",
            Self::Sent => "SENT",
            Self::Delivered => "DELIVERED",
            Self::Read => "READ",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "FAILED" => Self::Failed,
            "SENDING" => Self::Sending,
            "SENT" => Self::Sent,
            "DELIVERED" => Self::Delivered,
            "READ" => Self::Read,
            _ => return None,
        })
    }
}

/// A stored message.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: MessageId,
    /// Server-assigned order: a later message has a larger `seq`.
    pub seq: Seq,
    pub client_id: ClientId,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub sender_id: UserId,
    pub content: String,
    pub message_type: MessageType,
    pub status: MessageStatus,
    #[serde(default)]
    pub file_url: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub file_type: Option<String>,
    pub is_emergency: bool,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub read_at: Option<DateTime<Utc>>,
    /// Set once the sender unsent (patient) or retracted (doctor) the message: `content` is
    /// empty and the file fields are gone. Absent while the message stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub retracted: Option<Tombstone>,
    /// Set once the sender edited the message: when, and which version `content` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub edited: Option<Edited>,
    /// When the sender wrote the message, set only when it waited on their device (offline)
    /// for more than [`crate::limits::WRITTEN_APART_MS`] before the server took it at
    /// `createdAt`: the server's clock less the `heldMs` the send said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub written_at: Option<DateTime<Utc>>,
}

/// Who took a message back, and when ("Message unsent by NAME at TIME"). Only the sender can,
/// so `by` is always the message's `senderId`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// The last edit of a message ("edited TIME"). The text as first sent is version 1.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edited {
    pub at: DateTime<Utc>,
    /// The version `content` is: 2 after the first edit.
    pub version: u32,
}

impl Message {
    /// The version of `content` (1 until the first edit): what `baseVersion` of an edit names.
    pub fn version(&self) -> u32 {
        self.edited.map_or(1, |e| e.version)
    }

    /// True once the sender unsent or retracted it.
    pub fn is_retracted(&self) -> bool {
        self.retracted.is_some()
    }

    pub fn conversation(&self) -> ConversationKey {
        ConversationKey {
            patient_id: self.patient_id.clone(),
            doctor_id: self.doctor_id.clone(),
        }
    }
}

/// A message to be sent: the body of `POST /api/chat/messages` and of the `message:send` frame.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    /// Required over WebSocket; over REST the server makes one when it is missing.
    #[serde(default)]
    pub client_id: Option<ClientId>,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub content: String,
    #[serde(default)]
    pub is_emergency: bool,
    #[serde(default)]
    pub file_url: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    /// How long the message waited on the sender's device before this send, in milliseconds:
    /// the device's clock against itself, so a clock that is merely wrong does not move it (one
    /// corrected while the message waits moves it by the correction). The server turns it into
    /// the message's `writtenAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub held_ms: Option<u64>,
}

/// One entry of `GET /api/chat/conversations`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub patient_id: UserId,
    pub doctor_id: UserId,
    /// The participant who is not the caller (with age and blood group when it is a patient).
    pub other_party: Contact,
    #[serde(default)]
    pub last_message: Option<Message>,
    /// Messages addressed to the caller and not yet read.
    pub unread_count: u32,
    /// True while the conversation has an emergency that is not resolved.
    pub has_emergency: bool,
    /// The most recent open emergency, if any.
    #[serde(default)]
    pub emergency: Option<Emergency>,
}

/// Where an emergency is in its life: raised -> acknowledged -> resolved.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EmergencyState {
    Raised,
    Acknowledged,
    Resolved,
}

impl EmergencyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raised => "RAISED",
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// An emergency raised by a patient's emergency message; closed-loop until resolved.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Emergency {
    pub id: EmergencyId,
    pub message_id: MessageId,
    pub patient_id: UserId,
    pub patient_name: String,
    pub doctor_id: UserId,
    pub state: EmergencyState,
    /// When the clinic received the message that raised it (that message's `createdAt`).
    pub raised_at: DateTime<Utc>,
    /// When the patient wrote that message, set only when it waited on their device (offline)
    /// before reaching the clinic: that message's `writtenAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub written_at: Option<DateTime<Utc>>,
    /// When the clinic received the press that last reopened it (a press after a doctor had
    /// taken it): its repeats and escalation count from then. Absent when never reopened, and
    /// from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub reopened_at: Option<DateTime<Utc>>,
    /// Set once no doctor acknowledged within the escalation timeout.
    #[serde(default)]
    pub escalated_at: Option<DateTime<Utc>>,
    /// When the alert was first queued to a doctor's device: the patient's "received".
    #[serde(default)]
    pub alerted_at: Option<DateTime<Utc>>,
    /// How many different doctors the alert has reached so far.
    #[serde(default)]
    pub alerted_doctors: u32,
    #[serde(default)]
    pub acknowledged_by: Option<UserId>,
    #[serde(default)]
    pub acknowledged_by_name: Option<String>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolved_by: Option<UserId>,
    /// The name of the doctor who resolved it (absent until resolved, and from older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub resolved_by_name: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolution_note: Option<String>,
}

impl Emergency {
    /// Since when it has waited for a doctor: its reopening, else its raise.
    pub fn waiting_since(&self) -> DateTime<Utc> {
        self.reopened_at.unwrap_or(self.raised_at)
    }
}

/// One step in an emergency's recorded history.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TransitionKind {
    /// The patient's emergency message was stored.
    Raised,
    /// The alert was first queued to this doctor's devices.
    Alerted,
    /// A doctor took it ("I'm on it").
    Acknowledged,
    /// Nobody acknowledged in time: every doctor (also on do-not-disturb) and the server alarm.
    Escalated,
    Resolved,
    #[serde(other)]
    Other,
}

/// Who moved an emergency along, and when; stored in the same transaction as the change.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyTransition {
    pub kind: TransitionKind,
    /// The patient (raised), the doctor (alerted, acknowledged, resolved); none for escalation.
    #[serde(default)]
    pub actor_id: Option<UserId>,
    #[serde(default)]
    pub actor_name: Option<String>,
    /// For `ALERTED`: how many of the doctor's devices (sockets) the alert was queued to.
    #[serde(default)]
    pub devices: Option<u32>,
    /// For `RESOLVED`: the resolution note.
    #[serde(default)]
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    NewMessage,
    Emergency,
    EmergencyUpdate,
    #[serde(other)]
    Other,
}

/// An in-app notification, persisted for its recipient and pushed live.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: NotificationId,
    pub user_id: UserId,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub message_id: Option<MessageId>,
    #[serde(default)]
    pub patient_id: Option<UserId>,
    #[serde(default)]
    pub doctor_id: Option<UserId>,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

/// What the clinic tells every client when it signs in (set by clinic IT on the server): where a
/// patient should turn when the app cannot get them help in time.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClinicInfo {
    /// The phone number to call in an emergency (e.g. "112" or the clinic's emergency line);
    /// none when IT did not set one.
    #[serde(default)]
    pub emergency_phone: Option<String>,
    /// How often an emergency nobody acknowledged is alerted again, in seconds: after this long
    /// without an acknowledgement the patient is told nobody has answered yet.
    pub emergency_repeat_secs: u32,
    /// How long senders may unsend, retract and edit (absent from older servers, which allow
    /// none of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub message_windows: Option<MessageWindows>,
    /// The largest attachment the server takes, in bytes (`serve --max-upload-bytes`; absent
    /// from older servers, which take [`crate::limits::DEFAULT_MAX_UPLOAD_BYTES`]). Apps check
    /// a file against it before queueing it and fetch no larger file than it allows (up to
    /// [`crate::limits::MAX_ATTACHMENT_BYTES`], whatever a server says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub max_upload_bytes: Option<u64>,
}

impl ClinicInfo {
    /// The largest attachment an app of this clinic sends: the server's, bounded by
    /// [`crate::limits::MAX_ATTACHMENT_BYTES`].
    pub fn upload_limit(info: Option<&Self>) -> u64 {
        info.and_then(|c| c.max_upload_bytes)
            .unwrap_or(crate::limits::DEFAULT_MAX_UPLOAD_BYTES)
            .min(crate::limits::MAX_ATTACHMENT_BYTES)
    }
}

/// The clinic's windows for taking back and correcting a message (`serve --unsend-hours`,
/// `--retract-minutes`, `--edit-hours`, `--max-edits`). Emergency messages never change; a
/// misdirected message can be retracted at any age with a reason.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageWindows {
    /// A patient may unsend their message this long after sending it (default 24 h).
    pub unsend_secs: u32,
    /// A doctor may retract their message this long after sending it (default 15 min); later
    /// they correct it by editing.
    pub retract_secs: u32,
    /// Either may edit their message this long after sending it (default 24 h).
    pub edit_secs: u32,
    /// Edits per message (default 10).
    pub max_edits: u32,
}

impl MessageWindows {
    /// How long `role` may take back their own message, in seconds.
    pub fn retract_secs_for(&self, role: Role) -> u32 {
        match role {
            Role::Patient => self.unsend_secs,
            _ => self.retract_secs,
        }
    }
}

/// One version of a message's text, oldest first in `GET /api/chat/messages/{id}/versions`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageVersion {
    /// 1 for the text as first sent.
    pub version: u32,
    pub content: String,
    /// When this version was written (sent, or edited to).
    pub at: DateTime<Utc>,
}

/// The clinic's lock policy (`serve --lock-shared-minutes`, `--lock-personal-minutes`): the
/// longest time without input before the app locks, in seconds, on a computer several people use
/// and on one person's own. Users may only shorten it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockPolicy {
    pub shared_idle_secs: u32,
    pub personal_idle_secs: u32,
}
