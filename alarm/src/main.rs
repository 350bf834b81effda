//! `clinic-alarm`: check the alarm sound and notifications on this machine, step by step.
//!
//! Clinic IT uses it to answer "will this PC make a noise?"; the crate's tests drive it in a
//! controlled environment (private ALSA config, private D-Bus) because a test process cannot
//! change its own environment. Each argument is a step, run in order, e.g.
//! `clinic-alarm ring a wait 3000 status stop a notify critical "Test" "Body" status`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clinic_alarm::{Alarm, AlarmConfig, Availability, Notice, Urgency};

const USAGE: &str = "usage: clinic-alarm [--no-audio] [--no-notifications] [--idle-close-ms N] \
[--retry-ms N] [--reprobe-ms N] STEP...
steps: ring KEY | stop KEY | silence | chime | probe | stop-probing | wait MS | status
       notify critical|normal TITLE BODY | notify-later critical|normal TITLE BODY
       notify-tagged TAG TITLE BODY (critical, queued) | withdraw TAG | withdraw-all
without steps: ring for 3 s, then show a critical test notification, and exit 1 unless both
worked";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clinic-alarm: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("clinic-alarm {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let mut config = AlarmConfig::default();
    while let Some(flag) = args.first().filter(|a| a.starts_with("--")).cloned() {
        args.remove(0);
        match flag.as_str() {
            "--no-audio" => config.audio = false,
            "--no-notifications" => config.notifications = false,
            "--idle-close-ms" => config.idle_close = millis(take(&mut args, &flag)?.as_str())?,
            "--retry-ms" => config.retry_after = millis(take(&mut args, &flag)?.as_str())?,
            "--reprobe-ms" => {
                config.reprobe_every = millis(take(&mut args, &flag)?.as_str())?;
            }
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    let self_test = args.is_empty();
    if self_test {
        args = [
            "ring", "test", "wait", "3000", "status", "stop", "test", "status",
        ]
        .into_iter()
        .chain([
            "notify",
            "critical",
            "Clinic alarm test",
            "If you can read this, notifications work.",
        ])
        .map(String::from)
        .collect();
    }
    let wanted = (config.audio, config.notifications);
    let alarm = Alarm::start(config);
    let mut steps = args.into_iter();
    while let Some(step) = steps.next() {
        let mut arg = |what: &str| {
            steps
                .next()
                .with_context(|| format!("{step} needs {what}\n{USAGE}"))
        };
        match step.as_str() {
            "ring" => println!("ring {}", alarm.ring(arg("a key")?)),
            "stop" => println!("stop {}", alarm.stop(&arg("a key")?)),
            "silence" => println!("silence {}", alarm.silence()),
            "chime" => alarm.chime(),
            "probe" => alarm.probe(),
            "wait" => std::thread::sleep(millis(&arg("milliseconds")?)?),
            "stop-probing" => alarm.stop_probing(),
            "status" => print_status(&alarm),
            "notify" | "notify-later" => {
                let urgency = match arg("an urgency")?.as_str() {
                    "critical" => Urgency::Critical,
                    "normal" => Urgency::Normal,
                    other => bail!("unknown urgency {other}\n{USAGE}"),
                };
                let notice = Notice {
                    title: arg("a title")?,
                    body: arg("a body")?,
                    urgency,
                    tag: None,
                };
                let result = if step == "notify" {
                    alarm.notify(notice)
                } else {
                    alarm.notify_later(notice)
                };
                match result {
                    Ok(()) => println!("{step} ok"),
                    Err(err) => println!("{step} error: {err}"),
                }
            }
            "notify-tagged" => {
                let tag = arg("a tag")?;
                let notice = Notice::critical(arg("a title")?, arg("a body")?).tagged(tag);
                match alarm.notify_later(notice) {
                    Ok(()) => println!("{step} ok"),
                    Err(err) => println!("{step} error: {err}"),
                }
            }
            "withdraw" => match alarm.withdraw(arg("a tag")?) {
                Ok(()) => println!("{step} ok"),
                Err(err) => println!("{step} error: {err}"),
            },
            "withdraw-all" => match alarm.withdraw_all() {
                Ok(()) => println!("{step} ok"),
                Err(err) => println!("{step} error: {err}"),
            },
            other => bail!("unknown step {other}\n{USAGE}"),
        }
    }
    if self_test {
        verdict(&alarm, wanted)?;
    }
    Ok(())
}

/// The self-test's answer to "will this PC make a noise?": what failed, or that both worked.
fn verdict(alarm: &Alarm, (audio, notifications): (bool, bool)) -> anyhow::Result<()> {
    let status = alarm.status();
    let mut failed = Vec::new();
    if audio && status.audio != Availability::Available {
        failed.push("no sound: no audio device could be opened (the log above says why)");
    }
    if notifications && status.notifications != Availability::Available {
        failed.push(
            "no notification: no desktop notification service answered (the log above says why)",
        );
    }
    if !failed.is_empty() {
        bail!("the alarm test failed: {}", failed.join("; "));
    }
    println!("the alarm test rang and showed a notification: check that you heard and saw them");
    Ok(())
}

fn take(args: &mut Vec<String>, flag: &str) -> anyhow::Result<String> {
    if args.is_empty() {
        bail!("{flag} needs a value\n{USAGE}");
    }
    Ok(args.remove(0))
}

fn millis(text: &str) -> anyhow::Result<Duration> {
    let ms: u64 = text
        .parse()
        .with_context(|| format!("not a number of milliseconds: {text}"))?;
    Ok(Duration::from_millis(ms))
}

/// One machine-readable line: `status key=value ...` (the tests parse it).
fn print_status(alarm: &Alarm) {
    let s = alarm.status();
    println!(
        "status ringing={} audio={:?} device_open={} loops_played={} chimes_played={} \
         notifications={:?} notices_shown={}",
        s.ringing,
        s.audio,
        s.device_open,
        s.loops_played,
        s.chimes_played,
        s.notifications,
        s.notices_shown
    );
}
