//! `clinic-server`: serve, manage accounts and sessions, retention and legal holds, the audit log, back up, seed a demo clinic.

/// `println!` (and, as `out!(@raw ...)`, `print!`) that ends the program quietly once nobody
/// reads its output (`clinic-server audit access ... | head`), where `println!` panics with a
/// backtrace; another failure to write is said on stderr (exit 1).
macro_rules! out {
    (@raw $($arg:tt)*) => {
        crate::wrote({
            use std::io::Write as _;
            write!(std::io::stdout().lock(), $($arg)*)
        })
    };
    ($($arg:tt)*) => {
        crate::wrote({
            use std::io::Write as _;
            writeln!(std::io::stdout().lock(), $($arg)*)
        })
    };
}

mod audit_cli;
mod records_cli;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use clinic_protocol::Role;
use clinic_protocol::text::for_terminal;
use clinic_server::accounts::{self, NewAccount};
use clinic_server::tls::{TlsMode, check_listen};
use clinic_server::{
    Config, ConnectionLimits, MetricsAccess, Synchronous, datadir, demo, sessions,
};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "clinic-server", version, about = "The clinic messaging server")]
struct Cli {
    /// Data folder (database, files). Default: /var/lib/clinic-server in the installed package,
    /// the OS data directory otherwise.
    #[arg(long, global = true, env = "CLINIC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log lines as text for people or as JSON objects for a log collector.
    #[arg(long, global = true, env = "CLINIC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at start; boxing the serve flags saves nothing"
)]
enum Command {
    /// Serve WebSocket (/ws), REST (/api) and /healthz.
    Serve {
        #[arg(long, env = "CLINIC_LISTEN", default_value_t = format!("0.0.0.0:{}", clinic_protocol::DEFAULT_PORT))]
        listen: String,
        /// Start a new, empty clinic if the data folder has no database (without it the server
        /// refuses such a folder: a wrong --data-dir must not look like an empty clinic).
        #[arg(long)]
        init: bool,
        /// Seed the demo clinic first if the data folder has no accounts (with --init for a
        /// new folder).
        #[arg(long)]
        demo: bool,
        /// `normal` trades the last commits on power loss for speed.
        #[arg(long, value_enum, default_value_t = SyncMode::Full)]
        synchronous: SyncMode,
        /// A database up to this many MiB is checked for damage before the server serves; a
        /// larger one while it serves (the server stops if the check fails).
        #[arg(long, env = "CLINIC_CHECK_BEFORE_SERVING_MIB", default_value_t = 256)]
        check_before_serving_mib: u64,
        /// Largest uploaded file, in bytes (default 25 MiB; the apps send and fetch at most
        /// 1 GiB whatever this says).
        #[arg(long, env = "CLINIC_MAX_UPLOAD_BYTES",
              value_parser = clap::value_parser!(u64).range(1..))]
        max_upload_bytes: Option<u64>,
        /// Bytes one user may upload in 24 hours (default 500 MiB).
        #[arg(long, env = "CLINIC_UPLOAD_QUOTA_BYTES")]
        upload_quota_bytes: Option<u64>,
        /// Free disk space uploads must leave for messages (default 1 GiB).
        #[arg(long, env = "CLINIC_UPLOAD_RESERVE_BYTES")]
        upload_reserve_bytes: Option<u64>,
        /// Free disk space below which /readyz reports not ready (default 64 MiB).
        #[arg(long, env = "CLINIC_MIN_FREE_BYTES")]
        min_free_bytes: Option<u64>,
        /// A web origin (scheme://host[:port]) allowed to open /ws besides the server's own;
        /// repeat for more.
        #[arg(
            long = "allowed-origin",
            env = "CLINIC_ALLOWED_ORIGINS",
            value_delimiter = ','
        )]
        allowed_origins: Vec<String>,
        /// Ring the alarm and show notifications on this machine while an emergency waits for
        /// a doctor (front desk, nurses' station).
        #[arg(long, env = "CLINIC_ALARM")]
        alarm: bool,
        /// The phone number patients are told to call when nobody has answered their
        /// emergency in time, or their app is offline (e.g. 112 or the clinic's emergency line).
        #[arg(long, env = "CLINIC_EMERGENCY_PHONE", value_parser = clinic_server::config::emergency_phone)]
        emergency_phone: Option<String>,
        /// The longest time without input, in minutes, before the desktop app locks on a
        /// computer several people use (users may only shorten it).
        #[arg(long, env = "CLINIC_LOCK_SHARED_MINUTES", default_value_t = 5,
              value_parser = clinic_server::config::lock_minutes)]
        lock_shared_minutes: u64,
        /// The same on a person's own computer.
        #[arg(long, env = "CLINIC_LOCK_PERSONAL_MINUTES", default_value_t = 15,
              value_parser = clinic_server::config::lock_minutes)]
        lock_personal_minutes: u64,
        /// Hours within which a patient may unsend their message (0: never; a misdirected
        /// message can be unsent at any age with a reason).
        #[arg(long, env = "CLINIC_UNSEND_HOURS", default_value_t = 24,
              value_parser = clap::value_parser!(u64).range(0..=24 * 365))]
        unsend_hours: u64,
        /// Minutes within which a doctor may retract their message (later they correct it by
        /// editing; a misdirected message can be retracted at any age with a reason).
        #[arg(long, env = "CLINIC_RETRACT_MINUTES", default_value_t = 15,
              value_parser = clap::value_parser!(u64).range(0..=60 * 24 * 365))]
        retract_minutes: u64,
        /// Hours within which either may edit their message (0: never).
        #[arg(long, env = "CLINIC_EDIT_HOURS", default_value_t = 24,
              value_parser = clap::value_parser!(u64).range(0..=24 * 365))]
        edit_hours: u64,
        /// Edits one message may have.
        #[arg(long, env = "CLINIC_MAX_EDITS", default_value_t = 10,
              value_parser = clap::value_parser!(u32).range(0..=1000))]
        max_edits: u32,
        /// Seconds between repeats of an unacknowledged emergency alert.
        #[arg(long, env = "CLINIC_EMERGENCY_REPEAT_SECS", default_value_t = 30.0,
              value_parser = positive_secs)]
        emergency_repeat_secs: f64,
        /// Seconds after which an unacknowledged emergency escalates (to every doctor, also on
        /// do-not-disturb, and to the server alarm).
        #[arg(long, env = "CLINIC_EMERGENCY_ESCALATE_SECS", default_value_t = 120.0,
              value_parser = positive_secs)]
        emergency_escalate_secs: f64,
        #[command(flatten)]
        tls: TlsArgs,
        #[command(flatten)]
        connections: ConnectionArgs,
        #[command(flatten)]
        sessions: SessionArgs,
        #[command(flatten)]
        retention: records_cli::RetentionArgs,
        #[command(flatten)]
        retention_at: records_cli::RetentionAtArg,
        /// Who may read GET /metrics: `lan` (loopback and private addresses), `any` or `off`.
        #[arg(long, env = "CLINIC_METRICS", value_enum, default_value_t = MetricsArg::Lan)]
        metrics: MetricsArg,
        /// Folder of desktop packages offered on GET /download.
        #[arg(
            long,
            env = "CLINIC_DOWNLOADS_DIR",
            default_value = "/usr/share/clinic-server/downloads"
        )]
        downloads_dir: PathBuf,
    },
    /// The server's TLS certificate authority.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// List and end sessions (logins).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// What the retention policy removes (off unless --retention is given).
    #[command(subcommand)]
    Retention(records_cli::RetentionCommand),
    /// Legal holds: conversations retention must keep.
    #[command(subcommand)]
    Hold(records_cli::HoldCommand),
    /// The audit log: query it, report who read a patient's data, verify its chain, review.
    #[command(subcommand)]
    Audit(audit_cli::AuditCommand),
    /// Copy the database to FILE while the server keeps serving (SQLite online backup), the
    /// clinic CA into the folder FILE.tls/ (keep it as secret as the data), and the uploaded
    /// files into the folder FILE.files/ (only files not already there are copied).
    Backup {
        /// The backup's file: a new one, or an earlier backup to replace (it is replaced only
        /// once the new copy is whole). FILE.tls/ and FILE.files/ go beside it.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Create an empty clinic database in the data folder if it has none (a new installation;
    /// `serve` refuses a folder without one unless given --init).
    Init,
    /// Put a backup (made by `backup --to FILE`) in place as this data folder's database, with
    /// its files (FILE.files/). Stop the server first. Nothing changes until the backup is
    /// checked, upgraded and its files copied; then the database that was there is moved into
    /// a new before-restore-TIME folder, never deleted.
    Restore {
        /// The backup's database file (as given to `backup --to`); FILE.files/ and FILE.tls/
        /// beside it are read too.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Create the demo clinic (password for every account: clinic-demo).
    Demo,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (the password is read from stdin, never from the command line).
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from the first line of stdin.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// YYYY-MM-DD (patients; retention counts from it).
        #[arg(long, value_parser = date_of_birth)]
        date_of_birth: Option<NaiveDate>,
        /// As the clinic writes it, e.g. A+ or O- (patients; at most 8 characters).
        #[arg(long)]
        blood_group: Option<String>,
    },
    /// List every account with its role and whether it is disabled.
    List,
    /// Refuse further logins and end every session and live connection of this user.
    Disable { username: String },
    /// Allow a disabled user to log in again.
    Enable { username: String },
    /// Set a new password (read from stdin) and end the user's existing sessions.
    ResetPassword {
        username: String,
        /// Read the password from the first line of stdin.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// `auto`: HTTPS with the clinic CA made in the data folder (tls/); `off`: plain HTTP, only
    /// allowed when listening on a loopback address (behind a reverse proxy on this machine).
    #[arg(long = "tls", env = "CLINIC_TLS", value_enum, default_value_t = TlsArg::Auto)]
    mode: TlsArg,
    /// The clinic's own certificate chain (PEM, server certificate first) instead of the
    /// clinic CA; reloaded when the file changes.
    #[arg(
        long,
        env = "CLINIC_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "mode"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, env = "CLINIC_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Another host name or address clients use to reach this server (e.g. the name patients
    /// use from home); repeat, or separate with commas.
    #[arg(long = "tls-name", env = "CLINIC_TLS_NAMES", value_delimiter = ',')]
    names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TlsArg {
    Auto,
    Off,
}

#[derive(Debug, clap::Args)]
struct ConnectionArgs {
    /// Most connections at once (lowered to fit the open-file limit); when full, the oldest
    /// connection that has not signed in makes room.
    #[arg(long, env = "CLINIC_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max)]
    max_connections: usize,
    /// Most connections from one client address (0: no cap, e.g. behind a reverse proxy).
    #[arg(long, env = "CLINIC_MAX_CONNECTIONS_PER_ADDRESS",
          default_value_t = ConnectionLimits::default().per_address)]
    max_connections_per_address: usize,
    /// Behind a reverse proxy on this machine: take each client's address from the proxy's
    /// `X-Forwarded-For` (only from loopback peers), for the login throttles, the audit trail
    /// and who may read the metrics.
    #[arg(long, env = "CLINIC_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, env = "CLINIC_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10.0,
          value_parser = positive_secs)]
    tls_handshake_timeout_secs: f64,
    /// Seconds a request's header may take to arrive in full.
    #[arg(long, env = "CLINIC_HEADER_READ_TIMEOUT_SECS", default_value_t = 10.0,
          value_parser = positive_secs)]
    header_read_timeout_secs: f64,
    /// Seconds a keep-alive connection may stay idle between requests.
    #[arg(long, env = "CLINIC_IDLE_TIMEOUT_SECS", default_value_t = 60.0,
          value_parser = positive_secs)]
    idle_timeout_secs: f64,
}

