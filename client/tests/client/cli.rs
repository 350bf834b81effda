//! The `clinic` CLI end to end: login (bad and good password), whoami, tail following a
//! conversation live, conversations, logout; sending a file and an emergency, the outbox, a
//! doctor taking and resolving the emergency, and availability stored on the server; search.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_follows_and_logs_out() {
    let data = demo_data_dir();
    let (profile, patel_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();

    assert!(!cli_login(profile.path(), &url, "alice", "wrong"));
    let out = clinic(profile.path()).arg("whoami").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "no session yet");
    assert!(cli_login(profile.path(), &url, "alice", PASSWORD));
    let out = clinic(profile.path()).arg("whoami").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("alice"));
    assert_eq!(out.status.code(), Some(0));
    // Its reader gone before it writes (`clinic whoami | true`): it ends quietly, no panic.
    let mut child = clinic(profile.path())
        .arg("whoami")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.is_empty(), "{said}");
    // `--server` naming another server than the profile's is refused, not ignored (a sync
    // would have gone on with the old one); naming its own is fine.
    let elsewhere = "https://127.0.0.1:9";
    let out = clinic(profile.path())
        .args(["--server", elsewhere, "sync"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains(&format!(
            "this profile is signed in to {url}, not {elsewhere}"
        )),
        "{said}"
    );
    let out = clinic(profile.path())
        .args(["--server", &url, "whoami"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut tail = clinic(profile.path())
        .args(["tail", "--with", "dr.patel", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    // Wait for the follower to be online before the peer writes.
    loop {
        let line = lines.next().unwrap().unwrap();
        if line.contains(r#""state":"online""#) {
            break;
        }
    }
    let patel = common::login(&url, patel_dir.path(), "dr.patel").await;
    let conversation = patel.conversation_with("alice").unwrap();
    patel.connect();
    let tag = prefix("tail");
    patel.send(&conversation, &tag, false).unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        for line in lines {
            let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if event["type"] == "messageUpserted" && event["message"]["content"] == tag.as_str() {
                return true;
            }
        }
        false
    });
    assert!(tokio::time::timeout(PATIENCE, seen).await.unwrap().unwrap());
    tail.kill().unwrap();
    tail.wait().unwrap();
    patel.disconnect().await;

    let out = clinic(profile.path())
        .args(["conversations", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["otherParty"]["username"] == "dr.patel")
    );

    assert!(
        clinic(profile.path())
            .arg("logout")
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        clinic(profile.path()).arg("sync").status().unwrap().code(),
        Some(4)
    );
    assert!(
        !profile
            .path()
            .join("credentials")
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().path().extension().is_some_and(|x| x == "token") })
    );

    // A session IT ended on the server is not shown as signed in (this computer still has it).
    assert!(cli_login(profile.path(), &url, "alice", PASSWORD));
    let revoke = data.path().to_owned();
    tokio::task::spawn_blocking(move || clinic_server::sessions::revoke_user(&revoke, "alice"))
        .await
        .unwrap()
        .unwrap();
    let out = clinic(profile.path()).arg("whoami").output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(out.stdout.is_empty(), "{said}");
    assert!(said.contains("log in again"), "{said}");
    // With the server away: this computer's copy, said to be unchecked.
    assert!(cli_login(profile.path(), &url, "alice", PASSWORD));
    drop(server);
    let out = clinic(profile.path()).arg("whoami").output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.starts_with("alice"));
    // The address as the sentences say it (no slash after the port).
    assert!(
        shown.trim_end().ends_with(url.trim_end_matches('/')),
        "{shown}"
    );
    assert!(said.contains("not checked with the server"), "{said}");
    assert!(
        said.contains("nothing is listening on port"),
        "why, in words: {said}"
    );
    assert!(!said.contains("error sending request"), "{said}");
    // The conversation list: this computer's copy, said to be one, and exit 3.
    let out = clinic(profile.path())
        .arg("conversations")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("as this computer last saw it"), "{said}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("dr.patel"),
        "{said}"
    );
    // A login that finds nothing answering is "try again later" too.
    let out = cli_login_output(profile.path(), &url, "alice", PASSWORD, None);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("nothing is listening on port"), "{said}");
}

