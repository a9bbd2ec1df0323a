//! The SaaS dashboard (`Directory::saas_dashboard`): spend by month and by category, apps by
//! state, idle seats with the monthly saving, and upcoming cancellation deadlines, each drawn
//! as a server-rendered SVG bar chart (no script) over the table it is drawn from, and
//! exported as CSV (`/admin/saas/dashboard/{chart}.csv`, every cell neutralised against
//! formula injection). A chart, its table and its CSV are built from the same rows, so they
//! always show the same numbers.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::directory::{RiskyApp, SaasDashboard, SaasDashboardParts, saas_dashboard_parts};
use latchkey_core::saas::format_amount;
use latchkey_core::saas_license::OverlapGroup;

use super::csv_out::{download, record};
use super::saas::{SaasTabs, money, state_label};
use super::{Chrome, WebState, denied_or_transient, html, message, viewer};

/// The SVG's geometry, in pixels.
const WIDTH: u32 = 640;
const LABEL_WIDTH: u32 = 190;
const BAR_MAX: u32 = 300;
const ROW: u32 = 26;
const BAR: u32 = 18;

/// One bar: its label, the value printed after it, and its length.
#[derive(Debug)]
struct Bar {
    label: String,
    value: String,
    y: u32,
    text_y: u32,
    width: u32,
    value_x: u32,
}

/// A chart with the table behind it.
#[derive(Debug)]
struct Chart {
    id: &'static str,
    title: &'static str,
    /// What the bars measure, said under the title.
    caption: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    bars: Vec<Bar>,
    height: u32,
    label_x: u32,
    bar_x: u32,
}

/// A bar before layout: label, printed value, magnitude, and the group whose largest
/// magnitude is the full length (amounts in different currencies are never on one scale).
struct Raw {
    label: String,
    value: String,
    magnitude: i64,
    group: String,
}

