//! What the generator reads from the server: a cheap view of the frames it measures
//! (`message:ack`, `message:received`, `emergency:alert`, `emergency:updated`, `sync:batch`,
//! `authenticated`, `message:delivered:confirmed`, `error`), and the stamp it writes into
//! message contents.
//!
//! The full `ServerFrame` type would decode dates and enums the generator never looks at; on a
//! shared core that cost would show up as server latency, so only the needed fields are read.

use serde::Deserialize;

/// The fields of a message the generator uses. The reference server's messages have no `seq`
/// (0 here) and carry `clientId` only when the sender gave one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Msg {
    pub id: String,
    #[serde(default)]
    pub seq: i64,
    #[serde(default)]
    pub client_id: String,
    pub content: String,
}

#[derive(Debug, Clone)]
pub enum Inbound {
    Authenticated,
    Ack(Msg),
    Received(Msg),
    Alert(Msg),
    /// `message:delivered:confirmed`: how many messages a delivered receipt moved.
    DeliveredConfirmed(usize),
    /// `message:read:confirmed`: how many messages a read mark moved.
    ReadConfirmed(usize),
    /// `message:updated`: a message was edited or unsent.
    Updated,
    /// `emergency:updated`: the emergency raised by message `message_id` changed; its alert
    /// has reached `alerted_doctors` doctors.
    EmergencyUpdated {
        message_id: String,
        alerted_doctors: u64,
    },
    SyncBatch {
        messages: Vec<Msg>,
        cursor: i64,
        has_more: bool,
    },
    Error {
        code: String,
        message: String,
    },
    /// Engine.IO (reference server only): the transport opened, the namespace connected, and
    /// a ping that must be answered with a pong.
    Open,
    Connected,
    Ping,
    Other,
}

#[derive(Deserialize)]
struct WithMessage {
    message: Msg,
}

