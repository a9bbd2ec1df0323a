//! TLS material. Microsoft's clients only talk to https authorities, so TLS is on by
//! default: on first start Latchkey creates a local certificate authority in
//! `<data-dir>/tls/` and, on every start, a server certificate signed by it for the names
//! clients use (`localhost`, `127.0.0.1`, `::1` and the public URL's host). Clients trust
//! `ca.pem`; the CA key never leaves the data directory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// PEM certificate chain and key to serve, plus the CA file clients should trust (when we
/// made it).
#[derive(Debug)]
pub struct TlsMaterial {
    pub cert_chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub ca_path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("TLS set-up failed: {0}")]
pub struct TlsError(String);

fn err(context: &str) -> impl Fn(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError(format!("{context}: {e}"))
}

fn io(context: String) -> impl Fn(std::io::Error) -> TlsError {
    move |e| TlsError(format!("{context}: {e}"))
}

/// Writes a file readable only by its owner (private keys).
fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(io(format!("cannot write {}", path.display())))?;
    f.write_all(contents)
        .map_err(io(format!("cannot write {}", path.display())))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Latchkey Local CA");
    dn.push(DnType::OrganizationName, "Latchkey");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Loads the local CA from `dir`, creating it on first use.
fn local_ca(dir: &Path) -> Result<(rcgen::Certificate, KeyPair, PathBuf), TlsError> {
    let ca_path = dir.join("ca.pem");
    let key_path = dir.join("ca-key.pem");
    if key_path.exists() && ca_path.exists() {
        let key_pem = fs::read_to_string(&key_path)
            .map_err(io(format!("cannot read {}", key_path.display())))?;
        let key = KeyPair::from_pem(&key_pem).map_err(err("the CA key is unreadable"))?;
        // Re-creating the CA certificate object from the same name and key gives an issuer
        // whose signatures verify against the ca.pem that clients already trust.
        let ca = ca_params().self_signed(&key).map_err(err("CA"))?;
        return Ok((ca, key, ca_path));
    }
    let key = KeyPair::generate().map_err(err("CA key generation"))?;
    let mut params = ca_params();
    let now = Utc::now();
    params.not_before = rcgen::date_time_ymd(now.year(), 1, 1);
    params.not_after = rcgen::date_time_ymd(now.year() + 10, 1, 1);
    let ca = params.self_signed(&key).map_err(err("CA"))?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    fs::write(&ca_path, ca.pem()).map_err(io(format!("cannot write {}", ca_path.display())))?;
    Ok((ca, key, ca_path))
}

/// A server certificate for `hosts`, signed by the data directory's local CA.
pub fn generated(data_dir: &Path, hosts: &[String]) -> Result<TlsMaterial, TlsError> {
    let dir = data_dir.join("tls");
    fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let (ca, ca_key, ca_path) = local_ca(&dir)?;

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().map_or("localhost", String::as_str),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = hosts
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => h
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(err("host name")),
        })
        .collect::<Result<_, _>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let yesterday = Utc::now() - Duration::days(1);
    let expiry = yesterday + Duration::days(397);
    params.not_before = rcgen::date_time_ymd(
        yesterday.year(),
        month(yesterday.month()),
        day(yesterday.day()),
    );
    params.not_after =
        rcgen::date_time_ymd(expiry.year(), month(expiry.month()), day(expiry.day()));
    let key = KeyPair::generate().map_err(err("server key generation"))?;
    let cert = params
        .signed_by(&key, &ca, &ca_key)
        .map_err(err("server certificate"))?;
    let key_pem = key.serialize_pem();
    let chain = format!("{}{}", cert.pem(), ca.pem());
    fs::write(dir.join("server.pem"), &chain).map_err(io(format!(
        "cannot write {}",
        dir.join("server.pem").display()
    )))?;
    write_private(&dir.join("server-key.pem"), key_pem.as_bytes())?;
    Ok(TlsMaterial {
        cert_chain_pem: chain.into_bytes(),
        key_pem: key_pem.into_bytes(),
        ca_path: Some(ca_path),
    })
}

fn month(m: u32) -> u8 {
    u8::try_from(m).unwrap_or(1)
}

fn day(d: u32) -> u8 {
    u8::try_from(d).unwrap_or(1)
}

/// The operator's own certificate chain and key.
pub fn provided(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    Ok(TlsMaterial {
        cert_chain_pem: fs::read(cert).map_err(io(format!("cannot read {}", cert.display())))?,
        key_pem: fs::read(key).map_err(io(format!("cannot read {}", key.display())))?,
        ca_path: None,
    })
}
