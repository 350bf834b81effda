//! Server configuration: production defaults from `Config::new`, every field public so tests and
//! the CLI can adjust it.

use crate::tls::TlsConfig;
use clinic_protocol::limits;
use std::path::PathBuf;
use std::time::Duration;

/// SQLite `synchronous` mode. `Full` fsyncs on every commit (durable against power loss); `Normal`
/// in WAL mode can lose the last commits on power loss but never corrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    #[default]
    Full,
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Connection-level bounds of the accept loop (see docs/protocol.md, Connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections held at once (lowered to fit the process's open-file limit). When full,
    /// the oldest connection that is not protected (not signed in, or one of an account's past
    /// its first 16) is shed to make room.
    pub max: usize,
    /// Most connections from one client address; 0 for no cap (e.g. behind a reverse proxy on
    /// the same machine, where every connection comes from 127.0.0.1).
    pub per_address: usize,
    /// Time for a client to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time for a request's header to arrive in full (from the connection's start, or from the
    /// first byte of a later request).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max: 10_000,
            per_address: 256,
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A rate: `per_sec` tokens per second, at most `burst` saved up (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    pub const fn new(per_sec: f64, burst: f64) -> Self {
        Self { per_sec, burst }
    }
}

/// Per-socket rates of the frames other than `message:send` (which has its own). A socket over
/// its typing rate has those frames dropped (they are ephemeral); over any other rate the server
/// stops reading it until the next frame is due, so nothing is refused or reordered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRates {
    /// `typing:start`, `typing:stop`.
    pub typing: Rate,
    /// `message:read`, `message:delivered`.
    pub receipts: Rate,
    /// `join:chat`, `leave:chat`.
    pub rooms: Rate,
    /// `sync` (each answered by one page).
    pub sync: Rate,
    /// `emergency:acknowledge`, `emergency:resolve`.
    pub emergency: Rate,
    /// `presence:set`.
    pub presence: Rate,
    /// Everything else: a second `authenticate`, malformed or unknown frames.
    pub other: Rate,
}

impl Default for FrameRates {
    fn default() -> Self {
        Self {
            typing: Rate::new(4.0, 10.0),
            receipts: Rate::new(100.0, 500.0),
            rooms: Rate::new(20.0, 100.0),
            sync: Rate::new(10.0, 20.0),
            emergency: Rate::new(10.0, 20.0),
            presence: Rate::new(2.0, 5.0),
            other: Rate::new(10.0, 50.0),
        }
    }
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsAccess {
    /// Nobody: `/metrics` answers 403.
    Off,
    /// Loopback, private and link-local addresses: the clinic's own network, not patients coming
    /// in through a port forward.
    #[default]
    Lan,
    /// Every address (behind a firewall or VPN that already limits who reaches the server).
    Any,
}

/// Everything `run` needs to know. Build with [`Config::new`] and change fields as needed.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder holding `clinic.db`, uploaded files (`files/`) and uploads in progress
    /// (`uploads-tmp/`).
    pub data_dir: PathBuf,
    /// A socket that has not authenticated after this long gets an error frame and is closed.
    pub auth_timeout: Duration,
    /// Absolute lifetime of a login token (a session ends this long after login, used or not).
    pub token_ttl: Duration,
    /// A session unused for this long ends (a live WebSocket counts as use).
    pub session_idle_timeout: Duration,
    /// HTTPS: the clinic CA (default), the clinic's own certificate, or off (loopback only).
    pub tls: TlsConfig,
    pub connections: ConnectionLimits,
    /// How often live sockets are checked against revoked tokens and disabled accounts (changes
    /// made by another process, such as the CLI, are noticed within this interval).
    pub session_check_interval: Duration,
    /// WebSocket ping interval; a socket silent for two intervals is closed.
    pub ping_interval: Duration,
    /// How long after the start the conversations' unread counters are first checked against
    /// their messages (the start serves first); then daily.
    pub counts_first_check: Duration,
    pub synchronous: Synchronous,
    /// Most commands the writer commits in one transaction.
    pub max_batch: usize,
    /// Capacity of the writer's command queue.
    pub writer_queue: usize,
    /// Most message ids of receipts waiting for the writer at once (at least one request's worth):
    /// a receipt over the budget waits, and its socket is not read meanwhile.
    pub receipt_ids_queued: usize,
    /// Most pages of messages (history, sync) being read or waiting for their audit row at once,
    /// across the server: a page may hold up to 500 messages of 16 KiB each.
    pub pages_at_once: usize,
    /// Capacity of each socket's outbound queue; a socket whose queue is full is closed.
    pub socket_queue: usize,
    /// Most unacknowledged sends one socket may have in flight before the server stops reading it.
    pub max_in_flight: usize,
    /// Soft frame limit: larger text frames get `error {code: too_large}`.
    pub max_frame_bytes: usize,
    /// Hard frame limit: larger frames close the socket (tungstenite refuses to buffer them).
    pub max_ws_message_bytes: usize,
    pub max_json_body_bytes: usize,
    /// Per-socket sends per second (token bucket refill) and burst.
    pub send_rate_per_sec: f64,
    pub send_burst: f64,
    /// Failed logins of one username from one address before that pair is locked out (only
    /// that pair: a stranger elsewhere cannot lock a user out of their own PC). Its lockout
    /// doubles every second further failure.
    pub login_max_failures: u32,
    /// Failed logins from one address (any usernames) before the address is locked out; higher
    /// than per pair because several people may share one front-desk PC. Its lockout doubles
    /// with every further failure.
    pub login_max_failures_per_ip: u32,
    /// First lockout, capped at `login_max_lockout`.
    pub login_base_lockout: Duration,
    pub login_max_lockout: Duration,
    /// Password checks (argon2, about 19 MiB each) running at once, on threads of their own;
    /// as many more may wait, and logins beyond that get 429 at once. One address has at most
    /// this many checked at once, so it cannot take every place.
    pub login_checks: usize,
    /// Successful sign-ins per account: past it the account's logins get 429 before any
    /// password check, so valid credentials in a loop cannot fill the password checks (or the
    /// sessions table) and keep everyone else from signing in.
    pub login_success_rate: Rate,
    /// Rates of the other frame types, per socket.
    pub frame_rates: FrameRates,
    /// How often one patient's repeated emergency raises alert the doctors again (a raise
    /// while one is open joins it; past this rate it is stored and shown, without a new alert).
    pub emergency_raise_rate: Rate,
    /// Idle read connections kept open.
    pub read_pool_size: usize,
    /// A database (with its log) up to this size is checked (`PRAGMA quick_check`) before the
    /// server serves; a larger one while it serves, on a connection of its own (a check reads
    /// the whole file: about 4 s per 1.2 GB here). See `store::check`.
    pub check_before_serving_bytes: u64,
    /// An emergency nobody has acknowledged is alerted again this often (to available doctors).
    pub emergency_repeat_interval: Duration,
    /// An emergency nobody has acknowledged this long after it was raised escalates: to every
    /// doctor, also those on do-not-disturb, and to the server alarm.
    pub emergency_escalate_after: Duration,
    /// Ring the alarm and show notifications on the server machine itself (`serve --alarm`).
    pub alarm: bool,
    /// The phone number patients are told to call when the app cannot get them help in time
    /// (`serve --emergency-phone`); sent to every client when it signs in.
    pub emergency_phone: Option<String>,
    /// The longest time without input before the desktop app locks, on a shared computer and on
    /// a personal one (`serve --lock-shared-minutes`, `--lock-personal-minutes`); users may only
    /// shorten it.
    pub lock_shared_idle: Duration,
    pub lock_personal_idle: Duration,
    /// How long a patient may unsend (`serve --unsend-hours`), a doctor retract
    /// (`--retract-minutes`), either edit (`--edit-hours`) their message, and how many edits
    /// one message may have (`--max-edits`). Told to every client when it signs in.
    pub unsend_window: Duration,
    pub retract_window: Duration,
    pub edit_window: Duration,
    pub max_edits: u32,
    /// The retention policy (`serve --retention`); `None`, the default, keeps everything.
    pub retention: Option<crate::retention::Policy>,
    /// The server's local time of the nightly retention run (`serve --retention-at`).
    pub retention_at: chrono::NaiveTime,
    /// Largest uploaded file, in bytes (enforced while the file streams in).
    pub max_upload_bytes: u64,
    /// Uploads not attached to any message after this long are deleted.
    pub upload_grace: Duration,
    /// How often unattached uploads (and crash leftovers) are swept.
    pub upload_sweep_interval: Duration,
    /// Uploads per user: started uploads per second and burst.
    pub upload_rate: Rate,
    /// Patient look-ups and conversation starts (`GET /api/patients`, `POST
    /// /api/conversations`) per user: each reads every patient or writes, so a flood from one
    /// token must not hold up everyone's sends.
    pub care_rate: Rate,
    /// Audited reads per user (history, sync, the conversation list, search, files, ...): each
    /// writes an audit row, so one account looping on them must not grow the audit log without
    /// bound. Past it REST refuses (429); a socket's `sync` draws on it too and is slowed down.
    pub read_rate: Rate,
    /// Writes per user, shared by REST and every socket of the user: a send, an edit or an
    /// unsend costs one plus one per KiB of text, a receipt or notification mark one plus one
    /// per 10 ids, a doctor's availability one (`writes::Write`). Over REST a write past it is
    /// refused (429); a socket is slowed down.
    pub write_rate: Rate,
    /// Messages sent as emergencies per user, on their own bucket so that one never waits behind
    /// its sender's other writes; past it REST refuses (429) and a socket is slowed down.
    pub emergency_send_rate: Rate,
    /// Refusals (`DENIED` audit rows) written one by one per user; past this rate a user's
    /// refusals are counted and written as one row per kind every `refusal_window`, so one
    /// account refused in a loop cannot grow the audit log without bound.
    pub refusal_rate: Rate,
    /// How often the refusals held past `refusal_rate` are written.
    pub refusal_window: Duration,
    /// Uploads one user may have streaming at once.
    pub upload_concurrency: usize,
    /// Bytes one user may upload in 24 hours.
    pub upload_quota_bytes: u64,
    /// Free disk space uploads must leave: an upload is refused (503) when the free space
    /// minus the largest allowed file would fall below this, long before messages run short.
    pub upload_reserve_bytes: u64,
    /// Free disk space below which `/readyz` says the server is not ready.
    pub min_free_bytes: u64,
    /// A request body that sends nothing for this long is abandoned.
    pub body_idle_timeout: Duration,
    /// A JSON body must have arrived whole within this.
    pub json_body_timeout: Duration,
    /// An upload must have arrived whole within this.
    pub upload_timeout: Duration,
    /// Web origins (`scheme://host[:port]`) whose pages may open `/ws` besides the server's
    /// own; an upgrade with any other `Origin` header is refused (clients that send none, such
    /// as the desktop app, are not affected).
    pub allowed_origins: Vec<String>,
    /// Create the database when the data folder has none (`serve --init`); without it the
    /// server refuses to start on a folder without a database.
    pub init: bool,
    /// Who may read `GET /metrics`.
    pub metrics: MetricsAccess,
    /// A reverse proxy on this machine tells each client's address in `X-Forwarded-For`: taken
    /// from loopback peers only (the last address the header names), for the login throttles,
    /// the audit trail and who may read the metrics. Without it every client behind the proxy
    /// is 127.0.0.1, and one stranger's wrong passwords would lock the whole clinic out.
    pub trust_forwarded_for: bool,
    /// Folder whose desktop packages `GET /download` offers (none: the page says there are none).
    pub downloads_dir: Option<PathBuf>,
}

impl Config {
    /// Production defaults with data in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            auth_timeout: Duration::from_secs(5),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            session_idle_timeout: Duration::from_secs(7 * 24 * 3600),
            tls: TlsConfig::default(),
            connections: ConnectionLimits::default(),
            session_check_interval: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            counts_first_check: Duration::from_secs(60),
            synchronous: Synchronous::Full,
            max_batch: 512,
            writer_queue: 4096,
            receipt_ids_queued: 64 * limits::MAX_IDS_PER_REQUEST,
            pages_at_once: 16,
            socket_queue: 1024,
            max_in_flight: 1024,
            max_frame_bytes: limits::MAX_FRAME_BYTES,
            max_ws_message_bytes: 4 * limits::MAX_FRAME_BYTES,
            max_json_body_bytes: limits::MAX_JSON_BODY_BYTES,
            send_rate_per_sec: 500.0,
            send_burst: 2000.0,
            login_max_failures: 5,
            login_max_failures_per_ip: 20,
            login_base_lockout: Duration::from_secs(1),
            login_max_lockout: Duration::from_secs(15 * 60),
            login_checks: 2,
            login_success_rate: Rate::new(0.1, 20.0),
            trust_forwarded_for: false,
            frame_rates: FrameRates::default(),
            // Three raises at once, then one every ten seconds.
            emergency_raise_rate: Rate::new(0.1, 3.0),
            read_pool_size: 8,
            check_before_serving_bytes: 256 * 1024 * 1024,
            emergency_repeat_interval: Duration::from_secs(30),
            emergency_escalate_after: Duration::from_secs(120),
            alarm: false,
            emergency_phone: None,
            lock_shared_idle: Duration::from_secs(5 * 60),
            lock_personal_idle: Duration::from_secs(15 * 60),
            unsend_window: Duration::from_secs(u64::from(limits::DEFAULT_UNSEND_SECS)),
            retract_window: Duration::from_secs(u64::from(limits::DEFAULT_RETRACT_SECS)),
            edit_window: Duration::from_secs(u64::from(limits::DEFAULT_EDIT_SECS)),
            max_edits: limits::DEFAULT_MAX_EDITS,
            retention: None,
            retention_at: chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap_or_default(),
            max_upload_bytes: limits::DEFAULT_MAX_UPLOAD_BYTES,
            upload_grace: Duration::from_secs(3600),
            upload_sweep_interval: Duration::from_secs(600),
            // Ten at once, then one every six seconds.
            upload_rate: Rate::new(1.0 / 6.0, 10.0),
            care_rate: Rate::new(5.0, 30.0),
            read_rate: Rate::new(20.0, 200.0),
            // 200 lines a second (12 of the longest messages), after 2,000 at once.
            write_rate: Rate::new(200.0, 2000.0),
            // Twenty presses at once, then one every two seconds.
            emergency_send_rate: Rate::new(0.5, 20.0),
            refusal_rate: Rate::new(0.2, 20.0),
            refusal_window: Duration::from_secs(60),
            upload_concurrency: 2,
            upload_quota_bytes: 500 * 1024 * 1024,
            upload_reserve_bytes: 1024 * 1024 * 1024,
            min_free_bytes: 64 * 1024 * 1024,
            body_idle_timeout: Duration::from_secs(30),
            json_body_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(15 * 60),
            allowed_origins: Vec::new(),
            init: false,
            metrics: MetricsAccess::Lan,
            downloads_dir: None,
        }
    }

    /// The SQLite database file inside the data folder.
    pub fn db_path(&self) -> PathBuf {
        db_path(&self.data_dir)
    }
}

