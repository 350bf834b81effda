//! File sharing: upload and download by participants (and by any doctor for an emergency's
//! file: its alert reached them all), refusals (third parties, over-size while
//! streaming, content that is not an allowed type), harmless names, no half files after an
//! interrupted upload, orphan sweep, dedup, backup of files, and flat server memory during
//! large uploads (measured on the real binary).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Account, Clinic, PNG, TestServer, WAIT, Ws, clinic, split};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n";

fn elf() -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
    bytes.resize(20_000, 0x90);
    bytes
}

/// `who` uploads into the conversation of pat1 and dr. doc1 (the declared type is always the
/// same: the server must not care).
async fn upload(
    server: &TestServer,
    who: &Account,
    c: &Clinic,
    name: &str,
    bytes: impl Into<Vec<u8>>,
) -> (u16, Value) {
    let form = common::upload_form(
        &c.pat1,
        &c.doc1,
        name,
        bytes.into(),
        "application/octet-stream",
    );
    let response = server
        .http
        .post(server.url("/api/chat/upload"))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    split(response).await
}

async fn download(server: &TestServer, token: &str, url: &str) -> reqwest::Response {
    server
        .http
        .get(server.url(url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// pat1 sends a message carrying `file_url` over REST; returns the status.
async fn attach(server: &TestServer, c: &Clinic, client_id: &str, file_url: &str) -> u16 {
    let body = json!({"clientId": client_id, "patientId": c.pat1.id(), "doctorId": c.doc1.id(),
                      "content": "", "fileUrl": file_url});
    server
        .post(&c.pat1.token, "/api/chat/messages", body)
        .await
        .0
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn stored(server: &TestServer) -> Vec<PathBuf> {
    files_under(&server.dir.path().join("files"))
}

fn temp_files(server: &TestServer) -> Vec<PathBuf> {
    files_under(&server.dir.path().join("uploads-tmp"))
}

/// Polls `check` until it holds (a broken test fails after `WAIT` instead of hanging).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn participants_upload_share_and_download() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, body) = upload(&server, &c.pat1, &c, "rash.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    let url = body["fileUrl"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/api/files/"), "{url}");
    assert_eq!(body["fileName"], "rash.png");
    assert_eq!(body["size"], PNG.len());
    assert_eq!(body["contentType"], "image/png");

    // Before it is attached, only the uploader can fetch it.
    assert_eq!(download(&server, &c.pat1.token, &url).await.status(), 200);
    assert_eq!(download(&server, &c.doc1.token, &url).await.status(), 404);

    let (mut doctor, _) = Ws::connect(&server, &c.doc1.token).await;
    let (mut patient, _) = Ws::connect(&server, &c.pat1.token).await;
    let mut frame = common::send_frame("file-1", &c.pat1, &c.doc1, "");
    frame["fileUrl"] = json!(url);
    frame["fileName"] = json!("rash.png");
    patient.send(frame).await;
    let ack = patient.expect("message:ack").await;
    let received = doctor.expect("message:received").await;
    let message = &received["message"];
    assert_eq!(message["fileUrl"], url.as_str());
    assert_eq!(message["fileName"], "rash.png");
    assert_eq!(message["fileSize"], PNG.len());
    assert_eq!(message["fileType"], "image/png");
    assert_eq!(message["messageType"], "FILE");
    assert_eq!(ack["message"]["id"], message["id"], "{ack}");

    let response = download(&server, &c.doc1.token, &url).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"rash.png\"")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);

    // Third parties, and no token at all, learn nothing.
    for stranger in [&c.pat2, &c.doc2] {
        assert_eq!(download(&server, &stranger.token, &url).await.status(), 404);
    }
    let anonymous = server.http.get(server.url(&url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        download(&server, &c.doc1.token, "/api/files/../../clinic.db")
            .await
            .status(),
        404
    );

    // History over REST carries the file fields too.
    let (status, page) = server
        .get(&c.doc1.token, &common::history_path(&c.pat1, &c.doc1))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page[0]["fileSize"], PNG.len());
}

#[tokio::test]
async fn third_parties_and_foreign_file_urls_are_refused() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, body) = upload(&server, &c.pat2, &c, "x.png", PNG.to_vec()).await;
    assert_eq!(status, 403, "{body}");
    assert!(stored(&server).is_empty() && temp_files(&server).is_empty());

    let (status, body) = upload(&server, &c.pat1, &c, "x.pdf", PDF.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["contentType"], "application/pdf");
    let url = body["fileUrl"].as_str().unwrap();

    let send = |who: &Account, patient: &Account, doctor: &Account, file_url: &str| {
        json!({
            "clientId": format!("c-{}", uuid_like(file_url, who.id())),
            "patientId": patient.id(), "doctorId": doctor.id(),
            "content": "see file", "fileUrl": file_url,
        })
    };
    // Another patient, in their own conversation, cannot attach it.
    let (status, body) = server
        .post(
            &c.pat2.token,
            "/api/chat/messages",
            send(&c.pat2, &c.pat2, &c.doc1, url),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // Nor can the other participant pass it off as theirs.
    let (status, _) = server
        .post(
            &c.doc1.token,
            "/api/chat/messages",
            send(&c.doc1, &c.pat1, &c.doc1, url),
        )
        .await;
    assert_eq!(status, 404);
    // A URL that is not ours.
    let (status, _) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            send(&c.pat1, &c.pat1, &c.doc1, "http://evil.example/x.pdf"),
        )
        .await;
    assert_eq!(status, 404);
    // The uploader can; the server fills size and type from its record.
    let (status, message) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            send(&c.pat1, &c.pat1, &c.doc1, url),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["fileType"], "application/pdf");
    assert_eq!(message["fileName"], "x.pdf");
}

