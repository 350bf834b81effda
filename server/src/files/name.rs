//! Client-supplied file names, made harmless for display and headers. The stored path never
//! uses them; they are only ever shown or offered as a download name.

use clinic_protocol::limits::MAX_FILE_NAME_BYTES;
use std::fmt::Write;

/// Strips path components, control and format characters (bidirectional overrides and
/// zero-width characters can disguise an extension), trims dots and spaces, and cuts to the
/// protocol limit on a character boundary, keeping the last extension of a name cut short
/// (the protocol's rule, shared with the client). Never empty.
pub fn sanitize(raw: &str) -> String {
    clinic_protocol::file_name::clean(raw, MAX_FILE_NAME_BYTES, &[])
}

pub use clinic_protocol::file_name::for_type;

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

    /// The rule itself is tested in `clinic_protocol::file_name`; here, the server's use of it.
    #[test]
    fn names_lose_paths_and_tricks_and_keep_windows_punctuation() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(sanitize("a:b?.pdf"), "a:b?.pdf");
        let long = format!("{}.pdf", "é".repeat(300));
        assert!(sanitize(&long).len() <= MAX_FILE_NAME_BYTES && sanitize(&long).ends_with(".pdf"));
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
