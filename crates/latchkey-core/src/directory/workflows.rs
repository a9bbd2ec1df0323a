//! Lifecycle workflows as directory operations: saving (validated, versioned), listing,
//! starting runs (once per workflow, user and occurrence), leasing due steps, and deciding
//! what a step's result means for its run (retry with backoff, advance, or stop). The engine
//! that evaluates triggers and performs actions is `latchkey-automation`; it calls these.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use serde_json::json;

use super::mail::user_addresses;
use super::{Change, Directory};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::mail::MailContent;
use crate::user::User;
use crate::workflow::{OnFailure, ValidWorkflow, WorkflowDefinition, parse_time_zone};
use crate::workflow_store::{
    ClaimedStep, NewRun, RunId, RunRecord, RunStatus, StepOutcome, WorkflowId, WorkflowSettings,
    WorkflowWrite,
};

/// A transient failure is retried this many times in all before the step fails.
pub const MAX_STEP_ATTEMPTS: i32 = 5;
/// The first retry waits this long; each next one twice as long, up to an hour.
const FIRST_RETRY_SECONDS: i64 = 30;
const MAX_RETRY_SECONDS: i64 = 3600;
/// How long a worker holds a step before another may take it over.
pub const STEP_LEASE_SECONDS: i64 = 300;
/// The shortest lease a worker may ask for (`latchkey serve --workflow-lease-seconds`).
pub const MIN_STEP_LEASE_SECONDS: i64 = 2;
/// Most runs a history listing returns.
pub const MAX_RUNS_LISTED: u32 = 500;
/// A mover workflow reads a change only once it is this old, so that a transaction that
/// took its outbox position earlier but committed later is not passed over.
pub const CHANGE_SETTLE_SECONDS: i64 = 30;
/// The sealing purpose of workflow webhook secrets.
const WEBHOOK_SECRET_PURPOSE: &str = "workflow-webhook-secret";
/// A run start of at most this many users never needs the share confirmation (a leaver in
/// a five-person tenant is not a mass change).
pub const SHARE_CHECK_FLOOR: usize = 10;

/// A saved workflow at its latest version, with its definition validated again.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub id: WorkflowId,
    pub version: i64,
    pub workflow: ValidWorkflow,
    /// When its first version was saved: recurring triggers fire from then on.
    pub created_at: DateTime<Utc>,
    /// When its latest version was saved.
    pub updated_at: DateTime<Utc>,
}

impl Workflow {
    /// The workflow as stored, its definition validated again.
    pub(crate) fn from_stored(
        w: &crate::workflow_store::StoredWorkflow,
    ) -> Result<Self, DirectoryError> {
        Ok(Self {
            id: w.id,
            version: w.version,
            workflow: WorkflowDefinition::from_stored_json(&w.definition)?,
            created_at: w.created_at,
            updated_at: w.updated_at,
        })
    }
}

/// How an action ended, as the engine reports it.
#[derive(Debug)]
pub enum ActionResult {
    Done {
        output: String,
    },
    Failed(DirectoryError),
    /// The step's condition did not hold for the user.
    Skipped {
        reason: String,
    },
    /// A remote target's failure: `transient` ones (429, 5xx, network) are retried with
    /// backoff (no sooner than `retry_after`), others fail the step. `error` is recorded.
    Remote {
        error: String,
        transient: bool,
        retry_after: Option<Duration>,
    },
}

