//! SaaS apps: the inventory (`Directory::search_saas_apps`, by state, paged by the store's
//! keyset cursor), an app's page (`get_saas_app`, `saas_licenses`, `saas_contracts`; the
//! review's state moves and the owner through `update_saas_app`, a Reclaim button per idle
//! seat through `reclaim_saas_seat`), the renewal calendar (`upcoming_saas_renewals`, by
//! month of the cancellation deadline) and the overlap report (`saas_overlaps`). Readers
//! (`Action::ReadSaasApps`) see every page; only those who may manage the inventory
//! (`Action::ManageSaasApps`) see its forms, and the routes refuse the others through core.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::Action;
use latchkey_core::directory::{SaasAppChanges, UserRef};
use latchkey_core::ids::{SaasAppId, UserId};
use latchkey_core::saas::{SaasApp, SaasAppState, SaasQuery, format_amount};
use latchkey_core::saas_license::SeatCost;
use latchkey_identity::browser::csrf_matches;

use super::{
    Chrome, DirectoryError, Form, SESSION_COOKIE, Viewer, WebState, denied_or_transient, html,
    message, viewer,
};

const DAY: &str = "%Y-%m-%d";
const PAGE: u32 = 25;
const EXPIRED: &str = "This form has expired or did not come from the admin center. Nothing was changed; submit it again.";

pub(super) fn state_label(s: SaasAppState) -> &'static str {
    match s {
        SaasAppState::Discovered => "Discovered",
        SaasAppState::UnderReview => "Under review",
        SaasAppState::Sanctioned => "Sanctioned",
        SaasAppState::Unsanctioned => "Unsanctioned",
        SaasAppState::Retired => "Retired",
    }
}

/// What the button that moves an app to `s` says.
fn move_label(s: SaasAppState) -> &'static str {
    match s {
        SaasAppState::Discovered => "Mark discovered",
        SaasAppState::UnderReview => "Start a review",
        SaasAppState::Sanctioned => "Sanction",
        SaasAppState::Unsanctioned => "Unsanction",
        SaasAppState::Retired => "Retire",
    }
}

pub(super) fn money(minor: i64, exponent: u8, currency: &str) -> String {
    format!("{} {currency}", format_amount(minor, exponent))
}

fn dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("—").to_owned()
}

/// The sub-navigation every SaaS page shows.
#[derive(Debug)]
pub(super) struct SaasTabs {
    pub(super) current: &'static str,
}

// ---------------------------------------------------------------------------------------
// The inventory.

#[derive(Template)]
#[template(path = "saas_apps.html")]
struct InventoryPage {
    chrome: Chrome,
    tabs: SaasTabs,
    q: String,
    state: String,
    states: Vec<(&'static str, &'static str)>,
    rows: Vec<InventoryRow>,
    next: Option<String>,
    first_page: Option<String>,
}

#[derive(Debug)]
struct InventoryRow {
    href: String,
    name: String,
    vendor: String,
    category: String,
    state: &'static str,
    users: u64,
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
    }
}

