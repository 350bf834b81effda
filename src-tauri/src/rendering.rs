//! How the window's webview paints. On Linux WebKitGTK composites with OpenGL by default; where
//! that GL is software (no GPU, a VM, Xvfb, many clinic PCs), every repaint, down to the
//! composer's blinking caret, costs a full software composite: 40 % of a core for an idle open
//! conversation, and about 120 MB more memory (docs/benchmarks.md, "The desktop app at rest").
//! A chat window gains nothing from GPU compositing, so it paints without it.

use tauri::{Manager, Runtime};

#[cfg(target_os = "linux")]
pub(crate) fn paint_without_compositing<R: Runtime>(app: &tauri::AppHandle<R>) {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
    let Some(window) = app.get_webview_window("main") else {
        return;
    };
    let applied = window.with_webview(|webview| {
        if let Some(settings) = WebViewExt::settings(&webview.inner()) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = applied {
        tracing::warn!("could not turn off GPU compositing: {e}");
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn paint_without_compositing<R: Runtime>(_app: &tauri::AppHandle<R>) {}
