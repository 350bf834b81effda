//! `clinic-server retention ...` and `clinic-server hold ...`: argument types and what each
//! command prints (the work is in `clinic_server::retention`).

use anyhow::Context;
use clap::Subcommand;
use clinic_protocol::text::for_terminal;
use clinic_server::retention::{Policy, admin};
use std::path::Path;

/// `--retention` and its floor override, shared by `serve` and `retention preview|run`.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// How long a conversation is kept after its last message: `off` (keep everything, the
    /// default) or a period such as `10y` or `3650d`. Patients' conversations are always kept
    /// until their 25th birthday; less than 6 years needs --retention-below-floor.
    #[arg(long = "retention", env = "CLINIC_RETENTION", default_value = "off")]
    pub retention: String,
    /// Allow a retention period under the 6-year floor.
    #[arg(long, env = "CLINIC_RETENTION_BELOW_FLOOR")]
    pub retention_below_floor: bool,
}

/// When `serve` runs retention each night.
#[derive(Debug, clap::Args)]
pub struct RetentionAtArg {
    /// The server's local time (HH:MM) of the nightly retention run.
    #[arg(long = "retention-at", env = "CLINIC_RETENTION_AT", default_value = "03:00",
          value_parser = time_of_day)]
    pub at: chrono::NaiveTime,
}

fn time_of_day(text: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| format!("{text:?} is not a time of day: write HH:MM, such as 03:00"))
}

impl RetentionArgs {
    /// The policy, or an error naming the setting and the accepted forms.
    pub fn policy(&self) -> anyhow::Result<Option<Policy>> {
        Policy::parse(&self.retention, self.retention_below_floor)
            .map_err(|e| anyhow::anyhow!("--retention (CLINIC_RETENTION): {e}"))
    }
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// List the conversations the policy would remove now (nothing is changed).
    Preview {
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Remove them now (as the server's nightly run does), finishing any run that was stopped.
    Run {
        #[command(flatten)]
        retention: RetentionArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Keep a patient's conversations (or the one with --doctor) from retention.
    Add {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        doctor: Option<String>,
        /// Why (a case, a request): kept with the hold.
        #[arg(long)]
        reason: String,
    },
    /// Active holds (every hold ever placed with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// End a hold. Nothing is deleted by this; the next retention run decides.
    Release {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

const OFF: &str = "Retention is off (--retention off): every conversation is kept.";

pub fn retention(data_dir: &Path, command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Preview { retention } => {
            let Some(policy) = retention.policy()? else {
                out!("{OFF}");
                return Ok(());
            };
            let due = admin::preview(data_dir, &policy).context("previewing retention")?;
            let (held, go): (Vec<_>, Vec<_>) = due.into_iter().partition(|d| d.held);
            out!("PATIENT\tDOCTOR\tMESSAGES\tLAST MESSAGE (UTC)\tKEEP UNTIL (UTC)\t");
            for d in go.iter().chain(&held) {
                out!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    for_terminal(&d.patient),
                    for_terminal(&d.doctor),
                    d.messages,
                    d.last_activity.format("%Y-%m-%d"),
                    d.keep_until.format("%Y-%m-%d"),
                    if d.held { "held (kept)" } else { "" }
                );
            }
            let messages: u64 = go.iter().map(|d| d.messages).sum();
            out!(
                "{} conversations ({messages} messages) would be removed under {}; {} kept by a hold.",
                go.len(),
                policy.period,
                held.len()
            );
            Ok(())
        }
        RetentionCommand::Run { retention } => {
            let Some(policy) = retention.policy()? else {
                out!("{OFF}");
                return Ok(());
            };
            let purged = admin::run(data_dir, &policy).context("running retention")?;
            for p in &purged {
                out!(
                    "removed {} messages of {} with {}",
                    p.messages,
                    for_terminal(&p.patient),
                    for_terminal(&p.doctor)
                );
            }
            out!(
                "{} conversations removed under {}.",
                purged.len(),
                policy.period
            );
            Ok(())
        }
    }
}

pub fn hold(data_dir: &Path, command: HoldCommand) -> anyhow::Result<()> {
    match command {
        HoldCommand::Add {
            patient,
            doctor,
            reason,
        } => {
            let id = admin::hold_add(data_dir, &patient, doctor.as_deref(), &reason)?;
            out!("hold {id} placed: retention keeps these conversations until it is released");
        }
        HoldCommand::List { all } => {
            let holds = admin::holds(data_dir, all)?;
            if holds.is_empty() {
                out!("no {}holds", if all { "" } else { "active " });
                return Ok(());
            }
            out!("ID\tPATIENT\tDOCTOR\tPLACED (UTC)\tREASON\tRELEASED (UTC)");
            for h in holds {
                let released = match (h.released_at, h.release_reason) {
                    (Some(at), Some(why)) => {
                        format!("{} ({})", at.format("%Y-%m-%d"), for_terminal(&why))
                    }
                    _ => String::new(),
                };
                out!(
                    "{}\t{}\t{}\t{}\t{}\t{released}",
                    h.id,
                    for_terminal(&h.patient),
                    for_terminal(h.doctor.as_deref().unwrap_or("(all doctors)")),
                    h.placed_at.format("%Y-%m-%d"),
                    for_terminal(&h.reason)
                );
            }
        }
        HoldCommand::Release { id, reason } => {
            admin::hold_release(data_dir, id, &reason)?;
            out!("hold {id} released; nothing was deleted");
        }
    }
    Ok(())
}
