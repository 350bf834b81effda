//! Retention: off unless the clinic turns it on. When on, a conversation is kept until
//! `max(last activity + the period, the patient's 25th birthday)`, never less than a 6-year
//! floor without an explicit override, and never while a legal hold covers it. Purges run in
//! bounded steps (one transaction each), so a killed run resumes where it stopped.

pub mod admin;
pub(crate) mod nightly;

use crate::store::StoreError;
pub(crate) use crate::store::retention::remove_doomed;
use crate::store::retention::{self as sql, Batch, Unfinished};
use crate::store::writer::Seqs;
use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use clinic_protocol::ConversationKey;
use rusqlite::Connection;
use std::fmt;
use std::str::FromStr;

pub use crate::store::retention::{Due, Hold};

/// The shortest period allowed without `--retention-below-floor`.
pub const FLOOR_YEARS: u32 = 6;
/// A patient's conversations are kept at least until this birthday (records of minors).
pub const MINOR_UNTIL_AGE: u32 = 25;
/// Messages removed per transaction: short enough not to hold up live sends.
pub(crate) const BATCH: u32 = 500;

/// How long a conversation is kept after its last message: `30d` or `10y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Days(u32),
    Years(u32),
}

impl Period {
    fn after(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let later = match self {
            Self::Days(d) => t.checked_add_days(Days::new(u64::from(d))),
            Self::Years(y) => t.checked_add_months(Months::new(y.saturating_mul(12))),
        };
        later.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn below_floor(self) -> bool {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        self.after(start) < Self::Years(FLOOR_YEARS).after(start)
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let form = || {
            format!("{text:?} is not a period: write a number of days or years, such as 30d or 10y")
        };
        let text = text.trim();
        let (number, days) = match (text.strip_suffix('d'), text.strip_suffix('y')) {
            (Some(n), _) => (n, true),
            (_, Some(n)) => (n, false),
            _ => return Err(form()),
        };
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(form());
        }
        let n: u32 = number.parse().map_err(|_| form())?;
        match (n, days) {
            (0, _) => Err(form()),
            (n, true) => Ok(Self::Days(n)),
            (n, false) => Ok(Self::Years(n)),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Days(d) => write!(f, "{d}d"),
            Self::Years(y) => write!(f, "{y}y"),
        }
    }
}

/// The clinic's retention policy (`serve --retention`); `None` in the configuration means off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub period: Period,
}

impl Policy {
    /// The policy for `--retention VALUE`: `off` (`None`) or a period at or above the floor
    /// (below it only with `below_floor_allowed`).
    pub fn parse(text: &str, below_floor_allowed: bool) -> Result<Option<Self>, String> {
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let period: Period = text.parse()?;
        if period.below_floor() && !below_floor_allowed {
            return Err(format!(
                "{period} is below the {FLOOR_YEARS}-year floor; give --retention-below-floor \
                 (CLINIC_RETENTION_BELOW_FLOOR=true) if the clinic really must keep less"
            ));
        }
        Ok(Some(Self { period }))
    }

    /// When a conversation whose last message is `last_activity` may go.
    pub fn keep_until(
        &self,
        last_activity: DateTime<Utc>,
        birth: Option<NaiveDate>,
    ) -> DateTime<Utc> {
        let kept = self.period.after(last_activity);
        let minor = birth
            .and_then(|b| b.checked_add_months(Months::new(MINOR_UNTIL_AGE * 12)))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        kept.max(minor.unwrap_or(kept))
    }
}

/// Whether a run may start purging conversations or only finish what a killed run began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Full,
    ResumeOnly,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Removed messages of a purge (and doomed content files, to remove after the commit).
    Removed { purge: Unfinished, batch: Batch },
    /// Started purging a conversation.
    Began(clinic_protocol::ConversationKey),
    /// Ended a purge early at what it had removed: the conversation is no longer due.
    Stopped(Unfinished),
    /// Nothing left to do.
    Idle,
}

