//! The app lock on a real client and server, time from a fake clock: idle locks; while locked
//! no history, no read receipts, notifications say nothing, an emergency still rings and says
//! "unlock to respond" (a locked patient's app still shows her own open emergency); the PIN
//! unlocks; five wrong tries log out (token revoked) and on a shared
//! computer wipe the cache; the clinic's server sets the longest idle times.

#![allow(clippy::unwrap_used)]

use crate::common;

use chrono::{DateTime, Utc};
use clinic_client::lock::{Clock, Device, Unlock};
use clinic_client::{Client, ClientError, ClientEvent, ConnectionState, Profile};
use clinic_protocol::MessageStatus;
use common::*;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

#[derive(Debug)]
struct FakeClock(Mutex<DateTime<Utc>>);

impl FakeClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += chrono::Duration::from_std(by).unwrap();
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

async fn signed_in(url: &str, profile: &Path, username: &str, clock: &Arc<FakeClock>) -> Client {
    let mut options = options(profile);
    options.clock = Arc::clone(clock) as Arc<dyn Clock>;
    let client = Client::login(
        options,
        url,
        username,
        PASSWORD,
        clinic_client::tls::Pairing::Code(code_for(url)),
    )
    .await
    .unwrap();
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    client
}

/// A demo clinic's server, Dr. Patel and Alice signed in (the clock both apps' locks read),
/// with the folders that must outlive them.
async fn doctor_and_patient() -> (
    (tempfile::TempDir, InProcessServer),
    Arc<FakeClock>,
    (tempfile::TempDir, tempfile::TempDir),
    Client,
    Client,
) {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let (pd, pa) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patel = signed_in(&url, pd.path(), "dr.patel", &clock).await;
    let alice = signed_in(&url, pa.path(), "alice", &clock).await;
    ((data, server), clock, (pd, pa), patel, alice)
}

