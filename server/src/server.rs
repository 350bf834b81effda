//! `run`: open the store, start the writer, serve HTTPS and WebSocket (through the accept loop)
//! until shutdown, then close sockets with a close frame and let the writer finish.

use crate::accept::Accept;
use crate::config::Config;
use crate::datadir;
use crate::emergency::Watch;
use crate::error::ServerError;
use crate::files::allowance::Allowance;
use crate::hub::Hub;
use crate::login::Logins;
use crate::state::AppState;
use crate::store::search_index::SearchIndex;
use crate::store::{self, Reads, Store, Writer};
use crate::time::now_ms;
use crate::tls::ServerTls;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a start waits for a server that is still stopping to let go of the data folder.
pub const HOLD_PATIENCE: Duration = Duration::from_secs(10);

/// How long shutdown waits for sockets to send their close frames.
const SOCKET_DRAIN: Duration = Duration::from_secs(5);

/// Serves on `listener` until `shutdown` resolves. Every message acknowledged before that is on
/// disk; sockets get a close frame (1001) on the way out. Speaks HTTPS unless `config.tls` says
/// otherwise (plain HTTP is refused on non-loopback addresses).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    let db_path = config.db_path();
    // Checked before anything is created: a wrong folder must not become a new empty clinic
    // (nor get a certificate authority).
    datadir::check_database(&config.data_dir, config.init)?;
    datadir::check_schema(&config.data_dir)?;
    datadir::prepare_folder(&config.data_dir)?;
    let _held = datadir::hold_waiting(&config.data_dir, HOLD_PATIENCE).await?;
    // Again, now that it is held: a restore that held it while this start waited may have been
    // killed half way.
    datadir::check_database(&config.data_dir, config.init)?;
    // Stored attachments an older version left readable are tightened while the server starts
    // and serves: only ever to 0600, so nothing it stores meanwhile is in its way. A stop ends
    // the walk (and waits for it, while the folder is still held).
    let (data_dir, walk_stop) = (config.data_dir.clone(), CancellationToken::new());
    let stopped = walk_stop.clone();
    let walk = tokio::task::spawn_blocking(move || {
        crate::files::make_private_until(&data_dir, &|| stopped.is_cancelled());
    });
    // A start that fails below ends it too.
    let _walk_ends = walk_stop.clone().drop_guard();
    // A copy of a backup a killed restore was staging holds patients' data: not kept.
    crate::restore::remove_old_staging(&config.data_dir);
    let tls = ServerTls::prepare(&config, local)?.map(Arc::new);
    let (state, writer_thread, later_check) = open_state(config)?;
    // A large database is checked while serving; damage found then stops the server.
    let damage = tokio::spawn(damage_found(
        later_check,
        state.shutdown.clone(),
        state.store.writer.long_reads(),
    ));
    // Emergencies still waiting for a doctor carry on: repeats, escalation, the server alarm.
    match Watch::reload(&state).await {
        Ok(0) => {}
        Ok(count) => tracing::warn!(count, "emergencies still waiting for a doctor"),
        Err(err) => tracing::error!(error = %err, "could not reload open emergencies"),
    }
    // Files a purge or a retraction doomed just before a crash go now (retention on or off),
    // all of them: nothing else writes yet.
    crate::retention::nightly::remove_doomed_files(&state, None).await;
    let emergency_timers = tokio::spawn(Watch::run(state.clone()));
    let sweep = tokio::spawn(session_sweep(state.clone()));
    let upload_sweep = tokio::spawn(crate::files::sweep::run(state.clone()));
    let audit_checkpoints = tokio::spawn(crate::audit::checkpoints(state.store.clone()));
    let held_refusals = tokio::spawn(crate::audit::held_refusals(
        state.store.clone(),
        state.config.refusal_window,
        state.shutdown.clone(),
    ));
    let counts = tokio::spawn(check_counts(
        state.store.clone(),
        state.shutdown.clone(),
        state.config.counts_first_check,
    ));
    let retention = state
        .config
        .retention
        .map(|policy| tokio::spawn(crate::retention::nightly::run(state.clone(), policy)));
    let renewal = tls
        .as_ref()
        .map(|tls| tokio::spawn(Arc::clone(tls).keep_fresh(state.config.tls.check_interval)));
    let accept = Accept {
        router: crate::http::router(state.clone()),
        tls: tls.map(|tls| TlsAcceptor::from(tls.server_config())),
        limits: state.config.connections,
        stop: CancellationToken::new(),
    };
    let stop = state.shutdown.clone();
    let damaged = Arc::new(std::sync::Mutex::new(None::<String>));
    let found = Arc::clone(&damaged);
    // Migrated, bound, writer running: from here on connections are answered. The watchdog
    // starts after READY, which systemd must hear first.
    crate::systemd::ready();
    let watchdog = tokio::spawn(crate::systemd::watchdog(state.clone()));
    accept
        .run(
            listener,
            async move {
                tokio::select! {
                    () = shutdown => {}
                    Ok(detail) = damage => {
                        if let Ok(mut found) = found.lock() {
                            *found = Some(detail);
                        }
                    }
                }
                crate::systemd::stopping();
                // WebSockets close (with 1001) while HTTP requests finish.
                stop.cancel();
            },
            SOCKET_DRAIN,
        )
        .await;

    // Close every socket (close frame first), then wait for what the writer still holds.
    state.shutdown.cancel();
    walk_stop.cancel();
    let _ = walk.await;
    sweep.abort();
    emergency_timers.abort();
    upload_sweep.abort();
    watchdog.abort();
    audit_checkpoints.abort();
    counts.abort();
    if let Some(retention) = retention {
        retention.abort();
    }
    if let Some(renewal) = renewal {
        renewal.abort();
    }
    state.tasks.close();
    if tokio::time::timeout(SOCKET_DRAIN, state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sockets did not close in time");
    }
    // A write of held refusals under way finishes; then what is held now, with the sockets
    // closed, is written.
    let _ = tokio::time::timeout(SOCKET_DRAIN, held_refusals).await;
    crate::audit::write_held_refusals(&state.store).await;
    let _ = state.store.flush().await;
    drop(state);
    // The thread ends once the last writer handle is gone; a late straggler must not hang us.
    let _ = tokio::time::timeout(
        SOCKET_DRAIN,
        tokio::task::spawn_blocking(move || writer_thread.join()),
    )
    .await;
    tracing::info!("server stopped");
    match damaged.lock().ok().and_then(|mut found| found.take()) {
        Some(detail) => Err(ServerError::Damaged {
            path: db_path,
            detail,
        }),
        None => Ok(()),
    }
}

