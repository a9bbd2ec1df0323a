//! Workflows as the admin center edits and reviews them: a definition replaced by id at the
//! version the form showed (never a new workflow, never over someone else's save), enabling
//! with the share confirmation, the share rule itself (one place, also used when runs
//! start), the run history filtered by state and user, and the users' names of a page of
//! runs in one read.

use std::collections::HashMap;

use serde_json::json;

use super::workflows::{SHARE_CHECK_FLOOR, Workflow};
use super::{Change, Directory};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::store::{Page, StoreError};
use crate::workflow::{ValidWorkflow, WorkflowDefinition};
use crate::workflow_store::{RunId, RunRecord, RunStatus, WorkflowId, WorkflowWrite};

/// A run start larger than the tenant allows at once without a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareExceeded {
    /// Users the start would touch.
    pub starting: u64,
    /// The tenant's users (not deleted).
    pub total: u64,
    /// The share allowed at once, in per cent.
    pub limit_percent: u8,
}

/// Which runs a history page shows; `None` leaves a filter out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub workflow: Option<WorkflowId>,
    pub status: Option<RunStatus>,
    pub user: Option<UserId>,
}

/// The newest runs a filtered history reads (the page is cut from these).
pub const MAX_RUNS_FILTERED: u32 = super::workflows::MAX_RUNS_LISTED;

