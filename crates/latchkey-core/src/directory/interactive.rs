//! Interactive sign-in: browser sessions, the forced password change on the sign-in pages,
//! users' consent to apps, and authorization codes. The sign-in pages call these and nothing
//! else; the rules (who may consent to what, when a session or a code is dead) live here.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::PasswordChoice;
use super::{Change, ClientRef, Directory, SetPassword, SignInError, UserRef};
use crate::app::{App, AppId};
use crate::authz::{Actor, Channel, Denied};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::interactive::{
    AuthorizationCodeRecord, CODE_LIFETIME, SESSION_LIFETIME, SignInSessionRecord, UserConsent,
    pkce_matches, random_token, token_digest,
};
use crate::user::User;

/// Scopes of OpenID Connect itself; consented like a permission, granted to every app.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Permissions a user may consent to for themselves; everything else needs an administrator
/// (Entra's default user-consent policy: low-impact permissions only).
pub const USER_CONSENTABLE: [&str; 2] = ["User.Read", "User.ReadBasic.All"];

pub fn user_may_consent(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope) || USER_CONSENTABLE.contains(&scope)
}

/// Which of `requested` (canonical scope names) the app does not hold yet for this user:
/// admin consent covers the app's delegated permissions and the OIDC scopes; a user's consent
/// covers what they consented to.
pub fn missing_consent(
    app: &App,
    consent: Option<&UserConsent>,
    requested: &[String],
) -> Vec<String> {
    requested
        .iter()
        .filter(|s| {
            let by_admin = app.admin_consent
                && (OIDC_SCOPES.contains(&s.as_str()) || app.delegated_permissions.contains(s));
            let by_user = consent.is_some_and(|c| c.scopes.contains(s));
            !(by_admin || by_user)
        })
        .cloned()
        .collect()
}

/// Why a forced password change on the sign-in pages did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// The current password was wrong, the account locked or disabled, …
    #[error(transparent)]
    SignIn(SignInError),
    #[error("the new password must differ from the current one")]
    SameAsCurrent,
    /// The user has an authenticator app and has not proved it in this sign-in.
    #[error("the second factor must be proved before the password is changed")]
    SecondFactorRequired,
    /// Policy failures (each rule named), concurrency, the hashing pool.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Why an authorization code was refused at the token endpoint, with Entra's AADSTS code.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("the authorization code is not valid")]
    Unknown,
    #[error("the authorization code has already been redeemed")]
    Replayed,
    #[error("the authorization code has expired")]
    Expired,
    #[error("the authorization code was issued to another client")]
    WrongClient,
    #[error("the redirect_uri does not match the one the authorization code was issued for")]
    WrongRedirect,
    #[error("the code_verifier does not match the code_challenge of the authorization request")]
    PkceMismatch,
    #[error("the user can no longer sign in")]
    UserGone,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl CodeError {
    pub fn aadsts(&self) -> u32 {
        match self {
            Self::Unknown | Self::WrongClient | Self::WrongRedirect => 70000,
            Self::Replayed => 54005,
            Self::Expired => 70008,
            Self::PkceMismatch => 501481,
            Self::UserGone => 50173,
            Self::Directory(_) => 90033,
        }
    }
}

/// What an authorization code is issued for; times, ids and the code itself are made here.
#[derive(Debug, Clone)]
pub struct NewAuthorizationCode {
    pub tenant_id: TenantId,
    pub user_id: crate::ids::UserId,
    pub client_id: AppId,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scopes: String,
    pub auth_time: DateTime<Utc>,
    /// Whether the user proved a second factor (the tokens' `amr` says `mfa`).
    pub mfa: bool,
}

impl Directory {
    /// Opens a browser session for a user who has just proved who they are. Returns the
    /// cookie's value, which exists only in this return value.
    pub async fn start_sign_in_session(
        &self,
        user: &User,
    ) -> Result<(SecretString, SignInSessionRecord), DirectoryError> {
        self.start_sign_in_session_with(user, false).await
    }

    /// [`Self::start_sign_in_session`], recording whether the sign-in included a second
    /// factor, so that single sign-on from the session can say so (`amr`).
    pub async fn start_sign_in_session_with(
        &self,
        user: &User,
        mfa: bool,
    ) -> Result<(SecretString, SignInSessionRecord), DirectoryError> {
        let now = self.clock.now();
        let value = random_token();
        let record = SignInSessionRecord {
            id: Uuid::new_v4(),
            tenant_id: user.tenant_id,
            user_id: user.id,
            digest: token_digest(&value),
            created: now,
            expires_at: now + SESSION_LIFETIME,
            revoked_at: None,
            mfa,
        };
        self.store.insert_sign_in_session(&record).await?;
        Ok((value, record))
    }

