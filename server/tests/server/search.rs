//! `GET /api/search/messages` through the real server: what matches (case, accents, prefixes,
//! hyphenated drug names, parts of words, phrases, exclusions, filters, time zones), who sees
//! what (participants only, filtered before the limit, admins refused), paging while messages
//! arrive, snippets as text, and every refusal.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Account, TestServer, clinic};
use futures_util::StreamExt;
use serde_json::{Value, json};

async fn send(
    server: &TestServer,
    from: &Account,
    patient: &Account,
    doctor: &Account,
    text: &str,
) {
    let body = json!({"patientId": patient.id(), "doctorId": doctor.id(), "content": text});
    let (status, m) = server.post(&from.token, "/api/chat/messages", body).await;
    assert_eq!(status, 201, "{m}");
}

fn path(q: &str, extra: &str) -> String {
    let mut url = reqwest::Url::parse("https://x/api/search/messages").unwrap();
    url.query_pairs_mut().append_pair("q", q);
    format!("{}?{}{extra}", url.path(), url.query().unwrap())
}

/// The contents found for `q`, newest first.
async fn found(server: &TestServer, who: &Account, q: &str) -> Vec<String> {
    let (status, page) = server.get(&who.token, &path(q, "")).await;
    assert_eq!(status, 200, "{q}: {page}");
    contents(&page)
}

fn contents(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn words_phrases_parts_and_exclusions_match_as_people_expect() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (p, d) = (&c.pat1, &c.doc1);
    for text in [
        "Take Amoxicillin-Clavulanate 500 mg twice a day",
        "The rash on my arm is worse",
        "Frau Müller called about her Blutdruck",
        "blood pressure 140/90 this morning",
        "pressure in the blood tests was fine",
    ] {
        send(&server, p, p, d, text).await;
    }
    // Case and prefixes.
    assert_eq!(
        found(&server, d, "AMOX").await,
        ["Take Amoxicillin-Clavulanate 500 mg twice a day"]
    );
    // Accents both ways.
    assert_eq!(
        found(&server, d, "muller").await,
        ["Frau Müller called about her Blutdruck"]
    );
    assert_eq!(
        found(&server, d, "Mülle").await,
        ["Frau Müller called about her Blutdruck"]
    );
    // A hyphenated drug name as typed, and a part of a word.
    assert_eq!(found(&server, p, "amoxicillin-clav").await.len(), 1);
    assert_eq!(found(&server, p, "~clavul").await.len(), 1);
    assert_eq!(
        found(&server, p, "~DRUCK").await,
        ["Frau Müller called about her Blutdruck"]
    );
    // A phrase is exact and in order; words are not.
    assert_eq!(
        found(&server, p, "\"blood pressure\"").await,
        ["blood pressure 140/90 this morning"]
    );
    assert_eq!(found(&server, p, "blood pressure").await.len(), 2);
    assert_eq!(
        found(&server, p, "blood -tests").await,
        ["blood pressure 140/90 this morning"]
    );
    // Nothing typed is query syntax.
    assert!(found(&server, p, "rash OR NEAR(x) \"").await.is_empty());
    assert_eq!(
        found(&server, p, "rash arm").await,
        ["The rash on my arm is worse"]
    );
}