async fn next_notify(
    events: &mut broadcast::Receiver<ClientEvent>,
) -> clinic_client::attention::Notice {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(ClientEvent::Notify { notice }) => return notice,
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                _ => {}
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_locks_content_is_withheld_emergencies_ring_and_the_pin_unlocks() {
    let (_server, clock, _dirs, patel, alice) = doctor_and_patient().await;
    patel.set_pin("8203").unwrap();
    patel
        .set_lock_policy(Device::Personal, Some(Duration::from_secs(120)))
        .unwrap();
    let conversation = patel.conversation_with("alice").unwrap();

    clock.advance(Duration::from_secs(119));
    assert!(!patel.check_idle().unwrap());
    clock.advance(Duration::from_secs(1));
    assert!(patel.check_idle().unwrap(), "two idle minutes lock the app");
    assert!(patel.lock_status().locked);

    // Locked: nothing to read, no receipts, no sending.
    assert!(matches!(
        patel.history(&conversation, 50, None),
        Err(ClientError::Locked)
    ));
    assert!(matches!(
        patel.mark_conversation_read(&conversation),
        Err(ClientError::Locked)
    ));
    assert!(matches!(
        patel.send(&conversation, "x", false),
        Err(ClientError::Locked)
    ));

    // A message notifies without sender or text.
    let mut events = patel.subscribe();
    let tag = prefix("private-symptom");
    alice.send(&conversation, &tag, false).unwrap();
    let notice = next_notify(&mut events).await;
    assert!(!notice.title.contains("alice") && !notice.title.contains("Alice"));
    assert!(!notice.body.contains(&tag), "{notice:?}");
    assert!(notice.body.contains("Unlock"));

    // An emergency still rings, and says to unlock.
    alice
        .send(&conversation, &format!("{tag}-chest pain"), true)
        .unwrap();
    let notice = next_notify(&mut events).await;
    assert!(notice.critical);
    assert_eq!(notice.title, "EMERGENCY from a patient");
    assert!(notice.body.contains("Unlock Clinic Messaging to respond"));
    wait_until(&patel, "the alarm", || !patel.ringing().is_empty()).await;
    // The locked doctor's page is shown no emergency (they name patients); a locked patient's
    // is shown her own open one (and no one else's).
    assert!(!patel.open_emergencies().unwrap().is_empty());
    assert_eq!(patel.emergencies_while_locked().unwrap(), Vec::new());
    wait_until(&alice, "her emergency", || {
        alice
            .open_emergencies()
            .unwrap()
            .iter()
            .any(|e| e.patient_id == alice.user().id)
    })
    .await;
    alice.lock_now().unwrap();
    let shown = alice.emergencies_while_locked().unwrap();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].patient_id, alice.user().id);
    // Each update the locked page is told: hers without a doctor's note, none to a doctor.
    let resolved = clinic_protocol::Emergency {
        state: clinic_protocol::EmergencyState::Resolved,
        resolution_note: Some("take two pills".into()),
        ..shown[0].clone()
    };
    let told = alice.emergency_while_locked(&resolved).unwrap();
    assert_eq!(told.state, clinic_protocol::EmergencyState::Resolved);
    assert_eq!(told.resolution_note, None);
    assert_eq!(patel.emergency_while_locked(&resolved), None);

    // The PIN unlocks, and everything is there.
    assert!(matches!(
        patel.unlock("1357").await.unwrap(),
        Unlock::Wrong { left: 4, .. }
    ));
    assert_eq!(patel.unlock("8203").await.unwrap(), Unlock::Unlocked);
    let history = patel.history(&conversation, 50, None).unwrap();
    assert!(history.iter().any(|m| m.content == tag));
    assert!(patel.mark_conversation_read(&conversation).is_ok());
    patel.disconnect().await;
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_patient_is_told_of_her_unsent_emergency_across_a_restart_until_it_is_sent() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let port = server.addr.port();
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&server.url(), profile.path(), "alice", &clock).await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    assert_eq!(alice.lock_status().unsent_emergency, None);
    server.stop().await;
    wait_until(&alice, "offline", || {
        !matches!(alice.state(), ConnectionState::Online)
    })
    .await;
    let tag = prefix("locked-unsent");
    let press = alice
        .send(&conversation, &format!("{tag} chest pain"), true)
        .unwrap();
    let ordinary = alice.send(&conversation, &tag, false).unwrap();
    assert_eq!(
        alice.lock_status().unsent_emergency,
        None,
        "unlocked, the page has the message itself"
    );
    alice.lock_now().unwrap();
    let unsent = clinic_client::UnsentEmergency {
        status: MessageStatus::Sending,
        created_at: press.created_at,
    };
    assert_eq!(alice.lock_status().unsent_emergency, Some(unsent.clone()));
    // What the locked page is told as the messages change: the lock again for the emergency,
    // nothing for an ordinary message.
    let told = alice.event_while_locked(ClientEvent::MessageUpserted {
        message: press.clone(),
    });
    assert!(
        matches!(&told, Some(ClientEvent::Lock { status }) if status.unsent_emergency == Some(unsent.clone())),
        "{told:?}"
    );
    assert!(
        alice
            .event_while_locked(ClientEvent::MessageUpserted { message: ordinary })
            .is_none()
    );
    assert!(
        alice
            .event_while_locked(ClientEvent::ConversationsChanged)
            .is_none()
    );
    let typing = ClientEvent::Typing {
        patient_id: alice.user().id.clone(),
        doctor_id: conversation.doctor_id.clone(),
        user_id: conversation.doctor_id.clone(),
        typing: true,
    };
    assert!(alice.event_while_locked(typing).is_none(), "no one typing");
    // A notice made just before the lock and emitted just after it names nobody on the page.
    let named = clinic_client::attention::Notice {
        critical: true,
        title: "EMERGENCY: Alice Example".into(),
        body: format!("{tag} chest pain"),
        conversation: Some(conversation.clone()),
        chime: false,
        tag: Some("e-1".into()),
    };
    let message_notice = clinic_client::attention::Notice {
        critical: false,
        title: "Dr. Patel".into(),
        body: tag.clone(),
        chime: true,
        tag: Some("m-1".into()),
        ..named.clone()
    };
    let shown: Vec<clinic_client::attention::Notice> = [named, message_notice]
        .into_iter()
        .map(
            |notice| match alice.event_while_locked(ClientEvent::Notify { notice }) {
                Some(ClientEvent::Notify { notice }) => notice,
                other => panic!("{other:?}"),
            },
        )
        .collect();
    let kept: Vec<_> = shown
        .iter()
        .map(|n| {
            (
                n.critical,
                n.chime,
                n.tag.as_deref(),
                n.conversation.is_none(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (true, false, Some("e-1"), true),
            (false, true, Some("m-1"), true)
        ],
        "the same kind of notice, with its tag and chime, opening nothing"
    );
    for notice in &shown {
        assert!(
            !notice.title.contains("Alice") && !notice.title.contains("Patel"),
            "{notice:?}"
        );
        assert!(!notice.body.contains(&tag), "{notice:?}");
    }
    let dropped = alice.event_while_locked(ClientEvent::MessageDiscarded {
        client_id: press.client_id.clone(),
        sender_id: alice.user().id.clone(),
        patient_id: alice.user().id.clone(),
        doctor_id: conversation.doctor_id.clone(),
    });
    assert!(
        matches!(dropped, Some(ClientEvent::Lock { .. })),
        "{dropped:?}"
    );
    // Nothing is retried or dropped from a locked app.
    assert!(matches!(
        alice.retry(&press.client_id),
        Err(ClientError::Locked)
    ));
    assert!(matches!(
        alice.discard(&press.client_id),
        Err(ClientError::Locked)
    ));

    // A restart, still locked: the shell's lock says it, with no page memory to tell it.
    alice.disconnect().await;
    drop(alice);
    let mut options = options(profile.path());
    options.clock = Arc::clone(&clock) as Arc<dyn Clock>;
    let alice = Client::open(options).unwrap();
    assert!(alice.lock_status().locked);
    assert_eq!(alice.lock_status().unsent_emergency, Some(unsent));
    let encoded = serde_json::to_string(&alice.lock_status()).unwrap();
    assert!(
        encoded.contains("\"unsentEmergency\":{\"status\":\"SENDING\""),
        "{encoded}"
    );
    assert!(!encoded.contains(&tag), "no text of it: {encoded}");

    // The server is back: the emergency goes out while locked, and the page is told the lock
    // again, now with nothing unsent, then her emergency.
    let mut events = alice.subscribe();
    let _server = InProcessServer::start(data.path(), port).await;
    alice.connect();
    let (lock, emergency) = tokio::time::timeout(PATIENCE, async {
        let (mut lock, mut emergency) = (None, None);
        while lock.is_none() || emergency.is_none() {
            let event = events.recv().await.unwrap();
            match alice.event_while_locked(event) {
                Some(ClientEvent::Lock { status }) if status.unsent_emergency.is_none() => {
                    lock = Some(status);
                }
                Some(ClientEvent::EmergencyUpdated { emergency: e }) => emergency = Some(e),
                Some(ClientEvent::EmergencyAlert { .. }) => panic!("an alert reached the page"),
                _ => {}
            }
        }
        (lock.unwrap(), emergency.unwrap())
    })
    .await
    .expect("the lock and the emergency, told while locked");
    assert!(lock.locked);
    assert_eq!(emergency.patient_id, alice.user().id);
    assert_eq!(emergency.resolution_note, None);
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_patient_learns_her_emergency_was_resolved_also_after_a_restart() {
    let (_server, clock, (_pd, pa), patel, alice) = doctor_and_patient().await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    let alice_id = alice.user().id.clone();
    let mine = |client: &Client| {
        client
            .open_emergencies()
            .unwrap()
            .into_iter()
            .find(|e| e.patient_id == alice_id)
    };

    // One resolved before the app locked: she saw it then, it is not told again.
    alice
        .send(&conversation, &prefix("earlier fall"), true)
        .unwrap();
    wait_until(&patel, "the first emergency", || mine(&patel).is_some()).await;
    let first = mine(&patel).unwrap();
    patel.resolve_emergency(&first.id, None).await.unwrap();
    wait_until(&alice, "the first resolved", || mine(&alice).is_none()).await;
    alice.lock_now().unwrap();
    assert_eq!(alice.emergencies_while_locked().unwrap(), Vec::new());

    // One raised and resolved while locked.
    alice.unlock(PASSWORD).await.unwrap();
    alice
        .send(&conversation, &prefix("chest pain"), true)
        .unwrap();
    wait_until(&patel, "the second emergency", || mine(&patel).is_some()).await;
    wait_until(&alice, "hers", || mine(&alice).is_some()).await;
    // This computer's clock an hour ahead of the server's: what is told does not hang on it.
    clock.advance(Duration::from_secs(3600));
    alice.lock_now().unwrap();
    let second = mine(&patel).unwrap();
    patel
        .resolve_emergency(&second.id, Some("called her back".into()))
        .await
        .unwrap();
    wait_until(&alice, "the second resolved", || mine(&alice).is_none()).await;
    let told = |client: &Client| -> Vec<_> {
        client
            .emergencies_while_locked()
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.state, e.resolution_note))
            .collect()
    };
    let resolved = |e: &clinic_protocol::Emergency| {
        (
            e.id.clone(),
            clinic_protocol::EmergencyState::Resolved,
            None,
        )
    };
    let mut expected = vec![resolved(&second)];
    assert_eq!(told(&alice), expected, "without the doctor's note");

    // One this computer did not know of as it locked (pressed from the lock screen): told too.
    alice.raise_emergency(&prefix("fell again")).unwrap();
    wait_until(&patel, "the third emergency", || mine(&patel).is_some()).await;
    let third = mine(&patel).unwrap();
    patel.resolve_emergency(&third.id, None).await.unwrap();
    wait_until(&alice, "the third resolved", || {
        told(&alice).iter().any(|(id, ..)| *id == third.id)
    })
    .await;
    expected.push(resolved(&third));
    assert_eq!(told(&alice), expected);

    // After a restart, still locked, the page is told it from this computer's copy.
    alice.disconnect().await;
    drop(alice);
    let mut reopened = options(pa.path());
    reopened.clock = Arc::clone(&clock) as Arc<dyn Clock>;
    let alice = Client::open(reopened).unwrap();
    assert!(alice.lock_status().locked);
    assert_eq!(told(&alice), expected);
    // Unlocked, the page has them all itself.
    alice.unlock(PASSWORD).await.unwrap();
    assert_eq!(alice.emergencies_while_locked().unwrap(), Vec::new());
    patel.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_tries_log_out_and_a_shared_pc_keeps_no_cache() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&url, profile.path(), "alice", &clock).await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    let tag = prefix("shared-pc");
    alice.send(&conversation, &tag, false).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    alice.set_pin("8203").unwrap();
    assert_eq!(alice.lock_status().device, Device::Shared, "the default");
    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    let cache = Profile::new(profile.path()).cache_path(&session);
    assert!(cache.exists());
    let token_store = clinic_client::FileStore::new(profile.path().join("credentials"));
    let token = clinic_client::CredentialStore::load(&token_store, &session.account())
        .unwrap()
        .unwrap();

    alice.lock_now().unwrap();
    for _ in 0..2 {
        assert!(matches!(
            alice.unlock("0000").await.unwrap(),
            Unlock::Wrong { wait: None, .. }
        ));
    }
    // The third wrong try starts the waits; a restart of the app does not reset the count.
    assert!(matches!(
        alice.unlock("0000").await.unwrap(),
        Unlock::Wrong { wait: Some(_), .. }
    ));
    alice.disconnect().await;
    drop(alice);
    let mut options = options(profile.path());
    options.clock = Arc::clone(&clock) as Arc<dyn Clock>;
    let alice = Client::open(options).unwrap();
    assert!(alice.lock_status().locked, "still locked after a restart");
    assert_eq!(alice.lock_status().tries_left, 2);
    assert_eq!(
        alice.lock_status().tries_so_far.as_deref(),
        Some("3 wrong tries to unlock so far. 2 tries left before you are logged out."),
        "the lock screen can say so before the next wrong try"
    );
    assert!(matches!(
        alice.unlock("8203").await.unwrap(),
        Unlock::Wait(_)
    ));
    clock.advance(Duration::from_secs(30));
    assert!(matches!(
        alice.unlock("0000").await.unwrap(),
        Unlock::Wrong { left: 1, .. }
    ));
    clock.advance(Duration::from_secs(60));
    assert_eq!(alice.unlock("0000").await.unwrap(), Unlock::LogOut);

    assert!(
        Profile::new(profile.path())
            .load_session()
            .unwrap()
            .is_none()
    );
    assert!(!cache.exists(), "a shared PC keeps no cache after logout");
    assert_eq!(
        clinic_client::CredentialStore::load(&token_store, &session.account()).unwrap(),
        None,
        "the token is forgotten here"
    );
    assert!(
        api(&url).with_token(token).conversations().await.is_err(),
        "and revoked on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_tries_with_an_emergency_waiting_log_out_only_once_it_reached_the_clinic() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let (url, port) = (server.url(), server.addr.port());
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&url, profile.path(), "alice", &clock).await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    let cache = Profile::new(profile.path()).cache_path(&session);
    server.stop().await;
    wait_until(&alice, "offline", || {
        !matches!(alice.state(), ConnectionState::Online)
    })
    .await;
    alice.lock_now().unwrap();
    let tag = prefix("locked-out");
    alice.raise_emergency(&format!("{tag} help")).unwrap();

    // Someone at her shared computer guesses: the 5th wrong try does not log out yet.
    for (wait, left) in [(0, 4), (0, 3), (0, 2), (30, 1)] {
        clock.advance(Duration::from_secs(wait));
        assert!(matches!(
            alice.unlock("0000").await.unwrap(),
            Unlock::Wrong { left: l, .. } if l == left
        ));
    }
    clock.advance(Duration::from_secs(60));
    assert_eq!(alice.unlock("0000").await.unwrap(), Unlock::LogOutWhenSent);
    assert!(alice.tries_ran_out());
    assert_eq!(alice.lock_status().tries_left, 0);
    assert_eq!(
        alice.unlock(PASSWORD).await.unwrap(),
        Unlock::LogOutWhenSent,
        "no more tries are taken, not even the right one"
    );
    assert!(cache.exists(), "her press is still there");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), alice.sends_settled())
            .await
            .is_err(),
        "offline, it has not gone"
    );

    // A restart keeps it so.
    alice.disconnect().await;
    drop(alice);
    let mut options = options(profile.path());
    options.clock = Arc::clone(&clock) as Arc<dyn Clock>;
    let alice = Client::open(options).unwrap();
    assert!(alice.tries_ran_out());
    assert_eq!(
        alice.unlock(PASSWORD).await.unwrap(),
        Unlock::LogOutWhenSent
    );

    // The server is back: the press goes, and then the session may end.
    let _server = InProcessServer::start(data.path(), port).await;
    alice.connect();
    tokio::time::timeout(PATIENCE, alice.sends_settled())
        .await
        .expect("the emergency was sent");
    let held = server_messages(&url, "dr.patel", &conversation).await;
    assert_eq!(
        held.iter()
            .filter(|m| m.content.starts_with(&tag) && m.is_emergency)
            .count(),
        1,
        "the doctors have it, once"
    );

    // She presses again before the app has logged out: that one is waited for too.
    alice.disconnect().await;
    let again = prefix("pressed-again");
    alice
        .raise_emergency(&format!("{again} still here"))
        .unwrap();
    assert!(
        !alice.begin_ending_after_tries(),
        "a press waits: the session may not end yet"
    );
    alice.connect();
    tokio::time::timeout(PATIENCE, alice.sends_settled())
        .await
        .expect("the second press was sent");
    assert!(alice.begin_ending_after_tries());
    // From here on the logout is under way: a press is refused with a sentence, not queued
    // and then deleted with the cache.
    let late = alice.raise_emergency("too late").unwrap_err().to_string();
    assert!(late.contains("cannot send this emergency"), "{late}");
    assert_eq!(alice.queued(), 0, "nothing was queued");
    let held = server_messages(&url, "dr.patel", &conversation).await;
    assert_eq!(
        held.iter()
            .filter(|m| m.content.starts_with(&again) && m.is_emergency)
            .count(),
        1,
        "the doctors have the second press, once"
    );
    assert_eq!(alice.unlock("0000").await.unwrap(), Unlock::LogOut);
    assert!(!cache.exists(), "a shared PC keeps no cache after logout");
}

