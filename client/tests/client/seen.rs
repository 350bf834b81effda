//! What the user saw is what is read: a "read up to" mark for the message seen leaves the ones
//! after it unread, on this device and on the sender's. Opening a conversation follows its
//! typing indicators, so two people who opened it see each other type at once.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{Client, ClientError, ClientEvent, Pairing};
use clinic_protocol::{ConversationKey, MessageStatus};
use common::proxy::Proxy;
use common::*;
use std::time::Duration;

/// Keeps `typist` typing until `watcher` hears it (the joins travel on their own sockets).
async fn typing_reaches(typist: &Client, watcher: &Client, conversation: &ConversationKey) -> bool {
    let mut events = watcher.subscribe();
    let who = typist.user().id.clone();
    tokio::time::timeout(PATIENCE, async {
        loop {
            typist.set_typing(conversation, true);
            let heard = tokio::time::timeout(Duration::from_millis(300), async {
                loop {
                    if let Ok(ClientEvent::Typing {
                        typing: true,
                        user_id,
                        ..
                    }) = events.recv().await
                        && user_id == who
                    {
                        return;
                    }
                }
            })
            .await;
            if heard.is_ok() {
                typist.set_typing(conversation, false);
                return;
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_goes_up_to_the_message_seen_and_typing_works_both_ways_on_open() {
    let data = demo_data_dir();
    let (alice_dir, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login(&url, alice_dir.path(), "alice").await;
    let patel = login(&url, patel_dir.path(), "dr.patel").await;
    alice.connect();
    patel.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    patel.wait_online(PATIENCE).await.unwrap();
    let conversation = patel.conversation_with("alice").unwrap();

    let tag = prefix("seen");
    let texts = numbered(&tag, 3);
    for text in &texts {
        patel.send(&conversation, text, false).unwrap();
    }
    patel.wait_outbox_empty(PATIENCE).await.unwrap();
    let tagged = |client: &Client| -> Vec<clinic_client::LocalMessage> {
        client
            .history(&conversation, 500, None)
            .unwrap()
            .into_iter()
            .filter(|m| m.content.starts_with(&tag))
            .collect()
    };
    wait_until(&alice, "the three messages delivered", || {
        let mine = tagged(&patel);
        mine.len() == 3 && mine.iter().all(|m| m.status >= MessageStatus::Delivered)
    })
    .await;

    // Alice saw the second (the third is below the fold): one mark, up to the second.
    let received = tagged(&alice);
    let second = received[1].id.clone().unwrap();
    let changed = alice.mark_seen(&conversation, &second).unwrap();
    assert!(changed >= 2, "{changed} marked read");
    let statuses = |client: &Client| -> Vec<MessageStatus> {
        tagged(client).iter().map(|m| m.status).collect()
    };
    assert_eq!(
        statuses(&alice),
        [
            MessageStatus::Read,
            MessageStatus::Read,
            MessageStatus::Delivered
        ],
        "read locally up to the message seen"
    );
    wait_until(&patel, "read receipts for the two seen", || {
        statuses(&patel)[..2] == [MessageStatus::Read, MessageStatus::Read]
    })
    .await;
    assert_eq!(
        statuses(&patel)[2],
        MessageStatus::Delivered,
        "the message not seen is not read"
    );
    // Seeing it again sends nothing; a message named under another conversation is refused.
    assert_eq!(alice.mark_seen(&conversation, &second).unwrap(), 0);
    let other = alice.conversation_with("dr.nguyen").unwrap();
    assert!(matches!(
        alice.mark_seen(&other, &second),
        Err(ClientError::NotFound(_))
    ));

    // Both open the conversation: each sees the other typing, without typing first.
    alice.view(Some(&conversation));
    patel.view(Some(&conversation));
    assert!(
        typing_reaches(&patel, &alice, &conversation).await,
        "the doctor's typing never reached the patient who only opened the chat"
    );
    assert!(
        typing_reaches(&alice, &patel, &conversation).await,
        "the patient's typing never reached the doctor"
    );
    // Switching to another conversation stops following this one.
    alice.view(Some(&other));
    alice.view(None);
    alice.disconnect().await;
    patel.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_another_doctors_conversation_joins_nothing_and_raises_no_error() {
    let data = demo_data_dir();
    let (alice_dir, nguyen_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login(&url, alice_dir.path(), "alice").await;
    let nguyen = login(&url, nguyen_dir.path(), "dr.nguyen").await;
    alice.connect();
    nguyen.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    nguyen.wait_online(PATIENCE).await.unwrap();
    let mut events = nguyen.subscribe();
    // Opened from an emergency: another doctor's conversation, to read.
    let patels = alice.conversation_with("dr.patel").unwrap();
    nguyen.view(Some(&patels));
    // Then their own: the frames after it travel on the same socket, so once each hears the
    // other type, a refusal of the first view would have arrived before.
    let own = alice.conversation_with("dr.nguyen").unwrap();
    nguyen.view(Some(&own));
    alice.view(Some(&own));
    assert!(typing_reaches(&nguyen, &alice, &own).await);
    assert!(typing_reaches(&alice, &nguyen, &own).await);
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, ClientEvent::ServerError { .. }),
            "the server refused something: {event:?}"
        );
    }
    alice.disconnect().await;
    nguyen.disconnect().await;
}

/// A message read as it arrives (its conversation open) costs no delivered receipt: its read
/// mark goes first and makes it delivered on the server too, so the sender sees it read, with
/// a delivery time, and no `message:delivered` frame is sent for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_read_as_it_arrives_costs_no_delivered_receipt() {
    let data = demo_data_dir();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let patel = login_online(&server.url(), dirs[0].path(), "dr.patel").await;
    // Time enough to read it before its delivered receipt is due, however busy the machine.
    let delay = Duration::from_secs(2);
    let mut with_delay = options(dirs[1].path());
    with_delay.tuning.delivered_delay = delay;
    let url = proxy.url();
    let alice = Client::login(
        with_delay,
        &url,
        "alice",
        PASSWORD,
        Pairing::Code(code_for(&url)),
    )
    .await
    .unwrap();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    // Whatever the demo history owed has gone out, and nothing of it is unread.
    alice.mark_conversation_read(&conversation).unwrap();
    tokio::time::sleep(delay + Duration::from_millis(500)).await;
    let (delivered, reads) = (
        proxy.client_frames("message:delivered"),
        proxy.client_frames("message:read"),
    );

    let sent = patel
        .send(&conversation, "read as it arrives", false)
        .unwrap();
    let arrived = || {
        alice
            .history(&conversation, 20, None)
            .unwrap()
            .into_iter()
            .find(|m| m.client_id == sent.client_id && m.sender_id == sent.sender_id)
    };
    wait_until(&alice, "the message at alice's", || arrived().is_some()).await;
    let id = arrived().unwrap().id.unwrap();
    assert_eq!(alice.mark_seen(&conversation, &id).unwrap(), 1);
    let at_patel = || patel.message(&sent.client_id).unwrap().unwrap();
    wait_until(&patel, "the message read at patel's", || {
        at_patel().status == MessageStatus::Read
    })
    .await;
    assert!(at_patel().delivered_at.is_some(), "{:?}", at_patel());
    tokio::time::sleep(delay + Duration::from_millis(500)).await;
    assert_eq!(proxy.client_frames("message:read"), reads + 1);
    assert_eq!(
        proxy.client_frames("message:delivered"),
        delivered,
        "no delivered receipt for a message read before it was due"
    );
    alice.disconnect().await;
    patel.disconnect().await;
}
