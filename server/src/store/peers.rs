//! The accounts a send checks (role, enabled, name), kept in memory by the writer thread so that
//! a send does not read (and decode, password hash included) the other participant's account.
//!
//! Accounts change only through the CLI (`clinic-server users ...`), which writes with its own
//! connection, usually from another process. SQLite tells a connection that another one
//! committed: `PRAGMA data_version` changes. The writer reads it on every lookup (a counter
//! in the pager, no page read) and drops everything it holds when it moved, so an account
//! disabled by the CLI is refused from the writer's next transaction on. Changes made on the
//! same connection do not move `data_version`: `users::set_disabled` calls [`forget`] for that
//! case (no other function changes an account's name, role or state, and none deletes one). If
//! such a change were ever rolled back after a lookup in its own transaction had cached it, the
//! cache would keep it until the next commit by another connection; the server makes no account
//! changes on the writer today.
//!
//! Only read-write connections use the cache (in the server that is the writer alone). The
//! read-only pool's connections see the writer's every commit as a change and run on shared
//! blocking threads, so they read the account each time, as before.

use super::rows;
use crate::store::StoreError;
use clinic_protocol::{User, UserId};
use rusqlite::{Connection, MAIN_DB, OptionalExtension};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// An account as a participant check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub user: User,
    pub disabled: bool,
}

/// More than this many accounts and the cache starts again (a clinic has hundreds to a few
/// thousand; this bounds memory if something walks through many ids).
const MAX_CACHED: usize = 100_000;

const PEER_SELECT: &str = "SELECT id, username, name, role, disabled FROM users WHERE id = ?1";

struct Cache {
    /// The database file this cache is for (a thread may, in tests, serve several in turn).
    path: String,
    data_version: i64,
    peers: HashMap<UserId, Arc<Peer>>,
}

thread_local! {
    static CACHE: RefCell<Option<Cache>> = const { RefCell::new(None) };
}

/// The account `id`, from the cache on a read-write connection.
pub(crate) fn lookup(conn: &Connection, id: &UserId) -> Result<Option<Arc<Peer>>, StoreError> {
    if conn.is_readonly(MAIN_DB)? {
        return Ok(load(conn, id)?.map(Arc::new));
    }
    let path = conn.path().unwrap_or_default();
    let data_version: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    let cached = CACHE.with_borrow_mut(|cache| {
        let fresh = cache
            .as_ref()
            .is_some_and(|c| c.data_version == data_version && c.path == path);
        if !fresh {
            *cache = Some(Cache {
                path: path.to_owned(),
                data_version,
                peers: HashMap::new(),
            });
        }
        cache.as_ref().and_then(|c| c.peers.get(id).cloned())
    });
    if let Some(peer) = cached {
        return Ok(Some(peer));
    }
    let Some(peer) = load(conn, id)?.map(Arc::new) else {
        return Ok(None);
    };
    CACHE.with_borrow_mut(|cache| {
        if let Some(cache) = cache {
            if cache.peers.len() >= MAX_CACHED {
                cache.peers.clear();
            }
            cache.peers.insert(id.clone(), Arc::clone(&peer));
        }
    });
    Ok(Some(peer))
}

/// Drops what this thread holds: an account changed on this thread's connection (which does not
/// move `data_version` for it).
pub(crate) fn forget() {
    CACHE.with_borrow_mut(|cache| *cache = None);
}

fn load(conn: &Connection, id: &UserId) -> Result<Option<Peer>, StoreError> {
    Ok(conn
        .prepare_cached(PEER_SELECT)?
        .query_row([id.as_str()], |row| {
            Ok(Peer {
                user: rows::user(row)?,
                disabled: row.get(4)?,
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::users::{self, for_test as insert};
    use clinic_protocol::Role;

    /// Runs `f` on a connection of its own on another thread, as the CLI would (in its own
    /// process): nothing it does touches this thread's cache directly.
    fn elsewhere<T: Send + 'static>(
        path: &std::path::Path,
        f: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> T {
        let path = path.to_path_buf();
        std::thread::spawn(move || f(&crate::store::open_write(&path, Synchronous::Full).unwrap()))
            .join()
            .unwrap()
    }

    #[test]
    fn another_connections_changes_reach_the_cache_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clinic.db");
        let writer = crate::store::open_write(&path, Synchronous::Full).unwrap();
        let doc = elsewhere(&path, |cli| insert(cli, "doc", Role::Doctor));
        let first = lookup(&writer, &doc.id).unwrap().expect("created");
        assert!(!first.disabled);
        let again = lookup(&writer, &doc.id).unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second lookup is the cached one"
        );

        // The CLI disables the account on its own connection: the writer's next lookup sees it.
        elsewhere(&path, |cli| users::set_disabled(cli, "doc", true).unwrap());
        assert!(lookup(&writer, &doc.id).unwrap().unwrap().disabled);
        elsewhere(&path, |cli| users::set_disabled(cli, "doc", false).unwrap());
        assert!(!lookup(&writer, &doc.id).unwrap().unwrap().disabled);

        // Deleted by another connection: gone.
        let id = doc.id.clone();
        elsewhere(&path, move |cli| {
            cli.execute("DELETE FROM users WHERE id = ?1", [id.as_str()])
                .unwrap()
        });
        assert_eq!(lookup(&writer, &doc.id).unwrap(), None);
    }

    #[test]
    fn a_change_on_the_same_connection_is_seen_in_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let writer =
            crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Full).unwrap();
        let doc = insert(&writer, "doc", Role::Doctor);
        assert!(!lookup(&writer, &doc.id).unwrap().unwrap().disabled);
        let tx = writer.unchecked_transaction().unwrap();
        users::set_disabled(&tx, "doc", true).unwrap();
        assert!(lookup(&tx, &doc.id).unwrap().unwrap().disabled);
        tx.commit().unwrap();
        assert!(lookup(&writer, &doc.id).unwrap().unwrap().disabled);
    }

    #[test]
    fn a_cache_belongs_to_one_database() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let a = crate::store::open_write(&one.path().join("clinic.db"), Synchronous::Full).unwrap();
        let b = crate::store::open_write(&two.path().join("clinic.db"), Synchronous::Full).unwrap();
        let doc = insert(&a, "doc", Role::Doctor);
        assert!(lookup(&a, &doc.id).unwrap().is_some());
        assert_eq!(lookup(&b, &doc.id).unwrap(), None);
        assert!(lookup(&a, &doc.id).unwrap().is_some());
    }
}
