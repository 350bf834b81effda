//! The query language and its snippets, case by case.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::rest::Highlight;

fn t(words: &[&str], prefix: bool) -> Text {
    Text {
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        prefix,
    }
}

#[test]
fn words_are_prefixes_and_phrases_are_exact() {
    let q = parse(r#"Amox "Blood Pressure" -rash -"side effect""#).unwrap();
    assert_eq!(
        q.include,
        [t(&["amox"], true), t(&["blood", "pressure"], false)]
    );
    assert_eq!(
        q.exclude,
        [t(&["rash"], true), t(&["side", "effect"], false)]
    );
    assert_eq!(q.fts_include().unwrap(), r#""amox"* AND "blood pressure""#);
    assert_eq!(q.fts_exclude().unwrap(), r#""rash"* OR "side effect""#);
}

#[test]
fn accents_case_and_hyphens_fold_like_the_index() {
    let q = parse("Müller amoxicillin-CLAV").unwrap();
    assert_eq!(
        q.include,
        [t(&["muller"], true), t(&["amoxicillin", "clav"], true)]
    );
}

#[test]
fn nothing_typed_is_fts_syntax() {
    let q = parse(r#"a"b OR NEAR(x) col:*"#).unwrap();
    let fts = q.fts_include().unwrap();
    assert_eq!(fts, r#""a b"* AND "or"* AND "near x"* AND "col"*"#);
}

#[test]
fn filters() {
    let q =
        parse("from:me in:@Dr.Patel before:2026-03-01 after:2026-01-31 has:image is:emergency x")
            .unwrap();
    assert_eq!(q.from, Some(Party::Me));
    assert_eq!(q.with, Some(Party::User("dr.patel".into())));
    assert_eq!(q.before, NaiveDate::from_ymd_opt(2026, 3, 1));
    assert_eq!(q.after, NaiveDate::from_ymd_opt(2026, 1, 31));
    assert_eq!(q.has, Some(Has::Image));
    assert!(q.emergency_only);
    assert_eq!(
        parse("from:@alice").unwrap().from,
        Some(Party::User("alice".into()))
    );
    // Filters alone are a search.
    assert!(parse("is:emergency").unwrap().include.is_empty());
}

#[test]
fn unknown_filters_are_plain_text() {
    let q = parse("dose:5mg has:video").unwrap();
    assert_eq!(
        q.include,
        [t(&["dose", "5mg"], true), t(&["has", "video"], true)]
    );
    assert_eq!(q.has, None);
}

#[test]
fn parts_of_words() {
    let q = parse("~CLAVUL").unwrap();
    assert_eq!(q.parts, ["clavul"]);
    assert_eq!(parse("~ab\0c\u{7}d").unwrap().parts, ["abcd"]);
    assert_eq!(q.fts_parts().unwrap(), r#""clavul""#);
    assert_eq!(parse("~cl"), Err(QueryError::ShortPart("cl".into())));
}

#[test]
fn refusals_say_what_to_do() {
    assert_eq!(parse("   "), Err(QueryError::Blank));
    assert_eq!(parse("- -- !!"), Err(QueryError::Blank));
    assert_eq!(parse("-rash"), Err(QueryError::OnlyExcluded));
    assert_eq!(parse(&"a".repeat(257)), Err(QueryError::TooLong));
    assert_eq!(
        parse(&vec!["w"; 17].join(" ")),
        Err(QueryError::TooManyTerms)
    );
    let bad = parse("before:March").unwrap_err();
    assert_eq!(
        bad.to_string(),
        "“March” is not a date: write before:YYYY-MM-DD, for example before:2026-03-01."
    );
}

#[test]
fn random_input_never_panics() {
    // A small deterministic generator: every byte soup parses or is refused, never panics.
    let alphabet: Vec<char> = "ab -\"~:@é€𝄞()*^\t\n0".chars().collect();
    let mut x: u64 = 7;
    for _ in 0..5_000 {
        let len = usize::try_from(x % 40).unwrap_or(0);
        let s: String = (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[usize::try_from(x >> 33).unwrap_or(0) % alphabet.len()]
            })
            .collect();
        if let Ok(q) = parse(&s) {
            let _ = (q.fts_include(), q.fts_exclude(), q.fts_parts());
            let _ = snippet(&s, &q, 20);
        }
    }
}

#[test]
fn snippets_mark_what_matched_in_utf16() {
    let q = parse("amox ~clav").unwrap();
    let s = snippet("Take Amoxicillin-clavulanate 𝄞 twice", &q, 200);
    assert_eq!(s.text, "Take Amoxicillin-clavulanate 𝄞 twice");
    assert_eq!(
        s.highlights,
        [
            Highlight { start: 5, end: 16 },
            Highlight { start: 17, end: 21 }
        ]
    );
    // Accents: the highlight covers what the user wrote.
    let s = snippet("Frau Müller", &parse("muller").unwrap(), 200);
    assert_eq!(s.highlights, [Highlight { start: 5, end: 11 }]);
    // After an astral char, offsets count UTF-16 units.
    let s = snippet("𝄞 rash", &parse("rash").unwrap(), 200);
    assert_eq!(s.highlights, [Highlight { start: 3, end: 7 }]);
}

#[test]
fn long_texts_are_cut_around_the_first_match() {
    let text = format!(
        "{} the rash is worse {}",
        "word ".repeat(100),
        "tail ".repeat(100)
    );
    let s = snippet(&text, &parse("rash").unwrap(), 60);
    assert!(
        s.text.starts_with('…') && s.text.ends_with('…'),
        "{}",
        s.text
    );
    let [h] = s.highlights.as_slice() else {
        panic!("{s:?}")
    };
    let units: Vec<u16> = s.text.encode_utf16().collect();
    let start = usize::try_from(h.start).unwrap();
    let end = usize::try_from(h.end).unwrap();
    assert_eq!(String::from_utf16(&units[start..end]).unwrap(), "rash");
}

#[test]
fn days_start_at_the_searchers_midnight() {
    let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let utc = day_start_ms(d, 0);
    assert_eq!(day_start_ms(d, 60), utc - 3_600_000); // Berlin: an hour earlier in UTC
    assert_eq!(day_start_ms(d, -300), utc + 5 * 3_600_000); // New York
    assert_eq!(next_day(d), NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
}
