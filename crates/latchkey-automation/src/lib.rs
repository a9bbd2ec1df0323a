//! Latchkey's lifecycle automation engine. It owns *when* and *how*: the scheduler's `tick`
//! (which users' triggers are due, started as runs once per occurrence), the worker that
//! leases due steps and performs them, dry runs, and the connectors that perform actions
//! (today the local directory, [`local`]).
//!
//! It must not decide a business rule or touch the store: every effect is a
//! `latchkey_core::Directory` operation, acting as `Actor::Operator` on `Channel::Workflow`,
//! so authorization, validation, audit and outbox events are the directory's.

pub mod local;

use chrono::{DateTime, Duration, Utc};
use latchkey_core::Directory;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{ActionResult, UserRef, Workflow};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::TenantId;
use latchkey_core::query::{Comparison, Filter, Literal, UserProperty};
use latchkey_core::store::UserQuery;
use latchkey_core::user::User;
use latchkey_core::workflow::Trigger;

/// Users read per page while evaluating a trigger.
const PAGE: u32 = 500;
/// Steps leased per pass of the worker.
const STEPS_PER_PASS: u32 = 20;

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
}

impl Engine {
    pub fn new(directory: Directory) -> Self {
        Self { directory }
    }

    fn now(&self) -> DateTime<Utc> {
        self.directory.clock().now()
    }

    /// Starts a run for every (enabled workflow, user in scope) whose time trigger is due at
    /// the directory's clock and has no run yet. A trigger that came due while nothing ticked
    /// (the server was down) is due all the same, so it fires on the next tick, once: the store
    /// refuses a second run for the same occurrence. Returns how many runs were started.
    pub async fn tick(&self, tenant: TenantId) -> Result<usize, DirectoryError> {
        let actor = workflow_actor();
        let now = self.now();
        let mut started = 0;
        for workflow in self.directory.list_workflows(&actor, tenant).await? {
            if !workflow.workflow.definition.enabled {
                continue;
            }
            let trigger = &workflow.workflow.definition.trigger;
            let Some(filter) = due_filter(trigger, workflow.workflow.scope.clone(), now) else {
                continue;
            };
            let mut after = None;
            loop {
                let page = self
                    .directory
                    .list_users(&actor, tenant, &users_matching(filter.clone(), after))
                    .await?;
                for user in &page.items {
                    if let Some(occurrence) = trigger.occurrence(user)
                        && occurrence.due <= now
                        && self
                            .directory
                            .start_workflow_run(&actor, tenant, &workflow, user.id, &occurrence.key)
                            .await?
                    {
                        started += 1;
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Ok(started)
    }

    /// Starts a run of the named workflow for each of `users` now, whatever its trigger.
    /// Each call is its own occurrence. Returns how many runs were started.
    pub async fn run_manually(
        &self,
        tenant: TenantId,
        name: &str,
        users: &[UserRef],
    ) -> Result<usize, DirectoryError> {
        let actor = workflow_actor();
        let workflow = self.directory.get_workflow(&actor, tenant, name).await?;
        // Every user is resolved first, so that an unknown one starts nothing.
        let mut resolved = Vec::with_capacity(users.len());
        for user in users {
            resolved.push(self.directory.get_user(&actor, tenant, user).await?);
        }
        let occurrence = format!("manual:{}", self.now().to_rfc3339());
        let mut started = 0;
        for user in resolved {
            if self
                .directory
                .start_workflow_run(&actor, tenant, &workflow, user.id, &occurrence)
                .await?
            {
                started += 1;
            }
        }
        Ok(started)
    }

    /// One pass of the worker: leases due steps, performs each through the local connector
    /// and records the outcome. Returns how many steps it performed.
    pub async fn run_due_steps(&self) -> Result<usize, DirectoryError> {
        let claimed = self
            .directory
            .claim_workflow_steps(&workflow_actor(), STEPS_PER_PASS)
            .await?;
        let mut done = 0;
        for step in &claimed {
            let result = match local::perform(&self.directory, step).await {
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
            };
            if self.directory.finish_workflow_step(step, result).await? {
                done += 1;
            }
        }
        Ok(done)
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

    /// Which users the named workflow would touch now and what each step would do, without
    /// doing anything. A manual workflow lists every user in its scope.
    pub async fn dry_run(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Vec<DryRunUser>, DirectoryError> {
        let actor = workflow_actor();
        let workflow = self.directory.get_workflow(&actor, tenant, name).await?;
        let now = self.now();
        let trigger = &workflow.workflow.definition.trigger;
        let filter = match trigger {
            Trigger::Manual => workflow.workflow.scope.clone(),
            _ => due_filter(trigger, workflow.workflow.scope.clone(), now),
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .directory
                .list_users(&actor, tenant, &users_matching_opt(filter.clone(), after))
                .await?;
            for user in &page.items {
                if let Some(entry) = dry_run_user(&workflow, user, now) {
                    out.push(entry);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(out)
    }
}

fn dry_run_user(workflow: &Workflow, user: &User, now: DateTime<Utc>) -> Option<DryRunUser> {
    let def = &workflow.workflow.definition;
    let due = match def.trigger {
        Trigger::Manual => None,
        _ => Some(def.trigger.occurrence(user)?.due).filter(|d| *d <= now),
    };
    if !matches!(def.trigger, Trigger::Manual) && due.is_none() {
        return None;
    }
    Some(DryRunUser {
        user_principal_name: user.user_principal_name.to_string(),
        due,
        steps: def.steps.iter().map(|s| s.action.describe(user)).collect(),
    })
}

/// The scope narrowed to users whose trigger date plus offset is not after `now`; `None` for
/// triggers that are not time-based.
fn due_filter(trigger: &Trigger, scope: Option<Filter>, now: DateTime<Utc>) -> Option<Filter> {
    let (property, offset) = match trigger {
        Trigger::HireDate { offset_days } => (UserProperty::EmployeeHireDate, *offset_days),
        Trigger::LeaveDate { offset_days } => (UserProperty::EmployeeLeaveDateTime, *offset_days),
        Trigger::Manual => return None,
    };
    let due = Filter::Compare {
        property,
        op: Comparison::Le,
        value: Literal::DateTime(now - Duration::days(offset)),
    };
    Some(match scope {
        Some(scope) => Filter::And(Box::new(scope), Box::new(due)),
        None => due,
    })
}

fn users_matching(filter: Filter, after: Option<String>) -> UserQuery {
    users_matching_opt(Some(filter), after)
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