/// `GET /admin/saas?q=&state=&after=`.
pub(super) async fn inventory(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse_query(query.as_deref());
    let q: String = form
        .get("q")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(super::MAX_SEARCH)
        .collect();
    let state_filter = form.get("state").unwrap_or_default().trim().to_owned();
    let chosen = if state_filter.is_empty() {
        None
    } else {
        match SaasAppState::parse(&state_filter) {
            Some(s) => Some(s),
            None => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "That filter is not valid",
                    "State: choose one of the states the list offers.",
                );
            }
        }
    };
    let after = form
        .get("after")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let page = match state
        .directory
        .search_saas_apps(
            &v.actor,
            v.tenant.id,
            &SaasQuery {
                state: chosen,
                after: after.clone(),
                limit: PAGE,
            },
            &q,
        )
        .await
    {
        Ok(p) => p,
        Err(DirectoryError::Invalid { message: m, .. }) => {
            return message(
                StatusCode::BAD_REQUEST,
                "That list position is not valid",
                &m,
            );
        }
        Err(e) => return denied_or_transient(&e),
    };
    let filters = [("q", q.as_str()), ("state", state_filter.as_str())];
    let next = page.next.as_deref().map(|n| {
        let mut p = filters.to_vec();
        p.push(("after", n));
        format!("/admin/saas{}", query_string(&p))
    });
    html(
        StatusCode::OK,
        InventoryPage {
            chrome: v.chrome("saas"),
            tabs: SaasTabs {
                current: "inventory",
            },
            rows: page
                .items
                .iter()
                .map(|a| InventoryRow {
                    href: format!("/admin/saas/apps/{}", a.id),
                    name: a.name.clone(),
                    vendor: dash(a.vendor.as_deref()),
                    category: dash(a.category.as_deref()),
                    state: state_label(a.state),
                    users: a.user_count,
                })
                .collect(),
            next,
            first_page: after
                .is_some()
                .then(|| format!("/admin/saas{}", query_string(&filters))),
            q,
            states: SaasAppState::ALL
                .into_iter()
                .map(|s| (s.as_str(), state_label(s)))
                .collect(),
            state: chosen.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        }
        .render(),
    )
}

// ---------------------------------------------------------------------------------------
// An app's page.

#[derive(Template)]
#[template(path = "saas_app.html")]
struct AppPage {
    chrome: Chrome,
    tabs: SaasTabs,
    base: String,
    name: String,
    vendor: String,
    category: String,
    state: &'static str,
    owner: String,
    owner_upn: String,
    permissions: String,
    /// The review's allowed moves (wire name, button label), for those who may manage.
    moves: Vec<(&'static str, &'static str)>,
    manage: bool,
    users: Vec<UserRow>,
    seats_bought: String,
    seats_assigned: u64,
    idle_days: u32,
    per_seat: String,
    saving: String,
    idle: Vec<IdleRow>,
    contracts: Vec<ContractRow>,
    evidence: Vec<(String, &'static str, String)>,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct UserRow {
    upn: String,
    first_seen: String,
    last_used: String,
}

#[derive(Debug)]
struct IdleRow {
    user_id: String,
    upn: String,
    last_used: String,
    idle_days: i64,
    saving: String,
}

#[derive(Debug)]
struct ContractRow {
    start: String,
    end: String,
    notice_days: u32,
    deadline: String,
    auto_renew: &'static str,
    cost: String,
    seats: String,
}

fn source_label(s: latchkey_core::saas::EvidenceSource) -> &'static str {
    use latchkey_core::saas::EvidenceSource::*;
    match s {
        UserConsent => "User consent",
        AdminConsent => "Admin consent",
        SignIn => "Sign-in",
        Expense => "Expense",
        Manual => "Entered by hand",
        Microsoft365 => "Microsoft 365 tenant",
    }
}

fn parse_app(s: &str) -> Option<SaasAppId> {
    s.parse::<uuid::Uuid>().ok().map(SaasAppId::from_uuid)
}

fn no_such_app() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "App not found",
        "This app is not in your organization's SaaS inventory.",
    )
}

fn per_seat_text(cost: Option<&SeatCost>) -> String {
    match cost {
        Some(c) => match c.per_seat_monthly_minor {
            Some(p) => money(p, c.exponent, &c.currency),
            None => "— (no seat count)".to_owned(),
        },
        None => "— (no current contract)".to_owned(),
    }
}

