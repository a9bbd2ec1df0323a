//! The SaaS dashboards' figures and the admin center's inventory search. Every figure is
//! aggregated by the store in SQL (spend by month and category, apps by state, idle seats per
//! app), never a query per app or per seat: a dashboard is a handful of queries however
//! large the inventory.

use std::collections::HashMap;

use chrono::{Datelike, Months, NaiveDate, TimeZone, Utc};

use super::Directory;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{SaasAppId, TenantId, UserId};
use crate::saas::SaasContract;
use crate::saas::{DEFAULT_IDLE_DAYS, SaasApp, SaasAppState, SaasQuery};
use crate::saas_license::{RenewalRow, SaasLicensing, SpendSum, StateCount};
use crate::store::{Page, StoreError};

/// Months of spend the dashboard shows, the current one included.
pub const SPEND_MONTHS: u32 = 12;
/// Most upcoming renewals the dashboard reads.
const DASHBOARD_RENEWALS: u32 = 200;

/// An amount in one currency: spend for a month or a category, or a saving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    /// The month (`YYYY-MM`), the category, or the currency for a total.
    pub key: String,
    pub currency: String,
    pub exponent: u8,
    pub total_minor: i64,
}

/// An app's idle seats and what reclaiming them saves a month (when a contract prices them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleApp {
    pub app_id: SaasAppId,
    pub app_name: String,
    pub seats: u64,
    pub per_seat_monthly_minor: Option<i64>,
    pub saving_monthly_minor: Option<i64>,
    pub currency: Option<String>,
    pub exponent: Option<u8>,
}

/// Everything the SaaS dashboard shows, at the directory's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasDashboard {
    pub today: NaiveDate,
    /// The first day of the first month of spend shown.
    pub spend_from: NaiveDate,
    /// Every month from `spend_from` for each currency spent in (zero when nothing was).
    pub spend_by_month: Vec<Spend>,
    /// By category (`Uncategorised` for lines no categorised app matched), largest first.
    pub spend_by_category: Vec<Spend>,
    /// Every state, in review order, with zero for those without apps.
    pub apps_by_state: Vec<StateCount>,
    /// Apps added to the inventory since the first of this month.
    pub discovered_this_month: u64,
    /// Apps with idle seats, by name.
    pub idle: Vec<IdleApp>,
    pub idle_seats: u64,
    /// The monthly saving available, per currency.
    pub saving_monthly: Vec<Spend>,
    /// Cancellation deadlines from today, soonest first.
    pub renewals: Vec<RenewalRow>,
    /// How many deadlines fall in each month (`YYYY-MM`), in order.
    pub renewals_by_month: Vec<(String, u64)>,
}

