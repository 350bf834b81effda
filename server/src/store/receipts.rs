//! Read and delivered receipts: moving messages addressed to the caller to READ or DELIVERED,
//! each change taking a new change sequence, written to the message or, in a batch that logs,
//! to the receipt log (schema v21).

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

/// Moves the given messages addressed to `recipient` to `to` (READ or DELIVERED), each taking a
/// new change sequence. Ids that are unknown, not addressed to the caller or already there are
/// skipped.
fn advance(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    candidates: Vec<(MessageId, ConversationKey)>,
    to: MessageStatus,
    mark: Mark,
) -> Result<Vec<Receipt>, StoreError> {
    let now = now_ms();
    let mut receipts: Vec<Receipt> = Vec::new();
    let sql = match (to, mark) {
        (MessageStatus::Read, Mark::ById) => {
            "UPDATE messages SET status = 'READ', read_at = ?2, \
             delivered_at = COALESCE(delivered_at, ?2), updated_at = ?2, change_seq = ?3 \
             WHERE id = ?1 AND status != 'READ'"
        }
        (MessageStatus::Read, Mark::UpTo) => {
            "UPDATE messages SET status = 'READ', read_at = ?2, \
             delivered_at = COALESCE(delivered_at, ?2), updated_at = ?2, change_seq = ?3, \
             read_seq = ?3 WHERE id = ?1 AND status != 'READ'"
        }
        _ => {
            "UPDATE messages SET status = 'DELIVERED', delivered_at = ?2, updated_at = ?2, \
             change_seq = ?3 WHERE id = ?1 AND status = 'SENT'"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut last = 0;
    for (id, key) in candidates {
        if !key.has_participant(recipient) {
            continue;
        }
        let seq = seqs.next();
        if stmt.execute(params![id.as_str(), now, seq.0])? == 0 {
            continue;
        }
        last = seq.0;
        match receipts.iter_mut().find(|r| r.key == key) {
            Some(receipt) => receipt.ids.push(id),
            None => receipts.push(Receipt {
                key,
                ids: vec![id],
                at: from_ms(now),
            }),
        }
    }
    if mark == Mark::UpTo {
        // A "read up to" reads in one conversation, in seq order: `last` is its newest change,
        // its first id its lowest message.
        for receipt in &receipts {
            let first: i64 = conn
                .prepare_cached("SELECT seq FROM messages WHERE id = ?1")?
                .query_row([receipt.ids[0].as_str()], |r| r.get(0))?;
            read_moved(conn, &receipt.key, recipient, last, first)?;
        }
    }
    Ok(receipts)
}

/// How a read receipt came: naming its messages, or "read up to" one of them (a watermark: every
/// earlier message addressed to the reader is read too). A message read up to keeps out of the
/// per-user change indexes (schema v23, `read_seq`), and its conversation notes the read's
/// change seq for `sync` (`store/changes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    ById,
    UpTo,
}

/// Notes in `key`'s row that `reader`'s watermark moved at change seq `seq`, and, if it is the
/// side's first such read, that it began at message `first` (its lowest seq).
fn read_moved(
    conn: &Connection,
    key: &ConversationKey,
    reader: &UserId,
    seq: i64,
    first: i64,
) -> Result<(), StoreError> {
    let sql = if *reader == key.patient_id {
        "UPDATE conversations SET patient_read_change = max(patient_read_change, ?3), \
         patient_read_from = CASE patient_read_from WHEN 0 THEN ?4 ELSE patient_read_from END \
         WHERE patient_id = ?1 AND doctor_id = ?2"
    } else {
        "UPDATE conversations SET doctor_read_change = max(doctor_read_change, ?3), \
         doctor_read_from = CASE doctor_read_from WHEN 0 THEN ?4 ELSE doctor_read_from END \
         WHERE patient_id = ?1 AND doctor_id = ?2"
    };
    conn.prepare_cached(sql)?.execute(params![
        key.patient_id.as_str(),
        key.doctor_id.as_str(),
        seq,
        first
    ])?;
    Ok(())
}

/// The candidates among `ids`: messages in the caller's conversations not sent by the caller.
fn addressed_to(
    conn: &Connection,
    caller: &UserId,
    ids: &[MessageId],
) -> Result<Vec<(MessageId, ConversationKey)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT patient_id, doctor_id FROM messages WHERE id = ?1 AND sender_id != ?2 \
         AND (patient_id = ?2 OR doctor_id = ?2)",
    )?;
    let mut found = Vec::new();
    for id in ids {
        let key = stmt
            .query_row(
                params![id.as_str(), caller.as_str()],
                super::rows::conversation_key,
            )
            .optional()?;
        if let Some(key) = key {
            found.push((id.clone(), key));
        }
    }
    Ok(found)
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

