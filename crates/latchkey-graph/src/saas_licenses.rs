//! SaaS licences, reclamation, renewals and manual entry under `/v1.0/latchkey/saas/...` (a
//! Latchkey extension, not a Graph resource): an app's licences and its licensing settings,
//! the tenant's reclamation list and reclaiming one seat, the renewal calendar and its alert
//! offsets, the overlap report, an app entered by hand and a contract for an app. Lists page
//! by `$top` and an absolute `@odata.nextLink`. Read with `Directory.Read.All`, changed with
//! `Directory.ReadWrite.All` or as a Global Administrator; every rule is core's
//! (`directory::saas_licenses`), a bad body is refused here naming the property.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::directory::{NewSaasApp, UserRef};
use latchkey_core::ids::SkuId;
use latchkey_core::saas::{BillingPeriod, NewContract, SaasAppState, format_amount};
use latchkey_core::saas_license::{
    IdleSeat, OverlapGroup, RenewalRow, SaasLicenseReport, SaasLicensing, SaasLicensingChanges,
    SeatCost,
};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::body;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response};
use crate::list::decode_skiptoken;
use crate::odata::parse_top;
use crate::saas::{app_id, app_json, contract_json, saas_error};
use crate::user::timestamp;

const DEFAULT_TOP: u32 = 100;

/// `Invalid value specified for property 'p' of resource 'r': message`.
fn invalid(resource: &str, property: &str, message: impl std::fmt::Display) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{property}' of resource '{resource}': {message}"
    ))
}

/// `$top` and `$skiptoken`, the only query options of these lists.
fn paging(raw: Option<&str>, what: &str) -> Result<(u32, Option<String>), GraphError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let mut top = DEFAULT_TOP;
    let mut after = None;
    for (key, value) in &pairs {
        match key.to_ascii_lowercase().as_str() {
            "$top" => top = parse_top(value)?,
            "$skiptoken" => after = Some(decode_skiptoken(value)?),
            _ => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on {what}; only $top and $skiptoken are.",
                    clip(key)
                )));
            }
        }
    }
    Ok((top, after))
}

/// `{ @odata.context, value, @odata.nextLink? }` for a page of `set`.
fn page_json(
    state: &GraphState,
    set: &str,
    top: u32,
    value: &[Value],
    next: Option<String>,
) -> Value {
    let mut out = json!({
        "@odata.context": context(state, set),
        "value": value,
    });
    if let (Some(next), Value::Object(map)) = (next, &mut out) {
        let query = serde_urlencoded::to_string([
            ("$top", top.to_string()),
            ("$skiptoken", URL_SAFE_NO_PAD.encode(next)),
        ])
        .unwrap_or_default();
        map.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/v1.0/{set}?{query}", state.public_url)),
        );
    }
    out
}

fn amount(minor: Option<i64>, exponent: Option<u8>) -> Value {
    match (minor, exponent) {
        (Some(m), Some(e)) => json!(format_amount(m, e)),
        _ => Value::Null,
    }
}

fn seat_json(s: &IdleSeat) -> Value {
    json!({
        "appId": s.app_id.to_string(),
        "appDisplayName": s.app_name,
        "userId": s.user_id.to_string(),
        "userPrincipalName": s.user_principal_name,
        "firstSeenDateTime": timestamp(s.first_seen),
        "lastUsedDateTime": timestamp(s.last_used),
        "idleDays": s.idle_days,
        "savingPerMonth": amount(s.saving_monthly_minor, s.exponent),
        "currency": s.currency,
    })
}

fn licensing_json(l: &SaasLicensing) -> Value {
    json!({
        "seatsBought": l.seats_bought,
        "idleDays": l.idle_days(),
        "skuId": l.sku.map(|s| s.to_string()),
    })
}

fn cost_json(c: Option<&SeatCost>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "seatsBought": c.seats_bought,
            "monthlyCost": format_amount(c.monthly_cost_minor, c.exponent),
            "costPerSeatPerMonth": amount(c.per_seat_monthly_minor, Some(c.exponent)),
            "currency": c.currency,
        }),
    }
}

