//! Bad or hostile server frames (garbage, unknown types, missing fields, deep nesting, binary,
//! huge, times at the ends of chrono's range) neither crash the client nor corrupt its cache; an
//! oversized frame only costs a reconnect, and the cursor survives it. And a server that fails or lies while the client
//! fills a page of older history: a fetch that fails between rounds is an error, not a short
//! page the UI would take for the start, and what came before it stays cached; a server that
//! brings one older message a round forever is asked sixteen times, no more.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::{
    Client, ClientEvent, ConnectionState, CredentialStore, FileStore, Profile, Session,
};
use clinic_protocol::rest::SyncPage;
use clinic_protocol::{
    ClientFrame, ClientId, ClinicInfo, ConversationKey, Message, MessageId, MessageStatus,
    MessageType, MessageWindows, Role, Seq, ServerFrame, User, UserId,
};
use common::*;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;

fn me() -> User {
    User {
        id: UserId::from("u-alice"),
        username: "alice".into(),
        name: "Alice".into(),
        role: Role::Patient,
    }
}

fn message(n: i64, content: String) -> Message {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap();
    Message {
        id: MessageId::new(format!("m{n}")),
        seq: Seq(n),
        client_id: ClientId::new(format!("c{n}")),
        patient_id: "u-alice".into(),
        doctor_id: "u-doc".into(),
        sender_id: "u-doc".into(),
        content,
        message_type: MessageType::Regular,
        status: MessageStatus::Sent,
        file_url: None,
        file_name: None,
        file_size: None,
        file_type: None,
        is_emergency: false,
        resolved_at: None,
        created_at: at,
        updated_at: at,
        delivered_at: None,
        read_at: None,
        retracted: None,
        edited: None,
        written_at: None,
    }
}

fn text(frame: &ServerFrame) -> Ws {
    Ws::text(serde_json::to_string(frame).unwrap())
}

/// What the fake server saw: the `since` of each connection's `sync`, and sends.
#[derive(Debug)]
enum Seen {
    Sync(Seq),
    Send(ClientId),
}

/// How [`serve`] answers a `sync`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Frames of every bad kind, then an oversized one (it goes `Calm` after).
    Abuse,
    /// An empty page, nothing more.
    Calm,
    /// An empty page that says more is to come, without moving the cursor.
    Stuck,
}

/// The first connection gets `first`, later ones `Calm` (or `Stuck` if `first` is).
async fn fake_server(listener: TcpListener, seen: mpsc::UnboundedSender<Seen>, first: Mode) {
    let upgraded = Arc::new(AtomicUsize::new(0));
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let (seen, upgraded) = (seen.clone(), Arc::clone(&upgraded));
        tokio::spawn(async move {
            // The client's REST calls land here too; they are not WebSocket upgrades.
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let connection = upgraded.fetch_add(1, Ordering::SeqCst);
            let mode = match (connection, first) {
                (0, mode) | (_, mode @ Mode::Stuck) => mode,
                _ => Mode::Calm,
            };
            serve(ws, mode, seen).await;
        });
    }
}

