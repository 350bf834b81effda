//! Edits and retractions logged among sends and receipts (schema v26), against the rows,
//! sealed versions and counters the move leaves.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::config::Synchronous;
use crate::store::{messages, receipts, users};
use clinic_protocol::{MessageStatus, NewMessage};

const WINDOWS: MessageWindows = MessageWindows {
    unsend_secs: 86_400,
    retract_secs: 86_400,
    edit_secs: 86_400,
    max_edits: 10,
};

fn text(patient: &User, doctor: &User, content: &str) -> NewMessage {
    NewMessage {
        client_id: None,
        patient_id: patient.id.clone(),
        doctor_id: doctor.id.clone(),
        content: content.to_owned(),
        is_emergency: false,
        file_url: None,
        file_name: None,
        held_ms: None,
    }
}

fn to(content: &str, base_version: u32) -> EditRequest {
    EditRequest {
        content: content.to_owned(),
        base_version,
    }
}

fn client(id: &str) -> ClientId {
    ClientId::from(id.to_owned())
}

/// A database with a patient and a doctor.
fn clinic() -> (tempfile::TempDir, rusqlite::Connection, User, User) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Full).unwrap();
    let patient = users::for_test(&conn, "pat", Role::Patient);
    let doctor = users::for_test(&conn, "doc", Role::Doctor);
    (dir, conn, patient, doctor)
}

