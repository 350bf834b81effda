//! The log's projection: moves text sends from `event_log` into `messages` (where each carries
//! its recipient's derived notification, schema v14, unless it is an emergency message), many
//! rows per statement, and applies the delivered and read receipts (schema v21; one log with the
//! sends since v25), the edits and retractions (schema v26), the emergencies' raises (v27),
//! doctors' takes of them (v28) and resolutions (v29) waiting there, after the commit that
//! acknowledged them.
//!
//! Why (schema v13): one row per message statement made every send pay for seven b-tree entries
//! on random pages, a notification row and, worst, a search-index flush (FTS5 writes its pending
//! entries out at every statement's savepoint). One `INSERT ... SELECT` over a slice of the log
//! pays for that once per slice. A receipt rewrote its message's row and two per-user index
//! entries inside the commit, and made its batch move the send log first (schema v21).
//!
//! Invariants (the writer keeps them; `writer.rs` says how):
//! - Logged rows are always the newest changes: every seq in `event_log` is higher than every
//!   change written anywhere else. A batch with any other command first moves the log whole,
//!   and its own sends and receipts go straight to `messages`. So a reader's snapshot never
//!   holds a change that sorts after one it cannot see yet, and a sync cursor never skips one.
//! - A slice moves the log's oldest rows first, in seq order, and deletes them in its own
//!   transaction: a send is in `event_log` or in `messages`, never both, never neither; a
//!   receipt is in `event_log` or applied, never both.
//! - At most one delivered and one read receipt wait per message, and only ones that change it
//!   (`receipts.rs` looks at the row and the log before logging), so applying them is the same
//!   as having written them at the time. Edits, retractions and the stamps of a resolution are
//!   judged on the message as it will be (`versions.rs`, `emergencies`), applied after the
//!   slice's receipts in seq order, and only ever raise a row's `updated_at` and `change_seq`,
//!   which ends the row where writing each change at its time would have.
//! - A reader that finds rows logged and not yet moved first has the writer move them all (a
//!   command of its own: `Reads::run`), so a sender reading its history after the ack finds its
//!   message, and the other side reading after a receipt finds it applied.

use clinic_protocol::{
    Edited, Emergency, EmergencyId, Message, MessageId, MessageStatus, MessageType, Seq, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// How far the log and its projection are, shared by the writer and the readers.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Highest seq committed to `event_log`.
    logged: AtomicI64,
    /// Highest seq known to be out of the log (moved, or the log found empty).
    applied: AtomicI64,
    /// The last `search_changes` entry the search index has applied (`search_index.rs`): the
    /// writer drops the entries up to it.
    searched: AtomicI64,
}

impl Progress {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            logged: AtomicI64::new(0),
            applied: AtomicI64::new(0),
            searched: AtomicI64::new(0),
        })
    }

    /// The writer committed log rows up to `seq`. Called before the commit is acknowledged.
    pub(crate) fn logged(&self, seq: i64) {
        self.logged.fetch_max(seq, Ordering::SeqCst);
    }

    /// The log is moved up to `seq`.
    pub(crate) fn applied(&self, seq: i64) {
        self.applied.fetch_max(seq, Ordering::SeqCst);
    }

    /// The search index applied the queue of changes up to `entry`.
    pub(crate) fn searched(&self, entry: i64) {
        self.searched.fetch_max(entry, Ordering::SeqCst);
    }

    /// The last queue entry the search index has applied.
    pub(crate) fn search_applied(&self) -> i64 {
        self.searched.load(Ordering::SeqCst)
    }

    /// The log is empty: everything logged has moved (by the writer, or by another process).
    pub(crate) fn caught_up(&self) {
        self.applied(self.logged.load(Ordering::SeqCst));
    }

    /// Whether logged rows may be waiting to move.
    pub(crate) fn pending(&self) -> bool {
        self.backlog() > 0
    }

    /// At least as many seqs as there are rows waiting in the log (a seq taken by another change
    /// in between counts too).
    pub(crate) fn backlog(&self) -> i64 {
        self.logged.load(Ordering::SeqCst) - self.applied.load(Ordering::SeqCst)
    }
}

/// What one [`apply`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moved {
    /// The highest seq moved.
    pub upto: i64,
    pub rows: usize,
}

/// The log's idempotency index, in memory: the seq of each logged send by its sender and
/// clientId. An index in the database (schema v13-v16) put an entry on a page of its own, in
/// every commit, for each send. The writer's copy is complete: only the writer logs, and the log
/// is empty whenever the database is opened for writing. An entry outlives its row's move only
/// until the writer hears of the move; a lookup then finds the message by seq in `messages`.
///
/// The same for conversations: the seqs of each conversation's logged sends, where a "read up
/// to" finds the logged sends it reaches without reading the whole log (`receipts.rs`). What it
/// holds may have moved already (the lookup by seq then finds nothing in the log, and the
/// message in `messages`); it never lacks a logged send.
///
/// And the emergencies a logged raise opened or reopened (schema v27), the alert watch escalated
/// (v30) or a doctor's logged take took (v28) or resolved (v29), by patient, as they will be
/// once moved: a patient's next emergency message joins or reopens that one (or opens a new one
/// after a resolution), and a doctor takes or resolves that one. The record of whom its alert
/// reached (v31) changes the entry when it holds that emergency; it leaves the patient's newer
/// one alone.
#[derive(Debug, Default)]
pub(crate) struct LoggedKeys {
    /// Seq by clientId, by sender (looked up by `&str`, without building a key per send).
    seqs: HashMap<String, HashMap<String, i64>>,
    /// Seqs of logged sends, oldest first, by doctor, by patient.
    conversations: HashMap<String, HashMap<String, Vec<i64>>>,
    /// The seq of the newest logged raise, escalation, take or resolution and the emergency as
    /// it will be, by patient.
    emergencies: HashMap<String, (i64, Emergency)>,
    /// Entries of the batch in progress, taken back if it rolls back.
    batch: Vec<(String, String)>,
    /// What the batch in progress replaced in `emergencies`, by patient (the first time only):
    /// a take replaces the entry of a raise logged by an earlier batch, which a rollback puts
    /// back.
    batch_emergencies: Vec<(String, Option<(i64, Emergency)>)>,
    /// The first seq the batch in progress logged.
    batch_from: Option<i64>,
}

impl LoggedKeys {
    /// The seq of the logged send of `sender` with `client_id`, if any.
    pub(crate) fn get(&self, sender: &str, client_id: &str) -> Option<i64> {
        self.seqs.get(sender)?.get(client_id).copied()
    }

    /// The seqs of the conversation's sends that may be in the log, after `after` and up to
    /// `upto`, oldest first.
    pub(crate) fn in_conversation(
        &self,
        patient: &str,
        doctor: &str,
        after: i64,
        upto: i64,
    ) -> Vec<i64> {
        let Some(seqs) = self.conversations.get(patient).and_then(|d| d.get(doctor)) else {
            return Vec::new();
        };
        let from = seqs.partition_point(|&seq| seq <= after);
        seqs[from..]
            .iter()
            .copied()
            .take_while(|&seq| seq <= upto)
            .collect()
    }

    /// The seq of the newest logged change (raise, escalation, alert record, take, resolution)
    /// of the patient's emergency, and
    /// that emergency as it will be.
    pub(crate) fn emergency_of(&self, patient: &str) -> Option<(i64, &Emergency)> {
        self.emergencies.get(patient).map(|(seq, e)| (*seq, e))
    }

    /// The same for emergency `id`.
    pub(crate) fn emergency(&self, id: &EmergencyId) -> Option<(i64, &Emergency)> {
        self.emergencies
            .values()
            .find(|(_, e)| e.id == *id)
            .map(|(seq, e)| (*seq, e))
    }

    /// The patient's newest logged change of their emergency is no longer in the log (another
    /// process moved it).
    pub(crate) fn forget_emergency(&mut self, patient: &str) {
        self.remember(patient);
        self.emergencies.remove(patient);
    }

