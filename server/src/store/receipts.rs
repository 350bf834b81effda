//! Read and delivered receipts: moving messages addressed to the caller to READ or DELIVERED,
//! each change taking a new change sequence, written to the message or, in a batch that logs,
//! as a row of the log (schema v21; `event_log` since v25).

use super::Seqs;
use super::messages::check_access;
use crate::store::StoreError;
use crate::time::{from_ms, now_ms};
use chrono::{DateTime, Utc};
use clinic_protocol::{ConversationKey, MessageId, MessageStatus, User, UserId, limits};
use rusqlite::{Connection, OptionalExtension, params};
/// Messages of one conversation whose status changed together (a receipt to tell both sides of).
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub key: ConversationKey,
    pub ids: Vec<MessageId>,
    pub at: DateTime<Utc>,
}

/// How a receipt came: naming its messages, or "up to" one of them (a watermark). A read up to a
/// message reads every earlier one addressed to the reader; a delivered receipt counts as "up to"
/// when the messages it changes in a conversation are all newer than every message of that side
/// delivered so before (`ReadMarks::delivered_top`). Either way its messages take their change
/// seqs in the order of their seqs, which is what lets them keep out of the per-user change
/// indexes (schema v23 for reads, `read_seq`; v24 for deliveries, `delivered_seq`): the
/// conversation notes the receipt's change seq and `sync` finds them through it
/// (`store/changes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    ById,
    UpTo,
}

/// A message a receipt may change: addressed to the receipt's sender, with its conversation, its
/// seq and its status as stored (SENT for one still in the send log).
struct Candidate {
    id: MessageId,
    key: ConversationKey,
    seq: i64,
    status: String,
}

fn candidate(id: MessageId) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    move |r| {
        Ok(Candidate {
            id: id.clone(),
            key: super::rows::conversation_key(r)?,
            seq: r.get(2)?,
            status: r.get(3)?,
        })
    }
}

/// The conversation, seq and status of message `?1` if it is addressed to `?2`.
const STORED: &str = "SELECT patient_id, doctor_id, seq, status FROM messages WHERE id = ?1 \
     AND sender_id != ?2 AND (patient_id = ?2 OR doctor_id = ?2)";
/// The same for a logged send (always SENT: nothing changes a send in the log).
const LOGGED: &str = "SELECT patient_id, doctor_id, seq, 'SENT' FROM event_log WHERE id = ?1 \
     AND kind = 'SEND' \
     AND sender_id != ?2 AND (patient_id = ?2 OR doctor_id = ?2)";
/// The receipts waiting for message `?1`.
const WAITING: &str = "SELECT kind FROM event_log WHERE id = ?1 AND kind IN ('DELIVERED', 'READ')";

/// The candidates among `ids`: messages in the caller's conversations not sent by the caller,
/// in `messages` or, in a batch that logs, in the send log.
fn addressed_to(
    conn: &Connection,
    seqs: &Seqs,
    caller: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Candidate>, StoreError> {
    let mut stored = conn.prepare_cached(STORED)?;
    let mut logged = match seqs.log_sends() {
        true => Some(conn.prepare_cached(LOGGED)?),
        false => None,
    };
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let params = params![id.as_str(), caller.as_str()];
        let mut message = stored.query_row(params, candidate(id.clone())).optional()?;
        if let (None, Some(logged)) = (&message, logged.as_mut()) {
            message = logged.query_row(params, candidate(id.clone())).optional()?;
        }
        found.extend(message);
    }
    Ok(found)
}

/// How far along a status is, for the receipts: delivered after sent, read after delivered.
fn rank(status: &str) -> u8 {
    match status {
        "READ" => 2,
        "DELIVERED" => 1,
        _ => 0,
    }
}

fn status_text(to: MessageStatus) -> &'static str {
    match to {
        MessageStatus::Read => "READ",
        _ => "DELIVERED",
    }
}

/// The candidates a receipt of `to` changes, each once: not those already there, nor, in a batch
/// that logs, those with such a receipt already waiting (the message as it will be).
fn changing(
    conn: &Connection,
    seqs: &Seqs,
    candidates: Vec<Candidate>,
    to: MessageStatus,
) -> Result<Vec<Candidate>, StoreError> {
    let to = rank(status_text(to));
    let mut waiting = match seqs.log_sends() {
        true => Some(conn.prepare_cached(WAITING)?),
        false => None,
    };
    let mut kept = Vec::with_capacity(candidates.len());
    let mut seen = std::collections::HashSet::with_capacity(candidates.len());
    for c in candidates {
        if !seen.insert(c.seq) {
            continue;
        }
        let mut reached = rank(&c.status);
        if let Some(waiting) = waiting.as_mut() {
            for status in waiting.query_map([c.id.as_str()], |r| r.get::<_, String>(0))? {
                reached = reached.max(rank(&status?));
            }
        }
        if reached < to {
            kept.push(c);
        }
    }
    Ok(kept)
}

