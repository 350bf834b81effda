//! The conversations' counters (unread messages, schema v15; unread notifications, v18), saved
//! read marks (v22), the change seqs of their last "read up to" (v23) and of their last delivery
//! "up to" with the newest message delivered so (v24) checked against the messages they count or
//! cover, and set right where they drifted.
//!
//! They are kept by code and triggers, never recounted on the way: the conversation list shows
//! them, and an unread notification list reads only the conversations whose count says they have
//! some, so a count below the truth would hide an unread notification; a "read up to" looks only
//! after a reader's mark, so a mark above an unread message would leave it unread for good; and
//! `sync` finds a side's reads up to a message only after that side's last one, so a change seq
//! below one of them would hide it from every device that syncs (so would a delivered top below
//! a message delivered "up to": a later such delivery below it would break their order). A drift
//! is a bug; this finds and repairs it instead of leaving it until someone notices.

use crate::store::writer::LAST_SEQ;
use crate::store::{Seqs, StoreError};
use clinic_protocol::ConversationKey;
use rusqlite::{Connection, params};

/// Whether a message is unread by its recipient with no read receipt waiting for it (a mark
/// saved by a step may cover receipts the step did not move yet).
const UNREAD: &str = "status != 'READ' AND NOT EXISTS (SELECT 1 FROM event_log AS r \
     WHERE r.id = messages.id AND r.kind = 'READ')";

/// The counts of a conversation as its messages give them: unread messages of the patient and
/// of the doctor (from the other side, neither read nor taken back), then their unread
/// notifications, then the first message each side has not read (`pf`, `df`), which its read
/// mark must stay below, then the newest change seq of each side's reads up to a message (`pr`,
/// `dr`), which the conversation's must not be below, and the lowest message each side read up
/// to and changed no further (`pm`, `dm`), which the conversation's first must not be above;
/// then the same three of deliveries up to (`pd`, `dd`; `pdm`, `ddm`), and the newest message
/// each side had delivered so (`pdt`, `ddt`), which the conversation's top must not be below.
fn counted() -> String {
    format!(
        "coalesce(sum(sender_id != patient_id AND status != 'READ' \
         AND retracted_at IS NULL), 0) AS pu, \
         coalesce(sum(sender_id != doctor_id AND status != 'READ' AND retracted_at IS NULL), 0) \
         AS du, \
         coalesce(sum(recipient_id IS patient_id AND notice IS 0), 0) AS pn, \
         coalesce(sum(recipient_id IS doctor_id AND notice IS 0), 0) AS dn, \
         min(CASE WHEN sender_id != patient_id AND {UNREAD} THEN seq END) AS pf, \
         min(CASE WHEN sender_id != doctor_id AND {UNREAD} THEN seq END) AS df, \
         max(CASE WHEN sender_id != patient_id AND change_seq = read_seq THEN read_seq END) \
         AS pr, \
         max(CASE WHEN sender_id != doctor_id AND change_seq = read_seq THEN read_seq END) AS dr, \
         min(CASE WHEN sender_id != patient_id AND change_seq = read_seq THEN seq END) AS pm, \
         min(CASE WHEN sender_id != doctor_id AND change_seq = read_seq THEN seq END) AS dm, \
         max(CASE WHEN sender_id != patient_id AND change_seq = delivered_seq \
         THEN delivered_seq END) AS pd, \
         max(CASE WHEN sender_id != doctor_id AND change_seq = delivered_seq \
         THEN delivered_seq END) AS dd, \
         min(CASE WHEN sender_id != patient_id AND change_seq = delivered_seq THEN seq END) \
         AS pdm, \
         min(CASE WHEN sender_id != doctor_id AND change_seq = delivered_seq THEN seq END) \
         AS ddm, \
         max(CASE WHEN sender_id != patient_id AND delivered_seq IS NOT NULL THEN seq END) \
         AS pdt, \
         max(CASE WHEN sender_id != doctor_id AND delivered_seq IS NOT NULL THEN seq END) AS ddt"
    )
}

