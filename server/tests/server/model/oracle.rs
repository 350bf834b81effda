//! The in-memory model the property test holds the server to: every message of a small clinic
//! (3 patients x 2 doctors), its status and notification, and what each user's sync has yet to
//! bring; plus the check of one message the server shows against it.

use clinic_protocol::{Message, MessageStatus, MessageType};
use std::collections::BTreeSet;

pub const PATIENTS: usize = 3;
pub const DOCTORS: usize = 2;
/// Users are numbered patients first (0..3), then doctors (3..5).
pub const USERS: usize = PATIENTS + DOCTORS;
/// Edits the server allows per message: few, so that a case reaches the limit
/// (`SERVE_ARGS`).
pub const MAX_EDITS: u32 = 2;
/// How the test starts every server (the same number as `MAX_EDITS`).
pub const SERVE_ARGS: [&str; 2] = ["--max-edits", "2"];

/// A conversation: patient number and doctor number (0..DOCTORS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conv {
    pub patient: usize,
    pub doctor: usize,
}

impl Conv {
    pub fn doctor_user(self) -> usize {
        PATIENTS + self.doctor
    }

    pub fn has(self, user: usize) -> bool {
        user == self.patient || user == self.doctor_user()
    }

    /// The participant who is not `user`.
    pub fn other(self, user: usize) -> usize {
        if user == self.patient {
            self.doctor_user()
        } else {
            self.patient
        }
    }

    pub fn all() -> Vec<Conv> {
        (0..PATIENTS)
            .flat_map(|patient| (0..DOCTORS).map(move |doctor| Conv { patient, doctor }))
            .collect()
    }

    /// The conversations `user` takes part in.
    pub fn of(user: usize) -> Vec<Conv> {
        Self::all().into_iter().filter(|c| c.has(user)).collect()
    }
}

/// What the server must answer an edit or a retraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the message changed.
    Changed,
    /// Answered with the message as it is (a retraction of a retracted message).
    Same,
    /// Refused with `conflict` (an edit of a retracted message, or one edit too many).
    Refused,
    /// Refused with `stale_version` (an edit from another version than the message's).
    Stale,
}

impl Outcome {
    /// The error code of a refusal.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::Refused => Some("conflict"),
            Self::Stale => Some("stale_version"),
            Self::Changed | Self::Same => None,
        }
    }
}

/// What the model says one message must be.
#[derive(Debug)]
pub struct Expected {
    pub conv: Conv,
    pub sender: usize,
    pub client_id: String,
    pub content: String,
    pub status: MessageStatus,
    /// The version of its text: 1 as sent, one more per edit.
    pub version: u32,
    /// Its sender took it back: no text, no notification, not counted unread.
    pub retracted: bool,
    /// The recipient's notification of it is still unread.
    pub notified: bool,
    /// The server's copy as last seen (its id, seq and times are learned from the server).
    pub seen: Option<Message>,
    /// Its status changed since `seen`: only then may the server's copy differ from it.
    pub touched: bool,
}

impl Expected {
    pub fn recipient(&self) -> usize {
        self.conv.other(self.sender)
    }
}

/// Every message in commit order, and per user what changed since their last sync.
pub struct Model {
    /// Server ids of the users, by number.
    pub ids: Vec<String>,
    pub messages: Vec<Expected>,
    /// Per user: messages created or changed since that user's sync cursor.
    pub dirty: Vec<BTreeSet<usize>>,
    pub cursors: Vec<i64>,
    /// The highest message seq seen: a new message must get a higher one.
    top_seq: i64,
}

impl Model {
    pub fn new(ids: Vec<String>) -> Self {
        Self {
            ids,
            messages: Vec::new(),
            dirty: vec![BTreeSet::new(); USERS],
            cursors: vec![0; USERS],
            top_seq: 0,
        }
    }