impl Directory {
    /// Validates a workflow definition (JSON) and saves it as a new version of the
    /// workflow with its name. Nothing is written if any field is invalid.
    pub async fn save_workflow(
        &self,
        actor: &Actor,
        tenant: TenantId,
        raw: &str,
    ) -> Result<Workflow, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let workflow = self.seal_workflow_secrets(WorkflowDefinition::parse_json(raw)?)?;
        if let Some(target) = &workflow.definition.target
            && self
                .store
                .tenant_connection(tenant, &target.tenant)
                .await?
                .is_none()
        {
            return Err(DirectoryError::invalid(
                "target.tenant",
                format!(
                    "no connected tenant '{}' (add it with `latchkey workflows connect-tenant`)",
                    target.tenant.trim()
                ),
            ));
        }
        if workflow.definition.target.is_none() {
            self.check_workflow_skus(tenant, &workflow).await?;
        }
        self.check_scim_connections(tenant, &workflow.definition)
            .await?;
        let (id, version) = self
            .store
            .save_workflow(&WorkflowWrite {
                tenant_id: tenant,
                name: workflow.definition.name.clone(),
                enabled: workflow.definition.enabled,
                definition: workflow.definition.to_stored_json()?,
                at: self.clock.now(),
            })
            .await?;
        Ok(Workflow {
            id,
            version,
            workflow,
            created_at: self.clock.now(),
            updated_at: self.clock.now(),
        })
    }

    pub async fn list_workflows(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<Workflow>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        self.store
            .list_workflows(tenant)
            .await?
            .iter()
            .map(Workflow::from_stored)
            .collect()
    }

    pub async fn get_workflow(
        &self,
        actor: &Actor,
        tenant: TenantId,
        name: &str,
    ) -> Result<Workflow, DirectoryError> {
        self.list_workflows(actor, tenant)
            .await?
            .into_iter()
            .find(|w| w.workflow.definition.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| DirectoryError::not_found(format!("Workflow '{}'", name.trim())))
    }

    /// Starts a run of `workflow` (at its current version) for `user`, unless one exists for
    /// the same occurrence. Returns whether a run was started.
    pub async fn start_workflow_run(
        &self,
        actor: &Actor,
        tenant: TenantId,
        workflow: &Workflow,
        user: UserId,
        occurrence: &str,
    ) -> Result<bool, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        Ok(self
            .store
            .create_workflow_run(&NewRun {
                id: RunId::new(),
                tenant_id: tenant,
                workflow_id: workflow.id,
                workflow_version: workflow.version,
                user_id: user,
                occurrence: occurrence.to_owned(),
                steps: workflow.workflow.definition.steps.clone(),
                at: self.clock.now(),
            })
            .await?)
    }

    /// Leases up to `limit` due steps of any tenant's runs for this worker.
    pub async fn claim_workflow_steps(
        &self,
        actor: &Actor,
        limit: u32,
    ) -> Result<Vec<ClaimedStep>, DirectoryError> {
        self.claim_workflow_steps_leased(actor, limit, Duration::seconds(STEP_LEASE_SECONDS))
            .await
    }

    /// [`Self::claim_workflow_steps`] with the worker's own lease length (at least
    /// [`MIN_STEP_LEASE_SECONDS`]): how long after a crash another worker, or the restarted
    /// one, takes the steps over.
    pub async fn claim_workflow_steps_leased(
        &self,
        actor: &Actor,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedStep>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let now = self.clock.now();
        let lease = lease.max(Duration::seconds(MIN_STEP_LEASE_SECONDS));
        Ok(self
            .store
            .claim_workflow_steps(now, now + lease, limit.min(100))
            .await?)
    }

    /// Records what an action did: success advances the run; a transient failure is retried
    /// with exponential backoff until [`MAX_STEP_ATTEMPTS`]; a permanent one fails the step,
    /// and the step's on-failure policy says whether the run goes on. Returns `false` when the
    /// lease had passed to another worker (nothing recorded).
    pub async fn finish_workflow_step(
        &self,
        step: &ClaimedStep,
        result: ActionResult,
    ) -> Result<bool, DirectoryError> {
        let now = self.clock.now();
        if let (Some(until), ActionResult::Done { .. }) =
            (step.step.action.wait_until(step.first_started_at), &result)
        {
            let outcome = if now >= until {
                StepOutcome::Succeeded {
                    output: format!("waited until {}", until.to_rfc3339()),
                }
            } else {
                StepOutcome::Waiting {
                    output: format!("waiting until {}", until.to_rfc3339()),
                    until,
                }
            };
            return Ok(self.store.finish_workflow_step(step, &outcome, now).await?);
        }
        // The request is made: its state (or its expiry) decides.
        if let (
            crate::workflow::Action::RequestApproval { on_timeout, .. },
            ActionResult::Done { .. },
        ) = (&step.step.action, &result)
        {
            let outcome = self.approval_outcome(step, on_timeout).await?;
            return Ok(self.store.finish_workflow_step(step, &outcome, now).await?);
        }
        let outcome = match result {
            ActionResult::Done { output } => StepOutcome::Succeeded { output },
            ActionResult::Skipped { reason } => StepOutcome::Skipped { output: reason },
            ActionResult::Failed(e) if is_transient(&e) && step.attempts < MAX_STEP_ATTEMPTS => {
                StepOutcome::Retry {
                    error: public_error(&e),
                    retry_at: now + retry_delay(step.attempts),
                }
            }
            ActionResult::Failed(e) => StepOutcome::Failed {
                error: public_error(&e),
                continue_run: step.step.on_failure == OnFailure::Continue,
            },
            ActionResult::Remote {
                error,
                transient: true,
                retry_after,
            } if step.attempts < MAX_STEP_ATTEMPTS => StepOutcome::Retry {
                error,
                retry_at: now + retry_delay(step.attempts).max(retry_after.unwrap_or_default()),
            },
            ActionResult::Remote { error, .. } => StepOutcome::Failed {
                error,
                continue_run: step.step.on_failure == OnFailure::Continue,
            },
        };
        Ok(self.store.finish_workflow_step(step, &outcome, now).await?)
    }

    /// Queues an e-mail to `manager` saying that `step`'s workflow ran for `user`, with an
    /// audit event, in one transaction. The message's id is derived from the run and the step
    /// (as a `sendEmail` step's is), so a step taken over after a crash that had already
    /// queued it queues nothing: returns `false` then. Fails (naming why) when the manager
    /// has no address or this directory cannot seal mail.
    pub async fn notify_manager_of_workflow(
        &self,
        tenant: TenantId,
        user: &User,
        manager: &User,
        step: &ClaimedStep,
    ) -> Result<bool, DirectoryError> {
        let workflow = step.workflow_name.as_str();
        let actor = Actor::Operator {
            channel: crate::authz::Channel::Workflow,
        };
        let to = user_addresses(manager);
        if to.is_empty() {
            return Err(DirectoryError::invalid(
                "manager.mail",
                format!(
                    "the manager {} has no e-mail address",
                    manager.user_principal_name
                ),
            ));
        }
        let tenant_record = self.tenant(tenant).await?;
        let mut mail = self.seal_mail(
            &tenant_record,
            to,
            &MailContent::WorkflowNotice {
                manager_display_name: manager.display_name.to_string(),
                display_name: user.display_name.to_string(),
                user_principal_name: user.user_principal_name.to_string(),
                workflow: workflow.to_owned(),
            },
        )?;
        let mut events = self.events(Change {
            actor: &actor,
            tenant,
            category: "UserManagement",
            activity: "Notify manager",
            operation_type: "Other",
            target: Some(user),
            other_target: None,
            details: vec![
                ("workflow".into(), workflow.to_owned()),
                ("manager".into(), manager.id.to_string()),
            ],
            outbox_kind: "user.managerNotified",
            payload: json!({ "workflow": workflow, "managerId": manager.id }),
        });
        mail.id = step_mail_id(step);
        events.mail.push(mail);
        match self.store.record_workflow_events(&events).await {
            // This run's step queued its notice already (with its audit event).
            Err(crate::store::StoreError::Conflict(_)) => return Ok(false),
            other => other?,
        }
        self.mail_queued(&events);
        Ok(true)
    }

    /// A local workflow's licence steps name SKUs of this tenant (by part number or id).
    pub(super) async fn check_workflow_skus(
        &self,
        tenant: TenantId,
        workflow: &ValidWorkflow,
    ) -> Result<(), DirectoryError> {
        let mut skus = None;
        for (i, step) in workflow.definition.steps.iter().enumerate() {
            let (crate::workflow::Action::AssignLicense { sku }
            | crate::workflow::Action::RemoveLicense { sku }) = &step.action
            else {
                continue;
            };
            if skus.is_none() {
                skus = Some(self.store.list_skus(tenant).await?);
            }
            let known = skus.as_deref().unwrap_or_default();
            if find_sku(known, sku).is_none() {
                return Err(DirectoryError::invalid(
                    format!("steps[{i}].sku"),
                    format!(
                        "no SKU '{}' in this tenant (name it by skuPartNumber or skuId)",
                        sku.trim()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Queues the e-mail of a workflow's `sendEmail` step (its subject and body already
    /// rendered) to `to` about `user`, with an audit event, in one transaction. The message's
    /// id is derived from the run and the step, so a step taken over after a crash that had
    /// already queued it queues nothing: returns `false` then. Fails (naming why) when there
    /// is no address or this directory cannot seal mail.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_workflow_email(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &User,
        to: Vec<crate::mail::MailAddress>,
        subject: &str,
        body: &str,
        step: &ClaimedStep,
    ) -> Result<bool, DirectoryError> {
        authorize(actor, Action::ManageTenant, &[])?;
        let workflow = step.workflow_name.as_str();
        if to.is_empty() {
            return Err(DirectoryError::invalid("to", "has no e-mail address"));
        }
        let recipients = to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let tenant_record = self.tenant(tenant).await?;
        let mut mail = self.seal_mail(
            &tenant_record,
            to,
            &MailContent::WorkflowMessage {
                subject: subject.to_owned(),
                body: body.to_owned(),
            },
        )?;
        mail.id = step_mail_id(step);
        let mut events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Send workflow e-mail",
            operation_type: "Other",
            target: Some(user),
            other_target: None,
            // Who it went to, never what it said.
            details: vec![
                ("workflow".into(), workflow.to_owned()),
                ("to".into(), recipients),
            ],
            outbox_kind: "user.workflowEmailSent",
            payload: json!({ "workflow": workflow, "runId": step.run_id }),
        });
        events.mail.push(mail);
        match self.store.record_workflow_events(&events).await {
            // The message of this run's step is queued already (with its audit event).
            Err(crate::store::StoreError::Conflict(_)) => return Ok(false),
            other => other?,
        }
        self.mail_queued(&events);
        Ok(true)
    }

    /// The newest runs of the tenant (of one workflow, if named), with their steps.
    pub async fn list_workflow_runs(
        &self,
        actor: &Actor,
        tenant: TenantId,
        workflow: Option<WorkflowId>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        Ok(self
            .store
            .list_workflow_runs(tenant, workflow, None, limit.clamp(1, MAX_RUNS_LISTED))
            .await?)
    }

    /// One run of the tenant, with its steps.
    pub async fn get_workflow_run(
        &self,
        actor: &Actor,
        tenant: TenantId,
        run: RunId,
    ) -> Result<RunRecord, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        self.store
            .list_workflow_runs(tenant, None, Some(run), 1)
            .await?
            .pop()
            .ok_or_else(|| DirectoryError::not_found(format!("Workflow run '{run}'")))
    }

    /// Cancels a running run (audited): no further step of it runs. A step a worker is
    /// performing at that moment may still take effect; its report is refused.
    pub async fn cancel_workflow_run(
        &self,
        actor: &Actor,
        tenant: TenantId,
        run: RunId,
    ) -> Result<RunRecord, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let record = self.get_workflow_run(actor, tenant, run).await?;
        if record.status != RunStatus::Running {
            return Err(DirectoryError::invalid(
                "run",
                format!("has already finished ({})", record.status.as_str()),
            ));
        }
        let events = self.run_event(actor, tenant, &record, "Cancel workflow run");
        if !self
            .store
            .cancel_workflow_run(tenant, run, self.clock.now(), &events)
            .await?
        {
            return Err(DirectoryError::invalid("run", "finished meanwhile"));
        }
        self.get_workflow_run(actor, tenant, run).await
    }

    /// Starts the finished run's workflow again (its current version) for the same user, as a
    /// new occurrence. A run still running is refused: cancel it first.
    pub async fn rerun_workflow_run(
        &self,
        actor: &Actor,
        tenant: TenantId,
        run: RunId,
    ) -> Result<RunId, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let record = self.get_workflow_run(actor, tenant, run).await?;
        if record.status == RunStatus::Running {
            return Err(DirectoryError::invalid(
                "run",
                "is still running: cancel it first",
            ));
        }
        let workflow = self
            .workflow_by_id(actor, tenant, record.workflow_id)
            .await
            .map_err(|e| match e {
                DirectoryError::NotFound { .. } => DirectoryError::not_found("the run's workflow"),
                other => other,
            })?;
        let now = self.clock.now();
        let id = RunId::new();
        let created = self
            .store
            .create_workflow_run(&NewRun {
                id,
                tenant_id: tenant,
                workflow_id: workflow.id,
                workflow_version: workflow.version,
                user_id: record.user_id,
                occurrence: format!("rerun:{run}:{}", now.to_rfc3339()),
                steps: workflow.workflow.definition.steps.clone(),
                at: now,
            })
            .await?;
        if !created {
            return Err(DirectoryError::invalid("run", "was re-run a moment ago"));
        }
        let events = self.run_event(actor, tenant, &record, "Re-run workflow run");
        self.store.record_workflow_events(&events).await?;
        Ok(id)
    }

    fn run_event(
        &self,
        actor: &Actor,
        tenant: TenantId,
        record: &RunRecord,
        activity: &'static str,
    ) -> crate::audit::Events {
        self.events(Change {
            actor,
            tenant,
            category: "Other",
            activity,
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![
                ("workflow".into(), record.workflow_name.clone()),
                ("run".into(), record.id.to_string()),
                ("user".into(), record.user_id.to_string()),
            ],
            outbox_kind: "workflow.runChanged",
            payload: json!({ "runId": record.id, "activity": activity }),
        })
    }
}