    /// Logged alert record `seq` leaves `emergency` as it is: the patient's entry follows if it
    /// is that emergency (the caller found it there; checked again, since a record may name
    /// an emergency older than the patient's newest, which must not replace it).
    fn alerted(&mut self, seq: i64, emergency: &Emergency) {
        let same = self
            .emergencies
            .get(emergency.patient_id.as_str())
            .is_some_and(|(_, e)| e.id == emergency.id);
        if same {
            self.changed(seq, emergency);
        }
    }

    /// Logged row `seq` leaves the patient's emergency as `emergency`.
    fn changed(&mut self, seq: i64, emergency: &Emergency) {
        let patient = emergency.patient_id.as_str();
        self.remember(patient);
        self.emergencies
            .insert(patient.to_owned(), (seq, emergency.clone()));
        self.batch_from.get_or_insert(seq);
    }

    /// Keeps what the patient's entry was before the batch, for a rollback.
    fn remember(&mut self, patient: &str) {
        if !self.batch_emergencies.iter().any(|(p, _)| p == patient) {
            let before = self.emergencies.get(patient).cloned();
            self.batch_emergencies.push((patient.to_owned(), before));
        }
    }

    fn add(&mut self, m: &Message) {
        let seq = m.seq.0;
        let (sender, client_id) = (m.sender_id.as_str(), m.client_id.as_str());
        self.seqs
            .entry(sender.to_owned())
            .or_default()
            .insert(client_id.to_owned(), seq);
        let by_doctor = match self.conversations.get_mut(m.patient_id.as_str()) {
            Some(by_doctor) => by_doctor,
            None => self
                .conversations
                .entry(m.patient_id.as_str().to_owned())
                .or_default(),
        };
        match by_doctor.get_mut(m.doctor_id.as_str()) {
            Some(seqs) => seqs.push(seq),
            None => {
                by_doctor.insert(m.doctor_id.as_str().to_owned(), vec![seq]);
            }
        }
        self.batch.push((sender.to_owned(), client_id.to_owned()));
        self.batch_from.get_or_insert(seq);
    }

    /// The batch committed: its entries stay.
    pub(crate) fn committed(&mut self) {
        self.batch.clear();
        self.batch_emergencies.clear();
        self.batch_from = None;
    }

    /// The batch rolled back: its rows are not in the log, nor its entries here.
    pub(crate) fn rolled_back(&mut self) {
        for (sender, client_id) in self.batch.drain(..) {
            if let Some(by_client) = self.seqs.get_mut(&sender) {
                by_client.remove(&client_id);
                if by_client.is_empty() {
                    self.seqs.remove(&sender);
                }
            }
        }
        if let Some(from) = self.batch_from.take() {
            self.keep_conversations(|seq| seq < from);
        }
        for (patient, before) in self.batch_emergencies.drain(..) {
            match before {
                Some(entry) => self.emergencies.insert(patient, entry),
                None => self.emergencies.remove(&patient),
            };
        }
    }

    /// A committed move took the log up to `upto` out.
    pub(crate) fn moved(&mut self, upto: i64) {
        self.seqs.retain(|_, by_client| {
            by_client.retain(|_, seq| *seq > upto);
            !by_client.is_empty()
        });
        self.keep_conversations(|seq| seq > upto);
        self.emergencies.retain(|_, (seq, _)| *seq > upto);
    }

    fn keep_conversations(&mut self, keep: impl Fn(i64) -> bool) {
        self.conversations.retain(|_, by_doctor| {
            by_doctor.retain(|_, seqs| {
                seqs.retain(|&seq| keep(seq));
                !seqs.is_empty()
            });
            !by_doctor.is_empty()
        });
    }
}

/// The last seq of the next slice: the log's first `?1` rows.
pub(super) const SLICE_END: &str =
    "SELECT max(seq) FROM (SELECT seq FROM event_log ORDER BY seq LIMIT ?1)";

/// Moves the oldest `limit` rows of the log (by seq) into `messages` and `emergencies` (and
/// their transitions) and deletes them from the log, in the caller's transaction. `None` if
/// the log was empty.
pub(crate) fn apply(conn: &Connection, limit: i64) -> rusqlite::Result<Option<Moved>> {
    let upto: Option<i64> = conn
        .prepare_cached(SLICE_END)?
        .query_row([limit], |r| r.get(0))?;
    let Some(upto) = upto else {
        return Ok(None);
    };
    // Each conversation's unread counters grow by what the slice adds to it (one statement for
    // the slice, not one per message). A send is unread by its recipient, and so is the
    // notification it gives them (schema v18), unless it is an emergency message (`mark` 1),
    // whose notifications are the doctors' own rows.
    conn.prepare_cached(
        "UPDATE conversations SET patient_unread = patient_unread + n.to_patient, \
         doctor_unread = doctor_unread + n.to_doctor, \
         patient_notices = patient_notices + n.noted_patient, \
         doctor_notices = doctor_notices + n.noted_doctor \
         FROM (SELECT patient_id, doctor_id, sum(sender_id != patient_id) AS to_patient, \
         sum(sender_id != doctor_id) AS to_doctor, \
         sum(sender_id != patient_id AND mark = 0) AS noted_patient, \
         sum(sender_id != doctor_id AND mark = 0) AS noted_doctor FROM event_log \
         WHERE seq <= ?1 AND kind = 'SEND' GROUP BY patient_id, doctor_id) AS n \
         WHERE conversations.patient_id = n.patient_id AND conversations.doctor_id = n.doctor_id",
    )?
    .execute([upto])?;
    // The columns a text send has; everything else is what a new text message is, with its
    // recipient's notification unread, or an emergency message (`mark` 1) without one.
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (id, seq, client_id, patient_id, doctor_id, sender_id, content, \
         message_type, status, is_emergency, created_at, updated_at, change_seq, version, \
         recipient_id, notice, written_at) \
         SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, \
         CASE mark WHEN 1 THEN 'EMERGENCY' ELSE 'REGULAR' END, 'SENT', mark, at, at, seq, 1, \
         CASE mark WHEN 1 THEN NULL ELSE recipient_id END, CASE mark WHEN 1 THEN NULL ELSE 0 END, \
         written \
         FROM event_log WHERE seq <= ?1 AND kind = 'SEND' ORDER BY seq",
    )?;
    match insert.execute([upto]) {
        Err(err) if is_repeat(&err) => {
            // A failed statement leaves nothing of itself: drop the repeats, then insert again.
            drop_repeats(conn, upto)?;
            insert.execute([upto])?;
        }
        other => {
            other?;
        }
    }
    // The counter may trail the log (`Seqs::save`): it catches up before the rows leave it.
    conn.prepare_cached("UPDATE counters SET value = ?1 WHERE name = 'change_seq' AND value < ?1")?
        .execute([upto])?;
    apply_receipts(conn, upto)?;
    // After the receipts; each edit or retraction seals the text it replaces, each raise
    // opens or reopens its emergency, each escalation escalates one, each alert record records
    // the doctors one reached, each take takes one, each resolution closes one and each stamp
    // marks one of its messages closed, one at a time (they are few), in seq order.
    for later in one_by_one(conn, upto)? {
        match later {
            Later::Change(change) => crate::store::versions::apply_logged(conn, &change)?,
            Later::Raise(raise) => crate::store::emergencies::apply_logged(conn, &raise)?,
            Later::Escalate(e) => crate::store::emergencies::apply_logged_escalate(conn, &e)?,
            Later::Alert(alert) => crate::store::emergencies::apply_logged_alert(conn, &alert)?,
            Later::Take(take) => crate::store::emergencies::apply_logged_take(conn, &take)?,
            Later::Resolve(r) => crate::store::emergencies::apply_logged_resolve(conn, &r)?,
            Later::Stamp(stamp) => crate::store::emergencies::apply_logged_stamp(conn, &stamp)?,
        }
    }
    let rows = conn
        .prepare_cached("DELETE FROM event_log WHERE seq <= ?1")?
        .execute([upto])?;
    Ok(Some(Moved { upto, rows }))
}

/// Applies the logged receipts up to `upto` to `messages` (whose rows they name are all there:
/// a receipt's message has a lower seq than the receipt, and sends up to `upto` have moved),
/// as `receipts.rs` would have written them at the time (the caller deletes them from the log).
/// The delivered receipts go first: a read one then keeps the delivery's time, as it would have.
fn apply_receipts(conn: &Connection, upto: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(APPLY_DELIVERED)?.execute([upto])?;
    conn.prepare_cached(APPLY_READ)?.execute([upto])?;
    conn.prepare_cached(MARKS_MOVED)?.execute([upto])?;
    Ok(())
}

