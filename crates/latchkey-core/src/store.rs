//! The storage contract. Core says what must be stored and read, and in which units of
//! atomicity; `latchkey-store` implements it once per database. Every write method is one
//! transaction that carries its audit and outbox events, so a change is never recorded
//! without its trail nor half-applied.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::app::{App, AppId};
use crate::audit::{AuditEvent, Events, OutboxEvent};
use crate::auth_method::{AuthMethodRecord, RecoveryCodeStatus};
use crate::delivery::DeliveryStore;
use crate::ids::{SkuId, TenantId, UserId};
use crate::interactive::{
    AuthorizationCodeRecord, DeviceCodeRecord, SignInSessionRecord, UserConsent,
};
use crate::license::{AssignedLicense, Sku, SkuUsage};
use crate::mail::MailStore;
use crate::names::{DomainName, Upn};
use crate::password::{PasswordHash, PasswordPolicy};
use crate::query::{Filter, OrderBy};
use crate::role::DirectoryRole;
use crate::sign_in::{RefreshTokenRecord, SignInEvent, SignInState};
use crate::sspr::{ResetFlowRecord, VerificationMethod};
use crate::tenant::Tenant;
use crate::user::User;
use crate::workflow_store::{TenantConnectionStore, WorkflowStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (e.g. the UPN is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row changed since it was read (optimistic concurrency), or is gone.
    #[error("the record was changed by someone else; reload and try again")]
    Stale,
    #[error("not found")]
    NotFound,
    /// A listing's page cursor was not one the store issued for that order.
    #[error("the page cursor is malformed or belongs to another listing")]
    BadCursor,
    /// Every seat of the SKU is taken; nothing was written.
    #[error("every seat of SKU {0} is taken")]
    SeatsExhausted(SkuId),
    /// A stored value does not decode into the domain type: data corruption or a bug.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database failed. The message is for logs, never for the wire.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which users a listing returns, in `order` (UPN by default), one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Case-insensitive prefix of the UPN or the display name.
    pub search: Option<String>,
    /// Only users matching this filter (Graph's `$filter`, `$search`).
    pub filter: Option<Filter>,
    /// The sort order; ties are broken by object id.
    pub order: OrderBy,
    /// `false`: active users; `true`: users in the recycle bin.
    pub deleted: bool,
    /// With `deleted`: only users deleted after this instant (the restore window).
    pub deleted_after: Option<DateTime<Utc>>,
    /// Keyset cursor from the previous page's `next`; opaque outside the store, and valid
    /// only with the same `order`.
    pub after: Option<String>,
    /// Page size, 1–999.
    pub limit: u32,
    /// Only users holding this directory role (a role's `members`).
    pub role: Option<DirectoryRole>,
}

/// Which audit events a listing returns, newest first, one page at a time. Every condition
/// given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// `activityDateTime` at or after.
    pub from: Option<DateTime<Utc>>,
    /// `activityDateTime` at or before.
    pub to: Option<DateTime<Utc>>,
    /// `initiatedBy/user/id` (or the app's id).
    pub initiated_by: Option<String>,
    pub activity: Option<String>,
    pub category: Option<String>,
    /// A target's id (`targetResources/any(t: t/id eq ...)`).
    pub target_id: Option<String>,
    /// The previous page's `next`; opaque outside the store.
    pub after: Option<String>,
    /// Page size, 1–999.
    pub limit: u32,
}

/// Which sign-in events a listing returns, newest first, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInQuery {
    /// `createdDateTime` at or after.
    pub from: Option<DateTime<Utc>>,
    /// `createdDateTime` at or before.
    pub to: Option<DateTime<Utc>>,
    /// Compared case-insensitively.
    pub user_principal_name: Option<String>,
    pub user_id: Option<UserId>,
    pub app_id: Option<String>,
    pub error_code: Option<i64>,
    pub after: Option<String>,
    pub limit: u32,
}

