//! The server machine's own alarm (`serve --alarm`), for a front desk or nurses' station: the
//! alarm sound loops while any emergency waits for a doctor, with a critical notification
//! naming the patient when it is raised and when it escalates. Sound or notification failures
//! are logged once by clinic-alarm and never touch delivery.

use clinic_alarm::{Alarm, AlarmConfig, Availability, Notice};
use clinic_protocol::{Emergency, EmergencyId};

/// Longest the start waits to learn whether the sound device works (opening one takes
/// milliseconds; a sound server still starting may take longer, and is told later).
const PROBE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug)]
pub(super) struct Siren {
    alarm: Alarm,
}

impl Siren {
    /// Starts the alarm's threads and tries the sound device once, before the server serves
    /// (at start, where a wait of a moment on this thread holds nothing else up):
    /// a machine where the alarm cannot be heard says so at start (and again once a device
    /// works), not at its first emergency. Waits at most [`PROBE_PATIENCE`] for the answer.
    pub(super) fn start() -> Self {
        tracing::info!("server alarm on: unacknowledged emergencies ring on this machine");
        let alarm = Alarm::start(AlarmConfig::default());
        alarm.probe();
        let asked = std::time::Instant::now();
        while alarm.audio_available() == Availability::Unknown && asked.elapsed() < PROBE_PATIENCE {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        match alarm.audio_available() {
            Availability::Available => tracing::info!("the server alarm's sound device works"),
            Availability::Unavailable => tracing::warn!(
                "the server alarm cannot be heard: no sound device works on this machine (it \
                 is tried again every {} s; emergencies still reach every doctor's app)",
                alarm.reprobe_every().as_secs()
            ),
            Availability::Unknown => {}
        }
        Self { alarm }
    }

    /// Rings for `emergency` until [`Siren::stop`], with a notification the first time. The
    /// message text stays out of it: a front-desk screen may be seen by anyone passing by.
    pub(super) fn raise(&self, emergency: &Emergency) {
        self.alarm.raise(
            emergency.id.as_str(),
            Notice::critical(
                format!("Emergency from {}", emergency.patient_name),
                "No doctor has acknowledged it yet.",
            ),
        );
    }

    /// Nobody took it in time: a second, louder-worded notification (the sound already loops).
    pub(super) fn escalated(&self, emergency: &Emergency) {
        // Failures are logged by the notification thread.
        let _ = self.alarm.notify_later(Notice::critical(
            format!("ESCALATED: emergency from {}", emergency.patient_name),
            "Still not acknowledged. Every doctor has been alerted.",
        ));
    }

    /// A doctor took or closed it.
    pub(super) fn stop(&self, id: &EmergencyId) {
        self.alarm.stop(id.as_str());
    }
}
