//! The manager relationship (Graph's `manager` and `directReports`): reading it, setting and
//! removing it (`Set user manager` / `Remove user manager`, audited and announced), with
//! cycles refused by the store inside the write.

use std::collections::HashMap;

use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::query::Filter;
use crate::store::{ManagerWrite, Page, StoreError, UserQuery};
use crate::user::User;

impl Directory {
    /// A user's manager; `None` when they have none (or it is in the recycle bin).
    pub async fn get_manager(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<Option<User>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        let user = self.active_user(tenant, user).await?;
        let Some(id) = self.store.find_manager(tenant, user.id).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .find_user(tenant, id)
            .await?
            .filter(|m| !m.is_deleted()))
    }

    /// The signed-in user's own manager (Graph's `/me/manager`): whoever may read themselves
    /// may read who they report to. `None` when they have none (or it is in the recycle bin).
    pub async fn get_own_manager(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Option<User>, DirectoryError> {
        let id = crate::authz::may_read_self(actor)?;
        let user = self.active_user(tenant, &UserRef::Id(id)).await?;
        let Some(manager) = self.store.find_manager(tenant, user.id).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .find_user(tenant, manager)
            .await?
            .filter(|m| !m.is_deleted()))
    }

    /// The managers of a page of users, in one store call (Graph's `$expand=manager` on a
    /// listing). Users without an active manager are absent from the map.
    pub async fn managers_of(
        &self,
        actor: &Actor,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, User>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        Ok(self
            .store
            .list_managers(tenant, users)
            .await?
            .into_iter()
            .collect())
    }

    /// One page of the users whose manager `user` is (Graph's `directReports`).
    pub async fn list_direct_reports(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
        query: &UserQuery,
    ) -> Result<Page<User>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        let manager = self.active_user(tenant, user).await?;
        let reports = Filter::ReportsTo(manager.id);
        let query = UserQuery {
            filter: Some(match query.filter.clone() {
                Some(f) => Filter::And(Box::new(reports), Box::new(f)),
                None => reports,
            }),
            deleted: false,
            ..query.clone()
        };
        Ok(self.store.list_users(tenant, &query).await?)
    }

    /// Makes `manager` the user's manager (replacing any other). Refused when the manager
    /// reports to the user, directly or not, or is the user.
    pub async fn set_manager(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
        manager: UserId,
    ) -> Result<(), DirectoryError> {
        let found = self.active_user(tenant, user).await?;
        let roles = self.store.list_user_roles(tenant, found.id).await?;
        authorize(actor, Action::UpdateUser, &roles)?;
        let boss = self.active_user(tenant, &UserRef::Id(manager)).await?;
        let cycle = || {
            DirectoryError::invalid(
                "manager",
                format!(
                    "{} cannot be the manager of {}: it would make a loop in the reporting chain.",
                    boss.user_principal_name, found.user_principal_name
                ),
            )
        };
        if boss.id == found.id {
            return Err(cycle());
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Set user manager",
            operation_type: "Update",
            target: Some(&found),
            other_target: None,
            details: vec![
                ("Manager.ObjectId".into(), boss.id.to_string()),
                (
                    "Manager.UserPrincipalName".into(),
                    boss.user_principal_name.to_string(),
                ),
            ],
            outbox_kind: "user.managerChanged",
            payload: json!({ "managerId": boss.id.to_string() }),
        });
        let write = ManagerWrite {
            tenant_id: tenant,
            user_id: found.id,
            expected_version: found.version,
            manager: Some(boss.id),
            at: self.clock.now(),
        };
        self.store
            .write_manager(&write, &events)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => cycle(),
                other => other.into(),
            })
    }

    /// Removes the user's manager; `NotFound` when they have none.
    pub async fn remove_manager(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<(), DirectoryError> {
        let found = self.active_user(tenant, user).await?;
        let roles = self.store.list_user_roles(tenant, found.id).await?;
        authorize(actor, Action::UpdateUser, &roles)?;
        let Some(old) = self.store.find_manager(tenant, found.id).await? else {
            return Err(DirectoryError::not_found("Resource 'manager'"));
        };
        let events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Remove user manager",
            operation_type: "Update",
            target: Some(&found),
            other_target: None,
            details: vec![("Manager.ObjectId".into(), old.to_string())],
            outbox_kind: "user.managerChanged",
            payload: json!({ "managerId": null, "previousManagerId": old.to_string() }),
        });
        let write = ManagerWrite {
            tenant_id: tenant,
            user_id: found.id,
            expected_version: found.version,
            manager: None,
            at: self.clock.now(),
        };
        Ok(self.store.write_manager(&write, &events).await?)
    }
}
