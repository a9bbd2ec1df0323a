//! Discovery from a connected Microsoft 365 tenant (issue 8, source b): what a pass read from
//! the remote tenant's Graph (its service principals, delegated permission grants and
//! sign-ins), how it is written to the inventory in one transaction, and each source's
//! status (last success, last error, the sign-in cursor; migration 0034). The pass itself
//! (Graph I/O) lives in `latchkey-automation`; the Graph shapes Latchkey serves for
//! `servicePrincipals` and `oauth2PermissionGrants` are built from [`ServicePrincipal`] and
//! [`PermissionGrant`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::app::AppId;
use crate::audit::Events;
use crate::ids::{SaasAppId, TenantId, UserId};
use crate::interactive::UserConsent;
use crate::saas::{CatalogueMatch, SaasEvidence};
use crate::store::StoreResult;

/// Microsoft's own tenants: service principals they own are Microsoft's first-party apps
/// (Graph, Teams, Exchange …), never shadow IT.
pub const MICROSOFT_TENANTS: [&str; 2] = [
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    "72f988bf-86f1-41af-91ab-2d7cd011db47",
];

/// Microsoft Graph's well-known `appId`.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The id of Microsoft Graph's service principal in a Latchkey tenant: fixed, so that
/// grants can name it as their `resourceId`.
pub const GRAPH_SERVICE_PRINCIPAL_ID: uuid::Uuid =
    uuid::Uuid::from_u128(0x0000_0003_0000_0000_c000_0000_0000_0001);

/// A service principal as Latchkey's Graph lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub id: uuid::Uuid,
    pub app_id: String,
    pub display_name: String,
    pub account_enabled: bool,
    /// The tenant that owns the application (Microsoft's for first-party apps).
    pub app_owner_organization_id: String,
    pub reply_urls: Vec<String>,
}

/// `AllPrincipals` (an administrator's consent for everyone) or `Principal` (one user's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentType {
    AllPrincipals,
    Principal,
}

impl ConsentType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllPrincipals => "AllPrincipals",
            Self::Principal => "Principal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::AllPrincipals, Self::Principal]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

/// A delegated permission grant as Latchkey's Graph lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionGrant {
    pub id: String,
    /// The client's service principal id.
    pub client_id: uuid::Uuid,
    pub consent_type: ConsentType,
    pub principal_id: Option<UserId>,
    /// The resource's service principal (Graph's).
    pub resource_id: uuid::Uuid,
    pub scopes: Vec<String>,
}

/// An app the remote tenant has a service principal for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteApp {
    pub app_id: String,
    pub display_name: String,
    pub app_owner_organization_id: Option<String>,
    pub homepage: Option<String>,
    /// The catalogue entry the pass matched it to (`latchkey-saas`), if any.
    pub matched: Option<CatalogueMatch>,
}

/// A delegated grant the remote tenant holds, its client resolved to an `appId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteGrant {
    pub id: String,
    pub client_app_id: String,
    pub consent_type: ConsentType,
    /// The consenting user's UPN at the remote tenant (`Principal` grants).
    pub principal: Option<String>,
    pub scopes: Vec<String>,
}

/// A remote sign-in to an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSignIn {
    pub id: String,
    pub app_id: String,
    pub user_principal_name: String,
    pub at: DateTime<Utc>,
    /// Whether the sign-in succeeded: a refused one is no use of the app.
    pub succeeded: bool,
}

/// Everything one pass read from a connected tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteObservations {
    pub apps: Vec<RemoteApp>,
    pub grants: Vec<RemoteGrant>,
    pub sign_ins: Vec<RemoteSignIn>,
}

/// A discovery source's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasDiscoverySource {
    pub connection: String,
    pub last_attempt: DateTime<Utc>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Short and secret-free: the remote's error code and message.
    pub last_error: Option<String>,
    /// The newest sign-in seen: the next pass reads from there.
    pub sign_in_cursor: Option<DateTime<Utc>>,
}

/// A user of a remote app, matched to a local user by UPN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAppUser {
    pub user_id: UserId,
    /// The newest sign-in seen; `None` for a user known from a grant only (added at the
    /// pass's time, an existing user's last use left as it is).
    pub last_used: Option<DateTime<Utc>>,
    pub permissions: Vec<String>,
}

/// One app of a pass as the store writes it. The app is found by its link to the remote
/// `appId` on this connection, else by catalogue entry, else by name; else it is added as
/// discovered (then `if_new` is written) and linked.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteAppWrite {
    pub remote_app_id: String,
    pub new_id: SaasAppId,
    pub name: String,
    pub fallback_name: String,
    pub matched: Option<CatalogueMatch>,
    pub permissions: Vec<String>,
    pub users: Vec<RemoteAppUser>,
    /// Each with a key unique per observation (a grant and its scopes, a sign-in): an
    /// observation already recorded is not recorded again. Not written for a sanctioned app.
    pub evidence: Vec<(String, SaasEvidence)>,
    pub if_new: Option<Box<Events>>,
}

/// A successful pass as the store writes it, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteDiscoveryWrite {
    pub tenant_id: TenantId,
    /// The connection's name, lower case (the source's key).
    pub connection: String,
    pub at: DateTime<Utc>,
    pub apps: Vec<RemoteAppWrite>,
    pub sign_in_cursor: Option<DateTime<Utc>>,
}

/// What a pass wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteDiscoveryCounts {
    /// Apps the remote tenant uses (Microsoft's own left out).
    pub apps_seen: u32,
    /// Names of the apps added to the inventory by this pass.
    pub added: Vec<String>,
    /// Evidence rows written.
    pub evidence: u32,
}

/// The discovery sources' storage.
#[async_trait]
pub trait SaasRemoteStore {
    /// Up to `limit` user consents of the tenant after (app, user), by app then user.
    async fn user_consents_page(
        &self,
        tenant: TenantId,
        after: Option<(AppId, UserId)>,
        limit: u32,
    ) -> StoreResult<Vec<UserConsent>>;
    /// The names of the tenant's connected tenants, by name.
    async fn tenant_connection_names(&self, tenant: TenantId) -> StoreResult<Vec<String>>;
    /// The remote `appId`s among `app_ids` already linked to an inventory app through this
    /// connection.
    async fn linked_remote_saas_apps(
        &self,
        tenant: TenantId,
        connection: &str,
        app_ids: &[String],
    ) -> StoreResult<Vec<String>>;
    async fn saas_discovery_source(
        &self,
        tenant: TenantId,
        connection: &str,
    ) -> StoreResult<Option<SaasDiscoverySource>>;
    /// Writes a pass (apps, users, evidence, the source's success and cursor).
    async fn write_remote_saas_discovery(
        &self,
        write: &RemoteDiscoveryWrite,
    ) -> StoreResult<RemoteDiscoveryCounts>;
    /// Records a failed pass on the source; nothing else changes.
    async fn record_saas_discovery_failure(
        &self,
        tenant: TenantId,
        connection: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()>;
}
