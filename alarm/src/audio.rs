//! The audio thread: opens the output device lazily (and at start when probed, again and again
//! until one works), loops the alarm while any emergency key rings, plays the message chime,
//! and closes the device again when idle.
//!
//! rodio's output stream is not `Send`, so it lives on this one thread; the `Alarm` handle talks
//! to it over a channel. A missing or failing device is logged once and retried later (a USB
//! headset may be plugged in during a shift); it never blocks or fails the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rodio::source::EmptyCallback;
use rodio::{CpalErrorKind, DeviceSinkBuilder, DeviceSinkError, MixerDeviceSink, Player};

use crate::sounds::Sound;
use crate::status::{Availability, Shared};

/// What the handle asks of the audio thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// The set of ringing keys changed: start or stop the loop accordingly.
    Update,
    /// Play the message chime once (coalesced if one is already playing).
    Chime,
    /// Open the device once, silently, to learn whether the alarm could be heard.
    Probe,
    /// Stop looking for a device again after a failed probe (nobody here relies on the sound
    /// any more: the doctor signed out).
    StopProbing,
}

/// How often the thread wakes while something plays: tops up the loop queue, notices the end
/// of a chime, retries a missing device. Two loops are queued ahead, so this is not latency-critical.
const TICK: Duration = Duration::from_millis(100);
/// Pause before reopening a device that failed mid-stream (e.g. a USB headset unplugged).
const RETRY_BROKEN: Duration = Duration::from_millis(500);
/// Alarm loops kept queued ahead of the one playing (bounds memory, avoids gaps between loops).
const LOOPS_AHEAD: usize = 2;

/// Audio settings the thread needs from [`crate::AlarmConfig`].
#[derive(Debug, Clone)]
pub(crate) struct AudioSettings {
    pub(crate) retry_after: Duration,
    pub(crate) idle_close: Duration,
    pub(crate) reprobe_every: Duration,
}

/// An open output device and what is playing on it.
struct Output {
    sink: MixerDeviceSink,
    /// Set from cpal's error callback when the device went away mid-stream.
    broken: Arc<AtomicBool>,
    alarm: Option<Player>,
    chime: Option<Player>,
    idle_since: Option<Instant>,
}

pub(crate) struct Engine {
    settings: AudioSettings,
    shared: Arc<Shared>,
    alarm: Sound,
    chime: Sound,
    out: Option<Output>,
    chime_pending: bool,
    /// A probe waits: open the device (if it is not open) to learn whether it works.
    probe_pending: bool,
    /// When to probe again after a probe found no device (until one works).
    reprobe_at: Option<Instant>,
    next_attempt: Option<Instant>,
    /// "Said once": true after we warned about a missing device, until it works again.
    said_unavailable: bool,
    /// "Said once" for a device that failed while open.
    said_broken: bool,
}

impl Engine {
    pub(crate) fn new(
        settings: AudioSettings,
        shared: Arc<Shared>,
        alarm: Sound,
        chime: Sound,
    ) -> Self {
        Self {
            settings,
            shared,
            alarm,
            chime,
            out: None,
            chime_pending: false,
            probe_pending: false,
            reprobe_at: None,
            next_attempt: None,
            said_unavailable: false,
            said_broken: false,
        }
    }

    /// Runs until every `Alarm` handle is dropped, then stops all sound.
    pub(crate) fn run(mut self, commands: &Receiver<Command>) {
        loop {
            let command = if self.busy() {
                match commands.recv_timeout(TICK) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else if let Some(at) = self.reprobe_at {
                match commands.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => Some(Command::Probe),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match commands.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                }
            };
            match command {
                Some(Command::Chime) => self.chime_pending = true,
                Some(Command::Probe) => self.probe_pending = true,
                Some(Command::StopProbing) => {
                    self.probe_pending = false;
                    self.reprobe_at = None;
                }
                _ => {}
            }
            self.step();
        }
        self.close();
    }

    /// Whether the thread must keep waking up (something rings, plays, or waits to close).
    fn busy(&self) -> bool {
        self.out.is_some() || self.shared.is_ringing()
    }