/// Moves `candidates` (each one the receipt changes, see [`changing`]) to `to`, each taking a
/// new change seq in the order given: as a row of the log in a batch that logs (applied
/// by the move, `projection.rs`), otherwise on the message, and then, for a receipt "up to",
/// noting it in the conversation. The candidates of a receipt "up to" are of one conversation,
/// by seq.
fn write(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    candidates: Vec<Candidate>,
    to: MessageStatus,
    mark: Mark,
) -> Result<Vec<Receipt>, StoreError> {
    let now = now_ms();
    let logs = seqs.log_sends();
    let sql = match (logs, to, mark) {
        (true, _, _) => {
            "INSERT INTO event_log (seq, id, kind, at, mark) \
             VALUES (?3, ?1, ?4, ?2, ?5)"
        }
        (false, MessageStatus::Read, Mark::ById) => {
            "UPDATE messages SET status = 'READ', read_at = ?2, \
             delivered_at = COALESCE(delivered_at, ?2), updated_at = max(updated_at, ?2), \
             change_seq = ?3 WHERE id = ?1 AND status != 'READ'"
        }
        (false, MessageStatus::Read, Mark::UpTo) => {
            "UPDATE messages SET status = 'READ', read_at = ?2, \
             delivered_at = COALESCE(delivered_at, ?2), updated_at = max(updated_at, ?2), \
             change_seq = ?3, read_seq = ?3 WHERE id = ?1 AND status != 'READ'"
        }
        (false, _, Mark::ById) => {
            "UPDATE messages SET status = 'DELIVERED', delivered_at = ?2, \
             updated_at = max(updated_at, ?2), change_seq = ?3 WHERE id = ?1 AND status = 'SENT'"
        }
        (false, _, Mark::UpTo) => {
            "UPDATE messages SET status = 'DELIVERED', delivered_at = ?2, \
             updated_at = max(updated_at, ?2), change_seq = ?3, delivered_seq = ?3 \
             WHERE id = ?1 AND status = 'SENT' \
            "
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut receipts: Vec<Receipt> = Vec::new();
    // Per conversation: the change seq of its last change, and its first and last message.
    let mut moved: Vec<(i64, i64, i64)> = Vec::new();
    for c in candidates {
        let seq = seqs.next();
        let written = if logs {
            let flag = i64::from(mark == Mark::UpTo);
            stmt.execute(params![c.id.as_str(), now, seq.0, status_text(to), flag])?
        } else {
            stmt.execute(params![c.id.as_str(), now, seq.0])?
        };
        if written == 0 {
            continue;
        }
        match receipts.iter().position(|r| r.key == c.key) {
            Some(i) => {
                receipts[i].ids.push(c.id);
                moved[i].0 = seq.0;
                moved[i].2 = c.seq;
            }
            None => {
                receipts.push(Receipt {
                    key: c.key,
                    ids: vec![c.id],
                    at: from_ms(now),
                });
                moved.push((seq.0, c.seq, c.seq));
            }
        }
    }
    if mark == Mark::UpTo && !logs {
        for (receipt, (change, first, last)) in receipts.iter().zip(moved) {
            up_to_moved(conn, &receipt.key, recipient, to, change, first, last)?;
        }
    }
    Ok(receipts)
}

/// Notes in `key`'s row that `recipient`'s watermark of `to` moved at change seq `change`,
/// through messages `first` to `last` (seqs), as the move does for logged receipts
/// (`projection::MARKS_MOVED`): the change seq, the first message if it is the side's first such
/// receipt, and for a delivery the newest message delivered so.
fn up_to_moved(
    conn: &Connection,
    key: &ConversationKey,
    recipient: &UserId,
    to: MessageStatus,
    change: i64,
    first: i64,
    last: i64,
) -> Result<(), StoreError> {
    let side = if *recipient == key.patient_id {
        "patient"
    } else {
        "doctor"
    };
    let sql = match to {
        MessageStatus::Read => format!(
            "UPDATE conversations SET {side}_read_change = max({side}_read_change, ?3), \
             {side}_read_from = CASE {side}_read_from WHEN 0 THEN ?4 ELSE {side}_read_from END \
             WHERE patient_id = ?1 AND doctor_id = ?2"
        ),
        _ => format!(
            "UPDATE conversations SET \
             {side}_delivered_change = max({side}_delivered_change, ?3), \
             {side}_delivered_from = CASE {side}_delivered_from WHEN 0 THEN ?4 \
             ELSE {side}_delivered_from END, \
             {side}_delivered_top = max({side}_delivered_top, ?5) \
             WHERE patient_id = ?1 AND doctor_id = ?2"
        ),
    };
    let (patient, doctor) = (key.patient_id.as_str(), key.doctor_id.as_str());
    let mut stmt = conn.prepare_cached(&sql)?;
    match to {
        MessageStatus::Read => stmt.execute(params![patient, doctor, change, first])?,
        _ => stmt.execute(params![patient, doctor, change, first, last])?,
    };
    Ok(())
}

pub(crate) fn check_ids(ids: &[MessageId]) -> Result<(), StoreError> {
    if ids.len() > limits::MAX_IDS_PER_REQUEST {
        return Err(StoreError::too_large(format!(
            "at most {} ids per request",
            limits::MAX_IDS_PER_REQUEST
        )));
    }
    Ok(())
}

/// Marks the given messages addressed to `reader` as read. Ids that are unknown, not addressed
/// to the caller or already read are skipped.
pub(crate) fn mark_read(
    conn: &Connection,
    seqs: &mut Seqs,
    reader: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Receipt>, StoreError> {
    let candidates = addressed_to(conn, seqs, reader, ids)?;
    let candidates = changing(conn, seqs, candidates, MessageStatus::Read)?;
    write(
        conn,
        seqs,
        reader,
        candidates,
        MessageStatus::Read,
        Mark::ById,
    )
}

/// Marks the given messages addressed to `recipient` as delivered, skipping those unknown, not
/// addressed to the caller or delivered already. Each conversation's share is a receipt "up to"
/// (by seq) when all the messages it changes are newer than those of that side delivered so
/// before, as the app's receipts are; otherwise by id.
pub(crate) fn mark_delivered(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Receipt>, StoreError> {
    let candidates = addressed_to(conn, seqs, recipient, ids)?;
    let mut candidates = changing(conn, seqs, candidates, MessageStatus::Delivered)?;
    // By conversation (in the order of their first message named), then by seq.
    let mut order: Vec<ConversationKey> = Vec::new();
    for c in &candidates {
        if !order.contains(&c.key) {
            order.push(c.key.clone());
        }
    }
    candidates.sort_by_key(|c| (order.iter().position(|k| *k == c.key), c.seq));
    let mut receipts = Vec::with_capacity(order.len());
    let mut rest = candidates.into_iter().peekable();
    while let Some(first) = rest.next() {
        let key = first.key.clone();
        let mut group = vec![first];
        while let Some(c) = rest.next_if(|c| c.key == key) {
            group.push(c);
        }
        let (patient, doctor) = (key.patient_id.as_str(), key.doctor_id.as_str());
        let marks = seqs.read_marks_mut();
        let top = marks.delivered_top(conn, patient, doctor, recipient.as_str())?;
        let mark = if group[0].seq > top {
            let newest = group[group.len() - 1].seq;
            marks.raise_delivered_top(patient, doctor, recipient.as_str(), newest);
            Mark::UpTo
        } else {
            Mark::ById
        };
        receipts.extend(write(
            conn,
            seqs,
            recipient,
            group,
            MessageStatus::Delivered,
            mark,
        )?);
    }
    Ok(receipts)
}

/// The seq of message `?1` in the conversation of patient `?2` and doctor `?3`.
const SEQ_STORED: &str =
    "SELECT seq FROM messages WHERE id = ?1 AND patient_id = ?2 AND doctor_id = ?3";
/// The same for a logged send.
const SEQ_LOGGED: &str = "SELECT seq FROM event_log WHERE id = ?1 AND kind = 'SEND' \
     AND patient_id = ?2 AND doctor_id = ?3";
/// The messages of the conversation of `?1` and `?2` addressed to `?3` after seq `?5` (the
/// reader's mark, `ReadMarks`) up to seq `?4` that are not read, with their conversation, seq
/// and status.
pub(super) const UNREAD_STORED: &str = "SELECT id, patient_id, doctor_id, seq, status \
     FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND seq > ?5 AND seq <= ?4 \
     AND sender_id != ?3 AND status != 'READ' ORDER BY seq";
/// The logged send `?1` if it is addressed to `?2` (its seq comes from the writer's list of the
/// conversation's logged sends, `LoggedKeys::in_conversation`).
const UNREAD_LOGGED: &str = "SELECT id, patient_id, doctor_id, seq, 'SENT' FROM event_log \
     WHERE seq = ?1 AND kind = 'SEND' AND sender_id != ?2";

/// A candidate from [`UNREAD_STORED`] or [`UNREAD_LOGGED`] (its id first).
fn unread(r: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        id: MessageId::from(r.get::<_, String>(0)?),
        key: ConversationKey::new(
            UserId::from(r.get::<_, String>(1)?),
            UserId::from(r.get::<_, String>(2)?),
        ),
        seq: r.get(3)?,
        status: r.get(4)?,
    })
}

/// Marks `up_to` and every earlier message addressed to `reader` in its conversation as read.
/// In a batch that logs, the messages it changes are found in `messages` and among the logged
/// sends, and each gets a read receipt in the log, as [`mark_read`] by their ids would. Only
/// messages after the reader's last mark are looked at (`read_marks.rs`).
pub(crate) fn mark_read_up_to(
    conn: &Connection,
    seqs: &mut Seqs,
    reader: &User,
    key: &ConversationKey,
    up_to: &MessageId,
) -> Result<Vec<Receipt>, StoreError> {
    check_access(conn, reader, key)?;
    let (patient, doctor) = (key.patient_id.as_str(), key.doctor_id.as_str());
    let seq_of = |sql: &str| -> Result<Option<i64>, StoreError> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row(params![up_to.as_str(), patient, doctor], |r| r.get(0))
            .optional()?)
    };
    let limit = match seq_of(SEQ_STORED)? {
        Some(seq) => Some(seq),
        None if seqs.log_sends() => seq_of(SEQ_LOGGED)?,
        None => None,
    };
    let limit =
        limit.ok_or_else(|| StoreError::not_found("no such message in this conversation"))?;
    let reader_id = reader.id.as_str();
    let known = seqs
        .read_marks_mut()
        .get(conn, patient, doctor, reader_id)?;
    let mut found: Vec<Candidate> = conn
        .prepare_cached(UNREAD_STORED)?
        .query_map(params![patient, doctor, reader_id, limit, known], unread)?
        .collect::<Result<_, _>>()?;
    if seqs.log_sends() {
        let mut logged = conn.prepare_cached(UNREAD_LOGGED)?;
        for seq in seqs.logged().in_conversation(patient, doctor, known, limit) {
            found.extend(
                logged
                    .query_row(params![seq, reader_id], unread)
                    .optional()?,
            );
        }
    }
    let found = changing(conn, seqs, found, MessageStatus::Read)?;
    let receipts = write(
        conn,
        seqs,
        &reader.id,
        found,
        MessageStatus::Read,
        Mark::UpTo,
    )?;
    seqs.read_marks_mut().set(patient, doctor, reader_id, limit);
    Ok(receipts)
}

