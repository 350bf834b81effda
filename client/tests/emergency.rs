//! A patient's emergency reaches the doctor as an alert; the doctor acknowledges and resolves
//! it, and both sides see the transitions.

#![allow(clippy::unwrap_used)]

mod common;

use clinic_client::{Client, ClientEvent};
use clinic_protocol::{Emergency, EmergencyState};
use common::*;
use tokio::sync::broadcast;

async fn next_emergency(
    events: &mut broadcast::Receiver<ClientEvent>,
    state: EmergencyState,
) -> Emergency {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(ClientEvent::EmergencyAlert { emergency, .. })
                | Ok(ClientEvent::EmergencyUpdated { emergency })
                    if emergency.state == state =>
                {
                    return emergency;
                }
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                _ => {}
            }
        }
    })
    .await
    .unwrap()
}

async fn online(url: &str, profile: &std::path::Path, username: &str) -> Client {
    let client = login(url, profile, username).await;
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_alert_acknowledge_resolve() {
    let data = demo_data_dir();
    let (p1, p2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let patel = online(&url, p1.path(), "dr.patel").await;
    let alice = online(&url, p2.path(), "alice").await;
    let mut doctor_events = patel.subscribe();
    let mut patient_events = alice.subscribe();

    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.send(&conversation, "chest pain", true).unwrap();
    let raised = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    assert!(
        patel
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.id == raised.id)
    );

    patel.acknowledge_emergency(&raised.id).unwrap();
    next_emergency(&mut doctor_events, EmergencyState::Acknowledged).await;
    next_emergency(&mut patient_events, EmergencyState::Acknowledged).await;

    patel
        .resolve_emergency(&raised.id, Some("called back".into()))
        .unwrap();
    let resolved = next_emergency(&mut doctor_events, EmergencyState::Resolved).await;
    assert_eq!(resolved.resolution_note.as_deref(), Some("called back"));
    next_emergency(&mut patient_events, EmergencyState::Resolved).await;
    assert!(
        !patel
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.id == raised.id)
    );
}
