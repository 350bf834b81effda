//! The local SQLite cache of one user on one server: messages, outbox, cursor, contacts,
//! conversations, emergencies, drafts. History stays readable with no server. Encrypted at rest
//! (SQLCipher, key in the credential store), WAL, migrations by `PRAGMA user_version`, every
//! multi-row change in one transaction.

mod attachments;
mod changes;
mod cipher;
mod directory;
mod drafts;
mod messages;
mod meta;
mod outbox;
mod purges;
mod search;

pub use changes::{ChangeBody, DroppedFile, QueuedChange};
pub use cipher::CacheKey;
pub use drafts::{Drafts, MAX_DRAFT_BYTES, MAX_DRAFT_KEY_BYTES, MAX_DRAFTS};
pub(crate) use drafts::{key_fits, text_fits};
pub use outbox::{Discard, EMERGENCY_LANE, EntryKind, OutboxItem, QueueEntry};
pub use purges::PurgedFile;
pub use search::LocalSearch;

use crate::credentials::CredentialStore;
use crate::error::{ClientError, Result};
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
    // 2: the outbox becomes a send queue of lanes (one per conversation, one for emergencies);
    // an attachment's upload is an entry of its own before its message, and every entry counts
    // its attempts and keeps the stable code of its last refusal.
    "CREATE TABLE send_queue (
        pos             INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id       TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('upload', 'send')),
        lane            TEXT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
        attachment_path TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        UNIQUE (client_id, kind)
    );
    CREATE INDEX send_queue_by_lane ON send_queue (state, lane, pos);
    INSERT INTO send_queue (pos, client_id, kind, lane, state, attachment_path, created_at)
        SELECT o.pos * 2, o.client_id, 'upload', m.patient_id || '|' || m.doctor_id, o.state,
               o.attachment_path, o.created_at
        FROM outbox o JOIN messages m ON m.client_id = o.client_id AND m.id IS NULL
        WHERE o.attachment_path IS NOT NULL AND json_extract(m.data, '$.fileUrl') IS NULL;
    INSERT INTO send_queue (pos, client_id, kind, lane, state, attachment_path, created_at)
        SELECT o.pos * 2 + 1, o.client_id, 'send',
               CASE WHEN json_extract(m.data, '$.isEmergency') THEN 'emergency'
                    ELSE m.patient_id || '|' || m.doctor_id END,
               o.state, o.attachment_path, o.created_at
        FROM outbox o JOIN messages m ON m.client_id = o.client_id AND m.id IS NULL;
    DROP TABLE outbox;",
    // 3: conversations whose older history the clinic's retention policy removed (for the
    // notice in the conversation).
    "CREATE TABLE purges (
        patient_id TEXT NOT NULL,
        doctor_id  TEXT NOT NULL,
        up_to_seq  INTEGER NOT NULL,
        purged_at  TEXT NOT NULL,
        PRIMARY KEY (patient_id, doctor_id)
    );",
    // 4: offline search, as on the server (only ever in an encrypted cache): words with case
    // and accents folded and prefix indexes, and trigrams for parts of words, both fed by
    // triggers from the messages' text, keyed by `local_id` (which VACUUM never renumbers).
    "CREATE VIEW searchable AS
        SELECT local_id, json_extract(data, '$.content') AS content,
               json_extract(data, '$.fileName') AS file_name
        FROM messages;
    CREATE VIRTUAL TABLE search_words USING fts5(
        content, file_name, content = 'searchable', content_rowid = 'local_id',
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    );
    CREATE VIRTUAL TABLE search_parts USING fts5(
        content, file_name, content = 'searchable', content_rowid = 'local_id',
        tokenize = 'trigram remove_diacritics 1'
    );
    CREATE TRIGGER search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO search_words (rowid, content, file_name) VALUES
            (new.local_id, json_extract(new.data, '$.content'),
             json_extract(new.data, '$.fileName'));
        INSERT INTO search_parts (rowid, content, file_name) VALUES
            (new.local_id, json_extract(new.data, '$.content'),
             json_extract(new.data, '$.fileName'));
    END;
    CREATE TRIGGER search_update AFTER UPDATE OF data ON messages
    WHEN json_extract(old.data, '$.content') IS NOT json_extract(new.data, '$.content')
      OR json_extract(old.data, '$.fileName') IS NOT json_extract(new.data, '$.fileName')
    BEGIN
        INSERT INTO search_words (search_words, rowid, content, file_name) VALUES
            ('delete', old.local_id, json_extract(old.data, '$.content'),
             json_extract(old.data, '$.fileName'));
        INSERT INTO search_parts (search_parts, rowid, content, file_name) VALUES
            ('delete', old.local_id, json_extract(old.data, '$.content'),
             json_extract(old.data, '$.fileName'));
        INSERT INTO search_words (rowid, content, file_name) VALUES
            (new.local_id, json_extract(new.data, '$.content'),
             json_extract(new.data, '$.fileName'));
        INSERT INTO search_parts (rowid, content, file_name) VALUES
            (new.local_id, json_extract(new.data, '$.content'),
             json_extract(new.data, '$.fileName'));
    END;
    CREATE TRIGGER search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO search_words (search_words, rowid, content, file_name) VALUES
            ('delete', old.local_id, json_extract(old.data, '$.content'),
             json_extract(old.data, '$.fileName'));
        INSERT INTO search_parts (search_parts, rowid, content, file_name) VALUES
            ('delete', old.local_id, json_extract(old.data, '$.content'),
             json_extract(old.data, '$.fileName'));
    END;
    INSERT INTO search_words (search_words) VALUES ('rebuild');
    INSERT INTO search_parts (search_parts) VALUES ('rebuild');",
    // 5: unsend / retract and edit. Our own changes wait in a queue of their own (each with its
    // own clientId, so the server applies it at most once), in the order they were made; the
    // files of messages that became tombstones wait here until they are deleted from disk, so
    // a crash in between cannot leave them behind.
    "CREATE TABLE change_queue (
        pos        INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id  TEXT NOT NULL UNIQUE,
        message_id TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('retract', 'edit')),
        body       TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE dropped_files (
        id         INTEGER PRIMARY KEY,
        file_url   TEXT,
        file_name  TEXT,
        local_path TEXT
    );
    -- A deleted text's words are removed from the index pages themselves, not only marked
    -- deleted (which would keep them in the file until the next merge).
    INSERT INTO search_words (search_words, rank) VALUES ('secure-delete', 1);
    INSERT INTO search_parts (search_parts, rank) VALUES ('secure-delete', 1);",
    // 6: drafts, so that text being written survives a restart or a crash. `saved` orders
    // them (the oldest go first past the bound).
    "CREATE TABLE drafts (
        key   TEXT PRIMARY KEY,
        text  TEXT NOT NULL,
        saved INTEGER NOT NULL
    );",
    // 7: how often a send was written to a socket, so that one whose every write was refused
    // (`attempts`) cannot be on the server and may be discarded while it waits. A send queued
    // by an older build may have been written once more than it was refused, unless its upload
    // is still ahead of it.
    "ALTER TABLE send_queue ADD COLUMN writes INTEGER NOT NULL DEFAULT 0 CHECK (writes >= 0);
    UPDATE send_queue SET writes = attempts + 1
        WHERE kind = 'send' AND NOT EXISTS (SELECT 1 FROM send_queue u
            WHERE u.client_id = send_queue.client_id AND u.kind = 'upload');
    UPDATE messages SET data = json_set(data, '$.onItsWay', json('true'))
        WHERE id IS NULL AND client_id IN (SELECT client_id FROM send_queue
            WHERE kind = 'send' AND writes > attempts);",
    // 8: the copies of attachments beside the cache are sealed (`crate::sealed`). Nothing in
    // the tables changes; the step is here so that an earlier version, which would take the
    // sealed copies for plain files (upload them, hand them to viewers as they are), refuses
    // this cache as a newer one's.
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('attachments', 'sealed');",
];