/// The conversations a full pass will look at, oldest last activity first (`pop` order): read
/// once per pass outside the writer, since it reads every message.
pub(crate) fn queue(
    conn: &Connection,
    policy: &Policy,
    now: i64,
) -> Result<Vec<ConversationKey>, StoreError> {
    let mut keys: Vec<ConversationKey> = sql::due(conn, policy, now)?
        .into_iter()
        .filter(|d| !d.held)
        .map(|d| d.key)
        .collect();
    keys.reverse();
    Ok(keys)
}

/// One bounded unit of work in one transaction: a batch of an unfinished purge, else (in
/// `Mode::Full`) the start of the purge of the next conversation of `queue` that is still due
/// and not held (checked again here, in the writer, with one conversation's rows).
pub(crate) fn step(
    conn: &Connection,
    seqs: &mut Seqs,
    policy: &Policy,
    now: i64,
    mode: Mode,
    queue: &mut Vec<ConversationKey>,
) -> Result<Step, StoreError> {
    if let Some(purge) = sql::unfinished(conn)?.into_iter().next() {
        // Checked before every batch: a purge resumed after a hold, or one whose conversation
        // came back to life, must not remove what the policy now keeps.
        if sql::has_left(conn, &purge)? && !sql::still_due(conn, &purge.key, policy, now)? {
            let total = sql::removed(conn, purge.id)?;
            sql::stop_early(conn, seqs, &purge, now)?;
            audit_purge(conn, &purge, 0, total, true)?;
            return Ok(Step::Stopped(purge));
        }
        let batch = sql::batch(conn, seqs, &purge, BATCH, now)?;
        let total = sql::removed(conn, purge.id)?;
        audit_purge(conn, &purge, batch.removed, total, batch.finished)?;
        return Ok(Step::Removed { purge, batch });
    }
    if mode == Mode::ResumeOnly {
        return Ok(Step::Idle);
    }
    while let Some(key) = queue.pop() {
        if sql::still_due(conn, &key, policy, now)? {
            sql::begin(conn, &key, now)?;
            return Ok(Step::Began(key));
        }
    }
    Ok(Step::Idle)
}

