//! The app lock (HIPAA automatic logoff): locks after a period without input, at once on "Lock
//! now" or when the OS screen locks; unlocks with a PIN or the password, both checked offline
//! against argon2id hashes; rising delays after 3 wrong tries, and the 5th logs out. The state
//! (locked or not, PIN and password hashes, the failure count) lives in a [`Vault`]: the
//! session's encrypted cache, so quitting the app neither unlocks it nor resets the count, a
//! stolen disk shows no hash to guess at (with the cache's key in a keyring), and deleting or
//! editing a file neither unlocks it nor gives more tries (a session whose state is gone starts
//! locked, and only the password, checked with the server, unlocks it: `Client::unlock`). Who
//! uses the computer and the idle time chosen are no secret and outlive sessions: `lock.json` in
//! the profile. Time comes from a [`Clock`] so tests drive it.

mod pin;
pub mod sentences;

pub use pin::{PIN_DIGITS, check_pin};

use crate::error::{ClientError, Result};
use chrono::{DateTime, Utc};
use clinic_protocol::LockPolicy;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the time comes from (a fake one in tests).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The computer's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Who uses this computer, which sets the longest idle time the lock allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Device {
    /// A front-desk or ward PC several people use.
    #[default]
    Shared,
    /// One person's own computer.
    Personal,
}

impl Device {
    /// The longest idle time the clinic's policy allows on this kind of computer (the server's
    /// `LockPolicy`; 5 minutes shared, 15 personal until a server said otherwise).
    pub fn longest_idle(self, policy: &LockPolicy) -> Duration {
        let secs = match self {
            Self::Shared => policy.shared_idle_secs,
            Self::Personal => policy.personal_idle_secs,
        };
        Duration::from_secs(u64::from(secs.max(MIN_IDLE_SECS)))
    }
}

/// The policy before any server has told this profile its own.
pub const DEFAULT_POLICY: LockPolicy = LockPolicy {
    shared_idle_secs: 5 * 60,
    personal_idle_secs: 15 * 60,
};

/// Sooner than this the app cannot be used: no policy or choice goes below it.
const MIN_IDLE_SECS: u32 = 30;

/// The idle time after which the app locks: the user's choice, never longer than `longest`.
pub fn idle_limit(longest: Duration, chosen: Option<Duration>) -> Duration {
    chosen.map_or(longest, |c| c.min(longest))
}

/// Wrong tries allowed without waiting; then each one doubles the wait from [`FIRST_DELAY`].
pub const FREE_TRIES: u32 = 3;
/// The wrong try that ends the session.
pub const LOGOUT_AFTER: u32 = 5;
/// How long a shared computer's app whose wrong tries ran out waits for messages, unsends and
/// edits to reach the clinic before it logs out all the same (deleting them with the cache): a
/// shared computer must not stay signed in for ever. An emergency is waited for without end.
pub const MESSAGES_WAIT: Duration = Duration::from_secs(12 * 3600);
const FIRST_DELAY: Duration = Duration::from_secs(30);

/// What an unlock attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlock {
    Unlocked,
    /// Wrong; `wait` before the next try is accepted, `left` tries before logout.
    Wrong {
        left: u32,
        wait: Option<Duration>,
    },
    /// Too soon after a wrong try: nothing was checked.
    Wait(Duration),
    /// Too many wrong tries: the caller logs out (and on a shared PC wipes the cache).
    LogOut,
    /// Too many wrong tries while an emergency of the user waits to be sent (told by
    /// `Client::unlock`, never by the lock itself): the session ends once it has gone.
    LogOutWhenSent,
}

/// Where a session's lock state is kept (the session's encrypted cache; a file in unit tests).
pub trait Vault: Send + std::fmt::Debug {
    /// The state as last written, if any was.
    fn read(&self) -> Result<Option<String>>;
    /// Replaces the state with what `change` makes of the one stored, as one step no other
    /// process (another app or `clinic` on the same profile) can come between: each counts
    /// its wrong tries on top of the others'.
    fn update(&self, change: &mut dyn FnMut(Option<&str>) -> Result<String>) -> Result<()>;
}

