//! Unit tests of the cache: merging server copies onto optimistic ones, order, receipts, outbox.

use super::{Cache, CacheKey, Discard, EntryKind};
use crate::error::ClientError;
use crate::record::LocalMessage;
use chrono::Utc;
use clinic_protocol::rest::SyncPage;
use clinic_protocol::{
    ClientId, ConversationKey, Message, MessageId, MessageStatus, MessageType, Seq, UserId,
};

fn conv() -> ConversationKey {
    ConversationKey::new("p1", "d1")
}

fn local(client_id: &str, sender: &str) -> LocalMessage {
    let mut m = LocalMessage::pending(&conv(), &sender.into(), &format!("text {client_id}"), false);
    m.client_id = ClientId::from(client_id);
    m
}

fn server(client_id: &str, sender: &str, seq: i64) -> Message {
    // Fixed, like the server's stored copy: the same message always looks the same.
    let now = chrono::DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap();
    Message {
        id: MessageId::new(format!("m{seq}")),
        seq: Seq(seq),
        client_id: ClientId::from(client_id),
        patient_id: "p1".into(),
        doctor_id: "d1".into(),
        sender_id: sender.into(),
        content: format!("text {client_id}"),
        message_type: MessageType::Regular,
        status: MessageStatus::Sent,
        file_url: None,
        file_name: None,
        file_size: None,
        file_type: None,
        is_emergency: false,
        resolved_at: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
        read_at: None,
        retracted: None,
        edited: None,
        written_at: None,
    }
}

fn open() -> (tempfile::TempDir, Cache) {
    let (dir, cache, _) = open_keyed();
    (dir, cache)
}

fn open_keyed() -> (tempfile::TempDir, Cache, CacheKey) {
    let dir = tempfile::tempdir().unwrap();
    let key = CacheKey::random();
    let cache = Cache::open(&dir.path().join("c.sqlite"), &key).unwrap();
    (dir, cache, key)
}

/// A send says how long it waited since it was written, on this device's clock alone; a clock
/// that went back meanwhile says it did not wait.
#[test]
fn a_send_says_how_long_it_waited() {
    let (_d, cache) = open();
    cache.enqueue(&local("c1", "p1"), None).unwrap();
    let entry = cache.queue_heads(&UserId::from("p1")).unwrap().remove(0);
    let written = entry.message.created_at;
    let later = written + chrono::Duration::minutes(90);
    assert_eq!(entry.wire(later).held_ms, Some(90 * 60 * 1000));
    let before = written - chrono::Duration::seconds(5);
    assert_eq!(entry.wire(before).held_ms, Some(0));
}

#[test]
fn ack_turns_the_optimistic_copy_into_the_stored_one() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    cache.enqueue(&local("c1", "p1"), None).unwrap();
    assert_eq!(cache.outbox_len().unwrap(), 1);
    let entries = cache.queue_heads(&me).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].wire(chrono::Utc::now()).client_id,
        Some(ClientId::from("c1"))
    );

    let changed = cache
        .apply_message(&me, server("c1", "p1", 7))
        .unwrap()
        .unwrap();
    assert_eq!(changed.status, MessageStatus::Sent);
    assert_eq!(cache.outbox_len().unwrap(), 0);
    // The same copy again (live event after ack, or sync) changes nothing and adds nothing.
    assert!(
        cache
            .apply_message(&me, server("c1", "p1", 7))
            .unwrap()
            .is_none()
    );
    assert_eq!(cache.message_count().unwrap(), 1);
}

#[test]
fn a_peer_reusing_my_client_id_is_another_message() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    cache.enqueue(&local("same", "p1"), None).unwrap();
    // The doctor's client happened to pick the same clientId: a message of its own.
    let theirs = cache
        .apply_message(&me, server("same", "d1", 3))
        .unwrap()
        .unwrap();
    assert_eq!(theirs.sender_id, UserId::from("d1"));
    let mine = cache.message_by_client_id(&me, "same").unwrap().unwrap();
    assert_eq!(mine.status, MessageStatus::Sending, "mine is still mine");
    assert_eq!(cache.outbox_len().unwrap(), 1, "and still to be sent");
    assert_eq!(cache.message_count().unwrap(), 2);
    // My ack merges onto my copy only.
    cache
        .apply_message(&me, server("same", "p1", 4))
        .unwrap()
        .unwrap();
    let history = cache.history(&conv(), 10, None).unwrap();
    let who: Vec<(&str, MessageStatus)> = history
        .iter()
        .map(|m| (m.sender_id.as_str(), m.status))
        .collect();
    assert_eq!(
        who,
        [("d1", MessageStatus::Sent), ("p1", MessageStatus::Sent)]
    );
    assert_eq!(cache.outbox_len().unwrap(), 0);
}

