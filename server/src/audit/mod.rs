//! The audit log: who did what to which patient's data, appended in the same transaction as the
//! change it records and hash-chained so that an edited, missing or reordered row is found.
//!
//! Writing: `audit::record(conn, &Event::new(actor, Action::X).conversation(&key))` inside the
//! writer job of the change (a failure fails the job: 503, nothing commits); reads and refusals,
//! which change nothing, go through [`commit`] / [`audited`] before their answer is returned.
//! Never message content: details hold ids, seq ranges, counts and (for search) the normalised
//! query.

pub(crate) mod chain;
pub mod head;
pub mod originals;
pub(crate) mod refusals;
pub mod report;

use crate::error::ApiError;
use crate::store::{Store, StoreError};
use clinic_protocol::{ConversationKey, ErrorCode, UserId};
use rusqlite::{Connection, OptionalExtension};

pub use chain::{Broken, verify};

/// What a client is told when its audit row cannot be written (the request is not carried out).
pub(crate) const UNAVAILABLE: &str =
    "the audit log cannot be written, so the server is refusing this request; try again later";

macro_rules! actions {
    ($($(#[doc = $doc:literal])* $variant:ident => $text:literal,)*) => {
        /// Every kind of audited event. The text is what the `action` column holds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Action {
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $text,)*
                }
            }
        }
    };
}

actions! {
    /// A successful login (actor: the account).
    Login => "LOGIN",
    /// Wrong username or password (actor: the account when it exists; subject: the name typed).
    LoginFailed => "LOGIN_FAILED",
    /// `POST /api/auth/logout`.
    Logout => "LOGOUT",
    /// Sessions ended by an administrator (`sessions revoke`; `user disable` and a password
    /// reset end them too, recorded as their own actions).
    SessionRevoke => "SESSION_REVOKE",
    /// A page of one conversation's history (detail: seq range and count).
    HistoryRead => "HISTORY_READ",
    /// A sync page, one row per conversation in it (detail: seq range and count).
    SyncRead => "SYNC_READ",
    /// A search (detail: the normalised query and the conversations of the results).
    Search => "SEARCH",
    /// An uploaded file fetched (subject: the file id).
    FileDownload => "FILE_DOWNLOAD",
    /// A file uploaded into a conversation, not yet attached to a message (subject: the file
    /// id; detail: size and type).
    FileUpload => "FILE_UPLOAD",
    /// A message stored (subject: its id).
    MessageCreate => "MESSAGE_CREATE",
    /// A message unsent by its patient (for the unsend feature).
    MessageUnsend => "MESSAGE_UNSEND",
    /// A message retracted by its doctor (for the retract feature; detail says misdirected).
    MessageRetract => "MESSAGE_RETRACT",
    /// A message edited (for the edit feature).
    MessageEdit => "MESSAGE_EDIT",
    /// A message's version history read (for the edit feature).
    VersionsRead => "VERSIONS_READ",
    /// The list of the caller's conversations (with last messages).
    ConversationsRead => "CONVERSATIONS_READ",
    /// A conversation joined over WebSocket (`join_chat`, typing): only refusals are written.
    ConversationJoin => "CONVERSATION_JOIN",
    /// A doctor started a conversation with a patient.
    ConversationStart => "CONVERSATION_START",
    /// The caller's notifications (they carry message previews; detail: count, patients).
    NotificationsRead => "NOTIFICATIONS_READ",
    /// A doctor's patient list or patient search.
    PatientList => "PATIENT_LIST",
    /// The caller's contacts (for a doctor, their patients' details: age, blood group).
    ContactsRead => "CONTACTS_READ",
    /// The list of emergencies, or one emergency with its history.
    EmergencyRead => "EMERGENCY_READ",
    /// Emergency transitions (subject: the emergency id).
    EmergencyRaise => "EMERGENCY_RAISE",
    EmergencyAcknowledge => "EMERGENCY_ACKNOWLEDGE",
    EmergencyEscalate => "EMERGENCY_ESCALATE",
    EmergencyResolve => "EMERGENCY_RESOLVE",
    /// Administrator actions (`clinic-server user ...`).
    AccountCreate => "ACCOUNT_CREATE",
    AccountDisable => "ACCOUNT_DISABLE",
    AccountEnable => "ACCOUNT_ENABLE",
    PasswordReset => "PASSWORD_RESET",
    /// Legal holds (`clinic-server hold ...`; subject: the hold id).
    HoldAdd => "HOLD_ADD",
    HoldRelease => "HOLD_RELEASE",
    /// Retention removed a conversation's history (detail: counts only).
    RetentionPurge => "RETENTION_PURGE",
    /// A copy of the database was made (`clinic-server backup`; detail: the chain head), or a
    /// message's sealed versions were read (`clinic-server audit originals`; subject: its id).
    Export => "EXPORT",
    /// The audit log was read (`clinic-server audit query|access-report|review`).
    AuditRead => "AUDIT_READ",
    /// The chain was checked (`clinic-server audit verify`; outcome FAILED when broken).
    AuditVerify => "AUDIT_VERIFY",
    /// The daily checkpoint of the chain head (detail: head id and hash).
    AuditCheckpoint => "AUDIT_CHECKPOINT",
}

