//! Commands for drafts: what the user is writing in a field of the page, kept by the core.

use crate::desktop::Desktop;
use crate::error::CmdResult;
use tauri::State;

/// Keeps the text of one field (a blank text forgets it); `locked` while locked.
#[tauri::command]
pub async fn save_draft(desktop: State<'_, Desktop>, key: String, text: String) -> CmdResult<()> {
    Ok(desktop.client().await?.save_draft(&key, &text)?)
}

/// What the page was writing when it locked, handed over as the page drops everything.
#[tauri::command]
pub async fn keep_drafts(
    desktop: State<'_, Desktop>,
    drafts: clinic_client::Drafts,
) -> CmdResult<()> {
    Ok(desktop.client().await?.keep_drafts(drafts)?)
}

/// Every draft kept, to put back in the page's fields (`locked` while locked).
#[tauri::command]
pub async fn drafts(desktop: State<'_, Desktop>) -> CmdResult<clinic_client::Drafts> {
    Ok(desktop.client().await?.drafts()?)
}
