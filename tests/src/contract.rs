//! The desktop contract transcript: what the real shell answered and sent to the UI during the
//! e2e scenarios, normalised (ids, times, servers, pairing codes, temp paths replaced by
//! placeholders) and reduced to its shapes. The checked-in transcript
//! (ui/src/contract/transcript.jsonl) is compared with each run by shape, and replayed against
//! the UI's fake backend by ui/src/contract/contract.test.ts, so neither side can drift unseen.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

/// The run-specific values to hide behind placeholders.
#[derive(Debug)]
pub struct Placeholders {
    /// The shared server's URL (`<server>`); other servers become `<server-2>`, `<server-3>`...
    pub server_url: String,
    /// The shared server's pairing code (`<pin>` in any text).
    pub pairing_code: String,
    /// Codes the scenarios type on purpose that are not the server's (`<wrong-pin>` as a
    /// `pin`); any other `pin` or `serverCode` is the code of the server asked (`<pin>`).
    pub wrong_codes: Vec<String>,
    /// The temp folder of the run (`<tmp>`).
    pub tmp: PathBuf,
}

/// Replaces run-specific values in transcript lines, keeping identities: the same id is the same
/// placeholder throughout (`<user:alice>` for a user, `<id:N>` for anything else).
#[derive(Debug)]
pub struct Normaliser {
    places: Placeholders,
    ids: HashMap<String, String>,
    servers: Vec<String>,
}

const ID_KEYS: &[&str] = &["acknowledgedBy", "resolvedBy", "ringing"];

impl Normaliser {
    pub fn new(places: Placeholders) -> Self {
        Self {
            servers: vec![places.server_url.clone()],
            places,
            ids: HashMap::new(),
        }
    }

    /// Normalises one scenario's lines (each gets a `scenario` field).
    pub fn scenario(&mut self, name: &str, lines: &[Value]) -> Vec<Value> {
        for line in lines {
            self.learn_users(line);
        }
        lines
            .iter()
            .map(|line| {
                let mut v = self.value(None, line);
                if let Value::Object(map) = &mut v {
                    map.insert("scenario".into(), name.into());
                }
                v
            })
            .collect()
    }

