//! The two servers the generator can load: clinic-server (its own JSON frames on `/ws`) and the
//! reference server in `bench/reference/` (the seed's Node + Socket.io + SQLite stack). What
//! differs between them on the wire is here; scenarios are written once for both.

use crate::frames::{self, Inbound};
use crate::socketio;
use clinic_protocol::{ClientFrame, NewMessage};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// clinic-server, the Rust server of this repository.
    Clinic,
    /// bench/reference: Node + Socket.io 4 + better-sqlite3.
    Reference,
}

impl Stack {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clinic => "clinic",
            Self::Reference => "reference",
        }
    }

    /// Path of the WebSocket endpoint.
    pub fn ws_path(self) -> &'static str {
        match self {
            Self::Clinic => "/ws",
            Self::Reference => socketio::PATH,
        }
    }

    /// Decodes a server frame into what the generator needs.
    pub fn parse(self, text: &str) -> Inbound {
        match self {
            Self::Clinic => frames::parse(text),
            Self::Reference => socketio::parse(text),
        }
    }

    /// The sign-in frame for a token.
    pub fn authenticate(self, token: &str) -> Message {
        match self {
            Self::Clinic => crate::conn::text(&ClientFrame::Authenticate {
                token: token.to_owned(),
            }),
            Self::Reference => Message::text(socketio::event(
                "authenticate",
                &serde_json::json!({ "token": token }),
                None,
            )),
        }
    }

    /// A `message:send` frame. The reference server acknowledges through Socket.IO's ack
    /// mechanism, so it gets an ack id (unique per socket).
    pub fn message_send(self, message: NewMessage, ack: u64) -> Message {
        match self {
            Self::Clinic => crate::conn::text(&ClientFrame::MessageSend(message)),
            Self::Reference => Message::text(socketio::event("message:send", &message, Some(ack))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinic_protocol::{ClientId, UserId};

    #[test]
    fn message_send_frames_per_stack() {
        let message = NewMessage {
            client_id: Some(ClientId::new("c1".to_owned())),
            patient_id: UserId::new("p".to_owned()),
            doctor_id: UserId::new("d".to_owned()),
            content: "hi".into(),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        };
        let clinic = Stack::Clinic.message_send(message.clone(), 1);
        assert!(
            clinic
                .to_text()
                .expect("a text frame")
                .starts_with(r#"{"type":"message:send""#)
        );
        let reference = Stack::Reference.message_send(message, 9);
        let text = reference.to_text().expect("a text frame");
        assert!(
            text.starts_with(r#"429["message:send",{"clientId":"c1","#),
            "{text}"
        );
        assert!(text.contains(r#""content":"hi""#));
    }
}
