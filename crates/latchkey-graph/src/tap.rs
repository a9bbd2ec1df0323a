//! Temporary Access Pass methods (`/users/{id}/authentication/temporaryAccessPassMethods`):
//! create (the pass is in that one response), list and read (never the pass), delete.
//! Application permission `UserAuthenticationMethod.ReadWrite.All`, or a signed-in
//! authentication administrator; decided in core.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use latchkey_core::directory::{NewTemporaryAccessPass, UserRef};
use latchkey_core::tap::TapRecord;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body;
use crate::error::GraphError;
use crate::http::{GraphState, json_response, user_ref};
use crate::user::timestamp;

const SEGMENT: &str = "temporaryAccessPassMethods";

/// Graph's `temporaryAccessPassAuthenticationMethod`, without the pass.
pub(crate) fn tap_json(r: &TapRecord, now: DateTime<Utc>) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
        "id": r.id.to_string(),
        "temporaryAccessPass": null,
        "createdDateTime": timestamp(r.created),
        "startDateTime": timestamp(r.start),
        "lifetimeInMinutes": r.lifetime_minutes,
        "isUsableOnce": r.usable_once,
        "isUsable": r.is_usable(now),
        "methodUsabilityReason": r.usability(now).as_str(),
    })
}

fn context(state: &GraphState, owner: &str) -> String {
    format!(
        "{}/v1.0/$metadata#users('{owner}')/authentication/{SEGMENT}",
        state.public_url
    )
}

/// The request body: every property optional, unknown ones refused by name.
fn new_pass(bytes: &[u8]) -> Result<NewTemporaryAccessPass, GraphError> {
    let bad = |property: &str, want: &str| {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{property}' of resource 'TemporaryAccessPassAuthenticationMethod': expected {want}."
        ))
    };
    let map = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        body::object(bytes)?
    };
    let mut out = NewTemporaryAccessPass::default();
    for (k, v) in &map {
        match k.as_str() {
            "@odata.type" => {}
            "startDateTime" => {
                let s = v.as_str().ok_or_else(|| bad(k, "a date and time"))?;
                out.start = Some(
                    DateTime::parse_from_rfc3339(s)
                        .map_err(|_| {
                            bad(k, "an ISO 8601 date and time such as 2026-01-01T09:00:00Z")
                        })?
                        .with_timezone(&Utc),
                );
            }
            "lifetimeInMinutes" => {
                let n = v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(k, "a whole number of minutes"))?;
                out.lifetime_minutes = Some(n);
            }
            "isUsableOnce" => {
                out.usable_once = Some(v.as_bool().ok_or_else(|| bad(k, "true or false"))?)
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' does not exist on type 'microsoft.graph.temporaryAccessPassAuthenticationMethod'.",
                    crate::error::clip(other)
                )));
            }
        }
    }
    Ok(out)
}

/// `POST /users/{id}/authentication/temporaryAccessPassMethods` → 201 with the pass.
pub async fn create(
    caller: Caller,
    State(state): State<GraphState>,
    Path(user): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let target = user_ref(&user)?;
    let request = new_pass(&bytes)?;
    let issued = state
        .directory
        .create_temporary_access_pass(&caller.actor, caller.tenant, &target, request)
        .await?;
    let now = state.directory.clock().now();
    let mut body = tap_json(&issued.record, now);
    body["temporaryAccessPass"] = json!(issued.pass.expose_secret());
    body["@odata.context"] = json!(format!("{}/$entity", context(&state, &user)));
    let mut r = json_response(StatusCode::CREATED, &body);
    if let Ok(location) = HeaderValue::from_str(&format!(
        "{}/v1.0/users/{}/authentication/{SEGMENT}/{}",
        state.public_url, issued.record.user_id, issued.record.id
    )) {
        r.headers_mut().insert(header::LOCATION, location);
    }
    Ok(r)
}

async fn list(
    caller: &Caller,
    state: &GraphState,
    target: UserRef,
) -> Result<Response, GraphError> {
    let passes = state
        .directory
        .temporary_access_passes(&caller.actor, caller.tenant, &target)
        .await?;
    let now = state.directory.clock().now();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": context(state, &target.to_string()),
            "value": passes.iter().map(|p| tap_json(p, now)).collect::<Vec<_>>(),
        }),
    ))
}

/// `GET /users/{id}/authentication/temporaryAccessPassMethods`.
pub async fn list_for_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path(user): Path<String>,
) -> Result<Response, GraphError> {
    list(&caller, &state, user_ref(&user)?).await
}

/// `GET /me/authentication/temporaryAccessPassMethods`.
pub async fn list_for_me(
    caller: Caller,
    State(state): State<GraphState>,
) -> Result<Response, GraphError> {
    let me = UserRef::Id(caller.user_id()?);
    list(&caller, &state, me).await
}

/// `GET /users/{id}/authentication/temporaryAccessPassMethods/{id}`.
pub async fn get_for_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    let target = user_ref(&user)?;
    let pass = state
        .directory
        .temporary_access_passes(&caller.actor, caller.tenant, &target)
        .await?
        .into_iter()
        .find(|p| p.id.to_string().eq_ignore_ascii_case(&id))
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut body = tap_json(&pass, state.directory.clock().now());
    body["@odata.context"] = json!(format!("{}/$entity", context(&state, &user)));
    Ok(json_response(StatusCode::OK, &body))
}

/// `DELETE /users/{id}/authentication/temporaryAccessPassMethods/{id}` → 204.
pub async fn delete_for_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path((user, id)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let target = user_ref(&user)?;
    let id = id.parse().map_err(|_| GraphError::not_found(&id))?;
    state
        .directory
        .delete_temporary_access_pass(&caller.actor, caller.tenant, &target, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
