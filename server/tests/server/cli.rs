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
    assert!(
        list.starts_with("USERNAME\tROLE\tNAME\tDATE OF BIRTH\tBLOOD GROUP\tACCOUNT\n"),
        "a header names the columns: {list}"
    );
    assert!(list.contains("dr.who\tDOCTOR\tDr. Who"), "{list}");
    assert!(
        list.contains("amy\tPATIENT\tAmy Pond\t1989-04-01\tO+\tactive"),
        "{list}"
    );

    let out = cli(dir.path(), &["user", "disable", "amy"], None);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&cli(dir.path(), &["user", "list"], None))
            .contains("amy\tPATIENT\tAmy Pond\t1989-04-01\tO+\tdisabled")
    );
    // The clinic's only doctor disabled: said, since no emergency would reach a doctor's app.
    let out = cli(dir.path(), &["user", "disable", "dr.who"], None);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "no doctor's account is enabled any more: a patient's emergency now reaches no \
             doctor's app"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        cli(dir.path(), &["user", "enable", "dr.who"], None)
            .status
            .success()
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

/// The EXPORT rows of `dir`'s audit log: (outcome, detail), oldest first.
fn exports(dir: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(clinic_server::config::db_path(dir)).unwrap();
    let mut stmt = conn
        .prepare("SELECT outcome, detail FROM audit WHERE action = 'EXPORT' ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `backup --to to` of the clinic in `dir` on a disk that fills half-way through the copy
/// (files limited to 64 KiB: the smallest clinic's database is about 270 KiB).
fn backup_on_a_full_disk(dir: &Path, to: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 128; exec \"$0\" --data-dir \"$1\" backup --to \"$2\"")
        .arg(env!("CARGO_BIN_EXE_clinic-server"))
        .arg(dir)
        .arg(to)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Copies of backups being made, left in `dir`.
fn partials(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".partial-"))
        .collect()
}

