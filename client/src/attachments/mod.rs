//! Attachments: where the copies of files sent and received live in the profile, the names they
//! get, what is asked before one is opened, and their removal. Every copy but those handed to
//! viewers is sealed under the cache's key (`crate::sealed`): written so by `transfer`
//! (uploads, downloads) and `copies` (an earlier version's plain copies, the viewers' copies).

mod copies;
mod transfer;

pub(crate) use copies::{open_for_viewer, remove_viewer_copies, seal_in_place, tidy};
pub use copies::{remove_opened, remove_stopped_viewers};
pub(crate) use transfer::{download, store_copy, upload};

use crate::error::Result;
use clinic_protocol::ClientId;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Whether `path` is a regular file itself (not a link to one).
pub(crate) fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// Runs blocking file work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::ClientError::Invalid(format!("file work stopped: {e}")))
}

/// Progress is reported at most once per this many bytes (and at the end).
const PROGRESS_STEP: u64 = 256 * 1024;

/// Where the sender's copies live: `<profile>/attachments/sent/<clientId>/<name>`.
pub(crate) fn sent_path(profile_dir: &Path, client_id: &ClientId, name: &str) -> PathBuf {
    profile_dir
        .join("attachments")
        .join("sent")
        .join(file_safe(client_id.as_str()))
        .join(name)
}

/// Where downloaded files live: `<profile>/attachments/received/<hash of server+url>/<name>`.
pub(crate) fn received_path(
    profile_dir: &Path,
    server: &str,
    file_url: &str,
    name: &str,
) -> PathBuf {
    received_dir(profile_dir, server, file_url).join(name)
}

/// The folder of one download (it holds nothing else).
fn received_dir(profile_dir: &Path, server: &str, file_url: &str) -> PathBuf {
    let key = hex::encode(Sha256::digest(format!("{server}\n{file_url}").as_bytes()));
    profile_dir
        .join("attachments")
        .join("received")
        .join(key.get(..32).unwrap_or(&key))
}

/// Deletes the download of `file_url`, whatever name it was saved under, and the plain copies
/// viewers were given of it.
pub(crate) fn remove_received(profile_dir: &Path, server: &str, file_url: &str) {
    let folder = received_dir(profile_dir, server, file_url);
    remove_viewer_copies(&folder);
    remove_folder(&folder);
}

