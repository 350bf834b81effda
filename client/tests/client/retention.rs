//! A device that was offline while the clinic's retention policy removed a conversation drops
//! that history from its cache at the next sync, says when it went, and keeps what came after.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::ClientEvent;
use clinic_server::retention::{Policy, admin};
use common::*;

/// The conversation's messages move twenty years into the past, and a retention run keeping ten
/// years (`clinic-server retention run`) purges it.
fn twenty_years_later(
    data: &std::path::Path,
    conversation: &clinic_protocol::ConversationKey,
) -> Vec<admin::Purged> {
    clinic_server::testing::move_log(data).unwrap();
    let db = rusqlite::Connection::open(data.join("clinic.db")).unwrap();
    db.execute(
        "UPDATE messages SET created_at = created_at - 20 * 365 * 86400000,
             written_at = written_at - 20 * 365 * 86400000
         WHERE patient_id = ?1 AND doctor_id = ?2",
        [
            conversation.patient_id.as_str(),
            conversation.doctor_id.as_str(),
        ],
    )
    .unwrap();
    // Its emergencies aged with it (their steps count as the conversation's activity).
    db.execute(
        "UPDATE emergencies SET raised_at = raised_at - 20 * 365 * 86400000,
             acknowledged_at = acknowledged_at - 20 * 365 * 86400000,
             reopened_at = reopened_at - 20 * 365 * 86400000,
             resolved_at = resolved_at - 20 * 365 * 86400000
         WHERE patient_id = ?1 AND doctor_id = ?2",
        [
            conversation.patient_id.as_str(),
            conversation.doctor_id.as_str(),
        ],
    )
    .unwrap();
    let policy = Policy::parse("10y", false).unwrap().unwrap();
    admin::run(data, &policy).unwrap()
}

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
    let purged = twenty_years_later(data.path(), &conversation);
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

/// A purge takes everything that hung on the purged messages from every device: the emergency
/// from another doctor who held it (cache, alarm, event), the downloaded and the sent copies of
/// an attachment, and the unread counts, in the cache's list and the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_takes_emergencies_files_and_unread_counts_from_every_device() {
    let BothOnline {
        data,
        profiles: _profiles,
        server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let nguyen_dir = tempfile::tempdir().unwrap();
    let nguyen = login_online(&server.url(), nguyen_dir.path(), "dr.nguyen").await;
    let source = tempfile::tempdir().unwrap();
    let scan = source.path().join("scan.txt");
    std::fs::write(&scan, b"an old scan").unwrap();
    let sent = alice
        .send_with_attachment(&conversation, "the scan", false, &scan)
        .unwrap();
    let tag = prefix("help");
    alice.send(&conversation, &tag, true).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();

    wait_until(&nguyen, "the emergency reaches another doctor", || {
        !nguyen.open_emergencies().unwrap().is_empty()
    })
    .await;
    let emergency = nguyen.open_emergencies().unwrap().remove(0);
    wait_until(&patel, "the file reaches the doctor", || {
        patel
            .history(&conversation, 500, None)
            .unwrap()
            .iter()
            .any(|m| m.client_id == sent.client_id)
    })
    .await;
    let download = attachment_copy(&patel, &sent).await;
    assert!(download.is_file());
    let own_copy = std::path::PathBuf::from(
        alice
            .message(&sent.client_id)
            .unwrap()
            .unwrap()
            .local_file_path
            .unwrap(),
    );
    assert!(own_copy.is_file());
    let unread = |c: &clinic_client::Client| {
        c.cached_conversations()
            .unwrap()
            .iter()
            .find(|x| {
                x.patient_id == conversation.patient_id && x.doctor_id == conversation.doctor_id
            })
            .map_or(0, |x| x.unread_count)
    };
    wait_until(&patel, "unread messages", || unread(&patel) >= 2).await;

    for c in [&alice, &patel, &nguyen] {
        c.disconnect().await;
    }
    twenty_years_later(data.path(), &conversation);

    let mut events = nguyen.subscribe();
    for c in [&alice, &patel, &nguyen] {
        c.connect();
        c.wait_online(PATIENCE).await.unwrap();
    }
    let told = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(ClientEvent::HistoryPurged { emergency_ids, .. }) = events.recv().await {
                return emergency_ids;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(told, vec![emergency.id.clone()]);
    assert!(
        !nguyen
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.id == emergency.id),
        "another doctor's cache drops the purged emergency"
    );
    assert!(!nguyen.ringing().contains(&emergency.id));
    wait_until(&patel, "the purge reaches the doctor", || {
        patel.purged_at(&conversation).unwrap().is_some()
    })
    .await;
    assert!(!download.exists(), "the downloaded copy is deleted");
    assert!(!download.parent().unwrap().exists());
    wait_until(&alice, "the purge reaches the patient", || {
        alice.purged_at(&conversation).unwrap().is_some()
    })
    .await;
    assert!(!own_copy.exists(), "the sender's copy is deleted");
    assert_eq!(unread(&patel), 0);
    let listed = patel.conversations().await.unwrap();
    let on_server = listed
        .iter()
        .find(|x| x.patient_id == conversation.patient_id && x.doctor_id == conversation.doctor_id)
        .map_or(0, |x| x.unread_count);
    assert_eq!(on_server, 0, "the server's unread count drops too");
}
