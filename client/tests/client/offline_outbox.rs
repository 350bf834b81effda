//! 200 messages sent while the server is down are all delivered, once each and in order, when
//! it comes back; the client reconnects by itself.

#![allow(clippy::unwrap_used)]

use crate::common;

use chrono::{DateTime, Utc};

use clinic_client::cache::{CacheKey, key_account};
use clinic_client::{
    Cache, Client, ConnectionState, CredentialStore, FileStore, LocalMessage, Profile,
};
use clinic_protocol::MessageStatus;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_while_the_server_is_down_are_delivered_once_in_order() {
    let AliceAndPatel {
        data,
        profile: _profile,
        server,
        port,
        url,
        alice: client,
        conversation,
    } = alice_and_patel().await;
    drop(server);

    // The client keeps trying in the background while the user writes.
    client.connect();
    let mut state = client.watch_state();
    tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, ConnectionState::Offline { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    // While it tries again, it still says why the last try failed.
    let trying = tokio::time::timeout(
        PATIENCE,
        state
            .wait_for(|s| matches!(s, ConnectionState::Connecting { attempt, .. } if *attempt > 1)),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    let ConnectionState::Connecting { last_error, .. } = trying else {
        unreachable!()
    };
    // (Refused, or closed by a server still going away: either way a sentence.)
    let said = last_error.unwrap_or_default();
    assert!(
        said.starts_with("The ") && said.ends_with('.') && !said.contains("os error"),
        "{said}"
    );
    let tag = prefix("offline");
    let expected = numbered(&tag, 200);
    let mut events = client.subscribe();
    for text in &expected {
        let m = client.send(&conversation, text, false).unwrap();
        assert_eq!(m.status, MessageStatus::Sending);
    }
    // The list is told, and shows the last one written as the conversation's last message.
    let mut told = false;
    while let Ok(event) = events.try_recv() {
        told |= matches!(event, clinic_client::ClientEvent::ConversationsChanged);
    }
    assert!(told, "a send offline changes the conversation list");
    let list = client.conversation_list().unwrap();
    let last = list
        .iter()
        .find(|c| c.doctor_id == conversation.doctor_id)
        .and_then(|c| c.last_message.as_ref())
        .map(|m| m.content.clone());
    assert_eq!(last.as_ref(), expected.last());
    assert_eq!(client.queued(), 200);
    let pending = client.history(&conversation, 1000, None).unwrap();
    assert_eq!(
        local_contents(&pending, &tag),
        expected,
        "optimistic copies show at once, in order"
    );

    let _server = InProcessServer::start(data.path(), port).await;
    client.wait_online(PATIENCE).await.unwrap();
    client.wait_outbox_empty(PATIENCE).await.unwrap();

    let stored = server_messages(&url, "dr.patel", &conversation).await;
    let on_server = contents_with(stored.iter().map(|m| m.content.as_str()), &tag);
    assert_eq!(on_server, expected, "each message once, in order");

    let local = client.history(&conversation, 1000, None).unwrap();
    assert_eq!(
        local_contents(&local, &tag),
        expected,
        "no local duplicates"
    );
    let mine: Vec<_> = local
        .iter()
        .filter(|m| m.content.starts_with(&tag))
        .collect();
    assert!(
        mine.iter()
            .all(|m| m.is_acked() && m.status >= MessageStatus::Sent)
    );
    assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(client.failed_count().unwrap(), 0);
    client.disconnect().await;
}

/// "N messages waiting to send" is told as soon as the outbox shrinks, not at the next
/// connection change: once online, the last count told is 0 while the state stays online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_count_is_told_as_soon_as_sends_are_delivered() {
    let AliceAndPatel {
        data,
        profile: _profile,
        server,
        port,
        url: _url,
        alice: client,
        conversation,
    } = alice_and_patel().await;
    drop(server);
    client.connect();
    let mut state = client.watch_state();
    tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, ConnectionState::Offline { .. })),
    )
    .await
    .unwrap()
    .unwrap();
    let mut events = client.subscribe();
    let tag = prefix("waiting");
    for text in numbered(&tag, 2) {
        client.send(&conversation, &text, false).unwrap();
    }
    let _server = InProcessServer::start(data.path(), port).await;
    client.wait_outbox_empty(PATIENCE).await.unwrap();
    // The count reaches the UI as a connection event; the last one told must say 0, and the
    // counts told while online went down to it without another state change.
    let told_zero_online = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(clinic_client::ClientEvent::Connection {
                    state: ConnectionState::Online,
                    queued: 0,
                    failed: 0,
                }) => return true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(
        told_zero_online,
        "no 'online, 0 waiting' event after delivery"
    );
    assert_eq!(client.queued(), 0);
    client.disconnect().await;
}

