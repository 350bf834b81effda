//! TLS pinning end to end: the CLI and the client core pair with the real server by its code,
//! then refuse a man-in-the-middle proxy that takes the server's place with another certificate
//! (with exactly the sentence `CHANGED`), whether it shows its own CA or a copy of the clinic's;
//! and they accept a renewed server certificate from the same CA, and the paired clinic's server
//! at another address without its code again. Plain http:// is refused to anything but this
//! computer.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{Client, ClientError, ConnectionState, Pairing, tls};
use common::mitm::{Disguise, Mitm};
use common::*;
use std::path::Path;
use std::process::Output;

const CHANGED: &str = "This is not your clinic's server (its pairing code changed): nothing was \
                       sent to it. Check the server's address; if it is right, tell your clinic.";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ca_der(data: &Path) -> Vec<u8> {
    use clinic_server::tls::pki::{TlsPaths, ensure_ca};
    ensure_ca(&TlsPaths::new(data)).unwrap().cert_der
}

/// `clinic login` as alice with the code given (if any).
fn cli_login_with(profile: &Path, url: &str, pin: Option<&str>) -> Output {
    cli_login_output(profile, url, "alice", PASSWORD, pin)
}

/// Waits until a connecting client reports `Offline` and returns its last error.
/// Why the connection is offline, with "this is not your clinic's server" told apart from a
/// network's failure by the state itself (the sentence is checked too).
async fn offline_error(client: &Client) -> String {
    let mut state = client.watch_state();
    let state = tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, ConnectionState::Offline { .. })),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    match state {
        ConnectionState::Offline {
            last_error,
            not_your_server,
            ..
        } => {
            assert_eq!(last_error == CHANGED, not_your_server, "{last_error}");
            last_error
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_with_another_certificate_is_refused_and_a_renewed_one_accepted() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let (url, port) = (server.url(), server.addr.port());
    let code = code_for(&url);

    // Pairing: the CLI with the code IT gave; the client core likewise.
    let cli_profile = tempfile::tempdir().unwrap();
    let out = cli_login_with(cli_profile.path(), &url, None);
    assert!(
        !out.status.success(),
        "an unpaired https server needs the code"
    );
    assert!(
        stderr(&out).contains(&code),
        "shows the server's code: {}",
        stderr(&out)
    );
    // A code of the wrong length is refused in one sentence, said once.
    let out = cli_login_with(cli_profile.path(), &url, Some("ABCD"));
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).matches("A pairing code has").count(),
        1,
        "{}",
        stderr(&out)
    );
    let out = cli_login_with(cli_profile.path(), &url, Some(&code.to_lowercase()));
    assert!(out.status.success(), "{}", stderr(&out));
    let core_profile = tempfile::tempdir().unwrap();
    let alice = login(&url, core_profile.path(), "alice").await;
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.disconnect().await;
    // Showing the code to compare, then confirming it, pins the same CA.
    let shown = tls::fetch_server_ca(&url).await.unwrap();
    assert_eq!(shown.code().to_string(), code);

    // The real server moves away; a proxy with its own certificate takes its address.
    drop(server);
    let real = InProcessServer::start(data.path(), 0).await;
    // The app that saw the last proxy, kept trying until the real server is back.
    let mut kept = None;
    for disguise in [Disguise::OwnCa, Disguise::RealCaCopied] {
        let mitm = Mitm::start(port, real.addr, ca_der(data.path()), disguise).await;
        assert_eq!(mitm.addr.port(), port);

        let out = clinic(cli_profile.path())
            .args(["sync", "--attempts", "1"])
            .output()
            .unwrap();
        // Not "unreachable, try later" (3): another server answers at the address; and what
        // IT does after replacing the CA on purpose is said under it.
        assert_eq!(out.status.code(), Some(6), "{disguise:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(CHANGED) && stderr(&out).contains("forget-server"),
            "{disguise:?}: {}",
            stderr(&out)
        );
        // Nor does following a conversation wait for it to come back.
        let mut tail = clinic(cli_profile.path())
            .args(["tail", "--with", "dr.patel"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = tail.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                tail.kill().unwrap();
                break None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(6),
            "{disguise:?}: tail exits 6"
        );
        // Nor is the conversation list this computer's copy, as if all were well.
        let out = clinic(cli_profile.path())
            .arg("conversations")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "{disguise:?}: {}", stderr(&out));
        // Logging in again, even with the right code, does not get past it.
        let out = cli_login_with(cli_profile.path(), &url, Some(&code));
        assert_eq!(out.status.code(), Some(6), "{disguise:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(CHANGED),
            "{disguise:?}: {}",
            stderr(&out)
        );

        let alice = Client::open(options(core_profile.path())).unwrap();
        alice.connect();
        assert_eq!(offline_error(&alice).await, CHANGED, "{disguise:?}");
        alice.disconnect().await;
        let refused = Client::login(
            options(core_profile.path()),
            &url,
            "alice",
            PASSWORD,
            Pairing::Saved,
        )
        .await
        .unwrap_err();
        assert!(matches!(refused, ClientError::NotYourServer), "{refused:?}");
        assert_eq!(refused.to_string(), CHANGED);
        // Typing the code the other server shows is not taken for a new pairing, and says so
        // (not that the server's code differs from it: it does not).
        if disguise == Disguise::OwnCa {
            let shown = tls::fetch_server_ca(&url).await.unwrap().code().to_string();
            assert_ne!(shown, code);
            let typed = Client::login(
                options(core_profile.path()),
                &url,
                "alice",
                PASSWORD,
                Pairing::Code(shown),
            )
            .await
            .unwrap_err();
            assert!(matches!(typed, ClientError::PairedWithAnother), "{typed:?}");
        }

        // A fresh profile pairing through the proxy with the real code is refused too.
        let fresh = tempfile::tempdir().unwrap();
        let first = Client::login(
            options(fresh.path()),
            &url,
            "alice",
            PASSWORD,
            Pairing::Code(code.clone()),
        )
        .await
        .unwrap_err();
        let expected = match disguise {
            // Another CA: its code is not the one entered.
            Disguise::OwnCa => matches!(first, ClientError::CodeMismatch),
            // The clinic's CA copied: the code matches, but the proxy cannot sign with it.
            Disguise::RealCaCopied => matches!(first, ClientError::NotYourServer),
        };
        assert!(expected, "{disguise:?}: {first:?}");

        // Once the other server is gone too, a try that reaches nothing at the address says
        // nothing of who answers there: the warning stays until a server proves it is the
        // clinic's, and the sentence says what this try found.
        let alice = Client::open(options(core_profile.path())).unwrap();
        let mut state = alice.watch_state();
        alice.connect();
        assert_eq!(offline_error(&alice).await, CHANGED, "{disguise:?}");
        drop(mitm);
        let after = tokio::time::timeout(
            PATIENCE,
            state.wait_for(|s| {
                matches!(s, ConnectionState::Offline { last_error, .. } if last_error != CHANGED)
            }),
        )
        .await
        .unwrap()
        .unwrap()
        .clone();
        let ConnectionState::Offline {
            last_error,
            not_your_server,
            ..
        } = after
        else {
            unreachable!()
        };
        assert!(not_your_server, "{disguise:?}: {last_error}");
        assert!(last_error.contains("nothing is listening"), "{last_error}");
        if disguise == Disguise::RealCaCopied {
            kept = Some(alice);
        } else {
            alice.disconnect().await;
        }
    }

    // The real server is back at its address with a renewed certificate from the same CA.
    drop(real);
    let leaf = data.path().join("tls/server.pem");
    let old_leaf = std::fs::read(&leaf).unwrap();
    std::fs::remove_file(&leaf).unwrap();
    let server = InProcessServer::start(data.path(), port).await;
    // The app still trying reaches it (online: the warning is gone with the failures).
    let alice = kept.unwrap();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.disconnect().await;
    drop(alice);
    let out = clinic(cli_profile.path()).args(["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(
        std::fs::read(&leaf).unwrap(),
        old_leaf,
        "a new server certificate"
    );
    let alice = Client::open(options(core_profile.path())).unwrap();
    alice.connect();
    alice.wait_online(PATIENCE).await.unwrap();
    alice.disconnect().await;
    drop(server);
}