/// The SQLite database file of a data folder.
pub fn db_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("clinic.db")
}

/// Raises this process's soft open-file limit to its hard limit (the connection cap is derived
/// from it); returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// Most characters of an emergency phone number.
pub const MAX_EMERGENCY_PHONE_CHARS: usize = 32;

/// Checks an emergency phone number as clinic IT typed it: digits with the usual separators
/// (`+`, spaces, `-`, `(`, `)`, `.`, `/`), at most [`MAX_EMERGENCY_PHONE_CHARS`]. Returns it
/// trimmed, or a sentence saying what is wrong.
pub fn emergency_phone(text: &str) -> Result<String, String> {
    let phone = text.trim();
    if phone.is_empty() || !phone.chars().any(|c| c.is_ascii_digit()) {
        return Err("an emergency phone number needs digits, e.g. 112 or +44 20 7946 0000".into());
    }
    if phone.chars().count() > MAX_EMERGENCY_PHONE_CHARS {
        return Err(format!(
            "an emergency phone number has at most {MAX_EMERGENCY_PHONE_CHARS} characters"
        ));
    }
    if let Some(bad) = phone
        .chars()
        .find(|c| !(c.is_ascii_digit() || " +-().//".contains(*c)))
    {
        return Err(format!(
            "an emergency phone number has only digits, spaces and + - ( ) . / (not {bad:?})"
        ));
    }
    Ok(phone.to_owned())
}

