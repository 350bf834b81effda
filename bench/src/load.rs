//! The open-loop chat load: pairs (patient, doctor) message each other at a fixed total rate.
//!
//! Connections are split into groups, one task per group holding many sockets. Each send is
//! stamped with its *scheduled* time, and latency is taken from that time, so a generator or
//! server that falls behind shows up as latency instead of silently sending less (correcting
//! for coordinated omission). Both sides of a pair live in the same group, so a group knows
//! when every message it sent was acknowledged and received.

use crate::clock::{self, now_us};
use crate::conn::{Conn, Ws};
use crate::frames::{self, Inbound};
use crate::report::Latency;
use crate::socketio;
use crate::stack::Stack;
use clinic_protocol::{ClientId, NewMessage, UserId};
use futures_util::stream::{SelectAll, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// How long a step waits after its last send for acks and deliveries.
const DRAIN: Duration = Duration::from_secs(5);
/// Most sends a group makes in one go when it is behind schedule (so it keeps reading).
const MAX_BURST: u32 = 64;

/// How the desktop app reports what reached it: the ids of the messages a socket received,
/// gathered for this long, then one `message:delivered` frame (`clinic_client`'s
/// `delivered_delay`). clinic-server only: the seed's stack has no delivered receipts. Unlike
/// the app, the generator does not send a full frame (the server's id limit) before the time
/// is up, and reports every message it received (the app, those still SENT in its cache): at
/// these rates a socket gathers a handful of ids, so neither differs.
pub const RECEIPT_DELAY: Duration = Duration::from_millis(500);

/// What the sockets report back about what they received, as the desktop app does.
/// clinic-server only: the seed's stack has no receipts to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reports {
    /// Delivered receipts, the ids gathered for [`RECEIPT_DELAY`].
    pub delivered: bool,
    /// A `message:read` ("read up to") for each message at once, as the app sends for a message
    /// that arrives in the conversation its user has open. The app then leaves the message out
    /// of its delivered receipt (the read mark made it delivered), and so does the generator.
    pub read: bool,
    /// Of every `edit_every` messages a group of sockets sent, the sender edits one once its
    /// ack arrives (`message:edit`, as the app's edit; 0: none), so edits mix with the sends.
    pub edit_every: u32,
}

impl Reports {
    /// Whether the sockets send anything but messages.
    pub fn any(self) -> bool {
        self.delivered || self.read || self.edit_every > 0
    }
}

/// One step of load: a total rate for `duration`, measured after `warmup`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub step: u32,
    /// Messages per second over all pairs.
    pub rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub content_bytes: usize,
}

impl Step {
    /// Step number `index` (from 0) of a ramp: `rate` msg/s of 100-byte messages for
    /// `duration`, measured after one second.
    pub fn ramp(index: usize, rate: f64, duration: Duration) -> Self {
        Self {
            step: u32::try_from(index + 1).unwrap_or(u32::MAX),
            rate,
            duration,
            warmup: Duration::from_secs(1),
            content_bytes: 100,
        }
    }
}

/// What a step measured.
#[derive(Debug, Clone, Default)]
pub struct StepResult {
    pub sent: u64,
    pub acked: u64,
    pub received: u64,
    /// Deliveries that arrived inside the measured window.
    pub received_in_window: u64,
    pub window_secs: f64,
    pub errors: u64,
    pub closed: u64,
    /// Scheduled send to the recipient's `message:received`.
    pub e2e: Latency,
    /// Actual send to the recipient's `message:received`: without the generator's own delays
    /// (timer granularity, a busy core), for comparison only.
    pub e2e_from_send: Latency,
    /// Scheduled send to the sender's `message:ack`.
    pub ack: Latency,
    /// How late the generator itself sent (its own saturation).
    pub send_lag: Latency,
    /// Delivered receipts sent (frames), when the load sends them.
    pub receipts: u64,
    /// Message ids in the `message:delivered:confirmed` frames the sockets read (the server tells
    /// both participants, so about twice the messages a receipt moved).
    pub delivered_confirmed: u64,
    /// `message:read` frames sent, when the load sends them.
    pub reads: u64,
    /// Message ids in the `message:read:confirmed` frames the sockets read (both participants).
    pub read_confirmed: u64,
    /// `message:edit` frames sent, when the load sends them.
    pub edits: u64,
    /// `message:updated` frames the sockets read (the asker's answer, the other side's news).
    pub updated: u64,
}

