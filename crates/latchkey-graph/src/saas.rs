//! The SaaS inventory under `/v1.0/latchkey/saas/apps` (a Latchkey extension, not a Graph
//! resource): the list (by name, `$top`, `$filter=state eq '…'`, absolute
//! `@odata.nextLink` paging), one app with its users and evidence, and `PATCH` of its state
//! and owner. Read with `Directory.Read.All`, changed with `Directory.ReadWrite.All` or as a
//! Global Administrator; decided in core.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::DirectoryError;
use latchkey_core::directory::SaasAppChanges;
use latchkey_core::ids::SaasAppId;
use latchkey_core::saas::{SaasApp, SaasAppDetail, SaasAppState, SaasQuery, risky_permissions};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response, user_ref};
use crate::list::decode_skiptoken;
use crate::odata::parse_top;
use crate::user::timestamp;

const DEFAULT_TOP: u32 = 100;
const SET: &str = "latchkey/saas/apps";

/// Core's refusals in this resource's words.
pub(crate) fn saas_error(e: DirectoryError) -> GraphError {
    match e {
        DirectoryError::Invalid { property, message } => GraphError::bad_request(format!(
            "Invalid value specified for property '{property}' of resource 'saasApp': {message}"
        )),
        DirectoryError::Conflict(message) => GraphError::new(
            StatusCode::CONFLICT,
            "Request_ConcurrencyViolation",
            message,
        ),
        other => other.into(),
    }
}

pub(crate) fn app_json(a: &SaasApp) -> Value {
    json!({
        "id": a.id.to_string(),
        "displayName": a.name,
        "vendor": a.vendor,
        "category": a.category,
        "catalogueKey": a.catalogue_key,
        "state": a.state.as_str(),
        "ownerId": a.owner.map(|o| o.to_string()),
        "appId": a.latchkey_app_id.map(|x| x.to_string()),
        "permissions": a.permissions,
        "riskyPermissions": risky_permissions(&a.permissions),
        "userCount": a.user_count,
        "createdDateTime": timestamp(a.created),
        "lastModifiedDateTime": timestamp(a.updated),
    })
}

fn detail_json(state: &GraphState, d: &SaasAppDetail) -> Value {
    let mut out = app_json(&d.app);
    if let Value::Object(map) = &mut out {
        map.insert(
            "@odata.context".into(),
            json!(format!("{}/$entity", context(state, SET))),
        );
        map.insert(
            "users".into(),
            d.users
                .iter()
                .map(|u| {
                    json!({
                        "userId": u.user_id.to_string(),
                        "firstSeenDateTime": timestamp(u.first_seen),
                        "lastUsedDateTime": timestamp(u.last_used),
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
                        "dateTime": timestamp(e.at),
                        "userId": e.user_id.map(|u| u.to_string()),
                        "detail": e.detail,
                    })
                })
                .collect(),
        );
    }
    out
}

/// `state eq 'sanctioned'`, the one filter the list takes.
fn parse_state_filter(raw: &str) -> Result<SaasAppState, GraphError> {
    let bad = || {
        GraphError::bad_request(format!(
            "Invalid filter clause: only state eq '<state>' is supported here, not '{}'.",
            clip(raw)
        ))
    };
    let mut parts = raw.split_whitespace();
    let (Some(property), Some(op), Some(value), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if property != "state" || !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(bad)?;
    SaasAppState::parse(value).ok_or_else(|| {
        GraphError::bad_request(format!(
            "Invalid filter clause: '{}' is not a state; states are discovered, underReview, sanctioned, unsanctioned, retired.",
            clip(value)
        ))
    })
}

/// `GET /v1.0/latchkey/saas/apps`.
pub(crate) async fn list_apps(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let mut query = SaasQuery {
        limit: DEFAULT_TOP,
        ..SaasQuery::default()
    };
    for (key, value) in &pairs {
        match key.to_ascii_lowercase().as_str() {
            "$top" => query.limit = parse_top(value)?,
            "$skiptoken" => query.after = Some(decode_skiptoken(value)?),
            "$filter" => query.state = Some(parse_state_filter(value)?),
            k if k.starts_with('$') => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on the SaaS inventory.",
                    clip(key)
                )));
            }
            _ => {}
        }
    }
    let page = state
        .directory
        .list_saas_apps(&caller.actor, caller.tenant, &query)
        .await
        .map_err(saas_error)?;
    let mut out = json!({
        "@odata.context": context(&state, SET),
        "value": page.items.iter().map(app_json).collect::<Vec<_>>(),
    });
    if let (Some(next), Value::Object(map)) = (page.next, &mut out) {
        let mut keep: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect();
        keep.push(("$skiptoken".into(), URL_SAFE_NO_PAD.encode(next)));
        let query = serde_urlencoded::to_string(&keep).unwrap_or_default();
        map.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/v1.0/{SET}?{query}", state.public_url)),
        );
    }
    Ok(json_response(StatusCode::OK, &out))
}