#[tokio::test]
async fn plain_http_is_refused_to_other_computers_and_typos_are_caught() {
    let profile = tempfile::tempdir().unwrap();
    let err = Client::login(
        options(profile.path()),
        "http://192.0.2.10:8470",
        "alice",
        PASSWORD,
        Pairing::Saved,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("plain http://"), "{err}");

    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let mut typo: Vec<char> = code_for(&url).chars().collect();
    typo[3] = if typo[3] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let err = Client::login(
        options(profile.path()),
        &url,
        "alice",
        PASSWORD,
        Pairing::Code(typo),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::PairingCode(_)), "{err:?}");
    // Nothing was pinned by the failed attempts.
    assert!(
        clinic_client::Profile::new(profile.path())
            .pin(&format!("{url}/"))
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_paired_clinic_at_another_address_is_known_by_its_ca_and_another_clinic_is_not() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let profile = tempfile::tempdir().unwrap();
    let out = cli_login_with(profile.path(), &url, Some(&code_for(&url)));
    assert!(out.status.success(), "{}", stderr(&out));

    // IT moved the clinic's server, or it is reached by another name: no code asked again.
    let moved = url.replace("127.0.0.1", "localhost");
    assert_ne!(moved, url);
    let out = cli_login_with(profile.path(), &moved, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = clinic(profile.path())
        .args(["sync", "--attempts", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Another clinic's server (another CA): its code to compare with the paper, as before.
    let other_data = demo_data_dir();
    let other = InProcessServer::start(other_data.path(), 0).await;
    let out = cli_login_with(profile.path(), &other.url(), None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&code_for(&other.url())),
        "{}",
        stderr(&out)
    );
}
