//! Tests of the upgrades that took edits, retractions and emergencies into the log (v26-v31).

#![allow(clippy::unwrap_used)]
use super::super::*;
use super::{PAIR, at_version};

/// How many indexes named `event_log_id` the schema has.
fn log_index(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name = 'event_log_id'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Upgrading to v26 keeps the log's rows in order; an edit row then needs its editor and
/// text, a retraction its sender, and neither has a send's conversation columns.
#[test]
fn upgrading_to_v26_keeps_the_log_and_takes_edits_and_retractions() {
    let mut conn = at_version(25);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'logged');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (2, 'DELIVERED', 'm-1', 2, 1);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let rows: Vec<String> = conn
        .prepare(
            "SELECT concat_ws(' ', seq, kind, id, coalesce(content, '-'), mark) \
             FROM event_log ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, ["1 SEND m-1 logged 0", "2 DELIVERED m-1 - 1"]);
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, sender_id, content, client_id)
         VALUES (3, 'EDIT', 'm-1', 3, 'p', 'edited', 'e-1'),
             (4, 'EDIT', 'm-1', 4, 'p', 'again', NULL);
         INSERT INTO event_log (seq, kind, id, at, sender_id, content, mark)
         VALUES (5, 'RETRACT', 'm-1', 5, 'p', NULL, 0), (6, 'RETRACT', 'm-2', 6, 'p', 'wrong', 1)",
    )
    .unwrap();
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, content) VALUES (7, 'EDIT', 'm-1', 7, 'x')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id) VALUES (7, 'EDIT', 'm-1', 7, 'p')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, content, patient_id)
         VALUES (7, 'EDIT', 'm-1', 7, 'p', 'x', 'p')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, content, mark)
         VALUES (7, 'EDIT', 'm-1', 7, 'p', 'x', 1)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (7, 'RETRACT', 'm-1', 7)",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, recipient_id)
         VALUES (7, 'RETRACT', 'm-1', 7, 'p', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, mark)
         VALUES (7, 'RETRACT', 'm-1', 7, 'p', 2)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (7, 'UNSEND', 'm-1', 7)",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    assert_eq!(log_index(&conn), 1);
}

/// Upgrading to v27 keeps the log's rows in order; a raise then needs its emergency and
/// conversation, an emergency message is a send with `mark` 1, and no other kind carries an
/// emergency.
#[test]
fn upgrading_to_v27_keeps_the_log_and_takes_raises() {
    let mut conn = at_version(26);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'logged');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (2, 'READ', 'm-1', 2, 1);
         INSERT INTO event_log (seq, kind, id, at, sender_id, content)
         VALUES (3, 'EDIT', 'm-1', 3, 'p', 'edited');",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let rows = |conn: &Connection| -> Vec<String> {
        conn.prepare(
            "SELECT concat_ws(' ', seq, kind, id, coalesce(content, '-'), mark, \
             coalesce(emergency_id, '-')) FROM event_log ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(
        rows(&conn),
        [
            "1 SEND m-1 logged 0 -",
            "2 READ m-1 - 1 -",
            "3 EDIT m-1 edited 0 -"
        ]
    );
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (4, 'SEND', 'm-2', 4, 'c-2', 'p', 'd', 'p', 'd', 'help', 1);
         INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (5, 'RAISE', 'm-2', 4, 'p', 'd', 'e-1', 0),
             (6, 'RAISE', 'm-2', 4, 'p', 'd', 'e-1', 1);",
    )
    .unwrap();
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id)
         VALUES (7, 'RAISE', 'm-2', 7, 'p', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, doctor_id, emergency_id)
         VALUES (7, 'RAISE', 'm-2', 7, 'd', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
         VALUES (7, 'RAISE', 'm-2', 7, 'p', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, emergency_id)
         VALUES (7, 'RETRACT', 'm-1', 7, 'p', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, content)
         VALUES (7, 'RAISE', 'm-2', 7, 'p', 'd', 'e-1', 'x')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (7, 'RAISE', 'm-2', 7, 'p', 'd', 'e-1', 2)",
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (7, 'SEND', 'm-3', 7, 'c-3', 'p', 'd', 'p', 'd', 'x', 2)",
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, emergency_id)
         VALUES (7, 'SEND', 'm-3', 7, 'c-3', 'p', 'd', 'p', 'd', 'x', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id) VALUES (7, 'READ', 'm-2', 7, 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, content, emergency_id)
         VALUES (7, 'EDIT', 'm-1', 7, 'p', 'x', 'e-1')",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    assert_eq!(log_index(&conn), 1);
}