fn report_json(state: &GraphState, r: &SaasLicenseReport) -> Value {
    let exponent = r.cost.as_ref().map(|c| c.exponent);
    json!({
        "@odata.context": context(state, &format!("latchkey/saas/apps('{}')/licenses/$entity", r.app_id)),
        "appId": r.app_id.to_string(),
        "settings": licensing_json(&r.licensing),
        "seatsBought": r.cost.as_ref().and_then(|c| c.seats_bought).or(r.licensing.seats_bought),
        "seatsAssigned": r.seats_assigned,
        "idleSeats": r.idle.len(),
        "cost": cost_json(r.cost.as_ref()),
        "savingPerMonth": amount(Some(r.saving_monthly_minor), exponent),
        "currency": r.cost.as_ref().map(|c| c.currency.clone()),
        "idle": r.idle.iter().map(seat_json).collect::<Vec<_>>(),
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

fn overlap_json(g: &OverlapGroup) -> Value {
    json!({
        "category": g.category,
        "apps": g.apps.iter().map(|a| {
            let mut out = app_json(&a.app);
            if let Value::Object(map) = &mut out {
                map.insert("cost".into(), cost_json(a.cost.as_ref()));
            }
            out
        }).collect::<Vec<_>>(),
    })
}

/// `GET /v1.0/latchkey/saas/apps/{id}/licenses`: seats bought and assigned, the idle seats
/// with their saving per month.
pub(crate) async fn get_licenses(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let id = app_id(&id)?;
    let report = state
        .directory
        .saas_licenses(&caller.actor, caller.tenant, id)
        .await
        .map_err(saas_error)?;
    Ok(json_response(StatusCode::OK, &report_json(&state, &report)))
}

/// An optional whole number no larger than `max`, or `null`.
fn nullable_u32(resource: &str, key: &str, v: &Value, max: u64) -> Result<Option<u32>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .filter(|n| *n <= max)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    resource,
                    key,
                    format!("expected a whole number from 0 to {max}, not {n}"),
                )
            }),
        _ => Err(invalid(resource, key, "expected a whole number or null")),
    }
}

/// `PATCH /v1.0/latchkey/saas/apps/{id}/licensing` with `seatsBought`, `idleDays` and/or
/// `skuId` (each `null` to clear).
pub(crate) async fn update_licensing(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    const R: &str = "saasLicensing";
    let id = app_id(&id)?;
    let map = body::object(&bytes)?;
    let mut changes = SaasLicensingChanges::default();
    for (k, v) in &map {
        match k.as_str() {
            "seatsBought" => {
                changes.seats_bought = Some(nullable_u32(R, k, v, u64::from(u32::MAX))?);
            }
            "idleDays" => changes.idle_days = Some(nullable_u32(R, k, v, u64::from(u32::MAX))?),
            "skuId" => {
                changes.sku = Some(match v {
                    Value::Null => None,
                    Value::String(s) => Some(
                        s.parse::<SkuId>()
                            .map_err(|_| invalid(R, k, format!("'{}' is not a SKU id", clip(s))))?,
                    ),
                    _ => return Err(invalid(R, k, "expected a SKU id or null")),
                });
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' does not exist on resource '{R}'; only seatsBought, idleDays and skuId can be set.",
                    clip(other)
                )));
            }
        }
    }
    let licensing = state
        .directory
        .set_saas_licensing(&caller.actor, caller.tenant, id, changes)
        .await
        .map_err(saas_error)?;
    Ok(json_response(StatusCode::OK, &licensing_json(&licensing)))
}

/// `GET /v1.0/latchkey/saas/reclamation`: the tenant's idle seats, by app then user. A page
/// may hold fewer than `$top` seats; follow `@odata.nextLink`.
pub(crate) async fn list_reclamation(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let (top, after) = paging(raw.as_deref(), "the reclamation list")?;
    let page = state
        .directory
        .saas_reclamation(&caller.actor, caller.tenant, after, top)
        .await
        .map_err(saas_error)?;
    let value: Vec<Value> = page.items.iter().map(seat_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_json(&state, "latchkey/saas/reclamation", top, &value, page.next),
    ))
}

/// `POST /v1.0/latchkey/saas/apps/{id}/reclaim` with `userId` (an id or a UPN): the seat
/// leaves the app (with its Latchkey licence when the app's seats are a SKU) and the user is
/// told.
pub(crate) async fn reclaim(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    const R: &str = "seatReclaim";
    let id = app_id(&id)?;
    let map = body::object(&bytes)?;
    let mut user = None;
    for (k, v) in &map {
        match (k.as_str(), v) {
            ("userId", Value::String(s)) => {
                user = Some(UserRef::parse(s).map_err(|_| {
                    invalid(
                        R,
                        k,
                        format!(
                            "'{}' is neither a user id nor a user principal name",
                            clip(s)
                        ),
                    )
                })?);
            }
            ("userId", _) => return Err(invalid(R, k, "expected a string")),
            (other, _) => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' does not exist on resource '{R}'; send userId.",
                    clip(other)
                )));
            }
        }
    }
    let user =
        user.ok_or_else(|| invalid(R, "userId", "the user whose seat to reclaim is required"))?;
    let seat = state
        .directory
        .reclaim_saas_seat(&caller.actor, caller.tenant, id, &user)
        .await
        .map_err(saas_error)?;
    Ok(json_response(StatusCode::OK, &seat_json(&seat)))
}

