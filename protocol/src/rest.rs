//! REST request and response bodies under `/api` (errors are [`crate::ErrorBody`]).

use crate::ids::{EmergencyId, MessageId, Seq, UserId};
use crate::model::{Emergency, EmergencyTransition, Message, MessageVersion, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /api/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Bearer token; the server keeps only its hash.
    pub token: String,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// Query of `GET /api/chat/messages`: a page of one conversation, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesQuery {
    pub patient_id: UserId,
    pub doctor_id: UserId,
    /// Default 50, at most 500.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only messages older than this one (paging back through history).
    #[serde(default)]
    pub before: Option<MessageId>,
}

/// `PATCH /api/chat/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadRequest {
    pub message_ids: Vec<MessageId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadResponse {
    pub success: bool,
    /// The ids that changed to READ (ids not addressed to the caller are left alone).
    pub message_ids: Vec<MessageId>,
}

/// `POST /api/chat/upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadResponse {
    pub file_url: String,
    pub file_name: String,
    pub size: u64,
    pub content_type: String,
}

/// Query of `GET /api/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncQuery {
    pub since: Seq,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Everything in the caller's conversations that changed after a cursor: `GET /api/sync` and the
/// `sync:batch` frame. Apply `messages` and `emergencies` as upserts by id, then keep `cursor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPage {
    pub messages: Vec<Message>,
    pub emergencies: Vec<Emergency>,
    /// Conversations whose older history the clinic's retention policy removed: drop every
    /// cached message (and its emergency) of that conversation up to `upToSeq`. Absent from
    /// servers before retention existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purges: Vec<Purge>,
    /// Ask for `since = cursor` next time.
    pub cursor: Seq,
    /// More changes are waiting after `cursor`.
    pub has_more: bool,
}

/// The retention policy removed a conversation's messages up to `up_to_seq` (and their files,
/// emergencies and notifications) on `purged_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purge {
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub up_to_seq: Seq,
    pub purged_at: DateTime<Utc>,
    /// The emergencies that went with the messages: every doctor holds every emergency, also of
    /// conversations whose messages they never had, so they drop these by id. Absent when none
    /// went, and from servers before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emergency_ids: Vec<EmergencyId>,
}

/// `POST /api/emergencies/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveRequest {
    #[serde(default)]
    pub note: Option<String>,
}

/// `GET /api/availability` and `PUT /api/availability`: a doctor's availability, stored per
/// user (do-not-disturb mutes routine alerts until an emergency escalates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityBody {
    pub availability: crate::ws::Availability,
}

/// `GET /api/emergencies/{id}`: the emergency and every recorded transition, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyDetail {
    pub emergency: Emergency,
    pub transitions: Vec<EmergencyTransition>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// `GET /readyz`: the server can commit a write and has disk space to spare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    pub status: String,
    pub version: String,
    /// Bytes free for the data folder: told only to the addresses that may read `/metrics`
    /// (by default the clinic's own network), not to anyone who can reach the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
}

/// `PATCH /api/notifications`: mark the caller's own notifications read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkNotificationsReadRequest {
    pub ids: Vec<crate::ids::NotificationId>,
}

/// Query of `GET /api/notifications`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsQuery {
    /// Only unread ones (default false).
    #[serde(default)]
    pub unread_only: Option<bool>,
    /// Default 50, at most 500.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Query of `GET /api/emergencies`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergenciesQuery {
    /// Only emergencies not yet resolved (default false: all, newest first).
    #[serde(default)]
    pub open: Option<bool>,
}

/// Query of `GET /api/search/messages`: the caller's own conversations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchParams {
    /// What the user typed (see `clinic_protocol::search` for the language), at most 256 bytes.
    pub q: String,
    /// Only in this conversation (both or neither of `patientId` and `doctorId`).
    #[serde(default)]
    pub patient_id: Option<UserId>,
    #[serde(default)]
    pub doctor_id: Option<UserId>,
    /// Default 20, at most 50.
    #[serde(default)]
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The searcher's offset from UTC in minutes (east positive), for `before:`/`after:`/`on:`.
    #[serde(default)]
    pub tz_offset_minutes: Option<i32>,
    /// `newest` (the default) or `rank`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SearchOrder>,
}

/// The order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SearchOrder {
    /// Newest first, paged by `cursor` without gaps or repeats while messages arrive.
    #[default]
    Newest,
    /// Best matches first (BM25 over the query's words; equal scores newest first): one page of
    /// at most `limit`, without `nextCursor`, since scores shift as messages arrive and a later
    /// page could repeat or skip a result. A query without words (only `~parts`, filters or
    /// `-words`) has nothing to rank and comes newest first.
    Rank,
}

/// A `[start, end)` range of a snippet's text, in UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Highlight {
    pub start: u32,
    pub end: u32,
}

/// The part of a message to show for a result (plain text: render it as text, never as HTML),
/// "…" where it was cut, and what matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Highlight>,
}

/// One search result: the message (its `patientId`/`doctorId` name the conversation) and what to
/// show of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub message: Message,
    /// From the text, or from the file name when only that matched.
    pub snippet: Snippet,
}

/// A page of results, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    pub results: Vec<SearchHit>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/patients` (doctors only): the clinic's enabled patients whose name or
/// username contains `q` (case-insensitive; empty: all), in name order, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientsQuery {
    #[serde(default)]
    pub q: String,
    /// Default 50, at most 200.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `POST /api/conversations` (doctors only): open the conversation with a patient of the clinic
/// (a care relation "started"); answered with the [`crate::Conversation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartConversationRequest {
    pub patient_id: UserId,
}

/// `POST /api/chat/messages/{id}/retract`: the sender takes their message back (a patient
/// "unsends", a doctor "retracts"). Answered with the message as a tombstone; asking again
/// answers the same tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetractRequest {
    /// Why (kept with the sealed original, never shown to the other participant); required
    /// when `misdirected`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The message went to the wrong person: allowed at any age, with a reason.
    #[serde(default)]
    pub misdirected: bool,
}

/// `POST /api/chat/messages/{id}/edit`: the sender replaces their message's text. Answered with
/// the edited message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditRequest {
    pub content: String,
    /// The version the edit was made from (`Message::version()`); another version is refused
    /// (`stale_version`) so that no edit silently overwrites another.
    pub base_version: u32,
}

/// `GET /api/chat/messages/{id}/versions`: every version of the text, oldest first, the current
/// one last. Empty for a retracted message (its text is sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct MessageVersions {
    pub message_id: MessageId,
    pub versions: Vec<MessageVersion>,
}
