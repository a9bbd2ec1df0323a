//! Durable workflow storage: saved workflows (every save a new version) and runs, one per
//! (workflow, user, occurrence), whose steps are claimed with leases so that two workers
//! never run one step. What happens next after a step (retry, advance, stop) is decided in
//! core (`directory::workflows`); the store writes it in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::Events;
pub use crate::ids::{RunId, WorkflowId};
use crate::ids::{TenantId, UserId};
use crate::store::StoreResult;
use crate::workflow::Step;

/// A workflow to save: a new version of the workflow with this name, or its first.
#[derive(Debug, Clone)]
pub struct WorkflowWrite {
    pub tenant_id: TenantId,
    pub name: String,
    pub enabled: bool,
    /// The validated definition in its stored form (JSON with a schema version).
    pub definition: String,
    pub at: DateTime<Utc>,
}

/// A saved workflow at its latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWorkflow {
    pub id: WorkflowId,
    pub tenant_id: TenantId,
    pub name: String,
    pub enabled: bool,
    pub version: i64,
    pub definition: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A run to start, with its steps copied from the workflow version it starts with.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: RunId,
    pub tenant_id: TenantId,
    pub workflow_id: WorkflowId,
    pub workflow_version: i64,
    pub user_id: UserId,
    /// Unique per workflow and user: the trigger's occurrence, or a manual run's id.
    pub occurrence: String,
    pub steps: Vec<Step>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Skipped,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A step a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    pub run_id: RunId,
    pub position: i32,
    pub tenant_id: TenantId,
    pub workflow_name: String,
    pub user_id: UserId,
    pub step: Step,
    /// Attempts including this one.
    pub attempts: i32,
    /// When the step was first claimed: an action that finds its effect already made after
    /// this instant (a crash after the effect, before the record) does not repeat it.
    pub first_started_at: DateTime<Utc>,
    pub lease: Uuid,
    /// The run's occurrence key (what fired it: a SaaS trigger's names the app, seat or
    /// contract, for the templates' `saas` context).
    pub occurrence: String,
}

/// What became of a claimed step, as decided by core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Succeeded {
        output: String,
    },
    /// A transient failure: the step is pending again from `retry_at`.
    Retry {
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// A permanent failure (or retries exhausted). With `continue_run` the run goes on to the
    /// next step; without, the run fails and its remaining steps are skipped.
    Failed {
        error: String,
        continue_run: bool,
    },
    /// The step's condition did not hold for the run's user: skipped, and the run goes on.
    Skipped {
        output: String,
    },
    /// A wait step not over yet: pending again from `until`, the claim not counted as an
    /// attempt.
    Waiting {
        output: String,
        until: DateTime<Utc>,
    },
}

/// A tenant's workflow settings (migration 0018); [`Default`] until one is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowSettings {
    /// Where anniversaries and schedules fall due (IANA name).
    pub time_zone: chrono_tz::Tz,
    /// A run start touching more than this share of the tenant's users at once needs an
    /// explicit confirmation.
    pub max_run_share_percent: u8,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Tz::UTC,
            max_run_share_percent: 50,
        }
    }
}

/// A step as the run history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub position: i32,
    pub step: Step,
    pub status: StepStatus,
    pub attempts: i32,
    pub output: Option<String>,
    pub error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A run with its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: RunId,
    pub workflow_id: WorkflowId,
    pub workflow_name: String,
    pub workflow_version: i64,
    pub user_id: UserId,
    pub occurrence: String,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Set when an operator cancelled the run (its status is then `Failed`).
    pub cancelled_at: Option<DateTime<Utc>>,
    pub steps: Vec<StepRecord>,
}

