//! Records the client keeps and hands to a UI: a message as the cache knows it (possibly not yet
//! acknowledged by the server).

use chrono::{DateTime, Utc};
use clinic_protocol::{
    ClientId, ConversationKey, Edited, Message, MessageId, MessageStatus, MessageType, Seq,
    Tombstone, UserId,
};
use serde::{Deserialize, Serialize};

/// A message in the local cache: the server's [`Message`] fields, with `id` and `seq` missing
/// while the send is still in the outbox, a local status (`SENDING`, `FAILED`) and the reason of
/// a permanent refusal.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalMessage {
    pub id: Option<MessageId>,
    pub seq: Option<Seq>,
    pub client_id: ClientId,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub sender_id: UserId,
    pub content: String,
    pub message_type: MessageType,
    pub status: MessageStatus,
    pub file_url: Option<String>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub file_type: Option<String>,
    pub is_emergency: bool,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    /// Why this send is parked (status `FAILED`), as a sentence for people.
    pub error: Option<String>,
    /// The stable code of that reason (a protocol error code such as `forbidden` or
    /// `internal`, or the client's own: `file_missing`, `disk_full`, `network`), for programs to
    /// branch on.
    #[serde(default)]
    pub error_code: Option<String>,
    /// The sender's own copy of an attachment on this machine (kept in the profile, so the
    /// original may be moved or deleted while the message waits to be sent).
    #[serde(default)]
    pub local_file_path: Option<String>,
    /// Set once the sender unsent or retracted it (then `content` is empty and the file gone).
    #[serde(default)]
    pub retracted: Option<Tombstone>,
    /// Set once the sender edited it.
    #[serde(default)]
    pub edited: Option<Edited>,
    /// When the sender wrote it, where it waited on their device for more than a minute before
    /// the server took it at `createdAt` (the server's `writtenAt`). A send of ours not yet
    /// acknowledged has none: its `createdAt` is when it was written.
    #[serde(default)]
    pub written_at: Option<DateTime<Utc>>,
    /// An unsend or edit of ours waiting for the server (queued offline or under way): show it
    /// at once; it settles when the server's copy arrives, or is dropped with `changeNotice`.
    #[serde(default)]
    pub pending_change: Option<PendingChange>,
    /// Why the server refused our last unsend or edit of it ("Couldn't unsend: too late…");
    /// the message stands as it was.
    #[serde(default)]
    pub change_notice: Option<String>,
    /// Mine, not acknowledged yet, and written to the server more often than refused: it may be
    /// stored there already (its ack lost with the connection), so it can no longer be dropped.
    #[serde(default)]
    pub on_its_way: bool,
}

/// What a queued change does.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Unsend (a patient) or retract (a doctor).
    Retract,
    Edit,
}

/// An unsend or edit of one's own message not yet confirmed by the server.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChange {
    pub kind: ChangeKind,
    /// The change's own `clientId` (the server applies it at most once).
    pub client_id: ClientId,
    /// The new text of an edit.
    #[serde(default)]
    pub content: Option<String>,
}

impl LocalMessage {
    /// A new optimistic message from `sender`, not yet acknowledged: status `SENDING`, a fresh
    /// UUIDv7 `clientId`, no `id` or `seq`.
    pub fn pending(
        conversation: &ConversationKey,
        sender: &UserId,
        content: &str,
        is_emergency: bool,
    ) -> Self {
        let now = Utc::now();
        Self {
            id: None,
            seq: None,
            client_id: ClientId::new(uuid::Uuid::now_v7().to_string()),
            patient_id: conversation.patient_id.clone(),
            doctor_id: conversation.doctor_id.clone(),
            sender_id: sender.clone(),
            content: content.to_owned(),
            message_type: if is_emergency {
                MessageType::Emergency
            } else {
                MessageType::Regular
            },
            status: MessageStatus::Sending,
            file_url: None,
            file_name: None,
            file_size: None,
            file_type: None,
            is_emergency,
            resolved_at: None,
            created_at: now,
            updated_at: now,
            delivered_at: None,
            read_at: None,
            error: None,
            error_code: None,
            local_file_path: None,
            retracted: None,
            edited: None,
            written_at: None,
            pending_change: None,
            change_notice: None,
            on_its_way: false,
        }
    }

    /// The version of its text (1 until the first edit): what an edit's `baseVersion` names.
    pub fn version(&self) -> u32 {
        self.edited.map_or(1, |e| e.version)
    }

    pub fn conversation(&self) -> ConversationKey {
        ConversationKey::new(self.patient_id.clone(), self.doctor_id.clone())
    }

    /// True once the server has stored it.
    pub fn is_acked(&self) -> bool {
        self.id.is_some()
    }

    /// The wire shape of a cached message (e.g. a conversation's last message): an
    /// unacknowledged send keeps its local status and has an empty id and seq 0.
    pub fn into_wire(self) -> Message {
        Message {
            id: self.id.unwrap_or_else(|| MessageId::new("")),
            seq: self.seq.unwrap_or_default(),
            client_id: self.client_id,
            patient_id: self.patient_id,
            doctor_id: self.doctor_id,
            sender_id: self.sender_id,
            content: self.content,
            message_type: self.message_type,
            status: self.status,
            file_url: self.file_url,
            file_name: self.file_name,
            file_size: self.file_size,
            file_type: self.file_type,
            is_emergency: self.is_emergency,
            resolved_at: self.resolved_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            delivered_at: self.delivered_at,
            read_at: self.read_at,
            retracted: self.retracted,
            edited: self.edited,
            written_at: self.written_at,
        }
    }
}

impl LocalMessage {
    /// The server's copy as the server would send it; `None` until the server acknowledged it.
    pub fn to_server(&self) -> Option<Message> {
        Some(Message {
            id: self.id.clone()?,
            seq: self.seq?,
            client_id: self.client_id.clone(),
            patient_id: self.patient_id.clone(),
            doctor_id: self.doctor_id.clone(),
            sender_id: self.sender_id.clone(),
            content: self.content.clone(),
            message_type: self.message_type,
            status: self.status,
            file_url: self.file_url.clone(),
            file_name: self.file_name.clone(),
            file_size: self.file_size,
            file_type: self.file_type.clone(),
            is_emergency: self.is_emergency,
            resolved_at: self.resolved_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            delivered_at: self.delivered_at,
            read_at: self.read_at,
            retracted: self.retracted.clone(),
            edited: self.edited,
            written_at: self.written_at,
        })
    }
}

impl From<Message> for LocalMessage {
    fn from(m: Message) -> Self {
        Self {
            id: Some(m.id),
            seq: Some(m.seq),
            client_id: m.client_id,
            patient_id: m.patient_id,
            doctor_id: m.doctor_id,
            sender_id: m.sender_id,
            content: m.content,
            message_type: m.message_type,
            status: m.status,
            file_url: m.file_url,
            file_name: m.file_name,
            file_size: m.file_size,
            file_type: m.file_type,
            is_emergency: m.is_emergency,
            resolved_at: m.resolved_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            error: None,
            error_code: None,
            local_file_path: None,
            retracted: m.retracted,
            edited: m.edited,
            written_at: m.written_at,
            pending_change: None,
            change_notice: None,
            on_its_way: false,
        }
    }
}
