//! `servicePrincipals` and `oauth2PermissionGrants` in Graph's shapes, read from core's app
//! model (one service principal per app registration, and Microsoft Graph's; an
//! administrator's consent as an `AllPrincipals` grant, a user's as a `Principal` grant), with
//! `$top` and absolute `@odata.nextLink` paging. Read with `Application.Read.All` (grants also
//! `DelegatedPermissionGrant.Read.All`) or `Directory.Read.All`; decided in core.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::saas_remote::{PermissionGrant, ServicePrincipal};
use latchkey_core::store::Page;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response};
use crate::list::decode_skiptoken;
use crate::odata::parse_top;

const DEFAULT_TOP: u32 = 100;

/// `$top` and `$skiptoken`; the other pairs, for the next link.
struct Paging {
    top: u32,
    after: Option<String>,
    pairs: Vec<(String, String)>,
}

fn paging(raw: Option<&str>, set: &str) -> Result<Paging, GraphError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let mut top = DEFAULT_TOP;
    let mut after = None;
    for (key, value) in &pairs {
        match key.to_ascii_lowercase().as_str() {
            "$top" => top = parse_top(value)?,
            "$skiptoken" => after = Some(decode_skiptoken(value)?),
            k if k.starts_with('$') => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on {set}.",
                    clip(key)
                )));
            }
            _ => {}
        }
    }
    Ok(Paging {
        top,
        after,
        pairs: pairs
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect(),
    })
}

fn collection<T>(
    state: &GraphState,
    set: &str,
    p: &Paging,
    page: Page<T>,
    render: impl Fn(&T) -> Value,
) -> Value {
    let mut out = json!({
        "@odata.context": context(state, set),
        "value": page.items.iter().map(render).collect::<Vec<_>>(),
    });
    if let (Some(next), Value::Object(map)) = (page.next, &mut out) {
        let mut pairs = p.pairs.clone();
        pairs.push(("$skiptoken".into(), URL_SAFE_NO_PAD.encode(next)));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        map.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/v1.0/{set}?{query}", state.public_url)),
        );
    }
    out
}

fn service_principal_json(s: &ServicePrincipal) -> Value {
    json!({
        "id": s.id.to_string(),
        "appId": s.app_id,
        "displayName": s.display_name,
        "servicePrincipalType": "Application",
        "accountEnabled": s.account_enabled,
        "appOwnerOrganizationId": s.app_owner_organization_id,
        "homepage": null,
        "replyUrls": s.reply_urls,
    })
}

fn grant_json(g: &PermissionGrant) -> Value {
    json!({
        "id": g.id,
        "clientId": g.client_id.to_string(),
        "consentType": g.consent_type.as_str(),
        "principalId": g.principal_id.map(|p| p.to_string()),
        "resourceId": g.resource_id.to_string(),
        "scope": g.scopes.join(" "),
    })
}

/// `GET /v1.0/servicePrincipals`.
pub(crate) async fn list_service_principals(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let p = paging(raw.as_deref(), "servicePrincipals")?;
    let page = state
        .directory
        .list_service_principals(&caller.actor, caller.tenant, p.after.as_deref(), p.top)
        .await?;
    let body = collection(
        &state,
        "servicePrincipals",
        &p,
        page,
        service_principal_json,
    );
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /v1.0/oauth2PermissionGrants`.
pub(crate) async fn list_permission_grants(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let p = paging(raw.as_deref(), "oauth2PermissionGrants")?;
    let page = state
        .directory
        .list_permission_grants(&caller.actor, caller.tenant, p.after.as_deref(), p.top)
        .await?;
    let body = collection(&state, "oauth2PermissionGrants", &p, page, grant_json);
    Ok(json_response(StatusCode::OK, &body))
}