pub(crate) fn app_id(raw: &str) -> Result<SaasAppId, GraphError> {
    raw.parse().map_err(|_| GraphError::not_found(raw))
}

/// `GET /v1.0/latchkey/saas/apps/{id}`.
pub(crate) async fn get_app(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let id = app_id(&id)?;
    let detail = state
        .directory
        .get_saas_app(&caller.actor, caller.tenant, id)
        .await
        .map_err(saas_error)?;
    Ok(json_response(StatusCode::OK, &detail_json(&state, &detail)))
}

/// `PATCH /v1.0/latchkey/saas/apps/{id}` with `state` and/or `ownerId` (an id or a UPN;
/// `null` removes the owner).
pub(crate) async fn update_app(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let id = app_id(&id)?;
    let map = body::object(&bytes)?;
    let mut changes = SaasAppChanges::default();
    for (k, v) in &map {
        match k.as_str() {
            "state" => {
                let s = v.as_str().ok_or_else(|| {
                    GraphError::bad_request(
                        "Invalid value specified for property 'state' of resource 'saasApp': expected a string.",
                    )
                })?;
                changes.state = Some(SaasAppState::parse(s).ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Invalid value specified for property 'state' of resource 'saasApp': '{}' is not a state; states are discovered, underReview, sanctioned, unsanctioned, retired.",
                        clip(s)
                    ))
                })?);
            }
            "ownerId" => {
                changes.owner = Some(match v {
                    Value::Null => None,
                    Value::String(s) => Some(user_ref(s).map_err(|_| {
                        GraphError::bad_request(format!(
                            "Invalid value specified for property 'ownerId' of resource 'saasApp': '{}' is neither a user id nor a user principal name.",
                            clip(s)
                        ))
                    })?),
                    _ => {
                        return Err(GraphError::bad_request(
                            "Invalid value specified for property 'ownerId' of resource 'saasApp': expected a string or null.",
                        ));
                    }
                });
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' does not exist on resource 'saasApp' or cannot be changed; only state and ownerId can.",
                    clip(other)
                )));
            }
        }
    }
    let app = state
        .directory
        .update_saas_app(&caller.actor, caller.tenant, id, changes)
        .await
        .map_err(saas_error)?;
    Ok(json_response(StatusCode::OK, &app_json(&app)))
}

pub(crate) fn contract_json(c: &latchkey_core::saas::SaasContract) -> Value {
    json!({
        "id": c.id.to_string(),
        "startDate": c.start.to_string(),
        "endDate": c.end.to_string(),
        "noticePeriodDays": c.notice_days,
        "cancellationDeadline": c.cancellation_deadline().to_string(),
        "autoRenew": c.auto_renew,
        "cost": latchkey_core::saas::format_amount(c.cost_minor, c.exponent),
        "currency": c.currency,
        "billingPeriod": c.billing_period.as_str(),
        "seats": c.seats,
    })
}

/// `GET /v1.0/latchkey/saas/apps/{id}/contracts`: the app's contracts with their
/// cancellation deadlines, by start date.
pub(crate) async fn list_contracts(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let id = app_id(&id)?;
    // The app itself first, so that an unknown one is 404 rather than an empty list.
    state
        .directory
        .get_saas_app(&caller.actor, caller.tenant, id)
        .await
        .map_err(saas_error)?;
    let contracts = state
        .directory
        .saas_contracts(&caller.actor, caller.tenant, id)
        .await
        .map_err(saas_error)?;
    let out = json!({
        "@odata.context": context(&state, &format!("{SET}('{id}')/contracts")),
        "value": contracts.iter().map(contract_json).collect::<Vec<_>>(),
    });
    Ok(json_response(StatusCode::OK, &out))
}

/// `GET /v1.0/latchkey/saas/apps/{id}/idleUsers?days=N`: users with no use in N days (60
/// by default), longest idle first.
pub(crate) async fn list_idle_users(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let id = app_id(&id)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let mut days = None;
    for (key, value) in &pairs {
        match key.as_str() {
            "days" => {
                days = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|d| (1..=3650).contains(d))
                        .ok_or_else(|| {
                            GraphError::bad_request(format!(
                                "The query parameter 'days' must be a whole number of days from 1 to 3650, not '{}'.",
                                clip(value)
                            ))
                        })?,
                );
            }
            other => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on idleUsers.",
                    clip(other)
                )));
            }
        }
    }
    let idle = state
        .directory
        .idle_saas_users(&caller.actor, caller.tenant, id, days)
        .await
        .map_err(saas_error)?;
    let out = json!({
        "@odata.context": context(&state, &format!("{SET}('{id}')/idleUsers")),
        "value": idle.iter().map(|u| json!({
            "userId": u.user_id.to_string(),
            "lastUsedDateTime": timestamp(u.last_used),
        })).collect::<Vec<_>>(),
    });
    Ok(json_response(StatusCode::OK, &out))
}
