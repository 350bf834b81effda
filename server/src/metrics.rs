//! Prometheus metrics: the recorder behind the `metrics` macros that the server's hot paths call,
//! and the text rendered by `GET /metrics` (see docs/operations.md for what each one means).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Messages committed (new ones only; a repeated `clientId` is not counted again).
pub(crate) const MESSAGES: &str = "clinic_messages_total";
/// Seconds from the writer's `BEGIN` to its `COMMIT` returning, per group commit.
pub(crate) const COMMIT_SECONDS: &str = "clinic_commit_seconds";
/// Seconds the writer spends on one step moving the log (sends and receipts) into the message
/// table (the name is from when the log held only sends; dashboards keep it).
pub(crate) const PROJECTION_SECONDS: &str = "clinic_send_log_move_seconds";
/// Commands in one group commit.
pub(crate) const BATCH_SIZE: &str = "clinic_commit_batch_size";
/// Sockets closed because they did not drain their outbound queue.
pub(crate) const QUEUE_DROPS: &str = "clinic_outbound_queue_drops_total";
/// Failed logins (wrong password, unknown or disabled account).
pub(crate) const LOGIN_FAILURES: &str = "clinic_login_failures_total";
/// Seconds from an emergency being raised to a doctor acknowledging it.
pub(crate) const ACK_SECONDS: &str = "clinic_emergency_ack_seconds";
/// Authenticated WebSocket connections (set when scraped).
pub(crate) const SOCKETS: &str = "clinic_sockets_connected";
/// Emergencies raised and not yet resolved, and those no doctor has acknowledged yet (set when
/// scraped, from the database).
pub(crate) const EMERGENCIES_OPEN: &str = "clinic_emergencies_open";
pub(crate) const EMERGENCIES_UNACKNOWLEDGED: &str = "clinic_emergencies_unacknowledged";
/// Emergency alerts queued to sockets and not yet written out (set when scraped).
pub(crate) const ALERTS_UNWRITTEN: &str = "clinic_emergency_alerts_unwritten";
/// Changes the search index has yet to take in (during a rebuild, about the messages not yet
/// indexed), and whether it is failing (set when scraped).
pub(crate) const SEARCH_BEHIND: &str = "clinic_search_index_behind";
pub(crate) const SEARCH_FAILING: &str = "clinic_search_index_failing";

const COMMIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
const ACK_BUCKETS: &[f64] = &[5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// The process-wide recorder, installed on first use. `None` when something else (a program
/// embedding the server) installed its own recorder first: `/metrics` then says so.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let built = [
        (COMMIT_SECONDS, COMMIT_BUCKETS),
        (PROJECTION_SECONDS, COMMIT_BUCKETS),
        (BATCH_SIZE, BATCH_BUCKETS),
        (ACK_SECONDS, ACK_BUCKETS),
    ]
    .into_iter()
    .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
        builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
    })
    .and_then(|builder| builder.install_recorder());
    match built {
        Ok(handle) => {
            describe();
            Some(handle)
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics recorder not installed; /metrics is unavailable");
            None
        }
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        MESSAGES,
        "Messages committed (repeats of a clientId not counted)"
    );
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "Duration of each group commit"
    );
    describe_histogram!(
        PROJECTION_SECONDS,
        Unit::Seconds,
        "Duration of each step moving logged sends into the message table"
    );
    describe_histogram!(BATCH_SIZE, "Commands per group commit");
    describe_counter!(
        QUEUE_DROPS,
        "Sockets closed because their outbound queue was full"
    );
    describe_counter!(LOGIN_FAILURES, "Failed login attempts");
    describe_histogram!(
        ACK_SECONDS,
        Unit::Seconds,
        "Time from an emergency being raised to its acknowledgement"
    );
    describe_gauge!(SOCKETS, "Authenticated WebSocket connections");
    describe_gauge!(EMERGENCIES_OPEN, "Emergencies not yet resolved");
    describe_gauge!(
        EMERGENCIES_UNACKNOWLEDGED,
        "Emergencies no doctor has acknowledged yet"
    );
    describe_gauge!(
        ALERTS_UNWRITTEN,
        "Emergency alerts queued to sockets and not yet written out"
    );
    describe_gauge!(
        SEARCH_BEHIND,
        "Changes (during a rebuild, messages) the search index has yet to take in"
    );
    describe_gauge!(
        SEARCH_FAILING,
        "1 while the search index cannot be brought up to date (see the log), else 0"
    );
}
