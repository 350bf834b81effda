//! Permanent refusals turn a send FAILED with the reason without blocking the ones behind it,
//! and can be retried; a revoked token stops the reconnect loop with `signedOut`.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{
    ClientError, ClientEvent, ConnectionState, CredentialStore, FileStore, Profile,
};
use clinic_protocol::MessageStatus;
use common::*;
use tokio::sync::broadcast;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_fails_alone_and_can_be_retried() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let patel = login(&url, profile.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();

    // Only patients raise emergencies: the server refuses this one for good.
    let mut events = patel.subscribe();
    let refused = patel.send(&conversation, "not allowed", true).unwrap();
    let tag = prefix("after");
    patel
        .send(&conversation, &format!("{tag}-0"), false)
        .unwrap();
    patel.wait_outbox_empty(PATIENCE).await.unwrap();

    let failed = patel.message(&refused.client_id).unwrap().unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(
        failed.error_code.as_deref(),
        Some("forbidden"),
        "{failed:?}"
    );
    let sentence = failed.error.as_deref().unwrap();
    assert!(
        sentence.starts_with("The server does not allow this message"),
        "{sentence}"
    );
    assert_eq!(patel.failed_count().unwrap(), 1);
    // The UI is told with the connection state (the badge and the logout warning count it).
    parked_told(&mut events, 1).await;
    let stored = server_messages(&url, "alice", &conversation).await;
    assert_eq!(
        contents_with(stored.iter().map(|m| m.content.as_str()), &tag).len(),
        1
    );
    assert!(!stored.iter().any(|m| m.content == "not allowed"));

    // Retrying sends it again (same clientId) and it is refused again, still alone; the count
    // goes to 0 with the retry and back to 1 when it is parked again.
    let retried = patel.retry(&refused.client_id).unwrap();
    parked_told(&mut events, 0).await;
    assert_eq!(retried.status, MessageStatus::Sending);
    wait_until(&patel, "the retry to fail again", || {
        patel.message(&refused.client_id).unwrap().unwrap().status == MessageStatus::Failed
    })
    .await;
    assert_eq!(patel.queued(), 0);
    parked_told(&mut events, 1).await;
    patel.discard(&refused.client_id).unwrap();
    parked_told(&mut events, 0).await;
    patel.disconnect().await;

    // Local validation refuses what could never be sent.
    assert!(matches!(
        patel.send(&conversation, "  ", false),
        Err(ClientError::Invalid(_))
    ));
    let huge = "x".repeat(clinic_protocol::limits::MAX_CONTENT_BYTES + 1);
    assert!(matches!(
        patel.send(&conversation, &huge, false),
        Err(ClientError::Invalid(_))
    ));
    // What the server refuses for its words is refused here too, rather than queued and parked:
    // characters that show nothing, a NUL, an override that reorders what a reader sees.
    for (text, said) in [
        ("\u{3164}\u{2800}\u{200b}\u{fe0f}", "needs some text"),
        ("a\0b", "control characters"),
        ("invoice\u{202e}fdp.exe", "bidirectional override"),
    ] {
        match patel.send(&conversation, text, false) {
            Err(ClientError::Invalid(sentence)) => assert!(sentence.contains(said), "{sentence}"),
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }
    assert_eq!(patel.queued(), 0, "nothing was queued");
    assert!(
        patel
            .send(&conversation, "\u{2764}\u{fe0f} ok", false)
            .is_ok(),
        "an emoji with its variation selector shows"
    );
}

/// Waits for a connection event telling `failed` parked sends.
async fn parked_told(events: &mut broadcast::Receiver<ClientEvent>, failed: u64) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(ClientEvent::Connection { failed: n, .. }) if n == failed => return,
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no connection event told {failed} parked sends"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_signs_the_client_out() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login(&url, profile.path(), "alice").await;

    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    let token = FileStore::new(profile.path().join("credentials"))
        .load(&session.account())
        .unwrap()
        .unwrap();
    common::api(&url).with_token(token).logout().await.unwrap();

    alice.connect();
    assert!(matches!(
        alice.wait_online(PATIENCE).await,
        Err(ClientError::SessionExpired)
    ));
    assert!(
        matches!(alice.state(), ConnectionState::SignedOut { reason } if reason == clinic_client::SESSION_ENDED),
        "a sentence, not the server's words: {:?}",
        alice.state()
    );
    // History and the outbox still work without a session.
    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.send(&conversation, "kept for later", false).unwrap();
    assert_eq!(alice.queued(), 1);
}

/// The list shows under a name what was written last: a send parked after a refusal, until the
/// other side writes after it (it must not hide the patient's newer words from the doctor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_send_does_not_hide_a_newer_message_in_the_list() {
    let BothOnline {
        data: _data,
        profiles: _profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let last = |client: &clinic_client::Client| {
        client
            .conversation_list()
            .unwrap()
            .into_iter()
            .find(|c| {
                c.patient_id == conversation.patient_id && c.doctor_id == conversation.doctor_id
            })
            .and_then(|c| c.last_message)
            .map(|m| m.content)
    };
    // Only patients raise emergencies: refused for good, parked.
    let refused = patel.send(&conversation, "not allowed", true).unwrap();
    wait_until(&patel, "the send to be parked", || {
        patel.message(&refused.client_id).unwrap().unwrap().status == MessageStatus::Failed
    })
    .await;
    assert_eq!(last(&patel).as_deref(), Some("not allowed"));
    let newer = prefix("newer");
    alice.send(&conversation, &newer, false).unwrap();
    wait_until(&patel, "alice's message", || {
        last(&patel).as_deref() == Some(newer.as_str())
    })
    .await;
    patel.discard(&refused.client_id).unwrap();
    assert_eq!(last(&patel).as_deref(), Some(newer.as_str()));
    alice.disconnect().await;
    patel.disconnect().await;
}