/// `GET /v1.0/latchkey/saas/renewals`: contracts whose cancellation deadline is today or
/// later, by deadline.
pub(crate) async fn list_renewals(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let (top, after) = paging(raw.as_deref(), "renewals")?;
    let page = state
        .directory
        .upcoming_saas_renewals_page(&caller.actor, caller.tenant, after, top)
        .await
        .map_err(saas_error)?;
    let today = state.directory.clock().now().date_naive();
    let value: Vec<Value> = page.items.iter().map(|r| renewal_json(r, today)).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_json(&state, "latchkey/saas/renewals", top, &value, page.next),
    ))
}

/// `GET /v1.0/latchkey/saas/overlaps`: categories with more than one app in use, each app
/// with its users and current cost.
pub(crate) async fn list_overlaps(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let (top, after) = paging(raw.as_deref(), "overlaps")?;
    let page = state
        .directory
        .saas_overlaps_page(&caller.actor, caller.tenant, after, top)
        .await
        .map_err(saas_error)?;
    let value: Vec<Value> = page.items.iter().map(overlap_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_json(&state, "latchkey/saas/overlaps", top, &value, page.next),
    ))
}

fn offsets_json(state: &GraphState, offsets: &[u32]) -> Value {
    json!({
        "@odata.context": context(state, "latchkey/saas/renewalSettings/$entity"),
        "renewalAlertDays": offsets,
    })
}

/// `GET /v1.0/latchkey/saas/renewalSettings`: the days before a cancellation deadline at
/// which alerts go out.
pub(crate) async fn get_renewal_settings(
    caller: Caller,
    State(state): State<GraphState>,
) -> Result<Response, GraphError> {
    let offsets = state
        .directory
        .saas_renewal_offsets(&caller.actor, caller.tenant)
        .await
        .map_err(saas_error)?;
    Ok(json_response(
        StatusCode::OK,
        &offsets_json(&state, &offsets),
    ))
}

/// `PATCH /v1.0/latchkey/saas/renewalSettings` with `renewalAlertDays` (1 to 10 whole
/// numbers of days).
pub(crate) async fn update_renewal_settings(
    caller: Caller,
    State(state): State<GraphState>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    const R: &str = "saasRenewalSettings";
    let map = body::object(&bytes)?;
    let mut offsets = None;
    for (k, v) in &map {
        match k.as_str() {
            "renewalAlertDays" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| invalid(R, k, "expected an array of whole numbers of days"))?;
                let mut days = Vec::with_capacity(list.len());
                for d in list {
                    days.push(
                        d.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                invalid(R, k, format!("{d} is not a whole number of days"))
                            })?,
                    );
                }
                offsets = Some(days);
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' does not exist on resource '{R}'; only renewalAlertDays can be set.",
                    clip(other)
                )));
            }
        }
    }
    let offsets =
        offsets.ok_or_else(|| invalid(R, "renewalAlertDays", "the alert days are required"))?;
    let offsets = state
        .directory
        .set_saas_renewal_offsets(&caller.actor, caller.tenant, offsets)
        .await
        .map_err(saas_error)?;
    Ok(json_response(
        StatusCode::OK,
        &offsets_json(&state, &offsets),
    ))
}

fn text(resource: &str, key: &str, v: &Value) -> Result<Option<String>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(invalid(resource, key, "expected a string or null")),
    }
}

fn date(resource: &str, key: &str, v: Option<&Value>) -> Result<chrono::NaiveDate, GraphError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(resource, key, "a date like 2026-12-31 is required"))?;
    s.parse().map_err(|_| {
        invalid(
            resource,
            key,
            format!("'{}' is not a date like 2026-12-31", clip(s)),
        )
    })
}