async fn serve(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut mode: Mode,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let first = ws.next().await.unwrap().unwrap();
    let first: ClientFrame = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert!(matches!(first, ClientFrame::Authenticate { .. }));
    ws.send(text(&ServerFrame::Authenticated {
        user: me(),
        online_users: vec![],
        availability: None,
        clinic: Some(ClinicInfo {
            emergency_phone: None,
            emergency_repeat_secs: 60,
            message_windows: Some(MessageWindows {
                unsend_secs: 24 * 3600,
                retract_secs: 15 * 60,
                edit_secs: 24 * 3600,
                max_edits: 10,
            }),
            // Far past any file an app takes: the apps keep their own ceiling.
            max_upload_bytes: Some(u64::MAX),
        }),
        lock_policy: None,
    }))
    .await
    .unwrap();
    while let Some(Ok(frame)) = ws.next().await {
        let Ok(frame) = serde_json::from_str::<ClientFrame>(frame.to_text().unwrap_or("")) else {
            continue;
        };
        match frame {
            ClientFrame::Sync { since, .. } => {
                seen.send(Seen::Sync(since)).unwrap();
                if mode == Mode::Abuse {
                    mode = Mode::Calm;
                    if send_abuse(&mut ws).await.is_err() {
                        return;
                    }
                } else {
                    let page = SyncPage {
                        messages: vec![],
                        emergencies: vec![],
                        purges: Vec::new(),
                        cursor: since,
                        has_more: mode == Mode::Stuck,
                    };
                    ws.send(text(&ServerFrame::SyncBatch(page))).await.unwrap();
                }
            }
            ClientFrame::MessageSend(new) => {
                let client_id = new.client_id.unwrap();
                seen.send(Seen::Send(client_id.clone())).unwrap();
                // Times at the ends of chrono's range, as a hostile server may answer.
                let far = match new.content.as_str() {
                    "far future" => Some(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                    "far past" => Some(chrono::DateTime::<chrono::Utc>::MIN_UTC),
                    _ => None,
                };
                let mut stored = message(100, new.content);
                if let Some(at) = far {
                    stored.id = MessageId::new(format!("m-{client_id}"));
                    (stored.created_at, stored.updated_at) = (at, at);
                }
                stored.client_id = client_id.clone();
                stored.sender_id = "u-alice".into();
                ws.send(text(&ServerFrame::MessageAck {
                    client_id,
                    message: stored,
                }))
                .await
                .unwrap();
            }
            _ => {}
        }
    }
}

async fn send_abuse(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let garbage = [
        "not json".to_owned(),
        "{}".to_owned(),
        "[1,2,3]".to_owned(),
        r#"{"type":"no:such:event","x":1}"#.to_owned(),
        r#"{"type":"message:received"}"#.to_owned(),
        r#"{"type":"message:received","message":{"id":5}}"#.to_owned(),
        r#"{"type":"message:read:confirmed","patientId":"u-alice","doctorId":"u-doc","messageIds":["nope"],"readerId":"u-doc","readAt":"2026-01-01T00:00:00Z"}"#.to_owned(),
        r#"{"type":"error","code":"brand_new_code","message":"?"}"#.to_owned(),
        deep,
    ];
    for g in garbage {
        ws.send(Ws::text(g)).await?;
    }
    ws.send(Ws::binary(vec![0u8; 1024])).await?;
    ws.send(text(&ServerFrame::MessageReceived {
        message: message(1, "hello".into()),
    }))
    .await?;
    // Big but within the client's limit: stored like any other.
    ws.send(text(&ServerFrame::MessageReceived {
        message: message(2, "x".repeat(1 << 20)),
    }))
    .await?;
    let page = SyncPage {
        messages: vec![message(3, "synced".into())],
        emergencies: vec![],
        purges: Vec::new(),
        cursor: Seq(3),
        has_more: false,
    };
    ws.send(text(&ServerFrame::SyncBatch(page))).await?;
    // Over the client's limit: the client must drop this connection, not buffer it.
    ws.send(Ws::text(
        "y".repeat(clinic_client::MAX_INBOUND_BYTES + 1024),
    ))
    .await?;
    Ok(())
}

/// Alice's client, signed in at the fake server on `addr` (not connected yet), and its profile.
fn signed_in_at(addr: std::net::SocketAddr) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let session = Session {
        server_url: format!("http://{addr}/"),
        user: me(),
        credentials: "file".into(),
    };
    Profile::new(dir.path()).save_session(&session).unwrap();
    let store = FileStore::new(dir.path().join("credentials"));
    store.save(&session.account(), "token").unwrap();
    // Unlocked, as a sign-in leaves it (a session without a lock state starts locked).
    set_lock_state(dir.path(), r#"{"locked":false}"#);
    (Client::open(options(dir.path())).unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_cost_at_most_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let fake = tokio::spawn(fake_server(listener, seen_tx, Mode::Abuse));

    let (client, _dir) = signed_in_at(addr);
    let mut events = client.subscribe();
    client.connect();

    assert!(matches!(seen.recv().await.unwrap(), Seen::Sync(Seq(0))));
    // The second connection resumes from the cursor the first one stored.
    let second = tokio::time::timeout(PATIENCE, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(second, Seen::Sync(Seq(3))), "got {second:?}");
    client.wait_online(PATIENCE).await.unwrap();

    let conversation = ConversationKey::new("u-alice", "u-doc");
    let history = client.history(&conversation, 100, None).unwrap();
    let ids: Vec<_> = history.iter().map(|m| m.id.clone().unwrap().0).collect();
    assert_eq!(ids, ["m1", "m2", "m3"], "exactly the valid messages");

    // An unknown error code reached the UI as such; the connection went offline once.
    let mut saw_error = false;
    let mut offline = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            ClientEvent::ServerError { .. } => saw_error = true,
            ClientEvent::Connection {
                state: ConnectionState::Offline { .. },
                ..
            } => offline += 1,
            _ => {}
        }
    }
    assert!(saw_error);
    assert_eq!(offline, 1);

    // And the client still works.
    let sent = client.send(&conversation, "still here", false).unwrap();
    let next = tokio::time::timeout(PATIENCE, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(next, Seen::Send(ref c) if *c == sent.client_id));
    client.wait_outbox_empty(PATIENCE).await.unwrap();
    assert_eq!(client.history(&conversation, 100, None).unwrap().len(), 4);

    // Acked with a time at the end of chrono's range: an edit's window is not a panic. One
    // sent at the far future has no end the client can reckon (the server decides); one sent
    // at the far past is long over, and the sentence says when.
    for content in ["far future", "far past"] {
        client.send(&conversation, content, false).unwrap();
    }
    client.wait_outbox_empty(PATIENCE).await.unwrap();
    let acked = |content: &str| {
        let history = client.history(&conversation, 100, None).unwrap();
        let m = history.iter().find(|m| m.content == content).unwrap();
        m.id.clone().unwrap()
    };
    client.edit(&acked("far future"), "edited").unwrap();
    let late = client.edit(&acked("far past"), "edited").unwrap_err();
    assert!(late.to_string().contains("too late to edit"), "{late}");
    client.disconnect().await;
    fake.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_says_more_without_moving_the_cursor_is_not_asked_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let fake = tokio::spawn(fake_server(listener, seen_tx, Mode::Stuck));
    let (client, _dir) = signed_in_at(addr);
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    // Online on the one connection, after one request (the same page again would be more).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut asked = 0;
    while let Ok(Seen::Sync(since)) = seen.try_recv() {
        assert_eq!(since, Seq(0));
        asked += 1;
    }
    assert_eq!(asked, 1, "asked for the same page again");
    client.disconnect().await;
    fake.abort();
}