/// Deletes every file sent and received in the profile (logout on a shared computer). Links
/// in it are removed, never followed.
pub(crate) fn remove_all(profile_dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(profile_dir.join("attachments")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Longest file name this creates, in bytes (well within every file system's limit, leaving
/// room for the profile's folders on systems that cap the whole path).
const MAX_NAME_BYTES: usize = 120;

/// A file name safe to create on any OS: no path parts, no control, reserved or invisible
/// characters, never empty, at most [`MAX_NAME_BYTES`], a name cut short keeping its last
/// extension (the protocol's rule, [`clinic_protocol::file_name::clean`]). Names come from
/// users and from the server.
pub(crate) fn file_safe(raw: &str) -> String {
    const RESERVED: [char; 7] = [':', '*', '?', '"', '<', '>', '|'];
    clinic_protocol::file_name::clean(raw, MAX_NAME_BYTES, &RESERVED)
}

/// The name a received file gets on disk: safe, and with an extension its type allows (the
/// server's rule, `clinic_protocol::file_name`), whatever name its sender gave it. Without a
/// type (an old record, a hostile server) only an extension some type allows is kept; any
/// other name is made text's, so no `x.exe` or `x.desktop` is handed to the system.
pub(crate) fn received_name(name: Option<&str>, file_type: Option<&str>) -> String {
    use clinic_protocol::file_name::{for_type, has_known_extension};
    let safe = file_safe(name.unwrap_or("file"));
    match file_type {
        Some(file_type) => file_safe(&for_type(&safe, file_type)),
        None if has_known_extension(&safe) => safe,
        None => file_safe(&for_type(&safe, "text/plain")),
    }
}

/// The question to ask before a received file is opened with another program, when that
/// program could run what the file holds: an older Office document (`.doc`, `.xls`, `.ppt`) or
/// an OpenDocument one (`.odt`, `.ods`, `.odp`) can carry macros, and a kind the server never
/// names a file with could be a program (received files are named so none is; this holds if
/// one is anyway). `None` for the user's own files and for the other kinds the server names.
pub fn ask_before_opening(path: &Path, mine: bool) -> Option<String> {
    if mine {
        return None;
    }
    let name = path.file_name()?.to_string_lossy();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let macros = |kind: &str| {
        format!(
            "{name} is {kind}; such files can hold macros that run on this computer. Open it \
             anyway?"
        )
    };
    match ext.as_deref() {
        Some("doc" | "xls" | "ppt") => Some(macros("an older Office document")),
        Some("odt" | "ods" | "odp") => Some(macros("an OpenDocument file")),
        _ if clinic_protocol::file_name::has_known_extension(&name) => None,
        _ => Some(format!(
            "{name} is not a kind of file the clinic's server sends; opening it could run a \
             program on this computer. Open it anyway?"
        )),
    }
}

/// Deletes the sender's copy of a discarded, unsent or purged message (and its folder, which
/// holds nothing else), and the plain copies viewers were given of it.
pub(crate) fn remove_copy(path: &Path) {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        remove_viewer_copies(dir);
        let _ = std::fs::remove_dir(dir);
    }
}

/// Deletes this machine's copies of purged messages' attachments: the download (its folder
/// holds nothing else) and the sender's copy. Only ever under the profile's attachments folder;
/// a copy that cannot be deleted is logged (the purge itself stands).
pub(crate) fn remove_purged(profile_dir: &Path, server: &str, files: &[crate::cache::PurgedFile]) {
    let root = profile_dir.join("attachments");
    for file in files {
        if let Some(url) = &file.file_url {
            remove_received(profile_dir, server, url);
        }
        if let Some(local) = &file.local_path {
            let local = Path::new(local);
            if local.starts_with(root.join("sent")) {
                remove_copy(local);
            }
        }
    }
}

fn remove_folder(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(
                "could not delete a downloaded attachment in {}: {e}",
                dir.display()
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_on_disk_are_cut_to_120_bytes_without_reserved_characters() {
        let tricky = format!(
            "Blood test results {}.html scanned copy.txt",
            "_".repeat(96)
        );
        let safe = file_safe(&tricky);
        assert!(
            safe.len() <= MAX_NAME_BYTES && safe.ends_with(".txt"),
            "{safe}"
        );
        assert!(!safe.contains(".html"), "{safe}");
        assert_eq!(file_safe(&"é".repeat(200)).len(), 120);
        assert_eq!(file_safe("a:b*?\"<>|.pdf"), "ab.pdf");
        assert_eq!(file_safe("../../etc/passwd"), "passwd");
        assert_eq!(file_safe("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
    }

    #[test]
    fn a_received_file_is_named_for_its_type() {
        assert_eq!(
            received_name(Some("poly.html"), Some("image/png")),
            "poly.png"
        );
        assert_eq!(
            received_name(Some("scan.JPG"), Some("image/jpeg")),
            "scan.JPG"
        );
        assert_eq!(
            received_name(Some("run.sh"), Some("text/plain; charset=utf-8")),
            "run.txt"
        );
        // Long names: cut, and still of their type.
        let long = format!("{}.jar", "r".repeat(300));
        let named = received_name(
            Some(&long),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        );
        assert!(
            named.len() <= MAX_NAME_BYTES && named.ends_with(".docx"),
            "{named}"
        );
        assert_eq!(received_name(None, None), "file.txt");
        // Without a type, only a kind the server names files with keeps its name.
        assert_eq!(received_name(Some("scan.pdf"), None), "scan.pdf");
        for (name, named) in [
            ("notes.md", "notes.txt"),
            ("x.exe", "x.txt"),
            ("start.desktop", "start.txt"),
            ("macro.docm", "macro.txt"),
        ] {
            assert_eq!(received_name(Some(name), None), named);
        }
        // Text never reaches a spreadsheet's formulas or a viewer's remote images.
        for name in ["readings.csv", "notes.md"] {
            let named = received_name(Some(name), Some("text/plain"));
            assert!(named.ends_with(".txt"), "{named}");
        }
    }

    #[test]
    fn documents_that_can_hold_macros_from_others_are_asked_about() {
        let ask = |name: &str, mine| ask_before_opening(Path::new(name), mine);
        assert!(ask("/p/received/ab/letter.DOC", false).is_some_and(|q| q.contains("macros")));
        assert!(ask("/p/received/ab/sheet.xls", false).is_some());
        for odf in ["report.odt", "sheet.ODS", "slides.odp"] {
            assert!(
                ask(odf, false).is_some_and(|q| q.contains("OpenDocument")),
                "{odf}"
            );
        }
        assert_eq!(ask("/p/sent/c-1/letter.doc", true), None, "the user's own");
        assert_eq!(ask("/p/sent/c-1/letter.odt", true), None, "the user's own");
        assert_eq!(ask("/p/sent/c-1/tool.exe", true), None, "the user's own");
        for other in ["scan.pdf", "x.docx", "photo.png", "notes.txt"] {
            assert_eq!(ask(other, false), None, "{other}");
        }
        for unknown in ["noext", "x.exe", "run.desktop", "page.html"] {
            assert!(
                ask(unknown, false).is_some_and(|q| q.contains("could run a program")),
                "{unknown}"
            );
        }
    }
}
