//! State shared between the `Alarm` handle, the audio thread and the notification thread:
//! which emergencies are ringing, whether audio and notifications work, and counters for tests.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Most emergency keys remembered at once (ringing, and silenced on this device). Keys come from
/// the network, so the sets are bounded; past the bound the alarm still rings, it just stops
/// telling the extra keys apart.
pub const MAX_KEYS: usize = 1024;

/// Whether an output (audio device, notification service) works, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Not tried yet (audio opens lazily on the first ring or chime).
    Unknown,
    /// The last attempt worked.
    Available,
    /// The last attempt failed (logged once); we keep trying on later use.
    Unavailable,
}

/// An [`Availability`] that threads can update.
#[derive(Debug)]
pub(crate) struct AtomicAvailability(AtomicU8);

impl AtomicAvailability {
    const fn new() -> Self {
        Self(AtomicU8::new(0))
    }

    pub(crate) fn get(&self) -> Availability {
        Self::decode(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn set(&self, value: Availability) {
        self.0.store(Self::encode(value), Ordering::Release);
    }

    /// Sets `value` and returns the previous one.
    pub(crate) fn swap(&self, value: Availability) -> Availability {
        Self::decode(self.0.swap(Self::encode(value), Ordering::AcqRel))
    }

    const fn encode(value: Availability) -> u8 {
        match value {
            Availability::Unknown => 0,
            Availability::Available => 1,
            Availability::Unavailable => 2,
        }
    }

    const fn decode(raw: u8) -> Availability {
        match raw {
            1 => Availability::Available,
            2 => Availability::Unavailable,
            _ => Availability::Unknown,
        }
    }
}

/// A snapshot of what the alarm is doing, for status displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmStatus {
    /// Emergency keys currently ringing (not stopped, not silenced).
    pub ringing: usize,
    /// Whether an audio device could be opened.
    pub audio: Availability,
    /// Whether the audio device is open right now (it is closed again when idle).
    pub device_open: bool,
    /// Complete alarm loops handed to the audio device since start.
    pub loops_played: u64,
    /// Message chimes handed to the audio device since start.
    pub chimes_played: u64,
    /// Whether the last notification reached a notification service.
    pub notifications: Availability,
    /// Notifications the service accepted since start.
    pub notices_shown: u64,
}

/// Which emergency keys ring, and which this device has silenced.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    ringing: BTreeSet<String>,
    /// Silenced keys in silencing order, so the oldest can be forgotten past [`MAX_KEYS`].
    silenced: VecDeque<String>,
}

impl Keys {
    /// Starts ringing for `key`; false if it already rings or this device silenced it.
    pub(crate) fn ring(&mut self, key: String) -> bool {
        if self.silenced.contains(&key) || self.ringing.contains(&key) {
            return false;
        }
        if self.ringing.len() >= MAX_KEYS {
            // Still ringing (the set is non-empty); we only lose track of this key's stop.
            tracing::debug!("too many simultaneous emergencies; not tracking key {key}");
            return false;
        }
        self.ringing.insert(key)
    }

    /// Forgets `key` (acknowledged or resolved): true if it was ringing.
    pub(crate) fn stop(&mut self, key: &str) -> bool {
        self.silenced.retain(|k| k != key);
        self.ringing.remove(key)
    }

    /// Silences everything ringing now; those keys will not ring again on this device.
    pub(crate) fn silence(&mut self) -> usize {
        let count = self.ringing.len();
        for key in std::mem::take(&mut self.ringing) {
            if self.silenced.len() >= MAX_KEYS {
                self.silenced.pop_front();
            }
            self.silenced.push_back(key);
        }
        count
    }

    pub(crate) fn ringing(&self) -> usize {
        self.ringing.len()
    }
}

/// Everything the threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    keys: Mutex<Keys>,
    pub(crate) audio: AtomicAvailability,
    pub(crate) device_open: AtomicBool,
    pub(crate) loops_played: AtomicU64,
    pub(crate) chimes_played: AtomicU64,
    pub(crate) notifications: AtomicAvailability,
    pub(crate) notices_shown: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            keys: Mutex::new(Keys::default()),
            audio: AtomicAvailability::new(),
            device_open: AtomicBool::new(false),
            loops_played: AtomicU64::new(0),
            chimes_played: AtomicU64::new(0),
            notifications: AtomicAvailability::new(),
            notices_shown: AtomicU64::new(0),
        }
    }

    /// The key sets. A panic while holding the lock cannot leave them inconsistent (every
    /// method is a single collection operation), so a poisoned lock is simply reused.
    pub(crate) fn keys(&self) -> MutexGuard<'_, Keys> {
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn is_ringing(&self) -> bool {
        self.keys().ringing() > 0
    }

    pub(crate) fn snapshot(&self) -> AlarmStatus {
        AlarmStatus {
            ringing: self.keys().ringing(),
            audio: self.audio.get(),
            device_open: self.device_open.load(Ordering::Acquire),
            loops_played: self.loops_played.load(Ordering::Acquire),
            chimes_played: self.chimes_played.load(Ordering::Acquire),
            notifications: self.notifications.get(),
            notices_shown: self.notices_shown.load(Ordering::Acquire),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_idempotent_and_stop_clears_one_key() {
        let mut keys = Keys::default();
        assert!(keys.ring("a".into()));
        assert!(!keys.ring("a".into()));
        assert!(keys.ring("b".into()));
        assert!(keys.stop("a"));
        assert!(!keys.stop("a"));
        assert_eq!(keys.ringing(), 1);
    }

    #[test]
    fn silenced_keys_do_not_ring_again_until_stopped() {
        let mut keys = Keys::default();
        keys.ring("a".into());
        assert_eq!(keys.silence(), 1);
        assert!(
            !keys.ring("a".into()),
            "a re-sent alert must not restart the noise"
        );
        assert!(keys.ring("b".into()), "a new emergency rings");
        assert!(!keys.stop("a"));
        assert!(
            keys.ring("a".into()),
            "after resolve, the same key may ring again"
        );
    }

    #[test]
    fn key_sets_stay_bounded() {
        let mut keys = Keys::default();
        for round in 0..3 {
            for i in 0..MAX_KEYS + 10 {
                keys.ring(format!("{round}-{i}"));
            }
            keys.silence();
        }
        assert_eq!(keys.ringing(), 0);
        assert_eq!(keys.silenced.len(), MAX_KEYS);
    }
}
