//! Directory roles as Graph shows them: the roles (every built-in role is active in every
//! tenant), their members, and assigning or removing a member. Only a Global Administrator
//! (Entra: or a Privileged Role Administrator, which Latchkey does not have) or an app with
//! `RoleManagement.ReadWrite.Directory` may assign.

use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::role::DirectoryRole;
use crate::store::{Page, UserQuery};
use crate::user::User;

impl Directory {
    /// The tenant's directory roles.
    pub fn list_directory_roles(
        &self,
        actor: &Actor,
    ) -> Result<&'static [DirectoryRole], DirectoryError> {
        authorize(actor, Action::ReadRoles, &[])?;
        Ok(&DirectoryRole::ALL)
    }

    /// One page of the users holding `role`, in the query's order.
    pub async fn list_role_members(
        &self,
        actor: &Actor,
        tenant: TenantId,
        role: DirectoryRole,
        query: &UserQuery,
    ) -> Result<Page<User>, DirectoryError> {
        authorize(actor, Action::ReadRoles, &[])?;
        let query = UserQuery {
            role: Some(role),
            deleted: false,
            ..query.clone()
        };
        Ok(self.store.list_users(tenant, &query).await?)
    }

    /// The directory roles a user holds (Graph's `memberOf`, which has no groups yet).
    pub async fn member_of(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<Vec<DirectoryRole>, DirectoryError> {
        authorize(actor, Action::ReadRoles, &[])?;
        let user = self.active_user(tenant, user).await?;
        Ok(self.store.list_user_roles(tenant, user.id).await?)
    }

    /// Assigns `role` to a user; refused (changing nothing) when they hold it already.
    pub async fn add_role_member(
        &self,
        actor: &Actor,
        tenant: TenantId,
        role: DirectoryRole,
        user: &UserRef,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageRoles, &[])?;
        let found = self.active_user(tenant, user).await?;
        let mut roles = self.store.list_user_roles(tenant, found.id).await?;
        if roles.contains(&role) {
            return Err(DirectoryError::Conflict(
                "One or more added object references already exist for the following modified properties: 'members'.".into(),
            ));
        }
        roles.push(role);
        self.write_roles(actor, tenant, &found, roles, role, true)
            .await
    }

    /// Takes `role` from a user. The tenant's last Global Administrator keeps the role, so
    /// that nobody locks the tenant out of its own administration.
    pub async fn remove_role_member(
        &self,
        actor: &Actor,
        tenant: TenantId,
        role: DirectoryRole,
        user: &UserRef,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageRoles, &[])?;
        let found = self.active_user(tenant, user).await?;
        let mut roles = self.store.list_user_roles(tenant, found.id).await?;
        if !roles.contains(&role) {
            return Err(DirectoryError::not_found(format!(
                "The member '{}' of role '{}'",
                found.id,
                role.display_name()
            )));
        }
        if role == DirectoryRole::GlobalAdministrator {
            let holders = self
                .store
                .count_users(
                    tenant,
                    &UserQuery {
                        role: Some(role),
                        ..UserQuery::default()
                    },
                )
                .await?;
            if holders <= 1 {
                return Err(DirectoryError::invalid(
                    "members",
                    "the tenant's last Global Administrator keeps the role; assign it to someone else first",
                ));
            }
        }
        roles.retain(|r| *r != role);
        self.write_roles(actor, tenant, &found, roles, role, false)
            .await
    }

    /// Writes a user's roles with Entra's audit activity for the one role added or removed.
    async fn write_roles(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &User,
        mut roles: Vec<DirectoryRole>,
        changed: DirectoryRole,
        added: bool,
    ) -> Result<(), DirectoryError> {
        roles.sort();
        roles.dedup();
        let events = self.events(Change {
            actor,
            tenant,
            category: "RoleManagement",
            activity: if added {
                "Add member to role"
            } else {
                "Remove member from role"
            },
            operation_type: if added { "Assign" } else { "Unassign" },
            target: Some(user),
            other_target: None,
            details: vec![
                ("Role.DisplayName".into(), changed.display_name().into()),
                ("Role.TemplateId".into(), changed.template_id().into()),
            ],
            outbox_kind: "user.rolesChanged",
            payload: json!({ "roles": roles.iter().map(|r| r.template_id()).collect::<Vec<_>>() }),
        });
        self.store
            .set_user_roles(tenant, user.id, &roles, user.version, &events)
            .await?;
        Ok(())
    }
}
