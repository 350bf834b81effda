//! Socket.IO v5 over Engine.IO v4 on a plain WebSocket, the protocol of the reference server
//! (`bench/reference/`, the seed's Node stack): just enough to connect, authenticate, send
//! `message:send` with an acknowledgement id, answer pings, and read the frames the generator
//! measures.
//!
//! Spoken directly over tokio-tungstenite rather than through a Socket.IO client crate, so that
//! both stacks are driven by the same WebSocket code, the same tasks and the same frame budget:
//! the difference measured is the servers'. Every text frame is one Engine.IO packet: a type
//! digit (`0` open, `2` ping, `3` pong, `4` message), and for a message a Socket.IO packet:
//! a type digit (`0` connect, `1` disconnect, `2` event, `3` ack, `4` connect error), an
//! optional ack id, then JSON (`["event", payload]` for events, `[payload]` for acks). The
//! default namespace `/` is implied.

use crate::frames::{Inbound, Msg};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Path of the WebSocket transport (no HTTP long-polling first).
pub const PATH: &str = "/socket.io/?EIO=4&transport=websocket";
/// Engine.IO pong, the answer to the server's ping (`2`).
pub const PONG: &str = "3";
/// Socket.IO connect to the default namespace.
pub const CONNECT: &str = "40";

/// An event frame, `42["name",payload]`, with `42<ack>[...]` when an acknowledgement is wanted.
pub fn event(name: &str, payload: &impl Serialize, ack: Option<u64>) -> String {
    let body = serde_json::to_string(payload).unwrap_or_else(|_| "null".into());
    let name = serde_json::to_string(name).unwrap_or_default();
    match ack {
        Some(id) => format!("42{id}[{name},{body}]"),
        None => format!("42[{name},{body}]"),
    }
}

#[derive(Deserialize)]
struct WithMessage {
    message: Msg,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Splits `["name",payload]` into the name and the payload's JSON text. Socket.IO writes
/// `JSON.stringify` output (no spaces), so a prefix look suffices; anything else is a real parse.
fn split_event(json: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    if let Some(rest) = json.strip_prefix("[\"")
        && let Some(end) = rest.find('"')
        && !rest[..end].contains('\\')
    {
        let name = &rest[..end];
        let payload = rest[end + 1..].strip_prefix(',')?.strip_suffix(']')?;
        return Some((Cow::Borrowed(name), Cow::Borrowed(payload)));
    }
    let mut array: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    if array.is_empty() {
        return None;
    }
    let name = array.remove(0).as_str()?.to_owned();
    let payload = array.into_iter().next().unwrap_or(serde_json::Value::Null);
    Some((Cow::Owned(name), Cow::Owned(payload.to_string())))
}

/// Decodes a reference-server frame into what the generator needs.
pub fn parse(text: &str) -> Inbound {
    match text.as_bytes().first() {
        Some(b'2') => return Inbound::Ping,
        Some(b'0') => return Inbound::Open,
        Some(b'4') => {}
        _ => return Inbound::Other,
    }
    let packet = &text[1..];
    match packet.as_bytes().first() {
        Some(b'0') => Inbound::Connected,
        Some(b'2') => parse_event(packet[1..].trim_start_matches(|c: char| c.is_ascii_digit())),
        Some(b'3') => {
            let json = packet[1..].trim_start_matches(|c: char| c.is_ascii_digit());
            serde_json::from_str::<(WithMessage,)>(json)
                .map(|(w,)| Inbound::Ack(w.message))
                .unwrap_or(Inbound::Other)
        }
        Some(b'4') => Inbound::Error {
            code: "connect_error".into(),
            message: packet[1..].to_owned(),
        },
        _ => Inbound::Other,
    }
}

fn parse_event(json: &str) -> Inbound {
    let Some((name, payload)) = split_event(json) else {
        return Inbound::Other;
    };
    match name.as_ref() {
        "authenticated" => Inbound::Authenticated,
        "message:received" => serde_json::from_str::<Msg>(&payload)
            .map(Inbound::Received)
            .unwrap_or(Inbound::Other),
        "emergency:alert" => serde_json::from_str::<WithMessage>(&payload)
            .map(|w| Inbound::Alert(w.message))
            .unwrap_or(Inbound::Other),
        "error" => serde_json::from_str::<ErrorBody>(&payload)
            .map(|e| Inbound::Error {
                code: e.code,
                message: e.message,
            })
            .unwrap_or(Inbound::Other),
        _ => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Frames as the reference server (Socket.IO 4.8) writes them.
    const RECEIVED: &str = r#"42["message:received",{"id":"cmx1","patientId":"p","doctorId":"d","senderId":"p","content":"1 2 3 xx","messageType":"REGULAR","status":"SENT","fileUrl":null,"fileName":null,"isEmergency":false,"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z","clientId":"g0-1"}]"#;
    const ACK: &str =
        r#"437[{"message":{"id":"cmx1","senderId":"p","content":"1 2 3 xx","clientId":"g0-1"}}]"#;

    #[test]
    fn encodes_events_with_and_without_ack() {
        assert_eq!(
            event("authenticate", &json!({"token": "t"}), None),
            r#"42["authenticate",{"token":"t"}]"#
        );
        assert_eq!(
            event("message:send", &json!({"content": "a\"b"}), Some(12)),
            r#"4212["message:send",{"content":"a\"b"}]"#
        );
    }

    #[test]
    fn parses_engine_and_socket_packets() {
        assert!(matches!(
            parse(r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#),
            Inbound::Open
        ));
        assert!(matches!(parse("2"), Inbound::Ping));
        assert!(matches!(parse(r#"40{"sid":"y"}"#), Inbound::Connected));
        assert!(matches!(
            parse(r#"42["authenticated",{"user":{"id":"u"}}]"#),
            Inbound::Authenticated
        ));
        match parse(RECEIVED) {
            Inbound::Received(m) => {
                assert_eq!((m.id.as_str(), m.client_id.as_str()), ("cmx1", "g0-1"));
                assert_eq!((m.content.as_str(), m.seq), ("1 2 3 xx", 0));
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse(ACK) {
            Inbound::Ack(m) => assert_eq!(m.client_id, "g0-1"),
            other => panic!("unexpected {other:?}"),
        }
        match parse(
            r#"42["error",{"code":"forbidden","message":"not your conversation","clientId":"c"}]"#,
        ) {
            Inbound::Error { code, .. } => assert_eq!(code, "forbidden"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(r#"42["emergency:alert",{"message":{"id":"m","content":"c"},"patientId":"p"}]"#),
            Inbound::Alert(_)
        ));
        assert!(matches!(
            parse(r#"44{"message":"nope"}"#),
            Inbound::Error { .. }
        ));
    }

    #[test]
    fn unknown_or_malformed_frames_are_other() {
        for frame in [
            r#"42["notification",{"id":"n"}]"#,
            r#"42["user:online",{"userId":"u"}]"#,
            "42[not json",
            "42[]",
            "41",
            "6",
            "",
            r#"42["message:received",{"id":1}]"#,
        ] {
            assert!(matches!(parse(frame), Inbound::Other), "{frame}");
        }
        // A name with an escaped quote still parses through the slow path.
        assert!(matches!(parse(r#"42["a\"b",{}]"#), Inbound::Other));
    }
}
