//! REST calls to the server (reqwest with the rustls config of `tls`, shared with the
//! WebSocket): login, logout, conversations, contacts, catch-up pages, history pages, file
//! uploads and downloads.

use crate::error::{ClientError, Result};
use crate::tls::{self, Trust};
use clinic_protocol::rest::{
    AvailabilityBody, EmergencyDetail, LoginRequest, LoginResponse, MarkReadRequest,
    MessageVersions, ResolveRequest, SearchOrder, SearchPage, SyncPage, UploadResponse,
};
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    Contact, Conversation, ConversationKey, Emergency, EmergencyId, ErrorBody, ErrorCode, Message,
    MessageId, Seq, User, UserId,
};
use reqwest::{RequestBuilder, StatusCode, Url};
use rustls::ClientConfig;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Uploads and downloads of files may take longer than other requests.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The whole login request (connect, TLS, the server's password check): long enough for a
/// busy server on a LAN, short enough that a silent address is reported while the person waits.
pub(crate) const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle pooled connections are dropped before the server's idle timeout (60 s by default) could
/// close one just as a request goes out on it.
const POOL_IDLE: Duration = Duration::from_secs(30);
/// The largest answer read whole (JSON), so a broken or hostile server cannot fill this
/// computer's memory. Pages of messages stop near 1 MiB ([`clinic_protocol::limits::PAGE_BYTES`]);
/// the largest lists are a doctor's conversations, each with its last message whole (10,000 of
/// them at the largest message, 16 KiB, are about 170 MiB) and a message's versions (1,001 at
/// the most edits IT may allow, about 17 MiB).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;
/// The most of an error's body read: the server's `{code, message}` is a few hundred bytes.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// A REST client for one server, optionally carrying a bearer token.
#[derive(Debug, Clone)]
pub struct Api {
    base: Url,
    http: reqwest::Client,
    /// The TLS settings of this server, also used by the WebSocket (`None`: plain http to this
    /// computer).
    tls: Option<Arc<ClientConfig>>,
    token: Option<String>,
}

impl Api {
    /// `server_url` is the server's base, e.g. `https://192.168.1.10:8470`; `trust` is what the
    /// profile pinned for it (required for `https://`; plain `http://` is allowed to this
    /// computer only).
    pub fn new(server_url: &str, trust: Option<&Trust>) -> Result<Self> {
        let base = normalize_base(server_url)?;
        tls::check_plain_http(&base)?;
        let mut builder = reqwest::Client::builder()
            // The server never redirects: one that does (a hostile server, a proxy) would take
            // the request, a password included, past the pin and the plain-http check.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(4))
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(POOL_IDLE);
        let tls = match (base.scheme(), trust) {
            ("https", Some(trust)) => {
                let config = tls::client_config(trust)?;
                builder = builder.use_preconfigured_tls(ClientConfig::clone(&config));
                Some(config)
            }
            ("https", None) => {
                return Err(ClientError::Invalid(format!(
                    "{base} is not paired: log in with its pairing code first"
                )));
            }
            _ => None,
        };
        Ok(Self {
            base,
            http: builder.build()?,
            tls,
            token: None,
        })
    }

    /// The TLS settings the WebSocket must use too.
    pub(crate) fn tls(&self) -> Option<Arc<ClientConfig>> {
        self.tls.clone()
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The WebSocket address (`ws://…/ws` or `wss://…/ws`).
    pub fn ws_url(&self) -> Result<Url> {
        let mut url = self.base.join("ws").map_err(invalid_url)?;
        let scheme = if self.base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        url.set_scheme(scheme)
            .map_err(|()| ClientError::Invalid(format!("cannot make a WebSocket URL of {url}")))?;
        Ok(url)
    }

    /// `POST /api/auth/login`. Every failure is a sentence naming this address: nothing
    /// answered ([`ClientError::Unreachable`]), something that is not a clinic server answered
    /// ([`ClientError::NotClinicServer`], its body never shown), or the server's own refusal.
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginResponse> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let req = self
            .http
            .post(self.url("api/auth/login")?)
            .json(&body)
            .timeout(LOGIN_TIMEOUT);
        let resp = req.send().await.map_err(|e| login_failure(&self.base, e))?;
        // Our server answers JSON, errors included; a web page or another service does not.
        let json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            let status = resp.status();
            // A proxy in front of the clinic server saying it is down, not a wrong address.
            if matches!(status.as_u16(), 502..=504) {
                return Err(unreachable(
                    &self.base,
                    format!(
                        "a proxy there answered that the server behind it is not available \
                         (HTTP {})",
                        status.as_u16()
                    ),
                ));
            }
            return Err(not_clinic_server(&self.base));
        }
        let resp = check(resp).await?;
        read_json(resp)
            .await
            .map_err(|_| not_clinic_server(&self.base))
    }

    /// Revokes the token on the server.
    pub async fn logout(&self) -> Result<()> {
        let resp = self
            .auth(self.http.post(self.url("api/auth/logout")?))
            .send()
            .await?;
        check(resp).await.map(drop)
    }

    /// `GET /api/auth/me`: the account of the token, as the server has it now. A server out of
    /// reach is told in words, as at a sign-in (`clinic whoami` shows it to a person).
    pub async fn me(&self) -> Result<User> {
        let req = self
            .auth(self.http.get(self.url("api/auth/me")?))
            .timeout(LOGIN_TIMEOUT);
        let resp = req.send().await.map_err(|e| login_failure(&self.base, e))?;
        read_json(check(resp).await?).await
    }

    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        self.send(self.auth(self.http.get(self.url("api/chat/conversations")?)))
            .await
    }

    /// The people the caller may message.
    pub async fn contacts(&self) -> Result<Vec<Contact>> {
        self.send(self.auth(self.http.get(self.url("api/contacts")?)))
            .await
    }

    /// `GET /api/patients?q=` (doctors): the clinic's patients whose name contains `q`.
    pub async fn patients(&self, q: &str) -> Result<Vec<Contact>> {
        let req = self.http.get(self.url("api/patients")?).query(&[("q", q)]);
        self.send(self.auth(req)).await
    }

    /// `POST /api/conversations {patientId}` (doctors): opens the conversation with a patient.
    pub async fn start_conversation(&self, patient: &UserId) -> Result<Conversation> {
        let body = clinic_protocol::rest::StartConversationRequest {
            patient_id: patient.clone(),
        };
        let req = self.http.post(self.url("api/conversations")?).json(&body);
        self.send(self.auth(req)).await
    }

    /// One catch-up page after `since`.
    pub async fn sync(&self, since: Seq, limit: Option<u32>) -> Result<SyncPage> {
        let mut req = self
            .http
            .get(self.url("api/sync")?)
            .query(&[("since", since.0.to_string())]);
        if let Some(limit) = limit {
            req = req.query(&[("limit", limit.to_string())]);
        }
        self.send(self.auth(req)).await
    }

    /// A page of one conversation, oldest first, optionally older than `before`. The server
    /// may send fewer than `limit` (large messages); [`HistoryPage::has_more`] says whether
    /// older ones remain.
    pub async fn messages(
        &self,
        conversation: &ConversationKey,
        limit: u32,
        before: Option<&str>,
    ) -> Result<HistoryPage> {
        let mut req = self.http.get(self.url("api/chat/messages")?).query(&[
            ("patientId", conversation.patient_id.as_str()),
            ("doctorId", conversation.doctor_id.as_str()),
            ("limit", &limit.to_string()),
        ]);
        if let Some(before) = before {
            req = req.query(&[("before", before)]);
        }
        let resp = check(self.auth(req).send().await?).await?;
        let has_more = resp
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .any(links_next);
        Ok(HistoryPage {
            messages: read_json(resp).await?,
            has_more,
        })
    }

    /// `GET /api/search/messages`: a page of the caller's messages matching `query`, given up
    /// after `within` when set.
    pub async fn search(
        &self,
        query: &str,
        conversation: Option<&ConversationKey>,
        cursor: Option<&str>,
        tz_offset_minutes: i32,
        order: SearchOrder,
        within: Option<Duration>,
    ) -> Result<SearchPage> {
        let mut req = self.http.get(self.url("api/search/messages")?).query(&[
            ("q", query),
            ("tzOffsetMinutes", &tz_offset_minutes.to_string()),
        ]);
        if let Some(within) = within {
            req = req.timeout(within);
        }
        if order == SearchOrder::Rank {
            req = req.query(&[("order", "rank")]);
        }
        if let Some(key) = conversation {
            req = req.query(&[
                ("patientId", key.patient_id.as_str()),
                ("doctorId", key.doctor_id.as_str()),
            ]);
        }
        if let Some(cursor) = cursor {
            req = req.query(&[("cursor", cursor)]);
        }
        self.send(self.auth(req)).await
    }

    /// `POST /api/emergencies/{id}/acknowledge`: the emergency as the server now has it.
    pub async fn acknowledge(&self, id: &EmergencyId) -> Result<Emergency> {
        let url = self.url(&format!(
            "api/emergencies/{}/acknowledge",
            segment(id.as_str())
        ))?;
        self.send(self.auth(self.http.post(url))).await
    }

    /// `POST /api/emergencies/{id}/resolve {note}`.
    pub async fn resolve(&self, id: &EmergencyId, note: Option<String>) -> Result<Emergency> {
        let url = self.url(&format!("api/emergencies/{}/resolve", segment(id.as_str())))?;
        let body = ResolveRequest { note };
        self.send(self.auth(self.http.post(url).json(&body))).await
    }

    /// `GET /api/chat/messages/{id}/versions`: every version of a message's text.
    pub async fn versions(&self, id: &MessageId) -> Result<MessageVersions> {
        let url = self.url(&format!(
            "api/chat/messages/{}/versions",
            segment(id.as_str())
        ))?;
        self.send(self.auth(self.http.get(url))).await
    }

    /// `GET /api/emergencies/{id}`: the emergency and its history.
    pub async fn emergency(&self, id: &EmergencyId) -> Result<EmergencyDetail> {
        let url = self.url(&format!("api/emergencies/{}", segment(id.as_str())))?;
        self.send(self.auth(self.http.get(url))).await
    }

    /// `GET /api/emergencies[?open=true]`.
    pub async fn emergencies(&self, open_only: bool) -> Result<Vec<Emergency>> {
        let mut req = self.http.get(self.url("api/emergencies")?);
        if open_only {
            req = req.query(&[("open", "true")]);
        }
        self.send(self.auth(req)).await
    }

    /// `GET /api/availability`: the caller's stored availability.
    pub async fn availability(&self) -> Result<Availability> {
        let body: AvailabilityBody = self
            .send(self.auth(self.http.get(self.url("api/availability")?)))
            .await?;
        Ok(body.availability)
    }

    /// `PUT /api/availability`: stores it (doctors only) and answers what is stored.
    pub async fn set_availability(&self, availability: Availability) -> Result<Availability> {
        let req = self
            .http
            .put(self.url("api/availability")?)
            .json(&AvailabilityBody { availability });
        let body: AvailabilityBody = self.send(self.auth(req)).await?;
        Ok(body.availability)
    }

    pub async fn mark_read(&self, request: &MarkReadRequest) -> Result<()> {
        let resp = self
            .auth(
                self.http
                    .patch(self.url("api/chat/messages")?)
                    .json(request),
            )
            .send()
            .await?;
        check(resp).await.map(drop)
    }

    /// `POST /api/chat/upload`: streams `body` (`size` bytes) as the multipart `file` field.
    pub async fn upload(
        &self,
        conversation: &ConversationKey,
        file_name: &str,
        body: reqwest::Body,
        size: u64,
    ) -> Result<UploadResponse> {
        let form = reqwest::multipart::Form::new()
            .text("patientId", conversation.patient_id.as_str().to_owned())
            .text("doctorId", conversation.doctor_id.as_str().to_owned())
            .part(
                "file",
                reqwest::multipart::Part::stream_with_length(body, size)
                    .file_name(file_name.to_owned()),
            );
        let req = self
            .http
            .post(self.url("api/chat/upload")?)
            .multipart(form)
            .timeout(TRANSFER_TIMEOUT);
        self.send(self.auth(req)).await
    }

    /// `GET fileUrl` with the token; the response streams the content. Only URLs on this
    /// server are fetched, so a hostile `fileUrl` cannot send the token elsewhere.
    pub async fn download(&self, file_url: &str) -> Result<reqwest::Response> {
        // `/api/files/…` is relative to the server's base (which may carry a path prefix).
        let url = self.url(file_url.trim_start_matches('/'))?;
        if url.origin() != self.base.origin() {
            return Err(ClientError::Invalid(format!(
                "fileUrl {file_url} is not on this server"
            )));
        }
        let req = self.http.get(url).timeout(TRANSFER_TIMEOUT);
        check(self.auth(req).send().await?).await
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(invalid_url)
    }

    fn auth(&self, req: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        read_json(check(req.send().await?).await?).await
    }
}