/// An upload is one message's: a second message naming it is refused (the same send repeated
/// under its clientId is answered with its message), so unsending the first, which deletes its
/// upload, takes no file from another message, an emergency's above all.
#[tokio::test]
async fn an_upload_attached_to_a_message_cannot_be_attached_to_another() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, body) = upload(&server, &c.pat1, &c, "ecg.pdf", PDF.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    let url = body["fileUrl"].as_str().unwrap().to_owned();
    let with = |client_id: &str, emergency: bool| {
        json!({"clientId": client_id, "patientId": c.pat1.id(), "doctorId": c.doc1.id(),
               "content": "see file", "fileUrl": url, "isEmergency": emergency})
    };
    let (status, first) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            with("first-file", false),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            with("first-file", false),
        )
        .await;
    assert_eq!(
        (status, &again["id"]),
        (200, &first["id"]),
        "a repeated send is answered with its message"
    );
    for (client_id, emergency) in [("second-file", false), ("emergency-file", true)] {
        let (status, body) = server
            .post(
                &c.pat1.token,
                "/api/chat/messages",
                with(client_id, emergency),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_request")),
            "{body}"
        );
        assert_eq!(
            body["message"],
            "this file is already attached to another message: attach it again to send it again"
        );
    }
    let mut frame = common::send_frame("ws-file", &c.pat1, &c.doc1, "over the socket");
    frame["fileUrl"] = json!(url);
    let (mut ws, _) = Ws::connect(&server, &c.pat1.token).await;
    ws.send(frame).await;
    let refused = ws.expect("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["clientId"].as_str()),
        (Some("bad_request"), Some("ws-file")),
        "{refused}"
    );
    let (status, page) = server
        .get(&c.doc1.token, &common::history_path(&c.pat1, &c.doc1))
        .await;
    assert_eq!(status, 200);
    let carrying = page
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fileUrl"] == url.as_str())
        .count();
    assert_eq!(carrying, 1, "{page}");
    assert_eq!(download(&server, &c.doc1.token, &url).await.status(), 200);
}