/// One page of a listing; `next` is the cursor for the next page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Which user changes a delta page reads: those numbered in `(since, upto]`, after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChangeQuery {
    /// `None` for a first round, which reads the users present now (no removals).
    pub since: Option<i64>,
    pub upto: i64,
    /// The `(seq, id)` of the previous page's last change.
    pub after: Option<(i64, UserId)>,
    /// Only these users (Graph's `$filter=id eq …`); empty: every user.
    pub ids: Vec<UserId>,
    /// Page size, 1–999.
    pub limit: u32,
}

/// One user change: the user as it is now, or its removal.
#[derive(Debug, Clone, PartialEq)]
pub struct UserChange {
    pub seq: i64,
    pub id: UserId,
    pub kind: UserChangeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserChangeKind {
    /// Created or changed; the user as stored now.
    Present(Box<User>),
    /// In the recycle bin (restorable): Graph's `"reason": "changed"`.
    SoftDeleted,
    /// Gone for good (hard delete or purge): Graph's `"reason": "deleted"`.
    Deleted,
}

/// A new user with everything written at creation.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    pub user: User,
    pub password: Option<PasswordHash>,
    pub roles: Vec<DirectoryRole>,
}

/// A credential change: the new hash and the flags that go with it.
#[derive(Debug, Clone)]
pub struct PasswordWrite {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// The version read before hashing; the write fails with `Stale` if it moved.
    pub expected_version: i64,
    pub hash: PasswordHash,
    pub changed_at: DateTime<Utc>,
    pub force_change_next_sign_in: bool,
    pub force_change_with_mfa: bool,
    /// When set, sessions and tokens issued before this instant die (self-service resets).
    pub revoke_sessions_from: Option<DateTime<Utc>>,
}

/// A change to a user: its new state, and possibly a new password, written together in one
/// transaction or not at all.
#[derive(Debug, Clone)]
pub struct UserWrite {
    /// The user as it must be after the write. `version` is the version read before the
    /// change; the write fails with `Stale` if it moved.
    pub user: User,
    /// A new credential. Its `expected_version` is ignored: it is written in the same
    /// transaction, right after the user row.
    pub password: Option<PasswordWrite>,
}

/// A change to a user's licences, written with the user's version bump in one transaction.
#[derive(Debug, Clone)]
pub struct LicenseWrite {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// The user's version read before the change; `Stale` if it moved or the user is gone.
    pub expected_version: i64,
    /// Assigned, or for a SKU the user already has, its disabled plans replaced. A new
    /// assignment takes a seat: `SeatsExhausted` when none is left.
    pub add: Vec<AssignedLicense>,
    pub remove: Vec<SkuId>,
    pub at: DateTime<Utc>,
}

/// A change of a user's manager, written with the user's version bump in one transaction.
#[derive(Debug, Clone)]
pub struct ManagerWrite {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// The user's version read before the change; `Stale` if it moved or the user is gone.
    pub expected_version: i64,
    /// The new manager, or `None` to remove the relationship.
    pub manager: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A token-signing key as stored. `sealed_private_key` is the PKCS#1 DER private key sealed
/// with [`crate::crypto::MasterKey`]; the public half is stored in the clear for JWKS.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub sealed_private_key: Vec<u8>,
    /// Public key, PKCS#1 DER.
    pub public_key: Vec<u8>,
    pub created: DateTime<Utc>,
    /// After this the key no longer signs; it stays published until its tokens expire.
    pub retire_after: DateTime<Utc>,
}

impl Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

