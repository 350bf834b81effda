//! Wire types of the clinic messaging system: what crosses the network, and nothing else.
//!
//! Everything here is plain serde data. The JSON shape (camelCase fields, `type`-tagged WebSocket
//! frames, RFC 3339 UTC times, opaque string ids) is a public contract documented in
//! `docs/protocol.md`; the snapshot tests in `tests/snapshots.rs` pin it. This crate does no I/O
//! and depends on no other crate of ours.

pub mod error;
pub mod file_name;
pub mod ids;
pub mod limits;
pub mod model;
pub mod pairing;
pub mod rest;
pub mod search;
pub mod text;
pub mod ws;

pub use error::{ErrorBody, ErrorCode};
pub use ids::{ClientId, EmergencyId, FileId, MessageId, NotificationId, Seq, UserId};
pub use model::{
    ClinicInfo, Contact, Conversation, ConversationKey, Edited, Emergency, EmergencyState,
    EmergencyTransition, LockPolicy, Message, MessageStatus, MessageType, MessageVersion,
    MessageWindows, NewMessage, Notification, NotificationKind, Role, Tombstone, TransitionKind,
    User,
};
pub use ws::{ClientFrame, ServerFrame};

/// The TCP port a clinic server listens on unless its IT chose another; clients add it to an
/// address typed without a port.
pub const DEFAULT_PORT: u16 = 8470;
