//! Tests of the upgrades that moved sends and receipts into logs (v13, v16, v23-v25).

#![allow(clippy::unwrap_used)]
use super::super::*;
use super::{PAIR, at_version, matching};

/// What a v13 server logged and had not moved when it stopped is moved on upgrade, with the
/// notification v13 promised it (stored, as v13 would have written it); the notifications
/// stored before keep their ids; messages sent after it notify through their own row.
#[test]
fn upgrading_moves_a_v13_log_with_its_stored_notifications() {
    let mut conn = at_version(13);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('m-1', 7, 7, 'c-1', 'p', 'd', 'p', 'moved before', 'REGULAR', 'SENT', 0, 1, 1);
         INSERT INTO notifications (id, user_id, kind, title, body, message_id, patient_id,
             doctor_id, read, created_at)
         VALUES ('n-old', 'd', 'NEW_MESSAGE', 'New message from P', 'moved before', 'm-1',
             'p', 'd', 1, 1);
         INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, content,
             created_at, notification_id, recipient_id, title)
         VALUES (8, 'm-2', 'c-2', 'p', 'd', 'p', 'still in the log', 2, 'n-logged', 'd',
             'New message from P');",
    )
    .unwrap();
    migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
    let rows = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        rows("SELECT id || ':' || content FROM messages ORDER BY seq"),
        ["m-1:moved before", "m-2:still in the log"]
    );
    assert_eq!(
        rows("SELECT id || ':' || message_id || ':' || read FROM notifications ORDER BY id"),
        ["n-logged:m-2:0", "n-old:m-1:1"]
    );
    assert_eq!(
        rows("SELECT id FROM messages WHERE notice IS NOT NULL"),
        Vec::<String>::new(),
        "a message from before v14 keeps its stored notification, and only that"
    );
    assert_eq!(matching(&conn, "messages_words", "log"), 1);
    let unread: i64 = conn
        .query_row("SELECT doctor_unread FROM conversations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unread, 2, "counted after the log moved (v15 after v14)");
    // The new log takes what a v14 send logs.
    conn.execute(
        "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id,
             recipient_id, content, created_at)
         VALUES (9, 'm-3', 'c-3', 'p', 'd', 'p', 'd', 'after', 3)",
        [],
    )
    .unwrap();
}

/// Upgrading to v16 keeps in the per-user change indexes only the messages changed after
/// being written, and sets the search indexes' merge width; sync and search still find the
/// messages that are left out (`store::changes`).
#[test]
fn upgrading_to_v16_indexes_only_changed_messages_by_user() {
    let mut conn = at_version(15);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'as written', 'REGULAR', 'SENT', 0, 1, 1),
                ('m-2', 2, 3, 'c-2', 'p', 'd', 'p', 'delivered', 'REGULAR', 'DELIVERED', 0,
                 2, 3);",
    )
    .unwrap();
    migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
    for (index, column, user) in [
        ("messages_patient_change", "patient_id", "p"),
        ("messages_doctor_change", "doctor_id", "d"),
    ] {
        let ids: Vec<String> = conn
            .prepare(&format!(
                "SELECT id FROM messages INDEXED BY {index} WHERE change_seq != seq \
                 AND {column} = ?1"
            ))
            .unwrap()
            .query_map([user], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, ["m-2"], "{index}");
        let entries: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM pragma_index_info('{index}') \
                     WHERE (SELECT partial FROM pragma_index_list('messages') \
                     WHERE name = '{index}') = 1"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(entries, 2, "{index} is partial, on (user, change_seq)");
    }
    for table in ["messages_words", "messages_parts"] {
        let automerge: i64 = conn
            .query_row(
                &format!("SELECT v FROM {table}_config WHERE k = 'automerge'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(automerge, 8, "{table}");
    }
    assert_eq!(matching(&conn, "messages_words", "written"), 1);
}

/// Upgrading to v23 keeps every changed message in the per-user change indexes (none was
/// read up to as v23 notes it); a row whose last change is such a read leaves them.
#[test]
fn upgrading_to_v23_leaves_reads_up_to_out_of_the_per_user_indexes() {
    let mut conn = at_version(22);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'as written', 'REGULAR', 'SENT', 0, 1, 1),
                ('m-2', 2, 4, 'c-2', 'p', 'd', 'p', 'delivered', 'REGULAR', 'DELIVERED', 0,
                 2, 4),
                ('m-3', 3, 5, 'c-3', 'p', 'd', 'p', 'read', 'REGULAR', 'READ', 0, 3, 5);
         INSERT INTO receipt_log (seq, message_id, status, at) VALUES (6, 'm-1', 'READ', 6);",
    )
    .unwrap();
    migrate_to(&mut conn, 23).unwrap();
    let indexed = |conn: &Connection| -> Vec<Vec<String>> {
        [
            ("messages_patient_change", "patient_id", "p"),
            ("messages_doctor_change", "doctor_id", "d"),
        ]
        .iter()
        .map(|(index, column, user)| {
            conn.prepare(&format!(
                "SELECT id FROM messages INDEXED BY {index} WHERE change_seq != seq \
                 AND change_seq IS NOT read_seq AND {column} = ?1 ORDER BY change_seq"
            ))
            .unwrap()
            .query_map([user], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        })
        .collect()
    };
    assert_eq!(indexed(&conn), [["m-2", "m-3"], ["m-2", "m-3"]]);
    let noted: (i64, i64, i64) = conn
        .query_row(
            "SELECT patient_read_change + patient_read_from, \
             doctor_read_change + doctor_read_from, (SELECT mark FROM receipt_log) \
             FROM conversations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        noted,
        (0, 0, 0),
        "nothing read up to yet, a waiting receipt by id"
    );
    conn.execute(
        "UPDATE messages SET read_seq = change_seq WHERE id = 'm-3'",
        [],
    )
    .unwrap();
    assert_eq!(indexed(&conn), [["m-2"], ["m-2"]]);
    // Changed again (an edit), it is back.
    conn.execute("UPDATE messages SET change_seq = 7 WHERE id = 'm-3'", [])
        .unwrap();
    assert_eq!(indexed(&conn), [["m-2", "m-3"], ["m-2", "m-3"]]);
}