/// The whole storage contract. The send queue ([`MailStore`]) and view-once deliveries
/// ([`DeliveryStore`]) are their own traits so that each part reads on its own; every backend
/// implements all of them.
#[async_trait]
pub trait Store:
    MailStore
    + DeliveryStore
    + WorkflowStore
    + TenantConnectionStore
    + crate::scim_connection::ScimConnectionStore
    + crate::workflow_store::WorkflowAdminStore
    + crate::saas::SaasStore
    + crate::saas_license::SaasLicenseStore
    + crate::approval::ApprovalStore
    + crate::saas_remote::SaasRemoteStore
    + Send
    + Sync
    + Debug
{
    /// Checks that the database answers; for health checks.
    async fn ping(&self) -> StoreResult<()>;

    // Tenants.
    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEvent) -> StoreResult<()>;
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn find_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    async fn find_tenant_by_domain(&self, domain: &DomainName) -> StoreResult<Option<Tenant>>;
    async fn update_password_policy(
        &self,
        tenant: TenantId,
        policy: &PasswordPolicy,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    /// Sets the tenant's "require a second factor for administrators", with its audit event.
    async fn update_mfa_requirement(
        &self,
        tenant: TenantId,
        require: bool,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    // Users: reads. `find_*` include deleted users; callers decide what a deleted user means.
    async fn find_user(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<User>>;
    /// Finds the active (not deleted) user with this UPN, case-insensitively.
    async fn find_user_by_upn(&self, tenant: TenantId, upn: &Upn) -> StoreResult<Option<User>>;
    async fn list_users(&self, tenant: TenantId, query: &UserQuery) -> StoreResult<Page<User>>;
    /// How many users match the query's filters (its cursor and limit are ignored).
    async fn count_users(&self, tenant: TenantId, query: &UserQuery) -> StoreResult<u64>;
    async fn find_password_hash(
        &self,
        tenant: TenantId,
        id: UserId,
    ) -> StoreResult<Option<PasswordHash>>;
    async fn list_user_roles(
        &self,
        tenant: TenantId,
        id: UserId,
    ) -> StoreResult<Vec<DirectoryRole>>;

    // Users: writes, each one transaction with its events.
    /// `Conflict` when an active user already has the UPN (any case).
    async fn insert_user(&self, record: &NewUserRecord, events: &Events) -> StoreResult<()>;
    async fn write_password(&self, write: &PasswordWrite, events: &Events) -> StoreResult<()>;
    /// Rewrites an active user's properties (and credential, when given) with every event,
    /// in one transaction. `Conflict` when the new UPN is taken, `Stale` when the version moved.
    async fn update_user(&self, write: &UserWrite, events: &[Events]) -> StoreResult<()>;
    /// Removes a deleted user for good (Graph's `DELETE /directory/deletedItems/{id}`);
    /// `Stale` when the user is not in the recycle bin at that version.
    async fn delete_user_permanently(
        &self,
        tenant: TenantId,
        id: UserId,
        expected_version: i64,
        events: &Events,
    ) -> StoreResult<()>;
    async fn soft_delete_user(
        &self,
        tenant: TenantId,
        id: UserId,
        expected_version: i64,
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<()>;
    /// Sets the user's "change password at next sign-in" flag, keeping the password; `Stale`
    /// when the user changed since `expected_version` (or is deleted).
    async fn require_password_change(
        &self,
        tenant: TenantId,
        id: UserId,
        expected_version: i64,
        events: &Events,
    ) -> StoreResult<()>;
    /// `Conflict` when an active user has taken the UPN meanwhile.
    async fn restore_user(
        &self,
        tenant: TenantId,
        id: UserId,
        expected_version: i64,
        events: &Events,
    ) -> StoreResult<()>;
    /// Permanently removes users deleted before `deleted_before`; returns how many.
    async fn purge_deleted_users(
        &self,
        tenant: TenantId,
        deleted_before: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Replaces an active user's roles if the user is still at `expected_version` (`Stale`
    /// otherwise, so two racing role changes cannot lose one another's role).
    async fn set_user_roles(
        &self,
        tenant: TenantId,
        id: UserId,
        roles: &[DirectoryRole],
        expected_version: i64,
        events: &Events,
    ) -> StoreResult<()>;

    // Licences: the tenant's SKUs and the users' assignments.
    /// `Conflict` when the SKU id or its part number (any case) is taken in the tenant.
    async fn insert_sku(&self, sku: &Sku, events: &Events) -> StoreResult<()>;
    /// Every SKU of the tenant with its consumed seats, by part number; one query.
    async fn list_skus(&self, tenant: TenantId) -> StoreResult<Vec<SkuUsage>>;
    /// Sets a SKU's seats bought, with its events, in one transaction: the row is updated
    /// first (so assignments racing for a seat wait for it, as they lock the same row), then
    /// the seats held are counted; fewer seats than are held is
    /// `StoreError::SeatsExhausted` and changes nothing. `NotFound` for an unknown SKU.
    /// Returns the seats bought before.
    async fn set_sku_seats(
        &self,
        tenant: TenantId,
        sku: SkuId,
        seats: u32,
        events: &Events,
    ) -> StoreResult<u32>;
    /// The licences of the given users (deleted ones included), in one query.
    async fn list_user_licenses(
        &self,
        tenant: TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, AssignedLicense)>>;
    /// Applies a licence change to an active user with its events, in one transaction. Seats
    /// are counted under a lock on each SKU, so of two assignments racing for the last seat
    /// exactly one wins.
    async fn write_user_licenses(&self, write: &LicenseWrite, events: &[Events])
    -> StoreResult<()>;

    // The manager relationship.
    async fn find_manager(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<UserId>>;
    /// The active managers of the given users, as (user, manager), in one query.
    async fn list_managers(
        &self,
        tenant: TenantId,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, User)>>;
    /// Sets or removes a user's manager with its events, in one transaction. `Conflict` when
    /// the new manager reports to the user, directly or not (a cycle).
    async fn write_manager(&self, write: &ManagerWrite, events: &Events) -> StoreResult<()>;

    // Change tracking (Graph's users/delta).
    /// The tenant's latest user change number: every change numbered at or below it is
    /// committed and visible (0 before any change).
    async fn latest_user_change(&self, tenant: TenantId) -> StoreResult<i64>;
    /// Marks every tenant's change counter at `now`, then deletes the tombstones (and the
    /// marks) that a mark at or before `horizon` covers; one transaction. Returns how many
    /// tombstones went.
    async fn prune_user_deletions(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// One page of the tenant's user changes in `(seq, id)` order, in at most two queries
    /// (users, tombstones), with whether more follow.
    async fn list_user_changes(
        &self,
        tenant: TenantId,
        query: &UserChangeQuery,
    ) -> StoreResult<(Vec<UserChange>, bool)>;

    // App registrations, each write one transaction with its events.
    async fn insert_app(&self, app: &App, events: &Events) -> StoreResult<()>;
    /// Rewrites the app's row and its set of secrets.
    async fn update_app(&self, app: &App, events: &Events) -> StoreResult<()>;
    async fn delete_app(&self, tenant: TenantId, app_id: AppId, events: &Events)
    -> StoreResult<()>;
    async fn find_app(&self, tenant: TenantId, app_id: AppId) -> StoreResult<Option<App>>;
    /// The tenant an application is registered in (an `appId` is unique server-wide).
    async fn find_app_tenant(&self, app_id: AppId) -> StoreResult<Option<TenantId>>;
    async fn list_apps(&self, tenant: TenantId) -> StoreResult<Vec<App>>;

    // Token-signing keys (server-wide; private halves sealed under the master key).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Every key, newest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;

    // Sign-in.
    async fn find_sign_in_state(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Option<SignInState>>;
    /// Records an attempt: the event, and for a known user the new lockout state, written
    /// only if the state is still `expected` (`Stale` otherwise, so concurrent failures on
    /// several nodes are all counted).
    async fn record_sign_in(
        &self,
        event: &SignInEvent,
        state: Option<(UserId, Option<SignInState>, SignInState)>,
    ) -> StoreResult<()>;
    /// Ends a lockout still running at `now` (failures, lockouts and the lock cleared) and
    /// writes `events` with it, in one transaction. `false`, and nothing written, when the
    /// user is not locked at `now`.
    async fn unlock_sign_in(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<bool>;
    async fn list_sign_in_events(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<SignInEvent>>;
    /// Replaces the hash with one at current parameters, only if it is still `old`. Not an
    /// audited change: the password is the same.
    async fn rehash_password(
        &self,
        tenant: TenantId,
        user: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool>;

    // Refresh tokens.
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    async fn find_refresh_token(
        &self,
        digest: &[u8; 32],
    ) -> StoreResult<Option<RefreshTokenRecord>>;
    /// Marks a token used; `false` if it was already used or revoked (a replay).
    async fn use_refresh_token(&self, id: uuid::Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn revoke_refresh_family(&self, family: uuid::Uuid, at: DateTime<Utc>)
    -> StoreResult<()>;

    // Interactive sign-in: browser sessions, authorization codes (digests only), consent.
    async fn insert_sign_in_session(&self, session: &SignInSessionRecord) -> StoreResult<()>;
    async fn find_sign_in_session(
        &self,
        digest: &[u8; 32],
    ) -> StoreResult<Option<SignInSessionRecord>>;
    async fn revoke_sign_in_session(&self, id: uuid::Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    async fn insert_authorization_code(&self, code: &AuthorizationCodeRecord) -> StoreResult<()>;
    async fn find_authorization_code(
        &self,
        digest: &[u8; 32],
    ) -> StoreResult<Option<AuthorizationCodeRecord>>;
    /// Marks a code redeemed; `false` if it already was (a replay), so that of two racing
    /// redemptions exactly one wins.
    async fn redeem_authorization_code(
        &self,
        id: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn find_user_consent(
        &self,
        tenant: TenantId,
        user: UserId,
        app: AppId,
    ) -> StoreResult<Option<UserConsent>>;
    /// Records (or widens) a user's consent, with its events, in one transaction.
    async fn write_user_consent(&self, consent: &UserConsent, events: &Events) -> StoreResult<()>;

    // Device codes (RFC 8628).
    async fn insert_device_code(&self, code: &DeviceCodeRecord) -> StoreResult<()>;
    async fn find_device_code(&self, digest: &[u8; 32]) -> StoreResult<Option<DeviceCodeRecord>>;
    async fn find_device_code_by_user_code(
        &self,
        tenant: TenantId,
        user_code: &str,
    ) -> StoreResult<Option<DeviceCodeRecord>>;
    /// Records the user's decision (`user` `None`: declined); `false` if already decided.
    async fn decide_device_code(
        &self,
        id: uuid::Uuid,
        user: Option<UserId>,
        at: DateTime<Utc>,
        auth_time: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// Marks an approved code redeemed; `false` if it already was.
    async fn redeem_device_code(&self, id: uuid::Uuid, at: DateTime<Utc>) -> StoreResult<bool>;

    /// Deletes sessions, authorization codes and device codes that expired before `before`;
    /// returns how many rows went.
    async fn purge_expired_sign_in_records(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    // Authentication methods (TOTP secrets sealed, recovery codes as digests only).
    /// Every method of a user, pending registrations included, oldest first.
    async fn list_auth_methods(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<AuthMethodRecord>>;
    /// Adds a method with its events (`None` for a registration that is still pending). A
    /// pending authenticator registration replaces the user's earlier pending one.
    async fn insert_auth_method(
        &self,
        method: &AuthMethodRecord,
        events: Option<&Events>,
    ) -> StoreResult<()>;
    /// Finishes a pending registration, recording `step` as its last used TOTP step;
    /// `false` if the method is not pending any more (already finished, or removed).
    async fn activate_auth_method(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        at: DateTime<Utc>,
        step: i64,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Records that a code of TOTP time step `step` was accepted; `false` if that step or a
    /// later one was accepted before (a replayed code), so that of two racing uses of one
    /// code exactly one wins.
    async fn use_totp_step(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        step: i64,
    ) -> StoreResult<bool>;
    /// Removes a method with its events; `false` if the user has no such method.
    async fn delete_auth_method(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Replaces the user's recovery codes with these digests, with the events.
    async fn replace_recovery_codes(
        &self,
        tenant: TenantId,
        user: UserId,
        digests: &[[u8; 32]],
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<()>;
    /// Uses up the unused recovery code with this digest; `false` if there is none.
    async fn use_recovery_code(
        &self,
        tenant: TenantId,
        user: UserId,
        digest: &[u8; 32],
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn recovery_code_status(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<RecoveryCodeStatus>;
    /// The user's failed second-factor attempts (kept apart from password failures).
    async fn find_second_factor_state(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Option<SignInState>>;
    /// As [`Store::record_sign_in`], for a second-factor attempt: the event (a failure's; a
    /// success was logged with the password), and the new second-factor state written only
    /// if it is still `expected` (`Stale` otherwise).
    async fn record_second_factor_attempt(
        &self,
        tenant: TenantId,
        user: UserId,
        event: Option<&SignInEvent>,
        expected: Option<SignInState>,
        new: SignInState,
    ) -> StoreResult<()>;

    // Trails.
    async fn list_audit_events(&self, tenant: TenantId, limit: u32)
    -> StoreResult<Vec<AuditEvent>>;
    /// One page of audit events matching the query, newest first (keyset on the insertion
    /// order); `BadCursor` for a cursor this listing did not make.
    async fn query_audit_events(
        &self,
        tenant: TenantId,
        query: &AuditQuery,
    ) -> StoreResult<Page<AuditEvent>>;
    /// One page of sign-in events matching the query, newest first.
    async fn query_sign_in_events(
        &self,
        tenant: TenantId,
        query: &SignInQuery,
    ) -> StoreResult<Page<SignInEvent>>;
    async fn list_outbox_events(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>>;

    // Temporary Access Passes (one per user).
    /// Inserts the user's pass with its events; `false` (nothing written) if the user has one.
    async fn insert_temporary_access_pass(
        &self,
        pass: &crate::tap::TapRecord,
        events: &Events,
    ) -> StoreResult<bool>;
    async fn find_temporary_access_pass(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Option<crate::tap::TapRecord>>;
    /// Marks a one-time pass used; `false` if it already was.
    async fn use_temporary_access_pass(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes the user's pass with its events; `false` if there was no such pass.
    async fn delete_temporary_access_pass(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        events: &Events,
    ) -> StoreResult<bool>;
    // Self-service password reset.
    async fn insert_reset_flow(&self, flow: &ResetFlowRecord) -> StoreResult<()>;
    async fn find_reset_flow(&self, digest: &[u8; 32]) -> StoreResult<Option<ResetFlowRecord>>;
    /// How many reset attempts started at or after `since` for this (normalised) name, and
    /// from this client address.
    async fn count_reset_flows(
        &self,
        tenant: TenantId,
        login_name: &str,
        client_address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<(u64, u64)>;
    /// Replaces a live flow's pending code (the previous one stops working), with the events
    /// (the message carrying it) in the same transaction; `false` if the flow is completed
    /// or locked.
    async fn set_reset_code(
        &self,
        id: uuid::Uuid,
        code_digest: &[u8; 32],
        expires_at: DateTime<Utc>,
        events: Option<&Events>,
    ) -> StoreResult<bool>;
    /// Records `verified` as the flow's proven methods. With `code`, only if that is the
    /// pending code and it has not expired at `at`, and the code is used up: of two
    /// presentations of one code exactly one returns `true`.
    async fn verify_reset_flow(
        &self,
        id: uuid::Uuid,
        code: Option<&[u8; 32]>,
        verified: &[VerificationMethod],
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Counts a wrong code; returns the flow's count of wrong codes after it.
    async fn record_wrong_reset_code(&self, id: uuid::Uuid) -> StoreResult<u32>;
    /// Ends the flow and writes the new password with its events, in one transaction;
    /// `false` (and nothing written) if the flow was already completed or has expired.
    async fn complete_reset_flow(
        &self,
        id: uuid::Uuid,
        at: DateTime<Utc>,
        password: &PasswordWrite,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Deletes reset flows that expired before `before`.
    async fn purge_expired_reset_flows(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
