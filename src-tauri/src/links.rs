//! Links leave the app: `open_link` hands a checked http(s)/mailto link to the system's
//! browser or mail program, and the webview itself never navigates away from the app's pages.

use crate::error::{CmdResult, CommandError};
use tauri::plugin::{Builder, TauriPlugin};
use tauri::{AppHandle, Runtime};
use tauri_plugin_opener::OpenerExt;

/// Opens a link from a message in the system's browser (or mail program for `mailto:`).
/// A link to this computer, its network, or in letters of other alphabets is opened only once
/// the user says so in a native dialog (which no script in the webview can answer).
#[tauri::command]
pub async fn open_link<R: Runtime>(app: AppHandle<R>, url: String) -> CmdResult<()> {
    let url = clinic_client::links::external_link(&url)?;
    let question = match clinic_client::links::ask_before_opening(&url) {
        Some(question) => Some(question),
        None => resolved_here(&url).await,
    };
    if let Some(question) = question
        && !confirm(&app, "Open this link?", question).await?
    {
        return Ok(());
    }
    app.opener()
        .open_url(url.as_str(), None::<&str>)
        .map_err(|e| {
            // The launcher's own words (its exit status) are for the log.
            tracing::warn!("opening a link failed: {e}");
            let advice = if url.scheme() == "mailto" {
                "this computer may have no mail program set up. Copy the address from the \
                 message's menu and write from your mail."
            } else {
                "this computer may have no web browser set up. Copy the link from the message's \
                 menu and paste it into your browser."
            };
            CommandError::new("io", advice)
        })
}

/// The question to ask when the link's name points to this computer or its network (looked up
/// now, for at most two seconds; a name that cannot be looked up asks nothing: the browser will
/// not reach it either).
async fn resolved_here(url: &tauri::Url) -> Option<String> {
    let (Some(name), Some(port)) = (url.domain(), url.port_or_known_default()) else {
        return None;
    };
    let lookup = tokio::net::lookup_host((name.to_owned(), port));
    let found = tokio::time::timeout(std::time::Duration::from_secs(2), lookup)
        .await
        .ok()?
        .ok()?;
    let addresses: Vec<std::net::IpAddr> = found.map(|a| a.ip()).collect();
    clinic_client::links::ask_for_addresses(url, &addresses)
}

/// Asks `question` (which ends "Open it anyway?") in a native dialog, which no script in the
/// webview can answer; true only when the user chose Yes. No is GTK's first button, the one
/// Enter presses, and Escape or closing the dialog answers neither (custom labels would not do:
/// the dialog plugin reports Escape as the second button's label).
///
/// One question at a time: a second click while one is open asks and opens nothing and fails
/// with `conflict` saying so, which the UI shows (GTK's dialogs ignore their parent window, so
/// the window stays clickable, two clicks stacked two dialogs, and one may be behind the
/// window); Windows and macOS also keep the window itself from being clicked.
pub(crate) async fn confirm<R: Runtime>(
    app: &AppHandle<R>,
    title: &str,
    question: String,
) -> CmdResult<bool> {
    use tauri::Manager;
    use tauri_plugin_dialog::{
        DialogExt, MessageDialogButtons, MessageDialogKind, MessageDialogResult,
    };
    static ASKING: Question = Question::new();
    let Some(_asking) = ASKING.begin() else {
        return Err(CommandError::new(
            "conflict",
            "A question of this app is already open (it may be behind this window): answer it \
             first.",
        ));
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut dialog = app
        .dialog()
        .message(question)
        .title(title)
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::YesNo);
    if let Some(window) = app.get_webview_window("main") {
        dialog = dialog.parent(&window);
    }
    dialog.show_with_result(move |answer| {
        let _ = tx.send(matches!(answer, MessageDialogResult::Yes));
    });
    Ok(rx.await.unwrap_or(false))
}

/// Whether a question is open; [`Question::begin`] holds it until its guard is dropped (the
/// answer came, or the command was cancelled).
struct Question(std::sync::atomic::AtomicBool);

impl Question {
    const fn new() -> Self {
        Self(std::sync::atomic::AtomicBool::new(false))
    }

    fn begin(&self) -> Option<Asking<'_>> {
        (!self.0.swap(true, std::sync::atomic::Ordering::AcqRel)).then_some(Asking(self))
    }
}

struct Asking<'a>(&'a Question);

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        (self.0)
            .0
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Whether the webview may show `url`: only the app's own pages (the bundled UI).
fn is_app_page(url: &tauri::Url) -> bool {
    match url.scheme() {
        // Linux and macOS serve the UI from tauri://localhost, Windows from http://tauri.localhost.
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => url.host_str() == Some("tauri.localhost"),
        "about" => url.path() == "blank",
        _ => false,
    }
}

/// Blocks every navigation of the webview away from the app (a link followed by accident,
/// a redirect): a link is opened only by `open_link`, in the system's browser.
pub fn navigation_guard<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("navigation-guard")
        .on_navigation(|_webview, url| {
            let allowed = is_app_page(url);
            if !allowed {
                tracing::warn!("blocked the window from navigating to {}", url.scheme());
            }
            allowed
        })
        .build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_own_pages_are_shown() {
        for ok in [
            "tauri://localhost/",
            "tauri://localhost/index.html#x",
            "http://tauri.localhost/",
            "about:blank",
        ] {
            assert!(is_app_page(&ok.parse().unwrap()), "{ok}");
        }
        for blocked in [
            "https://example.org/",
            "http://localhost:8470/",
            "tauri://evil/",
            "file:///etc/passwd",
            "mailto:x@y.z",
        ] {
            assert!(!is_app_page(&blocked.parse().unwrap()), "{blocked}");
        }
    }

    /// A second question while one is open is not asked; once the first is answered (or its
    /// command cancelled, which drops the guard), the next one is.
    #[test]
    fn one_question_at_a_time() {
        let question = Question::new();
        let first = question.begin().unwrap();
        assert!(question.begin().is_none());
        drop(first);
        let again = question.begin();
        assert!(again.is_some());
    }
}