#[derive(Debug, clap::Args)]
struct SessionArgs {
    /// A session unused for this many seconds ends (default 7 days; a connected app counts as
    /// use).
    #[arg(long, env = "CLINIC_SESSION_IDLE_SECS", default_value_t = 7.0 * 86_400.0,
          value_parser = session_secs)]
    session_idle_secs: f64,
    /// A session ends this many seconds after login however it is used (default 30 days).
    #[arg(long, env = "CLINIC_SESSION_MAX_SECS", default_value_t = 30.0 * 86_400.0,
          value_parser = session_secs)]
    session_max_secs: f64,
    /// Seconds between checks that close the sockets of ended sessions (expired ones; those a
    /// command such as `clinic-server sessions revoke` or `user disable` ended close at once).
    #[arg(long, env = "CLINIC_SESSION_CHECK_SECS", default_value_t = 10.0,
          value_parser = positive_secs)]
    session_check_secs: f64,
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Print the pairing code (the clinic CA's SHA-256) and a QR code of it; clients enter it
    /// at their first login. Creates the CA if the server never ran.
    Fingerprint {
        /// With the clinic's own certificate: the chain file given to `serve --tls-cert`.
        #[arg(long, env = "CLINIC_TLS_CERT")]
        tls_cert: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// Active sessions, newest first.
    List {
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// End sessions: the user's apps are signed out within seconds.
    Revoke {
        /// Every session of this user.
        #[arg(long, required_unless_present = "session", conflicts_with = "session")]
        user: Option<String>,
        /// One session, by the id `sessions list` shows.
        #[arg(long)]
        session: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Patient,
    Doctor,
    Admin,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MetricsArg {
    Lan,
    Any,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SyncMode {
    Full,
    Normal,
}

/// The data folder when none is given: the package build sets `CLINIC_DEFAULT_DATA_DIR` (the
/// service's StateDirectory), so IT's `sudo -u clinic clinic-server user ...` finds the same data.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = option_env!("CLINIC_DEFAULT_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(
        directories::ProjectDirs::from("org", "clinic", "clinic-server")
            .context("cannot find the OS data directory; pass --data-dir")?
            .data_dir()
            .to_path_buf(),
    )
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A sentence, never Debug output; it may quote names from the database or from a
            // backup's schema, so each line is printed as text only. A cause an error's own
            // text already ends with is not said twice.
            let mut said = String::new();
            for cause in e.chain().map(ToString::to_string) {
                if !said.ends_with(&cause) {
                    if !said.is_empty() {
                        said.push_str(": ");
                    }
                    said.push_str(&cause);
                }
            }
            let lines: Vec<_> = said.lines().map(for_terminal).collect();
            eprintln!("clinic-server: {}", lines.join("\n"));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    clinic_server::tls::install_provider();
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Colour codes only for a person at a terminal, not in a service's log.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    // Only `init`, `serve --init`, `user add`, `demo` and `restore` may find a folder with no
    // database (they make one): to any other command it is a mistyped `--data-dir` or a lost
    // database, which must not quietly become a new, empty clinic (nor get a new CA).
    let makes_a_clinic = match &cli.command {
        Command::Init | Command::Demo | Command::Restore { .. } | Command::Serve { .. } => true,
        Command::User(UserCommand::Add { .. }) => true,
        Command::Tls(TlsCommand::Fingerprint { tls_cert }) => tls_cert.is_some(),
        _ => false,
    };
    if !makes_a_clinic {
        datadir::check_database(&data_dir, false)?;
    }
    // A command that opens the database keeps a restore from beginning until it is done (a
    // server holds the folder's own lock; a restore both).
    let _shared = match &cli.command {
        Command::Serve { .. } | Command::Restore { .. } | Command::Tls(_) => None,
        _ => Some(datadir::share(&data_dir)?),
    };
    match cli.command {
        Command::Serve {
            listen,
            init,
            demo: seed_demo,
            synchronous,
            check_before_serving_mib,
            max_upload_bytes,
            upload_quota_bytes,
            upload_reserve_bytes,
            min_free_bytes,
            allowed_origins,
            alarm,
            emergency_phone,
            lock_shared_minutes,
            lock_personal_minutes,
            unsend_hours,
            retract_minutes,
            edit_hours,
            max_edits,
            emergency_repeat_secs,
            emergency_escalate_secs,
            tls,
            connections,
            sessions,
            retention,
            retention_at,
            metrics,
            downloads_dir,
        } => {
            // A bad setting stops the server before it serves (and before anything is removed).
            let retention = retention.policy()?;
            // Before the demo seeds anything: it must not make a new clinic in a wrong folder.
            datadir::check_database(&data_dir, init)?;
            if seed_demo {
                // Seeding writes before the server holds the folder: not during a restore.
                let _seeding = datadir::share(&data_dir)?;
                let clinic = demo::seed(&data_dir).context("seeding the demo clinic")?;
                if clinic.created {
                    tracing::info!("demo clinic created (password: {})", demo::DEMO_PASSWORD);
                }
            }
            let mut config = Config::new(data_dir);
            config.synchronous = match synchronous {
                SyncMode::Full => Synchronous::Full,
                SyncMode::Normal => Synchronous::Normal,
            };
            config.init = init;
            config.check_before_serving_bytes = check_before_serving_mib.saturating_mul(1 << 20);
            if let Some(limit) = max_upload_bytes {
                if limit > clinic_protocol::limits::MAX_ATTACHMENT_BYTES {
                    tracing::warn!(
                        limit,
                        "--max-upload-bytes is above what the apps send and fetch (1 GiB): \
                         larger files can come only from other clients"
                    );
                }
                config.max_upload_bytes = limit;
            }
            if let Some(quota) = upload_quota_bytes {
                config.upload_quota_bytes = quota;
            }
            if let Some(reserve) = upload_reserve_bytes {
                config.upload_reserve_bytes = reserve;
            }
            if let Some(free) = min_free_bytes {
                config.min_free_bytes = free;
            }
            config.allowed_origins = allowed_origins;
            config.alarm = alarm;
            config.emergency_phone = emergency_phone;
            config.lock_shared_idle = Duration::from_secs(lock_shared_minutes * 60);
            config.lock_personal_idle = Duration::from_secs(lock_personal_minutes * 60);
            config.unsend_window = Duration::from_secs(unsend_hours * 3600);
            config.retract_window = Duration::from_secs(retract_minutes * 60);
            config.edit_window = Duration::from_secs(edit_hours * 3600);
            config.max_edits = max_edits;
            config.emergency_repeat_interval = Duration::from_secs_f64(emergency_repeat_secs);
            config.emergency_escalate_after = Duration::from_secs_f64(emergency_escalate_secs);
            config.tls.mode = match (tls.mode, tls.tls_cert, tls.tls_key) {
                (_, Some(cert), Some(key)) => TlsMode::Files { cert, key },
                (TlsArg::Off, _, _) => TlsMode::Off,
                _ => TlsMode::Auto,
            };
            config.tls.names = tls.names;
            config.connections = ConnectionLimits {
                max: connections.max_connections,
                per_address: connections.max_connections_per_address,
                tls_handshake_timeout: Duration::from_secs_f64(
                    connections.tls_handshake_timeout_secs,
                ),
                header_read_timeout: Duration::from_secs_f64(connections.header_read_timeout_secs),
                idle_timeout: Duration::from_secs_f64(connections.idle_timeout_secs),
            };
            config.trust_forwarded_for = connections.trust_forwarded_for;
            config.session_idle_timeout = Duration::from_secs_f64(sessions.session_idle_secs);
            config.token_ttl = Duration::from_secs_f64(sessions.session_max_secs);
            config.session_check_interval = Duration::from_secs_f64(sessions.session_check_secs);
            config.metrics = match metrics {
                MetricsArg::Lan => MetricsAccess::Lan,
                MetricsArg::Any => MetricsAccess::Any,
                MetricsArg::Off => MetricsAccess::Off,
            };
            config.downloads_dir = Some(downloads_dir);
            config.retention = retention;
            config.retention_at = retention_at.at;
            serve(&listen, config)
        }
        Command::Tls(TlsCommand::Fingerprint { tls_cert }) => {
            let print = clinic_server::tls::fingerprint(&data_dir, tls_cert.as_deref())?;
            out!("Pairing code of {}:\n", print.source.display());
            out!("    {}\n", print.code);
            out!("{}", print.qr);
            out!(
                "Give this code to the people who set up the app: they enter it (or compare it) \
                 when they first connect. Keep {} secret: whoever has it can impersonate this \
                 server.",
                data_dir.join("tls").join("ca.key").display()
            );
            Ok(())
        }
        Command::Sessions(command) => sessions_command(&data_dir, command),
        Command::User(command) => user(&data_dir, command),
        Command::Retention(command) => records_cli::retention(&data_dir, command),
        Command::Hold(command) => records_cli::hold(&data_dir, command),
        Command::Audit(command) => audit_cli::run(&data_dir, command),
        Command::Backup { to } => backup(&data_dir, &to),
        Command::Restore { file } => restore(&data_dir, &file),
        Command::Init => {
            if datadir::init(&data_dir)? {
                out!("created an empty clinic database in {}", data_dir.display());
            } else {
                out!(
                    "{} already holds a clinic database; nothing done",
                    data_dir.display()
                );
            }
            Ok(())
        }
        Command::Demo => {
            let clinic = demo::seed(&data_dir).context("seeding the demo clinic")?;
            if !clinic.created {
                bail!("{} already has accounts; nothing done", data_dir.display());
            }
            for user in clinic.users {
                out!("{}\t{}\t{}", user.username, user.role.as_str(), user.name);
            }
            out!("password for every account: {}", demo::DEMO_PASSWORD);
            Ok(())
        }
    }
}

fn serve(listen: &str, config: Config) -> anyhow::Result<()> {
    clinic_server::config::raise_open_file_limit();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        // Refused before anything listens or is created (a certificate authority among them):
        // a folder with no database, or one another server holds. `run` holds the folder for
        // good; this asks once first, waiting as it does for a server still stopping.
        datadir::check_database(&config.data_dir, config.init)?;
        datadir::check_schema(&config.data_dir)?;
        if datadir::has_database(&config.data_dir) {
            drop(datadir::hold_waiting(&config.data_dir, clinic_server::HOLD_PATIENCE).await?);
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {}", bind_failure(&e)))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        check_listen(&config.tls, addr)?;
        clinic_server::tls::prepare_files(&config, addr)?;
        let scheme = if config.tls.mode == TlsMode::Off {
            "http"
        } else {
            "https"
        };
        // Scripts and tests read this line to find the port.
        out!("listening on {scheme}://{addr}");
        std::io::stdout().flush().ok();
        tracing::info!(data_dir = %config.data_dir.display(), "serving on {addr}");
        clinic_server::run(listener, config, shutdown_signal()).await?;
        Ok(())
    })
}

/// Why a `--listen` address cannot be listened on, in IT's words (not "os error 98").
fn bind_failure(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::AddrInUse => "the port is in use by another program (another \
             clinic-server?); `ss -ltnp` names it, or choose another port with --listen"
            .to_owned(),
        std::io::ErrorKind::AddrNotAvailable => "this computer has no such address; check \
             --listen (`ip -brief address` lists this computer's addresses, 0.0.0.0 means all)"
            .to_owned(),
        std::io::ErrorKind::PermissionDenied => "not allowed to this account (ports below 1024 \
             need privileges; the default port is 8470)"
            .to_owned(),
        _ => err.to_string(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A date of birth as `YYYY-MM-DD`.
fn date_of_birth(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("expected a real date as YYYY-MM-DD, e.g. 1971-04-02, not {text}"))
}

/// A positive number of seconds that fits a `Duration` (at most about a day is sensible).
fn positive_secs(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && (0.01..=86_400.0).contains(&secs) {
        Ok(secs)
    } else {
        Err("expected seconds between 0.01 and 86400".into())
    }
}

/// Seconds for session lifetimes: up to ten years.
fn session_secs(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && (0.5..=315_360_000.0).contains(&secs) {
        Ok(secs)
    } else {
        Err("expected seconds between 0.5 and 315360000".into())
    }
}

fn sessions_command(data_dir: &Path, command: SessionsCommand) -> anyhow::Result<()> {
    match command {
        SessionsCommand::List { user } => {
            out!("SESSION\tUSER\tSIGNED IN (UTC)\tLAST USED (UTC)\tENDS AT THE LATEST (UTC)");
            for s in sessions::list(data_dir, user.as_deref())? {
                out!(
                    "{}\t{}\t{}\t{}\t{}",
                    s.id,
                    for_terminal(&s.username),
                    s.created_at.format("%Y-%m-%d %H:%M"),
                    s.last_used_at.format("%Y-%m-%d %H:%M"),
                    s.expires_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        SessionsCommand::Revoke {
            user: Some(user), ..
        } => {
            let count = sessions::revoke_user(data_dir, &user)?;
            out!("ended {count} sessions of {user}");
        }
        SessionsCommand::Revoke {
            session: Some(id), ..
        } => {
            sessions::revoke_session(data_dir, &id)?;
            out!("ended session {id}");
        }
        SessionsCommand::Revoke { .. } => bail!("give --user U or --session ID"),
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    if password.trim().is_empty() {
        bail!("the password is only spaces: give a real one");
    }
    Ok(password)
}

fn user(data_dir: &Path, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            username,
            name,
            role,
            password_stdin: _,
            date_of_birth,
            blood_group,
        } => {
            let password = read_password()?;
            let new_clinic = !datadir::has_database(data_dir);
            let role = match role {
                RoleArg::Patient => Role::Patient,
                RoleArg::Doctor => Role::Doctor,
                RoleArg::Admin => Role::Admin,
            };
            let user = accounts::create_user(
                data_dir,
                NewAccount {
                    username,
                    name,
                    role,
                    password,
                    date_of_birth,
                    blood_group,
                },
            )?;
            if new_clinic {
                out!("created a new clinic database in {}", data_dir.display());
            }
            out!(
                "created {} ({}) id {}",
                user.username,
                user.role.as_str(),
                user.id
            );
        }
        UserCommand::List => {
            out!("USERNAME\tROLE\tNAME\tDATE OF BIRTH\tBLOOD GROUP\tACCOUNT");
            for account in accounts::list_users(data_dir)? {
                let user = account.user;
                // Names are free text: none of it may act on IT's terminal or split the line.
                out!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    for_terminal(&user.username),
                    user.role.as_str(),
                    for_terminal(&user.name),
                    account
                        .date_of_birth
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    for_terminal(&account.blood_group.unwrap_or_default()),
                    if account.disabled {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
        UserCommand::Disable { username } => {
            accounts::set_disabled(data_dir, &username, true)?;
            out!("disabled {username}");
            if accounts::active_doctors(data_dir)? == 0 {
                eprintln!(
                    "clinic-server: warning: no doctor's account is enabled any more: a \
                     patient's emergency now reaches no doctor's app, only this server's alarm \
                     (`user add --role doctor` or `user enable`)"
                );
            }
        }
        UserCommand::Enable { username } => {
            accounts::set_disabled(data_dir, &username, false)?;
            out!("enabled {username}");
        }
        UserCommand::ResetPassword {
            username,
            password_stdin: _,
        } => {
            let password = read_password()?;
            accounts::reset_password(data_dir, &username, &password)?;
            out!("password reset for {username}; their sessions are revoked");
        }
    }
    Ok(())
}

fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<()> {
    // Read-only, but a half-restored folder's database may lack its log: no backup of that.
    datadir::refuse_half_restored(data_dir)?;
    let source_path = clinic_server::config::db_path(data_dir);
    if !source_path.exists() {
        bail!("no database at {}", source_path.display());
    }
    let source = rusqlite::Connection::open_with_flags(
        &source_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .with_context(|| format!("opening {}", source_path.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    // Never over the database being copied (which the copy would empty), nor over a file that
    // is not an earlier backup.
    datadir::check_backup_destination(data_dir, to)
        .with_context(|| format!("cannot write the backup to {}", to.display()))?;
    // The destination first: a backup that cannot even be created exported nothing, and the
    // audit log must not say it did.
    let created = !to.exists();
    // Health data: the copy is as private as the original, and so is its files' folder. An
    // earlier backup there is only looked at here: the copy is made beside it and takes its
    // place once whole, so a copy that fails (a full disk) leaves it as it was.
    let checked = datadir::own_private_file(to)
        .with_context(|| format!("cannot write the backup to {}", to.display()))?;
    drop(checked);
    let placeholder = Placeholder { to, created };
    let mut files_to = to.as_os_str().to_owned();
    files_to.push(".files");
    let files_to = PathBuf::from(files_to);
    datadir::own_private_dir(&files_to)
        .with_context(|| format!("cannot write the backup to {}", to.display()))?;
    let partial = Partial::beside(to)
        .with_context(|| format!("cannot write the backup beside {}", to.display()))?;
    let kept = |err: anyhow::Error| match created {
        true => err,
        false => err.context(format!(
            "the earlier backup at {} is kept as it was",
            to.display()
        )),
    };
    // SQLite opens it by name (its own open follows no link at the file); it must be the file
    // made, not one swapped in since by someone who can write in that folder.
    let mut target = rusqlite::Connection::open(partial.path())
        .map_err(anyhow::Error::from)
        .and_then(
            |target| match datadir::is_same_file(partial.file(), partial.path()) {
                true => Ok(target),
                false => bail!("it was replaced while the backup was being made"),
            },
        )
        .with_context(|| format!("cannot write the backup to {}", to.display()))?;
    // Recorded in the database before it is copied: the backup holds the head it was made at.
    let (head_id, head_hash) = clinic_server::audit::record_export(data_dir, to)
        .context("recording the backup in the audit log")?;
    // No journal file beside the copy: SQLite would open one by name, where a link could send
    // the pages of a half-made copy (a failed copy is said to have failed, and removed).
    let copied = target
        .query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))
        .and_then(|()| rusqlite::backup::Backup::new(&source, &mut target))
        .and_then(|backup| {
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)
        });
    drop(target);
    if let Err(err) = copied {
        // The EXPORT row is written and stays (the log is append-only): a second one says
        // that this backup was not made.
        export_failed(data_dir, to, &err);
        return Err(kept(
            anyhow::Error::from(err).context(format!("copying the database to {}", to.display())),
        ));
    }
    // Its CA, so that a restored server is the one the apps paired with.
    let ca_to = clinic_server::tls::keep::beside(to);
    let ca_copied = match clinic_server::tls::keep::backup(data_dir, to) {
        Ok(copied) => copied,
        Err(err) => {
            export_failed(data_dir, to, &err);
            return Err(kept(
                anyhow::Error::from(err)
                    .context(format!("copying the clinic CA to {}", ca_to.display())),
            ));
        }
    };
    // After the database: every file it refers to is still there (only unattached uploads are
    // ever deleted). Added to the folder an earlier backup there shares: its files stay.
    let files_copied = match clinic_server::files::backup(data_dir, &files_to) {
        Ok(copied) => copied,
        Err(err) => {
            // The database was copied, its files not all: not a backup to restore from, and
            // the audit log says so as it does for a copy that failed.
            export_failed(data_dir, to, &err);
            return Err(kept(
                anyhow::Error::from(err)
                    .context(format!("copying files to {}", files_to.display())),
            ));
        }
    };
    if let Err(err) = partial.put_in_place(to) {
        export_failed(data_dir, to, &err);
        return Err(kept(
            anyhow::Error::from(err).context(format!("putting the backup at {}", to.display())),
        ));
    }
    placeholder.keep();
    out!("backed up {} to {}", source_path.display(), to.display());
    out!("audit chain head: row {head_id}, hash {head_hash} (keep this line with the backup)");
    if ca_copied {
        out!(
            "copied the clinic CA to {} (as secret as the data: whoever has its ca.key can \
             impersonate this server)",
            ca_to.display()
        );
    }
    out!("copied {files_copied} new files to {}", files_to.display());
    Ok(())
}

/// The empty file a new backup's name got as its destination was checked: removed again unless
/// the backup took its place (a backup that failed leaves nothing under its name).
struct Placeholder<'a> {
    to: &'a Path,
    created: bool,
}

impl Placeholder<'_> {
    fn keep(mut self) {
        self.created = false;
    }
}

impl Drop for Placeholder<'_> {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(self.to);
        }
    }
}

/// A backup's copy being made beside its destination (`.NAME.partial-PID`, private, made anew),
/// removed unless it took the destination's place.
struct Partial {
    path: PathBuf,
    file: std::fs::File,
    placed: bool,
}

impl Partial {
    fn beside(to: &Path) -> std::io::Result<Self> {
        let name = to.file_name().unwrap_or_default().to_string_lossy();
        let dir = to.parent().filter(|p| !p.as_os_str().is_empty());
        let path = dir
            .unwrap_or(Path::new("."))
            .join(format!(".{name}.partial-{}", std::process::id()));
        // One left by a command killed with this process id: never followed, replaced.
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() || meta.is_symlink() => std::fs::remove_file(&path)?,
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        Ok(Self {
            path,
            file,
            placed: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// Written to the disk, then renamed over `to` (an earlier backup, or the placeholder).
    fn put_in_place(mut self, to: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.path, to)?;
        self.placed = true;
        // An earlier backup's log and shared memory, had anything opened it in WAL mode: SQLite
        // would apply that log to this copy.
        for suffix in ["-wal", "-shm"] {
            let mut beside = to.as_os_str().to_owned();
            beside.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(beside));
        }
        if let Some(dir) = to.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(dir) = std::fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Records that the backup to `to` was not made after all (its `EXPORT` row is written and
/// stays: the log is append-only); a log that cannot take that is said, not hidden.
fn export_failed(data_dir: &Path, to: &Path, err: &dyn std::fmt::Display) {
    if let Err(also) = clinic_server::audit::record_export_failed(data_dir, to, err) {
        eprintln!(
            "clinic-server: the failed backup could not be recorded in the audit log: {also}"
        );
    }
}

fn restore(data_dir: &Path, file: &Path) -> anyhow::Result<()> {
    let restored = clinic_server::restore::restore(data_dir, file)?;
    out!(
        "restored {} into {}: {} accounts, {} messages, last change {}",
        file.display(),
        data_dir.display(),
        restored.users,
        restored.messages,
        restored.last_change
    );
    if let Some(previous) = restored.previous {
        out!(
            "the database that was there (with its log) is in {}",
            previous.display()
        );
    }
    out!("copied {} files", restored.files_copied);
    match &restored.ca {
        clinic_server::tls::keep::Restored::Put => {
            out!("put the clinic CA kept with the backup in place: paired apps connect as before");
        }
        clinic_server::tls::keep::Restored::Replaced(aside) => out!(
            "put the clinic CA kept with the backup in place of this folder's own, which is now \
             in {} (apps paired with the backup's clinic connect as before)",
            aside.display()
        ),
        clinic_server::tls::keep::Restored::NoneKept => {
            // Said, not left for the apps to find: they would refuse this server.
            let own = data_dir.join("tls").join("ca.pem").exists();
            let which = match own
                .then(|| clinic_server::tls::fingerprint(data_dir, None).ok())
                .flatten()
            {
                Some(print) => format!("this folder keeps its own (pairing code {})", print.code),
                None => "a server started here makes a new one".to_owned(),
            };
            eprintln!(
                "warning: the backup kept no clinic CA (made by an older version, or of a server \
                 without one), so {which}: if the backup's clinic had one, apps paired with it \
                 will say this is not their server until you copy its tls/ca.pem and tls/ca.key \
                 into {} (server stopped), or pair them again",
                data_dir.join("tls").display()
            );
        }
        clinic_server::tls::keep::Restored::Same => {}
    }
    if restored.files_missing > 0 {
        eprintln!(
            "warning: {} attachments the restored database names are neither in {}.files nor in \
             the data folder: their messages are kept, opening them answers \"not found\"",
            restored.files_missing,
            file.display()
        );
    }
    // The accounts are the backup's too: what IT did since to keep someone out is undone.
    eprintln!(
        "warning: the accounts and sessions are as they were when the backup was taken ({}): \
         a session ended, an account disabled or a password reset since then is undone. Do it \
         again now (`sessions revoke`, `user disable`, `user reset-password`), before the \
         server serves",
        restored.last_change
    );
    Ok(())
}

/// What `out!` does with a write's result.
fn wrote(written: std::io::Result<()>) {
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("clinic-server: cannot write the output: {e}");
        std::process::exit(1);
    }
}
