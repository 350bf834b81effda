//! A patient's emergency reaches the doctor as an alert and rings; acknowledge and resolve
//! return the server's answer and only that stops the alarm: a doctor who was beaten to it hears
//! who took it and keeps ringing until the server's update arrives, and with the server
//! unreachable the alarm keeps ringing and the error says so.

#![allow(clippy::unwrap_used)]

use crate::common;

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

/// A demo clinic in process with two people online (the guards keep it alive).
async fn two_online(
    first: &str,
    second: &str,
) -> (
    (
        tempfile::TempDir,
        tempfile::TempDir,
        tempfile::TempDir,
        InProcessServer,
    ),
    Client,
    Client,
) {
    let data = demo_data_dir();
    let (p1, p2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let a = online(&url, p1.path(), first).await;
    let b = online(&url, p2.path(), second).await;
    ((data, p1, p2, server), a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_alert_acknowledge_resolve() {
    let (_clinic, patel, alice) = two_online("dr.patel", "alice").await;
    let mut doctor_events = patel.subscribe();
    let mut patient_events = alice.subscribe();

    let conversation = alice.conversation_with("dr.patel").unwrap();
    // Pasted with a name's isolates: an emergency goes without them rather than being refused
    // for characters nobody sees.
    let sent = alice
        .send(
            &conversation,
            "chest pain, \u{2068}Anna\u{2069} is here",
            true,
        )
        .unwrap();
    assert_eq!(sent.content, "chest pain, Anna is here");
    let raised = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    assert!(
        patel
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.id == raised.id)
    );

    assert_eq!(patel.ringing(), std::slice::from_ref(&raised.id));
    // The tray's "Open" takes the doctor where they are needed: the open emergency's
    // conversation, ahead of any unread one.
    assert_eq!(
        patel.conversation_needing_attention().unwrap(),
        Some(conversation.clone())
    );

    let taken = patel.acknowledge_emergency(&raised.id).await.unwrap();
    assert_eq!(taken.state, EmergencyState::Acknowledged);
    assert!(patel.ringing().is_empty(), "confirmed: quiet");
    next_emergency(&mut doctor_events, EmergencyState::Acknowledged).await;
    next_emergency(&mut patient_events, EmergencyState::Acknowledged).await;

    let resolved = patel
        .resolve_emergency(&raised.id, Some("called back".into()))
        .await
        .unwrap();
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

/// Waits until `client` rings for `id`.
async fn ringing(client: &Client, id: &clinic_protocol::EmergencyId) {
    wait_until(client, "the alarm", || client.ringing().contains(id)).await;
}

/// Alice's emergency ringing on Dr. Patel's device, which reaches the server through a proxy
/// that can hold what the server sends it, and `other` (a doctor) online directly.
struct RingingBehindAProxy {
    _data: tempfile::TempDir,
    _dirs: Vec<tempfile::TempDir>,
    _server: InProcessServer,
    proxy: common::proxy::Proxy,
    patel: Client,
    other: Client,
    raised: clinic_protocol::Emergency,
}

impl RingingBehindAProxy {
    /// `other` takes the emergency while news of that is held on its way to Dr. Patel's device.
    async fn taken_meanwhile(&self) {
        self.proxy.hold_server_frames();
        self.other
            .acknowledge_emergency(&self.raised.id)
            .await
            .unwrap();
    }
}

async fn ringing_behind_a_proxy(other: &str) -> RingingBehindAProxy {
    let data = demo_data_dir();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let server = InProcessServer::start(data.path(), 0).await;
    let proxy = common::proxy::Proxy::start(server.addr, data.path()).await;
    let patel = online(&proxy.url(), dirs[0].path(), "dr.patel").await;
    let other = online(&server.url(), dirs[1].path(), other).await;
    let alice = online(&server.url(), dirs[2].path(), "alice").await;
    let mut doctor_events = patel.subscribe();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.send(&conversation, "I fell", true).unwrap();
    let raised = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    ringing(&patel, &raised.id).await;
    RingingBehindAProxy {
        _data: data,
        _dirs: dirs,
        _server: server,
        proxy,
        patel,
        other,
        raised,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_what_another_doctor_took_shows_the_conflict_and_keeps_ringing() {
    let w = ringing_behind_a_proxy("dr.nguyen").await;
    let (proxy, patel, raised) = (&w.proxy, &w.patel, &w.raised);
    w.taken_meanwhile().await;
    assert_eq!(
        conflict(patel.acknowledge_emergency(&raised.id).await.unwrap_err()),
        "Dr. Minh Nguyen already took it."
    );
    assert_eq!(
        patel.ringing(),
        std::slice::from_ref(&raised.id),
        "a conflict does not silence"
    );

    // Resolved by Dr. Nguyen meanwhile: resolving it here names who did.
    w.other
        .resolve_emergency(&raised.id, Some("called her".into()))
        .await
        .unwrap();
    assert_eq!(
        conflict(patel.resolve_emergency(&raised.id, None).await.unwrap_err()),
        "Dr. Minh Nguyen already resolved it."
    );

    // The server's own update is what stops it.
    proxy.release();
    wait_until(patel, "the update to stop the alarm", || {
        patel.ringing().is_empty()
    })
    .await;
}

/// A doctor who took an emergency on another device, or whose answer was lost, and takes it
/// again: done, as asked, and this device stops ringing; no "Dr. X already took it" naming
/// herself. Resolving again says she did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_again_what_this_doctor_took_is_done_not_a_conflict() {
    // Taken on the laptop while news of it is still on its way to the desk.
    let w = ringing_behind_a_proxy("dr.patel").await;
    let (proxy, desk, laptop, raised) = (&w.proxy, &w.patel, &w.other, &w.raised);
    w.taken_meanwhile().await;
    let taken = desk.acknowledge_emergency(&raised.id).await.unwrap();
    assert_eq!(taken.state, EmergencyState::Acknowledged);
    assert_eq!(taken.acknowledged_by.as_ref(), Some(&desk.user().id));
    assert!(desk.ringing().is_empty(), "done: the desk stops ringing");

    laptop
        .resolve_emergency(&raised.id, Some("seen".into()))
        .await
        .unwrap();
    // A second resolution is not passed off as done (its note would not be kept).
    assert_eq!(
        conflict(desk.resolve_emergency(&raised.id, None).await.unwrap_err()),
        "You already resolved it."
    );
    proxy.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_unreachable_acknowledge_fails_and_the_alarm_keeps_ringing() {
    let data = demo_data_dir();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let patel = online(&url, dirs[0].path(), "dr.patel").await;
    let bob = online(&url, dirs[1].path(), "bob").await;
    let mut doctor_events = patel.subscribe();
    let conversation = bob.conversation_with("dr.patel").unwrap();
    bob.send(&conversation, "dizzy", true).unwrap();
    let raised = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    ringing(&patel, &raised.id).await;

    server.crash();
    let error = patel.acknowledge_emergency(&raised.id).await.unwrap_err();
    assert!(
        matches!(error, clinic_client::ClientError::Unconfirmed(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("The alarm keeps ringing"),
        "{error}"
    );
    assert_eq!(patel.ringing(), std::slice::from_ref(&raised.id));

    // Logging out silences this device (and forgets the token even offline).
    let revoked = patel.logout().await.unwrap();
    assert!(!revoked);
    assert!(patel.ringing().is_empty());
}

/// Do-not-disturb mutes, never hides: a doctor on do-not-disturb has the open emergency (the
/// banner and Acknowledge are there) without ringing, and can acknowledge it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_shows_the_emergency_without_ringing() {
    let data = demo_data_dir();
    let (p1, p2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let patel = online(&url, p1.path(), "dr.patel").await;
    patel
        .set_availability(clinic_protocol::ws::Availability::DoNotDisturb)
        .await
        .unwrap();
    let alice = online(&url, p2.path(), "alice").await;
    let mut doctor_events = patel.subscribe();

    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.send(&conversation, "chest pain", true).unwrap();
    let raised = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    assert!(
        patel
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.id == raised.id),
        "shown on do-not-disturb"
    );
    assert!(patel.ringing().is_empty(), "muted on do-not-disturb");
    let taken = patel.acknowledge_emergency(&raised.id).await.unwrap();
    assert_eq!(taken.state, EmergencyState::Acknowledged);
}

/// A patient new to a doctor writes (here: an emergency): the doctor's list names them (with
/// their details) instead of leaving the conversation out for want of a contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_new_to_the_doctor_is_named_in_the_list() {
    let (_clinic, nguyen, bob) = two_online("dr.nguyen", "bob").await;
    let conversation = bob.conversation_with("dr.nguyen").unwrap();
    bob.send(&conversation, "I fell and cannot get up", true)
        .unwrap();
    wait_until(&nguyen, "bob in the doctor's list", || {
        nguyen.conversation_list().unwrap().iter().any(|c| {
            c.patient_id == conversation.patient_id && c.other_party.name == "Bob Kowalski"
        })
    })
    .await;
}

/// A second Emergency press joins the open emergency: one emergency (both messages), for the
/// doctor and for the patient's own status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_press_joins_the_open_emergency() {
    let (_clinic, patel, alice) = two_online("dr.patel", "alice").await;
    let mut doctor_events = patel.subscribe();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    alice.send(&conversation, "first press", true).unwrap();
    let first = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    alice.send(&conversation, "second press", true).unwrap();
    wait_until(&alice, "both presses sent", || {
        alice.queued() == 0
            && alice
                .open_emergencies()
                .map(|open| open.len() == 1 && open[0].id == first.id)
                .unwrap_or(false)
    })
    .await;
    let open = patel.fetch_open_emergencies().await.unwrap();
    assert!(!open.offline);
    let open = open.list;
    let alices: Vec<_> = open
        .iter()
        .filter(|e| e.patient_id == conversation.patient_id)
        .collect();
    assert_eq!(alices.len(), 1, "{open:?}");
    assert_eq!(alices[0].id, first.id);
}

/// An alert carries a preview of a long emergency; the doctor's app shows the whole message
/// as soon as it has it, also when the alert repeats with the preview again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_alert_of_a_long_emergency_brings_every_word() {
    let data = demo_data_dir();
    let server = InProcessServer::start_with(data.path(), 0, |config| {
        config.emergency_repeat_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let url = server.url();
    let (pa, pp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = online(&url, pa.path(), "alice").await;
    let patel = online(&url, pp.path(), "dr.patel").await;
    let mut events = patel.subscribe();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    let words = format!(
        "{} and now chest pain",
        "I fell on the stairs and my arm hurts. ".repeat(40)
    );
    assert!(words.len() > clinic_protocol::limits::ALERT_PREVIEW_BYTES);
    alice.send(&conversation, &words, true).unwrap();
    let repeated = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(ClientEvent::EmergencyAlert {
                message, repeat, ..
            }) = events.recv().await
                && repeat > 0
            {
                return message;
            }
        }
    })
    .await
    .expect("the alert repeats while nobody has taken it");
    assert_eq!(repeated.content, words);
    alice.disconnect().await;
    patel.disconnect().await;
}

/// The sentence of a `conflict` refusal (any other error fails the test).
fn conflict(error: clinic_client::ClientError) -> String {
    match error {
        clinic_client::ClientError::Server { code, message, .. } => {
            assert_eq!(code, clinic_protocol::ErrorCode::Conflict);
            message
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Like a phone's emergency call: a locked patient's app raises an emergency without the PIN,
/// into her newest conversation (then into the open emergency's), and the doctor is alerted;
/// nothing else is sent from a locked app, and a doctor raises none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_patient_raises_an_emergency_without_unlocking() {
    let (_clinic, nguyen, alice) = two_online("dr.nguyen", "alice").await;
    let mut doctor_events = nguyen.subscribe();
    let with_nguyen = alice.conversation_with("dr.nguyen").unwrap();
    let tag = prefix("locked-press");
    alice
        .send(&with_nguyen, &format!("{tag} a question first"), false)
        .unwrap();
    wait_until(&alice, "the question acked", || {
        alice
            .history(&with_nguyen, 5, None)
            .unwrap()
            .iter()
            .any(|m| m.content.starts_with(&tag) && m.id.is_some())
    })
    .await;
    alice.lock_now().unwrap();
    assert!(matches!(
        alice.send(&with_nguyen, "ordinary", false),
        Err(clinic_client::ClientError::Locked)
    ));
    assert!(matches!(
        alice.raise_emergency("   "),
        Err(clinic_client::ClientError::Invalid(_))
    ));

    let press = alice.raise_emergency(&format!("{tag} I fell")).unwrap();
    assert!(press.is_emergency);
    assert_eq!(
        (&press.patient_id, &press.doctor_id),
        (&with_nguyen.patient_id, &with_nguyen.doctor_id),
        "her newest conversation"
    );
    assert_eq!(
        press.content,
        format!("{tag} I fell\n\n{}", clinic_client::LOCKED_PRESS_NOTE)
    );
    let raised = next_emergency(&mut doctor_events, EmergencyState::Raised).await;
    assert_eq!(raised.patient_id, alice.user().id);
    assert_eq!(nguyen.ringing(), std::slice::from_ref(&raised.id));
    wait_until(&nguyen, "the press, with the note, for the doctor", || {
        nguyen
            .history(&with_nguyen, 5, None)
            .unwrap()
            .iter()
            .any(|m| m.id.is_some() && m.content == press.content)
    })
    .await;
    wait_until(&alice, "her press acked and her emergency known", || {
        alice
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.id == raised.id)
            && alice.lock_status().unsent_emergency.is_none()
    })
    .await;

    // A second press joins it, in the emergency's conversation even if another is newer.
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    alice.unlock(PASSWORD).await.unwrap();
    alice
        .send(&with_patel, &format!("{tag} to another doctor"), false)
        .unwrap();
    alice.lock_now().unwrap();
    let again = alice
        .raise_emergency(&format!("{tag} still dizzy"))
        .unwrap();
    assert_eq!(again.doctor_id, with_nguyen.doctor_id);
    assert!(alice.lock_status().locked, "raising does not unlock");

    assert!(matches!(
        nguyen.raise_emergency("a doctor's press"),
        Err(clinic_client::ClientError::Invalid(_))
    ));
}

/// A press from the lock screen goes to a doctor still at the clinic, also when her open
/// emergency is in a conversation with one who left (he would refuse it, and a locked app could
/// only say "unlock to see why"), is cut rather than refused when long, and while one waits for
/// the connection no other is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_from_the_lock_screen_avoids_a_doctor_who_left_and_waits_alone() {
    let ((data, _p1, _p2, server), _patel, alice) = two_online("dr.patel", "alice").await;
    let with_nguyen = alice.conversation_with("dr.nguyen").unwrap();
    let with_patel = alice.conversation_with("dr.patel").unwrap();
    let tag = prefix("left-the-clinic");
    // Her emergency is open in her conversation with dr.nguyen, who then leaves the clinic.
    alice.send(&with_nguyen, &tag, true).unwrap();
    wait_until(&alice, "her emergency with dr.nguyen open", || {
        alice
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.doctor_id == with_nguyen.doctor_id)
    })
    .await;
    let dir = data.path().to_owned();
    tokio::task::spawn_blocking(move || {
        clinic_server::accounts::set_disabled(&dir, "dr.nguyen", true)
    })
    .await
    .unwrap()
    .unwrap();
    // The contact list without him, heard as the app does when it connects.
    alice.conversations().await.unwrap();
    server.stop().await;
    wait_until(&alice, "offline", || {
        !matches!(alice.state(), clinic_client::ConnectionState::Online)
    })
    .await;
    alice.lock_now().unwrap();

    // A long press is cut to a few sentences, never refused for its length.
    let long = format!("{tag} dizzy {}", "é".repeat(800));
    let press = alice.raise_emergency(&long).unwrap();
    assert_eq!(
        press.doctor_id, with_patel.doctor_id,
        "not the open emergency's conversation: a doctor still at the clinic"
    );
    let (said, note) = press.content.split_once("\n\n").unwrap();
    assert_eq!(note, clinic_client::LOCKED_PRESS_NOTE);
    assert!(
        said.len() <= 1_000 && said.ends_with(" … (cut short)"),
        "{said}"
    );
    assert!(said.starts_with(&format!("{tag} dizzy é")));
    let again = alice.raise_emergency(&format!("{tag} still dizzy"));
    assert!(
        matches!(&again, Err(clinic_client::ClientError::Invalid(why)) if why.contains("already waiting")),
        "{again:?}"
    );
    let unlocked = alice.unlock(PASSWORD).await.unwrap();
    assert!(matches!(unlocked, clinic_client::lock::Unlock::Unlocked));
    // Unlocked, the patient chooses: a press in the open app is queued as she writes it.
    let open_press = alice.raise_emergency(&format!("{tag} worse")).unwrap();
    assert!(
        !open_press
            .content
            .contains(clinic_client::LOCKED_PRESS_NOTE)
    );
}

/// An emergency written while the server cannot be reached is tried for at once and then at
/// least every `EMERGENCY_RETRY`, not at the end of the backoff's waits (here a minute each),
/// and goes out once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_waiting_to_be_sent_shortens_the_waits_between_tries() {
    use clinic_client::EMERGENCY_RETRY;
    use clinic_protocol::MessageStatus;
    use std::time::Duration;

    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let port = server.addr.port();
    let url = server.url();
    let profile = tempfile::tempdir().unwrap();
    let alice = login_with_minute_backoff(&url, profile.path(), "alice").await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    server.stop().await;
    let mut states = alice.watch_state();
    let (attempt, _) =
        tokio::time::timeout(PATIENCE, states.wait_for(|s| offline_try(s).is_some()))
            .await
            .unwrap()
            .map(|s| offline_try(&s).unwrap())
            .unwrap();

    let press = alice.send(&conversation, "I cannot breathe", true).unwrap();
    // Tried at once, and told to wait no longer than EMERGENCY_RETRY, three times over (the
    // backoff alone would wait up to a minute before the first).
    three_tries_within(
        &mut states,
        attempt,
        Duration::from_secs(20),
        EMERGENCY_RETRY,
    )
    .await;

    let _server = InProcessServer::start(data.path(), port).await;
    wait_until(&alice, "the emergency sent", || {
        alice
            .history(&conversation, 10, None)
            .unwrap()
            .iter()
            .any(|m| m.client_id == press.client_id && m.status != MessageStatus::Sending)
    })
    .await;
    alice.disconnect().await;
}

/// A doctor's app out of reach of the server tries again every few seconds whatever its backoff
/// (no emergency reaches a doctor meanwhile); a tester's took 12-25 s after the server was back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctors_app_tries_the_server_again_within_seconds() {
    use clinic_client::DOCTOR_RETRY;
    use std::time::Duration;

    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let port = server.addr.port();
    let url = server.url();
    let profile = tempfile::tempdir().unwrap();
    let patel = login_with_minute_backoff(&url, profile.path(), "dr.patel").await;
    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    server.stop().await;
    let mut states = patel.watch_state();
    // Three tries in a row, each told to wait no longer than DOCTOR_RETRY (the backoff alone
    // would wait up to a minute).
    three_tries_within(
        &mut states,
        0,
        DOCTOR_RETRY + Duration::from_secs(10),
        DOCTOR_RETRY,
    )
    .await;
    let _server = InProcessServer::start(data.path(), port).await;
    patel
        .wait_online(DOCTOR_RETRY + Duration::from_secs(5))
        .await
        .expect("back online within seconds of the server");
    patel.disconnect().await;
}

