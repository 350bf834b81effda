//! Schema v20: `messages` rebuilt so that its idempotency key is `(client_id, sender_id)`, a
//! named index, instead of the table's own `UNIQUE (sender_id, client_id)`.
//!
//! Keyed by sender first, every new message put an entry on a random leaf of that key (one
//! region per sender), a page of its own in most moves of the send log. The desktop app makes
//! client ids as UUIDv7 (time first), so keyed by client id first a new entry lands at the right
//! edge with the others of the same moment (measured with `bench/probes/message_keys.py`:
//! docs/benchmarks.md, schema v20). SQLite cannot drop a table's constraint, hence the rebuild;
//! the new key is an index that a later change can drop.

use rusqlite::Connection;

/// The constraint as v1 wrote it into the table's SQL.
const OLD_KEY: &str = "UNIQUE (sender_id, client_id),";
/// The table's SQL head as v1 wrote it. After this rebuild's rename SQLite may store it quoted
/// (`CREATE TABLE "messages" (`): a later rebuild must expect either.
const HEAD: &str = "CREATE TABLE messages (";
const NEW_HEAD: &str = "CREATE TABLE messages_v20 (";

/// Rebuilds `messages` (inside the migration's transaction, with foreign keys off: emergencies
/// and uploads name messages by id, which the copy keeps). Every row keeps its rowid and
/// columns; the indexes and triggers on the table are made again from their own SQL, after the
/// copy, so no trigger sees the copy as new messages (the search queue, the counters).
pub(super) fn rebuild(conn: &Connection) -> rusqlite::Result<()> {
    let table: String = conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'messages'",
        [],
        |r| r.get(0),
    )?;
    if !table.starts_with(HEAD) || table.matches(OLD_KEY).count() != 1 {
        return Err(unexpected(
            "its table does not read as schema v1-v19 wrote it",
        ));
    }
    let table = table.replacen(OLD_KEY, "", 1).replacen(HEAD, NEW_HEAD, 1);
    // Indexes SQLite made for constraints have no SQL: they come back with the table.
    let attached: Vec<String> = conn
        .prepare(
            "SELECT sql FROM sqlite_schema WHERE tbl_name = 'messages' \
             AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('messages') ORDER BY cid")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let columns = columns.join(", ");
    conn.execute_batch(&table)?;
    conn.execute_batch(&format!(
        "INSERT INTO messages_v20 (rowid, {columns}) SELECT rowid, {columns} FROM messages \
         ORDER BY rowid;
         DROP TABLE messages;"
    ))?;
    // A rename checks every trigger of the schema, and one of another table names `messages`,
    // which is gone until the rename is done. Nothing names `messages_v20`, so the rename has
    // no reference to follow: the legacy rename, which checks nothing, is the same rename.
    conn.pragma_update(None, "legacy_alter_table", true)?;
    let renamed = conn.execute_batch("ALTER TABLE messages_v20 RENAME TO messages");
    conn.pragma_update(None, "legacy_alter_table", false)?;
    renamed?;
    conn.execute_batch("CREATE UNIQUE INDEX messages_client ON messages(client_id, sender_id)")?;
    for sql in attached {
        conn.execute_batch(&sql)?;
    }
    Ok(())
}

