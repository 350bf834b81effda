//! Attachments end to end with the real server: a file queued offline is uploaded and
//! delivered once on reconnect (the original may be gone by then), the recipient downloads it
//! into its cache, a lost upload is uploaded again, and refused files fail cleanly without
//! holding up later messages.

#![allow(clippy::unwrap_used)]

use crate::common;
use clinic_client::lock::Device;

use clinic_client::{
    Cache, Client, ClientEvent, ConnectionState, FileStore, LocalMessage, Profile,
};
use clinic_protocol::ConversationKey;
use clinic_protocol::rest::UploadResponse;
use clinic_protocol::{ErrorCode, MessageStatus, MessageType};
use common::*;
use std::path::{Path, PathBuf};

/// A 1x1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

/// Waits until `client`'s connection is in a state `reached` accepts.
async fn wait_state(client: &Client, reached: impl Fn(&ConnectionState) -> bool) {
    let mut state = client.watch_state();
    tokio::time::timeout(PATIENCE, state.wait_for(|s| reached(s)))
        .await
        .unwrap()
        .unwrap();
}

async fn wait_offline(client: &Client) {
    wait_state(client, |s| matches!(s, ConnectionState::Offline { .. })).await;
}

/// What a message's attachment holds, read from this computer's copy (sealed on disk).
async fn contents(client: &Client, message: &LocalMessage) -> Vec<u8> {
    client
        .attachment_contents(&message.sender_id, &message.client_id, u64::MAX)
        .await
        .unwrap()
        .unwrap()
        .bytes
}

/// Waits until `client` has `sent` with its file's URL.
async fn wait_for_file(client: &Client, conversation: &ConversationKey, sent: &LocalMessage) {
    wait_until(client, "the file message", || {
        client
            .history(conversation, 50, None)
            .unwrap()
            .iter()
            .any(|m| m.client_id == sent.client_id && m.file_url.is_some())
    })
    .await;
}

