//! What My account (the end user's own pages) needs of the directory beyond the operations
//! every channel shares: its client registration, the actor of a signed-in user, and the
//! user's own sign-in activity.

use super::Directory;
use crate::app::App;
use crate::authz::{Actor, Channel, Denied};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::sign_in::SignInEvent;
use crate::store::{Page, SignInQuery};
use crate::user::User;

/// The display name of My account's client registration in every tenant.
pub const MY_ACCOUNT_APP_NAME: &str = "Latchkey My account";

impl Directory {
    /// My account's client in a tenant, registered on first use (see
    /// [`Directory::first_party_client`]).
    pub async fn my_account_client(
        &self,
        tenant: TenantId,
        redirect_uri: &str,
    ) -> Result<App, DirectoryError> {
        self.first_party_client(tenant, MY_ACCOUNT_APP_NAME, redirect_uri)
            .await
    }

    /// The actor for a user signed in to My account: any enabled user, acting as themselves
    /// on the self-service channel (which allows exactly what a user may do to their own
    /// account: change their password, manage their security info, sign out everywhere).
    pub async fn my_account_caller(
        &self,
        tenant: TenantId,
        user: &User,
    ) -> Result<Actor, DirectoryError> {
        if !user.account_enabled || user.is_deleted() {
            return Err(Denied("The account is disabled.".into()).into());
        }
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        Ok(Actor::User {
            id: user.id,
            display: user.user_principal_name.to_string(),
            roles,
            scopes: None,
            channel: Channel::SelfService,
        })
    }

    /// The signed-in user's own recent sign-ins, newest first, one page at a time.
    pub async fn own_sign_ins(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<String>,
        limit: u32,
    ) -> Result<Page<SignInEvent>, DirectoryError> {
        let Actor::User {
            id,
            scopes: None,
            channel: Channel::SelfService,
            ..
        } = actor
        else {
            return Err(
                Denied("Only the signed-in user sees their own sign-ins here.".into()).into(),
            );
        };
        Ok(self
            .store
            .query_sign_in_events(
                tenant,
                &SignInQuery {
                    user_id: Some(*id),
                    after,
                    limit,
                    ..Default::default()
                },
            )
            .await?)
    }
}
