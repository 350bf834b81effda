//! Parsing client frames: size first, then JSON, telling unknown events from malformed ones.
//!
//! `ClientFrame` is an internally tagged enum: serde's derived parser cannot know the variant
//! before it has seen `type`, which may come last, so it first copies the whole frame into a
//! tree of its own (`Content`, serde-rs/serde#1495) and then parses the variant from that copy.
//! The frames whose body is a named type (`message:send` and the conversation frames, nearly
//! all the traffic) are parsed in one pass instead when `type` is their first member (as serde,
//! and so every client of ours, writes it): `type`, then the body from the members that follow.
//! Every other frame, and every frame this does not take, goes through the derived parser, so
//! answers and error sentences are the derived parser's (the tests compare both on every frame
//! kind and on broken frames; the fuzz target on whatever it finds).

use crate::error::ApiError;
use clinic_protocol::{ClientFrame, ClientId, ErrorCode};
use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use std::borrow::Cow;

/// Parses one text frame, or says precisely what is wrong with it.
pub(super) fn parse(text: &str, max_bytes: usize) -> Result<ClientFrame, ApiError> {
    if text.len() > max_bytes {
        return Err(ApiError::too_large(format!(
            "frame is over {max_bytes} bytes"
        )));
    }
    if let Some(frame) = by_tag(text) {
        return Ok(frame);
    }
    derived(text).map_err(|err| {
        let detail = err.to_string();
        // serde's message for a `type` that names no frame; everything else is a bad frame.
        if detail.starts_with("unknown variant") {
            ApiError::new(ErrorCode::UnknownEvent, format!("unknown event: {detail}"))
        } else {
            ApiError::bad_request(format!("malformed frame: {detail}"))
        }
    })
}

/// The `clientId` of a `message:send`, `message:edit` or `message:retract` frame that
/// [`parse`] refused (a member of the wrong type, one missing), so that the refusal names the
/// command it answers and a client's outbox can settle it (docs/protocol.md, "Errors"). None
/// for a text that is no JSON object, is over `max_bytes`, names another frame or has no
/// `clientId` string.
pub(super) fn refused_client_id(text: &str, max_bytes: usize) -> Option<ClientId> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "type")]
        kind: String,
        #[serde(rename = "clientId")]
        client_id: Option<ClientId>,
    }
    if text.len() > max_bytes || !is_object(text) {
        return None;
    }
    let named: Named = serde_json::from_str(text).ok()?;
    matches!(
        named.kind.as_str(),
        "message:send" | "message:edit" | "message:retract"
    )
    .then_some(named.client_id)
    .flatten()
}

/// serde's derived parser of `ClientFrame` (the reference the one-pass parse must agree with).
fn derived(text: &str) -> serde_json::Result<ClientFrame> {
    serde_json::from_str(text)
}

/// Whether `text` starts as a JSON object: serde also reads a struct from an array, which the
/// derived parser reads differently (the tag first, then the rest).
fn is_object(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

/// The one-pass parse, for the frames whose body is a named type. None when it does not apply
/// or the frame is not well formed (the derived parser then answers, with its own words).
fn by_tag(text: &str) -> Option<ClientFrame> {
    if !is_object(text) {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let frame = de.deserialize_map(TagFirst).ok()??;
    de.end().ok()?;
    Some(frame)
}

/// Reads `type` as the first member, then the body from the same members that follow, in one
/// pass. None (the derived parser then answers) when `type` is not first, names a frame whose
/// body is not a named type, or comes again later.
struct TagFirst;

impl<'de> Visitor<'de> for TagFirst {
    type Value = Option<ClientFrame>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a frame")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = map.next_key_seed(Text)? else {
            return Ok(None);
        };
        if key != "type" {
            return Ok(None);
        }
        let kind = map.next_value_seed(Text)?;
        fn body<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
            map: A,
            variant: fn(T) -> ClientFrame,
        ) -> Result<Option<ClientFrame>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(NoSecondTag(map))).map(|b| Some(variant(b)))
        }
        match kind.as_ref() {
            "message:send" => body(map, ClientFrame::MessageSend),
            "join:chat" => body(map, ClientFrame::JoinChat),
            "leave:chat" => body(map, ClientFrame::LeaveChat),
            "typing:start" => body(map, ClientFrame::TypingStart),
            "typing:stop" => body(map, ClientFrame::TypingStop),
            _ => Ok(None),
        }
    }
}

/// A string, borrowed from the frame when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// The body's members: a second `type` is an error, as it is to the derived parser (the body's
/// own parser would ignore it as a member it does not know).
struct NoSecondTag<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for NoSecondTag<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(NotTag(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

struct NotTag<K>(K);

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for NotTag<K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        match Text.deserialize(de)? {
            Cow::Borrowed("type") => Err(de::Error::duplicate_field("type")),
            Cow::Owned(key) if key == "type" => Err(de::Error::duplicate_field("type")),
            Cow::Borrowed(key) => self
                .0
                .deserialize(BorrowedStrDeserializer::<D::Error>::new(key)),
            Cow::Owned(key) => self.0.deserialize(StringDeserializer::<D::Error>::new(key)),
        }
    }
}

