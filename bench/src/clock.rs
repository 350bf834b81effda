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

/// How early a scheduled wait stops sleeping and starts yielding: tokio's timer rounds up to
/// whole milliseconds, which would make every send up to a millisecond late.
const SPIN_US: u64 = 1_500;

/// Waits until the clock reads `us`, to within a few microseconds: sleeps while it is far, then
/// yields to the other tasks (which keep reading their sockets) until it is time. The generator
/// has a core of its own, so burning it here costs the server nothing.
pub async fn until(us: u64) {
    if us > now_us() + SPIN_US {
        tokio::time::sleep_until(instant_of(us - SPIN_US)).await;
    }
    while now_us() < us {
        tokio::task::yield_now().await;
    }
}