/// Writes `bytes` to `path`, sends it with text `tag`, then a plain `tag-after`.
fn file_then_text(
    client: &Client,
    conversation: &ConversationKey,
    path: &Path,
    bytes: &[u8],
    tag: &str,
) -> (LocalMessage, LocalMessage) {
    std::fs::write(path, bytes).unwrap();
    let file = client
        .send_with_attachment(conversation, tag, false, path)
        .unwrap();
    let text = client
        .send(conversation, &format!("{tag}-after"), false)
        .unwrap();
    (file, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_queued_offline_is_delivered_once_on_reconnect() {
    let AliceAndPatel {
        data,
        profile: _profile,
        server,
        port,
        url,
        alice,
        conversation,
    } = alice_and_patel().await;
    let files = tempfile::tempdir().unwrap();
    drop(server);
    alice.connect();
    wait_offline(&alice).await;

    let original = files.path().join("scan.png");
    let tag = prefix("file");
    let (sent, after) = file_then_text(&alice, &conversation, &original, PNG, &tag);
    assert_eq!(sent.status, MessageStatus::Sending);
    assert_eq!(sent.message_type, MessageType::File);
    assert_eq!(sent.file_name.as_deref(), Some("scan.png"));
    let local_copy = sent.local_file_path.clone().unwrap();
    let on_disk = std::fs::read(&local_copy).unwrap();
    assert!(!on_disk.windows(PNG.len()).any(|w| w == PNG), "sealed");
    assert_eq!(contents(&alice, &sent).await, PNG);
    // The user may delete the original while the message waits.
    std::fs::remove_file(&original).unwrap();
    assert_eq!(alice.queued(), 2);

    let mut events = alice.subscribe();
    let _server = InProcessServer::start(data.path(), port).await;
    alice.wait_online(PATIENCE).await.unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();

    let mut progress = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let ClientEvent::UploadProgress {
            client_id,
            sent: bytes,
            total,
        } = event
        {
            assert_eq!(client_id, sent.client_id);
            progress.push((bytes, total));
        }
    }
    assert_eq!(progress.last(), Some(&(PNG.len() as u64, PNG.len() as u64)));

    let stored = server_messages(&url, "dr.patel", &conversation).await;
    let ours: Vec<_> = stored
        .iter()
        .filter(|m| m.content.starts_with(&tag))
        .collect();
    assert_eq!(ours.len(), 2, "the file message once, then the text");
    assert_eq!(ours[0].client_id, sent.client_id);
    assert_eq!(ours[1].client_id, after.client_id);
    let file_message = ours[0];
    assert_eq!(file_message.message_type, MessageType::File);
    assert_eq!(file_message.file_name.as_deref(), Some("scan.png"));
    assert_eq!(file_message.file_size, Some(PNG.len() as u64));
    assert_eq!(file_message.file_type.as_deref(), Some("image/png"));
    assert_eq!(
        std::fs::read_dir(data.path().join("files"))
            .unwrap()
            .count(),
        1,
        "one stored file"
    );

    // The acked copy keeps the local file; the sender opens it without a download.
    let acked = alice.message(&sent.client_id).unwrap().unwrap();
    assert!(acked.is_acked());
    assert_eq!(acked.local_file_path.as_deref(), Some(local_copy.as_str()));
    assert_eq!(
        alice
            .attachment_path(&sent.sender_id, &sent.client_id)
            .await
            .unwrap(),
        Some(local_copy.clone().into())
    );

    // The doctor gets it like any message and downloads it into the profile cache.
    let doctor_profile = tempfile::tempdir().unwrap();
    let doctor = login(&url, doctor_profile.path(), "dr.patel").await;
    doctor.connect();
    doctor.wait_online(PATIENCE).await.unwrap();
    let history = doctor.history(&conversation, 1000, None).unwrap();
    let received = history
        .iter()
        .find(|m| m.client_id == sent.client_id)
        .unwrap();
    assert_eq!(received.file_url, file_message.file_url);
    let path = attachment_copy(&doctor, received).await;
    assert!(path.starts_with(doctor_profile.path()));
    assert_eq!(path.file_name().unwrap(), "scan.png");
    assert_ne!(std::fs::read(&path).unwrap(), PNG, "sealed");
    assert_eq!(contents(&doctor, received).await, PNG);
    // Health data on disk: the sender's copy and the download are readable by their owner only.
    #[cfg(unix)]
    for file in [std::path::Path::new(&local_copy), path.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    // A text message has no attachment.
    assert_eq!(
        doctor
            .attachment_path(&after.sender_id, &after.client_id)
            .await
            .unwrap(),
        None
    );
    // Logging out of a shared computer leaves no file behind, sent or received; a personal
    // computer keeps them with the history.
    assert_eq!(doctor.lock_status().device, Device::Shared, "the default");
    doctor.logout().await.unwrap();
    assert!(!path.exists(), "the download is gone");
    assert!(!doctor_profile.path().join("attachments").exists());
    alice.set_lock_policy(Device::Personal, None).unwrap();
    alice.logout().await.unwrap();
    assert!(
        std::path::Path::new(&local_copy).exists(),
        "kept on a personal computer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_server_lost_is_uploaded_again() {
    let AliceAndPatel {
        data,
        profile,
        server,
        port,
        url,
        alice,
        conversation,
    } = alice_and_patel().await;
    drop(server);

    let original = profile.path().join("notes.txt");
    std::fs::write(&original, "blood pressure 120/80\n").unwrap();
    let tag = prefix("lost");
    let sent = alice
        .send_with_attachment(&conversation, &tag, false, &original)
        .unwrap();
    // As if it had been uploaded before a crash and the server swept it since.
    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    let store = FileStore::new(profile.path().join("credentials"));
    let cache = Cache::open_with_store(
        &Profile::new(profile.path()).cache_path(&session),
        &store,
        &session.account(),
    )
    .unwrap()
    .cache;
    let gone = UploadResponse {
        file_url: format!("/api/files/{}", "0".repeat(32)),
        file_name: "notes.txt".into(),
        size: 22,
        content_type: "text/plain; charset=utf-8".into(),
    };
    assert!(
        cache
            .set_uploaded(&alice.user().id, sent.client_id.as_str(), &gone)
            .unwrap()
            .is_some()
    );
    drop(cache);

    let _server = InProcessServer::start(data.path(), port).await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let stored = server_messages(&url, "alice", &conversation).await;
    let ours: Vec<_> = stored.iter().filter(|m| m.content == tag).collect();
    assert_eq!(ours.len(), 1);
    assert_ne!(ours[0].file_url, Some(gone.file_url));
    assert_eq!(
        ours[0].file_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(alice.failed_count().unwrap(), 0);
    alice.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_files_fail_cleanly_and_do_not_hold_up_the_queue() {
    // Bound, not `_`: the server and its folders must live to the end of the test.
    let AliceAndPatel {
        data: _data,
        profile,
        server: _server,
        url,
        alice,
        conversation,
        ..
    } = alice_and_patel().await;

    // Refused at once, before anything is queued.
    let missing =
        alice.send_with_attachment(&conversation, "x", false, &profile.path().join("nope.pdf"));
    assert_eq!(missing.unwrap_err().kind(), "invalid");
    let empty = profile.path().join("empty.pdf");
    std::fs::write(&empty, b"").unwrap();
    assert!(
        alice
            .send_with_attachment(&conversation, "x", false, &empty)
            .is_err()
    );
    let huge = profile.path().join("huge.pdf");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(26 * 1024 * 1024).unwrap();
    match alice.send_with_attachment(&conversation, "x", false, &huge) {
        Err(clinic_client::ClientError::Server { code, .. }) => {
            assert_eq!(code, ErrorCode::TooLarge);
        }
        other => panic!("expected too_large, got {other:?}"),
    }
    assert_eq!(alice.queued(), 0);

    // An executable renamed .pdf is refused by the server: FAILED, and the next message goes.
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.resize(10_000, 0);
    let tag = prefix("refused");
    let fake = profile.path().join("report.pdf");
    let (bad, next) = file_then_text(&alice, &conversation, &fake, &elf, &tag);
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    let failed = alice.message(&bad.client_id).unwrap().unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(
        failed.error_code.as_deref(),
        Some("unsupported_media_type"),
        "{failed:?}"
    );
    assert_eq!(
        failed.error.as_deref(),
        Some("The server does not accept this kind of file. Not sent.")
    );
    assert!(alice.message(&next.client_id).unwrap().unwrap().is_acked());
    let stored = server_messages(&url, "alice", &conversation).await;
    assert_eq!(
        stored
            .iter()
            .filter(|m| m.content.starts_with(&tag))
            .count(),
        1,
        "only the text reached the server"
    );
    alice.disconnect().await;
}

/// The attacker's name from the 2026-12-05 review: cut to the client's 120 bytes at the first
/// dot, it ended in `.html`, and "Open" hands a file to the program its extension names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_file_keeps_an_extension_its_type_allows_and_stays_private() {
    let BothOnline {
        data: _data,
        profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let name = format!("results {}.html scanned copy.txt", "_".repeat(110));
    let original = profiles.0.path().join(&name);
    let tag = prefix("long-name");
    let (sent, _) = file_then_text(&alice, &conversation, &original, b"potassium 4.1\n", &tag);
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    wait_for_file(&patel, &conversation, &sent).await;

    // A preview of at most 4 bytes downloads nothing of a larger file.
    let preview = patel
        .attachment_contents(&sent.sender_id, &sent.client_id, 4)
        .await
        .unwrap();
    assert_eq!(preview, None);
    assert_eq!(
        files_under(&profiles.1.path().join("attachments")),
        Vec::<PathBuf>::new()
    );

    let path = attachment_copy(&patel, &sent).await;
    let saved = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        saved.ends_with(".txt") && !saved.contains(".html"),
        "{saved}"
    );
    assert!(saved.len() <= 120, "{saved}");
    assert_eq!(contents(&patel, &sent).await, b"potassium 4.1\n");

    // A download left readable by others (by a version before 0600) is made private on reuse.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = attachment_copy(&patel, &sent).await;
        assert_eq!(again, path, "the download is reused");
        assert_eq!(mode(&again), 0o600);
    }

    // The key is the sender's: patel has sent nothing with alice's clientId.
    assert_eq!(
        patel
            .attachment_path(&patel.user().id, &sent.client_id)
            .await
            .map_err(|e| e.to_string()),
        Err(format!("not found: message {}", sent.client_id))
    );
    alice.disconnect().await;
    patel.disconnect().await;
}

/// A shared computer's logout goes on when the cache cannot be erased: the files still go, the
/// session, the token and the cache's key are forgotten, and the failure is told, not
/// swallowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_whose_cache_cannot_be_erased_still_removes_the_files() {
    let AliceAndPatel {
        data: _data,
        profile,
        server: _server,
        alice,
        conversation,
        ..
    } = alice_and_patel().await;
    let files = tempfile::tempdir().unwrap();
    let original = files.path().join("scan.png");
    let tag = prefix("stuck");
    let (sent, _) = file_then_text(&alice, &conversation, &original, PNG, &tag);
    let local_copy = std::path::PathBuf::from(sent.local_file_path.clone().unwrap());
    assert!(local_copy.exists());
    let session = Profile::new(profile.path())
        .load_session()
        .unwrap()
        .unwrap();
    // The cache file cannot be removed: a folder with something in it stands in its place (the
    // open cache keeps its own file, moved aside).
    let cache = Profile::new(profile.path()).cache_path(&session);
    std::fs::rename(&cache, cache.with_extension("aside")).unwrap();
    std::fs::create_dir(&cache).unwrap();
    std::fs::write(cache.join("keep"), b"x").unwrap();

    let store = FileStore::new(profile.path().join("credentials"));
    let token = clinic_client::CredentialStore::load(&store, &session.account()).unwrap();
    assert!(token.is_some(), "the token is in this profile's store");
    assert_eq!(alice.lock_status().device, Device::Shared, "the default");
    let failed = alice.logout().await;
    assert!(failed.is_err(), "the failed erase is told");
    assert!(!local_copy.exists(), "the files went anyway");
    assert!(!profile.path().join("attachments").exists());
    assert!(
        Profile::new(profile.path())
            .load_session()
            .unwrap()
            .is_none(),
        "signed out"
    );
    assert_eq!(
        clinic_client::CredentialStore::load(&store, &session.account()).unwrap(),
        None,
        "the token is forgotten"
    );
    let key = clinic_client::cache::key_account(&session.account());
    assert_eq!(
        clinic_client::CredentialStore::load(&store, &key).unwrap(),
        None,
        "and the cache's key, so the file left behind cannot be read"
    );
}

/// The app takes the clinic's own upload limit (`serve --max-upload-bytes`, told at sign-in):
/// over a smaller one a file is refused before it is queued, in that unit; under a larger one a
/// file past the default is sent, and the other side fetches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinics_own_upload_limit_is_the_apps() {
    let data = demo_data_dir();
    let (alice_dir, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let small = InProcessServer::start_with(data.path(), 0, |c| c.max_upload_bytes = 1 << 20).await;
    let alice = login_online(&small.url(), alice_dir.path(), "alice").await;
    let conversation = alice.conversation_with("dr.patel").unwrap();
    assert_eq!(alice.upload_limit(), 1 << 20);
    let two = alice_dir.path().join("two.png");
    let mut bytes = PNG.to_vec();
    bytes.resize(2 << 20, 0);
    std::fs::write(&two, &bytes).unwrap();
    match alice.send_with_attachment(&conversation, "x", false, &two) {
        Err(clinic_client::ClientError::Server { code, message, .. }) => {
            assert_eq!(code, ErrorCode::TooLarge);
            assert_eq!(message, "the file is larger than the upload limit of 1 MiB");
        }
        other => panic!("expected too_large, got {other:?}"),
    }
    assert_eq!(alice.queued(), 0);
    alice.disconnect().await;
    small.stop().await;

    let large =
        InProcessServer::start_with(data.path(), 0, |c| c.max_upload_bytes = 40 << 20).await;
    let alice = login_online(&large.url(), alice_dir.path(), "alice").await;
    assert_eq!(alice.upload_limit(), 40 << 20);
    let big = alice_dir.path().join("big.png");
    bytes.resize(26 << 20, 7);
    std::fs::write(&big, &bytes).unwrap();
    let sent = alice
        .send_with_attachment(&conversation, "past the default", false, &big)
        .unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    assert!(alice.message(&sent.client_id).unwrap().unwrap().is_acked());
    let patel = login_online(&large.url(), patel_dir.path(), "dr.patel").await;
    let received = patel
        .history(&conversation, 50, None)
        .unwrap()
        .into_iter()
        .find(|m| m.content == "past the default")
        .unwrap();
    let path = attachment_copy(&patel, &received).await;
    assert_eq!(contents(&patel, &received).await.len(), 26 << 20);
    assert!(std::fs::metadata(&path).unwrap().len() > 26 << 20, "sealed");
    patel.disconnect().await;
    alice.disconnect().await;
}

/// The files under `dir` that hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
        })
        .collect()
}

