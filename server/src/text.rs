//! Text people send each other, checked for what can disguise it: NUL and other control
//! characters, bidirectional overrides (which reorder what a reader sees), and text made only of
//! invisible characters.

use crate::store::StoreError;

pub(crate) use clinic_protocol::text::is_format;

/// Bidirectional embeddings, overrides and isolates: they reorder the text that follows them
/// (an override can make `exe.pdf` read `fdp.exe`). The marks (LRM, RLM, ALM), which only nudge
/// neutral characters and are typed by right-to-left writers, are not among them.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing though they are neither whitespace nor format characters: the
/// Hangul fillers, the blank Braille pattern, variation selectors, the combining grapheme
/// joiner and the Mongolian variation selectors (an attacker sent a message of only these).
fn is_filler(c: char) -> bool {
    matches!(c,
        '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}'
        | '\u{2800}'
        | '\u{17b4}' | '\u{17b5}'
        | '\u{034f}'
        | '\u{180b}'..='\u{180d}' | '\u{180f}'
        | '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}')
}

/// True when nothing in `text` would show: whitespace, format characters and fillers only.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || is_format(c) || is_filler(c))
}

/// Refuses `text` (the field named `field`) if it holds control characters other than tab and
/// line breaks, or bidirectional controls. Refused rather than cleaned: a message is stored as
/// its sender wrote it, or not at all.
pub(crate) fn check(field: &str, text: &str) -> Result<(), StoreError> {
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(StoreError::bad_input(format!(
            "{field} contains control characters (such as NUL)"
        )));
    }
    if text.chars().any(is_bidi_control) {
        return Err(StoreError::bad_input(format!(
            "{field} contains bidirectional override characters (U+202A-U+202E, U+2066-U+2069)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_reordering_text_is_told_apart() {
        assert!(is_blank("\u{200b}\u{200d} \u{feff}\n"));
        assert!(!is_blank("\u{200b}a"));
        assert!(
            is_blank("\u{115f}\u{3164}\u{2800}\u{fe0f}"),
            "fillers show nothing"
        );
        assert!(!is_blank("\u{3164}\u{2800}x"));
        assert!(
            !is_blank("\u{2764}\u{fe0f}"),
            "an emoji with its variation selector shows"
        );
        assert!(is_blank("\u{17b4}\u{17b5}"));
        assert!(check("content", "line one\nline two\ttab").is_ok());
        assert!(check("content", "مرحبا \u{200f}ok").is_ok(), "RLM is fine");
        assert!(check("content", "a\0b").is_err());
        assert!(check("content", "a\u{7}b").is_err());
        assert!(check("content", "invoice\u{202e}fdp.exe").is_err());
        assert!(check("content", "\u{2067}isolate\u{2069}").is_err());
    }
}
