//! Users: create, read, list, delete, restore, roles.

use chrono::Duration;
use secrecy::SecretString;
use serde_json::json;

use super::{Change, Directory, PasswordChoice, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::names::{DisplayName, Upn, mail_nickname_from};
use crate::role::DirectoryRole;
use crate::store::{NewUserRecord, Page, UserQuery};
use crate::user::{PasswordPolicies, User, UserProfile, UserType};

/// What a channel asks for when it creates a user. Required fields are not optional.
#[derive(Debug)]
pub struct NewUser {
    pub user_principal_name: Upn,
    pub display_name: DisplayName,
    /// Derived from the UPN when `None`.
    pub mail_nickname: Option<String>,
    pub account_enabled: bool,
    pub profile: UserProfile,
    pub password_policies: PasswordPolicies,
    pub password: PasswordChoice,
    pub force_change_next_sign_in: bool,
    pub roles: Vec<DirectoryRole>,
}

#[derive(Debug)]
pub struct CreatedUser {
    pub user: User,
    /// Present only when the password was generated; shown once, then forgotten.
    pub generated_password: Option<SecretString>,
}

/// Graph's message for a UPN whose domain the tenant has not verified.
pub(super) const UNVERIFIED_DOMAIN: &str = "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.";

impl Directory {
    pub async fn create_user(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        new: NewUser,
    ) -> Result<CreatedUser, DirectoryError> {
        authorize(actor, Action::CreateUser, &[])?;
        if !new.roles.is_empty() {
            authorize(actor, Action::ManageRoles, &[])?;
        }
        let tenant = self.tenant(tenant_id).await?;
        let upn = new.user_principal_name;
        if !tenant.has_domain(upn.domain()) {
            return Err(DirectoryError::invalid(
                "userPrincipalName",
                UNVERIFIED_DOMAIN,
            ));
        }
        // Checked here for a clear error before the costly hash; the unique index still
        // decides races.
        if self
            .store
            .find_user_by_upn(tenant_id, &upn)
            .await?
            .is_some()
        {
            return Err(duplicate_upn());
        }
        let mail_nickname = match new.mail_nickname {
            Some(n) if n.trim().is_empty() => {
                return Err(DirectoryError::invalid("mailNickname", "must not be empty"));
            }
            Some(n) => n.trim().to_owned(),
            None => mail_nickname_from(&upn),
        };
        let profile = super::update::clean_profile(new.profile)?;
        let now = self.clock.now();
        let user = User {
            id: UserId::new(),
            tenant_id,
            user_principal_name: upn,
            display_name: new.display_name,
            mail_nickname,
            account_enabled: new.account_enabled,
            user_type: UserType::Member,
            profile,
            password_policies: new.password_policies,
            force_change_password_next_sign_in: new.force_change_next_sign_in,
            force_change_password_next_sign_in_with_mfa: false,
            last_password_change: Some(now),
            sign_in_sessions_valid_from: now,
            created: now,
            deleted: None,
            version: 1,
        };
        let (secret, generated) =
            self.choose_password(&tenant.password_policy, &user, new.password)?;
        let hash = self.hasher.hash(&secret).await?;
        let events = self.events(Change {
            actor,
            tenant: tenant_id,
            category: "UserManagement",
            activity: "Add user",
            operation_type: "Add",
            target: Some(&user),
            other_target: None,
            details: vec![
                (
                    "passwordMethod".into(),
                    if generated { "generated" } else { "provided" }.into(),
                ),
                (
                    "forceChangePasswordNextSignIn".into(),
                    user.force_change_password_next_sign_in.to_string(),
                ),
            ],
            outbox_kind: "user.created",
            payload: json!({
                "userPrincipalName": user.user_principal_name.as_str(),
                "roles": new.roles.iter().map(|r| r.template_id()).collect::<Vec<_>>(),
            }),
        });
        let record = NewUserRecord {
            user,
            password: Some(hash),
            roles: new.roles,
        };
        self.store
            .insert_user(&record, &events)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(_) => duplicate_upn(),
                other => other.into(),
            })?;
        Ok(CreatedUser {
            user: record.user,
            generated_password: generated.then_some(secret),
        })
    }

    pub async fn get_user(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<User, DirectoryError> {
        match authorize(actor, Action::ReadUsers, &[]) {
            Ok(()) => self.active_user(tenant, user).await,
            Err(denied) => {
                // Whoever may read themselves (`User.Read`) may do so by id or UPN too. Any
                // other user stays hidden behind the refusal, existing or not.
                let me = crate::authz::may_read_self(actor).map_err(|_| denied.clone())?;
                match self.active_user(tenant, user).await {
                    Ok(found) if found.id == me => Ok(found),
                    _ => Err(denied.into()),
                }
            }
        }
    }

    /// The active users `refs` name (by id or UPN), in the order named, read a hundred at a
    /// time rather than one by one; the first one that names nobody is refused by name, as
    /// [`Self::get_user`] refuses it. A user named twice is returned twice.
    pub async fn resolve_users(
        &self,
        actor: &Actor,
        tenant: TenantId,
        refs: &[UserRef],
    ) -> Result<Vec<User>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        let found = self.active_users(tenant, refs).await?;
        refs.iter()
            .zip(found)
            .map(|(r, user)| {
                user.ok_or_else(|| DirectoryError::not_found(format!("Resource '{r}'")))
            })
            .collect()
    }

    /// The user principal names of those of `users` still active (a read per hundred),
    /// without authorization, for the operations that show a page's users by name.
    pub(super) async fn user_names(
        &self,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, String>, DirectoryError> {
        let refs: Vec<UserRef> = users.iter().map(|u| UserRef::Id(*u)).collect();
        Ok(self
            .active_users(tenant, &refs)
            .await?
            .into_iter()
            .flatten()
            .map(|u| (u.id, u.user_principal_name.to_string()))
            .collect())
    }

    /// The active user each of `refs` names, if any, in order, read a hundred at a time;
    /// without authorization, for operations that made their own.
    pub(super) async fn active_users(
        &self,
        tenant: TenantId,
        refs: &[UserRef],
    ) -> Result<Vec<Option<User>>, DirectoryError> {
        use crate::query::{Filter, Literal, UserProperty};
        const CHUNK: usize = 100;
        let mut by_id = std::collections::HashMap::new();
        let mut by_upn = std::collections::HashMap::new();
        let ids: Vec<Literal> = refs
            .iter()
            .filter_map(|r| match r {
                UserRef::Id(id) => Some(Literal::Id(*id)),
                UserRef::Upn(_) => None,
            })
            .collect();
        let upns: Vec<Literal> = refs
            .iter()
            .filter_map(|r| match r {
                UserRef::Upn(upn) => Some(Literal::Text(upn.as_str().to_owned())),
                UserRef::Id(_) => None,
            })
            .collect();
        for (property, values) in [
            (UserProperty::Id, ids),
            (UserProperty::UserPrincipalName, upns),
        ] {
            for chunk in values.chunks(CHUNK) {
                let query = UserQuery {
                    filter: Some(Filter::In {
                        property,
                        values: chunk.to_vec(),
                    }),
                    limit: CHUNK as u32,
                    ..UserQuery::default()
                };
                for user in self.store.list_users(tenant, &query).await?.items {
                    by_upn.insert(user.user_principal_name.as_str().to_lowercase(), user.id);
                    by_id.insert(user.id, user);
                }
            }
        }
        Ok(refs
            .iter()
            .map(|r| {
                let id = match r {
                    UserRef::Id(id) => Some(*id),
                    UserRef::Upn(upn) => by_upn.get(&upn.as_str().to_lowercase()).copied(),
                };
                id.and_then(|id| by_id.get(&id).cloned())
            })
            .collect())
    }

    pub async fn list_users(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &UserQuery,
    ) -> Result<Page<User>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        if !(1..=999).contains(&query.limit) {
            return Err(DirectoryError::invalid("$top", "must be between 1 and 999"));
        }
        Ok(self.store.list_users(tenant, query).await?)
    }

    /// The signed-in user's own user (Graph's `/me`).
    pub async fn get_own_user(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<User, DirectoryError> {
        let id = crate::authz::may_read_self(actor)?;
        self.active_user(tenant, &UserRef::Id(id)).await
    }

    /// How many users match a listing's filters (Graph's `$count`).
    pub async fn count_users(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &UserQuery,
    ) -> Result<u64, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        Ok(self.store.count_users(tenant, query).await?)
    }

    pub async fn user_roles(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<Vec<DirectoryRole>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        let user = self.active_user(tenant, user).await?;
        Ok(self.store.list_user_roles(tenant, user.id).await?)
    }

    /// Moves a user to the recycle bin, restorable for 30 days.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<(), DirectoryError> {
        let user = self.active_user(tenant, user).await?;
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        authorize(actor, Action::DeleteUser, &roles)?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Delete user",
            operation_type: "Delete",
            target: Some(&user),
            other_target: None,
            details: vec![],
            outbox_kind: "user.deleted",
            payload: json!({ "userPrincipalName": user.user_principal_name.as_str() }),
        });
        self.store
            .soft_delete_user(tenant, user.id, user.version, self.clock.now(), &events)
            .await?;
        Ok(())
    }

    /// Brings a deleted user back, within 30 days of the deletion.
    pub async fn restore_user(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: UserId,
    ) -> Result<User, DirectoryError> {
        authorize(actor, Action::RestoreUser, &[])?;
        let not_found = || DirectoryError::not_found(format!("Deleted object '{id}'"));
        let user = self
            .store
            .find_user(tenant, id)
            .await?
            .filter(User::is_deleted)
            .ok_or_else(not_found)?;
        if !user.restorable_at(self.clock.now()) {
            return Err(not_found());
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Restore user",
            operation_type: "Restore",
            target: Some(&user),
            other_target: None,
            details: vec![],
            outbox_kind: "user.restored",
            payload: json!({ "userPrincipalName": user.user_principal_name.as_str() }),
        });
        self.store
            .restore_user(tenant, id, user.version, &events)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(_) => DirectoryError::Conflict(format!(
                    "Another object with the same value for property userPrincipalName already exists: {} is used by an active user. Change that user's userPrincipalName first.",
                    user.user_principal_name
                )),
                other => other.into(),
            })?;
        self.store
            .find_user(tenant, id)
            .await?
            .ok_or_else(not_found)
    }

    /// Users in the recycle bin that can still be restored.
    pub async fn list_deleted_users(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &UserQuery,
    ) -> Result<Page<User>, DirectoryError> {
        authorize(actor, Action::ReadUsers, &[])?;
        let cutoff = self.clock.now() - Duration::days(crate::user::DELETED_RETENTION_DAYS);
        let query = UserQuery {
            deleted: true,
            deleted_after: Some(cutoff),
            ..query.clone()
        };
        Ok(self.store.list_users(tenant, &query).await?)
    }

    /// Replaces the directory roles a user holds.
    pub async fn set_user_roles(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
        roles: Vec<DirectoryRole>,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageRoles, &[])?;
        let user = self.active_user(tenant, user).await?;
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        let events = self.events(Change {
            actor,
            tenant,
            category: "RoleManagement",
            activity: "Update member roles",
            operation_type: "Update",
            target: Some(&user),
            other_target: None,
            details: vec![(
                "roles".into(),
                roles
                    .iter()
                    .map(|r| r.display_name())
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
            outbox_kind: "user.rolesChanged",
            payload: json!({ "roles": roles.iter().map(|r| r.template_id()).collect::<Vec<_>>() }),
        });
        self.store
            .set_user_roles(tenant, user.id, &roles, user.version, &events)
            .await?;
        Ok(())
    }
}

pub(super) fn duplicate_upn() -> DirectoryError {
    DirectoryError::Conflict(
        "Another object with the same value for property userPrincipalName already exists.".into(),
    )
}
