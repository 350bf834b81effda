//! TLS to the clinic's server, pinned to the clinic's CA.
//!
//! A client trusts one thing per server ([`Trust`]): the CA certificate it pinned when it was
//! paired (the user typed the pairing code, or was shown the server's code and confirmed it), or,
//! for a server with a certificate from a public CA, the operating system's roots. From that one
//! [`client_config`] is built and shared by REST (reqwest) and the WebSocket (tokio-tungstenite).
//! A server that cannot prove it holds a certificate from the pinned CA is refused with
//! [`ClientError::NotYourServer`]; there is never a fallback to anything weaker. Plain `http://`
//! is allowed to this computer only ([`check_plain_http`]).

use crate::error::{ClientError, Result};
use base64::Engine;
use clinic_protocol::pairing::PairingCode;
use reqwest::Url;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client trusts for one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Trust {
    /// The clinic CA certificate pinned at pairing (DER, base64).
    Pinned { ca: String },
    /// The operating system's trusted roots (a server certificate from a public CA).
    SystemRoots,
}

impl Trust {
    pub fn pinned(ca_der: &[u8]) -> Self {
        Self::Pinned {
            ca: base64::engine::general_purpose::STANDARD.encode(ca_der),
        }
    }

    /// The pairing code of the pinned CA.
    pub fn code(&self) -> Option<PairingCode> {
        match self {
            Self::Pinned { ca } => base64::engine::general_purpose::STANDARD
                .decode(ca)
                .ok()
                .map(|der| PairingCode::of_certificate(&der)),
            Self::SystemRoots => None,
        }
    }
}

/// How a login decides what to trust when the profile has no pin for the server yet (and what
/// it checks against the pin when it has one).
#[derive(Debug, Clone)]
pub enum Pairing {
    /// Use the pin saved in the profile; fail with [`ClientError::NotPaired`] if there is none.
    Saved,
    /// The pairing code the user typed (from `clinic-server tls fingerprint`).
    Code(String),
    /// The server's CA as fetched by [`fetch_server_ca`], after the user compared its code and
    /// confirmed it.
    Confirmed(ServerCa),
    /// Trust the operating system's roots (a certificate from a public CA).
    SystemRoots,
}

impl Pairing {
    /// The code a person entered, if any (blank counts as none), else the saved pin.
    pub fn from_pin(pin: Option<&str>) -> Self {
        match pin.map(str::trim).filter(|p| !p.is_empty()) {
            Some(code) => Self::Code(code.to_owned()),
            None => Self::Saved,
        }
    }
}

/// The CA a server presented, and its pairing code to show a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCa {
    der: Vec<u8>,
    code: PairingCode,
}

impl ServerCa {
    pub fn code(&self) -> &PairingCode {
        &self.code
    }
    pub fn trust(&self) -> Trust {
        Trust::pinned(&self.der)
    }
}

/// The one rustls crypto provider of the client (ring), named explicitly so a build that links
/// two providers still works.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider. Every binary calls this first thing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Refuses `http://` to anything but this computer: passwords and health data must not cross a
/// network in the clear.
pub fn check_plain_http(url: &Url) -> Result<()> {
    if url.scheme() != "http" {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "{url} uses plain http://, which is allowed only to this computer (127.0.0.1, ::1, \
             localhost); use https:// for the clinic's server"
        )))
    }
}

