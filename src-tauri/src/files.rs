//! Attachments on the desktop: the native file picker, describing a dropped file, image previews
//! as `data:` URLs (the download token never reaches the webview), and opening a file with the
//! system's default application (a plain copy the core makes for it). Uploading, downloading and
//! the sealed copies are the client core's.

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
/// Nor is an image of more pixels shown: the webview decodes it whole (4 bytes a pixel), and a
/// 470 KB PNG of 22,000 x 22,000 zeros took the window's process to 2 GB.
const MAX_PREVIEW_PIXELS: u64 = 25_000_000;
/// An image of more pixels than this is previewed scaled down (decoded here, not in the webview).
const THUMBNAIL_ABOVE_PIXELS: u64 = 1_000_000;
/// The longest side of such a preview: twice the 180 px the UI shows it at, for sharp screens.
const THUMBNAIL_SIDE: u32 = 360;

/// The files the user chose in this session: picked in the file dialog or dropped on the window.
/// Only those may be described or sent: a path the webview names on its own (a script in it,
/// were one ever to run) reads nothing and sends nothing.
#[derive(Debug, Default)]
pub struct Chosen(std::sync::Mutex<std::collections::HashSet<PathBuf>>);

impl Chosen {
    /// Paths the user chose (the dialog's answer, a drop's paths: never the webview's word).
    pub fn allow(&self, paths: impl IntoIterator<Item = PathBuf>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(paths);
    }

    /// Refuses a path the user did not choose in this app.
    pub fn check(&self, path: &Path) -> CmdResult<()> {
        if self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(path)
        {
            Ok(())
        } else {
            Err(CommandError::new(
                "forbidden",
                "Only a file chosen with Attach or dropped on the window can be sent: attach it \
                 again.",
            ))
        }
    }
}

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

/// The largest file the signed-in clinic's server takes (the default before anyone signed in).
async fn upload_limit(desktop: &Desktop) -> u64 {
    match desktop.client().await {
        Ok(client) => client.upload_limit(),
        Err(_) => clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES,
    }
}

fn describe(path: &Path, limit: u64) -> CmdResult<PickedFile> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(CommandError::new(
            "io",
            format!("{} is not a file", path.display()),
        ));
    }
    if meta.len() > limit {
        return Err(CommandError::new(
            "too_large",
            format!(
                "files can be at most {}",
                clinic_protocol::limits::size_text(limit)
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
pub async fn pick_file<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    chosen: State<'_, Chosen>,
) -> CmdResult<Option<PickedFile>> {
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
        Some(path) => {
            chosen.allow([path.clone()]);
            describe(&path, upload_limit(&desktop).await).map(Some)
        }
        None => Ok(None),
    }
}

/// A file dropped on the window (its path recorded by the shell when the drop happened).
#[tauri::command]
pub async fn describe_file(
    desktop: State<'_, Desktop>,
    chosen: State<'_, Chosen>,
    path: String,
) -> CmdResult<PickedFile> {
    let path = PathBuf::from(path);
    chosen.check(&path)?;
    describe(&path, upload_limit(&desktop).await)
}

#[tauri::command]
pub async fn attachment_preview(
    desktop: State<'_, Desktop>,
    sender_id: String,
    client_id: String,
) -> CmdResult<Option<String>> {
    let client = desktop.client().await?;
    let (sender, client_id) = (UserId::from(sender_id), ClientId::new(client_id));
    // Offline with nothing cached, or a copy that does not open, is not an error for a
    // preview: the UI shows the card.
    let Ok(Some(contents)) = client
        .attachment_contents(&sender, &client_id, MAX_PREVIEW_BYTES)
        .await
    else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || preview_of(&contents.name, contents.bytes))
        .await
        .map_err(|e| CommandError::new("internal", e.to_string()))
}

/// A file named `name` holding `bytes` as a `data:` URL for an inline preview, if it is an
/// image small enough in bytes and in pixels (its header read first: an image whose size
/// cannot be read is not previewed).
fn preview_of(name: &str, bytes: Vec<u8>) -> Option<String> {
    let mime = mime_of(Path::new(name));
    if !mime.starts_with("image/") || bytes.len() as u64 > MAX_PREVIEW_BYTES {
        return None;
    }
    let pixels = imagesize::blob_size(&bytes).map(|size| {
        let side = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        side(size.width).saturating_mul(side(size.height))
    });
    let Ok(pixels) = pixels else { return None };
    if pixels > MAX_PREVIEW_PIXELS {
        return None;
    }
    let (mime, bytes) = if pixels > THUMBNAIL_ABOVE_PIXELS {
        thumbnail(&bytes)?
    } else {
        (mime, bytes)
    };
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    Some(format!("data:{mime};base64,{data}"))
}

/// A preview of a large image at most [`THUMBNAIL_SIDE`] pixels a side, as JPEG (PNG when it
/// has transparency): the webview holds the small one, not the image decoded whole (ten photos
/// of 5000 x 5000 took its process to 1.5 GB). `None` when it cannot be decoded.
fn thumbnail(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PREVIEW_PIXELS * 4 + (16 << 20));
    reader.limits(limits);
    let small = reader
        .decode()
        .ok()?
        .thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let mut out = std::io::Cursor::new(Vec::new());
    if small.color().has_alpha() {
        small.write_to(&mut out, image::ImageFormat::Png).ok()?;
        Some(("image/png".to_owned(), out.into_inner()))
    } else {
        small
            .into_rgb8()
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .ok()?;
        Some(("image/jpeg".to_owned(), out.into_inner()))
    }
}

