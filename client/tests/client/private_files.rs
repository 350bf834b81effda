//! Finding 9 of the abuse review, client side: a profile holds health data, so its folder is
//! 0700 and the session file and the cache (with its log) are 0600.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_is_readable_by_its_owner_only() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let root = tempfile::tempdir().unwrap();
    let profile = root.path().join("alice");
    assert!(cli_login(&profile, &server.url(), "alice", PASSWORD));
    let out = clinic(&profile)
        .args(["sync", "--timeout", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(mode(&profile), 0o700, "the profile folder");
    assert_eq!(
        mode(&profile.join("session.json")),
        0o600,
        "the session file"
    );
    let caches: Vec<_> = std::fs::read_dir(&profile)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("cache-")
        })
        .collect();
    assert!(!caches.is_empty());
    for cache in caches {
        assert_eq!(mode(&cache), 0o600, "{}", cache.display());
    }
}

/// A profile folder that another account could write into is refused before the server is asked
/// for a token (nothing is saved there); a sign-in whose session cannot be saved ends the token
/// it was given, so no valid session is left behind on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_that_cannot_be_kept_leaves_no_session_behind() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let root = tempfile::tempdir().unwrap();
    let profile = root.path().join("alice");
    std::fs::create_dir_all(&profile).unwrap();
    // The session file's place is taken by a folder: saving it fails after the token came.
    std::fs::create_dir(profile.join("session.json")).unwrap();
    std::fs::write(profile.join("session.json").join("x"), "").unwrap();
    let sessions = || -> i64 {
        rusqlite::Connection::open(data.path().join("clinic.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM tokens t JOIN users u ON u.id = t.user_id \
                 WHERE u.username = 'alice' AND t.revoked = 0",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = sessions();
    let failed = clinic_client::Client::login(
        options(&profile),
        &server.url(),
        "alice",
        PASSWORD,
        clinic_client::Pairing::Code(code_for(&server.url())),
    )
    .await;
    assert!(failed.is_err());
    assert_eq!(sessions(), before, "the token given was ended");
    assert_eq!(mode(&profile), 0o700);
}
