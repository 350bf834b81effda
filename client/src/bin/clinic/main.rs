//! `clinic`: the headless command-line client on the same core as the desktop app, for clinic IT
//! and for scripted tests. See client/README.md.

use anyhow::{Context, Result};
use chrono::{DateTime, Local, TimeZone, Utc};
use clap::{Parser, Subcommand};
use clinic_client::lock::{Unlock, sentences};
use clinic_client::record::ChangeKind;
use clinic_client::time::showable;
use clinic_client::{
    Client, ClientError, ClientEvent, ClientOptions, ConnectionState, Found, LocalMessage, Pairing,
    Profile, tls,
};
use clinic_protocol::rest::{SearchOrder, Snippet};
use clinic_protocol::text::{for_terminal, json_for_terminal};
use clinic_protocol::ws::Availability;
use clinic_protocol::{ClientId, ConversationKey, EmergencyId, EmergencyState, MessageId, Role};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `println!` that ends the program quietly once nobody reads its output (`clinic history |
/// head`), where `println!` panics with a backtrace; another failure to write is said on stderr
/// (exit 1).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("clinic: cannot write the output: {e}");
            std::process::exit(1);
        }
    }};
}

mod catch_up;

/// Exit codes beyond 0 (success) and 1 (any other error).
const EXIT_UNREACHABLE: u8 = 3;
const EXIT_SIGNED_OUT: u8 = 4;
const EXIT_SENDS_FAILED: u8 = 5;
/// The server at the address is not the one this profile paired with (or the code typed at
/// pairing is not its code): a script must not treat it as "try again later".
const EXIT_NOT_YOUR_SERVER: u8 = 6;

/// Said under a refusal of a server that is not the one this profile paired with, for the
/// clinic's IT, who may have replaced the certificate authority on purpose (anyone else: the
/// pairing is what protects them, and stays).
const AFTER_A_NEW_CA: &str = "clinic: for the clinic's IT: if you replaced the certificate \
                              authority (the server has a new pairing code), `clinic --server \
                              URL forget-server` forgets the old pairing and `clinic login \
                              --pairing-code CODE` pairs again";

/// The exit code of a connection that kept failing.
fn offline_exit(not_your_server: bool) -> u8 {
    if not_your_server {
        EXIT_NOT_YOUR_SERVER
    } else {
        EXIT_UNREACHABLE
    }
}

