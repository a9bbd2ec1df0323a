//! SaaS licences and renewals: seats bought and assigned per app, idle seats and what
//! reclaiming them saves, and the renewal alerts sent before a contract's cancellation
//! deadline. The rules (what is idle, what a seat costs, which alerts are due) are here; the
//! operations are in `directory::saas_licenses`; the store keeps each (contract, deadline,
//! offset) alert once ([`SaasLicenseStore::claim_saas_renewal_alert`]).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::Events;
use crate::ids::{SaasAppId, SkuId, TenantId, UserId};
use crate::saas::{DEFAULT_IDLE_DAYS, SaasContract};
use crate::store::{Page, StoreResult};

/// Days before a cancellation deadline at which renewal alerts go out, unless the tenant
/// sets others.
pub const DEFAULT_RENEWAL_OFFSETS: [u32; 3] = [90, 60, 30];

/// Most seats an app or a contract may say it has.
pub const MAX_SEATS: u32 = 10_000_000;

/// An app's licensing settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaasLicensing {
    /// Seats bought, set directly; `None`: the current contracts' seats.
    pub seats_bought: Option<u32>,
    /// Days without use after which a seat is idle; `None`: [`DEFAULT_IDLE_DAYS`].
    pub idle_days: Option<u32>,
    /// The Latchkey SKU the app's seats are: reclaiming a seat removes it from the user.
    pub sku: Option<SkuId>,
}

impl SaasLicensing {
    pub fn idle_days(&self) -> u32 {
        self.idle_days.unwrap_or(DEFAULT_IDLE_DAYS)
    }
}

/// What a channel asks to change; `Some(None)` clears a setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaasLicensingChanges {
    pub seats_bought: Option<Option<u32>>,
    pub idle_days: Option<Option<u32>>,
    pub sku: Option<Option<SkuId>>,
}

/// An app's seat cost as its current contracts give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatCost {
    /// Seats bought: the app's setting, else the current contracts' seats.
    pub seats_bought: Option<u32>,
    /// The current contracts' cost per month (minor units), in `currency`.
    pub monthly_cost_minor: i64,
    pub currency: String,
    pub exponent: u8,
    /// The monthly cost over the seats bought (rounded down); `None` without seats.
    pub per_seat_monthly_minor: Option<i64>,
}

/// The seat cost of an app from its settings and the contracts current today (those of the
/// first contract's currency; contracts in another currency are left out of the sum).
pub fn seat_cost(licensing: &SaasLicensing, current: &[SaasContract]) -> Option<SeatCost> {
    let first = current.first()?;
    let same: Vec<&SaasContract> = current
        .iter()
        .filter(|c| c.currency == first.currency)
        .collect();
    let monthly: i64 = same.iter().map(|c| c.monthly_cost_minor()).sum();
    let contract_seats: Option<u32> = same
        .iter()
        .filter_map(|c| c.seats)
        .fold(None, |acc, s| Some(acc.unwrap_or(0).saturating_add(s)));
    let seats = licensing.seats_bought.or(contract_seats);
    Some(SeatCost {
        seats_bought: seats,
        monthly_cost_minor: monthly,
        currency: first.currency.clone(),
        exponent: first.exponent,
        per_seat_monthly_minor: seats.filter(|s| *s > 0).map(|s| monthly / i64::from(s)),
    })
}

/// Whether a seat is idle at `now`: no use in `idle_days` days, and assigned (first seen)
/// at least that long ago, so a new assignment is never idle.
pub fn is_idle(
    first_seen: DateTime<Utc>,
    last_used: DateTime<Utc>,
    now: DateTime<Utc>,
    idle_days: u32,
) -> bool {
    let cutoff = now - chrono::Duration::days(i64::from(idle_days));
    last_used < cutoff && first_seen < cutoff
}

/// One user's seat of an app, as the reclamation list reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub app_id: SaasAppId,
    pub app_name: String,
    pub user_id: UserId,
    pub user_principal_name: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
    pub licensing: SaasLicensing,
}

/// An idle seat with what reclaiming it saves a month (when a contract prices it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleSeat {
    pub app_id: SaasAppId,
    pub app_name: String,
    pub user_id: UserId,
    pub user_principal_name: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
    /// Whole days since the last use.
    pub idle_days: i64,
    pub saving_monthly_minor: Option<i64>,
    pub currency: Option<String>,
    pub exponent: Option<u8>,
}

