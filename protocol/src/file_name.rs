//! File names against file types: the extensions a file of a given content type may carry.
//! The server gives every upload's name one (so no program opens a PNG named `poly.html` as a
//! web page) and the client holds received files to the same rule when it names them on disk.

use crate::limits::MAX_FILE_NAME_BYTES;

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

#[cfg(test)]
mod tests {
    use super::*;

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
