//! Attachments: the sender's copy of a file kept in the profile, its upload (streamed from disk,
//! reporting progress; the send queue retries it and restarts it from the beginning after a
//! drop), received files downloaded once into the profile's cache, and the plain copies handed
//! to viewers. Every copy in the profile but those is sealed under the cache's key
//! (`crate::sealed`).

use crate::error::{ClientError, Result};
use crate::events::ClientEvent;
use crate::sealed::{self, FilesKey};
use crate::shared::Shared;
use clinic_protocol::{ClientId, ConversationKey};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Deletes the download of `file_url`, whatever name it was saved under.
pub(crate) fn remove_received(profile_dir: &Path, server: &str, file_url: &str) {
    remove_folder(&received_dir(profile_dir, server, file_url));
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

/// Deletes the sender's copy of a discarded send (and its folder, which holds nothing else).
pub(crate) fn remove_copy(path: &Path) {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
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

/// Copies `source` into the profile for `client_id`, sealed under the cache's key (via a temp
/// name, so a crash never leaves a short copy under the final name). Returns the copy's path.
pub(crate) fn store_copy(
    profile_dir: &Path,
    key: &FilesKey,
    client_id: &ClientId,
    source: &Path,
    name: &str,
) -> Result<PathBuf> {
    let target = sent_path(profile_dir, client_id, name);
    let dir = target
        .parent()
        .ok_or_else(|| ClientError::Invalid("bad attachment path".into()))?;
    crate::profile::private_dir(dir)?;
    let partial = dir.join(".partial");
    // Created private before a byte is copied (the source's mode is not carried over).
    let mut out = std::io::BufWriter::new(crate::profile::private_file(&partial)?);
    sealed::seal(key, &mut std::fs::File::open(source)?, &mut out)?;
    out.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    std::fs::rename(&partial, &target)?;
    Ok(target)
}

/// The plaintext of a sealed copy, chunk by chunk, for an upload's body.
async fn unsealed_chunks(
    key: &FilesKey,
    path: &Path,
) -> Result<(
    u64,
    impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + use<>,
)> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let mut header = [0u8; sealed::HEADER];
    file.read_exact(&mut header).await?;
    let opener = sealed::Opener::new(key, &header, len)?;
    let total = sealed::plain_len(len).unwrap_or_default();
    let chunks = futures_util::stream::unfold((file, opener), |(mut file, mut opener)| async {
        let n = opener.next_len()?;
        let mut buf = vec![0; n];
        let chunk = match file.read_exact(&mut buf).await {
            Ok(_) => opener
                .open(&buf)
                .map_err(|e| std::io::Error::other(e.to_string())),
            Err(e) => Err(e),
        };
        // A chunk that cannot be read ends the body (the upload fails and is tried again).
        match chunk {
            Ok(plain) => Some((Ok(plain), (file, opener))),
            Err(e) => {
                opener.stop();
                Some((Err(e), (file, opener)))
            }
        }
    });
    Ok((total, chunks))
}

/// One attempt at an upload entry: streams the file's plaintext from its sealed copy,
/// reporting progress. A failed attempt starts over from the first byte next time (the server
/// keeps no partial uploads); a copy that does not open (damaged, another key's) fails at once.
pub(crate) async fn upload(
    shared: &Arc<Shared>,
    client_id: &ClientId,
    key: &ConversationKey,
    path: &Path,
    name: &str,
) -> Result<clinic_protocol::rest::UploadResponse> {
    let files = shared.cache.files_key().clone();
    let checked = path.to_owned();
    let opens = tokio::task::spawn_blocking(move || sealed::opens(&files, &checked))
        .await
        .unwrap_or(false);
    if !opens {
        return Err(ClientError::Invalid(format!(
            "{}: this computer's copy of the file cannot be read",
            path.display()
        )));
    }
    let (total, chunks) = unsealed_chunks(shared.cache.files_key(), path).await?;
    let progress = Arc::clone(shared);
    let id = client_id.clone();
    let mut reported = 0u64;
    let chunks = chunks.scan(0u64, move |sent, chunk: std::io::Result<Vec<u8>>| {
        if let Ok(bytes) = &chunk {
            *sent += bytes.len() as u64;
            if *sent - reported >= PROGRESS_STEP || *sent == total {
                reported = *sent;
                progress.emit(ClientEvent::UploadProgress {
                    client_id: id.clone(),
                    sent: *sent,
                    total,
                });
            }
        }
        std::future::ready(Some(chunk))
    });
    let body = reqwest::Body::wrap_stream(chunks);
    shared.api.upload(key, name, body, total).await
}

/// Downloads `file_url` into `target`, sealed as it comes, unless a copy of the expected size
/// that opens is there already. Written under a temp name and renamed, so a cut download never
/// passes for the file.
pub(crate) async fn download(
    shared: &Shared,
    file_url: &str,
    expected: Option<u64>,
    target: &Path,
) -> Result<()> {
    let key = shared.cache.files_key();
    if let Ok(meta) = tokio::fs::metadata(target).await
        && expected.is_none_or(|n| sealed::plain_len(meta.len()) == Some(n))
        && sealed::opens(key, target)
    {
        // A download made by an older version may be readable by others: tightened here.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                let private = std::fs::Permissions::from_mode(0o600);
                tokio::fs::set_permissions(target, private).await?;
            }
        }
        return Ok(());
    }
    let dir = target
        .parent()
        .ok_or_else(|| ClientError::Invalid("bad download path".into()))?;
    crate::profile::private_dir(dir)?;
    let partial = dir.join(".partial");
    // No app of this clinic sends a file over its server's limit (earlier limits may have been
    // larger: four times it, at most the hard ceiling); a server announcing more (a broken or
    // hostile one) must not fill this computer's disk.
    let most = shared
        .upload_limit()
        .max(clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES)
        .saturating_mul(4)
        .min(clinic_protocol::limits::MAX_ATTACHMENT_BYTES);
    if expected.is_some_and(|n| n > most) {
        return Err(ClientError::Invalid(format!(
            "the file is said to be larger than {}, more than any file the app sends; it was \
             not downloaded",
            clinic_protocol::limits::size_text(most)
        )));
    }
    let mut response = shared.api.download(file_url).await?;
    let limit = expected.unwrap_or(most);
    // Health data: readable by this account only, like the cache, and sealed like it.
    let mut out = tokio::fs::File::from_std(crate::profile::private_file(&partial)?);
    let mut sealer = sealed::Sealer::new(key);
    out.write_all(sealer.header()).await?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await? {
        written += chunk.len() as u64;
        // A server sending more than it announced is cut off rather than filling the disk.
        if written > limit {
            drop(out);
            let _ = tokio::fs::remove_file(&partial).await;
            tracing::warn!("{file_url}: more bytes than the message says ({limit})");
            return Err(ClientError::Invalid(
                "the file the server sent is larger than the message says; it was not kept".into(),
            ));
        }
        out.write_all(&sealer.push(&chunk)?).await?;
    }
    out.write_all(&sealer.finish()?).await?;
    out.sync_all().await?;
    drop(out);
    if expected.is_some_and(|n| n != written) {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ClientError::Invalid(format!(
            "{file_url}: got {written} bytes, the message says {}",
            expected.unwrap_or_default()
        )));
    }
    tokio::fs::rename(&partial, target).await?;
    Ok(())
}