/// A handle to the cache file. Calls are short and synchronous; share it behind an `Arc`.
#[derive(Debug)]
pub struct Cache {
    conn: Mutex<Connection>,
    /// The key of the attachments kept with this cache (`crate::sealed`).
    files: crate::sealed::FilesKey,
}

/// Why a cache was deleted and started afresh (history then comes back from the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheReset {
    /// The credential store has no key for it (a new keyring, or the entry was removed).
    KeyMissing,
    /// The stored key does not open it (the keyring was replaced or restored from elsewhere).
    WrongKey,
}

impl CacheReset {
    /// What the user is told, loss included.
    pub fn sentence(self) -> String {
        let why = match self {
            Self::KeyMissing => "its key is no longer in this computer's keyring",
            Self::WrongKey => "the key in this computer's keyring does not open it",
        };
        format!(
            "The local message cache could not be opened ({why}), so it was deleted and your \
             history is being downloaded again from the server. Messages that were still \
             waiting to be sent from this computer were lost: please check your conversations \
             and send them again."
        )
    }
}

/// What [`Cache::open_with_store`] found.
#[derive(Debug)]
pub struct Opened {
    pub cache: Cache,
    /// Set when the old cache could not be opened and was replaced by an empty one.
    pub reset: Option<CacheReset>,
    /// Set when a plaintext cache of an older version was encrypted (and the plaintext wiped).
    pub migrated: bool,
    /// The cache was made now: there was none, or it was reset. What an earlier version kept
    /// beside it (the lock's state in `lock.json`) is then no one's to trust.
    pub fresh: bool,
}

