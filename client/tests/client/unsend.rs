//! Unsend / retract and edit between real clients and the real server: a tombstone reaches an
//! offline recipient at its next sync, and its cache file and local search index lose the text
//! (checked in the decrypted file after a checkpoint); the files go from both computers; an
//! unsend queued offline that the server refuses as too late leaves the message standing with an
//! honest notice; an edit queued offline reaches the other side once; emergencies refuse both.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::cache::key_account;
use clinic_client::record::ChangeKind;
use clinic_client::{Client, CredentialStore, FileStore, LocalMessage, Profile};
use clinic_protocol::{ConversationKey, MessageId};
use common::*;
use std::path::Path;

/// A 1x1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

fn find(client: &Client, conversation: &ConversationKey, tag: &str) -> Option<LocalMessage> {
    client
        .history(conversation, 500, None)
        .unwrap()
        .into_iter()
        .find(|m| m.content.contains(tag) || m.file_name.as_deref() == Some(tag))
}

fn by_id(client: &Client, conversation: &ConversationKey, id: &MessageId) -> LocalMessage {
    client
        .history(conversation, 500, None)
        .unwrap()
        .into_iter()
        .find(|m| m.id.as_ref() == Some(id))
        .unwrap()
}

/// Sends `text` from `from` and waits until `to` holds it; returns its server id.
async fn sent_and_received(
    from: &Client,
    to: &Client,
    conversation: &ConversationKey,
    text: &str,
) -> MessageId {
    from.send(conversation, text, false).unwrap();
    from.wait_outbox_empty(PATIENCE).await.unwrap();
    wait_until(to, "the message arrives", || {
        find(to, conversation, text).is_some()
    })
    .await;
    find(from, conversation, text).unwrap().id.unwrap()
}

/// The profile's cache, opened with its key from the credential file.
fn open_cache(profile: &Path) -> rusqlite::Connection {
    let p = Profile::new(profile);
    let session = p.load_session().unwrap().unwrap();
    let key = FileStore::new(profile.join("credentials"))
        .load(&key_account(&session.account()))
        .unwrap()
        .unwrap();
    let conn = rusqlite::Connection::open(p.cache_path(&session)).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{key}'\";"))
        .unwrap();
    conn
}

/// The cache's content decrypted into a plaintext copy, after a checkpoint (so the log is in
/// the file): its bytes, and whether the local search index still matches `token`.
fn decrypted_bytes_and_matches(profile: &Path, token: &str) -> (Vec<u8>, i64) {
    let conn = open_cache(profile);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let matches: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM search_words WHERE search_words MATCH ?1)
                  + (SELECT count(*) FROM search_parts WHERE search_parts MATCH ?1)",
            [format!("\"{token}\"")],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch(
        "INSERT INTO search_words (search_words) VALUES ('integrity-check');
         INSERT INTO search_parts (search_parts) VALUES ('integrity-check');",
    )
    .unwrap();
    let plain = profile.join("plain-copy.db");
    conn.execute(
        "ATTACH DATABASE ?1 AS plain KEY ''",
        [plain.to_string_lossy()],
    )
    .unwrap();
    conn.query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
        .unwrap();
    conn.execute_batch("DETACH DATABASE plain").unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    std::fs::remove_file(&plain).unwrap();
    (bytes, matches)
}

