//! The alarm and chime really reach an ALSA device: the default PCM is routed through ALSA's
//! `file` plugin (over the `null` device) into a WAV, which we then analyse.
//!
//! Note: ALSA's `null` device consumes samples as fast as they come rather than in real time,
//! so a fraction of a second of wall time captures many loops (with silent gaps between the
//! refills). That is why these tests ring only briefly.
//!
//! Its own test binary: it counts the loops played in 400 ms of wall time, and with the other
//! alarm tests' processes (dbus-daemon, dbus-monitor, probes) starting beside it on two busy
//! cores it once counted one. It shares their harness (tests/alarm/common).
#![allow(clippy::unwrap_used)]

#[path = "alarm/common/mod.rs"]
mod common;

use common::wav::{near, pulses, read_channel0};
use common::{Probe, asoundrc};

/// The capture is 16-bit mono at 48 kHz to keep it small.
fn capture_to(home: &std::path::Path) -> std::path::PathBuf {
    let wav = home.join("capture.wav");
    asoundrc(
        home,
        &format!(
            "{{ type plug; slave {{ pcm {{ type file; slave.pcm \"null\"; file \"{}\"; format \"wav\" }}; \
             format S16_LE; channels 1; rate 48000 }} }}",
            wav.display()
        ),
    );
    wav
}

#[test]
fn alarm_loops_on_a_real_audio_device_until_stopped() {
    let home = tempfile::tempdir().unwrap();
    let wav = capture_to(home.path());
    let no_bus = common::no_bus(home.path());
    let mut probe = Probe::spawn(
        home.path(),
        &no_bus,
        &common::script(
            "--idle-close-ms 50 ring a wait 400 status stop a wait 600 status wait 600 status",
        ),
    );
    let mut seen = Vec::new();
    let ringing = probe.next_status(&mut seen);
    assert_eq!(ringing.get("ringing"), "1");
    assert_eq!(ringing.get("audio"), "Available");
    assert_eq!(ringing.get("device_open"), "true");
    assert!(ringing.num("loops_played") >= 2, "{ringing:?}");

    let stopped = probe.next_status(&mut seen);
    assert_eq!(stopped.get("ringing"), "0");
    assert_eq!(
        stopped.get("device_open"),
        "false",
        "idle device is closed after stop"
    );
    let size_after_stop = std::fs::metadata(&wav).unwrap().len();
    let later = probe.next_status(&mut seen);
    assert_eq!(later.num("loops_played"), stopped.num("loops_played"));
    assert_eq!(
        std::fs::metadata(&wav).unwrap().len(),
        size_after_stop,
        "capture kept growing after stop"
    );
    let (rest, _stderr) = probe.finish();
    seen.extend(rest);
    assert_eq!(seen, ["ring true", "stop true"]);

    let (samples, rate) = read_channel0(&std::fs::read(&wav).unwrap());
    assert_eq!(rate, 48_000);
    let found = pulses(&samples, rate);
    // Each loop is four ~150 ms pulses alternating B5 (988 Hz) and E6 (1319 Hz).
    assert!(
        found.len() >= 8,
        "expected at least two loops of four pulses, got {found:?}"
    );
    for pair in found.chunks_exact(2) {
        assert!(
            near(pair[0].freq, 987.8) && near(pair[1].freq, 1318.5),
            "not our two-tone alarm: {pair:?}"
        );
    }
    // The stop may cut the last pulse short; every other one is whole.
    for pulse in &found[..found.len() - 1] {
        let ms = pulse.len as f32 * 1000.0 / rate as f32;
        assert!((130.0..=170.0).contains(&ms), "pulse of {ms} ms: {pulse:?}");
        assert!(pulse.peak > 0.5, "the alarm should be loud: {pulse:?}");
    }
}

#[test]
fn chime_plays_once_and_softly() {
    let home = tempfile::tempdir().unwrap();
    let wav = capture_to(home.path());
    let no_bus = common::no_bus(home.path());
    let (lines, _stderr) = common::run(
        home.path(),
        &no_bus,
        &common::script("--idle-close-ms 50 chime wait 500 status"),
    );
    let status = common::Status::parse(lines.last().unwrap());
    assert_eq!(status.num("chimes_played"), 1);
    assert_eq!(status.num("loops_played"), 0);
    assert_eq!(status.get("device_open"), "false");

    let (samples, rate) = read_channel0(&std::fs::read(&wav).unwrap());
    let found = pulses(&samples, rate);
    // One chime: all sound lies within 0.5 s of its start (the decaying tail may flicker
    // around the loudness threshold, so it can show up as extra short stretches).
    let chime = found.first().expect("the chime is in the capture");
    let end = chime.start + rate as usize / 2;
    assert!(
        found.iter().all(|p| p.start + p.len <= end),
        "one chime: {found:?}"
    );
    assert!(
        chime.peak > 0.1 && chime.peak < 0.5,
        "audible but softer than the alarm: {chime:?}"
    );
    // It starts on E6 before the second, lower note joins.
    let first_note = &samples[chime.start..chime.start + rate as usize / 10];
    let head = pulses(first_note, rate);
    assert!(near(head[0].freq, 1318.5), "{head:?}");
}

