//! Text people send each other, checked for what can disguise it: NUL and other control
//! characters, bidirectional overrides (which reorder what a reader sees), and text made only of
//! invisible characters.

use crate::store::StoreError;

use clinic_protocol::text::Disguise;
pub(crate) use clinic_protocol::text::{is_blank, is_format};

/// Refuses `text` (the field named `field`) if it holds control characters other than tab and
/// line breaks, or bidirectional controls. Refused rather than cleaned: a message is stored as
/// its sender wrote it, or not at all.
pub(crate) fn check(field: &str, text: &str) -> Result<(), StoreError> {
    match Disguise::find(text) {
        Some(disguise) => Err(StoreError::bad_input(disguise.sentence(field))),
        None => Ok(()),
    }
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