impl Action {
    /// The action named `text` (as stored, case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|a| a.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// How the audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused: not the caller's data (403, or a 404 that hides it).
    Denied,
    /// Attempted and failed (a wrong password; a broken chain).
    Failed,
}

impl Outcome {
    pub const ALL: &[Outcome] = &[Outcome::Ok, Outcome::Denied, Outcome::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::Denied => "DENIED",
            Outcome::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|o| o.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// One audited event, before it is written.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) actor: Option<String>,
    pub(crate) action: Action,
    pub(crate) patient: Option<String>,
    pub(crate) doctor: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) outcome: Outcome,
    pub(crate) detail: Option<serde_json::Value>,
}

impl Event {
    /// `actor` is a user id, `admin:NAME` for the CLI, or `system` for the server's own jobs.
    pub(crate) fn new(actor: impl Into<String>, action: Action) -> Self {
        Self {
            actor: Some(actor.into()),
            action,
            patient: None,
            doctor: None,
            subject: None,
            outcome: Outcome::Ok,
            detail: None,
        }
    }

    pub(crate) fn by(user: &UserId, action: Action) -> Self {
        Self::new(user.as_str(), action)
    }

    /// An event whose actor is not known (a login with an unknown username).
    pub(crate) fn anonymous(action: Action) -> Self {
        Self {
            actor: None,
            ..Self::new("", action)
        }
    }

    pub(crate) fn conversation(mut self, key: &ConversationKey) -> Self {
        self.patient = Some(key.patient_id.as_str().to_owned());
        self.doctor = Some(key.doctor_id.as_str().to_owned());
        self
    }

    pub(crate) fn patient(mut self, patient: &UserId) -> Self {
        self.patient = Some(patient.as_str().to_owned());
        self
    }

    pub(crate) fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub(crate) fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub(crate) fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The same event refused: DENIED, with the refusal's sentence.
    pub(crate) fn denied(self, err: &ApiError) -> Self {
        self.outcome(Outcome::Denied)
            .detail(serde_json::json!({ "refusal": err.message }))
    }
}

/// The actor of a CLI command: `admin:` and the operating-system user who ran it.
pub fn cli_actor() -> String {
    let name = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("admin:{name}")
}

/// Appends `event` to the chain inside the caller's transaction. Any failure is `unavailable`
/// (503), so the caller's job fails and nothing of it commits.
pub(crate) fn record(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    append(conn, event, crate::time::now_ms()).map_err(|err| {
        tracing::error!(error = %err, action = event.action.as_str(), "cannot write the audit log");
        StoreError::unavailable(UNAVAILABLE)
    })?;
    Ok(())
}

fn append(conn: &Connection, event: &Event, at: i64) -> rusqlite::Result<i64> {
    let (last, prev_hash) = conn
        .prepare_cached("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .optional()?
        .unwrap_or_else(|| (0, chain::GENESIS.to_owned()));
    let row = chain::Row {
        id: last + 1,
        at,
        actor: event.actor.clone(),
        action: event.action.as_str().to_owned(),
        patient: event.patient.clone(),
        doctor: event.doctor.clone(),
        subject: event.subject.clone(),
        outcome: event.outcome.as_str().to_owned(),
        detail: event.detail.as_ref().map(ToString::to_string),
        prev_hash,
    };
    let hash = row.hash();
    conn.prepare_cached(
        "INSERT INTO audit (id, at, actor, action, patient_id, doctor_id, subject, outcome, \
         detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(rusqlite::params![
        row.id,
        row.at,
        row.actor,
        row.action,
        row.patient,
        row.doctor,
        row.subject,
        row.outcome,
        row.detail,
        row.prev_hash,
        hash
    ])?;
    Ok(row.id)
}

