//! Rate limits: token buckets (per socket, or per key such as a user), and the failed-login
//! throttle with its exponential lockout.

pub(crate) use crate::config::Rate;
use std::collections::HashMap;
use std::hash::Hash;
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

    pub(crate) fn with(rate: Rate) -> Self {
        Self::new(rate.per_sec, rate.burst)
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self) -> bool {
        self.take_n(1.0).is_none()
    }

    /// How long until a token is there (`None`: one is there now).
    pub(crate) fn until_next(&mut self) -> Option<Duration> {
        self.until(1.0)
    }

    /// Never more than a full bucket, or a cost over the burst could never be paid (but at least
    /// one token: a bucket of no burst admits nothing).
    fn clamp(&self, cost: f64) -> f64 {
        cost.min(self.burst.max(1.0))
    }

    /// How long until `missing` tokens have come in.
    fn time_for(&self, missing: f64) -> Option<Duration> {
        (missing > 0.0).then(|| {
            let secs = missing / self.rate.max(f64::MIN_POSITIVE);
            Duration::from_secs_f64(secs.min(3600.0))
        })
    }

    /// How long until `cost` may be taken (`None`: now).
    fn until(&mut self, cost: f64) -> Option<Duration> {
        self.refill();
        self.time_for(self.clamp(cost) - self.tokens)
    }

    /// Takes `cost` if it may be taken now, else says how long until it may.
    fn take_n(&mut self, cost: f64) -> Option<Duration> {
        let wait = self.until(cost);
        if wait.is_none() {
            self.tokens -= self.clamp(cost);
        }
        wait
    }

    /// Takes `cost` now, below empty if need be, and says how long the caller must wait before
    /// going on (until the bucket is back to empty): callers queue up in the order they came.
    /// The debt is bounded: past a full bucket's worth below empty nothing is taken, and `Err`
    /// says how long until there is room to queue (so many callers cannot push one another's
    /// turn out without end).
    fn reserve(&mut self, cost: f64) -> Result<Option<Duration>, Duration> {
        self.refill();
        let floor = -self.burst.max(1.0);
        if self.tokens < floor {
            return Err(self.time_for(floor - self.tokens).unwrap_or(Duration::ZERO));
        }
        self.tokens -= self.clamp(cost);
        Ok(self.time_for(-self.tokens))
    }

    /// Waits until a token is there and takes it: the caller is slowed down, never refused.
    pub(crate) async fn wait(&mut self) {
        while let Some(wait) = self.until_next() {
            tokio::time::sleep(wait).await;
        }
        self.take();
    }

    /// True when the bucket is full again (nothing to remember about its key).
    pub(crate) fn is_full(&mut self) -> bool {
        self.refill();
        self.tokens >= self.burst
    }
}

/// Most keys a keyed limiter remembers; beyond this, full buckets (which carry no state worth
/// keeping) are forgotten first, then everything: a flood of keys cannot grow memory.
const MAX_KEYS: usize = 50_000;

/// One token bucket per key (a user, an address).
#[derive(Debug)]
pub(crate) struct KeyedBuckets<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token of `key`'s bucket, or says how long until one is there.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_n(key, 1.0)
    }

    /// How long until `key`'s bucket has a token (`Ok`: it has one now); nothing is taken.
    pub(crate) fn ready(&self, key: &K) -> Result<(), Duration> {
        self.with_bucket(key, |bucket| bucket.until_next().map_or(Ok(()), Err))
    }

    /// Takes `cost` tokens from `key`'s bucket, or says how long until it may.
    pub(crate) fn take_n(&self, key: &K, cost: f64) -> Result<(), Duration> {
        self.with_bucket(key, |bucket| bucket.take_n(cost).map_or(Ok(()), Err))
    }

    /// Takes `cost` tokens from `key`'s bucket now and waits until they were due: the caller is
    /// slowed down, never refused, and callers of one key go on in the order they came (each
    /// sleeps once, no polling).
    pub(crate) async fn wait_n(&self, key: &K, cost: f64) {
        loop {
            match self.with_bucket(key, |bucket| bucket.reserve(cost)) {
                Ok(None) => return,
                Ok(Some(turn)) => return tokio::time::sleep(turn).await,
                Err(room) => tokio::time::sleep(room).await,
            }
        }
    }

    fn with_bucket<T>(&self, key: &K, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = map.get_mut(key) {
            return f(bucket);
        }
        if map.len() >= MAX_KEYS {
            map.retain(|_, b| !b.is_full());
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        f(map
            .entry(key.clone())
            .or_insert_with(|| Bucket::with(self.rate)))
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// Attempts counted and not yet decided (their password is being checked).
    pending: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins per key, counted before the password is checked: an attempt first takes a
/// slot, and past `max_failures` (decided or pending) no slot is given, so concurrency cannot
/// get more guesses checked than the limit; nor past `max_pending` at once. From the limit on
/// each further failure lengthens the lockout: it doubles every `ramp` failures, from `base` up
/// to `max`. A key quiet for `max` (no attempt) before it was ever locked out starts again from
/// none: typos add up over a shift, never over the server's life; once locked out, it takes
/// [`QUIET_AFTER_LOCKOUT`] of quiet, so waiting out a lockout never buys a fresh set of guesses.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    max_failures: u32,
    max_pending: u32,
    ramp: u32,
    base: Duration,
    max: Duration,
    keys: Mutex<HashMap<String, Failures>>,
}

/// What a failure did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    Counted,
    /// The key is now locked out for this long.
    LockedOut(Duration),
}

