//! App registrations: the applications that get tokens from Latchkey, their client secrets,
//! and the permissions they hold.
//!
//! A client secret is 256 random bits. Only its SHA-256 digest is stored, compared in
//! constant time: argon2 would cap token throughput for no gain, since the secret has full
//! entropy and cannot be guessed from a digest.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::ids::TenantId;

/// An application's client id (`appId`, `client_id`, `azp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppId(pub Uuid);

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// Graph application permissions (app roles) Latchkey knows, as Entra names them.
pub const APPLICATION_PERMISSIONS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "User-PasswordProfile.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "AuditLog.Read.All",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "LifecycleWorkflows.Read.All",
    "LifecycleWorkflows.ReadWrite.All",
    "Organization.Read.All",
    "LicenseAssignment.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "Application.Read.All",
    "DelegatedPermissionGrant.Read.All",
];

/// Graph delegated permissions (scopes) Latchkey knows.
pub const DELEGATED_PERMISSIONS: &[&str] = &[
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.AccessAsUser.All",
    "UserAuthenticationMethod.Read",
    "UserAuthenticationMethod.ReadWrite",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "AuditLog.Read.All",
    "Organization.Read.All",
    "LicenseAssignment.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "LifecycleWorkflows.Read.All",
    "LifecycleWorkflows.ReadWrite.All",
];

/// Checks permission names against a catalogue, case-insensitively, and returns them in the
/// catalogue's spelling; the error names the unknown one.
pub fn canonical_permissions(names: &[String], catalogue: &[&str]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let known = catalogue
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                format!(
                    "'{name}' is not a permission Latchkey knows; known: {}",
                    catalogue.join(", ")
                )
            })?;
        if !out.iter().any(|p| p == known) {
            out.push((*known).to_owned());
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub app_id: AppId,
    /// The object id of the app's service principal: `oid`/`sub` of its app-only tokens.
    pub object_id: Uuid,
    pub tenant_id: TenantId,
    pub display_name: String,
    pub redirect_uris: Vec<String>,
    /// No secret: device code and ROPC clients, and single-page or native apps.
    pub public_client: bool,
    pub application_permissions: Vec<String>,
    pub delegated_permissions: Vec<String>,
    /// Application permissions take effect only after an administrator consents.
    pub admin_consent: bool,
    pub secrets: Vec<ClientSecret>,
    /// Certificates whose private keys sign `client_assertion` JWTs (RFC 7523).
    pub certificates: Vec<CertificateCredential>,
    pub created: DateTime<Utc>,
}

impl App {
    /// The application permissions in force: the requested ones, once consented.
    pub fn granted_roles(&self) -> &[String] {
        if self.admin_consent {
            &self.application_permissions
        } else {
            &[]
        }
    }
}

/// A client secret as stored: its id, a hint of its first characters, its digest and its
/// validity. The secret itself is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret {
    pub key_id: Uuid,
    pub display_name: String,
    pub hint: String,
    pub digest: [u8; 32],
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("key_id", &self.key_id)
            .field("hint", &self.hint)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// A new secret: what to store, and the value shown once.
