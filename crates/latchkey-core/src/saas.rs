//! SaaS management: the inventory of apps the organisation uses, the evidence of each use
//! (Latchkey's own consents and sign-ins, expense lines), and the rules for an app's
//! review state. The catalogue of known apps, vendor-name matching and CSV parsing are pure
//! and live in `latchkey-saas`; what core needs at consent time (the risky permissions, the
//! discovery written with the consent) lives here. The store writes a discovery inside the
//! transaction of the change that carries it ([`crate::audit::Events::saas`]).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::app::AppId;
use crate::audit::{Events, OutboxEvent};
pub use crate::ids::SaasAppId;
use crate::ids::{TenantId, UserId};
use crate::store::{Page, StoreResult};

/// Permissions that let an app read or change a user's mail, files or the directory: a
/// discovery alert names every one of them the app was granted.
pub const RISKY_PERMISSIONS: [&str; 16] = [
    "Mail.Read",
    "Mail.ReadWrite",
    "Mail.Send",
    "Mail.Read.All",
    "Mail.ReadWrite.All",
    "Files.Read.All",
    "Files.ReadWrite",
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
    "User.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Application.ReadWrite.All",
];

/// The risky ones among `permissions`, in the order given (case-insensitive match).
pub fn risky_permissions(permissions: &[String]) -> Vec<String> {
    permissions
        .iter()
        .filter(|p| RISKY_PERMISSIONS.iter().any(|r| r.eq_ignore_ascii_case(p)))
        .cloned()
        .collect()
}

/// Where an app stands in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaasAppState {
    /// Seen in use; nobody has looked at it yet.
    Discovered,
    UnderReview,
    /// Approved for use.
    Sanctioned,
    /// Not approved: users should stop using it.
    Unsanctioned,
    /// No longer used by the organisation.
    Retired,
}

impl SaasAppState {
    pub const ALL: [Self; 5] = [
        Self::Discovered,
        Self::UnderReview,
        Self::Sanctioned,
        Self::Unsanctioned,
        Self::Retired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Discovered => "discovered",
            Self::UnderReview => "underReview",
            Self::Sanctioned => "sanctioned",
            Self::Unsanctioned => "unsanctioned",
            Self::Retired => "retired",
        }
    }

    /// Parses the wire name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The states an app may move to from this one. Nothing goes back to `discovered`; a
    /// decision (sanctioned / unsanctioned) may be revised; only a decided app is retired,
    /// and a retired app comes back only through a new review.
    pub const fn next(self) -> &'static [Self] {
        match self {
            Self::Discovered => &[Self::UnderReview, Self::Sanctioned, Self::Unsanctioned],
            Self::UnderReview => &[Self::Sanctioned, Self::Unsanctioned],
            Self::Sanctioned => &[Self::Unsanctioned, Self::Retired],
            Self::Unsanctioned => &[Self::Sanctioned, Self::Retired],
            Self::Retired => &[Self::UnderReview],
        }
    }

    /// Refuses a move the review does not allow, naming the allowed ones.
    pub fn check_move(self, to: Self) -> Result<(), String> {
        if self.next().contains(&to) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.next().iter().map(|s| s.as_str()).collect();
        Err(format!(
            "an app that is {} cannot become {}; it can become: {}",
            self.as_str(),
            to.as_str(),
            allowed.join(", ")
        ))
    }
}

/// What an evidence row says the use was seen through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvidenceSource {
    /// A user consented on Latchkey's consent page.
    UserConsent,
    /// An administrator granted consent for the tenant.
    AdminConsent,
    /// A user signed in to the app through Latchkey.
    SignIn,
    /// An expense or card transaction.
    Expense,
    /// Entered by hand.
    Manual,
    /// Seen in a connected Microsoft 365 tenant (its grants and sign-ins); the evidence's
    /// detail names the connection as `microsoft365:NAME`.
    Microsoft365,
}

impl EvidenceSource {
    pub const ALL: [Self; 6] = [
        Self::UserConsent,
        Self::AdminConsent,
        Self::SignIn,
        Self::Expense,
        Self::Manual,
        Self::Microsoft365,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserConsent => "userConsent",
            Self::AdminConsent => "adminConsent",
            Self::SignIn => "signIn",
            Self::Expense => "expense",
            Self::Manual => "manual",
            Self::Microsoft365 => "microsoft365",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An app in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasApp {
    pub id: SaasAppId,
    pub tenant_id: TenantId,
    pub name: String,
    pub vendor: Option<String>,
    pub category: Option<String>,
    /// The catalogue entry it was matched to (`latchkey-saas`), if any.
    pub catalogue_key: Option<String>,
    pub owner: Option<UserId>,
    pub state: SaasAppState,
    /// The Latchkey app registration it signs in through, if it does.
    pub latchkey_app_id: Option<AppId>,
    /// Every permission any user or an administrator granted it through Latchkey.
    pub permissions: Vec<String>,
    /// How many users were seen using it.
    pub user_count: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub version: i64,
}

/// A user seen using an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasAppUser {
    pub user_id: UserId,
    pub first_seen: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
    pub permissions: Vec<String>,
}

/// One sighting of an app, with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasEvidence {
    pub source: EvidenceSource,
    pub at: DateTime<Utc>,
    pub user_id: Option<UserId>,
    pub detail: String,
}