    /// The message `sender` sent with `client_id`, if any.
    pub fn find(&self, sender: usize, client_id: &str) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.sender == sender && m.client_id == client_id)
    }

    /// A new message, committed after every earlier one; `acked` is the server's answer.
    pub fn add(
        &mut self,
        conv: Conv,
        sender: usize,
        client_id: &str,
        content: &str,
        acked: &Message,
    ) {
        assert!(
            acked.seq.0 > self.top_seq,
            "a new message got seq {} after {}: {acked:?}",
            acked.seq.0,
            self.top_seq
        );
        self.top_seq = acked.seq.0;
        self.messages.push(Expected {
            conv,
            sender,
            client_id: client_id.to_owned(),
            content: content.to_owned(),
            status: MessageStatus::Sent,
            version: 1,
            retracted: false,
            notified: true,
            seen: None,
            touched: false,
        });
        let index = self.messages.len() - 1;
        self.changed(index);
        self.observe(index, acked);
    }

    fn changed(&mut self, index: usize) {
        let conv = self.messages[index].conv;
        self.messages[index].touched = true;
        self.dirty[conv.patient].insert(index);
        self.dirty[conv.doctor_user()].insert(index);
    }

    /// A receipt by `user` for message `index`: moves it to `to` if it is addressed to `user`
    /// and not there yet (DELIVERED only from SENT). Returns whether it changed.
    pub fn receipt(&mut self, user: usize, index: usize, to: MessageStatus) -> bool {
        let m = &self.messages[index];
        if m.recipient() != user {
            return false;
        }
        let moves = match to {
            MessageStatus::Delivered => m.status == MessageStatus::Sent,
            _ => m.status != MessageStatus::Read,
        };
        if moves {
            self.messages[index].status = to;
            self.changed(index);
        }
        moves
    }

    /// What an edit (from `base` version) or a retraction (`None`) of message `index` by its
    /// sender must do, in the server's order of checks.
    pub fn change_outcome(&self, index: usize, base: Option<u32>) -> Outcome {
        let m = &self.messages[index];
        match base {
            Some(_) if m.retracted => Outcome::Refused,
            Some(base) if base != m.version => Outcome::Stale,
            Some(_) if m.version > MAX_EDITS => Outcome::Refused,
            Some(_) => Outcome::Changed,
            None if m.retracted => Outcome::Same,
            None => Outcome::Changed,
        }
    }

    /// Message `index` edited to `content` (`Some`) or retracted (`None`).
    pub fn change(&mut self, index: usize, content: Option<&str>) {
        let m = &mut self.messages[index];
        match content {
            Some(text) => {
                m.content = text.to_owned();
                m.version += 1;
            }
            None => {
                m.content.clear();
                m.retracted = true;
            }
        }
        self.changed(index);
    }

    /// Receipts by `user` for the messages `indexes`; returns those that moved.
    pub fn receipts(&mut self, user: usize, indexes: &[usize], to: MessageStatus) -> Vec<usize> {
        indexes
            .iter()
            .copied()
            .filter(|&index| self.receipt(user, index, to))
            .collect()
    }

    /// The messages a `message:read` of message `index` by `user` would move to READ.
    pub fn read_covers(&self, user: usize, index: usize) -> Vec<usize> {
        let conv = self.messages[index].conv;
        self.in_conv(conv)
            .into_iter()
            .filter(|&i| {
                let m = &self.messages[i];
                i <= index && m.recipient() == user && m.status != MessageStatus::Read
            })
            .collect()
    }

    /// `message:read` of message `index` by `user`: it and every earlier message of its
    /// conversation addressed to `user` become READ.
    pub fn read_up_to(&mut self, user: usize, index: usize) {
        let conv = self.messages[index].conv;
        for earlier in self.in_conv(conv) {
            if earlier <= index {
                self.receipt(user, earlier, MessageStatus::Read);
            }
        }
    }

    /// The messages of `conv`, oldest first.
    pub fn in_conv(&self, conv: Conv) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&i| self.messages[i].conv == conv)
            .collect()
    }

    /// Messages addressed to `user` in `conv` and not read.
    pub fn unread(&self, user: usize, conv: Conv) -> u32 {
        let count = self
            .in_conv(conv)
            .into_iter()
            .filter(|&i| {
                let m = &self.messages[i];
                m.recipient() == user && m.status != MessageStatus::Read && !m.retracted
            })
            .count();
        u32::try_from(count).unwrap()
    }

    /// Messages addressed to `user` whose notification is unread.
    pub fn notified(&self, user: usize) -> Vec<usize> {
        self.notices(user)
            .into_iter()
            .filter(|&i| self.messages[i].notified)
            .collect()
    }

    /// Messages addressed to `user` that have a notification: all but the retracted.
    pub fn notices(&self, user: usize) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&i| self.messages[i].recipient() == user && !self.messages[i].retracted)
            .collect()
    }

    /// The message with server id `id`.
    pub fn by_id(&self, id: &str) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.seen.as_ref().is_some_and(|s| s.id.as_str() == id))
    }

    /// Holds the server's copy of message `index` to the model, then remembers it.
    pub fn observe(&mut self, index: usize, got: &Message) {
        let m = &self.messages[index];
        let conv = m.conv;
        let context = || {
            format!(
                "message {index} ({}): server has {got:?}, model {m:?}",
                m.client_id
            )
        };
        assert_eq!(got.client_id.as_str(), m.client_id, "{}", context());
        assert_eq!(
            got.patient_id.as_str(),
            self.ids[conv.patient],
            "{}",
            context()
        );
        assert_eq!(
            got.doctor_id.as_str(),
            self.ids[conv.doctor_user()],
            "{}",
            context()
        );
        assert_eq!(got.sender_id.as_str(), self.ids[m.sender], "{}", context());
        assert_eq!(got.content, m.content, "{}", context());
        assert_eq!(got.message_type, MessageType::Regular, "{}", context());
        assert!(!got.is_emergency, "{}", context());
        assert_eq!(got.status, m.status, "status: {}", context());
        let delivered = matches!(m.status, MessageStatus::Delivered | MessageStatus::Read);
        assert_eq!(
            got.delivered_at.is_some(),
            delivered,
            "deliveredAt: {}",
            context()
        );
        assert_eq!(
            got.read_at.is_some(),
            m.status == MessageStatus::Read,
            "readAt: {}",
            context()
        );
        assert_eq!(
            got.retracted.is_some(),
            m.retracted,
            "retracted: {}",
            context()
        );
        assert_eq!(got.version(), m.version, "version: {}", context());
        assert_eq!(got.edited.is_some(), m.version > 1, "edited: {}", context());
        if let Some(seen) = &m.seen {
            if m.touched {
                // Changed: only its status, text and times may move, and set times never change.
                assert_eq!(
                    (&got.id, got.seq, got.created_at),
                    (&seen.id, seen.seq, seen.created_at),
                    "{}",
                    context()
                );
                if seen.delivered_at.is_some() {
                    assert_eq!(
                        got.delivered_at,
                        seen.delivered_at,
                        "deliveredAt moved: {}",
                        context()
                    );
                }
                if seen.read_at.is_some() {
                    assert_eq!(got.read_at, seen.read_at, "readAt moved: {}", context());
                }
                if seen.retracted.is_some() {
                    assert_eq!(got.retracted, seen.retracted, "retracted: {}", context());
                }
                if seen.version() == got.version() {
                    assert_eq!(got.edited, seen.edited, "edited: {}", context());
                }
                assert!(got.updated_at >= seen.updated_at, "{}", context());
            } else {
                assert_eq!(got, seen, "unchanged message differs: {}", context());
            }
        }
        let m = &mut self.messages[index];
        m.seen = Some(got.clone());
        m.touched = false;
    }
}
