//! The store's domain operations: what the server's features ask of storage, by name (`send`,
//! `changes_since`, `acknowledge`...), each failing with a [`StoreError`](super::StoreError).
//! Which connection runs them, the writer (and which of its guards) or a reader (moving the send
//! log first or not), is decided here, next to the SQL, so that another database can take
//! SQLite's place behind these methods.

mod accounts;
mod audit;
mod changes;
mod chat;
mod emergencies;
mod files;
mod health;
mod records;
mod retention;

pub(crate) use chat::Queued;