impl Directory {
    /// Whether starting runs for `starting` users at once is more than the tenant's share
    /// (`maxRunSharePercent`) of its users, above [`SHARE_CHECK_FLOOR`]; `None` when it is
    /// within it.
    pub async fn workflow_share_exceeded(
        &self,
        actor: &Actor,
        tenant: TenantId,
        starting: u64,
    ) -> Result<Option<ShareExceeded>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        if starting <= SHARE_CHECK_FLOOR as u64 {
            return Ok(None);
        }
        let settings = self.workflow_settings(actor, tenant).await?;
        let total = self.store.count_active_users(tenant).await?;
        let limit = settings.max_run_share_percent;
        Ok(
            (starting * 100 > u64::from(limit) * total).then_some(ShareExceeded {
                starting,
                total,
                limit_percent: limit,
            }),
        )
    }

    /// Replaces the workflow's definition (JSON) with `raw` as its next version, if it is
    /// still at `seen_version`, audited. Validated like an import (every field, the connected
    /// tenant, the SKUs); nothing is written if a field is invalid (named), the name is
    /// another workflow's, or someone saved the workflow meanwhile (`Stale`).
    pub async fn replace_workflow_definition(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
        seen_version: i64,
        raw: &str,
    ) -> Result<Workflow, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let workflow = WorkflowDefinition::parse_json(raw)?;
        self.write_workflow_version(actor, tenant, id, seen_version, workflow)
            .await
    }

    /// Enables or disables the workflow (its next version), if it is still at
    /// `seen_version`, audited. Enabling a workflow whose trigger would start runs now for
    /// more than the tenant's share of users is refused (`confirmShare`, with the counts)
    /// unless `confirm_share`, which is then saved with it so that its trigger may.
    /// `due_now` is how many users its trigger is due for now (the engine's dry run).
    #[allow(clippy::too_many_arguments)]
    pub async fn set_workflow_enabled(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
        seen_version: i64,
        enabled: bool,
        due_now: u64,
        confirm_share: bool,
    ) -> Result<Result<Workflow, ShareExceeded>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let current = self.workflow_by_id(actor, tenant, id).await?;
        let mut definition = current.workflow.definition.clone();
        definition.enabled = enabled;
        if enabled
            && !definition.confirm_share
            && let Some(exceeded) = self.workflow_share_exceeded(actor, tenant, due_now).await?
        {
            if !confirm_share {
                return Ok(Err(exceeded));
            }
            definition.confirm_share = true;
        }
        let workflow = definition.validate()?;
        self.write_workflow_version(actor, tenant, id, seen_version, workflow)
            .await
            .map(Ok)
    }

    async fn write_workflow_version(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
        seen_version: i64,
        workflow: ValidWorkflow,
    ) -> Result<Workflow, DirectoryError> {
        let current = self.workflow_by_id(actor, tenant, id).await?;
        if current.version != seen_version {
            return Err(DirectoryError::Stale);
        }
        match &workflow.definition.target {
            Some(target)
                if self
                    .store
                    .tenant_connection(tenant, &target.tenant)
                    .await?
                    .is_none() =>
            {
                return Err(DirectoryError::invalid(
                    "target.tenant",
                    format!("no connected tenant '{}'", target.tenant.trim()),
                ));
            }
            Some(_) => {}
            None => self.check_workflow_skus(tenant, &workflow).await?,
        }
        let name = workflow.definition.name.clone();
        let now = self.clock.now();
        let events = self.events(Change {
            actor,
            tenant,
            category: "Other",
            activity: "Update workflow",
            operation_type: "Update",
            target: None,
            other_target: Some((id.to_string(), name.clone())),
            details: vec![("workflow".into(), name.clone())],
            outbox_kind: "workflow.updated",
            payload: json!({ "workflowId": id }),
        });
        let version = self
            .store
            .update_workflow(
                id,
                seen_version,
                &WorkflowWrite {
                    tenant_id: tenant,
                    name: name.clone(),
                    enabled: workflow.definition.enabled,
                    definition: workflow.definition.to_stored_json()?,
                    at: now,
                },
                &events,
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DirectoryError::invalid(
                    "name",
                    format!("the tenant already has a workflow named '{name}'"),
                ),
                other => other.into(),
            })?;
        Ok(Workflow {
            id,
            version,
            workflow,
            created_at: current.created_at,
            updated_at: now,
        })
    }

    /// Up to `limit` runs matching `filter`, newest first, after run `after` (the previous
    /// page's `next`), cut from the newest [`MAX_RUNS_FILTERED`] runs (of the workflow, when
    /// one is named): two queries whatever the page.
    pub async fn find_workflow_runs(
        &self,
        actor: &Actor,
        tenant: TenantId,
        filter: RunFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<RunRecord>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        let after = after
            .map(|a| a.parse::<RunId>().map_err(|_| StoreError::BadCursor))
            .transpose()?;
        let runs = self
            .store
            .list_workflow_runs(tenant, filter.workflow, None, MAX_RUNS_FILTERED)
            .await?;
        let mut matching = runs.into_iter().filter(|r| {
            filter.status.is_none_or(|s| r.status == s)
                && filter.user.is_none_or(|u| r.user_id == u)
        });
        if let Some(after) = after
            && !matching.by_ref().any(|r| r.id == after)
        {
            return Err(StoreError::BadCursor.into());
        }
        let limit = limit.clamp(1, 200) as usize;
        let mut items: Vec<RunRecord> = matching.by_ref().take(limit + 1).collect();
        let more = items.len() > limit;
        items.truncate(limit);
        let next = more
            .then(|| items.last().map(|r| r.id.to_string()))
            .flatten();
        Ok(Page { items, next })
    }

    /// The user names of `users` that still exist, for a page of runs (a read per hundred).
    pub async fn workflow_user_names(
        &self,
        actor: &Actor,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, String>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        self.user_names(tenant, users).await
    }

    /// Runs the workflow now for the users named by user name (or id), as
    /// [`Directory::run_workflow_on_demand`]; names that are no user of the tenant are refused
    /// together, by name (`users`), and nothing starts.
    pub async fn run_workflow_for_users(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
        names: &[&str],
    ) -> Result<usize, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        // Names that parse are looked up together, a hundred at a time.
        let parsed: Vec<(&str, Option<super::UserRef>)> = names
            .iter()
            .map(|n| (*n, super::UserRef::parse(n).ok()))
            .collect();
        let refs: Vec<super::UserRef> = parsed.iter().filter_map(|(_, r)| r.clone()).collect();
        let mut found = self.active_users(tenant, &refs).await?.into_iter();
        let mut ids = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for (name, parsed) in &parsed {
            match parsed.as_ref().and_then(|_| found.next().flatten()) {
                Some(u) => ids.push(u.id),
                None => unknown.push((*name).to_owned()),
            }
        }
        if !unknown.is_empty() {
            return Err(DirectoryError::invalid(
                "users",
                format!("no user named {} in this tenant", unknown.join(", ")),
            ));
        }
        self.run_workflow_on_demand(actor, tenant, id, &ids).await
    }
}
