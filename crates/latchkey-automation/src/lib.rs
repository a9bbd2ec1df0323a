//! Latchkey's lifecycle automation engine. It owns *when* and *how*: the scheduler's `tick`
//! (which users' triggers are due, started as runs once per occurrence), the worker that
//! leases due steps and performs them, dry runs, and the connectors that perform actions
//! (the local directory, [`local`]; a connected Microsoft 365 tenant over Graph, [`remote`];
//! webhooks, [`webhook`]; approval requests, [`approval`]; SCIM 2.0 apps, [`scim`]).
//!
//! It must not decide a business rule or touch the store: every effect is a
//! `latchkey_core::Directory` operation, acting as `Actor::Operator` on `Channel::Workflow`,
//! so authorization, validation, audit and outbox events are the directory's.

pub mod approval;
pub mod definition_file;
pub mod delivered;
pub mod http;
pub mod local;
pub mod remote;
mod saas;
pub mod saas_discovery;
pub mod scim;
pub mod templates;
pub mod webhook;

use chrono::{DateTime, Duration, Utc};
use latchkey_core::Directory;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{ActionResult, UserRef, Workflow};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::TenantId;
use latchkey_core::query::{Comparison, Filter, Literal, UserProperty};
use latchkey_core::store::UserQuery;
use latchkey_core::user::User;
use latchkey_core::workflow::{Action, Occurrence, Trigger, TriggerContext};
use latchkey_core::workflow_store::{ClaimedStep, WorkflowSettings};

/// Users read per page while evaluating a trigger.
const PAGE: u32 = 500;
/// Change events a mover workflow reads per tick.
const CHANGES_PER_TICK: u32 = 1000;
/// Steps leased per pass of the worker.
const STEPS_PER_PASS: u32 = 20;
/// Steps of a pass performed at once (each of a different run).
const CONCURRENT_STEPS: usize = 8;

/// The actor every workflow effect is made as: the audit log shows the workflow channel.
pub fn workflow_actor() -> Actor {
    Actor::Operator {
        channel: Channel::Workflow,
    }
}

/// What a dry run found for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunUser {
    pub user_principal_name: String,
    /// When the trigger is due for the user (`None` for manual workflows).
    pub due: Option<DateTime<Utc>>,
    /// What each step would do, in order.
    pub steps: Vec<String>,
}

/// The engine over one directory. Cheap to clone; any number of them (on any number of
/// nodes) may tick and run steps at once.
#[derive(Debug, Clone)]
pub struct Engine {
    directory: Directory,
    http: reqwest::Client,
    remote: remote::Clients,
    /// How long this worker holds the steps it claims (see [`Engine::with_step_lease`]).
    lease: Duration,
    /// The view-once page up to the token, for `resetPassword` links
    /// ([`Engine::with_public_url`]).
    link_prefix: Option<String>,
    /// Where the web pages are, for links in e-mails (see [`Engine::with_public_url`]).
    public_url: Option<String>,
}

impl Engine {
    pub fn new(directory: Directory) -> Self {
        Self {
            directory,
            http: webhook::client(),
            remote: remote::Clients::default(),
            lease: Duration::seconds(latchkey_core::directory::STEP_LEASE_SECONDS),
            link_prefix: None,
            public_url: None,
        }
    }