/// Writes `events` through the writer and waits for their commit: 503 if they cannot be.
pub(crate) async fn commit(store: &Store, events: Vec<Event>) -> Result<(), ApiError> {
    if events.is_empty() {
        return Ok(());
    }
    store.record_audit(events).await.map_err(|err| match err {
        StoreError::Unavailable(_) => err.into(),
        _ => ApiError::unavailable(UNAVAILABLE),
    })
}

/// Audits the `result` of a request before it is returned: `ok` names the rows of a success
/// (none for a change, whose rows went into its own transaction), a refusal (403) is written as
/// `attempt` DENIED. If the rows cannot be written the caller gets 503 and no content.
pub(crate) async fn audited<T>(
    store: &Store,
    result: Result<T, impl Into<ApiError>>,
    attempt: Event,
    ok: impl FnOnce(&T, Event) -> Vec<Event>,
) -> Result<T, ApiError> {
    let result = result.map_err(Into::into);
    let events = match &result {
        Ok(value) => ok(value, attempt),
        Err(err) if err.code == ErrorCode::Forbidden => {
            refused(store, attempt.denied(err)).await?;
            return result;
        }
        Err(_) => return result,
    };
    commit(store, events).await?;
    result
}

/// Writes a refusal (a `DENIED` event), or holds it to be counted in its account's next
/// summary row when the account is past its rate of refusals ([`refusals`]).
pub(crate) async fn refused(store: &Store, event: Event) -> Result<(), ApiError> {
    match store.refusals.admit(event) {
        refusals::Admitted::Write(row) => commit(store, vec![row]).await,
        refusals::Admitted::Held => Ok(()),
        // A full row of held refusals (this one counted in the next): tried again later.
        refusals::Admitted::Full(row) => {
            if let Err(err) = commit(store, vec![row.clone()]).await {
                let given_up = store.refusals.put_back(vec![row]);
                tracing::error!(error = %err.message, given_up, "could not write held refusals");
            }
            Ok(())
        }
    }
}

/// Every `window`, the refusals held past their accounts' rates are written (one row per kind),
/// until `stop`; a write under way finishes first. What is held at shutdown is written by
/// [`crate::server`] once the sockets have closed, before the writer stops.
pub(crate) async fn held_refusals(
    store: Store,
    window: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(window);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => write_held_refusals(&store).await,
            () = stop.cancelled() => return,
        }
    }
}

/// Writes the refusals held now (and those that could not be written before); rows that cannot
/// be written are kept to be tried again.
pub(crate) async fn write_held_refusals(store: &Store) {
    let rows = store.refusals.take_held();
    if rows.is_empty() {
        return;
    }
    let count = rows.len();
    if let Err(err) = commit(store, rows.clone()).await {
        let given_up = store.refusals.put_back(rows);
        tracing::error!(
            error = %err.message,
            count,
            given_up,
            "could not write held refusals to the audit log; trying again at the next window"
        );
    }
}

/// The chain head: the last row's id and hash (0 and the genesis hash when empty).
pub fn head(conn: &Connection) -> rusqlite::Result<(i64, String)> {
    Ok(conn
        .query_row(
            "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_else(|| (0, chain::GENESIS.to_owned())))
}

/// Writes the checkpoint row if none was written today (UTC); returns the head it recorded.
pub(crate) fn checkpoint_if_due(conn: &Connection) -> Result<Option<(i64, String)>, StoreError> {
    let day_ms = 86_400_000;
    let start_of_day = crate::time::now_ms() / day_ms * day_ms;
    let done: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM audit WHERE action = 'AUDIT_CHECKPOINT' AND at >= ?1)",
        [start_of_day],
        |r| r.get(0),
    )?;
    if done {
        return Ok(None);
    }
    let (id, hash) = head(conn)?;
    record(
        conn,
        &Event::new("system", Action::AuditCheckpoint)
            .detail(serde_json::json!({ "headId": id, "headHash": hash })),
    )?;
    Ok(Some((id, hash)))
}

/// The patients a read spanning several of them showed, sorted and once each: its row's
/// `patients`, by which `audit query --patient` and `access-report` find it.
pub(crate) fn patients_in<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut patients: Vec<&str> = ids.collect();
    patients.sort_unstable();
    patients.dedup();
    patients
}

/// The detail of a page of messages: its seq range and count (never what they say).
pub(crate) fn seq_range(page: &[clinic_protocol::Message]) -> serde_json::Value {
    let first = page.iter().map(|m| m.seq.0).min();
    let last = page.iter().map(|m| m.seq.0).max();
    serde_json::json!({ "fromSeq": first, "toSeq": last, "count": page.len() })
}