    /// The live session a cookie names, with its user. Dead: unknown, ended, expired, of
    /// another tenant, or older than the user's `signInSessionsValidFromDateTime` (password
    /// change, revocation), or the user is disabled or deleted.
    pub async fn find_sign_in_session(
        &self,
        tenant: TenantId,
        cookie: &SecretString,
    ) -> Result<Option<(SignInSessionRecord, User)>, DirectoryError> {
        let now = self.clock.now();
        let Some(session) = self
            .store
            .find_sign_in_session(&token_digest(cookie))
            .await?
        else {
            return Ok(None);
        };
        if session.tenant_id != tenant || session.revoked_at.is_some() || now >= session.expires_at
        {
            return Ok(None);
        }
        let user = self
            .store
            .find_user(tenant, session.user_id)
            .await?
            .filter(|u| {
                !u.is_deleted()
                    && u.account_enabled
                    && session.created >= u.sign_in_sessions_valid_from
            });
        Ok(user.map(|u| (session, u)))
    }

    /// Ends the session a cookie names (sign-out) and says whose tenant it was. Unknown
    /// cookies are ignored.
    pub async fn end_sign_in_session(
        &self,
        cookie: &SecretString,
    ) -> Result<Option<TenantId>, DirectoryError> {
        let Some(s) = self
            .store
            .find_sign_in_session(&token_digest(cookie))
            .await?
        else {
            return Ok(None);
        };
        self.store
            .revoke_sign_in_session(s.id, self.clock.now())
            .await?;
        Ok(Some(s.tenant_id))
    }

    /// The forced change on the sign-in pages: proves the current password through the one
    /// sign-in check (lockout and the sign-in log included), then sets the new one through
    /// the one password operation, as the user, on the self-service channel, clearing the
    /// force-change flag. A user with an authenticator app must have proved it in this
    /// sign-in (`second_factor_proved`) first. Returns the user as they are now.
    pub async fn change_password_at_sign_in(
        &self,
        tenant: TenantId,
        user_principal_name: &str,
        current: &SecretString,
        new: &SecretString,
        client: &ClientRef,
        second_factor_proved: bool,
    ) -> Result<User, PasswordChangeError> {
        let user = match self
            .sign_in_with_password(tenant, user_principal_name, current, client)
            .await
        {
            Ok(user) => user,
            Err(SignInError::MustChangePassword(user)) => *user,
            Err(e) => return Err(PasswordChangeError::SignIn(e)),
        };
        // A user with an authenticator proves it before anything changes: the forced change
        // (`forceChangePasswordNextSignIn`, with or without `…WithMfa`) is no way around it.
        if !second_factor_proved
            && self.second_factor_due(tenant, &user).await? != super::SecondFactorDue::None
        {
            return Err(PasswordChangeError::SecondFactorRequired);
        }
        if current.expose_secret() == new.expose_secret() {
            return Err(PasswordChangeError::SameAsCurrent);
        }
        let roles = self
            .store
            .list_user_roles(tenant, user.id)
            .await
            .map_err(DirectoryError::from)?;
        let actor = Actor::User {
            id: user.id,
            display: user.user_principal_name.to_string(),
            roles,
            scopes: None,
            channel: Channel::SelfService,
        };
        self.set_password(
            &actor,
            tenant,
            &UserRef::Id(user.id),
            SetPassword {
                choice: PasswordChoice::Provided(new.clone()),
                force_change_next_sign_in: false,
                force_change_with_mfa: false,
                reason: Some("forced change at sign-in".into()),
            },
        )
        .await?;
        self.find_active_user(tenant, user.id)
            .await?
            .ok_or_else(|| DirectoryError::not_found(format!("Resource '{}'", user.id)).into())
    }

    /// The user's consent to an app, if any.
    pub async fn user_consent(
        &self,
        user: &User,
        app: &App,
    ) -> Result<Option<UserConsent>, DirectoryError> {
        Ok(self
            .store
            .find_user_consent(user.tenant_id, user.id, app.app_id)
            .await?)
    }

