//! The order in which `clinic tail` prints messages: what arrives while the client catches up
//! is held and printed in the conversation's order once it is online.
//!
//! While a connection catches up, live messages reach the socket between the catch-up's pages,
//! so a message written a minute ago could be printed after one written a second ago. Holding
//! them until the catch-up ends also prints a message that changed meanwhile (delivered, read,
//! edited) once, as it is now.

use clinic_client::ConnectionState;
use clinic_client::record::LocalMessage;
use clinic_protocol::{ClientId, UserId};
use std::collections::HashMap;

/// Messages held until the connection is online.
pub(crate) struct CatchUp {
    holding: bool,
    held: Vec<LocalMessage>,
    /// Where each held message is in `held`, by its sender and client id.
    at: HashMap<(UserId, ClientId), usize>,
}

impl CatchUp {
    /// Holding: the client has not caught up yet when `tail` starts.
    pub(crate) fn new() -> Self {
        Self {
            holding: true,
            held: Vec::new(),
            at: HashMap::new(),
        }
    }

    /// The messages to print now for this upsert: none while holding (it replaces an older
    /// copy of the same message), else the message itself.
    pub(crate) fn message(&mut self, message: LocalMessage) -> Vec<LocalMessage> {
        if !self.holding {
            return vec![message];
        }
        let key = (message.sender_id.clone(), message.client_id.clone());
        match self.at.get(&key) {
            Some(&i) => self.held[i] = message,
            None => {
                self.at.insert(key, self.held.len());
                self.held.push(message);
            }
        }
        Vec::new()
    }

    /// Everything held, in the conversation's order: `tail` is leaving (interrupted, signed
    /// out) and prints what it caught up on before it goes.
    pub(crate) fn rest(&mut self) -> Vec<LocalMessage> {
        self.at.clear();
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|m| (m.seq.is_none(), m.seq, m.created_at));
        held
    }

    /// The messages to print now that the connection is in `state`: everything held, in the
    /// conversation's order (stored ones by seq, then those not stored yet as written), once
    /// the catch-up is over or cannot go on.
    pub(crate) fn connection(&mut self, state: &ConnectionState) -> Vec<LocalMessage> {
        self.holding = matches!(
            state,
            ConnectionState::Idle | ConnectionState::Connecting { .. } | ConnectionState::Syncing
        );
        if self.holding {
            return Vec::new();
        }
        self.rest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use clinic_protocol::{Message, MessageStatus};

    /// A message of the conversation p-d as the server sends it (`seq` none: not stored yet).
    fn message(seq: Option<i64>, client_id: &str, status: MessageStatus) -> LocalMessage {
        let at = Utc
            .timestamp_opt(1_700_000_000 + seq.unwrap_or(1_000), 0)
            .unwrap();
        let stored: Message = serde_json::from_value(serde_json::json!({
            "id": format!("m-{client_id}"), "seq": seq.unwrap_or(0), "clientId": client_id,
            "patientId": "p", "doctorId": "d", "senderId": "p", "content": client_id,
            "messageType": "REGULAR", "status": status, "isEmergency": false,
            "createdAt": at, "updatedAt": at,
        }))
        .expect("a message as the server sends it");
        let mut local = LocalMessage::from(stored);
        if seq.is_none() {
            local.id = None;
            local.seq = None;
        }
        local
    }

    fn names(messages: &[LocalMessage]) -> Vec<&str> {
        messages.iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn what_arrives_while_catching_up_prints_in_the_conversations_order_once_online() {
        let mut order = CatchUp::new();
        assert!(order.connection(&ConnectionState::Syncing).is_empty());
        // A live message reaches the socket between two catch-up pages.
        for m in [
            message(Some(9), "live", MessageStatus::Sent),
            message(Some(3), "old", MessageStatus::Sent),
            message(None, "mine", MessageStatus::Sending),
            message(Some(5), "older page", MessageStatus::Sent),
            message(Some(3), "old", MessageStatus::Read),
        ] {
            assert!(order.message(m).is_empty(), "held while catching up");
        }
        let printed = order.connection(&ConnectionState::Online);
        assert_eq!(names(&printed), ["old", "older page", "live", "mine"]);
        assert_eq!(
            printed[0].status,
            MessageStatus::Read,
            "the newest copy, once"
        );
        let live = order.message(message(Some(10), "after", MessageStatus::Sent));
        assert_eq!(names(&live), ["after"], "printed at once when online");
    }

    #[test]
    fn a_catch_up_cut_short_prints_what_it_brought_and_the_next_one_holds_again() {
        let mut order = CatchUp::new();
        order.message(message(Some(2), "b", MessageStatus::Sent));
        order.message(message(Some(1), "a", MessageStatus::Sent));
        let offline = ConnectionState::Offline {
            attempt: 1,
            last_error: "The connection closed.".into(),
            retry_in_ms: 500,
            not_your_server: false,
        };
        assert_eq!(names(&order.connection(&offline)), ["a", "b"]);
        assert_eq!(
            names(&order.message(message(Some(3), "c", MessageStatus::Sent))),
            ["c"]
        );
        order.connection(&ConnectionState::Connecting {
            attempt: 2,
            last_error: None,
            not_your_server: false,
        });
        assert!(
            order
                .message(message(Some(4), "d", MessageStatus::Sent))
                .is_empty()
        );
        assert_eq!(names(&order.connection(&ConnectionState::Online)), ["d"]);
    }

    #[test]
    fn what_is_held_when_tail_leaves_still_prints_in_order() {
        let mut order = CatchUp::new();
        order.message(message(Some(4), "d", MessageStatus::Sent));
        order.message(message(Some(2), "b", MessageStatus::Sent));
        order.message(message(Some(4), "d", MessageStatus::Read));
        let rest = order.rest();
        assert_eq!(names(&rest), ["b", "d"]);
        assert_eq!(rest[1].status, MessageStatus::Read);
        assert!(order.rest().is_empty());
    }
}
