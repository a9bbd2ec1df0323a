//! Workflows one at a time, for the Graph lifecycle-workflows surface (and any channel that
//! names a workflow by id): a page of them by name, one by id, create (never a new version of
//! another), change, delete, run on demand for chosen users, and a page of a workflow's runs.
//! Each is audited and written in one transaction with its events.

use serde_json::json;

use super::workflows::Workflow;
use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::store::{Page, StoreError};
use crate::workflow::WorkflowDefinition;
use crate::workflow_store::{RunId, RunRecord, WorkflowId, WorkflowWrite};

/// Most workflows or runs on one page.
pub const MAX_WORKFLOW_PAGE: u32 = 999;
/// Most users one on-demand run names.
pub const MAX_ON_DEMAND_SUBJECTS: usize = 100;

/// What a change to a workflow sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowChanges {
    pub name: Option<String>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub scheduling_enabled: Option<bool>,
}

fn page_size(limit: u32) -> Result<u32, DirectoryError> {
    if (1..=MAX_WORKFLOW_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(DirectoryError::invalid(
            "$top",
            format!("the page size must be between 1 and {MAX_WORKFLOW_PAGE}"),
        ))
    }
}

fn name_conflict(e: StoreError, name: &str) -> DirectoryError {
    match e {
        StoreError::Conflict(_) => DirectoryError::invalid(
            "name",
            format!("the tenant already has a workflow named '{name}'"),
        ),
        other => other.into(),
    }
}

impl Directory {
    /// Up to `limit` of the tenant's workflows by name, after the previous page's `next`.
    pub async fn list_workflows_page(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Workflow>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        let limit = page_size(limit)?;
        let mut rows = self.store.workflows_page(tenant, after, limit + 1).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = more.then(|| rows.last().map(|w| w.name.clone())).flatten();
        Ok(Page {
            items: rows
                .iter()
                .map(Workflow::from_stored)
                .collect::<Result<_, _>>()?,
            next,
        })
    }

