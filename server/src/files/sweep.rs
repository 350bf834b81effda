//! The periodic task that deletes uploads never attached to a message (after the grace
//! period) and content files nothing refers to any more.

use crate::state::AppState;

/// Runs until aborted, once per `upload_sweep_interval` (the first time right away, which also
/// clears leftovers of a crash).
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.config.upload_sweep_interval);
    loop {
        tick.tick().await;
        let swept = state
            .store
            .sweep_uploads(state.config.data_dir.clone(), state.config.upload_grace)
            .await;
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!("deleted {n} uploads never attached to a message"),
            Err(err) => tracing::warn!(error = %err, "upload sweep failed"),
        }
    }
}