/// An app with its users and its newest evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasAppDetail {
    pub app: SaasApp,
    pub users: Vec<SaasAppUser>,
    pub evidence: Vec<SaasEvidence>,
}

/// Most users and evidence rows a detail read returns (newest first).
pub const DETAIL_LIMIT: u32 = 200;

/// Which apps a listing returns, by name then id, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaasQuery {
    pub state: Option<SaasAppState>,
    /// The previous page's `next`; opaque outside the store.
    pub after: Option<String>,
    /// Page size, 1–999.
    pub limit: u32,
}

/// An app seen through Latchkey (a consent, a sign-in), written by the store in the
/// transaction of the change that carries it: the app is added to the inventory as
/// discovered if it is not there (matched by its registration, else by name), the user and
/// the permissions are added to it, and an evidence row is written.
#[derive(Debug, Clone, PartialEq)]
pub struct SaasDiscovery {
    pub tenant_id: TenantId,
    pub latchkey_app_id: AppId,
    /// The id a new inventory entry gets.
    pub new_id: SaasAppId,
    pub name: String,
    /// The name to use when another registration already holds `name` in the inventory.
    pub fallback_name: String,
    pub user_id: Option<UserId>,
    pub permissions: Vec<String>,
    /// Written unless the app is sanctioned (a sanctioned app's use updates its users only).
    pub evidence: Option<SaasEvidence>,
    pub at: DateTime<Utc>,
    /// Written only when the app is new to the inventory: its audit and `saas.appDiscovered`
    /// outbox events and the alert to the Global Administrators.
    pub if_new: Option<Box<Events>>,
}

/// A state or owner change, checked against the version read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasAppWrite {
    pub tenant_id: TenantId,
    pub id: SaasAppId,
    pub expected_version: i64,
    pub state: SaasAppState,
    pub owner: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A catalogue app an expense line was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueMatch {
    pub key: String,
    pub name: String,
    pub vendor: String,
    pub category: String,
}

/// One parsed expense line: the amount in the currency's minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpenseLine {
    /// The line number in the file (the header is line 1).
    pub line: u32,
    /// Identifies the line's content (and its occurrence in the file): importing the same
    /// line again adds nothing.
    pub fingerprint: String,
    pub vendor: String,
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// The currency's minor-unit digits (2 for EUR, 0 for JPY).
    pub exponent: u8,
    pub date: NaiveDate,
    pub employee: Option<String>,
    pub matched: Option<CatalogueMatch>,
}

/// An expense import as the store writes it, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpenseWrite {
    pub tenant_id: TenantId,
    pub at: DateTime<Utc>,
    pub lines: Vec<ExpenseLine>,
    /// Inventory entries for matched catalogue apps not yet in the inventory, each with its
    /// `saas.appDiscovered` outbox event (written only if the entry is inserted).
    pub new_apps: Vec<(SaasApp, OutboxEvent)>,
    pub events: Events,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpenseCounts {
    /// Lines new to the store.
    pub imported: u32,
    /// Lines already imported before (same fingerprint).
    pub duplicates: u32,
    /// New lines matched to a catalogue app.
    pub matched: u32,
    /// New lines kept for review.
    pub unmatched: u32,
    /// Apps added to the inventory.
    pub new_apps: u32,
}

/// An expense line no catalogue app matched, kept for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedExpense {
    pub line: u32,
    pub vendor: String,
    pub amount_minor: i64,
    pub currency: String,
    pub exponent: u8,
    pub date: NaiveDate,
    pub employee: Option<String>,
    pub imported: DateTime<Utc>,
}

/// Formats minor units as a decimal amount: 1250 with exponent 2 is "12.50".
pub fn format_amount(minor: i64, exponent: u8) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(u32::from(exponent));
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale_u = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale_u,
        abs % scale_u,
        width = usize::from(exponent)
    )
}

/// How often a contract is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingPeriod {
    Monthly,
    Quarterly,
    Annual,
}

impl BillingPeriod {
    pub const ALL: [Self; 3] = [Self::Monthly, Self::Quarterly, Self::Annual];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::Annual => "annual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Months in one period.
    pub const fn months(self) -> i64 {
        match self {
            Self::Monthly => 1,
            Self::Quarterly => 3,
            Self::Annual => 12,
        }
    }
}

