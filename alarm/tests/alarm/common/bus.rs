//! A private D-Bus session bus (our own `dbus-daemon`, no service activation) and a stand-in
//! `org.freedesktop.Notifications` server on it that records every Notify call.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use zbus::OwnedVariant;

/// A `dbus-daemon` we started; killed (by its own handle) when dropped.
pub struct PrivateBus {
    child: Child,
    pub address: String,
}

impl PrivateBus {
    /// Starts a session bus listening in `dir`. No `<servicedir>`: nothing is auto-started, so
    /// the outcome never depends on which notification daemons happen to be installed.
    pub fn start(dir: &Path) -> Self {
        let config = dir.join("session.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.join("bus").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The daemon prints its address once it is listening.
        let mut address = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon did not start: {address:?}"
        );
        Self { child, address }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Notify call as the notification server saw it.
#[derive(Debug, Clone)]
pub struct Notified {
    pub app_name: String,
    pub summary: String,
    pub body: String,
    pub urgency: Option<u8>,
    pub expire_timeout: i32,
    /// The notification this call replaced (0: a new one).
    pub replaces_id: u32,
}

/// The recorder behind the stand-in server: the Notify calls (the id of a new one is its
/// position, from 1; one that replaces keeps the id it replaced) and the ids that
/// CloseNotification asked to close.
#[derive(Debug, Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Vec<Notified>>>, pub Arc<Mutex<Vec<u32>>>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        hints: HashMap<String, OwnedVariant>,
        expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        let mut calls = self.0.lock().unwrap();
        calls.push(Notified {
            app_name,
            summary,
            body,
            urgency,
            expire_timeout,
            replaces_id,
        });
        // One still shown (not closed) keeps its id; any other call gets a new one, as a
        // service that no longer has the notification it was asked to replace does.
        if replaces_id != 0 && !self.1.lock().unwrap().contains(&replaces_id) {
            return replaces_id;
        }
        u32::try_from(calls.len()).unwrap()
    }

    async fn close_notification(&self, id: u32) {
        self.1.lock().unwrap().push(id);
    }

    async fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    async fn get_server_information(&self) -> (String, String, String, String) {
        (
            "test-recorder".into(),
            "clinic".into(),
            "1".into(),
            "1.2".into(),
        )
    }
}

/// Serves the recorder on `address` as `org.freedesktop.Notifications`; keep the connection.
pub fn serve_notifications(address: &str) -> (zbus::Connection, Recorder) {
    let recorder = Recorder::default();
    let connection = zbus::block_on(
        zbus::connection::Builder::address(address)
            .serve_at("/org/freedesktop/Notifications", recorder.clone())
            .name("org.freedesktop.Notifications")
            .build(),
    )
    .unwrap();
    (connection, recorder)
}

/// `dbus-monitor` watching Notify calls on a bus: an independent witness of what went over the
/// wire, next to what our stand-in server decoded.
pub struct Monitor {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Monitor {
    /// Starts `dbus-monitor` and waits until it is attached (it prints `NameLost` for its own
    /// name when it becomes a monitor), so no later call can slip past it.
    pub fn attach(address: &str) -> Self {
        let mut child = Command::new("dbus-monitor")
            .args(["--address", address])
            .arg("type='method_call',interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let monitor = Self { child, lines };
        monitor.read_until(|line| line.contains("member=NameLost"));
        monitor
    }

    /// Reads the monitor's output until `calls` Notify calls were printed in full.
    pub fn notify_calls(self, calls: usize) -> Vec<String> {
        let mut seen = 0;
        self.read_until(|line| {
            // Each Notify ends with its expire_timeout argument, the only int32 in the call.
            seen += usize::from(line.trim_start().starts_with("int32 "));
            seen == calls
        })
    }

    fn read_until(&self, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(super::HANG_GUARD)
                .unwrap_or_else(|err| panic!("dbus-monitor went quiet ({err}) after {lines:#?}"));
            let finished = done(&line);
            lines.push(line);
            if finished {
                return lines;
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