/// Files sent and received are sealed in both profiles (no file there holds their bytes); an
/// earlier version's plain download is sealed in place as it is read, offline too; a
/// viewer gets a plain copy in this process's folder under `opened/`, which goes at logout
/// (also on a personal computer, which keeps the sealed ones), while a stopped process's go at
/// the next start; a copy an earlier version kept plain is sealed at start and still reads; a
/// downloaded copy damaged past its start is downloaded again; a copy that does not open
/// (the cache was reset: another key) is downloaded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_sealed_at_rest_and_opened_through_plain_copies_that_do_not_stay() {
    let BothOnline {
        data,
        profiles,
        server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let originals = tempfile::tempdir().unwrap();
    // Long enough for several of the seal's 64 KiB chunks, and told apart anywhere.
    let report: Vec<u8> = b"haemoglobin 13.2 g/dL; ferritin 41 ug/L\n"
        .iter()
        .copied()
        .cycle()
        .take(200_000)
        .collect();
    let needle = &report[..40];
    let tag = prefix("sealed");
    let (sent, _) = file_then_text(
        &alice,
        &conversation,
        &originals.path().join("bloods.txt"),
        &report,
        &tag,
    );
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    wait_for_file(&patel, &conversation, &sent).await;
    assert_eq!(
        contents(&patel, &sent).await,
        report,
        "downloaded, read back"
    );
    for (who, profile) in [("alice", profiles.0.path()), ("patel", profiles.1.path())] {
        assert_eq!(holding(profile, needle), Vec::<PathBuf>::new(), "{who}");
    }

    // Damaged past its first chunk: read as damaged, deleted and downloaded once more.
    let sealed_copy = attachment_copy(&patel, &sent).await;
    let mut bytes = std::fs::read(&sealed_copy).unwrap();
    bytes[100_000] ^= 1;
    std::fs::write(&sealed_copy, &bytes).unwrap();
    assert_eq!(contents(&patel, &sent).await, report, "downloaded again");

    // Offline, an earlier version's plain download is sealed in place as it is read (it could
    // not be fetched again), and the plain file's blocks are zeroed.
    std::fs::write(&sealed_copy, &report).unwrap();
    let mut plain = std::fs::File::open(&sealed_copy).unwrap();
    let port = server.addr.port();
    server.stop().await;
    assert_eq!(contents(&patel, &sent).await, report, "read offline");
    let mut was = Vec::new();
    std::io::Read::read_to_end(&mut plain, &mut was).unwrap();
    assert!(
        was.len() == report.len() && was.iter().all(|b| *b == 0),
        "wiped"
    );
    assert_eq!(holding(profiles.1.path(), needle), Vec::<PathBuf>::new());
    let server = InProcessServer::start(data.path(), port).await;

    // Opened: a plain copy, private, in `opened/`.
    let opened = patel
        .attachment_to_open(&sent.sender_id, &sent.client_id)
        .await
        .unwrap()
        .unwrap();
    let opened_root = profiles.1.path().join("attachments").join("opened");
    assert!(opened.starts_with(&opened_root), "{}", opened.display());
    assert_eq!(opened.file_name().unwrap(), "bloods.txt");
    assert_eq!(std::fs::read(&opened).unwrap(), report);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&opened).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // A restart: a stopped process's viewer copies go (this one's stay while it runs), and an
    // earlier version's plain download is sealed and reads as before.
    let stale = opened_root.join("stopped-process");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("bloods.txt"), &report).unwrap();
    std::fs::write(&sealed_copy, &report).unwrap();
    patel.disconnect().await;
    drop(patel);
    let patel = Client::open(options(profiles.1.path())).unwrap();
    poll_until("the start's tidying", || {
        !stale.exists() && holding(profiles.1.path(), needle) == vec![opened.clone()]
    })
    .await;
    assert_eq!(contents(&patel, &sent).await, report);

    // A personal computer's logout keeps the sealed copies, not the plain ones handed out.
    patel.set_lock_policy(Device::Personal, None).unwrap();
    let key_name = clinic_client::cache::key_account(
        &Profile::new(profiles.1.path())
            .load_session()
            .unwrap()
            .unwrap()
            .account(),
    );
    patel.logout().await.unwrap();
    assert!(!opened.exists(), "removed at logout");
    assert!(
        sealed_copy.exists(),
        "the sealed copy stays with the history"
    );
    assert_eq!(holding(profiles.1.path(), needle), Vec::<PathBuf>::new());

    // Signed in again with a cache that starts afresh (its key lost): the copy under the old
    // key does not open, and is downloaded again rather than shown as damaged.
    let store = FileStore::new(profiles.1.path().join("credentials"));
    clinic_client::CredentialStore::delete(&store, &key_name).unwrap();
    let patel = login_online(&server.url(), profiles.1.path(), "dr.patel").await;
    wait_for_file(&patel, &conversation, &sent).await;
    assert_eq!(contents(&patel, &sent).await, report);
    patel.disconnect().await;
    alice.disconnect().await;
}