/// For the fuzz target: the one-pass parse agrees with serde's derived parser on `text` (the same frame,
/// or an error from both).
pub(crate) fn agrees_with_derived(text: &str) -> bool {
    match (by_tag(text), derived(text)) {
        (Some(two_step), Ok(reference)) => two_step == reference,
        (Some(_), Err(_)) => false,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clinic_protocol::ws::Availability;
    use clinic_protocol::{ConversationKey, NewMessage, Seq, UserId};
    use serde_json::{Value, json};

    /// A refused command's `clientId` is found when the frame is JSON naming one of the three
    /// commands that carry it, and only then.
    #[test]
    fn a_refused_command_keeps_its_client_id() {
        let found = |text: &str| super::refused_client_id(text, 1024).map(|id| id.0);
        let edit = r#"{"type":"message:edit","clientId":"e1","messageId":"m","baseVersion":1.5}"#;
        assert_eq!(found(edit).as_deref(), Some("e1"));
        let send = r#"{"clientId":"s1","type":"message:send","content":7}"#;
        assert_eq!(found(send).as_deref(), Some("s1"));
        let retract = r#"{"type":"message:retract","clientId":"r1"}"#;
        assert_eq!(found(retract).as_deref(), Some("r1"));
        assert_eq!(
            found(r#"{"type":"sync","clientId":"x"}"#),
            None,
            "another frame"
        );
        assert_eq!(
            found(r#"{"type":"message:send","clientId":7}"#),
            None,
            "no string"
        );
        assert_eq!(found(r#"{"type":"message:send"}"#), None);
        assert_eq!(
            found(r#"{"type":"message:send","clientId":"x""#),
            None,
            "no JSON"
        );
        assert_eq!(found(r#"["message:send","x"]"#), None);
        assert_eq!(
            super::refused_client_id(send, send.len() - 1),
            None,
            "over the limit"
        );
    }

    #[test]
    fn tells_unknown_events_from_bad_frames() {
        let unknown = parse(r#"{"type":"nope"}"#, 1000).expect_err("unknown");
        assert_eq!(unknown.code, ErrorCode::UnknownEvent);
        let missing = parse(r#"{"type":"typing:start"}"#, 1000).expect_err("missing fields");
        assert_eq!(missing.code, ErrorCode::BadRequest);
        let junk = parse("{not json", 1000).expect_err("junk");
        assert_eq!(junk.code, ErrorCode::BadRequest);
        let big = parse(&"x".repeat(2000), 1000).expect_err("too large");
        assert_eq!(big.code, ErrorCode::TooLarge);
        assert!(parse(r#"{"type":"sync","since":0}"#, 1000).is_ok());
    }

    fn key() -> ConversationKey {
        ConversationKey::new(UserId::from("u-pat-1"), UserId::from("u-doc-1"))
    }

    fn every_kind() -> Vec<ClientFrame> {
        vec![
            ClientFrame::Authenticate {
                token: "tok".into(),
            },
            ClientFrame::JoinChat(key()),
            ClientFrame::LeaveChat(key()),
            ClientFrame::MessageSend(NewMessage {
                client_id: Some("c-\"1\" \u{1F600}".into()),
                patient_id: "u-pat-1".into(),
                doctor_id: "u-doc-1".into(),
                content: "line\nbreak \\ \u{7} </script>".into(),
                is_emergency: true,
                file_url: Some("/api/files/f-1".into()),
                file_name: Some("scan.pdf".into()),
                held_ms: Some(90_000),
            }),
            ClientFrame::MessageSend(NewMessage {
                client_id: None,
                patient_id: "u-pat-1".into(),
                doctor_id: "u-doc-1".into(),
                content: "hi".into(),
                is_emergency: false,
                file_url: None,
                file_name: None,
                held_ms: None,
            }),
            ClientFrame::TypingStart(key()),
            ClientFrame::TypingStop(key()),
            ClientFrame::MessageRead {
                message_id: "m-1".into(),
                patient_id: "u-pat-1".into(),
                doctor_id: "u-doc-1".into(),
            },
            ClientFrame::MessageDelivered {
                message_ids: vec!["m-1".into(), "m-2".into()],
            },
            ClientFrame::Sync {
                since: Seq(41),
                limit: Some(100),
            },
            ClientFrame::MessageRetract {
                client_id: "c-r".into(),
                message_id: "m-1".into(),
                reason: Some("wrong person".into()),
                misdirected: true,
            },
            ClientFrame::MessageEdit {
                client_id: "c-e".into(),
                message_id: "m-1".into(),
                content: "fixed".into(),
                base_version: 1,
            },
            ClientFrame::EmergencyAcknowledge {
                emergency_id: "e-1".into(),
            },
            ClientFrame::EmergencyResolve {
                emergency_id: "e-1".into(),
                note: None,
            },
            ClientFrame::PresenceSet {
                availability: Availability::DoNotDisturb,
            },
        ]
    }

    /// What `parse` answers, comparable: the frame, or the error's code and sentence.
    fn answer(text: &str) -> Result<ClientFrame, (ErrorCode, String)> {
        parse(text, 64 * 1024).map_err(|e| (e.code, e.message))
    }

    /// What the derived parser alone answers, mapped the same way as before the one-pass parse.
    fn reference(text: &str) -> Result<ClientFrame, (ErrorCode, String)> {
        derived(text).map_err(|err| {
            let detail = err.to_string();
            if detail.starts_with("unknown variant") {
                (ErrorCode::UnknownEvent, format!("unknown event: {detail}"))
            } else {
                (ErrorCode::BadRequest, format!("malformed frame: {detail}"))
            }
        })
    }

    /// Variants of a frame's JSON: `type` last, extra and duplicate members, each member left
    /// out, each member's value replaced by wrong types, whitespace, an array instead.
    fn variants(frame: &ClientFrame) -> Vec<String> {
        let Value::Object(map) = serde_json::to_value(frame).unwrap() else {
            panic!("frames are objects");
        };
        let mut out = vec![serde_json::to_string(&map).unwrap()];
        let mut last = serde_json::Map::new();
        for (k, v) in map.iter().filter(|(k, _)| *k != "type") {
            last.insert(k.clone(), v.clone());
        }
        let kind = map["type"].clone();
        let body = serde_json::to_string(&last).unwrap();
        let inner = body.trim_start_matches('{').trim_end_matches('}');
        let sep = if inner.is_empty() { "" } else { "," };
        out.push(format!(r#"{{{inner}{sep}"type":{kind}}}"#));
        out.push(format!(
            r#"  {{"type":{kind},"extra":[1,{{"a":null}}]{sep}{inner}}} "#
        ));
        out.push(format!(r#"{{"type":{kind},"type":{kind}{sep}{inner}}}"#));
        out.push(format!(r#"{{"type":{kind}{sep}{inner},"type":{kind}}}"#));
        out.push(format!(
            r#"{{"type":{kind}{sep}{inner},"typ\u0065":{kind}}}"#
        ));
        out.push(format!(r#"{{"typ\u0065":{kind}{sep}{inner}}}"#));
        out.push(format!(r#"{{ "type" : {kind} {sep} {inner} }}"#));
        out.push(format!(
            r#"{{"type":{kind}{sep}{inner},"extra":{{"type":"x"}}}}"#
        ));
        out.push(format!(r#"{{"type":"nope"{sep}{inner}}}"#));
        out.push(format!(r#"{{"type":7{sep}{inner}}}"#));
        out.push(format!(r#"{{{inner}}}"#));
        out.push(format!(r#"{{"type":{kind}{sep}{inner}}} trailing"#));
        out.push(format!(r#"[{kind},"u-pat-1","u-doc-1","hi"]"#));
        out.push(format!(r#"{{"type":{kind}{sep}{inner}"#));
        let escaped = kind.as_str().unwrap_or_default().replace(':', "\\u003a");
        out.push(format!(r#"{{"type":"{escaped}"{sep}{inner}}}"#));
        for (k, _) in last.iter() {
            let mut without = map.clone();
            without.remove(k);
            out.push(serde_json::to_string(&without).unwrap());
            for wrong in [
                json!(null),
                json!(5),
                json!(-1),
                json!("s"),
                json!([]),
                json!({}),
            ] {
                let mut changed = map.clone();
                changed.insert(k.clone(), wrong);
                out.push(serde_json::to_string(&changed).unwrap());
            }
            let mut twice = body.clone();
            twice.insert_str(1, &format!("{:?}:null,", k));
            out.push(twice.replacen('{', &format!(r#"{{"type":{kind},"#), 1));
        }
        out
    }

    #[test]
    fn every_frame_kind_round_trips() {
        for frame in every_kind() {
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(answer(&text), Ok(frame.clone()), "{text}");
        }
    }

    #[test]
    fn answers_and_error_sentences_are_the_derived_parsers() {
        let mut compared = 0;
        for frame in every_kind() {
            for text in variants(&frame) {
                assert_eq!(answer(&text), reference(&text), "{text}");
                assert!(agrees_with_derived(&text), "{text}");
                compared += 1;
            }
        }
        assert!(compared > 300, "{compared}");
    }

    #[test]
    fn the_sentences_clients_see_are_unchanged() {
        assert_eq!(
            answer(r#"{"type":"typing:start"}"#),
            Err((
                ErrorCode::BadRequest,
                "malformed frame: missing field `patientId`".to_owned()
            ))
        );
        let (code, sentence) = answer(r#"{"type":"nope"}"#).unwrap_err();
        assert_eq!(code, ErrorCode::UnknownEvent);
        assert!(
            sentence.starts_with("unknown event: unknown variant `nope`, expected one of"),
            "{sentence}"
        );
        let (code, sentence) =
            answer(r#"{"type":"message:send","patientId":"u-p","doctorId":"u-d"}"#).unwrap_err();
        assert_eq!(code, ErrorCode::BadRequest);
        assert_eq!(sentence, "malformed frame: missing field `content`");
    }
}
