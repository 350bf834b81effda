//! Model-based property test: random sequences of sends (new and repeated clientIds, over
//! WebSocket and REST, and bursts from several sockets at once, with a read receipt from
//! another socket meanwhile), delivered and read receipts (`message:delivered`, `message:read`,
//! `POST /api/chat/messages/delivered`, `PATCH /api/chat/messages`), notifications marked
//! read, edits and retractions by the sender (over REST and WebSocket; alone, sent among a
//! burst of sends, where their batch may have to move logged sends first, and in flight over a
//! stop; from a stale version and past the most edits allowed, which the servers here set to
//! two), and stops of the real `clinic-server` binary (SIGTERM or SIGKILL, with sends, a read
//! receipt and a change in flight, then the client's outbox sent again) on a real SQLite file,
//! compared with an in-memory model (`model/oracle.rs`) by history pages, sync walks, unread
//! counts and notifications (`model/checks.rs`) after every stop, at random checkpoints and at
//! the end.
//!
//! Bounded for CI (10 cases of up to 40 operations, about 10 s, from a fixed seed, so a run is
//! repeatable). For longer runs set, on the test process, `CLINIC_MODEL_CASES` (cases),
//! `CLINIC_MODEL_OPS` (most operations per case) and `CLINIC_MODEL_SEED` (any number), e.g.
//! `CLINIC_MODEL_CASES=200 CLINIC_MODEL_OPS=80 cargo test -p clinic-server --test server model::`.
//! A failure is shrunk to a short sequence of operations, printed with the seed in the panic.
#![allow(clippy::unwrap_used)]

mod checks;
mod oracle;

use crate::common::{self, Account, Binary, Ws};
use clinic_protocol::rest::MarkReadResponse;
use clinic_protocol::{Message, MessageStatus, Role};
use oracle::{Conv, DOCTORS, Model, Outcome, PATIENTS, SERVE_ARGS, USERS};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use tempfile::TempDir;

/// One step of a case. Indexes pick among what exists when the step runs.
#[derive(Debug, Clone)]
enum Op {
    /// A new message in a conversation, by its patient or its doctor.
    Send {
        conv: Conv,
        by_doctor: bool,
        rest: bool,
    },
    /// An earlier send again with the same clientId (and other text, which is ignored).
    Resend { pick: Index, rest: bool },
    /// Delivered receipts by a user for some messages (any: those not addressed to the user
    /// are ignored by the server).
    Delivered {
        user: usize,
        picks: Vec<Index>,
        rest: bool,
    },
    /// `message:read` of one message of one of the user's conversations.
    ReadUpTo {
        user: usize,
        conv: Index,
        pick: Index,
    },
    /// `PATCH /api/chat/messages` for some messages.
    MarkRead { user: usize, picks: Vec<Index> },
    /// `PATCH /api/notifications` for some of the user's unread message notifications.
    ReadNotifications { user: usize, picks: Vec<Index> },
    /// The sender edits (`edit`; from another version than the message's if `stale`) or
    /// retracts a message; one edited before if `again` and there is one (so that a case
    /// reaches the most edits allowed).
    Change {
        pick: Index,
        again: bool,
        edit: bool,
        stale: bool,
        rest: bool,
    },
    /// Compare everything now.
    Check,
    /// Several users send at once, each pipelining on their own socket: the commits interleave
    /// (group commit), and the model takes them in the order of their seqs.
    /// Maybe with a `message:read` (user, conversation, message) from another socket meanwhile,
    /// or an edit or retraction (message, whether an edit) of an earlier message.
    Burst {
        sends: Vec<(Conv, bool)>,
        read: Option<(usize, Index, Index)>,
        change: Option<(Index, bool)>,
    },
    /// Stops the server while sends (and maybe a read receipt) are in flight, and starts it
    /// again on the same data folder.
    Stop(Stop),
}

/// How a server stops in the middle of things: `sends` messages pipelined on one socket, `acks`
/// of them awaited, maybe a `message:read` (user, conversation, message) and an edit or
/// retraction sent and not awaited, then SIGKILL (`kill`) or SIGTERM. After the start every
/// message acknowledged before the stop is there unchanged, all the sends are made again with
/// the same clientIds (what a client's outbox does: each ends up stored once), the receipt is
/// either wholly applied or not at all (then it is sent again), and the change, sent again
/// with its clientId, is made once.
#[derive(Debug, Clone)]
struct Stop {
    kill: bool,
    conv: Conv,
    by_doctor: bool,
    sends: usize,
    acks: usize,
    read: Option<(usize, Index, Index)>,
    /// An edit or retraction (message, whether an edit) sent and not awaited.
    change: Option<(Index, bool)>,
}

