//! Reading the audit log for people (`clinic-server audit query|access-report|review|verify`):
//! filters, the three output formats, and the row that records each reading.

use super::head::{Head, Missing};
use super::{Action, Broken, Event, Outcome, record};
use crate::accounts::{AccountError, open};
use crate::store::writer::run_direct;
use rusqlite::{Connection, params_from_iter, types::Value};
use serde::Serialize;
use std::path::Path;

/// Which rows `query` returns (every field optional; all given ones must match).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// From this time (inclusive), ms since the epoch.
    pub from: Option<i64>,
    /// Before this time (exclusive), ms since the epoch.
    pub to: Option<i64>,
    /// A username, a user id, or `admin:NAME`.
    pub actor: Option<String>,
    /// A patient's username or id.
    pub patient: Option<String>,
    pub action: Option<Action>,
    pub outcome: Option<Outcome>,
}

/// One row as shown (ids resolved to usernames where they are users).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: Option<String>,
    pub action: String,
    pub patient: Option<String>,
    pub doctor: Option<String>,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    /// How many attempts the row stands for: a row of refusals held past an account's rate
    /// counts them (`repeated` in its detail); every other row is one (and JSONL leaves it out).
    #[serde(skip_serializing_if = "is_one")]
    pub times: u64,
}

/// `access-report`: one line per person and kind of read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    pub reader: Option<String>,
    pub action: String,
    pub times: i64,
    pub first: String,
    pub last: String,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Jsonl,
}

/// Reads of a patient's data, for `access-report`.
const READS: &[Action] = &[
    Action::HistoryRead,
    Action::SyncRead,
    Action::Search,
    Action::FileDownload,
    Action::EmergencyRead,
    Action::VersionsRead,
    Action::ConversationsRead,
    Action::ContactsRead,
    Action::NotificationsRead,
    Action::PatientList,
];

/// Whether a row with no patient of its own names patient `?1` in its detail: reads that span
/// several conversations (a search, notifications, the emergency list, the patient lookup)
/// list them in `patients` (ids) or `conversations` (a search's `[patient, doctor]` pairs,
/// refusals held together as `"patient/doctor"`). The `instr` test is a cheap pre-filter;
/// `json_each` decides.
const DETAIL_NAMES_PATIENT: &str = "(patient_id IS NULL AND instr(detail, ?1) > 0 \
     AND json_valid(detail) AND (\
     EXISTS (SELECT 1 FROM json_each(detail, '$.patients') WHERE value = ?1) \
     OR EXISTS (SELECT 1 FROM json_each(detail, '$.conversations') \
     WHERE (type = 'text' AND substr(value, 1, length(?1) + 1) = ?1 || '/') \
     OR (type = 'array' AND json_extract(value, '$[0]') = ?1))))";

/// Whether a read of one's own conversation list or contacts showed patient `?1`: the patient
/// reading her own list, or a doctor in a conversation with her since before the read (a
/// relation is never closed). These rows name no patient: a doctor's list holds every patient
/// of theirs, and their ids at every connection would grow the log without bound.
const OWN_LIST_SHOWS_PATIENT: &str = "(patient_id IS NULL \
     AND action IN ('CONVERSATIONS_READ', 'CONTACTS_READ') \
     AND ((actor = ?1 AND action = 'CONVERSATIONS_READ') \
     OR EXISTS (SELECT 1 FROM conversations c WHERE c.patient_id = ?1 \
     AND c.doctor_id = audit.actor AND c.created_at <= audit.at)))";

/// Users are shown by username; other actors (`admin:NAME`, `system`) as they are.
const NAME_OF: &str = "coalesce((SELECT username FROM users WHERE id = {col}), {col})";

fn name_of(col: &str) -> String {
    NAME_OF.replace("{col}", col)
}