    /// The server's public URL (as `latchkey serve --public-url`, `https://id.contoso.test`):
    /// `resetPassword` steps' links point at its view-once page, approval e-mails at
    /// `/account/approvals/{token}`. Without it those steps fail (or wait), naming why.
    #[must_use]
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_url = Some(public_url.to_owned());
        self.link_prefix = Some(format!(
            "{}/account/delivered/",
            public_url.trim_end_matches('/')
        ));
        self
    }

    /// Claims steps for `lease` (default 5 minutes, at least 2 s): after a crash, the steps
    /// this worker held are taken over once it has passed. It must stay longer than a pass
    /// of [`STEPS_PER_PASS`] steps takes, or another node may take over a step still being
    /// performed.
    #[must_use]
    pub fn with_step_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.directory.clock().now()
    }

    /// Starts a run for every (enabled workflow, user in scope) whose trigger is due at the
    /// directory's clock and has no run yet. A trigger that came due while nothing ticked
    /// (the server was down) is due all the same, so it fires on the next tick, once: the
    /// store refuses a second run for the same occurrence, and a recurring trigger's
    /// occurrence is its latest due one (missed earlier ones do not pile up). A workflow whose
    /// due runs would touch more than the tenant's share of users at once is held (logged,
    /// nothing started) unless it was saved with `confirmShare`; the others still tick.
    /// Returns how many runs were started.
    pub async fn tick(&self, tenant: TenantId) -> Result<usize, DirectoryError> {
        let actor = workflow_actor();
        let now = self.now();
        let settings = self.directory.workflow_settings(&actor, tenant).await?;
        let mut started = 0;
        for workflow in self.directory.list_workflows(&actor, tenant).await? {
            // Disabled, on demand only (scheduling off), or manual: nothing fires by itself.
            if !workflow.workflow.definition.fires_on_schedule() {
                // A change-following workflow passes over what happens while it does not
                // fire: once it does again, it fires for changes from then on.
                if workflow.workflow.definition.trigger.follows_changes()
                    && workflow.workflow.definition.target.is_none()
                {
                    self.skip_changes(tenant, &workflow).await?;
                }
                continue;
            }
            let (runs, cursor) = match &workflow.workflow.definition.target {
                // A connected tenant that cannot be read now is logged; the others tick.
                Some(target) => match self
                    .remote_due_runs(tenant, &workflow, &target.tenant, now)
                    .await
                {
                    Ok(runs) => (runs, None),
                    Err(e) => {
                        tracing::warn!(
                            tenant = %tenant,
                            workflow = %workflow.workflow.definition.name,
                            error = %e,
                            "workflow tick against a connected tenant failed"
                        );
                        continue;
                    }
                },
                None => {
                    let (due, cursor) = self.due_runs(tenant, &workflow, &settings, now).await?;
                    let runs: Vec<_> = due.iter().map(|(u, o)| (u.id, o.key.clone())).collect();
                    (runs, cursor)
                }
            };
            let result = if runs.is_empty() {
                Ok(0)
            } else {
                self.directory
                    .start_workflow_runs(&actor, tenant, &workflow, &runs, false)
                    .await
            };
            match result {
                Ok(n) => {
                    started += n;
                    // Only once its runs exist: a crash before re-reads the same changes,
                    // and their runs are refused as duplicates.
                    if let Some(seq) = cursor {
                        self.directory
                            .advance_workflow_cursor(&actor, workflow.id, seq)
                            .await?;
                    }
                }
                Err(DirectoryError::Invalid { property, message })
                    if property == "confirmShare" =>
                {
                    tracing::warn!(
                        tenant = %tenant,
                        workflow = %workflow.workflow.definition.name,
                        "workflow held: {message}"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(started)
    }

    /// The users of the workflow's scope whose trigger is due now and who have no run for
    /// that occurrence yet, with the occurrence. Reads users a page at a time, with one query
    /// per page for existing runs (and one for last sign-ins, for inactivity).
    async fn due_runs(
        &self,
        tenant: TenantId,
        workflow: &Workflow,
        settings: &WorkflowSettings,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(User, Occurrence)>, Option<i64>), DirectoryError> {
        let actor = workflow_actor();
        let trigger = &workflow.workflow.definition.trigger;
        if trigger.follows_changes() {
            return self.changed_users(tenant, workflow).await;
        }
        if trigger.follows_saas() {
            return self.saas_due_runs(tenant, workflow).await;
        }
        let ctx = TriggerContext {
            now,
            time_zone: settings.time_zone,
            not_before: workflow.created_at,
            scheduled: trigger.latest_scheduled(now, settings.time_zone),
        };
        let filter = match trigger {
            Trigger::Manual => return Ok((Vec::new(), None)),
            Trigger::Schedule { .. } if ctx.scheduled.is_none_or(|at| at < ctx.not_before) => {
                return Ok((Vec::new(), None));
            }
            _ => candidates(trigger, workflow.workflow.scope.clone(), now),
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .directory
                .list_users(&actor, tenant, &users_matching_opt(filter.clone(), after))
                .await?;
            let ids: Vec<_> = page.items.iter().map(|u| u.id).collect();
            let sign_ins = if matches!(trigger, Trigger::Inactivity { .. }) {
                self.directory.last_sign_ins(&actor, tenant, &ids).await?
            } else {
                Default::default()
            };
            let existing = self
                .directory
                .workflow_run_occurrences(&actor, workflow.id, &ids)
                .await?;
            for user in page.items {
                if let Some(occurrence) =
                    trigger.due_occurrence(&user, sign_ins.get(&user.id).copied(), &ctx)
                    && !existing.contains(&(user.id, occurrence.key.clone()))
                {
                    out.push((user, occurrence));
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok((out, None))
    }

    /// A mover workflow's due runs: the watched changes it has not read yet, of users in its
    /// scope, one run per change; and the outbox position to record once they are started.
    async fn changed_users(
        &self,
        tenant: TenantId,
        workflow: &Workflow,
    ) -> Result<(Vec<(User, Occurrence)>, Option<i64>), DirectoryError> {
        let actor = workflow_actor();
        let trigger = &workflow.workflow.definition.trigger;
        let events = self
            .directory
            .workflow_user_changes(&actor, tenant, workflow, CHANGES_PER_TICK)
            .await?;
        let cursor = events.last().map(|(seq, _)| *seq);
        let changes: Vec<_> = events
            .iter()
            .filter(|(_, e)| trigger.watches(&e.kind, &e.payload))
            .filter_map(|(_, e)| {
                Some((
                    e.subject?,
                    Occurrence {
                        due: e.occurred_at,
                        key: trigger.change_key_for(e),
                    },
                ))
            })
            .collect();
        let mut ids: Vec<_> = changes.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut in_scope = std::collections::HashMap::new();
        for chunk in ids.chunks(PAGE as usize) {
            let these = Filter::In {
                property: UserProperty::Id,
                values: chunk.iter().map(|id| Literal::Id(*id)).collect(),
            };
            let filter = match workflow.workflow.scope.clone() {
                Some(scope) => Filter::And(Box::new(scope), Box::new(these)),
                None => these,
            };
            let page = self
                .directory
                .list_users(&actor, tenant, &users_matching_opt(Some(filter), None))
                .await?;
            in_scope.extend(page.items.into_iter().map(|u| (u.id, u)));
        }
        let existing = self
            .directory
            .workflow_run_occurrences(&actor, workflow.id, &ids)
            .await?;
        let runs = changes
            .into_iter()
            .filter(|(id, o)| !existing.contains(&(*id, o.key.clone())))
            .filter_map(|(id, o)| Some((in_scope.get(&id)?.clone(), o)))
            .collect();
        Ok((runs, cursor))
    }

    /// Moves a disabled workflow's cursor past the changes it has not read (up to
    /// [`CHANGES_PER_TICK`] a tick), starting nothing.
    async fn skip_changes(
        &self,
        tenant: TenantId,
        workflow: &Workflow,
    ) -> Result<(), DirectoryError> {
        let actor = workflow_actor();
        let events = self
            .directory
            .workflow_user_changes(&actor, tenant, workflow, CHANGES_PER_TICK)
            .await?;
        if let Some((seq, _)) = events.last() {
            self.directory
                .advance_workflow_cursor(&actor, workflow.id, *seq)
                .await?;
        }
        Ok(())
    }

    /// Starts a run of the named workflow for each of `users` now, whatever its trigger.
    /// Each call is its own occurrence. More than the tenant's share of its users at once
    /// needs `confirm_share`. Returns how many runs were started.
    pub async fn run_manually(
        &self,
        tenant: TenantId,
        name: &str,
        users: &[UserRef],
        confirm_share: bool,
    ) -> Result<usize, DirectoryError> {
        let actor = workflow_actor();
        let workflow = self.directory.get_workflow(&actor, tenant, name).await?;
        // Every user is resolved first, so that an unknown one starts nothing.
        let mut resolved = if let Some(target) = &workflow.workflow.definition.target {
            // A connected tenant's users are named by their remote object id in the run.
            let (client, connection) = self
                .remote
                .get(&self.directory, tenant, &target.tenant)
                .await?;
            let names: Vec<String> = users.iter().map(ToString::to_string).collect();
            remote::resolve_users(&client, &connection, &names).await?
        } else {
            self.directory
                .resolve_users(&actor, tenant, users)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect()
        };
        resolved.sort_unstable();
        resolved.dedup();
        let occurrence = format!("manual:{}", self.now().to_rfc3339());
        let runs: Vec<_> = resolved
            .into_iter()
            .map(|id| (id, occurrence.clone()))
            .collect();
        self.directory
            .start_workflow_runs(&actor, tenant, &workflow, &runs, confirm_share)
            .await
    }

    /// One pass of the worker: leases due steps, performs them through their connector and
    /// records each outcome. A lease holds at most one step of a run (its current one), so
    /// the steps of a pass belong to different runs; those of different users are performed
    /// concurrently, a few at a time (one run's password reset waits on the hashing pool
    /// while others' writes go ahead), one user's in turn. Returns how many steps it
    /// performed.
    pub async fn run_due_steps(&self) -> Result<usize, DirectoryError> {
        use futures_util::StreamExt as _;
        let claimed = self
            .directory
            .claim_workflow_steps_leased(&workflow_actor(), STEPS_PER_PASS, self.lease)
            .await?;
        // Each workflow's target, read once per pass (a step names its workflow).
        let mut targets = std::collections::HashMap::new();
        for step in &claimed {
            let key = (step.tenant_id, step.workflow_name.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) = targets.entry(key) {
                let target = match self
                    .directory
                    .get_workflow(&workflow_actor(), step.tenant_id, &step.workflow_name)
                    .await
                {
                    Ok(w) => w.workflow.definition.target.map(|t| t.tenant),
                    Err(_) => None,
                };
                slot.insert(target);
            }
        }
        // One user's steps (of different runs) stay in order, one after the other, as
        // their runs' actions may touch the same account.
        let mut by_user: Vec<Vec<ClaimedStep>> = Vec::new();
        for step in claimed {
            match by_user.iter_mut().find(|g| g[0].user_id == step.user_id) {
                Some(group) => group.push(step),
                None => by_user.push(vec![step]),
            }
        }
        let targets = &targets;
        let finished: Vec<Result<usize, DirectoryError>> = futures_util::stream::iter(by_user)
            .map(|steps| async move {
                let mut done = 0;
                for step in &steps {
                    let connection = targets
                        .get(&(step.tenant_id, step.workflow_name.clone()))
                        .and_then(Option::as_deref);
                    if self.perform_claimed(step, connection).await? {
                        done += 1;
                    }
                }
                Ok(done)
            })
            .buffer_unordered(CONCURRENT_STEPS)
            .collect()
            .await;
        finished.into_iter().sum()
    }

    /// Performs one leased step (on the connected tenant `connection`, or here) and records
    /// its outcome; says whether the record was taken (the lease still held).
    async fn perform_claimed(
        &self,
        step: &ClaimedStep,
        connection: Option<&str>,
    ) -> Result<bool, DirectoryError> {
        let result = match connection {
            Some(connection) => self.perform_remote(step, connection).await,
            None => match self.condition_holds(step).await {
                Ok(false) => ActionResult::Skipped {
                    reason: format!(
                        "skipped: the user does not match the condition {}",
                        step.step.condition.as_deref().unwrap_or_default()
                    ),
                },
                Ok(true) => self.perform(step).await,
                Err(e) => ActionResult::Failed(e),
            },
        };
        self.directory.finish_workflow_step(step, result).await
    }

    /// A step of a workflow aimed at a connected tenant (conditions are refused at save).
    async fn perform_remote(&self, step: &ClaimedStep, connection: &str) -> ActionResult {
        if step.step.action.is_wait() {
            return ActionResult::Done {
                output: String::new(),
            };
        }
        if let Action::SendWebhook { url, format } = &step.step.action {
            return webhook::send(&self.directory, &self.http, step, url, *format).await;
        }
        match self
            .remote
            .get(&self.directory, step.tenant_id, connection)
            .await
        {
            Ok((client, name)) => remote::perform(&client, &name, step).await,
            Err(e) => ActionResult::Failed(e),
        }
    }

    /// Whether the step's condition holds for its run's user now (no condition: it does).
    async fn condition_holds(&self, step: &ClaimedStep) -> Result<bool, DirectoryError> {
        let Some(condition) = step.step.compiled_condition()? else {
            return Ok(true);
        };
        let only_this_user = Filter::Compare {
            property: UserProperty::Id,
            op: Comparison::Eq,
            value: Literal::Id(step.user_id),
        };
        let query = UserQuery {
            filter: Some(Filter::And(Box::new(condition), Box::new(only_this_user))),
            limit: 1,
            ..UserQuery::default()
        };
        let page = self
            .directory
            .list_users(&workflow_actor(), step.tenant_id, &query)
            .await?;
        Ok(!page.items.is_empty())
    }

    async fn perform(&self, step: &ClaimedStep) -> ActionResult {
        if step.step.action.is_wait() {
            // Core decides whether the wait is over.
            return ActionResult::Done {
                output: String::new(),
            };
        }
        if let Action::SendWebhook { url, format } = &step.step.action {
            let result = webhook::send(&self.directory, &self.http, step, url, *format).await;
            if let ActionResult::Remote { error, .. } = &result {
                tracing::warn!(workflow = %step.workflow_name, %error, "workflow webhook failed");
            }
            return result;
        }
        if let Action::RequestApproval { .. } = &step.step.action {
            return approval::request(&self.directory, step, self.public_url.as_deref()).await;
        }
        if step.step.action.scim_connection().is_some() {
            let result = scim::perform(&self.directory, &self.http, step).await;
            if let ActionResult::Remote { error, .. } = &result {
                tracing::warn!(workflow = %step.workflow_name, %error, "workflow SCIM step failed");
            }
            return result;
        }
        if let Action::CallHttp { .. } = &step.step.action {
            let result = http::call(&self.directory, &self.http, step).await;
            if let ActionResult::Remote { error, .. } = &result {
                tracing::warn!(workflow = %step.workflow_name, %error, "workflow HTTP call failed");
            }
            return result;
        }
        let performed = match &step.step.action {
            Action::ResetPassword { deliver_to } => {
                delivered::reset_password(
                    &self.directory,
                    step,
                    *deliver_to,
                    self.link_prefix.as_deref(),
                )
                .await
            }
            _ => local::perform(&self.directory, step).await,
        };
        match performed {
            Ok(output) => ActionResult::Done { output },
            Err(e) => {
                tracing::warn!(
                    workflow = %step.workflow_name,
                    action = step.step.action.name(),
                    error = %e,
                    "workflow step failed"
                );
                ActionResult::Failed(e)
            }
        }
    }

    /// Runs passes until no step is due; for the CLI and tests. Bounded, so that a step that
    /// keeps becoming due cannot loop forever.
    pub async fn run_until_idle(&self) -> Result<usize, DirectoryError> {
        let mut total = 0;
        for _ in 0..10_000 {
            let n = self.run_due_steps().await?;
            if n == 0 {
                break;
            }
            total += n;
        }
        Ok(total)
    }

    /// Which users the named workflow would start a run for now and what each step would
    /// do, without doing anything. A manual workflow lists every user in its scope.
    pub async fn dry_run(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Vec<DryRunUser>, DirectoryError> {
        let actor = workflow_actor();
        let workflow = self.directory.get_workflow(&actor, tenant, name).await?;
        let now = self.now();
        let steps = &workflow.workflow.definition.steps;
        if let Some(target) = &workflow.workflow.definition.target {
            return self.dry_run_remote(tenant, &workflow, &target.tenant).await;
        }
        let describe = |user: &User| -> Vec<String> {
            steps
                .iter()
                .map(|s| match &s.condition {
                    Some(c) => format!("{} (only if {c})", s.action.describe(user)),
                    None => s.action.describe(user),
                })
                .collect()
        };
        if !matches!(workflow.workflow.definition.trigger, Trigger::Manual) {
            let settings = self.directory.workflow_settings(&actor, tenant).await?;
            return Ok(self
                .due_runs(tenant, &workflow, &settings, now)
                .await?
                .0
                .into_iter()
                .map(|(user, occurrence)| DryRunUser {
                    user_principal_name: user.user_principal_name.to_string(),
                    due: Some(occurrence.due),
                    steps: describe(&user),
                })
                .collect());
        }
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .directory
                .list_users(
                    &actor,
                    tenant,
                    &users_matching_opt(workflow.workflow.scope.clone(), after),
                )
                .await?;
            for user in &page.items {
                out.push(DryRunUser {
                    user_principal_name: user.user_principal_name.to_string(),
                    due: None,
                    steps: describe(user),
                });
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// A hire- or leave-date workflow aimed at a connected tenant: its users in scope (the
    /// scope sent as Graph `$filter`, every `nextLink` followed) whose `employeeHireDate` /
    /// `employeeLeaveDateTime` plus the offset is due and who have no run for that
    /// occurrence yet (one query per page), as (remote object id, occurrence key).
    async fn remote_due_runs(
        &self,
        tenant: TenantId,
        workflow: &Workflow,
        connection: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(latchkey_core::ids::UserId, String)>, DirectoryError> {
        let trigger = &workflow.workflow.definition.trigger;
        if !matches!(
            trigger,
            Trigger::HireDate { .. } | Trigger::LeaveDate { .. }
        ) {
            return Ok(Vec::new());
        }
        let (client, name) = self.remote.get(&self.directory, tenant, connection).await?;
        let query = latchkey_graph_client::ListQuery {
            filter: workflow.workflow.definition.scope.clone(),
            select: vec![
                "id".into(),
                "employeeHireDate".into(),
                "employeeLeaveDateTime".into(),
            ],
            top: Some(PAGE),
            ..Default::default()
        };
        let failed = |e: latchkey_graph_client::GraphClientError| {
            DirectoryError::invalid(
                "target.tenant",
                format!("the connected tenant '{name}' answered: {e}"),
            )
        };
        let date = |v: &serde_json::Value| {
            v.as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        let mut out = Vec::new();
        let mut page = client.list_users(&query).await.map_err(failed)?;
        loop {
            let due: Vec<_> = page
                .value
                .iter()
                .filter_map(|u| {
                    let id = u["id"]
                        .as_str()?
                        .parse::<latchkey_core::ids::UserId>()
                        .ok()?;
                    let o = trigger.date_occurrence(
                        date(&u["employeeHireDate"]),
                        date(&u["employeeLeaveDateTime"]),
                    )?;
                    (o.due <= now).then_some((id, o.key))
                })
                .collect();
            let ids: Vec<_> = due.iter().map(|(id, _)| *id).collect();
            let existing = self
                .directory
                .workflow_run_occurrences(&workflow_actor(), workflow.id, &ids)
                .await?;
            out.extend(due.into_iter().filter(|run| !existing.contains(run)));
            match page.next_link.take() {
                Some(link) => page = client.next_page(&link, &query).await.map_err(failed)?,
                None => break,
            }
        }
        Ok(out)
    }

    /// A connected tenant's users in the workflow's scope (sent as Graph `$filter`, every
    /// page), with the steps' actions; nothing is changed.
    async fn dry_run_remote(
        &self,
        tenant: TenantId,
        workflow: &Workflow,
        connection: &str,
    ) -> Result<Vec<DryRunUser>, DirectoryError> {
        let (client, name) = self.remote.get(&self.directory, tenant, connection).await?;
        let query = latchkey_graph_client::ListQuery {
            filter: workflow.workflow.definition.scope.clone(),
            select: vec!["id".into(), "userPrincipalName".into()],
            top: Some(PAGE),
            ..Default::default()
        };
        let steps: Vec<String> = workflow
            .workflow
            .definition
            .steps
            .iter()
            .map(|s| format!("{} in the connected tenant '{name}'", s.action.name()))
            .collect();
        let mut out = Vec::new();
        client
            .list_all_users(&query, |page| {
                for user in page.value {
                    out.push(DryRunUser {
                        user_principal_name: user["userPrincipalName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        due: None,
                        steps: steps.clone(),
                    });
                }
            })
            .await
            .map_err(|e| {
                DirectoryError::invalid(
                    "target.tenant",
                    format!("the connected tenant '{name}' answered: {e}"),
                )
            })?;
        Ok(out)
    }
}

/// The scope narrowed, where SQL can, to users whose trigger may be due at `now` (the exact
/// test is `Trigger::due_occurrence`); `None` means every user.
fn candidates(trigger: &Trigger, scope: Option<Filter>, now: DateTime<Utc>) -> Option<Filter> {
    let (property, bound) = match trigger {
        Trigger::HireDate { offset_days } => (
            UserProperty::EmployeeHireDate,
            now - Duration::days(*offset_days),
        ),
        Trigger::LeaveDate { offset_days } => (
            UserProperty::EmployeeLeaveDateTime,
            now - Duration::days(*offset_days),
        ),
        // Any hire date not in the future (with the offset's room) may have an anniversary.
        Trigger::Anniversary { offset_days, .. } => (
            UserProperty::EmployeeHireDate,
            now + Duration::days(offset_days.abs()),
        ),
        Trigger::Inactivity { days } => {
            (UserProperty::CreatedDateTime, now - Duration::days(*days))
        }
        Trigger::Manual
        | Trigger::Schedule { .. }
        | Trigger::AttributeChanged { .. }
        | Trigger::UserCreated
        | Trigger::AccountDisabled
        | Trigger::AppDiscovered
        | Trigger::LicenseIdle { .. }
        | Trigger::ContractRenewalDue { .. } => {
            return scope;
        }
    };
    let due = Filter::Compare {
        property,
        op: Comparison::Le,
        value: Literal::DateTime(bound),
    };
    Some(match scope {
        Some(scope) => Filter::And(Box::new(scope), Box::new(due)),
        None => due,
    })
}

fn users_matching_opt(filter: Option<Filter>, after: Option<String>) -> UserQuery {
    UserQuery {
        filter,
        after,
        limit: PAGE,
        ..UserQuery::default()
    }
}

/// The worker `latchkey serve` runs: every `every`, tick each tenant's workflows and run the
/// due steps until none is left. Errors are logged and the loop goes on; several nodes may
/// run it at once (runs are unique, steps leased).
pub async fn run_worker(engine: Engine, every: std::time::Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = engine.pass().await {
            tracing::warn!(error = %e, "workflow pass failed");
        }
    }
}

impl Engine {
    /// One pass over every tenant: tick, then run what is due.
    pub async fn pass(&self) -> Result<(), DirectoryError> {
        // One tenant's failure (a stored workflow this version cannot read) must not stop the
        // others' triggers.
        for tenant in self.directory.list_tenants().await? {
            match self.tick(tenant.id).await {
                Ok(0) => {}
                Ok(started) => {
                    tracing::info!(tenant = %tenant.id, started, "workflow runs started");
                }
                Err(e) => tracing::warn!(tenant = %tenant.id, error = %e, "workflow tick failed"),
            }
        }
        self.run_until_idle().await?;
        Ok(())
    }
}