#[derive(Debug)]
pub struct NewSecret {
    pub stored: ClientSecret,
    pub value: SecretString,
}

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// 256 random bits, base64url without padding (43 characters).
pub fn generate_secret(
    display_name: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    rng: &mut (impl RngCore + rand::CryptoRng),
) -> NewSecret {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let value = base64url(&bytes);
    NewSecret {
        stored: ClientSecret {
            key_id: Uuid::new_v4(),
            display_name: display_name.to_owned(),
            hint: value.chars().take(3).collect(),
            digest: digest(&value),
            start,
            end,
        },
        value: SecretString::from(value),
    }
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A certificate credential: the public half of a key the app signs client assertions with.
/// Only public material is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateCredential {
    pub key_id: Uuid,
    pub display_name: String,
    /// SHA-1 of the certificate's DER: the `x5t` clients put in the assertion's header.
    pub thumbprint_sha1: [u8; 20],
    /// SHA-256 of the certificate's DER: `x5t#S256`.
    pub thumbprint_sha256: [u8; 32],
    /// The RSA public key, PKCS#1 DER.
    pub public_key: Vec<u8>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl App {
    /// The certificate a client assertion's header names, by either thumbprint.
    pub fn certificate_by_thumbprint(
        &self,
        sha1: Option<&[u8]>,
        sha256: Option<&[u8]>,
    ) -> Option<&CertificateCredential> {
        self.certificates.iter().find(|c| {
            sha1.is_some_and(|t| t == c.thumbprint_sha1)
                || sha256.is_some_and(|t| t == c.thumbprint_sha256)
        })
    }
}

/// Reads an X.509 certificate (PEM or DER) with an RSA key into a credential; the error says
/// what is wrong with it.
pub fn parse_certificate(
    bytes: &[u8],
    display_name: &str,
) -> Result<CertificateCredential, String> {
    use x509_cert::der::{Decode, DecodePem, Encode};
    let cert = if bytes.starts_with(b"-----BEGIN") {
        x509_cert::Certificate::from_pem(bytes)
    } else {
        x509_cert::Certificate::from_der(bytes)
    }
    .map_err(|e| format!("not an X.509 certificate in PEM or DER: {e}"))?;
    let der = cert
        .to_der()
        .map_err(|e| format!("the certificate does not re-encode: {e}"))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    const RSA: &str = "1.2.840.113549.1.1.1";
    if spki.algorithm.oid.to_string() != RSA {
        return Err("the certificate's key must be RSA (RS256 and PS256 assertions)".into());
    }
    let public_key = spki
        .subject_public_key
        .as_bytes()
        .ok_or("the certificate's public key is malformed")?
        .to_vec();
    let time = |t: x509_cert::time::Time| {
        DateTime::<Utc>::from_timestamp(
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
            0,
        )
        .ok_or_else(|| "the certificate's validity dates are out of range".to_owned())
    };
    let validity = &cert.tbs_certificate.validity;
    Ok(CertificateCredential {
        key_id: Uuid::new_v4(),
        display_name: display_name.to_owned(),
        thumbprint_sha1: sha1::Sha1::digest(&der).into(),
        thumbprint_sha256: Sha256::digest(&der).into(),
        public_key,
        start: time(validity.not_before)?,
        end: time(validity.not_after)?,
    })
}

/// Why a client could not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthFailure {
    /// No secret matches (AADSTS7000215).
    InvalidSecret,
    /// The secret matches but has expired (AADSTS7000222).
    Expired,
}