pub(super) fn at_text(ms: i64) -> String {
    crate::time::from_ms(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The user id of `who` (a username or an id), or the text itself for other actors.
fn resolve(
    conn: &Connection,
    flag: &str,
    who: &str,
    must_exist: bool,
) -> Result<String, AccountError> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT id, role FROM users WHERE username = lower(?1) OR id = ?1",
            [who.trim()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    match found {
        // Only a patient's data is read about: another account there would find nothing, which
        // a reader takes for "nobody read anything".
        Some((_, role)) if flag == "--patient" && role != "PATIENT" => {
            Err(AccountError::Invalid(format!(
                "--patient: {} is not a patient's account but {}'s",
                who.trim(),
                match role.as_str() {
                    "DOCTOR" => "a doctor",
                    "ADMIN" => "an administrator",
                    _ => "another kind of account",
                }
            )))
        }
        Some((id, _)) => Ok(id),
        None if must_exist => Err(AccountError::Invalid(format!(
            "{flag}: there is no user {who:?} (give a username, as `clinic-server user list` shows)"
        ))),
        None => Ok(who.trim().to_owned()),
    }
}

fn select(conn: &Connection, filter: &Filter) -> Result<Vec<Entry>, AccountError> {
    let mut sql = format!(
        "SELECT id, at, {}, action, {}, {}, subject, outcome, detail FROM audit WHERE 1 = 1",
        name_of("actor"),
        name_of("patient_id"),
        name_of("doctor_id")
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(from) = filter.from {
        sql.push_str(" AND at >= ?");
        args.push(from.into());
    }
    if let Some(to) = filter.to {
        sql.push_str(" AND at < ?");
        args.push(to.into());
    }
    if let Some(actor) = &filter.actor {
        sql.push_str(" AND actor = ?");
        args.push(resolve(conn, "--actor", actor, !actor.contains(':'))?.into());
    }
    if let Some(patient) = &filter.patient {
        let clause =
            format!(" AND (patient_id = ?1 OR {DETAIL_NAMES_PATIENT} OR {OWN_LIST_SHOWS_PATIENT})");
        let id = resolve(conn, "--patient", patient, true)?;
        sql.push_str(&clause.replace("?1", &format!("?{}", args.len() + 1)));
        args.push(id.into());
    }
    if let Some(action) = filter.action {
        sql.push_str(" AND action = ?");
        args.push(action.as_str().to_owned().into());
    }
    if let Some(outcome) = filter.outcome {
        sql.push_str(" AND outcome = ?");
        args.push(outcome.as_str().to_owned().into());
    }
    sql.push_str(" ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            Ok(Entry {
                id: r.get(0)?,
                at: at_text(r.get(1)?),
                actor: r.get(2)?,
                action: r.get(3)?,
                patient: r.get(4)?,
                doctor: r.get(5)?,
                subject: r.get(6)?,
                outcome: r.get(7)?,
                times: times(r.get::<_, Option<String>>(8)?.as_deref()),
                detail: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(times: &u64) -> bool {
    *times == 1
}

/// How many attempts a row with `detail` stands for (see [`Entry::times`]).
fn times(detail: Option<&str>) -> u64 {
    detail
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|d| d.get("repeated").and_then(serde_json::Value::as_u64))
        .unwrap_or(1)
}

/// Reads with `read` and records that `actor` did (one transaction: if the reading cannot be
/// recorded, nothing is returned).
fn audited_read<T>(
    data_dir: &Path,
    actor: &str,
    what: serde_json::Value,
    patient: Option<&str>,
    read: impl FnOnce(&Connection) -> Result<T, AccountError>,
) -> Result<T, AccountError> {
    let mut conn = open(data_dir)?;
    let mut failure = None;
    let result = run_direct(&mut conn, |conn, _| {
        let value = read(conn).map_err(|e| {
            failure = Some(e);
            crate::error::ApiError::bad_request("refused")
        })?;
        let mut event = Event::new(actor, Action::AuditRead).detail(what);
        if let Some(patient) = patient {
            event.patient = Some(resolve(conn, "--patient", patient, true).map_err(|e| {
                failure = Some(e);
                crate::error::ApiError::bad_request("refused")
            })?);
        }
        record(conn, &event)?;
        Ok::<_, crate::error::ApiError>(value)
    });
    match (result, failure) {
        (_, Some(err)) => Err(err),
        (result, None) => Ok(result?),
    }
}

fn filter_json(filter: &Filter) -> serde_json::Value {
    serde_json::json!({
        "from": filter.from.map(at_text),
        "to": filter.to.map(at_text),
        "actor": filter.actor,
        "patient": filter.patient,
        "action": filter.action.map(Action::as_str),
        "outcome": filter.outcome.map(Outcome::as_str),
    })
}

/// `audit query`: the rows matching `filter`, oldest first.
pub fn query(data_dir: &Path, actor: &str, filter: &Filter) -> Result<Vec<Entry>, AccountError> {
    let what = serde_json::json!({ "command": "query", "filter": filter_json(filter) });
    audited_read(data_dir, actor, what, None, |conn| select(conn, filter))
}

/// `audit access-report --patient P`: who read this patient's data, how often, first and last.
/// Who read one patient's data (`?1`): reads only, grouped by reader and kind.
fn access_sql() -> String {
    let actions = READS
        .iter()
        .map(|a| format!("'{}'", a.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // The first part's last condition repeats what the action list implies: it is the partial
    // index's own condition (schema v12), which SQLite needs to see spelled out to use that
    // index. The second part reads the rows of reads that span several patients (no index: a
    // scan of the log, for a report asked for now and then).
    format!(
        "SELECT {}, action, count(*), min(at), max(at) FROM (\
         SELECT actor, action, at FROM audit \
         WHERE patient_id = ?1 AND outcome = 'OK' AND action IN ({actions}) \
         AND action != 'MESSAGE_CREATE' \
         UNION ALL SELECT actor, action, at FROM audit \
         WHERE outcome = 'OK' AND action IN ({actions}) \
         AND ({DETAIL_NAMES_PATIENT} OR {OWN_LIST_SHOWS_PATIENT})) \
         GROUP BY actor, action ORDER BY max(at) DESC",
        name_of("actor")
    )
}

pub fn access_report(
    data_dir: &Path,
    actor: &str,
    patient: &str,
) -> Result<Vec<Access>, AccountError> {
    let what = serde_json::json!({ "command": "access-report" });
    audited_read(data_dir, actor, what, Some(patient), |conn| {
        let id = resolve(conn, "--patient", patient, true)?;
        let mut stmt = conn.prepare(&access_sql())?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(Access {
                    reader: r.get(0)?,
                    action: r.get(1)?,
                    times: r.get(2)?,
                    first: at_text(r.get(3)?),
                    last: at_text(r.get(4)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })
}

/// `audit review --since`: what a privacy officer looks at: failed logins, refusals, misdirected
/// retractions and unsends (doctors' and patients'), exports and failed verifications since
/// `since` (ms since the epoch).
pub fn review(data_dir: &Path, actor: &str, since: i64) -> Result<Vec<Entry>, AccountError> {
    let what = serde_json::json!({ "command": "review", "since": at_text(since) });
    audited_read(data_dir, actor, what, None, |conn| {
        let all = select(
            conn,
            &Filter {
                from: Some(since),
                ..Filter::default()
            },
        )?;
        Ok(all
            .into_iter()
            .filter(|e| {
                e.action == Action::LoginFailed.as_str()
                    || e.outcome != Outcome::Ok.as_str()
                    || e.action == Action::Export.as_str()
                    || ((e.action == Action::MessageRetract.as_str()
                        || e.action == Action::MessageUnsend.as_str())
                        && e.detail
                            .as_deref()
                            .is_some_and(|d| d.contains("\"misdirected\":true")))
            })
            .collect())
    })
}

/// Why `audit verify` failed: the chain is broken, or it is intact but does not hold a head
/// kept outside the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    #[error("the audit log is broken at row {}: {}", .0.row, .0.problem)]
    Broken(Broken),
    #[error(transparent)]
    Head(Missing),
}

/// `audit verify [--head ...]`: checks the chain, then that it holds every head in `heads`, and
/// records the check (outcome FAILED when it failed).
pub fn verify(
    data_dir: &Path,
    actor: &str,
    heads: &[Head],
) -> Result<Result<i64, Unverified>, AccountError> {
    let mut conn = open(data_dir)?;
    Ok(run_direct(&mut conn, |conn, _| {
        let verdict = match super::verify(conn)? {
            Err(broken) => Err(Unverified::Broken(broken)),
            Ok(rows) => match super::head::first_missing(conn, heads)? {
                Some(missing) => Err(Unverified::Head(missing)),
                None => Ok(rows),
            },
        };
        let event = Event::new(actor, Action::AuditVerify);
        let event = match &verdict {
            Ok(rows) => event.detail(serde_json::json!({ "rows": rows, "heads": heads.len() })),
            Err(Unverified::Broken(broken)) => event
                .outcome(Outcome::Failed)
                .detail(serde_json::json!({ "row": broken.row, "problem": broken.problem })),
            Err(Unverified::Head(missing)) => {
                event.outcome(Outcome::Failed).detail(serde_json::json!({
                    "headRow": missing.head.row,
                    "headHash": missing.head.hash,
                    "problem": missing.problem
                }))
            }
        };
        record(conn, &event)?;
        Ok::<_, crate::error::ApiError>(verdict)
    })?)
}

/// A CSV/table cell that a spreadsheet would run as a formula is neutralised with a leading `'`.
fn neutral(cell: &str) -> String {
    // The full-width and small forms too: some spreadsheets read `＝1+1` as a formula.
    if cell.starts_with([
        '=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠', '﹦', '﹢', '﹣',
    ]) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// A cell as a terminal shows it: no character of it can act on the terminal (a failed login's
/// name is whatever was typed), and it cannot break the row (a line break shows as `\n`).
fn shown(cell: &str) -> String {
    neutral(&clinic_protocol::text::for_terminal(cell))
}

fn csv_cell(cell: &str) -> String {
    let cell = shown(cell);
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// Renders `rows` (given as header + cells) in `format`; `json` gives each row's JSON object.
pub(super) fn render_rows<T: Serialize>(
    format: Format,
    header: &[&str],
    rows: &[T],
    cells: impl Fn(&T) -> Vec<String>,
) -> String {
    let mut out = String::new();
    match format {
        Format::Jsonl => {
            for row in rows {
                let json = serde_json::to_string(row).unwrap_or_default();
                out.push_str(&clinic_protocol::text::json_for_terminal(&json));
                out.push('\n');
            }
        }
        Format::Csv => {
            out.push_str(&header.join(","));
            out.push('\n');
            for row in rows {
                let line: Vec<String> = cells(row).iter().map(|c| csv_cell(c)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
        }
        Format::Table => {
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|r| cells(r).iter().map(|c| shown(c)).collect())
                .collect();
            let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
            for line in &body {
                for (w, c) in widths.iter_mut().zip(line) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let mut push = |line: Vec<String>| {
                let padded: Vec<String> = line
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                out.push_str(padded.join("  ").trim_end());
                out.push('\n');
            };
            push(header.iter().map(|h| (*h).to_owned()).collect());
            for line in body {
                push(line);
            }
        }
    }
    out
}

fn opt(value: Option<&String>) -> String {
    value.cloned().unwrap_or_default()
}

/// Audit rows in `format`.
pub fn render_entries(format: Format, rows: &[Entry]) -> String {
    render_rows(
        format,
        &[
            "ID", "AT", "ACTOR", "ACTION", "PATIENT", "DOCTOR", "SUBJECT", "OUTCOME", "DETAIL",
            "TIMES",
        ],
        rows,
        |e| {
            vec![
                e.id.to_string(),
                e.at.clone(),
                opt(e.actor.as_ref()),
                e.action.clone(),
                opt(e.patient.as_ref()),
                opt(e.doctor.as_ref()),
                opt(e.subject.as_ref()),
                e.outcome.clone(),
                opt(e.detail.as_ref()),
                e.times.to_string(),
            ]
        },
    )
}

/// An access report in `format`.
pub fn render_access(format: Format, rows: &[Access]) -> String {
    render_rows(
        format,
        &["READER", "ACTION", "TIMES", "FIRST", "LAST"],
        rows,
        |a| {
            vec![
                opt(a.reader.as_ref()),
                a.action.clone(),
                a.times.to_string(),
                a.first.clone(),
                a.last.clone(),
            ]
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_quoted() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert!(csv_cell("＝1+1").contains("'＝1+1"), "full-width too");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
    }

    /// A failed login's name is whatever was typed: in every format it reaches the terminal
    /// with nothing that acts on it, and CSV stays one row per line.
    #[test]
    fn hostile_cells_cannot_act_on_the_terminal() {
        #[derive(Serialize)]
        struct Row {
            name: String,
        }
        let names = [
            "x\u{1b}[8m",
            "\u{1b}]52;c;aGk=\u{7}",
            "\u{1b}c",
            "a\u{9b}2J",
            "root\u{202e}nimda",
            "=cmd\n2026-12-05,forged",
        ];
        let rows: Vec<Row> = names.iter().map(|n| Row { name: (*n).into() }).collect();
        for format in [Format::Table, Format::Csv, Format::Jsonl] {
            let out = render_rows(format, &["NAME"], &rows, |r| vec![r.name.clone()]);
            assert!(
                !out.chars()
                    .any(|c| (c.is_control() && c != '\n') || clinic_protocol::text::is_format(c)),
                "{format:?}: {out:?}"
            );
            let header = usize::from(format != Format::Jsonl);
            assert_eq!(
                out.lines().count(),
                header + names.len(),
                "{format:?}: {out}"
            );
        }
        let csv = render_rows(Format::Csv, &["NAME"], &rows, |r| vec![r.name.clone()]);
        assert!(csv.contains("x\\u{1b}[8m\n"), "{csv}");
        assert!(csv.contains("root\\u{202e}nimda"), "{csv}");
        assert!(csv.contains("\"'=cmd\\n2026-12-05,forged\""), "{csv}");
    }

    /// A patient's refusals are found whether their row names the patient in its columns or,
    /// held together with others, in its detail; a held row counts the attempts it stands for.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_patients_refusals_are_found_in_rows_held_together() {
        use crate::audit::{Action, Event, refusals::Refusals};
        use clinic_protocol::{ConversationKey, UserId};
        let dir = tempfile::tempdir().unwrap();
        crate::datadir::init(dir.path()).unwrap();
        let conn = crate::accounts::open(dir.path()).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, username, name, role, password_hash, created_at) VALUES
                 ('p3', 'pat3', 'P', 'PATIENT', 'x', 0), ('p30', 'pat30', 'P', 'PATIENT', 'x', 0),
                 ('p77', 'pat77', 'P', 'PATIENT', 'x', 0);",
        )
        .unwrap();
        let refusals = Refusals::new(crate::config::Rate::new(0.0, 0.0));
        for i in 0..40 {
            let key = ConversationKey::new(UserId::from(format!("p{i}")), UserId::from("d"));
            let denied = Event::new("eve", Action::MessageCreate)
                .conversation(&key)
                .denied(&crate::error::ApiError::forbidden("no"));
            assert!(matches!(
                refusals.admit(denied),
                crate::audit::refusals::Admitted::Held
            ));
        }
        for row in refusals.take_held() {
            crate::audit::record(&conn, &row).unwrap();
        }
        let found = |patient: &str| {
            let filter = Filter {
                patient: Some(patient.into()),
                outcome: Some(Outcome::Denied),
                ..Filter::default()
            };
            select(&conn, &filter).unwrap()
        };
        // p0..p15 kept apart, p16..p39 together ("p30/d" must not pass for p3's).
        let kept_apart = found("pat3");
        assert_eq!(kept_apart.len(), 1, "{kept_apart:?}");
        assert_eq!(kept_apart[0].patient.as_deref(), Some("pat3"));
        assert_eq!(kept_apart[0].times, 1);
        let together = found("pat30");
        assert_eq!(together.len(), 1, "{together:?}");
        assert_eq!(together[0].patient, None);
        assert_eq!(together[0].times, 24);
        let all = select(&conn, &Filter::default()).unwrap();
        assert_eq!(all.iter().map(|e| e.times).sum::<u64>(), 40);
        assert_eq!(found("pat77").len(), 0, "never refused");
    }

    /// The access report reads one patient's rows through the partial index, which the send
    /// path does not write (schema v12).
    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_access_report_uses_the_patient_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::store::open_write(&dir.path().join("t.db"), crate::Synchronous::Normal).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", access_sql()))
            .unwrap()
            .query_map(["p"], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("audit_patient_access")),
            "{plan:?}"
        );
    }
}