    fn learn_users(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                if let (Some(Value::String(id)), Some(Value::String(name))) =
                    (map.get("id"), map.get("username"))
                {
                    self.ids.insert(id.clone(), format!("<user:{name}>"));
                }
                map.values().for_each(|v| self.learn_users(v));
            }
            Value::Array(items) => items.iter().for_each(|v| self.learn_users(v)),
            _ => {}
        }
    }

    fn id(&mut self, raw: &str) -> String {
        let next = format!("<id:{}>", self.ids.len() + 1);
        self.ids.entry(raw.to_owned()).or_insert(next).clone()
    }

    fn value(&mut self, key: Option<&str>, v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let v = self.value(Some(k), v);
                    out.insert(self.ids_in(k), v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(key, v)).collect()),
            Value::String(s) => Value::String(self.string(key.unwrap_or(""), s)),
            other => other.clone(),
        }
    }

    fn string(&mut self, key: &str, s: &str) -> String {
        let is_id = key == "id" || key.ends_with("Id") || ID_KEYS.contains(&key);
        if is_id && !s.starts_with('<') {
            return self.id(s);
        }
        if key.ends_with("At") {
            return "<time>".into();
        }
        if key == "pin" || key == "serverCode" {
            let wrong = (self.places.wrong_codes.iter()).any(|w| compact(w) == compact(s));
            return if wrong { "<wrong-pin>" } else { "<pin>" }.into();
        }
        if key == "fileUrl" {
            return "<file-url>".into();
        }
        if s.starts_with("data:") {
            return "data:<...>".into();
        }
        let mut out = s.replace(&self.places.pairing_code, "<pin>");
        let tmp = self.places.tmp.to_string_lossy();
        out = out.replace(tmp.as_ref(), "<tmp>");
        // Ids inside a text (a draft's key, `u-...|u-...|u-...`) as in a map's keys.
        let out = self.servers_in(&out);
        self.ids_in(&out)
    }

    /// A text with the server's ids in it (a map keyed by conversation, `u-...|u-...`, a draft's
    /// key): each id becomes its placeholder, so that such keys do not differ from run to run.
    fn ids_in(&mut self, s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < s.len() {
            let id_here = i + 34 <= s.len()
                && bytes[i].is_ascii_lowercase()
                && bytes[i + 1] == b'-'
                && bytes[i + 2..i + 34]
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
            if id_here {
                out.push_str(&self.id(&s[i..i + 34]));
                i += 34;
            } else {
                let c = s[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
        out
    }

    /// Local server URLs (`https://127.0.0.1:PORT`) become `<server>` / `<server-N>`.
    fn servers_in(&mut self, s: &str) -> String {
        let mut text = s.to_owned();
        for scheme in ["https://127.0.0.1:", "http://127.0.0.1:"] {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(at) = rest.find(scheme) {
                let after = &rest[at + scheme.len()..];
                let digits = after.chars().take_while(char::is_ascii_digit).count();
                let url = &rest[at..at + scheme.len() + digits];
                let index = match self.servers.iter().position(|u| u == url) {
                    Some(i) => i,
                    None => {
                        self.servers.push(url.to_owned());
                        self.servers.len() - 1
                    }
                };
                out.push_str(&rest[..at]);
                out.push_str(&match index {
                    0 => "<server>".to_owned(),
                    n => format!("<server-{}>", n + 1),
                });
                rest = &rest[at + url.len()..];
            }
            out.push_str(rest);
            text = out;
        }
        text
    }
}

fn compact(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// The shape of a value, merged over many: `null` merges into anything (nullability is not
/// compared: which optionals are set depends on timing), objects merge field by field.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Null,
    Bool,
    Num,
    Str,
    Arr(Box<Shape>),
    Obj(BTreeMap<String, Shape>),
    Mixed(BTreeSet<String>),
}

impl Shape {
    fn of(v: &Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Num,
            Value::String(_) => Self::Str,
            Value::Array(items) => Self::Arr(Box::new(
                items.iter().map(Self::of).fold(Self::Null, Self::merge),
            )),
            Value::Object(map) => {
                Self::Obj(map.iter().map(|(k, v)| (k.clone(), Self::of(v))).collect())
            }
        }
    }

    /// The same shape but where one of the two has `null` (the other may have anything there).
    fn compatible(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Null, _) | (_, Self::Null) => true,
            (Self::Arr(a), Self::Arr(b)) => a.compatible(b),
            (Self::Obj(a), Self::Obj(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k).is_some_and(|w| v.compatible(w)))
            }
            (a, b) => a == b,
        }
    }

    fn merge(self, other: Self) -> Self {
        match (self, other) {
            (Self::Null, x) | (x, Self::Null) => x,
            (Self::Arr(a), Self::Arr(b)) => Self::Arr(Box::new(a.merge(*b))),
            (Self::Obj(mut a), Self::Obj(b)) => {
                for (k, v) in b {
                    let merged = match a.remove(&k) {
                        Some(old) => old.merge(v),
                        None => v,
                    };
                    a.insert(k, merged);
                }
                Self::Obj(a)
            }
            (a, b) if a == b => a,
            (a, b) => {
                let mut set = BTreeSet::new();
                for s in [a, b] {
                    match s {
                        Self::Mixed(inner) => set.extend(inner),
                        other => {
                            set.insert(other.to_string());
                        }
                    }
                }
                Self::Mixed(set)
            }
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool => f.write_str("boolean"),
            Self::Num => f.write_str("number"),
            Self::Str => f.write_str("string"),
            Self::Arr(inner) => write!(f, "{inner}[]"),
            Self::Obj(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("}")
            }
            Self::Mixed(set) => {
                let all: Vec<&str> = set.iter().map(String::as_str).collect();
                write!(f, "({})", all.join("|"))
            }
        }
    }
}

/// The transcript reduced to what must not drift: per command its argument key sets, the merged
/// shape of its answers and its error codes; per event type the merged shape of its events.
/// ui/src/contract/shapes.ts computes the same list the same way for the fake.
pub fn shapes(lines: &[Value]) -> BTreeSet<String> {
    let (mut out, shaped) = reduce(lines);
    out.extend(shaped.iter().map(|(key, shape)| format!("{key} {shape}")));
    out
}