/// How the fake answers `GET /api/chat/messages?before=mN`: one older message, `mN-1`, with a
/// `Link` to the next page, every time (`Drip`) or only the first time (`FailSecond`: then 500).
#[derive(Debug, Clone, Copy, PartialEq)]
enum History {
    Drip,
    FailSecond,
}

/// The fake server of [`serve`] for WebSocket connections, answering history pages as `mode`
/// says; `asked` counts the history requests.
async fn fake_with_history(listener: TcpListener, mode: History, asked: Arc<AtomicUsize>) {
    let (seen, _unread) = mpsc::unbounded_channel();
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let (seen, asked) = (seen.clone(), Arc::clone(&asked));
        tokio::spawn(async move {
            const HISTORY: &[u8] = b"GET /api/chat/messages?";
            let mut start = [0u8; HISTORY.len()];
            if tcp.peek(&mut start).await.is_err() {
                return;
            }
            if start.starts_with(b"GET /ws") {
                if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                    serve(ws, Mode::Calm, seen).await;
                }
            } else if start == HISTORY {
                let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
                let answer = if mode == History::FailSecond && n >= 2 {
                    Answer::Failure
                } else {
                    Answer::Page
                };
                answer_http(tcp, answer).await;
            } else {
                // The client's other requests (its directory).
                answer_http(tcp, Answer::NotFound).await;
            }
        });
    }
}

/// What [`answer_http`] answers a request with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// The message before the one the request names, linking to the page before it.
    Page,
    /// 500.
    Failure,
    /// 404: not a history request.
    NotFound,
}

/// One HTTP request, answered as `answer` says and closed.
async fn answer_http(mut tcp: TcpStream, answer: Answer) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    let before: i64 = target
        .split(['?', '&'])
        .find_map(|param| param.strip_prefix("before=m"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let status = match answer {
        Answer::Page => "200 OK",
        Answer::Failure => "500 Internal Server Error",
        Answer::NotFound => "404 Not Found",
    };
    let response = if answer != Answer::Page {
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    } else {
        let mut older = message(before - 1, format!("older {}", before - 1));
        older.sender_id = "u-doc".into();
        let body = serde_json::to_string(&[older]).unwrap();
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
             Link: <?before=m{}>; rel=\"next\"\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            before - 1,
            body.len()
        )
    };
    tcp.write_all(response.as_bytes()).await.ok();
    tcp.shutdown().await.ok();
}

