//! The local cache is encrypted at rest: no message text in any file of the profile; a cache
//! whose key is wrong or gone is deleted, reported and re-synced from the server (never read as
//! plaintext); an older plaintext cache is encrypted in place, history kept, plaintext wiped.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::cache::{CacheKey, CacheReset, key_account};
use clinic_client::{Client, CredentialStore, FileStore, Profile};
use clinic_protocol::ConversationKey;
use common::*;
use std::path::{Path, PathBuf};

/// Panics if any file of the profile holds `needle`.
fn assert_nowhere_in(dir: &Path, needle: &str) {
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{} holds message text in the clear",
            file.display()
        );
    }
}

fn cache_path(profile: &Path) -> PathBuf {
    let p = Profile::new(profile);
    p.cache_path(&p.load_session().unwrap().unwrap())
}

fn store(profile: &Path) -> FileStore {
    FileStore::new(profile.join("credentials"))
}

fn key_name(profile: &Path) -> String {
    key_account(
        &Profile::new(profile)
            .load_session()
            .unwrap()
            .unwrap()
            .account(),
    )
}

/// Sends `n` messages and waits until the server has them all.
async fn send_delivered(client: &Client, conversation: &ConversationKey, tag: &str, n: usize) {
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    for text in numbered(tag, n) {
        client.send(conversation, &text, false).unwrap();
    }
    client.wait_outbox_empty(PATIENCE).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_text_in_any_file_and_the_file_is_not_sqlite_plaintext() {
    let AliceAndPatel {
        data: _data,
        profile,
        alice,
        conversation,
        server: _server,
        ..
    } = alice_and_patel().await;
    let tag = prefix("secret-diagnosis");
    send_delivered(&alice, &conversation, &tag, 5).await;
    // One more that is still in the outbox when the app closes.
    alice.disconnect().await;
    let unsent = format!("{tag}-unsent");
    alice.send(&conversation, &unsent, false).unwrap();
    drop(alice);

    let path = cache_path(profile.path());
    let head = std::fs::read(&path).unwrap();
    assert!(head.len() > 1024, "the cache holds the conversation");
    assert_ne!(
        &head[..16],
        b"SQLite format 3\0",
        "the cache is not plaintext SQLite"
    );
    assert_nowhere_in(profile.path(), &tag);

    // And it still reads back with its key (the session restored offline).
    let alice = Client::open(options(profile.path())).unwrap();
    assert_eq!(alice.cache_reset(), None);
    let history = alice.history(&conversation, 100, None).unwrap();
    let mut expected = numbered(&tag, 5);
    expected.push(unsent);
    assert_eq!(local_contents(&history, &tag), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_deletes_the_cache_tells_the_user_and_history_comes_back() {
    let AliceAndPatel {
        data: _data,
        profile,
        alice,
        conversation,
        server: _server,
        ..
    } = alice_and_patel().await;
    let tag = prefix("rekeyed");
    send_delivered(&alice, &conversation, &tag, 3).await;
    alice.disconnect().await;
    drop(alice);

    // The keyring was replaced: it holds another key under the same name.
    let name = key_name(profile.path());
    let old = store(profile.path()).load(&name).unwrap().unwrap();
    let other = CacheKey::random();
    store(profile.path()).save(&name, &other.to_hex()).unwrap();

    let alice = Client::open(options(profile.path())).unwrap();
    assert_eq!(alice.cache_reset(), Some(CacheReset::WrongKey));
    unlock_after_reset(&alice).await;
    assert!(
        CacheReset::WrongKey.sentence().contains("were lost"),
        "the loss of unsent messages is stated"
    );
    assert!(
        local_contents(&alice.history(&conversation, 100, None).unwrap(), &tag).is_empty(),
        "nothing was read from the old file"
    );
    assert_eq!(
        store(profile.path()).load(&name).unwrap().as_deref(),
        Some(other.to_hex().as_str()),
        "the new cache uses the key the store holds now"
    );
    assert_ne!(old, *other.to_hex());

    // Re-synced from the server by the normal catch-up.
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let history = alice.history(&conversation, 100, None).unwrap();
    assert_eq!(local_contents(&history, &tag), numbered(&tag, 3));
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_deletes_the_cache_and_says_so() {
    let AliceAndPatel {
        data: _data,
        profile,
        alice,
        conversation,
        server: _server,
        ..
    } = alice_and_patel().await;
    let tag = prefix("keyless");
    send_delivered(&alice, &conversation, &tag, 2).await;
    alice.disconnect().await;
    drop(alice);
    store(profile.path())
        .delete(&key_name(profile.path()))
        .unwrap();

    let alice = Client::open(options(profile.path())).unwrap();
    assert_eq!(alice.cache_reset(), Some(CacheReset::KeyMissing));
    unlock_after_reset(&alice).await;
    assert!(local_contents(&alice.history(&conversation, 100, None).unwrap(), &tag).is_empty());
    assert!(
        store(profile.path())
            .load(&key_name(profile.path()))
            .unwrap()
            .is_some(),
        "a new key was made for the new cache"
    );
}

/// Turns the encrypted cache at `path` back into the plaintext file an older version wrote.
fn decrypt_in_place(path: &Path, key: &str) {
    let plain = path.with_extension("plain");
    {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{key}'\";"))
            .unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS plain KEY ''",
            [plain.to_string_lossy()],
        )
        .unwrap();
        conn.query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch(&format!(
            "PRAGMA plain.user_version = {version}; DETACH DATABASE plain;"
        ))
        .unwrap();
    }
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    std::fs::rename(&plain, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_cache_is_encrypted_with_its_history_and_the_plaintext_wiped() {
    let AliceAndPatel {
        data: _data,
        profile,
        alice,
        conversation,
        server,
        ..
    } = alice_and_patel().await;
    let tag = prefix("from-v1");
    send_delivered(&alice, &conversation, &tag, 4).await;
    alice.disconnect().await;
    let unsent = format!("{tag}-unsent");
    alice.send(&conversation, &unsent, false).unwrap();
    drop(alice);
    // The server is gone: what comes back below comes from the migrated file alone.
    drop(server);

    // As an older version left it: plaintext, no key in the store.
    let path = cache_path(profile.path());
    let name = key_name(profile.path());
    let key = store(profile.path()).load(&name).unwrap().unwrap();
    decrypt_in_place(&path, &key);
    store(profile.path()).delete(&name).unwrap();
    let head = std::fs::read(&path).unwrap();
    assert_eq!(
        &head[..16],
        b"SQLite format 3\0",
        "the setup made a plaintext cache"
    );
    assert!(
        head.windows(tag.len()).any(|w| w == tag.as_bytes()),
        "the setup's plaintext holds the messages"
    );

    // Someone's unlocked lock state beside it, where an earlier version kept it.
    std::fs::write(
        profile.path().join("lock.json"),
        r#"{"locked":false,"failures":1}"#,
    )
    .unwrap();
    let alice = Client::open(options(profile.path())).unwrap();
    assert_eq!(alice.cache_reset(), None, "a migration is not a reset");
    // No version with a plaintext cache kept the lock's state in it, so what such a file holds
    // (or a `lock.json` beside it) is nobody's word: locked, her password (with the server)
    // opens it. Here it is opened as that would leave it.
    assert!(alice.is_locked());
    drop(alice);
    let session = clinic_client::Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    clinic_client::Cache::open_with_store(&path, &store(profile.path()), &session.account())
        .unwrap()
        .cache
        .set_lock_state(r#"{"locked":false}"#)
        .unwrap();
    let alice = Client::open(options(profile.path())).unwrap();
    let history = alice.history(&conversation, 100, None).unwrap();
    let mut expected = numbered(&tag, 4);
    expected.push(unsent);
    assert_eq!(
        local_contents(&history, &tag),
        expected,
        "history and outbox kept"
    );
    assert_eq!(alice.queued(), 1, "the unsent message is still queued");
    drop(alice);

    let head = std::fs::read(&path).unwrap();
    assert_ne!(&head[..16], b"SQLite format 3\0");
    assert_nowhere_in(profile.path(), &tag);
    let leftovers: Vec<_> = files_under(profile.path())
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".plaintext")
                || name.ends_with(".encrypting")
                || name.ends_with(".plain")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "no plaintext copy left: {leftovers:?}"
    );
}

/// The lock's state went with the old cache: the app is locked, and her password, checked with
/// the server, opens it.
async fn unlock_after_reset(alice: &Client) {
    assert!(alice.is_locked(), "a lost lock state is a locked app");
    assert_eq!(
        alice.unlock(PASSWORD).await.unwrap(),
        clinic_client::lock::Unlock::Unlocked
    );
}
