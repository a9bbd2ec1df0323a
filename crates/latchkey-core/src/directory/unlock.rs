//! Ending a smart lockout before it runs out: an administrator's Unlock, authorized as a
//! password reset of the same user (whoever may reset a user's password may let them try
//! it again), audited, and idempotent.

use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;

impl Directory {
    /// When `target`'s account is locked by too many failed sign-ins, ends the lockout: the
    /// failures, the doubling and the lock are cleared, so the next sign-in is judged afresh,
    /// and one audit event ("Unlock user") is written with it. `Ok(false)`, and nothing
    /// written, when the account is not locked (a lock that ran out is no lock): unlocking
    /// twice is safe.
    pub async fn unlock_user(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<bool, DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        authorize(actor, Action::ResetPassword, &roles)?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: "Unlock user",
            operation_type: "Update",
            target: Some(&user),
            other_target: None,
            details: vec![],
            outbox_kind: "user.unlocked",
            payload: json!({}),
        });
        Ok(self
            .store
            .unlock_sign_in(tenant, user.id, self.clock.now(), &events)
            .await?)
    }
}
