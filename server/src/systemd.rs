//! Talking to systemd (`Type=notify`): READY once the database is migrated and the port bound,
//! WATCHDOG only while a write round trip through the writer thread succeeds, STOPPING when
//! shutdown begins. Without `NOTIFY_SOCKET` (not under systemd) every call does nothing.

use crate::state::AppState;
use sd_notify::NotifyState;
use std::time::Duration;

/// The server is serving: migrations ran, the listener is bound, the writer is up.
pub(crate) fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// Shutdown began: systemd waits for the exit instead of counting a missed watchdog.
pub(crate) fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: closing sockets"),
    ]);
}

/// Pings the watchdog at half its interval, each time only after a round trip through the writer
/// (a transaction that takes the write lock and commits) came back in time. A stuck writer or an
/// unusable database stops the pings, and systemd restarts the service. Returns at once when no
/// watchdog is configured.
pub(crate) async fn watchdog(state: AppState) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = true;
    loop {
        tick.tick().await;
        let probe = state.store.probe_writer();
        let failure = match tokio::time::timeout(period, probe).await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(crate::error::ApiError::from(err).message),
            Err(_) => Some(format!("no answer within {} ms", period.as_millis())),
        };
        match failure {
            None => {
                if healthy {
                    send(&[NotifyState::Watchdog]);
                } else {
                    tracing::info!("the database answers again");
                    send(&[NotifyState::Watchdog, NotifyState::Status("serving")]);
                }
                healthy = true;
            }
            Some(reason) => {
                if healthy {
                    tracing::error!(reason, "database round trip failed; watchdog not pinged");
                }
                let status = format!("database not answering: {reason}");
                send(&[NotifyState::Status(&status)]);
                healthy = false;
            }
        }
    }
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}
