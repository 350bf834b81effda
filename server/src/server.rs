//! `run`: open the store, start the writer, serve HTTP and WebSocket until shutdown, then close
//! sockets with a close frame and let the writer finish.

use crate::config::Config;
use crate::datadir;
use crate::emergency::Watch;
use crate::error::ServerError;
use crate::files::allowance::Allowance;
use crate::hub::Hub;
use crate::login::Logins;
use crate::state::AppState;
use crate::store::{self, Reads, Store, Writer, users};
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a start waits for a server that is still stopping to let go of the data folder.
const HOLD_PATIENCE: Duration = Duration::from_secs(10);

/// How long shutdown waits for sockets to send their close frames.
const SOCKET_DRAIN: Duration = Duration::from_secs(5);

/// Serves on `listener` until `shutdown` resolves. Every message acknowledged before that is on
/// disk; sockets get a close frame (1001) on the way out.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Installed before anything is counted (a no-op when it already is).
    crate::metrics::handle();
    // Checked before anything is created: a wrong folder must not become a new empty clinic.
    datadir::check_database(&config.data_dir, config.init)?;
    datadir::prepare(&config.data_dir)?;
    let _held = datadir::hold_waiting(&config.data_dir, HOLD_PATIENCE).await?;
    let path = config.db_path();
    let conn = store::open_serving(&path, config.synchronous)?;
    let (writer, writer_thread) =
        Writer::start(conn, config.writer_queue, config.max_batch).map_err(ServerError::Serve)?;
    let state = AppState {
        store: Store {
            writer,
            reads: Reads::new(path, config.read_pool_size),
        },
        hub: Arc::new(Hub::default()),
        emergencies: Arc::new(Watch::new(&config)),
        logins: Logins::start(&config).map_err(ServerError::Serve)?,
        uploads: Allowance::new(&config),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
        config: Arc::new(config),
    };
    // Emergencies still waiting for a doctor carry on: repeats, escalation, the server alarm.
    match Watch::reload(&state).await {
        Ok(0) => {}
        Ok(count) => tracing::warn!(count, "emergencies still waiting for a doctor"),
        Err(err) => tracing::error!(error = %err, "could not reload open emergencies"),
    }
    let emergency_timers = tokio::spawn(Watch::run(state.clone()));
    let sweep = tokio::spawn(session_sweep(state.clone()));
    let upload_sweep = tokio::spawn(crate::files::sweep::run(state.clone()));
    let watchdog = tokio::spawn(crate::systemd::watchdog(state.clone()));
    let app = crate::http::router(state.clone());
    let stop = state.shutdown.clone();
    // Frames are small and must leave at once: with Nagle's algorithm a frame written while the
    // previous one is unacknowledged waits for the peer's delayed ACK, up to 40 ms on Linux
    // (benchmark S2 showed exactly that as its p99).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
    });
    // Migrated, bound, writer running: from here on connections are answered.
    crate::systemd::ready();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        crate::systemd::stopping();
        stop.cancel();
    })
    .await;

    // Close every socket (close frame first), then wait for what the writer still holds.
    state.shutdown.cancel();
    sweep.abort();
    emergency_timers.abort();
    upload_sweep.abort();
    watchdog.abort();
    state.tasks.close();
    if tokio::time::timeout(SOCKET_DRAIN, state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sockets did not close in time");
    }
    let _ = state.store.writer.run(|_, _| Ok(())).await;
    drop(state);
    // The thread ends once the last writer handle is gone; a late straggler must not hang us.
    let _ = tokio::time::timeout(
        SOCKET_DRAIN,
        tokio::task::spawn_blocking(move || writer_thread.join()),
    )
    .await;
    tracing::info!("server stopped");
    served.map_err(ServerError::Serve)
}

/// Closes live sockets whose token was revoked or whose account was disabled, including by
/// another process such as the CLI.
async fn session_sweep(state: AppState) {
    let mut tick = tokio::time::interval(state.config.session_check_interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let hashes = state.hub.token_hashes();
        if hashes.is_empty() {
            continue;
        }
        let checked = state
            .store
            .reads
            .run(move |conn| {
                let mut dead = Vec::new();
                for hash in hashes {
                    if !users::token_valid(conn, &hash)? {
                        dead.push(hash);
                    }
                }
                Ok(dead)
            })
            .await;
        match checked {
            Ok(dead) => {
                for hash in dead {
                    state.hub.close_token(&hash);
                }
            }
            Err(err) => tracing::warn!(error = %err, "session sweep failed"),
        }
    }
}
