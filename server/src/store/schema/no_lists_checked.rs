//! Tests of schema v32: the log's and the audit's CHECKs without `IN (...)`, and an upgrade
//! that keeps both tables' rows, the audit's highest id and its append-only triggers.

#![allow(clippy::unwrap_used)]

use rusqlite::{Connection, OptionalExtension};

use super::migrate_to;
use super::tests::{PAIR, at_version};
use crate::audit::{Action, Event, Outcome};
use clinic_protocol::{ConversationKey, UserId};

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

/// A row of the log (every send and receipt writes one) and one of the audit (every send and
/// every read or refusal of patient data writes one).
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
    migrate_to(&mut conn, 32).unwrap();
    for sql in WRITES {
        assert!(!builds_a_temporary_btree(&conn, sql), "{sql}");
    }
    // And every later schema keeps it so (v33's column CHECK on the log, say).
    let mut latest = at_version(31);
    super::migrate(&mut latest).unwrap();
    for sql in WRITES {
        assert!(!builds_a_temporary_btree(&latest, sql), "latest: {sql}");
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

/// Every column of every row of `table`, in rowid order, as text.
fn rows(conn: &Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
        .unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |r| {
        (0..columns)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i)
                    .map(|v| format!("{v:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|values| values.join(" | "))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// What a table is besides its CHECKs: its columns (name, type, NOT NULL, default, key), whether
/// it is STRICT, and the SQL of its indexes and triggers.
fn shape(conn: &Connection, table: &str) -> Vec<String> {
    let mut out: Vec<String> = conn
        .prepare(
            "SELECT concat_ws(' ', cid, name, type, \"notnull\", coalesce(dflt_value, '-'), pk, \
             hidden) FROM pragma_table_xinfo(?1) ORDER BY cid",
        )
        .unwrap()
        .query_map([table], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    out.push(
        conn.query_row(
            "SELECT concat('strict ', strict) FROM pragma_table_list WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap(),
    );
    let mut parts = conn
        .prepare(
            "SELECT concat_ws(' ', type, name, sql) FROM sqlite_schema \
             WHERE tbl_name = ?1 AND type != 'table' ORDER BY type, name",
        )
        .unwrap();
    let parts: Vec<String> = parts
        .query_map([table], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    out.extend(parts);
    out
}

/// Upgrading keeps the log's and the audit's columns, keys, STRICT, indexes and triggers as
/// they were and every column of their rows; the audit's chain still verifies, and its highest
/// id ever given out (here above its last row, as for a log cut short, which `audit verify`
/// must still find) is kept; the constraints refuse what they refused before.
#[test]
fn upgrading_to_v32_keeps_the_log_and_the_audit() {
    let mut conn = at_version(31);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
             sender_id, recipient_id, content, mark)
         VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
         INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
         VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 1);
         INSERT INTO event_log (seq, kind, id, at, emergency_id, content)
         VALUES (3, 'ALERT', 'e-1', 2, 'e-1', '[[\"d\",2]]');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (4, 'READ', 'm-1', 3, 1);",
    )
    .unwrap();
    let events = [
        Event::new("p", Action::MessageCreate)
            .conversation(&ConversationKey::new("p", "d"))
            .subject("m-1")
            .detail(serde_json::json!({ "seq": 1 })),
        Event::new("d", Action::HistoryRead)
            .patient(&UserId::from("p"))
            .outcome(Outcome::Denied),
        Event::anonymous(Action::Login).outcome(Outcome::Failed),
    ];
    for event in &events {
        crate::audit::record(&conn, event).unwrap();
    }
    let before: Vec<_> = ["event_log", "audit"]
        .iter()
        .map(|t| (shape(&conn, t), rows(&conn, t)))
        .collect();
    assert_eq!(crate::audit::verify(&conn).unwrap().unwrap(), 3);
    migrate_to(&mut conn, 32).unwrap();

    let after: Vec<_> = ["event_log", "audit"]
        .iter()
        .map(|t| (shape(&conn, t), rows(&conn, t)))
        .collect();
    assert_eq!(after, before);
    assert_eq!(crate::audit::verify(&conn).unwrap().unwrap(), 3);
    assert_eq!(audit_issued(&conn), Some(3));

    // A log cut short before the upgrade is still found after it.
    let mut conn = at_version(31);
    for event in &events {
        crate::audit::record(&conn, event).unwrap();
    }
    conn.execute(
        "UPDATE sqlite_sequence SET seq = 7 WHERE name = 'audit'",
        [],
    )
    .unwrap();
    migrate_to(&mut conn, 32).unwrap();
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
    let broken = crate::audit::verify(&conn).unwrap().unwrap_err();
    assert!(
        broken.problem.contains("rows 4 to 7 are missing"),
        "{}",
        broken.problem
    );

    for refused in [
        "UPDATE audit SET outcome = 'OK' WHERE id = 2",
        "DELETE FROM audit WHERE id = 3",
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (4, 'X', 'MAYBE', 'h3', 'h4')",
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (4, 'X', 'ok', 'h3', 'h4')",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'SENT', 'm-1', 5)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'send', 'm-1', 5)",
        "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'SEND', 'm-1', 5)",
        "INSERT INTO event_log (seq, kind, id, at, content) VALUES (5, 'READ', 'm-1', 5, 'x')",
        "INSERT INTO event_log (seq, kind, id, at, mark) VALUES (5, 'READ', 'm-1', 5, 2)",
    ] {
        assert!(conn.execute_batch(refused).is_err(), "{refused}");
    }
    conn.execute_batch(
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (4, 'X', 'OK', 'h3', 'h4');
         INSERT INTO event_log (seq, kind, id, at, mark) VALUES (5, 'DELIVERED', 'm-1', 5, 1);",
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
    migrate_to(&mut conn, 32).unwrap();
    assert_eq!(audit_issued(&conn), None);
    conn.execute(
        "INSERT INTO audit (at, action, outcome, prev_hash, hash) VALUES (1, 'X', 'OK', '0', 'h')",
        [],
    )
    .unwrap();
    assert_eq!(audit_issued(&conn), Some(1));
}