/// A success's JSON body, refused past [`MAX_ANSWER_BYTES`].
async fn read_json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let body = read_body(resp, MAX_ANSWER_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| {
        tracing::warn!("the server's answer is not what was asked for: {e}");
        ClientError::BadAnswer {
            why: "it is not what this request is answered with".to_owned(),
        }
    })
}

/// A whole body, refused (and the rest not read) once it passes `cap` bytes.
async fn read_body(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>> {
    let too_large = || ClientError::BadAnswer {
        why: format!(
            "it was larger than {} MiB, which no clinic server sends",
            cap.div_ceil(1024 * 1024)
        ),
    };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns a non-success response into [`ClientError::Server`], reading the server's
/// `{code, message}` when it sent one.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    // Error bodies are small; a larger one is not the server's (and is not read on).
    let text = read_body(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
    let body: Option<ErrorBody> = serde_json::from_slice(&text).ok();
    let code = body.as_ref().map(|b| b.code).unwrap_or(match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::Unknown,
    });
    // Never show what something else put in its body (a web page, a proxy's error).
    let message = body.map(|b| b.message).unwrap_or_else(|| {
        format!(
            "the server answered HTTP {} without saying why",
            status.as_u16()
        )
    });
    Err(ClientError::Server {
        status: status.as_u16(),
        code,
        message,
    })
}

/// A page of `GET /api/chat/messages`.
#[derive(Debug)]
pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Older messages remain (the server's `Link` header names a `rel="next"` page).
    pub has_more: bool,
}

/// Whether a `Link` header (RFC 8288) has a link whose `rel` includes `next`. A plain split on
/// `,` and `;`: the server's targets are percent-encoded, and a server that misleads it costs
/// at most the bounded rounds of `Client::load_history`.
fn links_next(header: &reqwest::header::HeaderValue) -> bool {
    let Ok(header) = header.to_str() else {
        return false;
    };
    header.split(',').any(|link| {
        link.split(';').skip(1).any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        })
    })
}