impl StepResult {
    fn add(&mut self, other: &StepResult) {
        self.sent += other.sent;
        self.acked += other.acked;
        self.received += other.received;
        self.received_in_window += other.received_in_window;
        self.window_secs = self.window_secs.max(other.window_secs);
        self.errors += other.errors;
        self.closed += other.closed;
        self.e2e.add(&other.e2e);
        self.e2e_from_send.add(&other.e2e_from_send);
        self.ack.add(&other.ack);
        self.send_lag.add(&other.send_lag);
        self.receipts += other.receipts;
        self.delivered_confirmed += other.delivered_confirmed;
        self.reads += other.reads;
        self.read_confirmed += other.read_confirmed;
        self.edits += other.edits;
        self.updated += other.updated;
    }

    /// Messages delivered per second inside the measured window.
    pub fn delivered_per_sec(&self) -> f64 {
        if self.window_secs > 0.0 {
            self.received_in_window as f64 / self.window_secs
        } else {
            0.0
        }
    }

    /// Sent, acked, received, delivered/s, errors and the three histograms as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "sent": self.sent,
            "acked": self.acked,
            "received": self.received,
            "delivered_per_s": crate::report::round3(self.delivered_per_sec()),
            "errors": self.errors,
            "closed": self.closed,
            "e2e": self.e2e.summary(),
            "e2e_from_send": self.e2e_from_send.summary(),
            "ack": self.ack.summary(),
            "send_lag": self.send_lag.summary(),
            "receipts": self.receipts,
            "delivered_confirmed": self.delivered_confirmed,
            "reads": self.reads,
            "read_confirmed": self.read_confirmed,
            "edits": self.edits,
            "updated": self.updated,
        })
    }
}

type Command = (Step, f64, oneshot::Sender<StepResult>);

/// A running chat load over many pairs.
#[derive(Debug)]
pub struct Load {
    groups: Vec<(mpsc::Sender<Command>, usize)>,
    tasks: Vec<JoinHandle<()>>,
    members: usize,
}

impl Load {
    /// Takes the pairs' connections into group tasks of `pairs_per_group` pairs.
    pub fn start(pairs: Vec<(Conn, Conn)>, pairs_per_group: usize) -> Self {
        Self::start_with(pairs, pairs_per_group, Reports::default())
    }

    /// [`Load::start`], every socket also reporting what it received as the desktop app does
    /// (see [`Reports`]).
    pub fn start_with(pairs: Vec<(Conn, Conn)>, pairs_per_group: usize, reports: Reports) -> Self {
        let mut groups = Vec::new();
        let mut tasks = Vec::new();
        let mut members = 0;
        let mut pairs = pairs.into_iter().peekable();
        let mut index = 0u32;
        while pairs.peek().is_some() {
            let chunk: Vec<(Conn, Conn)> = pairs.by_ref().take(pairs_per_group.max(1)).collect();
            let (tx, rx) = mpsc::channel(1);
            groups.push((tx, chunk.len() * 2));
            members += chunk.len() * 2;
            tasks.push(tokio::spawn(group_task(index, chunk, rx, reports)));
            index += 1;
        }
        Self {
            groups,
            tasks,
            members,
        }
    }

    /// Runs one step on every group at once and merges the results.
    pub async fn step(&self, step: Step) -> StepResult {
        let mut replies = Vec::new();
        for (tx, size) in &self.groups {
            let share = step.rate * (*size as f64) / (self.members.max(1) as f64);
            let (reply, answer) = oneshot::channel();
            if tx.send((step, share, reply)).await.is_ok() {
                replies.push(answer);
            }
        }
        let mut total = StepResult::default();
        for answer in replies {
            if let Ok(result) = answer.await {
                total.add(&result);
            }
        }
        total
    }

