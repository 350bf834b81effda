//! S4: emergency fan-out. Patients raise emergencies (open-loop, spaced out; one patient per
//! emergency, since a patient's further raises join their open one) while 1,000 doctors are
//! connected; every doctor must get `emergency:alert`. Reports the latency of every delivery
//! and, per emergency, to the last doctor. With `--background-pairs`, more pairs are connected
//! (their doctors get the alerts too, unmeasured) and, with `--background`, chat meanwhile:
//! what ordinary traffic costs an emergency, against the same pairs silent. With `--take`, one
//! more doctor takes each emergency (`POST /api/emergencies/{id}/acknowledge`) half the
//! spacing after its first alert arrived (after the fan-out: a person reads before taking) and
//! the time each take took, request to answer, is reported (`take`): what a doctor waits for
//! amid the same traffic. With `--resolve` too, that doctor then resolves each emergency
//! (`POST /api/emergencies/{id}/resolve` with a note) a quarter of the spacing after taking
//! it, and each resolution's time is reported (`resolve`). `received` is, per emergency, the
//! time from its scheduled press to the patient's `emergency:updated` saying that its alert
//! reached every measured doctor (the record of whom it reached is written after the
//! fan-out): the patient's "received by the doctors".

use super::idle::chunks;
use super::steady::PAIRS_PER_GROUP;
use super::{Clinic, Env, connect_all};
use crate::clock::{instant_of, now_us};
use crate::conn::{Conn, text};
use crate::frames::{self, Inbound};
use crate::load::{Load, Step};
use crate::report::{Latency, emit};
use clinic_protocol::{ClientFrame, ClientId, NewMessage};
use futures_util::stream::SelectAll;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const PER_READER: usize = 100;
/// Longest wait for the last alert after the last emergency.
const SETTLE: Duration = Duration::from_secs(10);
/// How long the background chat runs before the first emergency (plus the half second every
/// run waits before it).
const WARMUP: Duration = Duration::from_secs(2);

/// What S4 runs.
#[derive(Debug, Clone, Copy)]
pub struct Fanout {
    /// Doctors the fan-out is measured at.
    pub doctors: usize,
    pub emergencies: usize,
    pub spacing: Duration,
    /// More (patient, doctor) pairs connected throughout.
    pub background_pairs: usize,
    /// Ordinary messages a second between those pairs meanwhile (0 for none).
    pub background: f64,
    /// One more doctor takes each emergency, half the spacing after its alert.
    pub take: bool,
    /// That doctor then resolves each, a quarter of the spacing after taking it.
    pub resolve: bool,
}

/// What the taking doctor reads of an alert.
#[derive(serde::Deserialize)]
struct AlertOf {
    emergency: EmergencyOf,
}

#[derive(serde::Deserialize)]
struct EmergencyOf {
    id: String,
}

/// What the taking doctor does with each emergency: takes it `after` its first alert arrived,
/// and resolves it `resolve_after` that, if set.
struct Plan {
    emergencies: usize,
    after: Duration,
    resolve_after: Option<Duration>,
}

/// The taking doctor: takes (and resolves) each emergency once, until all `emergencies` are
/// taken or the deadline; the time of each take and of each resolution, request to answer.
async fn take_each(
    doctor: Conn,
    token: String,
    endpoint: crate::endpoint::Endpoint,
    plan: Plan,
    deadline_us: u64,
) -> anyhow::Result<(Latency, Latency)> {
    let Plan {
        emergencies,
        after,
        resolve_after,
    } = plan;
    let http = endpoint.http_client()?;
    let base = endpoint.base_url();
    let mut ws = doctor.ws;
    let mut taken = std::collections::HashSet::new();
    let mut took = Latency::new();
    let mut resolved = Latency::new();
    while taken.len() < emergencies {
        let next = tokio::time::timeout_at(instant_of(deadline_us), ws.next()).await;
        let Ok(Some(Ok(Message::Text(body)))) = next else {
            if matches!(next, Err(_) | Ok(None)) {
                break;
            }
            continue;
        };
        if !body.as_str().starts_with("{\"type\":\"emergency:alert\"") {
            continue;
        }
        let alert: AlertOf = serde_json::from_str(body.as_str())?;
        if !taken.insert(alert.emergency.id.clone()) {
            continue;
        }
        tokio::time::sleep(after).await;
        let id = &alert.emergency.id;
        let url = format!("{base}/api/emergencies/{id}/acknowledge");
        took.record(timed_post(&http, &url, &token, None).await?);
        let Some(resolve_after) = resolve_after else {
            continue;
        };
        tokio::time::sleep(resolve_after).await;
        let url = format!("{base}/api/emergencies/{id}/resolve");
        let note = json!({"note": "called back, all well"});
        resolved.record(timed_post(&http, &url, &token, Some(note)).await?);
    }
    Ok((took, resolved))
}