#[derive(Deserialize)]
struct WithEmergency {
    emergency: EmergencyView,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmergencyView {
    message_id: String,
    alerted_doctors: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    messages: Vec<Msg>,
    cursor: i64,
    has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Confirmed {
    message_ids: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

/// The `type` of a frame. The server writes the tag first, so a prefix look usually suffices;
/// anything else falls back to a real parse.
fn frame_type(text: &str) -> Option<String> {
    const PREFIX: &str = "{\"type\":\"";
    if let Some(rest) = text.strip_prefix(PREFIX)
        && let Some(end) = rest.find('"')
    {
        return Some(rest[..end].to_owned());
    }
    serde_json::from_str::<TypeOnly>(text).ok().map(|t| t.kind)
}

/// Decodes a server frame into what the generator needs; unknown or malformed frames are `Other`.
pub fn parse(text: &str) -> Inbound {
    let Some(kind) = frame_type(text) else {
        return Inbound::Other;
    };
    let with_message = |wrap: fn(Msg) -> Inbound| {
        serde_json::from_str::<WithMessage>(text)
            .map(|w| wrap(w.message))
            .unwrap_or(Inbound::Other)
    };
    match kind.as_str() {
        "authenticated" => Inbound::Authenticated,
        "message:ack" => with_message(Inbound::Ack),
        "message:received" => with_message(Inbound::Received),
        "message:updated" => Inbound::Updated,
        "emergency:alert" => with_message(Inbound::Alert),
        "emergency:updated" => serde_json::from_str::<WithEmergency>(text)
            .map(|w| Inbound::EmergencyUpdated {
                message_id: w.emergency.message_id,
                alerted_doctors: w.emergency.alerted_doctors,
            })
            .unwrap_or(Inbound::Other),
        "message:delivered:confirmed" => serde_json::from_str::<Confirmed>(text)
            .map(|c| Inbound::DeliveredConfirmed(c.message_ids.len()))
            .unwrap_or(Inbound::Other),
        "message:read:confirmed" => serde_json::from_str::<Confirmed>(text)
            .map(|c| Inbound::ReadConfirmed(c.message_ids.len()))
            .unwrap_or(Inbound::Other),
        "sync:batch" => serde_json::from_str::<Batch>(text)
            .map(|b| Inbound::SyncBatch {
                messages: b.messages,
                cursor: b.cursor,
                has_more: b.has_more,
            })
            .unwrap_or(Inbound::Other),
        "error" => serde_json::from_str::<ErrorBody>(text)
            .map(|e| Inbound::Error {
                code: e.code,
                message: e.message,
            })
            .unwrap_or(Inbound::Other),
        _ => Inbound::Other,
    }
}

/// Message content carrying the step number, the scheduled send time and the actual one,
/// padded to `bytes`.
pub fn stamp(step: u32, scheduled_us: u64, bytes: usize) -> String {
    let mut content = format!("{step} {scheduled_us} {} ", crate::clock::now_us());
    let stamped = content.len();
    // Words, as a message has: a filler of one repeated letter gave the trigram index a term
    // with dozens of positions per message, which made FTS5 (in secure-delete mode) search its
    // index at every flush, a cost real text does not have (docs/benchmarks.md, "The send log").
    let mut words = FILLER.split(' ').cycle();
    while content.len() < bytes {
        content.push_str(words.next().unwrap_or("ok"));
        content.push(' ');
    }
    content.truncate(bytes.max(stamped));
    content
}

/// What the stamp is padded with.
const FILLER: &str = "please take the tablets twice a day after meals and call the clinic if \
     the pain gets worse or the fever does not go down by tomorrow morning";

/// What [`stamp`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub step: u32,
    /// When the open-loop schedule said to send (latency is measured from here).
    pub scheduled: u64,
    /// When the frame was actually built and sent.
    pub sent: u64,
}

/// The stamp written by [`stamp`].
pub fn read_stamp(content: &str) -> Option<Stamp> {
    let mut parts = content.split(' ');
    Some(Stamp {
        step: parts.next()?.parse().ok()?,
        scheduled: parts.next()?.parse().ok()?,
        sent: parts.next()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let content = stamp(3, 123_456, 64);
        assert_eq!(content.len(), 64);
        let read = read_stamp(&content).expect("a stamp");
        assert_eq!((read.step, read.scheduled), (3, 123_456));
        assert_eq!(read_stamp("hello"), None);
    }

    /// The confirmation a sender gets for a delivered receipt, as the server's own type writes it.
    #[test]
    fn counts_the_messages_a_delivered_confirmation_names() {
        let frame = clinic_protocol::ServerFrame::MessageDeliveredConfirmed {
            patient_id: "p".into(),
            doctor_id: "d".into(),
            message_ids: vec!["m-1".into(), "m-2".into(), "m-3".into()],
            recipient_id: "d".into(),
            delivered_at: chrono::Utc::now(),
        };
        let text = serde_json::to_string(&frame).expect("a frame serializes");
        assert!(
            matches!(parse(&text), Inbound::DeliveredConfirmed(3)),
            "{text}"
        );
    }

    /// The confirmation both sides get for a read mark, as the server's own type writes it.
    #[test]
    fn counts_the_messages_a_read_confirmation_names() {
        let frame = clinic_protocol::ServerFrame::MessageReadConfirmed {
            patient_id: "p".into(),
            doctor_id: "d".into(),
            message_ids: vec!["m-1".into(), "m-2".into()],
            reader_id: "d".into(),
            read_at: chrono::Utc::now(),
        };
        let text = serde_json::to_string(&frame).expect("a frame serializes");
        assert!(matches!(parse(&text), Inbound::ReadConfirmed(2)), "{text}");
    }

    /// An edit's news, as the server's own type writes it.
    #[test]
    fn knows_an_updated_message() {
        let message = r#"{"id":"m-1","seq":7,"clientId":"c1","patientId":"p","doctorId":"d","senderId":"p","content":"1 2 x (edited)","messageType":"REGULAR","status":"SENT","isEmergency":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:01Z","edited":{"at":"2026-01-01T00:00:01Z","version":2}}"#;
        let frame = clinic_protocol::ServerFrame::MessageUpdated {
            message: serde_json::from_str(message).expect("a message"),
            client_id: None,
        };
        let text = serde_json::to_string(&frame).expect("a frame serializes");
        assert!(matches!(parse(&text), Inbound::Updated), "{text}");
    }

    /// An emergency's news to its patient, as the server's own type writes it: the message
    /// that raised it and how many doctors its alert reached.
    #[test]
    fn knows_how_far_an_emergency_reached() {
        let emergency = r#"{"id":"e-1","messageId":"m-1","patientId":"p","patientName":"P","doctorId":"d","state":"RAISED","raisedAt":"2026-01-01T00:00:00Z","alertedAt":"2026-01-01T00:00:01Z","alertedDoctors":1000}"#;
        let frame = clinic_protocol::ServerFrame::EmergencyUpdated {
            emergency: serde_json::from_str(emergency).expect("an emergency"),
        };
        let text = serde_json::to_string(&frame).expect("a frame serializes");
        match parse(&text) {
            Inbound::EmergencyUpdated {
                message_id,
                alerted_doctors,
            } => assert_eq!((message_id.as_str(), alerted_doctors), ("m-1", 1000)),
            other => panic!("unexpected {other:?} from {text}"),
        }
    }

    #[test]
    fn parses_real_server_frames() {
        let ack = r#"{"type":"message:ack","clientId":"c1","message":{"id":"m-1","seq":7,"clientId":"c1","patientId":"p","doctorId":"d","senderId":"p","content":"1 2 x","messageType":"REGULAR","status":"SENT","isEmergency":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}}"#;
        match parse(ack) {
            Inbound::Ack(m) => assert_eq!((m.seq, m.content.as_str()), (7, "1 2 x")),
            other => panic!("unexpected {other:?}"),
        }
        let batch =
            r#"{"type":"sync:batch","messages":[],"emergencies":[],"cursor":5,"hasMore":false}"#;
        assert!(matches!(
            parse(batch),
            Inbound::SyncBatch {
                has_more: false,
                ..
            }
        ));
        let error = r#"{"type":"error","code":"rate_limited","message":"slow down"}"#;
        assert!(matches!(parse(error), Inbound::Error { .. }));
        assert!(matches!(parse("not json"), Inbound::Other));
        assert!(matches!(
            parse(r#"{"type":"notification"}"#),
            Inbound::Other
        ));
    }
}
