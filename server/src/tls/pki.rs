//! The clinic's own small PKI in `<data>/tls/`: a CA made once (path length 0, long-lived) and a
//! server certificate (leaf) it signs for this machine's names and addresses, re-issued before
//! it expires or when the addresses change. Keys are written 0600 in a 0700 folder, each file
//! replaced atomically, so a crash never leaves half a key.

use super::TlsError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// The CA outlives any installation it is likely to see; paired clients trust it, so replacing it
/// means pairing every device again.
const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// Where the TLS files of a data folder live.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub dir: PathBuf,
}

impl TlsPaths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tls"),
        }
    }
    /// The CA certificate (public; what clients pin).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// The CA's private key: whoever holds it can impersonate the server to every paired client.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// The server certificate followed by the CA certificate (the chain the server sends).
    pub fn leaf_chain(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn leaf_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// The names and addresses a server certificate must cover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names {
    pub dns: BTreeSet<String>,
    pub ips: BTreeSet<IpAddr>,
}

impl Names {
    fn sans(&self) -> Result<Vec<SanType>, TlsError> {
        let mut sans = Vec::new();
        for name in &self.dns {
            let ia5 = name
                .clone()
                .try_into()
                .map_err(|_| TlsError::Invalid(format!("{name:?} is not a valid host name")))?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(self.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        Ok(sans)
    }

    /// Whether every name and address here is also in `other`.
    pub fn covered_by(&self, other: &Names) -> bool {
        self.dns.is_subset(&other.dns) && self.ips.is_subset(&other.ips)
    }
}

/// The clinic CA: its certificate and signing key.
#[derive(Debug)]
pub struct Ca {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    key: KeyPair,
}

/// Loads the CA of a data folder, creating it (and the folder) on first use.
pub fn ensure_ca(paths: &TlsPaths) -> Result<Ca, TlsError> {
    // A restore killed half way may have left the clinic's CA waiting beside the folder: put in
    // place, never replaced by a new one.
    if let Some(data_dir) = paths.dir.parent() {
        super::keep::finish_interrupted(data_dir).map_err(|source| TlsError::Io {
            path: paths.dir.clone(),
            source,
        })?;
    }
    if paths.ca_cert().exists() || paths.ca_key().exists() {
        return load_ca(paths);
    }
    create_dir(&paths.dir)?;
    let key = KeyPair::generate().map_err(TlsError::generate)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Clinic messaging");
    dn.push(
        DnType::CommonName,
        format!("Clinic messaging CA {}", short_id(&key)),
    );
    params.distinguished_name = dn;
    // A CA that may sign server certificates, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = SystemTime::now();
    params.not_before = offset(now - Duration::from_secs(24 * 3600));
    params.not_after = offset(now + CA_VALIDITY);
    let cert = params.self_signed(&key).map_err(TlsError::generate)?;
    // Key first: a CA certificate without its key would be useless, the reverse is recoverable.
    write_private(&paths.ca_key(), key.serialize_pem().as_bytes())?;
    write_private(&paths.ca_cert(), cert.pem().as_bytes())?;
    tracing::info!("created the clinic CA in {}", paths.dir.display());
    Ok(Ca {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key,
    })
}

/// Loads a CA and checks that its key is the certificate's: a pair that does not belong
/// together would sign server certificates no paired app accepts.
pub fn load_ca_checked(paths: &TlsPaths) -> Result<Ca, TlsError> {
    check_ca(&read(&paths.ca_cert())?, &read(&paths.ca_key())?)
        .map_err(|why| TlsError::Invalid(format!("{}: {why}", paths.dir.display())))?;
    load_ca(paths)
}

/// Whether `cert_pem` holds a CA certificate and `key_pem` its own key; why not, in words.
pub fn check_ca(cert_pem: &str, key_pem: &str) -> Result<(), String> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| format!("ca.key holds no usable key: {e}"))?;
    let der = pem_certificates(cert_pem)
        .into_iter()
        .next()
        .ok_or("ca.pem holds no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("ca.pem holds no readable certificate: {e}"))?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err("ca.key is not the key of ca.pem".to_owned());
    }
    Ok(())
}

fn load_ca(paths: &TlsPaths) -> Result<Ca, TlsError> {
    let cert_pem = read(&paths.ca_cert())?;
    let key_pem = read(&paths.ca_key())?;
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| TlsError::Invalid(format!("{}: {e}", paths.ca_key().display())))?;
    let cert_der = pem_certificates(&cert_pem)
        .into_iter()
        .next()
        .ok_or_else(|| {
            TlsError::Invalid(format!(
                "{} holds no certificate",
                paths.ca_cert().display()
            ))
        })?;
    Ok(Ca {
        cert_pem,
        cert_der,
        key,
    })
}

/// Issues a server certificate for `names` valid for `validity`, writes key and chain, and
/// returns the chain (leaf, CA) as DER and the key as PEM.
pub fn issue_leaf(
    paths: &TlsPaths,
    ca: &Ca,
    names: &Names,
    validity: Duration,
) -> Result<(Vec<Vec<u8>>, String), TlsError> {
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.clone().into(), &ca.key)
        .map_err(TlsError::generate)?;
    let key = KeyPair::generate().map_err(TlsError::generate)?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = names.sans()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Clinic messaging");
    dn.push(
        DnType::CommonName,
        names
            .dns
            .iter()
            .next()
            .map_or("clinic server", String::as_str),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = SystemTime::now();
    // A little slack for clients whose clock runs behind.
    params.not_before = offset(now - Duration::from_secs(3600));
    params.not_after = offset(now + validity);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(TlsError::generate)?;
    let key_pem = key.serialize_pem();
    write_private(&paths.leaf_key(), key_pem.as_bytes())?;
    write_private(
        &paths.leaf_chain(),
        format!("{}{}", cert.pem(), ca.cert_pem).as_bytes(),
    )?;
    Ok((vec![cert.der().to_vec(), ca.cert_der.clone()], key_pem))
}

/// What a stored server certificate covers and until when.
#[derive(Debug, Clone)]
pub struct LeafInfo {
    pub names: Names,
    pub not_after: SystemTime,
}

/// Reads the names and expiry of a DER certificate.
pub fn leaf_info(der: &[u8]) -> Result<LeafInfo, TlsError> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| TlsError::Invalid(format!("unreadable certificate: {e}")))?;
    let mut names = Names::default();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => {
                    names.dns.insert((*dns).to_owned());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        names.ips.insert(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let secs = cert.validity().not_after.timestamp();
    let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    Ok(LeafInfo { names, not_after })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Every certificate in a PEM text, as DER, in order.
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|der| der.to_vec())
        .collect()
}

pub(super) fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn create_dir(dir: &Path) -> Result<(), TlsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TlsError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Writes `bytes` to `path` readable by the owner only, replacing any old file atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    // A name of its own, so two writers never rename each other's file away.
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

fn offset(time: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(time)
}

/// A few characters that tell two CAs apart in their names (the pairing code is the real check).
fn short_id(key: &KeyPair) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.public_key_raw())[..4])
}

/// Whether a DER certificate names itself as its issuer (a root).
pub fn self_signed(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert.subject() == cert.issuer())
        .unwrap_or(false)
}
