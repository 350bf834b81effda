//! The server process is SIGKILLed in the middle of a burst of 1,000 sends and restarted: the
//! client reconnects on its own, and every message ends up on the server exactly once, in
//! order, with nothing left in the outbox.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::ConnectionState;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_survives_a_sigkilled_server() {
    let bin = server_binary();
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&bin, data.path(), 0);
    let port = server.addr.port();
    let url = server.url();
    let client = login(&url, profile.path(), "alice").await;
    let conversation = client.conversation_with("dr.patel").unwrap();
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();

    let tag = prefix("burst");
    let expected = numbered(&tag, 1000);
    // Part of the burst is acknowledged and the rest still queued when the server dies.
    for text in &expected[..=600] {
        client.send(&conversation, text, false).unwrap();
    }
    let mut queued = client.watch_queued();
    tokio::time::timeout(PATIENCE, queued.wait_for(|n| *n <= 450))
        .await
        .unwrap()
        .unwrap();
    server.kill();
    let mut state = client.watch_state();
    tokio::time::timeout(PATIENCE, state.wait_for(|s| *s != ConnectionState::Online))
        .await
        .unwrap()
        .unwrap();
    assert!(client.queued() > 0, "the kill must land mid-burst");
    for text in &expected[601..] {
        client.send(&conversation, text, false).unwrap();
    }

    let _server = ServerProcess::start(&bin, data.path(), port);
    client.wait_online(PATIENCE).await.unwrap();
    client.wait_outbox_empty(PATIENCE).await.unwrap();

    let stored = server_messages(&url, "dr.patel", &conversation).await;
    let on_server = contents_with(stored.iter().map(|m| m.content.as_str()), &tag);
    assert_eq!(on_server.len(), 1000, "every message exactly once");
    assert_eq!(on_server, expected, "in order");
    let local = client.history(&conversation, 5000, None).unwrap();
    assert_eq!(local_contents(&local, &tag), expected);
    assert_eq!(client.queued(), 0);
    client.disconnect().await;
}