/// Renders the app's page from the directory's reads (every one authorized by core).
async fn app_page(
    state: &WebState,
    v: &Viewer,
    id: SaasAppId,
    status: StatusCode,
    notice: Option<String>,
    errors: Vec<String>,
) -> Response {
    let dir = &state.directory;
    let detail = match dir.get_saas_app(&v.actor, v.tenant.id, id).await {
        Ok(d) => d,
        Err(DirectoryError::NotFound { .. }) => return no_such_app(),
        Err(e) => return denied_or_transient(&e),
    };
    let report = match dir.saas_licenses(&v.actor, v.tenant.id, id).await {
        Ok(r) => r,
        Err(e) => return denied_or_transient(&e),
    };
    let contracts = match dir.saas_contracts(&v.actor, v.tenant.id, id).await {
        Ok(c) => c,
        Err(e) => return denied_or_transient(&e),
    };
    let mut ids: Vec<UserId> = detail.users.iter().map(|u| u.user_id).collect();
    if let Some(o) = detail.app.owner {
        ids.push(o);
    }
    let names = match dir.saas_user_names(&v.actor, v.tenant.id, &ids).await {
        Ok(n) => n,
        Err(e) => return denied_or_transient(&e),
    };
    let name_of = |u: UserId| {
        names
            .get(&u)
            .cloned()
            .unwrap_or_else(|| format!("Deleted user ({u})"))
    };
    let manage = v.may(Action::ManageSaasApps);
    let app: &SaasApp = &detail.app;
    let cost = report.cost.as_ref();
    let seats_bought = report
        .licensing
        .seats_bought
        .or(cost.and_then(|c| c.seats_bought));
    html(
        status,
        AppPage {
            chrome: v.chrome("saas"),
            tabs: SaasTabs {
                current: "inventory",
            },
            base: format!("/admin/saas/apps/{}", app.id),
            name: app.name.clone(),
            vendor: dash(app.vendor.as_deref()),
            category: dash(app.category.as_deref()),
            state: state_label(app.state),
            owner: app.owner.map_or_else(|| "—".to_owned(), name_of),
            owner_upn: app
                .owner
                .and_then(|o| names.get(&o).cloned())
                .unwrap_or_default(),
            permissions: if app.permissions.is_empty() {
                "—".to_owned()
            } else {
                app.permissions.join(", ")
            },
            moves: if manage {
                app.state
                    .next()
                    .iter()
                    .map(|s| (s.as_str(), move_label(*s)))
                    .collect()
            } else {
                vec![]
            },
            manage,
            users: detail
                .users
                .iter()
                .map(|u| UserRow {
                    upn: name_of(u.user_id),
                    first_seen: u.first_seen.format(DAY).to_string(),
                    last_used: u.last_used.format(DAY).to_string(),
                })
                .collect(),
            seats_bought: seats_bought.map_or_else(|| "—".to_owned(), |s| s.to_string()),
            seats_assigned: report.seats_assigned,
            idle_days: report.licensing.idle_days(),
            per_seat: per_seat_text(cost),
            saving: match cost {
                Some(c) if c.per_seat_monthly_minor.is_some() => {
                    money(report.saving_monthly_minor, c.exponent, &c.currency)
                }
                _ => "—".to_owned(),
            },
            idle: report
                .idle
                .iter()
                .map(|s| IdleRow {
                    user_id: s.user_id.to_string(),
                    upn: s
                        .user_principal_name
                        .clone()
                        .unwrap_or_else(|| format!("Deleted user ({})", s.user_id)),
                    last_used: s.last_used.format(DAY).to_string(),
                    idle_days: s.idle_days,
                    saving: match (s.saving_monthly_minor, &s.currency, s.exponent) {
                        (Some(m), Some(c), Some(e)) => money(m, e, c),
                        _ => "—".to_owned(),
                    },
                })
                .collect(),
            contracts: contracts
                .iter()
                .map(|c| ContractRow {
                    start: c.start.to_string(),
                    end: c.end.to_string(),
                    notice_days: c.notice_days,
                    deadline: c.cancellation_deadline().to_string(),
                    auto_renew: if c.auto_renew { "Yes" } else { "No" },
                    cost: format!(
                        "{} per {} period",
                        money(c.cost_minor, c.exponent, &c.currency),
                        c.billing_period.as_str()
                    ),
                    seats: c.seats.map_or_else(|| "—".to_owned(), |s| s.to_string()),
                })
                .collect(),
            evidence: detail
                .evidence
                .iter()
                .take(10)
                .map(|e| {
                    (
                        e.at.format("%Y-%m-%d %H:%M UTC").to_string(),
                        source_label(e.source),
                        e.detail.clone(),
                    )
                })
                .collect(),
            notice,
            errors,
        }
        .render(),
    )
}

