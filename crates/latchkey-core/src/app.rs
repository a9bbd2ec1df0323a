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
    "UserAuthenticationMethod.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "LifecycleWorkflows.ReadWrite.All",
];

/// Graph delegated permissions (scopes) Latchkey knows.
pub const DELEGATED_PERMISSIONS: &[&str] = &[
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.AccessAsUser.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "AuditLog.Read.All",
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
