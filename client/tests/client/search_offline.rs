//! Search without the server: the same query language over this computer's encrypted cache,
//! labelled offline, paged by `seq` like the server's, never showing a message that was not
//! acknowledged; online the server answers, and while it cannot search (its index being rebuilt)
//! the cache answers with the server's reason.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{Client, ConnectionState};
use common::*;

fn contents(found: &clinic_client::Found) -> Vec<String> {
    found
        .results
        .iter()
        .map(|h| h.message.content.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_searches_while_the_server_is_away() {
    let BothOnline {
        data: _data,
        profiles: _profiles,
        server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let tag = prefix("zq");
    let said = [
        format!("{tag} Take Amoxicillin-clavulanate twice a day"),
        format!("{tag} The crème helped with the rash"),
        format!("{tag} No more fever since Tuesday"),
    ];
    alice.send(&conversation, &said[1], false).unwrap();
    alice.send(&conversation, &said[2], false).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    patel.send(&conversation, &said[0], false).unwrap();
    for i in 0..25 {
        patel
            .send(&conversation, &format!("{tag} page filler {i}"), false)
            .unwrap();
    }
    patel.wait_outbox_empty(PATIENCE).await.unwrap();
    let all_arrived = |c: &Client| {
        local_contents(&c.history(&conversation, 500, None).unwrap(), &tag).len() == 28
    };
    wait_until(&alice, "everything reaches alice", || all_arrived(&alice)).await;

    // Online: the server answers.
    let online = alice.search("amox", None, None).await.unwrap();
    assert!(!online.offline);
    assert_eq!(contents(&online), [said[0].clone()]);

    server.crash();
    poll_until("alice notices the server is gone", || {
        matches!(alice.state(), ConnectionState::Offline { .. })
    })
    .await;
    // A message written now waits in the outbox: it is not searchable until acknowledged.
    alice
        .send(&conversation, &format!("{tag} amoxicillin again?"), false)
        .unwrap();

    let search = |q: String| {
        let alice = &alice;
        async move { alice.search(&q, None, None).await.unwrap() }
    };
    let found = search("amox".into()).await;
    assert!(found.offline, "labelled offline");
    assert_eq!(
        contents(&found),
        [said[0].clone()],
        "prefix, and no unsent message"
    );
    assert_eq!(
        contents(&search("CREME".into()).await),
        [said[1].clone()],
        "case and accents"
    );
    assert_eq!(
        contents(&search("~clavul".into()).await),
        [said[0].clone()],
        "part of a word"
    );
    assert_eq!(
        contents(&search(format!("{tag} from:me -filler")).await),
        [said[2].clone(), said[1].clone()],
        "newest first, from me, without excluded words"
    );
    assert_eq!(
        contents(&search("\"rash\" in:@dr.patel".to_owned()).await),
        [said[1].clone()]
    );
    assert!(search("in:@nobody fever".into()).await.results.is_empty());
    let bad = alice.search("~ab", None, None).await.unwrap_err();
    assert!(bad.to_string().contains("at least 3 letters"), "{bad}");

    // Pages of 20 by seq, no gaps or doubles.
    let first = search(format!("{tag} filler")).await;
    assert_eq!(first.results.len(), 20);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = alice
        .search(&format!("{tag} filler"), Some(&conversation), Some(&cursor))
        .await
        .unwrap();
    assert!(second.next_cursor.is_none());
    let mut seen: Vec<String> = contents(&first);
    seen.extend(contents(&second));
    let mut expected: Vec<String> = (0..25)
        .rev()
        .map(|i| format!("{tag} page filler {i}"))
        .collect();
    assert_eq!(seen, expected);
    expected.sort();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, expected);
}

/// A server that is reached but cannot search (its index being built again after it found the
/// file gone): this computer's cache answers, labelled so, with the server's sentence saying
/// why; once the index is built the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_while_the_servers_index_is_rebuilt_and_says_why() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let port = server.addr.port();
    let alice = login(&server.url(), profile.path(), "alice").await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let text = format!("{} the needle is in the haystack", prefix("rb"));
    alice.send(&conversation, &text, false).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    alice.disconnect().await;
    // The newest message, the one copied below, is bob's: alice has nothing to sync but hers.
    let bob_profile = tempfile::tempdir().unwrap();
    let bob = login(&server.url(), bob_profile.path(), "bob").await;
    bob.connect();
    bob.send(&bob.conversation_with("dr.patel").unwrap(), "hello", false)
        .unwrap();
    bob.wait_outbox_empty(PATIENCE).await.unwrap();
    bob.disconnect().await;
    server.stop().await;

    // Enough messages that the rebuild takes seconds (a search waits half a second for it).
    clinic_server::testing::copy_newest_message(data.path(), 600_000).unwrap();
    clinic_server::testing::remove_search_index(data.path()).unwrap();
    let server = InProcessServer::start(data.path(), port).await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let found = alice.search("needle", None, None).await.unwrap();
    assert!(found.offline, "answered by the cache");
    let note = found.server_note.clone().unwrap_or_default();
    assert!(
        note.starts_with("The search index is being rebuilt (") && note.contains("% done)"),
        "{note}"
    );
    assert_eq!(contents(&found), std::slice::from_ref(&text));

    // The rebuild runs at a low priority: on a busy machine it may take minutes.
    let deadline = std::time::Instant::now() + 3 * PATIENCE;
    loop {
        let found = alice.search("needle", None, None).await.unwrap();
        if !found.offline {
            assert_eq!(found.server_note, None);
            assert_eq!(contents(&found), [text]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never rebuilt");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(server);
}

/// While its live connection waits to retry, the app still asks the server when the user
/// searches (briefly): a server that is back answers, rather than the app saying it cannot be
/// reached, and the connection tries again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_while_waiting_to_reconnect_asks_the_server_and_reconnects() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let port = server.addr.port();
    let url = server.url();
    let mut options = options(profile.path());
    // A retry that will not come by itself during the test.
    options.tuning.backoff = clinic_client::BackoffConfig {
        base: std::time::Duration::from_secs(24 * 3600),
        cap: std::time::Duration::from_secs(24 * 3600),
    };
    let alice = Client::login(
        options,
        &url,
        "alice",
        PASSWORD,
        clinic_client::Pairing::Code(code_for(&url)),
    )
    .await
    .unwrap();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let text = format!("{} back so soon", prefix("bk"));
    alice.send(&conversation, &text, false).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();

    server.stop().await;
    poll_until("alice notices the server is gone", || {
        matches!(alice.state(), ConnectionState::Offline { .. })
    })
    .await;
    let away = alice.search("soon", None, None).await.unwrap();
    assert!(away.offline && away.server_note.is_none(), "{away:?}");

    let _server = InProcessServer::start(data.path(), port).await;
    assert!(
        matches!(alice.state(), ConnectionState::Offline { .. }),
        "still waiting to retry"
    );
    let back = alice.search("soon", None, None).await.unwrap();
    assert!(!back.offline, "the server answered");
    assert_eq!(contents(&back), [text]);
    alice.wait_online(PATIENCE).await.unwrap();
}
