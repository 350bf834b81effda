//! File names from users, one rule for both ends: what a name may hold ([`clean`]: the server
//! for display and headers, the client for files on disk, with its own cap and reserved
//! characters) and the extensions a file of a given content type may carry ([`for_type`]: the
//! server gives every upload's name one, so no program opens a PNG named `poly.html` as a web
//! page, and the client holds received files to the same rule when it names them on disk).

use crate::limits::MAX_FILE_NAME_BYTES;

/// `raw` made a harmless name: no path parts (after the last `/` or `\\`), no control or
/// format characters (bidirectional overrides and zero-width characters can disguise an
/// extension) nor any of `reserved`, no dots or spaces at either end, never empty, at most
/// `max_bytes`. A name cut short keeps its last extension and no other: cutting `report
/// …(long)… .html scan.txt` after `.html` would give it an extension its sender chose and the
/// server had taken away, so the dots of a cut stem become `_`.
pub fn clean(raw: &str, max_bytes: usize, reserved: &[char]) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|&c| !c.is_control() && !crate::text::is_format(c) && !reserved.contains(&c))
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return "file".to_owned();
    }
    if trimmed.len() <= max_bytes {
        return trimmed.to_owned();
    }
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= max_bytes / 2 => (stem, Some(ext)),
        _ => (trimmed, None),
    };
    let room = max_bytes - ext.map_or(0, |e| e.len() + 1);
    let mut cut = String::new();
    for c in stem.chars() {
        if cut.len() + c.len_utf8() > room {
            break;
        }
        cut.push(if c == '.' { '_' } else { c });
    }
    let cut = cut.trim_end_matches(|c: char| c == '_' || c.is_whitespace());
    let cut = if cut.is_empty() { "file" } else { cut };
    match ext {
        Some(ext) => format!("{cut}.{ext}"),
        None => cut.to_owned(),
    }
}

/// The extensions a file of `content_type` (as the sniffer names it) may carry; the first is
/// the one given to a name without a fitting one.
fn extensions(content_type: &str) -> &'static [&'static str] {
    match content_type {
        "image/png" => &["png"],
        "image/jpeg" => &["jpg", "jpeg", "jpe", "jfif"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "application/pdf" => &["pdf"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => &["docx"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => &["xlsx"],
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => &["pptx"],
        "application/vnd.oasis.opendocument.text" => &["odt"],
        "application/vnd.oasis.opendocument.spreadsheet" => &["ods"],
        "application/vnd.oasis.opendocument.presentation" => &["odp"],
        "application/vnd.ms-office" => &["doc", "xls", "ppt"],
        // Not `.csv` (a spreadsheet would run its formulas) nor `.md` (a viewer would fetch
        // its images): text opens as text.
        _ => &["txt", "text", "log"],
    }
}

/// Every content type the server names an upload with (the sniffer's), text aside.
const KNOWN_TYPES: [&str; 12] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.ms-office",
];

/// Whether `name` ends in an extension some file the server takes may carry (text's included):
/// a name without its type (an old record, a hostile server) keeps only such an extension.
pub fn has_known_extension(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && KNOWN_TYPES
            .iter()
            .chain(&["text/plain"])
            .any(|t| extensions(t).iter().any(|a| a.eq_ignore_ascii_case(ext)))
}

/// A sanitized `name` whose extension matches the content: a PNG named `poly.html` is offered
/// as `poly.png`, so no program opens it as something it is not. A fitting extension is kept.
pub fn for_type(name: &str, content_type: &str) -> String {
    let allowed = extensions(content_type);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    };
    if ext.is_some_and(|e| allowed.iter().any(|a| a.eq_ignore_ascii_case(e))) {
        return name.to_owned();
    }
    let ext = allowed.first().copied().unwrap_or("bin");
    let mut stem = stem.to_owned();
    while stem.len() + 1 + ext.len() > MAX_FILE_NAME_BYTES {
        stem.pop();
    }
    format!("{stem}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_invisible_characters_and_tricks() {
        let clean = |raw: &str| clean(raw, 120, &[':', '*']);
        assert_eq!(clean("../../etc/passwd"), "passwd");
        assert_eq!(clean("..\\..\\win.ini"), "win.ini");
        assert_eq!(clean(" .. "), "file");
        assert_eq!(clean(""), "file");
        assert_eq!(clean("a\u{0}b\nc.pdf"), "abc.pdf");
        assert_eq!(clean("a:b*.pdf"), "ab.pdf");
        assert_eq!(clean("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean("a\u{200b}b\u{feff}.pdf\u{2066}"), "ab.pdf");
        assert_eq!(clean("a\u{00ad}b\u{061c}\u{e0041}.pdf"), "ab.pdf");
        assert_eq!(clean("short.pdf"), "short.pdf");
    }

    #[test]
    fn a_name_cut_short_keeps_its_extension_and_no_other() {
        // A sender's name whose first 120 bytes end in `.html`, made a `.txt` by the server.
        let stem = "Blood test results ";
        let tricky = format!(
            "{stem}{}.html scanned copy.txt",
            "_".repeat(120 - stem.len() - ".html".len())
        );
        let safe = clean(&tricky, 120, &[]);
        assert!(safe.len() <= 120, "{}", safe.len());
        assert!(safe.ends_with(".txt") && !safe.contains(".html"), "{safe}");
        assert_eq!(clean(&"é".repeat(200), 120, &[]).len(), 120);
        assert!(clean(&format!("{}.pdf", "é".repeat(200)), 120, &[]).ends_with("é.pdf"));
        // A last part too long to be an extension is cut too, and the dots before it go.
        let sneaky = format!("{}.html.{}", "A".repeat(115), "x".repeat(70));
        let safe = clean(&sneaky, 120, &[]);
        assert!(!safe.contains('.') && safe.len() <= 120, "{safe}");
        assert!(clean(&"é".repeat(300), MAX_FILE_NAME_BYTES, &[]).len() <= MAX_FILE_NAME_BYTES);
    }

    #[test]
    fn the_known_types_are_those_the_extensions_name() {
        for t in KNOWN_TYPES {
            assert_ne!(extensions(t), extensions("text/plain"), "{t}");
        }
        assert!(has_known_extension("scan.PDF") && has_known_extension("notes.txt"));
        assert!(has_known_extension("letter.doc") && has_known_extension("photo.jpeg"));
        for other in [
            "x.exe",
            "x.hta",
            "x.docm",
            "x.desktop",
            "x.html",
            ".pdf",
            "pdf",
            "x",
        ] {
            assert!(!has_known_extension(other), "{other}");
        }
    }

    #[test]
    fn the_extension_follows_the_content() {
        assert_eq!(for_type("poly.html", "image/png"), "poly.png");
        assert_eq!(for_type("scan.JPG", "image/jpeg"), "scan.JPG");
        assert_eq!(for_type("notes", "text/plain; charset=utf-8"), "notes.txt");
        assert_eq!(
            for_type("page.htm", "text/plain; charset=utf-8"),
            "page.txt"
        );
        assert_eq!(
            for_type(".bashrc", "text/plain; charset=utf-8"),
            ".bashrc.txt"
        );
        let long = format!("{}.html", "n".repeat(250));
        let fixed = for_type(&long, "application/pdf");
        assert!(fixed.len() <= MAX_FILE_NAME_BYTES && fixed.ends_with(".pdf"));
    }
}