fn unexpected(why: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        Some(format!(
            "cannot upgrade the message table to schema 20: {why}"
        )),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::migrate_to;
    use super::super::tests::{PAIR, at_version};
    use rusqlite::Connection;

    /// Every row of `sql`'s result, each column as SQLite would print it.
    fn rows(conn: &Connection, sql: &str) -> Vec<Vec<String>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let width = stmt.column_count();
        stmt.query_map([], |r| {
            (0..width)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(v) | rusqlite::types::ValueRef::Blob(v) => {
                            String::from_utf8_lossy(v).into_owned()
                        }
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn one(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// The schema's indexes and triggers on `messages`: type, name and SQL.
    fn attached(conn: &Connection) -> Vec<Vec<String>> {
        rows(
            conn,
            "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = 'messages' \
             AND name NOT LIKE 'sqlite_autoindex%' AND type != 'table' ORDER BY type, name",
        )
    }

    /// All of the schema and every message, to compare a database with itself later.
    fn everything(conn: &Connection) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
        (
            rows(
                conn,
                "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
            ),
            rows(conn, "SELECT rowid, * FROM messages ORDER BY rowid"),
        )
    }

    /// A v19 database as the server opens it (foreign keys enforced) with a conversation.
    fn v19_with_a_pair() -> Connection {
        let conn = at_version(19);
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(PAIR).unwrap();
        conn
    }

    /// A v19 database with messages in every state, things that name them (an emergency, an
    /// upload, a logged send, a version), upgraded: every row is there with its rowid and
    /// columns, the key is client id first, and the triggers still follow the table.
    #[test]
    fn upgrading_to_v20_keeps_every_message_and_keys_it_by_client_id_first() {
        let mut conn = v19_with_a_pair();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, message_type, status, is_emergency,
                 created_at, updated_at, delivered_at, read_at, notice)
             VALUES
                 ('m-a', 1, 1, 'c-a', 'p', 'd', 'p', 'd', 'plain', 'REGULAR', 'SENT', 0, 10, 10,
                     NULL, NULL, 0),
                 ('m-b', 2, 5, 'c-b', 'p', 'd', 'd', 'p', 'read', 'REGULAR', 'READ', 0, 20, 30,
                     25, 30, 1),
                 ('m-c', 3, 3, 'c-c', 'p', 'd', 'p', NULL, 'help', 'EMERGENCY', 'SENT', 1, 40,
                     40, NULL, NULL, NULL),
                 ('m-d', 4, 6, 'c-d', 'p', 'd', 'd', 'p', 'gone', 'REGULAR', 'SENT', 0, 50, 60,
                     NULL, NULL, NULL);
             UPDATE messages SET retracted_at = 60 WHERE id = 'm-d';
             UPDATE messages SET edited_at = 55, version = 2 WHERE id = 'm-a';
             INSERT INTO emergencies (id, message_id, patient_id, doctor_id, state, raised_at,
                 change_seq) VALUES ('e-1', 'm-c', 'p', 'd', 'RAISED', 40, 7);
             INSERT INTO uploads (id, sha256, size, content_type, file_name, uploader_id,
                 patient_id, doctor_id, message_id, created_at)
                 VALUES ('u-1', 'x', 1, 'text/plain', 'a.txt', 'p', 'p', 'd', 'm-a', 10);
             INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id,
                 recipient_id, content, created_at)
                 VALUES (8, 'm-e', 'c-e', 'p', 'd', 'p', 'd', 'logged', 70);
             INSERT INTO message_versions (message_id, version, content, written_at,
                 replaced_at, change, actor_id) VALUES ('m-a', 1, 'first', 10, 55, 'EDIT', 'p');",
        )
        .unwrap();
        let before = rows(&conn, "SELECT rowid, * FROM messages ORDER BY rowid");
        let counters = rows(&conn, "SELECT * FROM conversations");
        let queued = one(&conn, "SELECT count(*) FROM search_changes");
        let mut expected = attached(&conn);
        expected.push(vec![
            "index".to_owned(),
            "messages_client".to_owned(),
            "CREATE UNIQUE INDEX messages_client ON messages(client_id, sender_id)".to_owned(),
        ]);
        expected.sort();

        migrate_to(&mut conn, 20).unwrap();

        assert_eq!(one(&conn, "PRAGMA user_version"), 20);
        assert_eq!(one(&conn, "PRAGMA legacy_alter_table"), 0);
        assert_eq!(one(&conn, "PRAGMA foreign_keys"), 1, "set back after");
        assert_eq!(
            rows(&conn, "SELECT rowid, * FROM messages ORDER BY rowid"),
            before
        );
        assert_eq!(rows(&conn, "SELECT * FROM conversations"), counters);
        assert_eq!(
            one(&conn, "SELECT count(*) FROM search_changes"),
            queued,
            "the copy is not new messages"
        );
        assert_eq!(attached(&conn), expected);
        assert!(rows(&conn, "PRAGMA foreign_key_check").is_empty());
        assert_eq!(rows(&conn, "PRAGMA integrity_check"), [["ok".to_owned()]]);
        // The key: the lookup a send makes uses it, and a repeat is refused by it, naming the
        // columns `projection::is_repeat` recognises.
        let plan = rows(
            &conn,
            "EXPLAIN QUERY PLAN SELECT seq FROM messages WHERE sender_id = 'p' \
             AND client_id = 'c-a'",
        );
        assert!(
            plan.iter().flatten().any(|d| d.contains("messages_client")),
            "{plan:?}"
        );
        let repeat = conn
            .execute_batch(
                "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                     sender_id, content, message_type, status, is_emergency, created_at,
                     updated_at) VALUES ('m-x', 9, 9, 'c-a', 'p', 'd', 'p', 'again', 'REGULAR',
                     'SENT', 0, 80, 80)",
            )
            .unwrap_err()
            .to_string();
        assert!(
            repeat.contains("messages.client_id, messages.sender_id"),
            "{repeat}"
        );
        // The same client id from the other side of the conversation is another message.
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, message_type, status, is_emergency,
                 created_at, updated_at, notice)
                 VALUES ('m-y', 9, 9, 'c-a', 'p', 'd', 'd', 'p', 'mine', 'REGULAR', 'SENT', 0,
                 80, 80, 0)",
        )
        .unwrap();
        // The triggers follow the new table: the search queue, the counters.
        assert_eq!(
            one(&conn, "SELECT count(*) FROM search_changes"),
            queued + 1
        );
        let unread = one(&conn, "SELECT doctor_unread FROM conversations");
        conn.execute_batch("UPDATE messages SET status = 'READ' WHERE id = 'm-a'")
            .unwrap();
        assert_eq!(
            one(&conn, "SELECT doctor_unread FROM conversations"),
            unread - 1
        );
        // Another table's trigger that names `messages` still finds it: versions of a message
        // that exists stay.
        assert!(
            conn.execute_batch("DELETE FROM message_versions WHERE message_id = 'm-a'")
                .is_err()
        );
        // The send logged before the upgrade moves into the new table (by the code of today,
        // after the later upgrades: the receipt log of v21, the one log of v25).
        super::super::migrate(&mut conn).unwrap();
        let moved = crate::store::projection::apply_all(&conn).unwrap().unwrap();
        assert_eq!(moved.rows, 1);
        assert_eq!(
            one(
                &conn,
                "SELECT count(*) FROM messages WHERE id = 'm-e' AND seq = 8"
            ),
            1
        );
        // Foreign keys are enforced again, against the new table.
        let orphan = conn.execute_batch(
            "INSERT INTO emergencies (id, message_id, patient_id, doctor_id, state, raised_at,
                 change_seq) VALUES ('e-2', 'm-none', 'p', 'd', 'RAISED', 90, 10)",
        );
        assert!(orphan.is_err());
        // And a database that is already v20 is left alone.
        let after = everything(&conn);
        migrate_to(&mut conn, 20).unwrap();
        assert_eq!(everything(&conn), after);
    }

    /// A rebuild that fails after the old table was dropped (here: the new key's name taken)
    /// leaves the database as v19 left it, foreign keys enforced, and succeeds once the cause
    /// is gone.
    #[test]
    fn a_rebuild_that_fails_half_way_changes_nothing() {
        let mut conn = v19_with_a_pair();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
                 VALUES ('m-a', 1, 1, 'c-a', 'p', 'd', 'p', 'kept', 'REGULAR', 'SENT', 0, 10, 10);
             CREATE INDEX messages_client ON conversations(created_at);",
        )
        .unwrap();
        let before = everything(&conn);
        let err = migrate_to(&mut conn, 20).unwrap_err().to_string();
        assert!(err.contains("messages_client"), "{err}");
        assert_eq!(one(&conn, "PRAGMA user_version"), 19);
        assert_eq!(everything(&conn), before);
        assert_eq!(one(&conn, "PRAGMA foreign_keys"), 1);
        assert_eq!(one(&conn, "PRAGMA legacy_alter_table"), 0);
        conn.execute_batch("DROP INDEX messages_client").unwrap();
        migrate_to(&mut conn, 20).unwrap();
        assert_eq!(one(&conn, "PRAGMA user_version"), 20);
        assert_eq!(
            one(
                &conn,
                "SELECT count(*) FROM messages WHERE content = 'kept'"
            ),
            1
        );
    }

    /// A table whose SQL is not what v1-v19 wrote is not rebuilt into something else.
    #[test]
    fn an_unexpected_message_table_is_refused() {
        let mut conn = at_version(19);
        conn.execute_batch(
            "DROP TABLE messages;
             CREATE TABLE messages (id TEXT PRIMARY KEY, sender_id TEXT, client_id TEXT);",
        )
        .unwrap();
        let err = migrate_to(&mut conn, 20).unwrap_err().to_string();
        assert!(err.contains("cannot upgrade the message table"), "{err}");
        assert_eq!(one(&conn, "PRAGMA user_version"), 19, "nothing committed");
    }
}
