//! The local directory connector: each action is one `Directory` operation on the run's user.
//! Each is idempotent, so that a step taken over after a crash (its effect made, its record
//! not) does not act twice: disabling a disabled account is a no-op, removing licences
//! removes what is held, and a password set (or sessions revoked) since a taken-over step's
//! first claim is recognised as the step's own. Role, licence and attribute steps read the
//! user first and write only what differs; a `sendEmail` step's message has an id derived
//! from its run and step, so it is queued once.

use latchkey_core::Directory;
use latchkey_core::directory::{
    PasswordChoice, ProfileField, SetPassword, UserChanges, UserRef, effect_is_from_step, find_sku,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::license::{AssignedLicense, LicenseChange};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::User;
use latchkey_core::workflow::{
    Action, EmailRecipient, MAX_RENDERED_BODY, MAX_RENDERED_SUBJECT, render_template,
};
use latchkey_core::workflow_store::ClaimedStep;
use serde_json::{Value, json};

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
    match &step.step.action {
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
        Action::SendWebhook { .. } | Action::Wait { .. } | Action::RequestApproval { .. } => Err(
            DirectoryError::Internal("not a local directory action".into()),
        ),
        // The engine performs these itself (`http`, `delivered`).
        Action::CallHttp { .. } | Action::ResetPassword { .. } => Err(DirectoryError::Internal(
            format!("{} is performed by the engine", step.step.action.name()),
        )),
        Action::EnableAccount => {
            if user.account_enabled {
                return Ok("the account was already enabled".into());
            }
            directory
                .update_user(
                    &actor,
                    tenant,
                    &target,
                    UserChanges {
                        account_enabled: Some(true),
                        ..UserChanges::default()
                    },
                )
                .await?;
            Ok("enabled the account".into())
        }
        Action::SetAttributes { attributes } => {
            let mut text = Vec::new();
            for (name, value) in attributes {
                let field = ProfileField::from_graph_name(name).ok_or_else(|| {
                    DirectoryError::invalid(format!("attributes.{name}"), "is not settable")
                })?;
                let value = value.as_str().map(str::to_owned);
                // Only what differs: a retried step finds its change made and writes nothing.
                if field.get(&user.profile) != value {
                    text.push((field, value));
                }
            }
            if text.is_empty() {
                return Ok("every property already had its value: nothing to do".into());
            }
            let names: Vec<&str> = text.iter().map(|(f, _)| f.graph_name()).collect();
            let said = format!("set {}", names.join(", "));
            directory
                .update_user(
                    &actor,
                    tenant,
                    &target,
                    UserChanges {
                        text,
                        ..UserChanges::default()
                    },
                )
                .await?;
            Ok(said)
        }
        Action::AddRole { role } | Action::RemoveRole { role } => {
            let role = DirectoryRole::parse(role)
                .ok_or_else(|| DirectoryError::invalid("role", "is not a directory role"))?;
            let held = directory
                .member_of(&actor, tenant, &target)
                .await?
                .contains(&role);
            let adding = matches!(step.step.action, Action::AddRole { .. });
            match (adding, held) {
                (true, true) => Ok(format!("the user already holds {role}")),
                (false, false) => Ok(format!("the user does not hold {role}: nothing to do")),
                (true, false) => {
                    directory
                        .add_role_member(&actor, tenant, role, &target)
                        .await?;
                    Ok(format!("assigned the role {role}"))
                }
                (false, true) => {
                    directory
                        .remove_role_member(&actor, tenant, role, &target)
                        .await?;
                    Ok(format!("removed the role {role}"))
                }
            }
        }
        Action::AssignLicense { sku } | Action::RemoveLicense { sku } => {
            let skus = directory.list_skus(&actor, tenant).await?;
            let sku = find_sku(&skus, sku).ok_or_else(|| {
                DirectoryError::invalid("sku", format!("no SKU '{}' in this tenant", sku.trim()))
            })?;
            let held = directory
                .licenses_of(&actor, tenant, &[user.id])
                .await?
                .remove(&user.id)
                .unwrap_or_default()
                .iter()
                .any(|l| l.sku_id == sku.sku_id);
            let adding = matches!(step.step.action, Action::AssignLicense { .. });
            let part = &sku.sku_part_number;
            if adding == held {
                return Ok(if adding {
                    format!("the user already holds {part}")
                } else {
                    format!("the user does not hold {part}: nothing to do")
                });
            }
            let change = if adding {
                LicenseChange {
                    add: vec![AssignedLicense {
                        sku_id: sku.sku_id,
                        disabled_plans: vec![],
                    }],
                    remove: vec![],
                }
            } else {
                LicenseChange {
                    add: vec![],
                    remove: vec![sku.sku_id],
                }
            };
            directory
                .assign_licenses(&actor, tenant, &target, change)
                .await?;
            Ok(if adding {
                format!("assigned the licence {part}")
            } else {
                format!("removed the licence {part}")
            })
        }
        Action::SendEmail { to, subject, body } => {
            send_email(directory, step, &user, to, subject, body).await
        }
        Action::NotifyManager => {
            let Some(manager) = directory.get_manager(&actor, tenant, &target).await? else {
                return Ok("the user has no manager: nobody to notify".into());
            };
            let queued = directory
                .notify_manager_of_workflow(tenant, &user, &manager, step)
                .await?;
            Ok(if queued {
                format!("e-mailed the manager {}", manager.user_principal_name)
            } else {
                format!(
                    "the notice to the manager {} was already queued by this step",
                    manager.user_principal_name
                )
            })
        }
        // The engine sends these to the SCIM client (`crate::scim`) before this connector.
        Action::ScimProvision { .. } | Action::ScimDeprovision { .. } => Err(
            DirectoryError::Internal(format!("{} is the SCIM client's", step.step.action.name())),
        ),
    }
}

