//! The login's failures as a person reads them, against real TCP listeners on 127.0.0.1 that
//! are not clinic servers: a web server answering HTML, one that accepts and never answers, a
//! closed port; and a sign-in cancelled while the server is silent, or whose cache cannot open,
//! leaves no session behind.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{Client, ClientError, Pairing, Profile};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = "<html><body><h1>Router admin</h1><script>x()</script></body></html>";

/// A listener that answers every connection with `status` and an HTML page.
async fn html_server(status: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

/// A listener that accepts, reads, and never answers (nor closes).
async fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

async fn login(url: &str, pairing: Pairing) -> (ClientError, tempfile::TempDir) {
    clinic_client::tls::install_crypto_provider();
    let profile = tempfile::tempdir().unwrap();
    let options = common::options(profile.path());
    let err = Client::login(options, url, "alice", "clinic-demo", pairing)
        .await
        .unwrap_err();
    (err, profile)
}

fn assert_no_page(err: &ClientError) {
    let text = err.to_string();
    assert!(
        !text.contains('<') && !text.contains("Router admin"),
        "{text}"
    );
}

#[tokio::test]
async fn a_web_page_is_not_a_clinic_server_and_its_body_is_never_shown() {
    for status in ["404 Not Found", "200 OK", "500 Internal Server Error"] {
        let port = html_server(status).await;
        let url = format!("http://127.0.0.1:{port}");
        let (err, _profile) = login(&url, Pairing::Saved).await;
        assert!(
            matches!(err, ClientError::NotClinicServer { .. }),
            "{status}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("not a clinic server"), "{text}");
        assert!(text.contains("8470"), "names the usual port: {text}");
        assert_no_page(&err);
    }
}

#[tokio::test]
async fn a_proxy_whose_server_is_down_says_so_without_its_page() {
    let port = html_server("502 Bad Gateway").await;
    let url = format!("http://127.0.0.1:{port}");
    let (err, _profile) = login(&url, Pairing::Saved).await;
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&url) && text.contains("HTTP 502"), "{text}");
    assert_no_page(&err);
}

#[tokio::test]
async fn a_web_page_behind_https_is_not_a_clinic_server_either() {
    // The pairing probe speaks TLS to a server that answers plain HTML.
    let port = html_server("400 Bad Request").await;
    let (err, _profile) = login(&format!("127.0.0.1:{port}"), Pairing::Saved).await;
    assert!(
        matches!(err, ClientError::NotClinicServer { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("https://127.0.0.1:{port}")),
        "{err}"
    );
    assert_no_page(&err);
}

#[tokio::test]
async fn a_closed_port_says_which_address_and_port_were_tried() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let (err, _profile) = login(&url, Pairing::Saved).await;
        let text = err.to_string();
        assert!(
            matches!(err, ClientError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(
            text.contains(&format!("nothing is listening on port {port}")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_silent_server_is_reported_within_seconds_naming_the_address() {
    let port = silent_server().await;
    for url in [
        format!("http://127.0.0.1:{port}"),
        // https: the pairing probe is the first to wait.
        format!("https://127.0.0.1:{port}"),
    ] {
        let started = std::time::Instant::now();
        let (err, _profile) = login(&url, Pairing::Saved).await;
        assert!(
            matches!(err, ClientError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("no answer within"), "{text}");
        // Not a speed target: only that it is bounded by the login's own timeout, not hung.
        assert!(started.elapsed() < Duration::from_secs(60), "{url}");
    }
}

#[tokio::test]
async fn a_cancelled_sign_in_ends_at_once_and_leaves_no_session() {
    clinic_client::tls::install_crypto_provider();
    let port = silent_server().await;
    let profile = tempfile::tempdir().unwrap();
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let login = tokio::spawn({
        let options = common::options(profile.path());
        async move {
            let cancelled = async {
                let _ = cancelled.await;
            };
            let url = format!("http://127.0.0.1:{port}");
            Client::login_until(
                options,
                &url,
                "alice",
                "clinic-demo",
                Pairing::Saved,
                cancelled,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.send(()).unwrap();
    // Well before the login's own 10 s timeout could have ended it.
    let err = tokio::time::timeout(Duration::from_secs(5), login)
        .await
        .expect("the cancel ends the sign-in")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ClientError::Cancelled), "{err:?}");
    assert!(
        Profile::new(profile.path())
            .load_session()
            .unwrap()
            .is_none()
    );
}

/// A sign-in whose cache cannot be opened (here its place is taken by a folder; also one a
/// newer version of the app keeps) leaves nothing signed in: no session saved, no token here,
/// and the server's session for it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_whose_cache_cannot_open_leaves_no_session_anywhere() {
    let data = common::demo_data_dir();
    let server = common::InProcessServer::start(data.path(), 0).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let first = common::login(&url, dir.path(), "alice").await;
    let profile = Profile::new(dir.path());
    let session = profile.load_session().unwrap().unwrap();
    let cache = profile.cache_path(&session);
    first.logout().await.unwrap();
    drop(first);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = cache.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(&file);
    }
    std::fs::create_dir_all(&cache).unwrap();
    let sessions = |data: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            clinic_server::sessions::list(&data, Some("alice"))
                .unwrap()
                .len()
        })
        .await
        .unwrap()
    };
    let before = sessions(data.path().to_owned()).await;

    let refused = Client::login(
        common::options(dir.path()),
        &url,
        "alice",
        common::PASSWORD,
        Pairing::Code(common::code_for(&url)),
    )
    .await;
    let err = refused.expect_err("the cache cannot open");
    assert!(
        matches!(err, ClientError::Cache(_) | ClientError::Io(_)),
        "refused for its cache, after the server answered: {err:?}"
    );
    let tokens: Vec<_> = std::fs::read_dir(dir.path().join("credentials"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(tokens.is_empty(), "no token kept here: {tokens:?}");
    assert!(
        profile.load_session().unwrap().is_none(),
        "no session saved"
    );
    assert!(
        matches!(
            Client::open(common::options(dir.path())),
            Err(ClientError::NotLoggedIn)
        ),
        "nothing to restore"
    );
    assert_eq!(
        sessions(data.path().to_owned()).await,
        before,
        "the server's session for that sign-in ended"
    );
}