/// A sender's copy that does not open parks its send with a sentence, at its start or past
/// it (the upload's body ends with the damage), rather than being retried as a network error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_copy_that_does_not_open_parks_its_send() {
    let AliceAndPatel {
        data: _data,
        profile: _profile,
        server,
        port: _port,
        url: _url,
        alice,
        conversation,
    } = alice_and_patel().await;
    let originals = tempfile::tempdir().unwrap();
    let big = vec![b'k'; 300_000];
    let mut parked = Vec::new();
    for (name, at) in [("start.txt", 40), ("further.txt", 200_000)] {
        let (sent, _) = file_then_text(
            &alice,
            &conversation,
            &originals.path().join(name),
            &big,
            &prefix(name),
        );
        let copy = sent.local_file_path.clone().unwrap();
        let mut bytes = std::fs::read(&copy).unwrap();
        bytes[at] ^= 1;
        std::fs::write(&copy, &bytes).unwrap();
        parked.push(sent);
    }
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    for sent in &parked {
        wait_until(&alice, "the send parked", || {
            alice
                .message(&sent.client_id)
                .unwrap()
                .is_some_and(|m| m.status == MessageStatus::Failed)
        })
        .await;
        let failed = alice.message(&sent.client_id).unwrap().unwrap();
        assert_eq!(
            failed.error_code.as_deref(),
            Some("file_missing"),
            "{failed:?}"
        );
        assert_eq!(
            failed.error.as_deref(),
            Some("The file to send can no longer be read on this computer. Not sent.")
        );
    }
    drop(server);
    alice.disconnect().await;
}