#[derive(Debug, Parser)]
#[command(name = "clinic", version, about = "Headless clinic messaging client")]
struct Cli {
    /// Folder holding the session, the cache and (with `--credentials file`) the token.
    #[arg(long, env = "CLINIC_PROFILE", global = true)]
    profile: Option<PathBuf>,
    /// Server base URL, e.g. https://192.168.1.10:8470 (needed by `login` and `forget-server`;
    /// with any other command it must name the server the profile signed in to).
    #[arg(long, env = "CLINIC_SERVER", global = true)]
    server: Option<String>,
    /// Where `login` keeps the token and the cache's key: the OS keyring (default) or, for
    /// headless machines without one, plain files in the profile (readable by its owner only,
    /// not encrypted: whoever reads them can act as the user and read the cache).
    #[arg(long, global = true, value_parser = ["keyring", "file"])]
    credentials: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in; the password is read from the first line of stdin. The first login to an
    /// https:// server pairs with it: give its pairing code (`clinic-server tls fingerprint`)
    /// with --pairing-code, or, at a terminal, compare the code shown and confirm it. Exits 3
    /// if nothing answers at the address, 6 if the server there is not the paired clinic's.
    Login {
        #[arg(long)]
        username: String,
        /// The server's pairing code, as IT gave it (case, spaces and dashes do not matter).
        /// `--pin` is the same (its first name; "PIN" is the app lock's now).
        #[arg(
            long = "pairing-code",
            alias = "pin",
            value_name = "CODE",
            conflicts_with = "system_roots"
        )]
        pin: Option<String>,
        /// The server has a certificate from a public authority: trust the system's
        /// certificates instead of pairing.
        #[arg(long)]
        system_roots: bool,
    },
    /// Forget the pairing with --server (after IT replaced its certificate authority); the next
    /// login pairs again.
    ForgetServer,
    /// Revoke the token and forget it (the cache stays).
    Logout,
    /// Unlock the session (locked in the desktop app, or after its lock's state was lost with
    /// a cache started afresh); the PIN or password is read from the first line of stdin.
    Unlock,
    /// Print the signed-in user, as the server has the session (exit 4 once it ended there;
    /// 3, after this computer's copy, when the server is out of reach; 6 when the server at the
    /// address is not the paired clinic's).
    Whoami,
    /// Queue a message; exits 0 once it is safely in the outbox, reachable server or not.
    Send {
        /// The contact's username.
        #[arg(long = "with")]
        with: String,
        /// An emergency: sent before anything else queued (text only).
        #[arg(long, conflicts_with = "file")]
        emergency: bool,
        /// A file to attach (uploaded first; the text may then be empty).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The message (several words are joined with spaces).
        #[arg(required_unless_present = "file")]
        text: Vec<String>,
    },
    /// Open emergencies (from the server when reachable, else as last seen).
    Emergencies {
        #[arg(long)]
        json: bool,
    },
    /// Act on an emergency (doctors); returns once the server confirmed it.
    Emergency {
        #[command(subcommand)]
        action: EmergencyAction,
    },
    /// Show or set this doctor's availability; setting returns once the server stored it.
    Availability {
        #[arg(value_parser = ["available", "dnd"])]
        set: Option<String>,
    },
    /// Connect, catch up, deliver the outbox, refresh contacts; exit 3 if the server is
    /// unreachable, 5 if some sends were refused for good, 6 if the server at the address is
    /// not the paired clinic's.
    Sync {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Failed connection attempts before reporting the server unreachable.
        #[arg(long, default_value_t = 2)]
        attempts: u32,
    },
    /// Print a conversation from the cache (no network).
    History {
        #[arg(long = "with")]
        with: String,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Search your messages on the server, newest first (or best first with --rank): words (as
    /// prefixes), "phrases",
    /// -word, ~part, from:me|@user, in:@user, before:/after:/on:YYYY-MM-DD, has:file|image,
    /// is:emergency.
    Search {
        /// The query (several words are joined with spaces). To leave a word out with
        /// `-word`, put the query after `--`: `clinic search -- amox -rash`.
        #[arg(required = true)]
        query: Vec<String>,
        /// Only the conversation with this contact (username).
        #[arg(long = "with")]
        with: Option<String>,
        /// Continue after a previous page (the cursor it printed).
        #[arg(long, conflicts_with = "rank")]
        cursor: Option<String>,
        /// The best matches first, one page (offline: newest first, from this computer).
        #[arg(long)]
        rank: bool,
        #[arg(long)]
        json: bool,
    },
    /// Follow a conversation live (reconnecting as needed) until interrupted. What a
    /// reconnection catches up on prints in the conversation's order once it is online. Exits
    /// 4 once the session ended, and 6 at once when the server at the address is not the
    /// paired clinic's.
    Tail {
        #[arg(long = "with")]
        with: String,
        /// One JSON event per line instead of text, each as it comes.
        #[arg(long)]
        json: bool,
    },
    /// The conversation list (from the server when reachable, else cached, said so on stderr
    /// with exit 3; exit 6 when the server at the address is not the paired clinic's, 4 once
    /// the session ended there).
    Conversations {
        #[arg(long)]
        json: bool,
    },
    /// Unsend (patients) or retract (doctors) your own message, within the clinic's window (a
    /// message sent to the wrong person: at any age, with --misdirected and a --reason).
    /// Queued like a send, then delivered: exit 0 once the server took it back, 5 if it
    /// refused (the message stays), 3 if unreachable (it stays queued for `clinic sync`).
    #[command(visible_alias = "retract")]
    Unsend {
        /// The message's id (`clinic history --json` shows them).
        message_id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        misdirected: bool,
        /// Give up waiting for the server after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Replace the text of your own message (the earlier text stays in its version list).
    /// Exit codes as for `unsend`.
    Edit {
        message_id: String,
        /// The new text (several words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Queued and failed sends with their reasons; `retry` a failed one, `discard` a failed one
    /// or one not yet sent.
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EmergencyAction {
    /// Take an emergency ("I'm on it").
    Ack { id: String },
    /// Close an emergency, with a short note of what was done.
    Resolve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// Queue a failed send again (same clientId: never stored twice).
    Retry { client_id: String },
    /// Drop a failed send, or one waiting that was never sent, for good.
    Discard { client_id: String },
}

fn main() -> ExitCode {
    tls::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLINIC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("clinic: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // An error may carry the server's sentence, or a name: printed as text only.
            eprintln!("clinic: {}", for_terminal(&said(&e)));
            match e.downcast_ref::<ClientError>() {
                Some(ClientError::Locked) => {
                    eprintln!("clinic: `clinic unlock` takes the PIN or password on stdin");
                }
                // A pairing there is (not a first one's code that did not match).
                Some(ClientError::NotYourServer | ClientError::PairedWithAnother) => {
                    eprintln!("{AFTER_A_NEW_CA}");
                }
                _ => {}
            }
            let code = match e.downcast_ref::<ClientError>() {
                Some(ClientError::SessionExpired | ClientError::NotLoggedIn) => EXIT_SIGNED_OUT,
                Some(
                    ClientError::NotYourServer
                    | ClientError::CodeMismatch
                    | ClientError::PairedWithAnother,
                ) => EXIT_NOT_YOUR_SERVER,
                // A login (or anything else) that found nothing answering: try again later.
                Some(ClientError::Unreachable { .. }) => EXIT_UNREACHABLE,
                _ => 1,
            };
            ExitCode::from(code)
        }
    }
}

/// What went wrong, as a user reads it: a refusal is its sentence (the server's own, or why
/// this computer refused: "Too late to unsend: ..."), without the wrapping a log needs; a
/// server's failure (5xx) keeps its status and code, which clinic IT looks for.
fn said(e: &anyhow::Error) -> String {
    if e.chain().count() == 1 {
        let why = match e.downcast_ref::<ClientError>() {
            Some(ClientError::Server {
                status, message, ..
            }) if *status < 500 => Some(message),
            Some(ClientError::Invalid(why)) => Some(why),
            _ => None,
        };
        if let Some(sentence) = why.and_then(|why| clinic_client::error::sentence(why)) {
            return sentence;
        }
    }
    // The chain joined, each part once, and no further than the first full sentence (one that
    // ends with a period is what the user reads; what caused it said it again in other words).
    let mut said = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if said.ends_with(&cause) {
            continue;
        }
        if !said.is_empty() {
            said.push_str(": ");
        }
        said.push_str(&cause);
        if said.ends_with('.') {
            break;
        }
    }
    said
}

/// The first line of stdin without its line end (a password, given so that it is never on
/// the command line).
fn first_line_of_stdin(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading {what} from stdin"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn profile_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(dir) = &cli.profile {
        return Ok(dir.clone());
    }
    let home = std::env::var_os("HOME").context("no --profile given and no HOME")?;
    Ok(PathBuf::from(home).join(".local/share/clinic-messaging"))
}

fn open(cli: &Cli) -> Result<Client> {
    let profile = Profile::new(profile_dir(cli)?);
    let session = profile
        .load_session()?
        .ok_or(ClientError::NotLoggedIn)
        .context("no session in this profile")?;
    // `--server` names where to sign in; a profile signed in elsewhere would quietly go on
    // talking to its own server (one being retired, say) if the flag were just ignored.
    if let Some(server) = &cli.server
        && clinic_client::api::login_address(server).ok().as_deref()
            != Some(session.server_url.as_str())
    {
        anyhow::bail!(
            "this profile is signed in to {}, not {}: to use {} with it, log in there \
             (`clinic --server {} login ...`)",
            session.server_url.trim_end_matches('/'),
            server.trim(),
            server.trim(),
            server.trim()
        );
    }
    let kind = cli.credentials.as_deref().unwrap_or(&session.credentials);
    let options = ClientOptions::new(profile.dir(), profile.credential_store(kind));
    Ok(Client::open(options)?)
}

async fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        Command::Login {
            username,
            pin,
            system_roots,
        } => {
            let server = cli.server.as_deref().context("login needs --server URL")?;
            let profile = Profile::new(profile_dir(&cli)?);
            let pairing = pairing(&profile, server, pin.as_deref(), *system_roots).await?;
            let password = first_line_of_stdin("the password")?;
            let password = password.as_str();
            let kind = cli.credentials.as_deref().unwrap_or("keyring");
            let options = ClientOptions::new(profile.dir(), profile.credential_store(kind));
            let client = Client::login(options, server, username, password, pairing)
                .await
                .context(if kind == "keyring" {
                    "login failed (on a machine without a keyring, add --credentials file)"
                } else {
                    "login failed"
                })?;
            out!(
                "logged in as {} ({})",
                for_terminal(&client.user().username),
                for_terminal(&client.user().name)
            );
        }
        Command::Unlock => {
            // Read before the session opens: an open session holds its view of the lock.
            let secret = first_line_of_stdin("the PIN or password")?;
            let client = open(&cli)?;
            let secret = secret.as_str();
            let has_pin = client.lock_status().has_pin;
            let said = match client.unlock(secret).await? {
                Unlock::Unlocked => {
                    out!("unlocked");
                    return Ok(0);
                }
                Unlock::Wrong { left, wait } => {
                    sentences::wrong_try(has_pin, left, wait, None, sentences::queue(&client))
                }
                Unlock::Wait(wait) => sentences::wait(wait),
                Unlock::LogOut => {
                    eprintln!("clinic: too many wrong tries to unlock: you were logged out");
                    return Ok(EXIT_SIGNED_OUT);
                }
                Unlock::LogOutWhenSent => client
                    .lock_status()
                    .logs_out_when
                    .unwrap_or_else(|| "Too many wrong tries to unlock.".to_owned()),
            };
            eprintln!("clinic: {}", for_terminal(&said));
            return Ok(1);
        }
        Command::Logout => {
            let client = open(&cli)?;
            let personal = client.lock_status().device == clinic_client::lock::Device::Personal;
            if client.logout().await? {
                out!("logged out");
            } else if personal {
                out!(
                    "logged out here; your clinic's server could not be reached to end the \
                     session, so the next sign-in to it on this computer ends it"
                );
            } else {
                out!(
                    "logged out here; your clinic's server could not be reached to end the \
                     session, which ends by itself once unused for the server's idle time"
                );
            }
        }
        Command::ForgetServer => {
            let server = cli
                .server
                .as_deref()
                .context("forget-server needs --server URL")?;
            let profile = Profile::new(profile_dir(&cli)?);
            let url = clinic_client::api::login_address(server)?;
            if profile.forget_pin(&url)? {
                out!("forgot the pairing with {url}");
            } else {
                out!("{url} was not paired");
            }
        }
        Command::Whoami => {
            let client = open(&cli)?;
            // This computer's copy says who signed in; only the server says whether that still
            // holds (a session revoked or expired there, an account disabled).
            let (user, unchecked) = match client.user_on_server().await {
                Ok(user) => (user, None),
                Err(
                    e @ (ClientError::SessionExpired
                    | ClientError::NotYourServer
                    | ClientError::CodeMismatch
                    | ClientError::PairedWithAnother),
                ) => return Err(e.into()),
                Err(e) => (client.user().clone(), Some(e)),
            };
            out!(
                "{} ({}, {}) on {}",
                for_terminal(&user.username),
                for_terminal(&user.name),
                user.role.as_str().to_lowercase(),
                for_terminal(client.server_url().trim_end_matches('/'))
            );
            if let Some(e) = unchecked {
                eprintln!(
                    "clinic: as this computer last knew it; not checked with the server: {}",
                    for_terminal(&e.to_string())
                );
                return Ok(EXIT_UNREACHABLE);
            }
        }
        Command::Send {
            with,
            emergency,
            file,
            text,
        } => {
            let client = open(&cli)?;
            let conversation = client.conversation_with(with)?;
            let text = text.join(" ");
            let message = match file {
                Some(path) => client.send_with_attachment(&conversation, &text, false, path)?,
                None => client.send(&conversation, &text, *emergency)?,
            };
            out!("queued {}", message.client_id);
        }
        Command::Emergencies { json } => {
            let client = open(&cli)?;
            let open = client.fetch_open_emergencies().await?;
            let list = open.list;
            if open.offline {
                // On stderr: a list read with --json stays JSON.
                eprintln!(
                    "(The clinic's server cannot be reached: this is the list as this computer \
                     last saw it. Emergencies raised since are missing, and these may have been \
                     taken or resolved.)"
                );
            }
            if *json {
                print_json(&list)?;
            } else {
                for e in &list {
                    let by = e
                        .acknowledged_by_name
                        .as_deref()
                        .map(|n| format!(" by {}", for_terminal(n)))
                        .unwrap_or_default();
                    // An older server's emergency, or one cached before it said, has none: the
                    // message says it when this computer has it.
                    let written_at = e.written_at.or_else(|| {
                        client
                            .message_by_id(&e.message_id)
                            .ok()
                            .flatten()
                            .and_then(|m| m.written_at)
                    });
                    let written = written_note(written_at, e.raised_at);
                    let again = e
                        .reopened_at
                        .map(|at| format!(", again {}", stamp(at)))
                        .unwrap_or_default();
                    out!(
                        "{} {} {}{by} (raised {}{again}){written}",
                        for_terminal(e.id.as_str()),
                        for_terminal(&e.patient_name),
                        e.state.as_str(),
                        stamp(e.raised_at)
                    );
                }
            }
            if open.offline {
                // A script watching the list tells a stale one by the exit code, JSON or not.
                return Ok(EXIT_UNREACHABLE);
            }
        }
        Command::Emergency { action } => {
            let client = open(&cli)?;
            let emergency = match action {
                EmergencyAction::Ack { id } => {
                    client.acknowledge_emergency(&EmergencyId::new(id)).await?
                }
                EmergencyAction::Resolve { id, note } => {
                    client
                        .resolve_emergency(&EmergencyId::new(id), note.clone())
                        .await?
                }
            };
            out!(
                "{} {}",
                for_terminal(emergency.id.as_str()),
                emergency.state.as_str()
            );
        }
        Command::Availability { set } => {
            let client = open(&cli)?;
            let availability = match set.as_deref() {
                None => client.refresh_availability().await?,
                Some(word) => {
                    let wanted = if word == "dnd" {
                        Availability::DoNotDisturb
                    } else {
                        Availability::Available
                    };
                    client.set_availability(wanted).await?
                }
            };
            out!(
                "{}",
                match availability {
                    Availability::Available => "available",
                    Availability::DoNotDisturb => "dnd",
                }
            );
        }
        Command::Unsend {
            message_id,
            reason,
            misdirected,
            timeout,
        } => {
            let client = open(&cli)?;
            let id = MessageId::new(message_id);
            client.unsend(&id, reason.clone(), *misdirected)?;
            return settle(&client, &id, *timeout).await;
        }
        Command::Edit {
            message_id,
            text,
            timeout,
        } => {
            let client = open(&cli)?;
            let id = MessageId::new(message_id);
            client.edit(&id, &text.join(" "))?;
            return settle(&client, &id, *timeout).await;
        }
        Command::Sync { timeout, attempts } => {
            return sync(&open(&cli)?, *timeout, *attempts).await;
        }
        Command::History { with, json, limit } => {
            let client = open(&cli)?;
            let conversation = client.conversation_with(with)?;
            let history = client.history(&conversation, *limit, None)?;
            if *json {
                print_json(&history)?;
            } else {
                for message in &history {
                    out!("{}", line(&client, message));
                }
            }
        }
        Command::Search {
            query,
            with,
            cursor,
            rank,
            json,
        } => {
            let client = open(&cli)?;
            let conversation = with
                .as_deref()
                .map(|w| client.conversation_with(w))
                .transpose()?;
            let page = client
                .search_in_order(
                    &query.join(" "),
                    conversation.as_ref(),
                    cursor.as_deref(),
                    if *rank {
                        SearchOrder::Rank
                    } else {
                        SearchOrder::Newest
                    },
                )
                .await?;
            if *json {
                print_json(&page)?;
            } else {
                print_results(&client, &page);
            }
        }
        Command::Tail { with, json } => tail(&open(&cli)?, with, *json).await?,
        Command::Conversations { json } => {
            let fetched = open(&cli)?.fetch_conversations().await?;
            let list = fetched.list;
            if fetched.offline {
                // On stderr: a list read with --json stays JSON.
                eprintln!(
                    "(The clinic's server cannot be reached: this is the list as this computer \
                     last saw it.)"
                );
            }
            if *json {
                print_json(&list)?;
            } else {
                for c in &list {
                    let flag = if c.has_emergency { " EMERGENCY" } else { "" };
                    out!(
                        "{} ({} unread){flag}",
                        for_terminal(&c.other_party.username),
                        c.unread_count
                    );
                }
            }
            if fetched.offline {
                // As `emergencies`: a script tells a stale list by the exit code.
                return Ok(EXIT_UNREACHABLE);
            }
        }
        Command::Outbox { action, json } => {
            let client = open(&cli)?;
            match action {
                Some(OutboxAction::Retry { client_id }) => {
                    client.retry(&ClientId::new(client_id))?;
                    out!("queued {client_id} again");
                }
                Some(OutboxAction::Discard { client_id }) => {
                    client.discard(&ClientId::new(client_id))?;
                    out!("discarded {client_id}");
                }
                None if *json => print_json(&client.outbox()?)?,
                None => {
                    let items = client.outbox()?;
                    for item in &items {
                        let reason = match (&item.error_code, &item.error) {
                            (Some(code), Some(text)) => {
                                format!(" [{}] {}", for_terminal(code), for_terminal(text))
                            }
                            _ => String::new(),
                        };
                        out!(
                            "{} {} {}{} {}{reason}",
                            for_terminal(item.client_id.as_str()),
                            item.state,
                            item.step,
                            if item.is_emergency { " EMERGENCY" } else { "" },
                            for_terminal(&item.content)
                        );
                    }
                    let failed = items.iter().filter(|i| i.state == "failed").count();
                    out!("queued {}, failed {failed}", items.len() - failed);
                }
            }
        }
    }
    Ok(0)
}

