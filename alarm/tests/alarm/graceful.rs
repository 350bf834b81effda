//! With no audio device and no session bus (a server closet, CI), the alarm says so once in the
//! log and carries on: calls return promptly, never panic, and repeats do not spam the log.
#![allow(clippy::unwrap_used)]

use crate::common;

#[test]
fn no_audio_device_and_no_session_bus_are_reported_once_and_never_block() {
    let home = tempfile::tempdir().unwrap();
    // A card that does not exist: opening the default PCM fails inside ALSA.
    common::asoundrc(home.path(), "{ type hw; card 31 }");
    let no_bus = common::no_bus(home.path());
    let started = std::time::Instant::now();
    let (lines, stderr) = common::run(
        home.path(),
        &no_bus,
        &common::script(
            // Retry the device every 50 ms, so the failures below are repeated attempts.
            concat!(
                "--retry-ms 50 ring a wait 300 status chime ring b wait 300 ",
                "notify critical Emergency one notify critical Emergency two ",
                "notify-later normal Message three wait 300 status silence stop a status",
            ),
        ),
    );
    assert_eq!(lines[0], "ring true");
    let first = common::Status::parse(&lines[1]);
    assert_eq!(first.get("audio"), "Unavailable");
    assert_eq!(
        first.get("ringing"),
        "1",
        "the emergency still counts as ringing"
    );
    assert_eq!(first.get("device_open"), "false");
    assert_eq!(lines[2], "ring true");
    assert!(
        lines[3].starts_with("notify error: notification service unavailable"),
        "{lines:?}"
    );
    assert!(
        lines[4].starts_with("notify error: notification service unavailable"),
        "{lines:?}"
    );
    assert_eq!(
        lines[5], "notify-later ok",
        "queued; its failure is only logged"
    );
    let second = common::Status::parse(&lines[6]);
    assert_eq!(second.get("notifications"), "Unavailable");
    assert_eq!(second.num("loops_played"), 0);
    assert_eq!(second.num("notices_shown"), 0);
    assert_eq!(lines[7..9], ["silence 2", "stop false"]);
    assert_eq!(common::Status::parse(&lines[9]).get("ringing"), "0");

    // Said once each, although the device was retried and three notices failed.
    let audio = common::log_lines(&stderr, "WARN", "no audio output");
    let notices = common::log_lines(&stderr, "WARN", "desktop notifications unavailable");
    assert_eq!(audio.len(), 1, "{stderr}");
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Only a hang guard, not a speed assertion: the script itself sleeps 0.9 s.
    assert!(started.elapsed() < common::HANG_GUARD);
}

#[test]
fn disabled_outputs_stay_quiet() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }");
    let no_bus = common::no_bus(home.path());
    let (lines, stderr) = common::run(
        home.path(),
        &no_bus,
        &common::script("--no-audio --no-notifications ring a chime notify critical t b status"),
    );
    assert_eq!(
        lines[..2],
        ["ring true", "notify error: notifications are disabled"]
    );
    let status = common::Status::parse(&lines[2]);
    assert_eq!(
        (status.get("audio"), status.get("notifications")),
        ("Unknown", "Unknown")
    );
    assert!(
        common::log_lines(&stderr, "WARN", "").is_empty(),
        "{stderr}"
    );
}

/// A probe tells, before anything rings, that no sound device works: silently, and without
/// opening anything that stays open.
#[test]
fn a_probe_finds_no_audio_device_before_anything_rings() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }");
    let no_bus = common::no_bus(home.path());
    let (lines, _stderr) = common::run(
        home.path(),
        &no_bus,
        &common::script("status probe wait 300 status"),
    );
    let before = common::Status::parse(&lines[0]);
    assert_eq!(before.get("audio"), "Unknown");
    let after = common::Status::parse(&lines[1]);
    assert_eq!(after.get("audio"), "Unavailable");
    assert_eq!(after.get("ringing"), "0");
    assert_eq!(after.get("device_open"), "false");
}

/// The self-test (no steps) answers "will this PC make a noise?" in its exit status: without
/// a sound device or a notification service it fails and says which; `--version` is known.
#[test]
fn the_self_test_fails_and_says_why_without_sound_or_notifications() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }");
    let no_bus = common::no_bus(home.path());
    let (status, _lines, stderr) = common::run_to_exit(home.path(), &no_bus, &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let verdict = stderr
        .lines()
        .find(|l| l.starts_with("clinic-alarm: the alarm test failed"))
        .unwrap_or_else(|| panic!("no verdict: {stderr}"));
    assert!(
        verdict.contains("no sound") && verdict.contains("no notification"),
        "{verdict}"
    );

    // Told not to use notifications, only the sound counts.
    let (status, _lines, stderr) =
        common::run_to_exit(home.path(), &no_bus, &["--no-notifications"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("no notification"), "{stderr}");

    let (lines, _) = common::run(home.path(), &no_bus, &["--version"]);
    assert_eq!(
        lines,
        [format!("clinic-alarm {}", env!("CARGO_PKG_VERSION"))]
    );
}
