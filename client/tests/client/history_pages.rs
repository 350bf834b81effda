//! Older history fetched from the server when the cache lacks it: the server cuts a page of
//! large messages short and says more remain (`Link: rel="next"`), and the client asks again
//! until the page it was asked for is full, so a short page still means the start.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{Cache, FileStore, Profile};
use clinic_protocol::MessageStatus;
use clinic_protocol::limits::MAX_CONTENT_BYTES;
use clinic_protocol::rest::{Purge, SyncPage};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_history_of_large_messages_comes_whole_over_cut_pages() {
    // Every field bound: one left to `..` would be dropped here, the server's folder with it.
    let BothOnline {
        data: _data,
        server,
        profiles,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let url = server.url();
    let tag = prefix("large");
    let filler = "x".repeat(MAX_CONTENT_BYTES - 64);
    const COUNT: usize = 120;
    for i in 0..COUNT {
        patel
            .send(&conversation, &format!("{tag} {i:03} {filler}"), false)
            .unwrap();
    }
    patel.wait_outbox_empty(PATIENCE).await.unwrap();
    let everything = server_messages(&url, "alice", &conversation).await;
    let ours: Vec<_> = everything
        .iter()
        .filter(|m| m.content.starts_with(&tag))
        .collect();
    assert_eq!(ours.len(), COUNT);
    wait_until(&alice, "the messages in alice's cache", || {
        alice
            .history(&conversation, 1000, None)
            .unwrap()
            .iter()
            .filter(|m| m.content.starts_with(&tag))
            .count()
            == COUNT
    })
    .await;

    // The server's own pages: cut by size, and linked.
    let api = api(&url);
    let token = api.login("alice", PASSWORD).await.unwrap().token;
    let api = api.with_token(token);
    let newest = api.messages(&conversation, 500, None).await.unwrap();
    assert!(newest.has_more, "a cut page says more remain");
    assert!(
        newest.messages.len() < COUNT,
        "one page held {} messages of 16 KiB",
        newest.messages.len()
    );

    // Alice's cache loses all but the newest 20 (as a cache made before the history reached
    // it would lack them); the server still has them. The app never shares its cache, so alice
    // is offline meanwhile. Her delivered receipts changed the messages after her cursor:
    // once they are in, a reconnect takes those changes, so the next one brings nothing back.
    wait_until(&patel, "alice's delivered receipts", || {
        patel
            .history(&conversation, 1000, None)
            .unwrap()
            .iter()
            .filter(|m| m.content.starts_with(&tag) && m.status >= MessageStatus::Delivered)
            .count()
            == COUNT
    })
    .await;
    alice.disconnect().await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.disconnect().await;
    let keep_from = ours[COUNT - 20];
    let profile = profiles.0.path();
    let session = Profile::new(profile).load_session().unwrap().unwrap();
    let cache = Cache::open_with_store(
        &Profile::new(profile).cache_path(&session),
        &FileStore::new(profile.join("credentials")),
        &session.account(),
    )
    .unwrap()
    .cache;
    let gap = SyncPage {
        messages: Vec::new(),
        emergencies: Vec::new(),
        purges: vec![Purge {
            patient_id: conversation.patient_id.clone(),
            doctor_id: conversation.doctor_id.clone(),
            up_to_seq: clinic_protocol::Seq(keep_from.seq.0 - 1),
            purged_at: chrono::Utc::now(),
            emergency_ids: Vec::new(),
        }],
        cursor: cache.cursor().unwrap(),
        has_more: false,
    };
    cache.apply_sync_page(&alice.user().id, &gap).unwrap();
    drop(cache);
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    assert!(
        alice
            .history(&conversation, 100, Some(keep_from.seq))
            .unwrap()
            .is_empty()
    );

    // A page of 100 before the oldest cached message: about 60 fit in one server page, so it
    // takes two, and the page comes whole.
    let page = alice
        .load_history(&conversation, 100, Some(keep_from.seq))
        .await
        .unwrap();
    let at = everything
        .iter()
        .position(|m| m.id == keep_from.id)
        .unwrap();
    let expected: Vec<_> = everything[at - 100..at]
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let got: Vec<_> = page.iter().map(|m| m.id.clone().unwrap()).collect();
    assert_eq!(got, expected);
}
