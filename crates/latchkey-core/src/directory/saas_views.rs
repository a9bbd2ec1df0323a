//! What each SaaS reader sees on the dashboard: the parts of it their role is for (Finance:
//! spend, idle seats and the saving, renewals; Security: apps by state, discovered this
//! month, unsanctioned apps with risky permissions and their users; IT: the inventory by
//! state, idle seats, overlaps), and the Security view's list of risky apps.

use super::Directory;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::role::DirectoryRole;
use crate::saas::{SaasApp, SaasAppState, SaasQuery, risky_permissions};

/// Most apps of each state the risky-apps list reads, and most of their users.
const RISKY_APPS: usize = 1_000;
const RISKY_USERS: u32 = 5_000;

/// The parts of the SaaS dashboard a viewer sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaasDashboardParts {
    /// Spend by month and by category.
    pub spend: bool,
    /// Idle seats (and, with `spend`, the monthly saving).
    pub idle: bool,
    pub renewals: bool,
    /// Apps by state, and those discovered this month.
    pub states: bool,
    /// Unsanctioned apps with risky permissions, and their users.
    pub risky: bool,
    pub overlaps: bool,
}

impl SaasDashboardParts {
    pub const ALL: Self = Self {
        spend: true,
        idle: true,
        renewals: true,
        states: true,
        risky: true,
        overlaps: true,
    };
}

/// The dashboard parts for `actor`: everything for whoever may manage the inventory (and
/// for the operator and applications); for a reader, the union of their reader roles'
/// parts; nothing for anyone else.
pub fn saas_dashboard_parts(actor: &Actor) -> SaasDashboardParts {
    if authorize(actor, Action::ManageSaasApps, &[]).is_ok() {
        return SaasDashboardParts::ALL;
    }
    let roles = match actor {
        Actor::User { roles, .. } | Actor::App { roles, .. } => roles,
        Actor::Operator { .. } => return SaasDashboardParts::ALL,
    };
    let mut parts = SaasDashboardParts::default();
    for role in roles {
        match role {
            DirectoryRole::SaasFinanceReader => {
                parts.spend = true;
                parts.idle = true;
                parts.renewals = true;
            }
            DirectoryRole::SaasSecurityReader => {
                parts.states = true;
                parts.risky = true;
            }
            DirectoryRole::SaasItReader => {
                parts.states = true;
                parts.idle = true;
                parts.overlaps = true;
            }
            _ => {}
        }
    }
    if parts == SaasDashboardParts::default() && authorize(actor, Action::ReadSaasApps, &[]).is_ok()
    {
        // Another reader of the inventory (`Directory.Read.All`): the whole picture.
        return SaasDashboardParts::ALL;
    }
    parts
}

/// An app not sanctioned (discovered, under review or unsanctioned) that was granted risky
/// permissions, with the users seen using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskyApp {
    pub app: SaasApp,
    pub risky: Vec<String>,
    /// The users' UPNs (a user since deleted is left out), by UPN.
    pub users: Vec<String>,
}

impl Directory {
    /// The apps not sanctioned that hold risky permissions ([`crate::saas::RISKY_PERMISSIONS`]),
    /// by name, each with its users: a page of apps per state, and one query for the users
    /// of up to 500 apps.
    pub async fn saas_risky_apps(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<RiskyApp>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        let mut out = Vec::new();
        for state in [
            SaasAppState::Discovered,
            SaasAppState::UnderReview,
            SaasAppState::Unsanctioned,
        ] {
            let mut query = SaasQuery {
                state: Some(state),
                after: None,
                limit: 500,
            };
            let mut read = 0;
            loop {
                let page = self.store.list_saas_apps(tenant, &query).await?;
                read += page.items.len();
                out.extend(page.items.into_iter().filter_map(|app| {
                    let risky = risky_permissions(&app.permissions);
                    (!risky.is_empty()).then(|| RiskyApp {
                        app,
                        risky,
                        users: Vec::new(),
                    })
                }));
                match page.next {
                    Some(next) if read < RISKY_APPS => query.after = Some(next),
                    _ => break,
                }
            }
        }
        out.sort_by_key(|a| a.app.name.to_lowercase());
        for chunk in out.chunks_mut(500) {
            let ids: Vec<_> = chunk.iter().map(|r| r.app.id).collect();
            let seats = self
                .store
                .list_saas_seats_of_apps(tenant, &ids, RISKY_USERS)
                .await?;
            for r in chunk.iter_mut() {
                r.users = seats
                    .iter()
                    .filter(|s| s.app_id == r.app.id)
                    .filter_map(|s| s.user_principal_name.clone())
                    .collect();
            }
        }
        Ok(out)
    }
}