/// Marks the given messages addressed to `reader` as read.
pub(crate) fn mark_read(
    conn: &Connection,
    seqs: &mut Seqs,
    reader: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Receipt>, StoreError> {
    if seqs.log_sends() {
        return log(conn, seqs, reader, ids, MessageStatus::Read);
    }
    let candidates = addressed_to(conn, reader, ids)?;
    advance(
        conn,
        seqs,
        reader,
        candidates,
        MessageStatus::Read,
        Mark::ById,
    )
}

/// Marks the given messages addressed to `recipient` as delivered.
pub(crate) fn mark_delivered(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    ids: &[MessageId],
) -> Result<Vec<Receipt>, StoreError> {
    if seqs.log_sends() {
        return log(conn, seqs, recipient, ids, MessageStatus::Delivered);
    }
    let candidates = addressed_to(conn, recipient, ids)?;
    advance(
        conn,
        seqs,
        recipient,
        candidates,
        MessageStatus::Delivered,
        Mark::ById,
    )
}

/// How far along a status is, for the receipts: delivered after sent, read after delivered.
fn rank(status: &str) -> u8 {
    match status {
        "READ" => 2,
        "DELIVERED" => 1,
        _ => 0,
    }
}

/// The conversation and status of message `?1` if it is addressed to `?2`.
const STORED: &str = "SELECT patient_id, doctor_id, status FROM messages WHERE id = ?1 \
     AND sender_id != ?2 AND (patient_id = ?2 OR doctor_id = ?2)";
/// The same for a logged send (always SENT: nothing changes a send in the log).
const LOGGED: &str = "SELECT patient_id, doctor_id, 'SENT' FROM send_log WHERE id = ?1 \
     AND sender_id != ?2 AND (patient_id = ?2 OR doctor_id = ?2)";
/// The receipts waiting for message `?1`.
const WAITING: &str = "SELECT status FROM receipt_log WHERE message_id = ?1";

/// Like [`advance`], in a batch that logs (schema v21): each receipt that changes a message is a
/// row of the receipt log, applied to `messages` when the logs move (`projection.rs`). Whether
/// it changes the message is decided as `advance` decides it, on the message as it will be: its
/// row in `messages` or in the send log, with the receipts already waiting for it.
fn log(
    conn: &Connection,
    seqs: &mut Seqs,
    recipient: &UserId,
    ids: &[MessageId],
    to: MessageStatus,
) -> Result<Vec<Receipt>, StoreError> {
    let mut stored = conn.prepare_cached(STORED)?;
    let mut logged = conn.prepare_cached(LOGGED)?;
    let found =
        |r: &rusqlite::Row<'_>| Ok((super::rows::conversation_key(r)?, r.get::<_, String>(2)?));
    let mut candidates = Vec::with_capacity(ids.len());
    for id in ids {
        let params = params![id.as_str(), recipient.as_str()];
        let message = match stored.query_row(params, found).optional()? {
            Some(message) => Some(message),
            None => logged.query_row(params, found).optional()?,
        };
        if let Some((key, status)) = message {
            candidates.push((id.clone(), key, status));
        }
    }
    log_found(conn, seqs, candidates, to, Mark::ById)
}

/// Logs a receipt for each candidate, found with its conversation and its status as stored
/// (or SENT in the send log), that it changes: not one already there or already waiting.
fn log_found(
    conn: &Connection,
    seqs: &mut Seqs,
    candidates: Vec<(MessageId, ConversationKey, String)>,
    to: MessageStatus,
    mark: Mark,
) -> Result<Vec<Receipt>, StoreError> {
    let to_text = match to {
        MessageStatus::Read => "READ",
        _ => "DELIVERED",
    };
    let now = now_ms();
    let mut waiting = conn.prepare_cached(WAITING)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO receipt_log (seq, message_id, status, at, mark) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut receipts: Vec<Receipt> = Vec::new();
    for (id, key, status) in candidates {
        let mut reached = rank(&status);
        for status in waiting.query_map([id.as_str()], |r| r.get::<_, String>(0))? {
            reached = reached.max(rank(&status?));
        }
        if reached >= rank(to_text) {
            continue;
        }
        let seq = seqs.next();
        insert.execute(params![
            seq.0,
            id.as_str(),
            to_text,
            now,
            i64::from(mark == Mark::UpTo)
        ])?;
        match receipts.iter_mut().find(|r| r.key == key) {
            Some(receipt) => receipt.ids.push(id),
            None => receipts.push(Receipt {
                key,
                ids: vec![id],
                at: from_ms(now),
            }),
        }
    }
    Ok(receipts)
}

/// The seq of message `?1` in the conversation of patient `?2` and doctor `?3`.
const SEQ_STORED: &str =
    "SELECT seq FROM messages WHERE id = ?1 AND patient_id = ?2 AND doctor_id = ?3";
/// The same for a logged send.
const SEQ_LOGGED: &str =
    "SELECT seq FROM send_log WHERE id = ?1 AND patient_id = ?2 AND doctor_id = ?3";
/// The messages of the conversation of `?1` and `?2` addressed to `?3` after seq `?5` (the
/// reader's mark, `ReadMarks`) up to seq `?4` that are not read, with their status.
pub(super) const UNREAD_STORED: &str = "SELECT id, status FROM messages WHERE patient_id = ?1 \
     AND doctor_id = ?2 AND seq > ?5 AND seq <= ?4 AND sender_id != ?3 AND status != 'READ' \
     ORDER BY seq";
/// The logged send `?1` if it is addressed to `?2` (its seq comes from the writer's list of the
/// conversation's logged sends, `LoggedKeys::in_conversation`).
const UNREAD_LOGGED: &str = "SELECT id, 'SENT' FROM send_log WHERE seq = ?1 AND sender_id != ?2";

/// Marks `up_to` and every earlier message addressed to `reader` in its conversation as read.
/// In a batch that logs, the messages it changes are found in `messages` and in the send log,
/// and each gets a read receipt in the receipt log, as [`mark_read`] by their ids would. Only
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
    let id_and_status = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(MessageId, String)> {
        Ok((MessageId::from(r.get::<_, String>(0)?), r.get(1)?))
    };
    let mut found: Vec<_> = conn
        .prepare_cached(UNREAD_STORED)?
        .query_map(
            params![patient, doctor, reader_id, limit, known],
            id_and_status,
        )?
        .collect::<Result<_, _>>()?;
    let receipts = if seqs.log_sends() {
        let mut logged = conn.prepare_cached(UNREAD_LOGGED)?;
        for seq in seqs.logged().in_conversation(patient, doctor, known, limit) {
            let row = logged.query_row(params![seq, reader_id], id_and_status);
            found.extend(row.optional()?);
        }
        let candidates = found
            .into_iter()
            .map(|(id, status)| (id, key.clone(), status))
            .collect();
        log_found(conn, seqs, candidates, MessageStatus::Read, Mark::UpTo)?
    } else {
        let candidates = found.into_iter().map(|(id, _)| (id, key.clone())).collect();
        advance(
            conn,
            seqs,
            &reader.id,
            candidates,
            MessageStatus::Read,
            Mark::UpTo,
        )?
    };
    seqs.read_marks_mut().set(patient, doctor, reader_id, limit);
    Ok(receipts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::projection::apply_all;
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

    /// In a batch that logs, a receipt is a row of the receipt log that changes nothing else,
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
            .query_row("SELECT max(seq) FROM receipt_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count(&tx, "receipt_log"), 4);
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
        assert_eq!(count(&tx, "receipt_log"), 0);
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
        assert_eq!(count(&tx, "receipt_log"), 1);
        crate::store::projection::apply(&tx, 1).unwrap().unwrap();
        let after = now(&tx);
        assert_eq!(after.status, MessageStatus::Read);
        assert_eq!(after.delivered_at, Some(delivered[0].at));
        assert_eq!(after.read_at, Some(read[0].at));
        assert_eq!(count(&tx, "receipt_log"), 0);
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
        assert_eq!(count(&tx, "send_log"), 6, "the last six sends are logged");
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
            count(&tx, "receipt_log"),
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
        assert_eq!(count(&tx, "receipt_log"), 0);
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
            (count(&outside, "send_log"), count(&outside, "receipt_log")),
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
                count(&outside, "receipt_log"),
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
                    count(conn, "receipt_log") == 0
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
                count(&outside, "send_log"),
                count(&outside, "receipt_log"),
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
                    .collect::<Result<Vec<_>, StoreError>>()
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
            (LOGGED, "send_log USING INDEX send_log_id"),
            (WAITING, "receipt_log USING INDEX receipt_log_message"),
            (SEQ_STORED, "messages USING INDEX sqlite_autoindex_messages"),
            (SEQ_LOGGED, "send_log USING INDEX send_log_id"),
            // From the reader's mark on, not from the conversation's start.
            (
                UNREAD_STORED,
                "messages_conversation (patient_id=? AND doctor_id=? AND seq>? AND seq<?)",
            ),
            (
                UNREAD_LOGGED,
                "send_log USING INTEGER PRIMARY KEY (rowid=?)",
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
                plan.contains("SEARCH r USING INDEX receipt_log_message"),
                "{plan}"
            );
        }
        // The slice's marks, then their messages by id; never a scan of either table.
        let moved = plan(crate::store::projection::READ_MOVED);
        assert!(!moved.contains("SCAN m"), "{moved}");
        assert!(moved.contains("SEARCH m USING INDEX"), "{moved}");
        assert!(
            moved.contains("SEARCH r USING INTEGER PRIMARY KEY"),
            "{moved}"
        );
    }
}