/// An id as one URL path segment (ids are opaque: never let one add path parts).
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The normalized base URL of a server address as typed (how profiles name servers).
pub fn normalized(server_url: &str) -> Result<String> {
    normalize_base(server_url).map(String::from)
}

pub(crate) fn normalize_base(server_url: &str) -> Result<Url> {
    let trimmed = server_url.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        // TLS is the default: a bare `host:port` means the server's HTTPS port.
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| match e {
        url::ParseError::InvalidIpv4Address => not_whole_ipv4(server_url),
        other => invalid_url(other),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::Invalid(format!(
            "server URL must be http or https: {server_url}"
        )));
    }
    // URL parsers read "10.1" as 10.0.0.1 and "0177.0.0.1" as 127.0.0.1: an address typed
    // short or with leading zeros would lead somewhere other than the person meant.
    if let Some(url::Host::Ipv4(address)) = url.host()
        && typed_host(server_url).trim_end_matches('.') != address.to_string()
    {
        return Err(not_whole_ipv4(server_url));
    }
    // `join` replaces the last path segment unless the base ends with a slash.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The server address a person typed as a profile keeps it once signed in there (see
/// [`login_base`]): what to compare a typed address with.
pub fn login_address(server_url: &str) -> Result<String> {
    login_base(server_url).map(String::from)
}