/// Whether a conversation's counters (`c`) differ from the counts (`n`, none for a conversation
/// without messages), or a read mark covers an unread message or is above every seq given out
/// (a message to come would take a seq under it).
fn differs() -> String {
    format!(
        "c.patient_unread != coalesce(n.pu, 0) OR c.doctor_unread != coalesce(n.du, 0) \
         OR c.patient_notices != coalesce(n.pn, 0) OR c.doctor_notices != coalesce(n.dn, 0) \
         OR c.patient_read >= n.pf OR c.doctor_read >= n.df \
         OR c.patient_read_change < coalesce(n.pr, 0) OR c.doctor_read_change < coalesce(n.dr, 0) \
         OR c.patient_read_from > n.pm OR c.doctor_read_from > n.dm \
         OR (c.patient_read_from = 0 AND n.pm IS NOT NULL) \
         OR (c.doctor_read_from = 0 AND n.dm IS NOT NULL) \
         OR c.patient_delivered_change < coalesce(n.pd, 0) \
         OR c.doctor_delivered_change < coalesce(n.dd, 0) \
         OR c.patient_delivered_from > n.pdm OR c.doctor_delivered_from > n.ddm \
         OR (c.patient_delivered_from = 0 AND n.pdm IS NOT NULL) \
         OR (c.doctor_delivered_from = 0 AND n.ddm IS NOT NULL) \
         OR c.patient_delivered_top < coalesce(n.pdt, 0) \
         OR c.doctor_delivered_top < coalesce(n.ddt, 0) \
         OR max(c.patient_read, c.doctor_read) > ({LAST_SEQ})"
    )
}

/// The conversations whose counters differ from their messages: one pass over every message,
/// meant for a read connection's snapshot. The table is read in its own order (through the
/// conversation index it would fetch each row at random): 1.2-1.4 s per million messages in a
/// probe, against 2.3 s.
pub(crate) fn drifted(conn: &Connection) -> Result<Vec<ConversationKey>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT c.patient_id, c.doctor_id FROM conversations c LEFT JOIN \
         (SELECT patient_id, doctor_id, {} FROM messages NOT INDEXED \
          GROUP BY patient_id, doctor_id) n \
         ON n.patient_id = c.patient_id AND n.doctor_id = c.doctor_id WHERE {}",
        counted(),
        differs()
    ))?;
    let keys = stmt
        .query_map([], super::rows::conversation_key)?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}