#[tauri::command]
pub async fn open_attachment<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    sender_id: String,
    client_id: String,
) -> CmdResult<()> {
    let client = desktop.client().await?;
    let mine = client.user().id.as_str() == sender_id;
    let (sender, client_id) = (UserId::from(sender_id), ClientId::new(client_id));
    // Its name is asked about before a plain copy of it is made for the viewer.
    let sealed = client
        .attachment_path(&sender, &client_id)
        .await?
        .ok_or_else(|| CommandError::new("not_found", "this message has no attachment"))?;
    if let Some(question) = clinic_client::attachments::ask_before_opening(&sealed, mine)
        && !crate::links::confirm(&app, "Open this file?", question).await?
    {
        return Ok(());
    }
    let path = client
        .attachment_to_open(&sender, &client_id)
        .await?
        .ok_or_else(|| CommandError::new("not_found", "this message has no attachment"))?;
    app.opener()
        .open_path(path.to_string_lossy(), None::<&str>)
        .map_err(|e| {
            // The launcher's own words (its exit status) are for the log.
            tracing::warn!("opening an attachment failed: {e}");
            CommandError::new(
                "io",
                "it could not be opened here: this computer may have no program for this kind \
                 of file (a PDF or image viewer, an office suite).",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_files_and_refuses_what_cannot_be_sent() {
        let dir = tempfile_dir();
        let pdf = dir.join("scan.pdf");
        std::fs::write(&pdf, b"%PDF-1.4\n").expect("write");
        let d =
            describe(&pdf, clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES).expect("describe");
        assert_eq!(
            (d.name.as_str(), d.size, d.mime_type.as_str()),
            ("scan.pdf", 9, "application/pdf")
        );
        assert_eq!(
            describe(&dir, clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES)
                .map_err(|e| e.code)
                .err(),
            Some("io")
        );
        assert_eq!(
            describe(
                &dir.join("missing.png"),
                clinic_protocol::limits::DEFAULT_MAX_UPLOAD_BYTES
            )
            .map_err(|e| e.code)
            .err(),
            Some("io")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn only_chosen_files_pass() {
        let chosen = Chosen::default();
        chosen.allow([PathBuf::from("/home/alice/scan.pdf")]);
        assert!(chosen.check(Path::new("/home/alice/scan.pdf")).is_ok());
        let refused = chosen.check(Path::new("/home/alice/.ssh/id_ed25519"));
        assert_eq!(refused.map_err(|e| e.code).err(), Some("forbidden"));
    }

    /// A PNG of `width` x `height` as far as its header says (the rest of one pixel's image).
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend(b"\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\x0aIDATx\x9cc\0\x01\0\0\x05\0\x01");
        bytes.extend(b"\x0d\x0a\x2d\xb4\0\0\0\0IEND\xaeB`\x82");
        bytes
    }

    /// An image bomb (few bytes, many pixels) is shown as a card, never decoded by the webview.
    #[test]
    fn only_images_small_in_bytes_and_pixels_are_previewed() {
        let preview = preview_of("dot.png", png(1, 1)).expect("a preview");
        assert!(
            preview.starts_with("data:image/png;base64,iVBORw0KGgo"),
            "{preview}"
        );
        assert_eq!(
            preview_of("dot.pdf", png(1, 1)),
            None,
            "not an image by its name"
        );
        for (name, bytes) in [
            ("bomb.png", png(22_000, 22_000)),
            ("wide.png", png(25_000_001, 1)),
            ("garbled.png", b"\x89PNG not really".to_vec()),
        ] {
            assert_eq!(preview_of(name, bytes), None, "{name}");
        }
        let mut bytes = png(10, 10);
        bytes.resize(usize::try_from(MAX_PREVIEW_BYTES).expect("fits") + 1, 0);
        assert_eq!(preview_of("big.png", bytes), None, "over the byte limit");
    }

    /// A large photo reaches the webview scaled down (and a transparent image stays PNG).
    #[test]
    fn large_images_are_previewed_scaled_down() {
        use base64::Engine;
        let encoded = |image: image::DynamicImage| {
            let mut out = std::io::Cursor::new(Vec::new());
            image
                .write_to(&mut out, image::ImageFormat::Png)
                .expect("encode");
            out.into_inner()
        };
        let photo = image::RgbImage::from_fn(2000, 1500, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let sticker = image::RgbaImage::from_pixel(1200, 1200, image::Rgba([0, 0, 0, 0]));
        for (bytes, mime, format) in [
            (
                encoded(photo.into()),
                "image/jpeg",
                image::ImageFormat::Jpeg,
            ),
            (
                encoded(sticker.into()),
                "image/png",
                image::ImageFormat::Png,
            ),
        ] {
            let preview = preview_of("photo.png", bytes).expect("a preview");
            let data = preview
                .strip_prefix(&format!("data:{mime};base64,"))
                .unwrap_or_else(|| panic!("{mime}: {}", &preview[..40]));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64");
            let small = image::load_from_memory_with_format(&bytes, format).expect("decodes");
            assert!(
                small.width().max(small.height()) <= THUMBNAIL_SIDE,
                "{mime}"
            );
        }
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clinic-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
