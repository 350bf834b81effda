//! `GET /download`: the page lists the desktop packages of the downloads folder and serves them
//! byte for byte; nothing outside the listing can be fetched.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::TestServer;

#[tokio::test]
async fn the_download_page_offers_the_packages_and_nothing_else() {
    let packages = tempfile::tempdir().unwrap();
    let deb = "clinic-messaging_0.1.0_amd64.deb";
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(packages.path().join(deb), &content).unwrap();
    std::fs::write(packages.path().join("notes.txt"), "not a package").unwrap();
    std::fs::write(packages.path().join(".hidden.deb"), "hidden").unwrap();
    let dir = packages.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.downloads_dir = Some(dir)).await;

    let page = server
        .http
        .get(server.url("/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("href=\"/download/{deb}\"")),
        "{html}"
    );
    assert!(
        !html.contains("Server address"),
        "opened on the server's own computer: 127.0.0.1 is no address for patients"
    );
    let named = server
        .http
        .get(server.url("/download"))
        .header(reqwest::header::HOST, "clinic.lan:8470")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        named.contains("<code>https://clinic.lan:8470</code>"),
        "the address to type into the app: {named}"
    );
    assert!(!html.contains("notes.txt") && !html.contains(".hidden"));

    let file = server
        .http
        .get(server.url(&format!("/download/{deb}")))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.headers()["content-type"],
        "application/vnd.debian.binary-package"
    );
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(deb)
    );
    assert_eq!(file.bytes().await.unwrap().as_ref(), content.as_slice());

    for refused in [
        "notes.txt",
        ".hidden.deb",
        "..%2F..%2Fetc%2Fpasswd",
        "missing.deb",
    ] {
        let response = server
            .http
            .get(server.url(&format!("/download/{refused}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{refused}");
    }
    server.stop().await;
}

#[tokio::test]
async fn without_packages_the_page_says_so() {
    let server = TestServer::start().await;
    let html = server
        .http
        .get(server.url("/download"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No packages are offered here yet"), "{html}");
    // On the server's own computer (loopback) the page shows the pairing code to print, the
    // same one `clinic-server tls fingerprint` gives, in its eight groups.
    let code = clinic_server::tls::fingerprint(server.dir.path(), None)
        .unwrap()
        .code;
    assert!(
        html.contains(&format!("<code data-pairing-code>{code}</code>")),
        "{html}"
    );
    server.stop().await;
}

/// A link in the downloads folder is never followed: one to the database (which would serve the
/// whole clinic to anyone) or to a package elsewhere is neither listed nor served.
#[tokio::test]
async fn links_in_the_downloads_folder_are_not_followed() {
    let packages = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("clinic-messaging_0.1.0_amd64.deb");
    std::fs::write(&real, "a package kept elsewhere").unwrap();
    let dir = packages.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.downloads_dir = Some(dir)).await;
    // Serving: the database exists.
    server.user("pat1", clinic_protocol::Role::Patient).await;
    let db = clinic_server::config::db_path(server.dir.path());
    assert!(db.is_file());
    let links = [
        ("clinic-backup.deb", db.clone()),
        ("clinic-messaging_0.1.0_amd64.deb", real),
        ("notes.rpm", server.dir.path().to_path_buf()),
    ];
    for (name, target) in &links {
        std::os::unix::fs::symlink(target, packages.path().join(name)).unwrap();
    }

    let html = server
        .http
        .get(server.url("/download"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No packages are offered here yet"), "{html}");
    for (name, _) in &links {
        let response = server
            .http
            .get(server.url(&format!("/download/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{name}");
        let body = response.bytes().await.unwrap();
        assert!(!body.starts_with(b"SQLite format 3"), "{name}");
    }
    server.stop().await;
}