/// The quiet that forgets a key's failures once it was locked out.
pub(crate) const QUIET_AFTER_LOCKOUT: Duration = Duration::from_secs(24 * 3600);

/// How long to wait when a key's slots are all taken by attempts still being checked.
const PENDING_WAIT: Duration = Duration::from_secs(1);

impl LoginThrottle {
    pub(crate) fn new(max_failures: u32, ramp: u32, base: Duration, max: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            max_pending: u32::MAX,
            ramp: ramp.max(1),
            base,
            max,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// At most `max_pending` attempts of one key checked at once.
    pub(crate) fn at_once(self, max_pending: u32) -> Self {
        Self {
            max_pending: max_pending.max(1),
            ..self
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes an attempt slot for `key`, or says how long until it may try again.
    pub(crate) fn begin(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let horizon = self.max;
            map.retain(|_, f| f.pending > 0 || now.duration_since(f.last) < horizon);
            if map.len() >= MAX_KEYS {
                // A flood of new keys must not wipe the lockouts it would lift: only keys
                // with nothing against them go, and with none left a new key waits.
                let limit = self.max_failures;
                map.retain(|_, f| {
                    f.pending > 0 || f.count >= limit || f.locked_until.is_some_and(|u| u > now)
                });
                if map.len() >= MAX_KEYS {
                    return Err(PENDING_WAIT);
                }
            }
        }
        let entry = map.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            pending: 0,
            last: now,
            locked_until: None,
        });
        if let Some(until) = entry.locked_until.filter(|u| *u > now) {
            return Err(until - now);
        }
        let forget_after = if entry.count >= self.max_failures {
            QUIET_AFTER_LOCKOUT
        } else {
            self.max
        };
        if entry.pending == 0 && now.duration_since(entry.last) >= forget_after {
            entry.count = 0;
            entry.locked_until = None;
        }
        if entry.pending >= self.max_pending {
            return Err(PENDING_WAIT);
        }
        // Below the limit, as many at once as it has room for; at or past it (between
        // lockouts), one at a time.
        if entry.pending > 0 && entry.count.saturating_add(entry.pending) >= self.max_failures {
            return Err(PENDING_WAIT);
        }
        entry.pending += 1;
        entry.last = now;
        Ok(())
    }

    /// The attempt failed: counted, and past the limit the lockout grows.
    pub(crate) fn fail(&self, key: &str) -> Failed {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(entry) = map.get_mut(key) else {
            return Failed::Counted;
        };
        entry.pending = entry.pending.saturating_sub(1);
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count < self.max_failures {
            return Failed::Counted;
        }
        let doublings = ((entry.count - self.max_failures) / self.ramp).min(20);
        let lockout = self.base.saturating_mul(1 << doublings).min(self.max);
        entry.locked_until = Some(now + lockout);
        Failed::LockedOut(lockout)
    }

