//! The user: the properties Graph v1.0 exposes for users and passwords.

use chrono::{DateTime, Duration, Utc};

use crate::ids::{TenantId, UserId};
use crate::names::{DisplayName, Upn};

/// How long a deleted user can be restored (Entra: 30 days).
pub const DELETED_RETENTION_DAYS: i64 = 30;

/// Graph's `userType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Member,
    Guest,
}

impl UserType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Guest => "Guest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Member" => Some(Self::Member),
            "Guest" => Some(Self::Guest),
            _ => None,
        }
    }
}

/// Graph's `passwordPolicies`, a comma-separated list of flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasswordPolicies {
    pub disable_password_expiration: bool,
    pub disable_strong_password: bool,
}

impl PasswordPolicies {
    /// Parses `"DisablePasswordExpiration, DisableStrongPassword"`; `None` or `"None"` is empty.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for flag in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            match flag {
                "DisablePasswordExpiration" => out.disable_password_expiration = true,
                "DisableStrongPassword" => out.disable_strong_password = true,
                "None" => {}
                other => {
                    return Err(format!(
                        "passwordPolicies: '{other}' is not one of DisablePasswordExpiration, DisableStrongPassword, None"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The Graph form; `None` when no flag is set (Graph returns null then).
    pub fn to_graph(self) -> Option<String> {
        let mut flags = Vec::new();
        if self.disable_password_expiration {
            flags.push("DisablePasswordExpiration");
        }
        if self.disable_strong_password {
            flags.push("DisableStrongPassword");
        }
        (!flags.is_empty()).then(|| flags.join(", "))
    }
}

/// Optional descriptive properties. Kept apart from the identity and security properties so
/// that a profile edit never touches those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub other_mails: Vec<String>,
    pub mobile_phone: Option<String>,
    pub business_phones: Vec<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub company_name: Option<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
    pub street_address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub usage_location: Option<String>,
    pub employee_id: Option<String>,
    pub employee_type: Option<String>,
    pub employee_hire_date: Option<DateTime<Utc>>,
    pub employee_leave_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub user_principal_name: Upn,
    pub display_name: DisplayName,
    pub mail_nickname: String,
    pub account_enabled: bool,
    pub user_type: UserType,
    pub profile: UserProfile,
    pub password_policies: PasswordPolicies,
    /// The user must change the password at the next sign-in (a reset or a new account).
    pub force_change_password_next_sign_in: bool,
    pub force_change_password_next_sign_in_with_mfa: bool,
    pub last_password_change: Option<DateTime<Utc>>,
    /// Tokens and sessions issued before this instant are no longer valid.
    pub sign_in_sessions_valid_from: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub deleted: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, bumped by every write, so that a stale form or a
    /// racing writer is detected instead of silently overwriting.
    pub version: i64,
}

impl User {
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// Whether a deleted user can still be restored at `now`.
    pub fn restorable_at(&self, now: DateTime<Utc>) -> bool {
        self.deleted
            .is_some_and(|d| now < d + Duration::days(DELETED_RETENTION_DAYS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policies_parse_and_print_graphs_form() {
        let p =
            PasswordPolicies::parse("DisablePasswordExpiration, DisableStrongPassword").unwrap();
        assert!(p.disable_password_expiration && p.disable_strong_password);
        assert_eq!(
            p.to_graph().as_deref(),
            Some("DisablePasswordExpiration, DisableStrongPassword")
        );
        assert_eq!(PasswordPolicies::parse("None").unwrap().to_graph(), None);
        let err = PasswordPolicies::parse("DisableEverything").unwrap_err();
        assert!(err.contains("DisableEverything"));
    }
}