#[tokio::test]
async fn any_doctor_opens_an_emergencys_file_and_no_one_else_does() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, body) = upload(&server, &c.pat1, &c, "wound.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    let url = body["fileUrl"].as_str().unwrap().to_owned();
    // An ordinary message's file: doc2 is no participant.
    assert_eq!(attach(&server, &c, "c-plain-file", &url).await, 201);
    assert_eq!(download(&server, &c.doc2.token, &url).await.status(), 404);

    let (status, body) = upload(&server, &c.pat1, &c, "wound2.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    let url = body["fileUrl"].as_str().unwrap().to_owned();
    let (mut doc2, _) = Ws::connect(&server, &c.doc2.token).await;
    let (status, message) = server
        .post(
            &c.pat1.token,
            "/api/chat/messages",
            json!({"clientId": "c-emergency-file", "patientId": c.pat1.id(),
                   "doctorId": c.doc1.id(), "content": "look", "fileUrl": url,
                   "isEmergency": true}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    // The alert reaches doc2 with the file's link, and the link opens for doc2.
    let alert = doc2.expect("emergency:alert").await;
    assert_eq!(alert["message"]["fileUrl"].as_str(), Some(url.as_str()));
    let response = download(&server, &c.doc2.token, &url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    // Still after doc2 took it; never for another patient.
    let id = alert["emergency"]["id"].as_str().unwrap();
    let (status, _) = server
        .post(
            &c.doc2.token,
            &format!("/api/emergencies/{id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(download(&server, &c.doc2.token, &url).await.status(), 200);
    assert_eq!(download(&server, &c.pat2.token, &url).await.status(), 404);
}

fn uuid_like(a: &str, b: &str) -> String {
    format!(
        "{:x}",
        a.len() * 31 + b.len() + a.bytes().map(usize::from).sum::<usize>()
    )
}

#[tokio::test]
async fn content_decides_the_type_not_the_name() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let mut zip = b"PK\x03\x04".to_vec();
    zip.extend_from_slice(&[0; 26]);
    zip.extend_from_slice(b"payload.exe");
    for (name, bytes) in [
        ("report.pdf", elf()),
        (
            "scan.pdf",
            b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".repeat(1000),
        ),
        ("letter.docx", zip),
        ("notes.txt", b"caf\xe9 latin-1, not UTF-8".to_vec()),
    ] {
        let (status, body) = upload(&server, &c.pat1, &c, name, bytes).await;
        assert_eq!(status, 415, "{name}: {body}");
        assert_eq!(body["code"], "unsupported_media_type");
    }
    assert!(stored(&server).is_empty(), "{:?}", stored(&server));
    assert!(temp_files(&server).is_empty());

    // Text is text whatever it is called.
    let (status, body) = upload(&server, &c.pat1, &c, "blood pressure.exe", "120/80 — gut\n").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["contentType"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn hostile_file_names_are_stored_harmlessly() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, body) = upload(
        &server,
        &c.pat1,
        &c,
        "../../../etc/passwd\u{202e}fdp.txt",
        b"root:x:0:0\n".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["fileName"], "passwdfdp.txt");
    // Nothing escaped the files folder; the stored name is the content hash.
    let files = stored(&server);
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert_eq!(name.len(), 64, "{name}");
    assert!(!server.dir.path().parent().unwrap().join("etc").exists());

    let (status, body) = upload(&server, &c.pat1, &c, "Befund \"Ärztin\".pdf", PDF.to_vec()).await;
    assert_eq!(status, 201);
    let url = body["fileUrl"].as_str().unwrap();
    let response = download(&server, &c.pat1.token, url).await;
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        "attachment; filename=\"Befund __rztin_.pdf\"; \
         filename*=UTF-8''Befund%20%22%C3%84rztin%22.pdf"
    );
}

#[tokio::test]
async fn identical_content_is_stored_once() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let mut urls = Vec::new();
    for who in [&c.pat1, &c.doc1] {
        let (status, body) = upload(&server, who, &c, "same.png", PNG.to_vec()).await;
        assert_eq!(status, 201);
        urls.push(body["fileUrl"].as_str().unwrap().to_owned());
    }
    assert_ne!(urls[0], urls[1], "each upload has its own id");
    assert_eq!(stored(&server).len(), 1);
}

#[tokio::test]
async fn over_size_is_refused_while_streaming() {
    const LIMIT: u64 = 1024 * 1024;
    let server = TestServer::start_with(|config| config.max_upload_bytes = LIMIT).await;
    let c = clinic(&server).await;
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(4 * LIMIT as usize, b'x');
    let result = server
        .http
        .post(server.url("/api/chat/upload"))
        .bearer_auth(&c.pat1.token)
        .multipart(common::upload_form(
            &c.pat1,
            &c.doc1,
            "big.pdf",
            big,
            "application/pdf",
        ))
        .send()
        .await;
    // The server answers 413 as soon as the limit is crossed; the client may see that answer
    // or, still writing, the connection closing under it.
    if let Ok(response) = result {
        let (status, body) = split(response).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["code"], "too_large");
    }
    eventually("the temp file is removed", || {
        temp_files(&server).is_empty()
    })
    .await;
    assert!(stored(&server).is_empty());

    // Exactly at the limit is fine.
    let mut fits = b"%PDF-1.4\n".to_vec();
    fits.resize(LIMIT as usize, b'x');
    let (status, body) = upload(&server, &c.pat1, &c, "fits.pdf", fits).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn an_interrupted_upload_leaves_no_half_file() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let boundary = "XBOUNDARYX";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"patientId\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"doctorId\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\n",
        c.pat1.id(),
        c.doc1.id()
    );
    let request = format!(
        "POST /api/chat/upload HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n",
        server.addr, c.pat1.token
    );
    let mut socket = server.raw_tls().await;
    socket.write_all(request.as_bytes()).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&vec![b'x'; 256 * 1024]).await.unwrap();
    socket.flush().await.unwrap();
    eventually("the upload is streaming into a temp file", || {
        temp_files(&server)
            .first()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() > 0)
    })
    .await;
    drop(socket);
    eventually("the half file is removed", || {
        temp_files(&server).is_empty()
    })
    .await;
    assert!(stored(&server).is_empty());
}