#[test]
fn history_orders_acked_by_seq_then_pending_by_creation() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    cache.enqueue(&local("late-1", "p1"), None).unwrap();
    cache.apply_message(&me, server("x2", "d1", 20)).unwrap();
    cache.apply_message(&me, server("x1", "d1", 10)).unwrap();
    cache.enqueue(&local("late-2", "p1"), None).unwrap();
    let h = cache.history(&conv(), 100, None).unwrap();
    let ids: Vec<&str> = h.iter().map(|m| m.client_id.as_str()).collect();
    assert_eq!(ids, ["x1", "x2", "late-1", "late-2"]);
    let last_two = cache.history(&conv(), 2, None).unwrap();
    assert_eq!(last_two.len(), 2);
    assert_eq!(last_two[0].client_id.as_str(), "late-1");
    let older = cache.history(&conv(), 10, Some(Seq(20))).unwrap();
    assert_eq!(older.len(), 1);
}

#[test]
fn receipts_only_raise_status_and_failures_can_be_retried() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    cache.apply_message(&me, server("c1", "p1", 1)).unwrap();
    let now = Utc::now();
    let read = cache
        .apply_receipts(&[MessageId::from("m1")], MessageStatus::Read, now)
        .unwrap();
    assert_eq!(read[0].status, MessageStatus::Read);
    let late = cache
        .apply_receipts(&[MessageId::from("m1")], MessageStatus::Delivered, now)
        .unwrap();
    assert!(late.is_empty());
    // A late ack copy with status SENT must not lower READ either.
    assert!(
        cache
            .apply_message(&me, server("c1", "p1", 1))
            .unwrap()
            .is_none()
    );

    cache.enqueue(&local("c2", "p1"), None).unwrap();
    cache.enqueue(&local("c3", "p1"), None).unwrap();
    // One lane: only its head is offered.
    let heads = cache.queue_heads(&me).unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].message.client_id.as_str(), "c2");
    assert_eq!(
        cache.count_attempt(&me, "c2", EntryKind::Send).unwrap().0,
        1
    );
    let failed = cache
        .park(
            &me,
            "c2",
            "too_large",
            "The message is too long for the server. Not sent.",
        )
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("too_large"));
    assert_eq!(cache.outbox_len().unwrap(), 1);
    assert_eq!(cache.outbox_failed().unwrap(), 1);
    assert_eq!(cache.outbox_counts().unwrap(), (1, 1));
    // Parked: the lane moves on to c3.
    assert_eq!(
        cache.queue_heads(&me).unwrap()[0]
            .message
            .client_id
            .as_str(),
        "c3"
    );
    let retried = cache.retry(&me, "c2").unwrap().unwrap();
    assert_eq!(
        (retried.status, retried.error_code),
        (MessageStatus::Sending, None)
    );
    let items = cache.outbox_items(&me).unwrap();
    let order: Vec<&str> = items.iter().map(|i| i.client_id.as_str()).collect();
    assert_eq!(
        order,
        ["c3", "c2"],
        "a retried send goes after everything queued"
    );
    assert_eq!(items[1].attempts, 0, "attempts start over");
    assert!(
        cache.retry(&me, "c2").unwrap().is_none(),
        "only a parked send is retried"
    );
    let c3 = cache.queue_heads(&me).unwrap()[0].pos;
    assert_eq!(cache.mark_written(&me, &[c3]).unwrap().0, [true]);
    assert_eq!(
        cache.discard(&me, "c3").unwrap(),
        Discard::OnItsWay,
        "a send written to the server is not discarded"
    );
    assert_eq!(cache.outbox_len().unwrap(), 2);
}

