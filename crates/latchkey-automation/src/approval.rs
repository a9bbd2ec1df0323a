//! The `requestApproval` step: the approver resolved (the run's user's manager, or a user
//! of the tenant by UPN; an unknown one fails the step), the message rendered in the
//! sandbox, and the request made through the directory, which e-mails the approver a link to
//! `<public URL>/account/approvals/{token}`. The request is made once per run step; the step
//! then waits, and core reads the decision (or the expiry) each time the step comes up.

use latchkey_core::Directory;
use latchkey_core::approval::ApproverRef;
use latchkey_core::directory::{ActionResult, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::workflow::{Action, MAX_RENDERED_BODY, render_template};
use latchkey_core::workflow_store::ClaimedStep;
use serde_json::json;

use crate::workflow_actor;

/// Makes the step's request if it has none yet; `Done` lets core decide what the request's
/// state means for the step.
pub async fn request(
    directory: &Directory,
    step: &ClaimedStep,
    public_url: Option<&str>,
) -> ActionResult {
    // An engine without the public URL (the offline `workflows work`) leaves the step to a
    // server's worker, which has one: retried, no sooner than a minute.
    let Some(public_url) = public_url else {
        return ActionResult::Remote {
            error: "waiting for a server's worker: this engine has no public URL to link the \
                    approval page to (set LATCHKEY_PUBLIC_URL)"
                .into(),
            transient: true,
            retry_after: Some(chrono::Duration::minutes(1)),
        };
    };
    match make_request(directory, step, public_url).await {
        Ok(output) => ActionResult::Done { output },
        Err(e) => {
            tracing::warn!(workflow = %step.workflow_name, error = %e, "approval request failed");
            ActionResult::Failed(e)
        }
    }
}

async fn make_request(
    directory: &Directory,
    step: &ClaimedStep,
    public_url: &str,
) -> Result<String, DirectoryError> {
    let Action::RequestApproval {
        approver,
        message,
        timeout_days,
        ..
    } = &step.step.action
    else {
        return Err(DirectoryError::Internal("not an approval step".into()));
    };
    let actor = workflow_actor();
    if directory
        .workflow_approval_of_step(&actor, step)
        .await?
        .is_some()
    {
        return Ok("the approval was already requested".into());
    }
    let field = |name: &str| format!("steps[{}].{name}", step.position);
    let tenant = step.tenant_id;
    let user = directory
        .get_user(&actor, tenant, &UserRef::Id(step.user_id))
        .await?;
    let manager = directory
        .get_manager(&actor, tenant, &UserRef::Id(user.id))
        .await?;
    let approver_user = match ApproverRef::parse(approver)
        .map_err(|m| DirectoryError::invalid(field("approver"), m))?
    {
        ApproverRef::Manager => manager.clone().ok_or_else(|| {
            DirectoryError::invalid(
                field("approver"),
                format!("{} has no manager to approve", user.user_principal_name),
            )
        })?,
        ApproverRef::User(upn) => directory
            .get_user(&actor, tenant, &UserRef::Upn(upn.clone()))
            .await
            .map_err(|e| match e {
                DirectoryError::NotFound { .. } => DirectoryError::invalid(
                    field("approver"),
                    format!("no user {upn} in this tenant"),
                ),
                other => other,
            })?,
    };
    let rendered = match message {
        Some(source) => {
            let context = json!({
                "user": crate::local::template_user(&user, manager.as_ref()),
                "workflow": { "name": step.workflow_name },
                "run": { "id": step.run_id.to_string(), "step": step.position },
                "approver": {
                    "displayName": approver_user.display_name.to_string(),
                    "userPrincipalName": approver_user.user_principal_name.to_string(),
                },
            });
            render_template(source, &context, MAX_RENDERED_BODY)
                .map_err(|m| DirectoryError::invalid(field("message"), m))?
        }
        None => String::new(),
    };
    let link_prefix = format!("{}/account/approvals/", public_url.trim_end_matches('/'));
    let made = directory
        .request_workflow_approval(
            &actor,
            step,
            &user,
            &approver_user,
            &rendered,
            *timeout_days,
            &link_prefix,
        )
        .await?;
    Ok(if made {
        format!("asked {} to approve", approver_user.user_principal_name)
    } else {
        "the approval was already requested".into()
    })
}
