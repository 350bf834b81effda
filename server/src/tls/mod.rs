//! HTTPS and WSS for the server: which certificate it presents and how that is kept fresh.
//!
//! - `Auto` (the default): the clinic CA in `<data>/tls/` (made at first start, see `pki`) signs
//!   a server certificate for this machine's names and addresses. A check every hour re-issues
//!   it before it expires or when the addresses changed, and swaps it in without a restart:
//!   clients pin the CA, not the certificate, so they never notice.
//! - `Files`: the clinic's own certificate chain and key (`--tls-cert`, `--tls-key`), reloaded
//!   when the files change (e.g. after a renewal by other tooling).
//! - `Off`: plain HTTP, allowed on loopback addresses only (a reverse proxy on the same machine,
//!   tests); see [`check_listen`].
//!
//! One crypto provider (ring) everywhere: [`provider`].

pub mod keep;
mod names;
pub mod pki;

use crate::config::Config;
use clinic_protocol::pairing::PairingCode;
use pki::{Ca, Names, TlsPaths};
use rustls::InconsistentKeys;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// How the server speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// The clinic CA in the data folder and a server certificate it signs (the default).
    Auto,
    /// The clinic's own certificate chain (PEM, server certificate first) and private key.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP: only when every listen address is loopback.
    Off,
}

/// TLS settings of [`Config`].
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub mode: TlsMode,
    /// Extra host names or addresses the server certificate covers (`--tls-name`), e.g. the
    /// name or public address patients at home use to reach the clinic.
    pub names: Vec<String>,
    /// Lifetime of an issued server certificate.
    pub leaf_validity: Duration,
    /// Re-issue a server certificate this long before it expires.
    pub renew_before: Duration,
    /// How often the certificate is checked (expiry, addresses, changed files).
    pub check_interval: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: TlsMode::Auto,
            names: Vec::new(),
            leaf_validity: Duration::from_secs(365 * 24 * 3600),
            renew_before: Duration::from_secs(30 * 24 * 3600),
            check_interval: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a certificate: {0}")]
    Generate(String),
    #[error("{0}")]
    Invalid(String),
    /// The private key given is not the one of the certificate.
    #[error("the private key is not the certificate's (they do not belong together)")]
    KeyMismatch,
}

impl TlsError {
    pub(crate) fn generate(err: impl std::fmt::Display) -> Self {
        Self::Generate(err.to_string())
    }
}

/// The one crypto provider of the server (ring). Installed as the process default by the binary;
/// everything here also names it explicitly, so a build that links two providers still works.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider (call first thing in `main`; a second call
/// is harmless).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Refuses plain HTTP on anything but loopback, with the sentence IT reads.
pub fn check_listen(config: &TlsConfig, addr: SocketAddr) -> Result<(), TlsError> {
    if config.mode == TlsMode::Off && !addr.ip().is_loopback() {
        return Err(TlsError::Invalid(format!(
            "refusing to serve plain HTTP on {addr}: `--tls off` is allowed only on a loopback \
             address (127.0.0.1 or ::1, e.g. behind a reverse proxy on this machine), because \
             anyone on the network could read passwords and health data. Drop `--tls off` or \
             listen on 127.0.0.1."
        )));
    }
    Ok(())
}

/// Makes sure the certificate files exist and are usable for a server on `listen` (the CA, and
/// a fresh server certificate), before the server says it is listening. A no-op with TLS off.
pub fn prepare_files(config: &Config, listen: SocketAddr) -> Result<(), TlsError> {
    ServerTls::prepare(config, listen).map(drop)
}

/// The live TLS state of a running server.
#[derive(Debug)]
pub(crate) struct ServerTls {
    config: Arc<ServerConfig>,
    resolver: Arc<Resolver>,
    source: Source,
}

#[derive(Debug)]
enum Source {
    Auto {
        paths: TlsPaths,
        ca: Box<Ca>,
        listen: IpAddr,
        extra: Vec<String>,
        validity: Duration,
        renew_before: Duration,
    },
    Files {
        cert: PathBuf,
        key: PathBuf,
        stamp: Mutex<Option<(SystemTime, SystemTime)>>,
    },
}

