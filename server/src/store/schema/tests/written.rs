//! Tests of the upgrade that keeps when a message written offline was written (v33).

#![allow(clippy::unwrap_used)]
use super::super::*;
use super::{PAIR, at_version};

/// Upgrading to v33 keeps the log's rows and the messages as they were, with no time written;
/// only a send may carry one, and only one before the server took it.
#[test]
fn upgrading_to_v33_keeps_every_row_and_takes_a_written_time() {
    let mut conn = at_version(32);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content)
         VALUES (2, 'SEND', 'm-2', 20, 'c-2', 'p', 'd', 'p', 'd', 'logged');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (3, 'READ', 'm-2', 30, 1);
         INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id, sender_id,
             content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'moved', 'REGULAR', 'SENT', 0, 10, 10);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let logged: Vec<(i64, Option<i64>)> = conn
        .prepare("SELECT seq, written FROM event_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(logged, [(2, None), (3, None)]);
    let moved: (String, Option<i64>) = conn
        .query_row("SELECT content, written_at FROM messages", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(moved, ("moved".to_owned(), None));

    let send = |seq: i64, at: i64, written: i64| {
        conn.execute(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, written)
             VALUES (?1, 'SEND', 'm-' || ?1, ?2, 'c-' || ?1, 'p', 'd', 'p', 'd', 'x', ?3)",
            [seq, at, written],
        )
    };
    send(4, 100, 40).unwrap();
    assert!(
        send(5, 100, 100).is_err(),
        "written when the server took it"
    );
    assert!(
        send(6, 100, 160).is_err(),
        "written after the server took it"
    );
    assert!(
        conn.execute(
            "INSERT INTO event_log (seq, kind, id, at, mark, written)
             VALUES (7, 'READ', 'm-4', 110, 1, 50)",
            [],
        )
        .is_err(),
        "a receipt carries no written time"
    );
    assert!(
        conn.execute(
            "UPDATE messages SET written_at = created_at WHERE id = 'm-1'",
            [],
        )
        .is_err(),
        "a message written when the server took it"
    );
    conn.execute(
        "UPDATE messages SET written_at = created_at - 1 WHERE id = 'm-1'",
        [],
    )
    .unwrap();
}