// Both walk from the log (a few rows) into `messages` by id, never the other way round (a test
// holds the plan).
/// Applies the logged delivered receipts up to `?1`; one "up to" also sets `delivered_seq`
/// (schema v24).
pub(crate) const APPLY_DELIVERED: &str = "UPDATE messages SET (status, delivered_at, updated_at, change_seq, \
     delivered_seq) = (SELECT 'DELIVERED', r.at, max(messages.updated_at, r.at), r.seq, \
     CASE WHEN r.mark THEN r.seq END \
     FROM event_log AS r \
     WHERE r.id = messages.id AND r.kind = 'DELIVERED' AND r.seq <= ?1) \
     WHERE id IN (SELECT id FROM event_log WHERE seq <= ?1 \
     AND kind = 'DELIVERED') AND status = 'SENT'";
/// Applies the logged read receipts up to `?1`; one from a "read up to" also sets `read_seq`
/// (schema v23).
pub(crate) const APPLY_READ: &str = "UPDATE messages SET (status, read_at, delivered_at, updated_at, change_seq, \
     read_seq) = (SELECT 'READ', r.at, coalesce(messages.delivered_at, r.at), \
     max(messages.updated_at, r.at), r.seq, \
     CASE WHEN r.mark THEN r.seq END \
     FROM event_log AS r WHERE r.id = messages.id AND r.kind = 'READ' \
     AND r.seq <= ?1) \
     WHERE id IN (SELECT id FROM event_log WHERE seq <= ?1 AND kind = 'READ') \
     AND status != 'READ'";

/// Notes in each conversation, per side, what the logged receipts "up to" (`receipts::Mark`)
/// up to `?1` moved: the newest change seq of a read and of a delivery (what `sync` finds those
/// by), for a side's first such receipt its lowest message, and the newest message delivered so.
/// A receipt "up to" is one whose message notes its seq (`read_seq`, `delivered_seq`): not one
/// left out because its message had got there by then.
pub(crate) const MARKS_MOVED: &str = "UPDATE conversations SET \
     patient_read_change = max(patient_read_change, coalesce(n.pr, 0)), \
     doctor_read_change = max(doctor_read_change, coalesce(n.dr, 0)), \
     patient_read_from = CASE patient_read_from WHEN 0 THEN coalesce(n.prf, 0) \
     ELSE patient_read_from END, \
     doctor_read_from = CASE doctor_read_from WHEN 0 THEN coalesce(n.drf, 0) \
     ELSE doctor_read_from END, \
     patient_delivered_change = max(patient_delivered_change, coalesce(n.pd, 0)), \
     doctor_delivered_change = max(doctor_delivered_change, coalesce(n.dd, 0)), \
     patient_delivered_from = CASE patient_delivered_from WHEN 0 THEN coalesce(n.pdf, 0) \
     ELSE patient_delivered_from END, \
     doctor_delivered_from = CASE doctor_delivered_from WHEN 0 THEN coalesce(n.ddf, 0) \
     ELSE doctor_delivered_from END, \
     patient_delivered_top = max(patient_delivered_top, coalesce(n.pdt, 0)), \
     doctor_delivered_top = max(doctor_delivered_top, coalesce(n.ddt, 0)) \
     FROM (SELECT m.patient_id, m.doctor_id, \
     max(CASE WHEN m.sender_id != m.patient_id AND r.kind = 'READ' THEN r.seq END) AS pr, \
     max(CASE WHEN m.sender_id != m.doctor_id AND r.kind = 'READ' THEN r.seq END) AS dr, \
     min(CASE WHEN m.sender_id != m.patient_id AND r.kind = 'READ' THEN m.seq END) AS prf, \
     min(CASE WHEN m.sender_id != m.doctor_id AND r.kind = 'READ' THEN m.seq END) AS drf, \
     max(CASE WHEN m.sender_id != m.patient_id AND r.kind = 'DELIVERED' THEN r.seq END) \
     AS pd, \
     max(CASE WHEN m.sender_id != m.doctor_id AND r.kind = 'DELIVERED' THEN r.seq END) AS dd, \
     min(CASE WHEN m.sender_id != m.patient_id AND r.kind = 'DELIVERED' THEN m.seq END) \
     AS pdf, \
     min(CASE WHEN m.sender_id != m.doctor_id AND r.kind = 'DELIVERED' THEN m.seq END) \
     AS ddf, \
     max(CASE WHEN m.sender_id != m.patient_id AND r.kind = 'DELIVERED' THEN m.seq END) \
     AS pdt, \
     max(CASE WHEN m.sender_id != m.doctor_id AND r.kind = 'DELIVERED' THEN m.seq END) \
     AS ddt \
     FROM event_log AS r JOIN messages AS m ON m.id = r.id \
     WHERE r.seq <= ?1 AND r.kind IN ('DELIVERED', 'READ') AND r.mark = 1 \
     AND (m.read_seq = r.seq OR m.delivered_seq = r.seq) \
     GROUP BY m.patient_id, m.doctor_id) AS n \
     WHERE conversations.patient_id = n.patient_id AND conversations.doctor_id = n.doctor_id";

/// What the logged receipts, edits, retractions and stamps of `m` change on it once moved, in
/// seq order: a message read from `messages` or the log is shown as it will be, not as it was.
/// (The move applies a slice's receipts before its edits, retractions and stamps; every change
/// only ever raises
/// `updated_at` and `change_seq`, so the row ends the same in either order, even if the clock
/// stepped back between them.)
pub(crate) fn with_logged_changes(conn: &Connection, m: &mut Message) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, at, content FROM event_log WHERE id = ?1 AND kind != 'SEND' ORDER BY seq",
    )?;
    let logged = stmt.query_map([m.id.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    for change in logged {
        let (kind, at, content) = change?;
        let at = crate::time::from_ms(at);
        match kind.as_str() {
            "DELIVERED" if m.status == MessageStatus::Sent => {
                m.status = MessageStatus::Delivered;
                m.delivered_at = Some(at);
                m.updated_at = m.updated_at.max(at);
            }
            "READ" if m.status != MessageStatus::Read => {
                m.status = MessageStatus::Read;
                m.read_at = Some(at);
                m.delivered_at = m.delivered_at.or(Some(at));
                m.updated_at = m.updated_at.max(at);
            }
            "EDIT" => {
                m.edited = Some(Edited {
                    at,
                    version: m.version() + 1,
                });
                m.content = content.unwrap_or_default();
                m.updated_at = m.updated_at.max(at);
            }
            "RETRACT" => crate::store::versions::tombstone(m, at),
            "STAMP" if m.resolved_at.is_none() => {
                m.resolved_at = Some(at);
                m.updated_at = m.updated_at.max(at);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A change of a sent message waiting in the log (schema v26), by its sender.
#[derive(Debug, Clone)]
pub(crate) struct LoggedChange {
    pub seq: i64,
    pub id: MessageId,
    pub at: i64,
    /// Who changed it (the sender).
    pub actor: String,
    /// The asker's clientId, if any.
    pub client_id: Option<String>,
    pub change: Change,
}

impl LoggedChange {
    /// `change` of message `id` by `actor` at `at` (ms), taking the next change seq.
    pub(crate) fn new(
        seqs: &mut crate::store::Seqs,
        id: &MessageId,
        at: i64,
        actor: &clinic_protocol::User,
        client_id: Option<&clinic_protocol::ClientId>,
        change: Change,
    ) -> Self {
        Self {
            seq: seqs.next().0,
            id: id.clone(),
            at,
            actor: actor.id.as_str().to_owned(),
            client_id: client_id.map(|c| c.as_str().to_owned()),
            change,
        }
    }
}

/// What a logged change does.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// The text becomes `content` (kind 'EDIT').
    Edit { content: String },
    /// The message becomes a tombstone (kind 'RETRACT'; the reason in `content`, misdirected
    /// in `mark`). The message's uploads went when it was logged (`versions::retract`), so a
    /// file is gone when the retraction is answered, before the move clears the row.
    Retract {
        reason: Option<String>,
        misdirected: bool,
    },
}

/// Appends a change to the log. The caller validated it against the message as it will be.
pub(crate) fn log_change(conn: &Connection, change: &LoggedChange) -> rusqlite::Result<()> {
    let (kind, content, mark) = match &change.change {
        Change::Edit { content } => ("EDIT", Some(content.as_str()), false),
        Change::Retract {
            reason,
            misdirected,
        } => ("RETRACT", reason.as_deref(), *misdirected),
    };
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, sender_id, content, client_id, mark) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        change.seq,
        kind,
        change.id.as_str(),
        change.at,
        change.actor,
        content,
        change.client_id,
        mark,
    ])?;
    Ok(())
}

/// Whether an edit of message `id` with the asker's `client_id` waits in the log.
pub(crate) fn edit_logged(conn: &Connection, id: &str, client_id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM event_log WHERE id = ?1 AND kind = 'EDIT' \
         AND client_id = ?2)",
    )?
    .query_row([id, client_id], |r| r.get(0))
}

