//! The service's conversation with systemd (`Type=notify`), against a fake NOTIFY_SOCKET (a Unix
//! datagram socket, as systemd's): READY once migrated and answering, WATCHDOG only while a write
//! reaches the database, STOPPING on SIGTERM; no READY when the database cannot be opened.
#![allow(clippy::unwrap_used)]

use crate::common;
use common::Spawned;

use common::{WAIT, listening_addr};
use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Watchdog interval given to the server: it probes and pings every half of it.
const WATCHDOG: Duration = Duration::from_secs(2);

/// The fake systemd end: every datagram the server sends.
struct Systemd {
    socket: UnixDatagram,
}

impl Systemd {
    fn bind(dir: &Path) -> Self {
        let socket = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
        Self { socket }
    }

    /// The next message, or None if none came within `wait`.
    fn next(&self, wait: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Messages up to and including the first that contains `line`.
    fn until(&self, line: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .next(left.max(Duration::from_millis(1)))
                .unwrap_or_else(|| panic!("no {line} within {WAIT:?}; got {seen:?}"));
            let found = message.lines().any(|l| l == line || l.starts_with(line));
            seen.push(message);
            if found {
                return seen;
            }
        }
    }

    /// Every message within `wait`.
    fn during(&self, wait: Duration) -> Vec<String> {
        let end = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.next(left.max(Duration::from_millis(1))) {
                Some(message) => seen.push(message),
                None => break,
            }
        }
        seen
    }
}

fn serve(data_dir: &Path, notify: &Path) -> Spawned {
    Spawned(
        Command::new(env!("CARGO_BIN_EXE_clinic-server"))
            .arg("--data-dir")
            .arg(data_dir)
            // A new folder: a new, empty clinic.
            .args(["serve", "--init", "--tls", "off", "--listen", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", notify.join("notify.sock"))
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// `GET /healthz` over a plain socket: the status line.
fn health(addr: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ready_after_migrations_watchdog_only_while_the_database_answers_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let systemd = Systemd::bind(dir.path());
    let data = dir.path().join("data");
    let mut server = serve(&data, dir.path());
    let addr = listening_addr(&mut server);

    let before_ready = systemd.until("READY=1");
    assert!(
        before_ready.iter().all(|m| !m.contains("WATCHDOG=1")),
        "nothing before READY: {before_ready:?}"
    );
    // By READY the schema is in place and the port answers.
    let db = rusqlite::Connection::open(data.join("clinic.db")).unwrap();
    let seq: i64 = db
        .query_row(
            "SELECT value FROM counters WHERE name = 'change_seq'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(seq >= 0);
    assert!(health(&addr).contains(" 200 "), "healthz answers");

    systemd.until("WATCHDOG=1");
    systemd.until("WATCHDOG=1");

    // Another connection holds the write lock: the server's probes cannot commit, it says why
    // and stops pinging, so systemd would restart it.
    db.busy_timeout(WAIT).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    systemd.until("STATUS=database not answering");
    let while_blocked = systemd.during(WATCHDOG * 2);
    assert!(
        while_blocked.iter().all(|m| !m.contains("WATCHDOG=1")),
        "no watchdog ping while the database is blocked: {while_blocked:?}"
    );
    db.execute_batch("ROLLBACK").unwrap();
    let recovered = systemd.until("WATCHDOG=1");
    assert!(
        recovered.last().unwrap().contains("STATUS=serving"),
        "{recovered:?}"
    );

    terminate(&server);
    systemd.until("STOPPING=1");
    assert!(
        server.wait().unwrap().success(),
        "a clean exit after SIGTERM"
    );
}

#[test]
fn no_ready_when_the_database_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let systemd = Systemd::bind(dir.path());
    // A file where the data folder should be: nothing can be migrated.
    let data = dir.path().join("data");
    std::fs::write(&data, "not a folder").unwrap();
    let mut server = serve(&data, dir.path());
    let status = server.wait().unwrap();
    assert!(!status.success(), "the server gives up");
    let sent = systemd.during(Duration::from_millis(200));
    assert!(sent.iter().all(|m| !m.contains("READY=1")), "{sent:?}");
}
