//! The send queue against the real server, through a proxy that makes the faults: an upload the
//! server never takes in holds back neither an emergency nor another conversation (and starts
//! again when its connection drops); a send the server always refuses is retried on the same
//! socket, then parked with its reason while later sends go through, without reconnecting; an
//! upload the server abandons on a quiet line is sent again; a refused emergency is tried until
//! it is taken; an unsend or an edit refused for now goes again on the same socket, and says it
//! is still tried once refused as often as a send is before it is parked.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{BackoffConfig, Client, ClientEvent};
use clinic_protocol::{ConversationKey, MessageId, MessageStatus};
use common::proxy::Proxy;
use common::*;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

async fn online(url: &str, profile: &std::path::Path, username: &str) -> Client {
    let client = login(url, profile, username).await;
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    client
}

/// Waits for an alert whose message says `text`; returns when it came.
async fn alert_with(events: &mut broadcast::Receiver<ClientEvent>, text: &str) -> Instant {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(ClientEvent::EmergencyAlert { message, .. }) if message.content == text => {
                    return Instant::now();
                }
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                _ => {}
            }
        }
    })
    .await
    .unwrap()
}

fn status(client: &Client, message: &clinic_client::LocalMessage) -> MessageStatus {
    client.message(&message.client_id).unwrap().unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_and_other_conversations_never_wait_for_a_stalled_upload() {
    let data = demo_data_dir();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let patel = online(&server.url(), dirs[0].path(), "dr.patel").await;
    let nguyen = online(&server.url(), dirs[1].path(), "dr.nguyen").await;
    let (mut to_patel, mut to_nguyen) = (patel.subscribe(), nguyen.subscribe());
    let alice = online(&proxy.url(), dirs[2].path(), "alice").await;
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    let with_nguyen = alice.conversation_with("dr.nguyen").unwrap();

    // A scan on a slow home line: the server side takes the request and never reads it.
    proxy.stall_uploads();
    let scan = dirs[2].path().join("scan.txt");
    std::fs::write(&scan, "x".repeat(4 * 1024 * 1024)).unwrap();
    let tag = prefix("stall");
    let file = alice
        .send_with_attachment(&with_patel, &format!("{tag} scan"), false, &scan)
        .unwrap();
    let behind = alice
        .send(&with_patel, &format!("{tag} after the scan"), false)
        .unwrap();
    poll_until("the upload to start", || proxy.uploads_stalled() > 0).await;

    // The emergency goes at once, to every online doctor.
    let help = format!("{tag} help, I cannot breathe");
    let pressed = Instant::now();
    alice.send(&with_patel, &help, true).unwrap();
    let reached = [
        alert_with(&mut to_patel, &help).await,
        alert_with(&mut to_nguyen, &help).await,
    ];
    for at in reached {
        let took = at - pressed;
        assert!(took < Duration::from_secs(2), "the alert took {took:?}");
    }

    // Another conversation is delivered while the first is stuck.
    let other = alice
        .send(&with_nguyen, &format!("{tag} another conversation"), false)
        .unwrap();
    wait_until(&alice, "the other conversation's message", || {
        status(&alice, &other) >= MessageStatus::Sent
    })
    .await;

    // The stuck conversation keeps its order: nothing of it reached the server yet.
    assert_eq!(status(&alice, &file), MessageStatus::Sending);
    assert_eq!(status(&alice, &behind), MessageStatus::Sending);
    let stored = server_messages(&server.url(), "alice", &with_patel).await;
    let ours: Vec<&str> = stored
        .iter()
        .map(|m| m.content.as_str())
        .filter(|c| c.starts_with(&tag))
        .collect();
    assert_eq!(ours, [help.as_str()]);
    let outbox = alice.outbox().unwrap();
    let steps: Vec<(&str, &str)> = outbox.iter().map(|i| (i.state, i.step)).collect();
    assert_eq!(steps, [("queued", "upload"), ("queued", "send")]);
    assert_eq!(proxy.ws_connections(), 1, "no reconnect");
    let stored = server_messages(&server.url(), "alice", &with_nguyen).await;
    assert!(stored.iter().any(|m| m.client_id == other.client_id));

    // The line drops mid-upload: the upload starts again, then its conversation goes on in order.
    proxy.drop_stalled_uploads();
    wait_until(&alice, "the scan and the message behind it", || {
        status(&alice, &behind) >= MessageStatus::Sent
    })
    .await;
    // Seen once under a full parallel run, not reproduced since: say what the file's send was.
    assert!(
        status(&alice, &file) >= MessageStatus::Sent,
        "the scan: {:?}; the outbox: {:?}",
        alice.message(&file.client_id).unwrap(),
        alice.outbox().unwrap()
    );
    let stored = server_messages(&server.url(), "alice", &with_patel).await;
    let ours: Vec<&str> = stored
        .iter()
        .map(|m| m.content.as_str())
        .filter(|c| c.starts_with(&tag))
        .collect();
    assert_eq!(
        ours,
        [
            help.as_str(),
            &format!("{tag} scan"),
            &format!("{tag} after the scan")
        ]
    );
    assert!(
        stored
            .iter()
            .any(|m| m.client_id == file.client_id && m.file_url.is_some())
    );
    assert!(alice.outbox().unwrap().is_empty());
    alice.disconnect().await;
    patel.disconnect().await;
    nguyen.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_server_abandons_on_a_quiet_line_is_sent_again() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    // The server gives up on a body that sends nothing for half a second (30 s by default).
    let server = InProcessServer::start_with(data.path(), 0, |c| {
        c.body_idle_timeout = Duration::from_millis(500);
    })
    .await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let alice = online(&proxy.url(), profile.path(), "alice").await;
    let with_patel = alice.conversation_with("dr.patel").unwrap();

    proxy.pause_next_upload();
    let scan = profile.path().join("scan.txt");
    std::fs::write(&scan, "x".repeat(4 * 1024 * 1024)).unwrap();
    let tag = prefix("quiet");
    let file = alice
        .send_with_attachment(&with_patel, &format!("{tag} scan"), false, &scan)
        .unwrap();
    // Abandoned (`408 request_timeout`, the line and not the file), so uploaded again: a
    // `400` would have parked it as refused.
    wait_until(&alice, "the file to be sent", || {
        let now = alice.message(&file.client_id).unwrap().unwrap();
        assert_ne!(now.status, MessageStatus::Failed, "parked: {:?}", now.error);
        now.status >= MessageStatus::Sent
    })
    .await;
    assert_eq!(
        proxy.uploads(),
        2,
        "the abandoned upload and its second try"
    );
    let stored = server_messages(&server.url(), "alice", &with_patel).await;
    let sent: Vec<_> = stored
        .iter()
        .filter(|m| m.client_id == file.client_id)
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].file_size, Some(4 * 1024 * 1024));
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsend_and_an_edit_refused_for_now_go_again_on_the_same_socket() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let alice = online(&proxy.url(), profile.path(), "alice").await;
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    let tag = prefix("busy");
    let (to_unsend, to_edit) = (format!("{tag} take back"), format!("{tag} to correct"));
    for text in [&to_unsend, &to_edit] {
        alice.send(&with_patel, text, false).unwrap();
    }
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let id_of = |text: &str| {
        alice
            .history(&with_patel, 50, None)
            .unwrap()
            .into_iter()
            .find(|m| m.content == text)
            .and_then(|m| m.id)
            .unwrap()
    };
    let (unsend_id, edit_id) = (id_of(&to_unsend), id_of(&to_edit));

    // The server is busy for the first three changes it is sent; the socket stays up.
    proxy.refuse_changes(3);
    alice.unsend(&unsend_id, None, false).unwrap();
    let corrected = format!("{tag} corrected");
    alice.edit(&edit_id, &corrected).unwrap();
    wait_until(&alice, "both changes settled here", || {
        let history = alice.history(&with_patel, 50, None).unwrap();
        let by_id = |id: &MessageId| history.iter().find(|m| m.id.as_ref() == Some(id)).unwrap();
        history
            .iter()
            .all(|m| m.pending_change.is_none() && m.change_notice.is_none())
            && by_id(&unsend_id).retracted.is_some()
            && by_id(&edit_id).content == corrected
    })
    .await;
    let stored = server_messages(&server.url(), "alice", &with_patel).await;
    let by_id = |id: &MessageId| stored.iter().find(|m| &m.id == id).unwrap();
    assert!(by_id(&unsend_id).retracted.is_some());
    assert_eq!(by_id(&edit_id).content, corrected);
    let frames = proxy.client_frames("message:retract") + proxy.client_frames("message:edit");
    assert_eq!(frames, 5, "three refused, then each once");
    assert_eq!(proxy.ws_connections(), 1, "no reconnect");
}