/// What the check left for while serving found wrong; never resolves if it found nothing (or
/// there is none). Shutdown stops it: a stop must not wait for a whole-file read.
async fn damage_found(
    check: Option<store::check::WhileServing>,
    shutdown: CancellationToken,
    long_reads: store::checkpoint::LongReads,
) -> String {
    if let Some(check) = check {
        let stop = check.stop_flag();
        let stopping = tokio::spawn(async move {
            shutdown.cancelled().await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        // Its snapshot holds the log for seconds: the backlog goes to the checkpoint thread.
        let long_read = long_reads.begin();
        let verdict = tokio::task::spawn_blocking(move || check.run()).await;
        drop(long_read);
        stopping.abort();
        match verdict {
            Ok(Err(detail)) => return detail,
            Ok(Ok(())) => {}
            Err(err) => tracing::error!(
                error = %err,
                "the database check failed; the next start checks the database first"
            ),
        }
    }
    std::future::pending().await
}

/// Opens the store of a checked, private and held data folder and starts its writer: the state
/// every handler shares.
pub(crate) fn open_state(
    config: Config,
) -> Result<(AppState, StoreThreads, Option<store::check::WhileServing>), ServerError> {
    // Installed before anything is counted (a no-op when it already is).
    crate::metrics::handle();
    let path = config.db_path();
    let (conn, later_check) =
        store::open_serving(&path, config.synchronous, config.check_before_serving_bytes)?;
    let (writer, writer_thread) =
        Writer::start(conn, config.writer_queue, config.max_batch).map_err(ServerError::Serve)?;
    let (search, search_thread) =
        SearchIndex::start(&path, writer.progress()).map_err(ServerError::Serve)?;
    let state = AppState {
        store: Store {
            reads: Reads::new(path, config.read_pool_size, writer.clone()),
            writer,
            search,
            receipt_ids: store::budget::Budget::new(
                config.receipt_ids_queued,
                clinic_protocol::limits::MAX_IDS_PER_REQUEST,
            ),
            pages: store::budget::Budget::new(config.pages_at_once, 1),
            refusals: Arc::new(crate::audit::refusals::Refusals::new(config.refusal_rate)),
        },
        hub: Arc::new(Hub::default()),
        emergencies: Arc::new(Watch::new(&config)),
        logins: Logins::start(&config).map_err(ServerError::Serve)?,
        uploads: Allowance::new(&config),
        care: Arc::new(crate::limiter::KeyedBuckets::new(config.care_rate)),
        reads: Arc::new(crate::limiter::KeyedBuckets::new(config.read_rate)),
        writes: Arc::new(crate::writes::Writes::new(
            config.write_rate,
            config.emergency_send_rate,
        )),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
        config: Arc::new(config),
    };
    let threads = StoreThreads {
        writer: writer_thread,
        search: search_thread,
    };
    Ok((state, threads, later_check))
}

/// The store's threads: each ends once the last handle to it is gone.
pub(crate) struct StoreThreads {
    writer: std::thread::JoinHandle<()>,
    search: std::thread::JoinHandle<()>,
}

impl StoreThreads {
    fn join(self) {
        let _ = self.writer.join();
        let _ = self.search.join();
    }
}

/// How often the conversations' counters are checked after the first time
/// (`Config::counts_first_check`), and how soon again after a check that could not run.
const COUNTS_EVERY: Duration = Duration::from_secs(24 * 3600);
const COUNTS_RETRY: Duration = Duration::from_secs(3600);

/// Checks the conversations' counters against their messages now and then, and sets right any
/// that drifted, and read marks ahead of an unread message (`store/counts.rs`): a drift is a
/// bug, logged as an error with the first few.
async fn check_counts(store: crate::store::Store, stop: CancellationToken, first: Duration) {
    tokio::time::sleep(first).await;
    loop {
        let checked = store.check_counts(stop.clone()).await;
        if checked.fixed.is_empty() && checked.failed.is_none() {
            tracing::debug!("the conversations' counters match their messages");
        }
        if !checked.fixed.is_empty() {
            let first: Vec<String> = checked
                .fixed
                .iter()
                .take(5)
                .map(|k| format!("patient {} with doctor {}", k.patient_id, k.doctor_id))
                .collect();
            tracing::error!(
                count = checked.fixed.len(),
                first = %first.join(", "),
                "conversations' unread counters or read marks did not match their messages; set right"
            );
        }
        let next = match checked.failed {
            // Interrupted by the shutdown: nothing to report.
            Some(_) if stop.is_cancelled() => return,
            Some(err) => {
                tracing::warn!(error = %err, "could not check the conversations' counters");
                COUNTS_RETRY
            }
            None => COUNTS_EVERY,
        };
        tokio::time::sleep(next).await;
    }
}

/// How often the session sweep looks whether a command ended sessions (one `stat`).
const ENDED_MARKER_LOOK: Duration = Duration::from_millis(500);

/// Closes live sockets whose session ended (revoked, expired, account disabled), including by
/// another process such as the CLI, and marks the sessions of the others as used: a connected
/// app is in use, so its session does not reach the idle expiry.
async fn session_sweep(state: AppState) {
    let mut tick = tokio::time::interval(state.config.session_check_interval);
    tick.tick().await;
    let mut ended = crate::sessions::EndedMarker::watch(&state.config.data_dir);
    let mut look = tokio::time::interval(ENDED_MARKER_LOOK);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = look.tick() => {
                if !ended.changed() {
                    continue;
                }
            }
        }
        let hashes = state.hub.token_hashes();
        if hashes.is_empty() {
            continue;
        }
        let (idle, stale_after) = (state.idle_ms(), state.touch_interval_ms());
        let checked = state
            .store
            .sessions_last_used(hashes, idle)
            .await
            .map(|sessions| {
                let (mut dead, mut stale) = (Vec::new(), Vec::new());
                for (hash, last_used) in sessions {
                    match last_used {
                        None => dead.push(hash),
                        Some(last_used) if now_ms() - last_used >= stale_after => stale.push(hash),
                        Some(_) => {}
                    }
                }
                (dead, stale)
            });
        match checked {
            Ok((dead, stale)) => {
                for hash in dead {
                    state.hub.close_token(&hash);
                }
                if !stale.is_empty()
                    && let Err(err) = state.store.touch_sessions(stale).await
                {
                    tracing::warn!(error = %err, "could not mark live sessions as used");
                }
            }
            Err(err) => tracing::warn!(error = %err, "session sweep failed"),
        }
    }
}
