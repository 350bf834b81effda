//! A broken or hostile server's REST answers: one larger than any clinic server sends is
//! refused once it passes the limit (its length announced or not, an error's body too), never
//! read whole into memory; one that is not what was asked for counts as no answer; a redirect
//! is not followed (it would take a password past the pin
//! and the plain-http check to another host).

#![allow(clippy::unwrap_used)]

use clinic_client::ClientError;
use clinic_client::api::{Api, MAX_ANSWER_BYTES};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake answers every request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// 200 announcing a body of a terabyte, sending none of it.
    Announced,
    /// 200 with a JSON array sent in chunks, without end.
    Endless,
    /// 500 with a body without end.
    EndlessError,
    /// 307 to `to`.
    Redirect(std::net::SocketAddr),
    /// 200 with a body that is not what was asked for.
    Garbage,
}

/// Answers each connection's first request as `answer` says; `sent` counts the body's bytes
/// the client took.
async fn fake(listener: TcpListener, answer: Answer, sent: Arc<AtomicUsize>) {
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::spawn(answer_one(tcp, answer, Arc::clone(&sent)));
    }
}

async fn answer_one(mut tcp: TcpStream, answer: Answer, sent: Arc<AtomicUsize>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let json = "Content-Type: application/json\r\n";
    let start = match answer {
        Answer::Announced => {
            format!("HTTP/1.1 200 OK\r\n{json}Content-Length: 1000000000000\r\n\r\n")
        }
        Answer::Endless => format!("HTTP/1.1 200 OK\r\n{json}Transfer-Encoding: chunked\r\n\r\n"),
        Answer::EndlessError => {
            format!("HTTP/1.1 500 Oops\r\n{json}Transfer-Encoding: chunked\r\n\r\n")
        }
        Answer::Garbage => {
            format!("HTTP/1.1 200 OK\r\n{json}Content-Length: 8\r\n\r\nnot json")
        }
        Answer::Redirect(to) => format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{to}/steal\r\n\
             Content-Length: 0\r\n\r\n"
        ),
    };
    if tcp.write_all(start.as_bytes()).await.is_err() {
        return;
    }
    if matches!(answer, Answer::Endless | Answer::EndlessError) {
        let piece = "1,".repeat(32 * 1024);
        let chunk = format!("{:x}\r\n[{piece}\r\n", piece.len() + 1);
        // Until the client stops reading (or 2 GiB, far past its limit: then the test fails).
        while sent.load(Ordering::SeqCst) < 2 << 30 {
            if tcp.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            sent.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    }
    let _ = tcp.shutdown().await;
}

async fn fake_at(answer: Answer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    tokio::spawn(fake(listener, answer, Arc::clone(&sent)));
    (url, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_limit_is_refused_and_not_read_on() {
    // Announced: refused before a byte of the body.
    let (url, _) = fake_at(Answer::Announced).await;
    let api = Api::new(&url, None).unwrap().with_token("t");
    let err = api.conversations().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(err.to_string().contains("larger than 256 MiB"), "{err}");

    // Not announced: refused once past the limit, the rest never read.
    let (url, sent) = fake_at(Answer::Endless).await;
    let api = Api::new(&url, None).unwrap().with_token("t");
    let err = api.conversations().await.unwrap_err();
    assert!(matches!(err, ClientError::BadAnswer { .. }), "{err:?}");
    // What the kernel's buffers took after the client stopped reading settles within moments.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let taken = sent.load(Ordering::SeqCst);
    assert!(
        taken < MAX_ANSWER_BYTES + (16 << 20),
        "{taken} bytes went out, far past the limit"
    );

    // An error's body: the status is what counts, and little of the body is read.
    let (url, sent) = fake_at(Answer::EndlessError).await;
    let api = Api::new(&url, None).unwrap().with_token("t");
    let err = api.conversations().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Server { status: 500, .. }),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let taken = sent.load(Ordering::SeqCst);
    assert!(taken < 16 << 20, "{taken} bytes of an error went out");
}

/// An answer that is not what was asked for counts as nothing usable (the callers fall back as
/// for a server out of reach: the cache's emergencies, an offline search), never as an error of
/// this computer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_the_one_asked_for_is_taken_as_none() {
    let (url, _) = fake_at(Answer::Garbage).await;
    let api = Api::new(&url, None).unwrap().with_token("t");
    let err = api.emergencies(true).await.unwrap_err();
    assert!(
        matches!(err, ClientError::BadAnswer { .. }) && err.is_unreachable(),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("expected"),
        "no parser's words: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_to_another_host() {
    // Another origin (another port): reqwest's default policy would follow it there.
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, _) = fake_at(Answer::Redirect(elsewhere.local_addr().unwrap())).await;
    let api = Api::new(&url, None).unwrap();
    let err = api
        .login("alice", "the-password-stays-here")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NotClinicServer { .. }),
        "{err:?}"
    );
    let api = api.with_token("t");
    let err = api.conversations().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Server { status: 307, .. }),
        "{err:?}"
    );
    // Followed, the requests would be waiting there already (the calls above are over).
    let reached = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
    assert!(reached.is_err(), "a request went to the other host");
}