/// A `sendEmail` step: the recipient resolved, the templates rendered in the sandbox (a
/// failure fails the step with the template's error), the message queued.
async fn send_email(
    directory: &Directory,
    step: &ClaimedStep,
    user: &User,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<String, DirectoryError> {
    let actor = workflow_actor();
    let tenant = step.tenant_id;
    let field = |name: &str| format!("steps[{}].{name}", step.position);
    let manager = directory
        .get_manager(&actor, tenant, &UserRef::Id(user.id))
        .await?;
    let recipient =
        EmailRecipient::parse(to).map_err(|m| DirectoryError::invalid(field("to"), m))?;
    let (addresses, said) = match &recipient {
        EmailRecipient::User => (
            latchkey_core::directory::user_addresses(user),
            "the user".to_owned(),
        ),
        EmailRecipient::Manager => match &manager {
            Some(m) => (
                latchkey_core::directory::user_addresses(m),
                format!("the manager {}", m.user_principal_name),
            ),
            None => return Ok("the user has no manager: nobody to e-mail".into()),
        },
        EmailRecipient::Address(a) => (vec![a.clone()], a.to_string()),
    };
    if addresses.is_empty() {
        return Err(DirectoryError::invalid(
            field("to"),
            format!("{said} has no e-mail address"),
        ));
    }
    let mut context = json!({
        "user": user_context(user, manager.as_ref()),
        "workflow": { "name": step.workflow_name },
        "run": { "id": step.run_id.to_string(), "step": step.position },
    });
    // A run started by SaaS management knows its app (and seat or contract).
    if let Some(saas) = directory
        .saas_run_context(&actor, tenant, &step.occurrence)
        .await?
    {
        context["saas"] = saas;
    }
    let subject = render_template(subject, &context, MAX_RENDERED_SUBJECT)
        .map_err(|m| DirectoryError::invalid(field("subject"), m))?;
    // A subject is one line.
    let subject = subject.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    let body = render_template(body, &context, MAX_RENDERED_BODY)
        .map_err(|m| DirectoryError::invalid(field("body"), m))?;
    if !directory
        .send_workflow_email(&actor, tenant, user, addresses, &subject, &body, step)
        .await?
    {
        return Ok(format!(
            "the message to {said} was already queued by this step: \"{subject}\""
        ));
    }
    Ok(format!("e-mailed {said}: \"{subject}\""))
}

/// What a template sees of a user: its Graph properties (absent ones as `none`), and its
/// manager's names. Nothing secret: no password, hash or method.
pub(crate) fn user_context(user: &User, manager: Option<&User>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(user.id.to_string()));
    out.insert(
        "userPrincipalName".into(),
        json!(user.user_principal_name.to_string()),
    );
    out.insert("displayName".into(), json!(user.display_name.to_string()));
    out.insert("accountEnabled".into(), json!(user.account_enabled));
    for field in ProfileField::all() {
        out.insert(field.graph_name().into(), json!(field.get(&user.profile)));
    }
    let date = |d: Option<chrono::DateTime<chrono::Utc>>| json!(d.map(|d| d.to_rfc3339()));
    out.insert(
        "employeeHireDate".into(),
        date(user.profile.employee_hire_date),
    );
    out.insert(
        "employeeLeaveDateTime".into(),
        date(user.profile.employee_leave_date_time),
    );
    out.insert(
        "manager".into(),
        manager.map_or(Value::Null, |m| {
            json!({
                "displayName": m.display_name.to_string(),
                "userPrincipalName": m.user_principal_name.to_string(),
                "mail": m.profile.mail,
            })
        }),
    );
    Value::Object(out)
}

/// What a template sees of the run's user, for the other modules' templates (approvals).
pub(crate) fn template_user(user: &User, manager: Option<&User>) -> Value {
    user_context(user, manager)
}
