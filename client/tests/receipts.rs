//! Receipts travel as marks, batched: 500 messages arriving in a burst cost a handful of
//! `message:delivered` frames, and opening the conversation with all of them unread sends one
//! `message:read` ("read up to" the newest), counted by a proxy on the real socket.
//!
//! Its own test binary: a batch is whatever arrives within the client's delivered-receipt delay
//! (500 ms), so the count depends on how fast the client takes in the burst. With the other
//! client tests running beside it on two busy cores (tests/client/main.rs runs them in parallel),
//! one run counted 20 frames (the burst came in over some ten seconds); alone, it keeps to the
//! handful this test promises.
//! It shares their harness.

#![allow(clippy::unwrap_used)]

#[path = "client/common/mod.rs"]
mod common;

use clinic_protocol::{ClientFrame, ClientId, MessageStatus, NewMessage, ServerFrame};
use common::proxy::Proxy;
use common::*;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Ws;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_costs_a_few_delivered_frames_and_opening_it_one_read_frame() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let alice = login(&proxy.url(), profile.path(), "alice").await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    // Whatever the demo history owed is settled before the burst is counted.
    poll_until("the demo history's receipts", || {
        proxy.client_frames("message:delivered") > 0 || alice.unread_count().unwrap() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let delivered_before = proxy.client_frames("message:delivered");

    // The doctor pipelines 500 messages on one socket: they reach alice in a burst.
    let token = common::api(&server.url())
        .login("dr.patel", PASSWORD)
        .await
        .unwrap()
        .token;
    let tls = clinic_client::tls::client_config(&common::trust_for(&server.url())).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{}/ws", server.addr),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(tls)),
    )
    .await
    .unwrap();
    let frame = |f: &ClientFrame| Ws::text(serde_json::to_string(f).unwrap());
    ws.send(frame(&ClientFrame::Authenticate { token }))
        .await
        .unwrap();
    let tag = prefix("burst");
    for i in 0..500 {
        ws.feed(frame(&ClientFrame::MessageSend(NewMessage {
            client_id: Some(ClientId::new(format!("{tag}-{i}"))),
            patient_id: conversation.patient_id.clone(),
            doctor_id: conversation.doctor_id.clone(),
            content: format!("{tag}-{i}"),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        })))
        .await
        .unwrap();
    }
    ws.flush().await.unwrap();
    let mut acks = 0;
    while acks < 500 {
        let text = ws.next().await.unwrap().unwrap();
        if let Ok(ServerFrame::MessageAck { .. }) =
            serde_json::from_str::<ServerFrame>(text.to_text().unwrap_or(""))
        {
            acks += 1;
        }
    }
    let mine = |status: MessageStatus| {
        let stored = alice.history(&conversation, 5000, None).unwrap();
        stored
            .iter()
            .filter(|m| m.content.starts_with(&tag) && m.status >= status)
            .count()
    };
    wait_until(&alice, "the burst in alice's cache", || {
        mine(MessageStatus::Sent) == 500
    })
    .await;
    let server_sees = |status: MessageStatus| {
        let url = server.url();
        let (conversation, tag) = (conversation.clone(), tag.clone());
        async move {
            server_messages(&url, "dr.patel", &conversation)
                .await
                .iter()
                .filter(|m| m.content.starts_with(&tag) && m.status >= status)
                .count()
        }
    };
    for _ in 0..600 {
        if server_sees(MessageStatus::Delivered).await == 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server_sees(MessageStatus::Delivered).await, 500);
    let delivered = proxy.client_frames("message:delivered") - delivered_before;
    assert!(
        (1..=10).contains(&delivered),
        "{delivered} delivered frames for a burst of 500"
    );

    // Opening the conversation: everything is read with one frame.
    let reads_before = proxy.client_frames("message:read");
    let changed = alice.mark_conversation_read(&conversation).unwrap();
    assert!(changed >= 500, "{changed} marked read");
    assert_eq!(mine(MessageStatus::Read), 500, "read locally at once");
    for _ in 0..600 {
        if server_sees(MessageStatus::Read).await == 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server_sees(MessageStatus::Read).await, 500);
    assert_eq!(proxy.client_frames("message:read") - reads_before, 1);
    // Nothing left unread: opening it again sends nothing.
    assert_eq!(alice.mark_conversation_read(&conversation).unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.client_frames("message:read") - reads_before, 1);
    alice.disconnect().await;
}