/// The credential store account of a cache's key, beside the token of `account`.
pub fn key_account(account: &str) -> String {
    format!("{account}#cache-key")
}

impl Cache {
    /// The key the copies of this cache's attachments are sealed with.
    pub(crate) fn files_key(&self) -> &crate::sealed::FilesKey {
        &self.files
    }

    /// Opens (creating if needed) and migrates the encrypted cache at `path`. A file that `key`
    /// does not open fails with [`ClientError::WrongCacheKey`] and is left alone.
    pub fn open(path: &Path, key: &CacheKey) -> Result<Self> {
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
        cipher::unlock(&conn, key)?;
        // WAL: readers never block the writer. synchronous=FULL: a send acknowledged to the user
        // ("it is in the outbox") survives a power cut, not only a crash.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Text that is deleted or replaced (an unsent message, its search words) is overwritten
        // in the file, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every change takes the write lock when it begins, waiting for it (the busy timeout)
        // if another connection holds it: a deferred one that read first could not wait and
        // would fail with "database is locked" (a CLI or a test beside the app).
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            files: key.files_key(),
        })
    }

    /// Opens the cache at `path` with its key from `store` (account [`key_account`]), making
    /// a key for a new cache. A plaintext cache of an older version is encrypted and its
    /// plaintext wiped. A cache whose key is gone or wrong cannot be read by anyone: it is
    /// deleted and started afresh, and `reset` says why so the user is told (never a silent
    /// fallback to plaintext). A store that cannot be read at all is an error.
    pub fn open_with_store(
        path: &Path,
        store: &dyn CredentialStore,
        account: &str,
    ) -> Result<Opened> {
        let account = key_account(account);
        cipher::wipe_leftovers(path)?;
        let stored = store
            .load(&account)?
            .map(zeroize::Zeroizing::new)
            .as_deref()
            .and_then(|hex| CacheKey::from_hex(hex));
        let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let plaintext = cipher::is_plaintext(path)?;
        let mut reset = None;
        let key = match stored {
            Some(key) => key,
            None => {
                if exists && !plaintext {
                    reset = Some(CacheReset::KeyMissing);
                    cipher::remove_family(path)?;
                }
                let key = CacheKey::random();
                store.save(&account, &key.to_hex())?;
                key
            }
        };
        if plaintext {
            cipher::migrate_plaintext(path, &key)?;
        }
        let cache = match Self::open(path, &key) {
            Err(ClientError::WrongCacheKey) => {
                reset = Some(CacheReset::WrongKey);
                cipher::remove_family(path)?;
                Self::open(path, &key)?
            }
            other => other?,
        };
        if let Some(why) = reset {
            tracing::warn!("local cache reset: {why:?}");
        }
        if plaintext {
            // No version that kept its cache in plaintext kept the lock's state in it: a state
            // found there was put there by someone else.
            cache.forget_lock_state()?;
        }
        Ok(Opened {
            cache,
            fresh: !exists || reset.is_some(),
            reset,
            migrated: plaintext,
        })
    }

    /// Forgets the cache's key and deletes the cache at `path` (with its log): on a shared PC,
    /// logging out leaves nothing of the user's messages behind. The key goes first and either
    /// way: a file that cannot be deleted is then unreadable (it is encrypted with that key).
    pub fn erase(path: &Path, store: &dyn CredentialStore, account: &str) -> Result<()> {
        let forgotten = store.delete(&key_account(account));
        cipher::remove_family(path)?;
        forgotten
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied change behind (changes are
        // transactions that roll back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if usize::try_from(done).is_ok_and(|done| done > MIGRATIONS.len()) {
        return Err(crate::error::ClientError::CacheFromNewerApp {
            found: done,
            known: MIGRATIONS.len(),
        });
    }
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