/// A raise waiting in the log (schema v27): an emergency message opened the emergency, or
/// reopened one a doctor had taken (`reopen`). A message joining one still waiting logs none.
#[derive(Debug, Clone)]
pub(crate) struct LoggedRaise {
    /// The emergency's change seq.
    pub seq: i64,
    pub emergency: EmergencyId,
    /// The message that raised it.
    pub message: MessageId,
    pub patient: UserId,
    pub doctor: UserId,
    /// When (ms): the message's time.
    pub at: i64,
    pub reopen: bool,
}

/// Appends a raise to the log. The caller judged it on the patient's emergency as it will be.
pub(crate) fn log_raise(
    conn: &Connection,
    keys: &mut LoggedKeys,
    raise: &LoggedRaise,
    emergency: &Emergency,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark) \
         VALUES (?1, 'RAISE', ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        raise.seq,
        raise.message.as_str(),
        raise.at,
        raise.patient.as_str(),
        raise.doctor.as_str(),
        raise.emergency.as_str(),
        raise.reopen,
    ])?;
    keys.changed(raise.seq, emergency);
    Ok(())
}

/// The escalation of an emergency nobody took in time, waiting in the log (schema v30).
#[derive(Debug, Clone)]
pub(crate) struct LoggedEscalate {
    /// The emergency's change seq.
    pub seq: i64,
    pub emergency: EmergencyId,
    pub patient: UserId,
    /// When (ms).
    pub at: i64,
}

/// Appends an escalation to the log. The caller judged it on the emergency as it will be,
/// `emergency` as the escalation leaves it.
pub(crate) fn log_escalate(
    conn: &Connection,
    keys: &mut LoggedKeys,
    escalation: &LoggedEscalate,
    emergency: &Emergency,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id) \
         VALUES (?1, 'ESCALATE', ?2, ?3, ?4, ?2)",
    )?
    .execute(params![
        escalation.seq,
        escalation.emergency.as_str(),
        escalation.at,
        escalation.patient.as_str(),
    ])?;
    keys.changed(escalation.seq, emergency);
    Ok(())
}

/// The record of whom an emergency's alert reached first, waiting in the log (schema v31).
#[derive(Debug, Clone)]
pub(crate) struct LoggedAlert {
    /// The emergency's change seq.
    pub seq: i64,
    pub emergency: EmergencyId,
    /// A JSON array of [doctor, devices], one per doctor reached for the first time.
    pub reached: String,
    /// When (ms).
    pub at: i64,
}

/// Appends an alert record to the log. The caller judged it on the doctors recorded for the
/// emergency, stored and logged; `emergency` as the record leaves it, when the caller knows it.
pub(crate) fn log_alert(
    conn: &Connection,
    keys: &mut LoggedKeys,
    alert: &LoggedAlert,
    emergency: Option<&Emergency>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, content, emergency_id) \
         VALUES (?1, 'ALERT', ?2, ?3, ?4, ?2)",
    )?
    .execute(params![
        alert.seq,
        alert.emergency.as_str(),
        alert.at,
        alert.reached
    ])?;
    if let Some(emergency) = emergency {
        keys.alerted(alert.seq, emergency);
    }
    Ok(())
}

/// The doctors the alert records of emergency `id` waiting in the log reached first, oldest
/// first, each with when it was recorded (ms).
pub(crate) fn logged_alerts(
    conn: &Connection,
    id: &EmergencyId,
) -> rusqlite::Result<Vec<(i64, UserId)>> {
    conn.prepare_cached(
        "SELECT l.at, j.value ->> 0 FROM event_log AS l, json_each(l.content) AS j \
         WHERE l.id = ?1 AND l.kind = 'ALERT' ORDER BY l.seq, j.key",
    )?
    .query_map([id.as_str()], |r| {
        Ok((r.get(0)?, UserId::from(r.get::<_, String>(1)?)))
    })?
    .collect()
}

/// Whether the raise of emergency `id` waits in the log.
pub(crate) fn raise_logged(conn: &Connection, id: &EmergencyId) -> rusqlite::Result<bool> {
    // No index by emergency: the log holds a step and a batch, a few thousand rows at most.
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM event_log WHERE kind = 'RAISE' AND emergency_id = ?1)",
    )?
    .query_row([id.as_str()], |r| r.get(0))
}

/// A doctor's take of an emergency waiting in the log (schema v28).
#[derive(Debug, Clone)]
pub(crate) struct LoggedTake {
    /// The emergency's change seq.
    pub seq: i64,
    pub emergency: EmergencyId,
    pub patient: UserId,
    pub doctor: UserId,
    /// When (ms).
    pub at: i64,
}

/// Appends a doctor's take to the log. The caller judged it on the emergency as it will be,
/// `emergency` as the take leaves it.
pub(crate) fn log_take(
    conn: &Connection,
    keys: &mut LoggedKeys,
    take: &LoggedTake,
    emergency: &Emergency,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id) \
         VALUES (?1, 'TAKE', ?2, ?3, ?4, ?5, ?2)",
    )?
    .execute(params![
        take.seq,
        take.emergency.as_str(),
        take.at,
        take.patient.as_str(),
        take.doctor.as_str(),
    ])?;
    keys.changed(take.seq, emergency);
    Ok(())
}

/// A doctor's resolution of an emergency waiting in the log (schema v29), and the stamps of
/// the emergency messages it closes at the seqs after its own.
#[derive(Debug, Clone)]
pub(crate) struct LoggedResolve {
    /// The emergency's change seq.
    pub seq: i64,
    pub emergency: EmergencyId,
    pub patient: UserId,
    pub doctor: UserId,
    pub note: Option<String>,
    /// When (ms).
    pub at: i64,
    /// No doctor had taken it: the resolution takes it too.
    pub takes: bool,
}

/// An emergency message's `resolvedAt`, set by a resolution (schema v29).
#[derive(Debug, Clone)]
pub(crate) struct LoggedStamp {
    /// The message's change seq.
    pub seq: i64,
    pub message: MessageId,
    pub emergency: EmergencyId,
    /// When (ms): the resolution's time.
    pub at: i64,
}

/// Appends a doctor's resolution and the stamps of its messages to the log. The caller judged
/// it on the emergency as it will be, `emergency` as the resolution leaves it.
pub(crate) fn log_resolve(
    conn: &Connection,
    keys: &mut LoggedKeys,
    resolve: &LoggedResolve,
    stamps: &[LoggedStamp],
    emergency: &Emergency,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, content, mark, \
         emergency_id) VALUES (?1, 'RESOLVE', ?2, ?3, ?4, ?5, ?6, ?7, ?2)",
    )?
    .execute(params![
        resolve.seq,
        resolve.emergency.as_str(),
        resolve.at,
        resolve.patient.as_str(),
        resolve.doctor.as_str(),
        resolve.note,
        resolve.takes,
    ])?;
    let mut stamp = conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, at, emergency_id) VALUES (?1, 'STAMP', ?2, ?3, ?4)",
    )?;
    for s in stamps {
        stamp.execute(params![
            s.seq,
            s.message.as_str(),
            s.at,
            s.emergency.as_str()
        ])?;
    }
    keys.changed(resolve.seq, emergency);
    Ok(())
}

