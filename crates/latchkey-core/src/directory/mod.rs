//! The directory operations: one function per verb, called by every channel (Graph, admin
//! center, CLI, self-service, SCIM, workflows). Each authorizes, validates, does any costly
//! work (hashing) before opening a transaction, and then writes the change with its audit
//! and outbox events through one store call.

mod admin_center;
mod approvals;
mod apps;
mod audit_logs;
mod auth_methods;
mod callers;
mod delivery;
mod delta;
mod device;
mod interactive;
mod licenses;
mod mail;
mod manager;
mod my_account;
mod password;
mod require_change;
mod reset;
mod roles;
mod saas;
mod saas_dashboard;
mod saas_licenses;
mod saas_remote;
mod saas_triggers;
mod saas_views;
mod scim_connections;
mod sign_in;
mod sspr;
mod tap;
mod tenant_connections;
mod tenants;
mod unlock;
mod update;
mod users;
mod workflow_admin;
mod workflow_console;
mod workflow_http;
mod workflows;

use std::sync::Arc;

use serde_json::Value;

use crate::audit::{AuditEvent, Events, Initiator, OutboxEvent};
use crate::authz::Actor;
use crate::clock::Clock;
use crate::crypto::MasterKey;
use crate::error::DirectoryError;
use crate::ids::{EventId, TenantId, UserId};
use crate::names::Upn;
use crate::password::Hasher;
use crate::store::Store;
use crate::tenant::Tenant;
use crate::user::User;

pub use admin_center::{ADMIN_CENTER_APP_NAME, AdminCenterRefused};
pub use approvals::{ApprovalGone, ApprovalView};
pub use apps::{CreatedApp, NewApp};
pub use auth_methods::{
    AuthMethod, SECOND_FACTOR_TICKET_LIFETIME, SecondFactor, SecondFactorDue, SecondFactorError,
    TicketStage, TotpEnrollment,
};
pub use callers::CallerRefused;
pub use delivery::{DeliveredPassword, RevealedPassword, ViewOnceGone, ViewOnceLink};
pub use delta::{
    DELTA_TOKEN_LIFETIME_DAYS, DeltaError, DeltaNext, DeltaPage, DeltaRequest, DeltaStart,
};
pub use device::DeviceCodeError;
pub use interactive::{
    CodeError, NewAuthorizationCode, OIDC_SCOPES, PasswordChangeError, USER_CONSENTABLE,
    missing_consent, user_may_consent,
};
pub use licenses::{LicenseDetail, NO_USAGE_LOCATION};
pub use mail::DueMail;
pub use mail::user_addresses;
pub use my_account::MY_ACCOUNT_APP_NAME;
pub use password::{PasswordChoice, PasswordSet, SetPassword};
pub use reset::{MAX_PENDING_OPERATIONS, OPERATION_LIFETIME, ResetOperation, StartedReset};
pub use saas::{MAX_EXPENSE_LINES, SaasAppChanges};
pub use saas_dashboard::{IdleApp, SPEND_MONTHS, SaasDashboard, Spend};
pub use saas_licenses::{NewSaasApp, RenewalPass};
pub use saas_views::{RiskyApp, SaasDashboardParts, saas_dashboard_parts};
pub use scim_connections::{ScimConnection, ScimConnectionInput, ScimConnectionSummary};
pub use sign_in::{ClientRef, SignInError};
pub use sspr::{ResetError, ResetStep};
pub use tap::{IssuedPass, NewTemporaryAccessPass};
pub use tenant_connections::{TenantConnection, TenantConnectionInput};
pub use tenants::Bootstrapped;
pub use update::{ProfileField, UserChanges};
pub use users::{CreatedUser, NewUser};
pub use workflow_admin::{MAX_ON_DEMAND_SUBJECTS, MAX_WORKFLOW_PAGE, WorkflowChanges};
pub use workflow_console::{MAX_RUNS_FILTERED, RunFilter, ShareExceeded};
pub use workflows::{
    ActionResult, MAX_STEP_ATTEMPTS, STEP_LEASE_SECONDS, Workflow, effect_is_from_step, find_sku,
};

/// How a channel names a user: by object id or by UPN, as Graph's `/users/{id | upn}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(UserId),
    Upn(Upn),
}

impl UserRef {
    /// A GUID is an id; anything else must be a UPN.
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        if let Ok(id) = s.parse::<UserId>() {
            return Ok(Self::Id(id));
        }
        Ok(Self::Upn(Upn::parse(s)?))
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Upn(upn) => write!(f, "{upn}"),
        }
    }
}

