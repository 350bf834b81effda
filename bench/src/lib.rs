//! clinic-bench: a load generator that speaks the real clinic protocol to a real server process,
//! and the benchmark scenarios S1-S7 built on it (see docs/benchmarks.md).

pub mod clock;
pub mod conn;
pub mod endpoint;
pub mod frames;
pub mod load;
pub mod procstat;
pub mod report;
pub mod scenarios;
pub mod server;
pub mod socketio;
pub mod stack;