/// A contract body: `startDate`, `endDate`, `cost` (a decimal string or number) and
/// `currency` required; `noticePeriodDays`, `autoRenew`, `billingPeriod` (annual by default)
/// and `seats` optional. The rules (end after start, notice shorter than the contract, no
/// negative cost) are core's.
fn new_contract(map: &Map<String, Value>) -> Result<NewContract, GraphError> {
    const R: &str = "saasContract";
    const KNOWN: &[&str] = &[
        "startDate",
        "endDate",
        "noticePeriodDays",
        "autoRenew",
        "cost",
        "currency",
        "billingPeriod",
        "seats",
    ];
    if let Some(k) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(GraphError::bad_request(format!(
            "Property '{}' does not exist on resource '{R}'.",
            clip(k)
        )));
    }
    let start = date(R, "startDate", map.get("startDate"))?;
    let end = date(R, "endDate", map.get("endDate"))?;
    let notice_days = match map.get("noticePeriodDays") {
        None => 0,
        Some(v) => nullable_u32(R, "noticePeriodDays", v, 36_500)?.unwrap_or(0),
    };
    let auto_renew = match map.get("autoRenew") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(R, "autoRenew", "expected true or false")),
    };
    let cost = match map.get("cost") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(invalid(R, "cost", "an amount like \"1200.00\" is required")),
    };
    let currency = map
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(R, "currency", "an ISO 4217 code like EUR is required"))?;
    let (cost_minor, currency, exponent) =
        latchkey_saas::parse_money(&cost, currency).map_err(|message| {
            // Which of the two was wrong: the currency is checked first.
            if latchkey_saas::parse_money("0", currency).is_err() {
                invalid(R, "currency", message)
            } else {
                invalid(R, "cost", message)
            }
        })?;
    let billing_period = match map.get("billingPeriod") {
        None | Some(Value::Null) => BillingPeriod::Annual,
        Some(Value::String(s)) => BillingPeriod::parse(s).ok_or_else(|| {
            invalid(
                R,
                "billingPeriod",
                format!("'{}' is not monthly, quarterly or annual", clip(s)),
            )
        })?,
        Some(_) => return Err(invalid(R, "billingPeriod", "expected a string")),
    };
    let seats = match map.get("seats") {
        None => None,
        Some(v) => nullable_u32(R, "seats", v, u64::from(u32::MAX))?,
    };
    Ok(NewContract {
        start,
        end,
        notice_days,
        auto_renew,
        cost_minor,
        currency,
        exponent,
        billing_period,
        seats,
    })
}

/// `POST /v1.0/latchkey/saas/apps/{id}/contracts`: records a contract for the app.
pub(crate) async fn add_contract(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let id = app_id(&id)?;
    let map = body::object(&bytes)?;
    let new = new_contract(&map)?;
    let c = state
        .directory
        .add_saas_contract(&caller.actor, caller.tenant, id, new)
        .await
        .map_err(saas_error)?;
    Ok(json_response(StatusCode::CREATED, &contract_json(&c)))
}

/// `POST /v1.0/latchkey/saas/apps`: an app entered by hand with `displayName` and optional
/// `vendor`, `category`, `ownerId` (an id or a UPN), `state` and a first `contract`.
pub(crate) async fn add_app(
    caller: Caller,
    State(state): State<GraphState>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    const R: &str = "saasApp";
    let map = body::object(&bytes)?;
    let mut new = NewSaasApp {
        name: String::new(),
        vendor: None,
        category: None,
        owner: None,
        state: None,
        contract: None,
    };
    let mut named = false;
    for (k, v) in &map {
        match k.as_str() {
            "displayName" => {
                new.name = v
                    .as_str()
                    .ok_or_else(|| invalid(R, k, "expected a string"))?
                    .to_owned();
                named = true;
            }
            "vendor" => new.vendor = text(R, k, v)?,
            "category" => new.category = text(R, k, v)?,
            "ownerId" => {
                new.owner = match text(R, k, v)? {
                    None => None,
                    Some(s) => Some(UserRef::parse(&s).map_err(|_| {
                        invalid(
                            R,
                            k,
                            format!(
                                "'{}' is neither a user id nor a user principal name",
                                clip(&s)
                            ),
                        )
                    })?),
                };
            }
            "state" => {
                new.state = match text(R, k, v)? {
                    None => None,
                    Some(s) => Some(SaasAppState::parse(&s).ok_or_else(|| {
                        invalid(
                            R,
                            k,
                            format!(
                                "'{}' is not a state; states are discovered, underReview, sanctioned, unsanctioned, retired",
                                clip(&s)
                            ),
                        )
                    })?),
                };
            }
            "contract" => {
                new.contract = match v {
                    Value::Null => None,
                    Value::Object(c) => Some(new_contract(c)?),
                    _ => return Err(invalid(R, k, "expected an object or null")),
                };
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' does not exist on resource '{R}' or cannot be set; send displayName, vendor, category, ownerId, state and contract.",
                    clip(other)
                )));
            }
        }
    }
    if !named {
        return Err(invalid(R, "displayName", "the app's name is required"));
    }
    let (app, contract) = state
        .directory
        .add_saas_app(&caller.actor, caller.tenant, new)
        .await
        .map_err(|e| match e {
            // Core names the owner; this resource calls it ownerId.
            latchkey_core::DirectoryError::Invalid { property, message } if property == "owner" => {
                invalid(R, "ownerId", message)
            }
            other => saas_error(other),
        })?;
    let mut out = app_json(&app);
    if let Value::Object(map) = &mut out {
        map.insert(
            "@odata.context".into(),
            json!(context(&state, "latchkey/saas/apps/$entity")),
        );
        map.insert(
            "contracts".into(),
            json!(contract.iter().map(contract_json).collect::<Vec<_>>()),
        );
    }
    Ok(json_response(StatusCode::CREATED, &out))
}
