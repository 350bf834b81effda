//! The admin CLI against a temp data folder: user add/list/disable/enable/reset-password, backup
//! and demo.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn user_management_and_backup() {
    let dir = tempfile::tempdir().unwrap();
    let add = [
        "user",
        "add",
        "--username",
        "dr.who",
        "--name",
        "Dr. Who",
        "--role",
        "doctor",
        "--password-stdin",
    ];
    let out = cli(dir.path(), &add, Some("timelord-42\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(dir.path(), &add, Some("timelord-42\n"));
    assert!(!out.status.success(), "duplicate username refused");
    let amy = [
        "user",
        "add",
        "--username",
        "amy",
        "--name",
        "Amy Pond",
        "--role",
        "patient",
        "--password-stdin",
        "--date-of-birth",
        "1989-04-01",
        "--blood-group",
        "O+",
    ];
    let out = cli(dir.path(), &amy, Some("short\n"));
    assert!(!out.status.success(), "short password refused");
    let out = cli(dir.path(), &amy, Some("fish-custard\n"));
    assert!(out.status.success());

    let list = stdout(&cli(dir.path(), &["user", "list"], None));
    assert!(list.contains("dr.who\tDOCTOR\tDr. Who"), "{list}");
    assert!(
        list.contains("amy\tPATIENT\tAmy Pond\t1989-04-01\tO+\tactive"),
        "{list}"
    );

    assert!(
        cli(dir.path(), &["user", "disable", "amy"], None)
            .status
            .success()
    );
    assert!(
        stdout(&cli(dir.path(), &["user", "list"], None))
            .contains("amy\tPATIENT\tAmy Pond\t1989-04-01\tO+\tdisabled")
    );
    assert!(
        cli(dir.path(), &["user", "enable", "amy"], None)
            .status
            .success()
    );
    assert!(
        !cli(dir.path(), &["user", "disable", "nobody"], None)
            .status
            .success()
    );
    assert!(
        cli(
            dir.path(),
            &["user", "reset-password", "amy", "--password-stdin"],
            Some("new-password\n")
        )
        .status
        .success()
    );

    let backup = dir.path().join("copy.db");
    let out = cli(
        dir.path(),
        &["backup", "--to", backup.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let users: i64 = copy
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 2);
    // A clinic without attachments still gets the folder the command names, private.
    let files = dir.path().join("copy.db.files");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&files)
            .expect("the backup's files folder")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied 0 new files to"));
}

#[test]
fn demo_creates_the_documented_clinic_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = stdout(&cli(dir.path(), &["user", "list"], None));
    for expected in [
        "dr.patel\tDOCTOR\tDr. Asha Patel",
        "dr.nguyen",
        "dr.okafor",
        "alice\tPATIENT\tAlice Martin\t1958-03-14\tA+",
        "bob\tPATIENT\tBob Kowalski\t1990-11-02\tO-",
        "carol\tPATIENT\tCarol Diaz\t2001-07-23\tB+",
        "admin\tADMIN",
    ] {
        assert!(list.contains(expected), "{expected} missing from {list}");
    }
    assert!(
        !cli(dir.path(), &["demo"], None).status.success(),
        "a second demo changes nothing"
    );
}