#[test]
fn a_send_never_written_is_discarded_and_then_never_written() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    cache.enqueue(&local("w1", "p1"), None).unwrap();
    cache.enqueue(&local("w2", "p1"), None).unwrap();
    let heads = cache.queue_heads(&me).unwrap();
    let w1 = heads[0].pos;
    // The worker read the head, then the person discarded it before it was written.
    let Discard::Discarded(gone) = cache.discard(&me, "w1").unwrap() else {
        panic!("a send never written is discarded");
    };
    assert_eq!(gone.client_id.as_str(), "w1");
    let w2 = cache.queue_heads(&me).unwrap()[0].pos;
    let (marked, changed) = cache.mark_written(&me, &[w1, w2]).unwrap();
    assert_eq!(marked, [false, true], "so it is not written");
    let on_its_way = |id: &str| {
        cache
            .message_by_client_id(&me, id)
            .unwrap()
            .unwrap()
            .on_its_way
    };
    assert_eq!(changed.len(), 1, "the page is told");
    assert!(changed[0].on_its_way && on_its_way("w2"));
    assert!(cache.message_by_client_id(&me, "w1").unwrap().is_none());
    assert_eq!(cache.discard(&me, "w1").unwrap(), Discard::NotQueued);
    // Written, then refused: that write stored nothing, so it may still be dropped.
    assert_eq!(cache.discard(&me, "w2").unwrap(), Discard::OnItsWay);
    let (attempts, changed) = cache.count_attempt(&me, "w2", EntryKind::Send).unwrap();
    assert_eq!(attempts, 1);
    assert!(changed.is_some_and(|m| !m.on_its_way) && !on_its_way("w2"));
    // Written twice (its first ack lost with its connection), refused once: the first write
    // may be stored.
    assert_eq!(cache.mark_written(&me, &[w2]).unwrap().0, [true]);
    assert_eq!(cache.mark_written(&me, &[w2]).unwrap().0, [true]);
    assert_eq!(
        cache.count_attempt(&me, "w2", EntryKind::Send).unwrap().0,
        2
    );
    assert_eq!(cache.discard(&me, "w2").unwrap(), Discard::OnItsWay);
    // Parked and retried, it still counts the write nobody answered.
    cache
        .park(&me, "w2", "internal", "The server failed.")
        .unwrap();
    cache.retry(&me, "w2").unwrap().unwrap();
    assert_eq!(cache.discard(&me, "w2").unwrap(), Discard::OnItsWay);
    let again = cache.queue_heads(&me).unwrap()[0].pos;
    assert_ne!(again, w2, "retried at the end of its lane");
    assert_eq!(cache.mark_written(&me, &[again]).unwrap().0, [true]);
    assert_eq!(
        cache.count_attempt(&me, "w2", EntryKind::Send).unwrap().0,
        1
    );
    assert_eq!(cache.discard(&me, "w2").unwrap(), Discard::OnItsWay);
    // Parked, the person decides: it is dropped here (should the server have it, its copy
    // comes back with the next catch-up).
    cache
        .park(&me, "w2", "internal", "The server failed.")
        .unwrap();
    assert!(matches!(
        cache.discard(&me, "w2").unwrap(),
        Discard::Discarded(_)
    ));
    assert_eq!(cache.outbox_counts().unwrap(), (0, 0));
}

#[test]
fn lanes_uploads_and_emergencies() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    let mut file = local("f1", "p1");
    file.file_name = Some("scan.png".into());
    cache.enqueue(&file, Some("/tmp/scan.png")).unwrap();
    cache.enqueue(&local("t1", "p1"), None).unwrap();
    let mut other = local("o1", "p1");
    other.doctor_id = "d2".into();
    cache.enqueue(&other, None).unwrap();
    let mut help = local("e1", "p1");
    help.is_emergency = true;
    cache.enqueue(&help, None).unwrap();

    let heads = cache.queue_heads(&me).unwrap();
    let seen: Vec<(&str, EntryKind)> = heads
        .iter()
        .map(|h| (h.message.client_id.as_str(), h.kind))
        .collect();
    assert_eq!(
        seen,
        [
            ("e1", EntryKind::Send),
            ("f1", EntryKind::Upload),
            ("o1", EntryKind::Send)
        ],
        "the emergency lane first; the file's upload heads its conversation"
    );
    assert_eq!(cache.outbox_len().unwrap(), 4);
    let uploaded = clinic_protocol::rest::UploadResponse {
        file_url: "/api/files/x".into(),
        file_name: "scan.png".into(),
        size: 3,
        content_type: "image/png".into(),
    };
    cache.set_uploaded(&me, "f1", &uploaded).unwrap().unwrap();
    let heads = cache.queue_heads(&me).unwrap();
    let f1 = heads
        .iter()
        .find(|h| h.message.client_id.as_str() == "f1")
        .unwrap();
    assert_eq!(f1.kind, EntryKind::Send);
    assert_eq!(
        f1.wire(chrono::Utc::now()).file_url.as_deref(),
        Some("/api/files/x")
    );

    // A parked upload parks its send too, and Discard removes both and the message.
    cache
        .enqueue(
            &{
                let mut g = local("g1", "p1");
                g.doctor_id = "d3".into();
                g
            },
            Some("/tmp/gone.pdf"),
        )
        .unwrap();
    cache
        .park(&me, "g1", "file_missing", "gone")
        .unwrap()
        .unwrap();
    assert!(
        cache
            .queue_heads(&me)
            .unwrap()
            .iter()
            .all(|h| h.message.client_id.as_str() != "g1")
    );
    let Discard::Discarded(dropped) = cache.discard(&me, "g1").unwrap() else {
        panic!("a parked send is discarded");
    };
    assert_eq!(dropped.client_id.as_str(), "g1");
    assert!(cache.message_by_client_id(&me, "g1").unwrap().is_none());
    assert_eq!(cache.outbox_failed().unwrap(), 0);
}