fn month_of(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// Most contracts the dashboard's spend reads.
const SPEND_CONTRACTS: u32 = 10_000;

/// The months (`YYYY-MM`) from `from`'s month to `to`'s in which a contract's monthly cost
/// counts as spend: its start's month, and each month after while the start plus that many
/// months is still before its end (a year from 15 March counts March to February, twelve
/// months).
pub fn contract_months(contract: &SaasContract, from: NaiveDate, to: NaiveDate) -> Vec<String> {
    let (first, last) = (month_of(from), month_of(to));
    let mut out = Vec::new();
    // Bounded: a contract longer than a century counts its first hundred years.
    for k in 0..1200 {
        let Some(at) = contract.start.checked_add_months(Months::new(k)) else {
            break;
        };
        if at >= contract.end {
            break;
        }
        let m = month_of(at);
        if m > last {
            break;
        }
        if m >= first {
            out.push(m);
        }
    }
    out
}

impl Directory {
    /// A page of the inventory whose names or vendors contain `text` (case-insensitive);
    /// an empty `text` lists every app, as [`Directory::list_saas_apps`] does.
    pub async fn search_saas_apps(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &SaasQuery,
        text: &str,
    ) -> Result<Page<SaasApp>, DirectoryError> {
        let text = text.trim();
        if text.is_empty() {
            return self.list_saas_apps(actor, tenant, query).await;
        }
        authorize(actor, Action::ReadSaasApps, &[])?;
        if !(1..=999).contains(&query.limit) {
            return Err(DirectoryError::invalid(
                "$top",
                "the page size must be between 1 and 999",
            ));
        }
        if text.chars().count() > 256 {
            return Err(DirectoryError::invalid(
                "search",
                "the search text must be at most 256 characters",
            ));
        }
        self.store
            .list_saas_apps_matching(tenant, query, &text.to_lowercase())
            .await
            .map_err(|e| match e {
                StoreError::BadCursor => {
                    DirectoryError::invalid("$skiptoken", "the page token is not valid")
                }
                other => other.into(),
            })
    }

    /// The user principal names of an app's users (a read per hundred), for readers of the SaaS
    /// inventory. Users no longer active are absent.
    pub async fn saas_user_names(
        &self,
        actor: &Actor,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, String>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        self.user_names(tenant, users).await
    }

    /// The SaaS dashboard: spend by month and category, apps by state, apps discovered this
    /// month, idle seats with the monthly saving, and the upcoming cancellation deadlines.
    pub async fn saas_dashboard(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<SaasDashboard, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        let now = self.clock.now();
        let today = now.date_naive();
        let month_start = today.with_day(1).unwrap_or(today);
        let spend_from = month_start
            .checked_sub_months(Months::new(SPEND_MONTHS - 1))
            .unwrap_or(month_start);

        // Spend: one aggregate of expense lines, and the contracts' monthly cost for the
        // months no expense line of their app covers; folded by month and by category.
        let mut sums = self.store.saas_spend_sums(tenant, spend_from).await?;
        sums.extend(self.contract_spend(tenant, spend_from, today).await?);
        let mut currencies: Vec<(String, u8)> = Vec::new();
        for s in &sums {
            if !currencies.iter().any(|(c, _)| *c == s.currency) {
                currencies.push((s.currency.clone(), s.exponent));
            }
        }
        currencies.sort();
        let months: Vec<String> = (0..SPEND_MONTHS)
            .filter_map(|i| spend_from.checked_add_months(Months::new(i)))
            .map(month_of)
            .collect();
        let mut spend_by_month = Vec::new();
        for (currency, exponent) in &currencies {
            for m in &months {
                spend_by_month.push(Spend {
                    key: m.clone(),
                    currency: currency.clone(),
                    exponent: *exponent,
                    total_minor: sums
                        .iter()
                        .filter(|s| s.month == *m && s.currency == *currency)
                        .map(|s| s.total_minor)
                        .sum(),
                });
            }
        }
        let mut spend_by_category: Vec<Spend> = Vec::new();
        for s in &sums {
            let key = s
                .category
                .clone()
                .unwrap_or_else(|| "Uncategorised".to_owned());
            match spend_by_category
                .iter_mut()
                .find(|c| c.key.eq_ignore_ascii_case(&key) && c.currency == s.currency)
            {
                Some(c) => c.total_minor += s.total_minor,
                None => spend_by_category.push(Spend {
                    key,
                    currency: s.currency.clone(),
                    exponent: s.exponent,
                    total_minor: s.total_minor,
                }),
            }
        }
        spend_by_category.sort_by(|a, b| {
            (&a.currency, b.total_minor, &a.key).cmp(&(&b.currency, a.total_minor, &b.key))
        });

        // Apps by state, and those added this month.
        let since = Utc.from_utc_datetime(&month_start.and_time(chrono::NaiveTime::MIN));
        let counts = self.store.saas_state_counts(tenant, since).await?;
        let apps_by_state: Vec<StateCount> = SaasAppState::ALL
            .into_iter()
            .map(|state| {
                counts
                    .iter()
                    .find(|c| c.state == state)
                    .copied()
                    .unwrap_or(StateCount {
                        state,
                        apps: 0,
                        added_since: 0,
                    })
            })
            .collect();
        let discovered_this_month = apps_by_state.iter().map(|c| c.added_since).sum();

        // Idle seats: counted per app in SQL, one cutoff per threshold in use, then priced
        // with one read of the apps' current contracts.
        let thresholds = self
            .store
            .saas_idle_thresholds(tenant, DEFAULT_IDLE_DAYS)
            .await?;
        let cutoffs: Vec<(u32, chrono::DateTime<Utc>)> = thresholds
            .iter()
            .map(|d| (*d, now - chrono::Duration::days(i64::from(*d))))
            .collect();
        let counts = self
            .store
            .saas_idle_counts(tenant, DEFAULT_IDLE_DAYS, &cutoffs)
            .await?;
        let apps: Vec<(SaasAppId, SaasLicensing)> =
            counts.iter().map(|c| (c.app_id, c.licensing)).collect();
        let costs = self.seat_costs(tenant, &apps).await?;
        let mut idle = Vec::new();
        let mut saving_monthly: Vec<Spend> = Vec::new();
        for c in counts {
            let cost = costs
                .iter()
                .find(|(id, _)| *id == c.app_id)
                .and_then(|(_, cost)| cost.clone());
            let per_seat = cost.as_ref().and_then(|k| k.per_seat_monthly_minor);
            let saving =
                per_seat.map(|p| p.saturating_mul(i64::try_from(c.seats).unwrap_or(i64::MAX)));
            if let (Some(s), Some(k)) = (saving, &cost) {
                match saving_monthly.iter_mut().find(|m| m.currency == k.currency) {
                    Some(m) => m.total_minor += s,
                    None => saving_monthly.push(Spend {
                        key: k.currency.clone(),
                        currency: k.currency.clone(),
                        exponent: k.exponent,
                        total_minor: s,
                    }),
                }
            }
            idle.push(IdleApp {
                app_id: c.app_id,
                app_name: c.app_name,
                seats: c.seats,
                per_seat_monthly_minor: per_seat,
                saving_monthly_minor: saving,
                currency: cost.as_ref().map(|k| k.currency.clone()),
                exponent: cost.as_ref().map(|k| k.exponent),
            });
        }
        saving_monthly.sort_by(|a, b| a.currency.cmp(&b.currency));
        let idle_seats = idle.iter().map(|i| i.seats).sum();

        let renewals = self
            .upcoming_saas_renewals(actor, tenant, DASHBOARD_RENEWALS)
            .await?;
        let mut renewals_by_month: Vec<(String, u64)> = Vec::new();
        for r in &renewals {
            let m = month_of(r.contract.cancellation_deadline());
            match renewals_by_month.iter_mut().find(|(k, _)| *k == m) {
                Some((_, n)) => *n += 1,
                None => renewals_by_month.push((m, 1)),
            }
        }
        Ok(SaasDashboard {
            today,
            spend_from,
            spend_by_month,
            spend_by_category,
            apps_by_state,
            discovered_this_month,
            idle,
            idle_seats,
            saving_monthly,
            renewals,
            renewals_by_month,
        })
    }
}

impl Directory {
    /// Spend from contracts, as sums the dashboard folds with the expense lines': each
    /// contract in force from `from` to `today` counts its monthly cost (its cost per billing
    /// period over the period's months, in its own currency) in each month it covers
    /// ([`contract_months`]), under its app's category, except in a month with an expense
    /// line matched to the same app: that line is the spend, so nothing is counted twice.
    /// Two queries (contracts, the apps' expense months) however many contracts.
    async fn contract_spend(
        &self,
        tenant: TenantId,
        from: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<SpendSum>, DirectoryError> {
        let contracts = self
            .store
            .list_saas_contracts_in_force(tenant, from, today, SPEND_CONTRACTS)
            .await?;
        if contracts.is_empty() {
            return Ok(Vec::new());
        }
        let expensed: std::collections::HashSet<(SaasAppId, String)> = self
            .store
            .saas_expense_app_months(tenant, from)
            .await?
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for (c, category) in &contracts {
            let monthly = c.monthly_cost_minor();
            if monthly == 0 {
                continue;
            }
            for month in contract_months(c, from, today) {
                if expensed.contains(&(c.app_id, month.clone())) {
                    continue;
                }
                out.push(SpendSum {
                    month,
                    category: category.clone(),
                    currency: c.currency.clone(),
                    exponent: c.exponent,
                    total_minor: monthly,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod contract_spend_tests {
    use super::*;
    use crate::saas::BillingPeriod;

    fn contract(start: &str, end: &str) -> SaasContract {
        SaasContract {
            id: uuid::Uuid::new_v4(),
            tenant_id: TenantId::new(),
            app_id: SaasAppId::new(),
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            notice_days: 0,
            auto_renew: false,
            cost_minor: 120_000,
            currency: "EUR".into(),
            exponent: 2,
            billing_period: BillingPeriod::Annual,
            seats: None,
            created: Utc::now(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_year_from_mid_march_counts_twelve_months_within_the_window() {
        let c = contract("2026-03-15", "2027-03-15");
        let all = contract_months(&c, day("2026-01-01"), day("2027-12-31"));
        assert_eq!(all.len(), 12);
        assert_eq!(all.first().map(String::as_str), Some("2026-03"));
        assert_eq!(all.last().map(String::as_str), Some("2027-02"));
        let window = contract_months(&c, day("2026-06-01"), day("2026-08-20"));
        assert_eq!(window, ["2026-06", "2026-07", "2026-08"]);
    }
}
