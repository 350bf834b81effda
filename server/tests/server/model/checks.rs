//! The comparisons of the property test: the server's history pages, sync walks, conversation
//! list and notifications, each against the model.

use super::oracle::{Conv, DOCTORS, Model, USERS};
use crate::common::{Account, Binary, Ws};
use clinic_protocol::rest::SyncPage;
use clinic_protocol::{Conversation, Message, Notification, NotificationKind};
use serde_json::json;
use std::collections::HashSet;

/// Small pages, so that paging itself is exercised with a few messages.
const PAGE: usize = 3;

/// Every comparison, for every user and conversation. `from_zero` also walks each user's sync
/// from the start (every message of their conversations exactly once).
pub async fn everything(server: &Binary, users: &[Account], model: &mut Model, from_zero: bool) {
    for conv in Conv::all() {
        history(server, users, model, conv).await;
    }
    for user in 0..USERS {
        sync(server, users, model, user).await;
        if from_zero {
            full_sync(server, users, model, user).await;
        }
        conversations(server, users, model, user).await;
        notifications(server, users, model, user).await;
    }
}

/// `GET /api/chat/messages` paged backwards with `before`, read alternately by the patient and
/// the doctor: the whole conversation, oldest first, each message once and as the model says.
async fn history(server: &Binary, users: &[Account], model: &mut Model, conv: Conv) {
    let reader = if model.messages.len().is_multiple_of(2) {
        conv.patient
    } else {
        conv.doctor_user()
    };
    let base = format!(
        "/api/chat/messages?patientId={}&doctorId={}&limit={PAGE}",
        model.ids[conv.patient],
        model.ids[conv.doctor_user()]
    );
    let mut pages: Vec<Vec<Message>> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(id) => format!("{base}&before={id}"),
            None => base.clone(),
        };
        let (status, body) = server.get(&users[reader].token, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let page: Vec<Message> = serde_json::from_value(body).unwrap();
        assert!(page.len() <= PAGE, "{path}: a page over its limit");
        assert!(
            page.windows(2).all(|w| w[0].seq < w[1].seq),
            "{path}: a page not oldest first"
        );
        let Some(first) = page.first() else { break };
        before = Some(first.id.as_str().to_owned());
        pages.push(page);
    }
    let got: Vec<Message> = pages.into_iter().rev().flatten().collect();
    let expected = model.in_conv(conv);
    let got_ids: Vec<&str> = got.iter().map(|m| m.client_id.as_str()).collect();
    let expected_ids: Vec<&str> = expected
        .iter()
        .map(|&i| model.messages[i].client_id.as_str())
        .collect();
    assert_eq!(got_ids, expected_ids, "history of {conv:?} (clientIds)");
    for (index, message) in expected.into_iter().zip(&got) {
        model.observe(index, message);
    }
}

/// `GET /api/sync` from the user's cursor in small pages: every message that changed since is
/// there exactly once and nothing else, the cursor only grows, and each record is as the model
/// says.
async fn sync(server: &Binary, users: &[Account], model: &mut Model, user: usize) {
    let mut pages = Pages::new(server, &users[user], user).await;
    let mut since = model.cursors[user];
    let mut seen = HashSet::new();
    loop {
        let page = pages.from(since).await;
        assert!(page.cursor.0 >= since, "user {user}: the cursor went back");
        if page.messages.is_empty() {
            assert_eq!(
                page.cursor.0, since,
                "user {user}: an empty page moved the cursor"
            );
        } else {
            assert!(
                page.cursor.0 > since,
                "user {user}: a page that did not move the cursor"
            );
        }
        for message in &page.messages {
            let index = model.by_id(message.id.as_str()).unwrap_or_else(|| {
                panic!("user {user}: sync brought an unknown message {message:?}")
            });
            assert!(
                seen.insert(index),
                "user {user}: sync brought message {index} twice"
            );
            model.observe(index, message);
        }
        since = page.cursor.0;
        if !page.has_more {
            break;
        }
    }
    let expected: HashSet<usize> = model.dirty[user].iter().copied().collect();
    assert_eq!(
        seen, expected,
        "user {user}: what sync brought after cursor {}",
        model.cursors[user]
    );
    model.cursors[user] = since;
    model.dirty[user].clear();
}

/// A sync walk from 0: every message of the user's conversations, once.
async fn full_sync(server: &Binary, users: &[Account], model: &mut Model, user: usize) {
    let mut pages = Pages::new(server, &users[user], user).await;
    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let page = pages.from(since).await;
        for message in &page.messages {
            let index = model.by_id(message.id.as_str()).unwrap();
            model.observe(index, message);
            seen.push(index);
        }
        assert!(page.cursor.0 >= since);
        since = page.cursor.0;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        since, model.cursors[user],
        "user {user}: a walk from 0 ends elsewhere"
    );
    seen.sort_unstable();
    let expected: Vec<usize> = (0..model.messages.len())
        .filter(|&i| model.messages[i].conv.has(user))
        .collect();
    assert_eq!(seen, expected, "user {user}: a sync from 0");
}