/// The TLS settings REST and WebSocket share for a server trusted as `trust`.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Pinned { ca } => {
            let der = base64::engine::general_purpose::STANDARD
                .decode(ca)
                .map_err(|_| ClientError::Invalid("the saved server pin is damaged".into()))?;
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| ClientError::Invalid(format!("the saved server pin: {e}")))?;
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| ClientError::Invalid(format!("the saved server pin: {e}")))?;
            Arc::new(PinnedVerifier { inner })
        }
        Trust::SystemRoots => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ClientError::Invalid(
                    "this computer has no trusted root certificates to check the server with"
                        .into(),
                ));
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ClientError::Invalid(format!("the system's root certificates: {e}")))?
        }
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Invalid(format!("TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // The server speaks HTTP/1.1 only (WebSocket upgrades need it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Verifies the server's chain against the pinned CA only. A certificate from that CA whose
/// names miss the address used (the server got a new address from DHCP since its certificate
/// was issued) is still the clinic's server: the pin identifies it, not the address. Anything
/// else (another CA, a bad signature, a broken chain) is refused.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // webpki checks the chain and signatures before the name, so only the name failed.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Connects to an `https://` server only to see which CA it presents (the last certificate of
/// the chain it sends), so its pairing code can be checked or shown. The handshake is broken
/// off before any request: nothing is sent to a server that is not trusted yet.
pub async fn fetch_server_ca(server_url: &str) -> Result<ServerCa> {
    let url = crate::api::normalize_base(server_url)?;
    if url.scheme() != "https" {
        return Err(ClientError::Invalid(format!(
            "{url} is not an https:// address; only https servers are paired"
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| ClientError::Invalid(format!("{url} names no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let name = ServerName::try_from(host.clone())
        .map_err(|e| ClientError::Invalid(format!("{host}: {e}")))?;
    let recorder = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        provider: provider(),
    });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Invalid(format!("TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let probe = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        // The recorder refuses every certificate, so this always ends in an error.
        let _ = connector.connect(name, tcp).await;
        Ok::<_, std::io::Error>(())
    };
    let unreachable = |why: String| crate::api::unreachable(&url, why);
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .map_err(|_| {
            unreachable(format!(
                "no answer within {} seconds",
                PROBE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| match crate::api::io_reason(&url, &e) {
            Some(why) => unreachable(why),
            None if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
                unreachable(format!("the name {host} was not found"))
            }
            None => unreachable(format!("{e}")),
        })?;
    let chain = std::mem::take(&mut *recorder.chain.lock().unwrap_or_else(|e| e.into_inner()));
    match chain.len() {
        // No TLS at all (a plain web server, another service): not a clinic server.
        0 => Err(crate::api::not_clinic_server(&url)),
        1 => Err(ClientError::Invalid(
            "the server sent only its own certificate and no CA to pair with; if it has a \
             certificate from a public authority, trust the system's certificates instead"
                .into(),
        )),
        _ => {
            let der = chain.last().cloned().unwrap_or_default();
            let code = PairingCode::of_certificate(&der);
            Ok(ServerCa { der, code })
        }
    }
}

/// A verifier for [`fetch_server_ca`]: keeps the chain and refuses it.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = chain;
        Err(rustls::Error::General(
            "certificate recorded for pairing".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The pin to use for `server` (normalized base URL) given what the profile holds for it
/// (`saved`), the CAs it trusts at other addresses (`known`), and what the user asked for. `None`
/// for plain `http://` to this computer.
pub(crate) async fn resolve(
    server: &Url,
    saved: Option<Trust>,
    known: &[Trust],
    pairing: Pairing,
) -> Result<Option<Trust>> {
    check_plain_http(server)?;
    if server.scheme() == "http" {
        return Ok(None);
    }
    if let Some(saved) = saved {
        let agrees = match (&pairing, &saved) {
            (Pairing::Saved, _) | (Pairing::SystemRoots, Trust::SystemRoots) => true,
            (Pairing::Code(code), _) => {
                let code = PairingCode::parse(code)?;
                saved.code().as_ref() == Some(&code)
            }
            (Pairing::Confirmed(ca), _) => ca.trust() == saved,
            (Pairing::SystemRoots, Trust::Pinned { .. }) => false,
        };
        return match (agrees, &pairing) {
            (true, _) => Ok(Some(saved)),
            // A code typed that is not the one this profile paired with: nothing was asked of
            // the server, and the pairing stands.
            (false, Pairing::Code(_)) => Err(ClientError::PairedWithAnother),
            (false, _) => Err(ClientError::NotYourServer),
        };
    }
    match pairing {
        Pairing::Saved => {
            let presented = fetch_server_ca(server.as_str()).await?;
            // The clinic paired with at another address (IT moved the server, or it is reached
            // by another name): its CA is known, and the connection that follows checks the
            // server's certificate against it, which a server without its key cannot pass.
            if known.contains(&presented.trust()) {
                return Ok(Some(presented.trust()));
            }
            Err(ClientError::NotPaired {
                code: presented.code.to_string(),
            })
        }
        Pairing::Code(code) => {
            let code = PairingCode::parse(&code)?;
            let presented = fetch_server_ca(server.as_str()).await?;
            if presented.code == code {
                Ok(Some(presented.trust()))
            } else {
                Err(ClientError::CodeMismatch)
            }
        }
        Pairing::Confirmed(ca) => Ok(Some(ca.trust())),
        Pairing::SystemRoots => Ok(Some(Trust::SystemRoots)),
    }
}

/// The error a failed TLS handshake means to a person, if it was about the server's identity.
/// The rustls error may sit anywhere down the chain, also inside nested `io::Error`s (as
/// hyper-util and tokio-rustls wrap it).
pub(crate) fn identity_error(err: &(dyn std::error::Error + 'static)) -> Option<ClientError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<rustls::Error>().and_then(classify) {
            return Some(found);
        }
        current = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            },
            None => err.source(),
        };
    }
    None
}

fn classify(err: &rustls::Error) -> Option<ClientError> {
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => Some(ClientError::CertificateExpired),
        rustls::Error::InvalidCertificate(_) => Some(ClientError::NotYourServer),
        _ => None,
    }
}

/// A WebSocket connect error as a sentence, with identity problems in their own words.
pub(crate) fn describe_ws_error(err: &tokio_tungstenite::tungstenite::Error) -> String {
    ws_identity_error(err).map_or_else(|| err.to_string(), |found| found.to_string())
}

/// The identity problem (not the clinic's server, an expired certificate) a WebSocket connect
/// error is, if it is one.
pub(crate) fn ws_identity_error(
    err: &tokio_tungstenite::tungstenite::Error,
) -> Option<ClientError> {
    use tokio_tungstenite::tungstenite::error::{Error, TlsError};
    if let Error::Tls(TlsError::Rustls(rustls)) = err
        && let Some(found) = classify(rustls)
    {
        return Some(found);
    }
    identity_error(err)
}
