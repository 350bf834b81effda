//! Findings 3 and 5 of the abuse review, and the login items of finding 11, against the real
//! binary on loopback: concurrent wrong passwords cannot get more guesses checked than the
//! limit, a flood of logins keeps the server's memory flat (measured in /proc), a stranger's
//! failures lock only their own (username, address) pair, `Retry-After` is never too short,
//! failed logins and lockouts are logged, one account's valid logins in a loop keep no one else
//! from signing in, and behind a trusted reverse proxy each client has its own counts.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::Role;
use common::{Binary, PASSWORD, accounts, memory};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A client of `server` whose connections come from `address` (any 127.x.y.z is loopback on
/// Linux).
fn from(server: &Binary, address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .use_preconfigured_tls(rustls::ClientConfig::clone(&server.tls))
        .build()
        .unwrap()
}

/// Status and `Retry-After` of one login.
async fn login(
    client: &reqwest::Client,
    server: &Binary,
    username: &str,
    password: &str,
) -> (u16, Option<u64>) {
    let response = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), retry)
}

#[tokio::test]
async fn a_login_flood_gets_few_checks_and_leaves_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("victim", Role::Doctor)]);
    let server = Binary::start(dir.path(), &[]);
    let pid = server.pid();
    // One real login first: the server has hashed a password once, as after any morning.
    let local = from(&server, Ipv4Addr::LOCALHOST);
    assert_eq!(login(&local, &server, "victim", PASSWORD).await.0, 200);
    let before = memory(pid, "VmRSS");

    // 100 wrong passwords for one user at once, from one address: only the limit is checked.
    let guesses = (0..100).map(|i| {
        let (client, server) = (local.clone(), &server);
        async move {
            login(&client, server, "victim", &format!("guess-{i}"))
                .await
                .0
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 100, "{statuses:?}");
    assert!(checked <= 5, "{checked} guesses checked; the limit is 5");

    // 300 logins at once from 300 addresses (no throttle applies): the password checks are
    // bounded, the rest is told to come back, and memory stays flat.
    let flood = (0..300u32).map(|i| {
        let address = Ipv4Addr::new(127, 1, (i / 200) as u8, (i % 200 + 2) as u8);
        let server = &server;
        async move {
            login(
                &from(server, address),
                server,
                &format!("nobody-{i}"),
                "wrong",
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(flood).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let busy = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + busy, 300, "{statuses:?}");
    assert!(checked >= 1, "some were checked");
    assert!(busy >= 1, "a flood is refused beyond the check pool");
    let peak = memory(pid, "VmHWM");
    let after = memory(pid, "VmRSS");
    // Each argon2 check holds about 19 MiB; two run at once, each in memory of its own thread.
    // Unbounded, this flood took the server from 13 MB to 2.1 GB.
    let mib = |b: u64| b / (1024 * 1024);
    assert!(
        peak < before + 100 * 1024 * 1024,
        "peak {} MiB from {} MiB",
        mib(peak),
        mib(before)
    );
    assert!(
        after < before + 80 * 1024 * 1024,
        "{} MiB after, {} MiB before",
        mib(after),
        mib(before)
    );
    let log = server.kill();
    assert!(log.contains("failed login"), "{log}");
    assert!(log.contains("victim"), "{log}");
}

#[tokio::test]
async fn one_accounts_valid_logins_in_a_loop_keep_no_one_else_out() {
    let dir = tempfile::tempdir().unwrap();
    accounts(
        dir.path(),
        &[("alice", Role::Patient), ("dr.patel", Role::Doctor)],
    );
    let server = Binary::start(dir.path(), &[]);
    // Eight loops signing alice in with her own password, from her computer.
    let flooder = from(&server, Ipv4Addr::new(127, 0, 0, 2));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loops: Vec<_> = (0..8)
        .map(|_| {
            let (client, stop) = (flooder.clone(), std::sync::Arc::clone(&stop));
            let url = server.url("/api/auth/login");
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let response = client
                        .post(&url)
                        .json(&json!({"username": "alice", "password": PASSWORD}))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    // Meanwhile a doctor signs in from the ward, again and again: never turned away.
    let ward = from(&server, Ipv4Addr::new(127, 0, 0, 3));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut doctor = Vec::new();
    for _ in 0..15 {
        doctor.push(login(&ward, &server, "dr.patel", PASSWORD).await.0);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut flood = Vec::new();
    for task in loops {
        flood.extend(task.await.unwrap());
    }
    assert!(
        doctor.iter().all(|s| *s == 200),
        "the doctor's tries: {doctor:?}"
    );
    let signed_in = flood.iter().filter(|s| **s == 200).count();
    assert!(
        (20..=23).contains(&signed_in),
        "{signed_in} of alice's {} logins went through; her burst is 20",
        flood.len()
    );
    assert!(flood.iter().all(|s| *s == 200 || *s == 429), "{flood:?}");
    server.kill();
}

/// Status of one login sent through a reverse proxy that says the client was `forwarded_for`.
async fn login_through_proxy(
    client: &reqwest::Client,
    server: &Binary,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> u16 {
    client
        .post(server.url("/api/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_strangers_guesses_lock_out_only_the_stranger() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("dr.patel", Role::Doctor)]);
    // Every request comes from the proxy on this machine: 127.0.0.1.
    for (trusted, doctor_gets_in) in [(true, true), (false, false)] {
        let flags: &[&str] = if trusted {
            &["--trust-forwarded-for"]
        } else {
            &[]
        };
        let server = Binary::start(dir.path(), flags);
        let proxy = from(&server, Ipv4Addr::LOCALHOST);
        // A stranger guesses at made-up names until their address is locked out (the earlier
        // addresses in the header are the client's own word: only the last one counts).
        for i in 0..25 {
            login_through_proxy(
                &proxy,
                &server,
                &format!("10.0.0.{i}, 203.0.113.9"),
                &format!("nobody-{i}"),
                "guess",
            )
            .await;
        }
        assert_eq!(
            login_through_proxy(&proxy, &server, "203.0.113.9", "nobody", "guess").await,
            429,
            "the stranger is locked out"
        );
        let doctor = login_through_proxy(&proxy, &server, "10.1.2.3", "dr.patel", PASSWORD).await;
        assert_eq!(
            doctor == 200,
            doctor_gets_in,
            "trusted {trusted}: the doctor got {doctor}"
        );
        server.kill();
    }
}

#[tokio::test]
async fn a_stranger_cannot_lock_a_doctor_out_of_their_own_pc() {
    let dir = tempfile::tempdir().unwrap();
    accounts(dir.path(), &[("dr.house", Role::Doctor)]);
    let server = Binary::start(dir.path(), &[]);
    let stranger = from(&server, Ipv4Addr::new(127, 0, 0, 2));
    let own_pc = from(&server, Ipv4Addr::new(127, 0, 0, 3));

    // Eight wrong passwords from the stranger's address, one at a time, waiting out each
    // lockout the answer names: the pair's lockout ramps up slowly.
    let mut failures = 0;
    while failures < 8 {
        match login(&stranger, &server, "dr.house", "let me in").await {
            (401, _) => failures += 1,
            (429, Some(wait)) => tokio::time::sleep(Duration::from_secs(wait)).await,
            other => panic!("unexpected {other:?}"),
        }
    }
    // The stranger is locked out, for longer than a second now, and told how long in whole
    // seconds, rounded up: waiting exactly that long is enough.
    let (status, retry) = login(&stranger, &server, "dr.house", PASSWORD).await;
    assert_eq!(status, 429);
    let retry = retry.unwrap();
    assert!(retry >= 1);
    // The doctor, at their own PC, is not.
    assert_eq!(login(&own_pc, &server, "dr.house", PASSWORD).await.0, 200);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(
        login(&stranger, &server, "dr.house", PASSWORD).await.0,
        200,
        "Retry-After {retry} s was too short"
    );
    let log = server.kill();
    assert!(log.contains("127.0.0.2"), "the address is logged: {log}");
    assert!(
        log.contains("login locked out for this username from this address"),
        "{log}"
    );
}