impl App {
    /// Checks a presented secret against every stored digest, in constant time per digest,
    /// and without stopping at the first match, so timing says nothing about which matched.
    pub fn verify_secret(
        &self,
        presented: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<(), ClientAuthFailure> {
        let d = digest(presented.expose_secret());
        let mut valid = subtle::Choice::from(0);
        let mut expired = subtle::Choice::from(0);
        for s in &self.secrets {
            let matches = s.digest.ct_eq(&d);
            let in_force = subtle::Choice::from(u8::from(now >= s.start && now < s.end));
            valid |= matches & in_force;
            expired |= matches & !in_force;
        }
        if bool::from(valid) {
            Ok(())
        } else if bool::from(expired) {
            Err(ClientAuthFailure::Expired)
        } else {
            Err(ClientAuthFailure::InvalidSecret)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use rand::rngs::OsRng;

    fn app_with(secrets: Vec<ClientSecret>) -> App {
        App {
            app_id: AppId(Uuid::new_v4()),
            object_id: Uuid::new_v4(),
            tenant_id: TenantId::new(),
            display_name: "app".into(),
            redirect_uris: vec![],
            public_client: false,
            application_permissions: vec!["User.Read.All".into()],
            delegated_permissions: vec![],
            admin_consent: false,
            secrets,
            certificates: vec![],
            created: Utc::now(),
        }
    }

    #[test]
    fn a_generated_secret_has_256_bits_and_only_its_digest_is_kept() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let s = generate_secret("ci", now, now + Duration::days(180), &mut OsRng);
        assert_eq!(s.value.expose_secret().len(), 43);
        assert!(
            s.value
                .expose_secret()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(s.stored.digest, digest(s.value.expose_secret()));
        assert_eq!(s.stored.hint, s.value.expose_secret()[..3]);
        assert!(!format!("{:?}", s.stored).contains(s.value.expose_secret()));
        let other = generate_secret("ci", now, now, &mut OsRng);
        assert_ne!(other.value.expose_secret(), s.value.expose_secret());
    }

    #[test]
    fn a_secret_verifies_only_while_in_force() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let s = generate_secret("ci", now, now + Duration::days(1), &mut OsRng);
        let app = app_with(vec![s.stored.clone()]);
        assert_eq!(app.verify_secret(&s.value, now), Ok(()));
        assert_eq!(
            app.verify_secret(&s.value, now + Duration::days(1)),
            Err(ClientAuthFailure::Expired)
        );
        let wrong = SecretString::from("not-the-secret".to_owned());
        assert_eq!(
            app.verify_secret(&wrong, now),
            Err(ClientAuthFailure::InvalidSecret)
        );
    }

    #[test]
    fn a_certificate_credential_keeps_its_thumbprints_key_and_validity() {
        let pem = include_bytes!("testdata/rsa-cert.pem");
        let cert = parse_certificate(pem, "ci").unwrap();
        let hex: String = cert
            .thumbprint_sha1
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        // `openssl x509 -fingerprint -sha1` of the same file.
        assert_eq!(hex, "6E4A4AF015461D828A90253CF11962FE194E17D9");
        assert_eq!(cert.start.format("%Y-%m-%d").to_string(), "2026-11-25");
        assert_eq!(cert.end.format("%Y-%m-%d").to_string(), "2126-11-01");
        assert!(cert.public_key.len() > 256);
        let mut app = app_with(vec![]);
        app.certificates.push(cert.clone());
        assert!(
            app.certificate_by_thumbprint(Some(&cert.thumbprint_sha1), None)
                .is_some()
        );
        assert!(
            app.certificate_by_thumbprint(None, Some(&cert.thumbprint_sha256))
                .is_some()
        );
        assert!(
            app.certificate_by_thumbprint(Some(&[0; 20]), None)
                .is_none()
        );
    }

    #[test]
    fn a_certificate_that_is_not_rsa_or_not_a_certificate_is_refused_in_words() {
        let ec = parse_certificate(include_bytes!("testdata/ec-cert.pem"), "ec").unwrap_err();
        assert!(ec.contains("RSA"), "{ec}");
        let junk = parse_certificate(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "x",
        )
        .unwrap_err();
        assert!(junk.contains("X.509"), "{junk}");
    }

    #[test]
    fn application_permissions_apply_only_after_admin_consent() {
        let mut app = app_with(vec![]);
        assert!(app.granted_roles().is_empty());
        app.admin_consent = true;
        assert_eq!(app.granted_roles(), ["User.Read.All".to_owned()]);
    }

    #[test]
    fn permission_names_are_canonicalised_and_unknown_ones_named() {
        let ok = canonical_permissions(
            &["user.readwrite.all".into(), "User.ReadWrite.All".into()],
            APPLICATION_PERMISSIONS,
        )
        .unwrap();
        assert_eq!(ok, vec!["User.ReadWrite.All"]);
        let err =
            canonical_permissions(&["Mail.Send".into()], APPLICATION_PERMISSIONS).unwrap_err();
        assert!(err.contains("Mail.Send"));
    }
}
