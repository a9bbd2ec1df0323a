//! `latchkey apps-inventory …`: the SaaS inventory offline, through the same directory
//! operations as `/v1.0/latchkey/saas/apps`, as the local operator. Expense CSV is parsed by
//! `latchkey-saas` and imported by core.

use latchkey_core::Directory;
use latchkey_core::directory::SaasAppChanges;
use latchkey_core::ids::{SaasAppId, TenantId};
use latchkey_core::saas::{
    BillingPeriod, NewContract, SaasApp, SaasAppDetail, SaasAppState, SaasContract, SaasQuery,
    format_amount, risky_permissions,
};
use serde_json::{Value, json};

use super::users::{OPERATOR, open};
use super::{CliError, CliResult};
use crate::cli::AppsInventoryCommand;
use crate::output;

/// Most bytes an expense file may have.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn app_json(a: &SaasApp) -> Value {
    json!({
        "id": a.id.to_string(),
        "displayName": a.name,
        "vendor": a.vendor,
        "category": a.category,
        "state": a.state.as_str(),
        "ownerId": a.owner.map(|o| o.to_string()),
        "appId": a.latchkey_app_id.map(|x| x.to_string()),
        "permissions": a.permissions,
        "riskyPermissions": risky_permissions(&a.permissions),
        "userCount": a.user_count,
        "createdDateTime": a.created.to_rfc3339(),
        "lastModifiedDateTime": a.updated.to_rfc3339(),
    })
}

fn contract_json(c: &SaasContract) -> Value {
    json!({
        "id": c.id.to_string(),
        "startDate": c.start.to_string(),
        "endDate": c.end.to_string(),
        "noticePeriodDays": c.notice_days,
        "cancellationDeadline": c.cancellation_deadline().to_string(),
        "autoRenew": c.auto_renew,
        "cost": format_amount(c.cost_minor, c.exponent),
        "currency": c.currency,
        "billingPeriod": c.billing_period.as_str(),
        "seats": c.seats,
    })
}

fn detail_json(d: &SaasAppDetail) -> Value {
    let mut out = app_json(&d.app);
    if let Value::Object(map) = &mut out {
        map.insert(
            "users".into(),
            d.users
                .iter()
                .map(|u| {
                    json!({
                        "userId": u.user_id.to_string(),
                        "firstSeenDateTime": u.first_seen.to_rfc3339(),
                        "lastUsedDateTime": u.last_used.to_rfc3339(),
                        "permissions": u.permissions,
                    })
                })
                .collect(),
        );
        map.insert(
            "evidence".into(),
            d.evidence
                .iter()
                .map(|e| {
                    json!({
                        "source": e.source.as_str(),
                        "dateTime": e.at.to_rfc3339(),
                        "userId": e.user_id.map(|u| u.to_string()),
                        "detail": e.detail,
                    })
                })
                .collect(),
        );
    }
    out
}

/// The app named by id, or by name (any case and spacing).
async fn find(directory: &Directory, tenant: TenantId, name: &str) -> CliResult<SaasAppId> {
    if let Ok(id) = name.parse::<SaasAppId>() {
        return Ok(id);
    }
    let wanted = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut after = None;
    loop {
        let page = directory
            .list_saas_apps(
                &OPERATOR,
                tenant,
                &SaasQuery {
                    state: None,
                    after,
                    limit: 999,
                },
            )
            .await?;
        if let Some(app) = page
            .items
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(&wanted))
        {
            return Ok(app.id);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => {
                return Err(CliError(format!(
                    "no app '{name}' in the inventory: see `latchkey apps-inventory list`"
                )));
            }
        }
    }
}

async fn set_state(a: &crate::cli::AppsInventoryAppArgs, state: SaasAppState) -> CliResult {
    let (directory, tenant) = open(&a.tenant).await?;
    let id = find(&directory, tenant, &a.app).await?;
    let app = directory
        .update_saas_app(
            &OPERATOR,
            tenant,
            id,
            SaasAppChanges {
                state: Some(state),
                owner: None,
            },
        )
        .await?;
    if a.tenant.json {
        output::json(&app_json(&app));
    } else {
        println!("{} is now {}.", app.name, app.state.as_str());
    }
    Ok(())
}