#[cfg(test)]
mod random;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::projection::{LOGGED_RECEIPTS, LOGGED_SENDS, apply_all};
    use crate::store::writer::Pace;
    use crate::store::{Reads, Writer, marker, messages, users};
    use clinic_protocol::{ClientId, NewMessage, Role};

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    fn hello(patient: &User, doctor: &User) -> NewMessage {
        NewMessage {
            client_id: None,
            patient_id: patient.id.clone(),
            doctor_id: doctor.id.clone(),
            content: "hello".to_owned(),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        }
    }

    /// A database in a temporary folder (kept while the test holds it) with a patient and a
    /// doctor.
    fn clinic() -> (tempfile::TempDir, Connection, User, User) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let patient = users::for_test(&conn, "pat", Role::Patient);
        let doctor = users::for_test(&conn, "doc", Role::Doctor);
        (dir, conn, patient, doctor)
    }

    /// A writer over a clinic of one patient and one doctor whose idle moves never come: the
    /// logs hold still between commands.
    struct Running {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        writer: Writer,
        thread: std::thread::JoinHandle<()>,
        patient: User,
        doctor: User,
    }

    impl Running {
        fn start() -> Self {
            Self::start_paced(Pace {
                idle_move: std::time::Duration::from_secs(3600),
                ..Pace::SERVING
            })
        }

        /// A writer with its own pace.
        fn start_paced(pace: Pace) -> Self {
            Self::start_batched(pace, 64)
        }

        /// A writer with its own pace and most commands per batch, and room for 512 queued.
        fn start_batched(pace: Pace, max_batch: usize) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.db");
            let conn = crate::store::open_write(&path, Synchronous::Full).unwrap();
            let patient = users::for_test(&conn, "pat", Role::Patient);
            let doctor = users::for_test(&conn, "doc", Role::Doctor);
            let (writer, thread) = Writer::start_paced(conn, 512, max_batch, pace).unwrap();
            Self {
                _dir: dir,
                path,
                writer,
                thread,
                patient,
                doctor,
            }
        }

        /// Stops the writer cleanly and starts a new one on the same database.
        fn restart(self) -> Self {
            drop(self.writer);
            self.thread.join().unwrap();
            let conn = crate::store::open_write(&self.path, Synchronous::Full).unwrap();
            let idle = std::time::Duration::from_secs(3600);
            let (writer, thread) = Writer::start_moving_after(conn, 64, 64, idle).unwrap();
            Self {
                writer,
                thread,
                ..self
            }
        }

        /// The doctor's "read up to" `up_to`, committed.
        async fn read_up_to(&self, up_to: &MessageId) -> Vec<Receipt> {
            let (reader, key, up_to) = (self.doctor.clone(), self.key(), up_to.clone());
            self.writer
                .run_append(move |conn, seqs| mark_read_up_to(conn, seqs, &reader, &key, &up_to))
                .await
                .unwrap()
        }

        /// The patient's message with this clientId, committed.
        async fn send(&self, client_id: &str) -> clinic_protocol::Message {
            let new = hello(&self.patient, &self.doctor);
            let client_id = ClientId::from(client_id.to_owned());
            messages::queue_send(&self.writer, self.patient.clone(), new, client_id)
                .await
                .unwrap()
                .await
                .unwrap()
                .unwrap()
                .message
        }

        fn key(&self) -> ConversationKey {
            ConversationKey {
                patient_id: self.patient.id.clone(),
                doctor_id: self.doctor.id.clone(),
            }
        }

        fn stop(self) {
            drop(self.writer);
            self.thread.join().unwrap();
        }
    }

    fn ids(receipts: &[Receipt]) -> Vec<MessageId> {
        receipts.iter().flat_map(|r| r.ids.clone()).collect()
    }

    /// In a batch that logs, a receipt is a row of the log that changes nothing else,
    /// refused or skipped as a written one would be (not the caller's to mark, unknown, already
    /// there, or already waiting), and the move makes of it what writing it at the time would
    /// have: the status, both times, the change sequence and the unread count. Until then a
    /// repeated send answers with the message as it will be.
    #[test]
    fn a_logged_receipt_becomes_what_a_written_one_would_have_been() {
        let (_dir, mut conn, patient, doctor) = clinic();
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let send = |tx: &Connection, seqs: &mut Seqs, i: usize| {
            let id = ClientId::from(format!("c-{i}"));
            messages::send(tx, seqs, &patient, &hello(&patient, &doctor), &id)
                .unwrap()
                .message
        };
        let (first, second) = (send(&tx, &mut seqs, 1), send(&tx, &mut seqs, 2));
        apply_all(&tx).unwrap();
        // Still in the send log when its receipts come.
        let third = send(&tx, &mut seqs, 3);
        let unknown = MessageId::from("m-nothing".to_owned());
        let all = [first.id.clone(), second.id.clone(), third.id.clone()];

        let by_sender = mark_delivered(&tx, &mut seqs, &patient.id, &all).unwrap();
        assert!(by_sender.is_empty(), "not addressed to the sender");
        let asked = [all.to_vec(), vec![third.id.clone(), unknown]].concat();
        let delivered = mark_delivered(&tx, &mut seqs, &doctor.id, &asked).unwrap();
        assert_eq!(ids(&delivered), all, "each once, the unknown one skipped");
        let read = mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&second.id)).unwrap();
        assert_eq!(ids(&read), std::slice::from_ref(&second.id));
        assert!(
            mark_delivered(&tx, &mut seqs, &doctor.id, &all)
                .unwrap()
                .is_empty()
        );
        let once_more =
            mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&second.id)).unwrap();
        assert!(once_more.is_empty(), "already waiting");
        let read_seq: i64 = tx
            .query_row(
                &format!("SELECT max(seq) FROM {LOGGED_RECEIPTS}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(count(&tx, LOGGED_RECEIPTS), 4);
        let statuses = |tx: &Connection| -> Vec<String> {
            tx.prepare("SELECT status FROM messages ORDER BY seq")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(statuses(&tx), ["SENT", "SENT"], "nothing rewritten");
        seqs.save(&tx).unwrap();
        assert_eq!(marker::committed(&tx).unwrap(), read_seq);

        let repeat = messages::send(
            &tx,
            &mut seqs,
            &patient,
            &hello(&patient, &doctor),
            &ClientId::from("c-2".to_owned()),
        )
        .unwrap();
        assert!(!repeat.created);
        assert_eq!(repeat.message.status, MessageStatus::Read);
        assert!(repeat.message.delivered_at.is_some() && repeat.message.read_at.is_some());

        let moved = apply_all(&tx).unwrap().unwrap();
        assert_eq!(
            (moved.upto, moved.rows),
            (read_seq, 5),
            "one send, four receipts"
        );
        assert_eq!(count(&tx, LOGGED_RECEIPTS), 0);
        assert_eq!(statuses(&tx), ["DELIVERED", "READ", "DELIVERED"]);
        let now = |id: &MessageId| messages::by_id(&tx, id).unwrap().unwrap();
        assert_eq!(now(&second.id), repeat.message, "as the repeat said");
        let second_now = now(&second.id);
        assert_eq!(second_now.read_at, Some(read[0].at));
        assert_eq!(
            second_now.delivered_at,
            Some(delivered[0].at),
            "the first time"
        );
        let change_seq: i64 = tx
            .query_row(
                "SELECT change_seq FROM messages WHERE id = ?1",
                [second.id.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(change_seq, read_seq, "the read receipt's change");
        let unread: i64 = tx
            .query_row("SELECT doctor_unread FROM conversations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(unread, 2);
    }

    /// What deliveries "up to" leave: per message (by seq) its status and whether its last
    /// change was such a delivery (and whether one ever delivered it); per conversation, each
    /// side's noted change, first and top.
    type Delivered = (Vec<(i64, String, bool, bool, i64)>, Vec<[i64; 6]>);

    fn delivered_state(conn: &Connection) -> Delivered {
        let messages = conn
            .prepare(
                "SELECT seq, status, change_seq IS delivered_seq, delivered_seq IS NOT NULL, \
                 change_seq FROM messages ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let conversations = conn
            .prepare(
                "SELECT patient_delivered_change, patient_delivered_from, patient_delivered_top, \
                 doctor_delivered_change, doctor_delivered_from, doctor_delivered_top \
                 FROM conversations \
                 ORDER BY (SELECT username FROM users WHERE id = doctor_id)",
            )
            .unwrap()
            .query_map([], |r| {
                Ok([
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ])
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (messages, conversations)
    }

    /// Delivered receipts as the app sends them, written or logged: a conversation's share of a
    /// receipt counts as "up to" (its messages by seq, whatever order they were named in) when
    /// all of them are above what that side delivered so before, otherwise by id; each
    /// conversation of a receipt is judged on its own; a message changed again leaves its
    /// delivery's stream. Both paths end with the same rows and notes.
    #[test]
    fn a_delivery_up_to_is_one_above_every_earlier_one_and_both_paths_agree() {
        let run = |logs: bool| -> Delivered {
            let (_dir, mut conn, patient, doctor) = clinic();
            let tx = conn.transaction().unwrap();
            let other = users::for_test(&tx, "doc2", Role::Doctor);
            let mut seqs = Seqs::loaded(&tx, logs);
            let send = |seqs: &mut Seqs, to: &User, i: usize| {
                let id = ClientId::from(format!("c-{i}"));
                messages::send(&tx, seqs, &patient, &hello(&patient, to), &id)
                    .unwrap()
                    .message
                    .id
            };
            let m: Vec<MessageId> = (1..=6).map(|i| send(&mut seqs, &doctor, i)).collect();
            let elsewhere = send(&mut seqs, &other, 7);
            if logs {
                // The first two are stored by now, the rest still logged.
                crate::store::projection::apply(&tx, 2).unwrap();
            }
            let deliver = |seqs: &mut Seqs, by: &User, named: &[&MessageId]| {
                let named: Vec<MessageId> = named.iter().map(|id| (*id).clone()).collect();
                ids(&mark_delivered(&tx, seqs, &by.id, &named).unwrap())
            };
            // Named out of order: up to, by seq; the other conversation's share too.
            assert_eq!(
                deliver(&mut seqs, &doctor, &[&m[2], &m[1]]),
                [m[1].clone(), m[2].clone()]
            );
            assert_eq!(
                deliver(&mut seqs, &other, &[&elsewhere]),
                std::slice::from_ref(&elsewhere)
            );
            // One below the top: that conversation's share by id.
            assert_eq!(
                deliver(&mut seqs, &doctor, &[&m[4], &m[0]]),
                [m[0].clone(), m[4].clone()]
            );
            // Above the top again (the one between was delivered by id): up to.
            assert_eq!(
                deliver(&mut seqs, &doctor, &[&m[5], &m[3], &m[4]]),
                [m[3].clone(), m[5].clone()]
            );
            // Read by id: its delivery no longer its last change.
            mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&m[1])).unwrap();
            apply_all(&tx).unwrap();
            let state = delivered_state(&tx);
            tx.commit().unwrap();
            state
        };
        let logged = run(true);
        assert_eq!(logged, run(false), "logged and written alike");
        let (messages, conversations) = logged;
        let kinds: Vec<(&str, bool, bool)> = messages
            .iter()
            .map(|(_, status, last, ever, _)| (status.as_str(), *last, *ever))
            .collect();
        assert_eq!(
            kinds,
            [
                ("DELIVERED", false, false),
                ("READ", false, true),
                ("DELIVERED", true, true),
                ("DELIVERED", true, true),
                ("DELIVERED", false, false),
                ("DELIVERED", true, true),
                ("DELIVERED", true, true),
            ]
        );
        let seq = |i: usize| messages[i].0;
        let change = |i: usize| messages[i].4;
        let [with_doctor, with_other] = [conversations[0], conversations[1]];
        assert_eq!(with_doctor[..3], [0, 0, 0], "the patient delivered nothing");
        assert_eq!(
            with_doctor[3..],
            [change(5), seq(1), seq(5)],
            "the last delivery up to; from the first message delivered so, to the newest"
        );
        assert_eq!(with_other[3..], [change(6), seq(6), seq(6)]);
    }

    /// A counters check whose batch rolls back (here a later command of it fails after writing)
    /// leaves the delivered receipt it moved waiting in the log again, and the conversation's
    /// saved top below it: the writer's own top is still right, so a receipt below it that
    /// comes next is by id, and a sync from between the two finds the second. (A reviewer found
    /// the check dropping the writer's tops with its read marks.)
    #[tokio::test]
    async fn a_delivered_top_outlives_a_counters_check_that_rolls_back() {
        let run = Running::start();
        let first = run.send("c-1").await;
        let second = run.send("c-2").await;
        let deliver = |id: &MessageId| {
            let (doctor, ids) = (run.doctor.id.clone(), vec![id.clone()]);
            run.writer
                .run_append(move |conn, seqs| mark_delivered(conn, seqs, &doctor, &ids))
        };
        assert_eq!(ids(&deliver(&second.id).await.unwrap()), [second.id]);
        let held = run.writer.hold_logging().await;
        let key = run.key();
        let check = run
            .writer
            .submit(move |conn, seqs| crate::store::counts::set_right(conn, seqs, &[key]))
            .await
            .unwrap();
        let failing = run
            .writer
            .submit_validated(|conn, _: &mut Seqs| {
                conn.execute(
                    "UPDATE counters SET value = value WHERE name = 'change_seq'",
                    [],
                )?;
                Err::<(), StoreError>(StoreError::not_found("fails after writing"))
            })
            .await
            .unwrap();
        held.release().await;
        assert!(check.await.unwrap().is_err(), "rolled back with its batch");
        assert!(failing.await.unwrap().is_err());
        assert_eq!(
            ids(&deliver(&first.id).await.unwrap()),
            std::slice::from_ref(&first.id)
        );
        let (path, doctor) = (run.path.clone(), run.doctor.clone());
        drop(run.writer);
        run.thread.join().unwrap();
        let conn = Connection::open(&path).unwrap();
        let rows: Vec<(i64, Option<i64>)> = conn
            .prepare("SELECT change_seq, delivered_seq FROM messages ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows[0].1, None, "the first, below the top, delivered by id");
        assert_eq!(rows[1].1, Some(rows[1].0), "the second delivered up to");
        let since = clinic_protocol::Seq(rows[1].0);
        let found: Vec<MessageId> = crate::store::changes::changed_since(&conn, &doctor, since, 10)
            .unwrap()
            .into_iter()
            .map(|(m, _)| m.id)
            .collect();
        assert_eq!(found, [first.id]);
    }

    /// A move that ends between a message's delivered and read receipts applies the first;
    /// the next move applies the second, which keeps the delivery's time.
    #[test]
    fn a_move_between_a_message_s_two_receipts_applies_them_in_order() {
        let (_dir, mut conn, patient, doctor) = clinic();
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let id = ClientId::from("c-1".to_owned());
        let sent = messages::send(&tx, &mut seqs, &patient, &hello(&patient, &doctor), &id)
            .unwrap()
            .message;
        apply_all(&tx).unwrap();
        let ids = std::slice::from_ref(&sent.id);
        let delivered = mark_delivered(&tx, &mut seqs, &doctor.id, ids).unwrap();
        let read = mark_read(&tx, &mut seqs, &doctor.id, ids).unwrap();
        let now = |tx: &Connection| messages::by_id(tx, &sent.id).unwrap().unwrap();

        let first = crate::store::projection::apply(&tx, 1).unwrap().unwrap();
        assert_eq!(first.rows, 1);
        assert_eq!(now(&tx).status, MessageStatus::Delivered);
        assert_eq!(count(&tx, LOGGED_RECEIPTS), 1);
        crate::store::projection::apply(&tx, 1).unwrap().unwrap();
        let after = now(&tx);
        assert_eq!(after.status, MessageStatus::Read);
        assert_eq!(after.delivered_at, Some(delivered[0].at));
        assert_eq!(after.read_at, Some(read[0].at));
        assert_eq!(count(&tx, LOGGED_RECEIPTS), 0);
    }

    /// In a batch that logs, "read up to" finds the unread messages addressed to the reader up
    /// to the mark among stored and logged sends alike (the mark itself may still be logged),
    /// logs a read receipt for each one it changes, and rewrites nothing; the move then makes of
    /// them what the same mark written at the time would have.
    #[test]
    fn a_logged_read_up_to_covers_stored_and_logged_sends_and_rewrites_nothing() {
        let (_dir, mut conn, patient, doctor) = clinic();
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let send = |tx: &Connection, seqs: &mut Seqs, from: &User, i: usize| {
            let id = ClientId::from(format!("c-{i}"));
            messages::send(tx, seqs, from, &hello(&patient, &doctor), &id)
                .unwrap()
                .message
                .id
        };
        let stored_read = send(&tx, &mut seqs, &patient, 1);
        let stored = send(&tx, &mut seqs, &patient, 2);
        let own = send(&tx, &mut seqs, &doctor, 3);
        apply_all(&tx).unwrap();
        mark_read(
            &tx,
            &mut seqs,
            &doctor.id,
            std::slice::from_ref(&stored_read),
        )
        .unwrap();
        apply_all(&tx).unwrap();
        let waiting = send(&tx, &mut seqs, &patient, 4);
        mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&waiting)).unwrap();
        let logged = send(&tx, &mut seqs, &patient, 5);
        let own_logged = send(&tx, &mut seqs, &doctor, 6);
        let mark = send(&tx, &mut seqs, &patient, 7);
        let after = send(&tx, &mut seqs, &patient, 8);
        let other_doctor = users::for_test(&tx, "doc2", Role::Doctor);
        let elsewhere = messages::send(
            &tx,
            &mut seqs,
            &patient,
            &hello(&patient, &other_doctor),
            &ClientId::from("c-9".to_owned()),
        )
        .unwrap()
        .message
        .id;
        assert_eq!(count(&tx, LOGGED_SENDS), 6, "the last six sends are logged");
        let key = ConversationKey {
            patient_id: patient.id.clone(),
            doctor_id: doctor.id.clone(),
        };

        let unknown = MessageId::from("m-nothing".to_owned());
        assert!(mark_read_up_to(&tx, &mut seqs, &doctor, &key, &unknown).is_err());
        let in_another = mark_read_up_to(&tx, &mut seqs, &doctor, &key, &elsewhere);
        assert!(
            matches!(in_another, Err(StoreError::NotFound(_))),
            "a logged message of another conversation: {in_another:?}"
        );
        let read = mark_read_up_to(&tx, &mut seqs, &doctor, &key, &mark).unwrap();
        assert_eq!(
            ids(&read),
            [stored.clone(), logged.clone(), mark.clone()],
            "not the one read, the one already waiting, the reader's own or the one after"
        );
        assert_eq!(
            count(&tx, LOGGED_RECEIPTS),
            4,
            "the waiting one and three more"
        );
        let again = mark_read_up_to(&tx, &mut seqs, &doctor, &key, &mark).unwrap();
        assert!(again.is_empty(), "all read or waiting");
        let by_patient = mark_read_up_to(&tx, &mut seqs, &patient, &key, &own).unwrap();
        assert_eq!(
            ids(&by_patient),
            std::slice::from_ref(&own),
            "the other side's own mark"
        );
        let stored_status: String = tx
            .query_row(
                "SELECT status FROM messages WHERE id = ?1",
                [stored.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored_status, "SENT", "nothing rewritten before the move");

        apply_all(&tx).unwrap();
        assert_eq!(count(&tx, LOGGED_RECEIPTS), 0);
        let status = |id: &MessageId| messages::by_id(&tx, id).unwrap().unwrap().status;
        for id in [&stored_read, &stored, &waiting, &logged, &mark, &own] {
            assert_eq!(status(id), MessageStatus::Read);
        }
        for id in [&after, &own_logged, &elsewhere] {
            assert_eq!(status(id), MessageStatus::Sent);
        }
        let unread: (i64, i64) = tx
            .query_row(
                "SELECT patient_unread, doctor_unread FROM conversations WHERE doctor_id = ?1",
                [doctor.id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(unread, (1, 1), "only the messages after each side's mark");

        // After the move, the next mark finds what came after the last one: stored now, and
        // logged since.
        let later = send(&tx, &mut seqs, &patient, 10);
        let next = mark_read_up_to(&tx, &mut seqs, &doctor, &key, &later).unwrap();
        assert_eq!(ids(&next), [after.clone(), later.clone()]);
    }

    /// Through the writer: a "read up to" shares a batch with plain sends without moving the
    /// logs, and marks a message that is still in the send log.
    #[tokio::test]
    async fn a_read_up_to_keeps_the_sends_logged() {
        let run = Running::start();
        let outside = Connection::open(&run.path).unwrap();
        let sent = run.send("c-1").await;
        let (reader, key, up_to) = (run.doctor.clone(), run.key(), sent.id.clone());
        let marked = run
            .writer
            .run_append(move |conn, seqs| mark_read_up_to(conn, seqs, &reader, &key, &up_to))
            .await
            .unwrap();
        assert_eq!(ids(&marked), std::slice::from_ref(&sent.id));
        assert_eq!(
            (
                count(&outside, LOGGED_SENDS),
                count(&outside, LOGGED_RECEIPTS)
            ),
            (1, 1),
            "logged, the send too"
        );
        run.stop();
    }

    /// A "read up to" in a batch that rolls back leaves no mark behind, in a batch that logs and
    /// in one that does not: marking the same message again still finds it unread (the
    /// writer's marks and its list of logged sends follow its batches).
    #[tokio::test]
    async fn a_read_up_to_rolled_back_with_its_batch_is_marked_again() {
        let run = Running::start();
        let outside = Connection::open(&run.path).unwrap();
        for logging in [true, false] {
            let sent = run.send(&format!("c-{logging}")).await;
            let read = || {
                let (reader, key, up_to) = (run.doctor.clone(), run.key(), sent.id.clone());
                move |conn: &Connection, seqs: &mut Seqs| {
                    mark_read_up_to(conn, seqs, &reader, &key, &up_to)
                }
            };
            let broken = |conn: &Connection, _: &mut Seqs| {
                conn.execute("UPDATE counters SET value = value", [])?;
                Err::<(), _>(StoreError::bad_input("refused too late"))
            };
            // Hold the writer so that the read and a command that fails after writing share a
            // batch.
            let held = if logging {
                run.writer.hold_logging().await
            } else {
                run.writer.hold().await
            };
            let first = run.writer.submit_append(read()).await.unwrap();
            let broken = if logging {
                run.writer.submit_append(broken).await.unwrap()
            } else {
                run.writer.submit_validated(broken).await.unwrap()
            };
            held.release().await;
            assert!(first.await.unwrap().is_err(), "rolled back with its batch");
            assert!(broken.await.unwrap().is_err());
            assert_eq!(
                count(&outside, LOGGED_RECEIPTS),
                0,
                "nothing of the batch waits"
            );
            let again = run
                .writer
                .submit_append(read())
                .await
                .unwrap()
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                ids(&again),
                std::slice::from_ref(&sent.id),
                "still unread (logging: {logging})"
            );
        }
        run.stop();
    }

    /// The doctor's saved read mark (`read_marks.rs`).
    fn saved_mark(conn: &Connection) -> i64 {
        conn.query_row("SELECT doctor_read FROM conversations", [], |r| r.get(0))
            .unwrap()
    }

    /// A reader's mark is not saved by the commit that marks (one more page on the commit path),
    /// nor by every step (an UPDATE per conversation), but by the first step once a save is due:
    /// with saves an hour apart, the step that moves the mark's receipt does not save it; with
    /// saves a few milliseconds apart, it is soon saved.
    #[tokio::test]
    async fn a_read_mark_is_saved_by_a_step_when_due_not_by_its_commit() {
        let ms = std::time::Duration::from_millis;
        for save_marks in [ms(3_600_000), ms(10)] {
            let run = Running::start_paced(Pace {
                idle_move: ms(1),
                save_marks,
            });
            let outside = Connection::open(&run.path).unwrap();
            let sent = run.send("c-1").await;
            assert_eq!(
                ids(&run.read_up_to(&sent.id).await),
                std::slice::from_ref(&sent.id)
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let done = |conn: &Connection| {
                if save_marks > ms(10) {
                    count(conn, LOGGED_RECEIPTS) == 0
                } else {
                    saved_mark(conn) == sent.seq.0
                }
            };
            while !done(&outside) {
                assert!(std::time::Instant::now() < deadline, "no step came");
                tokio::time::sleep(ms(5)).await;
            }
            if save_marks > ms(10) {
                assert_eq!(saved_mark(&outside), 0, "moved, not saved");
            }
            run.stop();
        }
    }

    /// A mark is saved once due even while the writer never idles: a held writer lets 256
    /// commands that do not log queue up, run in batches of 8 back to back, and the later
    /// ones see the mark saved.
    #[tokio::test]
    async fn a_read_mark_is_saved_when_due_while_the_writer_never_idles() {
        let ms = std::time::Duration::from_millis;
        let run = Running::start_batched(
            Pace {
                idle_move: ms(3_600_000),
                save_marks: ms(10),
            },
            8,
        );
        let sent = run.send("c-1").await;
        assert_eq!(
            ids(&run.read_up_to(&sent.id).await),
            std::slice::from_ref(&sent.id)
        );
        let held = run.writer.hold().await;
        // Due by the time the held batch ends.
        tokio::time::sleep(ms(30)).await;
        let mut queued = Vec::new();
        for _ in 0..256 {
            let saved = |conn: &Connection, _: &mut Seqs| Ok::<_, StoreError>(saved_mark(conn));
            queued.push(run.writer.submit(saved).await.unwrap());
        }
        held.release().await;
        let mut seen = Vec::new();
        for answer in queued {
            seen.push(answer.await.unwrap().unwrap());
        }
        assert_eq!(seen.last(), Some(&sent.seq.0), "{seen:?}");
        run.stop();
    }

    /// The mark a clean stop saves is where the first "read up to" after the start looks from:
    /// a message under it is not looked at again (made unread here behind the writer's back, a
    /// state the mark rules out, to see that).
    #[tokio::test]
    async fn the_first_read_up_to_after_a_start_looks_after_the_saved_mark() {
        let run = Running::start();
        let outside = Connection::open(&run.path).unwrap();
        let first = run.send("c-1").await;
        assert_eq!(
            ids(&run.read_up_to(&first.id).await),
            std::slice::from_ref(&first.id)
        );
        let run = run.restart();
        assert_eq!(saved_mark(&outside), first.seq.0, "saved at the stop");
        outside
            .execute(
                "UPDATE messages SET status = 'SENT', read_at = NULL WHERE id = ?1",
                [first.id.as_str()],
            )
            .unwrap();
        let second = run.send("c-2").await;
        assert_eq!(
            ids(&run.read_up_to(&second.id).await),
            std::slice::from_ref(&second.id),
            "only what came after the saved mark"
        );
        let run = run.restart();
        assert_eq!(saved_mark(&outside), second.seq.0);
        run.stop();
    }

    /// Through the writer: receipts by id share a batch with plain sends without moving the
    /// send log, and a reader finds them applied.
    #[tokio::test]
    async fn receipts_keep_the_sends_logged_and_a_reader_sees_them() {
        let run = Running::start();
        let (writer, doctor) = (run.writer.clone(), run.doctor.clone());
        let reads = Reads::new(run.path.clone(), 2, writer.clone());
        let outside = Connection::open(&run.path).unwrap();
        let on_disk = || {
            (
                count(&outside, LOGGED_SENDS),
                count(&outside, LOGGED_RECEIPTS),
                count(&outside, "messages"),
            )
        };
        let mut sent = Vec::new();
        for i in 0..2 {
            sent.push(run.send(&format!("c-{i}")).await.id);
        }
        let asked = sent.clone();
        let recipient = doctor.id.clone();
        let marked = writer
            .run_append(move |conn, seqs| mark_delivered(conn, seqs, &recipient, &asked))
            .await
            .unwrap();
        assert_eq!(ids(&marked), sent);
        assert_eq!(on_disk(), (2, 2, 0), "logged, the sends too");
        let asked = sent.clone();
        let seen = reads
            .run(move |conn| {
                asked
                    .iter()
                    .map(|id| messages::by_id(conn, id).map(|m| m.map(|m| m.status)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(seen, [Some(MessageStatus::Delivered); 2]);
        assert_eq!(on_disk(), (0, 0, 2));
        drop((writer, reads));
        run.stop();
    }

    /// Logging a receipt and applying it find rows by key: none of them reads every message,
    /// every logged send or every logged receipt.
    #[test]
    fn logging_and_applying_receipts_use_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            for i in 1..=stmt.parameter_count() {
                stmt.raw_bind_parameter(i, "x").unwrap();
            }
            let mut rows = stmt.raw_query();
            let mut steps = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                steps.push(row.get::<_, String>(3).unwrap());
            }
            steps.join("; ")
        };
        for (sql, key) in [
            (STORED, "messages USING INDEX sqlite_autoindex_messages"),
            (
                LOGGED,
                "event_log USING INDEX event_log_id (id=? AND kind=?)",
            ),
            // The index holds the kind: what waits is known without reading a row.
            (
                WAITING,
                "event_log USING COVERING INDEX event_log_id (id=? AND kind=?)",
            ),
            (SEQ_STORED, "messages USING INDEX sqlite_autoindex_messages"),
            (
                SEQ_LOGGED,
                "event_log USING INDEX event_log_id (id=? AND kind=?)",
            ),
            // From the reader's mark on, not from the conversation's start.
            (
                UNREAD_STORED,
                "messages_conversation (patient_id=? AND doctor_id=? AND seq>? AND seq<?)",
            ),
            (
                UNREAD_LOGGED,
                "event_log USING INTEGER PRIMARY KEY (rowid=?)",
            ),
        ] {
            let plan = plan(sql);
            assert!(plan.contains(key), "{plan}");
        }
        use crate::store::projection::{APPLY_DELIVERED, APPLY_READ};
        for sql in [APPLY_DELIVERED, APPLY_READ] {
            let plan = plan(sql);
            assert!(!plan.contains("SCAN messages"), "{plan}");
            assert!(plan.contains("SEARCH messages USING INDEX"), "{plan}");
            assert!(
                plan.contains("SEARCH r USING INDEX event_log_id (id=? AND kind=?"),
                "{plan}"
            );
        }
        // The slice's marks, then their messages by id; never a scan of either table.
        let moved = plan(crate::store::projection::MARKS_MOVED);
        assert!(!moved.contains("SCAN m"), "{moved}");
        assert!(moved.contains("SEARCH m USING INDEX"), "{moved}");
        assert!(
            moved.contains("SEARCH r USING INTEGER PRIMARY KEY"),
            "{moved}"
        );
    }
}