/// Whether a resolution of emergency `id` waits in the log.
pub(crate) fn resolve_logged(conn: &Connection, id: &EmergencyId) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM event_log WHERE id = ?1 AND kind = 'RESOLVE')",
    )?
    .query_row([id.as_str()], |r| r.get(0))
}

/// Whether the log holds no row at all (this batch's included).
pub(crate) fn empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM event_log)")?
        .query_row([], |r| r.get(0))
}

/// Whether row `seq` is still in the log.
pub(crate) fn logged(conn: &Connection, seq: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM event_log WHERE seq = ?1)")?
        .query_row([seq], |r| r.get(0))
}

/// What the move applies one row at a time, after a slice's sends and receipts.
enum Later {
    Change(LoggedChange),
    Raise(LoggedRaise),
    Escalate(LoggedEscalate),
    Alert(LoggedAlert),
    Take(LoggedTake),
    Resolve(LoggedResolve),
    Stamp(LoggedStamp),
}

/// The logged edits, retractions, raises, escalations, alert records, takes, resolutions and
/// stamps up to `upto`, oldest first.
fn one_by_one(conn: &Connection, upto: i64) -> rusqlite::Result<Vec<Later>> {
    conn.prepare_cached(
        "SELECT seq, id, at, sender_id, client_id, kind, content, mark, patient_id, doctor_id, \
         emergency_id FROM event_log \
         WHERE seq <= ?1 \
         AND kind IN ('EDIT', 'RETRACT', 'RAISE', 'ESCALATE', 'ALERT', 'TAKE', 'RESOLVE', \
         'STAMP') \
         ORDER BY seq",
    )?
    .query_map([upto], |r| {
        let kind: String = r.get(5)?;
        if kind == "RAISE" {
            return Ok(Later::Raise(LoggedRaise {
                seq: r.get(0)?,
                emergency: r.get::<_, String>(10)?.into(),
                message: r.get::<_, String>(1)?.into(),
                patient: r.get::<_, String>(8)?.into(),
                doctor: r.get::<_, String>(9)?.into(),
                at: r.get(2)?,
                reopen: r.get(7)?,
            }));
        }
        if kind == "ESCALATE" {
            return Ok(Later::Escalate(LoggedEscalate {
                seq: r.get(0)?,
                emergency: r.get::<_, String>(10)?.into(),
                patient: r.get::<_, String>(8)?.into(),
                at: r.get(2)?,
            }));
        }
        if kind == "ALERT" {
            return Ok(Later::Alert(LoggedAlert {
                seq: r.get(0)?,
                emergency: r.get::<_, String>(10)?.into(),
                reached: r.get(6)?,
                at: r.get(2)?,
            }));
        }
        if kind == "TAKE" {
            return Ok(Later::Take(LoggedTake {
                seq: r.get(0)?,
                emergency: r.get::<_, String>(10)?.into(),
                patient: r.get::<_, String>(8)?.into(),
                doctor: r.get::<_, String>(3)?.into(),
                at: r.get(2)?,
            }));
        }
        if kind == "RESOLVE" {
            return Ok(Later::Resolve(LoggedResolve {
                seq: r.get(0)?,
                emergency: r.get::<_, String>(10)?.into(),
                patient: r.get::<_, String>(8)?.into(),
                doctor: r.get::<_, String>(3)?.into(),
                note: r.get(6)?,
                at: r.get(2)?,
                takes: r.get(7)?,
            }));
        }
        if kind == "STAMP" {
            return Ok(Later::Stamp(LoggedStamp {
                seq: r.get(0)?,
                message: r.get::<_, String>(1)?.into(),
                emergency: r.get::<_, String>(10)?.into(),
                at: r.get(2)?,
            }));
        }
        let content: Option<String> = r.get(6)?;
        Ok(Later::Change(LoggedChange {
            seq: r.get(0)?,
            id: r.get::<_, String>(1)?.into(),
            at: r.get(2)?,
            actor: r.get(3)?,
            client_id: r.get(4)?,
            change: match kind.as_str() {
                "EDIT" => Change::Edit {
                    content: content.unwrap_or_default(),
                },
                _ => Change::Retract {
                    reason: content,
                    misdirected: r.get(7)?,
                },
            },
        }))
    })?
    .collect()
}

/// Whether `err` is `messages`' unique key on clientId and sender refusing a row.
fn is_repeat(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, Some(msg))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                && msg.contains("messages.client_id, messages.sender_id")
    )
}

/// Never happens while the writer's keys are complete (`LoggedKeys`): logged sends that repeat
/// a stored message's sender and clientId, or an earlier logged one's. They are left out (their
/// unread counts taken back) instead of failing the move on `messages`' unique key, which would
/// stop every later move and every command that moves the log first, emergencies included. Only
/// then does anything scan the log by key.
fn drop_repeats(conn: &Connection, upto: i64) -> rusqlite::Result<()> {
    // The first logged row of each key is found once for the whole slice (there is no index by
    // key on the log to ask per row).
    const REPEAT: &str = "seq <= ?1 AND (EXISTS (SELECT 1 FROM messages AS m \
         WHERE m.sender_id = l.sender_id AND m.client_id = l.client_id) \
         OR seq NOT IN (SELECT min(seq) FROM event_log WHERE seq <= ?1 AND kind = 'SEND' \
         GROUP BY sender_id, client_id))";
    conn.execute(
        &format!(
            "UPDATE conversations SET patient_unread = patient_unread - n.to_patient, \
             doctor_unread = doctor_unread - n.to_doctor, \
             patient_notices = patient_notices - n.noted_patient, \
             doctor_notices = doctor_notices - n.noted_doctor \
             FROM (SELECT patient_id, doctor_id, sum(sender_id != patient_id) AS to_patient, \
             sum(sender_id != doctor_id) AS to_doctor, \
             sum(sender_id != patient_id AND mark = 0) AS noted_patient, \
             sum(sender_id != doctor_id AND mark = 0) AS noted_doctor FROM event_log AS l \
             WHERE kind = 'SEND' AND {REPEAT} \
             GROUP BY patient_id, doctor_id) AS n \
             WHERE conversations.patient_id = n.patient_id \
             AND conversations.doctor_id = n.doctor_id"
        ),
        [upto],
    )?;
    let dropped = conn.execute(
        &format!(
            "DELETE FROM event_log WHERE seq IN \
             (SELECT seq FROM event_log AS l WHERE kind = 'SEND' AND {REPEAT})"
        ),
        [upto],
    )?;
    // A change or raise of a send left out is left out when the move comes to it
    // (`versions::apply_logged`, `emergencies::apply_logged`).
    tracing::error!(
        dropped,
        "logged sends repeated the sender and clientId of another message; left out of the move"
    );
    Ok(())
}

/// Moves the log whole (on opening the database, and before a command that reads or changes
/// messages outside the log).
pub(crate) fn apply_all(conn: &Connection) -> rusqlite::Result<Option<Moved>> {
    apply(conn, i64::MAX)
}

/// Appends a text send (an emergency message with `mark` 1), addressed to `recipient`, to the
/// log, and its key to `keys`.
pub(crate) fn log(
    conn: &Connection,
    keys: &mut LoggedKeys,
    m: &Message,
    recipient: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO event_log (seq, kind, id, client_id, patient_id, doctor_id, sender_id, \
         recipient_id, content, at, mark, written) \
         VALUES (?1, 'SEND', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        m.seq.0,
        m.id.as_str(),
        m.client_id.as_str(),
        m.patient_id.as_str(),
        m.doctor_id.as_str(),
        m.sender_id.as_str(),
        recipient,
        m.content,
        m.created_at.timestamp_millis(),
        m.is_emergency,
        m.written_at.map(|t| t.timestamp_millis()),
    ])?;
    keys.add(m);
    Ok(())
}

/// The logged send of message `id`, as it was sent (see [`with_logged_changes`]); `None` if it
/// is not in the log.
pub(crate) fn send_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Message>> {
    conn.prepare_cached(
        "SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, at, mark, \
         written FROM event_log WHERE id = ?1 AND kind = 'SEND'",
    )?
    .query_row([id], logged_message)
    .optional()
}

