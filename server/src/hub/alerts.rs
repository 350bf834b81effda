//! Emergency alerts on their way to sockets: each socket's lane ahead of its queue, and the count
//! of alerts queued and not yet written out, which the database work an alert leads to waits for.

use axum::extract::ws::Utf8Bytes;
use clinic_protocol::EmergencyId;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Most emergencies one socket may have alerts waiting for; more would mean more open
/// emergencies than the watch keeps.
const MAX_PENDING_ALERTS: usize = 1024;

/// The emergency alerts waiting for one socket, outside its queue: at most one per emergency
/// (a newer alert replaces the older one), written before anything else queued, and never
/// counted against the socket's budget. A socket that is behind may be closed for its other
/// frames, but its alerts cannot be what closes it, and they are the first thing it gets.
#[derive(Debug, Default)]
pub(crate) struct Alerts {
    pending: Mutex<Vec<(EmergencyId, Utf8Bytes, Delivery)>>,
    any: AtomicBool,
    /// Wakes the write task.
    pub wake: Notify,
}

impl Alerts {
    /// Takes every waiting alert, oldest emergency first, each with its [`Delivery`] (to drop
    /// once the frame is written out).
    pub(crate) fn take(&self) -> Vec<(Utf8Bytes, Delivery)> {
        if !self.any.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .drain(..)
            .map(|(_, frame, delivery)| (frame, delivery))
            .collect()
    }

    /// Queues `frame` as the alert of `id`; false when too many are waiting. The alert it
    /// replaces, if any, is not written: its delivery ends here.
    pub(super) fn put(&self, id: &EmergencyId, frame: Utf8Bytes, delivery: Delivery) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = pending.iter_mut().find(|(waiting, _, _)| waiting == id) {
            slot.1 = frame;
            slot.2 = delivery;
        } else if pending.len() < MAX_PENDING_ALERTS {
            pending.push((id.clone(), frame, delivery));
        } else {
            return false;
        }
        self.any.store(true, Ordering::Release);
        drop(pending);
        self.wake.notify_one();
        true
    }
}

/// How many alerts are queued to sockets and not yet written out, across the hub.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    none: Notify,
}

impl InFlight {
    /// Returns once no alert is in flight, or after `within`.
    pub(crate) async fn settled(&self, within: Duration) {
        let _ = tokio::time::timeout(within, async {
            loop {
                let none = self.none.notified();
                tokio::pin!(none);
                // Registered before the check, so a last delivery ending in between wakes it.
                none.as_mut().enable();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                none.await;
            }
        })
        .await;
    }
}

/// One alert in flight to one socket: counted while it exists. It ends (is dropped) once the
/// write task has written the frame out, or with the alert that replaces it, or with its socket.
#[derive(Debug)]
pub(crate) struct Delivery(Arc<InFlight>);

impl Delivery {
    pub(crate) fn new(in_flight: &Arc<InFlight>) -> Self {
        in_flight.count.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(in_flight))
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settles_within(in_flight: &InFlight, ms: u64) -> bool {
        let started = std::time::Instant::now();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(in_flight.settled(Duration::from_millis(ms)));
        started.elapsed() < Duration::from_millis(ms)
    }

    /// An alert is in flight from its queueing until it is written, replaced, or its socket goes.
    #[test]
    fn an_alert_is_in_flight_until_written_replaced_or_dropped_with_its_socket() {
        let in_flight = Arc::new(InFlight::default());
        assert!(settles_within(&in_flight, 200), "nothing queued");
        let (a, b) = (EmergencyId::from("e-a"), EmergencyId::from("e-b"));
        let lane = Alerts::default();
        assert!(lane.put(&a, "a1".into(), Delivery::new(&in_flight)));
        assert!(!settles_within(&in_flight, 50), "queued, not written");
        // Replaced: the first copy's delivery ends, the second's goes on.
        assert!(lane.put(&a, "a2".into(), Delivery::new(&in_flight)));
        assert!(lane.put(&b, "b".into(), Delivery::new(&in_flight)));
        let taken = lane.take();
        let frames: Vec<&str> = taken.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(frames, ["a2", "b"]);
        assert!(!settles_within(&in_flight, 50), "taken, not yet written");
        drop(taken);
        assert!(settles_within(&in_flight, 200), "written");

        // A socket that goes with an alert still waiting ends its delivery too.
        let lane = Alerts::default();
        assert!(lane.put(&a, "a3".into(), Delivery::new(&in_flight)));
        assert!(!settles_within(&in_flight, 50));
        drop(lane);
        assert!(settles_within(&in_flight, 200));
    }

    /// A waiter wakes when the last delivery ends while it waits.
    #[tokio::test]
    async fn a_waiter_wakes_when_the_last_alert_is_written() {
        let in_flight = Arc::new(InFlight::default());
        let delivery = Delivery::new(&in_flight);
        let ends = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(delivery);
        });
        let started = std::time::Instant::now();
        in_flight.settled(Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        ends.await.expect("task");
    }
}
