//! Authentication methods beyond the password: an authenticator app (TOTP, RFC 6238), a
//! recovery e-mail address, and one-time recovery codes. The pure parts live here: the
//! records the store keeps, code generation and checking. The operations that register,
//! verify and remove methods are in `directory::auth_methods`.
//!
//! A TOTP secret is stored only sealed under the server's master key (purpose
//! [`TOTP_SEAL_PURPOSE`]); a recovery code only as a digest bound to its user.

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

use crate::ids::{TenantId, UserId};

/// The purpose a TOTP secret is sealed under, so a sealed secret cannot be moved to another use.
pub const TOTP_SEAL_PURPOSE: &str = "totp";
/// RFC 6238's defaults, which every authenticator app understands: HMAC-SHA-1, 6 digits, 30 s.
pub const TOTP_DIGITS: usize = 6;
pub const TOTP_STEP_SECONDS: i64 = 30;
/// 160-bit secrets, as RFC 4226 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// How many recovery codes one generation makes.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code: no look-alikes (0/O, 1/I/L), 32 of them, so 16 characters
/// carry 80 bits.
const RECOVERY_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const RECOVERY_CODE_CHARS: usize = 16;

/// What kind of method a record is, with Graph's names for the resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// `#microsoft.graph.softwareOathAuthenticationMethod`: an authenticator app (TOTP).
    SoftwareOath,
    /// `#microsoft.graph.emailAuthenticationMethod`: a recovery e-mail address.
    Email,
}

impl MethodKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SoftwareOath => "softwareOath",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "softwareOath" => Some(Self::SoftwareOath),
            "email" => Some(Self::Email),
            _ => None,
        }
    }

    /// How the method is named to people (audit details, pages).
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::SoftwareOath => "Authenticator app",
            Self::Email => "Email",
        }
    }
}

/// A user's authentication method as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthMethodRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub kind: MethodKind,
    /// For an e-mail method the address; for an authenticator app the name shown for it.
    pub display: String,
    /// The TOTP secret sealed under the master key (`None` for other kinds).
    pub sealed_secret: Option<Vec<u8>>,
    pub created: DateTime<Utc>,
    /// When registration finished. `None`: a TOTP registration still waiting for the user's
    /// first code; such a method signs nobody in.
    pub activated: Option<DateTime<Utc>>,
    /// The last TOTP time step accepted; a code of this step or an earlier one is a replay.
    pub last_used_step: Option<i64>,
}

impl AuthMethodRecord {
    pub fn is_active(&self) -> bool {
        self.activated.is_some()
    }
}

impl std::fmt::Debug for AuthMethodRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthMethodRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("display", &self.display)
            .field("created", &self.created)
            .field("activated", &self.activated)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// How many recovery codes a user has, and since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryCodeStatus {
    /// When the current set was generated; `None` if the user never generated any.
    pub generated: Option<DateTime<Utc>>,
    pub total: u32,
    pub unused: u32,
}

/// A fresh TOTP secret from the OS CSPRNG.
pub fn generate_totp_secret() -> SecretBox<[u8; TOTP_SECRET_BYTES]> {
    let mut raw = [0u8; TOTP_SECRET_BYTES];
    OsRng.fill_bytes(&mut raw);
    SecretBox::new(Box::new(raw))
}

/// The secret as authenticator apps take it typed in: base32 without padding.
pub fn totp_secret_base32(secret: &[u8]) -> SecretString {
    match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(s) => SecretString::from(s.trim_end_matches('=').to_owned()),
        Secret::Raw(_) => SecretString::from(String::new()),
    }
}

/// A base32 secret as typed or imported (any case, spaces and padding ignored); `None` when
/// it is not base32 or carries fewer than 128 bits (RFC 4226's minimum).
pub fn parse_totp_secret_base32(typed: &str) -> Option<SecretBox<Vec<u8>>> {
    let clean: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let raw = Secret::Encoded(clean).to_bytes().ok()?;
    (raw.len() >= 16).then(|| SecretBox::new(Box::new(raw)))
}

/// The time step of an instant.
pub fn totp_step(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(TOTP_STEP_SECONDS)
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        TOTP_STEP_SECONDS as u64,
        secret.to_vec(),
    )
    .ok()
}

/// The code of a time step; for tests and for checking.
pub fn totp_code(secret: &[u8], step: i64) -> Option<String> {
    let t = totp(secret)?;
    let time = u64::try_from(step.checked_mul(TOTP_STEP_SECONDS)?).ok()?;
    Some(t.generate(time))
}

