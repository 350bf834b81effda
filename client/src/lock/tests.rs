//! The lock with a fake clock: idle locking, PIN and password unlocking, delays, logout, and
//! what survives a restart.

use super::*;
use std::sync::Mutex;

#[derive(Debug)]
struct FakeClock(Mutex<DateTime<Utc>>);

impl FakeClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now())))
    }

    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

const MIN: Duration = Duration::from_secs(60);

fn lock_in(dir: &Path, clock: &Arc<FakeClock>) -> AppLock {
    AppLock::load(dir, Arc::clone(clock) as Arc<dyn Clock>).unwrap()
}

#[test]
fn policy_users_may_only_shorten() {
    assert_eq!(Device::Shared.longest_idle(&DEFAULT_POLICY), 5 * MIN);
    assert_eq!(Device::Personal.longest_idle(&DEFAULT_POLICY), 15 * MIN);
    assert_eq!(idle_limit(5 * MIN, None), 5 * MIN);
    assert_eq!(idle_limit(15 * MIN, Some(2 * MIN)), 2 * MIN);
    assert_eq!(idle_limit(5 * MIN, Some(60 * MIN)), 5 * MIN);

    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    assert_eq!(
        lock.device(),
        Device::Shared,
        "the stricter policy by default"
    );
    assert_eq!(lock.idle_limit(), 5 * MIN);
    lock.set_policy(Device::Personal, Some(60 * MIN)).unwrap();
    assert_eq!(lock.idle_limit(), 15 * MIN, "cut to the policy's longest");
    lock.set_policy(Device::Personal, Some(2 * MIN)).unwrap();
    assert!(
        lock.set_policy(Device::Personal, Some(Duration::from_secs(5)))
            .is_err()
    );
    lock.reset().unwrap();
    let lock = lock_in(dir.path(), &clock);
    assert_eq!(
        (lock.device(), lock.idle_limit()),
        (Device::Personal, 2 * MIN)
    );
}

#[test]
fn locks_after_the_idle_limit_and_input_restarts_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    lock.set_pin("8203").unwrap();
    clock.advance(4 * MIN);
    assert!(!lock.tick().unwrap());
    lock.touch();
    clock.advance(4 * MIN);
    assert!(!lock.tick().unwrap(), "input restarted the idle time");
    assert_eq!(lock.until_idle_lock(), MIN);
    clock.advance(MIN);
    assert!(lock.tick().unwrap());
    assert!(lock.is_locked());
    assert!(matches!(lock.ensure_unlocked(), Err(ClientError::Locked)));
    assert_eq!(lock.unlock("8203").unwrap(), Unlock::Unlocked);
    assert!(!lock.is_locked());
    assert!(!lock.tick().unwrap(), "unlocking counts as input");
}

#[test]
fn lock_now_survives_a_restart_and_the_password_unlocks_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    lock.set_pin("8203").unwrap();
    lock.remember_password("correct horse").unwrap();
    lock.lock_now().unwrap();
    drop(lock);
    let mut lock = lock_in(dir.path(), &clock);
    assert!(lock.is_locked(), "quitting the app does not unlock it");
    assert_eq!(lock.unlock("correct horse").unwrap(), Unlock::Unlocked);
    let stored = std::fs::read_to_string(dir.path().join("lock.json")).unwrap();
    assert!(!stored.contains("8203") && !stored.contains("correct horse"));
}

#[test]
fn wrong_tries_wait_longer_after_three_and_the_fifth_logs_out_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    lock.set_pin("8203").unwrap();
    lock.lock_now().unwrap();
    assert_eq!(
        lock.unlock("1111").unwrap(),
        Unlock::Wrong {
            left: 4,
            wait: None
        }
    );
    assert_eq!(
        lock.unlock("1111").unwrap(),
        Unlock::Wrong {
            left: 3,
            wait: None
        }
    );
    assert_eq!(
        lock.unlock("1111").unwrap(),
        Unlock::Wrong {
            left: 2,
            wait: Some(Duration::from_secs(30))
        }
    );
    // Even the right PIN is not checked during the wait.
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        lock.unlock("8203").unwrap(),
        Unlock::Wait(Duration::from_secs(20))
    );
    assert!(lock.is_locked());
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        lock.unlock("1111").unwrap(),
        Unlock::Wrong {
            left: 1,
            wait: Some(Duration::from_secs(60))
        }
    );
    // A restart keeps the count and the wait.
    drop(lock);
    let mut lock = lock_in(dir.path(), &clock);
    assert_eq!(lock.failures(), 4);
    assert_eq!(lock.wait(), Some(Duration::from_secs(60)));
    clock.advance(Duration::from_secs(60));
    assert_eq!(lock.unlock("1111").unwrap(), Unlock::LogOut);
    assert_eq!(
        lock.unlock("8203").unwrap(),
        Unlock::LogOut,
        "no more tries"
    );
    lock.reset().unwrap();
    let lock = lock_in(dir.path(), &clock);
    assert!(!lock.is_locked() && !lock.has_pin() && lock.failures() == 0);
}

#[test]
fn a_right_try_clears_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    lock.set_pin("8203").unwrap();
    lock.lock_now().unwrap();
    lock.unlock("0001").unwrap();
    lock.unlock("0001").unwrap();
    assert_eq!(lock.unlock("8203").unwrap(), Unlock::Unlocked);
    assert_eq!(lock.failures(), 0);
}

#[test]
fn a_damaged_lock_file_starts_locked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lock.json"), b"{broken").unwrap();
    let clock = FakeClock::new();
    assert!(lock_in(dir.path(), &clock).is_locked());
}

#[test]
fn a_weak_pin_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    assert!(matches!(lock.set_pin("1234"), Err(ClientError::Invalid(_))));
    assert!(!lock.has_pin());
}
