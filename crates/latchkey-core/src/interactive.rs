//! Interactive (browser) sign-in: the records the authorization code flow keeps. A browser
//! session, an authorization code and a user's consent to an app. Sessions and codes are
//! random values held by the browser or the client; only their SHA-256 digests are stored,
//! so that a copy of the database opens no session and redeems no code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::app::AppId;
use crate::ids::{TenantId, UserId};

/// An authorization code is good for ten minutes (Entra: 10), and for one redemption.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// A browser session lasts a working day; revocation ends it sooner.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// A browser's sign-in session, for single sign-on across apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInSessionRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub digest: [u8; 32],
    /// When the user proved who they are: `auth_time`, and compared with the user's
    /// `signInSessionsValidFromDateTime` so that revocation ends the session.
    pub created: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether the sign-in that opened it included a second factor (`amr` `mfa`).
    pub mfa: bool,
}

/// An authorization code as stored, bound to everything the token request must repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub client_id: AppId,
    pub redirect_uri: String,
    /// The S256 PKCE challenge: base64url(SHA-256(code_verifier)).
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// The granted scopes, space-separated, as the token response echoes them.
    pub scopes: String,
    /// The refresh-token family of the tokens issued for this code, revoked on replay.
    pub family_id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub digest: [u8; 32],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub redeemed_at: Option<DateTime<Utc>>,
    /// Whether the sign-in behind the code included a second factor (`amr` `mfa`).
    pub mfa: bool,
}

/// A device code (RFC 8628) lives 15 minutes; clients poll every 5 seconds.
pub const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(15);
pub const DEVICE_POLL_SECONDS: i64 = 5;

/// A device authorization: the device polls with the device code (stored as a digest), the
/// user types the short user code on the device-login page and signs in to approve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub client_id: AppId,
    pub digest: [u8; 32],
    /// What the user types: 8 characters without look-alikes, e.g. `KDTW7P3Q`.
    pub user_code: String,
    pub scopes: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The user who approved, once decided (`None` with `decided_at` set: declined).
    pub user_id: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub auth_time: Option<DateTime<Utc>>,
    pub redeemed_at: Option<DateTime<Utc>>,
}

/// A user code: 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L, vowels).
pub fn random_user_code() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKMNPQRSTVWXZ23456789";
    let mut raw = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// The user code as typed: spaces and dashes dropped, upper-cased.
pub fn normalise_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .take(16)
        .collect()
}

/// A user's consent to an app's delegated permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConsent {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub app_id: AppId,
    /// Consented scopes: OIDC scopes and Graph delegated permissions, canonical spelling.
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// 256 random bits, base64url: the value of a session cookie or an authorization code.
pub fn random_token() -> SecretString {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    SecretString::from(URL_SAFE_NO_PAD.encode(raw))
}

/// The digest under which a random token is stored and looked up.
pub fn token_digest(token: &SecretString) -> [u8; 32] {
    Sha256::digest(token.expose_secret().as_bytes()).into()
}

/// Whether a PKCE challenge is well formed for S256: 43 base64url characters.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.6 for S256, compared in constant time. A verifier must be 43–128 characters
/// of the unreserved set.
pub fn pkce_matches(challenge: &str, verifier: &SecretString) -> bool {
    let v = verifier.expose_secret();
    let well_formed = (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_accepts_the_rfc_7636_example_and_refuses_anything_else() {
        // RFC 7636 appendix B.
        let verifier = SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(pkce_matches(challenge, &verifier));
        let other = SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK".to_owned());
        assert!(!pkce_matches(challenge, &other));
        // The plain method (challenge == verifier) is never accepted.
        assert!(!pkce_matches(verifier.expose_secret(), &verifier));
        assert!(!pkce_matches(
            challenge,
            &SecretString::from("short".to_owned())
        ));
        assert!(!is_s256_challenge("too-short"));
    }

    #[test]
    fn random_tokens_differ_and_only_their_digest_identifies_them() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
        assert_eq!(token_digest(&a), token_digest(&a));
        assert_ne!(token_digest(&a), token_digest(&b));
    }
}