#[test]
fn a_device_that_appears_while_ringing_is_picked_up() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }"); // no such card yet
    let no_bus = common::no_bus(home.path());
    let mut probe = Probe::spawn(
        home.path(),
        &no_bus,
        &common::script(
            "--retry-ms 100 --idle-close-ms 50 ring a wait 300 status wait 1500 status stop a",
        ),
    );
    let mut seen = Vec::new();
    let before = probe.next_status(&mut seen);
    assert_eq!(before.get("audio"), "Unavailable");
    // "Plug in the headset": ALSA re-reads a changed configuration on the next open.
    let wav = capture_to(home.path());
    let after = probe.next_status(&mut seen);
    assert_eq!(after.get("audio"), "Available");
    assert!(after.num("loops_played") >= 1, "{after:?}");
    let (_, stderr) = probe.finish();
    assert_eq!(
        common::log_lines(&stderr, "WARN", "no audio output").len(),
        1,
        "{stderr}"
    );
    assert_eq!(
        common::log_lines(&stderr, "INFO", "audio output works again").len(),
        1,
        "{stderr}"
    );
    let (samples, rate) = read_channel0(&std::fs::read(&wav).unwrap());
    assert!(
        pulses(&samples, rate).len() >= 4,
        "the alarm reached the new device"
    );
}

/// A probe opens a working device silently and closes it once idle: the alarm is known to be
/// audible before anything rings, and nothing is played.
#[test]
fn a_probe_finds_a_working_device_and_plays_nothing() {
    let home = tempfile::tempdir().unwrap();
    let wav = capture_to(home.path());
    let no_bus = common::no_bus(home.path());
    let (lines, _stderr) = common::run(
        home.path(),
        &no_bus,
        &common::script("--idle-close-ms 50 probe wait 600 status"),
    );
    let status = common::Status::parse(lines.last().unwrap());
    assert_eq!(status.get("audio"), "Available");
    assert_eq!(status.get("device_open"), "false", "closed again once idle");
    assert_eq!(status.num("loops_played") + status.num("chimes_played"), 0);
    let played = std::fs::read(&wav).map(|bytes| {
        let (samples, rate) = read_channel0(&bytes);
        pulses(&samples, rate)
    });
    assert!(played.is_ok_and(|p| p.is_empty()), "nothing audible");
}

/// A probe that finds no device is repeated until one works, silently and with nothing
/// ringing: a sound server that comes up after the app is found without an emergency, so the
/// warning that this computer cannot ring goes away by itself.
#[test]
fn a_failed_probe_is_repeated_until_a_device_works() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }"); // no such card yet
    let no_bus = common::no_bus(home.path());
    let mut probe = Probe::spawn(
        home.path(),
        &no_bus,
        &common::script(
            "--reprobe-ms 400 --idle-close-ms 5000 probe wait 200 status wait 1500 status",
        ),
    );
    let mut seen = Vec::new();
    let probed = probe.next_status(&mut seen);
    assert_eq!(probed.get("audio"), "Unavailable");
    capture_to(home.path());
    let later = probe.next_status(&mut seen);
    assert_eq!(later.get("audio"), "Available", "{later:?}");
    assert_eq!(later.get("device_open"), "true", "{later:?}");
    assert_eq!(later.num("loops_played") + later.num("chimes_played"), 0);
    let _ = probe.finish();
}

/// Once told to stop (the doctor signed out), a failed probe is not repeated: a device that
/// appears later is not opened until something plays.
#[test]
fn a_failed_probe_stops_being_repeated_when_told() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }"); // no such card yet
    let no_bus = common::no_bus(home.path());
    let mut probe = Probe::spawn(
        home.path(),
        &no_bus,
        &common::script(
            "--reprobe-ms 400 --idle-close-ms 5000 probe wait 200 status stop-probing wait 1500 \
             status",
        ),
    );
    let mut seen = Vec::new();
    let probed = probe.next_status(&mut seen);
    assert_eq!(probed.get("audio"), "Unavailable");
    capture_to(home.path());
    let later = probe.next_status(&mut seen);
    assert_eq!(
        later.get("audio"),
        "Unavailable",
        "not looked at again: {later:?}"
    );
    assert_eq!(later.get("device_open"), "false", "{later:?}");
    let _ = probe.finish();
}

/// A probe that finds no device does not hold back the first ring: a sound server that comes up
/// just after the app (both started at login) is tried as soon as an emergency rings, not after
/// the wait between retries.
#[test]
fn a_failed_probe_does_not_delay_the_first_ring() {
    let home = tempfile::tempdir().unwrap();
    common::asoundrc(home.path(), "{ type hw; card 31 }"); // no such card yet
    let no_bus = common::no_bus(home.path());
    let mut probe = Probe::spawn(
        home.path(),
        &no_bus,
        &common::script(
            "--retry-ms 60000 --idle-close-ms 50 probe wait 300 status wait 700 ring a wait 400 \
             status stop a",
        ),
    );
    let mut seen = Vec::new();
    let probed = probe.next_status(&mut seen);
    assert_eq!(probed.get("audio"), "Unavailable");
    // The device appears before the ring (ALSA re-reads a changed configuration at each open).
    capture_to(home.path());
    let ringing = probe.next_status(&mut seen);
    assert_eq!(ringing.get("audio"), "Available", "{ringing:?}");
    assert!(ringing.num("loops_played") >= 1, "{ringing:?}");
    let _ = probe.finish();
}
