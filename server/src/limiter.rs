//! Rate limits: a token bucket for a socket's sends, and the failed-login throttle keyed by
//! username and by IP with exponential lockout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `rate` per second, at most `burst` saved up.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (`None`: one is there now).
    pub(crate) fn until_next(&mut self) -> Option<std::time::Duration> {
        self.refill();
        (self.tokens < 1.0).then(|| {
            let secs = (1.0 - self.tokens) / self.rate.max(f64::MIN_POSITIVE);
            std::time::Duration::from_secs_f64(secs.min(60.0))
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Most keys remembered; beyond this the oldest entries are forgotten first, so a flood of
/// made-up usernames cannot grow memory without bound.
const MAX_KEYS: usize = 50_000;

/// Failed logins per key (a username, or an IP address).
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    max_failures: u32,
    base: Duration,
    max: Duration,
    keys: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    pub(crate) fn new(max_failures: u32, base: Duration, max: Duration) -> Self {
        Self {
            max_failures,
            base,
            max,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// How long until `key` may try again, if it is locked out.
    pub(crate) fn locked(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let until = map.get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure against `key`; past the limit each further failure doubles the lockout.
    pub(crate) fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            let horizon = self.max;
            map.retain(|_, f| now.duration_since(f.last) < horizon);
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        let entry = map.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= self.max_failures {
            let doublings = (entry.count - self.max_failures).min(20);
            let lockout = self.base.saturating_mul(1 << doublings).min(self.max);
            entry.locked_until = Some(now + lockout);
        }
    }

    /// Clears the record of `key` (a successful login clears its username's, not its IP's: one
    /// good password should not unlock guessing at other accounts).
    pub(crate) fn succeed(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_starts_after_the_limit_and_grows() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(10), Duration::from_secs(100));
        throttle.fail("a");
        throttle.fail("a");
        assert!(throttle.locked("a").is_none());
        throttle.fail("a");
        let first = throttle.locked("a").expect("locked after 3");
        throttle.fail("a");
        let second = throttle.locked("a").expect("still locked");
        assert!(second > first);
        assert!(throttle.locked("b").is_none());
        throttle.succeed("a");
        assert!(throttle.locked("a").is_none());
    }

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let mut bucket = Bucket::new(0.001, 3.0);
        assert!(bucket.take() && bucket.take() && bucket.take());
        assert!(!bucket.take());
    }
}