/// Makes message `id` two days old on the server (past the unsend window), as another process
/// editing the serving database: the send log is moved first so the message is in `messages`.
fn two_days_old(data: &Path, id: &str) {
    clinic_server::testing::move_log(data).unwrap();
    let db = rusqlite::Connection::open(data.join("clinic.db")).unwrap();
    let aged = db
        .execute(
            "UPDATE messages SET created_at = created_at - 2 * 86400000 WHERE id = ?1",
            [id],
        )
        .unwrap();
    assert_eq!(aged, 1);
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_recipient_loses_the_text_from_its_cache_and_index_at_the_next_sync() {
    let BothOnline {
        data: _data,
        profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let token = format!(
        "zyxquetiapine{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let id = sent_and_received(
        &alice,
        &patel,
        &conversation,
        &format!("I take {token} daily"),
    )
    .await;
    let (bytes, matches) = decrypted_bytes_and_matches(profiles.1.path(), &token);
    assert!(
        holds(&bytes, &token),
        "the control: the text is in patel's cache"
    );
    assert_eq!(matches, 2, "and in both of its search indexes");

    patel.disconnect().await;
    let unsent = alice.unsend(&id, None, false).unwrap();
    assert_eq!(
        unsent.pending_change.as_ref().map(|p| p.kind),
        Some(ChangeKind::Retract),
        "shown at once"
    );
    wait_until(&alice, "the server confirms the unsend", || {
        let m = by_id(&alice, &conversation, &id);
        m.retracted.is_some() && m.pending_change.is_none()
    })
    .await;
    let mine = by_id(&alice, &conversation, &id);
    assert_eq!(mine.content, "");
    assert_eq!(mine.retracted.as_ref().unwrap().by, conversation.patient_id);

    patel.connect();
    patel.wait_online(PATIENCE).await.unwrap();
    wait_until(&patel, "the tombstone reaches patel", || {
        by_id(&patel, &conversation, &id).retracted.is_some()
    })
    .await;
    let theirs = by_id(&patel, &conversation, &id);
    assert_eq!(theirs.content, "");
    assert_eq!(theirs.retracted, mine.retracted);
    patel.disconnect().await;

    for (who, profile) in [("patel", profiles.1.path()), ("alice", profiles.0.path())] {
        let (bytes, matches) = decrypted_bytes_and_matches(profile, &token);
        assert!(
            !holds(&bytes, &token),
            "{who}'s cache file still holds the text"
        );
        assert_eq!(matches, 0, "{who}'s search index still finds it");
        for file in files_under(profile) {
            let raw = std::fs::read(&file).unwrap();
            assert!(!holds(&raw, &token), "{} holds the text", file.display());
        }
    }
    // Nor does the server's search (the cache's index was asked above).
    let found = patel.search(&token, None, None).await.unwrap();
    assert!(found.results.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_attachment_leaves_both_computers() {
    let BothOnline {
        data: _data,
        profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let name = format!("{}.png", prefix("rash"));
    let source = profiles.0.path().join("outside.png");
    std::fs::write(&source, PNG).unwrap();
    let queued = alice
        .send_with_attachment(&conversation, "", false, &source)
        .unwrap();
    std::fs::remove_file(&source).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let _ = name;
    wait_until(&patel, "the file's message arrives", || {
        patel
            .history(&conversation, 500, None)
            .unwrap()
            .iter()
            .any(|m| m.client_id == queued.client_id && m.id.is_some())
    })
    .await;
    let downloaded = attachment_copy(&patel, &queued).await;
    let copy = attachment_copy(&alice, &queued).await;
    assert!(downloaded.is_file() && copy.is_file());
    let id = alice
        .history(&conversation, 500, None)
        .unwrap()
        .into_iter()
        .find(|m| m.client_id == queued.client_id)
        .unwrap()
        .id
        .unwrap();

    alice.unsend(&id, None, false).unwrap();
    wait_until(&patel, "the tombstone reaches patel", || {
        by_id(&patel, &conversation, &id).retracted.is_some()
    })
    .await;
    poll_until("both copies are deleted", || {
        !downloaded.exists() && !copy.exists()
    })
    .await;
    let tomb = by_id(&patel, &conversation, &id);
    assert!(tomb.file_url.is_none() && tomb.file_name.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsend_queued_offline_and_refused_as_too_late_leaves_the_message_and_says_so() {
    let BothOnline {
        data,
        profiles: _profiles,
        server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let text = format!("{} my blood pressure is 150/95", prefix("late"));
    let id = sent_and_received(&alice, &patel, &conversation, &text).await;
    alice.disconnect().await;

    // While alice is offline the window passes: the message is two days old on the server.
    two_days_old(data.path(), id.as_str());
    // Alice's computer still thinks it is in time, so it queues the unsend and shows it.
    let queued = alice.unsend(&id, None, false).unwrap();
    assert!(queued.pending_change.is_some());

    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&alice, "the server's refusal", || {
        by_id(&alice, &conversation, &id).change_notice.is_some()
    })
    .await;
    let stands = by_id(&alice, &conversation, &id);
    let notice = stands.change_notice.clone().unwrap();
    assert!(notice.starts_with("Couldn't unsend: too late."), "{notice}");
    assert!(notice.contains("ended at"), "{notice}");
    assert_eq!(
        notice.to_lowercase().matches("too late").count(),
        1,
        "said once: {notice}"
    );
    assert_eq!(stands.content, text, "nothing is lost");
    assert!(stands.retracted.is_none() && stands.pending_change.is_none());
    // The server and the other side still have it.
    let on_server = server_messages(&server.url(), "alice", &conversation).await;
    let kept = on_server.iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        (kept.content.as_str(), kept.retracted.is_none()),
        (text.as_str(), true)
    );
    assert_eq!(by_id(&patel, &conversation, &id).content, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_queued_offline_arrives_once_with_its_versions_and_emergencies_refuse_both() {
    let BothOnline {
        data: _data,
        profiles: _profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let tag = prefix("edit");
    let first = format!("{tag} headache since monday");
    let id = sent_and_received(&alice, &patel, &conversation, &first).await;
    alice.disconnect().await;
    let second = format!("{tag} headache since sunday");
    let shown = alice.edit(&id, &second).unwrap();
    assert_eq!(
        shown
            .pending_change
            .as_ref()
            .and_then(|p| p.content.clone()),
        Some(second.clone())
    );
    assert!(
        alice
            .edit(&id, "  ")
            .unwrap_err()
            .to_string()
            .contains("unsend it")
    );

    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    wait_until(&patel, "the edit reaches patel", || {
        by_id(&patel, &conversation, &id).content == second
    })
    .await;
    let theirs = by_id(&patel, &conversation, &id);
    assert_eq!(theirs.edited.unwrap().version, 2);
    wait_until(&alice, "alice's edit settles", || {
        by_id(&alice, &conversation, &id).pending_change.is_none()
    })
    .await;
    let versions = patel.versions(&id).await.unwrap();
    let texts: Vec<&str> = versions
        .versions
        .iter()
        .map(|v| v.content.as_str())
        .collect();
    assert_eq!(texts, [first.as_str(), second.as_str()]);

    // An emergency can be neither unsent nor edited: refused at once, nothing queued.
    alice
        .send(&conversation, &format!("{tag} chest pain"), true)
        .unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let emergency = find(&alice, &conversation, &format!("{tag} chest pain"))
        .unwrap()
        .id
        .unwrap();
    for err in [
        alice.unsend(&emergency, None, false).unwrap_err(),
        alice.edit(&emergency, "fine now").unwrap_err(),
    ] {
        assert!(err.to_string().contains("resolve it with a note"), "{err}");
    }
    assert!(
        by_id(&alice, &conversation, &emergency)
            .pending_change
            .is_none()
    );
    // The other side cannot change alice's message.
    assert!(patel.unsend(&id, None, false).is_err());
    assert!(patel.edit(&id, "mine now").is_err());
}

/// `clinic` output and exit code.
fn cli(profile: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = clinic(profile).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_unsends_edits_retracts_and_shows_tombstones_and_edits_in_history() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let (alice, patel) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, patel) = (alice.path(), patel.path());
    assert!(cli_login(alice, &url, "alice", PASSWORD));
    assert!(cli_login(patel, &url, "dr.patel", PASSWORD));
    let tag = prefix("cli");
    for text in ["first", "second"] {
        let (code, _, err) = cli(
            alice,
            &["send", "--with", "dr.patel", &format!("{tag} {text}")],
        );
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, _, err) = cli(
        patel,
        &["send", "--with", "alice", &format!("{tag} doctor")],
    );
    assert_eq!(code, Some(0), "{err}");
    for profile in [alice, patel, alice] {
        assert_eq!(cli(profile, &["sync"]).0, Some(0));
    }
    let (_, history, _) = cli(alice, &["history", "--with", "dr.patel", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let id_of = |text: &str| {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["content"] == format!("{tag} {text}").as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second, doctors) = (id_of("first"), id_of("second"), id_of("doctor"));

    let (code, out, err) = cli(alice, &["unsend", &first]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Message unsent by alice at"), "{out}");
    let (code, out, err) = cli(alice, &["edit", &second, &tag, "second,", "corrected"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("{tag} second, corrected (edited ")),
        "{out}"
    );
    // Not hers: refused at once, with a sentence and exit 1.
    let (code, _, err) = cli(alice, &["retract", &doctors]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Only the person who sent a message"), "{err}");
    let (code, _, err) = cli(alice, &["edit", &second, " "]);
    assert_eq!(code, Some(1));
    assert!(err.contains("to remove it, unsend it"), "{err}");
    // Edited first: its tombstone says nothing of the edit.
    let (code, _, err) = cli(patel, &["edit", &doctors, &tag, "doctor,", "edited"]);
    assert_eq!(code, Some(0), "{err}");
    // Misdirected needs a reason; the doctor retracts his own with one.
    let (code, _, err) = cli(patel, &["retract", &doctors, "--misdirected"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("with a reason"), "{err}");
    let (code, out, err) = cli(
        patel,
        &[
            "retract",
            &doctors,
            "--misdirected",
            "--reason",
            "wrong patient",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Message retracted by dr.patel at"), "{out}");
    let tombstone = out
        .lines()
        .find(|l| l.contains("Message retracted"))
        .unwrap();
    assert!(!tombstone.contains("(edited"), "{tombstone}");

    assert_eq!(cli(patel, &["sync"]).0, Some(0));
    let (_, lines, _) = cli(patel, &["history", "--with", "alice"]);
    assert!(lines.contains("Message unsent by alice at"), "{lines}");
    assert!(
        lines.contains(&format!("{tag} second, corrected (edited ")),
        "{lines}"
    );
    assert!(!lines.contains(&format!("{tag} first")), "{lines}");

    // Too late on the server (two days old there): exit 5, the sentence, the message stays.
    two_days_old(data.path(), &second);
    let (code, _, err) = cli(alice, &["unsend", &second]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("Couldn't unsend: too late."), "{err}");
    let (_, lines, _) = cli(alice, &["history", "--with", "dr.patel"]);
    assert!(
        lines.contains(&format!("{tag} second, corrected")),
        "{lines}"
    );
    // The server gone: exit 3, the change stays queued.
    let (code, _, err) = cli(
        alice,
        &["send", "--with", "dr.patel", &format!("{tag} third")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(cli(alice, &["sync"]).0, Some(0));
    let (_, history, _) = cli(alice, &["history", "--with", "dr.patel", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let third = history
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"] == format!("{tag} third").as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(server);
    let (code, _, err) = cli(
        alice,
        &["edit", &third, "--timeout", "20", "offline", "fix"],
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("stays queued"), "{err}");
    let (_, lines, _) = cli(alice, &["history", "--with", "dr.patel"]);
    assert!(lines.contains("(edit waiting: offline fix)"), "{lines}");
}