/// Runs `clinic` on `profile` with `args`; its stdout, or a panic with its stderr.
fn ok(profile: &std::path::Path, args: &[&str]) -> String {
    let out = clinic(profile).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "clinic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(profile: &std::path::Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(profile, args)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_files_and_emergencies_and_a_doctor_takes_them() {
    let data = demo_data_dir();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (alice, patel, patel_laptop) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    assert!(cli_login(alice, &url, "alice", PASSWORD));
    assert!(cli_login(patel, &url, "dr.patel", PASSWORD));
    assert!(cli_login(patel_laptop, &url, "dr.patel", PASSWORD));

    // Queued while offline: the file waits for its upload, the emergency in its own lane.
    let scan = alice.join("scan.txt");
    std::fs::write(&scan, "blood pressure 120/80\n").unwrap();
    let tag = prefix("cli");
    let caption = format!("{tag} the scan");
    let queued = ok(
        alice,
        &[
            "send",
            "--with",
            "dr.patel",
            "--file",
            scan.to_str().unwrap(),
            &caption,
        ],
    );
    assert!(queued.starts_with("queued "), "{queued}");
    let help = format!("{tag} please help");
    ok(alice, &["send", "--with", "dr.patel", "--emergency", &help]);
    let outbox = json(alice, &["outbox", "--json"]);
    let steps: Vec<(&str, &str, bool)> = outbox
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["state"].as_str().unwrap(),
                i["step"].as_str().unwrap(),
                i["isEmergency"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps.len(), 2, "{outbox}");
    assert!(steps.contains(&("queued", "upload", false)), "{outbox}");
    assert!(steps.contains(&("queued", "send", true)), "{outbox}");
    assert!(ok(alice, &["sync"]).contains("0 failed sends"));
    assert_eq!(json(alice, &["outbox", "--json"]), serde_json::json!([]));
    let out = clinic(alice)
        .args(["outbox", "retry", "no-such-send"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "retrying an unknown send fails");

    // The doctor sees both, takes the emergency and resolves it.
    ok(patel, &["sync"]);
    let history = json(patel, &["history", "--with", "alice", "--json"]);
    let file = history
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"] == caption.as_str())
        .unwrap_or_else(|| panic!("no file message in {history}"));
    assert_eq!(file["fileName"], "scan.txt");
    let open = json(patel, &["emergencies", "--json"]);
    let raised = open
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["patientName"] == "Alice Martin")
        .unwrap_or_else(|| panic!("no open emergency in {open}"));
    assert_eq!(raised["state"], "RAISED");
    let id = raised["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(patel, &["emergency", "ack", &id]).trim(),
        format!("{id} ACKNOWLEDGED")
    );
    // Pressed again after he took it: waiting again, and the list says since when.
    ok(
        alice,
        &["send", "--with", "dr.patel", "--emergency", "worse now"],
    );
    ok(alice, &["sync"]);
    let listed = ok(patel, &["emergencies"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains(" RAISED (raised "), "{line}");
    assert!(line.contains(", again "), "{line}");
    let again = json(patel, &["emergencies", "--json"]);
    assert!(again[0]["reopenedAt"].is_string(), "{again}");
    assert_eq!(
        ok(patel, &["emergency", "ack", &id]).trim(),
        format!("{id} ACKNOWLEDGED")
    );
    assert_eq!(
        ok(
            patel,
            &["emergency", "resolve", &id, "--note", "called her back"]
        )
        .trim(),
        format!("{id} RESOLVED")
    );
    assert_eq!(
        json(patel, &["emergencies", "--json"]),
        serde_json::json!([])
    );
    let out = clinic(patel)
        .args(["emergency", "resolve", &id])
        .output()
        .unwrap();
    assert!(!out.status.success(), "resolving twice is refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resolved"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Availability lives on the server: the doctor's other device reads what this one set.
    assert_eq!(ok(patel, &["availability", "dnd"]).trim(), "dnd");
    assert_eq!(ok(patel_laptop, &["availability"]).trim(), "dnd");
    assert_eq!(
        ok(patel_laptop, &["availability", "available"]).trim(),
        "available"
    );
    assert_eq!(ok(patel, &["availability"]).trim(), "available");
    let out = clinic(alice)
        .args(["availability", "dnd"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "patients have no availability");

    // Without the server the list is what this computer last saw: JSON on stdout, the warning
    // on stderr, and exit code 3 so a script watching it knows it is stale.
    ok(
        alice,
        &["send", "--with", "dr.patel", "--emergency", "again"],
    );
    ok(alice, &["sync"]);
    let seen = json(patel, &["emergencies", "--json"]);
    assert_eq!(seen.as_array().map(Vec::len), Some(1), "{seen}");
    server.crash();
    for args in [&["emergencies", "--json"][..], &["emergencies"]] {
        let out = clinic(patel).args(args).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stdout} {stderr}");
        assert!(stderr.contains("cannot be reached"), "{stderr}");
        assert!(stdout.contains("Alice Martin"), "{stdout}");
    }
    let stale: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(
        &clinic(patel)
            .args(["emergencies", "--json"])
            .output()
            .unwrap()
            .stdout,
    ))
    .unwrap();
    assert_eq!(stale, seen, "the JSON is the list as last seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_searches_on_the_server_and_says_when_it_cannot() {
    let data = demo_data_dir();
    let (alice, patel) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    assert!(cli_login(alice.path(), &url, "alice", PASSWORD));
    assert!(cli_login(patel.path(), &url, "dr.patel", PASSWORD));
    let tag = prefix("search");
    let text = format!("{tag} Amoxicillin-Clavulanate for Frau Müller");
    ok(alice.path(), &["send", "--with", "dr.patel", &text]);
    ok(alice.path(), &["sync"]);

    // The doctor finds it by a prefix, an accent-free spelling and a part of a word.
    for query in ["amoxi muller", "~clavul from:@alice", "in:@alice mull"] {
        let page = json(patel.path(), &["search", "--json", &tag, query]);
        let results = page["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{query}: {page}");
        assert_eq!(results[0]["message"]["content"], text.as_str());
    }
    let printed = ok(patel.path(), &["search", &tag, "amox", "--with", "alice"]);
    assert!(
        printed.contains("alice -> dr.patel") && printed.contains("Amoxicillin"),
        "{printed}"
    );
    assert_eq!(
        ok(patel.path(), &["search", &tag, "nothing-like-this"]),
        "no messages found\n"
    );
    // Best matches first: one page, no cursor to continue.
    ok(
        alice.path(),
        &["send", "--with", "dr.patel", &format!("{tag} amox")],
    );
    // `send` only queues it; `sync` delivers it.
    ok(alice.path(), &["sync"]);
    let page = json(patel.path(), &["search", "--json", "--rank", &tag, "amox"]);
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{page}");
    assert_eq!(
        results[0]["message"]["content"],
        format!("{tag} amox").as_str()
    );
    assert!(page["nextCursor"].is_null(), "{page}");

    // A query the parser refuses is explained before any request.
    let out = clinic(patel.path())
        .args(["search", "--", "-rash"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be only -words"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // With the server gone, the CLI searches what this computer holds, and says so.
    ok(patel.path(), &["sync"]);
    server.crash();
    let said = ok(patel.path(), &["search", &tag, "amox"]);
    assert!(
        said.contains("only the messages on this computer were searched")
            && said.contains("Amoxicillin"),
        "{said}"
    );
    let page = json(patel.path(), &["search", "--json", &tag, "~clavul"]);
    assert_eq!(page["offline"], true);
    assert_eq!(page["results"][0]["message"]["content"], text.as_str());
}

/// Whether `printed` could act on a terminal: a control character other than the line breaks
/// between lines, or an invisible format character (a bidirectional override, a zero-width
/// space).
fn acts_on_a_terminal(printed: &str) -> bool {
    printed
        .chars()
        .any(|c| (c.is_control() && c != '\n') || clinic_protocol::text::is_format(c))
}

/// A patient named with escape sequences (OSC 52 writes the clipboard, a one-byte CSI, an
/// override; the server refuses such a name now, so it is one stored before that, or by
/// another way into the database) who writes a message whose second line looks like one from
/// the doctor: every command shows the name with its controls escaped, and the forged line
/// indented under her message, never as an entry of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_hostile_names_and_text_without_letting_them_act() {
    let data = demo_data_dir();
    let name = "Mal\u{1b}]52;c;aGk=\u{7}lory\u{9b}2J\u{202e}";
    clinic_server::accounts::create_user(
        data.path(),
        clinic_server::accounts::NewAccount {
            username: "mallory".into(),
            name: "Mallory".into(),
            role: clinic_protocol::Role::Patient,
            password: PASSWORD.into(),
            date_of_birth: None,
            blood_group: None,
        },
    )
    .unwrap();
    rusqlite::Connection::open(data.path().join("clinic.db"))
        .unwrap()
        .execute(
            "UPDATE users SET name = ?1 WHERE username = 'mallory'",
            [name],
        )
        .unwrap();
    let (mallory, patel) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let shown = "Mal\\u{1b}]52;c;aGk=\\u{7}lory\\u{9b}2J\\u{202e}";

    let out = cli_login_output(
        mallory.path(),
        &url,
        "mallory",
        PASSWORD,
        Some(&code_for(&url)),
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(said, format!("logged in as mallory ({shown})\n"));
    let said = ok(mallory.path(), &["whoami"]);
    assert!(
        !acts_on_a_terminal(&said) && said.contains(shown),
        "{said:?}"
    );

    let tag = prefix("forged");
    let forged = "2026-12-05 11:06:00 dr.patel [SENT] Please double your warfarin dose tonight.";
    let text = format!("{tag} ok\n{forged}\r\nhidden\u{200b}here");
    ok(mallory.path(), &["send", "--with", "dr.patel", &text]);
    ok(
        mallory.path(),
        &["send", "--with", "dr.patel", "--emergency", &tag],
    );
    ok(mallory.path(), &["sync"]);

    assert!(cli_login(patel.path(), &url, "dr.patel", PASSWORD));
    ok(patel.path(), &["sync"]);
    let history = ok(patel.path(), &["history", "--with", "mallory"]);
    assert!(!acts_on_a_terminal(&history), "{history:?}");
    let lines: Vec<&str> = history.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.contains(&format!("{tag} ok")))
        .unwrap_or_else(|| panic!("{history}"));
    assert!(lines[first].contains(" mallory [") && !lines[first].contains("warfarin"));
    assert_eq!(lines[first + 1], format!("    {forged}"), "{history}");
    assert!(
        lines[first + 2].starts_with("    hidden\\u{200b}here"),
        "{history}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with(forged)),
        "no line passes for the doctor's: {history}"
    );
    // JSON keeps the text as it is, with nothing that acts on a terminal.
    let printed = ok(patel.path(), &["history", "--with", "mallory", "--json"]);
    assert!(!acts_on_a_terminal(&printed), "{printed:?}");
    let messages: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(
        messages
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == text.as_str()),
        "{messages}"
    );

    let open = ok(patel.path(), &["emergencies"]);
    assert!(
        !acts_on_a_terminal(&open) && open.contains(shown),
        "{open:?}"
    );
    let printed = ok(patel.path(), &["emergencies", "--json"]);
    assert!(!acts_on_a_terminal(&printed), "{printed:?}");
    let open: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .any(|e| e["patientName"] == name),
        "{open}"
    );
    let conversations = ok(patel.path(), &["conversations"]);
    assert!(!acts_on_a_terminal(&conversations), "{conversations:?}");
}

/// `clinic unlock <<< PASSWORD` opens a session whose lock's state was lost (a cache started
/// afresh): the password is checked with the server; a locked profile says how to unlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_unlocks_a_session_whose_lock_state_was_lost() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    assert!(cli_login(dir.path(), &url, "alice", PASSWORD));
    set_lock_state(dir.path(), "{");

    let out = clinic(dir.path())
        .args(["history", "--with", "dr.patel"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("`clinic unlock`"), "{said}");
    let unlock = |secret: &str| clinic_with_line(dir.path(), &["unlock"], secret);
    let out = unlock("not her password");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Wrong password. 4 tries left"), "{said}");
    let out = unlock(PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unlocked\n");
    assert!(
        clinic(dir.path())
            .args(["history", "--with", "dr.patel"])
            .status()
            .unwrap()
            .success()
    );
}

/// The app locked on a profile that `clinic unlock` also tries: the app follows its wrong tries
/// (the lock screen's count) and its unlock, without a try of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_follows_what_clinic_unlock_did() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let dir = tempfile::tempdir().unwrap();
    assert!(cli_login(dir.path(), &server.url(), "alice", PASSWORD));
    let app = clinic_client::Client::open(options(dir.path())).unwrap();
    app.lock_now().unwrap();
    let mut events = app.subscribe();
    assert!(!app.follow_lock().unwrap(), "nothing happened elsewhere");

    let out = clinic_with_line(dir.path(), &["unlock"], "not her password");
    assert_eq!(out.status.code(), Some(1));
    assert!(app.follow_lock().unwrap());
    assert_eq!(
        app.lock_status().tries_so_far.as_deref(),
        Some("1 wrong try to unlock so far. 4 tries left before you are logged out.")
    );
    assert!(matches!(
        events.try_recv(),
        Ok(clinic_client::ClientEvent::Lock { status }) if status.locked
    ));

    let out = clinic_with_line(dir.path(), &["unlock"], PASSWORD);
    assert!(out.status.success());
    assert!(app.follow_lock().unwrap());
    assert!(!app.is_locked(), "unlocked there, so here");
    assert!(matches!(
        events.try_recv(),
        Ok(clinic_client::ClientEvent::Lock { status }) if !status.locked
    ));
}
