//! Approval requests as directory operations: a `requestApproval` step's request (created
//! once per run step, with the approver's e-mail, in one transaction), what the approval
//! page shows, the approver's decision (audited, waking the step), and what the request's
//! state means for the step when the worker picks it up again (see [`crate::approval`]).

use chrono::{DateTime, Duration, Utc};
use secrecy::ExposeSecret as _;
use serde_json::json;

use super::mail::user_addresses;
use super::{Change, Directory};
use crate::approval::{ApprovalStatus, MAX_TIMEOUT_DAYS, NewApproval, OnTimeout, StoredApproval};
use crate::authz::{Action, Actor, Denied, authorize};
use crate::error::DirectoryError;
use crate::interactive::{random_token, token_digest};
use crate::mail::MailContent;
use crate::user::User;
use crate::workflow::OnFailure;
use crate::workflow_store::{ClaimedStep, StepOutcome};

/// What the approval page shows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalView {
    pub workflow_name: String,
    pub subject_display_name: String,
    pub subject_upn: String,
    pub approver_id: crate::ids::UserId,
    pub approver_upn: String,
    pub message: String,
    pub step_label: String,
    pub expires_at: DateTime<Utc>,
    pub status: ApprovalStatus,
    /// Pending, but past its expiry at the directory's clock.
    pub expired: bool,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A link that leads to no request (malformed, unknown): every such link gets one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalGone;

