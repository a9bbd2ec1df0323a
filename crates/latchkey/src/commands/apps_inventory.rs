//! `latchkey apps-inventory …`: the SaaS inventory offline, through the same directory
//! operations as `/v1.0/latchkey/saas/apps`, as the local operator. Expense CSV is parsed by
//! `latchkey-saas` and imported by core.

use latchkey_core::Directory;
use latchkey_core::directory::{NewSaasApp, SaasAppChanges, UserRef};
use latchkey_core::ids::{SaasAppId, TenantId};
use latchkey_core::saas::{
    BillingPeriod, NewContract, SaasApp, SaasAppDetail, SaasAppState, SaasContract, SaasQuery,
    format_amount, risky_permissions,
};
use latchkey_core::saas_license::{
    IdleSeat, RenewalRow, SaasLicensing, SaasLicensingChanges, SeatCost,
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

fn amount(minor: Option<i64>, exponent: Option<u8>) -> Option<String> {
    Some(format_amount(minor?, exponent?))
}

fn seat_json(s: &IdleSeat) -> Value {
    json!({
        "appId": s.app_id.to_string(),
        "appDisplayName": s.app_name,
        "userId": s.user_id.to_string(),
        "userPrincipalName": s.user_principal_name,
        "firstSeenDateTime": s.first_seen.to_rfc3339(),
        "lastUsedDateTime": s.last_used.to_rfc3339(),
        "idleDays": s.idle_days,
        "savingPerMonth": amount(s.saving_monthly_minor, s.exponent),
        "currency": s.currency,
    })
}

fn seat_row(s: &IdleSeat) -> Vec<String> {
    vec![
        s.app_name.clone(),
        s.user_principal_name
            .clone()
            .unwrap_or_else(|| s.user_id.to_string()),
        when(s.last_used),
        s.idle_days.to_string(),
        match (amount(s.saving_monthly_minor, s.exponent), &s.currency) {
            (Some(a), Some(c)) => format!("{a} {c}"),
            _ => String::new(),
        },
    ]
}

const SEAT_HEADERS: [&str; 5] = ["APP", "USER", "LAST USED", "IDLE DAYS", "SAVING/MONTH"];

fn licensing_json(l: &SaasLicensing) -> Value {
    json!({
        "seatsBought": l.seats_bought,
        "idleDays": l.idle_days(),
        "skuId": l.sku.map(|s| s.to_string()),
    })
}

fn cost_json(c: Option<&SeatCost>) -> Value {
    c.map_or(Value::Null, |c| {
        json!({
            "seatsBought": c.seats_bought,
            "monthlyCost": format_amount(c.monthly_cost_minor, c.exponent),
            "costPerSeatPerMonth": amount(c.per_seat_monthly_minor, Some(c.exponent)),
            "currency": c.currency,
        })
    })
}

fn renewal_json(r: &RenewalRow, today: chrono::NaiveDate) -> Value {
    let mut out = contract_json(&r.contract);
    if let Value::Object(map) = &mut out {
        map.insert("appId".into(), json!(r.contract.app_id.to_string()));
        map.insert("appDisplayName".into(), json!(r.app_name));
        map.insert("ownerId".into(), json!(r.app_owner.map(|o| o.to_string())));
        map.insert(
            "daysLeft".into(),
            json!((r.contract.cancellation_deadline() - today).num_days()),
        );
    }
    out
}

/// `N`, or `keyword` for `None`.
fn number_or(raw: &str, keyword: &str, flag: &str) -> CliResult<Option<u32>> {
    if raw.eq_ignore_ascii_case(keyword) {
        return Ok(None);
    }
    raw.parse::<u32>().map(Some).map_err(|_| {
        CliError(format!(
            "{flag} '{raw}' is not a whole number or '{keyword}'"
        ))
    })
}

fn print_next(next: Option<&String>) {
    if let Some(next) = next {
        println!("More: --after '{next}'");
    }
}

/// Licences, reclamation, renewals, overlaps and manual entry; the rest goes to
/// [`run_inventory`].
async fn run_more(cmd: AppsInventoryCommand) -> CliResult {
    match cmd {
        AppsInventoryCommand::Licensing(a) => {
            let mut changes = SaasLicensingChanges::default();
            if let Some(raw) = &a.seats_bought {
                changes.seats_bought = Some(number_or(raw, "none", "--seats-bought")?);
            }
            if let Some(raw) = &a.idle_days {
                changes.idle_days = Some(number_or(raw, "default", "--idle-days")?);
            }
            let (directory, tenant) = open(&a.app.tenant).await?;
            if let Some(raw) = &a.sku {
                changes.sku = Some(if raw.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(
                        super::licenses::find_sku(&directory, tenant, raw)
                            .await?
                            .sku_id,
                    )
                });
            }
            let id = find(&directory, tenant, &a.app.app).await?;
            let l = directory
                .set_saas_licensing(&OPERATOR, tenant, id, changes)
                .await?;
            if a.app.tenant.json {
                output::json(&licensing_json(&l));
            } else {
                output::fields(&[
                    (
                        "Seats bought",
                        l.seats_bought
                            .map_or_else(|| "from the contracts".into(), |s| s.to_string()),
                    ),
                    ("Idle after (days)", l.idle_days().to_string()),
                    ("SKU", l.sku.map(|s| s.to_string()).unwrap_or_default()),
                ]);
            }
        }
        AppsInventoryCommand::Licenses(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let id = find(&directory, tenant, &a.app).await?;
            let r = directory.saas_licenses(&OPERATOR, tenant, id).await?;
            let exponent = r.cost.as_ref().map(|c| c.exponent);
            let seats_bought = r
                .cost
                .as_ref()
                .and_then(|c| c.seats_bought)
                .or(r.licensing.seats_bought);
            if a.tenant.json {
                output::json(&json!({
                    "appId": r.app_id.to_string(),
                    "settings": licensing_json(&r.licensing),
                    "seatsBought": seats_bought,
                    "seatsAssigned": r.seats_assigned,
                    "idleSeats": r.idle.len(),
                    "cost": cost_json(r.cost.as_ref()),
                    "savingPerMonth": amount(Some(r.saving_monthly_minor), exponent),
                    "currency": r.cost.as_ref().map(|c| c.currency.clone()),
                    "idle": r.idle.iter().map(seat_json).collect::<Vec<_>>(),
                }));
            } else {
                let currency = r
                    .cost
                    .as_ref()
                    .map(|c| c.currency.clone())
                    .unwrap_or_default();
                output::fields(&[
                    (
                        "Seats bought",
                        seats_bought.map(|s| s.to_string()).unwrap_or_default(),
                    ),
                    ("Seats assigned", r.seats_assigned.to_string()),
                    ("Idle seats", r.idle.len().to_string()),
                    (
                        "Saving/month",
                        amount(Some(r.saving_monthly_minor), exponent)
                            .map(|a| format!("{a} {currency}"))
                            .unwrap_or_default(),
                    ),
                ]);
                let rows: Vec<Vec<String>> = r.idle.iter().map(seat_row).collect();
                output::table(&SEAT_HEADERS, &rows);
            }
        }
        AppsInventoryCommand::Reclaim(a) => match (&a.app, &a.user) {
            (Some(app), Some(user)) => {
                let user = UserRef::parse(user)?;
                let (directory, tenant) = open(&a.tenant).await?;
                let data_dir = &a.tenant.store.data_dir;
                // The notice to the user is sealed with the master key; without one the seat is
                // still reclaimed, and the operator is told the user was not.
                let keyed = data_dir.join("master.key").exists();
                let directory = if keyed {
                    directory.with_master_key(super::serve::master_key_at(data_dir, None)?)
                } else {
                    directory
                };
                let id = find(&directory, tenant, app).await?;
                let seat = directory
                    .reclaim_saas_seat(&OPERATOR, tenant, id, &user)
                    .await?;
                if a.tenant.json {
                    output::json(&seat_json(&seat));
                } else {
                    println!(
                        "Reclaimed the {} seat of {}.",
                        seat.app_name,
                        seat.user_principal_name
                            .clone()
                            .unwrap_or_else(|| seat.user_id.to_string())
                    );
                }
                if !keyed {
                    eprintln!(
                        "No master key in the data directory: the user was not told (start `latchkey serve` once)."
                    );
                }
            }
            (Some(_), None) => {
                return Err(CliError(
                    "give the user whose seat to reclaim after the app, or neither to list idle seats".into(),
                ));
            }
            _ => {
                let (directory, tenant) = open(&a.tenant).await?;
                let page = directory
                    .saas_reclamation(&OPERATOR, tenant, a.after.clone(), a.top)
                    .await?;
                if a.tenant.json {
                    output::json(&json!({
                        "value": page.items.iter().map(seat_json).collect::<Vec<_>>(),
                        "next": page.next,
                    }));
                } else {
                    let rows: Vec<Vec<String>> = page.items.iter().map(seat_row).collect();
                    output::table(&SEAT_HEADERS, &rows);
                    print_next(page.next.as_ref());
                }
            }
        },
        AppsInventoryCommand::Renewals(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let page = directory
                .upcoming_saas_renewals_page(&OPERATOR, tenant, a.after.clone(), a.top)
                .await?;
            let today = directory.clock().now().date_naive();
            if a.tenant.json {
                output::json(&json!({
                    "value": page.items.iter().map(|r| renewal_json(r, today)).collect::<Vec<_>>(),
                    "next": page.next,
                }));
            } else {
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|r| {
                        let c = &r.contract;
                        vec![
                            c.cancellation_deadline().to_string(),
                            (c.cancellation_deadline() - today).num_days().to_string(),
                            r.app_name.clone(),
                            c.end.to_string(),
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
                output::table(
                    &["CANCEL BY", "DAYS LEFT", "APP", "END", "AUTO-RENEW", "COST"],
                    &rows,
                );
                print_next(page.next.as_ref());
            }
        }
        AppsInventoryCommand::Overlaps(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let page = directory
                .saas_overlaps_page(&OPERATOR, tenant, a.after.clone(), a.top)
                .await?;
            if a.tenant.json {
                output::json(&json!({
                    "value": page.items.iter().map(|g| json!({
                        "category": g.category,
                        "apps": g.apps.iter().map(|x| {
                            let mut out = app_json(&x.app);
                            if let Value::Object(map) = &mut out {
                                map.insert("cost".into(), cost_json(x.cost.as_ref()));
                            }
                            out
                        }).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "next": page.next,
                }));
            } else {
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .flat_map(|g| {
                        g.apps.iter().map(|x| {
                            vec![
                                g.category.clone(),
                                x.app.name.clone(),
                                x.app.state.as_str().to_owned(),
                                x.app.user_count.to_string(),
                                x.cost
                                    .as_ref()
                                    .map(|c| {
                                        format!(
                                            "{} {}",
                                            format_amount(c.monthly_cost_minor, c.exponent),
                                            c.currency
                                        )
                                    })
                                    .unwrap_or_default(),
                            ]
                        })
                    })
                    .collect();
                output::table(&["CATEGORY", "APP", "STATE", "USERS", "COST/MONTH"], &rows);
                print_next(page.next.as_ref());
            }
        }
        AppsInventoryCommand::RenewalOffsets(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let offsets = match a.set {
                Some(set) => {
                    directory
                        .set_saas_renewal_offsets(&OPERATOR, tenant, set)
                        .await?
                }
                None => directory.saas_renewal_offsets(&OPERATOR, tenant).await?,
            };
            if a.tenant.json {
                output::json(&json!({ "renewalAlertDays": offsets }));
            } else {
                println!(
                    "Renewal alerts go out {} days before a cancellation deadline.",
                    offsets
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        AppsInventoryCommand::Add(a) => {
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
            let owner = a.owner.as_deref().map(UserRef::parse).transpose()?;
            let (directory, tenant) = open(&a.tenant).await?;
            let (app, _) = directory
                .add_saas_app(
                    &OPERATOR,
                    tenant,
                    NewSaasApp {
                        name: a.name.clone(),
                        vendor: a.vendor.clone(),
                        category: a.category.clone(),
                        owner,
                        state,
                        contract: None,
                    },
                )
                .await?;
            if a.tenant.json {
                output::json(&app_json(&app));
            } else {
                println!("Added {} ({}), {}.", app.name, app.id, app.state.as_str());
            }
        }
        AppsInventoryCommand::Discover(a) => return super::apps_inventory_discover::run(a).await,
        other => return run_inventory(other).await,
    }
    Ok(())
}

pub async fn run(cmd: AppsInventoryCommand) -> CliResult {
    run_more(cmd).await
}

/// The inventory itself: list, show, review, contracts, idle users, expense import.
async fn run_inventory(cmd: AppsInventoryCommand) -> CliResult {
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
        AppsInventoryCommand::Licensing(_)
        | AppsInventoryCommand::Licenses(_)
        | AppsInventoryCommand::Reclaim(_)
        | AppsInventoryCommand::Renewals(_)
        | AppsInventoryCommand::Overlaps(_)
        | AppsInventoryCommand::RenewalOffsets(_)
        | AppsInventoryCommand::Add(_)
        | AppsInventoryCommand::Discover(_) => {
            // `run` sends these to `run_more`, which handles them.
            return Err(CliError("not an inventory command".into()));
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
