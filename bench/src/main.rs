//! `clinic-bench SCENARIO`: provisions a fresh data folder, starts the release server pinned to
//! one core, runs the scenario from this process pinned to the other, stops the server, and
//! prints (and appends to docs/bench/results.jsonl) one JSON line and one table row per result.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use clinic_bench::load::Reports;
use clinic_bench::scenarios::{self, Env, cost::Cost, ramp::Ramp, restart::Restart};
use clinic_bench::server::{self, Durability, ServerSpec};
use clinic_bench::stack::Stack;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "clinic-bench",
    about = "Benchmarks of the clinic messaging server"
)]
struct Cli {
    /// The server binary (default: clinic-server next to this binary).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    /// Core for the server (`taskset -c`); -1 for none.
    #[arg(
        long,
        global = true,
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    server_cpu: i64,
    /// Core for this generator; -1 for none.
    #[arg(
        long,
        global = true,
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    gen_cpu: i64,
    #[arg(long, global = true, value_enum, default_value_t = Sync::Full)]
    synchronous: Sync,
    /// An extra argument for `clinic-server serve` (repeat for several), e.g.
    /// `--serve-arg=--idle-timeout-secs --serve-arg=120`.
    #[arg(long = "serve-arg", global = true, allow_hyphen_values = true)]
    serve_args: Vec<String>,
    /// Run clinic-server with `--tls off` (plain HTTP/WebSocket on loopback), only to compare
    /// with results recorded before TLS; by default it serves HTTPS/WSS with its own clinic CA,
    /// as in a clinic, and the generator trusts that CA.
    #[arg(long, global = true)]
    plain: bool,
    /// The reference server's folder (with `npm ci` done).
    #[arg(long, global = true)]
    reference_dir: Option<PathBuf>,
    /// The reference server's `synchronous` (default: better-sqlite3's own, NORMAL in WAL).
    #[arg(long, global = true, value_enum)]
    reference_synchronous: Option<Sync>,
    /// Results file (JSON lines are appended); "-" for none.
    #[arg(long, global = true)]
    out: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Sync {
    Full,
    Normal,
}

impl From<Sync> for Durability {
    fn from(sync: Sync) -> Self {
        match sync {
            Sync::Full => Durability::Full,
            Sync::Normal => Durability::Normal,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StackArg {
    Clinic,
    Reference,
}

/// The S3 ramp's parameters (also `versus`).
#[derive(Debug, Args)]
struct RampArgs {
    #[arg(long, default_value_t = 1000)]
    users: usize,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,1500,2000,2500,3000,4000,5000,6000,8000,10000,12500,15000,20000,25000,30000,40000,50000"
    )]
    rates: Vec<f64>,
    #[arg(long, default_value_t = 5)]
    step_secs: u64,
    #[arg(long, default_value_t = 50.0)]
    p99_limit_ms: f64,
    /// Every socket also reports what it received as delivered, as the desktop app does (the
    /// ids gathered for 500 ms, one `message:delivered` frame); clinic-server only
    #[arg(long)]
    receipts: bool,
    /// Every socket also marks each message it receives read at once (`message:read`), as the
    /// desktop app does with the conversation open; clinic-server only
    #[arg(long)]
    reads: bool,
    /// The sender edits every Nth message it sent once acked (`message:edit`, as the app's
    /// edit); 0: none; clinic-server only
    #[arg(long, default_value_t = 0)]
    edits: u32,
}

impl RampArgs {
    fn ramp(self) -> Ramp {
        Ramp {
            users: self.users,
            rates: self.rates,
            step: Duration::from_secs(self.step_secs),
            p99_limit_ms: self.p99_limit_ms,
            reports: Reports {
                delivered: self.receipts,
                read: self.reads,
                edit_every: self.edits,
            },
        }
    }
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Idle connections: RSS per connection and connects/s at each level.
    S1 {
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
        levels: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        hold_secs: u64,
    },
    /// Steady clinic day: end-to-end latency at a modest rate.
    S2 {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 20)]
        secs: u64,
    },
    /// Ramp until p99 passes the limit: the sustained maximum.
    S3(RampArgs),
    /// The S3 ramp against clinic-server, then against the reference server (the seed's Node
    /// stack, bench/reference): both sustained rates and their ratio.
    Versus(RampArgs),
    /// CPU and bytes written per message at steady rates (from /proc).
    Cost {
        #[arg(long, value_enum, default_value_t = StackArg::Clinic)]
        stack: StackArg,
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, value_delimiter = ',', default_value = "1000,3000")]
        rates: Vec<f64>,
        #[arg(long, default_value_t = 10)]
        step_secs: u64,
        /// Every socket also reports what it received as delivered, as the desktop app does
        /// (the ids gathered for 500 ms, one `message:delivered` frame); clinic-server only
        #[arg(long)]
        receipts: bool,
        /// Every socket also marks each message it receives read at once (`message:read`), as
        /// the desktop app does with the conversation open; clinic-server only
        #[arg(long)]
        reads: bool,
        /// The sender edits every Nth message it sent once acked (`message:edit`, as the
        /// app's edit); 0: none; clinic-server only
        #[arg(long, default_value_t = 0)]
        edits: u32,
        /// Messages written into the database before the server starts, spread over the
        /// conversations and all read by both sides, so that its tables and indexes are a
        /// running clinic's size, not empty; clinic-server only
        #[arg(long, default_value_t = 0)]
        prefill: usize,
    },
    /// The send path's CPU steps outside the database, before and after issue 15's CPU-path
    /// work, timed in this process (best of `rounds` rounds of `iterations` calls each).
    CpuPath {
        #[arg(long, default_value_t = 15)]
        rounds: u32,
        #[arg(long, default_value_t = 20_000)]
        iterations: u32,
    },
    /// Restart after SIGKILL under load with a large database: time to /healthz and a login.
    Restart {
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        /// Conversations the messages are spread over (and users / 2 of the load).
        #[arg(long, default_value_t = 500)]
        pairs: usize,
        /// Kill-and-restart cycles (one seeding).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 2000.0)]
        load_rate: f64,
        #[arg(long, default_value_t = 3000)]
        kill_after_ms: u64,
    },
    /// Emergency fan-out to many doctors.
    S4 {
        #[arg(long, default_value_t = 1000)]
        doctors: usize,
        #[arg(long, default_value_t = 30)]
        emergencies: usize,
        #[arg(long, default_value_t = 200)]
        spacing_ms: u64,
        /// More pairs of a patient and a doctor, connected throughout (their doctors get the
        /// alerts too; the fan-out is measured at the others).
        #[arg(long, default_value_t = 0)]
        background_pairs: usize,
        /// Ordinary chat between those pairs meanwhile, in msg/s: from 2.5 s before the first
        /// emergency, measured from the first until a second after the last.
        #[arg(long, default_value_t = 0.0, requires = "background_pairs")]
        background: f64,
        /// One more doctor takes each emergency half the spacing after its first alert
        /// arrived; reports how long each take took (`take`).
        #[arg(long)]
        take: bool,
        /// With `--take`, that doctor then resolves each emergency (with a note) a quarter of
        /// the spacing after taking it; reports how long each resolution took (`resolve`).
        #[arg(long, requires = "take")]
        resolve: bool,
    },
    /// Reconnect storm.
    S5 {
        #[arg(long, default_value_t = 5000)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        doctors: usize,
        #[arg(long, default_value_t = 2)]
        per_client: usize,
    },
    /// History: latest page and paging back through a long conversation.
    S6 {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 200)]
        latest: usize,
    },
    /// Search: two-word and part-of-word searches over a large store, the index size, the
    /// same searches over a client's cache, and what the index costs each write.
    S8 {
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        #[arg(long, default_value_t = 400)]
        queries: usize,
        #[arg(long, default_value_t = 100_000)]
        cached: usize,
    },
    /// Slow consumers that never read.
    S7 {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 5)]
        slow: usize,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// Not a scenario: writes a long conversation between two existing accounts straight into a
    /// data folder whose server is stopped (for the desktop app's benchmarks).
    Seed {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        patient: String,
        #[arg(long)]
        doctor: String,
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
    },
}

