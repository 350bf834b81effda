//! Tests of schema v32: the log's and the audit's CHECKs without `IN (...)`, and an upgrade
//! that keeps both tables' rows, the audit's highest id and its append-only triggers.

#![allow(clippy::unwrap_used)]

use rusqlite::{Connection, OptionalExtension};

use super::migrate;
use super::tests::{PAIR, at_version};

/// Whether running `sql` builds a temporary b-tree (SQLite's `OpenEphemeral`): a CHECK with a
/// list of more than two constants does, at every execution.
fn builds_a_temporary_btree(conn: &Connection, sql: &str) -> bool {
    let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let opcodes: Vec<String> = explain
        .query_map([], |r| r.get(1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    opcodes.iter().any(|op| op == "OpenEphemeral")
}

/// The rows every send and receipt writes: a row of the log and one of the audit.
const WRITES: [&str; 2] = [
    "INSERT INTO event_log (seq, kind, id, at) VALUES (1, 'DELIVERED', 'm', 1)",
    "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (1, 'X', 'OK', '0', 'h')",
];

#[test]
fn a_row_of_the_log_or_the_audit_builds_no_temporary_btree() {
    let before = at_version(31);
    assert!(
        WRITES
            .iter()
            .all(|sql| builds_a_temporary_btree(&before, sql)),
        "v31 checks its lists through a temporary b-tree (what v32 takes away)"
    );
    let mut conn = at_version(31);
    migrate(&mut conn).unwrap();
    for sql in WRITES {
        assert!(!builds_a_temporary_btree(&conn, sql), "{sql}");
    }
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn audit_issued(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = 'audit'",
        [],
        |r| r.get(0),
    )
    .optional()
    .unwrap()
}

/// Upgrading keeps the log's and the audit's rows as they were, the audit's highest id ever
/// given out (here above its last row, as for a log cut short, which `audit verify` must still
/// find), its indexes and its triggers; the constraints refuse what they refused before.
#[test]
fn upgrading_to_v32_keeps_the_log_and_the_audit() {
    let mut conn = at_version(31);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'hello');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (2, 'READ', 'm-1', 2, 1);
         INSERT INTO audit (at, actor, action, patient_id, outcome, prev_hash, hash)
         VALUES (1, 'p', 'LOGIN', NULL, 'OK', '0', 'h1'),
                (2, 'd', 'HISTORY_READ', 'p', 'DENIED', 'h1', 'h2'),
                (3, 'd', 'HISTORY_READ', 'p', 'FAILED', 'h2', 'h3');
         UPDATE sqlite_sequence SET seq = 7 WHERE name = 'audit';",
    )
    .unwrap();
    let log = "SELECT group_concat(concat_ws(' ', seq, kind, id, coalesce(content, '-'), mark), \
               '; ') FROM (SELECT * FROM event_log ORDER BY seq)";
    let audit = "SELECT group_concat(concat_ws(' ', id, at, actor, action, \
                 coalesce(patient_id, '-'), outcome, prev_hash, hash), '; ') \
                 FROM (SELECT * FROM audit ORDER BY id)";
    let text =
        |conn: &Connection, sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let (log_before, audit_before) = (text(&conn, log), text(&conn, audit));
    migrate(&mut conn).unwrap();

    assert_eq!(text(&conn, log), log_before);
    assert_eq!(text(&conn, audit), audit_before);
    assert_eq!(
        audit_issued(&conn),
        Some(7),
        "the highest id given out is kept"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_sequence WHERE name LIKE 'audit%'"
        ),
        1
    );
    for index in ["event_log_id", "audit_at", "audit_patient_access"] {
        let sql = format!("SELECT count(*) FROM sqlite_schema WHERE name = '{index}'");
        assert_eq!(count(&conn, &sql), 1, "{index}");
    }
    for refused in [
        "UPDATE audit SET outcome = 'OK' WHERE id = 2",
        "DELETE FROM audit WHERE id = 3",
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (4, 'X', 'MAYBE', 'h3', 'h4')",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (3, 'SENT', 'm-1', 3)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (3, 'send', 'm-1', 3)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (3, 'SEND', 'm-1', 3)",
        "INSERT INTO event_log (seq, kind, id, at, content) VALUES (3, 'READ', 'm-1', 3, 'x')",
    ] {
        assert!(conn.execute_batch(refused).is_err(), "{refused}");
    }
    conn.execute_batch(
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (4, 'X', 'OK', 'h3', 'h4');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (3, 'DELIVERED', 'm-1', 3, 1);",
    )
    .unwrap();
    assert_eq!(
        count(&conn, "SELECT max(id) FROM audit"),
        8,
        "AUTOINCREMENT goes on after the highest id given out"
    );
}

/// An audit that never wrote a row has no `sqlite_sequence` row before or after.
#[test]
fn upgrading_an_empty_audit_gives_it_no_highest_id() {
    let mut conn = at_version(31);
    migrate(&mut conn).unwrap();
    assert_eq!(audit_issued(&conn), None);
    conn.execute(
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (1, 'X', 'OK', '0', 'h')",
        [],
    )
    .unwrap();
    assert_eq!(audit_issued(&conn), Some(1));
}