/// An app's licences: seats bought and assigned, its idle seats and their saving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasLicenseReport {
    pub app_id: SaasAppId,
    pub licensing: SaasLicensing,
    pub seats_assigned: u64,
    pub cost: Option<SeatCost>,
    pub idle: Vec<IdleSeat>,
    /// The sum of the idle seats' savings.
    pub saving_monthly_minor: i64,
}

/// A category with more than one app in use, for retiring redundant tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlapGroup {
    pub category: String,
    pub apps: Vec<OverlapApp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlapApp {
    pub app: crate::saas::SaasApp,
    pub cost: Option<SeatCost>,
}

/// A seat to reclaim: the app's user row goes with its events, in one transaction. The
/// Latchkey licence that came with it is removed before, by the licence operation itself
/// (`Directory::assign_licenses`), so it is authorized and audited like any other removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatReclaim {
    pub tenant_id: TenantId,
    pub app_id: SaasAppId,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

/// A contract with what an alert names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalRow {
    pub contract: SaasContract,
    pub app_name: String,
    pub app_owner: Option<UserId>,
}

/// The offsets due for a contract on `today`: those whose alert day (deadline less the
/// offset) has come while the deadline has not passed. Largest first.
pub fn due_offsets(deadline: NaiveDate, today: NaiveDate, offsets: &[u32]) -> Vec<u32> {
    if today > deadline {
        return Vec::new();
    }
    let mut due: Vec<u32> = offsets
        .iter()
        .copied()
        .filter(|o| deadline - chrono::Days::new(u64::from(*o)) <= today)
        .collect();
    due.sort_unstable_by(|a, b| b.cmp(a));
    due.dedup();
    due
}

/// Spend summed in SQL by month (of the expense date), category (of the matched app; `None`:
/// unmatched or uncategorised) and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendSum {
    /// `YYYY-MM`.
    pub month: String,
    pub category: Option<String>,
    pub currency: String,
    pub exponent: u8,
    pub total_minor: i64,
}

/// How many of the tenant's apps are in a state, and how many of those were added since a
/// time (counted in SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCount {
    pub state: crate::saas::SaasAppState,
    pub apps: u64,
    pub added_since: u64,
}

/// An app's idle seats counted in SQL, with its licensing (to price them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleCount {
    pub app_id: SaasAppId,
    pub app_name: String,
    pub licensing: SaasLicensing,
    pub seats: u64,
}