/// Refused for now as many times as a send is tried before it is parked, an unsend stays
/// queued (it is never parked) and its message says it is still being tried, and why; done, the
/// message says nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsend_refused_again_and_again_says_it_is_still_tried() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    drop(login(&proxy.url(), profile.path(), "alice").await);
    let mut quick = options(profile.path());
    quick.tuning.send_attempts = 3;
    quick.tuning.send_retry = BackoffConfig {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
    };
    let alice = Client::open(quick).unwrap();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    let text = format!("{} take back", prefix("still"));
    alice.send(&with_patel, &text, false).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let message = || {
        alice
            .history(&with_patel, 50, None)
            .unwrap()
            .into_iter()
            .find(|m| m.content == text || m.retracted.is_some())
            .unwrap()
    };
    let id = message().id.unwrap();

    proxy.refuse_changes(6);
    alice.unsend(&id, None, false).unwrap();
    wait_until(&alice, "the notice of an unsend still tried", || {
        let m = message();
        m.pending_change.is_some() && m.change_notice.is_some()
    })
    .await;
    assert_eq!(
        message().change_notice.as_deref(),
        Some("Still trying to unsend: the server is busy; try again")
    );
    wait_until(&alice, "the unsend done", || {
        let m = message();
        m.retracted.is_some() && m.pending_change.is_none()
    })
    .await;
    assert_eq!(message().change_notice, None, "nothing more to say");
    assert_eq!(
        proxy.client_frames("message:retract"),
        7,
        "six refused, then once"
    );
    assert_eq!(proxy.ws_connections(), 1, "no reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_server_always_refuses_is_parked_without_a_reconnect() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    proxy.refuse_sends_containing("REFUSE-ME");
    let started = Instant::now();
    let alice = online(&proxy.url(), profile.path(), "alice").await;
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    let with_nguyen: ConversationKey = alice.conversation_with("dr.nguyen").unwrap();

    let tag = prefix("refused");
    let refused = alice
        .send(&with_patel, &format!("{tag} REFUSE-ME"), false)
        .unwrap();
    let after = alice
        .send(&with_patel, &format!("{tag} after"), false)
        .unwrap();
    let elsewhere = alice
        .send(&with_nguyen, &format!("{tag} elsewhere"), false)
        .unwrap();

    // Another conversation does not wait for the retries.
    wait_until(&alice, "the other conversation", || {
        status(&alice, &elsewhere) >= MessageStatus::Sent
    })
    .await;
    assert_eq!(
        status(&alice, &refused),
        MessageStatus::Sending,
        "still being retried"
    );

    wait_until(&alice, "the refused send to be parked", || {
        status(&alice, &refused) == MessageStatus::Failed
    })
    .await;
    wait_until(&alice, "the send behind it", || {
        status(&alice, &after) >= MessageStatus::Sent
    })
    .await;
    let parked = alice.message(&refused.client_id).unwrap().unwrap();
    assert_eq!(parked.error_code.as_deref(), Some("internal"));
    assert_eq!(
        parked.error.as_deref(),
        Some("The server could not store the message. Tried 5 times; press Retry to try again.")
    );
    assert_eq!(proxy.client_frames("message:send") - 2, 5, "five attempts");
    let outbox = alice.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (
            outbox[0].state,
            outbox[0].attempts,
            outbox[0].error_code.as_deref()
        ),
        ("failed", 5, Some("internal"))
    );

    // Over ten seconds, the refusals cost no reconnect.
    let ten = Duration::from_secs(10);
    if let Some(left) = ten.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    assert!(
        proxy.ws_connections() < 5,
        "{} connections",
        proxy.ws_connections()
    );
    assert_eq!(proxy.ws_connections(), 1);

    // Retry starts over (same clientId) and is parked again; Discard drops it for good.
    alice.retry(&refused.client_id).unwrap();
    assert_eq!(status(&alice, &refused), MessageStatus::Sending);
    wait_until(&alice, "the retry to be parked again", || {
        status(&alice, &refused) == MessageStatus::Failed
    })
    .await;
    let mut events = alice.subscribe();
    alice.discard(&refused.client_id).unwrap();
    assert!(alice.message(&refused.client_id).unwrap().is_none());
    assert!(alice.outbox().unwrap().is_empty());
    // Among the events the discard sent (a queued-count change may come first), the UI is told.
    let told = std::iter::from_fn(|| events.try_recv().ok()).any(|e| {
        matches!(e, ClientEvent::MessageDiscarded { client_id, .. } if client_id == refused.client_id)
    });
    assert!(told, "MessageDiscarded was sent");
    assert!(
        alice.discard(&after.client_id).is_err(),
        "only a failed send"
    );
    let stored = server_messages(&server.url(), "alice", &with_patel).await;
    assert!(!stored.iter().any(|m| m.content.contains("REFUSE-ME")));

    // An emergency is never parked: refused past the five attempts, it is still being tried,
    // and goes through once the server takes it.
    let sends_before = proxy.client_frames("message:send");
    let help = alice
        .send(&with_patel, &format!("{tag} REFUSE-ME help"), true)
        .unwrap();
    poll_until("more refusals than a message gets", || {
        proxy.client_frames("message:send") - sends_before > 6
    })
    .await;
    assert_eq!(status(&alice, &help), MessageStatus::Sending, "not parked");
    proxy.stop_refusing();
    wait_until(&alice, "the emergency to go through", || {
        status(&alice, &help) >= MessageStatus::Sent
    })
    .await;
    assert_eq!(proxy.ws_connections(), 1);
    alice.disconnect().await;
}

