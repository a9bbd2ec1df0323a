//! Temporary Access Pass, as Entra: a time-limited passcode an administrator issues so that a
//! user without a usable credential (a new hire, someone who lost their authenticator) can
//! sign in, register methods and set a password. Shown once; stored only as a digest.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{TenantId, UserId};

/// Entra's bounds and default for `lifetimeInMinutes`.
pub const MIN_LIFETIME_MINUTES: u32 = 10;
pub const MAX_LIFETIME_MINUTES: u32 = 43_200;
pub const DEFAULT_LIFETIME_MINUTES: u32 = 60;
/// Characters of a pass: letters and digits without look-alikes (0/O, 1/I/l), and a few
/// symbols, so that it can be read out over the phone. 16 of them carry over 90 bits.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$%&*+=?";
const LENGTH: usize = 16;

/// A pass as stored: its digest, never the pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub digest: [u8; 32],
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub lifetime_minutes: u32,
    pub usable_once: bool,
    /// When a one-time pass was used.
    pub used_at: Option<DateTime<Utc>>,
    /// Who issued it, for the audit trail and the admin center.
    pub created_by: String,
}

/// Graph's `methodUsabilityReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapUsability {
    EnabledByPolicy,
    NotYetValid,
    Expired,
    OneTimeUsed,
}

impl TapUsability {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EnabledByPolicy => "EnabledByPolicy",
            Self::NotYetValid => "NotYetValid",
            Self::Expired => "Expired",
            Self::OneTimeUsed => "OneTimeUsed",
        }
    }
}

impl TapRecord {
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::minutes(i64::from(self.lifetime_minutes))
    }

    pub fn usability(&self, now: DateTime<Utc>) -> TapUsability {
        if self.usable_once && self.used_at.is_some() {
            TapUsability::OneTimeUsed
        } else if now < self.start {
            TapUsability::NotYetValid
        } else if now >= self.end() {
            TapUsability::Expired
        } else {
            TapUsability::EnabledByPolicy
        }
    }

    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.usability(now) == TapUsability::EnabledByPolicy
    }

    /// Whether `pass` is this pass, compared in constant time.
    pub fn matches(&self, pass: &SecretString) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.digest.ct_eq(&digest(pass)))
    }
}

/// A fresh pass from the OS CSPRNG.
pub fn generate() -> SecretString {
    let pass: String = (0..LENGTH)
        .map(|_| char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())]))
        .collect();
    SecretString::from(pass)
}

/// The digest a pass is stored and compared under (a pass carries enough entropy for a
/// plain SHA-256, like client secrets).
pub fn digest(pass: &SecretString) -> [u8; 32] {
    Sha256::digest(pass.expose_secret().trim().as_bytes()).into()
}

/// Checks Graph's `lifetimeInMinutes`.
pub fn check_lifetime(minutes: u32) -> Result<(), String> {
    if (MIN_LIFETIME_MINUTES..=MAX_LIFETIME_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(format!(
            "lifetimeInMinutes must be between {MIN_LIFETIME_MINUTES} and {MAX_LIFETIME_MINUTES}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(start: DateTime<Utc>, once: bool) -> TapRecord {
        let pass = SecretString::from("Abc-pass".to_owned());
        TapRecord {
            id: Uuid::new_v4(),
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            digest: digest(&pass),
            created: start,
            start,
            lifetime_minutes: 60,
            usable_once: once,
            used_at: None,
            created_by: "admin".into(),
        }
    }

    #[test]
    fn a_pass_is_usable_from_its_start_for_its_lifetime_and_once_if_one_time() {
        let t0 = Utc::now();
        let mut r = record(t0, true);
        assert_eq!(
            r.usability(t0 - Duration::minutes(1)),
            TapUsability::NotYetValid
        );
        assert_eq!(r.usability(t0), TapUsability::EnabledByPolicy);
        assert_eq!(
            r.usability(t0 + Duration::minutes(60)),
            TapUsability::Expired
        );
        r.used_at = Some(t0);
        assert_eq!(r.usability(t0), TapUsability::OneTimeUsed);
        assert!(r.matches(&SecretString::from("Abc-pass".to_owned())));
        assert!(!r.matches(&SecretString::from("Abc-pasS".to_owned())));
    }

    #[test]
    fn passes_are_sixteen_readable_characters_and_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().chars().count(), 16);
        assert!(a.expose_secret().bytes().all(|c| ALPHABET.contains(&c)));
    }

    #[test]
    fn lifetimes_follow_entras_bounds() {
        assert!(check_lifetime(10).is_ok() && check_lifetime(43_200).is_ok());
        assert!(
            check_lifetime(9)
                .unwrap_err()
                .contains("between 10 and 43200")
        );
        assert!(check_lifetime(43_201).is_err());
    }
}