    /// Records a user's consent to `scopes` for an app (added to what they consented to
    /// before). A user may consent only to low-impact permissions; the rest needs an admin.
    pub async fn consent_as_user(
        &self,
        user: &User,
        app: &App,
        scopes: &[String],
    ) -> Result<UserConsent, DirectoryError> {
        if let Some(s) = scopes.iter().find(|s| !user_may_consent(s)) {
            return Err(Denied(format!(
                "The permission '{s}' needs an administrator's approval; ask an administrator to grant consent for '{}'.",
                app.display_name
            ))
            .into());
        }
        let mut all = self
            .user_consent(user, app)
            .await?
            .map(|c| c.scopes)
            .unwrap_or_default();
        for s in scopes {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        let consent = UserConsent {
            tenant_id: user.tenant_id,
            user_id: user.id,
            app_id: app.app_id,
            scopes: all,
            granted_at: self.clock.now(),
        };
        let actor = Actor::User {
            id: user.id,
            display: user.user_principal_name.to_string(),
            roles: vec![],
            scopes: None,
            channel: Channel::SelfService,
        };
        // Everything the app now holds for this user: their consent and what an
        // administrator consented to for the organisation.
        let mut granted = consent.scopes.clone();
        if app.admin_consent {
            for p in &app.delegated_permissions {
                if !granted.contains(p) {
                    granted.push(p.clone());
                }
            }
        }
        let discovery = self
            .saas_discovery(
                &actor,
                app,
                Some(user),
                &granted,
                crate::saas::EvidenceSource::UserConsent,
            )
            .await?;
        let mut events = self.events(Change {
            actor: &actor,
            tenant: user.tenant_id,
            category: "ApplicationManagement",
            activity: "Consent to application",
            operation_type: "Assign",
            target: Some(user),
            other_target: None,
            details: vec![
                ("appId".into(), app.app_id.to_string()),
                ("appDisplayName".into(), app.display_name.clone()),
                ("scopes".into(), consent.scopes.join(" ")),
            ],
            outbox_kind: "app.userConsented",
            payload: json!({ "appId": app.app_id.to_string(), "scopes": consent.scopes }),
        });
        events.saas.extend(discovery);
        self.store.write_user_consent(&consent, &events).await?;
        self.saas_mail_queued(&events);
        Ok(consent)
    }

    /// Issues a single-use authorization code; only its digest is stored.
    pub async fn issue_authorization_code(
        &self,
        new: NewAuthorizationCode,
    ) -> Result<SecretString, DirectoryError> {
        let now = self.clock.now();
        let code = random_token();
        let record = AuthorizationCodeRecord {
            id: Uuid::new_v4(),
            tenant_id: new.tenant_id,
            user_id: new.user_id,
            client_id: new.client_id,
            redirect_uri: new.redirect_uri,
            code_challenge: new.code_challenge,
            nonce: new.nonce,
            scopes: new.scopes,
            family_id: Uuid::new_v4(),
            auth_time: new.auth_time,
            digest: token_digest(&code),
            issued_at: now,
            expires_at: now + CODE_LIFETIME,
            redeemed_at: None,
            mfa: new.mfa,
        };
        self.store.insert_authorization_code(&record).await?;
        // A sign-in to the app: its use goes into the SaaS inventory.
        let scopes: Vec<String> = record
            .scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        self.note_app_sign_in(record.tenant_id, record.client_id, record.user_id, &scopes)
            .await;
        Ok(code)
    }

    /// Redeems a code for the client that authenticated at the token endpoint. Any
    /// presentation by its client uses the code up; a second one is a replay, which also
    /// revokes every refresh token issued from the first. Then everything the code is bound
    /// to is checked: client, redirect URI, PKCE verifier, expiry, and that the user can
    /// still sign in.
    pub async fn redeem_authorization_code(
        &self,
        tenant: TenantId,
        code: &SecretString,
        client_id: AppId,
        redirect_uri: &str,
        code_verifier: &SecretString,
    ) -> Result<(AuthorizationCodeRecord, User), CodeError> {
        let now = self.clock.now();
        let record = self
            .store
            .find_authorization_code(&token_digest(code))
            .await
            .map_err(DirectoryError::from)?
            .filter(|r| r.tenant_id == tenant)
            .ok_or(CodeError::Unknown)?;
        if record.client_id != client_id {
            return Err(CodeError::WrongClient);
        }
        let first = self
            .store
            .redeem_authorization_code(record.id, now)
            .await
            .map_err(DirectoryError::from)?;
        if !first {
            self.store
                .revoke_refresh_family(record.family_id, now)
                .await
                .map_err(DirectoryError::from)?;
            tracing::warn!(code = %record.id, "authorization code replayed: its tokens are revoked");
            return Err(CodeError::Replayed);
        }
        if now >= record.expires_at {
            return Err(CodeError::Expired);
        }
        if record.redirect_uri != redirect_uri {
            return Err(CodeError::WrongRedirect);
        }
        if !pkce_matches(&record.code_challenge, code_verifier) {
            return Err(CodeError::PkceMismatch);
        }
        let user = self
            .find_active_user(tenant, record.user_id)
            .await?
            .filter(|u| u.account_enabled && record.auth_time >= u.sign_in_sessions_valid_from)
            .ok_or(CodeError::UserGone)?;
        Ok((record, user))
    }
}

impl Directory {
    /// Removes sessions and codes a day after they expired. The day keeps a late replay of a
    /// stolen code recognisable as a replay (which revokes its tokens) rather than unknown.
    pub async fn purge_expired_sign_in_records(&self) -> Result<u64, DirectoryError> {
        let before = self.clock.now() - chrono::Duration::days(1);
        let records = self.store.purge_expired_sign_in_records(before).await?;
        // Kept a day past expiry like the rest: the per-name limits count the last hour.
        let resets = self.store.purge_expired_reset_flows(before).await?;
        Ok(records + resets)
    }
}
