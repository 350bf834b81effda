//! Deciding a file's type from its content (magic bytes), never from its name or declared type.
//! Allowed: PNG, JPEG, WebP, GIF, PDF, OOXML and OpenDocument office files, legacy OLE office
//! files, and plain UTF-8 text without NUL bytes.

/// How many leading bytes are enough to decide every binary type we allow. Office zips name
/// their parts in the first local headers, well within this.
pub(crate) const SNIFF_BYTES: usize = 8 * 1024;

pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// A binary type recognized from the first bytes, or `None` (then only text may still fit).
pub(crate) fn binary_type(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && starts(b"RIFF") && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        // Compound File Binary: .doc, .xls, .ppt (the container does not say which cheaply).
        Some("application/vnd.ms-office")
    } else if starts(b"PK\x03\x04") {
        office_zip(head)
    } else {
        None
    }
}

/// A zip is allowed only when it is an office document: OOXML (`[Content_Types].xml` plus the
/// folder of its kind) or OpenDocument (a stored `mimetype` entry first). Any other zip is not.
fn office_zip(head: &[u8]) -> Option<&'static str> {
    const ODF: &[(&[u8], &str)] = &[
        (
            b"mimetypeapplication/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.text",
        ),
        (
            b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.spreadsheet",
        ),
        (
            b"mimetypeapplication/vnd.oasis.opendocument.presentation",
            "application/vnd.oasis.opendocument.presentation",
        ),
    ];
    // The first local file header's name starts at offset 30.
    let first = head.get(30..).unwrap_or_default();
    for (magic, mime) in ODF {
        if first.starts_with(magic) {
            return Some(mime);
        }
    }
    if !contains(head, b"[Content_Types].xml") {
        return None;
    }
    if contains(head, b"word/") {
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    } else if contains(head, b"xl/") {
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    } else if contains(head, b"ppt/") {
        Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
    } else {
        None
    }
}

/// True for the types `binary_type` takes from a zip's first bytes: only a guess until
/// [`office_type`] has read the archive's central directory.
pub(crate) fn is_zip_type(kind: &str) -> bool {
    kind.starts_with("application/vnd.openxmlformats-officedocument")
        || kind.starts_with("application/vnd.oasis.opendocument")
}

/// The office type of the complete zip file at `path`, decided by its central directory (the
/// archive's real table of contents, at its end): OOXML needs `[Content_Types].xml` and the
/// main part of its kind, OpenDocument a `mimetype` entry naming its kind and a `content.xml`.
/// A file that merely contains those names somewhere is not an archive of them.
pub(crate) fn office_type(path: &std::path::Path) -> Option<&'static str> {
    let file = std::fs::File::open(path).ok()?;
    let archive = zip::ZipArchive::new(std::io::BufReader::new(file)).ok()?;
    let has = |name: &str| archive.index_for_name(name).is_some();
    if has("[Content_Types].xml") {
        return if has("word/document.xml") {
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        } else if has("xl/workbook.xml") {
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        } else if has("ppt/presentation.xml") {
            Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
        } else {
            None
        };
    }
    if has("mimetype") && has("content.xml") {
        // The first local header's stored `mimetype` names the kind (checked in the head).
        let head = {
            let mut head = vec![0u8; 30 + 8 + 64];
            let mut file = std::fs::File::open(path).ok()?;
            let read = std::io::Read::read(&mut file, &mut head).ok()?;
            head.truncate(read);
            head
        };
        return office_zip(&head).filter(|kind| kind.contains("opendocument"));
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Checks a stream for "UTF-8 text without NUL" chunk by chunk, carrying a multi-byte
/// character split across chunks to the next one.
#[derive(Debug, Default)]
pub(crate) struct TextCheck {
    carry: Vec<u8>,
}

impl TextCheck {
    /// False as soon as the stream cannot be plain text.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> bool {
        if chunk.contains(&0) {
            return false;
        }
        let mut joined;
        let bytes = if self.carry.is_empty() {
            chunk
        } else {
            joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            &joined[..]
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => true,
            // An incomplete character at the very end may be completed by the next chunk.
            Err(e) if e.error_len().is_none() => {
                self.carry = bytes[e.valid_up_to()..].to_vec();
                true
            }
            Err(_) => false,
        }
    }

    /// True when the stream ended on a whole character.
    pub(crate) fn finish(&self) -> bool {
        self.carry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide() {
        assert_eq!(binary_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(binary_type(b"%PDF-1.4\n"), Some("application/pdf"));
        assert_eq!(binary_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(binary_type(b"\x7fELF\x02\x01\x01"), None);
        assert_eq!(binary_type(b"MZ\x90\0"), None);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&[0; 26]);
        zip.extend_from_slice(b"[Content_Types].xml....word/document.xml");
        assert!(binary_type(&zip).is_some_and(|t| t.contains("wordprocessingml")));
        let mut plain_zip = b"PK\x03\x04".to_vec();
        plain_zip.extend_from_slice(&[0; 26]);
        plain_zip.extend_from_slice(b"evil.exe");
        assert_eq!(binary_type(&plain_zip), None);
    }

    #[test]
    fn office_documents_are_judged_by_their_central_directory() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let zip_of = |names: &[&str]| {
            let path = dir.path().join(format!("{}.zip", names.len()));
            let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut zip = zip::ZipWriter::new(file);
            for name in names {
                zip.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap_or_else(|e| panic!("{e}"));
                zip.write_all(b"<x/>").unwrap_or_else(|e| panic!("{e}"));
            }
            zip.finish().unwrap_or_else(|e| panic!("{e}"));
            path
        };
        let docx = zip_of(&["[Content_Types].xml", "word/document.xml"]);
        assert!(office_type(&docx).is_some_and(|t| t.contains("wordprocessingml")));
        let other = zip_of(&["[Content_Types].xml", "evil.exe", "x"]);
        assert_eq!(office_type(&other), None);
        // The marker strings in a file that is no archive at all.
        let fake = dir.path().join("fake.docx");
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend_from_slice(&[0; 26]);
        bytes.extend_from_slice(b"[Content_Types].xml word/document.xml <html>");
        std::fs::write(&fake, &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(binary_type(&bytes).is_some(), "the head alone is fooled");
        assert_eq!(office_type(&fake), None, "the central directory is not");
    }

    #[test]
    fn text_is_checked_across_chunks() {
        let text = "grüße, 日本".as_bytes();
        let mut check = TextCheck::default();
        for chunk in text.chunks(1) {
            assert!(check.feed(chunk));
        }
        assert!(check.finish());
        let mut check = TextCheck::default();
        assert!(!check.feed(b"abc\0"));
        let mut check = TextCheck::default();
        assert!(!check.feed(b"\xff\xfe"));
        let mut check = TextCheck::default();
        assert!(check.feed("ü".as_bytes().get(..1).unwrap_or_default()));
        assert!(!check.finish());
    }
}