/// The demo clinic with a message of alice's (an emergency or not) written two hours ago and
/// sent now: it waited in the outbox of her closed app, and the app was opened again and has
/// delivered it. Returns the clinic (with the reopened app) and the message's text.
async fn sent_two_hours_late(name: &str, emergency: bool) -> (AliceAndPatel, String) {
    let clinic = alice_and_patel().await;
    let AliceAndPatel {
        profile,
        alice,
        conversation,
        ..
    } = &clinic;
    let tag = prefix(name);
    alice.disconnect().await;
    let saved = Profile::new(profile.path());
    let session = saved.load_session().unwrap().unwrap();
    let key = FileStore::new(profile.path().join("credentials"))
        .load(&key_account(&session.account()))
        .unwrap()
        .and_then(|hex| CacheKey::from_hex(&hex))
        .unwrap();
    let cache = Cache::open(&saved.cache_path(&session), &key).unwrap();
    let mut message = LocalMessage::pending(conversation, &session.user.id, &tag, emergency);
    message.created_at -= chrono::Duration::hours(2);
    message.updated_at = message.created_at;
    cache.enqueue(&message, None).unwrap();
    drop(cache);
    let alice = Client::open(options(profile.path())).unwrap();
    alice.connect();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    (AliceAndPatel { alice, ..clinic }, tag)
}

/// An emergency written offline: `clinic emergencies` on the doctor's computer says when, in its
/// lines and its JSON, without having the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_that_waited_says_when_in_the_doctors_terminal() {
    let (
        AliceAndPatel {
            data: _data,
            server: _server,
            url,
            alice,
            conversation,
            ..
        },
        tag,
    ) = sent_two_hours_late("fainted", true).await;
    let sent = alice
        .history(&conversation, 100, None)
        .unwrap()
        .into_iter()
        .find(|m| m.content == tag && m.is_acked())
        .unwrap();
    let written = sent
        .written_at
        .expect("the server says when it was written");

    let patel = tempfile::tempdir().unwrap();
    assert!(cli_login(patel.path(), &url, "dr.patel", PASSWORD));
    let run = |args: &[&str]| {
        let out = clinic(patel.path())
            .args(args)
            .env("TZ", INDIA)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = run(&["emergencies"]);
    let line = listed.lines().find(|l| l.contains(" RAISED ")).unwrap();
    assert!(
        line.ends_with(&written_note(written, sent.created_at)),
        "{line}"
    );
    assert!(
        line.contains(&format!("(raised {})", in_india(sent.created_at))),
        "{line}"
    );
    let listed: serde_json::Value = serde_json::from_str(&run(&["emergencies", "--json"])).unwrap();
    let at: chrono::DateTime<chrono::Utc> =
        listed[0]["writtenAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, written, "{listed}");
}

/// A reading written two hours before the app could send it (it waited in the outbox while the
/// app was closed) reaches the server saying when it was written, and the sender's cache keeps
/// the server's word for it, offline too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_waited_hours_says_when_it_was_written() {
    let (
        AliceAndPatel {
            data: _data,
            profile,
            server: _server,
            url,
            alice,
            conversation,
            ..
        },
        tag,
    ) = sent_two_hours_late("written", false).await;
    let stored = server_messages(&url, "dr.patel", &conversation).await;
    let on_server = stored.iter().find(|m| m.content == tag).unwrap();
    let written = on_server
        .written_at
        .expect("the server says when it was written");
    let waited = on_server.created_at - written;
    assert!(
        waited >= chrono::Duration::hours(2) && waited < chrono::Duration::minutes(122),
        "waited {waited}"
    );
    alice.disconnect().await;
    let mine = alice.history(&conversation, 100, None).unwrap();
    let mine = mine.iter().find(|m| m.content == tag).unwrap();
    assert!(mine.is_acked());
    assert_eq!(mine.written_at, Some(written));
    drop(alice);
    // `clinic history` says both times: when the server took it, then when it was written.
    let out = clinic(profile.path())
        .args(["history", "--with", "dr.patel"])
        .env("TZ", INDIA)
        .output()
        .unwrap();
    let history = String::from_utf8(out.stdout).unwrap();
    let line = history.lines().find(|l| l.contains(&tag)).unwrap();
    assert!(line.starts_with(&in_india(on_server.created_at)), "{line}");
    // And so does `clinic search`.
    let out = clinic(profile.path())
        .args(["search", "--", &tag])
        .env("TZ", INDIA)
        .output()
        .unwrap();
    let found = String::from_utf8(out.stdout).unwrap();
    let hit = found
        .lines()
        .find(|l| l.contains(&tag))
        .unwrap_or_else(|| panic!("{found}"));
    assert!(hit.starts_with(&in_india(on_server.created_at)), "{hit}");
    assert!(
        hit.ends_with(&written_note(written, on_server.created_at)),
        "{hit}"
    );
    assert!(
        line.contains(&format!(
            "{tag}{}",
            written_note(written, on_server.created_at)
        )),
        "{line}"
    );
}

/// The computer's time zone for `clinic` in these tests (a POSIX rule, which needs no tzdata):
/// UTC+05:30, so that printing UTC instead of local time shows.
const INDIA: &str = "IST-5:30";

/// A time as `clinic` prints it at [`INDIA`].
fn in_india(at: DateTime<Utc>) -> String {
    let india = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    at.with_timezone(&india)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// What `clinic` prints, at [`INDIA`], after a message written at `written` and taken by the
/// server at `sent`: the written time's date only when it was another day there.
fn written_note(written: DateTime<Utc>, sent: DateTime<Utc>) -> String {
    let india = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let (written, sent) = (written.with_timezone(&india), sent.with_timezone(&india));
    let format = if written.date_naive() == sent.date_naive() {
        "%H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    format!(" (written {}, sent later)", written.format(format))
}