#[test]
fn sync_page_is_applied_whole_and_moves_the_cursor() {
    let (dir, cache, key) = open_keyed();
    let me = UserId::from("d1");
    let page = SyncPage {
        messages: (1..=50)
            .map(|i| server(&format!("c{i}"), "p1", i))
            .collect(),
        emergencies: vec![],
        purges: Vec::new(),
        cursor: Seq(50),
        has_more: false,
    };
    let (changed, _) = cache.apply_sync_page(&me, &page).unwrap();
    assert_eq!(changed.len(), 50);
    let (again, _) = cache.apply_sync_page(&me, &page).unwrap();
    assert!(again.is_empty());
    assert_eq!(cache.cursor().unwrap(), Seq(50));
    assert_eq!(cache.undelivered_to(&me, 1000).unwrap().len(), 50);
    let (conversation, read) = cache
        .mark_read_up_to(&me, &MessageId::from("m10"))
        .unwrap()
        .unwrap();
    assert_eq!(conversation, conv());
    assert_eq!(read.len(), 10);
    drop(cache);
    // Reopening runs no migration twice and keeps everything.
    let cache = Cache::open(&dir.path().join("c.sqlite"), &key).unwrap();
    assert_eq!(cache.message_count().unwrap(), 50);
    drop(cache);
    // Another key opens nothing and changes nothing.
    assert!(matches!(
        Cache::open(&dir.path().join("c.sqlite"), &CacheKey::random()),
        Err(crate::ClientError::WrongCacheKey)
    ));
    let cache = Cache::open(&dir.path().join("c.sqlite"), &key).unwrap();
    assert_eq!(cache.message_count().unwrap(), 50);
    assert_eq!(cache.cursor().unwrap(), Seq(50));
}

