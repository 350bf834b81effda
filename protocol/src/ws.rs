//! WebSocket frames at `/ws`: one JSON object per text frame, `{"type": "<event>", ...fields}`.
//!
//! The seed's Socket.io event names are kept as they were; the frames it did not have (acks,
//! delivered receipts, catch-up, emergency transitions, presence status) are ours.

use crate::error::ErrorCode;
use crate::ids::{ClientId, EmergencyId, MessageId, Seq, UserId};
use crate::model::{
    ClinicInfo, ConversationKey, Emergency, LockPolicy, Message, NewMessage, Notification, User,
};
use crate::rest::{Purge, SyncPage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a doctor wants routine alerts. Do-not-disturb mutes, never hides: emergencies reach
/// doctors on do-not-disturb at once (to show), and ring for them only once they escalate.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Availability {
    Available,
    DoNotDisturb,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ClientFrame {
    /// Must be the first frame unless the upgrade carried `Authorization: Bearer`.
    #[serde(rename = "authenticate")]
    Authenticate { token: String },
    /// Subscribe to a conversation's typing indicators (messages and receipts reach participants
    /// whether or not they joined).
    #[serde(rename = "join:chat")]
    JoinChat(ConversationKey),
    #[serde(rename = "leave:chat")]
    LeaveChat(ConversationKey),
    /// Answered by `message:ack` to the sender's socket once the message is on disk.
    #[serde(rename = "message:send")]
    MessageSend(NewMessage),
    #[serde(rename = "typing:start")]
    TypingStart(ConversationKey),
    #[serde(rename = "typing:stop")]
    TypingStop(ConversationKey),
    /// Marks a message addressed to the caller as read (and everything before it in that
    /// conversation).
    #[serde(rename = "message:read")]
    MessageRead {
        message_id: MessageId,
        patient_id: UserId,
        doctor_id: UserId,
    },
    /// The client stored these messages: tell their senders.
    #[serde(rename = "message:delivered")]
    MessageDelivered { message_ids: Vec<MessageId> },
    /// Catch-up: one page of what changed in the caller's conversations after `since`,
    /// answered by one `sync:batch` of at most `limit` records (default and cap in
    /// [`crate::limits`]); ask again from its `cursor` while it says `hasMore`.
    #[serde(rename = "sync")]
    Sync {
        since: Seq,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// The sender takes their message back (`POST /api/chat/messages/{id}/retract` over the
    /// socket). Answered by `message:updated` with this `clientId`, or an `error` with it.
    #[serde(rename = "message:retract")]
    MessageRetract {
        client_id: ClientId,
        message_id: MessageId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        misdirected: bool,
    },
    /// The sender edits their message (`POST /api/chat/messages/{id}/edit` over the socket).
    /// Answered by `message:updated` with this `clientId`, or an `error` with it; a repeated
    /// `clientId` is answered again without a second edit.
    #[serde(rename = "message:edit")]
    MessageEdit {
        client_id: ClientId,
        message_id: MessageId,
        content: String,
        base_version: u32,
    },
    /// A doctor takes an emergency ("I'm on it").
    #[serde(rename = "emergency:acknowledge")]
    EmergencyAcknowledge { emergency_id: EmergencyId },
    /// A doctor closes an emergency with a short note.
    #[serde(rename = "emergency:resolve")]
    EmergencyResolve {
        emergency_id: EmergencyId,
        #[serde(default)]
        note: Option<String>,
    },
    /// A doctor's availability: stored for the user like `PUT /api/availability`, and answered
    /// with `availability:changed` to every socket of theirs.
    #[serde(rename = "presence:set")]
    PresenceSet { availability: Availability },
}

/// Frames the server sends.
// A frame lives only from construction to serialization; boxing the large variants would add an
// allocation per frame for no benefit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ServerFrame {
    #[serde(rename = "authenticated")]
    Authenticated {
        user: User,
        /// Contacts of the caller who are online right now.
        online_users: Vec<UserId>,
        /// A doctor's stored availability (absent from older servers, and for other roles).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        availability: Option<Availability>,
        /// The clinic's settings for clients (absent from older servers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clinic: Option<ClinicInfo>,
        /// The clinic's lock policy (absent from older servers: clients then use 5 and 15
        /// minutes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock_policy: Option<LockPolicy>,
    },
    #[serde(rename = "chat:joined")]
    ChatJoined(ConversationKey),
    #[serde(rename = "chat:left")]
    ChatLeft(ConversationKey),
    /// A new message in one of the caller's conversations (also to the sender's other sockets).
    #[serde(rename = "message:received")]
    MessageReceived { message: Message },
    /// The caller's send is committed: `message` carries the server's id and `seq`. A repeated
    /// `clientId` gets the same ack again.
    #[serde(rename = "message:ack")]
    MessageAck {
        client_id: ClientId,
        message: Message,
    },
    /// A message was unsent, retracted or edited: to every socket of both participants. Replace
    /// the stored message by id (a tombstone has no content or file: drop them and their search
    /// words). `clientId` is set only on the socket whose `message:retract`/`message:edit` it
    /// answers.
    #[serde(rename = "message:updated")]
    MessageUpdated {
        message: Message,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientId>,
    },
    #[serde(rename = "typing:started")]
    TypingStarted {
        patient_id: UserId,
        doctor_id: UserId,
        user_id: UserId,
    },
    #[serde(rename = "typing:stopped")]
    TypingStopped {
        patient_id: UserId,
        doctor_id: UserId,
        user_id: UserId,
    },
    #[serde(rename = "message:read:confirmed")]
    MessageReadConfirmed {
        patient_id: UserId,
        doctor_id: UserId,
        message_ids: Vec<MessageId>,
        reader_id: UserId,
        read_at: DateTime<Utc>,
    },
    #[serde(rename = "message:delivered:confirmed")]
    MessageDeliveredConfirmed {
        patient_id: UserId,
        doctor_id: UserId,
        message_ids: Vec<MessageId>,
        recipient_id: UserId,
        delivered_at: DateTime<Utc>,
    },
    #[serde(rename = "user:online")]
    UserOnline { user_id: UserId },
    #[serde(rename = "user:offline")]
    UserOffline { user_id: UserId },
    /// A doctor who shares a conversation with the receiver changed their stored availability.
    #[serde(rename = "user:availability")]
    UserAvailability {
        user_id: UserId,
        availability: Availability,
    },
    /// To doctors: an open emergency. Repeated (with a growing `repeat`) until acknowledged.
    /// `message` is the patient's latest emergency message, its `content` cut to a preview of
    /// at most [`crate::limits::ALERT_PREVIEW_BYTES`] (then `truncated` is true: the whole
    /// message comes with `message:received` or `sync`; do not store the preview over it).
    #[serde(rename = "emergency:alert")]
    EmergencyAlert {
        emergency: Emergency,
        message: Message,
        repeat: u32,
        escalated: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    /// An emergency changed state (acknowledged, escalated, resolved): to its patient and doctors.
    #[serde(rename = "emergency:updated")]
    EmergencyUpdated { emergency: Emergency },
    #[serde(rename = "notification")]
    Notification { notification: Notification },
    /// The caller's availability changed (on this or another device, or with the CLI).
    #[serde(rename = "availability:changed")]
    AvailabilityChanged { availability: Availability },
    #[serde(rename = "sync:batch")]
    SyncBatch(SyncPage),
    /// The clinic's retention policy removed a conversation's messages up to `upToSeq`: drop
    /// them from the cache. Also in `SyncPage.purges` for devices that were offline.
    #[serde(rename = "conversation:purged")]
    ConversationPurged(Purge),
    #[serde(rename = "error")]
    Error {
        code: ErrorCode,
        message: String,
        /// Set when the error answers a `message:send`, `message:retract` or `message:edit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientId>,
    },
}

impl ServerFrame {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            client_id: None,
        }
    }
}
