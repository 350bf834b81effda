//! The server machine's own alarm (`serve --alarm`), for a front desk or nurses' station: the
//! alarm sound loops while any emergency waits for a doctor, with a critical notification
//! naming the patient when it is raised and when it escalates. Sound or notification failures
//! are logged once by clinic-alarm and never touch delivery.

use clinic_alarm::{Alarm, AlarmConfig, Notice};
use clinic_protocol::{Emergency, EmergencyId};

#[derive(Debug)]
pub(super) struct Siren {
    alarm: Alarm,
}

impl Siren {
    /// Starts the alarm's threads; no audio device is opened until something rings.
    pub(super) fn start() -> Self {
        tracing::info!("server alarm on: unacknowledged emergencies ring on this machine");
        Self {
            alarm: Alarm::start(AlarmConfig::default()),
        }
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