/// Upgrading to v28 keeps the log's rows in order, raises with their emergency; a doctor
/// taking an emergency then needs the emergency, its patient and the doctor, and nothing
/// else.
#[test]
fn upgrading_to_v28_keeps_the_log_and_takes_takes() {
    let mut conn = at_version(27);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
         INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (3, 'READ', 'm-1', 3, 1);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let rows = |conn: &Connection| -> Vec<String> {
        conn.prepare(
            "SELECT concat_ws(' ', seq, kind, id, coalesce(sender_id, '-'), mark, \
             coalesce(emergency_id, '-')) FROM event_log ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(
        rows(&conn),
        [
            "1 SEND m-1 p 1 -",
            "2 RAISE m-1 - 0 e-1",
            "3 READ m-1 - 1 -"
        ]
    );
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id)
         VALUES (4, 'TAKE', 'e-1', 4, 'p', 'd', 'e-1')",
    )
    .unwrap();
    assert_eq!(rows(&conn)[3], "4 TAKE e-1 d 0 e-1");
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id)
         VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, emergency_id)
         VALUES (5, 'TAKE', 'e-1', 5, 'd', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
         VALUES (5, 'TAKE', 'e-1', 5, 'p', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
             doctor_id) VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd', 'e-1', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
             content) VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd', 'e-1', 'x')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id, mark)
         VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd', 'e-1', 1)",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id) VALUES (5, 'READ', 'm-1', 5, 'e-1')",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    assert_eq!(log_index(&conn), 1);
}

/// Upgrading to v29 keeps the log's rows in order; a resolution then needs the emergency,
/// its patient and the doctor (a note is optional), and a stamp its message and emergency
/// and nothing else.
#[test]
fn upgrading_to_v29_keeps_the_log_and_takes_resolutions() {
    let mut conn = at_version(28);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
         INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
         INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id)
         VALUES (3, 'TAKE', 'e-1', 3, 'p', 'd', 'e-1');",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let rows = |conn: &Connection| -> Vec<String> {
        conn.prepare(
            "SELECT concat_ws(' ', seq, kind, id, coalesce(sender_id, '-'), mark, \
             coalesce(emergency_id, '-'), coalesce(content, '-')) FROM event_log ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(
        rows(&conn),
        [
            "1 SEND m-1 p 1 - help",
            "2 RAISE m-1 - 0 e-1 -",
            "3 TAKE e-1 d 0 e-1 -"
        ]
    );
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
             content) VALUES (4, 'RESOLVE', 'e-1', 4, 'p', 'd', 'e-1', 'fine');
         INSERT INTO event_log (seq, kind, id, at, emergency_id)
         VALUES (5, 'STAMP', 'm-1', 4, 'e-1');
         INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id, mark)
         VALUES (6, 'RESOLVE', 'e-2', 6, 'p', 'd', 'e-2', 1);",
    )
    .unwrap();
    assert_eq!(
        rows(&conn)[3..],
        [
            "4 RESOLVE e-1 d 0 e-1 fine",
            "5 STAMP m-1 - 0 e-1 -",
            "6 RESOLVE e-2 d 1 e-2 -"
        ]
    );
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id)
         VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, sender_id, emergency_id)
         VALUES (7, 'RESOLVE', 'e-1', 7, 'd', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
         VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
             doctor_id) VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'd', 'e-1', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id, mark)
         VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'd', 'e-1', 2)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (7, 'STAMP', 'm-1', 7)",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, sender_id)
         VALUES (7, 'STAMP', 'm-1', 7, 'e-1', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, content)
         VALUES (7, 'STAMP', 'm-1', 7, 'e-1', 'x')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, mark)
         VALUES (7, 'STAMP', 'm-1', 7, 'e-1', 1)",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    assert_eq!(log_index(&conn), 1);
}