#[test]
fn a_backup_that_fails_over_an_earlier_one_leaves_the_earlier_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(dir.path(), &["demo"], None).status.success());
    let earlier = dir.path().join("earlier.db");
    let out = cli(
        dir.path(),
        &["backup", "--to", earlier.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = std::fs::read(&earlier).unwrap();

    // The next one over it fails half-way (a full disk, here a file size limit of 64 KiB).
    let out = backup_on_a_full_disk(dir.path(), &earlier);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!(
            "the earlier backup at {} is kept as it was",
            earlier.display()
        )),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&earlier).unwrap(),
        before,
        "the earlier backup was changed"
    );
    assert_eq!(partials(dir.path()), Vec::<String>::new());

    // It still restores, with the demo clinic in it.
    let fresh = tempfile::tempdir().unwrap();
    let out = cli(fresh.path(), &["restore", earlier.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("messages"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A backup that works replaces it.
    let out = cli(
        dir.path(),
        &["backup", "--to", earlier.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(partials(dir.path()), Vec::<String>::new());
}

#[test]
fn a_backup_that_was_not_made_is_not_recorded_as_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["init"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A folder that does not exist: nothing is exported, nothing recorded.
    let missing = dir.path().join("missing").join("x.db");
    let out = cli(
        dir.path(),
        &["backup", "--to", missing.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write the backup to"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(exports(dir.path()), []);

    // A copy that fails half-way (files limited to 64 KiB: the empty clinic's database is
    // about 270 KiB): the EXPORT row written before the copy is followed by one saying it
    // failed.
    let spoiled = dir.path().join("spoiled.db");
    let out = backup_on_a_full_disk(dir.path(), &spoiled);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("copying the database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = exports(dir.path());
    let outcomes: Vec<&str> = rows.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(outcomes, ["OK", "FAILED"], "{rows:?}");
    assert!(rows[1].1.contains("spoiled.db"), "{rows:?}");
    // Nothing is left under its name, nor half a copy beside it.
    assert!(
        !spoiled.exists(),
        "a failed backup left a file under its name"
    );
    assert_eq!(partials(dir.path()), Vec::<String>::new());

    // A backup that was made: one EXPORT row, OK.
    let good = dir.path().join("good.db");
    let out = cli(
        dir.path(),
        &["backup", "--to", good.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = exports(dir.path());
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[2].0, "OK");
    assert!(rows[2].1.contains("good.db"), "{rows:?}");

    // No journal is opened beside the copy: a link planted there receives nothing.
    #[cfg(unix)]
    {
        let elsewhere = dir.path().join("elsewhere");
        let other = dir.path().join("other.db");
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("other.db-journal")).unwrap();
        let out = cli(
            dir.path(),
            &["backup", "--to", other.to_str().unwrap()],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!elsewhere.exists(), "the journal's link was followed");
        let backup_to =
            |to: &Path| cli(dir.path(), &["backup", "--to", to.to_str().unwrap()], None);
        let said = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

        // Again into the same file (an earlier backup, whose header names a log): a link at
        // its `-wal` neither receives anything nor stops the backup.
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("other.db-wal")).unwrap();
        let out = backup_to(&other);
        assert!(out.status.success(), "{}", said(&out));
        assert!(!elsewhere.exists(), "the log's link was followed");

        // Through a folder that is a link: a backup like any other.
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("linked")).unwrap();
        let out = backup_to(&dir.path().join("linked").join("b.db"));
        assert!(out.status.success(), "{}", said(&out));
        assert!(real.join("b.db").is_file());

        // Its files' folder planted as a link: refused before anything is exported, and the
        // link's folder untouched.
        use std::os::unix::fs::PermissionsExt;
        let open_folder = dir.path().join("open-folder");
        std::fs::create_dir(&open_folder).unwrap();
        std::fs::set_permissions(&open_folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&open_folder, dir.path().join("planted.db.files")).unwrap();
        let before = exports(dir.path()).len();
        let out = backup_to(&dir.path().join("planted.db"));
        assert!(!out.status.success());
        assert!(said(&out).contains("is a symbolic link"), "{}", said(&out));
        let mode = std::fs::metadata(&open_folder)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o755);
        assert_eq!(exports(dir.path()).len(), before, "nothing exported");
        assert!(!dir.path().join("planted.db").exists());
    }
}

/// A display name is free text: `user list` shows its controls and overrides escaped, on the
/// account's own line.
#[test]
fn user_list_shows_a_hostile_name_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let add = [
        "user",
        "add",
        "--username",
        "mallory",
        "--name",
        "Mal\u{1b}]52;c;aGk=\u{7}lory\u{9b}2J\u{202e}\nadmin\tADMIN",
        "--role",
        "patient",
        "--password-stdin",
    ];
    // Refused as it is given: a control character is no one's name.
    let out = cli(dir.path(), &add, Some("a long password\n"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the name holds a control character"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut plain = add;
    plain[5] = "Mallory";
    let out = cli(dir.path(), &plain, Some("a long password\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One stored before names were checked (an older version's, a restored backup's) is still
    // listed as text.
    rusqlite::Connection::open(dir.path().join("clinic.db"))
        .unwrap()
        .execute(
            "UPDATE users SET name = ?1 WHERE username = 'mallory'",
            [add[5]],
        )
        .unwrap();
    let list = stdout(&cli(dir.path(), &["user", "list"], None));
    assert_eq!(
        list,
        "USERNAME\tROLE\tNAME\tDATE OF BIRTH\tBLOOD GROUP\tACCOUNT\n\
         mallory\tPATIENT\tMal\\u{1b}]52;c;aGk=\\u{7}lory\\u{9b}2J\\u{202e}\\nadmin\\tADMIN\t\t\tactive\n"
    );
}

/// `clinic-server ARGS` on `dir` as the account `uid` (root's own runs: `None`).
#[cfg(unix)]
fn cli_as(uid: Option<u32>, dir: &Path, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinic-server"));
    command
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    command.output().unwrap()
}

/// A lock file the service account may only read still locks; one it cannot open gets a
/// sentence naming it with the command that mends it, and a root run mends it. (As root, as CI
/// runs: the service account is uid 4242 and the files are root's. Otherwise this account's
/// own file made read-only, then unreadable.)
#[cfg(unix)]
#[test]
fn the_service_account_keeps_its_lock_files() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let as_root = rustix::process::geteuid().is_root();
    let service = as_root.then_some(4242);
    if as_root {
        std::os::unix::fs::chown(&dir, Some(4242), Some(4242)).unwrap();
    }
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&cli_as(service, &dir, &["init"]));
    let lock = dir.join("clinic.commands.lock");
    if as_root {
        std::fs::remove_file(&lock).unwrap();
        std::fs::write(&lock, "").unwrap();
    }
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o444)).unwrap();
    ok(&cli_as(service, &dir, &["user", "list"]));

    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = cli_as(service, &dir, &["user", "list"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("cannot be opened or made: run this command as the owner")
            && said.contains("chown --reference="),
        "{said}"
    );
    if as_root {
        // Root's run gives the file back to the folder's owner.
        ok(&cli_as(None, &dir, &["user", "list"]));
        assert_eq!(std::fs::metadata(&lock).unwrap().uid(), 4242);
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).unwrap();
        ok(&cli_as(service, &dir, &["user", "list"]));
    }
}

/// A backup never goes over the data folder's own files (the database it copies, which the copy
/// emptied, its log, its locks, a stored attachment) nor over a file that is not an earlier
/// backup; the database is untouched and nothing is recorded as exported.
#[test]
fn a_backup_over_the_data_folders_own_files_is_refused() {
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
    assert!(
        cli(dir.path(), &add, Some("timelord-42\n"))
            .status
            .success()
    );
    let db = dir.path().join("clinic.db");
    let size = std::fs::metadata(&db).unwrap().len();
    std::fs::create_dir_all(dir.path().join("files").join("ab")).unwrap();
    let attachment = dir.path().join("files").join("ab").join("abcd");
    std::fs::write(&attachment, b"%PDF-1.4 an attachment").unwrap();
    let notes = dir.path().join("..").join(format!(
        "notes-{}.txt",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&notes, "the on-call rota").unwrap();
    let through_dots = dir.path().join("files").join("..").join("clinic.db");
    // The database by another name (as a bind mount of the folder would give it).
    let other_name = dir.path().join("..").join(format!(
        "linked-{}.db",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    std::fs::hard_link(&db, &other_name).unwrap();
    let refused: [(&Path, &str); 7] = [
        (&other_name, "one of a data folder's own files"),
        (&db, "one of a data folder's own files"),
        (&through_dots, "one of a data folder's own files"),
        (
            &dir.path().join("clinic.db-wal"),
            "one of a data folder's own files",
        ),
        (
            &dir.path().join("clinic.lock"),
            "one of a data folder's own files",
        ),
        (&attachment, "inside one of the data folder's own folders"),
        (&notes, "not an earlier backup"),
    ];
    for (to, why) in refused {
        let out = cli(dir.path(), &["backup", "--to", to.to_str().unwrap()], None);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {said}", to.display());
        assert!(said.contains(why), "{}: {said}", to.display());
    }
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        size,
        "the database is untouched"
    );
    assert_eq!(
        std::fs::read(&attachment).unwrap(),
        b"%PDF-1.4 an attachment"
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "the on-call rota");
    std::fs::remove_file(&notes).unwrap();
    std::fs::remove_file(&other_name).unwrap();
    assert!(exports(dir.path()).is_empty(), "nothing exported");
    let out = cli(dir.path(), &["user", "list"], None);
    assert!(stdout(&out).contains("dr.who"), "{}", stdout(&out));
    // Another clinic's data folder (its locks are there): its database is refused as this one's.
    let other_clinic = tempfile::tempdir().unwrap();
    assert!(
        cli(other_clinic.path(), &add, Some("timelord-42\n"))
            .status
            .success()
    );
    let theirs = other_clinic.path().join("clinic.db");
    let their_size = std::fs::metadata(&theirs).unwrap().len();
    let out = cli(
        dir.path(),
        &["backup", "--to", theirs.to_str().unwrap()],
        None,
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("one of a data folder's own files"), "{said}");
    assert_eq!(std::fs::metadata(&theirs).unwrap().len(), their_size);
    // A clinic's database named as a data folder names it, in a folder with no lock (copied,
    // never served), or in any case of its name inside a data folder.
    let copied = tempfile::tempdir().unwrap();
    let copy = copied.path().join("clinic.db");
    std::fs::copy(&theirs, &copy).unwrap();
    let copy_size = std::fs::metadata(&copy).unwrap().len();
    let upper = other_clinic.path().join("Clinic.DB");
    for to in [&copy, &upper] {
        let out = cli(dir.path(), &["backup", "--to", to.to_str().unwrap()], None);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {said}", to.display());
        assert!(said.contains("one of a data folder's own files"), "{said}");
    }
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), copy_size);
    assert!(!upper.exists());
    // Another program's database is no earlier backup either.
    let foreign = dir.path().join("address-book.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('x');")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&foreign).unwrap();
    let out = cli(
        dir.path(),
        &["backup", "--to", foreign.to_str().unwrap()],
        None,
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("not a clinic database"), "{said}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    // An earlier backup is a clinic database: made again over it, as before.
    let again = dir.path().join("again.db");
    for _ in 0..2 {
        let out = cli(
            dir.path(),
            &["backup", "--to", again.to_str().unwrap()],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A folder with no database (a mistyped `--data-dir`) is refused by every command that reads
/// a clinic, and none of them leaves a database or a certificate authority behind; `user add`
/// may start one, and says so.
#[test]
fn commands_on_a_folder_without_a_clinic_refuse_and_create_nothing() {
    let root = tempfile::tempdir().unwrap();
    let typo = root.path().join("clinc");
    let commands: [&[&str]; 6] = [
        &["user", "list"],
        &["sessions", "list"],
        &["audit", "verify"],
        &["hold", "list"],
        &["retention", "preview"],
        &["tls", "fingerprint"],
    ];
    for args in commands {
        let out = cli(&typo, args, None);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {said}");
        assert!(
            said.contains("holds no clinic database"),
            "{args:?}: {said}"
        );
        assert!(!typo.join("clinic.db").exists(), "{args:?} made a database");
        assert!(
            !typo.join("tls").exists(),
            "{args:?} made a certificate authority"
        );
    }
    let add = [
        "user",
        "add",
        "--username",
        "first",
        "--name",
        "First Admin",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let out = cli(&typo, &add, Some("first-admin-1\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).starts_with(&format!(
            "created a new clinic database in {}",
            typo.display()
        )),
        "{}",
        stdout(&out)
    );
    let out = cli(&typo, &add, Some("first-admin-1\n"));
    assert!(
        !stdout(&out).contains("new clinic database"),
        "{}",
        stdout(&out)
    );
    assert!(cli(&typo, &["user", "list"], None).status.success());
}

/// A patient's date of birth is a real one in the form the docs give: a typo (a future year,
/// another format) is refused with a sentence, and no account is made.
#[test]
fn a_date_of_birth_in_the_future_or_another_form_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(dir.path(), &["init"], None).status.success());
    let add = |born: &str| {
        cli(
            dir.path(),
            &[
                "user",
                "add",
                "--username",
                "pat",
                "--name",
                "A Patient",
                "--role",
                "patient",
                "--password-stdin",
                "--date-of-birth",
                born,
            ],
            Some("patient-pass-1\n"),
        )
    };
    for (born, says) in [
        (
            "2099-01-01",
            "date of birth must be between 1900-01-01 and today",
        ),
        (
            "1850-06-01",
            "date of birth must be between 1900-01-01 and today",
        ),
        ("02/04/1971", "expected a real date as YYYY-MM-DD"),
    ] {
        let out = add(born);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{born}");
        assert!(said.contains(says), "{born}: {said}");
    }
    assert!(!stdout(&cli(dir.path(), &["user", "list"], None)).contains("pat"));
    assert!(add("1971-04-02").status.success());
}

/// The packaged settings file names every setting `serve` reads from the environment (each
/// as a `NAME=` line, commented or not), so IT finds them all where the service reads them.
#[test]
fn the_packaged_settings_file_names_every_setting() {
    let help = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let settings: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split('=').next())
        .collect();
    assert!(settings.len() > 30, "{help}");
    let file = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/server/clinic-server.env"),
    )
    .unwrap();
    let named: Vec<&str> = file
        .lines()
        .filter_map(|l| l.trim_start_matches('#').split_once('='))
        .map(|(name, _)| name)
        .collect();
    let missing: Vec<&&str> = settings
        .iter()
        .filter(|s| **s != "CLINIC_DATA_DIR" && !named.contains(s))
        .collect();
    assert!(missing.is_empty(), "not in clinic-server.env: {missing:?}");
}

#[test]
fn an_address_that_cannot_be_listened_on_is_said_in_words() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(dir.path(), &["init"], None).status.success());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let serve = |listen: &str| {
        let out = cli(dir.path(), &["serve", "--listen", listen], None);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = serve(&format!("127.0.0.1:{port}"));
    assert!(
        said.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: the port is in use by another program"
        )),
        "{said}"
    );
    assert!(!said.contains("os error"), "{said}");
    // An address this computer does not have (nothing is sent to it: the bind fails here).
    let said = serve("192.0.2.1:8470");
    assert!(said.contains("this computer has no such address"), "{said}");
    drop(taken);
}

#[test]
fn a_blank_name_and_a_password_of_spaces_are_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let add = |name: &str, password: &str| {
        let out = cli(
            dir.path(),
            &[
                "user",
                "add",
                "--username",
                "ann",
                "--name",
                name,
                "--role",
                "patient",
                "--password-stdin",
            ],
            Some(password),
        );
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = add("   ", "a good password\n");
    assert!(said.contains("the name is blank"), "{said}");
    assert!(!said.contains("bytes"), "{said}");
    let said = add("Ann Smith", "          \n");
    assert!(said.contains("the password is only spaces"), "{said}");
}
