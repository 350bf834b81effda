//! clinic-alarm: emergency alarm sound and native notifications, shared by server and desktop.
//!
//! An [`Alarm`] loops an urgent two-tone sound (rodio) for as long as any emergency *key* rings,
//! plays a soft chime for new messages, and raises freedesktop notifications (notify-rust).
//! Nothing here blocks or fails message delivery: without a sound card or a notification
//! service (a server closet, CI) each problem is logged once and the calls carry on.
//!
//! ```no_run
//! use clinic_alarm::{Alarm, AlarmConfig, Notice};
//! let alarm = Alarm::start(AlarmConfig::default());
//! alarm.raise("message-42", Notice::critical("Emergency from Jane Doe", "Chest pain"));
//! // ... when a doctor acknowledges or resolves it anywhere:
//! alarm.stop("message-42");
//! // ... or when this device's user presses "silence":
//! alarm.silence();
//! ```
//!
//! All methods are cheap and non-blocking (safe to call from async code) except
//! [`Alarm::notify`], which waits up to [`AlarmConfig::notify_timeout`] for the D-Bus answer;
//! use [`Alarm::notify_later`] (or `spawn_blocking`) from async code.

mod audio;
mod notice;
pub mod sounds;
mod status;

use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

pub use notice::{MAX_BODY_CHARS, MAX_TITLE_CHARS, Notice, NotifyError, Urgency};
pub use status::{AlarmStatus, Availability, MAX_KEYS};

use audio::{AudioSettings, Command, Engine};
use notice::Notifier;
use status::Shared;

/// How an [`Alarm`] behaves. `Default` suits the desktop app.
#[derive(Debug, Clone)]
pub struct AlarmConfig {
    /// Application name shown by the notification daemon.
    pub app_name: String,
    /// Use the audio device at all (false on a headless server that should stay quiet).
    pub audio: bool,
    /// Send desktop notifications at all.
    pub notifications: bool,
    /// After failing to open an audio device, wait this long before trying again.
    pub retry_after: Duration,
    /// Close the audio device after this long with nothing playing.
    pub idle_close: Duration,
    /// After a probe found no device, probe again this often (silently, while nothing rings)
    /// until one works: a sound server that starts after the app, or a headset plugged in, is
    /// found without waiting for an emergency.
    pub reprobe_every: Duration,
    /// Longest [`Alarm::notify`] waits for the notification service.
    pub notify_timeout: Duration,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        Self {
            app_name: "Clinic Messaging".into(),
            audio: true,
            notifications: true,
            retry_after: Duration::from_secs(10),
            idle_close: Duration::from_secs(5),
            reprobe_every: Duration::from_secs(30),
            notify_timeout: Duration::from_secs(5),
        }
    }
}

impl AlarmConfig {
    /// No sound and no notifications: for tests and servers without `--alarm`.
    pub fn disabled() -> Self {
        Self {
            audio: false,
            notifications: false,
            ..Self::default()
        }
    }
}

