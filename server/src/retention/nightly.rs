//! The server's retention job: at start it finishes what a killed run began, then every night
//! at `Config::retention_at` (03:00 server time unless `serve --retention-at`) it purges what
//! the policy says may go, a batch per writer turn so live sends are never held up for long.
//! Participants (and every doctor, when emergencies went) online at the time are told at once
//! (`conversation:purged`); every other device learns it at its next sync.

use super::{Mode, Policy, Step};
use crate::state::AppState;
use crate::store::retention as sql;
use chrono::{Local, NaiveTime, TimeDelta};
use clinic_protocol::{Role, ServerFrame};
use std::time::Duration;

pub(crate) async fn run(state: AppState, policy: Policy) {
    pass(&state, policy, Mode::ResumeOnly).await;
    loop {
        tokio::time::sleep(until_next_run(state.config.retention_at)).await;
        pass(&state, policy, Mode::Full).await;
    }
}

fn until_next_run(at: NaiveTime) -> Duration {
    let now = Local::now().naive_local();
    let mut next = now.date().and_time(at);
    if next <= now {
        next += TimeDelta::days(1);
    }
    (next - now).to_std().unwrap_or(Duration::from_secs(3600))
}

/// Steps until there is nothing left to do (or the store fails: the next night tries again).
pub(crate) async fn pass(state: &AppState, policy: Policy, mode: Mode) {
    // What may be due is read once, on a read connection: it reads every message, and the
    // writer must not stall live sends for it. Each start is checked again in the writer.
    let mut keys = if mode == Mode::Full {
        match state.store.retention_due(policy).await {
            Ok(keys) => keys,
            Err(err) => {
                tracing::error!(error = %err, "retention run stopped; it resumes at the next run");
                return;
            }
        }
    } else {
        Vec::new()
    };
    loop {
        let done = state.store.retention_step(policy, mode, keys).await;
        let (purge, batch) = match done {
            Ok((Step::Idle, _)) => return,
            Ok((Step::Began(_), rest)) => {
                keys = rest;
                continue;
            }
            Ok((Step::Stopped(purge), rest)) => {
                keys = rest;
                // What it removed before it stopped is gone: devices are told as for any purge.
                announce(state, purge).await;
                continue;
            }
            Ok((Step::Removed { purge, batch }, rest)) => {
                keys = rest;
                (purge, batch)
            }
            Err(err) => {
                tracing::error!(error = %err, "retention run stopped; it resumes at the next run");
                return;
            }
        };
        if !batch.doomed.is_empty() {
            remove_doomed_files(state, Some(batch.doomed)).await;
        }
        if batch.finished {
            announce(state, purge).await;
        }
    }
}

/// Removes the files a committed purge batch doomed (`only`), or at start, before the server
/// serves, every file still listed (retention on or off: a crash between a purge's or a
/// retraction's commit and the removal must not leak them).
pub(crate) async fn remove_doomed_files(state: &AppState, only: Option<Vec<String>>) {
    match state
        .store
        .remove_doomed_files(state.config.data_dir.clone(), only)
        .await
    {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "retention: removed the files of purged messages"),
        Err(err) => {
            tracing::error!(
                error = %err,
                "retention: purged files stay until the next start or `retention run`"
            );
        }
    }
}

/// Logs the finished purge (counts, never content) and tells the participants online now.
async fn announce(state: &AppState, purge: sql::Unfinished) {
    let Some((told, removed)) = state.store.purge_outcome(purge.id).await.ok().flatten() else {
        return;
    };
    tracing::info!(
        patient = %purge.key.patient_id,
        doctor = %purge.key.doctor_id,
        messages = removed,
        emergencies = told.emergency_ids.len(),
        "retention: removed a conversation's messages"
    );
    // An emergency that went while waiting for a doctor must stop ringing everywhere.
    state.emergencies.gone(&told.emergency_ids);
    // As sync tells it: the two participants, and every doctor when emergencies went (every
    // doctor holds every emergency).
    let everyone = !told.emergency_ids.is_empty();
    let frame = ServerFrame::ConversationPurged(told);
    if everyone {
        state.hub.to_role(Role::Doctor, &frame);
        state.hub.to_users(&[&purge.key.patient_id], &frame, None);
    } else {
        state
            .hub
            .to_users(&[&purge.key.patient_id, &purge.key.doctor_id], &frame, None);
    }
}
