//! Message search queries: one parser for the server and the clients, the FTS5 expression both
//! run against SQLite, and the snippet with highlights both show.
//!
//! The language: words (each a prefix: `amox` finds "Amoxicillin"), `"exact phrases"`, `-word`
//! or `-"phrase"` to exclude, `~part` for a part of a word (at least 3 letters: `~clav` finds
//! "amoxicillin-clavulanate"), and filters `from:me|@user`, `in:@user`, `before:`/`after:`/`on:`
//! `YYYY-MM-DD` (in the searcher's time zone), `has:file|image`, `is:emergency`. Case and accents
//! never matter. An unknown `x:y` is plain text.

mod fold;
mod snippet;

pub use fold::{fold_str, words};
pub use snippet::snippet;

use chrono::NaiveDate;

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 256;
/// Most words, phrases and filters in one query.
pub const MAX_TERMS: usize = 16;
/// Shortest `~part` (the trigram index cannot look for less).
pub const MIN_SUBSTRING_CHARS: usize = 3;

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Every one of these must match (words as prefixes, phrases exactly).
    pub include: Vec<Text>,
    /// None of these may match.
    pub exclude: Vec<Text>,
    /// Parts of words that must all appear (folded, at least 3 chars).
    pub parts: Vec<String>,
    pub from: Option<Party>,
    /// `in:@user`: conversations with this person.
    pub with: Option<Party>,
    /// Strictly before this day starts.
    pub before: Option<NaiveDate>,
    /// From the day after this one.
    pub after: Option<NaiveDate>,
    pub on: Option<NaiveDate>,
    pub has: Option<Has>,
    pub emergency_only: bool,
}

/// Folded words in a row; `prefix` when the last one may be the start of a longer word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub words: Vec<String>,
    pub prefix: bool,
}

/// Who sent (`from:`) or who the conversation is with (`in:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Me,
    /// A username, without the `@`.
    User(String),
}

/// `has:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    File,
    Image,
}

/// Why a query was refused, as a sentence for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("Type something to search for.")]
    Blank,
    #[error("The search is too long (at most {MAX_QUERY_BYTES} bytes).")]
    TooLong,
    #[error("Use at most {MAX_TERMS} words and filters in one search.")]
    TooManyTerms,
    #[error("Add a word to look for: a search cannot be only -words.")]
    OnlyExcluded,
    // Said with the value quoted first: a UI puts a sentence's first letter in capitals, which
    // made "before:x" read "Before:x".
    #[error("“{value}” is not a date: write {key}:YYYY-MM-DD, for example {key}:2026-03-01.")]
    BadDate { key: String, value: String },
    #[error("~{0} is too short: a part of a word needs at least {MIN_SUBSTRING_CHARS} letters.")]
    ShortPart(String),
}

/// Parses what the user typed.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong);
    }
    let pieces = split(input);
    if pieces.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    let mut q = Query::default();
    for piece in pieces {
        match piece {
            Piece::Phrase { text, negated } => q.add_text(&text, false, negated),
            Piece::Bare {
                text,
                negated: true,
            } => q.add_text(&text, true, true),
            Piece::Bare { text, .. } => q.add_bare(&text)?,
        }
    }
    if q.include.is_empty() && q.parts.is_empty() && !q.has_filter() {
        return Err(if q.exclude.is_empty() {
            QueryError::Blank
        } else {
            QueryError::OnlyExcluded
        });
    }
    Ok(q)
}

impl Query {
    fn has_filter(&self) -> bool {
        self.from.is_some()
            || self.with.is_some()
            || self.before.is_some()
            || self.after.is_some()
            || self.on.is_some()
            || self.has.is_some()
            || self.emergency_only
    }

    fn add_text(&mut self, text: &str, prefix: bool, negated: bool) {
        let words = words(text);
        if words.is_empty() {
            return; // punctuation only: nothing a tokenizer would index
        }
        let text = Text { words, prefix };
        if negated {
            self.exclude.push(text);
        } else {
            self.include.push(text);
        }
    }

    fn add_bare(&mut self, piece: &str) -> Result<(), QueryError> {
        if let Some(part) = piece.strip_prefix('~') {
            // Control characters (NUL ends a string for SQLite's FTS5 parser) are never text.
            let folded: String = fold_str(part).chars().filter(|c| !c.is_control()).collect();
            if folded.chars().count() < MIN_SUBSTRING_CHARS {
                return Err(QueryError::ShortPart(part.to_owned()));
            }
            self.parts.push(folded);
            return Ok(());
        }
        if let Some((key, value)) = piece.split_once(':')
            && self.add_filter(&key.to_lowercase(), value)?
        {
            return Ok(());
        }
        self.add_text(piece, true, false);
        Ok(())
    }