/// Who uses this computer, and the idle time its user chose: kept across sessions, in
/// `lock.json` (which earlier versions also kept the [`Secret`] in: read once, then moved).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Prefs {
    device: Device,
    chosen_idle_secs: Option<u64>,
}

/// What an earlier version's `lock.json` held beside the [`Prefs`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct EarlierFile {
    #[serde(flatten)]
    prefs: Prefs,
    #[serde(flatten)]
    secret: Secret,
}

/// The session's lock state, kept in its [`Vault`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Secret {
    locked: bool,
    pin_hash: Option<String>,
    password_hash: Option<String>,
    failures: u32,
    last_failure: Option<DateTime<Utc>>,
    /// What this computer knew of the user's emergencies as it locked (see [`Watched`]); `None`
    /// unlocked, and for a state that was lost or kept by an earlier version until the client
    /// records what it knows then.
    watched: Option<Watched>,
}

/// A patient's emergencies whose resolution a locked app tells her: the ones this computer
/// knew as open when it locked, and any it did not know of then. Facts of this computer's
/// cache, not times: its clock and the server's may differ, and a resolution learned late (the
/// app was offline) was never on her screen. Ids, not the cache's row numbers, which a purge
/// can free for reuse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Watched {
    /// Ids of her emergencies open as it locked.
    pub open: Vec<String>,
    /// Ids of all her emergencies it knew then.
    pub known: Vec<String>,
}

impl Watched {
    /// Whether the resolution of emergency `id` is news to a locked app's user.
    pub fn tells(&self, id: &str) -> bool {
        self.open.iter().any(|o| o == id) || !self.known.iter().any(|k| k == id)
    }
}

impl Secret {
    /// Unlocked by a right secret: the wrong tries before it are forgotten.
    fn open(&mut self) {
        self.locked = false;
        self.failures = 0;
        self.last_failure = None;
        self.watched = None;
    }

    /// A session whose state is gone (deleted, damaged, a cache started afresh): locked, and
    /// nothing this computer knows unlocks it.
    fn lost() -> Self {
        Self {
            locked: true,
            ..Self::default()
        }
    }
}

/// The lock of one profile. Not shared by itself: wrap it in a mutex.
#[derive(Debug)]
pub struct AppLock {
    path: PathBuf,
    vault: Box<dyn Vault>,
    clock: Arc<dyn Clock>,
    last_input: DateTime<Utc>,
    prefs: Prefs,
    stored: Secret,
    /// The clinic's longest idle times, as its server last said.
    policy: LockPolicy,
    /// The session is ending (a logout began, or the wrong tries ran out and nothing waits):
    /// no emergency is taken any more (in memory only; a restart finds the tries used up and
    /// decides again).
    ending: bool,
}