/// One row per conversation a sync page shows messages or emergencies of (none for a page
/// with nothing of anyone's in it).
pub(crate) fn sync_events(page: &clinic_protocol::rest::SyncPage, attempt: &Event) -> Vec<Event> {
    let mut by_key: std::collections::BTreeMap<(String, String), Vec<&clinic_protocol::Message>> =
        std::collections::BTreeMap::new();
    for m in &page.messages {
        by_key
            .entry((m.patient_id.as_str().into(), m.doctor_id.as_str().into()))
            .or_default()
            .push(m);
    }
    for e in &page.emergencies {
        by_key
            .entry((e.patient_id.as_str().into(), e.doctor_id.as_str().into()))
            .or_default();
    }
    by_key
        .into_iter()
        .map(|((patient, doctor), messages)| {
            let first = messages.iter().map(|m| m.seq.0).min();
            let last = messages.iter().map(|m| m.seq.0).max();
            let mut event = attempt.clone().detail(serde_json::json!({
                "fromSeq": first, "toSeq": last, "count": messages.len()
            }));
            event.patient = Some(patient);
            event.doctor = Some(doctor);
            event
        })
        .collect()
}

/// Once a day (checked hourly, and at start): a checkpoint row naming the chain head, also
/// written to the server log, so a copy of the head lives outside the database.
pub(crate) async fn checkpoints(store: Store) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match store.audit_checkpoint().await {
            Ok(Some((id, hash))) => {
                tracing::info!(head_id = id, head_hash = %hash, "audit checkpoint");
            }
            Ok(None) => {}
            Err(err) => tracing::error!(error = %err, "could not write the audit checkpoint"),
        }
    }
}

/// Before a backup: an `EXPORT` row naming the chain head, in the database being copied, so
/// the backup carries the head it was made at. Returns that head.
pub fn record_export(
    data_dir: &std::path::Path,
    to: &std::path::Path,
) -> Result<(i64, String), crate::accounts::AccountError> {
    let mut conn = crate::accounts::open(data_dir)?;
    Ok(crate::store::writer::run_direct(&mut conn, |conn, _| {
        let (id, hash) = head(conn)?;
        record(
            conn,
            &Event::new(cli_actor(), Action::Export).detail(serde_json::json!({
                "to": full_path(to), "headId": id, "headHash": hash
            })),
        )?;
        Ok::<_, crate::error::ApiError>(head(conn)?)
    })?)
}

/// A backup's path as the log keeps it: whole, wherever the command was run from.
fn full_path(to: &std::path::Path) -> String {
    std::path::absolute(to)
        .unwrap_or_else(|_| to.to_path_buf())
        .display()
        .to_string()
}

/// Records that the backup to `to` whose `EXPORT` row `record_export` wrote was not made
/// (the copy failed): an `EXPORT` row with outcome `FAILED` and what went wrong.
pub fn record_export_failed(
    data_dir: &std::path::Path,
    to: &std::path::Path,
    problem: &dyn std::fmt::Display,
) -> Result<(), crate::accounts::AccountError> {
    let mut conn = crate::accounts::open(data_dir)?;
    Ok(crate::store::writer::run_direct(&mut conn, |conn, _| {
        record(
            conn,
            &Event::new(cli_actor(), Action::Export)
                .outcome(Outcome::Failed)
                .detail(serde_json::json!({
                    "to": full_path(to), "problem": problem.to_string()
                })),
        )?;
        Ok::<_, crate::error::ApiError>(())
    })?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn conn() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::store::open_write(&dir.path().join("t.db"), crate::Synchronous::Normal).unwrap();
        (dir, conn)
    }

    #[test]
    fn the_daily_checkpoint_names_the_head_once_a_day() {
        let (_dir, conn) = conn();
        record(&conn, &Event::new("system", Action::Export)).unwrap();
        let (id, hash) = head(&conn).unwrap();
        assert_eq!(checkpoint_if_due(&conn).unwrap(), Some((id, hash.clone())));
        assert_eq!(checkpoint_if_due(&conn).unwrap(), None, "once a day");
        let detail: String = conn
            .query_row(
                "SELECT detail FROM audit WHERE action = 'AUDIT_CHECKPOINT'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            detail.contains(&hash) && detail.contains("\"headId\":1"),
            "{detail}"
        );
        assert_eq!(verify(&conn).unwrap(), Ok(2));
    }

    #[test]
    fn every_action_has_a_distinct_name_that_parses_back() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        for action in Action::ALL {
            assert_eq!(
                Action::parse(&action.as_str().to_lowercase()),
                Some(*action)
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