/// What to trust at login: the code given, the system's roots, or (at a terminal, for a server
/// not paired yet) the server's own code once the user confirmed it matches theirs.
async fn pairing(
    profile: &Profile,
    server: &str,
    pin: Option<&str>,
    system_roots: bool,
) -> Result<Pairing> {
    if system_roots {
        return Ok(Pairing::SystemRoots);
    }
    if let Some(pin) = pin {
        return Ok(Pairing::Code(pin.to_owned()));
    }
    let url = clinic_client::api::login_address(server)?;
    let needs_pairing = url.starts_with("https://") && profile.pin(&url)?.is_none();
    if !needs_pairing || !std::io::stdin().is_terminal() {
        // Without a terminal to ask at, an unpaired server is refused with its code shown.
        return Ok(Pairing::Saved);
    }
    let presented = tls::fetch_server_ca(server).await?;
    eprintln!("This is the first connection to {url}. Its pairing code is:\n");
    eprintln!("    {}\n", presented.code());
    eprint!("Is it the code your clinic gave you? Type yes to trust this server: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(Pairing::Confirmed(presented))
    } else {
        anyhow::bail!("not paired: the server was not confirmed")
    }
}

async fn sync(client: &Client, timeout: u64, attempts: u32) -> Result<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut state = client.watch_state();
    client.connect();
    loop {
        let current = state.borrow_and_update().clone();
        match current {
            ConnectionState::Online => break,
            ConnectionState::SignedOut { reason } => {
                eprintln!("clinic: {}", for_terminal(&reason));
                return Ok(EXIT_SIGNED_OUT);
            }
            // Another try cannot make it the paired clinic's server: no waiting for it.
            ConnectionState::Offline {
                attempt,
                last_error,
                not_your_server,
                ..
            } if attempt >= attempts.max(1) || not_your_server => {
                eprintln!("clinic: {}", for_terminal(&last_error));
                if not_your_server {
                    eprintln!("{AFTER_A_NEW_CA}");
                }
                return Ok(offline_exit(not_your_server));
            }
            _ => {}
        }
        if tokio::time::timeout_at(deadline, state.changed())
            .await
            .is_err()
        {
            eprintln!("clinic: timed out connecting");
            return Ok(EXIT_UNREACHABLE);
        }
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    client
        .wait_outbox_empty(left)
        .await
        .context("delivering the outbox")?;
    if let Err(e) = client.conversations().await {
        eprintln!(
            "clinic: could not refresh conversations: {}",
            for_terminal(&e.to_string())
        );
    }
    client.disconnect().await;
    let failed = client.failed_count()?;
    out!("synced; {failed} failed sends");
    Ok(if failed > 0 { EXIT_SENDS_FAILED } else { 0 })
}