impl Directory {
    /// The tenant's workflow settings (time zone, share limit), defaults if none was saved.
    pub async fn workflow_settings(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<WorkflowSettings, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        let Some((zone, share)) = self.store.workflow_settings(tenant).await? else {
            return Ok(WorkflowSettings::default());
        };
        Ok(WorkflowSettings {
            time_zone: parse_time_zone(&zone)
                .map_err(|_| DirectoryError::Internal(format!("stored time zone '{zone}'")))?,
            max_run_share_percent: u8::try_from(share)
                .map_err(|_| DirectoryError::Internal(format!("stored share {share}")))?,
        })
    }

    /// Changes the tenant's time zone (an IANA name) and/or share limit (1–100 %), audited.
    /// Nothing is written if either is invalid.
    pub async fn set_workflow_settings(
        &self,
        actor: &Actor,
        tenant: TenantId,
        time_zone: Option<&str>,
        max_run_share_percent: Option<u32>,
    ) -> Result<WorkflowSettings, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let mut settings = self.workflow_settings(actor, tenant).await?;
        if let Some(zone) = time_zone {
            settings.time_zone = parse_time_zone(zone)?;
        }
        if let Some(share) = max_run_share_percent {
            settings.max_run_share_percent = u8::try_from(share)
                .ok()
                .filter(|s| (1..=100).contains(s))
                .ok_or_else(|| {
                    DirectoryError::invalid("maxRunSharePercent", "must be between 1 and 100")
                })?;
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Update workflow settings",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![
                ("timeZone".into(), settings.time_zone.name().to_owned()),
                (
                    "maxRunSharePercent".into(),
                    settings.max_run_share_percent.to_string(),
                ),
            ],
            outbox_kind: "tenant.workflowSettingsChanged",
            payload: json!({
                "timeZone": settings.time_zone.name(),
                "maxRunSharePercent": settings.max_run_share_percent,
            }),
        });
        self.store
            .save_workflow_settings(
                tenant,
                settings.time_zone.name(),
                i32::from(settings.max_run_share_percent),
                &events,
            )
            .await?;
        Ok(settings)
    }

    /// The occurrences `workflow` already has a run for, among `users` (one query).
    pub async fn workflow_run_occurrences(
        &self,
        actor: &Actor,
        workflow: WorkflowId,
        users: &[UserId],
    ) -> Result<HashSet<(UserId, String)>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        Ok(self
            .store
            .workflow_run_occurrences(workflow, users)
            .await?
            .into_iter()
            .collect())
    }

    /// The user-change events a mover workflow has not read yet (from its creation on, at
    /// most `limit`, each at least [`CHANGE_SETTLE_SECONDS`] old), with their positions.
    pub async fn workflow_user_changes(
        &self,
        actor: &Actor,
        tenant: TenantId,
        workflow: &Workflow,
        limit: u32,
    ) -> Result<Vec<(i64, crate::audit::OutboxEvent)>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let after = self.store.workflow_cursor(workflow.id).await?.unwrap_or(0);
        let until = self.clock.now() - Duration::seconds(CHANGE_SETTLE_SECONDS);
        Ok(self
            .store
            .user_changes_after(
                tenant,
                after,
                workflow.created_at,
                until,
                limit.clamp(1, 1000),
            )
            .await?)
    }

    /// Records that a mover workflow has read the outbox up to `seq`.
    pub async fn advance_workflow_cursor(
        &self,
        actor: &Actor,
        workflow: WorkflowId,
        seq: i64,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        Ok(self.store.set_workflow_cursor(workflow, seq).await?)
    }

    /// The last successful sign-in of each of `users` that has one (one query).
    pub async fn last_sign_ins(
        &self,
        actor: &Actor,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, DateTime<Utc>>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .store
            .last_sign_ins(tenant, users)
            .await?
            .into_iter()
            .collect())
    }

    /// Starts the runs of `workflow` for these (user, occurrence) pairs, each unless it
    /// exists. A start that would touch more than the tenant's share of its users at once
    /// (and more than [`SHARE_CHECK_FLOOR`] users) is refused, starting nothing, unless
    /// `confirmed` (or the workflow says `confirmShare`). Returns how many were started.
    pub async fn start_workflow_runs(
        &self,
        actor: &Actor,
        tenant: TenantId,
        workflow: &Workflow,
        runs: &[(UserId, String)],
        confirmed: bool,
    ) -> Result<usize, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        if !confirmed
            && !workflow.workflow.definition.confirm_share
            && let Some(exceeded) = self
                .workflow_share_exceeded(actor, tenant, runs.len() as u64)
                .await?
        {
            let super::ShareExceeded {
                starting: n,
                total,
                limit_percent: limit,
            } = exceeded;
            return Err(DirectoryError::invalid(
                "confirmShare",
                format!(
                    "starting '{}' now would touch {n} of the tenant's {total} users \
                     ({} %), more than the {limit} % allowed at once without confirmation; \
                     confirm with `latchkey workflows run --confirm-share`, or save the \
                     workflow with \"confirmShare\": true for its triggers",
                    workflow.workflow.definition.name,
                    n * 100 / total.max(1),
                ),
            ));
        }
        let mut started = 0;
        for (user, occurrence) in runs {
            if self
                .start_workflow_run(actor, tenant, workflow, *user, occurrence)
                .await?
            {
                started += 1;
            }
        }
        Ok(started)
    }

    /// Generates a new webhook secret for the named workflow, stores it sealed under the
    /// master key (audited, the secret in no event) and returns it, the one time it is shown.
    pub async fn new_workflow_webhook_secret(
        &self,
        actor: &Actor,
        tenant: TenantId,
        name: &str,
    ) -> Result<secrecy::SecretString, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        use base64::Engine as _;
        use rand::RngCore as _;
        let workflow = self.get_workflow(actor, tenant, name).await?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let sealed = self
            .master_key()?
            .seal(WEBHOOK_SECRET_PURPOSE, secret.as_bytes())
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Update workflow webhook secret",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![("workflow".into(), workflow.workflow.definition.name.clone())],
            outbox_kind: "workflow.secretChanged",
            payload: json!({ "workflowId": workflow.id }),
        });
        self.store
            .save_workflow_secret(workflow.id, &sealed, self.clock.now(), &events)
            .await?;
        Ok(secrecy::SecretString::from(secret))
    }

    /// The workflow's webhook secret, opened, for signing; `None` if none was set.
    pub async fn workflow_webhook_secret(
        &self,
        actor: &Actor,
        workflow: WorkflowId,
    ) -> Result<Option<secrecy::SecretString>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let Some(sealed) = self.store.workflow_secret(workflow).await? else {
            return Ok(None);
        };
        self.open_secret(WEBHOOK_SECRET_PURPOSE, &sealed, "webhook secret")
            .map(Some)
    }
}