#[async_trait]
pub trait WorkflowStore {
    /// Saves a new version of the workflow named `write.name` (the first, if none), keeping
    /// every earlier version for the runs that started with it. Returns the workflow's id and
    /// the new version.
    async fn save_workflow(&self, write: &WorkflowWrite) -> StoreResult<(WorkflowId, i64)>;
    async fn list_workflows(&self, tenant: TenantId) -> StoreResult<Vec<StoredWorkflow>>;
    /// Starts a run unless one exists for the same (workflow, user, occurrence); `false` then.
    async fn create_workflow_run(&self, run: &NewRun) -> StoreResult<bool>;
    /// Leases up to `limit` steps that are due: the current step of a running run, pending
    /// with its retry time reached, or running with an expired lease (its worker died).
    async fn claim_workflow_steps(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedStep>>;
    /// Records a step's outcome and moves its run on, in one transaction, if the lease is
    /// still the caller's; `false` when it is not (another worker took over).
    async fn finish_workflow_step(
        &self,
        step: &ClaimedStep,
        outcome: &StepOutcome,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Writes a workflow action's events (audit, outbox, queued mail) in one transaction,
    /// for actions that change nothing else (a notice).
    async fn record_workflow_events(&self, events: &Events) -> StoreResult<()>;
    /// The newest runs first, with their steps (two queries, whatever the count).
    async fn list_workflow_runs(
        &self,
        tenant: TenantId,
        workflow: Option<WorkflowId>,
        run: Option<RunId>,
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>>;
    /// Cancels a running run: status failed, `cancelled_at` set, unfinished steps skipped
    /// (a worker's later report of a step it held is refused), with its events, in one
    /// transaction. `false` when the run is not running (any more).
    async fn cancel_workflow_run(
        &self,
        tenant: TenantId,
        run: RunId,
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Which of `users` already have a run of `workflow`, with the run's occurrence (one
    /// query for the lot).
    async fn workflow_run_occurrences(
        &self,
        workflow: WorkflowId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, String)>>;
    /// The last successful sign-in of each of `users` that has one (one query).
    async fn last_sign_ins(
        &self,
        tenant: TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, DateTime<Utc>)>>;
    /// The tenant's users that are not deleted.
    async fn count_active_users(&self, tenant: TenantId) -> StoreResult<u64>;
    /// The tenant's saved settings, as (IANA time zone, share percent).
    async fn workflow_settings(&self, tenant: TenantId) -> StoreResult<Option<(String, i32)>>;
    async fn save_workflow_settings(
        &self,
        tenant: TenantId,
        time_zone: &str,
        max_run_share_percent: i32,
        events: &Events,
    ) -> StoreResult<()>;
    /// Replaces the workflow's webhook secret (sealed), with its events, in one transaction.
    async fn save_workflow_secret(
        &self,
        workflow: WorkflowId,
        sealed: &[u8],
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<()>;
    /// The workflow's sealed webhook secret, if one was set.
    async fn workflow_secret(&self, workflow: WorkflowId) -> StoreResult<Option<Vec<u8>>>;
    /// The tenant's user-change events (`user.updated`, `user.managerChanged`, `user.created`,
    /// and the SaaS inventory's `saas.appDiscovered`, whose subject is the user) after outbox
    /// position `after_seq`, from `since` and up to `until`, in order, with their positions.
    async fn user_changes_after(
        &self,
        tenant: TenantId,
        after_seq: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, crate::audit::OutboxEvent)>>;
    /// How far the workflow has read the outbox.
    async fn workflow_cursor(&self, workflow: WorkflowId) -> StoreResult<Option<i64>>;
    /// Moves the workflow's outbox position forward to `seq` (never back).
    async fn set_workflow_cursor(&self, workflow: WorkflowId, seq: i64) -> StoreResult<()>;
}

/// Workflows one at a time and a page at a time (Graph's lifecycle-workflows surface): a
/// separate trait so that the engine's [`WorkflowStore`] stays as it is.
#[async_trait]
pub trait WorkflowAdminStore {
    /// Up to `limit` of the tenant's workflows by name, after `after` (a name).
    async fn workflows_page(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<StoredWorkflow>>;
    /// One workflow of the tenant.
    async fn workflow_by_id(
        &self,
        tenant: TenantId,
        id: WorkflowId,
    ) -> StoreResult<Option<StoredWorkflow>>;
    /// Creates workflow `id` at version 1, with its events, in one transaction;
    /// [`StoreError::Conflict`](crate::store::StoreError::Conflict) when the tenant already
    /// has one of that name.
    async fn create_workflow(
        &self,
        id: WorkflowId,
        write: &WorkflowWrite,
        events: &Events,
    ) -> StoreResult<()>;
    /// Saves the next version of workflow `id` (its name may change) if it is still at
    /// `version`, with its events, in one transaction; `Stale` when it is not (or is gone),
    /// `Conflict` when the new name is another workflow's. Returns the new version.
    async fn update_workflow(
        &self,
        id: WorkflowId,
        version: i64,
        write: &WorkflowWrite,
        events: &Events,
    ) -> StoreResult<i64>;
    /// Deletes the workflow with its versions, runs and steps, with its events, in one
    /// transaction; `false` when the tenant has no such workflow.
    async fn delete_workflow(
        &self,
        tenant: TenantId,
        id: WorkflowId,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Up to `limit` runs of the workflow, newest first, after run `after` (the last of the
    /// previous page), with their steps (two queries, whatever the count).
    async fn workflow_runs_page(
        &self,
        tenant: TenantId,
        workflow: WorkflowId,
        after: Option<RunId>,
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>>;
}

/// A connected Microsoft 365 tenant as stored (migration 0021): the client secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTenantConnection {
    pub tenant_id: TenantId,
    /// As the administrator wrote it; look-ups ignore case.
    pub name: String,
    pub remote_tenant: String,
    pub client_id: String,
    pub authority_url: String,
    pub graph_url: String,
    pub ca_pem: Option<String>,
    pub sealed_secret: Vec<u8>,
    pub updated_at: DateTime<Utc>,
}

/// Connected tenants (a separate trait so that the workflow store's list stays as it is).
#[async_trait]
pub trait TenantConnectionStore {
    /// Saves the connection (replacing one of the same name, ignoring case), with its events,
    /// in one transaction.
    async fn save_tenant_connection(
        &self,
        connection: &StoredTenantConnection,
        events: &Events,
    ) -> StoreResult<()>;
    /// The tenant's connection of that name (ignoring case).
    async fn tenant_connection(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> StoreResult<Option<StoredTenantConnection>>;
}