/// Two connections to one cache (the app and a CLI on the same profile, say) both write at
/// once: each change waits for the other's lock instead of failing with "database is locked".
#[test]
fn two_connections_writing_at_once_wait_for_each_other() {
    let (dir, cache, key) = open_keyed();
    let other = Cache::open(&dir.path().join("c.sqlite"), &key).unwrap();
    std::thread::scope(|scope| {
        for (n, cache) in [&cache, &other].into_iter().enumerate() {
            scope.spawn(move || {
                for i in 0..300 {
                    let seq = i64::try_from(i * 2 + n).unwrap() + 1;
                    cache
                        .apply_message(&"p1".into(), server(&format!("c{seq}"), "d1", seq))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(cache.history(&conv(), 1000, None).unwrap().len(), 600);
}

#[test]
fn the_newest_unsent_emergency_waiting_or_parked_never_a_sent_one() {
    let (_d, cache) = open();
    let me = UserId::from("p1");
    let emergency = |id: &str, minutes_ago: i64| {
        let mut m = local(id, "p1");
        m.is_emergency = true;
        m.created_at = Utc::now() - chrono::Duration::minutes(minutes_ago);
        m
    };
    assert_eq!(cache.newest_unsent_emergency(&me).unwrap(), None);
    cache.enqueue(&local("t1", "p1"), None).unwrap();
    assert_eq!(
        cache.newest_unsent_emergency(&me).unwrap(),
        None,
        "an ordinary message is not one"
    );
    assert!(!cache.emergency_waiting(&me).unwrap());
    let newer = emergency("e2", 1);
    cache.enqueue(&emergency("e1", 5), None).unwrap();
    cache.enqueue(&newer, None).unwrap();
    let found = cache.newest_unsent_emergency(&me).unwrap().unwrap();
    assert_eq!(
        (found.client_id.as_str(), found.status),
        ("e2", MessageStatus::Sending)
    );
    assert!(cache.emergency_waiting(&me).unwrap());
    // Parked, then retried (queued again after the older one): still the newest written.
    cache.park(&me, "e2", "forbidden", "Not sent.").unwrap();
    assert!(
        cache.emergency_waiting(&me).unwrap(),
        "an older one still waits, the newest parked"
    );
    let found = cache.newest_unsent_emergency(&me).unwrap().unwrap();
    assert_eq!(
        (found.client_id.as_str(), found.status),
        ("e2", MessageStatus::Failed)
    );
    cache.retry(&me, "e2").unwrap().unwrap();
    cache.park(&me, "e1", "forbidden", "Not sent.").unwrap();
    let found = cache.newest_unsent_emergency(&me).unwrap().unwrap();
    assert_eq!(
        (found.client_id.as_str(), found.status),
        ("e2", MessageStatus::Sending)
    );
    // Its server copy arrives: the older, parked one is what is left.
    let mut sent = server("e2", "p1", 1);
    sent.is_emergency = true;
    cache.apply_message(&me, sent).unwrap();
    let found = cache.newest_unsent_emergency(&me).unwrap().unwrap();
    assert_eq!(
        (found.client_id.as_str(), found.status),
        ("e1", MessageStatus::Failed)
    );
    assert!(
        !cache.emergency_waiting(&me).unwrap(),
        "a parked one does not wait"
    );
    assert!(matches!(
        cache.discard(&me, "e1").unwrap(),
        Discard::Discarded(_)
    ));
    assert_eq!(cache.newest_unsent_emergency(&me).unwrap(), None);
    assert_eq!(
        cache.newest_unsent_emergency(&UserId::from("p2")).unwrap(),
        None,
        "only the user's own"
    );
}

#[test]
fn a_late_copy_never_brings_back_an_older_or_an_unsent_text() {
    use clinic_protocol::{Edited, Tombstone};
    let (_dir, cache) = open();
    let me = UserId::from("d1");
    let first = server("c1", "p1", 1);
    let id = first.id.clone();
    // Each copy as the server sends it: its `updatedAt` is its change's time.
    let edit = |version: u32, text: &str| {
        let at = first.created_at + chrono::Duration::seconds(version.into());
        Message {
            content: text.into(),
            edited: Some(Edited { at, version }),
            updated_at: at,
            ..first.clone()
        }
    };
    let stored = |cache: &Cache| cache.message_by_id(&id).unwrap().unwrap();
    cache.apply_message(&me, first.clone()).unwrap();
    cache.apply_message(&me, edit(3, "third")).unwrap();
    // The second edit's copy arrives after the third's, read by now: the status goes up, the
    // text stays the newer one, and nothing changes for the page but the status.
    let late = Message {
        status: MessageStatus::Read,
        ..edit(2, "second")
    };
    let shown = cache
        .apply_message(&me, late)
        .unwrap()
        .expect("the status changed");
    assert_eq!(
        (shown.content.as_str(), shown.status),
        ("third", MessageStatus::Read)
    );
    assert_eq!(stored(&cache).edited.map(|e| e.version), Some(3));
    assert_eq!(
        shown.updated_at,
        edit(3, "").updated_at,
        "its time does not go back"
    );

    let unsent_at = first.created_at + chrono::Duration::seconds(10);
    let unsent = Message {
        content: String::new(),
        retracted: Some(Tombstone {
            by: "p1".into(),
            at: unsent_at,
        }),
        updated_at: unsent_at,
        ..edit(3, "")
    };
    cache.apply_message(&me, unsent).unwrap();
    // An edit committed before the unsend, its copy published after it.
    assert_eq!(cache.apply_message(&me, edit(4, "fourth")).unwrap(), None);
    assert_eq!(cache.apply_message(&me, first.clone()).unwrap(), None);
    let after = stored(&cache);
    assert!(after.retracted.is_some(), "{after:?}");
    assert_eq!(after.content, "");
    let page = cache.history(&conv(), 10, None).unwrap();
    assert!(
        page.iter().all(|m| !m.content.contains("fourth")),
        "{page:?}"
    );
}

#[test]
fn a_conversations_resolved_emergencies_stay_with_it_oldest_first() {
    use clinic_protocol::{Emergency, EmergencyState};
    let (_dir, cache) = open();
    let at = |s: i64| chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
    let emergency = |id: &str, patient: &str, state: EmergencyState, resolved: Option<i64>| {
        serde_json::from_value::<Emergency>(serde_json::json!({
            "id": id, "messageId": format!("m-{id}"), "patientId": patient,
            "patientName": "Pat", "doctorId": "d1", "state": state, "raisedAt": at(0),
            "resolvedAt": resolved.map(at), "resolvedByName": "Dr. Asha Patel",
            "resolutionNote": resolved.map(|_| format!("note of {id}")),
            "alertedDoctors": 1,
        }))
        .unwrap()
    };
    cache
        .save_emergency(&emergency("late", "p1", EmergencyState::Resolved, Some(90)))
        .unwrap();
    cache
        .save_emergency(&emergency(
            "early",
            "p1",
            EmergencyState::Resolved,
            Some(30),
        ))
        .unwrap();
    cache
        .save_emergency(&emergency("open", "p1", EmergencyState::Raised, None))
        .unwrap();
    cache
        .save_emergency(&emergency(
            "other",
            "p2",
            EmergencyState::Resolved,
            Some(10),
        ))
        .unwrap();
    let resolved = cache.resolved_emergencies(&conv()).unwrap();
    let ids: Vec<&str> = resolved.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["early", "late"]);
    assert_eq!(resolved[1].resolution_note.as_deref(), Some("note of late"));
    // The patient's, whichever conversation it was raised in: presses elsewhere join it.
    let with_another_doctor = ConversationKey::new("p1", "d2");
    assert_eq!(
        cache
            .resolved_emergencies(&with_another_doctor)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_cache_of_a_newer_version_is_refused_and_left_as_it_is() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    let newer = i64::try_from(super::MIGRATIONS.len() + 1).unwrap();
    conn.pragma_update(None, "user_version", newer).unwrap();
    let err = super::migrate(&mut conn).unwrap_err();
    assert!(
        matches!(err, ClientError::CacheFromNewerApp { found, .. } if found == newer),
        "{err}"
    );
    assert!(err.to_string().contains("newer version"), "{err}");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer);
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0, "no step ran");
    // This version's own cache opens again as it is.
    let mut own = rusqlite::Connection::open_in_memory().unwrap();
    super::migrate(&mut own).unwrap();
    super::migrate(&mut own).unwrap();
}

#[test]
fn step_7_counts_the_sends_an_older_build_may_have_written() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    {
        let tx = conn.transaction().unwrap();
        for step in &super::MIGRATIONS[..6] {
            tx.execute_batch(step).unwrap();
        }
        tx.pragma_update(None, "user_version", 6).unwrap();
        // A send refused once, and one whose upload is still ahead of it.
        super::messages::insert_row(&tx, &local("s1", "p1")).unwrap();
        super::outbox::push(&tx, "s1", EntryKind::Send, "p1|d1", None).unwrap();
        tx.execute(
            "UPDATE send_queue SET attempts = 1 WHERE client_id = 's1'",
            [],
        )
        .unwrap();
        super::messages::insert_row(&tx, &local("f1", "p1")).unwrap();
        super::outbox::push(&tx, "f1", EntryKind::Upload, "p1|d1", Some("/x")).unwrap();
        super::outbox::push(&tx, "f1", EntryKind::Send, "p1|d1", Some("/x")).unwrap();
        tx.commit().unwrap();
    }
    super::migrate(&mut conn).unwrap();
    let writes = |id: &str| -> i64 {
        conn.query_row(
            "SELECT writes FROM send_queue WHERE client_id = ?1 AND kind = 'send'",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let on_its_way = |id: &str| -> bool {
        let data: String = conn
            .query_row(
                "SELECT data FROM messages WHERE client_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str::<LocalMessage>(&data)
            .unwrap()
            .on_its_way
    };
    assert_eq!(
        writes("s1"),
        2,
        "written once more than refused, for all we know"
    );
    assert!(on_its_way("s1"));
    assert_eq!(writes("f1"), 0, "never written: its upload is ahead of it");
    assert!(!on_its_way("f1"));
}
