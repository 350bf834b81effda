//! Finding 9 of the abuse review, against the real binary: health data at rest is readable by
//! the server's account only. The data folder is 0700 (also one an older version left 0755),
//! the database, its log and shared memory, the uploaded files and a backup 0600.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Binary, accounts, mode, run_cli, send_frame};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn the_data_folder_and_everything_in_it_are_private() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    accounts(&dir, &[("pat", Role::Patient), ("doc", Role::Doctor)]);
    // As an older version (or a careless copy) left it: world-readable.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("clinic.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // An attachment stored by an older version, in folders everyone may read.
    let content = b"an older scan";
    let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
    let shard = dir.join("files").join(&name[..2]);
    std::fs::create_dir_all(&shard).unwrap();
    let older = shard.join(&name);
    std::fs::write(&older, content).unwrap();
    for (path, bits) in [
        (&dir.join("files"), 0o755),
        (&shard, 0o755),
        (&older, 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits)).unwrap();
    }

    let server = Binary::start_logging(&dir, &[], "info");
    let pat = server.login("pat").await;
    let doc = server.login("doc").await;
    let mut ws = server.ws(&pat.token).await;
    ws.send(send_frame("m1", &pat, &doc, "my results")).await;
    ws.expect("message:ack").await;
    let (status, uploaded) = server
        .upload(
            &pat,
            &pat,
            &doc,
            "bp.txt",
            b"blood pressure 120/80".to_vec(),
        )
        .await;
    assert_eq!(status, 201);
    assert!(uploaded["fileUrl"].is_string(), "{uploaded}");

    assert_eq!(mode(&dir), 0o700, "the data folder");
    for name in [
        "clinic.db",
        "clinic.db-wal",
        "clinic.db-shm",
        "clinic.seq",
        "clinic.lock",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let stored = files_under(&dir.join("files"));
    assert_eq!(stored.len(), 2);
    // The older one is tightened while the server serves: given a few seconds.
    for _ in 0..100 {
        if mode(&older) == 0o600 && mode(&shard) == 0o700 && server.log().contains("made private") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for file in &stored {
        assert_eq!(mode(file), 0o600, "a stored file: {}", file.display());
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
    // IT can read that it happened: the file, its folder and `files/`.
    let log = server.log();
    assert!(
        log.contains("made private") && log.contains("changed=3"),
        "{log}"
    );
    assert_eq!(mode(&dir.join("files")), 0o700);
    assert_eq!(mode(&dir.join("uploads-tmp")), 0o700);

    let backup = root.path().join("copy.db");
    let out = run_cli(&dir, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(mode(&backup), 0o600, "the backup");
    let backed_up = files_under(&root.path().join("copy.db.files"));
    assert_eq!(backed_up.len(), 2);
    for file in &backed_up {
        assert_eq!(mode(file), 0o600, "a backed-up file: {}", file.display());
    }
    server.kill();

    // A folder made from scratch is private from the start.
    let fresh = root.path().join("fresh");
    let server = Binary::start(&fresh, &["--init"]);
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "serving");
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&fresh.join("clinic.db")), 0o600);
    server.kill();
}
