//! Who is typing where, with a timeout: a peer that stops refreshing (or crashed) is reported
//! as stopped after `timeout`.

use crate::events::ClientEvent;
use clinic_protocol::{ConversationKey, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

type Key = (ConversationKey, UserId);

#[derive(Debug)]
pub(crate) struct Typing {
    timeout: Duration,
    /// A generation per typist: a timer only clears the entry it was started for.
    active: Mutex<HashMap<Key, u64>>,
    next_generation: Mutex<u64>,
}

impl Typing {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            active: Mutex::new(HashMap::new()),
            next_generation: Mutex::new(0),
        }
    }

    pub(crate) fn started(self: &Arc<Self>, key: Key, events: &broadcast::Sender<ClientEvent>) {
        let generation = {
            let mut next = self
                .next_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let was_typing = self.lock().insert(key.clone(), generation).is_some();
        if !was_typing {
            let _ = events.send(event(&key, true));
        }
        let this = Arc::clone(self);
        let events = events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(this.timeout).await;
            let mut active = this.lock();
            if active.get(&key) == Some(&generation) {
                active.remove(&key);
                drop(active);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, u64>> {
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
