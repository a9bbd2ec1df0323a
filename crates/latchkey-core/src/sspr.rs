//! Self-service password reset: the tenant's settings, the one-time codes, and the state of
//! one reset attempt as the store keeps it.
//!
//! A reset is a flow bound to one browser (a random secret in a cookie; only its digest is
//! stored) and to the name that was typed, whether or not an account has that name: the
//! pages, the timing and the limits are the same either way, so that the reset never tells
//! anyone whether an account exists.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::OsRng;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{TenantId, UserId};

/// How long a code stays valid.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// How long one reset attempt may take from the first page to the new password.
pub const FLOW_LIFETIME: Duration = Duration::minutes(30);
/// Wrong codes one attempt may enter before it is locked.
pub const MAX_WRONG_CODES: u32 = 5;
/// Attempts started for one account name within [`RATE_WINDOW`].
pub const MAX_FLOWS_PER_NAME: u64 = 5;
/// Attempts started from one client address within [`RATE_WINDOW`].
pub const MAX_FLOWS_PER_ADDRESS: u64 = 20;
pub const RATE_WINDOW: Duration = Duration::hours(1);

/// Who may reset their own password (Entra: None, Selected, All). Groups do not exist in
/// Latchkey yet, so there is no "selected".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SelfServiceResetScope {
    None,
    #[default]
    All,
}

/// The tenant's self-service reset settings, kept beside its password rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfServiceReset {
    pub enabled_for: SelfServiceResetScope,
    /// Verification methods a user must prove (1 or 2). Users holding a directory role
    /// always need two, as in Entra's administrator reset policy.
    pub methods_required: u8,
}

impl Default for SelfServiceReset {
    fn default() -> Self {
        Self {
            enabled_for: SelfServiceResetScope::All,
            methods_required: 1,
        }
    }
}

impl SelfServiceReset {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=2).contains(&self.methods_required) {
            return Err("the number of verification methods required must be 1 or 2".into());
        }
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        self.enabled_for != SelfServiceResetScope::None
    }
}

/// A way to prove who you are during a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VerificationMethod {
    /// A code sent to the user's recovery e-mail address.
    Email,
    /// A code from the user's authenticator app.
    AuthenticatorApp,
}

impl VerificationMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::AuthenticatorApp => "authenticatorApp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "authenticatorApp" => Some(Self::AuthenticatorApp),
            _ => None,
        }
    }
}

/// One reset attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetFlowRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// SHA-256 of the browser's flow secret.
    pub digest: [u8; 32],
    /// The name as typed, normalised (trimmed, lower case): the key of the per-name limit,
    /// the same for existing and unknown accounts.
    pub login_name: String,
    /// The account, when the name is one that may reset; `None` looks the same to the browser.
    pub user_id: Option<UserId>,
    pub client_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Methods proven so far, in order.
    pub verified: Vec<VerificationMethod>,
    /// The keyed digest of the code last sent, until it is used or replaced.
    pub code_digest: Option<[u8; 32]>,
    pub code_expires_at: Option<DateTime<Utc>>,
    pub wrong_codes: u32,
    pub completed_at: Option<DateTime<Utc>>,
}

impl ResetFlowRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.completed_at.is_none() && now < self.expires_at
    }

    pub fn is_locked(&self) -> bool {
        self.wrong_codes >= MAX_WRONG_CODES
    }
}

/// An 8-digit one-time code, uniform over 00000000–99999999, from the OS CSPRNG.
pub fn random_code() -> SecretString {
    let n: u32 = OsRng.gen_range(0..100_000_000);
    SecretString::from(format!("{n:08}"))
}

/// The name as the per-name limit counts it.
pub fn normalise_login_name(name: &str) -> String {
    name.trim().to_lowercase().chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn codes_are_eight_digits_and_differ() {
        let codes: std::collections::HashSet<String> = (0..200)
            .map(|_| random_code().expose_secret().to_owned())
            .collect();
        assert!(codes.len() > 190);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn the_settings_accept_one_or_two_methods_only() {
        let mut s = SelfServiceReset::default();
        assert!(s.enabled() && s.validate().is_ok());
        s.methods_required = 3;
        assert!(s.validate().unwrap_err().contains("1 or 2"));
        s.methods_required = 0;
        assert!(s.validate().is_err());
        let off: SelfServiceReset =
            serde_json::from_str(r#"{"enabled_for":"none","methods_required":1}"#).unwrap();
        assert!(!off.enabled());
    }

    #[test]
    fn login_names_are_compared_trimmed_and_case_insensitively() {
        assert_eq!(
            normalise_login_name("  Adele.V@Contoso.com "),
            "adele.v@contoso.com"
        );
    }
}
