//! Password sign-in with smart lockout: the one place a password is checked, for every
//! channel that signs a user in (ROPC, the sign-in pages, self-service).

use secrecy::SecretString;

use super::Directory;
use crate::error::DirectoryError;
use crate::ids::{EventId, TenantId};
use crate::names::Upn;
use crate::password::{HashError, PasswordHash};
use crate::sign_in::{SignInEvent, SignInState, SmartLockout};
use crate::store::StoreError;
use crate::user::User;

/// The application a sign-in is for, for the sign-in log.
#[derive(Debug, Clone, Default)]
pub struct ClientRef {
    pub app_id: Option<String>,
    pub display_name: Option<String>,
}

/// Why a sign-in failed, with the AADSTS code Entra gives for it.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the user account does not exist in this tenant")]
    UnknownUser,
    #[error("the user name or password is incorrect")]
    WrongPassword,
    #[error("the account is locked because of too many failed sign-ins; try again later")]
    Locked,
    #[error("the account is disabled")]
    Disabled,
    /// The password is right but must be changed first (a reset, or a new account).
    #[error("the password must be changed before signing in")]
    MustChangePassword(Box<User>),
    #[error("the password service is busy; try again in a moment")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl SignInError {
    pub fn aadsts(&self) -> i64 {
        match self {
            Self::UnknownUser => 50034,
            Self::WrongPassword => 50126,
            Self::Locked => 50053,
            Self::Disabled => 50057,
            Self::MustChangePassword(_) => 50055,
            Self::Busy => 90033,
            Self::Internal(_) => 90033,
        }
    }
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<DirectoryError> for SignInError {
    fn from(e: DirectoryError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<HashError> for SignInError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl Directory {
    /// Checks a user's password. Unknown users cost the same argon2 work as known ones, so
    /// timing does not tell which accounts exist. The tenant's lockout threshold of failures
    /// in a row (Entra's default ten) locks the account for its lockout duration (60 s by
    /// default), doubling with each further lockout; during a lockout even the right password is refused. Every attempt
    /// lands in the sign-in log. A hash made with old parameters is upgraded on success.
    pub async fn sign_in_with_password(
        &self,
        tenant: TenantId,
        user_principal_name: &str,
        password: &SecretString,
        client: &ClientRef,
    ) -> Result<User, SignInError> {
        let now = self.clock.now();
        let event = |user: Option<&User>, code: i64, reason: Option<&str>| SignInEvent {
            id: EventId::new(),
            tenant_id: tenant,
            created: now,
            user_id: user.map(|u| u.id),
            user_principal_name: user.map_or_else(
                || user_principal_name.chars().take(113).collect(),
                |u| u.user_principal_name.to_string(),
            ),
            app_id: client.app_id.clone(),
            app_display_name: client.display_name.clone(),
            error_code: code,
            failure_reason: reason.map(str::to_owned),
        };
        let user = match Upn::parse(user_principal_name) {
            Ok(upn) => self.store.find_user_by_upn(tenant, &upn).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            // Same work as a real check, then the same answer time.
            let dummy = self.dummy_hash().await?;
            let _ = self.hasher.verify(password, &dummy).await?;
            let e = SignInError::UnknownUser;
            self.store
                .record_sign_in(&event(None, e.aadsts(), Some(&e.to_string())), None)
                .await?;
            return Err(e);
        };

        let first_state = self.store.find_sign_in_state(tenant, user.id).await?;
        if first_state.unwrap_or_default().locked_at(now) {
            let e = SignInError::Locked;
            self.store
                .record_sign_in(&event(Some(&user), e.aadsts(), Some(&e.to_string())), None)
                .await?;
            return Err(e);
        }
        let hash = self.store.find_password_hash(tenant, user.id).await?;
        let verified = match &hash {
            Some(h) => self.hasher.verify(password, h).await?,
            None => {
                let dummy = self.dummy_hash().await?;
                let _ = self.hasher.verify(password, &dummy).await?;
                crate::password::Verification {
                    matches: false,
                    needs_rehash: false,
                }
            }
        };
        let outcome = if !verified.matches {
            Err(SignInError::WrongPassword)
        } else if !user.account_enabled {
            Err(SignInError::Disabled)
        } else if user.force_change_password_next_sign_in {
            Err(SignInError::MustChangePassword(Box::new(user.clone())))
        } else {
            Ok(())
        };
        if let (true, true, Some(old)) = (verified.matches, verified.needs_rehash, &hash) {
            let new = self.hasher.hash(password).await?;
            // A lost race is fine: the password was changed meanwhile.
            let _ = self
                .store
                .rehash_password(tenant, user.id, old, &new)
                .await?;
        }
        let (code, reason) = match &outcome {
            Ok(()) => (0, None),
            Err(e) => (e.aadsts(), Some(e.to_string())),
        };
        let logged = event(Some(&user), code, reason.as_deref());
        // Record the attempt against the lockout state as it is now. Other nodes may be
        // recording attempts for the same user at the same moment; the write succeeds only
        // on an unchanged state, so on a clash re-read and count again: no attempt is lost.
        let lockout = if verified.matches {
            SmartLockout::default()
        } else {
            self.lockout_settings(tenant).await?
        };
        let mut current = first_state;
        for _ in 0..64 {
            let state = current.unwrap_or_default();
            // A right password clears the failure count, whatever happens next.
            let next = if verified.matches {
                state.after_success(now)
            } else {
                state.after_failure(now, lockout)
            };
            match self
                .store
                .record_sign_in(&logged, Some((user.id, current, next)))
                .await
            {
                Ok(()) => return outcome.map(|()| user),
                Err(StoreError::Stale) => {
                    current = self.store.find_sign_in_state(tenant, user.id).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(SignInError::Internal(
            "the sign-in state kept changing; gave up".into(),
        ))
    }

    /// The active user with this id, for grants that continue an earlier sign-in (refresh
    /// tokens). Not an authorized read: the caller holds a credential for that user.
    pub async fn find_active_user(
        &self,
        tenant: TenantId,
        id: crate::ids::UserId,
    ) -> Result<Option<User>, DirectoryError> {
        Ok(self
            .store
            .find_user(tenant, id)
            .await?
            .filter(|u| !u.is_deleted()))
    }

    /// The sign-in state of a user, for the admin center and tests.
    pub async fn sign_in_state(
        &self,
        tenant: TenantId,
        user: crate::ids::UserId,
    ) -> Result<SignInState, DirectoryError> {
        Ok(self
            .store
            .find_sign_in_state(tenant, user)
            .await?
            .unwrap_or_default())
    }

    /// The tenant's smart-lockout settings (its password policy's), read when a failure is
    /// to be counted; Entra's defaults for a tenant that is gone.
    pub(crate) async fn lockout_settings(
        &self,
        tenant: TenantId,
    ) -> Result<SmartLockout, StoreError> {
        Ok(self
            .store
            .find_tenant(tenant)
            .await?
            .map(|t| t.password_policy.lockout)
            .unwrap_or_default())
    }

    async fn dummy_hash(&self) -> Result<PasswordHash, SignInError> {
        let hasher = self.hasher.clone();
        self.dummy
            .get_or_try_init(|| async move {
                hasher
                    .hash(&SecretString::from("latchkey-timing-equaliser".to_owned()))
                    .await
            })
            .await
            .cloned()
            .map_err(Into::into)
    }
}
