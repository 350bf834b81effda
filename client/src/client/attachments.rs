//! Sending a file with a message, and getting a local copy of any attachment for previews and
//! opening.

use super::Client;
use crate::attachments::{self, blocking, file_safe};
use crate::error::{ClientError, Result};
use crate::events::ClientEvent;
use crate::record::LocalMessage;
use clinic_protocol::limits::MAX_CONTENT_BYTES;
use clinic_protocol::{ClientId, ConversationKey, ErrorCode, MessageType, UserId};
use std::path::{Path, PathBuf};

impl Client {
    /// Optimistic send with a file: checks the file at once (it exists, is not empty, is within
    /// the default upload limit), copies it into the profile (so the original may be moved or
    /// deleted while offline), and queues the message (status `SENDING`, `localFilePath` set).
    /// Once connected, the file is uploaded first (`uploadProgress` events), then the message
    /// is sent with its `fileUrl`. The text may be empty.
    pub fn send_with_attachment(
        &self,
        conversation: &ConversationKey,
        content: &str,
        is_emergency: bool,
        path: &Path,
    ) -> Result<LocalMessage> {
        if content.len() > MAX_CONTENT_BYTES {
            return Err(ClientError::Invalid(format!(
                "a message holds at most {MAX_CONTENT_BYTES} bytes"
            )));
        }
        if is_emergency {
            // An emergency never waits for an upload: it goes out as text at once.
            return Err(ClientError::Invalid(
                "an emergency is sent as text at once; send the file as its own message".into(),
            ));
        }
        super::check_words("the message", content)?;
        if !conversation.has_participant(self.shared.me()) {
            return Err(ClientError::Invalid("not a conversation of yours".into()));
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| ClientError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(ClientError::Invalid(format!(
                "{} is not a file",
                path.display()
            )));
        }
        if meta.len() == 0 {
            return Err(ClientError::Invalid(format!("{} is empty", path.display())));
        }
        let limit = self.shared.upload_limit();
        if meta.len() > limit {
            // The same shape the server would answer with, so a UI handles both alike.
            return Err(ClientError::Server {
                status: 413,
                code: ErrorCode::TooLarge,
                message: format!(
                    "the file is larger than the upload limit of {}",
                    clinic_protocol::limits::size_text(limit)
                ),
            });
        }
        let name = file_safe(&path.file_name().unwrap_or_default().to_string_lossy());
        let mut message =
            LocalMessage::pending(conversation, self.shared.me(), content, is_emergency);
        let copy = attachments::store_copy(
            self.profile.dir(),
            self.shared.cache.files_key(),
            &message.client_id,
            path,
            &name,
        )?;
        let copy_text = copy.to_string_lossy().into_owned();
        message.message_type = MessageType::File;
        message.file_name = Some(name);
        message.file_size = Some(meta.len());
        message.local_file_path = Some(copy_text.clone());
        if let Err(e) = self.shared.cache.enqueue(&message, Some(&copy_text)) {
            let _ = std::fs::remove_file(&copy);
            return Err(e);
        }
        self.shared.refresh_queued();
        self.shared.emit(ClientEvent::MessageUpserted {
            message: message.clone(),
        });
        // The list shows it as the conversation's last message, online or not.
        self.shared.emit(ClientEvent::ConversationsChanged);
        self.shared.outbox_wake.notify_one();
        Ok(message)
    }