/// Sync pages for one user: over REST (`GET /api/sync`) for some users, over their WebSocket
/// (`sync` frames answered by `sync:batch`) for the others, so both ways are held to the model.
struct Pages<'a> {
    server: &'a Binary,
    user: &'a Account,
    ws: Option<Ws>,
}

impl<'a> Pages<'a> {
    async fn new(server: &'a Binary, user: &'a Account, number: usize) -> Self {
        let ws = if number % 2 == 1 {
            Some(server.ws(&user.token).await)
        } else {
            None
        };
        Self { server, user, ws }
    }

    async fn from(&mut self, since: i64) -> SyncPage {
        let page: SyncPage = match &mut self.ws {
            Some(ws) => {
                ws.send(json!({"type": "sync", "since": since, "limit": PAGE}))
                    .await;
                let frame = ws.expect("sync:batch").await;
                serde_json::from_value(frame).unwrap()
            }
            None => {
                let path = format!("/api/sync?since={since}&limit={PAGE}");
                let (status, body) = self.server.get(&self.user.token, &path).await;
                assert_eq!(status, 200, "{path}: {body}");
                serde_json::from_value(body).unwrap()
            }
        };
        assert!(page.messages.len() <= PAGE);
        assert!(page.emergencies.is_empty() && page.purges.is_empty());
        page
    }
}

/// `GET /api/chat/conversations`: the conversations that have messages, each with its unread
/// count and last message.
async fn conversations(server: &Binary, users: &[Account], model: &mut Model, user: usize) {
    let (status, body) = server
        .get(&users[user].token, "/api/chat/conversations")
        .await;
    assert_eq!(status, 200, "{body}");
    let list: Vec<Conversation> = serde_json::from_value(body).unwrap();
    let mut expected: Vec<Conv> = Conv::of(user)
        .into_iter()
        .filter(|&c| !model.in_conv(c).is_empty())
        .collect();
    let mut got = Vec::new();
    for conversation in &list {
        let patient = model
            .ids
            .iter()
            .position(|id| id == conversation.patient_id.as_str());
        let doctor = model
            .ids
            .iter()
            .position(|id| id == conversation.doctor_id.as_str());
        let (Some(patient), Some(doctor)) = (patient, doctor) else {
            panic!("user {user}: a conversation of strangers {conversation:?}");
        };
        let conv = Conv {
            patient,
            doctor: doctor - (USERS - DOCTORS),
        };
        assert_eq!(
            conversation.unread_count,
            model.unread(user, conv),
            "user {user}: unread count of {conv:?}"
        );
        let last = *model.in_conv(conv).last().unwrap();
        let message = conversation.last_message.as_ref().expect("a last message");
        model.observe(last, message);
        assert!(!conversation.has_emergency);
        got.push(conv);
    }
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected, "user {user}: the conversation list");
}

/// `GET /api/notifications?unreadOnly=true`: one unread NEW_MESSAGE per message addressed to
/// the user, not retracted and not marked read, and nothing else; without `unreadOnly`, one per
/// such message, read as marked.
async fn notifications(server: &Binary, users: &[Account], model: &Model, user: usize) {
    let list = unread_notifications(server, &users[user]).await;
    let mut got: Vec<usize> = list
        .iter()
        .map(|n| {
            assert_eq!(n.kind, NotificationKind::NewMessage, "{n:?}");
            assert!(!n.read);
            let index = model
                .by_id(n.message_id.as_ref().expect("a message id").as_str())
                .expect("a known message");
            // The text as it is now (the model's messages are shorter than a preview).
            assert_eq!(n.body, model.messages[index].content, "{n:?}");
            index
        })
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        model.notified(user),
        "user {user}: unread message notifications"
    );
    // All of them, read ones too: one per message addressed to the user, read as marked.
    let (status, body) = server
        .get(&users[user].token, "/api/notifications?limit=500")
        .await;
    assert_eq!(status, 200, "{body}");
    let all: Vec<Notification> = serde_json::from_value(body).unwrap();
    let mut got: Vec<(usize, bool)> = all
        .iter()
        .map(|n| {
            let id = n.message_id.as_ref().expect("a message id").as_str();
            (model.by_id(id).expect("a known message"), n.read)
        })
        .collect();
    got.sort_unstable();
    let expected: Vec<(usize, bool)> = model
        .notices(user)
        .into_iter()
        .map(|i| (i, !model.messages[i].notified))
        .collect();
    assert_eq!(got, expected, "user {user}: all message notifications");
}

/// The user's unread notifications (at most 500: the model stays below that).
pub async fn unread_notifications(server: &Binary, user: &Account) -> Vec<Notification> {
    let (status, body) = server
        .get(&user.token, "/api/notifications?unreadOnly=true&limit=500")
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}
