//! The local directory connector: each action is one `Directory` operation on the run's user.
//! Each is idempotent, so that a step taken over after a crash (its effect made, its record
//! not) does not act twice: disabling a disabled account is a no-op, removing licences
//! removes what is held, and a password set (or sessions revoked) since a taken-over step's
//! first claim is recognised as the step's own.

use latchkey_core::Directory;
use latchkey_core::directory::{
    PasswordChoice, SetPassword, UserChanges, UserRef, effect_is_from_step,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::license::LicenseChange;
use latchkey_core::workflow::Action;
use latchkey_core::workflow_store::ClaimedStep;

use crate::workflow_actor;

/// Performs the step's action on its user; the output is a sentence for the run history.
pub async fn perform(directory: &Directory, step: &ClaimedStep) -> Result<String, DirectoryError> {
    let actor = workflow_actor();
    let tenant = step.tenant_id;
    let target = UserRef::Id(step.user_id);
    let user = match directory.get_user(&actor, tenant, &target).await {
        // Deleting a user already deleted (a step taken over after a crash) is done.
        Err(DirectoryError::NotFound { .. }) if step.step.action == Action::DeleteUser => {
            return Ok("the user was already deleted".into());
        }
        other => other?,
    };
    match step.step.action {
        Action::DisableAccount => {
            if !user.account_enabled {
                return Ok("the account was already disabled".into());
            }
            directory
                .update_user(
                    &actor,
                    tenant,
                    &target,
                    UserChanges {
                        account_enabled: Some(false),
                        ..UserChanges::default()
                    },
                )
                .await?;
            Ok("disabled the account".into())
        }
        Action::RevokeSessions => {
            // A step taken over after a crash that finds the cut-off moved since its first
            // claim does not revoke (and audit) again.
            if effect_is_from_step(Some(user.sign_in_sessions_valid_from), step) {
                return Ok("sessions were already revoked by this step".into());
            }
            directory
                .revoke_sign_in_sessions(&actor, tenant, &target)
                .await?;
            Ok("revoked every session and refresh token".into())
        }
        Action::ResetPasswordUnknown => {
            if effect_is_from_step(user.last_password_change, step) {
                return Ok("the password was already reset by this step".into());
            }
            // The generated password is dropped unread: nobody is meant to know it.
            let _ = directory
                .set_password(
                    &actor,
                    tenant,
                    &target,
                    SetPassword {
                        choice: PasswordChoice::Generate,
                        force_change_next_sign_in: true,
                        force_change_with_mfa: false,
                        reason: Some(format!("workflow '{}'", step.workflow_name)),
                    },
                )
                .await?;
            Ok("set an unknown generated password; a change is required at next sign-in".into())
        }
        Action::RemoveAllLicenses => {
            let held = directory
                .licenses_of(&actor, tenant, &[user.id])
                .await?
                .remove(&user.id)
                .unwrap_or_default();
            if held.is_empty() {
                return Ok("the user holds no licence".into());
            }
            let count = held.len();
            directory
                .assign_licenses(
                    &actor,
                    tenant,
                    &target,
                    LicenseChange {
                        add: vec![],
                        remove: held.into_iter().map(|l| l.sku_id).collect(),
                    },
                )
                .await?;
            Ok(format!("removed {count} licence(s)"))
        }
        Action::RequirePasswordChange => {
            if directory
                .require_password_change(&actor, tenant, &target)
                .await?
            {
                Ok("a password change is required at next sign-in".into())
            } else {
                Ok("a password change was already required: nothing to do".into())
            }
        }
        Action::DeleteUser => {
            directory.delete_user(&actor, tenant, &target).await?;
            Ok("moved the user to the recycle bin".into())
        }
        Action::SendWebhook { .. } | Action::Wait { .. } => Err(DirectoryError::Internal(
            "not a local directory action".into(),
        )),
        Action::NotifyManager => {
            let Some(manager) = directory.get_manager(&actor, tenant, &target).await? else {
                return Ok("the user has no manager: nobody to notify".into());
            };
            directory
                .notify_manager_of_workflow(tenant, &user, &manager, &step.workflow_name)
                .await?;
            Ok(format!(
                "e-mailed the manager {}",
                manager.user_principal_name
            ))
        }
    }
}
