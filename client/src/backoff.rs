//! Reconnect delays: exponential with full jitter, capped, reset after a success. Clients never
//! give up (a doctor's tray app must reconnect by itself after any outage).

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The ceiling of the first delay; doubles with every failure.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }
}

impl BackoffConfig {
    /// The wait after the `attempt`-th failure (1-based), without jitter: `base`, then doubling,
    /// at most `cap`.
    pub fn after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            failures: 0,
        }
    }

    /// The ceiling for the next delay, without jitter.
    pub fn ceiling(&self) -> Duration {
        // 2^16 * base is already far above any sensible cap; stop doubling there.
        let factor = 1u32 << self.failures.min(16);
        self.config.base.saturating_mul(factor).min(self.config.cap)
    }

    /// The next delay: uniform in [0, ceiling] ("full jitter"), so that many clients cut off
    /// by the same outage do not all come back in the same instant.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }

    /// `delay`, or when it is longer than `cap`, a wait drawn anew between half of `cap` and
    /// `cap`: clients held to a short cap still come back spread out, not all at once.
    pub fn capped(delay: Duration, cap: Duration) -> Duration {
        if delay <= cap {
            return delay;
        }
        let max = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(max / 2..=max))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_wait_is_spread_over_the_upper_half_of_the_cap() {
        let cap = Duration::from_secs(5);
        assert_eq!(
            Backoff::capped(Duration::from_secs(1), cap),
            Duration::from_secs(1)
        );
        let draws: Vec<Duration> = (0..200)
            .map(|_| Backoff::capped(Duration::from_secs(30), cap))
            .collect();
        assert!(draws.iter().all(|d| *d >= cap / 2 && *d <= cap));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 50, "spread out, not all at the cap");
    }

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(BackoffConfig::default());
        let mut last = Duration::ZERO;
        for _ in 0..40 {
            let ceiling = b.ceiling();
            assert!(ceiling >= last);
            assert!(b.next_delay() <= ceiling);
            last = ceiling;
        }
        assert_eq!(last, Duration::from_secs(30));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(250));
        let c = BackoffConfig::default();
        assert_eq!(c.after(1), Duration::from_millis(250));
        assert_eq!(c.after(3), Duration::from_secs(1));
        assert_eq!(c.after(99), Duration::from_secs(30));
    }
}