/// Sends not written to the server yet (behind an upload of their conversation, and the upload
/// itself while it streams) are dropped for good: the upload stops and the conversation goes
/// on. One written and not answered may be stored already, so it cannot be dropped, and arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_not_yet_written_is_discarded_and_one_on_its_way_is_not() {
    let data = demo_data_dir();
    let dir = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = Proxy::start(server.addr, data.path()).await;
    let alice = online(&proxy.url(), dir.path(), "alice").await;
    let with_patel = alice.conversation_with("dr.patel").unwrap();

    proxy.stall_uploads();
    let scan = dir.path().join("scan.txt");
    std::fs::write(&scan, "x".repeat(4 * 1024 * 1024)).unwrap();
    let tag = prefix("discard");
    let file = alice
        .send_with_attachment(&with_patel, &format!("{tag} the wrong scan"), false, &scan)
        .unwrap();
    let behind = alice
        .send(&with_patel, &format!("{tag} second thoughts"), false)
        .unwrap();
    poll_until("the upload to start", || proxy.uploads_stalled() > 0).await;
    let mut events = alice.subscribe();
    alice.discard(&behind.client_id).unwrap();
    alice.discard(&file.client_id).unwrap();
    for gone in [&behind, &file] {
        assert!(alice.message(&gone.client_id).unwrap().is_none());
    }
    assert!(alice.outbox().unwrap().is_empty());
    let told: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            ClientEvent::MessageDiscarded { client_id, .. } => Some(client_id),
            _ => None,
        })
        .collect();
    assert_eq!(told, [behind.client_id.clone(), file.client_id.clone()]);
    // The upload stopped with its message: the conversation goes on, uploads still stalling.
    let next = alice
        .send(&with_patel, &format!("{tag} the right words"), false)
        .unwrap();
    // Well before a stalled upload gives up by itself (30 s without progress).
    let sent = wait_until(&alice, "the next message of the conversation", || {
        status(&alice, &next) >= MessageStatus::Sent
    });
    tokio::time::timeout(Duration::from_secs(10), sent)
        .await
        .expect("the conversation waited for the dropped upload");
    proxy.drop_stalled_uploads();

    // Written to the socket, its answer held back: it may be stored, so it stays.
    proxy.hold_server_frames();
    let sends = proxy.client_frames("message:send");
    let going = alice
        .send(&with_patel, &format!("{tag} on its way"), false)
        .unwrap();
    poll_until("the send to be written", || {
        proxy.client_frames("message:send") > sends
    })
    .await;
    let refused = alice.discard(&going.client_id).unwrap_err();
    assert!(
        matches!(refused, clinic_client::ClientError::TooLate(_)),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("already on its way"),
        "{refused}"
    );
    proxy.release();
    wait_until(&alice, "the send on its way", || {
        status(&alice, &going) >= MessageStatus::Sent
    })
    .await;
    let stored = server_messages(&server.url(), "alice", &with_patel).await;
    let ours: Vec<&str> = stored
        .iter()
        .map(|m| m.content.as_str())
        .filter(|c| c.starts_with(&tag))
        .collect();
    assert_eq!(
        ours,
        [
            format!("{tag} the right words"),
            format!("{tag} on its way")
        ],
        "nothing dropped arrived"
    );
    assert_eq!(
        proxy.uploads(),
        1,
        "the dropped upload was not started again"
    );
}
