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

/// True when nothing in `text` would show: whitespace and format characters only.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || is_format(c))
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
        assert!(check("content", "line one\nline two\ttab").is_ok());
        assert!(check("content", "مرحبا \u{200f}ok").is_ok(), "RLM is fine");
        assert!(check("content", "a\0b").is_err());
        assert!(check("content", "a\u{7}b").is_err());
        assert!(check("content", "invoice\u{202e}fdp.exe").is_err());
        assert!(check("content", "\u{2067}isolate\u{2069}").is_err());
    }
}
