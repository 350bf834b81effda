//! Characters that change how text around them is shown while showing nothing themselves: the
//! server strips them from file names and refuses text made only of them; the client strips
//! them from the names it gives files on disk. And how text from others is printed on a
//! terminal (`clinic-server`'s and `clinic`'s output) without those characters, or control
//! characters, acting on it.

use std::borrow::Cow;
use std::fmt::Write;

/// Unicode format characters (general category Cf): invisible, and able to change how the text
/// around them is shown (zero-width joiners and spaces, bidirectional marks and overrides, the
/// soft hyphen, tags). The ranges of Unicode 15.
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00ad}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061c}'
        | '\u{06dd}'
        | '\u{070f}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08e2}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{110bd}'
        | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}'
        | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0001}'
        | '\u{e0020}'..='\u{e007f}')
}

/// Bidirectional embeddings, overrides and isolates: they reorder the text that follows them
/// (an override can make `exe.pdf` read `fdp.exe`). The marks (LRM, RLM, ALM), which only nudge
/// neutral characters and are typed by right-to-left writers, are not among them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing though they are neither whitespace nor format characters: the
/// Hangul fillers, the blank Braille pattern, variation selectors, the combining grapheme
/// joiner, Khmer's invisible vowels and the Mongolian variation selectors (an attacker sent a
/// message of only these).
pub fn is_filler(c: char) -> bool {
    matches!(c,
        '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}'
        | '\u{2800}'
        | '\u{17b4}' | '\u{17b5}'
        | '\u{034f}'
        | '\u{180b}'..='\u{180d}' | '\u{180f}'
        | '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}')
}

/// True when nothing in `text` would show: whitespace, format characters and fillers only. The
/// server refuses such a message, and the client before it is queued.
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || is_format(c) || is_filler(c))
}

/// A control character other than tab and the line breaks a text may hold.
fn is_hiding_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// What in a text people send each other could disguise it, and so is refused rather than
/// cleaned (a message is stored as its sender wrote it, or not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disguise {
    /// A control character other than tab and line breaks (NUL, ESC, ...).
    Control,
    /// A bidirectional embedding, override or isolate ([`is_bidi_control`]).
    Reordering,
}

impl Disguise {
    /// The first thing in `text` that could disguise it, if any.
    pub fn find(text: &str) -> Option<Self> {
        if text.chars().any(is_hiding_control) {
            return Some(Self::Control);
        }
        text.chars()
            .any(is_bidi_control)
            .then_some(Self::Reordering)
    }

    /// `text` without what [`Disguise::find`] finds: for an emergency, which is sent rather
    /// than refused for characters nobody sees (text pasted from elsewhere can carry isolates).
    pub fn remove(text: &str) -> Cow<'_, str> {
        let disguises = |c: char| is_hiding_control(c) || is_bidi_control(c);
        if text.chars().any(disguises) {
            Cow::Owned(text.chars().filter(|&c| !disguises(c)).collect())
        } else {
            Cow::Borrowed(text)
        }
    }

    /// What `field` holds, as a sentence's end: "content contains ...".
    pub fn sentence(self, field: &str) -> String {
        match self {
            Self::Control => format!("{field} contains control characters (such as NUL)"),
            Self::Reordering => format!(
                "{field} contains bidirectional override characters (U+202A-U+202E, \
                 U+2066-U+2069)"
            ),
        }
    }
}

/// Whether `c` can act on a terminal instead of showing on it: C0 and C1 controls (an escape
/// sequence starts with ESC, or with the one-character CSI U+009B; a line break makes a line
/// look like another entry), DEL, the line and paragraph separators, and the format characters
/// above (an override reorders the rest of the line, a zero-width one hides in a name).
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