    /// This computer's copy of the attachment of the message `sender` sent with this
    /// `clientId` (the user's own or a received one; a `clientId` is unique only per sender,
    /// so a peer cannot make another conversation's file answer for theirs), sealed under the
    /// cache's key: the sender's stored copy, or a download of `fileUrl` (with the token, size
    /// checked) into the profile's cache, reused next time. A sender's copy that does not open
    /// (kept under another key: the cache was reset) is deleted for a download once the file is
    /// on the server. `None` when the message has no attachment; an error when it cannot be
    /// fetched (e.g. offline). Its content is read with [`Client::attachment_contents`] or
    /// [`Client::attachment_to_open`].
    pub async fn attachment_path(
        &self,
        sender: &UserId,
        client_id: &ClientId,
    ) -> Result<Option<PathBuf>> {
        let Some(message) = self
            .shared
            .cache
            .message_by_client_id(sender, client_id.as_str())?
        else {
            return Err(ClientError::NotFound(format!("message {client_id}")));
        };
        if let Some(local) = &message.local_file_path {
            let local = PathBuf::from(local);
            let key = self.shared.cache.files_key().clone();
            let checked = local.clone();
            let opens = blocking(move || {
                if !attachments::is_regular(&checked) {
                    return Ok(false);
                }
                // An earlier version's plain copy is sealed first (the start's tidying may not
                // have reached it yet); one that cannot be (a full disk) is not deleted below.
                attachments::seal_in_place(&key, &checked)?;
                Ok::<_, ClientError>(crate::sealed::opens(&key, &checked))
            })
            .await??;
            if opens || message.file_url.is_none() {
                return Ok(Some(local).filter(|l| attachments::is_regular(l)));
            }
            if attachments::is_regular(&local) {
                attachments::remove_copy(&local);
            }
        }
        let Some(file_url) = &message.file_url else {
            return Ok(None);
        };
        let name =
            attachments::received_name(message.file_name.as_deref(), message.file_type.as_deref());
        let target =
            attachments::received_path(self.profile.dir(), self.server_url(), file_url, &name);
        attachments::download(&self.shared, file_url, message.file_size, &target).await?;
        Ok(Some(target))
    }

    /// `read` of this computer's copy of an attachment; a copy that does not read (damaged past
    /// its start) is deleted and downloaded once more, when the file is on the server.
    async fn with_copy<T: Send + 'static>(
        &self,
        sender: &UserId,
        client_id: &ClientId,
        read: impl Fn(PathBuf) -> Result<T> + Clone + Send + 'static,
    ) -> Result<Option<T>> {
        let root = self.profile.dir().join("attachments");
        let on_server = self
            .shared
            .cache
            .message_by_client_id(sender, client_id.as_str())?
            .is_some_and(|m| m.file_url.is_some());
        for last_try in [false, true] {
            let Some(path) = self.attachment_path(sender, client_id).await? else {
                return Ok(None);
            };
            let (reading, copy) = (read.clone(), path.clone());
            match blocking(move || reading(copy)).await? {
                Err(ClientError::CopyUnreadable)
                    if !last_try && on_server && path.starts_with(&root) =>
                {
                    // Its folder holds nothing else (a download's, a sender's copy's).
                    if let Some(folder) = path.parent() {
                        let _ = std::fs::remove_dir_all(folder);
                    }
                }
                answer => return answer.map(Some),
            }
        }
        Err(ClientError::CopyUnreadable)
    }

    /// The content of a message's attachment (as [`Client::attachment_path`] finds it), if it
    /// has at most `at_most` bytes: for a preview. `None` when the message has no attachment
    /// or it is larger (a larger file is not downloaded for it); [`ClientError::CopyUnreadable`]
    /// when this computer's copy does not open.
    pub async fn attachment_contents(
        &self,
        sender: &UserId,
        client_id: &ClientId,
        at_most: u64,
    ) -> Result<Option<Contents>> {
        let larger = self
            .shared
            .cache
            .message_by_client_id(sender, client_id.as_str())?
            .and_then(|m| m.file_size)
            .is_some_and(|size| size > at_most);
        if larger {
            return Ok(None);
        }
        let key = self.shared.cache.files_key().clone();
        let read = move |path: PathBuf| {
            let bytes = crate::sealed::read(&key, &path, at_most)?;
            Ok(bytes.map(|bytes| Contents {
                name: name_of(&path),
                bytes,
            }))
        };
        Ok(self.with_copy(sender, client_id, read).await?.flatten())
    }

    /// A plain copy of a message's attachment for another program to open (a PDF or image
    /// viewer), in this process's folder under the profile's `attachments/opened/`, readable
    /// by this account only. Those copies are deleted at logout, at the app's end
    /// ([`crate::attachments::remove_opened`]) and, after a crash, at a later start. `None`
    /// when the message has no attachment.
    pub async fn attachment_to_open(
        &self,
        sender: &UserId,
        client_id: &ClientId,
    ) -> Result<Option<PathBuf>> {
        let key = self.shared.cache.files_key().clone();
        let profile = self.profile.dir().to_path_buf();
        let copy = move |path: PathBuf| {
            attachments::open_for_viewer(&profile, &key, &path, &name_of(&path))
        };
        self.with_copy(sender, client_id, copy).await
    }
}

/// The name a copy is kept under (its kind is told by its extension).
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned())
}

/// A file's content and the name it is kept under (its kind is told by its extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub name: String,
    pub bytes: Vec<u8>,
}