/// A contract to record for an app, as a channel gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContract {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Days before the end by which the vendor must be told (0: none).
    pub notice_days: u32,
    pub auto_renew: bool,
    /// The cost of one billing period, in the currency's minor units.
    pub cost_minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    pub exponent: u8,
    pub billing_period: BillingPeriod,
    /// Seats the contract buys, if it says.
    pub seats: Option<u32>,
}

/// A contract for an app in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasContract {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub app_id: SaasAppId,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub notice_days: u32,
    pub auto_renew: bool,
    pub cost_minor: i64,
    pub currency: String,
    pub exponent: u8,
    pub billing_period: BillingPeriod,
    pub seats: Option<u32>,
    pub created: DateTime<Utc>,
}

impl SaasContract {
    /// The last day the contract can be cancelled: its end less the notice period.
    pub fn cancellation_deadline(&self) -> NaiveDate {
        self.end - chrono::Days::new(u64::from(self.notice_days))
    }

    /// The cost per month, in minor units (rounded down).
    pub fn monthly_cost_minor(&self) -> i64 {
        self.cost_minor / self.billing_period.months()
    }
}

impl NewContract {
    /// Refuses an end on or before the start, a negative cost, a notice period longer than
    /// the contract, and a currency code that is not three capital letters; each message
    /// names the field.
    pub fn validate(
        self,
        tenant: TenantId,
        app: SaasAppId,
        now: DateTime<Utc>,
    ) -> Result<SaasContract, (&'static str, String)> {
        if self.end <= self.start {
            return Err((
                "endDate",
                format!(
                    "the contract ends ({}) before or on the day it starts ({})",
                    self.end, self.start
                ),
            ));
        }
        if self.cost_minor < 0 {
            return Err(("cost", "the cost must not be negative".into()));
        }
        let days = (self.end - self.start).num_days();
        if i64::from(self.notice_days) > days {
            return Err((
                "noticePeriodDays",
                format!(
                    "the notice period ({} days) is longer than the contract ({days} days)",
                    self.notice_days
                ),
            ));
        }
        if self
            .seats
            .is_some_and(|s| s > crate::saas_license::MAX_SEATS)
        {
            return Err((
                "seats",
                format!("at most {} seats", crate::saas_license::MAX_SEATS),
            ));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err((
                "currency",
                format!("'{}' is not an ISO 4217 code", self.currency),
            ));
        }
        Ok(SaasContract {
            id: uuid::Uuid::new_v4(),
            tenant_id: tenant,
            app_id: app,
            start: self.start,
            end: self.end,
            notice_days: self.notice_days,
            auto_renew: self.auto_renew,
            cost_minor: self.cost_minor,
            currency: self.currency,
            exponent: self.exponent,
            billing_period: self.billing_period,
            seats: self.seats,
            created: now,
        })
    }
}

/// The app's users with no use in `idle_days` days at `now`, longest idle first.
pub fn idle_users(users: &[SaasAppUser], now: DateTime<Utc>, idle_days: u32) -> Vec<SaasAppUser> {
    let cutoff = now - chrono::Duration::days(i64::from(idle_days));
    let mut idle: Vec<SaasAppUser> = users
        .iter()
        .filter(|u| u.last_used < cutoff)
        .cloned()
        .collect();
    idle.sort_by_key(|u| u.last_used);
    idle
}

/// Days without use after which a seat is idle, unless the app says otherwise.
pub const DEFAULT_IDLE_DAYS: u32 = 60;