impl AppLock {
    /// The lock of the session whose state `vault` keeps, with the preferences of the profile
    /// in `dir`. A state that is missing or damaged counts as locked with nothing to unlock it
    /// here: refusing to open is safer than opening unasked (a new sign-in starts it afresh:
    /// [`AppLock::reset`]). A state an earlier version kept in `lock.json` is moved into the
    /// vault when `earlier_is_trusted` (the vault held the session's cache before this start:
    /// beside a cache made now, or one someone emptied, the file is anyone's), and the file
    /// keeps only the preferences.
    pub fn load(
        dir: &Path,
        clock: Arc<dyn Clock>,
        vault: Box<dyn Vault>,
        earlier_is_trusted: bool,
    ) -> Result<Self> {
        let path = dir.join("lock.json");
        let earlier = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<EarlierFile>(&bytes).unwrap_or_else(|e| {
                tracing::warn!("lock.json unreadable ({e}); its preferences start afresh");
                EarlierFile::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EarlierFile::default(),
            Err(e) => return Err(e.into()),
        };
        let moved = earlier.secret != Secret::default();
        let taken = moved && earlier_is_trusted;
        let (stored, from_vault) = match vault.read()? {
            Some(text) => match serde_json::from_str(&text) {
                Ok(stored) => (stored, true),
                Err(e) => {
                    tracing::warn!("the lock's state is unreadable ({e}); starting locked");
                    (Secret::lost(), false)
                }
            },
            None if taken => (earlier.secret, false),
            None => (Secret::lost(), false),
        };
        let mut lock = Self {
            path,
            vault,
            last_input: clock.now(),
            clock,
            prefs: earlier.prefs,
            stored,
            policy: DEFAULT_POLICY,
            ending: false,
        };
        if !from_vault {
            // Written at once, the state taken or lost is the vault's from now on: a file
            // planted later beside this cache (no longer made now) is never read.
            lock.change(|_| Ok(()))?;
        }
        if moved {
            // Into the vault first: a crash in between leaves it in both, never in neither.
            lock.save_prefs()?;
        }
        Ok(lock)
    }

    /// Applies `f` to the state as the vault holds it now (another process may have changed
    /// it since this one read it; a state the vault lacks or cannot read is this one's), and
    /// keeps the result here and there in one step.
    fn change<T>(&mut self, f: impl FnOnce(&mut Secret) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut state = self.stored.clone();
        let mut answer = None;
        self.vault.update(&mut |text| {
            if let Some(now) = text.and_then(|t| serde_json::from_str::<Secret>(t).ok()) {
                state = now;
            }
            if let Some(f) = f.take() {
                answer = Some(f(&mut state)?);
            }
            Ok(serde_json::to_string(&state)?)
        })?;
        self.stored = state;
        answer.ok_or_else(|| ClientError::Invalid("the lock's state was not changed".into()))
    }

    fn save_prefs(&self) -> Result<()> {
        crate::profile::write_private(&self.path, &serde_json::to_vec_pretty(&self.prefs)?)?;
        Ok(())
    }

    /// Whether something this computer keeps can unlock the session: false when its state
    /// was lost, and only the password, checked with the server, unlocks it.
    pub fn knows_a_secret(&self) -> bool {
        self.stored.pin_hash.is_some() || self.stored.password_hash.is_some()
    }

    /// The password was checked with the server (this computer knew none, see
    /// [`AppLock::knows_a_secret`]): unlocks, and remembers it for the next time.
    pub fn unlock_checked(&mut self, password: &str) -> Result<()> {
        let hash = pin::hash(password)?;
        self.change(|s| {
            s.password_hash = Some(hash);
            s.open();
            Ok(())
        })?;
        self.touch();
        Ok(())
    }

    /// A password the server said is wrong (this computer knew none): counted as a wrong try.
    pub fn wrong_checked(&mut self) -> Result<Unlock> {
        self.count_wrong()
    }

    fn count_wrong(&mut self) -> Result<Unlock> {
        let now = self.clock.now();
        self.change(|s| {
            s.failures += 1;
            s.last_failure = Some(now);
            Ok(())
        })?;
        if self.stored.failures >= LOGOUT_AFTER {
            return Ok(Unlock::LogOut);
        }
        Ok(Unlock::Wrong {
            left: LOGOUT_AFTER - self.stored.failures,
            wait: self.wait(),
        })
    }

    pub fn is_locked(&self) -> bool {
        self.stored.locked
    }

    /// What was known of her emergencies as it locked, while it is locked (`None` also when
    /// that was not recorded: see [`AppLock::watch_if_unknown`]).
    pub fn watched(&self) -> Option<&Watched> {
        self.stored
            .locked
            .then_some(self.stored.watched.as_ref())
            .flatten()
    }

    /// Locked with what was known not recorded (a state lost, or an earlier version's): what is
    /// known now stands for it, so that only what comes after is told as news.
    pub fn watch_if_unknown(&mut self, known_now: impl FnOnce() -> Watched) -> Result<()> {
        if !self.stored.locked || self.stored.watched.is_some() {
            return Ok(());
        }
        let watched = known_now();
        self.change(|s| {
            if s.locked && s.watched.is_none() {
                s.watched = Some(watched);
            }
            Ok(())
        })
    }

    pub fn has_pin(&self) -> bool {
        self.stored.pin_hash.is_some()
    }

    pub fn device(&self) -> Device {
        self.prefs.device
    }

    /// The idle time the user chose (`None`: the policy's longest).
    pub fn chosen_idle(&self) -> Option<Duration> {
        self.prefs.chosen_idle_secs.map(Duration::from_secs)
    }

    /// The idle time after which the app locks now.
    pub fn idle_limit(&self) -> Duration {
        idle_limit(
            self.prefs.device.longest_idle(&self.policy),
            self.chosen_idle(),
        )
    }

    /// The most the clinic's policy allows on this kind of computer.
    pub fn longest_idle(&self, device: Device) -> Duration {
        device.longest_idle(&self.policy)
    }

    /// The clinic's policy as its server said it (a user's longer choice is cut to it).
    pub fn set_clinic_policy(&mut self, policy: LockPolicy) {
        self.policy = policy;
    }

    /// Who uses this computer, and a shorter idle time if the user wants one (a longer one is
    /// cut to the policy's; less than 30 seconds is refused as unusable).
    pub fn set_policy(&mut self, device: Device, chosen: Option<Duration>) -> Result<()> {
        if chosen.is_some_and(|c| c < Duration::from_secs(u64::from(MIN_IDLE_SECS))) {
            return Err(ClientError::Invalid(
                "the app can lock after 30 seconds without input at the soonest".into(),
            ));
        }
        self.prefs.device = device;
        self.prefs.chosen_idle_secs =
            chosen.map(|c| c.min(device.longest_idle(&self.policy)).as_secs());
        self.save_prefs()
    }

    /// Wrong tries since the last unlock.
    pub fn failures(&self) -> u32 {
        self.stored.failures
    }

    /// The user did something in the app: the idle time starts again.
    pub fn touch(&mut self) {
        self.last_input = self.clock.now();
    }

    /// Locks when the idle limit has passed since the last input; true if it locked now.
    pub fn tick(&mut self) -> Result<bool> {
        self.tick_watching(Watched::default)
    }

    /// [`AppLock::tick`], recording in the same write what `watched` says was known then.
    pub fn tick_watching(&mut self, watched: impl FnOnce() -> Watched) -> Result<bool> {
        if self.stored.locked {
            return Ok(false);
        }
        let idle = (self.clock.now() - self.last_input)
            .to_std()
            .unwrap_or_default();
        if idle < self.idle_limit() {
            return Ok(false);
        }
        self.lock_watching(watched())
    }

    /// How long until [`AppLock::tick`] would lock (zero when due or locked).
    pub fn until_idle_lock(&self) -> Duration {
        let idle = (self.clock.now() - self.last_input)
            .to_std()
            .unwrap_or_default();
        self.idle_limit().saturating_sub(idle)
    }

    /// "Lock now", or the OS screen locked.
    pub fn lock_now(&mut self) -> Result<()> {
        self.lock_watching(Watched::default()).map(|_| ())
    }

    /// Locks, recording in the same write what was known of her emergencies then (see
    /// [`Watched`]); true if it locked now (not when it was locked already, here or by another
    /// process: what was recorded then stands).
    pub fn lock_watching(&mut self, watched: Watched) -> Result<bool> {
        if self.stored.locked {
            return Ok(false);
        }
        self.change(|s| {
            let now = !s.locked;
            if now {
                s.locked = true;
                s.watched = Some(watched);
            }
            Ok(now)
        })
    }

    /// Sets the PIN (refusing weak ones, see [`check_pin`]); stored as an argon2id hash.
    pub fn set_pin(&mut self, pin: &str) -> Result<()> {
        check_pin(pin)?;
        let hash = pin::hash(pin)?;
        self.change(|s| {
            s.pin_hash = Some(hash);
            Ok(())
        })
    }

    /// Remembers the password the user signed in with (as an argon2id hash), so it unlocks the
    /// app with no server.
    pub fn remember_password(&mut self, password: &str) -> Result<()> {
        let hash = pin::hash(password)?;
        self.change(|s| {
            s.password_hash = Some(hash);
            Ok(())
        })
    }

    /// Tries the PIN or the password. Unlocking when not locked is a success with no check. The
    /// state is read again first: a try made meanwhile elsewhere (the CLI on this profile)
    /// counts, and so does its wait.
    pub fn unlock(&mut self, secret: &str) -> Result<Unlock> {
        // Read, not written: a change below reads it again inside its transaction.
        if let Some(now) = self
            .vault
            .read()?
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            self.stored = now;
        }
        if !self.stored.locked {
            return Ok(Unlock::Unlocked);
        }
        if self.stored.failures >= LOGOUT_AFTER {
            return Ok(Unlock::LogOut);
        }
        if let Some(wait) = self.wait() {
            return Ok(Unlock::Wait(wait));
        }
        let matches =
            |hash: &Option<String>| hash.as_deref().is_some_and(|h| pin::verify(secret, h));
        if matches(&self.stored.pin_hash) || matches(&self.stored.password_hash) {
            self.change(|s| {
                s.open();
                Ok(())
            })?;
            self.touch();
            return Ok(Unlock::Unlocked);
        }
        self.count_wrong()
    }

