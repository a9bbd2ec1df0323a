//! Who a token speaks for. A resource (Graph today) validates the token's signature and
//! claims; this decides whether the user or application behind it may still act, and with
//! which roles: a delegated token dies with its user's sessions, account or deletion.

use chrono::{DateTime, Utc};

use super::Directory;
use crate::app::AppId;
use crate::authz::{Actor, Channel};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};

/// Why a valid token does not make an actor.
#[derive(Debug, thiserror::Error)]
pub enum CallerRefused {
    #[error("the token's user does not exist in this tenant or has been deleted")]
    UnknownUser,
    #[error("the token's user account is disabled")]
    Disabled,
    #[error("the token was issued before the user's sign-in sessions were revoked")]
    Revoked,
    #[error("the token's application is no longer registered in this tenant")]
    UnknownApp,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl Directory {
    /// The actor for a delegated (user) token issued at `issued_at` with `scopes`.
    pub async fn delegated_caller(
        &self,
        tenant: TenantId,
        user: UserId,
        scopes: Vec<String>,
        issued_at: DateTime<Utc>,
        channel: Channel,
    ) -> Result<Actor, CallerRefused> {
        let found = self
            .store
            .find_user(tenant, user)
            .await
            .map_err(DirectoryError::from)?
            .filter(|u| !u.is_deleted())
            .ok_or(CallerRefused::UnknownUser)?;
        if !found.account_enabled {
            return Err(CallerRefused::Disabled);
        }
        // Token times are whole seconds: a token from the very second of a revocation is
        // accepted, one from any earlier second is not.
        if issued_at.timestamp() < found.sign_in_sessions_valid_from.timestamp() {
            return Err(CallerRefused::Revoked);
        }
        let roles = self
            .store
            .list_user_roles(tenant, user)
            .await
            .map_err(DirectoryError::from)?;
        Ok(Actor::User {
            id: found.id,
            display: found.user_principal_name.to_string(),
            roles,
            scopes: Some(scopes),
            channel,
        })
    }

    /// The actor for an app-only token carrying the application permissions `permissions`.
    /// The app must still be registered; its service principal holds no directory roles yet.
    pub async fn app_caller(
        &self,
        tenant: TenantId,
        app_id: AppId,
        permissions: Vec<String>,
        channel: Channel,
    ) -> Result<Actor, CallerRefused> {
        let app = self
            .find_client(tenant, app_id)
            .await?
            .ok_or(CallerRefused::UnknownApp)?;
        Ok(Actor::App {
            app_id: app.app_id.to_string(),
            display: app.display_name,
            permissions,
            roles: vec![],
            channel,
        })
    }
}