    /// One workflow of the tenant, by id.
    pub async fn workflow_by_id(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
    ) -> Result<Workflow, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        let stored = self
            .store
            .workflow_by_id(tenant, id)
            .await?
            .ok_or_else(|| DirectoryError::not_found(format!("Workflow '{id}'")))?;
        Workflow::from_stored(&stored)
    }

    async fn check_target(
        &self,
        tenant: TenantId,
        definition: &WorkflowDefinition,
    ) -> Result<(), DirectoryError> {
        if let Some(target) = &definition.target
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
        Ok(())
    }

    fn workflow_event(
        &self,
        actor: &Actor,
        tenant: TenantId,
        (id, name): (WorkflowId, &str),
        (activity, operation_type, outbox_kind): (&'static str, &'static str, &'static str),
    ) -> crate::audit::Events {
        self.events(Change {
            actor,
            tenant,
            category: "Other",
            activity,
            operation_type,
            target: None,
            other_target: Some((id.to_string(), name.to_owned())),
            details: vec![("workflow".into(), name.to_owned())],
            outbox_kind,
            payload: json!({ "workflowId": id }),
        })
    }

    /// Validates `definition` and saves it as a new workflow (version 1), audited. A name the
    /// tenant already uses is refused (naming `name`); nothing is written if any field is
    /// invalid.
    pub async fn create_workflow(
        &self,
        actor: &Actor,
        tenant: TenantId,
        definition: WorkflowDefinition,
    ) -> Result<Workflow, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let workflow = self.seal_workflow_secrets(definition.validate()?)?;
        self.check_target(tenant, &workflow.definition).await?;
        self.check_scim_connections(tenant, &workflow.definition)
            .await?;
        let name = workflow.definition.name.clone();
        let now = self.clock.now();
        let write = WorkflowWrite {
            tenant_id: tenant,
            name: name.clone(),
            enabled: workflow.definition.enabled,
            definition: workflow.definition.to_stored_json()?,
            at: now,
        };
        let id = WorkflowId::new();
        let events = self.workflow_event(
            actor,
            tenant,
            (id, &name),
            ("Create workflow", "Add", "workflow.created"),
        );
        self.store
            .create_workflow(id, &write, &events)
            .await
            .map_err(|e| name_conflict(e, &name))?;
        Ok(Workflow {
            id,
            version: 1,
            workflow,
            created_at: now,
            updated_at: now,
        })
    }

    /// Applies `changes` to the workflow and saves them as its next version, audited; runs
    /// already started keep the version they started with. Nothing is written if a field is
    /// invalid, or if someone else saved the workflow meanwhile (`Stale`).
    pub async fn update_workflow(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
        changes: WorkflowChanges,
    ) -> Result<Workflow, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let current = self.workflow_by_id(actor, tenant, id).await?;
        let mut definition = current.workflow.definition.clone();
        if let Some(name) = changes.name {
            definition.name = name;
        }
        if let Some(description) = changes.description {
            definition.description = description;
        }
        if let Some(enabled) = changes.enabled {
            definition.enabled = enabled;
        }
        if let Some(scheduling) = changes.scheduling_enabled {
            if scheduling && !definition.enabled {
                return Err(DirectoryError::invalid(
                    "schedulingEnabled",
                    "a disabled workflow cannot run on a schedule: enable it too",
                ));
            }
            definition.scheduling_enabled = scheduling;
        }
        let workflow = self.seal_workflow_secrets(definition.validate()?)?;
        let name = workflow.definition.name.clone();
        let now = self.clock.now();
        let events = self.workflow_event(
            actor,
            tenant,
            (id, &name),
            ("Update workflow", "Update", "workflow.updated"),
        );
        let version = self
            .store
            .update_workflow(
                id,
                current.version,
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
            .map_err(|e| name_conflict(e, &name))?;
        Ok(Workflow {
            id,
            version,
            workflow,
            created_at: current.created_at,
            updated_at: now,
        })
    }

    /// Deletes the workflow with its versions and its run history, audited. A step a worker
    /// is performing at that moment may still take effect; its report is refused.
    pub async fn delete_workflow(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let current = self.workflow_by_id(actor, tenant, id).await?;
        let events = self.workflow_event(
            actor,
            tenant,
            (id, &current.workflow.definition.name),
            ("Delete workflow", "Delete", "workflow.deleted"),
        );
        if self.store.delete_workflow(tenant, id, &events).await? {
            Ok(())
        } else {
            Err(DirectoryError::not_found(format!("Workflow '{id}'")))
        }
    }

    /// Runs the workflow now (its current version) for each of `users`, whatever its trigger
    /// and scope, as one on-demand occurrence; Graph's `activate`. A disabled workflow, an
    /// unknown user, or a workflow aimed at a connected tenant is refused and nothing starts;
    /// so is a start touching more than the tenant's share of users at once (unless the
    /// workflow says `confirmShare`). Returns how many runs were started.
    pub async fn run_workflow_on_demand(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: WorkflowId,
        users: &[UserId],
    ) -> Result<usize, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        if users.is_empty() {
            return Err(DirectoryError::invalid(
                "subjects",
                "must name at least one user",
            ));
        }
        if users.len() > MAX_ON_DEMAND_SUBJECTS {
            return Err(DirectoryError::invalid(
                "subjects",
                format!("must name at most {MAX_ON_DEMAND_SUBJECTS} users at once"),
            ));
        }
        let workflow = self.workflow_by_id(actor, tenant, id).await?;
        if !workflow.workflow.definition.enabled {
            return Err(DirectoryError::invalid(
                "enabled",
                "the workflow is disabled: enable it to run it on demand",
            ));
        }
        if workflow.workflow.definition.target.is_some() {
            return Err(DirectoryError::invalid(
                "subjects",
                "the workflow acts on a connected tenant, whose users are not this \
                 directory's: run it with `latchkey workflows run`",
            ));
        }
        let refs: Vec<UserRef> = users.iter().map(|u| UserRef::Id(*u)).collect();
        let found = self.active_users(tenant, &refs).await?;
        let mut resolved = Vec::with_capacity(users.len());
        for (user, found) in users.iter().zip(found) {
            let found = found.ok_or_else(|| {
                DirectoryError::invalid(
                    "subjects",
                    format!("no user with id '{user}' in this tenant"),
                )
            })?;
            resolved.push(found.id);
        }
        resolved.sort_unstable();
        resolved.dedup();
        let occurrence = format!("onDemand:{}", self.clock.now().to_rfc3339());
        let runs: Vec<_> = resolved
            .into_iter()
            .map(|u| (u, occurrence.clone()))
            .collect();
        self.start_workflow_runs(actor, tenant, &workflow, &runs, false)
            .await
    }

    /// Up to `limit` runs of the workflow, newest first, after the previous page's `next`.
    pub async fn list_workflow_runs_page(
        &self,
        actor: &Actor,
        tenant: TenantId,
        workflow: WorkflowId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<RunRecord>, DirectoryError> {
        authorize(actor, Action::ReadWorkflows, &[])?;
        let limit = page_size(limit)?;
        // The workflow first, so that an unknown one is not found rather than empty.
        self.workflow_by_id(actor, tenant, workflow).await?;
        let after = after
            .map(|a| a.parse::<RunId>().map_err(|_| StoreError::BadCursor))
            .transpose()?;
        let mut runs = self
            .store
            .workflow_runs_page(tenant, workflow, after, limit + 1)
            .await?;
        let more = runs.len() > limit as usize;
        runs.truncate(limit as usize);
        let next = more
            .then(|| runs.last().map(|r| r.id.to_string()))
            .flatten();
        Ok(Page { items: runs, next })
    }

    /// One run of the workflow, with its steps.
    pub async fn workflow_run(
        &self,
        actor: &Actor,
        tenant: TenantId,
        workflow: WorkflowId,
        run: RunId,
    ) -> Result<RunRecord, DirectoryError> {
        let record = self.get_workflow_run(actor, tenant, run).await?;
        if record.workflow_id != workflow {
            return Err(DirectoryError::not_found(format!("Workflow run '{run}'")));
        }
        Ok(record)
    }
}
