//! A man in the middle: a TLS proxy with a certificate of its own (from a CA of its own) that
//! relays everything to the real server, as someone on the clinic's network could set up.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// What the proxy shows the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disguise {
    /// Its own certificate and its own CA.
    OwnCa,
    /// Its own certificate followed by the real clinic CA's certificate (public, so anyone can
    /// copy it), hoping a client checks only which CA is named.
    RealCaCopied,
}

pub struct Mitm {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Mitm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mitm {
    /// Listens on 127.0.0.1:`port` (0: any) and relays to `upstream` (a real server whose CA
    /// is `upstream_ca`).
    pub async fn start(
        port: u16,
        upstream: SocketAddr,
        upstream_ca: Vec<u8>,
        disguise: Disguise,
    ) -> Self {
        let (chain, key) = forged_chain(&upstream_ca, disguise);
        let server = rustls::ServerConfig::builder_with_provider(clinic_client::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(upstream_ca)).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(clinic_client::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let listener = super::bind(port).await;
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, connector) = (acceptor.clone(), connector.clone());
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let name = ServerName::IpAddress(upstream.ip().into());
                    let Ok(mut up) = connector.connect(name, up).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                });
            }
        });
        Self { addr, task }
    }
}

/// A leaf for 127.0.0.1 and localhost from a CA the proxy made itself.
fn forged_chain(
    real_ca: &[u8],
    disguise: Disguise,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let top = match disguise {
        Disguise::OwnCa => ca.der().clone(),
        Disguise::RealCaCopied => CertificateDer::from(real_ca.to_vec()),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    (vec![leaf.der().clone(), top], key)
}