    /// Brings the device and players in line with what should be audible right now.
    fn step(&mut self) {
        let ringing = self.shared.is_ringing();
        if self
            .out
            .as_ref()
            .is_some_and(|out| out.broken.load(Ordering::Acquire))
        {
            // Said once until a device works through to an idle close; a flapping device is
            // retried at most every RETRY_BROKEN instead of every tick.
            if std::mem::replace(&mut self.said_broken, true) {
                tracing::debug!("audio device stopped working again; will reopen it");
            } else {
                tracing::warn!("audio device stopped working; will reopen it");
            }
            self.close();
            self.next_attempt = Some(Instant::now() + RETRY_BROKEN);
        }
        let probe = std::mem::take(&mut self.probe_pending);
        if ringing || self.chime_pending {
            self.open_if_due();
        } else if probe && self.out.is_none() {
            // A probe only opens the device: with nothing to play, the idle close follows. A
            // failed one sets no wait: a ring right after it (a sound server still starting)
            // tries the device at once.
            let waiting = self.next_attempt;
            self.open_if_due();
            if self.out.is_none() {
                self.next_attempt = waiting;
                self.reprobe_at = Some(Instant::now() + self.settings.reprobe_every);
            }
        }
        let chime_wanted = std::mem::take(&mut self.chime_pending);
        let Some(out) = self.out.as_mut() else {
            return; // no device: the missing sound was already reported; chimes are dropped
        };
        if ringing {
            let player = out
                .alarm
                .get_or_insert_with(|| Player::connect_new(out.sink.mixer()));
            // Each loop is the sound followed by a marker that counts it as played.
            while player.len() < 2 * LOOPS_AHEAD {
                player.append(self.alarm.source());
                let shared = Arc::clone(&self.shared);
                player.append(EmptyCallback::new(Box::new(move || {
                    shared.loops_played.fetch_add(1, Ordering::AcqRel);
                })));
            }
        } else if let Some(player) = out.alarm.take() {
            player.stop();
        }
        // A chime under a ringing alarm adds nothing; a burst of messages gives one chime.
        let chime_idle = out.chime.as_ref().is_none_or(Player::empty);
        if chime_wanted && !ringing && chime_idle {
            let player = out
                .chime
                .get_or_insert_with(|| Player::connect_new(out.sink.mixer()));
            player.append(self.chime.source());
            self.shared.chimes_played.fetch_add(1, Ordering::AcqRel);
        }
        let playing = out.alarm.is_some() || out.chime.as_ref().is_some_and(|p| !p.empty());
        if playing {
            out.idle_since = None;
        } else if out.idle_since.get_or_insert_with(Instant::now).elapsed()
            >= self.settings.idle_close
        {
            // Holding a sound device open all shift costs power and blocks exclusive devices.
            self.close();
            self.said_broken = false;
        }
    }

    fn open_if_due(&mut self) {
        if self.out.is_some() || self.next_attempt.is_some_and(|at| Instant::now() < at) {
            return;
        }
        match open_output() {
            Ok((mut sink, broken)) => {
                sink.log_on_drop(false);
                tracing::debug!(config = ?sink.config(), "audio device opened");
                if self.shared.audio.swap(Availability::Available) == Availability::Unavailable {
                    tracing::info!("audio output works again");
                }
                self.said_unavailable = false;
                self.next_attempt = None;
                self.reprobe_at = None;
                self.shared.device_open.store(true, Ordering::Release);
                self.out = Some(Output {
                    sink,
                    broken,
                    alarm: None,
                    chime: None,
                    idle_since: None,
                });
            }
            Err(err) => {
                let err = with_sources(&err);
                self.shared.audio.set(Availability::Unavailable);
                self.next_attempt = Some(Instant::now() + self.settings.retry_after);
                if self.said_unavailable {
                    tracing::debug!(error = %err, "still no audio output");
                } else {
                    self.said_unavailable = true;
                    tracing::warn!(
                        error = %err,
                        retry_after = ?self.settings.retry_after,
                        "no audio output: alarms on this machine are silent (delivery and \
                         notifications carry on); will retry"
                    );
                }
            }
        }
    }

    fn close(&mut self) {
        if let Some(out) = self.out.take() {
            drop(out);
            self.shared.device_open.store(false, Ordering::Release);
            tracing::debug!("audio device closed");
        }
    }
}

/// Opens the default output device, falling back to any other real (non-null) device, as
/// rodio's `open_default_sink` does, but with an error callback that flags a lost device.
fn open_output() -> Result<(MixerDeviceSink, Arc<AtomicBool>), DeviceSinkError> {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&broken);
    let on_error = move |err: rodio::CpalError| match err.kind() {
        CpalErrorKind::DeviceNotAvailable
        | CpalErrorKind::StreamInvalidated
        | CpalErrorKind::HostUnavailable => {
            flag.store(true, Ordering::Release);
        }
        _ => tracing::debug!(error = %err, "audio stream hiccup"),
    };
    let open = |builder: DeviceSinkBuilder| {
        builder
            .with_error_callback(on_error.clone())
            .open_sink_or_fallback()
    };
    let sink = DeviceSinkBuilder::from_default_device()
        .and_then(open)
        .or_else(|first_err| other_device(open).ok_or(first_err))?;
    Ok((sink, broken))
}

/// The first non-default, non-null output device that opens.
fn other_device(
    open: impl Fn(DeviceSinkBuilder) -> Result<MixerDeviceSink, DeviceSinkError>,
) -> Option<MixerDeviceSink> {
    use rodio::DeviceTrait;
    use rodio::cpal::traits::HostTrait;
    rodio::cpal::default_host()
        .output_devices()
        .ok()?
        .filter(|dev| {
            dev.description()
                .is_ok_and(|desc| desc.driver().is_some_and(|driver| driver != "null"))
        })
        .find_map(|dev| DeviceSinkBuilder::from_device(dev).and_then(&open).ok())
}

/// `err` with its causes: rodio's messages alone ("Failed to get the config for the given
/// device") do not say what ALSA actually complained about.
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
