//! The manager relationship in Graph's shapes: `PUT/DELETE /users/{id}/manager/$ref`,
//! `GET /users/{id}/manager`, `GET /me/manager`, `GET /users/{id}/directReports`, and
//! `$expand=manager` on a single user.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::directory::UserRef;
use latchkey_core::user::User;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response, user_ref};
use crate::list::{ListOptions, Listing};
use crate::roles::referenced_user;
use crate::user::to_json;

/// A user as a `directoryObject` (what `manager` and `directReports` hold).
fn directory_object(user: &User) -> Value {
    let mut v = to_json(user, None);
    if let Value::Object(map) = &mut v {
        map.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    }
    v
}

/// Takes `$expand` out of a single user's query string: `manager` is the one expansion
/// served; the rest of the query is returned for the other options.
pub(crate) fn take_expand(raw: &str) -> Result<(String, bool), GraphError> {
    let mut rest = Vec::new();
    let mut expand: Option<String> = None;
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(part)
            .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
        match pairs.first() {
            Some((k, v)) if k.eq_ignore_ascii_case("$expand") => {
                if expand.replace(v.clone()).is_some() {
                    return Err(GraphError::bad_request(
                        "Query option '$expand' is specified more than once.",
                    ));
                }
            }
            _ => rest.push(part),
        }
    }
    let manager = match expand.as_deref().map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("manager") => true,
        Some(v) => {
            return Err(GraphError::unsupported(format!(
                "$expand={} is not supported: a single user expands only 'manager'.",
                clip(v)
            )));
        }
    };
    Ok((rest.join("&"), manager))
}

/// Adds the expanded `manager` to a rendered user; absent when there is none.
pub(crate) async fn expand_manager(
    state: &GraphState,
    caller: &Caller,
    user: &User,
    body: &mut Value,
) -> Result<(), GraphError> {
    let manager = state
        .directory
        .get_manager(&caller.actor, caller.tenant, &UserRef::Id(user.id))
        .await?;
    if let (Some(m), Value::Object(map)) = (manager, body) {
        map.insert("manager".into(), directory_object(&m));
    }
    Ok(())
}

/// Adds the expanded `manager` to rendered users (in the order of `users`) that have one;
/// one directory call for the page.
pub(crate) async fn fill_managers(
    state: &GraphState,
    caller: &Caller,
    users: &[latchkey_core::ids::UserId],
    items: &mut [Value],
) -> Result<(), GraphError> {
    let mut managers = state
        .directory
        .managers_of(&caller.actor, caller.tenant, users)
        .await?;
    for (id, item) in users.iter().zip(items.iter_mut()) {
        if let (Some(m), Value::Object(map)) = (managers.remove(id), item) {
            map.insert("manager".into(), directory_object(&m));
        }
    }
    Ok(())
}

pub(crate) async fn get_manager(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let manager = state
        .directory
        .get_manager(&caller.actor, caller.tenant, &user_ref(&id)?)
        .await?;
    manager_response(&state, manager)
}

/// `GET /me/manager`: the signed-in user's manager (delegated tokens only).
pub(crate) async fn get_my_manager(
    caller: Caller,
    State(state): State<GraphState>,
) -> Result<Response, GraphError> {
    caller.user_id()?;
    let manager = state
        .directory
        .get_own_manager(&caller.actor, caller.tenant)
        .await?;
    manager_response(&state, manager)
}

fn manager_response(state: &GraphState, manager: Option<User>) -> Result<Response, GraphError> {
    let manager = manager.ok_or_else(|| GraphError::not_found("manager"))?;
    let mut body = directory_object(&manager);
    if let Value::Object(map) = &mut body {
        map.insert(
            "@odata.context".into(),
            json!(context(state, "directoryObjects/$entity")),
        );
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn set_manager(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<StatusCode, GraphError> {
    let target = user_ref(&id)?;
    let manager = referenced_user(&bytes)?;
    state
        .directory
        .set_manager(&caller.actor, caller.tenant, &target, manager)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn remove_manager(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    state
        .directory
        .remove_manager(&caller.actor, caller.tenant, &user_ref(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_direct_reports(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let target = user_ref(&id)?;
    let options = ListOptions::parse(raw.as_deref().unwrap_or_default(), &HeaderMap::new(), false)?;
    if options.count {
        return Err(GraphError::unsupported(
            "$count is not supported on directReports.",
        ));
    }
    let page = state
        .directory
        .list_direct_reports(
            &caller.actor,
            caller.tenant,
            &target,
            &options.user_query()?,
        )
        .await?;
    let ids: Vec<latchkey_core::ids::UserId> = page.items.iter().map(|u| u.id).collect();
    let listing = Listing {
        base: format!(
            "{}/v1.0/users/{}/directReports",
            state.public_url,
            clip(&id)
        ),
        context: context(&state, "directoryObjects"),
        options: &options,
        page,
        count: None,
    };
    let mut body = listing.render(None);
    if let Some(Value::Array(items)) = body.get_mut("value") {
        crate::licenses::fill_assigned(&state, &caller, options.select.as_deref(), &ids, items)
            .await?;
        for item in items {
            if let Value::Object(map) = item {
                map.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            }
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}