/// The logged send `seq`, as the message it will be once moved; `None` if it has moved.
pub(crate) fn by_seq(conn: &Connection, seq: i64) -> rusqlite::Result<Option<Message>> {
    conn.prepare_cached(
        "SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, at, mark, \
         written FROM event_log WHERE seq = ?1 AND kind = 'SEND'",
    )?
    .query_row([seq], logged_message)
    .optional()
}

fn logged_message(row: &Row<'_>) -> rusqlite::Result<Message> {
    let at = crate::time::from_ms(row.get(7)?);
    let is_emergency: bool = row.get(8)?;
    Ok(Message {
        id: row.get::<_, String>(0)?.into(),
        seq: Seq(row.get(1)?),
        client_id: row.get::<_, String>(2)?.into(),
        patient_id: row.get::<_, String>(3)?.into(),
        doctor_id: row.get::<_, String>(4)?.into(),
        sender_id: row.get::<_, String>(5)?.into(),
        content: row.get(6)?,
        message_type: if is_emergency {
            MessageType::Emergency
        } else {
            MessageType::Regular
        },
        status: MessageStatus::Sent,
        file_url: None,
        file_name: None,
        file_size: None,
        file_type: None,
        is_emergency,
        resolved_at: None,
        created_at: at,
        updated_at: at,
        delivered_at: None,
        read_at: None,
        retracted: None,
        edited: None,
        written_at: row.get::<_, Option<i64>>(9)?.map(crate::time::from_ms),
    })
}