/// Handle to the alarm. Cheap to clone, `Send + Sync`; the sound stops when the last clone drops.
#[derive(Debug, Clone)]
pub struct Alarm {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` when audio is disabled or its thread could not start.
    audio: Option<Sender<Command>>,
    notifier: Notifier,
    shared: Arc<Shared>,
    reprobe_every: Duration,
}

impl Alarm {
    /// Starts the audio and notification threads. The audio device is opened only when
    /// something must be played or when probed ([`Alarm::probe`]), so starting is instant and
    /// silent.
    pub fn start(config: AlarmConfig) -> Self {
        let shared = Arc::new(Shared::new());
        let audio = if config.audio {
            start_audio(&config, &shared)
        } else {
            tracing::info!("alarm sound disabled by configuration");
            None
        };
        let reprobe_every = config.reprobe_every;
        let notifier = Notifier::start(
            config.notifications,
            config.app_name,
            config.notify_timeout,
            Arc::clone(&shared),
        );
        Self {
            inner: Arc::new(Inner {
                audio,
                notifier,
                shared,
                reprobe_every,
            }),
        }
    }

    /// How often a sound device is looked for again while none works (its configuration).
    pub fn reprobe_every(&self) -> Duration {
        self.inner.reprobe_every
    }

    /// Starts (or keeps) the alarm looping for the emergency `key`, e.g. a message id.
    /// Idempotent; several keys share one loop that stops when all are stopped or silenced.
    /// Returns false if `key` was already ringing or was silenced on this device.
    pub fn ring(&self, key: impl Into<String>) -> bool {
        let started = self.inner.shared.keys().ring(key.into());
        if started {
            self.send(Command::Update);
        }
        started
    }

    /// The emergency `key` was acknowledged or resolved: it stops counting towards the loop
    /// (and may ring again later). Returns true if it was ringing.
    pub fn stop(&self, key: &str) -> bool {
        let stopped = self.inner.shared.keys().stop(key);
        if stopped {
            self.send(Command::Update);
        }
        stopped
    }

    /// Silences every emergency ringing now, on this device only. Those keys will not ring
    /// again here (a re-sent alert stays quiet) unless [`Alarm::stop`]ped first; new keys do.
    /// Returns how many were silenced.
    pub fn silence(&self) -> usize {
        let silenced = self.inner.shared.keys().silence();
        if silenced > 0 {
            self.send(Command::Update);
        }
        silenced
    }

    /// Plays the short message chime once (skipped while the alarm rings or a chime plays).
    pub fn chime(&self) {
        self.send(Command::Chime);
    }

    /// Opens the sound device once, silently, so that [`Alarm::audio_available`] says whether
    /// the alarm could be heard before anything rings (a machine without sound says so from
    /// the start, not at its first emergency). The device closes again after the idle time.
    /// One that finds no device is repeated every [`AlarmConfig::reprobe_every`] until one
    /// works.
    pub fn probe(&self) {
        self.send(Command::Probe);
    }

    /// Stops looking for a sound device again after a failed probe ([`Alarm::probe`]); a ring
    /// or a chime still tries the device.
    pub fn stop_probing(&self) {
        self.send(Command::StopProbing);
    }

    /// Whether any emergency key is ringing (sound or not: see [`Alarm::audio_available`]).
    pub fn is_ringing(&self) -> bool {
        self.inner.shared.is_ringing()
    }

    /// Whether the alarm can be heard: `Unknown` until the first probe, ring or chime.
    pub fn audio_available(&self) -> Availability {
        self.inner.shared.audio.get()
    }

    /// A snapshot of keys, device and notification state and counters.
    pub fn status(&self) -> AlarmStatus {
        self.inner.shared.snapshot()
    }

    /// Shows a native notification and waits (bounded by [`AlarmConfig::notify_timeout`]) for
    /// the service to accept it. Blocking: from async code use [`Alarm::notify_later`].
    pub fn notify(&self, notice: Notice) -> Result<(), NotifyError> {
        self.inner.notifier.show(notice)
    }

    /// Queues a native notification and returns at once; failures are only logged.
    /// Errs only when notifications are disabled or too many are already waiting.
    pub fn notify_later(&self, notice: Notice) -> Result<(), NotifyError> {
        self.inner.notifier.post(notice, None)
    }

    /// Like [`Alarm::notify_later`]; `on_click` runs (on a notification thread) when the user
    /// clicks the notification, e.g. to open the conversation it is about.
    pub fn notify_later_then(
        &self,
        notice: Notice,
        on_click: impl FnOnce() + Send + 'static,
    ) -> Result<(), NotifyError> {
        self.inner.notifier.post(notice, Some(Box::new(on_click)))
    }

    /// Takes the notification shown with [`Notice::tagged`] `tag` off the screen (the
    /// emergency it announced was handled). Returns at once; nothing happens for an unknown tag.
    pub fn withdraw(&self, tag: impl Into<String>) -> Result<(), NotifyError> {
        self.inner.notifier.withdraw(tag.into())
    }

    /// Takes every notification this alarm showed off the screen (the session ended: what
    /// they said is not for whoever uses the computer next). Returns at once.
    pub fn withdraw_all(&self) -> Result<(), NotifyError> {
        self.inner.notifier.withdraw_all()
    }

    /// An emergency in one call: [`Alarm::ring`] for `key`, plus a critical notification
    /// queued with [`Alarm::notify_later`] if the key was not already ringing or silenced.
    pub fn raise(&self, key: impl Into<String>, notice: Notice) -> bool {
        let started = self.ring(key);
        if started {
            // Already logged by the notification thread if it fails.
            let _ = self.notify_later(notice);
        }
        started
    }

    fn send(&self, command: Command) {
        if let Some(audio) = &self.inner.audio {
            // Fails only if the audio thread is gone, which was logged when it happened.
            let _ = audio.send(command);
        }
    }
}

fn start_audio(config: &AlarmConfig, shared: &Arc<Shared>) -> Option<Sender<Command>> {
    let sound = |wav| {
        sounds::Sound::from_wav(wav)
            .inspect_err(|err| tracing::error!(%err, "embedded sound is broken; alarm is silent"))
            .ok()
    };
    let (alarm, chime) = (sound(sounds::ALARM_WAV)?, sound(sounds::MESSAGE_WAV)?);
    let settings = AudioSettings {
        retry_after: config.retry_after,
        idle_close: config.idle_close,
        reprobe_every: config.reprobe_every,
    };
    let engine = Engine::new(settings, Arc::clone(shared), alarm, chime);
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("clinic-alarm".into())
        .spawn(move || engine.run(&rx))
        .inspect_err(
            |err| tracing::error!(%err, "could not start the audio thread; alarm is silent"),
        )
        .ok()
        .map(|_| tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_handle_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Alarm>();
    }

    #[test]
    fn disabled_alarm_tracks_keys_but_touches_no_device() {
        let alarm = Alarm::start(AlarmConfig::disabled());
        assert!(alarm.ring("a"));
        assert!(!alarm.ring("a"));
        assert!(alarm.is_ringing());
        assert_eq!(
            alarm.notify(Notice::critical("t", "b")),
            Err(NotifyError::Disabled)
        );
        assert_eq!(alarm.silence(), 1);
        assert!(!alarm.is_ringing());
        let status = alarm.status();
        assert_eq!(
            (status.audio, status.device_open),
            (Availability::Unknown, false)
        );
    }
}