    /// Reads the state as the vault holds it now, as another process on this profile may have
    /// changed it (`clinic unlock`: a wrong try, a right one); true when it differs from what
    /// this one held. An unreadable or missing state changes nothing here.
    pub fn reread(&mut self) -> Result<bool> {
        let Some(now) = self
            .vault
            .read()?
            .and_then(|t| serde_json::from_str::<Secret>(&t).ok())
        else {
            return Ok(false);
        };
        if now == self.stored {
            return Ok(false);
        }
        if self.stored.locked && !now.locked {
            // Opened elsewhere: the idle time starts now, not at the last input here.
            self.touch();
        }
        self.stored = now;
        Ok(true)
    }

    /// Whether a try now would be checked: locked, tries left and no wait due (`unlock`
    /// answers otherwise without checking anything).
    pub fn takes_a_try(&self) -> bool {
        self.stored.locked && self.stored.failures < LOGOUT_AFTER && self.wait().is_none()
    }

    /// Whether the wrong tries ran out [`MESSAGES_WAIT`] ago or longer (the 5th one's time is
    /// the last failure's: no try is counted after it).
    pub fn waited_for_messages(&self) -> bool {
        self.stored.failures >= LOGOUT_AFTER
            && self.stored.last_failure.is_none_or(|at| {
                (self.clock.now() - at).to_std().unwrap_or_default() >= MESSAGES_WAIT
            })
    }