/// Delivers a queued unsend or edit of `id` and reports how the server answered.
async fn settle(client: &Client, id: &MessageId, timeout: u64) -> Result<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut events = client.subscribe();
    client.connect();
    let message = loop {
        let message = client
            .message_by_id(id)?
            .with_context(|| format!("message {id} is no longer in the cache"))?;
        if message.pending_change.is_none() {
            break message;
        }
        let gone = match client.state() {
            ConnectionState::SignedOut { reason } => Some((reason, EXIT_SIGNED_OUT)),
            ConnectionState::Offline {
                attempt,
                last_error,
                not_your_server,
                ..
            } if attempt >= 2 => {
                let code = offline_exit(not_your_server);
                Some((last_error, code))
            }
            _ => None,
        };
        let timed_out = gone.is_none()
            && tokio::time::timeout_at(deadline, events.recv())
                .await
                .is_err();
        if let Some((why, code)) =
            gone.or(timed_out.then(|| ("timed out".to_owned(), EXIT_UNREACHABLE)))
        {
            client.disconnect().await;
            eprintln!(
                "clinic: {}; the change stays queued for the next `clinic sync`",
                for_terminal(why.trim_end_matches('.'))
            );
            if code == EXIT_NOT_YOUR_SERVER {
                eprintln!("{AFTER_A_NEW_CA}");
            }
            return Ok(code);
        }
    };
    client.disconnect().await;
    if let Some(notice) = &message.change_notice {
        eprintln!("clinic: {}", for_terminal(notice));
        return Ok(EXIT_SENDS_FAILED);
    }
    out!("{}", line(client, &message));
    Ok(0)
}

