//! What the admin center needs of the directory beyond the operations every channel shares:
//! its own first-party client registration (it signs administrators in through the identity
//! platform's authorization code flow, like any other app), the decision of who may enter,
//! and a password reset that refuses a form older than the user it was filled in for.

use super::{Directory, NewApp, PasswordSet, SetPassword, UserRef};
use crate::app::App;
use crate::authz::{Actor, Channel};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::user::User;

/// The display name of the admin center's client registration in every tenant.
pub const ADMIN_CENTER_APP_NAME: &str = "Latchkey admin center";

/// Why a signed-in user is not let into the admin center.
#[derive(Debug, thiserror::Error)]
pub enum AdminCenterRefused {
    #[error("you need an administrator role to use the admin center")]
    NotAnAdministrator,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl Directory {
    /// The admin center's client in a tenant, registered on first use (see
    /// [`Directory::first_party_client`]).
    pub async fn admin_center_client(
        &self,
        tenant: TenantId,
        redirect_uri: &str,
    ) -> Result<App, DirectoryError> {
        self.first_party_client(tenant, ADMIN_CENTER_APP_NAME, redirect_uri)
            .await
    }

    /// One of Latchkey's own page sets (admin center, My account) as a client of the identity
    /// platform, registered in the tenant on first use: a public client (it proves itself
    /// with PKCE; the code is redeemed in process) named `name`, whose one redirect URI is
    /// `redirect_uri`, with the OpenID Connect scopes consented for the tenant.
    pub async fn first_party_client(
        &self,
        tenant: TenantId,
        name: &str,
        redirect_uri: &str,
    ) -> Result<App, DirectoryError> {
        let existing = self.store.list_apps(tenant).await?.into_iter().find(|a| {
            a.display_name == name
                && a.public_client
                && a.redirect_uris.iter().any(|u| u == redirect_uri)
        });
        if let Some(app) = existing {
            return Ok(app);
        }
        let latchkey = Actor::Operator {
            channel: Channel::AdminCenter,
        };
        let created = self
            .create_app(
                &latchkey,
                tenant,
                NewApp {
                    display_name: name.into(),
                    redirect_uris: vec![redirect_uri.to_owned()],
                    public_client: true,
                    grant_admin_consent: true,
                    ..Default::default()
                },
            )
            .await?;
        Ok(created.app)
    }

    /// The actor for a user who signed in to the admin center: only holders of a directory
    /// role get in, acting with those roles on the admin center's channel.
    pub async fn admin_center_caller(
        &self,
        tenant: TenantId,
        user: &User,
    ) -> Result<Actor, AdminCenterRefused> {
        let roles = self
            .store
            .list_user_roles(tenant, user.id)
            .await
            .map_err(DirectoryError::from)?;
        if roles.is_empty() {
            return Err(AdminCenterRefused::NotAnAdministrator);
        }
        Ok(Actor::User {
            id: user.id,
            display: user.user_principal_name.to_string(),
            roles,
            scopes: None,
            channel: Channel::AdminCenter,
        })
    }

    /// [`Directory::set_password`] for a form filled in when the user was at `seen_version`:
    /// if the user has changed since, nothing is done (`Stale`), so an administrator never
    /// resets a password on the strength of a page that no longer tells the truth.
    pub async fn set_password_as_seen(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: UserId,
        seen_version: i64,
        request: SetPassword,
    ) -> Result<PasswordSet, DirectoryError> {
        let current = self.get_user(actor, tenant, &UserRef::Id(user)).await?;
        if current.version != seen_version {
            return Err(DirectoryError::Stale);
        }
        self.set_password(actor, tenant, &UserRef::Id(user), request)
            .await
    }
}
