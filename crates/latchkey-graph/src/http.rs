//! The Graph v1.0 routes under `/v1.0`. Each handler authenticates the caller, parses the
//! request into core's types, calls one directory operation and renders Graph's JSON.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use latchkey_core::Directory;
use latchkey_core::directory::UserRef;
use latchkey_core::ids::UserId;
use latchkey_identity::TokenService;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body;
use crate::error::{GraphError, clip, envelope};
use crate::list::{ListOptions, Listing};
use crate::user::to_json;
use crate::{audit_logs, auth_methods, licenses, lifecycle, manager, roles};

/// What the Graph routes need.
#[derive(Debug, Clone)]
pub struct GraphState {
    pub directory: Directory,
    pub tokens: TokenService,
    /// Scheme, host and port clients reach us at, without a trailing slash; every link
    /// in a response (`@odata.nextLink`, `@odata.context`) is built on it.
    pub public_url: Arc<str>,
    /// Per-client rate limit (429 `TooManyRequests` with `Retry-After`).
    pub throttle: crate::throttle::Throttle,
}

/// Request bodies of the user resource are small.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The Graph v1.0 surface, to be merged into the server's router.
pub fn router(state: GraphState) -> Router {
    router_and_paths(state).0
}

/// The router and every path it registers under `/v1.0` (for the OpenAPI drift check).
pub fn router_and_paths(state: GraphState) -> (Router, Vec<&'static str>) {
    let public_url = state.public_url.clone();
    let (v1, mut paths) = crate::openapi::Routes::new()
        .route("/$openapi", get(crate::openapi::document))
        .route("/users", get(list_users).post(create_user))
        .route("/users/$count", get(count_users))
        // msgraph-sdk calls the function with parentheses; links are written without.
        .route("/users/delta", get(crate::delta::users_delta))
        .route("/users/delta()", get(crate::delta::users_delta))
        .route(
            "/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/users/{id}/revokeSignInSessions", post(revoke_sessions))
        .route(
            "/users/{id}/authentication/methods/{method}/resetPassword",
            post(reset_password),
        )
        .route(
            "/users/{id}/authentication/operations/{operation}",
            get(get_reset_operation),
        )
        .route(
            "/users/{id}/authentication/temporaryAccessPassMethods",
            get(crate::tap::list_for_user).post(crate::tap::create),
        )
        .route(
            "/users/{id}/authentication/temporaryAccessPassMethods/{method}",
            get(crate::tap::get_for_user).delete(crate::tap::delete_for_user),
        )
        .route(
            "/me/authentication/temporaryAccessPassMethods",
            get(crate::tap::list_for_me),
        )
        .route(
            "/users/{id}/authentication/{collection}",
            get(auth_methods::list_for_user),
        )
        .route(
            "/users/{id}/authentication/{collection}/{method}",
            get(auth_methods::get_for_user).delete(auth_methods::delete_for_user),
        )
        .route(
            "/me/authentication/{collection}",
            get(auth_methods::list_for_me),
        )
        .route(
            "/me/authentication/{collection}/{method}",
            get(auth_methods::get_for_me).delete(auth_methods::delete_for_me),
        )
        .route("/users/{id}/memberOf", get(roles::member_of))
        .route("/users/{id}/assignLicense", post(licenses::assign_license))
        .route("/users/{id}/licenseDetails", get(licenses::license_details))
        .route("/subscribedSkus", get(licenses::list_subscribed_skus))
        .route("/users/{id}/manager", get(manager::get_manager))
        .route("/me/manager", get(manager::get_my_manager))
        .route(
            "/users/{id}/manager/$ref",
            put(manager::set_manager).delete(manager::remove_manager),
        )
        .route(
            "/users/{id}/directReports",
            get(manager::list_direct_reports),
        )
        .route(
            "/auditLogs/directoryAudits",
            get(audit_logs::directory_audits),
        )
        .route("/auditLogs/signIns", get(audit_logs::sign_ins))
        .route(
            "/servicePrincipals",
            get(crate::service_principals::list_service_principals),
        )
        .route(
            "/oauth2PermissionGrants",
            get(crate::service_principals::list_permission_grants),
        )
        .route("/directoryRoles", get(roles::list_roles))
        .route("/directoryRoles/{id}", get(roles::get_role))
        .route("/directoryRoles/{id}/members", get(roles::list_members))
        .route(
            "/directoryRoles/{id}/members/$ref",
            post(roles::add_member).delete(roles::remove_member_by_query),
        )
        .route(
            "/directoryRoles/{id}/members/{member}/$ref",
            delete(roles::remove_member),
        )
        .route(
            "/latchkey/saas/apps",
            get(crate::saas::list_apps).post(crate::saas_licenses::add_app),
        )
        .route(
            "/latchkey/saas/apps/{id}",
            get(crate::saas::get_app).patch(crate::saas::update_app),
        )
        .route(
            "/latchkey/saas/apps/{id}/contracts",
            get(crate::saas::list_contracts).post(crate::saas_licenses::add_contract),
        )
        .route(
            "/latchkey/saas/apps/{id}/licenses",
            get(crate::saas_licenses::get_licenses),
        )
        .route(
            "/latchkey/saas/apps/{id}/licensing",
            patch(crate::saas_licenses::update_licensing),
        )
        .route(
            "/latchkey/saas/apps/{id}/reclaim",
            post(crate::saas_licenses::reclaim),
        )
        .route(
            "/latchkey/saas/reclamation",
            get(crate::saas_licenses::list_reclamation),
        )
        .route(
            "/latchkey/saas/renewals",
            get(crate::saas_licenses::list_renewals),
        )
        .route(
            "/latchkey/saas/renewalSettings",
            get(crate::saas_licenses::get_renewal_settings)
                .patch(crate::saas_licenses::update_renewal_settings),
        )
        .route(
            "/latchkey/saas/overlaps",
            get(crate::saas_licenses::list_overlaps),
        )
        .route(
            "/latchkey/saas/apps/{id}/idleUsers",
            get(crate::saas::list_idle_users),
        )
        .route("/me", get(get_me))
        .route("/me/changePassword", post(change_password))
        .route("/me/licenseDetails", get(licenses::my_license_details))
        .route(
            "/directory/deletedItems/microsoft.graph.user",
            get(list_deleted_users),
        )
        // Graph accepts the cast without its namespace; msgraph-sdk sends it that way.
        .route(
            "/directory/deletedItems/graph.user",
            get(list_deleted_users),
        )
        .route(
            "/directory/deletedItems/{id}/restore",
            post(restore_deleted_user),
        )
        .route("/directory/deletedItems/{id}", delete(purge_deleted_user))
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows",
            get(lifecycle::list_workflows).post(lifecycle::create_workflow),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}",
            get(lifecycle::get_workflow)
                .patch(lifecycle::update_workflow)
                .delete(lifecycle::delete_workflow),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}/microsoft.graph.identityGovernance.activate",
            post(lifecycle::activate),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}/activate",
            post(lifecycle::activate),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}/runs",
            get(lifecycle::list_runs),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}/runs/{run}",
            get(lifecycle::get_run),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}/runs/{run}/userProcessingResults",
            get(lifecycle::list_user_results),
        )
        .route(
            "/identityGovernance/lifecycleWorkflows/workflows/{id}/runs/{run}/taskProcessingResults",
            get(lifecycle::list_task_results),
        )
        .finish();
    let v1 = v1
        .fallback(unknown_segment)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(envelope))
        .with_state(state);
    let routes = Router::new().nest("/v1.0", v1);
    // `$batch` runs each of its requests through the routes above.
    let batch = Router::new()
        .route("/v1.0/$batch", post(crate::batch::batch))
        .layer(DefaultBodyLimit::max(
            crate::batch::MAX_REQUESTS * MAX_BODY_BYTES,
        ))
        .layer(middleware::from_fn(envelope))
        .with_state(crate::batch::BatchState {
            routes: routes.clone(),
            public_url,
        });
    paths.push("/$batch");
    (routes.merge(batch), paths)
}

