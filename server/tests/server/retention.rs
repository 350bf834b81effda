//! Retention and legal holds through the real CLI against a serving server's data folder: off by
//! default (20-year-old data stays), the period's boundary, the minors rule, holds kept and then
//! released, files and emergencies removed with their messages, sync telling devices what went,
//! an emergency purged while it waited no longer alerted, and bad settings refused with nothing
//! deleted.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Account, TestServer};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("CLINIC_RETENTION")
        .env_remove("CLINIC_RETENTION_BELOW_FLOOR")
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

async fn send(
    server: &TestServer,
    from: &Account,
    patient: &Account,
    doctor: &Account,
    body: Value,
) {
    let mut body = body;
    body["patientId"] = json!(patient.id());
    body["doctorId"] = json!(doctor.id());
    let (status, m) = server.post(&from.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{m}");
}

/// Uploads a file for the conversation of `patient` (the sender) with `doctor`.
async fn upload(
    server: &TestServer,
    patient: &Account,
    doctor: &Account,
    name: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Value {
    let (status, file) = server
        .upload(patient, (patient, doctor), name, bytes, content_type)
        .await;
    assert_eq!(status, 201, "{file}");
    file
}

const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;

/// Moves a conversation's messages (and emergencies) `age_ms` into the past.
fn age(dir: &Path, patient: &Account, age_ms: i64) {
    // A text just sent may still wait in the send log.
    clinic_server::testing::move_log(dir).unwrap();
    let db = rusqlite::Connection::open(dir.join("clinic.db")).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    db.execute(
        "UPDATE messages SET created_at = ?2 - ?3 + (created_at % 1000), updated_at = ?2 - ?3,
             written_at = written_at - (created_at - (?2 - ?3 + (created_at % 1000)))
         WHERE patient_id = ?1",
        rusqlite::params![patient.id(), now, age_ms],
    )
    .unwrap();
    db.execute(
        "UPDATE emergencies SET raised_at = raised_at - ?2, alerted_at = alerted_at - ?2,
             acknowledged_at = acknowledged_at - ?2, escalated_at = escalated_at - ?2,
             reopened_at = reopened_at - ?2, resolved_at = resolved_at - ?2
         WHERE patient_id = ?1",
        rusqlite::params![patient.id(), age_ms],
    )
    .unwrap();
}

/// Reads `ws` for a second and a half (15 repeat intervals of the tests that call it): no alert
/// of emergency `id` comes, and the socket stays open.
async fn no_alert_of(ws: &mut common::Ws, id: &Value) {
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(1500), async {
        while let Some(frame) = ws.next().await {
            assert!(
                !(frame["type"] == "emergency:alert" && frame["emergency"]["id"] == *id),
                "a purged emergency is alerted again: {frame}"
            );
        }
    })
    .await;
    assert!(quiet.is_err(), "the socket stays open");
}

/// The messages of `patient` in the database file, as another process sees it: a text just
/// acknowledged may still wait in the send log, which the server moves within milliseconds.
fn count(dir: &Path, patient: &Account) -> i64 {
    let db = rusqlite::Connection::open(dir.join("clinic.db")).unwrap();
    db.query_row(
        "SELECT (SELECT count(*) FROM messages WHERE patient_id = ?1)
              + (SELECT count(*) FROM event_log WHERE kind = 'SEND' AND patient_id = ?1)",
        [patient.id()],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn retention_removes_only_what_the_policy_and_holds_allow() {
    let server = TestServer::start().await;
    let dir = server.dir.path().to_path_buf();
    let doc = server.account("dr.house", Role::Doctor).await;
    let old = server.account("old.patient", Role::Patient).await;
    let recent = server.account("recent.patient", Role::Patient).await;
    let held = server.account("held.patient", Role::Patient).await;
    let young = server.account("young.patient", Role::Patient).await;
    let other = server.account("dr.other", Role::Doctor).await;
    // The young patient was born 20 years ago: kept until their 25th birthday.
    {
        let db = rusqlite::Connection::open(dir.join("clinic.db")).unwrap();
        let born = (chrono::Utc::now() - chrono::Duration::days(20 * 365)).date_naive();
        db.execute(
            "UPDATE users SET date_of_birth = ?2 WHERE id = ?1",
            rusqlite::params![young.id(), born.to_string()],
        )
        .unwrap();
    }

    // The old conversation has a file and an emergency.
    let file = upload(
        &server,
        &old,
        &doc,
        "rash.png",
        common::PNG.to_vec(),
        "image/png",
    )
    .await;
    send(
        &server,
        &old,
        &old,
        &doc,
        json!({"content": "photo", "fileUrl": file["fileUrl"]}),
    )
    .await;
    send(
        &server,
        &old,
        &old,
        &doc,
        json!({"content": "chest pain", "isEmergency": true}),
    )
    .await;
    send(&server, &doc, &old, &doc, json!({"content": "on my way"})).await;
    for p in [&recent, &held, &young] {
        send(&server, p, p, &doc, json!({"content": "hello"})).await;
        send(&server, &doc, p, &doc, json!({"content": "hello back"})).await;
    }
    age(&dir, &old, 20 * YEAR_MS);
    age(&dir, &recent, 10 * YEAR_MS - 3 * DAY_MS);
    age(&dir, &held, 11 * YEAR_MS);
    age(&dir, &young, 11 * YEAR_MS);
    let emergency_id: String = rusqlite::Connection::open(dir.join("clinic.db"))
        .unwrap()
        .query_row(
            "SELECT id FROM emergencies WHERE patient_id = ?1",
            [old.id()],
            |r| r.get(0),
        )
        .unwrap();
    let files_dir = dir.join("files");
    let files_before = walk(&files_dir);
    assert!(!files_before.is_empty());

    // Off by default: 20-year-old data stays.
    assert!(ok(&cli(&dir, &["retention", "run"])).contains("Retention is off"));
    assert!(ok(&cli(&dir, &["retention", "preview"])).contains("Retention is off"));
    assert_eq!(count(&dir, &old), 3);

    // Bad settings name the setting and the form; nothing is deleted.
    for (bad, says) in [
        ("10 years", "30d or 10y"),
        ("-1d", "30d or 10y"),
        ("5y", "6-year floor"),
    ] {
        let out = cli(&dir, &["retention", "run", &format!("--retention={bad}")]);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--retention") && err.contains(says),
            "{bad}: {err}"
        );
    }
    assert_eq!(count(&dir, &old), 3);

    // A hold on the held patient; a hold needs a reason and a patient.
    let no_reason = cli(
        &dir,
        &["hold", "add", "--patient", "held.patient", "--reason", " "],
    );
    assert!(!no_reason.status.success());
    let not_patient = cli(
        &dir,
        &["hold", "add", "--patient", "dr.house", "--reason", "x"],
    );
    assert!(String::from_utf8_lossy(&not_patient.stderr).contains("not a patient"));
    ok(&cli(
        &dir,
        &[
            "hold",
            "add",
            "--patient",
            "held.patient",
            "--reason",
            "case 12",
        ],
    ));
    let list = ok(&cli(&dir, &["hold", "list"]));
    assert!(
        list.contains("held.patient") && list.contains("case 12"),
        "{list}"
    );

    let preview = ok(&cli(&dir, &["retention", "preview", "--retention", "10y"]));
    assert!(preview.contains("old.patient"), "{preview}");
    assert!(preview.contains("held (kept)"), "{preview}");
    assert!(!preview.contains("recent.patient"), "{preview}");
    assert!(!preview.contains("young.patient"), "{preview}");
    assert!(
        preview.contains("1 conversations (3 messages)"),
        "{preview}"
    );
    assert_eq!(count(&dir, &old), 3, "a preview changes nothing");

    let run = ok(&cli(&dir, &["retention", "run", "--retention", "10y"]));
    assert!(
        run.contains("removed 3 messages of old.patient with dr.house"),
        "{run}"
    );
    assert_eq!(
        [
            count(&dir, &old),
            count(&dir, &recent),
            count(&dir, &held),
            count(&dir, &young)
        ],
        [0, 2, 2, 2]
    );
    assert!(
        walk(&files_dir).is_empty(),
        "the purged photo's file is gone"
    );
    let db = rusqlite::Connection::open(dir.join("clinic.db")).unwrap();
    let leftovers: i64 = db
        .query_row(
            "SELECT (SELECT count(*) FROM emergencies WHERE patient_id = ?1)
                  + (SELECT count(*) FROM notifications WHERE patient_id = ?1)
                  + (SELECT count(*) FROM uploads WHERE patient_id = ?1)",
            [old.id()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0);
    let doomed: i64 = db
        .query_row("SELECT count(*) FROM doomed_files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(doomed, 0, "removed files are no longer listed");

    // Devices learn it from sync: the purge is there for the doctor and the patient, and for
    // every doctor since an emergency went with it (they all hold emergencies); not for another
    // patient.
    for (who, sees) in [(&doc, true), (&old, true), (&other, true), (&recent, false)] {
        let (status, page) = server.get(&who.token, "/api/sync?since=0").await;
        assert_eq!(status, 200);
        let purges = page["purges"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            purges.len(),
            usize::from(sees),
            "{}: {page}",
            who.user.username
        );
        if sees {
            assert_eq!(purges[0]["patientId"], json!(old.id()));
            // The emergency that went is named: a doctor who never had the messages holds it.
            assert_eq!(purges[0]["emergencyIds"], json!([emergency_id]), "{page}");
            assert!(
                page["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["patientId"] != json!(old.id()))
            );
        }
    }
    // The old conversation can start again.
    send(&server, &old, &old, &doc, json!({"content": "I'm back"})).await;
    assert_eq!(count(&dir, &old), 1);

    // Releasing the hold deletes nothing by itself; the next run does.
    assert!(
        !cli(&dir, &["hold", "release", "99", "--reason", "x"])
            .status
            .success()
    );
    ok(&cli(
        &dir,
        &["hold", "release", "1", "--reason", "case closed"],
    ));
    assert_eq!(count(&dir, &held), 2);
    assert!(ok(&cli(&dir, &["hold", "list"])).contains("no active holds"));
    assert!(ok(&cli(&dir, &["hold", "list", "--all"])).contains("case closed"));
    let run = ok(&cli(&dir, &["retention", "run", "--retention", "10y"]));
    assert!(run.contains("held.patient"), "{run}");
    assert_eq!(
        [
            count(&dir, &old),
            count(&dir, &recent),
            count(&dir, &held),
            count(&dir, &young)
        ],
        [1, 2, 0, 2]
    );
}

#[tokio::test]
async fn serve_refuses_a_bad_retention_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "serve",
            "--init",
            "--listen",
            "127.0.0.1:0",
            "--retention",
            "3y",
        ])
        .env_remove("CLINIC_RETENTION")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--retention") && err.contains("6-year floor"),
        "{err}"
    );
    assert!(
        !dir.path().join("clinic.db").exists(),
        "nothing was created"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// The server's own nightly run purges what is due and tells the participants online at once.
#[tokio::test]
async fn the_nightly_run_tells_the_participants_online() {
    let server = TestServer::start().await;
    let doc = server.account("dr.night", Role::Doctor).await;
    let pat = server.account("night.patient", Role::Patient).await;
    server.account("dr.elsewhere", Role::Doctor).await;
    send(&server, &pat, &pat, &doc, json!({"content": "long ago"})).await;
    send(
        &server,
        &pat,
        &pat,
        &doc,
        json!({"content": "help, long ago", "isEmergency": true}),
    )
    .await;
    send(
        &server,
        &doc,
        &pat,
        &doc,
        json!({"content": "answered long ago"}),
    )
    .await;
    let (_, page) = server.get(&doc.token, "/api/sync?since=0").await;
    let emergency_id = page["emergencies"][0]["id"].clone();
    assert!(emergency_id.is_string(), "{page}");
    let dir = server.stop().await;
    age(dir.path(), &pat, 20 * YEAR_MS);

    // The run is due a few seconds after the restart: time enough to connect.
    let at = (chrono::Local::now() + chrono::Duration::seconds(6)).time();
    let server = TestServer::start_in(dir, |config| {
        config.retention = clinic_server::retention::Policy::parse("10y", false).unwrap();
        config.retention_at = at;
        // The emergency still waits for a doctor: its alert repeats until the purge.
        config.emergency_repeat_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let doc_token = server.login("dr.night").await;
    let (mut ws, _) = common::Ws::connect(&server, &doc_token).await;
    // Another doctor holds the emergency too, so hears of the purge that took it.
    let other_token = server.login("dr.elsewhere").await;
    let (mut other, _) = common::Ws::connect(&server, &other_token).await;
    for ws in [&mut ws, &mut other] {
        let (purged, _) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            ws.expect_skipping("conversation:purged").await
        })
        .await
        .expect("the nightly run announces the purge");
        assert_eq!(purged["patientId"], json!(pat.id()));
        assert_eq!(purged["emergencyIds"], json!([emergency_id]));
    }
    // Nothing is left to take, so nothing rings any more: no alert of it after the purge
    // (those queued before it are written before it), while repeats came every 100 ms.
    for ws in [&mut ws, &mut other] {
        no_alert_of(ws, &emergency_id).await;
    }
    assert_eq!(count(server.dir.path(), &pat), 0);
}

/// A purge records the files it dooms in its own transaction; a crash before they are removed
/// leaves them listed, and the next start removes them (but not one an upload uses again).
#[tokio::test]
async fn files_doomed_before_a_crash_go_at_the_next_start() {
    let server = TestServer::start().await;
    let doc = server.account("dr.files", Role::Doctor).await;
    let pat = server.account("files.patient", Role::Patient).await;
    for (name, bytes) in [
        ("a.txt", b"purged only".to_vec()),
        ("b.txt", b"kept".to_vec()),
    ] {
        let file = upload(&server, &pat, &doc, name, bytes, "text/plain").await;
        send(
            &server,
            &pat,
            &pat,
            &doc,
            json!({"content": name, "fileUrl": file["fileUrl"]}),
        )
        .await;
    }
    let dir = server.stop().await;
    let files_dir = dir.path().join("files");
    assert_eq!(walk(&files_dir).len(), 2);
    let shas = {
        // What a committed batch leaves when the process dies before removing its files: the
        // first message and its upload gone, both contents listed as doomed (the second one's
        // upload row is still there, as if uploaded again meanwhile).
        let db = rusqlite::Connection::open(dir.path().join("clinic.db")).unwrap();
        let shas: Vec<String> = db
            .prepare(
                "SELECT u.sha256 FROM uploads u JOIN messages m ON m.id = u.message_id
                 ORDER BY m.seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(shas.len(), 2);
        db.execute_batch(&format!(
            "DELETE FROM uploads WHERE sha256 = '{0}';
             DELETE FROM messages WHERE content = 'a.txt';
             INSERT INTO doomed_files (sha256) VALUES ('{0}'), ('{1}');",
            shas[0], shas[1]
        ))
        .unwrap();
        shas
    };

    let server = TestServer::start_in(dir, |_| {}).await;
    // Answering means started: the doomed files went before the server took connections.
    let (status, page) = server.get(&doc.token, "/api/sync?since=0").await;
    assert_eq!(status, 200);
    let left = walk(&server.dir.path().join("files"));
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].to_string_lossy().contains(&shas[1]), "{left:?}");
    let db = rusqlite::Connection::open(server.dir.path().join("clinic.db")).unwrap();
    let listed: i64 = db
        .query_row("SELECT count(*) FROM doomed_files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(listed, 0);
    // The kept file still downloads.
    let url = page["messages"][0]["fileUrl"].as_str().unwrap().to_owned();
    let res = server
        .http
        .get(server.url(&url))
        .bearer_auth(&doc.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// An emergency still waiting for a doctor, escalated already (as one waiting since before the
/// retention period would be), when the CLI purges its conversation (another process: the
/// server is not told) stops ringing after its next repeat or two, when the server finds it
/// gone, instead of repeating for ever with nothing left for a doctor to take.
#[tokio::test]
async fn an_emergency_the_cli_purged_stops_ringing() {
    let server = TestServer::start_with(|config| {
        config.emergency_repeat_interval = std::time::Duration::from_millis(100);
        config.emergency_escalate_after = std::time::Duration::from_millis(300);
    })
    .await;
    let doc = server.account("dr.cli", Role::Doctor).await;
    let pat = server.account("cli.patient", Role::Patient).await;
    let (mut ws, _) = common::Ws::connect(&server, &doc.token).await;
    send(
        &server,
        &pat,
        &pat,
        &doc,
        json!({"content": "help", "isEmergency": true}),
    )
    .await;
    let alert = ws.expect("emergency:alert").await;
    let emergency_id = alert["emergency"]["id"].clone();
    loop {
        let alert = ws.expect("emergency:alert").await;
        if alert["escalated"] == true {
            break;
        }
    }
    age(server.dir.path(), &pat, 20 * YEAR_MS);
    ok(&cli(
        server.dir.path(),
        &["retention", "run", "--retention", "10y"],
    ));
    assert_eq!(count(server.dir.path(), &pat), 0);
    // A repeat or two may be on the way; then none.
    let settle = tokio::time::Instant::now() + std::time::Duration::from_millis(400);
    while tokio::time::timeout_at(settle, ws.next()).await.is_ok() {}
    no_alert_of(&mut ws, &emergency_id).await;
}

/// A patient's emergency raised in her conversation with one doctor, as a second doctor sees it.
struct OldEmergency {
    server: TestServer,
    second: Account,
    pat: Account,
    id: String,
}

async fn emergency_raised_with_a_first_doctor(patient: &str) -> OldEmergency {
    let server = TestServer::start().await;
    let first = server
        .account(&format!("dr.first.{patient}"), Role::Doctor)
        .await;
    let second = server
        .account(&format!("dr.second.{patient}"), Role::Doctor)
        .await;
    let pat = server.account(patient, Role::Patient).await;
    send(
        &server,
        &pat,
        &pat,
        &first,
        json!({"content": "help", "isEmergency": true}),
    )
    .await;
    let (_, open) = server.get(&second.token, "/api/emergencies").await;
    let id = open[0]["id"].as_str().unwrap().to_owned();
    OldEmergency {
        server,
        second,
        pat,
        id,
    }
}

impl OldEmergency {
    /// Twenty years later (the first conversation and the emergency aged) she presses again
    /// from her conversation with the second doctor.
    async fn pressed_again_years_later(&self, content: &str) {
        age(self.server.dir.path(), &self.pat, 20 * YEAR_MS);
        send(
            &self.server,
            &self.pat,
            &self.pat,
            &self.second,
            json!({"content": content, "isEmergency": true}),
        )
        .await;
    }

    fn retention_run(&self) {
        ok(&cli(
            self.server.dir.path(),
            &["retention", "run", "--retention", "10y"],
        ));
    }

    async fn as_the_second_doctor_sees_it(&self) -> (u16, Value) {
        self.server
            .get(&self.second.token, &format!("/api/emergencies/{}", self.id))
            .await
    }
}

#[tokio::test]
async fn an_old_conversation_keeps_an_emergency_pressed_again_elsewhere() {
    let old = emergency_raised_with_a_first_doctor("old.patient").await;
    let (status, _) = old
        .server
        .post(
            &old.second.token,
            &format!("/api/emergencies/{}/acknowledge", old.id),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    // The emergency is hers again.
    old.pressed_again_years_later("worse now, please come")
        .await;
    let (_, reopened) = old.as_the_second_doctor_sees_it().await;
    assert_eq!(reopened["emergency"]["state"], "RAISED", "{reopened}");
    old.retention_run();
    let (status, kept) = old.as_the_second_doctor_sees_it().await;
    assert_eq!(status, 200, "the emergency is still there to take: {kept}");
    assert_eq!(kept["emergency"]["state"], "RAISED");
    assert!(
        count(old.server.dir.path(), &old.pat) >= 2,
        "its first press kept too"
    );
}

#[tokio::test]
async fn an_old_conversation_keeps_an_open_emergency_joined_from_elsewhere() {
    // Nobody took it; her press from another conversation joins it (its row does not change).
    let old = emergency_raised_with_a_first_doctor("joined.patient").await;
    old.pressed_again_years_later("still waiting").await;
    old.retention_run();
    let (status, kept) = old.as_the_second_doctor_sees_it().await;
    assert_eq!(status, 200, "the emergency is still there to take: {kept}");
    assert_eq!(kept["emergency"]["state"], "RAISED");
}
