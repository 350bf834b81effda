//! The part of a message a search result shows, with what matched marked as UTF-16 ranges (what
//! a web view's string offsets count), computed from the query so that server and client agree.

use super::Query;
use super::fold::{fold, tokens};
use crate::rest::{Highlight, Snippet};

/// Chars of context kept before the first match when the text is cut.
const LEAD: usize = 30;

/// `text` (cut to about `max_chars` around the first match, with "…" where cut) and the ranges
/// of it that matched `query`.
pub fn snippet(text: &str, query: &Query, max_chars: usize) -> Snippet {
    let original: Vec<char> = text.chars().collect();
    let ranges = matches(text, query);
    let (from, to) = window(&original, ranges.first().map(|r| r.0), max_chars);
    let mut out = String::new();
    let mut units = 0u32;
    let mut offsets = Vec::with_capacity(to - from + 1);
    if from > 0 {
        out.push('…');
        units += 1;
    }
    for c in &original[from..to] {
        offsets.push(units);
        out.push(*c);
        units += u32::try_from(c.len_utf16()).unwrap_or(2);
    }
    offsets.push(units);
    if to < original.len() {
        out.push('…');
    }
    let highlights = ranges
        .into_iter()
        .filter(|(s, e)| *s >= from && *e <= to)
        .map(|(s, e)| Highlight {
            start: offsets[s - from],
            end: offsets[e - from],
        })
        .collect();
    Snippet {
        text: out,
        highlights,
    }
}

/// `[start, end)` char ranges of `text` that match, sorted and merged.
fn matches(text: &str, query: &Query) -> Vec<(usize, usize)> {
    let folded = fold(text);
    let words = tokens(&folded.chars);
    let word = |i: usize| -> String {
        let (s, e) = words[i];
        folded.chars[s..e].iter().collect()
    };
    let mut found: Vec<(usize, usize)> = Vec::new();
    for t in &query.include {
        let n = t.words.len();
        for i in 0..words.len().saturating_sub(n - 1) {
            let hit = t.words.iter().enumerate().all(|(k, w)| {
                let have = word(i + k);
                if k + 1 == n && t.prefix {
                    have.starts_with(w.as_str())
                } else {
                    have == *w
                }
            });
            if hit {
                found.push((words[i].0, words[i + n - 1].1));
            }
        }
    }
    for part in &query.parts {
        let needle: Vec<char> = part.chars().collect();
        let mut i = 0;
        while !needle.is_empty() && i + needle.len() <= folded.chars.len() {
            if folded.chars[i..i + needle.len()] == needle[..] {
                found.push((i, i + needle.len()));
                i += needle.len();
            } else {
                i += 1;
            }
        }
    }
    // Folded positions back to the original chars.
    let to_original = |(s, e): (usize, usize)| (folded.origin[s], folded.origin[e - 1] + 1);
    let mut ranges: Vec<(usize, usize)> = found.into_iter().map(to_original).collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// The `[from, to)` chars to show: all of a short text; else `max_chars` starting a little before
/// the first match, moved to a word start.
fn window(chars: &[char], first: Option<usize>, max_chars: usize) -> (usize, usize) {
    if chars.len() <= max_chars {
        return (0, chars.len());
    }
    let mut from = first.unwrap_or(0).saturating_sub(LEAD);
    from = from.min(chars.len() - max_chars);
    if from > 0 {
        // Start at a word: skip the cut word, unless that would pass the match.
        let limit = first.unwrap_or(from);
        while from < limit && !chars[from - 1].is_whitespace() {
            from += 1;
        }
    }
    (from, (from + max_chars).min(chars.len()))
}