/// A session the clinic ends on the server takes the plain copies handed to viewers with it
/// (nobody is signed in to own them any more); the sealed copies stay with the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_by_the_clinic_takes_the_viewers_copies() {
    let BothOnline {
        data,
        profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let originals = tempfile::tempdir().unwrap();
    let tag = prefix("ended");
    let (sent, _) = file_then_text(
        &alice,
        &conversation,
        &originals.path().join("letter.pdf"),
        b"%PDF-1.4 referral",
        &tag,
    );
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    wait_for_file(&patel, &conversation, &sent).await;
    let opened = patel
        .attachment_to_open(&sent.sender_id, &sent.client_id)
        .await
        .unwrap()
        .unwrap();
    let sealed_copy = attachment_copy(&patel, &sent).await;
    assert!(opened.exists() && sealed_copy.exists());

    let revoke = data.path().to_owned();
    tokio::task::spawn_blocking(move || clinic_server::sessions::revoke_user(&revoke, "dr.patel"))
        .await
        .unwrap()
        .unwrap();
    wait_state(&patel, |s| matches!(s, ConnectionState::SignedOut { .. })).await;
    assert!(
        !opened.exists(),
        "the viewer's plain copy went with the session"
    );
    assert!(sealed_copy.exists(), "the sealed copy stays");
    assert!(
        profiles.1.path().join("attachments/opened").is_dir(),
        "only this process's own folder went"
    );
    alice.disconnect().await;
}

