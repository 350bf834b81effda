//! What a doctor's device shows of a message its patient took back, with the real server and
//! real clients: the native notification already raised for it is withdrawn (live, and at the
//! next sync when the unsend happened while the doctor was offline), an edit withdraws the notice
//! that shows the old text, and the unread badge drops with an unread message unsent.

#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_client::attention::{Notice, message_tag};
use clinic_client::{Client, ClientEvent};
use clinic_protocol::{ConversationKey, MessageId};
use common::*;
use tokio::sync::broadcast;

/// Every event the device is asked to carry out, in order: what a desktop shell would do.
struct Sink(broadcast::Receiver<ClientEvent>);

impl Sink {
    /// The next notice shown, skipping everything else.
    async fn shown(&mut self) -> Notice {
        self.next(|e| match e {
            ClientEvent::Notify { notice } => Some(notice),
            _ => None,
        })
        .await
    }

    /// The tag of the next notice withdrawn.
    async fn withdrawn(&mut self) -> String {
        self.next(|e| match e {
            ClientEvent::WithdrawNotice { tag } => Some(tag),
            _ => None,
        })
        .await
    }

    async fn next<T>(&mut self, mut pick: impl FnMut(ClientEvent) -> Option<T>) -> T {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match self.0.recv().await {
                    Ok(event) => {
                        if let Some(found) = pick(event) {
                            return found;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
                    Err(broadcast::error::RecvError::Lagged(n)) => panic!("lagged by {n}"),
                }
            }
        })
        .await
        .unwrap()
    }
}

/// `alice` writes `text` to the conversation; the server's id of it once stored.
async fn write(alice: &Client, conversation: &ConversationKey, text: &str) -> MessageId {
    alice.send(conversation, text, false).unwrap();
    alice.wait_outbox_empty(PATIENCE).await.unwrap();
    alice
        .history(conversation, 500, None)
        .unwrap()
        .into_iter()
        .find(|m| m.content == text)
        .and_then(|m| m.id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctors_notification_is_withdrawn_when_the_patient_unsends_or_edits_the_message() {
    let BothOnline {
        data: _data,
        profiles: _profiles,
        server: _server,
        alice,
        patel,
        conversation,
    } = alice_and_patel_online().await;
    // Dr. Patel allowed text in notifications and has the window in the background.
    patel.set_notification_content(true);
    patel.set_in_view(false);
    let mut sink = Sink(patel.subscribe());
    let unread_before = patel.unread_count().unwrap();

    // Unsent while shown: the notice with its text goes, and so does the unread count.
    let text = prefix("I took the wrong pills");
    let id = write(&alice, &conversation, &text).await;
    let notice = sink.shown().await;
    assert_eq!(notice.body, text, "the control: the text is on screen");
    assert_eq!(notice.tag, Some(message_tag(&id)));
    assert_eq!(patel.unread_count().unwrap(), unread_before + 1);
    alice.unsend(&id, None, false).unwrap();
    assert_eq!(sink.withdrawn().await, message_tag(&id));
    wait_until(&patel, "the badge drops", || {
        patel.unread_count().unwrap() == unread_before
    })
    .await;

    // Edited while shown: the old text goes too.
    let text = prefix("blood sugar 4.1");
    let id = write(&alice, &conversation, &text).await;
    assert_eq!(sink.shown().await.tag, Some(message_tag(&id)));
    alice.edit(&id, &prefix("blood sugar 14.1")).unwrap();
    assert_eq!(sink.withdrawn().await, message_tag(&id));

    // Unsent while the doctor's device was offline: withdrawn when the tombstone arrives.
    let text = prefix("sorry, wrong doctor");
    let id = write(&alice, &conversation, &text).await;
    assert_eq!(sink.shown().await.tag, Some(message_tag(&id)));
    patel.disconnect().await;
    alice.unsend(&id, None, false).unwrap();
    wait_until(&alice, "the server confirms the unsend", || {
        alice
            .history(&conversation, 500, None)
            .unwrap()
            .iter()
            .any(|m| {
                m.id.as_ref() == Some(&id) && m.retracted.is_some() && m.pending_change.is_none()
            })
    })
    .await;
    patel.connect();
    assert_eq!(sink.withdrawn().await, message_tag(&id));
    patel.disconnect().await;
    alice.disconnect().await;
}