/// Where copies handed to another program live: `<profile>/attachments/opened/`.
fn opened_root(profile_dir: &Path) -> PathBuf {
    profile_dir.join("attachments").join("opened")
}

/// A plain copy of the sealed file at `sealed_path` for a viewer to open, named `name`, in
/// the profile's `opened/` folder (private, like the rest; deleted by [`remove_opened`] at
/// logout, at the app's end and at its next start). The same file opened again replaces its
/// copy (under a temp name, so a viewer never reads half of it).
pub(crate) fn open_for_viewer(
    profile_dir: &Path,
    key: &FilesKey,
    sealed_path: &Path,
    name: &str,
) -> Result<PathBuf> {
    let digest = hex::encode(Sha256::digest(sealed_path.as_os_str().as_encoded_bytes()));
    let dir = opened_root(profile_dir).join(digest.get(..32).unwrap_or(&digest));
    crate::profile::private_dir(&dir)?;
    let partial = dir.join(".partial");
    let mut out = std::io::BufWriter::new(crate::profile::private_file(&partial)?);
    if let Err(e) = sealed::open_into(key, sealed_path, &mut out) {
        drop(out);
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    out.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    let target = dir.join(name);
    std::fs::rename(&partial, &target)?;
    Ok(target)
}

/// Deletes the plain copies handed to viewers (a viewer that still has one open keeps reading
/// it until it closes it; its name is gone).
pub fn remove_opened(profile_dir: &Path) {
    remove_folder(&opened_root(profile_dir));
}

/// Seals the copies an earlier version kept in plain files (sent and received), each replaced
/// through a temp name so a crash leaves the plain file or the sealed one, never half of one.
/// Returns how many were sealed. Copies that do not open with `key` but look sealed (another
/// account's) are left as they are: their owner opens them, or a download replaces them.
pub(crate) fn seal_plain_copies(profile_dir: &Path, key: &FilesKey) -> Result<usize> {
    let mut sealed_now = 0;
    for side in ["sent", "received"] {
        let Ok(folders) = std::fs::read_dir(profile_dir.join("attachments").join(side)) else {
            continue;
        };
        for folder in folders.flatten() {
            // Only real folders and files: a link is never followed (nor sealed).
            if !folder.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for file in std::fs::read_dir(folder.path())?.flatten() {
                let plain = file.file_type().is_ok_and(|t| t.is_file())
                    && !file.file_name().to_string_lossy().starts_with('.')
                    && !sealed::looks_sealed(&file.path())?;
                if plain {
                    let partial = folder.path().join(".sealing");
                    let mut out = std::io::BufWriter::new(crate::profile::private_file(&partial)?);
                    sealed::seal(key, &mut std::fs::File::open(file.path())?, &mut out)?;
                    out.into_inner()
                        .map_err(std::io::IntoInnerError::into_error)?
                        .sync_all()?;
                    std::fs::rename(&partial, file.path())?;
                    sealed_now += 1;
                }
            }
        }
    }
    Ok(sealed_now)
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
