//! Workflows triggered by the SaaS inventory's state (`licenseIdle`, `contractRenewalDue`):
//! core finds the due occurrences and the user each is for; the tick keeps those of users in
//! the workflow's scope that have no run yet. (`appDiscovered` follows the outbox like the
//! other change triggers.)

use std::collections::HashMap;

use latchkey_core::directory::Workflow;
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::TenantId;
use latchkey_core::query::{Filter, Literal, UserProperty};
use latchkey_core::user::User;
use latchkey_core::workflow::Occurrence;

use crate::{Engine, PAGE, users_matching_opt, workflow_actor};

impl Engine {
    /// A SaaS-triggered workflow's due runs: the occurrences core finds now, for users in
    /// the workflow's scope (one `id in (…)` query per 500 users), less those with a run.
    pub(crate) async fn saas_due_runs(
        &self,
        tenant: TenantId,
        workflow: &Workflow,
    ) -> Result<(Vec<(User, Occurrence)>, Option<i64>), DirectoryError> {
        let actor = workflow_actor();
        let due = self
            .directory
            .saas_trigger_occurrences(&actor, tenant, &workflow.workflow.definition.trigger)
            .await?;
        let mut ids: Vec<_> = due.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut in_scope = HashMap::new();
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
        let mut runs: Vec<(User, Occurrence)> = due
            .into_iter()
            .filter(|(id, o)| !existing.contains(&(*id, o.key.clone())))
            .filter_map(|(id, o)| Some((in_scope.get(&id)?.clone(), o)))
            .collect();
        // One owner may own several contracts due at once: each is its own run.
        runs.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        Ok((runs, None))
    }
}