fn conv() -> impl Strategy<Value = Conv> {
    (0..PATIENTS, 0..DOCTORS).prop_map(|(patient, doctor)| Conv { patient, doctor })
}

fn picks() -> impl Strategy<Value = Vec<Index>> {
    proptest::collection::vec(any::<Index>(), 1..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (conv(), any::<bool>(), any::<bool>())
            .prop_map(|(conv, by_doctor, rest)| Op::Send { conv, by_doctor, rest }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(pick, rest)| Op::Resend { pick, rest }),
        3 => (0..USERS, picks(), any::<bool>())
            .prop_map(|(user, picks, rest)| Op::Delivered { user, picks, rest }),
        3 => (0..USERS, any::<Index>(), any::<Index>())
            .prop_map(|(user, conv, pick)| Op::ReadUpTo { user, conv, pick }),
        2 => (0..USERS, picks()).prop_map(|(user, picks)| Op::MarkRead { user, picks }),
        1 => (0..USERS, picks()).prop_map(|(user, picks)| Op::ReadNotifications { user, picks }),
        2 => (
            any::<Index>(),
            any::<bool>(),
            proptest::bool::weighted(0.8),
            proptest::bool::weighted(0.2),
            any::<bool>(),
        )
            .prop_map(|(pick, again, edit, stale, rest)| {
                Op::Change { pick, again, edit, stale, rest }
            }),
        2 => Just(Op::Check),
        1 => proptest::collection::vec((conv(), any::<bool>()), 2..7)
            .prop_map(|sends| Op::Burst { sends, read: None, change: None }),
        1 => (
            proptest::collection::vec((conv(), any::<bool>()), 1..5),
            (0..USERS, any::<Index>(), any::<Index>()),
        )
            .prop_map(|(sends, read)| Op::Burst { sends, read: Some(read), change: None }),
        1 => (
            proptest::collection::vec((conv(), any::<bool>()), 1..5),
            (any::<Index>(), any::<bool>()),
        )
            .prop_map(|(sends, change)| Op::Burst { sends, read: None, change: Some(change) }),
        2 => (
            any::<bool>(),
            (conv(), any::<bool>()),
            (0..6usize, 0..6usize),
            proptest::option::of((0..USERS, any::<Index>(), any::<Index>())),
            proptest::option::of((any::<Index>(), any::<bool>())),
        )
            .prop_map(|(kill, (conv, by_doctor), (sends, acks), read, change)| {
                let acks = acks.min(sends);
                Op::Stop(Stop { kill, conv, by_doctor, sends, acks, read, change })
            }),
    ]
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn server_agrees_with_the_model() {
    let cases = u32::try_from(setting("CLINIC_MODEL_CASES", 10)).unwrap();
    let max_ops = usize::try_from(setting("CLINIC_MODEL_OPS", 40)).unwrap();
    let seed = setting("CLINIC_MODEL_SEED", 15);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clinic = runtime.block_on(Clinic::make());
    let config = Config {
        cases,
        // Replayed from the seed, never from files.
        failure_persistence: None,
        // Each step of shrinking runs a server: bounded so a failure still ends in minutes.
        max_shrink_iters: 200,
        max_shrink_time: 300_000,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let strategy = proptest::collection::vec(op(), 1..=max_ops);
    let result = runner.run(&strategy, |ops| {
        runtime.block_on(Case::run(&clinic, &ops));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("seed {seed}: {failure}");
    }
}

/// A data folder with the five accounts logged in, copied for every case (argon2 once).
struct Clinic {
    folder: TempDir,
    users: Vec<Account>,
}

impl Clinic {
    async fn make() -> Self {
        let folder = tempfile::tempdir().unwrap();
        let names: Vec<(String, Role)> = (0..USERS)
            .map(|u| {
                if u < PATIENTS {
                    (format!("p{u}"), Role::Patient)
                } else {
                    (format!("d{}", u - PATIENTS), Role::Doctor)
                }
            })
            .collect();
        let people: Vec<(&str, Role)> = names.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        common::accounts(folder.path(), &people);
        let server = Binary::start(folder.path(), &SERVE_ARGS);
        let mut users = Vec::new();
        for (name, _) in &names {
            users.push(server.login(name).await);
        }
        server.stop();
        Self { folder, users }
    }

    /// A copy of the folder (database, clinic CA) for one case.
    fn copy(&self) -> TempDir {
        let copy = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(self.folder.path().join("."))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(status.success());
        copy
    }
}

/// One case: a server on a copy of the clinic, the model, and the clientIds handed out.
struct Case<'a> {
    dir: TempDir,
    server: Option<Binary>,
    users: &'a [Account],
    model: Model,
    next_id: usize,
    /// Sockets kept open until the next stop.
    open: Vec<Ws>,
}

impl<'a> Case<'a> {
    async fn run(clinic: &'a Clinic, ops: &[Op]) {
        let dir = clinic.copy();
        let server = Binary::start(dir.path(), &SERVE_ARGS);
        let ids = clinic.users.iter().map(|a| a.id().to_owned()).collect();
        let mut case = Case {
            dir,
            server: Some(server),
            users: &clinic.users,
            model: Model::new(ids),
            next_id: 0,
            open: Vec::new(),
        };
        for op in ops {
            case.step(op).await;
        }
        case.check(true).await;
    }

    async fn check(&mut self, from_zero: bool) {
        let server = self.server.as_ref().unwrap();
        checks::everything(server, self.users, &mut self.model, from_zero).await;
    }

    fn server(&self) -> &Binary {
        self.server.as_ref().unwrap()
    }

    /// A clientId and text never used before in this case.
    fn fresh(&mut self) -> (String, String) {
        self.next_id += 1;
        (
            format!("c{}", self.next_id),
            format!("message {}", self.next_id),
        )
    }

    async fn step(&mut self, op: &Op) {
        match op {
            Op::Send {
                conv,
                by_doctor,
                rest,
            } => {
                let sender = sender(*conv, *by_doctor);
                let (client_id, content) = self.fresh();
                let (message, created) =
                    self.send(sender, *conv, &client_id, &content, *rest).await;
                assert!(created, "a new clientId answered as a repeat");
                self.model
                    .add(*conv, sender, &client_id, &content, &message);
            }
            Op::Resend { pick, rest } => {
                if self.model.messages.is_empty() {
                    return;
                }
                let index = pick.index(self.model.messages.len());
                let m = &self.model.messages[index];
                let (sender, conv, client_id) = (m.sender, m.conv, m.client_id.clone());
                let (message, created) = self.send(sender, conv, &client_id, "again", *rest).await;
                assert!(!created, "a repeated clientId made a new message");
                self.model.observe(index, &message);
            }
            Op::Delivered { user, picks, rest } => {
                let Some(indexes) = self.pick(picks) else {
                    return;
                };
                let ids = self.ids(&indexes);
                let changed = self
                    .model
                    .receipts(*user, &indexes, MessageStatus::Delivered);
                if *rest {
                    let (status, body) = self
                        .server()
                        .post(
                            &self.users[*user].token,
                            "/api/chat/messages/delivered",
                            json!({"messageIds": ids}),
                        )
                        .await;
                    assert_eq!(status, 200, "{body}");
                    self.answered(body, changed);
                } else {
                    self.over_ws(
                        *user,
                        json!({"type": "message:delivered", "messageIds": ids}),
                    )
                    .await;
                }
            }
            Op::ReadUpTo { user, conv, pick } => {
                let Some((frame, index)) = self.read_frame(*user, *conv, *pick) else {
                    return;
                };
                self.model.read_up_to(*user, index);
                self.over_ws(*user, frame).await;
            }
            Op::MarkRead { user, picks } => {
                let Some(indexes) = self.pick(picks) else {
                    return;
                };
                let ids = self.ids(&indexes);
                let changed = self.model.receipts(*user, &indexes, MessageStatus::Read);
                let (status, body) = self
                    .patch(*user, "/api/chat/messages", json!({"messageIds": ids}))
                    .await;
                assert_eq!(status, 200, "{body}");
                self.answered(body, changed);
            }
            Op::ReadNotifications { user, picks } => {
                let unread = self.model.notified(*user);
                if unread.is_empty() {
                    return;
                }
                let list = checks::unread_notifications(self.server(), &self.users[*user]).await;
                let mut ids = Vec::new();
                for pick in picks {
                    let index = unread[pick.index(unread.len())];
                    let message_id = self.ids(&[index])[0].clone();
                    let notification = list
                        .iter()
                        .find(|n| {
                            n.message_id
                                .as_ref()
                                .is_some_and(|m| m.as_str() == message_id)
                        })
                        .unwrap_or_else(|| panic!("no unread notification of message {index}"));
                    ids.push(notification.id.as_str().to_owned());
                    self.model.messages[index].notified = false;
                }
                let (status, body) = self
                    .patch(*user, "/api/notifications", json!({"ids": ids}))
                    .await;
                assert_eq!(status, 204, "{body}");
            }
            Op::Change {
                pick,
                again,
                edit,
                stale,
                rest,
            } => {
                let edited: Vec<usize> = (0..self.model.messages.len())
                    .filter(|&i| self.model.messages[i].version > 1)
                    .collect();
                let index = if *again && !edited.is_empty() {
                    Some(edited[pick.index(edited.len())])
                } else {
                    self.pick_one(*pick)
                };
                if let Some(index) = index {
                    let change = self.change_request(index, *edit, *stale);
                    if *rest {
                        self.change_over_rest(&change).await;
                    } else {
                        self.change_over_ws(&change).await;
                    }
                }
            }
            Op::Check => {
                self.check(false).await;
            }
            Op::Burst {
                sends,
                read,
                change,
            } => self.burst(sends, *read, *change).await,
            Op::Stop(stop) => {
                self.stop(stop).await;
                self.check(false).await;
            }
        }
    }

    /// Sends one message as `sender`; returns the stored message and whether it is new.
    async fn send(
        &self,
        sender: usize,
        conv: Conv,
        client_id: &str,
        content: &str,
        rest: bool,
    ) -> (Message, bool) {
        let body = json!({
            "clientId": client_id,
            "patientId": self.model.ids[conv.patient],
            "doctorId": self.model.ids[conv.doctor_user()],
            "content": content,
        });
        let token = &self.users[sender].token;
        if rest {
            let (status, body) = self.server().post(token, "/api/chat/messages", body).await;
            assert!(
                status == 200 || status == 201,
                "send {client_id}: {status} {body}"
            );
            (serde_json::from_value(body).unwrap(), status == 201)
        } else {
            let mut ws = self.server().ws(token).await;
            let mut frame = body;
            frame["type"] = json!("message:send");
            ws.send(frame).await;
            let message = ack(&mut ws, client_id).await;
            // The WebSocket ack does not say whether it was new: the model knows.
            let created = self.model.find(sender, client_id).is_none();
            (message, created)
        }
    }

    async fn patch(&self, user: usize, path: &str, body: Value) -> (u16, Value) {
        let token = &self.users[user].token;
        self.server()
            .request(reqwest::Method::PATCH, token, path, Some(body))
            .await
    }

    /// Sends `frame` as `user` on a WebSocket and waits until the server handled it (a `sync`
    /// after it on the same socket is answered only then); any `error` fails the test.
    async fn over_ws(&self, user: usize, frame: Value) {
        let mut ws = self.server().ws(&self.users[user].token).await;
        ws.send(frame.clone()).await;
        handled(&mut ws, &frame).await;
    }

    /// Message indexes for `picks`, among all messages (None when there are none).
    fn pick(&self, picks: &[Index]) -> Option<Vec<usize>> {
        let len = self.model.messages.len();
        (len > 0).then(|| picks.iter().map(|p| p.index(len)).collect())
    }

    /// A message index for `pick`, among all messages (None when there are none).
    fn pick_one(&self, pick: Index) -> Option<usize> {
        let len = self.model.messages.len();
        (len > 0).then(|| pick.index(len))
    }

    fn ids(&self, indexes: &[usize]) -> Vec<String> {
        indexes
            .iter()
            .map(|&i| {
                self.model.messages[i]
                    .seen
                    .as_ref()
                    .unwrap()
                    .id
                    .as_str()
                    .to_owned()
            })
            .collect()
    }

    /// A receipt's answer names exactly the messages the model moved.
    fn answered(&self, body: Value, changed: Vec<usize>) {
        let answer: MarkReadResponse = serde_json::from_value(body).unwrap();
        let mut got: Vec<String> = answer
            .message_ids
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect();
        let mut expected = self.ids(&changed);
        got.sort_unstable();
        expected.sort_unstable();
        assert_eq!(got, expected, "the ids a receipt changed");
    }

    async fn burst(
        &mut self,
        sends: &[(Conv, bool)],
        read: Option<(usize, Index, Index)>,
        change: Option<(Index, bool)>,
    ) {
        // The read, edit or retraction is of messages from before the burst only, so the
        // model's outcome does not depend on how they interleave; the server's may not either.
        let mut reading = None;
        if let Some((user, conv, pick)) = read
            && let Some((frame, index)) = self.read_frame(user, conv, pick)
        {
            let mut ws = self.server().ws(&self.users[user].token).await;
            ws.send(frame.clone()).await;
            reading = Some((user, ws, frame, index));
        }
        // Every socket first, then the change and the sends back to back, so that the change
        // lands among the sends: in their batch, or in one after some were logged.
        let mut changing = None;
        if let Some((pick, edit)) = change
            && let Some(index) = self.pick_one(pick)
        {
            let change = self.change_request(index, edit, false);
            let ws = self.server().ws(&self.users[change.sender].token).await;
            changing = Some((ws, change));
        }
        let mut sockets: Vec<(usize, Ws, Vec<Pending>)> = Vec::new();
        for &(conv, by_doctor) in sends {
            let sender = sender(conv, by_doctor);
            if !sockets.iter().any(|(s, _, _)| *s == sender) {
                let ws = self.server().ws(&self.users[sender].token).await;
                sockets.push((sender, ws, Vec::new()));
            }
        }
        if let Some((ws, change)) = &mut changing {
            ws.send(change.frame.clone()).await;
        }
        for &(conv, by_doctor) in sends {
            let sender = sender(conv, by_doctor);
            let (client_id, content) = self.fresh();
            let (_, ws, sent) = sockets.iter_mut().find(|(s, _, _)| *s == sender).unwrap();
            ws.send(self.send_frame(conv, &client_id, &content)).await;
            sent.push((conv, client_id, content));
        }
        let mut acked = Vec::new();
        for (sender, ws, sent) in &mut sockets {
            for (conv, client_id, content) in sent.drain(..) {
                let message = ack(ws, &client_id).await;
                acked.push((message, *sender, conv, client_id, content));
            }
        }
        acked.sort_by_key(|(message, ..)| message.seq);
        for (message, sender, conv, client_id, content) in acked {
            self.model.add(conv, sender, &client_id, &content, &message);
        }
        if let Some((user, mut ws, frame, index)) = reading {
            handled(&mut ws, &frame).await;
            self.model.read_up_to(user, index);
        }
        if let Some((mut ws, change)) = changing {
            self.change_answered(&mut ws, &change).await;
        }
    }

    /// An edit (with new text; from the version after the message's if `stale`) or a
    /// retraction of message `index` by its sender, and what the model says it must do.
    fn change_request(&mut self, index: usize, edit: bool, stale: bool) -> Change {
        let (client_id, text) = self.fresh();
        let m = &self.model.messages[index];
        let id = self.ids(&[index])[0].clone();
        let base = edit.then_some(m.version + u32::from(stale));
        let (path, body, frame) = if let Some(base) = base {
            (
                format!("/api/chat/messages/{id}/edit"),
                json!({"content": text, "baseVersion": base}),
                json!({"type": "message:edit", "clientId": client_id, "messageId": id,
                       "content": text, "baseVersion": base}),
            )
        } else {
            (
                format!("/api/chat/messages/{id}/retract"),
                json!({}),
                json!({"type": "message:retract", "clientId": client_id, "messageId": id}),
            )
        };
        Change {
            index,
            sender: m.sender,
            content: edit.then_some(text),
            outcome: self.model.change_outcome(index, base),
            path,
            body,
            frame,
        }
    }

    async fn change_over_rest(&mut self, change: &Change) {
        let token = &self.users[change.sender].token;
        let (status, body) = self
            .server()
            .post(token, &change.path, change.body.clone())
            .await;
        if let Some(code) = change.outcome.code() {
            assert_eq!(status, 409, "{}: {body}", change.path);
            assert_eq!(body["code"], code, "{}: {body}", change.path);
            return;
        }
        assert_eq!(status, 200, "{}: {body}", change.path);
        self.changed(change, &serde_json::from_value(body).unwrap());
    }

    /// Sends `change` on a socket of its sender's and holds the answer to the model.
    async fn change_over_ws(&mut self, change: &Change) {
        let mut ws = self.server().ws(&self.users[change.sender].token).await;
        ws.send(change.frame.clone()).await;
        self.change_answered(&mut ws, change).await;
    }

    /// Waits on `ws` for the answer to `change` sent on it (`message:updated` or `error`, with
    /// its clientId) and holds it to the model.
    async fn change_answered(&mut self, ws: &mut Ws, change: &Change) {
        let client_id = change.frame["clientId"].clone();
        loop {
            let frame = ws.next().await.expect("the socket closed before an answer");
            if frame["clientId"] != client_id {
                continue;
            }
            match (frame["type"].as_str(), change.outcome.code()) {
                (Some("error"), Some(code)) => {
                    assert_eq!(frame["code"], code, "{frame}");
                    return;
                }
                (Some("message:updated"), None) => {
                    let message = serde_json::from_value(frame["message"].clone()).unwrap();
                    self.changed(change, &message);
                    return;
                }
                _ => panic!(
                    "{} answered {frame}, expected {:?}",
                    change.frame, change.outcome
                ),
            }
        }
    }

    /// The server's answer to a change that was not refused.
    fn changed(&mut self, change: &Change, message: &Message) {
        if change.outcome == Outcome::Changed {
            self.model.change(change.index, change.content.as_deref());
        }
        self.model.observe(change.index, message);
    }

    fn send_frame(&self, conv: Conv, client_id: &str, content: &str) -> Value {
        json!({
            "type": "message:send",
            "clientId": client_id,
            "patientId": self.model.ids[conv.patient],
            "doctorId": self.model.ids[conv.doctor_user()],
            "content": content,
        })
    }

    async fn stop(&mut self, stop: &Stop) {
        let sender = sender(stop.conv, stop.by_doctor);
        let outbox: Vec<(String, String)> = (0..stop.sends).map(|_| self.fresh()).collect();
        let token = self.users[sender].token.clone();
        let mut ws = self.server().ws(&token).await;
        for (client_id, content) in &outbox {
            ws.send(self.send_frame(stop.conv, client_id, content))
                .await;
        }
        let mut acked = Vec::new();
        for (client_id, _) in outbox.iter().take(stop.acks) {
            acked.push(ack(&mut ws, client_id).await);
        }
        let read = match stop.read {
            Some((user, conv, pick)) => self.read_in_flight(user, conv, pick).await,
            None => None,
        };
        let mut change = None;
        if let Some((pick, edit)) = stop.change
            && let Some(index) = self.pick_one(pick)
        {
            let request = self.change_request(index, edit, false);
            let mut ws = self.server().ws(&self.users[request.sender].token).await;
            ws.send(request.frame.clone()).await;
            // Open until the stop, like the read receipt's.
            self.open.push(ws);
            change = Some(request);
        }
        let server = self.server.take().unwrap();
        if stop.kill {
            server.kill();
        } else {
            server.stop();
        }
        // Acks the server wrote before it stopped count too (a reset may lose some: those the
        // client never saw, it does not know of).
        while let Some(frame) = ws.next().await {
            if frame["type"] == "message:ack" && acked.len() < outbox.len() {
                assert_eq!(
                    frame["clientId"].as_str(),
                    Some(outbox[acked.len()].0.as_str())
                );
                acked.push(serde_json::from_value(frame["message"].clone()).unwrap());
            }
        }
        self.server = Some(Binary::start(self.dir.path(), &SERVE_ARGS));
        let mut ws = self.server().ws(&token).await;
        for (client_id, content) in &outbox {
            ws.send(self.send_frame(stop.conv, client_id, content))
                .await;
        }
        for (i, (client_id, content)) in outbox.iter().enumerate() {
            let message = ack(&mut ws, client_id).await;
            if let Some(before) = acked.get(i) {
                assert_eq!(
                    &message, before,
                    "an acknowledged message changed over a stop"
                );
            }
            self.model
                .add(stop.conv, sender, client_id, content, &message);
        }
        if let Some((user, frame, index)) = read {
            self.settle_read(user, frame, index).await;
        }
        // The change in flight was made or not: sent again with its clientId, as the app's
        // outbox does, it is made once either way and answered as the model says.
        if let Some(change) = change {
            self.open.clear();
            self.change_over_ws(&change).await;
        }
    }

    /// A `message:read` by `user` of a message of one of their conversations, and the message
    /// (None when that conversation has none).
    fn read_frame(&self, user: usize, conv: Index, pick: Index) -> Option<(Value, usize)> {
        let convs = Conv::of(user);
        let conv = convs[conv.index(convs.len())];
        let messages = self.model.in_conv(conv);
        if messages.is_empty() {
            return None;
        }
        let index = messages[pick.index(messages.len())];
        let frame = json!({
            "type": "message:read",
            "messageId": self.ids(&[index])[0],
            "patientId": self.model.ids[conv.patient],
            "doctorId": self.model.ids[conv.doctor_user()],
        });
        Some((frame, index))
    }

    /// Sends a `message:read` as `user` without waiting for it; returns it for
    /// [`Case::settle_read`] (None when there is nothing to read).
    async fn read_in_flight(
        &mut self,
        user: usize,
        conv: Index,
        pick: Index,
    ) -> Option<(usize, Value, usize)> {
        let (frame, index) = self.read_frame(user, conv, pick)?;
        let mut ws = self.server().ws(&self.users[user].token).await;
        ws.send(frame.clone()).await;
        // The socket stays open until the stop: dropping it could cancel the receipt.
        self.open.push(ws);
        Some((user, frame, index))
    }

    /// After a stop: the read receipt in flight was applied to every message it covers or to
    /// none (then it is sent again, as a client would).
    async fn settle_read(&mut self, user: usize, frame: Value, index: usize) {
        self.open.clear();
        let covered = self.model.read_covers(user, index);
        let conv = self.model.messages[index].conv;
        let path = format!(
            "/api/chat/messages?patientId={}&doctorId={}&limit=500",
            self.model.ids[conv.patient],
            self.model.ids[conv.doctor_user()]
        );
        let (status, body) = self.server().get(&self.users[user].token, &path).await;
        assert_eq!(status, 200, "{body}");
        let history: Vec<Message> = serde_json::from_value(body).unwrap();
        let ids = self.ids(&covered);
        let read = history
            .iter()
            .filter(|m| ids.iter().any(|id| id == m.id.as_str()))
            .filter(|m| m.status == MessageStatus::Read)
            .count();
        assert!(
            read == 0 || read == covered.len(),
            "a read receipt was half applied over a stop: {read} of {} messages read",
            covered.len()
        );
        if read == 0 {
            self.over_ws(user, frame).await;
        }
        self.model.read_up_to(user, index);
    }
}

/// A send not acknowledged yet: its conversation, clientId and text.
type Pending = (Conv, String, String);

/// An edit or retraction of message `index` by its `sender`: new text for an edit, the outcome
/// the model expects, and the request both ways (REST path and body, WebSocket frame).
struct Change {
    index: usize,
    sender: usize,
    content: Option<String>,
    outcome: Outcome,
    path: String,
    body: Value,
    frame: Value,
}

fn sender(conv: Conv, by_doctor: bool) -> usize {
    if by_doctor {
        conv.doctor_user()
    } else {
        conv.patient
    }
}

/// Returns once the server handled what was sent on `ws` (a `sync` after it on the same
/// socket is answered only then); an `error` meanwhile (a refusal of `frame`) fails the test.
async fn handled(ws: &mut Ws, frame: &Value) {
    ws.send(json!({"type": "sync", "since": i64::MAX, "limit": 1}))
        .await;
    let (_, skipped) = ws.expect_skipping("sync:batch").await;
    assert!(
        !skipped.iter().any(|t| t == "error"),
        "{frame} refused: {skipped:?}"
    );
}

/// Waits for the ack of `client_id` on `ws`; an error for it fails the test.
async fn ack(ws: &mut Ws, client_id: &str) -> Message {
    loop {
        let frame = ws.next().await.expect("the socket closed before an ack");
        let answers = frame["clientId"] == client_id;
        match frame["type"].as_str() {
            Some("message:ack") if answers => {
                return serde_json::from_value(frame["message"].clone()).unwrap();
            }
            Some("error") if answers => panic!("send {client_id} refused: {frame}"),
            _ => {}
        }
    }
}
