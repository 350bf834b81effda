//! Notifications really travel over D-Bus: a private session bus (`dbus-daemon`) with a stand-in
//! notification server (zbus) that records each Notify call, including its urgency hint, and
//! `dbus-monitor` as an independent witness of the bytes on the bus.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::bus::{Monitor, Notified, PrivateBus, Recorder, serve_notifications};

#[test]
fn critical_and_normal_notices_reach_the_notification_service() {
    common::require(&["dbus-daemon", "dbus-monitor"]);
    let dir = tempfile::tempdir().unwrap();
    let bus = PrivateBus::start(dir.path());
    let (_connection, recorder) = serve_notifications(&bus.address);
    let monitor = Monitor::attach(&bus.address);
    common::asoundrc(dir.path(), "{ type plug; slave.pcm \"null\" }");

    let (lines, stderr) = common::run(
        dir.path(),
        &bus.address,
        &[
            "notify",
            "critical",
            "Emergency from Jane Doe",
            "Chest pain <b>now</b>",
            "notify",
            "normal",
            "New message",
            "How are you?",
            "notify-later",
            "critical",
            "Queued emergency",
            "later",
            "wait",
            "500",
            "status",
        ],
    );
    assert_eq!(
        lines[..3],
        ["notify ok", "notify ok", "notify-later ok"],
        "{stderr}"
    );
    let status = common::Status::parse(&lines[3]);
    assert_eq!(status.get("notifications"), "Available");
    assert_eq!(status.num("notices_shown"), 3);
    assert!(
        common::log_lines(&stderr, "WARN", "").is_empty(),
        "{stderr}"
    );

    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 3, "{calls:?}");
    let emergency = &calls[0];
    assert_eq!(emergency.summary, "Emergency from Jane Doe");
    assert_eq!(
        emergency.body, "Chest pain &lt;b&gt;now&lt;/b&gt;",
        "plain text, escaped"
    );
    assert_eq!(emergency.app_name, "Clinic Messaging");
    assert_eq!(emergency.urgency, Some(2), "critical urgency");
    assert_eq!(
        emergency.expire_timeout, 0,
        "emergencies never expire on their own"
    );
    assert_eq!(
        (calls[1].summary.as_str(), calls[1].urgency),
        ("New message", Some(1))
    );
    assert_eq!(
        (calls[2].summary.as_str(), calls[2].urgency),
        ("Queued emergency", Some(2))
    );

    // The same, as dbus-monitor saw it on the wire: the first call, up to the second one.
    let wire = monitor.notify_calls(3).join("\n");
    let start = wire.find("member=Notify").unwrap();
    let end = wire.find("string \"New message\"").unwrap();
    let first = &wire[start..end];
    assert!(
        first.contains("string \"Emergency from Jane Doe\""),
        "{wire}"
    );
    let urgency = &first[first.find("string \"urgency\"").unwrap()..];
    let value = urgency.lines().nth(1).unwrap_or_default();
    assert!(
        value.trim().starts_with("variant") && value.trim().ends_with("byte 2"),
        "urgency=2 on the wire:\n{wire}"
    );
}

#[test]
fn long_text_from_the_network_is_cut_before_it_reaches_the_desktop() {
    common::require(&["dbus-daemon"]);
    let dir = tempfile::tempdir().unwrap();
    let bus = PrivateBus::start(dir.path());
    let (_connection, recorder) = serve_notifications(&bus.address);
    let title = "T".repeat(5_000);
    let body = "ü".repeat(50_000);
    let (lines, stderr) = common::run(
        dir.path(),
        &bus.address,
        &["notify", "critical", &title, &body],
    );
    assert_eq!(lines, ["notify ok"], "{stderr}");
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(
        calls[0].summary.chars().count(),
        clinic_alarm::MAX_TITLE_CHARS
    );
    assert_eq!(calls[0].body.chars().count(), clinic_alarm::MAX_BODY_CHARS);
}