/// The shape lines only one of two transcripts of the real shell has: `(only in fresh, only in
/// kept)`. A value `null` all through one run and set in the other is no difference: which
/// optionals are set by the time a command answers depends on timing (the clinic's settings
/// arrive with the connection, which a sign-in's answer may or may not see).
pub fn differences(fresh: &[Value], kept: &[Value]) -> (Vec<String>, Vec<String>) {
    let ((plain_fresh, shaped_fresh), (plain_kept, shaped_kept)) = (reduce(fresh), reduce(kept));
    let mut new: Vec<String> = plain_fresh.difference(&plain_kept).cloned().collect();
    let mut gone: Vec<String> = plain_kept.difference(&plain_fresh).cloned().collect();
    for (key, shape) in &shaped_fresh {
        match shaped_kept.get(key) {
            Some(other) if shape.compatible(other) => {}
            _ => new.push(format!("{key} {shape}")),
        }
    }
    for (key, shape) in &shaped_kept {
        match shaped_fresh.get(key) {
            Some(other) if shape.compatible(other) => {}
            _ => gone.push(format!("{key} {shape}")),
        }
    }
    (new, gone)
}

/// The plain lines (calls, argument keys, error codes) and the merged shape per answer or event.
fn reduce(lines: &[Value]) -> (BTreeSet<String>, BTreeMap<String, Shape>) {
    let mut out = BTreeSet::new();
    let mut answers: BTreeMap<String, Shape> = BTreeMap::new();
    let mut events: BTreeMap<String, Shape> = BTreeMap::new();
    for line in lines {
        match line["kind"].as_str() {
            Some("call") => {
                let command = line["command"].as_str().unwrap_or("?");
                let mut keys: Vec<&str> = line["args"]
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                keys.sort_unstable();
                out.insert(format!("call {command} args {{{}}}", keys.join(",")));
                if let Some(ok) = line.get("ok") {
                    let merged = answers.remove(command).unwrap_or(Shape::Null);
                    answers.insert(command.to_owned(), merged.merge(Shape::of(ok)));
                    out.insert(format!("call {command} ok"));
                }
                if let Some(code) = line["error"]["code"].as_str() {
                    out.insert(format!("call {command} error {code}"));
                }
            }
            Some("event") => {
                let kind = line["event"]["type"].as_str().unwrap_or("?").to_owned();
                let merged = events.remove(&kind).unwrap_or(Shape::Null);
                events.insert(kind, merged.merge(Shape::of(&line["event"])));
            }
            _ => {}
        }
    }
    let mut shaped: BTreeMap<String, Shape> = answers
        .into_iter()
        .map(|(command, shape)| (format!("call {command} answer"), shape))
        .collect();
    shaped.extend(
        events
            .into_iter()
            .map(|(kind, shape)| (format!("event {kind}"), shape)),
    );
    (out, shaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_keep_their_identity_and_times_and_servers_are_hidden() {
        let mut n = Normaliser::new(Placeholders {
            server_url: "https://127.0.0.1:4000".into(),
            pairing_code: "ABCDEFG-HIJKLMN".into(),
            wrong_codes: vec!["ZZZZZZZ-ZZZZZZZ".into()],
            tmp: "/tmp/x".into(),
        });
        let lines = n.scenario(
            "s",
            &[
                json!({"kind":"call","command":"login","args":{"serverUrl":"https://127.0.0.1:4000","pin":"abcdefghijklmn"},
                       "ok":{"session":{"user":{"id":"u-1","username":"alice"}}}}),
                json!({"kind":"event","event":{"type":"message","message":{"id":"m-9","senderId":"u-1","createdAt":"2026-01-01T00:00:00Z","localFilePath":"/tmp/x/a.png"}}}),
                json!({"kind":"call","command":"login","args":{"serverUrl":"https://127.0.0.1:5000","pin":"ZZZZZZZ-ZZZZZZZ"},"error":{"code":"not_your_server","message":"at https://127.0.0.1:5000"}}),
            ],
        );
        assert_eq!(lines[0]["args"]["serverUrl"], "<server>");
        assert_eq!(lines[0]["args"]["pin"], "<pin>");
        assert_eq!(lines[1]["event"]["message"]["senderId"], "<user:alice>");
        assert_eq!(lines[1]["event"]["message"]["id"], "<id:2>");
        assert_eq!(lines[1]["event"]["message"]["createdAt"], "<time>");
        assert_eq!(lines[1]["event"]["message"]["localFilePath"], "<tmp>/a.png");
        assert_eq!(lines[2]["args"]["serverUrl"], "<server-2>");
        assert_eq!(lines[2]["args"]["pin"], "<wrong-pin>");
        assert_eq!(lines[2]["error"]["message"], "at <server-2>");
        assert_eq!(lines[2]["scenario"], "s");
    }

    #[test]
    fn ids_in_a_maps_keys_and_in_texts_become_their_placeholders() {
        let mut n = Normaliser::new(Placeholders {
            server_url: "https://127.0.0.1:4000".into(),
            pairing_code: "ABCDEFG-HIJKLMN".into(),
            wrong_codes: vec![],
            tmp: "/tmp/x".into(),
        });
        let (alice, patel) = (
            "u-01a2497f9a1c74d794df5b7e39dbaa6b",
            "u-01a2497f9a777256b67d4dd7d7586e5e",
        );
        let lines = n.scenario(
            "s",
            &[
                json!({"kind":"event","event":{"type":"x","user":{"id":alice,"username":"alice"}}}),
                json!({"kind":"call","command":"drafts",
                       "ok":{format!("{alice}|{alice}|{patel}"):"text", format!("{alice}|note:e-1"):"n"}}),
                json!({"kind":"call","command":"save_draft",
                       "args":{"key":format!("{alice}|{alice}|{patel}"),"text":"t"}}),
            ],
        );
        assert_eq!(lines[2]["args"]["key"], "<user:alice>|<user:alice>|<id:2>");
        let keys: Vec<&String> = lines[1]["ok"].as_object().expect("a map").keys().collect();
        assert_eq!(keys.len(), 2);
        assert!(
            keys.contains(&&"<user:alice>|<user:alice>|<id:2>".to_owned()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&&"<user:alice>|note:e-1".to_owned()),
            "{keys:?}"
        );
    }

    #[test]
    fn shapes_merge_nulls_and_keep_error_codes() {
        let lines = [
            json!({"kind":"call","command":"c","args":{"a":1},"ok":{"x":null,"y":[]}}),
            json!({"kind":"call","command":"c","args":{"a":1},"ok":{"x":"s","y":[{"z":true}]}}),
            json!({"kind":"call","command":"c","args":null,"error":{"code":"conflict","message":"m"}}),
            json!({"kind":"event","event":{"type":"alarm","ringing":[]}}),
        ];
        let got: Vec<String> = shapes(&lines).into_iter().collect();
        assert_eq!(
            got,
            [
                "call c answer {x:string,y:{z:boolean}[]}",
                "call c args {a}",
                "call c args {}",
                "call c error conflict",
                "call c ok",
                "event alarm {ringing:null[],type:string}",
            ]
        );
    }

    #[test]
    fn a_value_null_all_through_one_run_is_no_difference_but_a_new_field_is() {
        let kept =
            [json!({"kind":"call","command":"login","args":{},"ok":{"clinic":null,"user":"u"}})];
        let fresh = [
            json!({"kind":"call","command":"login","args":{},"ok":{"clinic":{"phone":"1"},"user":"u"}}),
        ];
        let none: (Vec<String>, Vec<String>) = (vec![], vec![]);
        assert_eq!(differences(&fresh, &kept), none);
        assert_eq!(differences(&kept, &fresh), none);
        let grown = [
            json!({"kind":"call","command":"login","args":{},"ok":{"clinic":null,"user":"u","x":1}}),
        ];
        let (new, gone) = differences(&grown, &kept);
        assert_eq!(
            new,
            ["call login answer {clinic:null,user:string,x:number}"]
        );
        assert_eq!(gone, ["call login answer {clinic:null,user:string}"]);
        let retyped =
            [json!({"kind":"call","command":"login","args":{},"ok":{"clinic":null,"user":7}})];
        assert_eq!(differences(&retyped, &kept).0.len(), 1);
    }
}