impl ServerTls {
    /// Loads (or first creates) the certificate for a server listening on `listen`; `None` when
    /// TLS is off.
    pub(crate) fn prepare(config: &Config, listen: SocketAddr) -> Result<Option<Self>, TlsError> {
        check_listen(&config.tls, listen)?;
        let tls = &config.tls;
        let (source, key) = match &tls.mode {
            TlsMode::Off => return Ok(None),
            TlsMode::Auto => {
                let paths = TlsPaths::new(&config.data_dir);
                let ca = Box::new(pki::ensure_ca(&paths)?);
                let source = Source::Auto {
                    paths,
                    ca,
                    listen: listen.ip(),
                    extra: tls.names.clone(),
                    validity: tls.leaf_validity,
                    renew_before: tls.renew_before,
                };
                let key = source.fresh_key(true)?.ok_or_else(|| {
                    TlsError::Invalid("no server certificate could be made".into())
                })?;
                (source, key)
            }
            TlsMode::Files { cert, key } => {
                let source = Source::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                    stamp: Mutex::new(None),
                };
                let key = source.fresh_key(true)?.ok_or_else(|| {
                    TlsError::Invalid(format!("{} holds no certificate", cert.display()))
                })?;
                (source, key)
            }
        };
        let resolver = Arc::new(Resolver(RwLock::new(key)));
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // HTTP/1.1 only: WebSocket upgrades and every timeout of the accept loop assume it.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Self {
            config: Arc::new(server),
            resolver,
            source,
        }))
    }

    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Re-issues or reloads the certificate when needed; new connections get the new one.
    pub(crate) fn refresh(&self) -> Result<(), TlsError> {
        if let Some(key) = self.source.fresh_key(false)? {
            *self.resolver.0.write().unwrap_or_else(|e| e.into_inner()) = key;
        }
        Ok(())
    }

    /// Checks the certificate every `interval` for as long as the server runs.
    pub(crate) async fn keep_fresh(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let tls = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || tls.refresh()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "could not renew the server certificate")
                }
                Err(err) => tracing::error!(error = %err, "certificate check failed"),
            }
        }
    }
}

impl Source {
    /// The key to present if it should change (`first`: whatever is current), else `None`.
    fn fresh_key(&self, first: bool) -> Result<Option<Arc<CertifiedKey>>, TlsError> {
        match self {
            Self::Auto {
                paths,
                ca,
                listen,
                extra,
                validity,
                renew_before,
            } => {
                let wanted = names::wanted(*listen, extra);
                let stored = stored_leaf(paths);
                if let Some((chain, key_pem)) = &stored {
                    let reason = renewal_reason(chain, ca, &wanted, *renew_before);
                    match reason {
                        None if first => match certified(chain.clone(), key_pem) {
                            Ok(key) => return Ok(Some(key)),
                            // Its key replaced or damaged: a new one from the clinic CA.
                            Err(e) => tracing::info!("renewing the server certificate: {e}"),
                        },
                        None => return Ok(None),
                        Some(reason) => tracing::info!("renewing the server certificate: {reason}"),
                    }
                }
                let (chain, key_pem) = pki::issue_leaf(paths, ca, &wanted, *validity)?;
                certified(chain, &key_pem).map(Some)
            }
            Self::Files { cert, key, stamp } => {
                let now = (modified(cert)?, modified(key)?);
                let mut last = stamp.lock().unwrap_or_else(|e| e.into_inner());
                if !first && *last == Some(now) {
                    return Ok(None);
                }
                let chain = pki::pem_certificates(&pki::read(cert)?);
                if chain.is_empty() {
                    return Err(TlsError::Invalid(format!(
                        "{} holds no PEM certificate",
                        cert.display()
                    )));
                }
                let loaded = certified(chain, &pki::read(key)?).map_err(|e| match e {
                    TlsError::KeyMismatch => TlsError::Invalid(format!(
                        "{} is not the private key of the certificate in {}: give the key that \
                         was made with that certificate (--tls-key)",
                        key.display(),
                        cert.display()
                    )),
                    other => other,
                })?;
                warn_if_readable_by_others(key);
                if !first {
                    tracing::info!("reloaded the server certificate from {}", cert.display());
                }
                *last = Some(now);
                Ok(Some(loaded))
            }
        }
    }
}