    /// The attempt succeeded (or was never decided): its slot is given back; with `clear`
    /// the key's failures are forgotten too.
    pub(crate) fn release(&self, key: &str, clear: bool) {
        let mut map = self.lock();
        if clear {
            map.remove(key);
        } else if let Some(entry) = map.get_mut(key) {
            entry.pending = entry.pending.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_flood_of_new_keys_lifts_no_lockout() {
        let throttle = LoginThrottle::new(1, 1, Duration::from_secs(600), Duration::from_secs(900));
        assert!(throttle.begin("locked").is_ok());
        assert!(matches!(throttle.fail("locked"), Failed::LockedOut(_)));
        for n in 0..MAX_KEYS + 10 {
            let key = format!("flood-{n}");
            if throttle.begin(&key).is_ok() {
                throttle.release(&key, false);
            }
        }
        assert!(throttle.begin("locked").is_err(), "still locked out");
    }

    #[test]
    fn lockout_starts_at_the_limit_and_grows_at_its_ramp() {
        let throttle = LoginThrottle::new(3, 2, Duration::from_secs(10), Duration::from_secs(100));
        for _ in 0..2 {
            assert!(throttle.begin("a").is_ok());
            assert_eq!(throttle.fail("a"), Failed::Counted);
        }
        assert!(throttle.begin("a").is_ok());
        assert_eq!(
            throttle.fail("a"),
            Failed::LockedOut(Duration::from_secs(10))
        );
        assert!(throttle.begin("a").is_err(), "locked");
        assert!(throttle.begin("b").is_ok(), "other keys are not");
        // Two more failures per doubling (forced past the lock here).
        assert_eq!(
            throttle.fail("a"),
            Failed::LockedOut(Duration::from_secs(10))
        );
        assert_eq!(
            throttle.fail("a"),
            Failed::LockedOut(Duration::from_secs(20))
        );
        throttle.release("a", true);
        assert!(throttle.begin("a").is_ok());
    }

    #[test]
    fn pending_attempts_count_against_the_limit() {
        let throttle = LoginThrottle::new(2, 1, Duration::from_secs(1), Duration::from_secs(9));
        assert!(throttle.begin("k").is_ok());
        assert!(throttle.begin("k").is_ok());
        assert_eq!(throttle.begin("k"), Err(PENDING_WAIT), "both slots taken");
        throttle.release("k", false);
        assert!(
            throttle.begin("k").is_ok(),
            "a decided attempt gives its slot back"
        );
        // Past the limit, once the lockout is over: one attempt at a time.
        let throttle = LoginThrottle::new(1, 1, Duration::ZERO, Duration::ZERO);
        assert!(throttle.begin("k").is_ok());
        assert_eq!(throttle.fail("k"), Failed::LockedOut(Duration::ZERO));
        assert!(throttle.begin("k").is_ok(), "the lockout is over");
        assert_eq!(throttle.begin("k"), Err(PENDING_WAIT), "but one at a time");
    }

    #[test]
    fn failures_fade_after_a_quiet_spell_and_a_key_has_its_checks_at_once() {
        let quiet = Duration::from_millis(50);
        let throttle = LoginThrottle::new(2, 1, Duration::from_millis(10), quiet);
        assert!(throttle.begin("k").is_ok());
        assert_eq!(throttle.fail("k"), Failed::Counted);
        std::thread::sleep(quiet);
        // A year of typos is not one shift's: after the quiet spell the count starts again.
        assert!(throttle.begin("k").is_ok());
        assert_eq!(throttle.fail("k"), Failed::Counted, "counted from none");
        assert!(throttle.begin("k").is_ok());
        assert!(matches!(throttle.fail("k"), Failed::LockedOut(_)));
        // Locked out once: waiting out the lockout and the quiet spell gives no fresh guesses.
        std::thread::sleep(quiet);
        assert!(throttle.begin("k").is_ok());
        assert_eq!(
            throttle.fail("k"),
            Failed::LockedOut(Duration::from_millis(20)),
            "the ramp goes on"
        );

        let throttle =
            LoginThrottle::new(100, 1, Duration::ZERO, Duration::from_secs(60)).at_once(2);
        assert!(throttle.begin("a").is_ok());
        assert!(throttle.begin("a").is_ok());
        assert_eq!(
            throttle.begin("a"),
            Err(PENDING_WAIT),
            "two checked at once"
        );
        assert!(throttle.begin("b").is_ok(), "another key's are its own");
        throttle.release("a", false);
        assert!(throttle.begin("a").is_ok());
    }

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let mut bucket = Bucket::new(0.001, 3.0);
        assert!(bucket.take() && bucket.take() && bucket.take());
        assert!(!bucket.take());
    }

    #[test]
    fn a_cost_takes_its_tokens_and_never_more_than_a_full_bucket() {
        let buckets = KeyedBuckets::new(Rate::new(0.001, 10.0));
        assert!(buckets.take_n(&"a", 6.0).is_ok());
        assert!(buckets.take_n(&"a", 6.0).is_err(), "4 left");
        assert!(buckets.take(&"a").is_ok());
        assert!(buckets.take_n(&"b", 1000.0).is_ok(), "a full bucket pays");
        assert!(buckets.take(&"b").is_err(), "and is empty");
    }

    #[test]
    fn reservations_queue_up_below_empty_and_each_waits_its_turn() {
        let mut bucket = Bucket::new(10.0, 2.0);
        assert_eq!(bucket.reserve(2.0), Ok(None), "the burst is there");
        let first = bucket.reserve(1.0).unwrap().expect("one short");
        let second = bucket.reserve(1.0).unwrap().expect("two short");
        assert!(first <= Duration::from_millis(100), "{first:?}");
        assert!(
            second > first,
            "{first:?} then {second:?}: in the order they came"
        );
        assert!(second <= Duration::from_millis(200), "{second:?}");
        // Below empty, nothing is taken by the impatient either.
        assert!(bucket.take_n(1.0).is_some());
        // A bucket's worth below empty, the next caller waits for room before it queues.
        let third = bucket.reserve(1.0).unwrap().expect("three short");
        assert!(third <= Duration::from_millis(300), "{third:?}");
        let room = bucket.reserve(1.0).expect_err("the debt is bounded");
        assert!(room <= Duration::from_millis(100), "{room:?}");
    }

    #[test]
    fn keyed_buckets_are_separate() {
        let buckets = KeyedBuckets::new(Rate::new(0.001, 1.0));
        assert!(buckets.take(&"a").is_ok());
        assert!(buckets.take(&"a").is_err());
        assert!(buckets.take(&"b").is_ok());
    }
}
