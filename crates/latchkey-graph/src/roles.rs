//! `directoryRoles`, their `members` (with `$ref` to add and remove) and a user's
//! `memberOf`. A role's `id` is its `roleTemplateId`: Latchkey's built-in roles are active in
//! every tenant, and the same in each.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::ids::UserId;
use latchkey_core::role::DirectoryRole;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response, user_ref};
use crate::list::{ListOptions, Listing};

fn description(role: DirectoryRole) -> &'static str {
    match role {
        DirectoryRole::GlobalAdministrator => {
            "Can manage all aspects of the directory and the services that use its identities."
        }
        DirectoryRole::PrivilegedAuthenticationAdministrator => {
            "Can reset passwords and revoke sessions of any user, administrators included."
        }
        DirectoryRole::UserAdministrator => {
            "Can manage all aspects of users, and reset passwords of limited administrators."
        }
        DirectoryRole::PasswordAdministrator => {
            "Can reset passwords for non-administrators and Password Administrators."
        }
        DirectoryRole::HelpdeskAdministrator => {
            "Can reset passwords for non-administrators and Helpdesk Administrators."
        }
        DirectoryRole::LicenseAdministrator => "Can manage product licenses on users and groups.",
        DirectoryRole::SaasItReader => {
            "Latchkey: can read the SaaS inventory and its dashboards, for IT."
        }
        DirectoryRole::SaasFinanceReader => {
            "Latchkey: can read the SaaS inventory and its dashboards, for Finance."
        }
        DirectoryRole::SaasSecurityReader => {
            "Latchkey: can read the SaaS inventory and its dashboards, for Security."
        }
        DirectoryRole::LifecycleWorkflowsAdministrator => {
            "Create and manage all aspects of workflows and tasks associated with Lifecycle Workflows in Microsoft Entra ID."
        }
    }
}

fn role_json(role: DirectoryRole) -> Value {
    json!({
        "id": role.template_id(),
        "displayName": role.display_name(),
        "description": description(role),
        "roleTemplateId": role.template_id(),
    })
}

/// `/directoryRoles/{id}`: a role's id (its template id); anything else does not exist.
fn role_ref(raw: &str) -> Result<DirectoryRole, GraphError> {
    let raw = raw.to_ascii_lowercase();
    DirectoryRole::ALL
        .into_iter()
        .find(|r| r.template_id() == raw)
        .ok_or_else(|| GraphError::not_found(&raw))
}

pub(crate) async fn list_roles(
    caller: Caller,
    State(state): State<GraphState>,
) -> Result<Response, GraphError> {
    let roles = state.directory.list_directory_roles(&caller.actor)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": context(&state, "directoryRoles"),
            "value": roles.iter().copied().map(role_json).collect::<Vec<_>>(),
        }),
    ))
}

pub(crate) async fn get_role(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    state.directory.list_directory_roles(&caller.actor)?;
    let mut body = role_json(role_ref(&id)?);
    if let Value::Object(map) = &mut body {
        map.insert(
            "@odata.context".into(),
            json!(context(&state, "directoryRoles/$entity")),
        );
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn list_members(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let role = role_ref(&id)?;
    let options = ListOptions::parse(raw.as_deref().unwrap_or_default(), &HeaderMap::new(), false)?;
    if options.count {
        return Err(GraphError::unsupported(
            "$count is not supported on a role's members.",
        ));
    }
    let page = state
        .directory
        .list_role_members(&caller.actor, caller.tenant, role, &options.user_query()?)
        .await?;
    let listing = Listing {
        base: format!(
            "{}/v1.0/directoryRoles/{}/members",
            state.public_url,
            role.template_id()
        ),
        context: context(&state, "directoryObjects"),
        options: &options,
        page,
        count: None,
    };
    let mut body = listing.render(None);
    if let Some(Value::Array(items)) = body.get_mut("value") {
        for item in items {
            if let Value::Object(map) = item {
                map.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            }
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// The user an `@odata.id` names: `…/directoryObjects/{id}` or `…/users/{id}`.
pub(crate) fn referenced_user(bytes: &[u8]) -> Result<UserId, GraphError> {
    let map = body::object(bytes)?;
    let mut reference = None;
    for (key, value) in &map {
        match key.as_str() {
            "@odata.id" => {
                reference = Some(value.as_str().ok_or_else(|| {
                    GraphError::bad_request("Property '@odata.id' must be a string.")
                })?);
            }
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' is not part of a reference; send only '@odata.id'.",
                    clip(other)
                )));
            }
        }
    }
    let reference =
        reference.ok_or_else(|| GraphError::bad_request("Property '@odata.id' is required."))?;
    let mut segments = reference.trim_end_matches('/').rsplit('/');
    let id = segments.next().unwrap_or_default();
    let set = segments.next().unwrap_or_default();
    if !matches!(set, "directoryObjects" | "users") {
        return Err(GraphError::bad_request(format!(
            "Invalid '@odata.id' '{}': expected a URL ending in /directoryObjects/{{id}}.",
            clip(reference)
        )));
    }
    id.parse().map_err(|_| GraphError::not_found(id))
}

pub(crate) async fn add_member(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<StatusCode, GraphError> {
    let role = role_ref(&id)?;
    let user = referenced_user(&bytes)?;
    state
        .directory
        .add_role_member(
            &caller.actor,
            caller.tenant,
            role,
            &latchkey_core::directory::UserRef::Id(user),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn remove_member(
    caller: Caller,
    State(state): State<GraphState>,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let role = role_ref(&id)?;
    let user = user_ref(&member)?;
    state
        .directory
        .remove_role_member(&caller.actor, caller.tenant, role, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /directoryRoles/{id}/members/$ref?$id={directoryObject URL}` (msgraph-sdk's
/// `members.ref.delete` spells it `@id`): the other form of removing a member.
pub(crate) async fn remove_member_by_query(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, GraphError> {
    let role = role_ref(&id)?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
            .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let reference = pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$id") || k.eq_ignore_ascii_case("@id"))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            GraphError::bad_request(
                "Name the member to remove: .../members/{id}/$ref, or $ref?$id={directoryObject URL}.",
            )
        })?;
    let body = serde_json::json!({ "@odata.id": reference }).to_string();
    let user = referenced_user(body.as_bytes())?;
    state
        .directory
        .remove_role_member(
            &caller.actor,
            caller.tenant,
            role,
            &latchkey_core::directory::UserRef::Id(user),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn member_of(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let roles = state
        .directory
        .member_of(&caller.actor, caller.tenant, &user_ref(&id)?)
        .await?;
    let value: Vec<Value> = roles
        .into_iter()
        .map(|r| {
            let mut v = role_json(r);
            if let Value::Object(map) = &mut v {
                map.insert(
                    "@odata.type".into(),
                    json!("#microsoft.graph.directoryRole"),
                );
            }
            v
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "@odata.context": context(&state, "directoryObjects"), "value": value }),
    ))
}