/// Storage for licences and renewals.
#[async_trait]
pub trait SaasLicenseStore {
    /// The app's settings (`None`: no such app in the tenant).
    async fn find_saas_licensing(
        &self,
        tenant: TenantId,
        app: SaasAppId,
    ) -> StoreResult<Option<SaasLicensing>>;
    /// The settings of each of `apps` in the tenant, in one query per 500 apps (an app not
    /// in the tenant is left out).
    async fn find_saas_licensings(
        &self,
        tenant: TenantId,
        apps: &[SaasAppId],
    ) -> StoreResult<Vec<(SaasAppId, SaasLicensing)>>;
    /// Writes the settings (`NotFound` when there is no such app).
    async fn set_saas_licensing(
        &self,
        tenant: TenantId,
        app: SaasAppId,
        licensing: &SaasLicensing,
        events: &Events,
    ) -> StoreResult<()>;
    /// The contracts of `apps` current on `today` (started, not ended), in one query.
    async fn current_saas_contracts(
        &self,
        tenant: TenantId,
        apps: &[SaasAppId],
        today: NaiveDate,
    ) -> StoreResult<Vec<SaasContract>>;
    /// Seats not used since `before`, by app then user, one page (keyset).
    async fn list_saas_seats_unused_since(
        &self,
        tenant: TenantId,
        app: Option<SaasAppId>,
        before: DateTime<Utc>,
        after: Option<String>,
        limit: u32,
    ) -> StoreResult<Page<SeatRow>>;
    /// One user's seat of an app (`None`: the user has none).
    async fn find_saas_seat(
        &self,
        tenant: TenantId,
        app: SaasAppId,
        user: UserId,
    ) -> StoreResult<Option<SeatRow>>;
    /// Removes the seat (`NotFound` when the user has none) and writes `events`.
    async fn reclaim_saas_seat(&self, reclaim: &SeatReclaim, events: &Events) -> StoreResult<()>;
    /// The tenant's renewal alert offsets, if set.
    async fn find_saas_renewal_offsets(&self, tenant: TenantId) -> StoreResult<Option<Vec<u32>>>;
    async fn set_saas_renewal_offsets(
        &self,
        tenant: TenantId,
        offsets: &[u32],
        events: &Events,
    ) -> StoreResult<()>;
    /// Contracts ending on or after `from`, by id after `after`, at most `limit`.
    async fn list_saas_contracts_ending_from(
        &self,
        tenant: TenantId,
        from: NaiveDate,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<RenewalRow>>;
    /// Records the alerts for (`contract`, `deadline`, each of `offsets`) not yet recorded
    /// and, if any was new, writes `events` (the alert's mail) in the same transaction;
    /// whether it did. Of two passes (or nodes) claiming the same alert, one wins.
    async fn claim_saas_renewal_alert(
        &self,
        contract: uuid::Uuid,
        deadline: NaiveDate,
        offsets: &[u32],
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Inserts an app entered by hand with a `manual` evidence row (detail `seen_by`) and its
    /// first contract, in one transaction (`Conflict` when the name is taken).
    async fn insert_manual_saas_app(
        &self,
        app: &crate::saas::SaasApp,
        contract: Option<&SaasContract>,
        seen_by: &str,
        events: &Events,
    ) -> StoreResult<()>;
    /// Spend on expense lines dated on or after `from`, summed by month, category and
    /// currency; one query.
    async fn saas_spend_sums(
        &self,
        tenant: TenantId,
        from: NaiveDate,
    ) -> StoreResult<Vec<SpendSum>>;
    /// The tenant's apps counted by state, with those created at or after `since`; one query.
    async fn saas_state_counts(
        &self,
        tenant: TenantId,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<StateCount>>;
    /// The distinct idle thresholds (days) the tenant's apps use, `default` for apps
    /// without one.
    async fn saas_idle_thresholds(&self, tenant: TenantId, default: u32) -> StoreResult<Vec<u32>>;
    /// Idle seats counted per app in one query: for each (threshold, cutoff), seats of apps
    /// with that threshold (`default` for apps without one) neither used nor first seen
    /// since the cutoff. Apps without idle seats are absent; by app name.
    async fn saas_idle_counts(
        &self,
        tenant: TenantId,
        default: u32,
        cutoffs: &[(u32, DateTime<Utc>)],
    ) -> StoreResult<Vec<IdleCount>>;
    /// The contracts in force at some time from `from` to `to` (started on or before `to`,
    /// ending after `from`), each with its app's category; at most `limit`.
    async fn list_saas_contracts_in_force(
        &self,
        tenant: TenantId,
        from: NaiveDate,
        to: NaiveDate,
        limit: u32,
    ) -> StoreResult<Vec<(SaasContract, Option<String>)>>;
    /// Each (app, month `YYYY-MM`) with an expense line matched to the app on or after
    /// `from`, once (distinct pairs).
    async fn saas_expense_app_months(
        &self,
        tenant: TenantId,
        from: NaiveDate,
    ) -> StoreResult<Vec<(SaasAppId, String)>>;
    /// The seats of `apps` (at most 500 apps), by app then the user's UPN, at most `limit`.
    async fn list_saas_seats_of_apps(
        &self,
        tenant: TenantId,
        apps: &[SaasAppId],
        limit: u32,
    ) -> StoreResult<Vec<SeatRow>>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_alert_is_due_from_its_day_until_the_deadline() {
        let deadline: NaiveDate = "2026-12-02".parse().unwrap();
        let on = |d: &str| due_offsets(deadline, d.parse().unwrap(), &DEFAULT_RENEWAL_OFFSETS);
        assert!(on("2026-09-02").is_empty());
        assert_eq!(on("2026-09-03"), [90]);
        assert_eq!(on("2026-11-02"), [90, 60, 30]);
        assert!(on("2026-12-03").is_empty());
    }

    #[test]
    fn a_new_assignment_is_not_idle_even_unused() {
        let now: DateTime<Utc> = "2026-11-24T09:00:00Z".parse().unwrap();
        let days = |d: i64| now - chrono::Duration::days(d);
        assert!(is_idle(days(100), days(61), now, 60));
        assert!(!is_idle(days(100), days(59), now, 60));
        assert!(!is_idle(days(59), days(59), now, 60));
    }
}