/// POSTs `body` (if any) to `url` as the holder of `token`: how long it took (us), request
/// to answer; an error unless it succeeded.
async fn timed_post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<u64> {
    let started = now_us();
    let mut request = http.post(url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "{url} answered {}",
        answer.status()
    );
    Ok(now_us().saturating_sub(started))
}

/// What one reader group saw: every delivery's latency and, per emergency, its slowest one.
struct Seen {
    all: Latency,
    last: Vec<u64>,
    count: u64,
}

/// Reads until every alert of `emergencies` reached each of `doctors` (or the deadline), and
/// hands the sockets back open: a group done first must not close its sockets while the server
/// is still writing the last alert to the others (the closes would be measured as fan-out).
async fn read_alerts(
    doctors: Vec<Conn>,
    emergencies: usize,
    deadline_us: u64,
) -> (Seen, SelectAll<crate::conn::Ws>) {
    let expected = (doctors.len() * emergencies) as u64;
    let mut streams = SelectAll::new();
    for doctor in doctors {
        streams.push(doctor.ws);
    }
    let mut seen = Seen {
        all: Latency::new(),
        last: vec![0; emergencies],
        count: 0,
    };
    while seen.count < expected {
        let next = tokio::time::timeout_at(instant_of(deadline_us), streams.next()).await;
        let Ok(Some(Ok(Message::Text(body)))) = next else {
            if matches!(next, Err(_) | Ok(None)) {
                break;
            }
            continue;
        };
        if let Inbound::Alert(message) = frames::parse(body.as_str())
            && let Some(stamp) = frames::read_stamp(&message.content)
            && let Some(slot) = seen.last.get_mut(stamp.step as usize)
        {
            let latency = now_us().saturating_sub(stamp.scheduled);
            seen.all.record(latency);
            *slot = (*slot).max(latency);
            seen.count += 1;
        }
    }
    (seen, streams)
}

