//! Request bodies in bounds (the request-level part of finding 2 of the abuse review; the
//! connection-level part is the accept loop's): a body that stalls or dawdles (sent over TLS, as
//! clients send them) is abandoned with `408 request_timeout`, which clients may send again, and
//! an upload cut short that way leaves no temp file. In-process, because the timeouts are
//! configuration the binary has no flags for.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestServer, clinic};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `head` and then `chunks` of the body with `pause` between them over TLS; returns the
/// status line of the answer (or what went wrong).
async fn drip(server: &TestServer, head: &str, chunks: &[Vec<u8>], pause: Duration) -> String {
    let mut socket = server.raw_tls().await;
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.flush().await.unwrap();
    for chunk in chunks {
        tokio::time::sleep(pause).await;
        if socket.write_all(chunk).await.is_err() || socket.flush().await.is_err() {
            break;
        }
    }
    let mut answer = [0u8; 256];
    match tokio::time::timeout(common::WAIT, socket.read(&mut answer)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        Ok(Err(err)) => format!("error: {err}"),
        Err(_) => "no answer in time".to_owned(),
    }
}

#[tokio::test]
async fn a_stalled_or_dawdling_body_is_abandoned() {
    let server = TestServer::start_with(|c| {
        c.body_idle_timeout = Duration::from_millis(300);
        c.json_body_timeout = Duration::from_secs(1);
        c.upload_timeout = Duration::from_secs(1);
    })
    .await;
    let c = clinic(&server).await;
    let addr = server.addr;
    let json_head = |length: usize| {
        format!(
            "POST /api/chat/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
            c.pat1.token
        )
    };
    // Ten bytes of a thousand, then nothing: abandoned after the idle time.
    let head = json_head(1000);
    let status = drip(&server, &head, &[b"{\"patient".to_vec()], Duration::ZERO).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    // A byte every 200 ms never looks idle, but the whole body has only a second.
    let head = json_head(100);
    let chunks = vec![b" ".to_vec(); 100];
    let status = drip(&server, &head, &chunks, Duration::from_millis(200)).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");

    // An upload that stops mid-file: answered, and its temp file removed.
    let boundary = "XBOUNDARYX";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"patientId\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"doctorId\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nthe first words of a long letter",
        c.pat1.id(),
        c.doc1.id()
    );
    let head = format!(
        "POST /api/chat/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n",
        c.pat1.token
    );
    let status = drip(&server, &head, &[body.into_bytes()], Duration::ZERO).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    let temp = server.dir.path().join("uploads-tmp");
    let leftovers = std::fs::read_dir(&temp).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "no half upload left behind");
}