    /// Marks the session as ending (see [`AppLock::is_ending`]).
    pub fn set_ending(&mut self) {
        self.ending = true;
    }

    /// Whether the session is ending: what is queued now would be deleted with a shared
    /// computer's cache, or held until she signs in again.
    pub fn is_ending(&self) -> bool {
        self.ending
    }

    /// The wait still due after the last wrong try, if any.
    pub fn wait(&self) -> Option<Duration> {
        let extra = self.stored.failures.checked_sub(FREE_TRIES - 1)?;
        if extra == 0 {
            return None;
        }
        let delay = FIRST_DELAY * 2u32.saturating_pow(extra - 1);
        let since = self
            .stored
            .last_failure
            .map(|t| (self.clock.now() - t).to_std().unwrap_or_default())
            .unwrap_or(delay);
        Some(delay.saturating_sub(since)).filter(|d| !d.is_zero())
    }

    /// The session ended (logout, revoked, too many tries): the next user starts unlocked with
    /// no PIN and no remembered password. Who uses the computer and the idle time stay.
    pub fn reset(&mut self) -> Result<()> {
        self.change(|s| {
            *s = Secret::default();
            Ok(())
        })
    }

    /// Refuses an action a locked app must not take (reading, marking read, sending).
    pub fn ensure_unlocked(&self) -> Result<()> {
        if self.stored.locked {
            Err(ClientError::Locked)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
