//! Licences in Graph's shapes: `GET /subscribedSkus`, `POST /users/{id}/assignLicense`,
//! `GET /users/{id}/licenseDetails`, and a user's `assignedLicenses` when `$select` names it
//! (read for a whole page in one call).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::ids::{SkuId, UserId};
use latchkey_core::license::{AssignedLicense, LicenseChange, SkuUsage};
use latchkey_core::user::User;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response, user_ref};
use crate::user::to_json;

/// The property name in `$select`.
pub const ASSIGNED_LICENSES: &str = "assignedLicenses";

fn sku_json(usage: &SkuUsage) -> Value {
    let sku = &usage.sku;
    json!({
        "id": sku.graph_id(),
        "accountId": sku.tenant_id.to_string(),
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": usage.consumed,
        "prepaidUnits": { "enabled": sku.seats, "suspended": 0, "warning": 0, "lockedOut": 0 },
        "servicePlans": sku.service_plans.iter().map(|p| json!({
            "servicePlanId": p.id.to_string(),
            "servicePlanName": p.name,
            "provisioningStatus": "Success",
            "appliesTo": "User",
        })).collect::<Vec<_>>(),
        "skuId": sku.sku_id.to_string(),
        "skuPartNumber": sku.sku_part_number,
        "subscriptionIds": [],
    })
}

pub(crate) fn assigned_json(licenses: &[AssignedLicense]) -> Value {
    Value::Array(
        licenses
            .iter()
            .map(|l| {
                json!({
                    "disabledPlans": l.disabled_plans.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "skuId": l.sku_id.to_string(),
                })
            })
            .collect(),
    )
}

/// Adds `assignedLicenses` to rendered users (in the order of `users`) when the selection
/// names it; one directory call for all of them.
pub(crate) async fn fill_assigned(
    state: &GraphState,
    caller: &Caller,
    select: Option<&[&str]>,
    users: &[UserId],
    items: &mut [Value],
) -> Result<(), GraphError> {
    if !select.is_some_and(|s| s.contains(&ASSIGNED_LICENSES)) {
        return Ok(());
    }
    let mut held = state
        .directory
        .licenses_of(&caller.actor, caller.tenant, users)
        .await?;
    for (id, item) in users.iter().zip(items.iter_mut()) {
        if let Value::Object(map) = item {
            let licenses = held.remove(id).unwrap_or_default();
            map.insert(ASSIGNED_LICENSES.into(), assigned_json(&licenses));
        }
    }
    Ok(())
}

/// A user rendered with the selection, `assignedLicenses` included when named.
pub(crate) async fn user_json(
    state: &GraphState,
    caller: &Caller,
    user: &User,
    select: Option<&[&str]>,
) -> Result<Value, GraphError> {
    let mut items = [to_json(user, select)];
    fill_assigned(state, caller, select, &[user.id], &mut items).await?;
    let [v] = items;
    Ok(v)
}

pub(crate) async fn list_subscribed_skus(
    caller: Caller,
    State(state): State<GraphState>,
) -> Result<Response, GraphError> {
    let skus = state
        .directory
        .list_skus(&caller.actor, caller.tenant)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": context(&state, "subscribedSkus"),
            "value": skus.iter().map(sku_json).collect::<Vec<_>>(),
        }),
    ))
}

fn guid(property: &str, v: &Value) -> Result<uuid::Uuid, GraphError> {
    let s = v.as_str().ok_or_else(|| {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{property}': expected a GUID string."
        ))
    })?;
    s.parse().map_err(|_| {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{property}': '{}' is not a GUID.",
            clip(s)
        ))
    })
}

fn array<'a>(property: &str, v: &'a Value) -> Result<&'a [Value], GraphError> {
    match v {
        Value::Array(items) => Ok(items),
        // Graph's SDKs send null for a list the caller left out.
        Value::Null => Ok(&[]),
        _ => Err(GraphError::bad_request(format!(
            "Invalid value specified for property '{property}': expected an array."
        ))),
    }
}

