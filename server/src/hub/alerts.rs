//! Emergency alerts on their way to sockets: each socket's lane ahead of its queue, and the count
//! of alerts queued and not yet written out, which the database work an alert leads to waits for.

use axum::extract::ws::Utf8Bytes;
use clinic_protocol::EmergencyId;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Most emergencies one socket may have alerts waiting for; more would mean more open
/// emergencies than the watch keeps.
const MAX_PENDING_ALERTS: usize = 1024;

/// The emergency alerts waiting for one socket, outside its queue: at most one per emergency
/// (a newer alert replaces the older one), written before anything else queued, and never
/// counted against the socket's budget. A socket that is behind may be closed for its other
/// frames, but its alerts cannot be what closes it, and they are the first thing it gets.
///
/// Each alert put here counts as in flight (hub-wide, [`InFlight`]) until the write task says
/// it is written out, or the lane closes: a socket whose writes hang holds nobody up once it is
/// closed.
#[derive(Debug)]
pub(crate) struct Alerts {
    lane: Mutex<Lane>,
    any: AtomicBool,
    /// Wakes the write task.
    pub wake: Notify,
    /// Where this lane's alerts are counted (the hub's count).
    in_flight: Arc<InFlight>,
}

#[derive(Debug, Default)]
struct Lane {
    waiting: Vec<(EmergencyId, Utf8Bytes)>,
    /// Alerts of this lane counted in flight: waiting, or taken and not yet written.
    counted: usize,
    /// The socket is closing: nothing more is counted.
    closed: bool,
}

impl Alerts {
    /// An empty lane whose alerts count in `in_flight`.
    pub(crate) fn new(in_flight: Arc<InFlight>) -> Self {
        Self {
            lane: Mutex::default(),
            any: AtomicBool::new(false),
            wake: Notify::new(),
            in_flight,
        }
    }

    fn lane(&self) -> MutexGuard<'_, Lane> {
        self.lane.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops counting up to `n` of the lane's alerts.
    fn uncount(&self, lane: &mut Lane, n: usize) {
        let n = n.min(lane.counted);
        lane.counted -= n;
        self.in_flight.sub(n);
    }

    /// Takes every waiting alert, oldest emergency first. They stay in flight until
    /// [`Alerts::written`].
    pub(crate) fn take(&self) -> Vec<Utf8Bytes> {
        if !self.any.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        self.lane()
            .waiting
            .drain(..)
            .map(|(_, frame)| frame)
            .collect()
    }

    /// The write task wrote out `n` alerts it took.
    pub(crate) fn written(&self, n: usize) {
        if n > 0 {
            self.uncount(&mut self.lane(), n);
        }
    }

    /// The socket is closing: its alerts no longer count as in flight, written or not.
    pub(crate) fn close(&self) {
        let mut lane = self.lane();
        lane.closed = true;
        let counted = lane.counted;
        self.uncount(&mut lane, counted);
    }

    /// Queues `frame` as the alert of `id`; false when too many are waiting. An alert it
    /// replaces was never written and stays counted once.
    pub(super) fn put(&self, id: &EmergencyId, frame: Utf8Bytes) -> bool {
        let mut lane = self.lane();
        if let Some(slot) = lane.waiting.iter_mut().find(|(waiting, _)| waiting == id) {
            slot.1 = frame;
        } else if lane.waiting.len() < MAX_PENDING_ALERTS {
            lane.waiting.push((id.clone(), frame));
            if !lane.closed {
                lane.counted += 1;
                self.in_flight.add(1);
            }
        } else {
            return false;
        }
        self.any.store(true, Ordering::Release);
        drop(lane);
        self.wake.notify_one();
        true
    }
}

impl Drop for Alerts {
    fn drop(&mut self) {
        self.close();
    }
}

/// How many alerts are queued to sockets and not yet written out, across the hub.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    none: Notify,
}

impl InFlight {
    fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::AcqRel);
    }

    fn sub(&self, n: usize) {
        if n > 0 && self.count.fetch_sub(n, Ordering::AcqRel) == n {
            self.none.notify_waiters();
        }
    }

    /// Alerts queued to sockets and not yet written out, now.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Returns once no alert is in flight, or after `within`.
    pub(crate) async fn settled(&self, within: Duration) {
        let _ = tokio::time::timeout(within, async {
            loop {
                let none = self.none.notified();
                tokio::pin!(none);
                // Registered before the check, so a last alert written in between wakes it.
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

    /// An alert is in flight from its queueing until it is written (a replaced one counts once),
    /// or until its socket closes, even with the alert taken and never written.
    #[test]
    fn an_alert_is_in_flight_until_written_or_its_socket_closes() {
        let in_flight = Arc::new(InFlight::default());
        assert!(settles_within(&in_flight, 200), "nothing queued");
        let (a, b) = (EmergencyId::from("e-a"), EmergencyId::from("e-b"));
        let lane = Alerts::new(Arc::clone(&in_flight));
        assert!(lane.put(&a, "a1".into()));
        assert!(!settles_within(&in_flight, 50), "queued, not written");
        assert!(lane.put(&a, "a2".into()));
        assert!(lane.put(&b, "b".into()));
        assert_eq!(lane.take(), ["a2", "b"]);
        assert!(!settles_within(&in_flight, 50), "taken, not yet written");
        lane.written(1);
        assert!(!settles_within(&in_flight, 50), "one of two written");
        lane.written(1);
        assert!(settles_within(&in_flight, 200), "both written");

        // A write task stuck with an alert taken: closing the socket ends its count, and what
        // the task reports later changes nothing.
        assert!(lane.put(&a, "a3".into()));
        assert_eq!(lane.take(), ["a3"]);
        assert!(!settles_within(&in_flight, 50));
        lane.close();
        assert!(settles_within(&in_flight, 200));
        lane.written(1);
        assert!(lane.put(&b, "after close".into()));
        assert!(
            settles_within(&in_flight, 200),
            "a closing socket counts nothing"
        );

        // Dropped with an alert waiting: the same.
        let other = Alerts::new(Arc::clone(&in_flight));
        assert!(other.put(&a, "a4".into()));
        assert!(!settles_within(&in_flight, 50));
        drop(other);
        assert!(settles_within(&in_flight, 200));
    }

    /// A waiter wakes when the last alert is written while it waits.
    #[tokio::test]
    async fn a_waiter_wakes_when_the_last_alert_is_written() {
        let in_flight = Arc::new(InFlight::default());
        let lane = Arc::new(Alerts::new(Arc::clone(&in_flight)));
        assert!(lane.put(&EmergencyId::from("e-a"), "a".into()));
        let writer = Arc::clone(&lane);
        let ends = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let taken = writer.take();
            writer.written(taken.len());
        });
        let started = std::time::Instant::now();
        in_flight.settled(Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        ends.await.expect("task");
    }
}
