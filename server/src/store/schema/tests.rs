//! Tests of the schema's upgrades: the helpers the others share, search, counters and refusals.

#![allow(clippy::unwrap_used)]
use super::*;
use sha2::Digest;

mod log;
mod receipts;
mod written;

/// An in-memory database as a server of schema `version` left it.
pub(super) fn at_version(version: usize) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
        let version = i64::try_from(i + 1).unwrap();
        step(&conn, version, sql).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
    }
    conn
}

/// A patient `p` and a doctor `d` in a conversation.
pub(super) const PAIR: &str =
    "INSERT INTO users (id, username, name, role, password_hash, created_at) \
     VALUES ('p', 'p', 'P', 'PATIENT', 'x', 0), ('d', 'd', 'D', 'DOCTOR', 'x', 0);
     INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES ('p', 'd', 0);";

/// How many rows of the FTS5 table `table` match `query`.
fn matching(conn: &Connection, table: &str, query: &str) -> i64 {
    conn.query_row(
        &format!("SELECT count(*) FROM {table} WHERE {table} MATCH ?1"),
        [query],
        |r| r.get(0),
    )
    .unwrap()
}

/// A database made by an older server, with a message in it, gains search on upgrade.
#[test]
fn upgrading_indexes_the_messages_already_there() {
    let mut conn = at_version(6);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, file_name, is_emergency, created_at,
             updated_at)
         VALUES ('m', 7, 7, 'c', 'p', 'd', 'p', 'Crème for the rash', 'FILE', 'SENT',
             'Röntgen.pdf', 0, 0, 0);",
    )
    .unwrap();
    migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
    let words: i64 = conn
        .query_row(
            "SELECT rowid FROM messages_words WHERE messages_words MATCH '\"creme\"*'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let parts: i64 = conn
        .query_row(
            "SELECT rowid FROM messages_parts WHERE messages_parts MATCH '\"ontgen\"'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((words, parts), (7, 7));
    // Later changes follow through the triggers.
    conn.execute(
        "UPDATE messages SET content = 'ointment' WHERE id = 'm'",
        [],
    )
    .unwrap();
    assert_eq!(matching(&conn, "messages_words", "creme"), 0);
}

/// An edit under v11 broke FTS5's own integrity check (the length record went with the old
/// text); upgrading repairs the index, and edits after it keep it whole.
#[test]
fn upgrading_repairs_an_index_an_edit_damaged() {
    let mut conn = at_version(11);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('m', 7, 7, 'c', 'p', 'd', 'p', 'take ibuprofen', 'TEXT', 'SENT', 0, 0, 0);
         UPDATE messages SET content = 'take naproxen', edited_at = 1 WHERE id = 'm';",
    )
    .unwrap();
    let check = |conn: &Connection| {
        ["messages_words", "messages_parts"].map(|t| {
            conn.execute(
                &format!("INSERT INTO {t} ({t}, rank) VALUES ('integrity-check', 1)"),
                [],
            )
            .is_ok()
        })
    };
    assert_eq!(check(&conn), [false, false], "v11 damaged the index");
    migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
    assert_eq!(check(&conn), [true, true]);
    conn.execute(
        "UPDATE messages SET content = 'take aspirin' WHERE id = 'm'",
        [],
    )
    .unwrap();
    assert_eq!(check(&conn), [true, true]);
    let found: i64 = conn
        .query_row(
            "SELECT rowid FROM messages_words WHERE messages_words MATCH 'aspirin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(found, 7);
    // A retraction takes the text out and leaves the index whole.
    conn.execute(
        "UPDATE messages SET content = '', retracted_at = 2 WHERE id = 'm'",
        [],
    )
    .unwrap();
    assert_eq!(check(&conn), [true, true]);
    assert_eq!(matching(&conn, "messages_words", "aspirin"), 0);
}

/// Upgrading counts what each side has left to read; the triggers then follow reads,
/// retractions and deletions, whichever statement makes them.
#[test]
fn unread_counters_start_from_the_messages_and_follow_their_changes() {
    let mut conn = at_version(14);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('a', 1, 1, 'a', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 0, 0, 0),
             ('b', 2, 2, 'b', 'p', 'd', 'p', 'x', 'REGULAR', 'DELIVERED', 0, 0, 0),
             ('c', 3, 3, 'c', 'p', 'd', 'p', 'x', 'REGULAR', 'READ', 0, 0, 0),
             ('e', 4, 4, 'e', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0),
             ('f', 5, 5, 'f', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0);
         UPDATE messages SET retracted_at = 1 WHERE id = 'f';",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let counters = |conn: &Connection| -> (i64, i64) {
        conn.query_row(
            "SELECT patient_unread, doctor_unread FROM conversations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(counters(&conn), (1, 2), "(patient: e; doctor: a, b)");
    conn.execute("UPDATE messages SET status = 'READ' WHERE id = 'a'", [])
        .unwrap();
    assert_eq!(counters(&conn), (1, 1));
    conn.execute("UPDATE messages SET status = 'READ' WHERE id = 'a'", [])
        .unwrap();
    assert_eq!(counters(&conn), (1, 1), "read twice counts once");
    conn.execute("UPDATE messages SET retracted_at = 2 WHERE id = 'e'", [])
        .unwrap();
    assert_eq!(counters(&conn), (0, 1));
    conn.execute("DELETE FROM messages WHERE id IN ('b', 'c', 'e')", [])
        .unwrap();
    assert_eq!(counters(&conn), (0, 0));
}

/// Upgrading to v18 counts each side's unread notifications from the messages (not an
/// emergency's, not a read one's, not one from before v14); the triggers then follow
/// notifications marked read, retractions and deletions.
#[test]
fn notification_counters_start_from_the_messages_and_follow_their_changes() {
    let mut conn = at_version(17);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at,
             recipient_id, notice)
         VALUES ('a', 1, 1, 'a', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 0, 0, 0, 'd', 0),
             ('b', 2, 2, 'b', 'p', 'd', 'p', 'x', 'REGULAR', 'READ', 0, 0, 0, 'd', 0),
             ('c', 3, 3, 'c', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 0, 0, 0, 'd', 1),
             ('e', 4, 4, 'e', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0, 'p', 0),
             ('s', 5, 5, 's', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 1, 0, 0, NULL, NULL),
             ('o', 6, 6, 'o', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0, NULL, NULL);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let counters = |conn: &Connection| -> (i64, i64) {
        conn.query_row(
            "SELECT patient_notices, doctor_notices FROM conversations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(counters(&conn), (1, 2), "(patient: e; doctor: a, b)");
    conn.execute("UPDATE messages SET notice = 1 WHERE id = 'a'", [])
        .unwrap();
    assert_eq!(counters(&conn), (1, 1));
    conn.execute("UPDATE messages SET notice = 1 WHERE id = 'a'", [])
        .unwrap();
    assert_eq!(counters(&conn), (1, 1), "read twice counts once");
    conn.execute("UPDATE messages SET notice = NULL WHERE id = 'e'", [])
        .unwrap();
    assert_eq!(
        counters(&conn),
        (0, 1),
        "a retraction takes its notification"
    );
    conn.execute("DELETE FROM messages WHERE id IN ('b', 'c', 's', 'o')", [])
        .unwrap();
    assert_eq!(counters(&conn), (0, 0));
    let indexes: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'messages_notice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 0);
}

/// Upgrading to v19 takes the search indexes out of the database and queues, from then
/// on, every message added, changed or deleted for the index of its own; the messages
/// already there are found by building that index (`search_index.rs`).
#[test]
fn upgrading_to_v19_leaves_search_to_its_own_file_and_queues_every_change() {
    let mut conn = at_version(18);
    conn.execute_batch(PAIR).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('a', 1, 1, 'a', 'p', 'd', 'p', 'before', 'REGULAR', 'SENT', 0, 0, 0);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'messages_words%' \
             OR name LIKE 'messages_parts%' OR name LIKE 'messages_search%' \
             OR name = 'searchable_messages'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
    let source: i64 = conn
        .query_row(
            "SELECT value FROM counters WHERE name = 'search_source'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_ne!(source, 0);
    conn.execute_batch(
        "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
             sender_id, content, message_type, status, is_emergency, created_at, updated_at)
         VALUES ('b', 2, 2, 'b', 'p', 'd', 'p', 'after', 'REGULAR', 'SENT', 0, 0, 0);
         UPDATE messages SET status = 'READ' WHERE id = 'a';
         UPDATE messages SET content = 'edited' WHERE id = 'a';
         UPDATE messages SET retracted_at = 1 WHERE id = 'b';
         DELETE FROM messages WHERE id = 'a';",
    )
    .unwrap();
    let queued: Vec<i64> = conn
        .prepare("SELECT seq FROM search_changes ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        queued,
        [2, 1, 2, 1],
        "a receipt changes nothing a search sees"
    );
}

/// A database a newer server made is refused, not served half-understood.
#[test]
fn a_newer_schema_is_refused_with_a_sentence() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    let newer = MIGRATIONS.len() + 1;
    conn.pragma_update(None, "user_version", i64::try_from(newer).unwrap())
        .unwrap();
    let err = migrate(&mut conn).unwrap_err().to_string();
    assert!(err.contains("made by a newer clinic-server"), "{err}");
    assert!(err.contains(&format!("schema {newer}")), "{err}");
}

/// A shipped migration is never edited: a database that ran it keeps what it did, so an edit
/// would leave two databases of the same version apart. The first 16 hex digits of each
/// migration's SHA-256, in order; a new migration appends its own.
#[test]
fn shipped_migrations_are_never_edited() {
    const SHIPPED: &[&str] = &[
        "2a861cab64476c5f",
        "23663681f142bd80",
        "0f2e8aafd44e5580",
        "b1223c9540c0efdd",
        "ac4c2da29dd73d8d",
        "3134285e1705c32a",
        "b02245e8133567bf",
        "69757f16b2298010",
        "c76460c53f0707d1",
        "c9a72a426a782a29",
        "cc6ed4931efc3e71",
        "de6299b9505c9ed2",
        "62031421b6991034",
        "1244d6c08c06bd41",
        "aa3aab7596f4bb85",
        "5c97126f2bdfde59",
        "f02ceb66e19ea7e1",
        "65eaae7b2a5e6c70",
        "90ace9efda56adfd",
        "e3b0c44298fc1c14",
        "162659a9f511a2eb",
        "0d74c9991fe623a1",
        "01f78636363e9ea9",
        "69d96f3d5cb71ffa",
        "830c8eaf69155717",
        "8f1b09abc7647da8",
        "4850a41a49ccaf04",
        "abc4f6def077858e",
        "a727c598972f0516",
        "652cc6206b98be4f",
        "94f2e2e5e361b449",
        "72a44f7009aea6da",
        "8c21d2f482333054",
        "441e95636b8f04f3",
    ];
    let now: Vec<String> = MIGRATIONS
        .iter()
        .map(|sql| hex::encode(sha2::Sha256::digest(sql.as_bytes()))[..16].to_owned())
        .collect();
    assert_eq!(
        now.len(),
        SHIPPED.len(),
        "a migration without its digest here"
    );
    for (version, (now, shipped)) in now.iter().zip(SHIPPED).enumerate() {
        assert_eq!(now, shipped, "migration v{} was edited", version + 1);
    }
}
