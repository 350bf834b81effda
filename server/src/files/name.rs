//! Client-supplied file names, made harmless for display and headers. The stored path never
//! uses them; they are only ever shown or offered as a download name.

use clinic_protocol::limits::MAX_FILE_NAME_BYTES;
use std::fmt::Write;

/// Strips path components, control and format characters (bidirectional overrides and
/// zero-width characters can disguise an extension), trims dots and spaces, and cuts to the
/// protocol limit on a character boundary. Never empty.
pub fn sanitize(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !crate::text::is_format(*c))
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let mut out = String::new();
    for c in trimmed.chars() {
        if out.len() + c.len_utf8() > MAX_FILE_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        "file".to_owned()
    } else {
        out
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
        _ => &["txt", "text", "log", "csv", "md"],
    }
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

/// `Content-Disposition` for a sanitized name: an ASCII fallback in `filename` and the exact name
/// in RFC 5987/6266 `filename*`.
pub fn content_disposition(name: &str, inline: bool) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_tricks() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("..\\..\\win.ini"), "win.ini");
        assert_eq!(sanitize(".."), "file");
        assert_eq!(sanitize(""), "file");
        assert_eq!(sanitize("a\u{0}b\nc.pdf"), "abc.pdf");
        assert_eq!(sanitize("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(sanitize("a\u{200b}b\u{feff}.pdf\u{2066}"), "ab.pdf");
        assert!(sanitize(&"é".repeat(300)).len() <= MAX_FILE_NAME_BYTES);
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

    #[test]
    fn disposition_quotes_safely() {
        assert_eq!(
            content_disposition("a \"b\".pdf", false),
            "attachment; filename=\"a _b_.pdf\"; filename*=UTF-8''a%20%22b%22.pdf"
        );
        assert!(
            content_disposition("résumé.png", true).starts_with("inline; filename=\"r_sum_.png\"")
        );
    }
}