async fn tail(client: &Client, with: &str, json: bool) -> Result<()> {
    let conversation = client.conversation_with(with)?;
    let mut events = client.subscribe();
    let mut order = catch_up::CatchUp::new();
    client.join(&conversation);
    client.connect();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = tokio::signal::ctrl_c() => break,
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("clinic: missed {n} events (the cache has them all)");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        if let ClientEvent::Connection {
            state: ConnectionState::SignedOut { reason },
            ..
        } = &event
        {
            print_lines(client, order.rest());
            client.disconnect().await;
            return Err(ClientError::SessionExpired).context(reason.clone());
        }
        // Not a network that may come back: a script following must not wait on it (exit 6).
        if let ClientEvent::Connection {
            state:
                ConnectionState::Offline {
                    not_your_server: true,
                    ..
                },
            ..
        } = &event
        {
            print_lines(client, order.rest());
            if json {
                out!("{}", json_for_terminal(&serde_json::to_string(&event)?));
            }
            client.disconnect().await;
            return Err(ClientError::NotYourServer.into());
        }
        if !concerns(&event, &conversation) {
            continue;
        }
        if json {
            out!("{}", json_for_terminal(&serde_json::to_string(&event)?));
            continue;
        }
        match &event {
            ClientEvent::MessageUpserted { message } => {
                print_lines(client, order.message(message.clone()));
            }
            other => {
                if let ClientEvent::Connection { state, .. } = other {
                    print_lines(client, order.connection(state));
                }
                // Names, notification text and the server's sentences go into it.
                if let Some(sentence) = describe(other, &|id| display_name(client, id)) {
                    eprintln!("[{}]", for_terminal(&sentence));
                }
            }
        }
    }
    // Interrupted while catching up: what it brought is printed before leaving.
    print_lines(client, order.rest());
    client.disconnect().await;
    Ok(())
}

/// `messages` as `tail` prints them, one line each.
fn print_lines(client: &Client, messages: Vec<LocalMessage>) {
    for m in messages {
        out!("{}", line(client, &m));
    }
}

/// A user's name as a sentence says it: a contact's full name, else the id.
fn display_name(client: &Client, id: &clinic_protocol::UserId) -> String {
    if *id == client.user().id {
        return client.user().name.clone();
    }
    client
        .contacts()
        .ok()
        .and_then(|cs| cs.into_iter().find(|c| c.id == *id))
        .map_or_else(|| id.to_string(), |c| c.name)
}

/// What `tail` says about an event other than a message, as a sentence (`name` of a user id);
/// `None` for what a person following a conversation does not need to read (the list changed,
/// receipts, what a desktop would show as a native notification: the server's notification
/// says it).
fn describe(
    event: &ClientEvent,
    name: &dyn Fn(&clinic_protocol::UserId) -> String,
) -> Option<String> {
    Some(match event {
        // The app lock is the desktop's; the CLI never locks.
        ClientEvent::MessageUpserted { .. }
        | ClientEvent::WithdrawNotice { .. }
        | ClientEvent::WithdrawAllNotices
        | ClientEvent::ConversationsChanged
        | ClientEvent::Notify { .. }
        | ClientEvent::Lock { .. } => return None,
        ClientEvent::Connection {
            state,
            queued,
            failed,
        } => {
            let state = match state {
                ConnectionState::Idle => "not connected".to_owned(),
                ConnectionState::Connecting { attempt, .. } => {
                    format!("connecting (try {attempt})")
                }
                ConnectionState::Syncing => "catching up".to_owned(),
                ConnectionState::Online => "online".to_owned(),
                ConnectionState::Offline {
                    last_error,
                    retry_in_ms,
                    ..
                } => format!(
                    "offline ({}), trying again in {} s",
                    last_error.trim_end_matches('.'),
                    retry_in_ms.div_ceil(1000)
                ),
                ConnectionState::SignedOut { reason } => format!("signed out: {reason}"),
            };
            match failed {
                0 => format!("{state}, {queued} waiting to be sent"),
                n => format!("{state}, {queued} waiting to be sent, {n} not sent after a refusal"),
            }
        }
        ClientEvent::MessageDiscarded { client_id, .. } => {
            format!("the unsent message {client_id} was discarded")
        }
        ClientEvent::HistoryPurged { purged_at, .. } => format!(
            "earlier messages were removed on {} under the clinic's retention policy",
            showable(*purged_at)
                .with_timezone(&Local)
                .format("%Y-%m-%d")
        ),
        ClientEvent::Typing {
            user_id, typing, ..
        } => {
            let doing = if *typing {
                "is typing"
            } else {
                "stopped typing"
            };
            format!("{} {doing}", name(user_id))
        }
        ClientEvent::Presence { user_id, online } => {
            let now = if *online { "online" } else { "offline" };
            format!("{} is {now}", name(user_id))
        }
        ClientEvent::PeerAvailability {
            user_id,
            availability,
        } => match availability {
            Availability::DoNotDisturb => format!("{} is on do not disturb", name(user_id)),
            Availability::Available => format!("{} is available", name(user_id)),
        },
        ClientEvent::EmergencyAlert {
            emergency,
            repeat,
            escalated,
            ..
        } => {
            let escalated = if *escalated { ", escalated" } else { "" };
            format!(
                "EMERGENCY from {} (alert {}{escalated}): clinic emergency ack {}",
                emergency.patient_name,
                repeat + 1,
                emergency.id
            )
        }
        ClientEvent::EmergencyUpdated { emergency } => {
            let name = match emergency.state {
                EmergencyState::Resolved => emergency.resolved_by_name.as_deref(),
                _ => emergency.acknowledged_by_name.as_deref(),
            };
            let by = name.map(|name| format!(" by {name}")).unwrap_or_default();
            format!(
                "emergency {} of {} is {}{by}",
                emergency.id,
                emergency.patient_name,
                emergency.state.as_str().to_lowercase()
            )
        }
        ClientEvent::Notification { notification } => {
            format!("{}: {}", notification.title, notification.body)
        }
        ClientEvent::UploadProgress {
            client_id,
            sent,
            total,
        } => format!("uploading {client_id}: {sent} of {total} bytes"),
        ClientEvent::ServerError { code, message } => {
            format!("the server refused: {message} ({})", code.as_str())
        }
        ClientEvent::Warning { message, .. } => message.clone(),
        ClientEvent::Alarm { alerting, ringing } => {
            if *alerting {
                match ringing.len() {
                    1 => "ringing for 1 open emergency".to_owned(),
                    n => format!("ringing for {n} open emergencies"),
                }
            } else {
                "the alarm is quiet".to_owned()
            }
        }
        ClientEvent::Availability { availability } => match availability {
            Availability::Available => "you are available".to_owned(),
            Availability::DoNotDisturb => "you are on do not disturb".to_owned(),
        },
        ClientEvent::Clinic { clinic } => match &clinic.emergency_phone {
            Some(phone) => format!("in an emergency the clinic says: call {phone}"),
            None => return None,
        },
    })
}

