//! Random receipts through the running writer, with restarts, edits, counters checks and a
//! drifted delivered top, compared after every round with what `sync` must return.
//!
//! `changes.rs` tests the sync statements on clinics written straight into the database; this
//! test has the writer make them, so that its memory (the delivered tops and read marks of
//! `read_marks.rs`, the logged keys) decides which receipts count as "up to", as it does
//! when serving. The reference is the plain query that every row's `change_seq` answers.

#![allow(clippy::unwrap_used)]

use super::{mark_delivered, mark_read, mark_read_up_to};
use crate::config::Synchronous;
use crate::store::changes::tests::{found, reference};
use crate::store::{StoreError, Writer, counts, messages, users, versions};
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ConversationKey, MessageId, MessageWindows, Role, User, UserId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::Duration;

/// A message sent in the test: its id, sender and recipient.
#[derive(Clone)]
struct Sent {
    id: MessageId,
    from: User,
    to: User,
}

impl Sent {
    fn key(&self) -> ConversationKey {
        let (patient, doctor) = if self.from.role == Role::Patient {
            (&self.from, &self.to)
        } else {
            (&self.to, &self.from)
        };
        ConversationKey::new(patient.id.clone(), doctor.id.clone())
    }
}

/// A clinic of two patients and two doctors with its writer running, and what was sent.
struct Clinic {
    path: PathBuf,
    _dir: tempfile::TempDir,
    writer: Writer,
    thread: JoinHandle<()>,
    /// A connection of the test's own, to read what the writer committed.
    outside: Connection,
    everyone: Vec<User>,
    keys: Vec<ConversationKey>,
    sent: Vec<Sent>,
}

/// The writer as the server starts it, but whose log moves only when a command needs it, so
/// that receipts meet sends both in the log and in `messages`.
fn start(path: &Path) -> (Writer, JoinHandle<()>) {
    let conn = crate::store::open_write(path, Synchronous::Full).unwrap();
    Writer::start_moving_after(conn, 512, 8, Duration::from_secs(3600)).unwrap()
}

