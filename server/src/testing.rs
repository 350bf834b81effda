//! For tests (in this and other crates) that edit a server's database file directly, while it
//! serves or while it is stopped.

use crate::accounts::{AccountError, open};
use crate::store::writer::run_direct;
use std::path::Path;

/// Moves every logged send and receipt into `messages`, as the server itself does within milliseconds of
/// acknowledging it. A test that rewrites acknowledged messages from another process (to age them
/// past a window, say) calls this first: a row still in the log would otherwise be missed, and
/// once moved it stays in `messages`. Safe while a server serves the folder; the CLI's commands
/// move the log the same way before they write.
pub fn move_log(data_dir: &Path) -> Result<(), AccountError> {
    let mut conn = open(data_dir)?;
    run_direct(&mut conn, |_, _| Ok::<_, AccountError>(()))
}

/// The newest change sequence of a stopped server's database, as its writer reads it.
pub fn newest_seq(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row(crate::store::writer::LAST_SEQ, [], |r| r.get(0))
}

/// Sets the change sequence counter of a stopped server's database, after rows up to `value`
/// were written.
pub fn set_newest_seq(conn: &rusqlite::Connection, value: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE counters SET value = ?1 WHERE name = 'change_seq'",
        [value],
    )
    .map(drop)
}

/// Adds `n` copies of the newest message to the database of a stopped server, each with its own
/// id, sequence and text (`haystack <i>`), as a long history would hold them (a few seconds a
/// million). The columns are read from the table, so the copies follow the schema.
pub fn copy_newest_message(data_dir: &Path, n: i64) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(crate::config::db_path(data_dir))?;
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('messages')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let values: Vec<&str> = columns
        .iter()
        .map(|column| match column.as_str() {
            "id" => "'m-bulk-' || i",
            "seq" | "change_seq" => "?1 + i",
            "client_id" => "'bulk-' || i",
            "content" => "'haystack ' || i",
            other => other,
        })
        .collect();
    let tx = conn.transaction()?;
    let last = newest_seq(&tx)?;
    tx.execute(
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
             INSERT INTO messages ({}) SELECT {} FROM n,
                 (SELECT * FROM messages ORDER BY seq DESC LIMIT 1)",
            columns.join(", "),
            values.join(", ")
        ),
        rusqlite::params![last, n],
    )?;
    set_newest_seq(&tx, last + n)?;
    tx.commit()
}

/// Removes the search index of a stopped server's data folder: the next start builds it again
/// from the messages, serving meanwhile.
pub fn remove_search_index(data_dir: &Path) -> std::io::Result<()> {
    for file in crate::store::search_index::files(&crate::config::db_path(data_dir)) {
        match std::fs::remove_file(&file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    Ok(())
}