/// A shared computer's cache goes at logout: messages she wrote offline, and a message she took
/// back offline, are not deleted by the 5th wrong try. No more tries are taken, the lock screen
/// says what it waits for, and the session ends once they reached the clinic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_tries_on_a_shared_pc_log_out_only_once_its_messages_went() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let (url, port) = (server.url(), server.addr.port());
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&url, profile.path(), "alice", &clock).await;
    assert_eq!(alice.lock_status().device, Device::Shared, "the default");
    let conversation = alice.conversation_with("dr.patel").unwrap();
    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    let cache = Profile::new(profile.path()).cache_path(&session);
    let tag = prefix("written-offline");
    let wrong = alice
        .send(&conversation, &format!("{tag} to the wrong doctor"), false)
        .unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    server.stop().await;
    wait_until(&alice, "offline", || {
        !matches!(alice.state(), ConnectionState::Online)
    })
    .await;
    for n in 1..=2 {
        alice
            .send(&conversation, &format!("{tag} {n}"), false)
            .unwrap();
    }
    let acked = alice
        .message(&wrong.client_id)
        .unwrap()
        .and_then(|m| m.id)
        .unwrap();
    alice.unsend(&acked, None, false).unwrap();
    alice.lock_now().unwrap();
    for (wait, left) in [(0, 4), (0, 3), (0, 2), (30, 1)] {
        clock.advance(Duration::from_secs(wait));
        assert!(matches!(
            alice.unlock("0000").await.unwrap(),
            Unlock::Wrong { left: l, .. } if l == left
        ));
    }
    clock.advance(Duration::from_secs(60));
    assert_eq!(alice.unlock("0000").await.unwrap(), Unlock::LogOutWhenSent);
    assert_eq!(
        alice.unlock(PASSWORD).await.unwrap(),
        Unlock::LogOutWhenSent,
        "no more tries are taken, not even the right one"
    );
    let says = alice.lock_status().logs_out_when.unwrap();
    assert!(
        says.contains("the 2 messages and 1 change to a message waiting to be sent have gone"),
        "{says}"
    );
    assert!(
        !alice.begin_ending_after_tries(),
        "two messages and an unsend wait"
    );
    assert!(cache.exists(), "her messages are still there");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), alice.sends_settled())
            .await
            .is_err(),
        "offline, they have not gone"
    );

    // The server is back: they go, once each, and then the session may end.
    let _server = InProcessServer::start(data.path(), port).await;
    alice.disconnect().await;
    alice.connect();
    tokio::time::timeout(PATIENCE, alice.sends_settled())
        .await
        .expect("the messages were sent");
    let held = server_messages(&url, "dr.patel", &conversation).await;
    for n in 1..=2 {
        let text = format!("{tag} {n}");
        assert_eq!(
            held.iter().filter(|m| m.content == text).count(),
            1,
            "{text}"
        );
    }
    let taken_back = held.iter().find(|m| m.id == acked).unwrap();
    assert!(
        taken_back.retracted.is_some(),
        "the unsend reached the clinic"
    );
    assert!(alice.begin_ending_after_tries());
    alice.logout().await.unwrap();
    assert!(!cache.exists(), "a shared PC keeps no cache after logout");
}

