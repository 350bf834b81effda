//! A client that was offline while its peer sent 500 messages catches up on reconnect before
//! reporting online, with none missing and none doubled; its cache then serves the history
//! with the server stopped. Receipts and typing travel between the two.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{Client, ClientEvent};
use clinic_protocol::MessageStatus;
use common::proxy::Proxy;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_client_catches_up_and_reads_history_without_a_server() {
    let data = demo_data_dir();
    let (alice_dir, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();

    let alice = login(&url, alice_dir.path(), "alice").await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.disconnect().await;

    let patel = login(&url, patel_dir.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    assert_eq!(alice.conversation_with("dr.patel").unwrap(), conversation);
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    let tag = prefix("catchup");
    let expected = numbered(&tag, 500);
    for text in &expected {
        patel.send(&conversation, text, false).unwrap();
    }
    patel.wait_outbox_empty(PATIENCE).await.unwrap();

    // Online means caught up: everything is in the cache the moment it is reported.
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let history = alice.history(&conversation, 5000, None).unwrap();
    assert_eq!(
        local_contents(&history, &tag),
        expected,
        "none missing, none doubled"
    );

    // Stored messages are reported delivered; the UI's "shown" marks them read.
    let all_at_least = |client: &Client, status: MessageStatus| {
        let h = client.history(&conversation, 5000, None).unwrap();
        let mine: Vec<_> = h.iter().filter(|m| m.content.starts_with(&tag)).collect();
        mine.len() == 500 && mine.iter().all(|m| m.status >= status)
    };
    wait_until(&patel, "delivered receipts", || {
        all_at_least(&patel, MessageStatus::Delivered)
    })
    .await;
    let last = history
        .iter()
        .rev()
        .find(|m| m.content.starts_with(&tag))
        .unwrap();
    alice.mark_read(last.id.as_ref().unwrap()).unwrap();
    assert!(
        all_at_least(&alice, MessageStatus::Read),
        "read locally at once"
    );
    wait_until(&patel, "read receipts", || {
        all_at_least(&patel, MessageStatus::Read)
    })
    .await;

    // Typing reaches the peer and ends by itself when not refreshed.
    patel.join(&conversation);
    let mut events = patel.subscribe();
    let started = tokio::time::timeout(PATIENCE, async {
        loop {
            alice.set_typing(&conversation, true);
            let seen = tokio::time::timeout(Duration::from_millis(300), async {
                loop {
                    if let Ok(ClientEvent::Typing { typing: true, .. }) = events.recv().await {
                        return;
                    }
                }
            })
            .await;
            if seen.is_ok() {
                return;
            }
        }
    })
    .await;
    assert!(started.is_ok(), "typing never arrived");
    let stopped = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(ClientEvent::Typing { typing: false, .. }) = events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(stopped.is_ok(), "typing must time out");
    assert!(patel.typists().is_empty());

    // With the server gone, a fresh client on the same profile still has the history.
    alice.disconnect().await;
    patel.disconnect().await;
    drop(alice);
    server.crash();
    let reopened = Client::open(options(alice_dir.path())).unwrap();
    let offline = reopened.history(&conversation, 5000, None).unwrap();
    assert_eq!(local_contents(&offline, &tag), expected);
    assert_eq!(reopened.queued(), 0);
}

/// A disk short of space (here: a reserve larger than any disk) takes one page of the catch-up,
/// says so, and still goes online for what comes live; with room again, the same connection
/// fetches the rest from where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_catch_up_after_a_page_and_the_rest_comes_with_room() {
    let data = demo_data_dir();
    let (alice_dir, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login(&url, alice_dir.path(), "alice").await;
    drop(alice);

    let patel = login(&url, patel_dir.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    let tag = prefix("full");
    let expected = numbered(&tag, 450);
    for text in &expected {
        patel.send(&conversation, text, false).unwrap();
    }
    patel.wait_outbox_empty(PATIENCE).await.unwrap();

    let mut short = options(alice_dir.path());
    short.tuning.disk_reserve = u64::MAX;
    let alice = Client::open(short).unwrap();
    let mut events = alice.subscribe();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let warning = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(ClientEvent::Warning { code, message }) = events.recv().await {
                return (code, message);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(warning.0, "diskFull");
    assert!(
        warning
            .1
            .starts_with("This computer's disk is nearly full ("),
        "{}",
        warning.1
    );
    let held = local_contents(&alice.history(&conversation, 5000, None).unwrap(), &tag);
    assert!(
        !held.is_empty() && held.len() < expected.len(),
        "one page of the catch-up: {} of {}",
        held.len(),
        expected.len()
    );
    // Live messages still come in.
    let live = format!("{tag} live");
    patel.send(&conversation, &live, false).unwrap();
    wait_until(&alice, "the live message", || {
        alice
            .history(&conversation, 5000, None)
            .unwrap()
            .iter()
            .any(|m| m.content == live)
    })
    .await;
    // Room again: the rest comes on the same connection, at the next ping, none doubled.
    alice.set_disk_reserve(0);
    let mut all = expected.clone();
    all.push(live);
    wait_until(&alice, "the rest of the catch-up", || {
        local_contents(&alice.history(&conversation, 5000, None).unwrap(), &tag) == all
    })
    .await;
}

/// The disk's shortage is told once until a catch-up reaches its end, however many connections
/// stop at it (a link that comes and goes, a disk hovering at the reserve); after an end, the
/// next shortage is told again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_told_once_until_a_catch_up_reaches_its_end() {
    let data = demo_data_dir();
    let (alice_dir, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    drop(login(&url, alice_dir.path(), "alice").await);
    let patel = login(&url, patel_dir.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    let send_all = |texts: &[String]| {
        for text in texts {
            patel.send(&conversation, text, false).unwrap();
        }
    };
    let tag = prefix("told");
    let first = numbered(&format!("{tag} a"), 450);
    send_all(&first);
    patel.wait_outbox_empty(PATIENCE).await.unwrap();

    let mut short = options(alice_dir.path());
    short.tuning.disk_reserve = u64::MAX;
    let alice = Client::open(short).unwrap();
    let mut events = alice.subscribe();
    let held = || local_contents(&alice.history(&conversation, 5000, None).unwrap(), &tag).len();
    let warnings = |events: &mut tokio::sync::broadcast::Receiver<ClientEvent>| {
        std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, ClientEvent::Warning { code, .. } if code == "diskFull"))
            .count()
    };
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&alice, "the first page", || held() > 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(warnings(&mut events), 1, "told at the first stop");

    // Connected again: one more page, stopped again, not told again.
    let before = held();
    alice.disconnect().await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&alice, "a page on the new connection", || held() > before).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(held() < first.len(), "stopped again before the end");
    assert_eq!(warnings(&mut events), 0, "not told at every connection");

    // Room: the catch-up reaches its end; a later shortage is told again.
    alice.disconnect().await;
    alice.set_disk_reserve(0);
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&alice, "the whole catch-up", || held() == first.len()).await;
    alice.disconnect().await;
    send_all(&numbered(&format!("{tag} b"), 450));
    patel.wait_outbox_empty(PATIENCE).await.unwrap();
    alice.set_disk_reserve(u64::MAX);
    let _ = warnings(&mut events);
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&alice, "a page of the second catch-up", || {
        held() > first.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(warnings(&mut events), 1, "told again after an end");
}

/// A catch-up resumed after a want of room that the server refuses (busy) is asked again at the
/// next ping, and the rest comes, none doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_catch_up_refused_is_asked_again() {
    let data = demo_data_dir();
    let (alice_dir, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    drop(login(&proxy.url(), alice_dir.path(), "alice").await);
    let patel = login(&server.url(), patel_dir.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    let tag = prefix("again");
    let expected = numbered(&tag, 450);
    for text in &expected {
        patel.send(&conversation, text, false).unwrap();
    }
    patel.wait_outbox_empty(PATIENCE).await.unwrap();

    let mut short = options(alice_dir.path());
    short.tuning.disk_reserve = u64::MAX;
    let alice = Client::open(short).unwrap();
    let held = || local_contents(&alice.history(&conversation, 5000, None).unwrap(), &tag);
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&alice, "the first page", || !held().is_empty()).await;
    let syncs = proxy.client_frames("sync");
    proxy.refuse_syncs(1);
    alice.set_disk_reserve(0);
    // The resumed request, refused; then asked again, and the rest comes on this connection.
    wait_until(&alice, "the rest of the catch-up", || held() == expected).await;
    assert!(
        proxy.client_frames("sync") >= syncs + 2,
        "the refused request and the one asked again"
    );
    assert_eq!(proxy.ws_connections(), 1, "on the same connection");
}