#[tokio::test]
async fn unattached_uploads_are_swept_after_the_grace_period() {
    let server = TestServer::start_with(|config| {
        config.upload_grace = Duration::from_secs(1);
        config.upload_sweep_interval = Duration::from_millis(200);
    })
    .await;
    let c = clinic(&server).await;
    let (_, kept) = upload(&server, &c.pat1, &c, "kept.png", PNG.to_vec()).await;
    let kept_url = kept["fileUrl"].as_str().unwrap().to_owned();
    let status = attach(&server, &c, "k1", &kept_url).await;
    assert_eq!(status, 201);
    let (_, orphan) = upload(&server, &c.pat1, &c, "orphan.pdf", PDF.to_vec()).await;
    let orphan_url = orphan["fileUrl"].as_str().unwrap().to_owned();
    assert_eq!(stored(&server).len(), 2);
    eventually("the orphan's content is removed", || {
        stored(&server).len() == 1
    })
    .await;
    assert_eq!(
        download(&server, &c.pat1.token, &orphan_url).await.status(),
        404
    );
    assert_eq!(
        download(&server, &c.doc1.token, &kept_url).await.status(),
        200
    );
    // Too late to attach it now.
    let status = attach(&server, &c, "k2", &orphan_url).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn backup_copies_the_files() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (status, _) = upload(&server, &c.pat1, &c, "a.png", PNG.to_vec()).await;
    assert_eq!(status, 201);
    let target = tempfile::tempdir().unwrap();
    let db = target.path().join("clinic-backup.db");
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(server.dir.path())
        .arg("backup")
        .arg("--to")
        .arg(&db)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(db.exists());
    let copied = files_under(&target.path().join("clinic-backup.db.files"));
    assert_eq!(copied.len(), 1);
    assert_eq!(std::fs::read(&copied[0]).unwrap(), PNG);
    let stored = stored(&server);
    assert_eq!(
        copied[0]
            .strip_prefix(target.path().join("clinic-backup.db.files"))
            .unwrap(),
        stored[0]
            .strip_prefix(server.dir.path().join("files"))
            .unwrap(),
        "same layout as the data folder, so restoring is a copy"
    );

    // A stored file that no longer holds its content: the backup fails naming it, and the audit
    // log says the export failed (its OK row, written before the copy, is followed by a FAILED
    // one), naming the backup by its full path though it was given relative.
    std::fs::write(&stored[0], b"not the png any more").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(["backup", "--to", "second.db"])
        .current_dir(target.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("do not hold the content"), "{said}");
    let conn = rusqlite::Connection::open(server.dir.path().join("clinic.db")).unwrap();
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT outcome, detail FROM audit WHERE action = 'EXPORT' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let outcomes: Vec<&str> = rows.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(outcomes, ["OK", "OK", "FAILED"], "{rows:?}");
    let full = target.path().join("second.db").display().to_string();
    assert!(
        rows[1].1.contains(&full) && rows[2].1.contains(&full),
        "{rows:?}"
    );
}

