//! `clinic-server audit ...`: argument types and what each command prints (the work is in
//! `clinic_server::audit`). Every bad argument is refused by the parser, before anything is read
//! or written.

use anyhow::bail;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Subcommand, ValueEnum};
use clinic_server::audit::head::Head;
use clinic_server::audit::{self, Action, Outcome, report};
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit rows, oldest first (reading them is itself audited).
    Query {
        /// From this day or time (YYYY-MM-DD, or RFC 3339 such as 2026-11-30T14:00:00Z).
        #[arg(long, value_parser = instant)]
        from: Option<DateTime<Utc>>,
        /// Before this day or time (same forms as --from).
        #[arg(long, value_parser = instant)]
        to: Option<DateTime<Utc>>,
        /// A username, or an administrator as admin:NAME.
        #[arg(long)]
        actor: Option<String>,
        /// A patient's username: rows about their data.
        #[arg(long)]
        patient: Option<String>,
        /// One action, such as HISTORY_READ (docs/audit.md lists them).
        #[arg(long, value_parser = action)]
        action: Option<Action>,
        /// OK, DENIED or FAILED.
        #[arg(long, value_parser = outcome)]
        outcome: Option<Outcome>,
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
    },
    /// Who read this patient's messages, files and emergencies: how often, first and last.
    AccessReport {
        #[arg(long)]
        patient: String,
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
    },
    /// Check the hash chain; exits 1 naming the first bad row, or the head it does not hold.
    Verify {
        /// A chain head kept outside the database (the server log's "audit checkpoint", the
        /// line a backup prints): ROW:HASH, or the hash alone. Verify fails unless the chain
        /// holds it there. May be given more than once.
        #[arg(long = "head", value_name = "ROW:HASH", value_parser = head)]
        heads: Vec<Head>,
    },
    /// Every text a message had: what edits replaced and what was unsent or retracted (the
    /// sealed record; reading it is audited as EXPORT).
    Originals {
        /// The message's id (`clinic history` shows ids).
        #[arg(long)]
        message: String,
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
    },
    /// Failed logins, refusals, messages taken back as sent to the wrong person (retractions
    /// and unsends) and exports of the last period.
    Review {
        /// How far back: hours or days, such as 24h or 7d.
        #[arg(long, default_value = "24h", value_parser = period)]
        since: i64,
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Jsonl,
}

impl From<FormatArg> for report::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Table => Self::Table,
            FormatArg::Csv => Self::Csv,
            FormatArg::Jsonl => Self::Jsonl,
        }
    }
}

fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "{text:?} is not a date: write YYYY-MM-DD (such as 2026-11-30) or a time such \
                 as 2026-11-30T14:00:00Z"
            )
        })
}

fn action(text: &str) -> Result<Action, String> {
    Action::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        format!(
            "{text:?} is not an audited action: give one of {}",
            names.join(", ")
        )
    })
}

fn head(text: &str) -> Result<Head, String> {
    text.parse()
}

fn outcome(text: &str) -> Result<Outcome, String> {
    Outcome::parse(text)
        .ok_or_else(|| format!("{text:?} is not an outcome: give OK, DENIED or FAILED"))
}

/// A period back from now, in milliseconds: digits then `h` or `d`.
fn period(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a period: write hours or days, such as 24h or 7d");
    let text = text.trim();
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|n| *n > 0 && digits.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(bad)?;
    let hour = 3_600_000i64;
    let ms = match unit {
        "h" => n.checked_mul(hour),
        "d" => n.checked_mul(24 * hour),
        _ => None,
    };
    ms.filter(|ms| *ms <= 100 * 365 * 24 * hour).ok_or_else(bad)
}

pub fn run(data_dir: &Path, command: AuditCommand) -> anyhow::Result<()> {
    let actor = audit::cli_actor();
    match command {
        AuditCommand::Query {
            from,
            to,
            actor: who,
            patient,
            action,
            outcome,
            format,
        } => {
            let filter = report::Filter {
                from: from.map(|t| t.timestamp_millis()),
                to: to.map(|t| t.timestamp_millis()),
                actor: who,
                patient,
                action,
                outcome,
            };
            let rows = report::query(data_dir, &actor, &filter)?;
            out!(@raw "{}", report::render_entries(format.into(), &rows));
        }
        AuditCommand::AccessReport { patient, format } => {
            let rows = report::access_report(data_dir, &actor, &patient)?;
            out!(@raw "{}", report::render_access(format.into(), &rows));
        }
        AuditCommand::Review { since, format } => {
            let from = Utc::now().timestamp_millis() - since;
            let rows = report::review(data_dir, &actor, from)?;
            out!(@raw "{}", report::render_entries(format.into(), &rows));
        }
        AuditCommand::Originals { message, format } => {
            let rows = audit::originals::originals(data_dir, &actor, &message)?;
            if rows.is_empty() && matches!(format, FormatArg::Table) {
                out!("message {message} was never edited, unsent or retracted");
            } else {
                out!(@raw "{}", audit::originals::render(format.into(), &rows));
            }
        }
        AuditCommand::Verify { heads } => match report::verify(data_dir, &actor, &heads)? {
            Ok(rows) if heads.is_empty() => {
                out!("the audit log is intact: {rows} rows, every link checked");
            }
            Ok(rows) => out!(
                "the audit log is intact: {rows} rows, every link checked, and it holds the {} \
                 chain head{} you gave",
                heads.len(),
                if heads.len() == 1 { "" } else { "s" }
            ),
            Err(unverified) => bail!("{unverified}"),
        },
    }
    Ok(())
}