pub async fn run(env: &Env, s4: &Fanout) -> anyhow::Result<()> {
    let (doctors, emergencies) = (s4.doctors, s4.emergencies);
    let extra = s4.background_pairs;
    let clinic = Clinic::new(emergencies + extra, doctors + extra + usize::from(s4.take))?;
    let server = clinic.start(env)?;
    let (doctor_conns, _, failed) = connect_all(&server, &clinic.doctors[..doctors]).await;
    anyhow::ensure!(failed == 0, "{failed} doctors failed to connect");
    let (patients, _, failed) = connect_all(&server, &clinic.patients[..emergencies]).await;
    anyhow::ensure!(failed == 0, "{failed} patients failed to connect");
    let (chat_patients, _, failed_p) = connect_all(&server, &clinic.patients[emergencies..]).await;
    let (chat_doctors, _, failed_d) =
        connect_all(&server, &clinic.doctors[doctors..doctors + extra]).await;
    let (mut takers, _, failed_t) = connect_all(&server, &clinic.doctors[doctors + extra..]).await;
    anyhow::ensure!(failed_t == 0, "the taking doctor failed to connect");
    anyhow::ensure!(
        failed_p + failed_d == 0,
        "{} background sockets failed to connect",
        failed_p + failed_d
    );
    let load = Load::start(
        chat_patients.into_iter().zip(chat_doctors).collect(),
        PAIRS_PER_GROUP,
    );
    let mut sinks = Vec::with_capacity(patients.len());
    let mut streams = SelectAll::new();
    for patient in patients {
        let (sink, stream) = patient.ws.split();
        sinks.push((patient.user, sink));
        streams.push(stream);
    }
    // The patients' acks say when each emergency was committed: the part of the fan-out
    // latency spent persisting it, before any doctor can be told; their updates, when each
    // learnt that every doctor was reached.
    let acks = tokio::spawn(async move {
        let (mut committed, mut received) = (Latency::new(), Latency::new());
        let mut pressed = std::collections::HashMap::new();
        while let Some(Ok(message)) = streams.next().await {
            let Message::Text(body) = message else {
                continue;
            };
            match frames::parse(body.as_str()) {
                Inbound::Ack(message) => {
                    if let Some(stamp) = frames::read_stamp(&message.content) {
                        committed.record(now_us().saturating_sub(stamp.scheduled));
                        pressed.insert(message.id, stamp.scheduled);
                    }
                }
                Inbound::EmergencyUpdated {
                    message_id,
                    alerted_doctors,
                } if alerted_doctors >= doctors as u64 => {
                    // Once per emergency: the first update that says so.
                    if let Some(scheduled) = pressed.remove(&message_id) {
                        received.record(now_us().saturating_sub(scheduled));
                    }
                }
                _ => {}
            }
        }
        (committed, received)
    });

    let lead = if extra > 0 { WARMUP } else { Duration::ZERO };
    let start = now_us() + 500_000 + lead.as_micros() as u64;
    let spacing_us = s4.spacing.as_micros() as u64;
    let deadline = start + spacing_us * emergencies as u64 + SETTLE.as_micros() as u64;
    let readers: Vec<_> = chunks(doctor_conns, PER_READER)
        .into_iter()
        .map(|group| tokio::spawn(read_alerts(group, emergencies, deadline)))
        .collect();
    let taker = takers.pop().map(|doctor| {
        let token = clinic.doctors[doctors + extra].token.clone();
        let endpoint = server.endpoint.clone();
        let plan = Plan {
            emergencies,
            after: s4.spacing / 2,
            resolve_after: s4.resolve.then_some(s4.spacing / 4),
        };
        tokio::spawn(take_each(doctor, token, endpoint, plan, deadline))
    });
    let doctor_id = clinic.doctors[0].user.id.clone();
    let raise = async {
        for (i, (patient, sink)) in sinks.iter_mut().enumerate() {
            let scheduled = start + spacing_us * i as u64;
            crate::clock::until(scheduled).await;
            let frame = ClientFrame::MessageSend(NewMessage {
                client_id: Some(ClientId::new(format!("emergency-{i}"))),
                patient_id: patient.clone(),
                doctor_id: doctor_id.clone(),
                content: frames::stamp(u32::try_from(i).unwrap_or(u32::MAX), scheduled, 40),
                is_emergency: true,
                file_url: None,
                file_name: None,
                held_ms: None,
            });
            sink.send(text(&frame)).await?;
        }
        anyhow::Ok(())
    };
    // The chat runs from now on; it is measured from the first emergency's scheduled time
    // until a second after the last one's.
    let chat = async {
        if extra == 0 || s4.background <= 0.0 {
            return None;
        }
        let raising = s4.spacing * u32::try_from(emergencies.saturating_sub(1)).unwrap_or(u32::MAX);
        let step = Step {
            step: 1,
            rate: s4.background,
            duration: raising + Duration::from_secs(1),
            warmup: Duration::from_micros(start.saturating_sub(now_us())),
            content_bytes: 100,
        };
        Some(load.step(step).await)
    };
    let (raised, chat) = tokio::join!(raise, chat);
    raised?;
    let mut all = Latency::new();
    let mut last = vec![0u64; emergencies];
    let mut delivered = 0u64;
    let mut open = Vec::with_capacity(readers.len());
    for reader in readers {
        let (seen, sockets) = reader.await?;
        open.push(sockets);
        all.add(&seen.all);
        delivered += seen.count;
        for (slot, value) in last.iter_mut().zip(seen.last) {
            *slot = (*slot).max(value);
        }
    }
    drop(open);
    let took = match taker {
        Some(taker) => Some(taker.await??),
        None => None,
    };
    let mut to_last = Latency::new();
    for value in &last {
        to_last.record(*value);
    }
    for (_, sink) in &mut sinks {
        let _ = sink.close().await;
    }
    let (committed, received) = tokio::time::timeout(SETTLE, acks)
        .await
        .map_err(|_| anyhow::anyhow!("the patients' sockets did not close"))??;
    let mut fields = super::fields(env);
    fields.insert("doctors".into(), json!(doctors));
    fields.insert("emergencies".into(), json!(emergencies));
    fields.insert("expected".into(), json!((doctors * emergencies) as u64));
    fields.insert("delivered".into(), json!(delivered));
    fields.insert("every_doctor".into(), all.summary());
    fields.insert("last_doctor".into(), to_last.summary());
    fields.insert("committed".into(), committed.summary());
    fields.insert("received".into(), json!(received.count()));
    fields.insert("to_received".into(), received.summary());
    if extra > 0 {
        fields.insert("background_pairs".into(), json!(extra));
        fields.insert("background".into(), json!(s4.background));
    }
    if let Some(chat) = chat {
        fields.insert("background_result".into(), chat.json());
    }
    if let Some((took, resolved)) = took {
        fields.insert("taken".into(), json!(took.count()));
        fields.insert("take".into(), took.summary());
        if s4.resolve {
            fields.insert("resolved".into(), json!(resolved.count()));
            fields.insert("resolve".into(), resolved.summary());
        }
    }
    load.stop().await;
    emit("s4", fields, env.out.as_deref())?;
    server.stop()
}
