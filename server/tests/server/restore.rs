//! `clinic-server restore` against hostile and unlucky backups (the 2026-12-05 attack on it):
//! whatever fails, the database in place stays in place; two restores never share the folder
//! the old database goes to; a backup with its log beside it restores with the log's commits;
//! a backup's files are copied only when named by its database and true to their hash.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Account, Binary, PNG, accounts, run_cli};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn digest(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Entries of `dir` whose names start with `prefix`.
fn folders(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    out.sort();
    out
}

async fn send(server: &Binary, pat: &Account, doc: &Account, tag: &str, count: usize) {
    for i in 0..count {
        let message = json!({"patientId": pat.id(), "doctorId": doc.id(),
                             "content": format!("{tag} {i}"), "clientId": format!("{tag}-{i}")});
        let (status, body) = server.post(&pat.token, "/api/chat/messages", message).await;
        assert_eq!(status, 201, "{body}");
    }
}

/// `pat` sends `PNG` to `doc` in a message `tag` (also its `clientId`); the upload's answer.
async fn send_scan(server: &Binary, pat: &Account, doc: &Account, tag: &str) -> serde_json::Value {
    let (status, uploaded) = server.upload(pat, pat, doc, "scan.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{uploaded}");
    let message = json!({"patientId": pat.id(), "doctorId": doc.id(), "content": tag,
                         "fileUrl": uploaded["fileUrl"], "clientId": tag});
    let (status, _) = server.post(&pat.token, "/api/chat/messages", message).await;
    assert_eq!(status, 201);
    uploaded
}