impl Clinic {
    fn open() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let everyone: Vec<User> = {
            let conn = crate::store::open_write(&path, Synchronous::Full).unwrap();
            [
                ("p0", Role::Patient),
                ("p1", Role::Patient),
                ("d0", Role::Doctor),
                ("d1", Role::Doctor),
            ]
            .into_iter()
            .map(|(name, role)| users::for_test(&conn, name, role))
            .collect()
        };
        let (patients, doctors) = everyone.split_at(2);
        let keys = patients
            .iter()
            .flat_map(|p| {
                doctors
                    .iter()
                    .map(|d| ConversationKey::new(p.id.clone(), d.id.clone()))
            })
            .collect();
        let (writer, thread) = start(&path);
        let outside = Connection::open(&path).unwrap();
        Self {
            path,
            _dir: dir,
            writer,
            thread,
            outside,
            everyone,
            keys,
            sent: Vec::new(),
        }
    }

    fn user(&self, id: &UserId) -> User {
        self.everyone.iter().find(|u| u.id == *id).unwrap().clone()
    }

    async fn send(&mut self, from: User, to: User) {
        let (f, t) = (from.clone(), to.clone());
        let id = self
            .writer
            .run_append(move |conn, seqs| {
                Ok::<_, StoreError>(messages::for_test(conn, seqs, &f, &t, "x").id)
            })
            .await
            .unwrap();
        self.sent.push(Sent { id, from, to });
    }

    async fn deliver(&self, recipient: UserId, ids: Vec<MessageId>) {
        self.writer
            .run_append(move |conn, seqs| mark_delivered(conn, seqs, &recipient, &ids))
            .await
            .unwrap();
    }

    /// The daily counters check over every conversation: those it set right.
    async fn check_counts(&self) -> Vec<ConversationKey> {
        let keys = self.keys.clone();
        self.writer
            .run(move |conn, seqs| counts::set_right(conn, seqs, &keys))
            .await
            .unwrap()
    }

    /// Stops the writer (a clean stop moves the log and saves the marks), then starts another.
    fn restart(mut self) -> Self {
        drop(self.writer);
        self.thread.join().unwrap();
        (self.writer, self.thread) = start(&self.path);
        self
    }

    /// One side's saved delivered top drifts low (a bug elsewhere) below a message it has not
    /// had delivered, the server restarts, the writer reads that top (the other side's receipt
    /// in the conversation reads both), the daily check sets it right, and the side's
    /// undelivered messages above the drifted top are delivered: by id, as one is below the
    /// top the check restored.
    async fn drift_restart_and_check(
        mut self,
        key: ConversationKey,
        doctor: bool,
        quarters: i64,
    ) -> Self {
        let (recipient, other) = if doctor {
            (self.user(&key.doctor_id), self.user(&key.patient_id))
        } else {
            (self.user(&key.patient_id), self.user(&key.doctor_id))
        };
        // Two more to the side, the second delivered (up to: the newest), the first not.
        self.send(other.clone(), recipient.clone()).await;
        self.send(other.clone(), recipient.clone()).await;
        let newest = self.sent.last().unwrap().id.clone();
        self.deliver(recipient.id.clone(), vec![newest]).await;
        let side = if doctor { "doctor" } else { "patient" };
        let sql = format!(
            "UPDATE conversations SET {side}_delivered_top = {side}_delivered_top * ?3 / 4 \
             WHERE patient_id = ?1 AND doctor_id = ?2 RETURNING {side}_delivered_top"
        );
        let k = key.clone();
        // The delivery above made the top the newest message: lowered, it is below both.
        let low: i64 = self
            .writer
            .run(move |conn, _| {
                let params = params![k.patient_id.as_str(), k.doctor_id.as_str(), quarters];
                Ok::<_, StoreError>(conn.query_row(&sql, params, |r| r.get(0))?)
            })
            .await
            .unwrap();
        let mut clinic = self.restart();
        clinic.send(recipient.clone(), other.clone()).await;
        let to_other = clinic.sent.iter().filter(|s| s.to.id == other.id);
        clinic
            .deliver(other.id.clone(), to_other.map(|s| s.id.clone()).collect())
            .await;
        assert_eq!(
            clinic.check_counts().await,
            std::slice::from_ref(&key),
            "the drift found"
        );
        let undelivered: Vec<MessageId> = clinic
            .outside
            .prepare(
                "SELECT id FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 \
                 AND sender_id != ?3 AND seq > ?4 AND status = 'SENT' ORDER BY seq",
            )
            .unwrap()
            .query_map(
                params![
                    key.patient_id.as_str(),
                    key.doctor_id.as_str(),
                    recipient.id.as_str(),
                    low
                ],
                |r| Ok(MessageId::from(r.get::<_, String>(0)?)),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        clinic.deliver(recipient.id, undelivered).await;
        clinic
    }

    /// `sync` from a third of the cursors (another third each round) and the last few returns
    /// what `change_seq` says, for everyone; each side's deliveries up to are in seq order.
    async fn compare(&self, seed: u64, round: i64) {
        // A command that does not log moves the log first.
        self.writer
            .run(|_, _| Ok::<_, StoreError>(()))
            .await
            .unwrap();
        let conn = &self.outside;
        let top: i64 = conn
            .query_row(
                "SELECT coalesce(max(change_seq), 0) FROM messages",
                [],
                |r| r.get(0),
            )
            .unwrap();
        for user in &self.everyone {
            for since in (0..=top).filter(|s| s % 3 == round % 3 || *s >= top - 3) {
                let limit = if since % 2 == 0 { 500 } else { 3 };
                assert_eq!(
                    found(conn, user, since, limit),
                    reference(conn, user, since, limit),
                    "seed {seed}, round {round}, {} since {since}",
                    user.username
                );
            }
        }
        let inverted: i64 = conn
            .query_row(
                "SELECT count(*) FROM messages a JOIN messages b ON a.patient_id = b.patient_id \
                 AND a.doctor_id = b.doctor_id AND a.sender_id = b.sender_id AND a.seq < b.seq \
                 AND a.delivered_seq = a.change_seq AND b.delivered_seq = b.change_seq \
                 AND a.delivered_seq > b.delivered_seq",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(inverted, 0, "seed {seed}, round {round}");
    }

    /// Rows last changed by a delivery up to, and rows delivered or read otherwise; stops the
    /// writer.
    fn report(self, seed: u64) -> (i64, i64) {
        let (up_to, otherwise): (i64, i64) = self
            .outside
            .query_row(
                "SELECT count(*) FILTER (WHERE delivered_seq = change_seq), \
                 count(*) FILTER (WHERE status != 'SENT' AND delivered_seq IS NULL) FROM messages",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        eprintln!(
            "seed {seed}: {} sent, {up_to} last changed by a delivery up to, {otherwise} \
             delivered or read otherwise",
            self.sent.len()
        );
        drop(self.writer);
        self.thread.join().unwrap();
        (up_to, otherwise)
    }
}

fn windows() -> MessageWindows {
    MessageWindows {
        unsend_secs: 86_400,
        retract_secs: 86_400,
        edit_secs: 86_400,
        max_edits: 1_000,
    }
}

/// Delivered receipts mostly as the app sends them (the newest messages to `who`, in order),
/// sometimes any of them in any order, now and then one named twice.
fn delivered_ids(rng: &mut StdRng, sent: &[Sent], who: &User) -> Vec<MessageId> {
    let mine: Vec<MessageId> = sent
        .iter()
        .filter(|s| s.to.id == who.id)
        .map(|s| s.id.clone())
        .collect();
    let mut ids: Vec<MessageId> = if rng.gen_bool(0.6) {
        let newest = rng.gen_range(0..=mine.len().min(6));
        mine[mine.len() - newest..].to_vec()
    } else {
        mine.into_iter().filter(|_| rng.gen_bool(0.4)).collect()
    };
    if rng.gen_bool(0.3) {
        ids.reverse();
    }
    if rng.gen_bool(0.1)
        && let Some(first) = ids.first().cloned()
    {
        ids.push(first);
    }
    ids
}

#[tokio::test]
async fn random_receipts_through_the_writer_keep_sync_whole_and_in_order() {
    let seeds: u64 = std::env::var("CLINIC_RECEIPTS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut reached = Reached::default();
    for seed in 0..seeds {
        run(seed, &mut reached).await;
    }
    assert!(
        reached.up_to > 0 && reached.otherwise > 0,
        "receipts of both kinds"
    );
    assert!(
        reached.drifts > 0 && reached.restarts > reached.drifts,
        "both kinds of restart"
    );
    assert!(reached.direct > 0, "receipts written at once, not logged");
}

/// A command's answer, awaited at the end of its round (several commands share a batch).
type Pending = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waits for `answer` at the end of the round.
fn later<T: Send + 'static>(
    answer: tokio::sync::oneshot::Receiver<Result<T, StoreError>>,
) -> Pending {
    Box::pin(async move {
        answer.await.unwrap().unwrap();
    })
}

/// What the seeds exercised, so that a generator that stopped reaching a path fails.
#[derive(Default)]
struct Reached {
    /// Rows last changed by a delivery up to, and rows delivered or read otherwise.
    up_to: i64,
    otherwise: i64,
    restarts: u32,
    drifts: u32,
    /// Rounds whose commands were all in one batch with one that does not log, so that their
    /// receipts were written to `messages` at once instead of logged.
    direct: u32,
}

async fn run(seed: u64, reached: &mut Reached) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut clinic = Clinic::open();
    for round in 0..50 {
        let mut pending: Vec<Pending> = Vec::new();
        // Now and then the writer is held while a round queues its commands, which then share
        // one batch; sends and restarts, which wait for their commit, are left out of it.
        let held = if !clinic.sent.is_empty() && rng.gen_bool(0.3) {
            Some(clinic.writer.hold().await)
        } else {
            None
        };
        let mut logs = true;
        for _ in 0..rng.gen_range(1..8) {
            let op = if held.is_some() {
                rng.gen_range(35..95)
            } else {
                rng.gen_range(0..100)
            };
            let who = clinic.everyone[rng.gen_range(0..4)].clone();
            let writer = &clinic.writer;
            if op < 35 || clinic.sent.is_empty() {
                let patient = clinic.everyone[rng.gen_range(0..2)].clone();
                let doctor = clinic.everyone[rng.gen_range(2..4)].clone();
                if rng.gen_bool(0.5) {
                    clinic.send(patient, doctor).await;
                } else {
                    clinic.send(doctor, patient).await;
                }
            } else if op < 65 {
                let ids = delivered_ids(&mut rng, &clinic.sent, &who);
                let answer = writer
                    .submit_append(move |conn, seqs| mark_delivered(conn, seqs, &who.id, &ids))
                    .await;
                pending.push(later(answer.unwrap()));
            } else if op < 73 {
                let ids: Vec<MessageId> = clinic
                    .sent
                    .iter()
                    .filter(|s| s.to.id == who.id && rng.gen_bool(0.2))
                    .map(|s| s.id.clone())
                    .collect();
                let answer = writer
                    .submit_append(move |conn, seqs| mark_read(conn, seqs, &who.id, &ids))
                    .await;
                pending.push(later(answer.unwrap()));
            } else if op < 83 {
                let message = clinic.sent[rng.gen_range(0..clinic.sent.len())].clone();
                let (reader, key) = (message.to.clone(), message.key());
                let answer = writer
                    .submit_append(move |conn, seqs| {
                        mark_read_up_to(conn, seqs, &reader, &key, &message.id)
                    })
                    .await;
                pending.push(later(answer.unwrap()));
            } else if op < 91 {
                let message = clinic.sent[rng.gen_range(0..clinic.sent.len())].clone();
                let retract = rng.gen_bool(0.3);
                let answer = writer
                    .submit(move |conn, seqs| change(conn, seqs, &message, retract))
                    .await;
                pending.push(later(answer.unwrap()));
                logs = false;
            } else if op < 95 {
                // The daily check on a clinic kept right finds nothing to set right.
                let keys = clinic.keys.clone();
                let answer = writer
                    .submit(move |conn, seqs| counts::set_right(conn, seqs, &keys))
                    .await
                    .unwrap();
                pending.push(Box::pin(async move {
                    assert_eq!(answer.await.unwrap().unwrap(), []);
                }));
                logs = false;
            } else {
                for answer in pending.drain(..) {
                    answer.await;
                }
                clinic = if rng.gen_bool(0.6) {
                    let key = clinic.keys[rng.gen_range(0..4)].clone();
                    let (doctor, quarters) = (rng.gen_bool(0.5), rng.gen_range(0..4));
                    reached.drifts += 1;
                    clinic.drift_restart_and_check(key, doctor, quarters).await
                } else {
                    clinic.restart()
                };
                reached.restarts += 1;
            }
        }
        if let Some(held) = held {
            held.release().await;
            if !logs && pending.len() > 1 {
                reached.direct += 1;
            }
        }
        for answer in pending.drain(..) {
            answer.await;
        }
        clinic.compare(seed, round).await;
    }
    let (up_to, otherwise) = clinic.report(seed);
    reached.up_to += up_to;
    reached.otherwise += otherwise;
}

/// An edit or an unsend of `message` by its sender: another kind of change to the row.
fn change(
    conn: &Connection,
    seqs: &mut crate::store::Seqs,
    message: &Sent,
    retract: bool,
) -> Result<(), StoreError> {
    let Some(now) = messages::by_id(conn, &message.id)? else {
        return Ok(());
    };
    if now.is_retracted() {
        return Ok(());
    }
    let (from, id) = (&message.from, &message.id);
    if retract {
        let request = RetractRequest {
            reason: None,
            misdirected: false,
        };
        versions::retract(conn, seqs, from, id, &request, None, windows())?;
    } else {
        let request = EditRequest {
            content: format!("edit of {}", now.content),
            base_version: now.version(),
        };
        versions::edit(conn, seqs, from, id, &request, None, windows())?;
    }
    Ok(())
}
