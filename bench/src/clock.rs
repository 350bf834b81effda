//! One clock for the whole generator: microseconds since the process's first look at it. Send
//! stamps and receive times come from the same process, so they are directly comparable.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static BASE: OnceLock<Instant> = OnceLock::new();

fn base() -> Instant {
    *BASE.get_or_init(Instant::now)
}

/// Microseconds since the generator's clock started.
pub fn now_us() -> u64 {
    u64::try_from(base().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The tokio `Instant` of a clock reading (to sleep until a scheduled send).
pub fn instant_of(us: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(base() + Duration::from_micros(us))
}