/// The queue id of a run's step's message: the same for every attempt of the step.
fn step_mail_id(step: &ClaimedStep) -> crate::mail::MailId {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"latchkey workflow mail\0")
        .chain_update(step.run_id.to_string().as_bytes())
        .chain_update(step.position.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    crate::mail::MailId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The SKU a workflow step names, by `skuPartNumber` (any case) or `skuId`.
pub fn find_sku<'a>(
    skus: &'a [crate::license::SkuUsage],
    name: &str,
) -> Option<&'a crate::license::Sku> {
    let name = name.trim();
    skus.iter().map(|u| &u.sku).find(|s| {
        s.sku_part_number.eq_ignore_ascii_case(name)
            || s.sku_id.to_string().eq_ignore_ascii_case(name)
    })
}

/// Failures that may pass on their own: a busy hashing pool, a racing writer, the database.
fn is_transient(e: &DirectoryError) -> bool {
    matches!(
        e,
        DirectoryError::Busy | DirectoryError::Stale | DirectoryError::Internal(_)
    )
}

/// What the run history may show: internal errors stay in the logs.
fn public_error(e: &DirectoryError) -> String {
    match e {
        DirectoryError::Internal(_) => "internal error (see the server log)".to_owned(),
        other => other.to_string(),
    }
}