/// Upgrading to v30 keeps the log's rows in order; an escalation then needs the emergency
/// and its patient, and nothing a doctor's row carries.
#[test]
fn upgrading_to_v30_keeps_the_log_and_takes_escalations() {
    let mut conn = at_version(29);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
         INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
         INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
             content) VALUES (3, 'RESOLVE', 'e-1', 3, 'p', 'd', 'e-1', 'fine');
         INSERT INTO event_log (seq, kind, id, at, emergency_id)
         VALUES (4, 'STAMP', 'm-1', 3, 'e-1');",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let rows = |conn: &Connection| -> Vec<String> {
        conn.prepare(
            "SELECT concat_ws(' ', seq, kind, id, coalesce(patient_id, '-'), \
             coalesce(sender_id, '-'), mark, coalesce(emergency_id, '-'), \
             coalesce(content, '-')) FROM event_log ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(
        rows(&conn),
        [
            "1 SEND m-1 p p 1 - help",
            "2 RAISE m-1 p - 0 e-1 -",
            "3 RESOLVE e-1 p d 0 e-1 fine",
            "4 STAMP m-1 - - 0 e-1 -"
        ]
    );
    conn.execute(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
         VALUES (5, 'ESCALATE', 'e-2', 5, 'p', 'e-2')",
        [],
    )
    .unwrap();
    assert_eq!(rows(&conn)[4..], ["5 ESCALATE e-2 p - 0 e-2 -"]);
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, patient_id)
         VALUES (6, 'ESCALATE', 'e-2', 6, 'p')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id)
         VALUES (6, 'ESCALATE', 'e-2', 6, 'e-2')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, sender_id)
         VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, doctor_id)
         VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, content)
         VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 'x')",
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, mark)
         VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 1)",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    assert_eq!(log_index(&conn), 1);
}

/// Upgrading to v31 keeps the log's rows in order; an alert record then needs the
/// emergency and the doctors it reached, and nothing else.
#[test]
fn upgrading_to_v31_keeps_the_log_and_takes_alert_records() {
    let mut conn = at_version(30);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
         INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
         INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
         VALUES (3, 'ESCALATE', 'e-1', 3, 'p', 'e-1');",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let rows = |conn: &Connection| -> Vec<String> {
        conn.prepare(
            "SELECT concat_ws(' ', seq, kind, id, coalesce(patient_id, '-'), mark, \
             coalesce(emergency_id, '-'), coalesce(content, '-')) FROM event_log ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(
        rows(&conn),
        [
            "1 SEND m-1 p 1 - help",
            "2 RAISE m-1 p 0 e-1 -",
            "3 ESCALATE e-1 p 0 e-1 -"
        ]
    );
    conn.execute(
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, content)
         VALUES (4, 'ALERT', 'e-1', 4, 'e-1', '[[\"d\",2]]')",
        [],
    )
    .unwrap();
    assert_eq!(rows(&conn)[3..], ["4 ALERT e-1 - 0 e-1 [[\"d\",2]]"]);
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, content) VALUES (5, 'ALERT', 'e-1', 5, '[]')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id)
         VALUES (5, 'ALERT', 'e-1', 5, 'e-1')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, content, patient_id)
         VALUES (5, 'ALERT', 'e-1', 5, 'e-1', '[]', 'p')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, content, sender_id)
         VALUES (5, 'ALERT', 'e-1', 5, 'e-1', '[]', 'd')",
        "INSERT INTO event_log (seq, kind, id, at, emergency_id, content, mark)
         VALUES (5, 'ALERT', 'e-1', 5, 'e-1', '[]', 1)",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    assert_eq!(log_index(&conn), 1);
}