/// The attempt and wait of an offline state.
fn offline_try(s: &clinic_client::ConnectionState) -> Option<(u32, u64)> {
    match s {
        clinic_client::ConnectionState::Offline {
            attempt,
            retry_in_ms,
            ..
        } => Some((*attempt, *retry_in_ms)),
        _ => None,
    }
}

/// Waits for three more tries after `attempt`, each within `within` and each told to wait no
/// longer than `limit`; the last attempt.
async fn three_tries_within(
    states: &mut tokio::sync::watch::Receiver<clinic_client::ConnectionState>,
    mut attempt: u32,
    within: std::time::Duration,
    limit: std::time::Duration,
) -> u32 {
    let limit = u64::try_from(limit.as_millis()).unwrap();
    for _ in 0..3 {
        let (next, retry_in_ms) = tokio::time::timeout(
            within,
            states.wait_for(|s| offline_try(s).is_some_and(|(a, _)| a > attempt)),
        )
        .await
        .expect("another try within seconds")
        .map(|s| offline_try(&s).unwrap())
        .unwrap();
        assert!(retry_in_ms <= limit, "{retry_in_ms} ms");
        attempt = next;
    }
    attempt
}

/// `username` signed in with a backoff of a minute between tries, so that only the caps under
/// test can make a try come sooner.
async fn login_with_minute_backoff(url: &str, profile: &std::path::Path, username: &str) -> Client {
    let mut opts = options(profile);
    opts.tuning.backoff = clinic_client::BackoffConfig {
        base: std::time::Duration::from_secs(60),
        cap: std::time::Duration::from_secs(60),
    };
    Client::login(
        opts,
        url,
        username,
        PASSWORD,
        clinic_client::Pairing::Code(code_for(url)),
    )
    .await
    .unwrap()
}
