//! S8: search. A clinic whose conversations hold `messages` messages of made-up but word-like
//! text (a skewed vocabulary, as real text is): two-word searches over HTTPS as patients and
//! doctors (participants only, newest first), `~part` searches, the size of both indexes; the
//! same two-word searches over a client's encrypted cache of `cached` messages; how long the
//! server takes to index the seeded messages; and what the search queue's triggers cost each
//! write (seeding with and without them).

use super::{Clinic, Env};
use crate::report::{Latency, emit, round3};
use anyhow::{Context, bail};
use clinic_client::cache::{Cache, CacheKey, LocalSearch};
use clinic_protocol::{ClientId, Message, MessageId, MessageStatus, MessageType, Seq, User};
use clinic_server::bulk::{self, BulkUser};
use serde_json::json;
use std::time::Instant;

/// Words of the made-up language: a few hundred real ones first (the common end), then
/// syllable compounds, so that a query word matches anything from most messages to a handful.
const REAL: &str = "the and to of a i you it in is for that my with have on this be are not \
    pain doctor take tablet morning night day week today yesterday better worse fever cough \
    headache blood pressure sugar dose twice daily after before food water sleep tired dizzy \
    rash skin itch cream swelling leg arm back chest breath heart test result appointment \
    clinic nurse call please thanks thank question answer medicine pill amoxicillin \
    clavulanate ibuprofen paracetamol insulin metformin allergy asthma inhaler x-ray scan \
    urine sample stomach nausea vomit diarrhea appetite weight child baby pregnant period \
    knee hip shoulder neck eye ear throat nose mouth tooth wound dressing stitches bandage";
const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "pa", "zu", "ko", "be", "ni", "ha", "mo",
    "ri", "te", "lu", "sa", "fe", "go", "wi", "ya",
];
/// Synthetic words after the real ones.
const SYNTHETIC: usize = 20_000;
/// Conversations the messages are spread over (patient `i` talks to doctor `i % doctors`).
const PATIENTS: usize = 200;
const DOCTORS: usize = 20;

/// A small deterministic generator (xorshift64*): the same text on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Words(Vec<String>);

impl Words {
    fn new() -> Self {
        let mut words: Vec<String> = REAL.split_whitespace().map(str::to_owned).collect();
        let n = SYLLABLES.len();
        for i in 0..SYNTHETIC {
            let (a, b, c) = (i % n, (i / n) % n, (i / n / n) % n);
            words.push(format!("{}{}{}", SYLLABLES[a], SYLLABLES[b], SYLLABLES[c]));
        }
        Self(words)
    }

    /// A word, the common ones far more often (about the shape of word frequencies in text).
    fn pick(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = ((self.0.len() as f64) * u * u * u) as usize;
        &self.0[i.min(self.0.len() - 1)]
    }