/// A personal computer keeps its cache at logout: messages written offline wait there for her
/// next sign-in, so the 5th wrong try logs out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_tries_on_a_personal_pc_log_out_at_once_and_keep_its_messages() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&url, profile.path(), "alice", &clock).await;
    alice.set_lock_policy(Device::Personal, None).unwrap();
    let conversation = alice.conversation_with("dr.patel").unwrap();
    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    let cache = Profile::new(profile.path()).cache_path(&session);
    server.stop().await;
    wait_until(&alice, "offline", || {
        !matches!(alice.state(), ConnectionState::Online)
    })
    .await;
    alice
        .send(&conversation, &prefix("kept-for-later"), false)
        .unwrap();
    alice.lock_now().unwrap();
    let mut last = None;
    for wait in [0, 0, 0, 30, 60] {
        clock.advance(Duration::from_secs(wait));
        last = Some(alice.unlock("0000").await.unwrap());
    }
    assert_eq!(last, Some(Unlock::LogOut), "nothing here is lost by it");
    assert!(cache.exists(), "her message waits in the cache");
}

/// A shared computer does not stay signed in for ever: 12 hours after the wrong tries ran out,
/// the session ends though its messages could not go, and says they were deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_pc_waits_for_its_messages_only_so_long() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&url, profile.path(), "alice", &clock).await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    server.stop().await;
    wait_until(&alice, "offline", || {
        !matches!(alice.state(), ConnectionState::Online)
    })
    .await;
    alice
        .send(&conversation, &prefix("never-went"), false)
        .unwrap();
    alice.lock_now().unwrap();
    for wait in [0, 0, 0, 30, 60] {
        clock.advance(Duration::from_secs(wait));
        alice.unlock("0000").await.unwrap();
    }
    assert!(alice.tries_ran_out());
    assert!(!alice.begin_ending_after_tries(), "a message waits");
    clock.advance(Duration::from_secs(12 * 3600 - 60));
    assert!(!alice.begin_ending_after_tries(), "not yet 12 hours");
    clock.advance(Duration::from_secs(120));
    tokio::time::timeout(Duration::from_secs(10), alice.sends_settled())
        .await
        .expect("past 12 hours, the message no longer holds the logout");
    let why = clinic_client::lock::sentences::logged_out_after_tries(&alice, false);
    assert!(
        why.contains(
            "The 1 message waiting to be sent was deleted with this computer's messages: it had \
             not reached the clinic in 12 hours."
        ),
        "{why}"
    );
    assert!(alice.begin_ending_after_tries());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinics_server_sets_the_longest_idle_time_and_users_may_only_shorten_it() {
    let data = demo_data_dir();
    let profile = tempfile::tempdir().unwrap();
    let server = InProcessServer::start_with(data.path(), 0, |config| {
        config.lock_shared_idle = Duration::from_secs(2 * 60);
        config.lock_personal_idle = Duration::from_secs(7 * 60);
    })
    .await;
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let alice = signed_in(&server.url(), profile.path(), "alice", &clock).await;
    // Told on sign-in: a shared computer locks after the clinic's 2 minutes, not the default 5.
    poll_until("the clinic's lock policy", || {
        alice.lock_status().idle_limit_secs == 120
    })
    .await;
    // A user asking for longer gets the clinic's longest; shorter is kept.
    alice
        .set_lock_policy(Device::Personal, Some(Duration::from_secs(30 * 60)))
        .unwrap();
    assert_eq!(alice.lock_status().idle_limit_secs, 7 * 60);
    alice
        .set_lock_policy(Device::Personal, Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(alice.lock_status().idle_limit_secs, 60);
    alice.set_lock_policy(Device::Shared, None).unwrap();
    // It holds offline and after a restart: the policy is kept with the cache.
    alice.disconnect().await;
    drop(alice);
    server.crash();
    let mut options = options(profile.path());
    options.clock = Arc::clone(&clock) as Arc<dyn Clock>;
    let again = Client::open(options).unwrap();
    assert_eq!(again.lock_status().idle_limit_secs, 120);
    // And it locks then.
    clock.advance(Duration::from_secs(121));
    assert!(
        again.check_idle().unwrap(),
        "locked after the clinic's 2 minutes"
    );
    assert!(again.lock_status().locked);
}

/// What the page writes is kept in the encrypted cache: refused while locked, handed over at
/// locking and back after unlocking, still there after a restart, forgotten at logout; blank
/// drafts forget, oversized ones are refused (or left out of what a locking page hands over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_survive_a_lock_and_a_restart_and_go_at_logout() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let profile = tempfile::tempdir().unwrap();
    let alice = signed_in(&server.url(), profile.path(), "alice", &clock).await;
    alice.save_draft("u|p:d", "Half written").unwrap();
    alice.save_draft("u|p:e", "Gone soon").unwrap();
    alice.save_draft("u|p:e", " \n").unwrap();
    let huge = "x".repeat(4 * clinic_protocol::limits::MAX_CONTENT_BYTES + 1);
    assert!(matches!(
        alice.save_draft("u|huge", &huge),
        Err(ClientError::Invalid(_))
    ));
    // Saved while short; handed over too long at locking: not the field's text, so forgotten.
    alice.save_draft("u|huge", "An older, short text").unwrap();
    alice.set_pin("8203").unwrap();
    alice.lock_now().unwrap();
    assert!(matches!(
        alice.save_draft("u|p:d", "typed while locked"),
        Err(ClientError::Locked)
    ));
    assert!(matches!(alice.drafts(), Err(ClientError::Locked)));
    // The page hands over what it was writing as it locks: the newest text wins.
    alice
        .keep_drafts(
            [
                ("u|p:d", "Half written question"),
                ("u|note:e-1", "Called her, ambulance sent."),
                ("u|blank", "  \n"),
                ("u|huge", huge.as_str()),
            ]
            .into_iter()
            .map(|(k, t)| (k.to_owned(), t.to_owned()))
            .collect(),
        )
        .unwrap();
    assert_eq!(alice.unlock("8203").await.unwrap(), Unlock::Unlocked);
    let expected = [
        ("u|note:e-1", "Called her, ambulance sent."),
        ("u|p:d", "Half written question"),
    ];
    let sorted = |drafts: clinic_client::Drafts| {
        let mut all: Vec<(String, String)> = drafts.into_iter().collect();
        all.sort_unstable();
        all
    };
    let owned: Vec<(String, String)> = expected
        .iter()
        .map(|(k, t)| ((*k).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(sorted(alice.drafts().unwrap()), owned);
    assert_eq!(
        sorted(alice.drafts().unwrap()),
        owned,
        "not handed back once only"
    );
    // A restart (or a crash: every save is a commit) keeps them.
    alice.disconnect().await;
    drop(alice);
    let mut reopened = options(profile.path());
    reopened.clock = Arc::clone(&clock) as Arc<dyn Clock>;
    let again = Client::open(reopened).unwrap();
    assert_eq!(sorted(again.drafts().unwrap()), owned);
    // Logging out forgets them, also on a personal computer where the cache stays.
    again.set_lock_policy(Device::Personal, None).unwrap();
    again.connect();
    again.wait_online(PATIENCE).await.unwrap();
    again.logout().await.unwrap();
    let alice = signed_in(&server.url(), profile.path(), "alice", &clock).await;
    assert!(alice.drafts().unwrap().is_empty());
}

/// The lock's state is in the session's encrypted cache: deleting `lock.json` does not unlock
/// the app, the file shows no password hash to guess at, and a state that is gone or damaged
/// (a cache started afresh, someone's edit) leaves the app locked until the password, checked
/// with the server, opens it (a wrong one counts as a wrong try).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_holds_without_its_file_and_a_lost_state_takes_the_password_from_the_server() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let dir = tempfile::tempdir().unwrap();
    let alice = signed_in(&url, dir.path(), "alice", &clock).await;
    alice.set_pin("8203").unwrap();
    alice
        .set_lock_policy(Device::Personal, Some(Duration::from_secs(120)))
        .unwrap();
    alice.lock_now().unwrap();
    alice.disconnect().await;
    drop(alice);
    let file = std::fs::read_to_string(dir.path().join("lock.json")).unwrap();
    assert!(
        !file.contains("argon2") && !file.contains("locked"),
        "{file}"
    );

    std::fs::remove_file(dir.path().join("lock.json")).unwrap();
    let open = || {
        let mut options = options(dir.path());
        options.clock = Arc::clone(&clock) as Arc<dyn Clock>;
        Client::open(options).unwrap()
    };
    let alice = open();
    assert!(alice.is_locked(), "deleting the file does not unlock");
    let conversation = alice.conversation_with("dr.patel").unwrap();
    assert!(matches!(
        alice.history(&conversation, 10, None),
        Err(ClientError::Locked)
    ));
    assert_eq!(alice.unlock("8203").await.unwrap(), Unlock::Unlocked);
    alice.lock_now().unwrap();
    drop(alice);

    // Someone damages the state in the cache (as a cache started afresh would lose it).
    set_lock_state(dir.path(), "{");
    let profile = Profile::new(dir.path());
    let session = profile.load_session().unwrap().unwrap();
    let alice = open();
    assert!(alice.is_locked());
    assert!(
        matches!(alice.unlock("8203").await.unwrap(), Unlock::Wrong { .. }),
        "the PIN is no longer known here"
    );
    assert!(matches!(
        alice.unlock("not her password").await.unwrap(),
        Unlock::Wrong { .. }
    ));
    assert_eq!(alice.unlock(PASSWORD).await.unwrap(), Unlock::Unlocked);
    assert!(alice.history(&conversation, 10, None).is_ok());
    // The password checked is remembered: the next unlock needs no server.
    alice.lock_now().unwrap();
    drop(server);
    assert_eq!(alice.unlock(PASSWORD).await.unwrap(), Unlock::Unlocked);
    alice.lock_now().unwrap();
    drop(alice);

    // Someone deletes the cache and plants an unlocked state where an earlier version kept it:
    // beside a cache made now, that file is nobody's word.
    for suffix in ["", "-wal", "-shm"] {
        let mut file = profile.cache_path(&session).into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(&file);
    }
    let plant = || {
        let unlocked = r#"{"locked":false,"failures":0}"#;
        std::fs::write(dir.path().join("lock.json"), unlocked).unwrap();
    };
    plant();
    let alice = open();
    assert!(alice.is_locked(), "a planted lock.json does not unlock");
    assert!(matches!(
        alice.history(&conversation, 10, None),
        Err(ClientError::Locked)
    ));
    // Nor beside the cache that start made, planted once more for the next start.
    drop(alice);
    plant();
    let alice = open();
    assert!(alice.is_locked(), "the vault's state is the one read");
}
