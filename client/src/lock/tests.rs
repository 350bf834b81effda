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

/// The session's vault as a plain file beside `lock.json`: a stand-in for the encrypted cache
/// (which the client's tests use), kept across "restarts" as the cache is.
#[derive(Debug)]
struct FileVault(PathBuf);

impl Vault for FileVault {
    fn read(&self) -> Result<Option<String>> {
        match std::fs::read_to_string(&self.0) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn update(&self, change: &mut dyn FnMut(Option<&str>) -> Result<String>) -> Result<()> {
        let now = self.read()?;
        std::fs::write(&self.0, change(now.as_deref())?)?;
        Ok(())
    }
}

fn vault_in(dir: &Path) -> Box<dyn Vault> {
    Box::new(FileVault(dir.join("vault.json")))
}

/// The lock of the session in `dir`, signed in afresh the first time (as `Client::login` starts
/// it: no PIN, no password remembered, unlocked).
fn lock_in(dir: &Path, clock: &Arc<FakeClock>) -> AppLock {
    let first = !dir.join("vault.json").exists();
    let clock = Arc::clone(clock) as Arc<dyn Clock>;
    let mut lock = AppLock::load(dir, clock, vault_in(dir), true).unwrap();
    if first {
        lock.reset().unwrap();
    }
    lock
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
    let stored = std::fs::read_to_string(dir.path().join("vault.json")).unwrap();
    assert!(stored.contains("$argon2id$"), "{stored}");
    assert!(!stored.contains("8203") && !stored.contains("correct horse"));
    assert!(
        !dir.path().join("lock.json").exists(),
        "nothing of the session outside its vault"
    );
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

/// A session whose state is gone or damaged starts locked, and nothing this computer keeps
/// unlocks it (`Client::unlock` asks the server then); a damaged `lock.json` loses only the
/// preferences.
#[test]
fn a_lost_or_damaged_state_starts_locked_with_nothing_here_to_unlock_it() {
    let clock = FakeClock::new();
    for damage in [None, Some("{broken")] {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = lock_in(dir.path(), &clock);
        lock.remember_password("correct horse").unwrap();
        lock.set_policy(Device::Personal, None).unwrap();
        drop(lock);
        match damage {
            None => std::fs::remove_file(dir.path().join("vault.json")).unwrap(),
            Some(text) => std::fs::write(dir.path().join("vault.json"), text).unwrap(),
        }
        let clock_dyn = Arc::clone(&clock) as Arc<dyn Clock>;
        let mut lock = AppLock::load(dir.path(), clock_dyn, vault_in(dir.path()), true).unwrap();
        assert!(lock.is_locked(), "{damage:?}");
        assert!(!lock.knows_a_secret(), "{damage:?}");
        assert!(lock.takes_a_try());
        assert!(matches!(
            lock.unlock("correct horse").unwrap(),
            Unlock::Wrong { .. }
        ));
        assert_eq!(lock.device(), Device::Personal, "the preferences stay");
        lock.unlock_checked("correct horse").unwrap();
        assert!(!lock.is_locked());
        lock.lock_now().unwrap();
        assert_eq!(lock.unlock("correct horse").unwrap(), Unlock::Unlocked);
    }
    let dir = tempfile::tempdir().unwrap();
    drop(lock_in(dir.path(), &clock));
    std::fs::write(dir.path().join("lock.json"), b"{broken").unwrap();
    let lock = lock_in(dir.path(), &clock);
    assert!(!lock.is_locked(), "the state is the vault's");
    assert_eq!(lock.device(), Device::Shared);
}

/// An earlier version kept the state in `lock.json`: it is moved into the vault of a cache that
/// was there before (never beside one made now), and the file keeps only who uses the computer
/// and the idle time.
#[test]
fn an_earlier_lock_file_is_moved_into_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let hash = pin::hash("correct horse").unwrap();
    let earlier = serde_json::json!({
        "device": "personal", "chosenIdleSecs": 120, "locked": true,
        "passwordHash": hash, "failures": 2,
    });
    std::fs::write(dir.path().join("lock.json"), earlier.to_string()).unwrap();
    // Beside a cache made now (or emptied), the file is anyone's: planted, it would unlock.
    let planted = tempfile::tempdir().unwrap();
    let unlocked = serde_json::json!({"device": "personal", "locked": false, "failures": 1});
    std::fs::write(planted.path().join("lock.json"), unlocked.to_string()).unwrap();
    let clock_dyn = Arc::clone(&clock) as Arc<dyn Clock>;
    let lock = AppLock::load(planted.path(), clock_dyn, vault_in(planted.path()), false).unwrap();
    assert!(lock.is_locked() && !lock.knows_a_secret());
    assert_eq!(
        lock.device(),
        Device::Personal,
        "the preferences are no secret"
    );
    let file = std::fs::read_to_string(planted.path().join("lock.json")).unwrap();
    assert!(!file.contains("locked"), "{file}");
    let clock_dyn = Arc::clone(&clock) as Arc<dyn Clock>;
    let mut lock = AppLock::load(dir.path(), clock_dyn, vault_in(dir.path()), true).unwrap();
    assert!(lock.is_locked());
    assert_eq!(lock.failures(), 2);
    assert_eq!(lock.device(), Device::Personal);
    let file = std::fs::read_to_string(dir.path().join("lock.json")).unwrap();
    assert!(
        !file.contains("argon2") && !file.contains("failures"),
        "{file}"
    );
    assert!(file.contains("personal"), "{file}");
    assert_eq!(lock.unlock("correct horse").unwrap(), Unlock::Unlocked);
}

#[test]
fn a_weak_pin_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut lock = lock_in(dir.path(), &clock);
    assert!(matches!(lock.set_pin("1234"), Err(ClientError::Invalid(_))));
    assert!(!lock.has_pin());
}

/// Two processes on one profile (the app and `clinic unlock`): each counts its wrong tries on
/// top of the other's, and one's lock or unlock never writes back a count it read before.
#[test]
fn tries_from_two_processes_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut app = lock_in(dir.path(), &clock);
    app.remember_password("correct horse").unwrap();
    app.lock_now().unwrap();
    let mut cli = lock_in(dir.path(), &clock);
    for _ in 0..2 {
        assert!(matches!(app.unlock("guess").unwrap(), Unlock::Wrong { .. }));
        clock.advance(10 * MIN);
        assert!(matches!(cli.unlock("guess").unwrap(), Unlock::Wrong { .. }));
        clock.advance(10 * MIN);
    }
    assert_eq!(cli.failures(), 4);
    // The app read its count before the CLI's last try: its next try is the 5th all the same.
    assert_eq!(app.failures(), 3);
    assert_eq!(app.unlock("guess").unwrap(), Unlock::LogOut);
    assert_eq!(app.failures(), 5);
}

/// A process that only looks (the app's lock screen) learns of the other's tries and of its
/// unlock without making a try itself.
#[test]
fn a_process_rereads_what_another_did() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let mut app = lock_in(dir.path(), &clock);
    app.remember_password("correct horse").unwrap();
    app.lock_now().unwrap();
    let mut cli = lock_in(dir.path(), &clock);
    assert!(!app.reread().unwrap(), "nothing changed yet");
    assert!(matches!(cli.unlock("guess").unwrap(), Unlock::Wrong { .. }));
    assert!(app.reread().unwrap());
    assert_eq!(app.failures(), 1);
    assert!(!app.reread().unwrap());
    assert_eq!(cli.unlock("correct horse").unwrap(), Unlock::Unlocked);
    assert!(app.reread().unwrap());
    assert!(!app.is_locked());
    assert_eq!(app.failures(), 0);
}