    fn sentence(&self, rng: &mut Rng) -> String {
        let len = 4 + (rng.next() % 16) as usize;
        (0..len)
            .map(|_| self.pick(rng))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub async fn run(env: &Env, messages: usize, queries: usize, cached: usize) -> anyhow::Result<()> {
    let words = Words::new();
    let clinic = Clinic::new(PATIENTS, DOCTORS)?;
    let per = messages.div_ceil(PATIENTS);
    let seeding = Instant::now();
    seed(&clinic, &words, per, 1)?;
    let seed_s = seeding.elapsed().as_secs_f64();

    let server = clinic.start(env)?;
    let http = server.endpoint.http_client()?;
    let base = format!("{}/api/search/messages", server.endpoint.base_url());
    // The server builds the index of the seeded messages while it serves (`search.db`);
    // searches answer 503 until it is complete.
    let building = Instant::now();
    let index_build_s = loop {
        let response = http
            .get(&base)
            .bearer_auth(&clinic.patients[0].token)
            .query(&[("q", "pain")])
            .send()
            .await?;
        if response.status().is_success() {
            break building.elapsed().as_secs_f64();
        }
        if building.elapsed() > std::time::Duration::from_secs(600) {
            bail!("the search index was not built in ten minutes");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let mut rng = Rng(0x5EED_0001);
    let (mut as_patient, mut as_doctor, mut parts) =
        (Latency::new(), Latency::new(), Latency::new());
    let mut hits = 0usize;
    let mut first_ms = 0.0;
    for i in 0..queries {
        // Half the searches by patients, half by the doctor of the same conversation; both
        // look for two words of a message of theirs, as people remember them.
        let doctor = i % 2 == 1;
        let patient = (i / 2) % PATIENTS;
        let who = if doctor {
            &clinic.doctors[patient % DOCTORS]
        } else {
            &clinic.patients[patient]
        };
        let q = remembered(&words, patient, per, &mut rng);
        let (us, n) = search(&http, &base, who, &q).await?;
        hits += n;
        if i == 0 {
            // The first search also pays for the connection and a cold index: on its own.
            first_ms = us as f64 / 1000.0;
            continue;
        }
        if doctor {
            &mut as_doctor
        } else {
            &mut as_patient
        }
        .record(us);
        if i % 4 == 0 {
            let word = words.pick(&mut rng);
            let part: String = word.chars().skip(1).take(4).collect();
            if part.chars().count() >= 3 {
                let (us, _) = search(&http, &base, who, &format!("~{part}")).await?;
                parts.record(us);
            }
        }
    }
    let notifications = notification_lists(&http, &server, &clinic).await?;
    let rss = server.rss_kib().context("server rss")?;
    server.stop()?;
    let index_kib = index_sizes(clinic.path())?;

    let offline = offline_search(&words, cached, queries)?;
    let write_cost = write_cost(&words)?;

    let mut fields = super::fields(env);
    fields.insert("messages".into(), json!(per * PATIENTS));
    fields.insert("conversations".into(), json!(PATIENTS));
    fields.insert("seed_s".into(), json!(round3(seed_s)));
    fields.insert("index_kib".into(), index_kib);
    fields.insert("index_build_s".into(), json!(round3(index_build_s)));
    fields.insert("two_words_patient".into(), with_p95(&as_patient));
    fields.insert("two_words_doctor".into(), with_p95(&as_doctor));
    fields.insert("part".into(), with_p95(&parts));
    fields.insert("first_search_ms".into(), json!(round3(first_ms)));
    fields.insert(
        "mean_hits".into(),
        json!(round3(hits as f64 / queries.max(1) as f64)),
    );
    fields.insert("notifications".into(), notifications);
    fields.insert("rss_kib".into(), json!(rss));
    fields.insert("offline_cached".into(), json!(cached));
    fields.insert("offline_two_words".into(), with_p95(&offline));
    fields.insert("write_us_per_message".into(), write_cost);
    emit("s8", fields, env.out.as_deref())
}

/// `GET /api/notifications` (a page of everything, and of the unread only) for every doctor
/// (10 conversations each, every message from their patients unread) and as many patients:
/// the notifications of messages are found through each conversation (schema v18).
async fn notification_lists(
    http: &reqwest::Client,
    server: &crate::server::Server,
    clinic: &Clinic,
) -> anyhow::Result<serde_json::Value> {
    let base = format!("{}/api/notifications", server.endpoint.base_url());
    let mut out = serde_json::Map::new();
    for (name, who) in [
        ("doctor", &clinic.doctors[..DOCTORS]),
        ("patient", &clinic.patients[..DOCTORS]),
    ] {
        for unread_only in [false, true] {
            let mut latency = Latency::new();
            for _ in 0..5 {
                for user in who {
                    let started = Instant::now();
                    let response = http
                        .get(&base)
                        .bearer_auth(&user.token)
                        .query(&[("unreadOnly", unread_only)])
                        .send()
                        .await?;
                    let status = response.status();
                    let body: serde_json::Value = response.json().await?;
                    if !status.is_success() || body.as_array().is_none_or(Vec::is_empty) {
                        bail!(
                            "notifications of {}: HTTP {status}: {body}",
                            user.user.username
                        );
                    }
                    latency
                        .record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
                }
            }
            let key = if unread_only { "unread" } else { "all" };
            out.insert(format!("{name}_{key}"), with_p95(&latency));
        }
    }
    Ok(serde_json::Value::Object(out))
}

fn with_p95(latency: &Latency) -> serde_json::Value {
    let mut summary = latency.summary();
    summary["p95_ms"] = json!(latency.ms(0.95));
    summary
}

/// Two words of a random message of `patient`'s conversation (as seeded by [`seed`]).
fn remembered(words: &Words, patient: usize, per: usize, rng: &mut Rng) -> String {
    let target = (rng.next() as usize) % per.max(1);
    let mut seeded = Rng(conversation_seed(1, patient));
    let mut text = String::new();
    for _ in 0..=target {
        text = words.sentence(&mut seeded);
    }
    let said: Vec<&str> = text.split_whitespace().collect();
    let a = said[(rng.next() as usize) % said.len()];
    let b = said[(rng.next() as usize) % said.len()];
    format!("{a} {b}")
}

fn conversation_seed(salt: u64, patient: usize) -> u64 {
    0x5EED_0000 + salt * 1_000_003 + patient as u64
}

/// Seeds `per` messages into each patient's conversation with doctor `i % DOCTORS`.
fn seed(clinic: &Clinic, words: &Words, per: usize, salt: u64) -> anyhow::Result<()> {
    for (i, patient) in clinic.patients.iter().enumerate() {
        let doctor = &clinic.doctors[i % DOCTORS];
        let mut rng = Rng(conversation_seed(salt, i));
        bulk::seed_conversation_with(clinic.path(), &patient.user, &doctor.user, per, |_| {
            words.sentence(&mut rng)
        })?;
    }
    Ok(())
}

async fn search(
    http: &reqwest::Client,
    base: &str,
    who: &BulkUser,
    q: &str,
) -> anyhow::Result<(u64, usize)> {
    let started = Instant::now();
    let response = http
        .get(base)
        .bearer_auth(&who.token)
        .query(&[("q", q)])
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if !status.is_success() {
        bail!("search {q:?}: HTTP {status}: {body}");
    }
    let n = body["results"].as_array().map_or(0, Vec::len);
    if std::env::var_os("S8_DEBUG").is_some() {
        eprintln!(
            "{q:?} -> {n}: {}",
            body.to_string().chars().take(200).collect::<String>()
        );
    }
    Ok((us, n))
}

/// KiB of each search index (words, parts) and of the copy of the texts they were made from
/// (all in `search.db`), and of the messages table, from `dbstat`.
fn index_sizes(dir: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let db = rusqlite::Connection::open(clinic_server::config::db_path(dir))?;
    db.execute(
        "ATTACH DATABASE ?1 AS search",
        [dir.join("search.db").to_string_lossy()],
    )?;
    let kib = |schema: &str, like: &str| -> anyhow::Result<i64> {
        Ok(db.query_row(
            "SELECT coalesce(sum(pgsize), 0) / 1024 FROM dbstat(?1) WHERE name LIKE ?2",
            [schema, like],
            |r| r.get(0),
        )?)
    };
    Ok(json!({
        "words": kib("search", "messages_words%")?,
        "parts": kib("search", "messages_parts%")?,
        "texts": kib("search", "texts")?,
        "messages": kib("main", "messages")?,
    }))
}

/// Two-word searches over a client cache holding `cached` messages of one user.
fn offline_search(words: &Words, cached: usize, queries: usize) -> anyhow::Result<Latency> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::random())?;
    let me = User {
        id: "p-me".into(),
        username: "me".into(),
        name: "Me".into(),
        role: clinic_protocol::Role::Patient,
    };
    let mut rng = Rng(0x0FF1_13E5);
    let now = chrono::Utc::now();
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..cached {
        let seq = i64::try_from(i + 1)?;
        batch.push(Message {
            id: MessageId::from(format!("m{i}")),
            seq: Seq(seq),
            client_id: ClientId::new(format!("c{i}")),
            patient_id: me.id.clone(),
            doctor_id: format!("d{}", i % 5).into(),
            sender_id: if i % 2 == 0 {
                me.id.clone()
            } else {
                format!("d{}", i % 5).into()
            },
            content: words.sentence(&mut rng),
            message_type: MessageType::Regular,
            status: MessageStatus::Read,
            file_url: None,
            file_name: None,
            file_size: None,
            file_type: None,
            is_emergency: false,
            resolved_at: None,
            created_at: now,
            updated_at: now,
            delivered_at: None,
            read_at: None,
            retracted: None,
            edited: None,
            written_at: None,
        });
        if batch.len() == 5_000 {
            cache.store_history(&me.id, std::mem::take(&mut batch))?;
        }
    }
    cache.store_history(&me.id, batch)?;
    let mut latency = Latency::new();
    for _ in 0..queries {
        let q = format!("{} {}", words.pick(&mut rng), words.pick(&mut rng));
        let parsed = clinic_protocol::search::parse(&q)?;
        let started = Instant::now();
        let found = cache.search(
            &me,
            &LocalSearch {
                query: &parsed,
                conversation: None,
                limit: 20,
                before_seq: None,
                tz_offset_minutes: 0,
            },
        )?;
        latency.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        std::hint::black_box(found);
    }
    Ok(latency)
}

/// Microseconds per message written through the server's send path, with the search queue's
/// triggers and without them (dropped in a copy): what search adds to every write (the index
/// itself is built later, by its own thread).
fn write_cost(words: &Words) -> anyhow::Result<serde_json::Value> {
    const PER: usize = 500;
    let mut cost = serde_json::Map::new();
    for with_index in [true, false] {
        let clinic = Clinic::new(PATIENTS, DOCTORS)?;
        if !with_index {
            let db = rusqlite::Connection::open(clinic_server::config::db_path(clinic.path()))?;
            db.execute_batch(
                "DROP TRIGGER search_new; DROP TRIGGER search_changed; DROP TRIGGER search_gone;",
            )?;
        }
        let started = Instant::now();
        seed(&clinic, words, PER, 2)?;
        let us = started.elapsed().as_secs_f64() * 1e6 / (PER * PATIENTS) as f64;
        let key = if with_index {
            "with_index"
        } else {
            "without_index"
        };
        cost.insert(key.into(), json!(round3(us)));
    }
    Ok(serde_json::Value::Object(cost))
}