/// Audits one step of a purge in its own transaction: counts only, never what was removed.
fn audit_purge(
    conn: &Connection,
    purge: &sql::Unfinished,
    removed: u64,
    total: u64,
    finished: bool,
) -> Result<(), StoreError> {
    crate::audit::record(
        conn,
        &crate::audit::Event::new("system:retention", crate::audit::Action::RetentionPurge)
            .conversation(&purge.key)
            .subject(purge.id.to_string())
            .detail(serde_json::json!({
                "removed": removed,
                "total": total,
                "upToSeq": purge.up_to_seq,
                "finished": finished,
            })),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    /// A data folder with one conversation of `n` messages, all twenty years old.
    fn twenty_year_old_conversation(n: u32) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        crate::datadir::init(dir.path()).unwrap();
        let conn = crate::accounts::open(dir.path()).unwrap();
        let old = Utc::now().timestamp_millis() - 20 * 365 * 86_400_000;
        conn.execute_batch(&format!(
            "INSERT INTO users (id, username, name, role, password_hash, created_at) VALUES
                 ('p', 'pat', 'P', 'PATIENT', 'x', 0), ('d', 'doc', 'D', 'DOCTOR', 'x', 0);
             INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES ('p', 'd', 0);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             SELECT 'm' || i, i, i, 'c' || i, 'p', 'd', 'p', 'text ' || i, 'TEXT', 'SENT', 0,
                 {old} + i, {old} + i FROM n;
             UPDATE counters SET value = {n} WHERE name = 'change_seq';"
        ))
        .unwrap();
        (dir, conn)
    }

    /// A run killed between two batches (every batch is its own transaction) is finished by the
    /// next run, which counts what both removed.
    #[test]
    fn a_run_killed_midway_completes_on_the_next_run() {
        let (dir, mut conn) = twenty_year_old_conversation(1200);
        let policy = Policy {
            period: Period::Years(10),
        };
        let now = Utc::now().timestamp_millis();
        let mut keys = queue(&conn, &policy, now).unwrap();
        let mut step_once = || {
            crate::store::writer::run_direct(&mut conn, |c, seqs| {
                step(c, seqs, &policy, now, Mode::Full, &mut keys)
            })
            .unwrap()
        };
        assert!(matches!(step_once(), Step::Began(_)));
        let Step::Removed { batch, .. } = step_once() else {
            panic!("expected a batch");
        };
        assert_eq!((batch.removed, batch.finished), (u64::from(BATCH), false));
        drop(conn); // killed here

        let purged = admin::run(dir.path(), &policy).unwrap();
        assert_eq!(purged.len(), 1);
        assert_eq!(purged[0].messages, 1200);
        let conn = crate::accounts::open(dir.path()).unwrap();
        let (left, finished): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM messages),
                        (SELECT count(*) FROM purges WHERE finished_at IS NOT NULL
                             AND change_seq > 1200)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((left, finished), (0, 1));
    }

    /// A batch lists the files it dooms in its own transaction: killed before removing them,
    /// the file is still listed, and the next run removes it.
    #[test]
    fn a_batch_records_its_doomed_files_durably() {
        let (dir, mut conn) = twenty_year_old_conversation(3);
        let sha = "ab".repeat(32);
        let path = crate::files::content_path(dir.path(), &sha).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x-ray").unwrap();
        conn.execute(
            "INSERT INTO uploads (id, sha256, size, content_type, file_name, uploader_id,
                 patient_id, doctor_id, message_id, created_at)
             VALUES ('u1', ?1, 5, 'image/png', 'x.png', 'p', 'p', 'd', 'm2', 0)",
            [&sha],
        )
        .unwrap();
        let policy = Policy {
            period: Period::Years(10),
        };
        let now = Utc::now().timestamp_millis();
        let mut keys = queue(&conn, &policy, now).unwrap();
        let mut step_once = || {
            crate::store::writer::run_direct(&mut conn, |c, seqs| {
                step(c, seqs, &policy, now, Mode::Full, &mut keys)
            })
            .unwrap()
        };
        assert!(matches!(step_once(), Step::Began(_)));
        assert!(
            matches!(step_once(), Step::Removed { batch, .. } if batch.doomed == [sha.clone()])
        );
        drop(conn); // killed before removing the file

        let conn = crate::accounts::open(dir.path()).unwrap();
        assert_eq!(sql::doomed_files(&conn).unwrap(), vec![sha.clone()]);
        assert!(path.exists());
        drop(conn);
        admin::run(dir.path(), &policy).unwrap();
        assert!(!path.exists());
        let conn = crate::accounts::open(dir.path()).unwrap();
        assert!(sql::doomed_files(&conn).unwrap().is_empty());
    }

    /// A removal that fails writes nothing (it may share a batch that logs, where a command
    /// must refuse before its first write): every doomed file stays listed, and a later try
    /// forgets the one already gone. A removal naming files takes only those.
    #[test]
    fn a_failed_removal_forgets_no_doomed_file() {
        let (dir, conn) = twenty_year_old_conversation(1);
        let (gone, stuck) = ("aa".repeat(32), "bb".repeat(32));
        let gone_path = crate::files::content_path(dir.path(), &gone).unwrap();
        let stuck_path = crate::files::content_path(dir.path(), &stuck).unwrap();
        std::fs::create_dir_all(gone_path.parent().unwrap()).unwrap();
        std::fs::write(&gone_path, b"x-ray").unwrap();
        // A directory where the file would be: removing it as a file fails.
        std::fs::create_dir_all(stuck_path.join("in-the-way")).unwrap();
        conn.execute(
            "INSERT INTO doomed_files (sha256) VALUES (?1), (?2)",
            [&gone, &stuck],
        )
        .unwrap();
        assert!(remove_doomed(&conn, dir.path(), None).is_err());
        assert!(!gone_path.exists(), "removed before the failure");
        assert_eq!(
            sql::doomed_files(&conn).unwrap(),
            vec![gone.clone(), stuck.clone()]
        );
        std::fs::remove_dir_all(&stuck_path).unwrap();
        // Named, only the named one goes (the server names what a committed change doomed).
        std::fs::write(&stuck_path, b"scan").unwrap();
        let named = remove_doomed(&conn, dir.path(), Some(std::slice::from_ref(&stuck)));
        assert_eq!(named.unwrap(), 1);
        assert!(!stuck_path.exists());
        assert_eq!(sql::doomed_files(&conn).unwrap(), vec![gone]);
        assert_eq!(remove_doomed(&conn, dir.path(), None).unwrap(), 1);
        assert!(sql::doomed_files(&conn).unwrap().is_empty());
    }

    /// A purge whose conversation comes back to life between two batches stops at what it has
    /// removed, and says so up to the oldest message left.
    #[test]
    fn a_purge_stops_when_its_conversation_is_no_longer_due() {
        let (_dir, mut conn) = twenty_year_old_conversation(700);
        let now = Utc::now().timestamp_millis();
        let policy = Policy {
            period: Period::Years(10),
        };
        let mut keys = queue(&conn, &policy, now).unwrap();
        let mut step_once = |conn: &mut Connection| {
            crate::store::writer::run_direct(conn, |c, seqs| {
                step(c, seqs, &policy, now, Mode::Full, &mut keys)
            })
            .unwrap()
        };
        assert!(matches!(step_once(&mut conn), Step::Began(_)));
        assert!(matches!(step_once(&mut conn), Step::Removed { .. }));
        // The patient writes again today.
        conn.execute_batch(&format!(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('new', 701, 701, 'c-new', 'p', 'd', 'p', 'back', 'TEXT', 'SENT', 0,
                 {now}, {now});
             UPDATE counters SET value = 701 WHERE name = 'change_seq';"
        ))
        .unwrap();
        assert!(matches!(step_once(&mut conn), Step::Stopped(_)));
        assert!(matches!(step_once(&mut conn), Step::Idle));
        let (left, up_to): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM messages), (SELECT up_to_seq FROM purges)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((left, up_to), (201, i64::from(BATCH)));
    }

    #[test]
    fn periods_are_days_or_years_and_nothing_else() {
        assert_eq!("30d".parse(), Ok(Period::Days(30)));
        assert_eq!("10y".parse(), Ok(Period::Years(10)));
        for bad in [
            "10 years", "-1d", "0y", "y", "", "10", "1.5y", "10Y", "10é", "+5y",
        ] {
            let err = bad.parse::<Period>().unwrap_err();
            assert!(err.contains("30d or 10y"), "{bad}: {err}");
        }
    }

    #[test]
    fn off_by_default_and_the_floor_needs_an_override() {
        assert_eq!(Policy::parse("off", false), Ok(None));
        assert!(
            Policy::parse("5y", false)
                .unwrap_err()
                .contains("6-year floor")
        );
        assert!(Policy::parse("2190d", false).is_err());
        assert!(Policy::parse("2200d", false).unwrap().is_some());
        assert_eq!(
            Policy::parse("30d", true),
            Ok(Some(Policy {
                period: Period::Days(30)
            }))
        );
    }

    #[test]
    fn minors_are_kept_until_their_25th_birthday() {
        let policy = Policy {
            period: Period::Years(10),
        };
        let last = Utc.with_ymd_and_hms(2010, 5, 1, 12, 0, 0).unwrap();
        assert_eq!(
            policy.keep_until(last, None),
            Utc.with_ymd_and_hms(2020, 5, 1, 12, 0, 0).unwrap()
        );
        let child = NaiveDate::from_ymd_opt(2005, 3, 2);
        assert_eq!(
            policy.keep_until(last, child),
            Utc.with_ymd_and_hms(2030, 3, 2, 0, 0, 0).unwrap()
        );
        let adult = NaiveDate::from_ymd_opt(1960, 1, 1);
        assert_eq!(
            policy.keep_until(last, adult),
            policy.keep_until(last, None)
        );
    }
}
