//! Sign-in: the records smart lockout and the sign-in log keep, and refresh tokens.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::ids::{EventId, TenantId, UserId};

/// Failures in a row that lock an account (Entra's default).
pub const LOCKOUT_THRESHOLD: i64 = 10;
/// The first lockout's length; each further lockout doubles it, up to a day.
pub const LOCKOUT_SECONDS: i64 = 60;

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

    /// The state after one more failure at `now`: the tenth in a row locks the account for
    /// 60 s, doubling with every lockout.
    pub fn after_failure(self, now: DateTime<Utc>) -> Self {
        let failed = self.failed_count + 1;
        if failed >= LOCKOUT_THRESHOLD {
            let lockouts = self.lockouts + 1;
            let factor = 1_i64 << (lockouts - 1).clamp(0, 10);
            let seconds = (LOCKOUT_SECONDS * factor).min(86_400);
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
            s = s.after_failure(t0);
            assert!(!s.locked_at(t0));
        }
        s = s.after_failure(t0);
        assert!(s.locked_at(t0));
        assert!(s.locked_at(t0 + Duration::seconds(59)));
        assert!(!s.locked_at(t0 + Duration::seconds(60)));
        let t1 = t0 + Duration::seconds(61);
        for _ in 0..10 {
            s = s.after_failure(t1);
        }
        assert_eq!(s.locked_until, Some(t1 + Duration::seconds(120)));
        let ok = s.after_success(t1 + Duration::seconds(121));
        assert_eq!(
            (ok.failed_count, ok.lockouts, ok.locked_until),
            (0, 0, None)
        );
    }
}
