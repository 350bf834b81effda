//! A server that goes silent without closing the connection (it froze, or the network between
//! went down without a word): the client notices from the pongs that stop coming, well before the
//! minute it once took, says it is offline with why, searches this computer's cache at once
//! while it tries again (not after the try's timeout), and a message sent meanwhile reaches the
//! server once when it answers again.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::ConnectionState;
use common::proxy::Proxy;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_silent_is_noticed_and_a_send_goes_once_it_answers() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let patel = login(&proxy.url(), profile.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    let earlier = prefix("heard");
    patel.send(&conversation, &earlier, false).unwrap();
    patel.wait_outbox_empty(PATIENCE).await.unwrap();

    let mut state = patel.watch_state();
    proxy.go_silent();
    let silent_since = Instant::now();
    let tag = prefix("silent");
    patel.send(&conversation, &tag, false).unwrap();
    let offline = tokio::time::timeout(
        Duration::from_secs(30),
        state.wait_for(|s| matches!(s, ConnectionState::Offline { .. })),
    )
    .await
    .expect("a silent server is noticed within 30 s (it took a minute before)")
    .unwrap()
    .clone();
    let ConnectionState::Offline { last_error, .. } = offline else {
        unreachable!()
    };
    assert_eq!(last_error, "The clinic server stopped answering.");
    // Told by the silence, not by a closed connection: the last pong came at most one ping
    // (5 s) before the silence began, and the limit is 15 s of it.
    assert!(
        silent_since.elapsed() >= Duration::from_secs(9),
        "{:?}",
        silent_since.elapsed()
    );
    assert_eq!(patel.queued(), 1);

    // Trying again, at a server that takes the connection and says nothing: a search does not
    // wait for a request's timeout.
    tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| {
            matches!(
                s,
                ConnectionState::Connecting {
                    last_error: Some(_),
                    ..
                }
            )
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let asked = Instant::now();
    let found = patel.search(&earlier, None, None).await.unwrap();
    assert!(found.offline, "answered by this computer's cache");
    assert_eq!(found.results.len(), 1);
    // 1 s while reconnecting; 4 s (the try's connect timeout) when only "offline" counted.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );

    proxy.speak_again();
    patel.wait_online(PATIENCE).await.unwrap();
    patel.wait_outbox_empty(PATIENCE).await.unwrap();
    let stored = server_messages(&server.url(), "alice", &conversation).await;
    assert_eq!(
        stored.iter().filter(|m| m.content == tag).count(),
        1,
        "delivered once"
    );
    patel.disconnect().await;
}
