//! A device that was offline while the clinic's retention policy removed a conversation drops
//! that history from its cache at the next sync, says when it went, and keeps what came after.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::ClientEvent;
use clinic_server::retention::{Policy, admin};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_device_drops_purged_history_at_its_next_sync() {
    let BothOnline {
        data,
        profiles: _profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let tag = prefix("purged");
    for text in numbered(&tag, 3) {
        alice.send(&conversation, &text, false).unwrap();
    }
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let cached = |c: &clinic_client::Client| {
        local_contents(&c.history(&conversation, 500, None).unwrap(), &tag).len()
    };
    wait_until(&patel, "the messages reach the doctor", || {
        cached(&patel) == 3
    })
    .await;
    alice.disconnect().await;

    // Twenty years pass for this conversation; the clinic keeps ten.
    {
        let db = rusqlite::Connection::open(data.path().join("clinic.db")).unwrap();
        db.execute(
            "UPDATE messages SET created_at = created_at - 20 * 365 * 86400000
             WHERE patient_id = ?1 AND doctor_id = ?2",
            [
                conversation.patient_id.as_str(),
                conversation.doctor_id.as_str(),
            ],
        )
        .unwrap();
    }
    let policy = Policy::parse("10y", false).unwrap().unwrap();
    let purged = admin::run(data.path(), &policy).unwrap();
    assert!(
        purged
            .iter()
            .any(|p| p.patient == "alice" && p.doctor == "dr.patel"),
        "{purged:?}"
    );

    let mut events = alice.subscribe();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    assert!(
        alice.history(&conversation, 500, None).unwrap().is_empty(),
        "dropped at sync"
    );
    let at = alice
        .purged_at(&conversation)
        .unwrap()
        .expect("the purge is kept");
    assert!((chrono::Utc::now() - at).num_minutes() < 5);
    let told = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(ClientEvent::HistoryPurged { patient_id, .. }) = events.recv().await {
                return patient_id;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(told, conversation.patient_id);

    // The doctor's device learns it at its next sync too, and the conversation goes on.
    patel.disconnect().await;
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    assert_eq!(cached(&patel), 0);
    let after = prefix("after");
    alice
        .send(&conversation, &format!("{after} hello again"), false)
        .unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    wait_until(&patel, "a new message after the purge", || {
        local_contents(&patel.history(&conversation, 500, None).unwrap(), &after).len() == 1
    })
    .await;
}