/// A field of /proc/PID/status, in KiB.
#[tokio::test]
async fn server_memory_stays_flat_during_large_uploads() {
    let dir = tempfile::tempdir().unwrap();
    for (name, role) in [
        ("pat", clinic_protocol::Role::Patient),
        ("doc", clinic_protocol::Role::Doctor),
    ] {
        clinic_server::accounts::create_user(
            dir.path(),
            clinic_server::accounts::NewAccount {
                username: name.into(),
                name: name.into(),
                role,
                password: common::PASSWORD.into(),
                date_of_birth: None,
                blood_group: None,
            },
        )
        .unwrap();
    }
    let (mut child, addr) = common::spawn_server(dir.path(), &["--synchronous", "normal"]);
    let http = common::http_client(&common::tls_config(dir.path()));
    let accounts = [
        common::login_at(dir.path(), &addr, "pat").await,
        common::login_at(dir.path(), &addr, "doc").await,
    ];
    let (pat, doc) = (&accounts[0], &accounts[1]);
    let post = |bytes: Vec<u8>| {
        http.post(format!("https://{addr}/api/chat/upload"))
            .bearer_auth(&pat.token)
            .multipart(common::upload_form(
                pat,
                doc,
                "scan.pdf",
                bytes,
                "application/pdf",
            ))
            .send()
    };
    // Warm up (first request, thread pools), then measure the peak.
    let (status, _) = split(post(PDF.to_vec()).await.unwrap()).await;
    assert_eq!(status, 201);
    let before = common::memory(child.id(), "VmHWM") / 1024;
    let mut under = b"%PDF-1.4\n".to_vec();
    under.resize(20 * 1024 * 1024, b'u');
    let (status, body) = split(post(under).await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let mut over = b"%PDF-1.4\n".to_vec();
    over.resize(30 * 1024 * 1024, b'o');
    if let Ok(response) = post(over).await {
        assert_eq!(response.status(), 413);
    }
    let after = common::memory(child.id(), "VmHWM") / 1024;
    let grown_mib = after.saturating_sub(before) / 1024;
    println!("server peak RSS: {before} KiB before, {after} KiB after 20 MiB + 30 MiB uploads");
    assert!(
        grown_mib < 8,
        "server peak memory grew by {grown_mib} MiB for a 20 MiB and a 30 MiB upload"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