async fn unknown_segment(uri: axum::http::Uri) -> GraphError {
    let segment = uri
        .path()
        .trim_start_matches("/v1.0")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    GraphError::bad_request(format!(
        "Resource not found for the segment '{}'.",
        clip(&segment)
    ))
}

/// `/users/{id | userPrincipalName}`: what does not parse as either cannot exist.
pub(crate) fn user_ref(raw: &str) -> Result<UserRef, GraphError> {
    UserRef::parse(raw).map_err(|_| GraphError::not_found(raw))
}

pub(crate) fn context(state: &GraphState, fragment: &str) -> String {
    format!("{}/v1.0/$metadata#{fragment}", state.public_url)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;odata.metadata=minimal"),
    );
    r
}

/// `$select` on a single user; other options are refused rather than ignored.
fn single_select(raw: Option<&str>) -> Result<Option<Vec<&'static str>>, GraphError> {
    let options = ListOptions::parse(raw.unwrap_or_default(), &HeaderMap::new(), false)?;
    if options.top.is_some() || options.skiptoken.is_some() || options.count {
        return Err(GraphError::bad_request(
            "$top, $skiptoken and $count apply to collections, not to a single user.",
        ));
    }
    Ok(options.select)
}

async fn list_users(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let options = ListOptions::parse(raw.as_deref().unwrap_or_default(), &headers, true)?;
    let query = options.user_query()?;
    let page = state
        .directory
        .list_users(&caller.actor, caller.tenant, &query)
        .await?;
    let count = if options.count {
        Some(
            state
                .directory
                .count_users(&caller.actor, caller.tenant, &query)
                .await?,
        )
    } else {
        None
    };
    let ids: Vec<UserId> = page.items.iter().map(|u| u.id).collect();
    let listing = Listing {
        base: format!("{}/v1.0/users", state.public_url),
        context: context(&state, &options.context_fragment("users")),
        options: &options,
        page,
        count,
    };
    let mut body = listing.render(None);
    if let Some(Value::Array(items)) = body.get_mut("value") {
        licenses::fill_assigned(&state, &caller, options.select.as_deref(), &ids, items).await?;
        if options.expand_manager {
            manager::fill_managers(&state, &caller, &ids, items).await?;
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /users/$count`: the number of matching users as plain text; like `$count=true`, an
/// advanced query that needs `ConsistencyLevel: eventual`.
async fn count_users(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    if !crate::list::eventual(&headers) {
        return Err(GraphError::unsupported(
            "Unsupported query: /$count is an advanced query; send the header 'ConsistencyLevel: eventual'.",
        ));
    }
    let options = ListOptions::parse(raw.as_deref().unwrap_or_default(), &headers, true)?;
    if options.top.is_some() || options.skiptoken.is_some() || options.select.is_some() {
        return Err(GraphError::bad_request(
            "/$count takes only $filter and $search.",
        ));
    }
    let n = state
        .directory
        .count_users(&caller.actor, caller.tenant, &options.user_query()?)
        .await?;
    let mut r = (StatusCode::OK, n.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

async fn list_deleted_users(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let options = ListOptions::parse(raw.as_deref().unwrap_or_default(), &HeaderMap::new(), false)?;
    if options.count {
        return Err(GraphError::unsupported(
            "$count is not supported on deleted items.",
        ));
    }
    let query = options.user_query()?;
    let page = state
        .directory
        .list_deleted_users(&caller.actor, caller.tenant, &query)
        .await?;
    let ids: Vec<UserId> = page.items.iter().map(|u| u.id).collect();
    let listing = Listing {
        base: format!(
            "{}/v1.0/directory/deletedItems/microsoft.graph.user",
            state.public_url
        ),
        context: context(
            &state,
            &options.context_fragment("directory/deletedItems/microsoft.graph.user"),
        ),
        options: &options,
        page,
        count: None,
    };
    let mut body = listing.render(Some("deletedDateTime"));
    if let Some(Value::Array(items)) = body.get_mut("value") {
        licenses::fill_assigned(&state, &caller, options.select.as_deref(), &ids, items).await?;
    }
    Ok(json_response(StatusCode::OK, &body))
}

async fn get_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let (raw, expand) = manager::take_expand(raw.as_deref().unwrap_or_default())?;
    let select = single_select(Some(&raw))?;
    let user = state
        .directory
        .get_user(&caller.actor, caller.tenant, &user_ref(&id)?)
        .await?;
    let mut body = licenses::user_json(&state, &caller, &user, select.as_deref()).await?;
    if expand {
        manager::expand_manager(&state, &caller, &user, &mut body).await?;
    }
    Ok(entity_body(&state, "users/$entity", body))
}

fn entity(
    state: &GraphState,
    fragment: &str,
    user: &latchkey_core::user::User,
    select: Option<&[&str]>,
) -> Response {
    entity_body(state, fragment, to_json(user, select))
}

/// A rendered entity with its `@odata.context`.
fn entity_body(state: &GraphState, fragment: &str, mut body: Value) -> Response {
    if let Value::Object(map) = &mut body {
        map.insert(
            "@odata.context".into(),
            Value::String(context(state, fragment)),
        );
    }
    json_response(StatusCode::OK, &body)
}

async fn create_user(
    caller: Caller,
    State(state): State<GraphState>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let new = body::new_user(&bytes)?;
    let created = state
        .directory
        .create_user(&caller.actor, caller.tenant, new)
        .await?;
    let mut r = entity(&state, "users/$entity", &created.user, None);
    *r.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(&format!(
        "{}/v1.0/users/{}",
        state.public_url, created.user.id
    )) {
        r.headers_mut().insert(header::LOCATION, location);
    }
    Ok(r)
}

async fn update_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<StatusCode, GraphError> {
    let target = user_ref(&id)?;
    let changes = body::changes(&bytes)?;
    state
        .directory
        .update_user(&caller.actor, caller.tenant, &target, changes)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    state
        .directory
        .delete_user(&caller.actor, caller.tenant, &user_ref(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_sessions(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    state
        .directory
        .revoke_sign_in_sessions(&caller.actor, caller.tenant, &user_ref(&id)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "@odata.context": context(&state, "Edm.Boolean"), "value": true }),
    ))
}

async fn get_me(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.user_id()?;
    let (raw, expand) = manager::take_expand(raw.as_deref().unwrap_or_default())?;
    let select = single_select(Some(&raw))?;
    let user = state
        .directory
        .get_own_user(&caller.actor, caller.tenant)
        .await?;
    let mut body = licenses::user_json(&state, &caller, &user, select.as_deref()).await?;
    if expand {
        manager::expand_manager(&state, &caller, &user, &mut body).await?;
    }
    Ok(entity_body(&state, "users/$entity", body))
}

async fn change_password(
    caller: Caller,
    State(state): State<GraphState>,
    bytes: Bytes,
) -> Result<StatusCode, GraphError> {
    caller.user_id()?;
    let (current, new) = body::change_password(&bytes)?;
    state
        .directory
        .change_own_password(&caller.actor, caller.tenant, &current, new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn deleted_id(raw: &str) -> Result<UserId, GraphError> {
    raw.parse().map_err(|_| GraphError::not_found(raw))
}

async fn restore_deleted_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let user = state
        .directory
        .restore_user(&caller.actor, caller.tenant, deleted_id(&id)?)
        .await?;
    let mut body = to_json(&user, None);
    if let Value::Object(map) = &mut body {
        map.insert(
            "@odata.context".into(),
            Value::String(context(&state, "directoryObjects/$entity")),
        );
        map.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    }
    Ok(json_response(StatusCode::OK, &body))
}

async fn purge_deleted_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    state
        .directory
        .delete_user_permanently(&caller.actor, caller.tenant, deleted_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The fixed id Graph gives every user's password authentication method.
pub const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

/// `POST /users/{id}/authentication/methods/{passwordMethodId}/resetPassword`: the password
/// is set before the answer; 202 points at the operation that tells the result (and a
/// generated password, once).
async fn reset_password(
    caller: Caller,
    State(state): State<GraphState>,
    Path((id, method)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let target = user_ref(&id)?;
    if !method.eq_ignore_ascii_case(PASSWORD_METHOD_ID) {
        return Err(GraphError::not_found(&method));
    }
    let new_password = body::reset_password(&bytes)?;
    let started = state
        .directory
        .reset_password_method(&caller.actor, caller.tenant, &target, new_password)
        .await?;
    let mut r = StatusCode::ACCEPTED.into_response();
    let location = format!(
        "{}/v1.0/users/{}/authentication/operations/{}",
        state.public_url, started.user_id, started.operation_id
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /users/{id}/authentication/operations/{id}`: Graph's `longRunningOperation`; a
/// generated password appears as `newPassword` in the first answer only.
async fn get_reset_operation(
    caller: Caller,
    State(state): State<GraphState>,
    Path((id, operation)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    let target = user_ref(&id)?;
    let operation_id = operation
        .parse()
        .map_err(|_| GraphError::not_found(&operation))?;
    let op = state
        .directory
        .read_reset_operation(&caller.actor, caller.tenant, &target, operation_id)
        .await?;
    let created = op
        .created
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut body = json!({
        "@odata.context": context(&state, &format!("users('{}')/authentication/operations/$entity", op.user_id)),
        "id": op.id.to_string(),
        "createdDateTime": created,
        "lastActionDateTime": created,
        "status": "succeeded",
        "statusDetail": null,
        "resourceLocation": format!("{}/v1.0/users/{}/authentication/methods/{PASSWORD_METHOD_ID}", state.public_url, op.user_id),
    });
    let carries_password = op.generated_password.is_some();
    if let (Some(password), Value::Object(map)) = (op.generated_password, &mut body) {
        map.insert(
            "newPassword".into(),
            Value::String(password.expose_secret().to_owned()),
        );
    }
    let mut r = json_response(StatusCode::OK, &body);
    if carries_password {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(r)
}