/// 30 s after the first attempt, doubling, at most an hour.
fn retry_delay(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::seconds((FIRST_RETRY_SECONDS << exp).min(MAX_RETRY_SECONDS))
}

/// Whether an effect made at `effect_at` is this step's own, made by an earlier attempt that
/// crashed before recording it: only a step taken over (a later attempt) can have one, and
/// then an effect no older than the step's first claim is its own. On the first attempt the
/// action always runs (an effect in the same clock tick is someone else's).
pub fn effect_is_from_step(effect_at: Option<DateTime<Utc>>, step: &ClaimedStep) -> bool {
    step.attempts > 1 && effect_at.is_some_and(|t| t >= step.first_started_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_thirty_seconds_doubling_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::seconds(30));
        assert_eq!(retry_delay(2), Duration::seconds(60));
        assert_eq!(retry_delay(3), Duration::seconds(120));
        assert_eq!(retry_delay(12), Duration::seconds(3600));
    }

    #[test]
    fn only_busy_stale_and_internal_failures_are_retried() {
        assert!(is_transient(&DirectoryError::Busy));
        assert!(is_transient(&DirectoryError::Stale));
        assert!(!is_transient(&DirectoryError::invalid("x", "y")));
        assert!(!is_transient(&DirectoryError::not_found("user")));
        assert_eq!(
            public_error(&DirectoryError::Internal("db password=…".into())),
            "internal error (see the server log)"
        );
    }
}