/// A file its sender unsends takes the plain copies viewers were given of it with it, on both
/// computers, while the apps stay open (a doctor's shift): not only the sealed copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_file_takes_the_viewers_plain_copies_with_it() {
    let BothOnline {
        data: _data,
        profiles: _profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    let originals = tempfile::tempdir().unwrap();
    let tag = prefix("unsent-file");
    let (sent, _) = file_then_text(
        &alice,
        &conversation,
        &originals.path().join("rash.png"),
        PNG,
        &tag,
    );
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    wait_for_file(&patel, &conversation, &sent).await;
    let theirs = patel
        .attachment_to_open(&sent.sender_id, &sent.client_id)
        .await
        .unwrap()
        .unwrap();
    let mine = alice
        .attachment_to_open(&sent.sender_id, &sent.client_id)
        .await
        .unwrap()
        .unwrap();
    let sealed = (
        attachment_copy(&alice, &sent).await,
        attachment_copy(&patel, &sent).await,
    );
    assert!(theirs.exists() && mine.exists() && sealed.0.exists() && sealed.1.exists());

    let id = alice
        .history(&conversation, 50, None)
        .unwrap()
        .into_iter()
        .find(|m| m.client_id == sent.client_id)
        .and_then(|m| m.id)
        .unwrap();
    alice.unsend(&id, None, false).unwrap();
    let gone = |client: &Client| {
        client
            .history(&conversation, 50, None)
            .unwrap()
            .iter()
            .any(|m| m.id.as_ref() == Some(&id) && m.retracted.is_some())
    };
    wait_until(&patel, "the unsend reaches patel", || gone(&patel)).await;
    wait_until(&alice, "the server confirms the unsend", || gone(&alice)).await;
    for (what, path) in [
        ("patel's plain copy", &theirs),
        ("alice's plain copy", &mine),
        ("alice's sealed copy", &sealed.0),
        ("patel's sealed copy", &sealed.1),
    ] {
        wait_until(&patel, what, || !path.exists()).await;
    }
    alice.disconnect().await;
    patel.disconnect().await;
}