/// The logged sends and the logged receipts, as a table expression for tests that count them.
#[cfg(test)]
pub(crate) const LOGGED_SENDS: &str = "event_log WHERE kind = 'SEND'";
#[cfg(test)]
pub(crate) const LOGGED_RECEIPTS: &str = "event_log WHERE kind IN ('DELIVERED', 'READ')";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::users;
    use crate::store::{Reads, Seqs, StoreError, Writer, messages, notifications};
    use clinic_protocol::{ClientId, NewMessage, Role, User};

    struct Clinic {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        patient: User,
        doctor: User,
    }

    fn clinic() -> Clinic {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clinic.db");
        let conn = crate::store::open_write(&path, Synchronous::Full).unwrap();
        let user = |username, role| users::for_test(&conn, username, role);
        let patient = user("pat", Role::Patient);
        let doctor = user("doc", Role::Doctor);
        Clinic {
            _dir: dir,
            path,
            patient,
            doctor,
        }
    }

    fn text(c: &Clinic, content: &str) -> NewMessage {
        NewMessage {
            client_id: None,
            patient_id: c.patient.id.clone(),
            doctor_id: c.doctor.id.clone(),
            content: content.to_owned(),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        }
    }

    /// Queues a plain send "hello" from the patient with clientId `c-{i}`; resolves to what it
    /// stored.
    async fn hello(writer: &Writer, c: &Clinic, i: usize) -> messages::Sent {
        messages::queue_send(
            writer,
            c.patient.clone(),
            text(c, "hello"),
            ClientId::from(format!("c-{i}")),
        )
        .await
        .unwrap()
        .await
        .unwrap()
        .unwrap()
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// A logged send answers as the message it becomes: the same record before and after the
    /// move, the same notification, and a repeat of its clientId finds it in either place.
    #[test]
    fn a_logged_send_becomes_the_same_message_and_notification() {
        let c = clinic();
        let mut conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        // Longer than a preview, in characters of several bytes.
        let content = format!("{}🩺 done", "é".repeat(150));
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let id = ClientId::from("c-1".to_owned());
        let sent = messages::send(&tx, &mut seqs, &c.patient, &text(&c, &content), &id).unwrap();
        assert!(sent.created);
        assert_eq!((count(&tx, LOGGED_SENDS), count(&tx, "messages")), (1, 0));
        let again = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "x"), &id).unwrap();
        assert!(!again.created);
        assert_eq!(
            again.message, sent.message,
            "a repeat finds the logged send"
        );
        assert_eq!(
            apply_all(&tx).unwrap(),
            Some(Moved {
                upto: sent.message.seq.0,
                rows: 1
            })
        );
        assert_eq!((count(&tx, LOGGED_SENDS), count(&tx, "messages")), (0, 1));
        let moved = messages::by_id(&tx, &sent.message.id).unwrap().unwrap();
        assert_eq!(moved, sent.message);
        let again = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "x"), &id).unwrap();
        assert_eq!((again.created, &again.message), (false, &sent.message));
        let listed = notifications::list(&tx, &c.doctor.id, false, 10).unwrap();
        assert_eq!(listed, sent.notifications);
        assert_eq!(listed[0].body.chars().count(), 140);
        // Queued for the search index, as a message written directly would be.
        let queued: i64 = tx
            .query_row(
                "SELECT seq FROM search_changes ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(queued, sent.message.seq.0);
        seqs.save(&tx).unwrap();
        tx.commit().unwrap();
    }

    /// A commit whose newest change is a logged send leaves the counter's row alone (one page
    /// less per commit): the sequence is read from the log, also by the marker's check, and the
    /// move brings the counter up to what it moves before the rows leave the log.
    #[test]
    fn the_log_holds_the_newest_sequence_until_the_move_saves_it() {
        let c = clinic();
        let mut conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        let counter = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT value FROM counters WHERE name = 'change_seq'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let before = counter(&conn);
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let mut last = 0;
        for i in 0..2 {
            let id = ClientId::from(format!("c-{i}"));
            last = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "hi"), &id)
                .unwrap()
                .message
                .seq
                .0;
        }
        seqs.save(&tx).unwrap();
        assert_eq!(tx.changes(), 0, "the counter's row is not written");
        tx.commit().unwrap();
        assert_eq!(counter(&conn), before);
        assert_eq!(crate::store::marker::committed(&conn).unwrap(), last);

        // The next batch goes on from the log's newest row, not from the counter.
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let id = ClientId::from("c-2".to_owned());
        let third = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "hi"), &id).unwrap();
        assert_eq!(third.message.seq.0, last + 1);
        seqs.save(&tx).unwrap();
        tx.commit().unwrap();

        // Moved, the rows leave the log and the counter holds their sequence.
        let tx = conn.transaction().unwrap();
        assert_eq!(apply_all(&tx).unwrap().unwrap().upto, last + 1);
        tx.commit().unwrap();
        assert_eq!(count(&conn, LOGGED_SENDS), 0);
        assert_eq!(counter(&conn), last + 1);
        assert_eq!(crate::store::marker::committed(&conn).unwrap(), last + 1);

        // A change outside the log is saved in the counter as before.
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, false);
        assert_eq!(seqs.next().0, last + 2);
        seqs.save(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(counter(&conn), last + 2);
    }

    /// The writer keeps the log's keys in memory: a repeat in a later batch finds its logged
    /// send, and after the move its message; after a batch that rolled back, a send that takes
    /// the same seq is never mistaken for the one rolled back (the keys are taken back, and a key
    /// is checked against its row: `writer::tests` shows the first, this the outcome).
    #[tokio::test]
    async fn the_log_s_keys_find_repeats_and_leave_with_a_rolled_back_batch() {
        let c = clinic();
        let conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        // Idle steps never come: the log moves only when a command below makes it.
        let (writer, thread) =
            Writer::start_moving_after(conn, 64, 64, std::time::Duration::from_secs(3600)).unwrap();
        let outside = Connection::open(&c.path).unwrap();
        let send = |from: &User, id: &str| {
            let rx = messages::queue_send(
                &writer,
                from.clone(),
                text(&c, &format!("from {} as {id}", from.username)),
                ClientId::from(id.to_owned()),
            );
            async move { rx.await.unwrap().await.unwrap().unwrap() }
        };
        let first = send(&c.patient, "c-1").await;
        let again = send(&c.patient, "c-1").await;
        assert!(first.created && !again.created);
        assert_eq!(again.message, first.message, "found in the log");
        assert_eq!(count(&outside, LOGGED_SENDS), 1);

        // A send whose batch fails after writing: rolled back, its seq given back.
        let doomed = c.patient.clone();
        let new = text(&c, "rolled back");
        let failed = writer
            .submit_append(move |conn, seqs| {
                let id = ClientId::from("c-2".to_owned());
                let sent = messages::send(conn, seqs, &doomed, &new, &id)?;
                Err::<messages::Sent, _>(StoreError::bad_input(format!(
                    "refused after logging {}",
                    sent.message.seq.0
                )))
            })
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(failed.is_err());
        assert_eq!(count(&outside, LOGGED_SENDS), 1, "nothing of it committed");
        // The doctor's next send takes the seq the rolled-back one had.
        let other = send(&c.doctor, "c-2").await;
        let retried = send(&c.patient, "c-2").await;
        assert!(
            other.created && retried.created,
            "not mistaken for each other"
        );
        assert_eq!(retried.message.sender_id, c.patient.id);

        // Moved by another command; a repeat finds the message.
        writer.run(|_, _| Ok::<_, StoreError>(())).await.unwrap();
        assert_eq!(count(&outside, LOGGED_SENDS), 0);
        let moved = send(&c.patient, "c-1").await;
        assert_eq!((moved.created, &moved.message), (false, &first.message));
        assert_eq!(count(&outside, "messages"), 3);
        drop(writer);
        thread.join().unwrap();
    }

    /// Should a logged send ever repeat a stored message (sender and clientId), the move leaves
    /// it out and takes its unread count back, rather than failing on the unique key and with it
    /// every later move.
    #[test]
    fn a_logged_repeat_of_a_stored_message_is_left_out_of_the_move() {
        let c = clinic();
        let mut conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let id = ClientId::from("c-1".to_owned());
        let first = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "one"), &id).unwrap();
        apply_all(&tx).unwrap();
        // Unread messages and unread notifications: counted alike for plain sends.
        let unread = |tx: &Connection| -> i64 {
            let (messages, notices): (i64, i64) = tx
                .query_row(
                    "SELECT doctor_unread, doctor_notices FROM conversations",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(messages, notices);
            messages
        };
        assert_eq!(unread(&tx), 1);
        // A row with `of`'s sender and clientId and an id of its own, as a lost key would let
        // through.
        let log_copy = |tx: &Connection, seqs: &mut Seqs, of: &Message, id: &str| {
            let mut copy = of.clone();
            copy.id = id.to_owned().into();
            copy.seq = seqs.next();
            log(tx, &mut LoggedKeys::default(), &copy, c.doctor.id.as_str()).unwrap();
            copy
        };
        // A copy of a stored message, an edit of the copy (a batch that logs finds it as a
        // logged send), and a genuine new send after it.
        let repeat = log_copy(&tx, &mut seqs, &first.message, "m-repeat");
        let edit = LoggedChange::new(
            &mut seqs,
            &repeat.id,
            0,
            &c.patient,
            None,
            Change::Edit {
                content: "changed".to_owned(),
            },
        );
        log_change(&tx, &edit).unwrap();
        let other = ClientId::from("c-2".to_owned());
        let second = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "two"), &other).unwrap();
        let moved = apply_all(&tx).unwrap().unwrap();
        assert_eq!(moved.upto, second.message.seq.0);
        assert_eq!((count(&tx, LOGGED_SENDS), count(&tx, "messages")), (0, 2));
        assert!(messages::by_id(&tx, &repeat.id).unwrap().is_none());
        assert_eq!(
            count(&tx, "event_log"),
            0,
            "the edit of the repeat left out too"
        );
        assert_eq!(count(&tx, "message_versions"), 0);
        assert_eq!(unread(&tx), 2, "the repeat's unread count taken back");

        // Two logged rows with one key, neither stored yet: the first moves.
        let key = ClientId::from("c-3".to_owned());
        let third = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "three"), &key).unwrap();
        log_copy(&tx, &mut seqs, &third.message, "m-twin");
        apply_all(&tx).unwrap();
        assert_eq!((count(&tx, LOGGED_SENDS), count(&tx, "messages")), (0, 3));
        assert!(messages::by_id(&tx, &third.message.id).unwrap().is_some());
        assert_eq!(unread(&tx), 3);
        seqs.save(&tx).unwrap();
        tx.commit().unwrap();
    }

    /// Sends and receipts logged by a server that stopped before moving them are moved when
    /// the database is opened again, before anything is served.
    #[test]
    fn opening_the_database_moves_what_a_stopped_server_logged() {
        let c = clinic();
        let mut conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let mut sent = Vec::new();
        for i in 0..3 {
            let id = ClientId::from(format!("c-{i}"));
            let m = messages::send(&tx, &mut seqs, &c.patient, &text(&c, "hello"), &id).unwrap();
            sent.push(m.message.id);
        }
        // And the doctor's receipts, logged too: read the first, delivered the second.
        let doctor = &c.doctor.id;
        crate::store::receipts::mark_read(&tx, &mut seqs, doctor, &sent[..1]).unwrap();
        crate::store::receipts::mark_delivered(&tx, &mut seqs, doctor, &sent[1..2]).unwrap();
        seqs.save(&tx).unwrap();
        tx.commit().unwrap();
        drop(conn);
        let conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        assert_eq!(
            (
                count(&conn, LOGGED_SENDS),
                count(&conn, LOGGED_RECEIPTS),
                count(&conn, "messages")
            ),
            (0, 0, 3)
        );
        let statuses: Vec<String> = conn
            .prepare("SELECT status FROM messages ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(statuses, ["READ", "DELIVERED", "SENT"]);
        let unread = notifications::list(&conn, &c.doctor.id, true, 10).unwrap();
        assert_eq!(unread.len(), 3, "each moved send notifies its recipient");
        let counted: i64 = conn
            .query_row("SELECT doctor_unread FROM conversations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            counted, 2,
            "the move counts what it moves as unread, less what was read"
        );
    }

    /// What the writer does with plain sends: a batch of nothing else logs them; a batch with
    /// any other command moves the log first (so what it writes sorts after every message) and
    /// writes its own sends directly; a reader has the log moved before it reads.
    #[tokio::test]
    async fn the_writer_moves_the_log_before_any_other_command_and_any_read() {
        let c = clinic();
        let conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        // Idle steps never come: the log holds still between the commands below.
        let (writer, thread) =
            Writer::start_moving_after(conn, 64, 64, std::time::Duration::from_secs(3600)).unwrap();
        let reads = Reads::new(c.path.clone(), 2, writer.clone());
        let outside = Connection::open(&c.path).unwrap();
        let on_disk = || (count(&outside, LOGGED_SENDS), count(&outside, "messages"));
        let send = |i: usize| hello(&writer, &c, i);
        send(0).await;
        send(1).await;
        assert_eq!(on_disk(), (2, 0), "acknowledged and logged");

        let seen = writer
            .run(|conn, seqs| {
                let newest: i64 =
                    conn.query_row("SELECT max(change_seq) FROM messages", [], |r| r.get(0))?;
                Ok::<_, StoreError>((
                    seqs.log_sends(),
                    count(conn, LOGGED_SENDS),
                    count(conn, "messages"),
                    newest < seqs.next().0,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            seen,
            (false, 0, 2, true),
            "moved first; its change sorts after"
        );

        let d = send(2).await;
        let e = send(3).await;
        assert_eq!(on_disk(), (2, 2));
        let ids = [d.message.id.clone(), e.message.id.clone()];
        let unmoved = ids.clone();
        let without = reads
            .run_without_log(move |conn| {
                unmoved
                    .iter()
                    .map(|id| messages::by_id(conn, id).map(|m| m.is_some()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(without, [false, false], "still in the log");
        let read = reads
            .run(move |conn| {
                ids.iter()
                    .map(|id| messages::by_id(conn, id).map(|m| m.is_some()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(read, [true, true], "a reader sees every acknowledged send");
        assert_eq!(on_disk(), (0, 4));

        // A send sharing a batch with another command goes straight to `messages`.
        let held = writer.hold().await;
        let direct = messages::queue_send(
            &writer,
            c.patient.clone(),
            text(&c, "hello"),
            ClientId::from("c-4".to_owned()),
        )
        .await
        .unwrap();
        let probe = writer
            .submit(|conn, seqs| {
                Ok::<_, StoreError>((
                    seqs.log_sends(),
                    count(conn, LOGGED_SENDS),
                    count(conn, "messages"),
                ))
            })
            .await
            .unwrap();
        held.release().await;
        direct.await.unwrap().unwrap();
        assert_eq!(probe.await.unwrap().unwrap(), (false, 0, 5));
        drop((writer, reads));
        thread.join().unwrap();
        assert_eq!(on_disk(), (0, 5));
    }

    /// Through the store's own operations: an edit and a retraction queued among sends are
    /// logged with them (schema v26) and answer with the messages as they will be; the
    /// retraction of a message with a file is logged too, its upload gone and its file doomed
    /// when it is answered, the row cleared by the move.
    #[tokio::test]
    async fn edits_and_retractions_are_logged_even_one_that_takes_a_file() {
        use clinic_protocol::MessageWindows;
        use clinic_protocol::rest::{EditRequest, RetractRequest};
        let c = clinic();
        let conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        let (writer, thread) =
            Writer::start_moving_after(conn, 64, 64, std::time::Duration::from_secs(3600)).unwrap();
        let (search, _) =
            crate::store::search_index::SearchIndex::start(&c.path, writer.progress()).unwrap();
        let store = crate::store::Store {
            reads: Reads::new(c.path.clone(), 2, writer.clone()),
            writer: writer.clone(),
            search,
            receipt_ids: crate::store::budget::Budget::new(1, 1_000),
            pages: crate::store::budget::Budget::new(1, 1),
            refusals: std::sync::Arc::new(crate::audit::refusals::Refusals::new(
                crate::config::Rate::new(1.0, 1.0),
            )),
        };
        let windows = MessageWindows {
            unsend_secs: 60,
            retract_secs: 60,
            edit_secs: 60,
            max_edits: 5,
        };
        let outside = Connection::open(&c.path).unwrap();
        let on_disk = || {
            let logged = |kind: &str| count(&outside, &format!("event_log WHERE kind = '{kind}'"));
            (
                logged("SEND"),
                logged("EDIT"),
                logged("RETRACT"),
                count(&outside, "messages"),
            )
        };
        let retract = |id: &MessageId| {
            store.retract(
                &c.patient,
                id.clone(),
                RetractRequest::default(),
                None,
                windows,
                |_| {},
            )
        };
        let first = hello(&writer, &c, 0).await.message;
        let second = hello(&writer, &c, 1).await.message;
        let edit = EditRequest {
            content: "hello again".to_owned(),
            base_version: 1,
        };
        let edited = store
            .edit(&c.patient, first.id.clone(), edit, None, windows, |_| {})
            .await
            .unwrap();
        assert_eq!(
            (
                edited.changed,
                edited.message.version(),
                edited.message.content.as_str()
            ),
            (true, 2, "hello again")
        );
        let retracted = retract(&second.id).await.unwrap();
        assert!(retracted.changed && retracted.message.is_retracted());
        assert_eq!(on_disk(), (2, 1, 1, 0));
        // Retracting again while the first waits: the same tombstone, nothing logged.
        let again = retract(&second.id).await.unwrap();
        assert_eq!((again.changed, &again.message), (false, &retracted.message));
        assert_eq!(on_disk(), (2, 1, 1, 0));

        let third = hello(&writer, &c, 2).await.message;
        store.reads.run(|_| Ok::<_, StoreError>(())).await.unwrap();
        assert_eq!(on_disk(), (0, 0, 0, 3));
        assert_eq!(
            messages::by_id(&outside, &first.id).unwrap().unwrap(),
            edited.message
        );
        assert_eq!(
            messages::by_id(&outside, &second.id).unwrap().unwrap(),
            retracted.message
        );
        let sha = "cd".repeat(32);
        outside
            .execute_batch(&format!(
                "UPDATE messages SET file_url = '/api/files/u-1', file_name = 'scan.pdf' \
                 WHERE id = '{third}'; \
                 INSERT INTO uploads (id, sha256, size, content_type, file_name, uploader_id, \
                     patient_id, doctor_id, message_id, created_at) \
                 VALUES ('u-1', '{sha}', 5, 'application/pdf', 'scan.pdf', '{p}', '{p}', '{d}', \
                     '{third}', 0);",
                third = third.id.as_str(),
                p = c.patient.id.as_str(),
                d = c.doctor.id.as_str(),
            ))
            .unwrap();
        hello(&writer, &c, 3).await;
        assert_eq!(on_disk(), (1, 0, 0, 3));
        let with_file = retract(&third.id).await.unwrap();
        assert_eq!(
            (&with_file.message.file_url, &with_file.files),
            (&None, &vec![sha.clone()])
        );
        assert_eq!(on_disk(), (1, 0, 1, 3), "logged beside the send");
        let uploads = count(&outside, "uploads");
        let doomed = count(&outside, "doomed_files");
        assert_eq!((uploads, doomed), (0, 1), "the upload went with the answer");
        let row = messages::by_id(&outside, &third.id).unwrap().unwrap();
        assert!(row.file_url.is_some(), "the row waits for the move");
        // As the removal after the answer does: the move must not doom the file again.
        outside.execute("DELETE FROM doomed_files", []).unwrap();
        store.reads.run(|_| Ok::<_, StoreError>(())).await.unwrap();
        assert_eq!(on_disk(), (0, 0, 0, 4));
        assert_eq!(
            messages::by_id(&outside, &third.id).unwrap().unwrap(),
            with_file.message
        );
        assert_eq!(
            count(&outside, "doomed_files"),
            0,
            "the move dooms nothing more"
        );
        drop((store, writer));
        thread.join().unwrap();
    }

    /// An idle step that fails is tried again a little later without waiting for a command: a
    /// server that goes quiet after a failed move still moves its log.
    #[tokio::test]
    async fn a_failed_idle_step_is_tried_again_without_a_command() {
        let c = clinic();
        let conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        let (writer, thread) =
            Writer::start_moving_after(conn, 64, 64, std::time::Duration::from_millis(1)).unwrap();
        let outside = Connection::open(&c.path).unwrap();
        // The move's insert into `messages` fails while this trigger is there.
        outside
            .execute_batch(
                "CREATE TRIGGER refuse_moves BEFORE INSERT ON messages \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            )
            .unwrap();
        hello(&writer, &c, 0).await;
        // Long enough for the idle step to have come and failed.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(count(&outside, LOGGED_SENDS), 1, "the step failed");
        outside.execute_batch("DROP TRIGGER refuse_moves").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while count(&outside, LOGGED_SENDS) != 0 {
            assert!(std::time::Instant::now() < deadline, "never tried again");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(count(&outside, "messages"), 1);
        drop(writer);
        thread.join().unwrap();
    }

    /// The writer drops the search index's queue as far as the index has applied it, in the
    /// steps that move the log and, with no sends to move, on its own; never further.
    #[tokio::test]
    async fn the_writer_drops_the_search_queue_the_index_applied() {
        let c = clinic();
        let conn = crate::store::open_write(&c.path, Synchronous::Full).unwrap();
        let (writer, thread) = Writer::start(conn, 64, 64).unwrap();
        let progress = writer.progress();
        let outside = Connection::open(&c.path).unwrap();
        let queued = || count(&outside, "search_changes");
        let send = |i: usize| hello(&writer, &c, i);
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(50));
        for i in 0..200 {
            send(i).await;
        }
        settle().await;
        assert_eq!(queued(), 200, "nothing applied, nothing dropped");
        progress.searched(150);
        send(200).await;
        settle().await;
        let first: i64 = outside
            .query_row("SELECT min(id) FROM search_changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            (first, queued()),
            (151, 51),
            "dropped up to what was applied"
        );

        // Changes without sends: dropped once a thousand or so are applied.
        for _ in 0..6 {
            writer
                .run(|conn, _| {
                    conn.execute("UPDATE messages SET content = 'edited'", [])?;
                    Ok::<_, StoreError>(())
                })
                .await
                .unwrap();
        }
        let newest: i64 = outside
            .query_row("SELECT max(id) FROM search_changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued(), 51 + 6 * 201);
        progress.searched(newest);
        writer.run(|_, _| Ok::<_, StoreError>(())).await.unwrap();
        settle().await;
        assert_eq!(queued(), 0);
        drop(writer);
        thread.join().unwrap();
    }
}