/// The directory: the store, the hashing pool and the clock, shared by every channel.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    hasher: Hasher,
    clock: Arc<dyn Clock>,
    /// A hash of a throwaway value, verified against for unknown users so that a sign-in
    /// takes as long whether or not the account exists.
    dummy: Arc<tokio::sync::OnceCell<crate::password::PasswordHash>>,
    /// Password-method resets not yet read (generated passwords held in memory only).
    reset_operations: Arc<reset::ResetOperations>,
    /// The server's master key, for secrets the directory must read back later (sealed
    /// authenticator secrets, view-once deliveries). `None` in offline tools that never need it.
    master: Option<MasterKey>,
    /// Woken when this node queues mail, so that the delivery loop sends it at once.
    mail_wakeup: Arc<tokio::sync::Notify>,
    /// Whether this server sends mail, and how long view-once links live.
    delivery: crate::delivery::DeliverySettings,
}

/// What an audited change says about itself.
struct Change<'a> {
    actor: &'a Actor,
    tenant: TenantId,
    category: &'static str,
    activity: &'static str,
    operation_type: &'static str,
    target: Option<&'a User>,
    /// A target that is not a user (an app): id and display name.
    other_target: Option<(String, String)>,
    details: Vec<(String, String)>,
    outbox_kind: &'static str,
    payload: Value,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, hasher: Hasher, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            hasher,
            clock,
            dummy: Arc::default(),
            reset_operations: Arc::default(),
            master: None,
            mail_wakeup: Arc::default(),
            delivery: crate::delivery::DeliverySettings::default(),
        }
    }

    /// The directory with the server's master key, for operations that seal secrets.
    pub fn with_master_key(mut self, key: MasterKey) -> Self {
        self.master = Some(key);
        self
    }

    /// The directory with the server's mail settings (whether it sends mail at all, and how
    /// long view-once links live).
    pub fn with_delivery_settings(mut self, settings: crate::delivery::DeliverySettings) -> Self {
        self.delivery = settings;
        self
    }

    pub fn delivery_settings(&self) -> &crate::delivery::DeliverySettings {
        &self.delivery
    }

    /// The master key, or an error for an operation that needs one in a tool without it.
    pub(crate) fn master_key(&self) -> Result<&MasterKey, DirectoryError> {
        self.master.as_ref().ok_or_else(|| {
            DirectoryError::Internal("this operation needs the server's master key".into())
        })
    }

    /// A secret sealed under the master key with `purpose`, opened; `what` names it in the
    /// error when it does not open (never its content).
    pub(crate) fn open_secret(
        &self,
        purpose: &str,
        sealed: &[u8],
        what: &str,
    ) -> Result<secrecy::SecretString, DirectoryError> {
        let plain = self
            .master_key()?
            .open(purpose, sealed)
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        String::from_utf8(plain)
            .map(secrecy::SecretString::from)
            .map_err(|_| DirectoryError::Internal(format!("{what} is not UTF-8")))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn tenant(&self, id: TenantId) -> Result<Tenant, DirectoryError> {
        self.store
            .find_tenant(id)
            .await?
            .ok_or_else(|| DirectoryError::not_found(format!("Tenant '{id}'")))
    }

    /// Resolves a reference to an active (not deleted) user.
    async fn active_user(&self, tenant: TenantId, r: &UserRef) -> Result<User, DirectoryError> {
        let found = match r {
            UserRef::Id(id) => self.store.find_user(tenant, *id).await?,
            UserRef::Upn(upn) => self.store.find_user_by_upn(tenant, upn).await?,
        };
        found
            .filter(|u| !u.is_deleted())
            .ok_or_else(|| DirectoryError::not_found(format!("Resource '{r}'")))
    }

    fn events(&self, c: Change<'_>) -> Events {
        let now = self.clock.now();
        let audit = AuditEvent {
            id: EventId::new(),
            tenant_id: c.tenant,
            activity_date_time: now,
            category: c.category.into(),
            activity: c.activity.into(),
            operation_type: c.operation_type.into(),
            result: "success".into(),
            initiated_by: Initiator::of(c.actor),
            target_id: c
                .target
                .map(|u| u.id.to_string())
                .or_else(|| c.other_target.as_ref().map(|t| t.0.clone())),
            target_display: c
                .target
                .map(|u| u.user_principal_name.to_string())
                .or_else(|| c.other_target.as_ref().map(|t| t.1.clone())),
            channel: c.actor.channel(),
            details: c.details,
        };
        let outbox = OutboxEvent {
            id: EventId::new(),
            tenant_id: c.tenant,
            occurred_at: now,
            kind: c.outbox_kind.into(),
            subject: c.target.map(|u| u.id),
            payload: c.payload,
        };
        Events::new(audit, outbox)
    }
}