fn chart(
    id: &'static str,
    title: &'static str,
    caption: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    raw: Vec<Raw>,
) -> Chart {
    let maxes: Vec<i64> = raw
        .iter()
        .map(|r| {
            raw.iter()
                .filter(|o| o.group == r.group)
                .map(|o| o.magnitude)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let bars = raw
        .into_iter()
        .zip(maxes)
        .enumerate()
        .map(|(i, (r, max))| {
            let width = if max <= 0 || r.magnitude <= 0 {
                0
            } else {
                let w = i128::from(r.magnitude) * i128::from(BAR_MAX) / i128::from(max);
                u32::try_from(w).unwrap_or(BAR_MAX).max(1)
            };
            let y = u32::try_from(i).unwrap_or(0) * ROW;
            Bar {
                label: r.label,
                value: r.value,
                y: y + (ROW - BAR) / 2,
                text_y: y + ROW / 2 + 5,
                width,
                value_x: LABEL_WIDTH + width + 6,
            }
        })
        .collect::<Vec<_>>();
    Chart {
        id,
        title,
        caption,
        columns,
        rows,
        height: (u32::try_from(bars.len()).unwrap_or(0) * ROW).max(ROW),
        bars,
        label_x: LABEL_WIDTH - 8,
        bar_x: LABEL_WIDTH,
    }
}

/// The dashboard's charts, in page order, from one read of the directory.
fn charts(d: &SaasDashboard) -> Vec<Chart> {
    let several = |keys: Vec<&String>| {
        let mut k = keys;
        k.sort();
        k.dedup();
        k.len() > 1
    };
    let multi_month = several(d.spend_by_month.iter().map(|s| &s.currency).collect());
    let spend_by_month = chart(
        "spend-by-month",
        "Spend by month",
        format!(
            "Expense lines dated from {} (all imported lines, matched or not), and each contract's monthly cost in the months it covers that have no expense line of its app.",
            d.spend_from
        ),
        vec!["Month", "Currency", "Spend"],
        d.spend_by_month
            .iter()
            .map(|s| {
                vec![
                    s.key.clone(),
                    s.currency.clone(),
                    format_amount(s.total_minor, s.exponent),
                ]
            })
            .collect(),
        d.spend_by_month
            .iter()
            .map(|s| Raw {
                label: if multi_month {
                    format!("{} · {}", s.key, s.currency)
                } else {
                    s.key.clone()
                },
                value: money(s.total_minor, s.exponent, &s.currency),
                magnitude: s.total_minor,
                group: s.currency.clone(),
            })
            .collect(),
    );
    let multi_cat = several(d.spend_by_category.iter().map(|s| &s.currency).collect());
    let spend_by_category = chart(
        "spend-by-category",
        "Spend by category",
        "The same spend, by the category of its app.".to_owned(),
        vec!["Category", "Currency", "Spend"],
        d.spend_by_category
            .iter()
            .map(|s| {
                vec![
                    s.key.clone(),
                    s.currency.clone(),
                    format_amount(s.total_minor, s.exponent),
                ]
            })
            .collect(),
        d.spend_by_category
            .iter()
            .map(|s| Raw {
                label: if multi_cat {
                    format!("{} · {}", s.key, s.currency)
                } else {
                    s.key.clone()
                },
                value: money(s.total_minor, s.exponent, &s.currency),
                magnitude: s.total_minor,
                group: s.currency.clone(),
            })
            .collect(),
    );
    let apps_by_state = chart(
        "apps-by-state",
        "Apps by state",
        format!(
            "Every app in the inventory; {} added since the first of this month.",
            d.discovered_this_month
        ),
        vec!["State", "Apps", "Added this month"],
        d.apps_by_state
            .iter()
            .map(|c| {
                vec![
                    state_label(c.state).to_owned(),
                    c.apps.to_string(),
                    c.added_since.to_string(),
                ]
            })
            .collect(),
        d.apps_by_state
            .iter()
            .map(|c| Raw {
                label: state_label(c.state).to_owned(),
                value: c.apps.to_string(),
                magnitude: i64::try_from(c.apps).unwrap_or(i64::MAX),
                group: String::new(),
            })
            .collect(),
    );
    let idle = chart(
        "idle-seats",
        "Idle seats",
        "Seats with no use within their app's idle threshold, and what reclaiming them saves a month.".to_owned(),
        vec!["App", "Idle seats", "Per seat per month", "Saving per month"],
        d.idle
            .iter()
            .map(|i| {
                let amount = |m: Option<i64>| match (m, &i.currency, i.exponent) {
                    (Some(m), Some(c), Some(e)) => money(m, e, c),
                    _ => "—".to_owned(),
                };
                vec![
                    i.app_name.clone(),
                    i.seats.to_string(),
                    amount(i.per_seat_monthly_minor),
                    amount(i.saving_monthly_minor),
                ]
            })
            .collect(),
        d.idle
            .iter()
            .map(|i| Raw {
                label: i.app_name.clone(),
                value: i.seats.to_string(),
                magnitude: i64::try_from(i.seats).unwrap_or(i64::MAX),
                group: String::new(),
            })
            .collect(),
    );
    let renewals = chart(
        "renewals",
        "Upcoming renewals",
        "Contracts whose cancellation deadline (end less notice) is today or later, by the deadline's month.".to_owned(),
        vec!["Month", "Cancellation deadlines"],
        d.renewals_by_month
            .iter()
            .map(|(m, n)| vec![m.clone(), n.to_string()])
            .collect(),
        d.renewals_by_month
            .iter()
            .map(|(m, n)| Raw {
                label: m.clone(),
                value: n.to_string(),
                magnitude: i64::try_from(*n).unwrap_or(i64::MAX),
                group: String::new(),
            })
            .collect(),
    );
    vec![
        spend_by_month,
        spend_by_category,
        apps_by_state,
        idle,
        renewals,
    ]
}

/// The charts a viewer's parts of the dashboard show ([`saas_dashboard_parts`]), in page
/// order, with the Security view's risky apps and the IT view's overlaps when they are read.
fn charts_for(
    d: &SaasDashboard,
    parts: SaasDashboardParts,
    risky: &[RiskyApp],
    overlaps: &[OverlapGroup],
) -> Vec<Chart> {
    let mut out: Vec<Chart> = charts(d)
        .into_iter()
        .filter(|c| match c.id {
            "spend-by-month" | "spend-by-category" => parts.spend,
            "apps-by-state" => parts.states,
            "idle-seats" => parts.idle,
            "renewals" => parts.renewals,
            _ => false,
        })
        .collect();
    if parts.risky {
        out.push(chart(
            "risky-apps",
            "Unsanctioned apps with risky permissions",
            "Apps not sanctioned (discovered, under review or unsanctioned) granted permissions such as Mail.Read or Files.ReadWrite.All, with the users seen using them.".to_owned(),
            vec!["App", "State", "Risky permissions", "Users"],
            risky
                .iter()
                .map(|r| {
                    vec![
                        r.app.name.clone(),
                        state_label(r.app.state).to_owned(),
                        r.risky.join(" "),
                        r.users.join(" "),
                    ]
                })
                .collect(),
            risky
                .iter()
                .map(|r| Raw {
                    label: r.app.name.clone(),
                    value: format!("{} users", r.users.len()),
                    magnitude: i64::try_from(r.users.len()).unwrap_or(i64::MAX),
                    group: String::new(),
                })
                .collect(),
        ));
    }
    if parts.overlaps {
        let rows: Vec<(&str, &latchkey_core::saas_license::OverlapApp)> = overlaps
            .iter()
            .flat_map(|g| g.apps.iter().map(move |a| (g.category.as_str(), a)))
            .collect();
        out.push(chart(
            "overlaps",
            "Overlapping apps",
            "Categories with more than one app in use, each app with its users and monthly cost, to retire redundant tools.".to_owned(),
            vec!["Category", "App", "Users", "Cost per month"],
            rows.iter()
                .map(|(category, a)| {
                    vec![
                        (*category).to_owned(),
                        a.app.name.clone(),
                        a.app.user_count.to_string(),
                        a.cost.as_ref().map_or_else(
                            || "—".to_owned(),
                            |c| money(c.monthly_cost_minor, c.exponent, &c.currency),
                        ),
                    ]
                })
                .collect(),
            rows.iter()
                .map(|(category, a)| Raw {
                    label: format!("{category} · {}", a.app.name),
                    value: a.app.user_count.to_string(),
                    magnitude: i64::try_from(a.app.user_count).unwrap_or(i64::MAX),
                    group: String::new(),
                })
                .collect(),
        ));
    }
    out
}

/// What a viewer's dashboard reads: the figures, and the parts that need their own reads.
async fn read_dashboard(
    state: &WebState,
    v: &super::Viewer,
) -> Result<(SaasDashboard, SaasDashboardParts, Vec<Chart>), Response> {
    let parts = saas_dashboard_parts(&v.actor);
    let d = state
        .directory
        .saas_dashboard(&v.actor, v.tenant.id)
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let risky = if parts.risky {
        state
            .directory
            .saas_risky_apps(&v.actor, v.tenant.id)
            .await
            .map_err(|e| denied_or_transient(&e))?
    } else {
        Vec::new()
    };
    let overlaps = if parts.overlaps {
        state
            .directory
            .saas_overlaps(&v.actor, v.tenant.id)
            .await
            .map_err(|e| denied_or_transient(&e))?
    } else {
        Vec::new()
    };
    let charts = charts_for(&d, parts, &risky, &overlaps);
    Ok((d, parts, charts))
}

/// The view's name, said under the heading (`None`: the whole dashboard).
fn view_name(parts: SaasDashboardParts) -> Option<&'static str> {
    let finance = SaasDashboardParts {
        spend: true,
        idle: true,
        renewals: true,
        ..SaasDashboardParts::default()
    };
    let security = SaasDashboardParts {
        states: true,
        risky: true,
        ..SaasDashboardParts::default()
    };
    let it = SaasDashboardParts {
        states: true,
        idle: true,
        overlaps: true,
        ..SaasDashboardParts::default()
    };
    if parts == finance {
        Some("Finance")
    } else if parts == security {
        Some("Security")
    } else if parts == it {
        Some("IT")
    } else if parts == SaasDashboardParts::ALL {
        None
    } else {
        Some("your reader roles'")
    }
}

#[derive(Template)]
#[template(path = "saas_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    tabs: SaasTabs,
    view: Option<&'static str>,
    parts: SaasDashboardParts,
    today: String,
    discovered: u64,
    idle_seats: u64,
    saving: String,
    next_deadline: String,
    charts: Vec<Chart>,
    width: u32,
}

