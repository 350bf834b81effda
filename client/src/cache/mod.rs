//! The local SQLite cache of one user on one server: messages, outbox, cursor, contacts,
//! conversations, emergencies. History stays readable with no server. WAL, migrations by
//! `PRAGMA user_version`, every multi-row change in one transaction.

mod attachments;
mod directory;
mod messages;
mod meta;
mod outbox;

pub use outbox::OutboxEntry;

use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Schema steps, applied in order; `user_version` records how many ran. Only ever append.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE messages (
        local_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT UNIQUE,
        seq        INTEGER,
        client_id  TEXT NOT NULL,
        sender_id  TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        doctor_id  TEXT NOT NULL,
        status     TEXT NOT NULL,
        data       TEXT NOT NULL,
        UNIQUE (sender_id, client_id)
    );
    CREATE INDEX messages_by_conversation ON messages (patient_id, doctor_id, seq);
    CREATE INDEX messages_by_status ON messages (status);
    CREATE TABLE outbox (
        pos             INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id       TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL DEFAULT 'pending',
        -- Seam for attachments (issue 6): a local file to upload before sending.
        attachment_path TEXT,
        created_at      TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE contacts (id TEXT PRIMARY KEY, username TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX contacts_by_username ON contacts (username);
    CREATE TABLE conversations (
        patient_id TEXT NOT NULL,
        doctor_id  TEXT NOT NULL,
        data       TEXT NOT NULL,
        PRIMARY KEY (patient_id, doctor_id)
    );
    CREATE TABLE emergencies (id TEXT PRIMARY KEY, state TEXT NOT NULL, data TEXT NOT NULL);
    CREATE TABLE pending_reads (
        patient_id TEXT NOT NULL,
        doctor_id  TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (patient_id, doctor_id)
    );",
];

/// A handle to the cache file. Calls are short and synchronous; share it behind an `Arc`.
#[derive(Debug)]
pub struct Cache {
    conn: Mutex<Connection>,
}

impl Cache {
    /// Opens (creating if needed) and migrates the cache at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            crate::profile::private_dir(dir)?;
        }
        // Private before SQLite opens it (its log and shared memory take the same permissions).
        if !path.exists() {
            crate::profile::private_file(path)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        let mut conn = Connection::open(path)?;
        // WAL: readers never block the writer. synchronous=FULL: a send acknowledged to the user
        // ("it is in the outbox") survives a power cut, not only a crash.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied change behind (changes are
        // transactions that roll back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tx = conn.transaction()?;
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(done).unwrap_or(0))
    {
        tx.execute_batch(step)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