/// Whole seconds, saturating (the lock times are minutes).
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// `--lock-*-minutes`: a whole number of minutes from 1 to 120.
pub fn lock_minutes(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(m) if (1..=120).contains(&m) => Ok(m),
        _ => Err(format!(
            "{text:?} is not a lock time: give whole minutes from 1 to 120, e.g. 5"
        )),
    }
}

impl Config {
    /// What every client is told when it signs in (see [`clinic_protocol::ClinicInfo`]).
    pub(crate) fn clinic_info(&self) -> clinic_protocol::ClinicInfo {
        let repeat = self.emergency_repeat_interval.as_secs_f64().ceil();
        clinic_protocol::ClinicInfo {
            emergency_phone: self.emergency_phone.clone(),
            // At least a second; a clinic's interval is far below u32::MAX seconds.
            emergency_repeat_secs: (repeat as u32).max(1),
            message_windows: Some(self.message_windows()),
            max_upload_bytes: Some(self.max_upload_bytes),
        }
    }

    /// The windows for unsending, retracting and editing, as clients are told them.
    pub(crate) fn message_windows(&self) -> clinic_protocol::MessageWindows {
        clinic_protocol::MessageWindows {
            unsend_secs: secs(self.unsend_window),
            retract_secs: secs(self.retract_window),
            edit_secs: secs(self.edit_window),
            max_edits: self.max_edits,
        }
    }

