//! Entry points for fuzzing every decoder a stranger can reach: WebSocket frames, REST bodies and
//! query strings, multipart uploads and the upload sniffer. The cargo-fuzz targets in `fuzz/`
//! call these, and `tests/server/fuzz_corpus.rs` replays the checked-in corpus through them on every
//! `cargo test`. Each panics (a finding) only when the server misbehaves: a panic inside the
//! decoder, a 500 answer to input from the network, or (frames) the one-pass parse disagreeing
//! with serde's derived parser.

use crate::accounts::{self, NewAccount};
use crate::config::Config;
use crate::files::sniff::{self, TextCheck};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use clinic_protocol::Role;
use std::net::SocketAddr;
use tower::ServiceExt;

/// The boundary the multipart target's inputs use (the corpus has examples).
pub const MULTIPART_BOUNDARY: &str = "fuzzboundary";
/// Placeholders in inputs for the harness's patient and doctor ids (which are random), so that
/// inputs can reach past the participant checks.
pub const PATIENT: &str = "u-PATIENT";
pub const DOCTOR: &str = "u-DOCTOR";

/// One WebSocket text frame through the frame parser.
pub fn ws_frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::ws::parse_frame(text, clinic_protocol::limits::MAX_FRAME_BYTES);
        assert!(
            crate::ws::frame_parsers_agree(text),
            "the one-pass frame parse disagrees with serde's on {text:?}"
        );
    }
}

/// An upload's bytes through the sniffer, whole and in small chunks.
pub fn sniff(data: &[u8]) {
    let _ = sniff::binary_type(data);
    let mut text = TextCheck::default();
    for chunk in data.chunks(7) {
        if !text.feed(chunk) {
            break;
        }
    }
    let _ = text.finish();
}

/// The real router on a throwaway data folder, with a patient and a doctor signed in.
#[derive(Debug)]
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    token: String,
    ids: [(String, String); 2],
    _state: AppState,
    _dir: tempfile::TempDir,
}

/// The REST routes whose bodies or query strings the `rest_body` target feeds; the first input
/// byte picks one.
const ROUTES: &[(Method, &str, bool)] = &[
    (Method::POST, "/api/auth/login", true),
    (Method::POST, "/api/chat/messages", true),
    (Method::PATCH, "/api/chat/messages", true),
    (Method::POST, "/api/chat/messages/delivered", true),
    (Method::PATCH, "/api/notifications", true),
    (Method::GET, "/api/chat/messages", false),
    (Method::GET, "/api/sync", false),
    (Method::GET, "/api/emergencies", false),
];

impl Harness {
    /// # Panics
    /// When the throwaway server cannot be set up (a broken build, not a finding).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp folder");
        for (username, role) in [
            ("fuzz.patient", Role::Patient),
            ("fuzz.doctor", Role::Doctor),
        ] {
            accounts::create_user(
                dir.path(),
                NewAccount {
                    username: username.into(),
                    name: username.into(),
                    role,
                    password: "fuzz-password".into(),
                    date_of_birth: None,
                    blood_group: None,
                },
            )
            .expect("an account");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let mut config = Config::new(dir.path().to_path_buf());
        config.synchronous = crate::Synchronous::Normal;
        let state = runtime
            .block_on(async {
                crate::server::open_state(config).map(|(state, _writer, _check)| state)
            })
            .expect("the server state");
        let router = crate::http::router(state.clone());
        let ids = [PATIENT, DOCTOR].map(|placeholder| (placeholder.to_owned(), String::new()));
        let mut harness = Self {
            runtime,
            router,
            token: String::new(),
            ids,
            _state: state,
            _dir: dir,
        };
        let login = br#"{"username":"fuzz.patient","password":"fuzz-password"}"#;
        let (status, body) = harness.call(
            Method::POST,
            "/api/auth/login",
            "application/json",
            login.to_vec(),
        );
        assert_eq!(status, StatusCode::OK, "harness login");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("login JSON");
        harness.token = body["token"].as_str().expect("a token").to_owned();
        let (_, contacts) = harness.call(Method::GET, "/api/contacts", "", Vec::new());
        let contacts: serde_json::Value = serde_json::from_slice(&contacts).expect("contacts");
        let doctor = contacts[0]["id"].as_str().expect("the doctor").to_owned();
        let patient = body["user"]["id"].as_str().expect("the patient").to_owned();
        harness.ids = [(PATIENT.to_owned(), patient), (DOCTOR.to_owned(), doctor)];
        harness
    }

    /// The input with the id placeholders replaced by the real ids.
    fn personalize(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        for (placeholder, id) in &self.ids {
            let (from, to) = (placeholder.as_bytes(), id.as_bytes());
            let mut replaced = Vec::with_capacity(out.len());
            let mut rest = &out[..];
            while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
                replaced.extend_from_slice(&rest[..at]);
                replaced.extend_from_slice(to);
                rest = &rest[at + from.len()..];
            }
            replaced.extend_from_slice(rest);
            out = replaced;
        }
        out
    }

    /// The first byte picks a route; the rest is its JSON body or its query string. Returns
    /// the answer's status.
    pub fn rest_body(&self, data: &[u8]) -> StatusCode {
        let data = self.personalize(data);
        let Some((&pick, rest)) = data.split_first() else {
            return StatusCode::BAD_REQUEST;
        };
        let (method, path, has_body) = &ROUTES[usize::from(pick) % ROUTES.len()];
        let (uri, body) = if *has_body {
            ((*path).to_owned(), rest.to_vec())
        } else {
            (
                format!(
                    "{path}?{}",
                    String::from_utf8_lossy(rest).replace(['#', ' '], "")
                ),
                Vec::new(),
            )
        };
        let (status, _) = self.call(method.clone(), &uri, "application/json", body);
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {uri}");
        status
    }

    /// A multipart upload body (boundary [`MULTIPART_BOUNDARY`]); returns the answer's status.
    pub fn multipart(&self, data: &[u8]) -> StatusCode {
        let content_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
        let body = self.personalize(data);
        let (status, _) = self.call(Method::POST, "/api/chat/upload", &content_type, body);
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "upload");
        status
    }

    fn call(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let Ok(mut request) = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::from(body))
        else {
            // Not a request hyper would ever hand us (e.g. a URI it refuses to parse).
            return (StatusCode::BAD_REQUEST, Vec::new());
        };
        let peer: SocketAddr = ([127, 0, 0, 1], 9).into();
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let Ok(response) = router.oneshot(request).await;
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            (status, bytes)
        })
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
