//! Graph's password reset through the user's password authentication method
//! (`POST /users/{id}/authentication/methods/{id}/resetPassword`): the password is set by
//! the one password operation, and the result is an *operation* the caller reads once.
//!
//! A generated password has to reach the admin who asked for it, and nothing else. It is
//! held **in this process's memory only**, as a `SecretString` (zeroized on drop), never in
//! the store: a database backup, a replica or a log can then never contain it. It is handed
//! out by the first read of the operation, to the principal that started it, and then
//! forgotten; an operation nobody reads is forgotten after [`OPERATION_LIFETIME`]. The price
//! is that on several nodes the read must reach the node that did the reset (or, after a
//! restart, the password is gone and the admin resets again); sealing it under the master key
//! in the store would lift that but put every generated password into backups for as long as
//! it is unread. The operation's status is kept just as long.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::{Directory, PasswordChoice, SetPassword, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};

/// How long an operation (and an unread generated password) is kept.
pub const OPERATION_LIFETIME: Duration = Duration::minutes(15);

/// At most this many operations are held; beyond, resets are refused as busy (before any
/// password is changed) until older ones expire.
pub const MAX_PENDING_OPERATIONS: usize = 10_000;

/// Who started an operation; only they may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    User(UserId),
    App(String),
    Operator,
}

impl Principal {
    fn of(actor: &Actor) -> Self {
        match actor {
            Actor::User { id, .. } => Self::User(*id),
            Actor::App { app_id, .. } => Self::App(app_id.clone()),
            Actor::Operator { .. } => Self::Operator,
        }
    }
}

struct Pending {
    tenant: TenantId,
    user_id: UserId,
    principal: Principal,
    created: DateTime<Utc>,
    password: Option<SecretString>,
}

/// The operations of this process. `Debug` shows only how many there are.
#[derive(Default)]
pub(super) struct ResetOperations {
    pending: Mutex<HashMap<Uuid, Pending>>,
}

impl std::fmt::Debug for ResetOperations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        write!(f, "ResetOperations({n} pending)")
    }
}

impl ResetOperations {
    fn prune(map: &mut HashMap<Uuid, Pending>, now: DateTime<Utc>) {
        map.retain(|_, p| now - p.created < OPERATION_LIFETIME);
    }

    fn has_room(&self, now: DateTime<Utc>) -> bool {
        let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        Self::prune(&mut map, now);
        map.len() < MAX_PENDING_OPERATIONS
    }

    fn insert(&self, pending: Pending) -> Uuid {
        let id = Uuid::new_v4();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, pending);
        id
    }
}

/// A started reset: the operation to read, and the user it reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedReset {
    pub operation_id: Uuid,
    pub user_id: UserId,
}

/// What reading an operation tells: it succeeded (the password is set before the operation
/// exists), and, on the first read only, the generated password.
#[derive(Debug)]
pub struct ResetOperation {
    pub id: Uuid,
    pub user_id: UserId,
    pub created: DateTime<Utc>,
    pub generated_password: Option<SecretString>,
}

impl Directory {
    /// Resets a user's password through their password method: the given one (checked
    /// against the policy) or a generated one. Authorized as [`Action::ResetPasswordMethod`],
    /// with Entra's who-may-reset-whom matrix. Like a reset in the admin center, the user
    /// must change the password at their next sign-in.
    pub async fn reset_password_method(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        new_password: Option<SecretString>,
    ) -> Result<StartedReset, DirectoryError> {
        if !self.reset_operations.has_room(self.clock.now()) {
            return Err(DirectoryError::Busy);
        }
        let choice = new_password.map_or(PasswordChoice::Generate, PasswordChoice::Provided);
        let set = self
            .set_password_as(
                actor,
                tenant_id,
                target,
                SetPassword {
                    choice,
                    force_change_next_sign_in: true,
                    force_change_with_mfa: false,
                    reason: None,
                },
                Action::ResetPasswordMethod,
            )
            .await?;
        let operation_id = self.reset_operations.insert(Pending {
            tenant: tenant_id,
            user_id: set.user_id,
            principal: Principal::of(actor),
            created: self.clock.now(),
            password: set.generated_password,
        });
        Ok(StartedReset {
            operation_id,
            user_id: set.user_id,
        })
    }

    /// Reads a reset operation of `target`. Only the principal that started it may read it,
    /// and only while still allowed to reset this user; to anyone else it does not exist.
    /// A generated password is in the first answer and in no later one.
    pub async fn read_reset_operation(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        operation_id: Uuid,
    ) -> Result<ResetOperation, DirectoryError> {
        let gone = || DirectoryError::not_found(format!("Operation '{operation_id}'"));
        let user = self.active_user(tenant_id, target).await?;
        let roles = self.store.list_user_roles(tenant_id, user.id).await?;
        authorize(actor, Action::ResetPasswordMethod, &roles)?;
        let now = self.clock.now();
        let principal = Principal::of(actor);
        let mut map = self
            .reset_operations
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ResetOperations::prune(&mut map, now);
        let pending = map
            .get_mut(&operation_id)
            .filter(|p| p.tenant == tenant_id && p.user_id == user.id && p.principal == principal)
            .ok_or_else(gone)?;
        Ok(ResetOperation {
            id: operation_id,
            user_id: pending.user_id,
            created: pending.created,
            generated_password: pending.password.take(),
        })
    }
}