/// `{"addLicenses":[{"skuId","disabledPlans"}],"removeLicenses":[skuId]}`; Graph requires
/// both properties.
fn license_change(bytes: &[u8]) -> Result<LicenseChange, GraphError> {
    let map = body::object(bytes)?;
    let mut add = None;
    let mut remove = None;
    for (key, value) in &map {
        match key.as_str() {
            "addLicenses" => {
                let mut out = Vec::new();
                for item in array("addLicenses", value)? {
                    let Value::Object(fields) = item else {
                        return Err(GraphError::bad_request(
                            "Invalid value specified for property 'addLicenses': expected objects with skuId and disabledPlans.",
                        ));
                    };
                    let mut sku = None;
                    let mut disabled = Vec::new();
                    for (k, v) in fields {
                        match k.as_str() {
                            "skuId" => sku = Some(SkuId::from_uuid(guid("skuId", v)?)),
                            "disabledPlans" => {
                                for p in array("disabledPlans", v)? {
                                    disabled.push(guid("disabledPlans", p)?);
                                }
                            }
                            "@odata.type" => {}
                            other => {
                                return Err(GraphError::bad_request(format!(
                                    "Property '{}' does not exist on type 'microsoft.graph.assignedLicense'.",
                                    clip(other)
                                )));
                            }
                        }
                    }
                    let sku_id = sku.ok_or_else(|| {
                        GraphError::bad_request(
                            "Property 'skuId' is required in each of addLicenses.",
                        )
                    })?;
                    out.push(AssignedLicense {
                        sku_id,
                        disabled_plans: disabled,
                    });
                }
                add = Some(out);
            }
            "removeLicenses" => {
                let mut out = Vec::new();
                for item in array("removeLicenses", value)? {
                    out.push(SkuId::from_uuid(guid("removeLicenses", item)?));
                }
                remove = Some(out);
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' is not a parameter of assignLicense; send addLicenses and removeLicenses.",
                    clip(other)
                )));
            }
        }
    }
    let (Some(add), Some(remove)) = (add, remove) else {
        return Err(GraphError::bad_request(
            "assignLicense needs both 'addLicenses' and 'removeLicenses' (either may be an empty array).",
        ));
    };
    Ok(LicenseChange { add, remove })
}

pub(crate) async fn assign_license(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let target = user_ref(&id)?;
    let change = license_change(&bytes)?;
    let user = state
        .directory
        .assign_licenses(&caller.actor, caller.tenant, &target, change)
        .await?;
    let mut body = to_json(&user, None);
    if let Value::Object(map) = &mut body {
        map.insert(
            "@odata.context".into(),
            json!(context(&state, "users/$entity")),
        );
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn license_details(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let target = user_ref(&id)?;
    details_response(
        &state,
        &caller,
        &target,
        &format!("users('{}')/licenseDetails", clip(&id)),
    )
    .await
}

/// `GET /me/licenseDetails`: the signed-in user's own (`User.Read` is enough).
pub(crate) async fn my_license_details(
    caller: Caller,
    State(state): State<GraphState>,
) -> Result<Response, GraphError> {
    let me = latchkey_core::directory::UserRef::Id(caller.user_id()?);
    details_response(&state, &caller, &me, "users('me')/licenseDetails").await
}

async fn details_response(
    state: &GraphState,
    caller: &Caller,
    target: &latchkey_core::directory::UserRef,
    fragment: &str,
) -> Result<Response, GraphError> {
    let details = state
        .directory
        .license_details(&caller.actor, caller.tenant, target)
        .await?;
    let value: Vec<Value> = details
        .iter()
        .map(|d| {
            json!({
                "id": d.sku.sku_id.to_string(),
                "skuId": d.sku.sku_id.to_string(),
                "skuPartNumber": d.sku.sku_part_number,
                "servicePlans": d.sku.service_plans.iter().map(|p| json!({
                    "servicePlanId": p.id.to_string(),
                    "servicePlanName": p.name,
                    "provisioningStatus": if d.license.disabled_plans.contains(&p.id) { "Disabled" } else { "Success" },
                    "appliesTo": "User",
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": context(state, fragment),
            "value": value,
        }),
    ))
}
