//! Chat actions shared by REST and WebSocket: what to tell whom after a send or a receipt.

use crate::emergency;
use crate::hub::{Hub, SocketId, encode};
use crate::state::AppState;
use crate::store::messages::Sent;
use crate::store::receipts::Receipt;
use axum::extract::ws::Utf8Bytes;
use clinic_protocol::{ClientId, Message, ServerFrame, UserId};
use std::cell::OnceCell;

/// After a committed send: `message:received` to every socket of both participants except
/// `skip` (the sending socket, which gets `message:ack` instead), notifications to their
/// recipients, the emergency alert, and presence between two people who just started talking.
/// A repeated `clientId` tells nobody anything new.
pub(crate) fn publish_sent(
    state: &AppState,
    sent: &Sent,
    skip: Option<SocketId>,
    frames: &MessageFrames<'_>,
) {
    if !sent.created {
        return;
    }
    metrics::counter!(crate::metrics::MESSAGES).increment(1);
    let hub = &state.hub;
    let key = sent.message.conversation();
    if sent.new_conversation {
        introduce(hub, &key.patient_id, &key.doctor_id);
    }
    hub.text_to_users(&[&key.patient_id, &key.doctor_id], &frames.received(), skip);
    for notification in &sent.notifications {
        hub.to_users(
            &[&notification.user_id],
            &ServerFrame::Notification {
                notification: notification.clone(),
            },
            None,
        );
    }
    if let Some(raised) = &sent.emergency
        && emergency::raised(state, raised, &sent.message)
    {
        notify_doctors_later(state, &sent.message, &raised.emergency.patient_name);
    }
}

/// A stored message's frames (`message:ack` to the sending socket, `message:received` to every
/// other socket of both participants), built around one serialisation of the message, made on
/// first use. They are byte for byte what `hub::encode` makes of the same `ServerFrame`s (see
/// the tests), without cloning the message into each frame.
pub(crate) struct MessageFrames<'a> {
    message: &'a Message,
    json: OnceCell<Option<String>>,
}

impl<'a> MessageFrames<'a> {
    pub(crate) fn new(message: &'a Message) -> Self {
        Self {
            message,
            json: OnceCell::new(),
        }
    }

    fn json(&self) -> Option<&str> {
        self.json
            .get_or_init(|| serde_json::to_string(self.message).ok())
            .as_deref()
    }

    pub(crate) fn received(&self) -> Utf8Bytes {
        match self.json() {
            Some(json) => format!(r#"{{"type":"message:received","message":{json}}}"#).into(),
            None => encode(&ServerFrame::MessageReceived {
                message: self.message.clone(),
            }),
        }
    }

    pub(crate) fn ack(&self, client_id: &ClientId) -> Utf8Bytes {
        match (self.json(), serde_json::to_string(client_id)) {
            (Some(json), Ok(id)) => {
                format!(r#"{{"type":"message:ack","clientId":{id},"message":{json}}}"#).into()
            }
            _ => encode(&ServerFrame::MessageAck {
                client_id: client_id.clone(),
                message: self.message.clone(),
            }),
        }
    }
}

/// Two people now share a conversation (a first message, an emergency taken, a conversation a
/// doctor started): each is told whether the other is online.
pub(crate) fn introduce(hub: &Hub, patient: &UserId, doctor: &UserId) {
    for (about, to) in [(patient, doctor), (doctor, patient)] {
        if hub.is_online(about) {
            hub.to_users(
                &[to],
                &ServerFrame::UserOnline {
                    user_id: about.clone(),
                },
                None,
            );
        }
    }
}

/// Writes and pushes the doctors' notifications of an emergency, after its commit and once its
/// alerts are written out (see `Hub::alerts_written`).
fn notify_doctors_later(state: &AppState, message: &Message, sender_name: &str) {
    let state = state.clone();
    let message = message.clone();
    let sender_name = sender_name.to_owned();
    tokio::spawn(async move {
        state
            .hub
            .alerts_written(crate::emergency::ALERTS_FIRST)
            .await;
        let written = state.store.notify_doctors(message, sender_name).await;
        match written {
            Ok(notes) => {
                for notification in notes {
                    let to = notification.user_id.clone();
                    state
                        .hub
                        .to_users(&[&to], &ServerFrame::Notification { notification }, None);
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not write emergency notifications"),
        }
    });
}

/// Which receipt a status change is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReceiptKind {
    Read,
    Delivered,
}

/// Tells both participants of each conversation that `by` read (or received) messages.
pub(crate) fn publish_receipts(hub: &Hub, receipts: &[Receipt], by: &UserId, kind: ReceiptKind) {
    for receipt in receipts {
        let frame = match kind {
            ReceiptKind::Read => ServerFrame::MessageReadConfirmed {
                patient_id: receipt.key.patient_id.clone(),
                doctor_id: receipt.key.doctor_id.clone(),
                message_ids: receipt.ids.clone(),
                reader_id: by.clone(),
                read_at: receipt.at,
            },
            ReceiptKind::Delivered => ServerFrame::MessageDeliveredConfirmed {
                patient_id: receipt.key.patient_id.clone(),
                doctor_id: receipt.key.doctor_id.clone(),
                message_ids: receipt.ids.clone(),
                recipient_id: by.clone(),
                delivered_at: receipt.at,
            },
        };
        hub.to_conversation(&receipt.key, &frame, None);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shared_frames_are_what_encode_makes_of_the_same_frames() {
        for content in ["plain", "line\nbreak, \"quotes\", </script> and \u{7}", ""] {
            let message = crate::cpu_path::sample_message(content);
            let frames = MessageFrames::new(&message);
            assert_eq!(
                frames.received(),
                encode(&ServerFrame::MessageReceived {
                    message: message.clone()
                })
            );
            assert_eq!(
                frames.ack(&message.client_id),
                encode(&ServerFrame::MessageAck {
                    client_id: message.client_id.clone(),
                    message: message.clone()
                })
            );
        }
    }
}
