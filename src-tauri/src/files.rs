//! Attachments on the desktop: the native file picker, describing a dropped file, image previews
//! as `data:` URLs (the download token never reaches the webview), and opening a file with the
//! system's default application. Uploading and downloading are the client core's.

use crate::desktop::Desktop;
use crate::error::{CmdResult, CommandError};
use base64::Engine;
use clinic_protocol::{ClientId, UserId};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;
use tauri_plugin_opener::OpenerExt;

/// Images larger than this are shown as a card instead of inline (a data URL is held in memory
/// by the webview).
const MAX_PREVIEW_BYTES: u64 = 1024 * 1024;

/// A file on this machine chosen with the picker or dropped on the window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PickedFile {
    path: String,
    name: String,
    #[cfg_attr(test, ts(type = "number"))]
    size: u64,
    mime_type: String,
}

fn mime_of(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

fn describe(path: &Path) -> CmdResult<PickedFile> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(CommandError::new(
            "io",
            format!("{} is not a file", path.display()),
        ));
    }
    if meta.len() > clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES {
        return Err(CommandError::new(
            "too_large",
            format!(
                "files can be at most {} MiB",
                clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(PickedFile {
        path: path.to_string_lossy().into_owned(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size: meta.len(),
        mime_type: mime_of(path),
    })
}

#[tauri::command]
pub async fn pick_file<R: Runtime>(app: AppHandle<R>) -> CmdResult<Option<PickedFile>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Attach a file")
        .add_filter(
            "Images, PDF and documents",
            &[
                "png", "jpg", "jpeg", "webp", "gif", "pdf", "txt", "doc", "docx", "xls", "xlsx",
                "ppt", "pptx", "odt", "ods", "odp",
            ],
        )
        .add_filter("All files", &["*"])
        .pick_file(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx
        .await
        .map_err(|_| CommandError::new("internal", "the file dialog closed"))?;
    match picked.and_then(|p| p.into_path().ok()) {
        Some(path) => describe(&path).map(Some),
        None => Ok(None),
    }
}

#[tauri::command]
pub async fn describe_file(path: String) -> CmdResult<PickedFile> {
    describe(Path::new(&path))
}

async fn local_copy(
    desktop: &Desktop,
    sender_id: String,
    client_id: String,
) -> CmdResult<Option<PathBuf>> {
    let client = desktop.client().await?;
    let (sender, client_id) = (UserId::from(sender_id), ClientId::new(client_id));
    Ok(client.attachment_path(&sender, &client_id).await?)
}

#[tauri::command]
pub async fn attachment_preview(
    desktop: State<'_, Desktop>,
    sender_id: String,
    client_id: String,
) -> CmdResult<Option<String>> {
    // Offline with nothing cached is not an error for a preview: the UI shows the card.
    let Ok(Some(path)) = local_copy(&desktop, sender_id, client_id).await else {
        return Ok(None);
    };
    let mime = mime_of(&path);
    if !mime.starts_with("image/") || std::fs::metadata(&path)?.len() > MAX_PREVIEW_BYTES {
        return Ok(None);
    }
    let bytes = tokio::fs::read(&path).await?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(Some(format!("data:{mime};base64,{data}")))
}

#[tauri::command]
pub async fn open_attachment<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    sender_id: String,
    client_id: String,
) -> CmdResult<()> {
    let path = local_copy(&desktop, sender_id, client_id)
        .await?
        .ok_or_else(|| CommandError::new("not_found", "this message has no attachment"))?;
    app.opener()
        .open_path(path.to_string_lossy(), None::<&str>)
        .map_err(|e| CommandError::new("io", format!("could not open the file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_files_and_refuses_what_cannot_be_sent() {
        let dir = tempfile_dir();
        let pdf = dir.join("scan.pdf");
        std::fs::write(&pdf, b"%PDF-1.4\n").expect("write");
        let d = describe(&pdf).expect("describe");
        assert_eq!(
            (d.name.as_str(), d.size, d.mime_type.as_str()),
            ("scan.pdf", 9, "application/pdf")
        );
        assert_eq!(describe(&dir).map_err(|e| e.code).err(), Some("io"));
        assert_eq!(
            describe(&dir.join("missing.png")).map_err(|e| e.code).err(),
            Some("io")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clinic-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
