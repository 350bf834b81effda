//! The periodic task that deletes uploads never attached to a message (after the grace
//! period) and content files nothing refers to any more.

use crate::state::AppState;
use crate::store::uploads;
use crate::time::now_ms;

/// Runs until aborted, once per `upload_sweep_interval` (the first time right away, which also
/// clears leftovers of a crash).
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.config.upload_sweep_interval);
    loop {
        tick.tick().await;
        let data_dir = state.config.data_dir.clone();
        let grace = state.config.upload_grace;
        let swept = state
            .store
            .writer
            .run(move |conn, _| uploads::sweep(conn, &data_dir, now_ms(), grace))
            .await;
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!("deleted {n} uploads never attached to a message"),
            Err(err) => tracing::warn!(error = %err, "upload sweep failed"),
        }
    }
}