    /// Stops every group (dropping its sockets).
    pub async fn stop(self) {
        drop(self.groups);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Member {
    sink: SplitSink<Ws, Message>,
    stack: Stack,
    /// The pair as (patient, doctor).
    patient: UserId,
    doctor: UserId,
    alive: bool,
    /// Received and not reported delivered yet, and when the report goes out.
    owed: Vec<String>,
    due: Option<u64>,
}

/// A step in progress inside one group.
struct Run {
    step: Step,
    reply: oneshot::Sender<StepResult>,
    interval_us: f64,
    next_due: f64,
    warm_from: u64,
    end: u64,
    result: StepResult,
    turn: usize,
}

impl Run {
    fn new(step: Step, rate: f64, reply: oneshot::Sender<StepResult>, group: u32) -> Self {
        let now = now_us();
        let interval_us = if rate > 0.0 { 1e6 / rate } else { f64::MAX };
        // Spread groups' first sends over one interval so they do not fire in lockstep.
        let offset = (f64::from(group % 97) / 97.0) * interval_us.min(1e6);
        let warm_from = now + step.warmup.as_micros() as u64;
        let end = warm_from + step.duration.as_micros() as u64;
        Self {
            step,
            reply,
            interval_us,
            next_due: now as f64 + offset,
            warm_from,
            end,
            result: StepResult {
                window_secs: step.duration.as_secs_f64(),
                ..StepResult::default()
            },
            turn: 0,
        }
    }

    fn on_frame(&mut self, inbound: Inbound) {
        let now = now_us();
        let (message, is_ack) = match inbound {
            Inbound::Ack(m) => (m, true),
            Inbound::Received(m) => (m, false),
            Inbound::Error { .. } => {
                self.result.errors += 1;
                return;
            }
            Inbound::DeliveredConfirmed(n) => {
                self.result.delivered_confirmed += n as u64;
                return;
            }
            Inbound::ReadConfirmed(n) => {
                self.result.read_confirmed += n as u64;
                return;
            }
            Inbound::Updated => {
                self.result.updated += 1;
                return;
            }
            _ => return,
        };
        let Some(stamp) = frames::read_stamp(&message.content) else {
            return;
        };
        if stamp.step != self.step.step {
            return;
        }
        let measured = stamp.scheduled >= self.warm_from && stamp.scheduled < self.end;
        let latency = now.saturating_sub(stamp.scheduled);
        if is_ack {
            self.result.acked += 1;
            if measured {
                self.result.ack.record(latency);
            }
        } else {
            self.result.received += 1;
            if measured {
                self.result.e2e.record(latency);
                self.result
                    .e2e_from_send
                    .record(now.saturating_sub(stamp.sent));
            }
            if now >= self.warm_from && now < self.end {
                self.result.received_in_window += 1;
            }
        }
    }

    fn finished(&self, now: u64) -> bool {
        let all_in =
            self.result.acked >= self.result.sent && self.result.received >= self.result.sent;
        now >= self.end && (all_in || now >= self.end + DRAIN.as_micros() as u64)
    }
}

async fn group_task(
    group: u32,
    pairs: Vec<(Conn, Conn)>,
    mut commands: mpsc::Receiver<Command>,
    reports: Reports,
) {
    let mut members = Vec::with_capacity(pairs.len() * 2);
    let mut inbound = SelectAll::new();
    for (patient, doctor) in pairs {
        let (p, d) = (patient.user.clone(), doctor.user.clone());
        for conn in [patient, doctor] {
            let (sink, stream): (_, SplitStream<Ws>) = conn.ws.split();
            let index = members.len();
            inbound.push(stream.map(move |m| (index, m)));
            members.push(Member {
                sink,
                stack: conn.stack,
                patient: p.clone(),
                doctor: d.clone(),
                alive: true,
                owed: Vec::new(),
                due: None,
            });
        }
    }
    let mut run: Option<Run> = None;
    // Acks the group's sockets read, for `Reports::edit_every`.
    let mut acks = 0u64;
    loop {
        let wake = match &run {
            Some(r) if (r.next_due as u64) < r.end => r.next_due as u64,
            Some(r) => r.end.max(now_us()) + 50_000,
            None => now_us() + 3_600_000_000,
        };
        let wake = if reports.delivered {
            members.iter().filter_map(|m| m.due).fold(wake, u64::min)
        } else {
            wake
        };
        tokio::select! {
            command = commands.recv(), if run.is_none() => match command {
                Some((step, rate, reply)) => run = Some(Run::new(step, rate, reply, group)),
                None => break,
            },
            item = inbound.next(), if !inbound.is_empty() => match item {
                Some((index, Ok(Message::Text(body)))) => {
                    let Some(member) = members.get_mut(index) else { continue };
                    match member.stack.parse(body.as_str()) {
                        // Engine.IO: an unanswered ping closes the socket after pingTimeout.
                        Inbound::Ping => {
                            let _ = member.sink.send(Message::text(socketio::PONG)).await;
                        }
                        frame => {
                            if let Inbound::Received(m) = &frame {
                                if reports.delivered && !reports.read {
                                    member.owed.push(m.id.clone());
                                    member.due.get_or_insert(
                                        now_us() + RECEIPT_DELAY.as_micros() as u64,
                                    );
                                }
                                if reports.read && member.report_read(&m.id).await
                                    && let Some(r) = run.as_mut()
                                {
                                    r.result.reads += 1;
                                }
                            }
                            if let Inbound::Ack(m) = &frame
                                && reports.edit_every > 0
                            {
                                acks += 1;
                                if acks.is_multiple_of(u64::from(reports.edit_every))
                                    && member.edit(m).await
                                    && let Some(r) = run.as_mut()
                                {
                                    r.result.edits += 1;
                                }
                            }
                            if let Some(r) = run.as_mut() {
                                r.on_frame(frame);
                            }
                        }
                    }
                }
                Some((index, Ok(Message::Close(_)) | Err(_))) => {
                    if let Some(member) = members.get_mut(index)
                        && member.alive
                    {
                        member.alive = false;
                        if let Some(r) = run.as_mut() {
                            r.result.closed += 1;
                        }
                    }
                }
                _ => {}
            },
            () = clock::until(wake) => {}
        }
        let reported = if reports.delivered {
            report_delivered(&mut members).await
        } else {
            0
        };
        let Some(r) = run.as_mut() else { continue };
        r.result.receipts += reported;
        send_due(r, &mut members).await;
        let now = now_us();
        if r.finished(now)
            && let Some(done) = run.take()
        {
            let _ = done.reply.send(done.result);
        }
    }
}

impl Member {
    /// Edits `message`, just sent, keeping its stamp; whether the frame went out.
    async fn edit(&mut self, message: &frames::Msg) -> bool {
        let n = SENDS.fetch_add(1, Ordering::Relaxed);
        let frame = crate::conn::text(&clinic_protocol::ClientFrame::MessageEdit {
            client_id: ClientId::new(format!("e-{n}")),
            message_id: message.id.clone().into(),
            content: format!("{} (edited)", message.content),
            base_version: 1,
        });
        self.alive && self.sink.send(frame).await.is_ok()
    }

    /// Marks the conversation read up to `message_id`; whether the frame went out.
    async fn report_read(&mut self, message_id: &str) -> bool {
        let frame = crate::conn::text(&clinic_protocol::ClientFrame::MessageRead {
            message_id: message_id.to_owned().into(),
            patient_id: self.patient.clone(),
            doctor_id: self.doctor.clone(),
        });
        self.alive && self.sink.send(frame).await.is_ok()
    }
}

/// Sends the delivered receipts that are due, as the desktop app does (frames of at most the
/// server's limit of ids); returns how many frames went out.
async fn report_delivered(members: &mut [Member]) -> u64 {
    let now = now_us();
    let mut frames = 0;
    for member in members.iter_mut() {
        if member.due.is_none_or(|due| due > now) {
            continue;
        }
        member.due = None;
        let ids = std::mem::take(&mut member.owed);
        for chunk in ids.chunks(clinic_protocol::limits::MAX_IDS_PER_REQUEST) {
            let frame = crate::conn::text(&clinic_protocol::ClientFrame::MessageDelivered {
                message_ids: chunk.iter().cloned().map(Into::into).collect(),
            });
            if member.alive && member.sink.send(frame).await.is_ok() {
                frames += 1;
            }
        }
    }
    frames
}

/// Numbers the sends of every load in this process (the reference server's ack ids, unique per
/// socket).
static SENDS: AtomicU64 = AtomicU64::new(1);

/// Sends every message whose scheduled time has come (at most `MAX_BURST` at once).
async fn send_due(r: &mut Run, members: &mut [Member]) {
    let mut burst = 0;
    while (r.next_due as u64) < r.end && (r.next_due as u64) <= now_us() && burst < MAX_BURST {
        let scheduled = r.next_due as u64;
        r.next_due += r.interval_us;
        burst += 1;
        let count = members.len();
        let Some(index) = (0..count)
            .map(|k| (r.turn + k) % count)
            .find(|&i| members[i].alive)
        else {
            return;
        };
        r.turn = index + 1;
        let member = &mut members[index];
        let seq = SENDS.fetch_add(1, Ordering::Relaxed);
        let message = NewMessage {
            // Unique across every load one server sees (a repeated client id would be answered
            // from the store, not sent), and time-ordered as the desktop app makes them
            // (`clinic_client::record`): the server's idempotency key is ordered by client id
            // first (schema v20).
            client_id: Some(ClientId::new(uuid::Uuid::now_v7().to_string())),
            patient_id: member.patient.clone(),
            doctor_id: member.doctor.clone(),
            content: frames::stamp(r.step.step, scheduled, r.step.content_bytes),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        };
        let frame = member.stack.message_send(message, seq);
        if member.sink.send(frame).await.is_err() {
            member.alive = false;
            r.result.closed += 1;
            continue;
        }
        r.result.sent += 1;
        if scheduled >= r.warm_from {
            r.result.send_lag.record(now_us().saturating_sub(scheduled));
        }
    }
}