/// Recounts these conversations from their messages, sets the counters that differ and brings
/// a read mark that covers an unread message down to just below it (one above every seq given
/// out, down to the last); meant for the writer, so that nothing changes between the count and
/// the update. The writer's read marks of these conversations are forgotten, to be read again
/// from what is saved; its delivered tops are raised to the saved ones. Returns those set right.
pub(crate) fn set_right(
    conn: &Connection,
    seqs: &mut Seqs,
    keys: &[ConversationKey],
) -> Result<Vec<ConversationKey>, StoreError> {
    let mut fix = conn.prepare_cached(&format!(
        "UPDATE conversations AS c SET patient_unread = n.pu, doctor_unread = n.du, \
         patient_notices = n.pn, doctor_notices = n.dn, \
         patient_read = CASE WHEN c.patient_read >= n.pf THEN n.pf - 1 \
         ELSE min(c.patient_read, ({LAST_SEQ})) END, \
         doctor_read = CASE WHEN c.doctor_read >= n.df THEN n.df - 1 \
         ELSE min(c.doctor_read, ({LAST_SEQ})) END, \
         patient_read_change = max(c.patient_read_change, coalesce(n.pr, 0)), \
         doctor_read_change = max(c.doctor_read_change, coalesce(n.dr, 0)), \
         patient_read_from = CASE WHEN c.patient_read_from = 0 OR c.patient_read_from > n.pm \
         THEN coalesce(n.pm, c.patient_read_from) ELSE c.patient_read_from END, \
         doctor_read_from = CASE WHEN c.doctor_read_from = 0 OR c.doctor_read_from > n.dm \
         THEN coalesce(n.dm, c.doctor_read_from) ELSE c.doctor_read_from END, \
         patient_delivered_change = max(c.patient_delivered_change, coalesce(n.pd, 0)), \
         doctor_delivered_change = max(c.doctor_delivered_change, coalesce(n.dd, 0)), \
         patient_delivered_from = CASE WHEN c.patient_delivered_from = 0 \
         OR c.patient_delivered_from > n.pdm \
         THEN coalesce(n.pdm, c.patient_delivered_from) ELSE c.patient_delivered_from END, \
         doctor_delivered_from = CASE WHEN c.doctor_delivered_from = 0 \
         OR c.doctor_delivered_from > n.ddm \
         THEN coalesce(n.ddm, c.doctor_delivered_from) ELSE c.doctor_delivered_from END, \
         patient_delivered_top = max(c.patient_delivered_top, coalesce(n.pdt, 0)), \
         doctor_delivered_top = max(c.doctor_delivered_top, coalesce(n.ddt, 0)) \
         FROM (SELECT {} FROM messages WHERE patient_id = ?1 AND doctor_id = ?2) AS n \
         WHERE c.patient_id = ?1 AND c.doctor_id = ?2 AND ({})",
        counted(),
        differs()
    ))?;
    let mut changed = Vec::new();
    for key in keys {
        let (patient, doctor) = (key.patient_id.as_str(), key.doctor_id.as_str());
        seqs.read_marks_mut().forget(patient, doctor);
        if fix.execute(params![patient, doctor])? > 0 {
            // A top raised here may be below one the writer holds (never lowered) or above one
            // it read while it was low: raise its copy. Kept even if the batch rolls back, as a
            // top too high only makes deliveries count by id.
            seqs.read_marks_mut()
                .raise_known_delivered_tops(conn, patient, doctor)?;
            changed.push(key.clone());
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::users::for_test as user;
    use crate::store::{Seqs, messages, notifications, projection};
    use clinic_protocol::{Role, User};

    /// A plain send from `from` in `patient`'s conversation with `doctor`.
    fn send(conn: &Connection, seqs: &mut Seqs, from: &User, patient: &User, doctor: &User) {
        let to = if from.id == patient.id {
            doctor
        } else {
            patient
        };
        messages::for_test(conn, seqs, from, to, "hello");
    }

    /// Counters kept as they should be are left alone; counters that drifted (too high, too low,
    /// on a conversation without messages) are found by the pass and set to what the messages
    /// say, after which an unread notification hidden by a low count is listed again.
    #[test]
    fn drifted_counters_are_found_and_set_right() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let (p1, p2, p3) = (
            user(&tx, "p1", Role::Patient),
            user(&tx, "p2", Role::Patient),
            user(&tx, "p3", Role::Patient),
        );
        let doctor = user(&tx, "doc", Role::Doctor);
        for logged in [false, true] {
            let mut seqs = Seqs::loaded(&tx, logged);
            send(&tx, &mut seqs, &p1, &p1, &doctor);
            send(&tx, &mut seqs, &doctor, &p1, &doctor);
            send(&tx, &mut seqs, &p2, &p2, &doctor);
            seqs.save(&tx).unwrap();
            projection::apply_all(&tx).unwrap();
        }
        tx.execute(
            "INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES (?1, ?2, 0)",
            [p3.id.as_str(), doctor.id.as_str()],
        )
        .unwrap();
        // Two unread messages from p4, a read receipt of the first waiting in the log: a mark
        // over the first only is true.
        let p4 = user(&tx, "p4", Role::Patient);
        let mut seqs = Seqs::loaded(&tx, true);
        send(&tx, &mut seqs, &p4, &p4, &doctor);
        send(&tx, &mut seqs, &p4, &p4, &doctor);
        seqs.save(&tx).unwrap();
        projection::apply_all(&tx).unwrap();
        let p4_messages: Vec<(i64, String)> = tx
            .prepare("SELECT seq, id FROM messages WHERE patient_id = ?1 ORDER BY seq")
            .unwrap()
            .query_map([p4.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let [(first, first_id), (second, _)] = &p4_messages[..] else {
            panic!("{p4_messages:?}")
        };
        let first_id = clinic_protocol::MessageId::from(first_id.clone());
        crate::store::receipts::mark_read(&tx, &mut seqs, &doctor.id, &[first_id]).unwrap();
        let set = |patient: &User, sql: &str| {
            tx.execute(
                &format!("UPDATE conversations SET {sql} WHERE patient_id = ?1"),
                [patient.id.as_str()],
            )
            .unwrap();
        };
        set(&p4, &format!("doctor_read = {first}"));
        assert_eq!(drifted(&tx).unwrap(), Vec::<ConversationKey>::new());
        assert_eq!(
            set_right(
                &tx,
                &mut seqs,
                &[
                    ConversationKey::new(p1.id.clone(), doctor.id.clone()),
                    ConversationKey::new(p4.id.clone(), doctor.id.clone())
                ]
            )
            .unwrap(),
            Vec::<ConversationKey>::new()
        );

        set(&p1, "doctor_notices = 0");
        set(&p2, "patient_unread = 7");
        set(&p3, "doctor_unread = 1, patient_notices = -1");
        set(&p4, &format!("doctor_read = {second}"));
        // Nothing unread in p5's conversation, but a mark above every seq given out.
        let p5 = user(&tx, "p5", Role::Patient);
        tx.execute(
            "INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES (?1, ?2, 0)",
            [p5.id.as_str(), doctor.id.as_str()],
        )
        .unwrap();
        set(&p5, "patient_read = 1000000");
        let (p4_id, doctor_id) = (p4.id.as_str(), doctor.id.as_str());
        seqs.read_marks_mut()
            .set(p4_id, doctor_id, doctor_id, *second);
        seqs.read_marks_mut().committed();
        let before = notifications::list(&tx, &doctor.id, true, 50).unwrap();
        assert_eq!(
            before.len(),
            4,
            "p1's two notifications hidden by the low count"
        );
        let mut found = drifted(&tx).unwrap();
        found.sort_by(|a, b| a.patient_id.as_str().cmp(b.patient_id.as_str()));
        let mut expected: Vec<ConversationKey> = [&p1, &p2, &p3, &p4, &p5]
            .iter()
            .map(|p| ConversationKey::new(p.id.clone(), doctor.id.clone()))
            .collect();
        expected.sort_by(|a, b| a.patient_id.as_str().cmp(b.patient_id.as_str()));
        assert_eq!(found, expected);
        assert_eq!(set_right(&tx, &mut seqs, &found).unwrap(), found);
        assert!(drifted(&tx).unwrap().is_empty());
        let marks = seqs.read_marks_mut();
        assert_eq!(
            marks.get(&tx, p4_id, doctor_id, doctor_id).unwrap(),
            second - 1,
            "the mark brought below the unread message, in the writer's memory too"
        );
        let last: i64 = tx.query_row(LAST_SEQ, [], |r| r.get(0)).unwrap();
        assert_eq!(
            marks
                .get(&tx, p5.id.as_str(), doctor_id, p5.id.as_str())
                .unwrap(),
            last,
            "brought down to the last seq given out"
        );
        let counters: Vec<(i64, i64, i64, i64)> = tx
            .prepare(
                "SELECT patient_unread, doctor_unread, patient_notices, doctor_notices \
                 FROM conversations c JOIN users u ON u.id = c.patient_id ORDER BY u.username",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            counters,
            [
                (2, 2, 2, 2),
                (0, 2, 0, 2),
                (0, 0, 0, 0),
                (0, 2, 0, 2),
                (0, 0, 0, 0)
            ]
        );
        assert_eq!(
            notifications::list(&tx, &doctor.id, true, 50)
                .unwrap()
                .len(),
            6
        );
    }

    /// Sets `wrong` in `key`'s conversation and sees the check find it and set it right.
    fn set_wrong_then_right(tx: &Connection, seqs: &mut Seqs, key: &ConversationKey, wrong: &str) {
        tx.execute(
            &format!("UPDATE conversations SET {wrong} WHERE patient_id = ?1"),
            [key.patient_id.as_str()],
        )
        .unwrap();
        assert_eq!(drifted(tx).unwrap(), vec![key.clone()], "{wrong}");
        assert_eq!(
            set_right(tx, seqs, std::slice::from_ref(key)).unwrap(),
            vec![key.clone()]
        );
    }

    /// A conversation whose noted change seq of a side's last "read up to" is below that read,
    /// or whose noted first message read up to is above one (`sync` would not find them), is
    /// found and set right, by either way a read is written.
    #[test]
    fn a_read_up_to_hidden_from_sync_is_found_and_set_right() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let doctor = user(&tx, "doc", Role::Doctor);
        for logged in [false, true] {
            let patient = user(&tx, &format!("p-{logged}"), Role::Patient);
            let mut seqs = Seqs::loaded(&tx, logged);
            send(&tx, &mut seqs, &patient, &patient, &doctor);
            send(&tx, &mut seqs, &patient, &patient, &doctor);
            seqs.save(&tx).unwrap();
            projection::apply_all(&tx).unwrap();
            let last: String = tx
                .query_row(
                    "SELECT id FROM messages WHERE patient_id = ?1 ORDER BY seq DESC LIMIT 1",
                    [patient.id.as_str()],
                    |r| r.get(0),
                )
                .unwrap();
            let key = ConversationKey::new(patient.id.clone(), doctor.id.clone());
            crate::store::receipts::mark_read_up_to(
                &tx,
                &mut seqs,
                &doctor,
                &key,
                &clinic_protocol::MessageId::from(last),
            )
            .unwrap();
            seqs.save(&tx).unwrap();
            projection::apply_all(&tx).unwrap();
            let noted = |tx: &rusqlite::Transaction<'_>| -> (i64, i64, i64, i64) {
                tx.query_row(
                    "SELECT doctor_read_change, doctor_read_from, (SELECT max(read_seq) \
                     FROM messages WHERE patient_id = ?1 AND read_seq = change_seq), \
                     (SELECT min(seq) FROM messages WHERE patient_id = ?1 \
                     AND read_seq = change_seq) FROM conversations WHERE patient_id = ?1",
                    [patient.id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap()
            };
            let (change, from, read, first) = noted(&tx);
            assert!(read > 0, "both messages read up to (logged: {logged})");
            assert_eq!((change, from), (read, first));
            assert!(drifted(&tx).unwrap().is_empty());
            for wrong in [
                "doctor_read_change = 1",
                "doctor_read_from = doctor_read_from + 1",
                "doctor_read_from = 0",
            ] {
                set_wrong_then_right(&tx, &mut seqs, &key, wrong);
                assert_eq!(noted(&tx), (read, first, read, first), "{wrong}");
            }
        }
    }

    /// The same for deliveries "up to": a noted change seq below the last one, a noted first
    /// message above one, or a noted top below the newest message delivered so (a later delivery
    /// under it would count as "up to" and break their order) is found and set right, by either
    /// way a delivery is written, in the writer's memory too.
    #[test]
    fn a_delivery_up_to_hidden_from_sync_is_found_and_set_right() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let doctor = user(&tx, "doc", Role::Doctor);
        for logged in [false, true] {
            let patient = user(&tx, &format!("p-{logged}"), Role::Patient);
            let mut seqs = Seqs::loaded(&tx, logged);
            for _ in 0..2 {
                send(&tx, &mut seqs, &patient, &patient, &doctor);
            }
            seqs.save(&tx).unwrap();
            projection::apply_all(&tx).unwrap();
            let ids: Vec<clinic_protocol::MessageId> = tx
                .prepare("SELECT id FROM messages WHERE patient_id = ?1 ORDER BY seq")
                .unwrap()
                .query_map([patient.id.as_str()], |r| {
                    Ok(clinic_protocol::MessageId::from(r.get::<_, String>(0)?))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            crate::store::receipts::mark_delivered(&tx, &mut seqs, &doctor.id, &ids).unwrap();
            seqs.save(&tx).unwrap();
            projection::apply_all(&tx).unwrap();
            let noted = |tx: &rusqlite::Transaction<'_>| -> [i64; 6] {
                tx.query_row(
                    "SELECT doctor_delivered_change, doctor_delivered_from, \
                     doctor_delivered_top, (SELECT max(delivered_seq) FROM messages \
                     WHERE patient_id = ?1 AND delivered_seq = change_seq), \
                     (SELECT min(seq) FROM messages WHERE patient_id = ?1 \
                     AND delivered_seq = change_seq), (SELECT max(seq) FROM messages \
                     WHERE patient_id = ?1 AND delivered_seq IS NOT NULL) \
                     FROM conversations WHERE patient_id = ?1",
                    [patient.id.as_str()],
                    |r| {
                        Ok([
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ])
                    },
                )
                .unwrap()
            };
            let right = noted(&tx);
            assert!(right[3] > 0, "both delivered up to (logged: {logged})");
            assert_eq!(right[..3], right[3..]);
            assert!(drifted(&tx).unwrap().is_empty());
            let key = ConversationKey::new(patient.id.clone(), doctor.id.clone());
            let top = |seqs: &mut Seqs| {
                seqs.read_marks_mut()
                    .delivered_top(
                        &tx,
                        patient.id.as_str(),
                        doctor.id.as_str(),
                        doctor.id.as_str(),
                    )
                    .unwrap()
            };
            for wrong in [
                "doctor_delivered_change = 1",
                "doctor_delivered_from = doctor_delivered_from + 1",
                "doctor_delivered_from = 0",
                "doctor_delivered_top = doctor_delivered_top - 1",
            ] {
                set_wrong_then_right(&tx, &mut seqs, &key, wrong);
                assert_eq!(noted(&tx), right, "{wrong}");
                assert_eq!(top(&mut seqs), right[2], "{wrong}");
            }
            // A writer that read the top while it was low (after a drift, before the check)
            // has its copy raised with the saved one: else a delivery below the true top would
            // still count as "up to" until a restart.
            let mut fresh = Seqs::loaded(&tx, logged);
            tx.execute(
                "UPDATE conversations SET doctor_delivered_top = doctor_delivered_top - 1 \
                 WHERE patient_id = ?1",
                [patient.id.as_str()],
            )
            .unwrap();
            assert_eq!(top(&mut fresh), right[2] - 1);
            assert_eq!(
                set_right(&tx, &mut fresh, std::slice::from_ref(&key)).unwrap(),
                [key]
            );
            assert_eq!(noted(&tx), right);
            assert_eq!(top(&mut fresh), right[2], "the writer's copy raised");
        }
    }

    /// The store's check end to end: the pass on a connection of its own, the repair through
    /// the writer; a stop asked for before it ends interrupts the pass instead of waiting.
    #[tokio::test]
    async fn the_store_s_check_sets_drifts_right_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut conn = crate::store::open_write(&path, Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let patient = user(&tx, "p", Role::Patient);
        let doctor = user(&tx, "doc", Role::Doctor);
        let mut seqs = Seqs::loaded(&tx, false);
        for _ in 0..300 {
            send(&tx, &mut seqs, &patient, &patient, &doctor);
        }
        seqs.save(&tx).unwrap();
        tx.execute("UPDATE conversations SET doctor_notices = 0", [])
            .unwrap();
        tx.commit().unwrap();
        let (writer, thread) = crate::store::writer::Writer::start(conn, 16, 16).unwrap();
        let (search, _) =
            crate::store::search_index::SearchIndex::start(&path, writer.progress()).unwrap();
        let store = crate::store::Store {
            reads: crate::store::Reads::new(path, 2, writer.clone()),
            writer,
            search,
            receipt_ids: crate::store::budget::Budget::new(
                1,
                clinic_protocol::limits::MAX_IDS_PER_REQUEST,
            ),
            pages: crate::store::budget::Budget::new(1, 1),
            refusals: std::sync::Arc::new(crate::audit::refusals::Refusals::new(
                crate::config::Rate::new(1.0, 1.0),
            )),
        };
        let stopped = tokio_util::sync::CancellationToken::new();
        stopped.cancel();
        // A pass over a few hundred messages outlasts the handler's first poll: interrupted.
        let checked = store.check_counts(stopped).await;
        assert!(checked.fixed.is_empty());
        assert!(
            matches!(&checked.failed, Some(StoreError::Database(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)),
            "{:?}",
            checked.failed
        );
        let unchanged: i64 = store
            .reads
            .run(|conn| {
                Ok::<_, StoreError>(conn.query_row(
                    "SELECT doctor_notices FROM conversations",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(unchanged, 0, "a stopped check repairs nothing");
        let live = tokio_util::sync::CancellationToken::new();
        let checked = store.check_counts(live.clone()).await;
        assert!(checked.failed.is_none(), "{:?}", checked.failed);
        assert_eq!(
            checked.fixed,
            [ConversationKey::new(patient.id.clone(), doctor.id.clone())]
        );
        let again = store.check_counts(live).await;
        assert!(again.fixed.is_empty() && again.failed.is_none());
        drop(store);
        thread.join().unwrap();
    }
}
