//! Who is typing where, with a timeout: a peer that stops refreshing (or crashed) is reported
//! as stopped after `timeout`.

use crate::events::ClientEvent;
use clinic_protocol::{ConversationKey, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

type Key = (ConversationKey, UserId);

/// Most typists tracked at once: a server flooding made-up typists cannot grow memory (or
/// timers) without bound.
const MAX_TYPISTS: usize = 1_000;

#[derive(Debug)]
pub(crate) struct Typing {
    timeout: Duration,
    /// When each typist's indicator ends unless refreshed.
    active: Mutex<HashMap<Key, Instant>>,
}

impl Typing {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            active: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn started(self: &Arc<Self>, key: Key, events: &broadcast::Sender<ClientEvent>) {
        let deadline = Instant::now() + self.timeout;
        {
            let mut active = self.lock();
            if let Some(current) = active.get_mut(&key) {
                // A refresh: the timer already running sees the later deadline.
                *current = deadline;
                return;
            }
            if active.len() >= MAX_TYPISTS {
                return;
            }
            active.insert(key.clone(), deadline);
        }
        let _ = events.send(event(&key, true));
        let this = Arc::clone(self);
        let events = events.clone();
        // One timer per typist, sleeping until the latest deadline.
        tokio::spawn(async move {
            loop {
                let deadline = match this.lock().get(&key) {
                    Some(deadline) => *deadline,
                    None => return,
                };
                if Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep_until(deadline).await;
            }
            let expired = {
                let mut active = this.lock();
                let due = active.get(&key).is_some_and(|d| Instant::now() >= *d);
                due && active.remove(&key).is_some()
            };
            if expired {
                let _ = events.send(event(&key, false));
            }
        });
    }

    pub(crate) fn stopped(&self, key: &Key, events: &broadcast::Sender<ClientEvent>) {
        if self.lock().remove(key).is_some() {
            let _ = events.send(event(key, false));
        }
    }

    /// The connection dropped: nobody is known to be typing any more.
    pub(crate) fn clear(&self, events: &broadcast::Sender<ClientEvent>) {
        let keys: Vec<Key> = self.lock().drain().map(|(k, _)| k).collect();
        for key in keys {
            let _ = events.send(event(&key, false));
        }
    }

    pub(crate) fn typists(&self) -> Vec<Key> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Instant>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn event((conversation, user_id): &Key, typing: bool) -> ClientEvent {
    ClientEvent::Typing {
        patient_id: conversation.patient_id.clone(),
        doctor_id: conversation.doctor_id.clone(),
        user_id: user_id.clone(),
        typing,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn typing_times_out_unless_refreshed() {
        let (tx, mut rx) = broadcast::channel(16);
        let typing = Arc::new(Typing::new(Duration::from_secs(6)));
        let key = (ConversationKey::new("p", "d"), UserId::from("p"));
        typing.started(key.clone(), &tx);
        assert!(matches!(
            rx.recv().await.unwrap(),
            ClientEvent::Typing { typing: true, .. }
        ));
        tokio::time::sleep(Duration::from_secs(4)).await;
        typing.started(key.clone(), &tx); // refresh: no new event, timer restarts
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(typing.typists().len(), 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(matches!(
            rx.recv().await.unwrap(),
            ClientEvent::Typing { typing: false, .. }
        ));
        assert!(typing.typists().is_empty());
    }
}
