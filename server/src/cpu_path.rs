//! The CPU steps of a send outside the database, timed in isolation, each the way it was done
//! before issue 15's CPU-path work (the audit row's digest: before 2026-12-05) against the way it
//! is done now (`clinic-bench cpu-path`). Under a loaded machine the whole-server figures of
//! `cost` cannot resolve a few microseconds; these can. Both ways are the server's own code paths
//! (the earlier ones are still used: serde's derived frame parser for every other frame,
//! `hub::encode` for every other frame, `users::by_id` for the views; the digest through a
//! `Value` by the test that shows both forms give the same bytes).

use crate::config::Synchronous;
use crate::hub::encode;
use crate::store::users::{self, InsertUser};
use crate::store::{peers, rows};
use clinic_protocol::{
    ClientFrame, ClientId, Message, MessageStatus, MessageType, NewMessage, Role, Seq, ServerFrame,
};
use rusqlite::Connection;
use std::hint::black_box;
use std::time::Instant;

/// One step's cost per message, before and after, in nanoseconds.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub before_ns: f64,
    pub after_ns: f64,
}

/// A stored message as the send path has it (the 100-byte content of the load scenarios).
pub(crate) fn sample_message(content: &str) -> Message {
    let at = chrono::DateTime::from_timestamp_millis(1_796_000_000_123).unwrap_or_default();
    Message {
        id: "m-0123456789abcdef0123456789abcdef".to_owned().into(),
        seq: Seq(123_456),
        client_id: ClientId::new("c-\"quoted\" \u{1F600} 0123456789".to_owned()),
        patient_id: "u-0123456789abcdef0123456789abcdef".to_owned().into(),
        doctor_id: "u-fedcba9876543210fedcba9876543210".to_owned().into(),
        sender_id: "u-0123456789abcdef0123456789abcdef".to_owned().into(),
        content: content.to_owned(),
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

/// The smallest time per call of `f` over `rounds` rounds of `iterations` calls (the round
/// least disturbed by other work on the core).
fn per_call(rounds: u32, iterations: u32, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Times every step; `iterations` calls per round, best of `rounds`.
pub fn measure(rounds: u32, iterations: u32) -> anyhow::Result<Vec<Step>> {
    let message = sample_message(&"x".repeat(100));
    let frame = serde_json::to_string(&ClientFrame::MessageSend(NewMessage {
        client_id: Some(message.client_id.clone()),
        patient_id: message.patient_id.clone(),
        doctor_id: message.doctor_id.clone(),
        content: message.content.clone(),
        is_emergency: false,
        file_url: None,
        file_name: None,
        held_ms: None,
    }))?;
    let time = |f: &mut dyn FnMut()| per_call(rounds, iterations, f);
    let mut steps = vec![Step {
        name: "parse message:send",
        before_ns: time(&mut || {
            black_box(serde_json::from_str::<ClientFrame>(black_box(&frame)).ok());
        }),
        after_ns: time(&mut || {
            black_box(crate::ws::parse_frame(black_box(&frame), usize::MAX).ok());
        }),
    }];
    steps.push(Step {
        name: "message:ack and message:received frames",
        before_ns: time(&mut || {
            black_box(encode(&ServerFrame::MessageAck {
                client_id: message.client_id.clone(),
                message: message.clone(),
            }));
            black_box(encode(&ServerFrame::MessageReceived {
                message: message.clone(),
            }));
        }),
        after_ns: time(&mut || {
            let frames = crate::chat::MessageFrames::new(black_box(&message));
            black_box(frames.ack(&message.client_id));
            black_box(frames.received());
        }),
    });

    // The audit row every send writes (`MESSAGE_CREATE`), as the writer hashes it.
    let audit = crate::audit::chain::Row {
        id: 1_000_000,
        at: 1_796_448_884_123,
        actor: Some(message.sender_id.to_string()),
        action: "MESSAGE_CREATE".into(),
        patient: Some(message.patient_id.to_string()),
        doctor: Some(message.doctor_id.to_string()),
        subject: Some(message.id.to_string()),
        outcome: "OK".into(),
        detail: Some(r#"{"emergency":false,"file":null,"seq":1000000}"#.into()),
        prev_hash: crate::audit::chain::GENESIS.into(),
    };
    steps.push(Step {
        name: "the audit row's hash",
        before_ns: time(&mut || {
            black_box(black_box(&audit).hash_through_value());
        }),
        after_ns: time(&mut || {
            black_box(black_box(&audit).hash());
        }),
    });

    let dir = tempfile::tempdir()?;
    let conn = crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Normal)?;
    let doctor = users::insert(
        &conn,
        &InsertUser {
            username: "doctor",
            name: "Dr Example",
            role: Role::Doctor,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$\
                            aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            date_of_birth: None,
            blood_group: None,
        },
    )?;
    // The writer looks accounts up inside its batch's transaction.
    let tx = conn.unchecked_transaction()?;
    steps.push(Step {
        name: "the other participant's account",
        before_ns: time(&mut || {
            black_box(users::by_id(&tx, black_box(&doctor.id)).ok());
        }),
        after_ns: time(&mut || {
            black_box(peers::lookup(&tx, black_box(&doctor.id)).ok());
        }),
    });
    steps.push(Step {
        name: "statement cache lookup (SELECT by clientId)",
        before_ns: time(&mut || {
            black_box(
                tx.prepare_cached(&format!(
                    "SELECT {} FROM messages WHERE sender_id = ?1 AND client_id = ?2",
                    rows::MESSAGE_COLUMNS
                ))
                .is_ok(),
            );
        }),
        after_ns: time(&mut || {
            black_box(
                tx.prepare_cached(concat!(
                    "SELECT ",
                    rows::message_columns!(),
                    " FROM messages WHERE sender_id = ?1 AND client_id = ?2"
                ))
                .is_ok(),
            );
        }),
    });
    drop(tx);
    drop::<Connection>(conn);
    Ok(steps)
}
