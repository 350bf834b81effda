//! Finding 6 of the abuse review and the upload items of finding 11, against the real binary:
//! uploads have a per-user quota and rate and stop well before the disk is full (while messages
//! and emergencies go on, and `/readyz` tells the truth about the disk); a download's name
//! carries the extension of what it is; an office document is judged by its central directory;
//! an oversized body is refused before `100 Continue`; an early refusal reaches an ordinary HTTP
//! client as an answer, not a reset.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Account, BinaryClinic, PNG, binary_clinic};
use serde_json::{Value, json};
use std::io::{Read, Write};

async fn clinic(flags: &[&str]) -> BinaryClinic {
    binary_clinic(flags, &[("other", Role::Patient)]).await
}

/// `who` uploads into the conversation of the clinic's patient and doctor.
async fn upload(c: &BinaryClinic, who: &Account, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    c.server.upload(who, &c.pat, &c.doc, name, bytes).await
}

/// The patient sends a message (an emergency with `emergency`); returns the status.
async fn send(c: &BinaryClinic, content: &str, emergency: bool) -> u16 {
    let body = json!({"patientId": c.pat.id(), "doctorId": c.doc.id(), "content": content,
                      "isEmergency": emergency});
    c.server
        .post(&c.pat.token, "/api/chat/messages", body)
        .await
        .0
}

fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.resize(size, b'x');
    bytes
}

#[tokio::test]
async fn uploads_have_a_quota_and_a_rate_per_user() {
    const MIB: usize = 1024 * 1024;
    let c = clinic(&["--upload-quota-bytes", "3000000"]).await;
    // 8 x 1 MiB at once from one account filled the disk before; now the daily quota holds.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let (status, body) = upload(&c, &c.pat, &format!("scan-{i}.pdf"), pdf(MIB)).await;
        if status != 201 {
            assert_eq!(body["code"], "rate_limited", "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses[..2], [201, 201], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    // Small files still fit into what is left.
    let (status, _) = upload(&c, &c.pat, "note.txt", b"still fits".to_vec()).await;
    assert_eq!(status, 201);
    // Another user has their own quota.
    let doc_upload = upload(&c, &c.doc, "reply.pdf", pdf(MIB)).await.0;
    assert_eq!(doc_upload, 201);

    // And a rate: ten small uploads at once, then one every few seconds.
    let small = clinic(&[]).await;
    let mut refused = 0;
    for i in 0..14 {
        let (status, _) = upload(&small, &small.pat, &format!("{i}.txt"), b"hi".to_vec()).await;
        if status == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 3, "{refused} of 14 refused");
}

#[tokio::test]
async fn a_nearly_full_disk_stops_uploads_long_before_messages() {
    // More reserve than any disk here has free: as if the disk were nearly full.
    let c = clinic(&[
        "--upload-reserve-bytes",
        "1000000000000000",
        "--min-free-bytes",
        "1000000000000000",
    ])
    .await;
    let (status, body) = upload(&c, &c.pat, "scan.png", PNG.to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert_eq!(send(&c, "messages still go through", false).await, 201);
    assert_eq!(send(&c, "and emergencies", true).await, 201);
    // Liveness says alive; readiness says why not ready.
    assert_eq!(
        c.server
            .http
            .get(c.server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = c
        .server
        .http
        .get(c.server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("disk"), "{body}");

    let fine = clinic(&[]).await;
    let ready = fine
        .server
        .http
        .get(fine.server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert!(body["freeBytes"].as_u64().unwrap() > 0);
}

/// A zip of `names` (stored, no compression), each holding a little XML.
fn zip_of(names: &[&str]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        for name in names {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(b"<?xml version=\"1.0\"?><x/>").unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

#[tokio::test]
async fn names_and_types_cannot_disguise_a_file() {
    let c = clinic(&[]).await;
    // A PNG that is also an HTML page keeps no `.html` name.
    let mut poly = PNG.to_vec();
    poly.extend_from_slice(b"<html><script>alert(1)</script></html>");
    let (status, body) = upload(&c, &c.pat, "poly.html", poly).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["fileName"], "poly.png");
    let download = c
        .server
        .http
        .get(c.server.url(body["fileUrl"].as_str().unwrap()))
        .bearer_auth(&c.pat.token)
        .send()
        .await
        .unwrap();
    let disposition = download.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("filename=\"poly.png\""),
        "{disposition}"
    );
    // Format characters are stripped from names.
    let (_, body) = upload(&c, &c.pat, "report\u{200b}\u{2066}.txt", b"plain".to_vec()).await;
    assert_eq!(body["fileName"], "report.txt");

    // OOXML is what its central directory says, not what its bytes mention.
    let mut fake = b"PK\x03\x04".to_vec();
    fake.extend_from_slice(&[0; 26]);
    fake.extend_from_slice(b"[Content_Types].xml word/document.xml <html>not a zip</html>");
    let (status, body) = upload(&c, &c.pat, "fake.docx", fake).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let docx = zip_of(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]);
    let (status, body) = upload(&c, &c.pat, "letter.docx", docx).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["contentType"]
            .as_str()
            .unwrap()
            .contains("wordprocessingml")
    );
    let smuggler = zip_of(&["[Content_Types].xml", "word/x", "payload.exe"]);
    let (status, _) = upload(&c, &c.pat, "letter.docx", smuggler).await;
    assert_eq!(status, 415);
}

/// Writes a raw HTTP request over TLS and reads the first answer's status line.
fn raw(
    addr: &str,
    tls: &std::sync::Arc<rustls::ClientConfig>,
    head: &str,
    body: &[u8],
) -> std::io::Result<String> {
    let tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(common::WAIT))?;
    let name =
        rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
    let session = rustls::ClientConnection::new(std::sync::Arc::clone(tls), name)
        .map_err(std::io::Error::other)?;
    let mut socket = rustls::StreamOwned::new(session, tcp);
    socket.write_all(head.as_bytes())?;
    socket.write_all(body)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn oversized_bodies_get_no_100_continue_and_early_refusals_are_readable() {
    let c = clinic(&[]).await;
    let addr = c.server.addr.clone();
    // A JSON body declared over the limit: refused at once, never invited.
    let head = format!(
        "POST /api/chat/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n",
        c.pat.token
    );
    let status = raw(&addr, &c.server.tls, &head, b"").unwrap();
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // An upload declared over the file limit, likewise.
    let head = format!(
        "POST /api/chat/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 900000000\r\n\
         Expect: 100-continue\r\n\r\n",
        c.pat.token
    );
    let status = raw(&addr, &c.server.tls, &head, b"").unwrap();
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // An upload refused after its first field (a stranger's conversation), its body sent in
    // one go without waiting: the client reads the 403, not a reset connection.
    let other = c.server.login("other").await;
    let boundary = "XBOUNDARYX";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"patientId\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"doctorId\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n",
        c.pat.id(),
        c.doc.id()
    )
    .into_bytes();
    body.extend_from_slice(&vec![b'a'; 600 * 1024]);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST /api/chat/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        other.token,
        body.len()
    );
    for _ in 0..5 {
        let status = raw(&addr, &c.server.tls, &head, &body).expect("an answer, not a reset");
        assert!(status.starts_with("HTTP/1.1 403"), "{status}");
    }
}