/// A stopped clinic with two accounts and `count` messages, and a backup of it.
async fn clinic_and_backup(count: usize) -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("pat", Role::Patient), ("doc", Role::Doctor)]);
    let server = Binary::start(dir.path(), &[]);
    let (pat, doc) = (server.login("pat").await, server.login("doc").await);
    send(&server, &pat, &doc, "backed-up", count).await;
    let backup = vault.path().join("clinic-backup.db");
    let out = run_cli(dir.path(), &["backup", "--to", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    server.kill();
    (dir, vault, backup)
}

#[tokio::test]
async fn failed_restores_leave_the_database_in_place_however_often_they_run() {
    let (dir, vault, backup) = clinic_and_backup(3).await;
    let db = dir.path().join("clinic.db");
    let before = digest(&db);
    // A backup made by a newer server: it cannot be brought up to date.
    let newer = vault.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    for _ in 0..2 {
        let out = run_cli(dir.path(), &["restore", newer.to_str().unwrap()]);
        assert!(!out.status.success());
        let said = text(&out);
        assert!(said.contains("is not a usable backup"), "{said}");
        assert!(said.contains("newer clinic-server"), "{said}");
        assert!(
            !said.contains("CREATE TABLE"),
            "a sentence, not the schema: {said}"
        );
    }
    // Another program's file, and the folder's own database.
    let fifo = vault.path().join("fifo.db");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = run_cli(dir.path(), &["restore", fifo.to_str().unwrap()]);
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    let out = run_cli(dir.path(), &["restore", db.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("own database"), "{}", text(&out));
    // By another name too: read without its log and moved aside before it was read, it was lost.
    let linked = vault.path().join("linked.db");
    std::fs::hard_link(&db, &linked).unwrap();
    let out = run_cli(dir.path(), &["restore", linked.to_str().unwrap()]);
    assert!(text(&out).contains("own database"), "{}", text(&out));

    assert_eq!(digest(&db), before, "the database in place is untouched");
    assert!(folders(dir.path(), "before-restore").is_empty());
    assert!(folders(dir.path(), "restoring").is_empty());
    let out = run_cli(dir.path(), &["user", "list"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn two_restores_in_one_second_keep_both_previous_databases() {
    let (dir, _vault, backup) = clinic_and_backup(2).await;
    let original = digest(&dir.path().join("clinic.db"));
    for _ in 0..2 {
        let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let aside = folders(dir.path(), "before-restore");
    assert_eq!(aside.len(), 2, "{aside:?}");
    assert!(
        aside
            .iter()
            .any(|a| digest(&a.join("clinic.db")) == original),
        "the clinic's own database is still in one of {aside:?}"
    );
    #[cfg(unix)]
    for folder in &aside {
        assert_eq!(common::mode(folder), 0o700);
    }
}

#[tokio::test]
async fn a_database_copied_with_its_log_restores_every_commit_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("pat", Role::Patient), ("doc", Role::Doctor)]);
    let server = Binary::start(dir.path(), &[]);
    let (pat, doc) = (server.login("pat").await, server.login("doc").await);
    send(&server, &pat, &doc, "logged", 12).await;
    // Killed: the last commits are only in the log beside the database.
    server.kill();
    assert!(
        std::fs::metadata(dir.path().join("clinic.db-wal"))
            .unwrap()
            .len()
            > 0
    );

    let target = tempfile::tempdir().unwrap();
    accounts(target.path(), &[("someone", Role::Doctor)]);
    let from = dir.path().join("clinic.db");
    let out = run_cli(target.path(), &["restore", from.to_str().unwrap()]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("12 messages"), "{said}");

    let server = Binary::start(target.path(), &[]);
    let log = server.kill();
    assert!(!log.contains("is behind"), "{log}");
}

#[tokio::test]
async fn only_the_files_the_database_names_are_copied_and_only_when_true_to_their_hash() {
    let dir = tempfile::tempdir().unwrap();
    let vault = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("pat", Role::Patient), ("doc", Role::Doctor)]);
    let server = Binary::start(dir.path(), &[]);
    let (pat, doc) = (server.login("pat").await, server.login("doc").await);
    send_scan(&server, &pat, &doc, "scan").await;
    let backup = vault.path().join("b.db");
    let out = run_cli(dir.path(), &["backup", "--to", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    server.kill();
    let sha = hex::encode(Sha256::digest(PNG));
    let files = vault.path().join("b.db.files");
    let stored = files.join(&sha[..2]).join(&sha);
    assert!(stored.is_file());
    // Something the database does not name rides along.
    let stray = hex::encode(Sha256::digest(b"not a clinic file"));
    std::fs::create_dir_all(files.join(&stray[..2])).unwrap();
    std::fs::write(files.join(&stray[..2]).join(&stray), b"not a clinic file").unwrap();

    // The named file altered: refused, and the folder as it was.
    let target = tempfile::tempdir().unwrap();
    accounts(target.path(), &[("someone", Role::Doctor)]);
    let before = digest(&target.path().join("clinic.db"));
    std::fs::write(&stored, b"\x89PNG but not the one uploaded").unwrap();
    let out = run_cli(target.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not hold the content"),
        "{}",
        text(&out)
    );
    assert_eq!(digest(&target.path().join("clinic.db")), before);
    let copied = target.path().join("files").join(&sha[..2]);
    let leftovers: Vec<_> = std::fs::read_dir(&copied)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Put right: restored, the stray file left out, the copy private.
    std::fs::write(&stored, PNG).unwrap();
    let out = run_cli(target.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("copied 1 files"), "{}", text(&out));
    let restored = copied.join(&sha);
    assert_eq!(std::fs::read(&restored).unwrap(), PNG);
    #[cfg(unix)]
    assert_eq!(common::mode(&restored), 0o600);
    assert!(!target.path().join("files").join(&stray[..2]).exists());

    // A backup whose file is gone: restored, and said.
    let other = tempfile::tempdir().unwrap();
    std::fs::remove_file(&stored).unwrap();
    let out = run_cli(other.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 attachments"), "{}", text(&out));
}

#[tokio::test]
async fn the_database_moved_aside_keeps_its_attachments_and_can_be_put_back() {
    // A backup taken before a file was sent; restoring it makes the file the old database's alone.
    let (dir, _vault, backup) = clinic_and_backup(1).await;
    let server = Binary::start(dir.path(), &[]);
    let (pat, doc) = (server.login("pat").await, server.login("doc").await);
    let uploaded = send_scan(&server, &pat, &doc, "after").await;
    server.kill();

    let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let aside = folders(dir.path(), "before-restore").pop().unwrap();
    let sha = hex::encode(Sha256::digest(PNG));
    let kept = aside.join("clinic.db.files").join(&sha[..2]).join(&sha);
    assert_eq!(std::fs::read(&kept).unwrap(), PNG);
    // As the restored database's sweep would: the file is no row's of it.
    std::fs::remove_file(dir.path().join("files").join(&sha[..2]).join(&sha)).unwrap();

    // Putting the old database back brings its file back.
    let old = aside.join("clinic.db");
    let out = run_cli(dir.path(), &["restore", old.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("copied 1 files"), "{}", text(&out));
    let server = Binary::start(dir.path(), &[]);
    let doc = server.login("doc").await;
    let url = uploaded["fileUrl"].as_str().unwrap();
    let (status, _) = server.get(&doc.token, url).await;
    assert_eq!(status, 200, "the file is served again");
    server.kill();
}

#[tokio::test]
async fn a_backup_naming_files_outside_its_folder_is_refused() {
    let (dir, vault, backup) = clinic_and_backup(1).await;
    let before = digest(&dir.path().join("clinic.db"));
    for (table, name) in [
        ("uploads", "../clinic.seq"),
        ("doomed_files", "/etc/hostname"),
    ] {
        let hostile = vault.path().join(format!("{table}.db"));
        std::fs::copy(&backup, &hostile).unwrap();
        let conn = rusqlite::Connection::open(&hostile).unwrap();
        match table {
            "uploads" => conn.execute(
                "INSERT INTO uploads (id, uploader_id, patient_id, doctor_id, sha256, file_name, \
                 content_type, size, created_at) \
                 SELECT lower(hex(randomblob(16))), id, id, id, ?1, 'x.txt', 'text/plain', 1, 0 \
                 FROM users LIMIT 1",
                [name],
            ),
            _ => conn.execute("INSERT INTO doomed_files (sha256) VALUES (?1)", [name]),
        }
        .unwrap();
        drop(conn);
        let out = run_cli(dir.path(), &["restore", hostile.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("not a content hash"), "{}", text(&out));
    }
    assert_eq!(digest(&dir.path().join("clinic.db")), before);
}

/// A restore killed while it moves databases leaves its note: `serve` refuses the folder, and
/// the next restore finishes the move without losing the database that was there.
#[tokio::test]
async fn an_interrupted_restore_is_finished_by_the_next_and_never_served() {
    let (dir, _vault, backup) = clinic_and_backup(2).await;
    let db = dir.path().join("clinic.db");
    let original = digest(&db);
    // As a kill would leave it after the old database went aside and before the copy came.
    let aside = dir.path().join("before-restore-20261205T000000Z");
    std::fs::create_dir(&aside).unwrap();
    std::fs::rename(&db, aside.join("clinic.db")).unwrap();
    let note = dir.path().join("clinic.restoring");
    std::fs::write(&note, "before-restore-20261205T000000Z\n").unwrap();
    let served = common::serve_command(dir.path(), &[]).output().unwrap();
    assert!(!served.status.success());
    assert!(
        text(&served).contains("was interrupted"),
        "{}",
        text(&served)
    );
    // Nor does any other command open (or create) a database there: a backup, an account.
    let to = dir.path().join("b.db");
    for args in [
        &["user", "list"][..],
        &["backup", "--to", to.to_str().unwrap()],
        &["init"],
    ] {
        let out = run_cli(dir.path(), args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("was interrupted"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert!(!db.exists(), "no new empty clinic");

    let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&aside.display().to_string()),
        "{}",
        text(&out)
    );
    assert_eq!(digest(&aside.join("clinic.db")), original);
    assert!(!dir.path().join("clinic.restoring").exists());

    // Killed after the copy came and before the note went: the old one stays where it is.
    std::fs::write(&note, "before-restore-20261205T000000Z\n").unwrap();
    let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(digest(&aside.join("clinic.db")), original);
    assert_eq!(folders(dir.path(), "before-restore").len(), 1);
    let server = Binary::start(dir.path(), &[]);
    server.login("pat").await;
    server.kill();
}

/// A note this program did not write (it writes whole notes, naming a folder of its own) is
/// refused by everything, and names no folder to create or change.
#[tokio::test]
async fn a_note_naming_another_place_is_refused_and_touches_nothing() {
    let (dir, vault, backup) = clinic_and_backup(1).await;
    let before = digest(&dir.path().join("clinic.db"));
    let elsewhere = vault.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(
        &elsewhere,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for note in [
        elsewhere.display().to_string(),
        String::new(),
        "../x".into(),
    ] {
        std::fs::write(dir.path().join("clinic.restoring"), format!("{note}\n")).unwrap();
        let served = common::serve_command(dir.path(), &[]).output().unwrap();
        assert!(!served.status.success());
        assert!(
            text(&served).contains("cannot be read"),
            "{}",
            text(&served)
        );
        let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(text(&out).contains("cannot be read"), "{}", text(&out));
    }
    assert_eq!(digest(&dir.path().join("clinic.db")), before);
    #[cfg(unix)]
    assert_eq!(common::mode(&elsewhere), 0o755);
    assert!(folders(dir.path(), "before-restore").is_empty());
}

/// What a killed restore was staging is a copy of patients' data: the next start removes it.
#[tokio::test]
async fn a_killed_restores_staging_copy_is_removed_at_the_next_start() {
    let (dir, _vault, backup) = clinic_and_backup(1).await;
    let staging = dir.path().join("restoring-20261205T000000Z");
    std::fs::create_dir(&staging).unwrap();
    std::fs::copy(&backup, staging.join("clinic.db")).unwrap();
    let server = Binary::start(dir.path(), &[]);
    server.login("pat").await;
    assert!(!staging.exists());
    server.kill();
}

/// A command that opened the database (here: a lock held as `user`, `backup` or `audit` hold
/// it) keeps a restore from beginning, and a running restore keeps those commands out, so none
/// of them writes to a database the restore moved aside.
#[tokio::test]
async fn restore_and_the_other_commands_do_not_overlap() {
    let (dir, _vault, backup) = clinic_and_backup(1).await;
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.path().join("clinic.commands.lock"))
        .unwrap();
    let before = digest(&dir.path().join("clinic.db"));

    lock.lock_shared().unwrap();
    let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("another clinic-server command"),
        "{}",
        text(&out)
    );
    assert_eq!(digest(&dir.path().join("clinic.db")), before);
    assert!(folders(dir.path(), "before-restore").is_empty());
    // Commands share the folder with each other.
    let out = run_cli(dir.path(), &["user", "list"]);
    assert!(out.status.success(), "{}", text(&out));

    lock.unlock().unwrap();
    lock.lock().unwrap();
    for args in [
        &["user", "list"][..],
        &["audit", "verify"],
        &["backup", "--to", "x.db"],
    ] {
        let out = run_cli(dir.path(), args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out).contains("a restore is running"),
            "{}",
            text(&out)
        );
    }
    lock.unlock().unwrap();
    let out = run_cli(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Disaster recovery on a new machine, as a clinic does it: the package starts a server (which
/// makes a CA of its own), IT restores the last backup. The backup carried the clinic's CA, so
/// the restored server shows the pairing code the apps were paired with; the new machine's own
/// CA is kept aside, not deleted.
#[tokio::test]
async fn a_restore_brings_back_the_clinic_ca_so_paired_apps_connect_as_before() {
    let (dir, _vault, backup) = clinic_and_backup(1).await;
    let code_of = |d: &Path| clinic_server::tls::fingerprint(d, None).unwrap().code;
    let paired = code_of(dir.path());
    let kept = clinic_server::tls::keep::beside(&backup);
    assert!(kept.join("ca.key").is_file() && kept.join("ca.pem").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(kept.join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let new_machine = tempfile::tempdir().unwrap();
    assert!(run_cli(new_machine.path(), &["init"]).status.success());
    let fresh = Binary::start(new_machine.path(), &[]);
    fresh.kill();
    let own = code_of(new_machine.path());
    assert_ne!(own, paired, "a new machine makes a CA of its own");
    let own_pem = std::fs::read(new_machine.path().join("tls").join("ca.pem")).unwrap();

    let out = run_cli(new_machine.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("put the clinic CA kept with the backup in place"),
        "{}",
        text(&out)
    );
    assert_eq!(code_of(new_machine.path()), paired);
    // The machine's own CA is kept, with the (empty) database moved aside, where a backup
    // keeps one.
    let aside = folders(new_machine.path(), "before-restore");
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept_aside = clinic_server::tls::keep::beside(&aside[0].join("clinic.db"));
    assert_eq!(
        std::fs::read(kept_aside.join("ca.pem")).unwrap(),
        own_pem,
        "the machine's own CA is kept"
    );
    // Served again: the restored clinic, under the CA its apps pinned.
    let restored = Binary::start(new_machine.path(), &[]);
    restored.login("pat").await;
    restored.kill();
    // A second restore of the same backup finds the same CA: nothing more moved aside (the
    // database is, with the CA it stood under, as any restore moves it).
    let out = run_cli(new_machine.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(folders(new_machine.path(), "before-restore").len(), 2);
    assert!(folders(new_machine.path(), "tls-before-restore").is_empty());
    assert_eq!(code_of(new_machine.path()), paired);

    // Undone: the database moved aside is restored from its folder, and so is the CA it stood
    // under.
    let other = tempfile::tempdir().unwrap();
    assert!(run_cli(other.path(), &["init"]).status.success());
    let theirs = Binary::start(other.path(), &[]);
    theirs.kill();
    let their_code = code_of(other.path());
    let out = run_cli(other.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(code_of(other.path()), paired);
    let aside = folders(other.path(), "before-restore");
    assert_eq!(aside.len(), 1, "{aside:?}");
    let undo = aside[0].join("clinic.db");
    let out = run_cli(other.path(), &["restore", undo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        code_of(other.path()),
        their_code,
        "the folder's own CA is back"
    );
}

/// A CA kept beside a backup that cannot be used stops the restore before anything changes;
/// a backup that kept none restores, and says the folder keeps its own CA.
#[tokio::test]
async fn a_restore_says_what_becomes_of_the_clinic_ca() {
    let (dir, vault, backup) = clinic_and_backup(1).await;
    let target = tempfile::tempdir().unwrap();
    assert!(run_cli(target.path(), &["init"]).status.success());
    let fresh = Binary::start(target.path(), &[]);
    fresh.kill();
    let code_of = |d: &Path| clinic_server::tls::fingerprint(d, None).unwrap().code;
    let own = code_of(target.path());
    let db = target.path().join("clinic.db");
    let before = digest(&db);

    let kept = clinic_server::tls::keep::beside(&backup);
    std::fs::remove_file(kept.join("ca.key")).unwrap();
    let out = run_cli(target.path(), &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("reading ca.key"), "{}", text(&out));
    assert_eq!(digest(&db), before, "nothing changed");
    assert_eq!(code_of(target.path()), own);

    std::fs::remove_dir_all(&kept).unwrap();
    let out = run_cli(target.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "the backup kept no clinic CA (made by an older version, or of a server without one), \
             so this folder keeps its own (pairing code {own})"
        )),
        "{}",
        text(&out)
    );
    // What IT did since the backup to keep someone out is undone: said, with what to do.
    assert!(
        text(&out).contains(
            "a session ended, an account disabled or a password reset since then is undone. Do \
             it again now (`sessions revoke`, `user disable`, `user reset-password`)"
        ),
        "{}",
        text(&out)
    );
    drop((dir, vault));
}