/// Whether `tail` shows an event: everything about the followed conversation, plus state.
fn concerns(event: &ClientEvent, conversation: &ConversationKey) -> bool {
    match event {
        ClientEvent::MessageUpserted { message } => &message.conversation() == conversation,
        ClientEvent::Typing {
            patient_id,
            doctor_id,
            ..
        } => &ConversationKey::new(patient_id.clone(), doctor_id.clone()) == conversation,
        _ => true,
    }
}

/// One line per result: when, who wrote it, in which conversation, and the snippet with its
/// matches in bold on a terminal.
fn print_results(client: &Client, page: &Found) {
    let bold = std::io::stdout().is_terminal();
    let contacts = client.contacts().unwrap_or_default();
    let name = |id: &clinic_protocol::UserId| {
        let name = if *id == client.user().id {
            client.user().username.clone()
        } else {
            contacts
                .iter()
                .find(|c| c.id == *id)
                .map_or_else(|| id.to_string(), |c| c.username.clone())
        };
        for_terminal(&name).into_owned()
    };
    match (&page.server_note, page.offline) {
        (Some(note), _) => {
            out!(
                "({} Only the messages on this computer were searched.)",
                for_terminal(note)
            );
        }
        (None, true) => out!(
            "(the clinic's server cannot be reached: only the messages on this computer were searched)"
        ),
        (None, false) => {}
    }
    if page.results.is_empty() {
        out!("no messages found");
    }
    for hit in &page.results {
        let m = &hit.message;
        let other = if m.sender_id == m.patient_id {
            &m.doctor_id
        } else {
            &m.patient_id
        };
        let emergency = if m.is_emergency { " EMERGENCY" } else { "" };
        out!(
            "{} {} -> {}{emergency}: {}{}",
            stamp(m.created_at),
            name(&m.sender_id),
            name(other),
            marked(&hit.snippet, bold),
            written_note(m.written_at, m.created_at)
        );
    }
    if let Some(cursor) = &page.next_cursor {
        out!("more: clinic search --cursor {} ...", for_terminal(cursor));
    }
}

/// The snippet's text, its highlights in bold (ANSI) when `bold`: only those codes are ours,
/// the text's own controls are shown escaped.
fn marked(snippet: &Snippet, bold: bool) -> String {
    if !bold {
        return for_terminal(&snippet.text).into_owned();
    }
    let units: Vec<u16> = snippet.text.encode_utf16().collect();
    let text = |units: &[u16]| for_terminal(&String::from_utf16_lossy(units)).into_owned();
    let mut out = String::new();
    let mut at = 0usize;
    for h in &snippet.highlights {
        let (start, end) = (h.start as usize, (h.end as usize).min(units.len()));
        if start < at || start > end {
            continue;
        }
        out.push_str(&text(&units[at..start]));
        out.push_str("\x1b[1m");
        out.push_str(&text(&units[start..end]));
        out.push_str("\x1b[0m");
        at = end;
    }
    out.push_str(&text(&units[at..]));
    out
}

/// `value` as pretty JSON on stdout, with nothing in its strings that acts on a terminal.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    out!(
        "{}",
        json_for_terminal(&serde_json::to_string_pretty(value)?)
    );
    Ok(())
}

/// How a line break inside a message is shown: the rest on a line of its own, indented, so that
/// it reads as the same message and can never pass for an entry of its own (every entry
/// starts at the margin with its time).
const CONTINUATION: &str = "\n    ";

/// A message's text for `history` and `tail`: each of its lines shown as `for_terminal` shows
/// text, the lines after the first indented.
fn message_text(text: &str) -> String {
    text.split('\n')
        .map(|line| for_terminal(line.strip_suffix('\r').unwrap_or(line)))
        .collect::<Vec<_>>()
        .join(CONTINUATION)
}

/// A time as the lines print it: this computer's local time (`--json` keeps the server's UTC).
fn stamp(at: DateTime<Utc>) -> String {
    stamp_in(at, &Local)
}