/// `GET /admin/saas/apps/{app}`.
pub(super) async fn show(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_app(&app) else {
        return no_such_app();
    };
    app_page(&state, &v, id, StatusCode::OK, None, vec![]).await
}

/// `POST /admin/saas/apps/{app}/{action}`: `state` (`state`), `owner` (`owner`: a user
/// name; empty removes the owner) or `reclaim` (`user`: a user id).
pub(super) async fn act(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path((app, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_app(&app) else {
        return no_such_app();
    };
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return app_page(
            &state,
            &v,
            id,
            StatusCode::FORBIDDEN,
            None,
            vec![EXPIRED.into()],
        )
        .await;
    }
    let dir = &state.directory;
    let result: Result<String, DirectoryError> = match action.as_str() {
        "state" => match SaasAppState::parse(form.get("state").unwrap_or_default()) {
            Some(to) => dir
                .update_saas_app(
                    &v.actor,
                    v.tenant.id,
                    id,
                    SaasAppChanges {
                        state: Some(to),
                        owner: None,
                    },
                )
                .await
                .map(|a| format!("The app is now {}.", state_label(a.state).to_lowercase())),
            None => Err(DirectoryError::invalid(
                "state",
                "choose one of the offered states",
            )),
        },
        "owner" => {
            let typed = form.get("owner").unwrap_or_default().trim();
            let owner = if typed.is_empty() {
                None
            } else {
                match UserRef::parse(typed) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        return app_page(
                            &state,
                            &v,
                            id,
                            StatusCode::BAD_REQUEST,
                            None,
                            vec![format!("Owner: {e}")],
                        )
                        .await;
                    }
                }
            };
            let removing = owner.is_none();
            dir.update_saas_app(
                &v.actor,
                v.tenant.id,
                id,
                SaasAppChanges {
                    state: None,
                    owner: Some(owner),
                },
            )
            .await
            .map(|_| {
                if removing {
                    "The app has no owner now.".to_owned()
                } else {
                    "The owner is set.".to_owned()
                }
            })
        }
        "reclaim" => match form
            .get("user")
            .and_then(|u| u.parse::<uuid::Uuid>().ok())
            .map(UserId::from_uuid)
        {
            Some(user) => dir
                .reclaim_saas_seat(&v.actor, v.tenant.id, id, &UserRef::Id(user))
                .await
                .map(|seat| {
                    let who = seat
                        .user_principal_name
                        .unwrap_or_else(|| seat.user_id.to_string());
                    match (seat.saving_monthly_minor, seat.currency, seat.exponent) {
                        (Some(m), Some(c), Some(e)) => format!(
                            "The seat of {who} is reclaimed: {} a month saved.",
                            money(m, e, &c)
                        ),
                        _ => format!("The seat of {who} is reclaimed."),
                    }
                }),
            None => Err(DirectoryError::invalid("userId", "no seat was chosen")),
        },
        _ => return no_such_app(),
    };
    match result {
        Ok(notice) => app_page(&state, &v, id, StatusCode::OK, Some(notice), vec![]).await,
        Err(DirectoryError::Invalid { property, message }) => {
            let label = match property.as_str() {
                "state" => "State",
                "owner" => "Owner",
                "userId" => "Seat",
                _ => "The app",
            };
            app_page(
                &state,
                &v,
                id,
                StatusCode::BAD_REQUEST,
                None,
                vec![format!("{label}: {message}. Nothing was changed.")],
            )
            .await
        }
        Err(DirectoryError::Conflict(m)) => {
            app_page(&state, &v, id, StatusCode::CONFLICT, None, vec![m]).await
        }
        Err(DirectoryError::NotFound { .. }) => no_such_app(),
        Err(e) => denied_or_transient(&e),
    }
}