/// Upgrading to v24 keeps the per-user change indexes as they were (nothing was delivered
/// "up to" before); a row whose last change is such a delivery leaves them, and is back once
/// changed again.
#[test]
fn upgrading_to_v24_leaves_deliveries_up_to_out_of_the_per_user_indexes() {
    let mut conn = at_version(23);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, read_seq, client_id, patient_id,
             doctor_id, sender_id, content, message_type, status, is_emergency, created_at,
             updated_at)
         VALUES ('m-1', 1, 1, NULL, 'c-1', 'p', 'd', 'p', 'as written', 'REGULAR', 'SENT',
                 0, 1, 1),
                ('m-2', 2, 4, NULL, 'c-2', 'p', 'd', 'p', 'delivered', 'REGULAR',
                 'DELIVERED', 0, 2, 4),
                ('m-3', 3, 5, 5, 'c-3', 'p', 'd', 'p', 'read up to', 'REGULAR', 'READ', 0,
                 3, 5);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let indexed = |conn: &Connection| -> Vec<Vec<String>> {
        [
            ("messages_patient_change", "patient_id", "p"),
            ("messages_doctor_change", "doctor_id", "d"),
        ]
        .iter()
        .map(|(index, column, user)| {
            conn.prepare(&format!(
                "SELECT id FROM messages INDEXED BY {index} WHERE change_seq != seq \
                 AND change_seq IS NOT read_seq AND change_seq IS NOT delivered_seq \
                 AND {column} = ?1 ORDER BY change_seq"
            ))
            .unwrap()
            .query_map([user], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        })
        .collect()
    };
    assert_eq!(indexed(&conn), [["m-2"], ["m-2"]]);
    let noted: i64 = conn
        .query_row(
            "SELECT patient_delivered_change + patient_delivered_from \
             + patient_delivered_top + doctor_delivered_change + doctor_delivered_from \
             + doctor_delivered_top FROM conversations",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(noted, 0, "nothing delivered up to yet");
    conn.execute(
        "UPDATE messages SET delivered_seq = change_seq WHERE id = 'm-2'",
        [],
    )
    .unwrap();
    assert_eq!(indexed(&conn), [[""; 0], [""; 0]]);
    conn.execute("UPDATE messages SET change_seq = 7 WHERE id = 'm-2'", [])
        .unwrap();
    assert_eq!(indexed(&conn), [["m-2"], ["m-2"]]);
}

/// Upgrading to v25 puts what both logs hold into the one log, in seq order, and the move
/// then applies it as it would have applied the two.
#[test]
fn upgrading_to_v25_keeps_what_both_logs_held() {
    let mut conn = at_version(24);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at,
             recipient_id, notice)
         VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'stored', 'REGULAR', 'SENT', 0, 1, 1,
                 'd', 0);
         INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id,
             recipient_id, content, created_at)
         VALUES (2, 'm-2', 'c-2', 'p', 'd', 'p', 'd', 'logged', 2);
         INSERT INTO receipt_log (seq, message_id, status, at, mark)
         VALUES (3, 'm-1', 'DELIVERED', 3, 1), (4, 'm-2', 'READ', 4, 0);
         UPDATE counters SET value = 1 WHERE name = 'change_seq';",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    // Each row as one line of text (NULL as "-").
    let lines = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        lines(
            "SELECT concat_ws(' ', seq, kind, id, at, coalesce(content, '-')) \
             FROM event_log ORDER BY seq"
        ),
        [
            "2 SEND m-2 2 logged",
            "3 DELIVERED m-1 3 -",
            "4 READ m-2 4 -"
        ]
    );
    assert_eq!(crate::store::marker::committed(&conn).unwrap(), 4);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('send_log', 'receipt_log')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    // A receipt row cannot carry a send's columns, nor a send lack them.
    for bad in [
        "INSERT INTO event_log (seq, kind, id, at, content) VALUES (5, 'READ', 'm-1', 5, 'x')",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'SEND', 'm-3', 5)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'EDIT', 'm-1', 5)",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad}");
    }
    let moved = crate::store::projection::apply_all(&conn).unwrap().unwrap();
    assert_eq!((moved.upto, moved.rows), (4, 3));
    assert_eq!(
        lines(
            "SELECT concat_ws(' ', id, status, change_seq, coalesce(delivered_seq, '-'), \
             coalesce(read_seq, '-')) FROM messages ORDER BY seq"
        ),
        ["m-1 DELIVERED 3 3 -", "m-2 READ 4 - -"]
    );
    let (left, top): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM event_log), doctor_delivered_top FROM conversations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((left, top), (0, 1));
}
