//! Where the generator reaches a started server: its address and, for clinic-server over TLS
//! (the default, as clinics run it), a rustls config that trusts that server's own clinic CA.

use anyhow::Context;
use clinic_server::tls::pki::{TlsPaths, pem_certificates};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A server's address and how to speak to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// `Some` for `https://`/`wss://` (trusting only the server's clinic CA), `None` for plain.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Endpoint {
    /// The endpoint a `listening on URL` line names; for `https://` the CA in `data_dir` (which
    /// the server wrote before it listened) is the only root trusted.
    pub fn from_listening(url: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let (tls, addr) = if let Some(addr) = url.strip_prefix("https://") {
            (Some(trust_clinic_ca(data_dir)?), addr)
        } else if let Some(addr) = url.strip_prefix("http://") {
            (None, addr)
        } else {
            anyhow::bail!("the server reported an address without a scheme: {url}");
        };
        Ok(Self {
            addr: addr
                .trim_end_matches('/')
                .parse()
                .context("parsing the server address")?,
            tls,
        })
    }

    /// `https://ADDR` or `http://ADDR`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `wss://ADDR{path}` or `ws://ADDR{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// A REST client for this endpoint (30 s timeout).
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(tls) = &self.tls {
            builder = builder.use_preconfigured_tls(rustls::ClientConfig::clone(tls));
        }
        builder.build().context("building the HTTP client")
    }

    /// Whether this endpoint speaks TLS ("tls" in every result).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// A client config whose only root is the clinic CA in `data_dir`: what a paired app trusts.
fn trust_clinic_ca(data_dir: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let path = TlsPaths::new(data_dir).ca_cert();
    let pem = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the clinic CA {}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for der in pem_certificates(&pem) {
        roots
            .add(der.into())
            .context("the clinic CA is not a usable certificate")?;
    }
    let config = rustls::ClientConfig::builder_with_provider(clinic_server::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