/// Edits in a batch that logs (schema v26) are judged on the message as it will be (a
/// logged send, earlier logged edits, logged receipts), answer with it, and the move leaves
/// the row, its sealed versions and its change seq as that answer and the log's order say.
#[test]
fn a_logged_edit_becomes_the_row_and_versions_it_answered() {
    let (_dir, mut conn, patient, doctor) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let send = |seqs: &mut Seqs, content: &str, id: &str| {
        messages::send(
            &tx,
            seqs,
            &patient,
            &text(&patient, &doctor, content),
            &client(id),
        )
        .unwrap()
        .message
    };
    let first = send(&mut seqs, "first", "c-1");
    let other = send(&mut seqs, "other", "c-2");
    let edit_as = |seqs: &mut Seqs, who: &User, id: &MessageId, r: EditRequest, c: &str| {
        edit(&tx, seqs, who, id, &r, Some(&client(c)), WINDOWS)
    };
    let e1 = edit_as(&mut seqs, &patient, &first.id, to("second", 1), "e-1").unwrap();
    assert!(e1.changed);
    assert_eq!(
        (e1.message.version(), e1.message.content.as_str()),
        (2, "second")
    );
    // The doctor reads it between the two edits; the second edit sees the read.
    receipts::mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&first.id)).unwrap();
    let e2 = edit_as(&mut seqs, &patient, &first.id, to("third", 2), "e-2").unwrap();
    assert_eq!(
        (e2.message.version(), e2.message.status),
        (3, MessageStatus::Read)
    );
    // A repeat of the first edit's clientId while both wait: the message as it will be.
    let again = edit_as(&mut seqs, &patient, &first.id, to("second", 1), "e-1").unwrap();
    assert_eq!((again.changed, &again.message), (false, &e2.message));
    let stale = edit_as(&mut seqs, &patient, &first.id, to("fourth", 2), "e-3");
    assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
    let theirs = edit_as(&mut seqs, &doctor, &first.id, to("fourth", 3), "e-4");
    assert!(
        matches!(theirs, Err(StoreError::Forbidden(_))),
        "{theirs:?}"
    );
    // The other message: edited, then read, so the read is its newest change.
    edit_as(
        &mut seqs,
        &patient,
        &other.id,
        to("other, edited", 1),
        "e-5",
    )
    .unwrap();
    receipts::mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&other.id)).unwrap();
    let read_other: i64 = tx
        .query_row("SELECT max(seq) FROM event_log", [], |r| r.get(0))
        .unwrap();
    let kinds: Vec<String> = tx
        .prepare("SELECT kind FROM event_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        kinds,
        ["SEND", "SEND", "EDIT", "READ", "EDIT", "EDIT", "READ"]
    );
    let moved = projection::apply_all(&tx).unwrap().unwrap();
    assert_eq!(moved.rows, 7);
    assert_eq!(
        messages::by_id(&tx, &first.id).unwrap().unwrap(),
        e2.message
    );
    let (versions, _) = list(&tx, &doctor, &first.id).unwrap();
    let texts: Vec<(u32, &str)> = versions
        .versions
        .iter()
        .map(|v| (v.version, v.content.as_str()))
        .collect();
    assert_eq!(texts, [(1, "first"), (2, "second"), (3, "third")]);
    let sealed: Vec<(String, Option<String>)> = tx
        .prepare(
            "SELECT actor_id, client_id FROM message_versions WHERE message_id = ?1 \
             ORDER BY version",
        )
        .unwrap()
        .query_map([first.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let by_patient = |c: &str| (patient.id.as_str().to_owned(), Some(c.to_owned()));
    assert_eq!(sealed, [by_patient("e-1"), by_patient("e-2")]);
    // Each row's change seq is its newest change's, though the move applies a slice's
    // receipts before its edits.
    let change_seq = |id: &MessageId| -> i64 {
        tx.query_row(
            "SELECT change_seq FROM messages WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(change_seq(&first.id), read_other - 2);
    assert_eq!(change_seq(&other.id), read_other);
    let other_now = messages::by_id(&tx, &other.id).unwrap().unwrap();
    assert_eq!(
        (other_now.content.as_str(), other_now.status),
        ("other, edited", MessageStatus::Read)
    );
    // Queued for the search index by the move, as a direct edit would be.
    let queued: i64 = tx
        .query_row(
            "SELECT count(*) FROM search_changes WHERE seq = ?1",
            [first.seq.0],
            |r| r.get(0),
        )
        .unwrap();
    assert!(queued >= 3, "a send and two edits: {queued}");
}

/// A retraction in a batch that logs is judged on the message as it will be (a logged send
/// here, with a logged edit), refuses a later edit, and the move (which applies the read
/// receipt logged after it first) leaves the tombstone it answered, read, with the read's
/// change seq, the sealed text with its reason, and the doctor's unread count as it was.
#[test]
fn a_logged_retraction_becomes_the_tombstone_it_answered() {
    let (_dir, mut conn, patient, doctor) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let sent = messages::send(
        &tx,
        &mut seqs,
        &patient,
        &text(&patient, &doctor, "to the wrong doctor"),
        &client("c-1"),
    )
    .unwrap()
    .message;
    edit(
        &tx,
        &mut seqs,
        &patient,
        &sent.id,
        &to("edited", 1),
        None,
        WINDOWS,
    )
    .unwrap();
    let request = RetractRequest {
        reason: Some("wrong doctor".to_owned()),
        misdirected: true,
    };
    let gone = retract(&tx, &mut seqs, &patient, &sent.id, &request, None, WINDOWS).unwrap();
    assert!(gone.changed && gone.message.is_retracted() && gone.message.content.is_empty());
    let again = retract(&tx, &mut seqs, &patient, &sent.id, &request, None, WINDOWS).unwrap();
    assert_eq!((again.changed, &again.message), (false, &gone.message));
    let late = edit(
        &tx,
        &mut seqs,
        &patient,
        &sent.id,
        &to("x", 2),
        None,
        WINDOWS,
    );
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    // The doctor's app reads the tombstone: a receipt newer than the retraction, same slice.
    let read = receipts::mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&sent.id));
    assert_eq!(read.unwrap().len(), 1);
    let (logged, newest): (i64, i64) = tx
        .query_row("SELECT count(*), max(seq) FROM event_log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(logged, 4, "the send, the edit, the retraction, the read");
    // The message as it will be, from its logged send and everything logged after it.
    let mut expected = projection::send_by_id(&tx, sent.id.as_str())
        .unwrap()
        .unwrap();
    projection::with_logged_changes(&tx, &mut expected).unwrap();
    assert_eq!(expected.retracted, gone.message.retracted);
    assert_eq!(expected.status, MessageStatus::Read);
    projection::apply_all(&tx).unwrap().unwrap();
    assert_eq!(messages::by_id(&tx, &sent.id).unwrap().unwrap(), expected);
    let change_seq: i64 = tx
        .query_row("SELECT change_seq FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        change_seq, newest,
        "the read's, applied before the retraction"
    );
    let sealed: Vec<(String, String, Option<String>, bool)> = tx
        .prepare(
            "SELECT change, content, reason, misdirected FROM message_versions \
             WHERE message_id = ?1 ORDER BY version",
        )
        .unwrap()
        .query_map([sent.id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        sealed,
        [
            (
                "EDIT".to_owned(),
                "to the wrong doctor".to_owned(),
                None,
                false
            ),
            (
                "RETRACT".to_owned(),
                "edited".to_owned(),
                Some("wrong doctor".to_owned()),
                true
            ),
        ]
    );
    let (unread, notices): (i64, i64) = tx
        .query_row(
            "SELECT doctor_unread, doctor_notices FROM conversations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (unread, notices),
        (0, 0),
        "a retracted message is not unread"
    );
    let (versions, _) = list(&tx, &doctor, &sent.id).unwrap();
    assert!(versions.versions.is_empty(), "its text is sealed");
}