#[tokio::test]
async fn only_the_callers_own_conversations_even_past_the_limit() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    // Sixty matches in another doctor's conversation, one in doc1's.
    send(&server, &c.pat1, &c.pat1, &c.doc1, "headache since monday").await;
    for i in 0..60 {
        send(
            &server,
            &c.pat2,
            &c.pat2,
            &c.doc2,
            &format!("headache day {i}"),
        )
        .await;
    }
    let (status, page) = server
        .get(&c.doc1.token, &path("headache", "&limit=1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(contents(&page), ["headache since monday"]);
    assert!(page["nextCursor"].is_null(), "{page}");
    // Patients see only their own.
    assert_eq!(
        found(&server, &c.pat1, "headache").await,
        ["headache since monday"]
    );
    assert_eq!(found(&server, &c.pat2, "headache").await.len(), 20);
    // Asking for someone else's conversation by id is refused.
    let other = format!("&patientId={}&doctorId={}", c.pat2.id(), c.doc2.id());
    let (status, body) = server.get(&c.doc1.token, &path("headache", &other)).await;
    assert_eq!(status, 403, "{body}");
    // One's own conversation by id works.
    let mine = format!("&patientId={}&doctorId={}", c.pat1.id(), c.doc1.id());
    let (status, page) = server.get(&c.doc1.token, &path("headache", &mine)).await;
    assert_eq!((status, contents(&page).len()), (200, 1));
    // An admin has no conversations to search.
    let admin = server.account("it-admin", Role::Admin).await;
    let (status, body) = server.get(&admin.token, &path("headache", "")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("admin"),
        "{body}"
    );
    // No token, no search.
    let response = server
        .http
        .get(server.url(&path("headache", "")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn filters_by_sender_person_day_and_time_zone() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    send(
        &server,
        &c.pat1,
        &c.pat1,
        &c.doc1,
        "fever 39 from the patient",
    )
    .await;
    send(
        &server,
        &c.doc1,
        &c.pat1,
        &c.doc1,
        "fever: take paracetamol",
    )
    .await;
    send(
        &server,
        &c.pat1,
        &c.pat1,
        &c.doc2,
        "fever again, second opinion",
    )
    .await;
    assert_eq!(found(&server, &c.pat1, "fever from:me").await.len(), 2);
    assert_eq!(
        found(&server, &c.pat1, "fever from:@doc1").await,
        ["fever: take paracetamol"]
    );
    assert_eq!(
        found(&server, &c.pat1, "fever in:@doc2").await,
        ["fever again, second opinion"]
    );
    assert!(
        found(&server, &c.pat1, "fever from:@nobody")
            .await
            .is_empty()
    );
    // Filters alone are a search.
    assert_eq!(
        found(&server, &c.doc1, "from:me").await,
        ["fever: take paracetamol"]
    );

    // Days are the searcher's: 26 hours apart, Kiribati and Baker Island never share a date.
    let now = chrono::Utc::now();
    let kiribati = (now + chrono::Duration::hours(14)).date_naive();
    let q = format!("fever on:{kiribati}");
    let (_, east) = server
        .get(&c.pat1.token, &path(&q, "&tzOffsetMinutes=840"))
        .await;
    let (_, west) = server
        .get(&c.pat1.token, &path(&q, "&tzOffsetMinutes=-720"))
        .await;
    assert_eq!((contents(&east).len(), contents(&west).len()), (3, 0));
    let q = format!("fever before:{kiribati}");
    assert!(
        contents(
            &server
                .get(&c.pat1.token, &path(&q, "&tzOffsetMinutes=840"))
                .await
                .1
        )
        .is_empty()
    );
    let q = format!("fever after:{}", kiribati.pred_opt().unwrap());
    assert_eq!(
        contents(
            &server
                .get(&c.pat1.token, &path(&q, "&tzOffsetMinutes=840"))
                .await
                .1
        )
        .len(),
        3
    );
}

#[tokio::test]
async fn pages_have_no_gaps_or_duplicates_while_messages_arrive() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    for i in 0..25 {
        send(
            &server,
            &c.pat1,
            &c.pat1,
            &c.doc1,
            &format!("insulin dose {i}"),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = server
            .get(
                &c.doc1.token,
                &path("insulin", &format!("&limit=10{cursor}")),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        seen.extend(contents(&page));
        // New messages arrive between pages: they are newer than the cursor.
        send(&server, &c.pat1, &c.pat1, &c.doc1, "insulin again").await;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("insulin dose {i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn by_rank_the_best_matches_come_first_in_one_page() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (p, d) = (&c.pat1, &c.doc1);
    let long = "a newer mention of metformin among a great many other words in this message";
    // Oldest first. BM25 puts the short message that says it three times first, then the two
    // equal ones (newest first), then the long one.
    for text in [
        "metformin refill",
        "metformin metformin: the metformin dose",
        "nothing about it",
        "metformin refill",
        long,
    ] {
        send(&server, p, p, d, text).await;
    }
    let (status, page) = server
        .get(&p.token, &path("metformin", "&order=rank&limit=3"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        contents(&page),
        [
            "metformin metformin: the metformin dose",
            "metformin refill",
            "metformin refill"
        ]
    );
    let seqs: Vec<i64> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs[1] > seqs[2],
        "equal scores come newest first: {seqs:?}"
    );
    // One page only: scores move as messages arrive, so a cursor could skip or repeat.
    assert!(page["nextCursor"].is_null(), "{page}");
    // Newest first stays the default, and pages on.
    let (_, page) = server.get(&p.token, &path("metformin", "&limit=3")).await;
    assert_eq!(contents(&page)[0], long);
    assert!(page["nextCursor"].is_string(), "{page}");
    // Nothing to rank (only a part of a word): newest first, the filters as ever.
    let (status, page) = server.get(&p.token, &path("~tformi", "&order=rank")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(contents(&page).len(), 4);
    assert_eq!(contents(&page)[0], long);
    // Another patient's messages never rank.
    let (_, page) = server
        .get(&c.pat2.token, &path("metformin", "&order=rank"))
        .await;
    assert!(contents(&page).is_empty(), "{page}");
    // An unknown order is refused with a sentence.
    let (status, body) = server
        .get(&p.token, &path("metformin", "&order=best"))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn snippets_are_text_with_utf16_highlights() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    send(
        &server,
        &c.pat1,
        &c.pat1,
        &c.doc1,
        "𝄞 <b>rash</b> <script>x</script>",
    )
    .await;
    let (_, page) = server.get(&c.doc1.token, &path("rash", "")).await;
    let snippet = &page["results"][0]["snippet"];
    assert_eq!(snippet["text"], "𝄞 <b>rash</b> <script>x</script>");
    assert_eq!(snippet["highlights"], json!([{"start": 6, "end": 10}]));
}

#[tokio::test]
async fn bad_searches_get_a_sentence_and_nothing_else() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let cases: [(&str, &str, u16, &str); 9] = [
        ("  ", "", 400, "Type something to search for."),
        (&"a".repeat(257), "", 413, "too long"),
        (&vec!["w"; 17].join(" "), "", 400, "at most 16"),
        ("-rash", "", 400, "cannot be only -words"),
        ("before:March", "", 400, "before:YYYY-MM-DD"),
        ("~ab", "", 400, "at least 3 letters"),
        ("rash", "&cursor=abc", 400, "cursor"),
        ("rash", "&tzOffsetMinutes=9999", 400, "tzOffsetMinutes"),
        (
            "rash",
            &format!("&patientId={}", c.pat1.id()),
            400,
            "both patientId and doctorId",
        ),
    ];
    for (q, extra, want, says) in cases {
        let (status, body) = server.get(&c.pat1.token, &path(q, extra)).await;
        assert_eq!(status, want, "{q:?}{extra}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{q:?}: {message}");
        assert!(!message.to_lowercase().contains("sqlite") && !message.contains("fts5"));
    }
    let (status, _) = server.get(&c.pat1.token, "/api/search/messages").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn random_queries_only_ever_get_200_400_or_413() {
    // Ten thousand searches as fast as they go: the per-user read rate is not what is tested.
    let server = TestServer::start_with(|config| {
        config.read_rate = clinic_server::config::Rate::new(1e6, 1e6);
    })
    .await;
    let c = clinic(&server).await;
    send(
        &server,
        &c.pat1,
        &c.pat1,
        &c.doc1,
        "a message to find: café 'quoted' \"double\"",
    )
    .await;
    let alphabet: Vec<char> = "ab é-\"~:*^()@.'\\%_0 NEARORAND{}[]\u{0}\u{E000}𝄞"
        .chars()
        .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let queries: Vec<String> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = usize::try_from(x % 24).unwrap() + if x.is_multiple_of(97) { 250 } else { 0 };
            (0..len)
                .map(|i| {
                    alphabet[usize::try_from((x >> (i % 50)) + i as u64).unwrap() % alphabet.len()]
                })
                .collect()
        })
        .collect();
    let statuses: Vec<(u16, String)> = futures_util::stream::iter(queries)
        .map(|q| {
            let (server, token) = (&server, &c.pat1.token);
            async move { (server.get(token, &path(&q, "")).await.0, q) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (status, q) in statuses {
        assert!(matches!(status, 200 | 400 | 413), "{status} for {q:?}");
    }
}

/// A server that finds its search index gone builds it again from the messages while it serves:
/// meanwhile a search answers 503 with a sentence saying how far the rebuild is (never a wrong
/// or partial page), and afterwards finds what the messages say.
#[tokio::test]
async fn a_missing_index_is_rebuilt_while_searches_say_how_far_it_is() {
    let server = TestServer::start().await;
    let c = clinic(&server).await;
    let (p, d) = (&c.pat1, &c.doc1);
    send(&server, p, p, d, "the needle is in the haystack").await;
    let dir = server.stop().await;
    // Enough that the rebuild takes seconds (here about 5 s in a debug build; the benchmark
    // machine's release build, 20 s a million): a search waits at most half a second for it.
    let copies = 600_000;
    clinic_server::testing::copy_newest_message(dir.path(), copies).unwrap();
    clinic_server::testing::remove_search_index(dir.path()).unwrap();

    let server = TestServer::start_in(dir, |_| {}).await;
    let (status, body) = server.get(&d.token, &path("needle", "")).await;
    assert_eq!(status, 503, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("The search index is being rebuilt (") && message.contains("% done)"),
        "{message}"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let page = loop {
        let (status, page) = server.get(&d.token, &path("needle", "")).await;
        if status == 200 {
            break page;
        }
        assert_eq!(status, 503, "{page}");
        assert!(std::time::Instant::now() < deadline, "never rebuilt");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(contents(&page), ["the needle is in the haystack"]);
    // The newest copy, indexed by the rebuild too, and only for its participants.
    let last = format!("haystack {copies}");
    let phrase = format!("\"{last}\"");
    assert_eq!(found(&server, p, &phrase).await, [last]);
    assert!(found(&server, &c.pat2, &phrase).await.is_empty());
}
