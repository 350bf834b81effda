//! clinic-client: everything the clinic messaging app knows and does, without a window.
//!
//! The desktop shell (src-tauri) and the headless `clinic` CLI are both thin layers over
//! [`Client`]. See `client/README.md` for the API a UI uses and the CLI's commands.
//!
//! - [`Client`]: a cheap-to-clone handle per signed-in user: login, one WebSocket kept open
//!   with reconnect forever (exponential backoff, full jitter), catch-up from a cursor before
//!   reporting online, optimistic sends through a persistent outbox, receipts, typing with a
//!   timeout, presence, emergencies.
//! - [`Cache`]: the per-user-and-server SQLite cache (WAL, migrations), readable offline.
//! - [`ClientEvent`] / [`ConnectionState`]: what a UI listens to (camelCase JSON).
//! - [`CredentialStore`]: the OS keyring ([`KeyringStore`]) or an explicit plain
//!   [`FileStore`] for headless machines.
//! - [`tls`]: pairing with a server (its CA pinned in the profile) and the one rustls config
//!   REST and WebSocket share.

pub mod api;
pub mod attachments;
pub mod attention;
pub mod backoff;
pub mod cache;
mod client;
mod connection;
pub mod credentials;
pub mod error;
pub mod events;
pub mod links;
pub mod lock;
pub mod profile;
pub mod record;
mod refusal;
mod sealed;
mod shared;
pub mod time;
pub mod tls;
mod typing;

pub use backoff::BackoffConfig;
pub use cache::{Cache, OutboxItem};
pub use client::{
    Client, ClientOptions, Contents, Drafts, Fetched, Found, LOCKED_PRESS_NOTE, LockStatus,
    OpenEmergencies, UnsentEmergency,
};
pub use connection::{DOCTOR_RETRY, EMERGENCY_RETRY, MAX_INBOUND_BYTES, SESSION_ENDED};
pub use credentials::{CredentialStore, FileStore, KeyringStore};
pub use error::{ClientError, Result};
pub use events::{ClientEvent, ConnectionState};
pub use profile::{Profile, Session};
pub use record::LocalMessage;
pub use shared::Tuning;
pub use tls::{Pairing, ServerCa, Trust};
