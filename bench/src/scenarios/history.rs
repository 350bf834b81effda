//! S6: history. A conversation with 100,000 messages: fetch the latest 50 repeatedly, then page
//! back through all of it 50 at a time with `before`, over REST as the app does.

use super::{Clinic, Env};
use crate::frames::Msg;
use crate::report::{Latency, emit, round3};
use anyhow::{Context, bail};
use clinic_server::bulk;
use serde_json::json;
use std::collections::HashSet;
use std::time::Instant;

const PAGE: usize = 50;

async fn fetch(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    before: Option<&str>,
) -> anyhow::Result<(Vec<Msg>, u64)> {
    let mut request = http.get(url).bearer_auth(token);
    if let Some(id) = before {
        request = request.query(&[("before", id)]);
    }
    let started = Instant::now();
    let response = request.send().await?;
    if !response.status().is_success() {
        bail!("history page: HTTP {}", response.status());
    }
    let page: Vec<Msg> = response.json().await?;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    Ok((page, us))
}

pub async fn run(env: &Env, messages: usize, latest_repeats: usize) -> anyhow::Result<()> {
    let clinic = Clinic::new(1, 1)?;
    let (patient, doctor) = (&clinic.patients[0], &clinic.doctors[0]);
    let seeding = Instant::now();
    bulk::seed_conversation(clinic.path(), &patient.user, &doctor.user, messages)?;
    let seed_s = seeding.elapsed().as_secs_f64();
    let server = clinic.start(env)?;
    let http = server.endpoint.http_client()?;
    let url = format!(
        "{}/api/chat/messages?patientId={}&doctorId={}&limit={PAGE}",
        server.endpoint.base_url(),
        patient.user.id,
        doctor.user.id
    );

    let mut latest = Latency::new();
    for _ in 0..latest_repeats {
        let (page, us) = fetch(&http, &url, &patient.token, None).await?;
        anyhow::ensure!(page.len() == PAGE.min(messages), "short latest page");
        latest.record(us);
    }

    let mut pages = Latency::new();
    let mut seen = HashSet::with_capacity(messages);
    let mut before: Option<String> = None;
    let mut last_seq = i64::MAX;
    let mut out_of_order = 0usize;
    let walk = Instant::now();
    loop {
        let (page, us) = fetch(&http, &url, &doctor.token, before.as_deref()).await?;
        pages.record(us);
        let Some(oldest) = page.first() else { break };
        // Pages are oldest first; walking back, every page must be older than the last.
        for m in page.iter().rev() {
            if m.seq >= last_seq {
                out_of_order += 1;
            }
            last_seq = m.seq;
            seen.insert(m.id.clone());
        }
        before = Some(oldest.id.clone());
        if page.len() < PAGE {
            break;
        }
        if pages.count() as usize > messages / PAGE + 10 {
            bail!("paging did not end");
        }
    }
    let walk_s = walk.elapsed().as_secs_f64();
    let rss = server.rss_kib().context("server rss")?;
    let mut fields = super::fields(env);
    fields.insert("messages".into(), json!(messages));
    fields.insert("seed_s".into(), json!(round3(seed_s)));
    fields.insert("latest50".into(), latest.summary());
    fields.insert("page50".into(), pages.summary());
    fields.insert("full_walk_s".into(), json!(round3(walk_s)));
    fields.insert("distinct_seen".into(), json!(seen.len()));
    fields.insert("out_of_order".into(), json!(out_of_order));
    fields.insert("rss_kib".into(), json!(rss));
    emit("s6", fields, env.out.as_deref())?;
    server.stop()
}
