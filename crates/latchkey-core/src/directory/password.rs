//! The one password operation. Every channel that sets a password — admin center, Graph
//! `passwordProfile` and `resetPassword`, CLI, self-service, workflows — ends here.

use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, Channel, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::password::{PasswordContext, PasswordPolicy, generate_password};
use crate::store::PasswordWrite;
use crate::user::User;

/// A password change ready to be written: nothing of it is stored yet.
pub(super) struct PreparedPassword {
    pub(super) write: PasswordWrite,
    pub(super) events: crate::audit::Events,
    pub(super) generated: Option<SecretString>,
}

/// A generated password, or one the caller typed.
pub enum PasswordChoice {
    Generate,
    Provided(SecretString),
}

impl std::fmt::Debug for PasswordChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generate => f.write_str("Generate"),
            Self::Provided(_) => f.write_str("Provided(..)"),
        }
    }
}

/// A request to set a user's password.
#[derive(Debug)]
pub struct SetPassword {
    pub choice: PasswordChoice,
    /// Graph's `forceChangePasswordNextSignIn`; on by default in the admin center.
    pub force_change_next_sign_in: bool,
    pub force_change_with_mfa: bool,
    /// Why, for the audit log (free text from the admin, or the workflow's name).
    pub reason: Option<String>,
}

/// The outcome: the generated password, if one was generated. It exists only in this value;
/// nothing stores it.
#[derive(Debug)]
pub struct PasswordSet {
    pub user_id: UserId,
    pub generated_password: Option<SecretString>,
}

impl Directory {
    /// Authorize → policy → hash (on the bounded pool, outside any transaction) → one
    /// transaction: credential, `lastPasswordChangeDateTime`, force-change flags, audit event,
    /// outbox event. If anything fails before the commit, the old password stays valid.
    pub async fn set_password(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        request: SetPassword,
    ) -> Result<PasswordSet, DirectoryError> {
        self.set_password_as(actor, tenant_id, target, request, Action::ResetPassword)
            .await
    }

    /// [`Self::set_password`], authorized as `reset` (the action a channel's permission
    /// names: `passwordProfile`'s or the password authentication method's).
    pub(super) async fn set_password_as(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        request: SetPassword,
        reset: Action,
    ) -> Result<PasswordSet, DirectoryError> {
        let user = self
            .authorized_password_target(actor, tenant_id, target, reset)
            .await?;
        let prepared = self
            .prepare_password(actor, tenant_id, &user, request)
            .await?;
        self.store
            .write_password(&prepared.write, &prepared.events)
            .await?;
        self.mail_queued(&prepared.events);
        Ok(PasswordSet {
            user_id: user.id,
            generated_password: prepared.generated,
        })
    }

    /// Everything of a password change up to the commit: policy (or generation), the hash
    /// on the bounded pool, the flags, session revocation and the audit and outbox events.
    /// The caller has authorized the change and writes the result in one transaction, alone
    /// ([`Self::set_password`]) or with other changes to the user ([`Self::update_user`]).
    pub(super) async fn prepare_password(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        user: &User,
        request: SetPassword,
    ) -> Result<PreparedPassword, DirectoryError> {
        let tenant = self.tenant(tenant_id).await?;
        let (secret, generated) =
            self.choose_password(&tenant.password_policy, user, request.choice)?;
        let hash = self.hasher.hash(&secret).await?;
        let now = self.clock.now();

        let mut details = vec![
            (
                "passwordMethod".into(),
                if generated { "generated" } else { "provided" }.into(),
            ),
            (
                "forceChangePasswordNextSignIn".into(),
                request.force_change_next_sign_in.to_string(),
            ),
        ];
        if let Some(reason) = &request.reason {
            details.push(("reason".into(), reason.clone()));
        }
        let self_service = matches!(actor, Actor::User { id, .. } if *id == user.id);
        let mut events = self.events(Change {
            actor,
            tenant: tenant_id,
            category: "UserManagement",
            activity: if self_service {
                "Change user password"
            } else {
                "Reset user password"
            },
            operation_type: "Update",
            target: Some(user),
            other_target: None,
            details,
            outbox_kind: "user.passwordSet",
            payload: json!({
                "generated": generated,
                "forceChangePasswordNextSignIn": request.force_change_next_sign_in,
            }),
        });
        // A person who changed their own password is told by e-mail, so that a change they
        // did not make does not go unnoticed. Queued with the change, in its transaction.
        if self_service {
            events
                .mail
                .extend(self.password_changed_notice(&tenant, user, now)?);
        }
        Ok(PreparedPassword {
            write: PasswordWrite {
                tenant_id,
                user_id: user.id,
                expected_version: user.version,
                hash,
                changed_at: now,
                force_change_next_sign_in: request.force_change_next_sign_in,
                force_change_with_mfa: request.force_change_with_mfa,
                // A new password ends every session and refresh token issued before it.
                revoke_sessions_from: Some(now),
            },
            events,
            generated: generated.then_some(secret),
        })
    }

    /// The active user whose password `actor` would set, once authorized: as changing one's
    /// own (after proving the current one, self-service only) or else as `reset`.
    async fn authorized_password_target(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        reset: Action,
    ) -> Result<User, DirectoryError> {
        let user = self.active_user(tenant_id, target).await?;
        let roles = self.store.list_user_roles(tenant_id, user.id).await?;
        let self_service = matches!(actor, Actor::User { id, .. } if *id == user.id);
        // Changing one's own password (after proving the current one) is not a reset.
        let action = if self_service && actor.channel() == Channel::SelfService {
            Action::ChangeOwnPassword
        } else {
            reset
        };
        authorize(actor, action, &roles)?;
        Ok(user)
    }

    /// Checks a candidate against the tenant's policy for `target` without setting it, for
    /// live feedback while a password is typed: the rules it breaks, none when it would be
    /// accepted. Authorized exactly as setting that user's password would be, so a form
    /// shows feedback only to someone who may submit it.
    pub async fn check_new_password(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        candidate: &SecretString,
    ) -> Result<Vec<crate::password::Violation>, DirectoryError> {
        let user = self
            .authorized_password_target(actor, tenant_id, target, Action::ResetPassword)
            .await?;
        let tenant = self.tenant(tenant_id).await?;
        Ok(tenant
            .password_policy
            .check(candidate.expose_secret(), &context(&user))
            .err()
            .map(|e| e.violations)
            .unwrap_or_default())
    }

    /// Generates a password, or checks the provided one against the policy.
    pub(super) fn choose_password(
        &self,
        policy: &PasswordPolicy,
        user: &User,
        choice: PasswordChoice,
    ) -> Result<(SecretString, bool), DirectoryError> {
        let ctx = context(user);
        match choice {
            PasswordChoice::Generate => Ok((generate_password(policy, &ctx, &mut OsRng), true)),
            PasswordChoice::Provided(secret) => {
                policy.check(secret.expose_secret(), &ctx)?;
                Ok((secret, false))
            }
        }
    }
}

fn context(user: &User) -> PasswordContext<'_> {
    PasswordContext {
        user_principal_name: user.user_principal_name.as_str(),
        display_name: user.display_name.as_str(),
        disable_strong_password: user.password_policies.disable_strong_password,
    }
}