// ---------------------------------------------------------------------------------------
// The renewal calendar and the overlap report.

#[derive(Template)]
#[template(path = "saas_renewals.html")]
struct RenewalsPage {
    chrome: Chrome,
    tabs: SaasTabs,
    months: Vec<RenewalMonth>,
}

#[derive(Debug)]
struct RenewalMonth {
    month: String,
    rows: Vec<RenewalRowView>,
}

#[derive(Debug)]
struct RenewalRowView {
    href: String,
    app: String,
    deadline: String,
    days_left: i64,
    end: String,
    auto_renew: &'static str,
    cost: String,
}

/// `GET /admin/saas/renewals`: cancellation deadlines from today, by month.
pub(super) async fn renewals(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rows = match state
        .directory
        .upcoming_saas_renewals(&v.actor, v.tenant.id, 999)
        .await
    {
        Ok(r) => r,
        Err(e) => return denied_or_transient(&e),
    };
    let today = state.directory.clock().now().date_naive();
    let mut months: Vec<RenewalMonth> = Vec::new();
    for r in rows {
        let c = &r.contract;
        let deadline = c.cancellation_deadline();
        let month = deadline.format("%B %Y").to_string();
        let row = RenewalRowView {
            href: format!("/admin/saas/apps/{}", c.app_id),
            app: r.app_name.clone(),
            deadline: deadline.to_string(),
            days_left: (deadline - today).num_days(),
            end: c.end.to_string(),
            auto_renew: if c.auto_renew { "Yes" } else { "No" },
            cost: format!(
                "{} per {} period",
                money(c.cost_minor, c.exponent, &c.currency),
                c.billing_period.as_str()
            ),
        };
        match months.last_mut() {
            Some(m) if m.month == month => m.rows.push(row),
            _ => months.push(RenewalMonth {
                month,
                rows: vec![row],
            }),
        }
    }
    html(
        StatusCode::OK,
        RenewalsPage {
            chrome: v.chrome("saas-renewals"),
            tabs: SaasTabs {
                current: "renewals",
            },
            months,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "saas_overlaps.html")]
struct OverlapsPage {
    chrome: Chrome,
    tabs: SaasTabs,
    groups: Vec<(String, Vec<OverlapRow>)>,
}

#[derive(Debug)]
struct OverlapRow {
    href: String,
    name: String,
    state: &'static str,
    users: u64,
    cost: String,
}

/// `GET /admin/saas/overlaps`: categories with more than one app in use.
pub(super) async fn overlaps(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let groups = match state.directory.saas_overlaps(&v.actor, v.tenant.id).await {
        Ok(g) => g,
        Err(e) => return denied_or_transient(&e),
    };
    html(
        StatusCode::OK,
        OverlapsPage {
            chrome: v.chrome("saas-overlaps"),
            tabs: SaasTabs {
                current: "overlaps",
            },
            groups: groups
                .into_iter()
                .map(|g| {
                    (
                        g.category,
                        g.apps
                            .into_iter()
                            .map(|o| OverlapRow {
                                href: format!("/admin/saas/apps/{}", o.app.id),
                                state: state_label(o.app.state),
                                users: o.app.user_count,
                                cost: o.cost.map_or_else(
                                    || "—".to_owned(),
                                    |c| {
                                        format!(
                                            "{} a month",
                                            money(c.monthly_cost_minor, c.exponent, &c.currency)
                                        )
                                    },
                                ),
                                name: o.app.name,
                            })
                            .collect(),
                    )
                })
                .collect(),
        }
        .render(),
    )
}
