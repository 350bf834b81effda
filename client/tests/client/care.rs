//! The care relation in the client core: a doctor who acknowledges another doctor's patient's
//! emergency has the patient (with age and blood group) in the list at once and can write to
//! them; doctors look up patients and start conversations, patients cannot; patients hear a
//! doctor's do-not-disturb. Real server in process, real clients.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{ClientError, ClientEvent};
use clinic_protocol::ws::Availability;
use clinic_protocol::{ConversationKey, EmergencyState, Role};
use common::*;
use tokio::sync::broadcast;

async fn next_event(
    events: &mut broadcast::Receiver<ClientEvent>,
    what: &str,
    mut wanted: impl FnMut(&ClientEvent) -> bool,
) -> ClientEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(e) if wanted(&e) => return e,
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_another_doctors_patient_opens_their_conversation() {
    let data = demo_data_dir();
    let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login_online(&url, dirs[0].path(), "alice").await;
    let nguyen = login_online(&url, dirs[1].path(), "dr.nguyen").await;
    let mut nguyen_events = nguyen.subscribe();
    let mut alice_events = alice.subscribe();
    let before = nguyen.conversation_list().unwrap();
    assert!(before.iter().all(|c| c.other_party.username != "alice"));

    // Alice's emergency goes to her own doctor; every doctor gets the alert.
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    alice.send(&with_patel, "I fainted", true).unwrap();
    let ClientEvent::EmergencyAlert { emergency, .. } =
        next_event(&mut nguyen_events, "an alert", |e| {
            matches!(e, ClientEvent::EmergencyAlert { .. })
        })
        .await
    else {
        unreachable!()
    };
    // Not Nguyen's conversation: refused before anything is queued.
    let refused = nguyen.send(&with_patel, "hello", false).unwrap_err();
    assert!(matches!(refused, ClientError::Invalid(_)), "{refused}");
    // Seen there, it is not read: it is Dr. Patel's to read, and the server would refuse
    // Nguyen's read mark (the app showed that refusal to the doctor).
    assert_eq!(
        nguyen
            .mark_seen(&with_patel, &emergency.message_id)
            .unwrap(),
        0
    );
    assert_eq!(nguyen.mark_conversation_read(&with_patel).unwrap(), 0);

    let taken = nguyen.acknowledge_emergency(&emergency.id).await.unwrap();
    assert_eq!(taken.state, EmergencyState::Acknowledged);
    // When acknowledge returns, the list already has Alice with her details.
    let list = nguyen.conversation_list().unwrap();
    let conv = list
        .iter()
        .find(|c| c.other_party.username == "alice")
        .expect("alice in dr.nguyen's list");
    assert!(conv.other_party.age.is_some(), "{conv:?}");
    assert!(conv.other_party.blood_group.is_some(), "{conv:?}");
    let key = ConversationKey::new(conv.patient_id.clone(), conv.doctor_id.clone());
    assert_eq!(&key.doctor_id, &nguyen.user().id);

    nguyen.send(&key, "I am calling you now", false).unwrap();
    nguyen.wait_outbox_empty(PATIENCE).await.unwrap();
    next_event(&mut alice_events, "the reply", |e| {
        matches!(e, ClientEvent::MessageUpserted { message }
            if message.content == "I am calling you now" && message.doctor_id == key.doctor_id)
    })
    .await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctors_find_patients_and_start_conversations_patients_cannot() {
    let data = demo_data_dir();
    let dirs = [(); 2].map(|_| tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let okafor = login_online(&url, dirs[0].path(), "dr.okafor").await;
    let bob = login_online(&url, dirs[1].path(), "bob").await;

    let found = okafor.find_patients("  BO ").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].username, "bob");
    assert_eq!(found[0].role, Role::Patient);
    let all = okafor.find_patients("").await.unwrap();
    assert!(all.iter().all(|p| p.role == Role::Patient) && all.len() >= 3);

    let mut events = okafor.subscribe();
    let conv = okafor.start_conversation(&found[0].id).await.unwrap();
    assert_eq!(conv.doctor_id, okafor.user().id);
    next_event(&mut events, "the list changed", |e| {
        matches!(e, ClientEvent::ConversationsChanged)
    })
    .await;
    let list = okafor.conversation_list().unwrap();
    assert!(list.iter().any(|c| c.other_party.username == "bob"));
    let key = ConversationKey::new(conv.patient_id.clone(), conv.doctor_id.clone());
    okafor.send(&key, "Your results are in", false).unwrap();
    okafor.wait_outbox_empty(PATIENCE).await.unwrap();

    // Patients cannot look up patients (refused here, and by the server).
    let refused = bob.find_patients("a").await.unwrap_err();
    assert!(matches!(refused, ClientError::Invalid(_)), "{refused}");
    let refused = bob.start_conversation(&found[0].id).await.unwrap_err();
    assert!(matches!(refused, ClientError::Invalid(_)), "{refused}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_sees_a_doctors_do_not_disturb() {
    let data = demo_data_dir();
    let dirs = [(); 2].map(|_| tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let alice = login_online(&url, dirs[0].path(), "alice").await;
    let patel = login_online(&url, dirs[1].path(), "dr.patel").await;
    let mut events = alice.subscribe();
    patel
        .set_availability(Availability::DoNotDisturb)
        .await
        .unwrap();
    next_event(&mut events, "the doctor's availability", |e| {
        matches!(e, ClientEvent::PeerAvailability { availability: Availability::DoNotDisturb, user_id }
            if *user_id == patel.user().id)
    })
    .await;
    let list = alice.conversation_list().unwrap();
    let conv = list
        .iter()
        .find(|c| c.other_party.username == "dr.patel")
        .unwrap();
    assert_eq!(
        conv.other_party.availability,
        Some(Availability::DoNotDisturb)
    );
    drop(server);
}