pub async fn run(cmd: AppsInventoryCommand) -> CliResult {
    match cmd {
        AppsInventoryCommand::List(a) => {
            let state = a
                .state
                .as_deref()
                .map(|s| {
                    SaasAppState::parse(s).ok_or_else(|| {
                        CliError(format!(
                            "--state '{s}' is not a state: discovered, underReview, sanctioned, unsanctioned, retired"
                        ))
                    })
                })
                .transpose()?;
            let (directory, tenant) = open(&a.tenant).await?;
            let page = directory
                .list_saas_apps(
                    &OPERATOR,
                    tenant,
                    &SaasQuery {
                        state,
                        after: a.after.clone(),
                        limit: a.top,
                    },
                )
                .await?;
            if a.tenant.json {
                output::json(&json!({
                    "value": page.items.iter().map(app_json).collect::<Vec<_>>(),
                    "next": page.next,
                }));
            } else {
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|app| {
                        vec![
                            app.name.clone(),
                            app.state.as_str().to_owned(),
                            app.category.clone().unwrap_or_default(),
                            app.user_count.to_string(),
                            risky_permissions(&app.permissions).join(" "),
                            app.id.to_string(),
                        ]
                    })
                    .collect();
                output::table(
                    &["NAME", "STATE", "CATEGORY", "USERS", "RISKY", "ID"],
                    &rows,
                );
                if let Some(next) = page.next {
                    println!("More: --after '{next}'");
                }
            }
        }
        AppsInventoryCommand::Show(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let id = find(&directory, tenant, &a.app).await?;
            let d = directory.get_saas_app(&OPERATOR, tenant, id).await?;
            if a.tenant.json {
                output::json(&detail_json(&d));
            } else {
                output::fields(&[
                    ("Name", d.app.name.clone()),
                    ("State", d.app.state.as_str().to_owned()),
                    ("Vendor", d.app.vendor.clone().unwrap_or_default()),
                    ("Category", d.app.category.clone().unwrap_or_default()),
                    (
                        "Owner",
                        d.app.owner.map(|o| o.to_string()).unwrap_or_default(),
                    ),
                    ("Permissions", d.app.permissions.join(" ")),
                    ("Risky", risky_permissions(&d.app.permissions).join(" ")),
                    ("Users", d.app.user_count.to_string()),
                    ("Id", d.app.id.to_string()),
                ]);
                for e in &d.evidence {
                    println!("{}  {:<12} {}", when(e.at), e.source.as_str(), e.detail);
                }
            }
        }
        AppsInventoryCommand::Sanction(a) => set_state(&a, SaasAppState::Sanctioned).await?,
        AppsInventoryCommand::Unsanction(a) => set_state(&a, SaasAppState::Unsanctioned).await?,
        AppsInventoryCommand::Contracts(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let id = find(&directory, tenant, &a.app).await?;
            let contracts = directory.saas_contracts(&OPERATOR, tenant, id).await?;
            if a.tenant.json {
                output::json(&json!({
                    "value": contracts.iter().map(contract_json).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = contracts
                    .iter()
                    .map(|c| {
                        vec![
                            c.start.to_string(),
                            c.end.to_string(),
                            c.cancellation_deadline().to_string(),
                            if c.auto_renew { "yes" } else { "no" }.to_owned(),
                            format!(
                                "{} {} {}",
                                format_amount(c.cost_minor, c.exponent),
                                c.currency,
                                c.billing_period.as_str()
                            ),
                        ]
                    })
                    .collect();
                output::table(&["START", "END", "CANCEL BY", "AUTO-RENEW", "COST"], &rows);
            }
        }
        AppsInventoryCommand::AddContract(a) => {
            let (cost_minor, currency, exponent) =
                latchkey_saas::parse_money(&a.cost, &a.currency).map_err(CliError)?;
            let billing_period = BillingPeriod::parse(&a.billing_period).ok_or_else(|| {
                CliError(format!(
                    "--billing-period '{}' is not monthly, quarterly or annual",
                    a.billing_period
                ))
            })?;
            let (directory, tenant) = open(&a.app.tenant).await?;
            let id = find(&directory, tenant, &a.app.app).await?;
            let c = directory
                .add_saas_contract(
                    &OPERATOR,
                    tenant,
                    id,
                    NewContract {
                        start: a.start,
                        end: a.end,
                        notice_days: a.notice_days,
                        auto_renew: a.auto_renew,
                        cost_minor,
                        currency,
                        exponent,
                        billing_period,
                        seats: a.seats,
                    },
                )
                .await?;
            if a.app.tenant.json {
                output::json(&contract_json(&c));
            } else {
                println!(
                    "Contract added: {} to {}, cancel by {}.",
                    c.start,
                    c.end,
                    c.cancellation_deadline()
                );
            }
        }
        AppsInventoryCommand::Idle(a) => {
            let (directory, tenant) = open(&a.app.tenant).await?;
            let id = find(&directory, tenant, &a.app.app).await?;
            let idle = directory
                .idle_saas_users(&OPERATOR, tenant, id, a.days)
                .await?;
            if a.app.tenant.json {
                output::json(&json!({
                    "value": idle.iter().map(|u| json!({
                        "userId": u.user_id.to_string(),
                        "lastUsedDateTime": u.last_used.to_rfc3339(),
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = idle
                    .iter()
                    .map(|u| vec![u.user_id.to_string(), when(u.last_used)])
                    .collect();
                output::table(&["USER", "LAST USED"], &rows);
            }
        }
        AppsInventoryCommand::ImportExpenses(a) => {
            let size = std::fs::metadata(&a.file)
                .map_err(|e| CliError(format!("cannot read {}: {e}", a.file.display())))?
                .len();
            if size > MAX_FILE_BYTES {
                return Err(CliError(format!(
                    "{} is larger than {} MiB",
                    a.file.display(),
                    MAX_FILE_BYTES / 1024 / 1024
                )));
            }
            let data = std::fs::read(&a.file)
                .map_err(|e| CliError(format!("cannot read {}: {e}", a.file.display())))?;
            let parsed = latchkey_saas::parse_expenses(&data)
                .map_err(|e| CliError(format!("{}: {e}", a.file.display())))?;
            let (directory, tenant) = open(&a.tenant).await?;
            let counts = directory
                .import_expenses(&OPERATOR, tenant, parsed.lines.clone())
                .await?;
            let unmatched: Vec<&latchkey_core::saas::ExpenseLine> = parsed
                .lines
                .iter()
                .filter(|l| l.matched.is_none())
                .collect();
            if a.tenant.json {
                output::json(&json!({
                    "imported": counts.imported,
                    "duplicates": counts.duplicates,
                    "matched": counts.matched,
                    "unmatched": counts.unmatched,
                    "newApps": counts.new_apps,
                    "problems": parsed.problems.iter().map(|p| json!({
                        "line": p.line,
                        "message": p.message,
                    })).collect::<Vec<_>>(),
                    "unmatchedLines": unmatched.iter().map(|l| json!({
                        "line": l.line,
                        "vendor": l.vendor,
                        "amount": format_amount(l.amount_minor, l.exponent),
                        "currency": l.currency,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                println!(
                    "Imported {} lines ({} matched to apps, {} kept for review), {} already imported; {} new apps in the inventory.",
                    counts.imported,
                    counts.matched,
                    counts.unmatched,
                    counts.duplicates,
                    counts.new_apps
                );
                for p in &parsed.problems {
                    eprintln!("line {}: {}", p.line, p.message);
                }
                for l in &unmatched {
                    println!(
                        "No app matched line {}: {} ({} {})",
                        l.line,
                        l.vendor,
                        format_amount(l.amount_minor, l.exponent),
                        l.currency
                    );
                }
            }
        }
    }
    Ok(())
}