    /// The lock policy every client is told when it signs in.
    pub(crate) fn lock_policy(&self) -> clinic_protocol::LockPolicy {
        clinic_protocol::LockPolicy {
            shared_idle_secs: secs(self.lock_shared_idle),
            personal_idle_secs: secs(self.lock_personal_idle),
        }
    }
}

#[cfg(test)]
mod phone_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lock_times_are_whole_minutes_within_two_hours() {
        assert_eq!(lock_minutes(" 5 "), Ok(5));
        assert_eq!(lock_minutes("120"), Ok(120));
        for bad in ["0", "121", "-1", "5m", "2.5", ""] {
            let err = lock_minutes(bad).unwrap_err();
            assert!(err.contains("whole minutes from 1 to 120"), "{bad}: {err}");
        }
        let config = Config::new("/tmp/x".into());
        assert_eq!(
            config.lock_policy(),
            clinic_protocol::LockPolicy {
                shared_idle_secs: 300,
                personal_idle_secs: 900
            }
        );
    }

    #[test]
    fn emergency_phone_numbers_are_checked() {
        assert_eq!(emergency_phone(" 112 ").as_deref(), Ok("112"));
        assert_eq!(
            emergency_phone("+44 (20) 7946-0000").as_deref(),
            Ok("+44 (20) 7946-0000")
        );
        assert!(emergency_phone("").is_err());
        assert!(emergency_phone("call us").is_err());
        assert!(emergency_phone("112<script>").is_err());
        assert!(emergency_phone(&"1".repeat(33)).is_err());
    }
}