/// The server address a person typed, as the login uses it: `https://` when no scheme is
/// given and the clinic's default port when no port is given (an explicit `:443` stays).
pub(crate) fn login_base(server_url: &str) -> Result<Url> {
    let mut url = normalize_base(server_url)?;
    // The address of the server's download page, where patients get the app, is the
    // server's: people type what their browser showed.
    if let Some(base) = url
        .path()
        .strip_suffix("/download/")
        .map(|b| format!("{b}/"))
    {
        url.set_path(&base);
    }
    if url.port().is_none() && !names_port(server_url) {
        url.set_port(Some(clinic_protocol::DEFAULT_PORT))
            .map_err(|()| ClientError::Invalid(format!("{url} cannot have a port")))?;
    }
    Ok(url)
}

/// The host and port of a typed address, as typed.
fn typed_host_port(typed: &str) -> &str {
    let rest = typed
        .trim()
        .split_once("://")
        .map_or(typed.trim(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// The host of a typed address, as typed (an IPv6 one with its brackets).
fn typed_host(typed: &str) -> &str {
    let host_port = typed_host_port(typed);
    match host_port.rsplit_once(']') {
        Some((host, _)) => &host_port[..=host.len()],
        None => host_port.split(':').next().unwrap_or_default(),
    }
}

/// Whether the typed address spells out a port (the URL parser drops a scheme's default one).
fn names_port(typed: &str) -> bool {
    let host_port = typed_host_port(typed);
    match host_port.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host_port.contains(':'),
    }
}

/// The address as a person reads it: `https://192.168.1.10:8470`.
pub(crate) fn shown_address(base: &Url) -> String {
    base.as_str().trim_end_matches('/').to_owned()
}

pub(crate) fn not_clinic_server(base: &Url) -> ClientError {
    ClientError::NotClinicServer {
        address: shown_address(base),
    }
}

pub(crate) fn unreachable(base: &Url, why: impl Into<String>) -> ClientError {
    ClientError::Unreachable {
        address: shown_address(base),
        why: why.into(),
    }
}

/// A failed login request in words: why nothing usable answered at `base`.
fn login_failure(base: &Url, err: reqwest::Error) -> ClientError {
    if let Some(identity) = crate::tls::identity_error(&err) {
        return identity;
    }
    if err.is_timeout() {
        return unreachable(
            base,
            format!("no answer within {} seconds", LOGIN_TIMEOUT.as_secs()),
        );
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
            // A TLS handshake that failed for another reason than the certificate: whatever
            // answered does not speak the clinic server's TLS.
            return not_clinic_server(base);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(why) = io_reason(base, io)
        {
            return unreachable(base, why);
        }
        if e.to_string().contains("dns error") {
            return unreachable(
                base,
                format!(
                    "the name {} was not found",
                    base.host_str().unwrap_or_default()
                ),
            );
        }
        source = e.source();
    }
    if err.is_connect() {
        unreachable(base, "no connection could be made")
    } else {
        unreachable(base, "the connection failed")
    }
}

/// Why a connection to `base` failed, for the kinds a person can act on.
pub(crate) fn io_reason(base: &Url, io: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind as K;
    let port = base.port_or_known_default().unwrap_or_default();
    Some(match io.kind() {
        K::ConnectionRefused => format!("nothing is listening on port {port}"),
        K::TimedOut => "no answer".to_owned(),
        K::HostUnreachable | K::NetworkUnreachable => "that computer is not reachable".to_owned(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => {
            "the connection was closed".to_owned()
        }
        _ => return None,
    })
}

fn not_whole_ipv4(typed: &str) -> ClientError {
    ClientError::Invalid(format!(
        "\"{}\" is not a whole IPv4 address: write four numbers from 0 to 255 without leading \
         zeros, like 192.168.1.10",
        typed_host(typed)
    ))
}

fn invalid_url(e: impl std::fmt::Display) -> ClientError {
    ClientError::Invalid(format!("bad server URL: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        crate::tls::install_crypto_provider();
        let api = Api::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(api.base().as_str(), "http://127.0.0.1:8080/");
        assert_eq!(api.ws_url().unwrap().as_str(), "ws://127.0.0.1:8080/ws");
        let api = Api::new("https://clinic.lan/chat", Some(&Trust::SystemRoots)).unwrap();
        assert_eq!(api.ws_url().unwrap().as_str(), "wss://clinic.lan/chat/ws");
        assert!(Api::new("ftp://x", None).is_err());
    }

    #[test]
    fn a_typed_address_gets_https_and_the_default_port() {
        for (typed, base) in [
            ("192.168.1.10", "https://192.168.1.10:8470/"),
            (" clinic.lan/ ", "https://clinic.lan:8470/"),
            ("https://clinic.lan", "https://clinic.lan:8470/"),
            ("clinic.lan:9000", "https://clinic.lan:9000/"),
            ("https://clinic.lan:443", "https://clinic.lan/"),
            ("[fd00::5]", "https://[fd00::5]:8470/"),
            ("[fd00::5]:9000", "https://[fd00::5]:9000/"),
            ("http://127.0.0.1", "http://127.0.0.1:8470/"),
            ("https://clinic.lan/chat", "https://clinic.lan:8470/chat/"),
            ("https://127.0.0.1:8471/download", "https://127.0.0.1:8471/"),
            ("clinic.lan/download/", "https://clinic.lan:8470/"),
            (
                "https://clinic.lan/chat/download",
                "https://clinic.lan:8470/chat/",
            ),
            (
                "clinic.lan/mydownload",
                "https://clinic.lan:8470/mydownload/",
            ),
        ] {
            assert_eq!(login_base(typed).unwrap().as_str(), base, "{typed}");
        }
        assert_eq!(
            shown_address(&login_base("10.0.0.1").unwrap()),
            "https://10.0.0.1:8470"
        );
    }

    #[test]
    fn an_ipv4_address_typed_short_or_with_leading_zeros_is_refused() {
        for typed in [
            "127.0",
            "10.1",
            "192.168.1",
            "https://0177.0.0.1:8470",
            "3232235786",
            "127.000.0.1",
            "10.0.0.256",
        ] {
            let err = login_base(typed).unwrap_err().to_string();
            assert!(
                err.contains("is not a whole IPv4 address"),
                "{typed}: {err}"
            );
        }
        assert!(
            login_base("10.1:9000")
                .unwrap_err()
                .to_string()
                .contains("\"10.1\" is not a whole IPv4 address")
        );
        for userinfo in ["u@10.1", "127.0.0.1@10.1", "HTTPS://10.1:8470/x?y#z"] {
            let err = login_base(userinfo).unwrap_err().to_string();
            assert!(
                err.contains("\"10.1\" is not a whole IPv4 address"),
                "{userinfo}: {err}"
            );
        }
        for whole in [
            "127.0.0.1",
            "http://127.0.0.1:1/",
            "192.168.1.10.",
            "HTTPS://192.168.1.10",
            "[::1]:9000",
            "clinic.lan",
        ] {
            assert!(login_base(whole).is_ok(), "{whole}");
        }
    }

    #[test]
    fn plain_http_only_to_this_computer() {
        for ok in ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"] {
            assert!(Api::new(ok, None).is_ok(), "{ok}");
        }
        for refused in [
            "http://192.168.1.10:8470",
            "http://clinic.lan",
            "http://10.0.0.1",
        ] {
            let err = Api::new(refused, None).unwrap_err();
            assert!(
                err.to_string().contains("plain http://"),
                "{refused}: {err}"
            );
        }
        // https without a pin is not a silent fallback to anything; a bare address means https.
        assert!(Api::new("https://clinic.lan", None).is_err());
        assert!(Api::new("10.0.0.1:8470", None).is_err());
    }

    #[test]
    fn a_link_header_says_whether_a_next_page_exists() {
        let next =
            |value: &str| links_next(&reqwest::header::HeaderValue::from_str(value).unwrap());
        assert!(next(
            r#"<?patientId=p&doctorId=d&limit=50&before=m-1>; rel="next""#
        ));
        assert!(next(r#"<a>; rel="prev", <b>; title="x"; REL=next"#));
        assert!(next(r#"<a>; rel="last next""#));
        assert!(!next(r#"<a>; rel="prev""#));
        assert!(!next(r#"<a>; rel="nextish""#));
        assert!(!next("<a>"));
        assert!(!next(""));
    }
}