/// `GET /admin/saas/dashboard`.
pub(super) async fn page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (d, parts, charts) = match read_dashboard(&state, &v).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    html(
        StatusCode::OK,
        DashboardPage {
            chrome: v.chrome("saas-dashboard"),
            tabs: SaasTabs {
                current: "dashboard",
            },
            view: view_name(parts),
            parts,
            today: d.today.to_string(),
            discovered: d.discovered_this_month,
            idle_seats: d.idle_seats,
            saving: if d.saving_monthly.is_empty() {
                "—".to_owned()
            } else {
                d.saving_monthly
                    .iter()
                    .map(|s| money(s.total_minor, s.exponent, &s.currency))
                    .collect::<Vec<_>>()
                    .join(" + ")
            },
            next_deadline: d.renewals.first().map_or_else(
                || "—".to_owned(),
                |r| format!("{} ({})", r.contract.cancellation_deadline(), r.app_name),
            ),
            charts,
            width: WIDTH,
        }
        .render(),
    )
}

/// `GET /admin/saas/dashboard/{chart}.csv`: the table behind one chart.
pub(super) async fn export(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = file.strip_suffix(".csv") else {
        return no_such_chart();
    };
    // A chart outside the viewer's view is not theirs to export.
    let charts = match read_dashboard(&state, &v).await {
        Ok((_, _, charts)) => charts,
        Err(r) => return r,
    };
    let Some(c) = charts.into_iter().find(|c| c.id == id) else {
        return no_such_chart();
    };
    let mut out = Vec::new();
    record(
        &mut out,
        &c.columns.iter().map(|h| (*h, false)).collect::<Vec<_>>(),
    );
    for row in &c.rows {
        record(
            &mut out,
            &row.iter()
                .map(|cell| (cell.as_str(), false))
                .collect::<Vec<_>>(),
        );
    }
    download(Body::from(out), &format!("saas-{}.csv", c.id))
}

fn no_such_chart() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "No such export",
        "The dashboard has no chart by that name. Go back to the dashboard and use its Export CSV links.",
    )
}
