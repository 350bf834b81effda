//! Locks the app when the desktop's screen locks: the freedesktop screensaver's
//! `ActiveChanged(true)` on the session bus (GNOME, KDE, Xfce and others send it) and logind's
//! `Lock` for a session on the system bus. Without either bus the app still locks by idle time and
//! Ctrl+L; that is logged, not an error.

use crate::desktop::Desktop;
use futures_util::StreamExt;
use tauri::{AppHandle, Manager, Runtime};
use zbus::message::Type;
use zbus::{Connection, MatchRule, MessageStream};

/// Starts both watchers; each runs until its bus goes away.
pub fn watch<R: Runtime>(app: &AppHandle<R>) {
    let session = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = screensaver(&session).await {
            tracing::info!("screen lock not followed (session bus): {e}");
        }
    });
    let system = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = logind(&system).await {
            tracing::info!("screen lock not followed (logind): {e}");
        }
    });
}

async fn screensaver<R: Runtime>(app: &AppHandle<R>) -> zbus::Result<()> {
    let conn = Connection::session().await?;
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.ScreenSaver")
        .member("ActiveChanged")
        .build()?;
    let mut signals = MessageStream::for_match_rule(rule, &conn, None).await?;
    while let Some(message) = signals.next().await {
        if message?.body().deserialize::<bool>()? {
            lock(app, "the screen saver started").await;
        }
    }
    Ok(())
}

async fn logind<R: Runtime>(app: &AppHandle<R>) -> zbus::Result<()> {
    let conn = Connection::system().await?;
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.login1.Session")
        .member("Lock")
        .build()?;
    let mut signals = MessageStream::for_match_rule(rule, &conn, None).await?;
    while let Some(message) = signals.next().await {
        message?;
        lock(app, "the session was locked").await;
    }
    Ok(())
}

async fn lock<R: Runtime>(app: &AppHandle<R>, why: &str) {
    let desktop = app.state::<Desktop>();
    if let Ok(client) = desktop.client().await {
        tracing::info!("{why}: locking the app");
        if let Err(e) = client.lock_now() {
            tracing::warn!("could not lock the app: {e}");
        }
    }
}
