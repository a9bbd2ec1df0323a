//! The `resetPassword` step: a generated password, a change required at next sign-in, and a
//! view-once link to it e-mailed to the user or their manager — one `Directory` operation
//! (`reset_password_for_workflow_step`). A step taken over after a crash whose reset was
//! made (the password changed since the step's first claim) does not reset again, and the
//! link's message id is derived from the run and step, so exactly one link is sent.

use latchkey_core::Directory;
use latchkey_core::directory::{UserRef, effect_is_from_step};
use latchkey_core::error::DirectoryError;
use latchkey_core::workflow_http::DeliverTo;
use latchkey_core::workflow_store::ClaimedStep;

use crate::workflow_actor;

/// Performs the step; the output (for the run history) names the recipient, never the
/// password or the link. `link_prefix` is the server's view-once page up to the token
/// (`Engine::with_public_url`).
pub async fn reset_password(
    directory: &Directory,
    step: &ClaimedStep,
    deliver_to: DeliverTo,
    link_prefix: Option<&str>,
) -> Result<String, DirectoryError> {
    let actor = workflow_actor();
    let user = directory
        .get_user(&actor, step.tenant_id, &UserRef::Id(step.user_id))
        .await?;
    if effect_is_from_step(user.last_password_change, step) {
        return Ok(
            "the password was already reset and its view-once link sent by this step".into(),
        );
    }
    let prefix = link_prefix.ok_or_else(|| {
        DirectoryError::invalid(
            format!("steps[{}].deliverTo", step.position),
            "this worker does not know the server's public URL for the view-once link (the \
             server's worker, `latchkey serve`, does); nothing was reset",
        )
    })?;
    match directory
        .reset_password_for_workflow_step(&actor, step, deliver_to, prefix)
        .await?
    {
        Some(delivered) => Ok(format!(
            "set a generated password (a change is required at next sign-in) and e-mailed {} \
             ({}) a view-once link to it, valid until {}",
            delivered.to,
            deliver_to.as_str(),
            delivered.expires_at.to_rfc3339()
        )),
        None => {
            Ok("the password was already reset and its view-once link sent by this step".into())
        }
    }
}
