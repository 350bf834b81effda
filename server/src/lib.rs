//! clinic-server: the LAN server of clinic messaging (axum WebSocket + REST over SQLite).
//!
//! Entry point for embedding and tests: [`run`] serves on a listener until `shutdown` resolves.
//! Accounts can be made without the CLI through [`accounts::create_user`], and a demo clinic
//! through [`demo::seed`].

pub mod accounts;
pub mod audit;
pub mod bulk;
pub mod config;
pub mod cpu_path;
pub mod datadir;
pub mod demo;
pub mod error;
pub mod files;
pub mod fuzzing;
pub mod restore;
pub mod retention;
pub mod sessions;
#[doc(hidden)]
pub mod testing;
pub mod tls;

mod accept;
mod address;
mod availability;
mod chat;
mod emergency;
mod http;
mod hub;
mod limiter;
mod login;
mod metrics;
mod server;
mod state;
mod store;
mod systemd;
mod text;
mod time;
mod unsend;
mod writes;
mod ws;

pub use config::{Config, ConnectionLimits, FrameRates, MetricsAccess, Rate, Synchronous};
pub use error::ServerError;
pub use server::{HOLD_PATIENCE, run};
