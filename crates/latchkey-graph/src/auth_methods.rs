//! A user's authentication methods (Graph's `authentication/methods`,
//! `softwareOathMethods`, `emailMethods`, for `/users/{id}` and `/me`): read and delete.
//! Application permission `UserAuthenticationMethod.Read.All` / `.ReadWrite.All`, delegated
//! `UserAuthenticationMethod.Read` / `.ReadWrite` for the signed-in user's own; who may see
//! and remove whose methods is decided in core. Secrets never appear: Graph's `secretKey`
//! is always null.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::auth_method::MethodKind;
use latchkey_core::directory::{AuthMethod, UserRef};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::GraphError;
use crate::http::{GraphState, PASSWORD_METHOD_ID, json_response, user_ref};

/// Which collection a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    All,
    Kind(MethodKind),
}

impl Collection {
    fn parse(segment: &str) -> Result<Self, GraphError> {
        match segment {
            "methods" => Ok(Self::All),
            "softwareOathMethods" => Ok(Self::Kind(MethodKind::SoftwareOath)),
            "emailMethods" => Ok(Self::Kind(MethodKind::Email)),
            other => Err(GraphError::bad_request(format!(
                "Resource not found for the segment '{}'.",
                crate::error::clip(other)
            ))),
        }
    }

    fn includes(self, kind: MethodKind) -> bool {
        self == Self::All || self == Self::Kind(kind)
    }
}

fn method_json(m: &AuthMethod) -> Value {
    match m.kind {
        MethodKind::SoftwareOath => json!({
            "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
            "id": m.id.to_string(),
            "secretKey": null,
        }),
        MethodKind::Email => json!({
            "@odata.type": "#microsoft.graph.emailAuthenticationMethod",
            "id": m.id.to_string(),
            "emailAddress": m.display,
        }),
    }
}

fn password_json() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": PASSWORD_METHOD_ID,
        "password": null,
        "createdDateTime": null,
    })
}

fn context(state: &GraphState, owner: &str, segment: &str) -> String {
    format!(
        "{}/v1.0/$metadata#users('{owner}')/authentication/{segment}",
        state.public_url
    )
}

async fn list(
    caller: &Caller,
    state: &GraphState,
    target: UserRef,
    segment: &str,
) -> Result<Response, GraphError> {
    let collection = Collection::parse(segment)?;
    let methods = state
        .directory
        .auth_methods(&caller.actor, caller.tenant, &target)
        .await?;
    let mut value: Vec<Value> = vec![];
    if collection == Collection::All {
        value.push(password_json());
    }
    value.extend(
        methods
            .iter()
            .filter(|m| collection.includes(m.kind))
            .map(method_json),
    );
    if collection == Collection::All {
        let now = state.directory.clock().now();
        let passes = state
            .directory
            .temporary_access_passes(&caller.actor, caller.tenant, &target)
            .await?;
        value.extend(passes.iter().map(|p| crate::tap::tap_json(p, now)));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": context(state, &target.to_string(), segment),
            "value": value,
        }),
    ))
}

/// The method `id` of the target in `segment`'s collection, or `NotFound`.
async fn find(
    caller: &Caller,
    state: &GraphState,
    target: &UserRef,
    segment: &str,
    id: &str,
) -> Result<AuthMethod, GraphError> {
    let collection = Collection::parse(segment)?;
    let methods = state
        .directory
        .auth_methods(&caller.actor, caller.tenant, target)
        .await?;
    methods
        .into_iter()
        .find(|m| collection.includes(m.kind) && m.id.to_string().eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::not_found(id))
}

async fn get_one(
    caller: &Caller,
    state: &GraphState,
    target: UserRef,
    segment: &str,
    id: &str,
) -> Result<Response, GraphError> {
    if segment == "methods" && id.eq_ignore_ascii_case(PASSWORD_METHOD_ID) {
        // Reading it still needs the right to read the user's methods.
        state
            .directory
            .auth_methods(&caller.actor, caller.tenant, &target)
            .await?;
        return Ok(json_response(StatusCode::OK, &password_json()));
    }
    let m = find(caller, state, &target, segment, id).await?;
    let mut body = method_json(&m);
    body["@odata.context"] = json!(format!(
        "{}/$entity",
        context(state, &target.to_string(), segment)
    ));
    Ok(json_response(StatusCode::OK, &body))
}

async fn delete_one(
    caller: &Caller,
    state: &GraphState,
    target: UserRef,
    segment: &str,
    id: &str,
) -> Result<StatusCode, GraphError> {
    if id.eq_ignore_ascii_case(PASSWORD_METHOD_ID) {
        return Err(GraphError::bad_request(
            "The password method cannot be deleted; reset the password instead.",
        ));
    }
    let m = find(caller, state, &target, segment, id).await?;
    state
        .directory
        .remove_auth_method(&caller.actor, caller.tenant, &target, m.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/{id}/authentication/{methods | softwareOathMethods | emailMethods}`.
pub async fn list_for_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path((user, segment)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    list(&caller, &state, user_ref(&user)?, &segment).await
}

/// `GET /me/authentication/{…}`.
pub async fn list_for_me(
    caller: Caller,
    State(state): State<GraphState>,
    Path(segment): Path<String>,
) -> Result<Response, GraphError> {
    let me = UserRef::Id(caller.user_id()?);
    list(&caller, &state, me, &segment).await
}

/// `GET /users/{id}/authentication/{collection}/{method}`.
pub async fn get_for_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path((user, segment, id)): Path<(String, String, String)>,
) -> Result<Response, GraphError> {
    get_one(&caller, &state, user_ref(&user)?, &segment, &id).await
}

/// `GET /me/authentication/{collection}/{method}`.
pub async fn get_for_me(
    caller: Caller,
    State(state): State<GraphState>,
    Path((segment, id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    let me = UserRef::Id(caller.user_id()?);
    get_one(&caller, &state, me, &segment, &id).await
}

/// `DELETE /users/{id}/authentication/{collection}/{method}`.
pub async fn delete_for_user(
    caller: Caller,
    State(state): State<GraphState>,
    Path((user, segment, id)): Path<(String, String, String)>,
) -> Result<StatusCode, GraphError> {
    delete_one(&caller, &state, user_ref(&user)?, &segment, &id).await
}

/// `DELETE /me/authentication/{collection}/{method}`.
pub async fn delete_for_me(
    caller: Caller,
    State(state): State<GraphState>,
    Path((segment, id)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let me = UserRef::Id(caller.user_id()?);
    delete_one(&caller, &state, me, &segment, &id).await
}