/// The time step whose code `code` is, among the step of `now` and one step either side
/// (RFC 6238's recommended allowance for clock drift). Every candidate is computed and
/// compared in constant time, whatever matches. Spaces in the typed code are ignored.
pub fn matching_totp_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != TOTP_DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = totp_step(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let expected = totp_code(secret, step)?;
        if bool::from(expected.as_bytes().ct_eq(typed.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app scans: issuer and account in the label and the
/// issuer again as a parameter, as Google Authenticator's key-URI format asks.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &SecretString) -> SecretString {
    // RFC 3986's unreserved characters stay as they are; everything else is escaped.
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, ESCAPED).to_string();
    SecretString::from(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
        enc(issuer),
        enc(account),
        secret_base32.expose_secret(),
        enc(issuer),
    ))
}

/// Ten fresh recovery codes, as shown to the user (`ABCD-EFGH-JKMN-PQRS`).
pub fn generate_recovery_codes() -> Vec<SecretString> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut s = String::with_capacity(RECOVERY_CODE_CHARS + 3);
            for i in 0..RECOVERY_CODE_CHARS {
                if i > 0 && i % 4 == 0 {
                    s.push('-');
                }
                let c = RECOVERY_ALPHABET[OsRng.gen_range(0..RECOVERY_ALPHABET.len())];
                s.push(char::from(c));
            }
            SecretString::from(s)
        })
        .collect()
}

/// Whether typed text has the shape of a recovery code (rather than a TOTP code).
pub fn looks_like_recovery_code(typed: &str) -> bool {
    normalize_recovery_code(typed).len() == RECOVERY_CODE_CHARS
}

fn normalize_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The digest a recovery code is stored under: SHA-256 over the user's id and the code
/// without dashes, spaces or case, so a typed code in any of those forms matches, and a
/// digest says nothing about another user's codes. 80 random bits need no slow hash.
pub fn recovery_code_digest(user: UserId, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"latchkey/recovery-code/v1:");
    h.update(user.as_uuid().as_bytes());
    h.update(b":");
    h.update(normalize_recovery_code(code).as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// RFC 6238, appendix B: the SHA-1 test vectors (8 digits there; the last 6 here).
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(
                totp_code(secret, time / TOTP_STEP_SECONDS).unwrap(),
                eight[2..]
            );
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = generate_totp_secret();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 10).unwrap();
        let step = totp_step(now);
        for s in [step - 1, step, step + 1] {
            let code = totp_code(secret.expose_secret(), s).unwrap();
            assert_eq!(
                matching_totp_step(secret.expose_secret(), &code, now),
                Some(s)
            );
        }
        for s in [step - 2, step + 2] {
            let code = totp_code(secret.expose_secret(), s).unwrap();
            // A code of a step two away may collide with a near one by chance (1 in 10^6).
            let found = matching_totp_step(secret.expose_secret(), &code, now);
            assert!(found.is_none() || found.is_some_and(|f| (f - step).abs() <= 1));
        }
        assert_eq!(
            matching_totp_step(secret.expose_secret(), "12345", now),
            None
        );
        assert_eq!(
            matching_totp_step(secret.expose_secret(), "12a456", now),
            None
        );
    }

    #[test]
    fn the_base32_secret_and_uri_are_what_authenticator_apps_read() {
        let b32 = totp_secret_base32(b"12345678901234567890");
        assert_eq!(b32.expose_secret(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = parse_totp_secret_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(back.expose_secret().as_slice(), b"12345678901234567890");
        assert!(parse_totp_secret_base32("not base32!").is_none());
        assert!(parse_totp_secret_base32("GEZDGNBV").is_none(), "too short");
        let uri = otpauth_uri("Contoso", "ann@contoso.test", &b32);
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/Contoso:ann%40contoso.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Contoso&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_match_in_any_typed_form() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        let user = UserId::new();
        let mut digests: Vec<_> = codes
            .iter()
            .map(|c| recovery_code_digest(user, c.expose_secret()))
            .collect();
        digests.sort_unstable();
        digests.dedup();
        assert_eq!(digests.len(), 10);
        let code = codes[0].expose_secret();
        assert_eq!(code.len(), 19);
        assert!(looks_like_recovery_code(code));
        let sloppy = code.replace('-', " ").to_lowercase();
        assert_eq!(
            recovery_code_digest(user, &sloppy),
            recovery_code_digest(user, code)
        );
        assert_ne!(
            recovery_code_digest(UserId::new(), code),
            recovery_code_digest(user, code)
        );
        assert!(!looks_like_recovery_code("123456"));
    }
}