fn stamp_in<Tz: TimeZone>(at: DateTime<Utc>, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    showable(at)
        .with_timezone(zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The line's first time is when the server took the message; one that waited on its sender's
/// device says when it was written, its date only when that was another (local) day.
fn written_note(written_at: Option<DateTime<Utc>>, created_at: DateTime<Utc>) -> String {
    written_note_in(written_at, created_at, &Local)
}

fn written_note_in<Tz: TimeZone>(
    written_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    zone: &Tz,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let Some(at) = written_at else {
        return String::new();
    };
    let local = showable(at).with_timezone(zone);
    let sent = showable(created_at).with_timezone(zone);
    let shown = if local.date_naive() == sent.date_naive() {
        local.format("%H:%M:%S").to_string()
    } else {
        stamp_in(at, zone)
    };
    format!(" (written {shown}, sent later)")
}

/// A message's text followed by its file, if it has one ("(file: x-ray.png, 120 KB)"), so that
/// a file sent without a caption is not an empty line.
fn with_file(text: String, m: &LocalMessage) -> String {
    let Some(name) = &m.file_name else {
        return text;
    };
    let size = m
        .file_size
        .map_or(String::new(), |b| format!(", {}", size_of(b)));
    let file = format!("(file: {}{size})", for_terminal(name));
    match text.is_empty() {
        true => file,
        false => format!("{text} {file}"),
    }
}

/// A file's size as people read it, as the desktop app says it (`ui/src/logic/format.ts`):
/// bytes below 1,024, then KB, MB, GB of 1,024 with one decimal below 10 and none above.
fn size_of(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < 3 {
        value /= 1024.0;
        unit += 1;
    }
    let unit = ["KB", "MB", "GB", "TB"][unit];
    if value < 10.0 {
        let shown = format!("{value:.1}");
        format!("{} {unit}", shown.strip_suffix(".0").unwrap_or(&shown))
    } else {
        format!("{} {unit}", value.round())
    }
}

fn line(client: &Client, m: &LocalMessage) -> String {
    let who = if m.sender_id == client.user().id {
        client.user().username.clone()
    } else {
        client
            .contacts()
            .ok()
            .and_then(|cs| cs.into_iter().find(|c| c.id == m.sender_id))
            .map_or_else(|| m.sender_id.to_string(), |c| c.username)
    };
    let who = for_terminal(&who);
    let emergency = if m.is_emergency { " EMERGENCY" } else { "" };
    let error = m
        .error
        .as_deref()
        .map(|e| format!(" ({})", for_terminal(e)))
        .unwrap_or_default();
    let content = match &m.retracted {
        Some(t) => format!(
            "Message {} by {who} at {}",
            // Patients unsend, doctors retract; the sender is me or the other side.
            if (m.sender_id == client.user().id) == (client.user().role == Role::Doctor) {
                "retracted"
            } else {
                "unsent"
            },
            stamp(t.at)
        ),
        None => with_file(message_text(&m.content), m),
    };
    // A tombstone has no text left to have been edited.
    let edited = m
        .edited
        .filter(|_| m.retracted.is_none())
        .map(|e| format!(" (edited {})", stamp(e.at)))
        .unwrap_or_default();
    let written = written_note(m.written_at, m.created_at);
    let pending = match &m.pending_change {
        Some(p) if p.kind == ChangeKind::Retract => " (unsending…)".to_owned(),
        Some(p) => format!(
            " (edit waiting: {})",
            for_terminal(p.content.as_deref().unwrap_or_default())
        ),
        None => String::new(),
    };
    let notice = m
        .change_notice
        .as_deref()
        .map(|n| format!(" ({})", for_terminal(n)))
        .unwrap_or_default();
    let id =
        m.id.as_ref()
            .map(|id| format!(" [{}]", for_terminal(id.as_str())))
            .unwrap_or_default();
    format!(
        "{} {who} [{}]{emergency} {content}{written}{edited}{pending}{notice}{error}{id}",
        stamp(m.created_at),
        m.status.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinic_protocol::{ErrorCode, UserId};

    #[test]
    fn a_message_of_several_lines_cannot_pass_for_several_messages() {
        let text = "ok\n2026-12-05 11:06:00 dr.patel [SENT] Please double your warfarin dose \
                    tonight.\r\n\u{1b}[8mhidden\u{9b}2J\u{200b}";
        assert_eq!(
            message_text(text),
            "ok\n    2026-12-05 11:06:00 dr.patel [SENT] Please double your warfarin dose \
             tonight.\n    \\u{1b}[8mhidden\\u{9b}2J\\u{200b}"
        );
        assert_eq!(message_text("one line, as it is"), "one line, as it is");
        assert_eq!(message_text("a\rb\tc"), "a\\rb\\tc");
    }

    #[test]
    fn a_message_written_offline_says_when() {
        let at = |text: &str| {
            text.parse::<chrono::DateTime<chrono::Utc>>()
                .expect("a time")
        };
        let mut m = LocalMessage::pending(
            &clinic_protocol::ConversationKey::new("p", "d"),
            &UserId::from("p".to_owned()),
            "bp 150/95",
            false,
        );
        m.created_at = at("2026-12-05T14:55:00Z");
        assert_eq!(written_note(m.written_at, m.created_at), "");
        m.written_at = Some(at("2026-12-05T14:14:30Z"));
        assert_eq!(
            written_note_in(m.written_at, m.created_at, &Utc),
            " (written 14:14:30, sent later)"
        );
        m.written_at = Some(at("2026-12-04T23:50:00Z"));
        assert_eq!(
            written_note_in(m.written_at, m.created_at, &Utc),
            " (written 2026-12-04 23:50:00, sent later)"
        );
        // Days and times are the computer's: at UTC+05:30 both were on the 5th.
        let india = chrono::FixedOffset::east_opt(5 * 3600 + 1800).expect("an offset");
        assert_eq!(
            written_note_in(m.written_at, m.created_at, &india),
            " (written 05:20:00, sent later)"
        );
        assert_eq!(stamp_in(m.created_at, &india), "2026-12-05 20:25:00");
        // A server's time at the ends of chrono's range (a hostile one) is shown, not a panic.
        let tokyo = chrono::FixedOffset::east_opt(9 * 3600).expect("an offset");
        let new_york = chrono::FixedOffset::west_opt(5 * 3600).expect("an offset");
        for (far, zone) in [
            (chrono::DateTime::<Utc>::MAX_UTC, tokyo),
            (chrono::DateTime::<Utc>::MIN_UTC, new_york),
        ] {
            assert!(written_note_in(Some(far), far, &zone).contains("written"));
            assert!(!stamp_in(far, &zone).is_empty());
        }
    }

    #[test]
    fn a_file_is_named_after_the_text_or_alone() {
        let mut m = LocalMessage::pending(
            &clinic_protocol::ConversationKey::new("p", "d"),
            &UserId::from("p".to_owned()),
            "",
            false,
        );
        assert_eq!(with_file(String::new(), &m), "");
        m.file_name = Some("x-ray\u{1b}[2J.png".into());
        m.file_size = Some(120_400);
        assert_eq!(
            with_file(String::new(), &m),
            "(file: x-ray\\u{1b}[2J.png, 118 KB)"
        );
        m.file_size = Some(3_260_000);
        assert_eq!(
            with_file("my results".into(), &m),
            "my results (file: x-ray\\u{1b}[2J.png, 3.1 MB)"
        );
        // As the desktop app says them (`formatFileSize` in ui/src/logic/small.test.ts).
        for (bytes, said) in [
            (999, "999 B"),
            (1023, "1023 B"),
            (1024, "1 KB"),
            (1536, "1.5 KB"),
            (17_169, "17 KB"),
            (999_999, "977 KB"),
            (25 * 1024 * 1024, "25 MB"),
        ] {
            m.file_size = Some(bytes);
            assert!(
                with_file(String::new(), &m).ends_with(&format!(", {said})")),
                "{bytes}: {}",
                with_file(String::new(), &m)
            );
        }
    }

    #[test]
    fn a_refusal_is_said_as_its_sentence() {
        let too_late = ClientError::Invalid("too late to retract: that ended at 14:05".into());
        assert_eq!(
            said(&too_late.into()),
            "Too late to retract: that ended at 14:05."
        );
        let taken = ClientError::Server {
            status: 409,
            code: ErrorCode::Conflict,
            message: "Dr. Minh Nguyen already took it.".into(),
        };
        assert_eq!(said(&taken.into()), "Dr. Minh Nguyen already took it.");
        let failed = ClientError::Server {
            status: 503,
            code: ErrorCode::Unavailable,
            message: "the server is busy".into(),
        };
        assert!(said(&failed.into()).contains("503"));
        let unknown = ClientError::Server {
            status: 404,
            code: ErrorCode::NotFound,
            message: "no such emergency".into(),
        };
        assert_eq!(said(&unknown.into()), "No such emergency.");
        // What the CLI adds says where it happened: kept.
        let wrapped = anyhow::Error::from(ClientError::NotLoggedIn).context("opening the profile");
        assert!(said(&wrapped).starts_with("opening the profile: "));
    }

    #[test]
    fn search_highlights_are_the_only_escape_codes() {
        let snippet = Snippet {
            text: "take \u{1b}[8mamox\u{9b}".into(),
            highlights: vec![clinic_protocol::rest::Highlight { start: 9, end: 13 }],
        };
        assert_eq!(
            marked(&snippet, true),
            "take \\u{1b}[8m\x1b[1mamox\x1b[0m\\u{9b}"
        );
        assert_eq!(marked(&snippet, false), "take \\u{1b}[8mamox\\u{9b}");
    }

    #[test]
    fn tail_speaks_in_sentences_never_debug_output() {
        let events = [
            ClientEvent::Connection {
                state: ConnectionState::Offline {
                    attempt: 2,
                    last_error: "The clinic server cannot be reached: nothing is listening on \
                                 port 8470."
                        .into(),
                    retry_in_ms: 1500,
                    not_your_server: false,
                },
                queued: 3,
                failed: 1,
            },
            ClientEvent::Connection {
                state: ConnectionState::Connecting {
                    attempt: 1,
                    last_error: None,
                    not_your_server: false,
                },
                queued: 0,
                failed: 0,
            },
            ClientEvent::Presence {
                user_id: UserId::from("u-1".to_owned()),
                online: true,
            },
            ClientEvent::ServerError {
                code: ErrorCode::RateLimited,
                message: "Too many frames.".into(),
            },
            ClientEvent::Alarm {
                alerting: false,
                ringing: vec![],
            },
            ClientEvent::Alarm {
                alerting: true,
                ringing: vec!["e-1".to_owned().into()],
            },
            ClientEvent::Availability {
                availability: Availability::DoNotDisturb,
            },
            ClientEvent::Warning {
                code: "diskFull".into(),
                message: "This computer's disk is nearly full.".into(),
            },
        ];
        let name = |id: &UserId| {
            if id.as_str() == "u-1" {
                "Dr. Asha Patel".to_owned()
            } else {
                id.to_string()
            }
        };
        let said: Vec<String> = events.iter().filter_map(|e| describe(e, &name)).collect();
        assert_eq!(said.len(), events.len());
        assert_eq!(
            said[0],
            "offline (The clinic server cannot be reached: nothing is listening on port 8470), \
             trying again in 2 s, 3 waiting to be sent, 1 not sent after a refusal"
        );
        assert_eq!(said[1], "connecting (try 1), 0 waiting to be sent");
        assert_eq!(said[2], "Dr. Asha Patel is online", "a name, not an id");
        assert_eq!(said[5], "ringing for 1 open emergency");
        for sentence in &said {
            assert!(
                !sentence.contains(['{', '}']) && !sentence.contains("Connecting"),
                "{sentence}"
            );
        }
        assert!(describe(&ClientEvent::ConversationsChanged, &name).is_none());
    }

    #[test]
    fn tail_names_who_resolved_an_emergency_not_who_took_it() {
        let emergency = clinic_protocol::Emergency {
            id: "e-1".to_owned().into(),
            message_id: "m-1".to_owned().into(),
            patient_id: UserId::from("p".to_owned()),
            patient_name: "Bob Kowalski".into(),
            doctor_id: UserId::from("d".to_owned()),
            state: EmergencyState::Acknowledged,
            raised_at: Utc::now(),
            written_at: None,
            reopened_at: None,
            escalated_at: None,
            alerted_at: None,
            alerted_doctors: 1,
            acknowledged_by: Some(UserId::from("d".to_owned())),
            acknowledged_by_name: Some("Dr. Asha Patel".into()),
            acknowledged_at: Some(Utc::now()),
            resolved_by: None,
            resolved_by_name: None,
            resolved_at: None,
            resolution_note: None,
        };
        let said = |e: &clinic_protocol::Emergency| {
            describe(
                &ClientEvent::EmergencyUpdated {
                    emergency: e.clone(),
                },
                &|id| id.to_string(),
            )
            .expect("said")
        };
        assert_eq!(
            said(&emergency),
            "emergency e-1 of Bob Kowalski is acknowledged by Dr. Asha Patel"
        );
        let resolved = clinic_protocol::Emergency {
            state: EmergencyState::Resolved,
            resolved_by: Some(UserId::from("n".to_owned())),
            resolved_by_name: Some("Dr. Minh Nguyen".into()),
            resolved_at: Some(Utc::now()),
            ..emergency
        };
        assert_eq!(
            said(&resolved),
            "emergency e-1 of Bob Kowalski is resolved by Dr. Minh Nguyen"
        );
    }
}
