//! HTTPS on the server: plain HTTP to the TLS port gets no data; `--tls off` refuses a
//! non-loopback address; the server certificate is renewed from the same CA without a restart
//! (and when the names change across one, or its stored key is not its own); the clinic's own
//! certificate files work, and with a key not the certificate's the server does not start;
//! `tls fingerprint` prints the code of the CA clients pin.
#![allow(clippy::unwrap_used)]

use crate::common;

use clinic_protocol::pairing::PairingCode;
use clinic_server::tls::pki::{TlsPaths, ensure_ca, leaf_info, pem_certificates};
use common::{TestServer, WAIT, tls_config};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn server_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clinic-server"))
}

/// The certificate chain a TLS handshake with `addr` presents, trusting `tls`.
async fn presented(addr: &str, tls: Arc<rustls::ClientConfig>) -> Vec<Vec<u8>> {
    common::tls_stream(addr, &tls)
        .await
        .get_ref()
        .1
        .peer_certificates()
        .unwrap()
        .iter()
        .map(|c| c.to_vec())
        .collect()
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_data() {
    let server = TestServer::start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: clinic\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let read = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("the server closes the connection");
    // Closed (EOF or reset), never an answer: not even a TLS alert.
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
    // HTTPS on the same port works.
    let (status, _) = common::split(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

#[test]
fn tls_off_is_refused_on_a_network_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = server_bin()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--init", "--tls", "off", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`--tls off` is allowed only on a loopback address"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "it never listened"
    );
}

#[tokio::test]
async fn tls_off_on_loopback_serves_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::Spawned(
        server_bin()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--init", "--tls", "off", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap();
    let status = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(
        !dir.path().join("tls").exists(),
        "no certificates are made when TLS is off"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn the_server_certificate_is_renewed_from_the_same_ca_without_a_restart() {
    let server = TestServer::start_with(|config| {
        // Every check finds the certificate too close to its end: renewal after renewal.
        config.tls.leaf_validity = Duration::from_secs(2 * 24 * 3600);
        config.tls.renew_before = Duration::from_secs(3 * 24 * 3600);
        config.tls.check_interval = Duration::from_millis(200);
    })
    .await;
    let addr = server.addr.to_string();
    let first = presented(&addr, Arc::clone(&server.tls)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let second = loop {
        let now = presented(&addr, Arc::clone(&server.tls)).await;
        if now[0] != first[0] {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "never renewed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Same CA, and the client that trusts only that CA accepted the new one (the handshake
    // above verified it).
    assert_eq!(first[1], second[1]);
    let (status, _) = server.get("", "/healthz").await;
    assert_eq!(status, 200);
}

/// A new, empty clinic in `dir` (or the one already there).
fn spawn(dir: &Path, extra: &[&str]) -> (common::Spawned, String) {
    common::spawn_server(dir, &[&["--init"], extra].concat())
}

#[tokio::test]
async fn new_names_get_a_new_certificate_from_the_same_ca_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn(dir.path(), &[]);
    let tls = tls_config(dir.path());
    let before = presented(&addr, Arc::clone(&tls)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let ca_file = std::fs::read(dir.path().join("tls/ca.pem")).unwrap();

    let (mut child, addr) = spawn(dir.path(), &["--tls-name", "clinic.example.org,10.9.8.7"]);
    let after = presented(&addr, tls).await;
    assert_ne!(before[0], after[0]);
    assert_eq!(before[1], after[1], "the same CA");
    assert_eq!(
        std::fs::read(dir.path().join("tls/ca.pem")).unwrap(),
        ca_file
    );
    let names = leaf_info(&after[0]).unwrap().names;
    assert!(names.dns.contains("clinic.example.org"), "{names:?}");
    assert!(
        names.ips.contains(&"10.9.8.7".parse().unwrap()),
        "{names:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn key_files_are_private_and_the_fingerprint_is_the_ca_code() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        server_bin()
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    // A folder with no clinic gets no CA (a mistyped --data-dir must not print a new code).
    let out = run(&["tls", "fingerprint"]);
    assert!(!out.status.success());
    assert!(!dir.path().join("tls").exists());
    assert!(run(&["init"]).status.success());
    let out = run(&["tls", "fingerprint"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = ensure_ca(&TlsPaths::new(dir.path())).unwrap();
    let code = PairingCode::of_certificate(&ca.cert_der).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&code), "{stdout}");
    assert!(stdout.contains('█'), "a QR code is drawn");
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("tls"), 0o700);
    assert_eq!(mode("tls/ca.key"), 0o600);
    assert_eq!(mode("tls/ca.pem"), 0o600);
}

#[tokio::test]
async fn the_clinics_own_certificate_files_are_served() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let files = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    let (cert, key) = (files.path().join("chain.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    // A key readable by everyone: the log says so.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let log = files.path().join("server.log");
    let mut child = common::Spawned(
        common::serve_command(
            dir.path(),
            &["--init", "--tls-cert", cert_arg, "--tls-key", key_arg],
        )
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap(),
    );
    let addr = common::listening_addr(&mut child);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(clinic_server::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let chain = presented(&addr, tls).await;
    assert_eq!(chain[0], leaf.der().to_vec());
    assert!(
        !dir.path().join("tls").exists(),
        "no clinic CA is made when the clinic brings its own certificate"
    );
    let out = server_bin()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["tls", "fingerprint", "--tls-cert", cert_arg])
        .output()
        .unwrap();
    let code = PairingCode::of_certificate(ca.der()).to_string();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&code));
    assert_eq!(
        pem_certificates(&std::fs::read_to_string(&cert).unwrap()).len(),
        2
    );
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("the TLS private key is readable by every account"),
        "{said}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_stored_server_key_that_is_not_its_certificates_gets_a_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn(dir.path(), &[]);
    let tls = tls_config(dir.path());
    let before = presented(&addr, Arc::clone(&tls)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    // Someone put another key in its place (a restore of half a folder, a slip of IT's).
    let key = TlsPaths::new(dir.path()).leaf_key();
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();

    let (mut child, addr) = spawn(dir.path(), &[]);
    // The handshake verifies the new certificate against the same CA, and its key with it.
    let after = presented(&addr, tls).await;
    assert_ne!(
        before[0], after[0],
        "a new certificate, for a key that fits it"
    );
    assert_eq!(before[1], after[1], "from the same CA");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_clinics_own_certificate_with_a_key_not_its_own_is_refused_at_start() {
    use rcgen::{CertificateParams, KeyPair};
    let files = tempfile::tempdir().unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&leaf_key)
        .unwrap();
    let (cert, key) = (
        files.path().join("chain.pem"),
        files.path().join("other.key"),
    );
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::Spawned(
        common::serve_command(
            dir.path(),
            &[
                "--init",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    // Served as it was, every handshake failed and nothing was said: it must not start at all.
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "it started with a key that cannot serve"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(!out.contains("listening"), "it never listened: {out}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains(&format!(
            "{} is not the private key of the certificate in {}",
            key.display(),
            cert.display()
        )),
        "{err}"
    );
}