#[test]
fn a_tagged_notice_is_withdrawn_by_its_tag() {
    common::require(&["dbus-daemon"]);
    let dir = tempfile::tempdir().unwrap();
    let bus = PrivateBus::start(dir.path());
    let (_connection, recorder) = serve_notifications(&bus.address);
    let (lines, stderr) = common::run(
        dir.path(),
        &bus.address,
        &[
            "notify-later",
            "normal",
            "New message",
            "untagged",
            "notify-tagged",
            "e-1",
            "EMERGENCY: Jane Doe",
            "A patient needs help now.",
            "withdraw",
            "e-unknown",
            "withdraw",
            "e-1",
            "withdraw",
            "e-1",
            "wait",
            "500",
        ],
    );
    assert_eq!(
        lines,
        [
            "notify-later ok",
            "notify-tagged ok",
            "withdraw ok",
            "withdraw ok",
            "withdraw ok"
        ],
        "{stderr}"
    );
    let shown = recorder.0.lock().unwrap().clone();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert_eq!(shown[1].summary, "EMERGENCY: Jane Doe");
    // Only the tagged one (the daemon's id 2), once; unknown and repeated tags close nothing.
    assert_eq!(*recorder.1.lock().unwrap(), [2]);
    // Its words were replaced first, so a service's history keeps no name.
    assert_blanked(&shown[2], 2);
}

/// `call` replaced notification `id` with words that name nobody, expiring at once.
fn assert_blanked(call: &Notified, id: u32) {
    assert_eq!(call.replaces_id, id, "{call:?}");
    assert!(
        !call.summary.contains("Jane") && !call.summary.contains("EMERGENCY"),
        "{call:?}"
    );
    assert_eq!(call.body, "", "{call:?}");
    assert_eq!(call.expire_timeout, 1, "{call:?}");
}

/// Runs the alarm with `args` against the stand-in notification service, after `prepare` has
/// set it up: what the alarm printed, its log, and what the service recorded.
fn against_recorder(
    prepare: impl FnOnce(&Recorder),
    args: &[&str],
) -> (Vec<String>, String, Recorder) {
    common::require(&["dbus-daemon"]);
    let dir = tempfile::tempdir().unwrap();
    let bus = PrivateBus::start(dir.path());
    let (_connection, recorder) = serve_notifications(&bus.address);
    prepare(&recorder);
    let (lines, stderr) = common::run(dir.path(), &bus.address, args);
    (lines, stderr, recorder)
}

#[test]
fn withdraw_all_takes_every_notice_shown_off_the_screen() {
    let (lines, stderr, recorder) = against_recorder(
        |_| {},
        &[
            "notify",
            "critical",
            "Test alert",
            "untagged, shown and waited for",
            "notify-later",
            "normal",
            "New message",
            "untagged, queued",
            "notify-tagged",
            "e-1",
            "EMERGENCY: Jane Doe",
            "A patient needs help now.",
            "wait",
            "500",
            "withdraw-all",
            "withdraw",
            "e-1",
            "withdraw-all",
            "wait",
            "500",
        ],
    );
    assert_eq!(
        lines,
        [
            "notify ok",
            "notify-later ok",
            "notify-tagged ok",
            "withdraw-all ok",
            "withdraw ok",
            "withdraw-all ok"
        ],
        "{stderr}"
    );
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 6, "three shown, and each blanked: {calls:?}");
    for (call, id) in calls[3..].iter().zip([1, 2, 3]) {
        assert_blanked(call, id);
    }
    // Each once, oldest first; after that nothing is left to close.
    assert_eq!(*recorder.1.lock().unwrap(), [1, 2, 3]);
}

