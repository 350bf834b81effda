//! 200 messages sent while the server is down are all delivered, once each and in order, when
//! it comes back; the client reconnects by itself.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::ConnectionState;
use clinic_protocol::MessageStatus;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_while_the_server_is_down_are_delivered_once_in_order() {
    let AliceAndPatel {
        data,
        profile: _profile,
        server,
        port,
        url,
        alice: client,
        conversation,
    } = alice_and_patel().await;
    drop(server);

    // The client keeps trying in the background while the user writes.
    client.connect();
    let mut state = client.watch_state();
    tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, ConnectionState::Offline { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    let tag = prefix("offline");
    let expected = numbered(&tag, 200);
    for text in &expected {
        let m = client.send(&conversation, text, false).unwrap();
        assert_eq!(m.status, MessageStatus::Sending);
    }
    assert_eq!(client.queued(), 200);
    let pending = client.history(&conversation, 1000, None).unwrap();
    assert_eq!(
        local_contents(&pending, &tag),
        expected,
        "optimistic copies show at once, in order"
    );

    let _server = InProcessServer::start(data.path(), port).await;
    client.wait_online(PATIENCE).await.unwrap();
    client.wait_outbox_empty(PATIENCE).await.unwrap();

    let stored = server_messages(&url, "dr.patel", &conversation).await;
    let on_server = contents_with(stored.iter().map(|m| m.content.as_str()), &tag);
    assert_eq!(on_server, expected, "each message once, in order");

    let local = client.history(&conversation, 1000, None).unwrap();
    assert_eq!(
        local_contents(&local, &tag),
        expected,
        "no local duplicates"
    );
    let mine: Vec<_> = local
        .iter()
        .filter(|m| m.content.starts_with(&tag))
        .collect();
    assert!(
        mine.iter()
            .all(|m| m.is_acked() && m.status >= MessageStatus::Sent)
    );
    assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(client.failed_count().unwrap(), 0);
    client.disconnect().await;
}

/// "N messages waiting to send" is told as soon as the outbox shrinks, not at the next
/// connection change: once online, the last count told is 0 while the state stays online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_count_is_told_as_soon_as_sends_are_delivered() {
    let AliceAndPatel {
        data,
        profile: _profile,
        server,
        port,
        url: _url,
        alice: client,
        conversation,
    } = alice_and_patel().await;
    drop(server);
    client.connect();
    let mut state = client.watch_state();
    tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, ConnectionState::Offline { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    let mut events = client.subscribe();
    let tag = prefix("waiting");
    for text in numbered(&tag, 2) {
        client.send(&conversation, &text, false).unwrap();
    }
    let _server = InProcessServer::start(data.path(), port).await;
    client.wait_outbox_empty(PATIENCE).await.unwrap();
    // The count reaches the UI as a connection event; the last one told must say 0, and the
    // counts told while online went down to it without another state change.
    let told_zero_online = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(clinic_client::ClientEvent::Connection {
                    state: ConnectionState::Online,
                    queued: 0,
                    failed: 0,
                }) => return true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(
        told_zero_online,
        "no 'online, 0 waiting' event after delivery"
    );
    assert_eq!(client.queued(), 0);
    client.disconnect().await;
}
