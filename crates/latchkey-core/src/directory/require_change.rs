//! Requiring a password change at the next sign-in without setting a new password (the
//! admin center's bulk "Require password change"). The user keeps signing in with the
//! current password and is then made to choose another, as after a reset with
//! `forceChangePasswordNextSignIn`.

use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;

impl Directory {
    /// Sets the user's force-change flag. Authorized as a password reset with the target's
    /// roles (whoever may not reset a user's password may not force them to change it).
    /// Idempotent (the admin center's bulk action and the workflows' `requirePasswordChange`
    /// step): `false`, and nothing written or audited, when a change is already required.
    pub async fn require_password_change(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<bool, DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        authorize(actor, Action::ResetPassword, &roles)?;
        if user.force_change_password_next_sign_in {
            return Ok(false);
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Update user",
            operation_type: "Update",
            target: Some(&user),
            other_target: None,
            details: vec![(
                "modifiedProperties".into(),
                "passwordProfile.forceChangePasswordNextSignIn".into(),
            )],
            outbox_kind: "user.updated",
            payload: json!({ "modifiedProperties": ["passwordProfile"] }),
        });
        self.store
            .require_password_change(tenant, user.id, user.version, &events)
            .await?;
        Ok(true)
    }
}