#[test]
fn a_notice_queued_before_a_withdrawal_of_all_never_stays_and_one_after_it_shows() {
    let mut steps = Vec::new();
    for i in 0..20 {
        steps.extend(["notify-later", "critical"].map(String::from));
        steps.push(format!("before {i}"));
        steps.push("of the session that ended".into());
    }
    steps.push("withdraw-all".into());
    steps.extend(
        [
            "notify-later",
            "critical",
            "after",
            "of the next session",
            "wait",
            "800",
        ]
        .map(String::from),
    );
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let (lines, stderr, recorder) = against_recorder(|_| {}, &steps);
    assert!(
        lines.iter().all(|l| l.ends_with(" ok")),
        "{lines:?} {stderr}"
    );
    let shown = recorder.0.lock().unwrap().clone();
    let closed = recorder.1.lock().unwrap().clone();
    // The daemon's ids are 1, 2, ... in the order of the calls.
    for (i, call) in shown.iter().enumerate() {
        if call.replaces_id != 0 {
            assert_blanked(call, call.replaces_id);
            assert!(closed.contains(&call.replaces_id), "{closed:?}");
            continue;
        }
        let id = u32::try_from(i + 1).unwrap();
        match call.summary.as_str() {
            "after" => assert!(!closed.contains(&id), "{closed:?}"),
            _ => assert!(closed.contains(&id), "{} stayed: {closed:?}", call.summary),
        }
    }
    assert_eq!(
        shown.iter().filter(|c| c.summary == "after").count(),
        1,
        "{shown:?}"
    );
}

#[test]
fn a_second_notice_under_a_tag_replaces_the_first_and_one_withdrawal_takes_it() {
    let (lines, stderr, recorder) = against_recorder(
        |_| {},
        &[
            "notify-tagged",
            "e-1",
            "EMERGENCY: Jane Doe",
            "A patient needs help now.",
            "notify-tagged",
            "e-1",
            "EMERGENCY from a patient",
            "Unlock Clinic Messaging to respond.",
            "withdraw",
            "e-1",
            "wait",
            "500",
        ],
    );
    assert_eq!(
        lines,
        ["notify-tagged ok", "notify-tagged ok", "withdraw ok"],
        "{stderr}"
    );
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[1].replaces_id, 1, "the second in place of the first");
    assert_blanked(&calls[2], 1);
    assert_eq!(
        *recorder.1.lock().unwrap(),
        [1],
        "nothing left under the tag"
    );
}

#[test]
fn a_blank_the_service_shows_as_a_new_notification_is_closed_too() {
    // The notification the app will show (id 1) is one the person has already dismissed.
    let (lines, stderr, recorder) = against_recorder(
        |recorder| recorder.1.lock().unwrap().push(1),
        &[
            "notify-tagged",
            "e-1",
            "EMERGENCY: Jane Doe",
            "A patient needs help now.",
            "withdraw",
            "e-1",
            "wait",
            "500",
        ],
    );
    assert_eq!(lines, ["notify-tagged ok", "withdraw ok"], "{stderr}");
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].replaces_id, 1, "{calls:?}");
    // The service gave the blank a new id (2): it is closed as well as the one asked for.
    let closed = recorder.1.lock().unwrap().clone();
    assert!(closed.contains(&2), "{closed:?}");
    assert_eq!(closed.last(), Some(&1), "{closed:?}");
}

/// With a sound device (ALSA's null) and a notification service, the self-test passes, having
/// rung and shown its notification.
#[test]
fn the_self_test_passes_where_sound_and_notifications_work() {
    common::require(&["dbus-daemon"]);
    let dir = tempfile::tempdir().unwrap();
    let bus = PrivateBus::start(dir.path());
    let (_connection, recorder) = serve_notifications(&bus.address);
    common::asoundrc(dir.path(), "{ type plug; slave.pcm \"null\" }");
    let (lines, stderr) = common::run(dir.path(), &bus.address, &[]);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("the alarm test rang and showed a notification: check that you heard and saw them"),
        "{stderr}"
    );
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].summary, "Clinic alarm test");
}