/// Alice online with the fake of [`fake_with_history`], one message of hers (`m100`, seq 100)
/// in her cache to page back from.
async fn online_with_history(mode: History) -> (Client, tempfile::TempDir, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    tokio::spawn(fake_with_history(listener, mode, Arc::clone(&asked)));
    let (client, dir) = signed_in_at(addr);
    client.connect();
    client.wait_online(PATIENCE).await.unwrap();
    let conversation = ConversationKey::new("u-alice", "u-doc");
    client.send(&conversation, "anchor", false).unwrap();
    client.wait_outbox_empty(PATIENCE).await.unwrap();
    (client, dir, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_fetch_that_fails_between_rounds_is_an_error_and_keeps_the_first_round() {
    let (client, _dir, asked) = online_with_history(History::FailSecond).await;
    let conversation = ConversationKey::new("u-alice", "u-doc");
    let page = client.load_history(&conversation, 50, Some(Seq(100))).await;
    assert!(
        page.is_err(),
        "a short page would read as the start: {page:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    let cached = client.history(&conversation, 50, Some(Seq(100))).unwrap();
    let ids: Vec<_> = cached.iter().map(|m| m.id.clone().unwrap().0).collect();
    assert_eq!(ids, ["m99"], "the first round's message is kept");
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drips_one_message_a_round_is_asked_sixteen_times() {
    let (client, _dir, asked) = online_with_history(History::Drip).await;
    let conversation = ConversationKey::new("u-alice", "u-doc");
    let page = client
        .load_history(&conversation, 500, Some(Seq(100)))
        .await
        .unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 16);
    let ids: Vec<_> = page.iter().map(|m| m.id.clone().unwrap().0).collect();
    let expected: Vec<_> = (84..100).map(|n| format!("m{n}")).collect();
    assert_eq!(
        ids, expected,
        "what the sixteen rounds brought, oldest first"
    );
    client.disconnect().await;
}

/// A server that signs anyone in (token `checking`) and cannot end a session (its logout
/// fails) until `ends` is set; each session it ended is sent on `ended`.
async fn cannot_end_sessions(
    listener: TcpListener,
    ends: Arc<std::sync::atomic::AtomicBool>,
    ended: mpsc::UnboundedSender<String>,
) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            return;
        };
        let (ends, ended) = (Arc::clone(&ends), ended.clone());
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            let head_end = loop {
                if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            while got.len() < head_end + length {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let close = "Content-Length: 0\r\nConnection: close\r\n\r\n";
            let response = if head.starts_with("post /api/auth/login ") {
                let body = serde_json::to_string(&clinic_protocol::rest::LoginResponse {
                    token: "checking".into(),
                    user: me(),
                    expires_at: chrono::Utc::now() + chrono::Duration::days(7),
                })
                .unwrap();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else if head.starts_with("post /api/auth/logout ")
                && ends.load(std::sync::atomic::Ordering::SeqCst)
            {
                let token = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: bearer "))
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                ended.send(token).ok();
                format!("HTTP/1.1 204 No Content\r\n{close}")
            } else {
                format!("HTTP/1.1 500 Internal Server Error\r\n{close}")
            };
            tcp.write_all(response.as_bytes()).await.ok();
            tcp.shutdown().await.ok();
        });
    }
}

/// The password of a session whose lock state was lost is checked by signing in once more; a
/// server that cannot end that session then leaves it kept aside on a personal computer (a
/// shared one keeps no token for its next user), and it is ended once the server can, while
/// the app runs (and else at the next sign-in here, as a logout the server did not hear).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checking_session_the_server_could_not_end_is_kept_to_end_later() {
    use clinic_client::lock::{Device, Unlock};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ends = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ended_tx, mut ended) = mpsc::unbounded_channel();
    let server = tokio::spawn(cannot_end_sessions(listener, Arc::clone(&ends), ended_tx));
    let lost_and_unlocked = |device: Device| async move {
        let (client, dir) = signed_in_at(addr);
        client.set_lock_policy(device, None).unwrap();
        client.lock_now().unwrap();
        drop(client);
        set_lock_state(dir.path(), "{");
        let mut options = options(dir.path());
        options.tuning.kept_sessions_retry = std::time::Duration::from_millis(100);
        let client = Client::open(options).unwrap();
        assert!(client.is_locked());
        assert_eq!(client.unlock(PASSWORD).await.unwrap(), Unlock::Unlocked);
        (client, dir)
    };

    let (_shared, dir) = lost_and_unlocked(Device::Shared).await;
    assert!(!dir.path().join("sessions-to-end.json").exists());

    let (_client, dir) = lost_and_unlocked(Device::Personal).await;
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sessions-to-end.json")).unwrap())
            .unwrap();
    let name = kept[0]["name"].as_str().unwrap().to_owned();
    let store = FileStore::new(dir.path().join("credentials"));
    assert_eq!(
        store.load(&name).unwrap().as_deref(),
        Some("checking"),
        "{kept}"
    );
    // The server can end sessions again: the app does, without a sign-in.
    ends.store(true, std::sync::atomic::Ordering::SeqCst);
    let token = tokio::time::timeout(PATIENCE, ended.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token, "checking");
    let deadline = std::time::Instant::now() + PATIENCE;
    while dir.path().join("sessions-to-end.json").exists() {
        assert!(std::time::Instant::now() < deadline, "still kept");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(store.load(&name).unwrap(), None, "its token forgotten");
    server.abort();
}