/// The inventory's storage. Discoveries are written through [`Events::saas`] by whatever
/// store call carries them.
#[async_trait]
pub trait SaasStore {
    async fn list_saas_apps(
        &self,
        tenant: TenantId,
        query: &SaasQuery,
    ) -> StoreResult<Page<SaasApp>>;
    /// As `list_saas_apps`, only apps whose name or vendor contains `text` (lower case,
    /// compared case-insensitively).
    async fn list_saas_apps_matching(
        &self,
        tenant: TenantId,
        query: &SaasQuery,
        text: &str,
    ) -> StoreResult<Page<SaasApp>>;
    async fn find_saas_app(&self, tenant: TenantId, id: SaasAppId) -> StoreResult<Option<SaasApp>>;
    async fn find_saas_app_by_latchkey_app(
        &self,
        tenant: TenantId,
        app: AppId,
    ) -> StoreResult<Option<SaasApp>>;
    /// The users (most recently used first) and evidence (newest first), at most `limit` each.
    async fn saas_app_activity(
        &self,
        tenant: TenantId,
        id: SaasAppId,
        limit: u32,
    ) -> StoreResult<(Vec<SaasAppUser>, Vec<SaasEvidence>)>;
    /// Writes a state/owner change if the app is still at `expected_version` (`Stale`).
    async fn update_saas_app(&self, write: &SaasAppWrite, events: &Events) -> StoreResult<()>;
    /// Records a use seen outside any other change (a sign-in), in its own transaction.
    async fn record_saas_use(&self, discovery: &SaasDiscovery) -> StoreResult<()>;
    /// Writes an import in one transaction; lines whose fingerprint is stored are skipped.
    async fn import_expenses(&self, write: &ExpenseWrite) -> StoreResult<ExpenseCounts>;
    /// The catalogue keys among `keys` that are in the tenant's inventory.
    async fn saas_catalogue_keys_present(
        &self,
        tenant: TenantId,
        keys: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Lines no app matched, newest import first.
    async fn list_unmatched_expenses(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> StoreResult<Vec<UnmatchedExpense>>;
    /// Adds a contract to an app of the tenant (`NotFound` when there is no such app).
    async fn insert_saas_contract(
        &self,
        contract: &SaasContract,
        events: &Events,
    ) -> StoreResult<()>;
    /// An app's contracts, by start date.
    async fn list_saas_contracts(
        &self,
        tenant: TenantId,
        app: SaasAppId,
    ) -> StoreResult<Vec<SaasContract>>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_review_refuses_going_back_to_discovered_and_names_the_allowed_moves() {
        use SaasAppState::*;
        assert!(Discovered.check_move(Sanctioned).is_ok());
        assert!(UnderReview.check_move(Unsanctioned).is_ok());
        let err = Sanctioned.check_move(Discovered).unwrap_err();
        assert_eq!(
            err,
            "an app that is sanctioned cannot become discovered; it can become: unsanctioned, retired"
        );
        assert!(Discovered.check_move(Retired).is_err());
        assert!(Retired.check_move(Sanctioned).is_err());
        assert!(Sanctioned.check_move(Sanctioned).is_err());
    }

    #[test]
    fn risky_permissions_are_picked_out_whatever_their_case() {
        let got = risky_permissions(&[
            "openid".into(),
            "mail.read".into(),
            "User.Read".into(),
            "Files.ReadWrite.All".into(),
        ]);
        assert_eq!(got, ["mail.read", "Files.ReadWrite.All"]);
    }

    fn contract(start: &str, end: &str, notice: u32, cost: i64) -> NewContract {
        NewContract {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            notice_days: notice,
            auto_renew: true,
            cost_minor: cost,
            currency: "USD".into(),
            exponent: 2,
            billing_period: BillingPeriod::Annual,
            seats: None,
        }
    }

    #[test]
    fn a_contract_ending_before_it_starts_or_costing_less_than_nothing_is_refused() {
        let (t, a, now) = (TenantId::new(), SaasAppId::new(), Utc::now());
        let err = contract("2026-06-01", "2026-05-31", 0, 100)
            .validate(t, a, now)
            .unwrap_err();
        assert_eq!(err.0, "endDate");
        assert_eq!(
            err.1,
            "the contract ends (2026-05-31) before or on the day it starts (2026-06-01)"
        );
        let err = contract("2026-01-01", "2027-01-01", 0, -1)
            .validate(t, a, now)
            .unwrap_err();
        assert_eq!(err, ("cost", "the cost must not be negative".into()));
        let err = contract("2026-01-01", "2026-01-31", 31, 1)
            .validate(t, a, now)
            .unwrap_err();
        assert_eq!(err.0, "noticePeriodDays");
    }

    #[test]
    fn the_cancellation_deadline_is_the_end_less_the_notice_period() {
        let c = contract("2026-01-01", "2027-01-01", 30, 120_000)
            .validate(TenantId::new(), SaasAppId::new(), Utc::now())
            .unwrap();
        assert_eq!(c.cancellation_deadline().to_string(), "2026-12-02");
        assert_eq!(c.monthly_cost_minor(), 10_000);
    }

    #[test]
    fn a_seat_unused_for_61_days_is_idle_and_one_used_59_days_ago_is_not() {
        let now: DateTime<Utc> = "2026-11-24T09:00:00Z".parse().unwrap();
        let user = |days: i64| SaasAppUser {
            user_id: UserId::new(),
            first_seen: now - chrono::Duration::days(400),
            last_used: now - chrono::Duration::days(days),
            permissions: vec![],
        };
        let users = [user(59), user(61), user(90)];
        let idle = idle_users(&users, now, DEFAULT_IDLE_DAYS);
        assert_eq!(idle.len(), 2);
        assert_eq!(idle[0].user_id, users[2].user_id);
        assert_eq!(idle[1].user_id, users[1].user_id);
    }

    #[test]
    fn amounts_are_printed_with_the_currency_digits() {
        assert_eq!(format_amount(1250, 2), "12.50");
        assert_eq!(format_amount(5, 2), "0.05");
        assert_eq!(format_amount(1200, 0), "1200");
        assert_eq!(format_amount(1_234_567, 3), "1234.567");
    }
}