impl Directory {
    /// The request a `requestApproval` step made, if it made one.
    pub async fn workflow_approval_of_step(
        &self,
        actor: &Actor,
        step: &ClaimedStep,
    ) -> Result<Option<StoredApproval>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        Ok(self.store.find_approval(approval_id(step)).await?)
    }

    /// Creates the step's approval request and queues the approver's e-mail with the link
    /// (`link_prefix` + a random token), audited, in one transaction. The request's id is
    /// derived from the run and the step, so a step taken over after a crash that had made
    /// its request makes none: returns `false` then. Fails (naming why) when the approver has
    /// no address or this directory cannot seal mail.
    #[allow(clippy::too_many_arguments)]
    pub async fn request_workflow_approval(
        &self,
        actor: &Actor,
        step: &ClaimedStep,
        subject: &User,
        approver: &User,
        message: &str,
        timeout_days: i64,
        link_prefix: &str,
    ) -> Result<bool, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let field = |name: &str| format!("steps[{}].{name}", step.position);
        if !(1..=MAX_TIMEOUT_DAYS).contains(&timeout_days) {
            return Err(DirectoryError::invalid(
                field("timeoutDays"),
                format!("must be between 1 and {MAX_TIMEOUT_DAYS} days"),
            ));
        }
        let id = approval_id(step);
        if self.store.find_approval(id).await?.is_some() {
            return Ok(false);
        }
        let to = user_addresses(approver);
        if to.is_empty() {
            return Err(DirectoryError::invalid(
                field("approver"),
                format!(
                    "the approver {} has no e-mail address",
                    approver.user_principal_name
                ),
            ));
        }
        let tenant = step.tenant_id;
        let now = self.clock.now();
        // From the step's first claim: a retried step does not push its deadline back.
        let expires_at = step.first_started_at + Duration::days(timeout_days);
        let token = random_token();
        let link = format!("{link_prefix}{}", token.expose_secret());
        let step_label = format!("step {} ({})", step.position + 1, step.step.action.name());
        let mut body = format!(
            "Hello {},\n\nThe workflow \"{}\" asks you to approve its run for {} ({}) before it goes on.\n",
            approver.display_name,
            step.workflow_name,
            subject.display_name,
            subject.user_principal_name
        );
        if !message.trim().is_empty() {
            body.push_str(&format!("\n{}\n", message.trim_end()));
        }
        body.push_str(&format!(
            "\nApprove or reject it here (you will be asked to sign in as {}):\n{link}\n\nWithout a decision by {}, the request expires.\n",
            approver.user_principal_name,
            expires_at.format("%Y-%m-%d %H:%M UTC")
        ));
        let tenant_record = self.tenant(tenant).await?;
        let mut mail = self.seal_mail(
            &tenant_record,
            to,
            &MailContent::WorkflowMessage {
                subject: format!(
                    "Approval requested: {} for {}",
                    step.workflow_name, subject.display_name
                ),
                body,
            },
        )?;
        mail.id = crate::mail::MailId(id);
        let mut events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Request approval",
            operation_type: "Other",
            target: Some(subject),
            other_target: None,
            details: vec![
                ("workflow".into(), step.workflow_name.clone()),
                ("run".into(), step.run_id.to_string()),
                ("approver".into(), approver.user_principal_name.to_string()),
                ("expires".into(), expires_at.to_rfc3339()),
            ],
            outbox_kind: "workflow.approvalRequested",
            payload: json!({ "runId": step.run_id, "step": step.position, "approverId": approver.id }),
        });
        events.mail.push(mail);
        let created = self
            .store
            .create_approval(
                &NewApproval {
                    id,
                    tenant_id: tenant,
                    token_digest: token_digest(&token),
                    run_id: step.run_id,
                    position: step.position,
                    workflow_name: step.workflow_name.clone(),
                    subject_id: subject.id,
                    approver_id: approver.id,
                    message: message.to_owned(),
                    step_label,
                    created_at: now,
                    expires_at,
                },
                &events,
            )
            .await?;
        if created {
            self.mail_queued(&events);
        }
        Ok(created)
    }

    /// What a `requestApproval` step whose request exists comes to now: waiting (pending,
    /// not expired; looked at again hourly and when decided), succeeded (approved), the run
    /// ended (rejected), or the step's timeout policy.
    pub(super) async fn approval_outcome(
        &self,
        step: &ClaimedStep,
        on_timeout: &str,
    ) -> Result<StepOutcome, DirectoryError> {
        let now = self.clock.now();
        let Some(approval) = self.store.find_approval(approval_id(step)).await? else {
            return Err(DirectoryError::Internal(
                "an approval step finished without its request".into(),
            ));
        };
        let approver = self
            .store
            .find_user(approval.tenant_id, approval.approver_id)
            .await?
            .map_or_else(
                || approval.approver_id.to_string(),
                |u| u.user_principal_name.to_string(),
            );
        Ok(match approval.status {
            ApprovalStatus::Approved => StepOutcome::Succeeded {
                output: format!("approved by {approver}"),
            },
            ApprovalStatus::Rejected => StepOutcome::Failed {
                error: format!("rejected by {approver}: the run stops"),
                continue_run: false,
            },
            ApprovalStatus::Pending if now < approval.expires_at => StepOutcome::Waiting {
                output: format!(
                    "waiting for {approver} to approve, until {}",
                    approval.expires_at.to_rfc3339()
                ),
                until: approval.expires_at.min(now + Duration::hours(1)),
            },
            ApprovalStatus::Pending => {
                let late = format!(
                    "{approver} did not decide by {}",
                    approval.expires_at.to_rfc3339()
                );
                match OnTimeout::parse(on_timeout).unwrap_or(OnTimeout::Reject) {
                    OnTimeout::Approve => StepOutcome::Succeeded {
                        output: format!("{late}: approved on timeout"),
                    },
                    OnTimeout::Reject => StepOutcome::Failed {
                        error: format!("{late}: rejected on timeout, the run stops"),
                        continue_run: false,
                    },
                    OnTimeout::Fail => StepOutcome::Failed {
                        error: format!("{late}: the step fails on timeout"),
                        continue_run: step.step.on_failure == OnFailure::Continue,
                    },
                }
            }
        })
    }

    /// The request behind an approval link, for its page. Nothing is decided.
    pub async fn approval_by_token(&self, token: &str) -> Result<ApprovalView, ApprovalGone> {
        let approval = self.approval_of_token(token).await?;
        self.view_of(&approval).await.map_err(|e| {
            tracing::warn!(error = %e, "approval page: reading the request failed");
            ApprovalGone
        })
    }

    /// The approver's decision on the request behind `token`, as `actor` (who must be the
    /// approver): recorded once, before the expiry, audited, and the step woken so that the
    /// worker goes on. Returns the request as it now is.
    pub async fn decide_approval(
        &self,
        actor: &Actor,
        token: &str,
        approve: bool,
    ) -> Result<ApprovalView, DirectoryError> {
        let approval = self
            .approval_of_token(token)
            .await
            .map_err(|_| DirectoryError::not_found("Approval request"))?;
        let Actor::User { id, .. } = actor else {
            return Err(Denied("Only the approver can decide this request.".into()).into());
        };
        if *id != approval.approver_id {
            return Err(Denied("This request was sent to someone else.".into()).into());
        }
        let view = self.view_of(&approval).await?;
        if view.status != ApprovalStatus::Pending {
            return Err(DirectoryError::invalid("approval", "was already decided"));
        }
        if view.expired {
            return Err(DirectoryError::invalid("approval", "has expired"));
        }
        // A run cancelled (or otherwise ended) while its request waited has nothing left to
        // decide: the decision would move nothing and the page would claim it did.
        let run = self
            .store
            .list_workflow_runs(approval.tenant_id, None, Some(approval.run_id), 1)
            .await?
            .pop();
        if run.is_none_or(|r| r.status != crate::workflow_store::RunStatus::Running) {
            return Err(DirectoryError::invalid(
                "approval",
                "is no longer needed: its workflow run was cancelled or has ended",
            ));
        }
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        let subject = self
            .store
            .find_user(approval.tenant_id, approval.subject_id)
            .await?;
        let events = self.events(Change {
            actor,
            tenant: approval.tenant_id,
            category: "UserManagement",
            activity: "Decide approval",
            operation_type: "Update",
            target: subject.as_ref(),
            other_target: None,
            details: vec![
                ("decision".into(), status.as_str().to_owned()),
                ("workflow".into(), approval.workflow_name.clone()),
                ("run".into(), approval.run_id.to_string()),
                ("step".into(), approval.position.to_string()),
            ],
            outbox_kind: "workflow.approvalDecided",
            payload: json!({
                "runId": approval.run_id,
                "step": approval.position,
                "decision": status.as_str(),
            }),
        });
        let now = self.clock.now();
        if !self
            .store
            .decide_approval(approval.id, status, *id, now, &events)
            .await?
        {
            return Err(DirectoryError::invalid(
                "approval",
                "was decided or expired meanwhile",
            ));
        }
        Ok(ApprovalView {
            status,
            decided_at: Some(now),
            ..view
        })
    }

    async fn approval_of_token(&self, token: &str) -> Result<StoredApproval, ApprovalGone> {
        // A token is 43 base64url characters; anything else is not worth a query.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApprovalGone);
        }
        let digest = token_digest(&secrecy::SecretString::from(token.to_owned()));
        match self.store.find_approval_by_digest(&digest).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(ApprovalGone),
            Err(e) => {
                tracing::warn!(error = %e, "approval look-up failed");
                Err(ApprovalGone)
            }
        }
    }

    async fn view_of(&self, a: &StoredApproval) -> Result<ApprovalView, DirectoryError> {
        let subject = self.store.find_user(a.tenant_id, a.subject_id).await?;
        let approver = self.store.find_user(a.tenant_id, a.approver_id).await?;
        Ok(ApprovalView {
            workflow_name: a.workflow_name.clone(),
            subject_display_name: subject
                .as_ref()
                .map(|u| u.display_name.to_string())
                .unwrap_or_else(|| "a deleted user".into()),
            subject_upn: subject
                .as_ref()
                .map(|u| u.user_principal_name.to_string())
                .unwrap_or_default(),
            approver_id: a.approver_id,
            approver_upn: approver
                .map(|u| u.user_principal_name.to_string())
                .unwrap_or_default(),
            message: a.message.clone(),
            step_label: a.step_label.clone(),
            expires_at: a.expires_at,
            status: a.status,
            expired: a.status == ApprovalStatus::Pending && self.clock.now() >= a.expires_at,
            decided_at: a.decided_at,
        })
    }
}

/// The request id of a run's step: the same for every attempt of the step.
fn approval_id(step: &ClaimedStep) -> uuid::Uuid {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"latchkey workflow approval\0")
        .chain_update(step.run_id.to_string().as_bytes())
        .chain_update(step.position.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