fn cpu(value: i64) -> Option<usize> {
    usize::try_from(value).ok()
}

fn main() -> anyhow::Result<()> {
    clinic_server::tls::install_provider();
    let cli = Cli::parse();
    if let Some(core) = cpu(cli.gen_cpu) {
        server::pin_self(core).context("pinning the generator")?;
    }
    let binary = match cli.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no binary folder")?
            .join("clinic-server"),
    };
    let out = match cli.out.as_deref() {
        Some("-") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/bench/results.jsonl"
        ))),
    };
    let env = Env {
        server: ServerSpec {
            binary,
            cpu: cpu(cli.server_cpu),
            durability: cli.synchronous.into(),
            serve_args: cli.serve_args,
            tls: !cli.plain,
            reference_dir: cli.reference_dir.unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/reference"))
            }),
            reference_durability: cli.reference_synchronous.map(Durability::from),
        },
        out,
    };
    // One thread: the generator is pinned to one core, and a single-threaded runtime spends it
    // on sockets rather than on work stealing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(&env, cli.scenario))
}

async fn run(env: &Env, scenario: Scenario) -> anyhow::Result<()> {
    match scenario {
        Scenario::S1 { levels, hold_secs } => {
            scenarios::idle::run(env, &levels, Duration::from_secs(hold_secs)).await
        }
        Scenario::S2 { users, rate, secs } => {
            scenarios::steady::run(env, users, rate, Duration::from_secs(secs)).await
        }
        Scenario::S3(args) => scenarios::ramp::run(env, &args.ramp()).await,
        Scenario::Versus(args) => scenarios::versus::run(env, &args.ramp()).await,
        Scenario::Cost {
            stack,
            users,
            rates,
            step_secs,
            receipts,
            reads,
            edits,
            prefill,
        } => {
            let cost = Cost {
                stack: match stack {
                    StackArg::Clinic => Stack::Clinic,
                    StackArg::Reference => Stack::Reference,
                },
                users,
                rates,
                step: Duration::from_secs(step_secs),
                reports: Reports {
                    delivered: receipts,
                    read: reads,
                    edit_every: edits,
                },
                prefill,
            };
            scenarios::cost::run(env, &cost).await
        }
        Scenario::CpuPath { rounds, iterations } => {
            scenarios::cpu_path::run(env, rounds, iterations)
        }
        Scenario::Restart {
            messages,
            pairs,
            runs,
            load_rate,
            kill_after_ms,
        } => {
            let restart = Restart {
                messages,
                pairs,
                runs,
                load_rate,
                kill_after: Duration::from_millis(kill_after_ms),
            };
            scenarios::restart::run(env, &restart).await
        }
        Scenario::S4 {
            doctors,
            emergencies,
            spacing_ms,
            background_pairs,
            background,
            take,
            resolve,
        } => {
            let fanout = scenarios::fanout::Fanout {
                doctors,
                emergencies,
                spacing: Duration::from_millis(spacing_ms),
                background_pairs,
                background,
                take,
                resolve,
            };
            scenarios::fanout::run(env, &fanout).await
        }
        Scenario::S5 {
            clients,
            doctors,
            per_client,
        } => scenarios::storm::run(env, clients, doctors, per_client).await,
        Scenario::S6 { messages, latest } => scenarios::history::run(env, messages, latest).await,
        Scenario::S8 {
            messages,
            queries,
            cached,
        } => scenarios::search::run(env, messages, queries, cached).await,
        Scenario::S7 {
            users,
            slow,
            rate,
            secs,
        } => scenarios::slow::run(env, users, slow, rate, Duration::from_secs(secs)).await,
        Scenario::Seed {
            data_dir,
            patient,
            doctor,
            messages,
        } => clinic_server::bulk::seed_conversation_between(&data_dir, &patient, &doctor, messages)
            .with_context(|| format!("seeding {}", data_dir.display())),
    }
}
