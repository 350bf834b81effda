//! Files to and from the server: the sender's copy kept sealed in the profile, its upload
//! (streamed from that copy, reporting progress; the send queue retries it and restarts it from
//! the beginning after a drop), and a received file's download, sealed as it comes.

use super::copies::{seal_to, temp_in};
use super::{PROGRESS_STEP, blocking, sent_path};
use crate::error::{ClientError, Result};
use crate::events::ClientEvent;
use crate::sealed::{self, FilesKey};
use crate::shared::Shared;
use clinic_protocol::{ClientId, ConversationKey};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Copies `source` into the profile for `client_id`, sealed under the cache's key. Returns the
/// copy's path.
pub(crate) fn store_copy(
    profile_dir: &Path,
    key: &FilesKey,
    client_id: &ClientId,
    source: &Path,
    name: &str,
) -> Result<PathBuf> {
    let target = sent_path(profile_dir, client_id, name);
    seal_to(key, source, &target)?;
    Ok(target)
}

/// The plaintext of the sealed copy at `path`, chunk by chunk, for an upload's body; `damaged`
/// is set when a chunk does not open (the body then ends with an error).
async fn unsealed_chunks(
    key: &FilesKey,
    path: &Path,
    damaged: Arc<AtomicBool>,
) -> Result<(
    u64,
    impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + use<>,
)> {
    let mut file = tokio::fs::File::from_std(sealed::open_copy(path)?);
    let len = file.metadata().await?.len();
    let mut header = [0u8; sealed::HEADER];
    if file.read_exact(&mut header).await.is_err() {
        return Err(ClientError::CopyUnreadable);
    }
    let opener = sealed::Opener::new(key, path, &header, len)?;
    let total = sealed::plain_len(len).ok_or(ClientError::CopyUnreadable)?;
    let chunks = futures_util::stream::unfold((file, opener), move |(mut file, mut opener)| {
        let damaged = Arc::clone(&damaged);
        async move {
            let n = opener.next_len()?;
            let mut buf = vec![0; n];
            let chunk = match file.read_exact(&mut buf).await {
                Ok(_) => opener.open(&buf).map_err(|e| {
                    damaged.store(true, Ordering::Relaxed);
                    std::io::Error::other(e.to_string())
                }),
                Err(e) => Err(e),
            };
            if chunk.is_err() {
                // The body ends here, with its error (the upload fails).
                opener.stop();
            }
            Some((chunk, (file, opener)))
        }
    });
    Ok((total, chunks))
}

/// One attempt at an upload entry: streams the file's plaintext from its sealed copy,
/// reporting progress. A failed attempt starts over from the first byte next time (the server
/// keeps no partial uploads); a copy that does not open, at its start or further on (damaged,
/// another key's), fails with [`ClientError::CopyUnreadable`], which parks the send.
pub(crate) async fn upload(
    shared: &Arc<Shared>,
    client_id: &ClientId,
    key: &ConversationKey,
    path: &Path,
    name: &str,
) -> Result<clinic_protocol::rest::UploadResponse> {
    let files = shared.cache.files_key().clone();
    let checked = path.to_owned();
    // An earlier version's plain copy is sealed first (the start's tidying may not have
    // reached it yet).
    let opens = blocking(move || {
        super::copies::seal_in_place(&files, &checked).map(|_| sealed::opens(&files, &checked))
    })
    .await??;
    if !opens {
        return Err(ClientError::CopyUnreadable);
    }
    let damaged = Arc::new(AtomicBool::new(false));
    let (total, chunks) =
        unsealed_chunks(shared.cache.files_key(), path, Arc::clone(&damaged)).await?;
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
    match shared.api.upload(key, name, body, total).await {
        Err(_) if damaged.load(Ordering::Relaxed) => Err(ClientError::CopyUnreadable),
        answer => answer,
    }
}

/// Downloads `file_url` into `target`, sealed as it comes, unless a copy of the expected size
/// that opens is there already. Written under a temp name of its own and renamed, so a cut
/// download never passes for the file and two downloads of one file do not mix.
pub(crate) async fn download(
    shared: &Shared,
    file_url: &str,
    expected: Option<u64>,
    target: &Path,
) -> Result<()> {
    let key = shared.cache.files_key();
    // An earlier version's plain download is sealed in place (and wiped), not fetched again:
    // offline it still opens.
    let (files, plain) = (key.clone(), target.to_owned());
    blocking(move || match super::is_regular(&plain) {
        true => super::copies::seal_in_place(&files, &plain).map(drop),
        false => Ok(()),
    })
    .await??;
    // A link in its place is not the copy (its rename below replaces the link, not its target).
    if let Ok(meta) = tokio::fs::symlink_metadata(target).await
        && meta.is_file()
        && expected.is_none_or(|n| sealed::plain_len(meta.len()) == Some(n))
    {
        let (files, checked) = (key.clone(), target.to_owned());
        if blocking(move || sealed::opens(&files, &checked)).await? {
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
    }
    let dir = target
        .parent()
        .ok_or_else(|| ClientError::Invalid("bad download path".into()))?;
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
    // Health data: readable by this account only, like the cache, and sealed like it. The temp
    // file is deleted when dropped, on every way out but the rename.
    let temp = temp_in(dir)?;
    let mut out = tokio::fs::File::from_std(temp.as_file().try_clone()?);
    let mut sealer = sealed::Sealer::new(key, sealed::place_of(target));
    out.write_all(sealer.header()).await?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await? {
        written += chunk.len() as u64;
        // A server sending more than it announced is cut off rather than filling the disk.
        if written > limit {
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
        return Err(ClientError::Invalid(format!(
            "{file_url}: got {written} bytes, the message says {}",
            expected.unwrap_or_default()
        )));
    }
    let target = target.to_owned();
    blocking(move || temp.persist(target).map(drop))
        .await?
        .map_err(|e| ClientError::Io(e.error))
}
