//! Case and diacritics folding as SQLite FTS5's `unicode61 remove_diacritics 2` does it, with a
//! map back to the original text (so highlights land on what the user wrote).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folded text: lowercase, without combining marks, and for every folded char the index of the
/// original char it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    pub chars: Vec<char>,
    pub origin: Vec<usize>,
}

/// Folds `text` ("Crème Brûlée" -> "creme brulee").
pub fn fold(text: &str) -> Folded {
    let mut chars = Vec::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        for d in c.nfd().filter(|d| !is_combining_mark(*d)) {
            for l in d.to_lowercase() {
                chars.push(l);
                origin.push(i);
            }
        }
    }
    Folded { chars, origin }
}

/// `fold(text)` as a string.
pub fn fold_str(text: &str) -> String {
    fold(text).chars.into_iter().collect()
}

/// Whether `c` is part of a word for the tokenizer (letters, digits, private use), as unicode61.
pub fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || ('\u{E000}'..='\u{F8FF}').contains(&c)
}

/// The words of already folded text, as `[start, end)` char ranges.
pub fn tokens(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (is_token_char(*c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, chars.len()));
    }
    out
}

/// The words of `text`, folded.
pub fn words(text: &str) -> Vec<String> {
    let folded = fold(text).chars;
    tokens(&folded)
        .into_iter()
        .map(|(s, e)| folded[s..e].iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn folds_case_and_diacritics_and_keeps_the_origin() {
        let f = fold("Crème Ärzt");
        assert_eq!(f.chars.iter().collect::<String>(), "creme arzt");
        assert_eq!(f.origin[2], 2); // the e of è
        assert_eq!(
            words("Amoxicillin-Clavulanate 500mg, Müller"),
            ["amoxicillin", "clavulanate", "500mg", "muller"]
        );
    }
}