/// `text` as a terminal can print it without being controlled by it: each character that could
/// act on the terminal (see `acts_on_terminal`) is shown as an escape, `\n`, `\r`, `\t` or
/// `\u{1b}`, `\u{202e}`, ...; everything else as it is (and so is a zero-width joiner between two
/// emoji). For every string from a user, the database or a server that a command-line tool
/// prints. A format that needs line breaks in a text (a message of several lines) splits it
/// first and escapes each line.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    let chars: Vec<char> = text.chars().collect();
    let escaped = |i: usize| acts_on_terminal(chars[i]) && !joins_emoji(&chars, i);
    if !(0..chars.len()).any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if escaped(i) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `chars[i]` is a zero-width joiner between two emoji (a family, a flag, a doctor:
/// 🧑‍⚕️): it joins their pictures into one and can hide no text, so it is printed as it is.
fn joins_emoji(chars: &[char], i: usize) -> bool {
    let emoji =
        |c: &char| matches!(c, '\u{1f000}'..='\u{1faff}' | '\u{2600}'..='\u{27bf}' | '\u{fe0f}');
    chars[i] == '\u{200d}'
        && i.checked_sub(1)
            .and_then(|p| chars.get(p))
            .is_some_and(emoji)
        && chars.get(i + 1).is_some_and(emoji)
}

/// `json` (as `serde_json` writes it, compact or pretty) with the characters that could act on a
/// terminal and that it leaves in strings (DEL, C1 controls, separators, format characters)
/// written as `\uXXXX` escapes: the same JSON value, safe to print. `serde_json` escapes C0
/// controls in strings itself, so a C0 character in its output is the layout's own whitespace
/// and is kept.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    let escaped = |c: char| c > '\u{1f}' && acts_on_terminal(c);
    if !json.chars().any(escaped) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 12);
    for c in json.chars() {
        if escaped(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_could_control_a_terminal_is_shown_escaped() {
        // Escape sequences (hidden text, the clipboard via OSC 52, a reset), the C1 CSI, DEL.
        assert_eq!(for_terminal("x\u{1b}[8m"), "x\\u{1b}[8m");
        assert_eq!(
            for_terminal("\u{1b}]52;c;aGk=\u{7}"),
            "\\u{1b}]52;c;aGk=\\u{7}"
        );
        assert_eq!(for_terminal("\u{1b}c"), "\\u{1b}c");
        assert_eq!(for_terminal("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(for_terminal("a\u{7f}b\0"), "a\\u{7f}b\\u{0}");
        // Line breaks and tabs: a name or a cell cannot start a line of its own.
        assert_eq!(
            for_terminal("ok\r\n2026-12-05 dr.patel\t"),
            "ok\\r\\n2026-12-05 dr.patel\\t"
        );
        // A bidirectional override, a zero-width space, a line separator, a tag.
        assert_eq!(
            for_terminal("invoice\u{202e}fdp.exe"),
            "invoice\\u{202e}fdp.exe"
        );
        assert_eq!(for_terminal("ad\u{200b}min"), "ad\\u{200b}min");
        // A joiner is shown unless it joins two emoji.
        assert_eq!(for_terminal("ad\u{200d}min"), "ad\\u{200d}min");
        assert_eq!(for_terminal("🙂\u{200d}x"), "🙂\\u{200d}x");
        assert_eq!(for_terminal("\u{200d}🙂"), "\\u{200d}🙂");
        assert_eq!(for_terminal("a\u{2028}b"), "a\\u{2028}b");
        assert_eq!(for_terminal("\u{e0041}"), "\\u{e0041}");
    }

    #[test]
    fn ordinary_text_is_printed_as_it_is() {
        for text in [
            "Dr. Müller",
            "Zoë O'Brien",
            "ok, 10 mg",
            "مرحبا",
            "患者",
            "a\\nb",
            "🙂",
            "🧑\u{200d}⚕\u{fe0f}",
            "👩\u{200d}👩\u{200d}👧",
            "🏳\u{fe0f}\u{200d}🌈",
        ] {
            assert!(
                matches!(for_terminal(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn json_keeps_its_value_and_loses_what_could_control_a_terminal() {
        let value = serde_json::json!({
            "name": "x\u{9b}31m\u{7f}\u{202e}\u{e0041}\u{1b}[8m",
            "ok": "Dr. Müller",
        });
        for json in [
            serde_json::to_string(&value).unwrap_or_default(),
            serde_json::to_string_pretty(&value).unwrap_or_default(),
        ] {
            let safe = json_for_terminal(&json);
            assert!(
                !safe
                    .chars()
                    .any(|c| acts_on_terminal(c) && c != '\n' && c != ' ')
            );
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&safe).ok(),
                Some(value.clone())
            );
            assert!(
                safe.contains("\\u009b") && safe.contains("\\udb40\\udc41"),
                "{safe}"
            );
            assert!(safe.contains("Dr. Müller"), "{safe}");
        }
        let plain = "{\"a\": \"b\"}";
        assert!(matches!(json_for_terminal(plain), Cow::Borrowed(_)));
    }
}