/// The chain and key in the data folder, if both are there and readable.
fn stored_leaf(paths: &TlsPaths) -> Option<(Vec<Vec<u8>>, String)> {
    let chain = pki::pem_certificates(&std::fs::read_to_string(paths.leaf_chain()).ok()?);
    let key = std::fs::read_to_string(paths.leaf_key()).ok()?;
    (!chain.is_empty()).then_some((chain, key))
}

/// Why a stored server certificate must be replaced, or `None` if it is still good.
fn renewal_reason(
    chain: &[Vec<u8>],
    ca: &Ca,
    wanted: &Names,
    renew_before: Duration,
) -> Option<String> {
    if chain.get(1) != Some(&ca.cert_der) {
        return Some("it was not issued by the clinic CA".into());
    }
    let info = match pki::leaf_info(&chain[0]) {
        Ok(info) => info,
        Err(err) => return Some(err.to_string()),
    };
    if info
        .not_after
        .duration_since(SystemTime::now())
        .map_or(true, |left| left < renew_before)
    {
        return Some("it expires soon".into());
    }
    if !wanted.covered_by(&info.names) {
        return Some(format!(
            "the names or addresses changed (now {:?} {:?})",
            wanted.dns, wanted.ips
        ));
    }
    None
}

/// A private key others can read is a server anyone on the machine can impersonate: said in
/// the log at every load (the server still serves: the clinic's IT may have its reasons, and a
/// refusal would stop the clinic).
fn warn_if_readable_by_others(key: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(key)
            && meta.permissions().mode() & 0o004 != 0
        {
            tracing::warn!(
                key = %key.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the TLS private key is readable by every account on this machine; make it \
                 readable by the server's account only (chmod 0640, group clinic, or 0600)"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = key;
}

fn modified(path: &Path) -> Result<SystemTime, TlsError> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })
}

fn certified(chain: Vec<Vec<u8>>, key_pem: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Invalid(format!("unreadable private key: {e}")))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Invalid(format!("unusable private key: {e}")))?;
    let chain = chain.into_iter().map(CertificateDer::from).collect();
    let certified = CertifiedKey::new(chain, signing);
    // A key that is not the certificate's would be served as it is, and every handshake would
    // fail with nothing said here: a silent outage.
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch),
        Err(e) => Err(TlsError::Invalid(format!("unusable certificate: {e}"))),
    }
}

/// Hands every handshake the current certificate; swapped by [`ServerTls::refresh`].
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// What `clinic-server tls fingerprint` shows.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub code: PairingCode,
    /// The certificate the code is of.
    pub source: PathBuf,
    /// A QR code of `clinic://pair?code=...` drawn with Unicode half blocks.
    pub qr: String,
}

/// The pairing code of the CA clients should pin: the clinic CA of `data_dir` (created if the
/// server never ran), or with `own_cert` the last certificate of that chain file.
pub fn fingerprint(data_dir: &Path, own_cert: Option<&Path>) -> Result<Fingerprint, TlsError> {
    let (der, source) = match own_cert {
        None => {
            let paths = TlsPaths::new(data_dir);
            (pki::ensure_ca(&paths)?.cert_der, paths.ca_cert())
        }
        Some(path) => {
            let chain = pki::pem_certificates(&pki::read(path)?);
            let top = chain.last().cloned().ok_or_else(|| {
                TlsError::Invalid(format!("{} holds no PEM certificate", path.display()))
            })?;
            if chain.len() == 1 && !pki::self_signed(&top) {
                return Err(TlsError::Invalid(format!(
                    "{} holds only the server's own certificate, not the CA that issued it. \
                     Append the CA certificate to the file so clients can pair with it, or have \
                     clients trust the operating system's certificates instead \
                     (`clinic login --system-roots`).",
                    path.display()
                )));
            }
            (top, path.to_owned())
        }
    };
    let code = PairingCode::of_certificate(&der);
    let qr = qrcode::QrCode::new(format!("clinic://pair?code={}", code.as_str()))
        .map(|qr| {
            qr.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        })
        .map_err(|e| TlsError::Invalid(format!("cannot draw the QR code: {e}")))?;
    Ok(Fingerprint { code, source, qr })
}
