//! `clinic-server serve --alarm` really makes a noise on the server machine while an emergency
//! waits for a doctor, and stops when one acknowledges it; without `--alarm` nothing plays.
//!
//! The real binary runs with its own HOME whose `.asoundrc` routes the default ALSA device
//! through the `file` plugin (over `null`) into a WAV (the recipe of alarm/tests/sound.rs), and
//! a D-Bus address where no bus listens, so notifications fail (once, logged) and must not
//! affect delivery. ALSA's `null` device is not paced in real time: the capture grows fast
//! while the device is open, and stops growing once the alarm closes it (after its idle time).
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use clinic_server::accounts::{NewAccount, create_user};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Only to keep a broken test from hanging (the alarm closes an idle device after 5 s).
const PATIENCE: Duration = Duration::from_secs(30);

struct Server {
    child: Child,
    addr: String,
    http: reqwest::Client,
    stderr: std::thread::JoinHandle<String>,
}

impl Server {
    fn spawn(home: &Path, data: &Path, alarm: bool) -> Self {
        let mut args = vec![
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--synchronous",
            "normal",
        ];
        if alarm {
            args.push("--alarm");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", home.join("no-bus").display()),
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = common::listening_addr(&mut child);
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            child,
            addr,
            http: common::http_client(&common::tls_config(data)),
            stderr,
        }
    }

    async fn post(&self, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("https://{}{path}", self.addr))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        common::split(request.send().await.unwrap()).await
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let request = self.http.get(format!("https://{}{path}", self.addr));
        let (status, body) = common::split(request.bearer_auth(token).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The caller's user id.
    async fn me(&self, token: &str) -> String {
        self.get(token, "/api/auth/me").await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn login(&self, username: &str) -> String {
        let body = json!({"username": username, "password": common::PASSWORD});
        let (status, body) = self.post(None, "/api/auth/login", body).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Stops the server (our own child) and returns what it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.join().unwrap()
    }
}

fn account(data: &Path, username: &str, role: Role) {
    create_user(
        data,
        NewAccount {
            username: username.into(),
            name: format!("Test {username}"),
            role,
            password: common::PASSWORD.into(),
            date_of_birth: None,
            blood_group: None,
        },
    )
    .unwrap();
}

/// The default ALSA device of `home` writes 16-bit mono 48 kHz into the returned WAV.
fn capture_to(home: &Path) -> PathBuf {
    let wav = home.join("capture.wav");
    std::fs::write(
        home.join(".asoundrc"),
        format!(
            "pcm.!default {{ type plug; slave {{ pcm {{ type file; slave.pcm \"null\"; \
             file \"{}\"; format \"wav\" }}; format S16_LE; channels 1; rate 48000 }} }}\n",
            wav.display()
        ),
    )
    .unwrap();
    wav
}

fn size(wav: &Path) -> u64 {
    std::fs::metadata(wav).map(|m| m.len()).unwrap_or(0)
}

/// Waits until the alarm sounds in the capture after it stood at `from` (ALSA's `file` plugin
/// truncates the capture when it reopens the device; the device may first play silence, as
/// when the server tried it at start); returns where the new audio starts.
async fn rings_after(wav: &Path, from: u64) -> u64 {
    tokio::time::timeout(PATIENCE, async {
        let mut start = from;
        loop {
            let now = size(wav);
            if now < start {
                start = 0;
            }
            let grown = usize::try_from(now.saturating_sub(start)).unwrap_or(usize::MAX);
            if grown > 1_000_000 && loud_samples(wav, start, grown.min(256 << 20)) > 1_000 {
                return start;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the alarm did not sound: capture at {}", size(wav)))
}

/// Waits until the capture stops growing (device closed); returns its final size.
async fn settles(wav: &Path) -> u64 {
    tokio::time::timeout(PATIENCE, async {
        let mut last = size(wav);
        loop {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let now = size(wav);
            if now == last {
                return now;
            }
            last = now;
        }
    })
    .await
    .expect("the alarm kept playing")
}

/// Loud samples in the capture between byte offsets (16-bit little-endian mono).
fn loud_samples(wav: &Path, from: u64, len: usize) -> usize {
    let mut file = std::fs::File::open(wav).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from.max(44) & !1)).unwrap();
    let mut bytes = vec![0u8; len];
    let read = file.read(&mut bytes).unwrap();
    bytes[..read]
        .chunks_exact(2)
        .filter(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 8_000)
        .count()
}

#[tokio::test]
async fn the_server_alarm_rings_while_an_emergency_waits_and_stops_when_taken() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let wav = capture_to(home.path());
    account(data.path(), "doc", Role::Doctor);
    account(data.path(), "pat", Role::Patient);

    // Without --alarm: the emergency is stored and nothing plays.
    let quiet = Server::spawn(home.path(), data.path(), false);
    let pat = quiet.login("pat").await;
    let doc = quiet.login("doc").await;
    let (patient_id, doctor_id) = (quiet.me(&pat).await, quiet.me(&doc).await);
    let sos = |client_id: &str| {
        json!({"patientId": patient_id, "doctorId": doctor_id, "content": "Help",
               "isEmergency": true, "clientId": client_id})
    };
    let (status, first) = quiet
        .post(Some(&pat), "/api/chat/messages", sos("sos-1"))
        .await;
    assert_eq!(status, 201, "{first}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(size(&wav), 0, "no --alarm, no sound");
    quiet.stop();

    // With --alarm, after a restart: the emergency still waiting rings at once.
    let loud = Server::spawn(home.path(), data.path(), true);
    rings_after(&wav, 0).await;
    let open = loud.get(&doc, "/api/emergencies?open=true").await;
    let id = open[0]["id"].as_str().unwrap().to_owned();

    // Acknowledged: the alarm stops (the device closes after its idle time).
    let (status, _) = loud
        .post(
            Some(&doc),
            &format!("/api/emergencies/{id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let stopped_at = settles(&wav).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        size(&wav),
        stopped_at,
        "the alarm played on after the acknowledgement"
    );

    // A new emergency rings again, from the moment it is raised; delivery never waits for it.
    let (status, _) = loud
        .post(Some(&pat), "/api/chat/messages", sos("sos-2"))
        .await;
    assert_eq!(status, 201);
    rings_after(&wav, stopped_at).await;
    let log = loud.stop();
    assert!(log.contains("server alarm on"), "{log}");
    assert!(
        log.contains("the server alarm's sound device works"),
        "{log}"
    );
    // No notification service here: said once, for two emergencies, and delivery went on.
    assert_eq!(
        log.matches("desktop notifications unavailable").count(),
        1,
        "{log}"
    );
}

/// On a machine where no sound device works, `serve --alarm` says so as it starts, before any
/// emergency, and serves as usual.
#[tokio::test]
async fn the_server_alarm_says_at_start_when_it_cannot_be_heard() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // A card that does not exist: opening the default device fails inside ALSA.
    std::fs::write(
        home.path().join(".asoundrc"),
        "pcm.!default { type hw; card 31 }\n",
    )
    .unwrap();
    account(data.path(), "doc", Role::Doctor);
    let server = Server::spawn(home.path(), data.path(), true);
    let doc = server.login("doc").await;
    server.me(&doc).await;
    let log = server.stop();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("the server alarm cannot be heard"))
        .collect();
    // Said before the server listened (the start waits for the answer), so already in the log
    // of a server that never saw an emergency.
    assert_eq!(said.len(), 1, "{log}");
}
