//! Sign-in: the records smart lockout and the sign-in log keep, and refresh tokens.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::ids::{EventId, TenantId, UserId};

/// Failures in a row that lock an account (Entra's default).
pub const LOCKOUT_THRESHOLD: u32 = 10;
/// The first lockout's length (Entra's default); each further lockout doubles it, up to a day.
pub const LOCKOUT_SECONDS: u32 = 60;
/// Most failures in a row a tenant may allow before locking.
pub const MAX_LOCKOUT_THRESHOLD: u32 = 100;
/// The shortest and longest first lockout a tenant may set.
pub const LOCKOUT_SECONDS_RANGE: std::ops::RangeInclusive<u32> = 5..=86_400;
/// No lockout, however often repeated, lasts longer than a day.
const LONGEST_LOCKOUT: i64 = 86_400;

/// A tenant's smart-lockout settings (Entra's "Lockout threshold" and "Lockout duration in
/// seconds"), part of its password policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SmartLockout {
    /// Failed sign-ins in a row that lock the account.
    pub threshold: u32,
    /// How long the first lockout lasts; each further one doubles it, up to a day.
    pub duration_seconds: u32,
}

impl Default for SmartLockout {
    fn default() -> Self {
        Self {
            threshold: LOCKOUT_THRESHOLD,
            duration_seconds: LOCKOUT_SECONDS,
        }
    }
}

impl SmartLockout {
    /// Checks the settings before they are stored.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_LOCKOUT_THRESHOLD).contains(&self.threshold) {
            return Err(format!(
                "the lockout threshold must be 1 to {MAX_LOCKOUT_THRESHOLD} failed sign-ins"
            ));
        }
        if !LOCKOUT_SECONDS_RANGE.contains(&self.duration_seconds) {
            return Err(format!(
                "the lockout duration must be {} to {} seconds",
                LOCKOUT_SECONDS_RANGE.start(),
                LOCKOUT_SECONDS_RANGE.end()
            ));
        }
        Ok(())
    }
}

/// Smart-lockout state of one user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInState {
    pub failed_count: i64,
    pub lockouts: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
}

impl SignInState {
    pub fn locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|u| now < u)
    }

    /// The state after one more failure at `now`: the `threshold`th in a row locks the
    /// account for `duration_seconds`, doubling with every lockout up to a day.
    pub fn after_failure(self, now: DateTime<Utc>, lockout: SmartLockout) -> Self {
        let failed = self.failed_count + 1;
        if failed >= i64::from(lockout.threshold.max(1)) {
            let lockouts = self.lockouts + 1;
            let factor = 1_i64 << (lockouts - 1).clamp(0, 20);
            let seconds = (i64::from(lockout.duration_seconds) * factor).min(LONGEST_LOCKOUT);
            Self {
                failed_count: 0,
                lockouts,
                locked_until: Some(now + Duration::seconds(seconds)),
                last_success: self.last_success,
            }
        } else {
            Self {
                failed_count: failed,
                ..self
            }
        }
    }

    pub fn after_success(self, now: DateTime<Utc>) -> Self {
        Self {
            failed_count: 0,
            lockouts: 0,
            locked_until: None,
            last_success: Some(now),
        }
    }
}

/// One sign-in attempt, for the sign-in log (Graph's `signIn`). Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInEvent {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub created: DateTime<Utc>,
    pub user_id: Option<UserId>,
    pub user_principal_name: String,
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    /// 0 for success, else the AADSTS code Entra would give.
    pub error_code: i64,
    pub failure_reason: Option<String>,
}

/// A refresh token as stored: only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    /// Every token obtained by rotating one original token; reuse of a rotated token revokes
    /// the whole family.
    pub family_id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub client_id: String,
    pub scopes: String,
    pub digest: [u8; 32],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_tenth_failure_locks_for_a_minute_and_each_further_lockout_doubles() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = SignInState::default();
        for _ in 0..9 {
            s = s.after_failure(t0, SmartLockout::default());
            assert!(!s.locked_at(t0));
        }
        s = s.after_failure(t0, SmartLockout::default());
        assert!(s.locked_at(t0));
        assert!(s.locked_at(t0 + Duration::seconds(59)));
        assert!(!s.locked_at(t0 + Duration::seconds(60)));
        let t1 = t0 + Duration::seconds(61);
        for _ in 0..10 {
            s = s.after_failure(t1, SmartLockout::default());
        }
        assert_eq!(s.locked_until, Some(t1 + Duration::seconds(120)));
        let ok = s.after_success(t1 + Duration::seconds(121));
        assert_eq!(
            (ok.failed_count, ok.lockouts, ok.locked_until),
            (0, 0, None)
        );
    }

    #[test]
    fn a_tenants_own_threshold_and_duration_decide_when_and_how_long() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let strict = SmartLockout {
            threshold: 3,
            duration_seconds: 300,
        };
        let mut s = SignInState::default();
        s = s.after_failure(t0, strict).after_failure(t0, strict);
        assert!(!s.locked_at(t0));
        s = s.after_failure(t0, strict);
        assert_eq!(s.locked_until, Some(t0 + Duration::seconds(300)));
        let t1 = t0 + Duration::seconds(301);
        for _ in 0..3 {
            s = s.after_failure(t1, strict);
        }
        assert_eq!(s.locked_until, Some(t1 + Duration::seconds(600)));
        // However often it locks, never more than a day.
        for _ in 0..30 {
            s = s.after_failure(t1, strict);
        }
        assert_eq!(s.locked_until, Some(t1 + Duration::seconds(86_400)));
    }

    #[test]
    fn settings_outside_the_bounds_are_refused_with_the_bound() {
        let zero = SmartLockout {
            threshold: 0,
            duration_seconds: 60,
        };
        assert!(zero.validate().unwrap_err().contains("1 to 100"));
        let short = SmartLockout {
            threshold: 10,
            duration_seconds: 1,
        };
        assert!(short.validate().unwrap_err().contains("5 to 86400 seconds"));
        assert_eq!(SmartLockout::default().validate(), Ok(()));
    }
}