    /// Applies `key:value`; false when it is not a filter (then it is plain text).
    fn add_filter(&mut self, key: &str, value: &str) -> Result<bool, QueryError> {
        let party = || match value.to_lowercase().as_str() {
            "me" => Some(Party::Me),
            "" | "@" => None,
            v => Some(Party::User(v.trim_start_matches('@').to_owned())),
        };
        let date = || {
            NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| QueryError::BadDate {
                key: key.to_owned(),
                value: value.to_owned(),
            })
        };
        match key {
            "from" => match party() {
                Some(p) => self.from = Some(p),
                None => return Ok(false),
            },
            "in" => match party() {
                Some(Party::User(u)) => self.with = Some(Party::User(u)),
                _ => return Ok(false),
            },
            "before" => self.before = Some(date()?),
            "after" => self.after = Some(date()?),
            "on" => self.on = Some(date()?),
            "has" => match value.to_lowercase().as_str() {
                "file" => self.has = Some(Has::File),
                "image" => self.has = Some(Has::Image),
                _ => return Ok(false),
            },
            "is" if value.eq_ignore_ascii_case("emergency") => self.emergency_only = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The FTS5 expression for the word index (`unicode61 remove_diacritics 2`), or `None`
    /// when no word or phrase must match. Every word is quoted: nothing typed is FTS5 syntax.
    pub fn fts_include(&self) -> Option<String> {
        (!self.include.is_empty()).then(|| {
            self.include
                .iter()
                .map(Text::fts)
                .collect::<Vec<_>>()
                .join(" AND ")
        })
    }

    /// The FTS5 expression matching any excluded word or phrase.
    pub fn fts_exclude(&self) -> Option<String> {
        (!self.exclude.is_empty()).then(|| {
            self.exclude
                .iter()
                .map(Text::fts)
                .collect::<Vec<_>>()
                .join(" OR ")
        })
    }

    /// The FTS5 expression for the trigram index: every part, quoted.
    pub fn fts_parts(&self) -> Option<String> {
        (!self.parts.is_empty()).then(|| {
            self.parts
                .iter()
                .map(|p| quote(p))
                .collect::<Vec<_>>()
                .join(" AND ")
        })
    }
}

impl Text {
    fn fts(&self) -> String {
        let phrase = quote(&self.words.join(" "));
        if self.prefix {
            format!("{phrase}*")
        } else {
            phrase
        }
    }
}

/// Chars of a message shown per result.
pub const SNIPPET_CHARS: usize = 160;

/// What a result shows: its text around the matches, or its file name when only that matched.
pub fn shown(message: &crate::Message, q: &Query) -> crate::rest::Snippet {
    let text = snippet(&message.content, q, SNIPPET_CHARS);
    if text.highlights.is_empty()
        && let Some(name) = &message.file_name
    {
        let named = snippet(name, q, SNIPPET_CHARS);
        if !named.highlights.is_empty() {
            return named;
        }
    }
    text
}

/// Milliseconds since the epoch when `day` starts for someone `offset_minutes` east of UTC (the
/// day filters are the searcher's days).
pub fn day_start_ms(day: NaiveDate, offset_minutes: i32) -> i64 {
    let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
    (midnight - chrono::Duration::minutes(i64::from(offset_minutes))).timestamp_millis()
}

/// The day after `day` (the same day at the end of the calendar).
pub fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One whitespace-separated piece of the query; quotes group words into a phrase.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Phrase { text: String, negated: bool },
    Bare { text: String, negated: bool },
}

fn split(input: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let (negated, body) = match rest.strip_prefix('-') {
            Some(b) if b.starts_with(|c: char| !c.is_whitespace()) => (true, b),
            _ => (false, rest),
        };
        if let Some(quoted) = body.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push(Piece::Phrase {
                text: quoted[..end].to_owned(),
                negated,
            });
            rest = quoted.get(end + 1..).unwrap_or("").trim_start();
        } else {
            let end = body.find(char::is_whitespace).unwrap_or(body.len());
            out.push(Piece::Bare {
                text: body[..end].to_owned(),
                negated,
            });
            rest = body[end..].trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests;
