//! One upload on its way to disk: written chunk by chunk to a temp file in the data folder,
//! hashed and type-checked as it goes, the size limit enforced per chunk. The temp file is
//! removed on drop unless it was moved into place, so an error, a refusal or a client that
//! disconnects mid-stream leaves no half file behind.

use super::sniff::{self, SNIFF_BYTES, TextCheck};
use crate::error::ApiError;
use clinic_protocol::ErrorCode;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// A path that is deleted when dropped, unless disarmed.
#[derive(Debug)]
struct TempPath(Option<PathBuf>);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), "cannot remove a temp upload: {e}");
        }
    }
}

#[derive(Debug)]
pub(crate) struct Incoming {
    temp: TempPath,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    limit: u64,
    /// The first bytes, kept until the type is known.
    head: Vec<u8>,
    kind: Option<&'static str>,
    /// Still possibly plain text.
    text: Option<TextCheck>,
}

/// A complete upload in its temp file, type known, content synced to disk.
#[derive(Debug)]
pub(crate) struct Finished {
    temp: TempPath,
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
}

fn io_error(e: std::io::Error) -> ApiError {
    tracing::error!("writing an upload failed: {e}");
    ApiError::internal("could not store the file")
}

fn refused_type() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "this type of file is not allowed (images, PDF, text and office documents are)",
    )
}

impl Incoming {
    /// Opens a fresh temp file with a random name in `temp_dir`.
    pub(crate) async fn create(temp_dir: &Path, limit: u64) -> Result<Self, ApiError> {
        let dir = temp_dir.to_path_buf();
        tokio::task::spawn_blocking(move || crate::datadir::private_dir(&dir))
            .await
            .map_err(|_| ApiError::internal("could not store the file"))?
            .map_err(io_error)?;
        let path = temp_dir.join(format!("{}.part", super::random_id()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Health data: readable by the server's account only (renamed into place as it is).
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await.map_err(io_error)?;
        Ok(Self {
            temp: TempPath(Some(path)),
            file,
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
            kind: None,
            text: Some(TextCheck::default()),
        })
    }

    /// Appends a chunk; refuses as soon as the file is over the limit or cannot be an allowed
    /// type.
    pub(crate) async fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.limit {
            return Err(ApiError::too_large(format!(
                "the file is over the upload limit of {} bytes",
                self.limit
            )));
        }
        if self.kind.is_none() {
            let room = SNIFF_BYTES.saturating_sub(self.head.len());
            self.head
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            self.kind = sniff::binary_type(&self.head);
            if self.kind.is_some() {
                self.text = None;
                self.head = Vec::new();
            }
        }
        if let Some(text) = &mut self.text
            && !text.feed(chunk)
        {
            self.text = None;
        }
        if self.kind.is_none() && self.text.is_none() && self.head.len() >= SNIFF_BYTES {
            return Err(refused_type());
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await.map_err(io_error)
    }

    /// The stream ended: decides the type, syncs the content to disk.
    pub(crate) async fn finish(mut self) -> Result<Finished, ApiError> {
        if self.size == 0 {
            return Err(ApiError::bad_request("the file is empty"));
        }
        let mut content_type = match (self.kind, &self.text) {
            (Some(kind), _) => kind,
            (None, Some(text)) if text.finish() => sniff::TEXT,
            _ => return Err(refused_type()),
        };
        self.file.flush().await.map_err(io_error)?;
        self.file.sync_all().await.map_err(io_error)?;
        if sniff::is_zip_type(content_type) {
            // The first bytes only suggested an office document; the archive's own table of
            // contents decides.
            let path = self.temp.0.clone().unwrap_or_default();
            content_type = tokio::task::spawn_blocking(move || sniff::office_type(&path))
                .await
                .ok()
                .flatten()
                .ok_or_else(refused_type)?;
        }
        Ok(Finished {
            temp: self.temp,
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            content_type,
        })
    }
}

impl Finished {
    /// Moves the content to its content-addressed place (keeping an identical file already
    /// there). Blocking: runs on the writer thread, so it never races the orphan sweep.
    pub(crate) fn place(mut self, data_dir: &Path) -> std::io::Result<()> {
        // The hash was computed here, so it is always a content name.
        let target = super::content_path(data_dir, &self.sha256).ok_or_else(|| {
            std::io::Error::other(format!("{} is not a content name", self.sha256))
        })?;
        let Some(temp) = self.temp.0.clone() else {
            return Ok(());
        };
        if target.exists() {
            // Same bytes already stored; the temp copy goes on drop.
            return Ok(());
        }
        if let Some(dir) = target.parent() {
            crate::datadir::private_dir(dir)?;
        }
        std::fs::rename(&temp, &target)?;
        self.temp.0 = None;
        if let Some(dir) = target.parent() {
            // The rename itself must survive a power cut too.
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}
