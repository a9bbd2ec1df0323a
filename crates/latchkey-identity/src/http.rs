//! The identity platform's HTTP endpoints, on the paths Microsoft's clients use:
//! discovery, JWKS, the token endpoint and the user-realm lookup.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use latchkey_core::Directory;
use latchkey_core::app::{AppId, ClientAuthFailure};
use latchkey_core::tenant::Tenant;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use crate::error::OAuthError;
use crate::tokens::{GRAPH_APP_ID, GRAPH_RESOURCE, TokenRequest, TokenService};

/// What the identity endpoints need.
#[derive(Debug, Clone)]
pub struct IdentityState {
    pub directory: Directory,
    pub tokens: TokenService,
    /// Scheme, host and port clients reach us at, without a trailing slash.
    pub public_url: Arc<str>,
}

impl IdentityState {
    /// The issuer of tokens for a tenant: `<public-url>/<tid>/v2.0`, as Entra's v2 issuer.
    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.public_url)
    }
}

/// Token requests are small; anything larger is refused before parsing.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn router(state: IdentityState) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery),
        )
        .route(
            "/common/v2.0/.well-known/openid-configuration",
            get(discovery_common),
        )
        .route(
            "/organizations/v2.0/.well-known/openid-configuration",
            get(discovery_organizations),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/common/discovery/v2.0/keys", get(keys_common))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/common/userrealm/{upn}", get(user_realm))
        .route("/common/discovery/instance", get(instance_discovery))
        .merge(crate::pages::routes())
        .merge(crate::sspr::routes())
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

pub(crate) async fn resolve_tenant(
    state: &IdentityState,
    name: &str,
) -> Result<Tenant, OAuthError> {
    let not_found = || {
        OAuthError::invalid_request(
            90002,
            format!(
                "Tenant '{}' not found. Check that the tenant id or domain is right.",
                clip(name)
            ),
        )
    };
    state
        .directory
        .find_tenant(name)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_found)
}

/// `common` and `organizations`: authorities that name no tenant.
pub(crate) fn is_tenant_independent(segment: &str) -> bool {
    segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("organizations")
}

/// The tenant a request is for: the one `segment` names, or, for `common` and
/// `organizations`, the one its client is registered in (`Directory::find_tenant_of_client`).
pub(crate) async fn resolve_tenant_for_client(
    state: &IdentityState,
    segment: &str,
    client_id: Option<&str>,
) -> Result<Tenant, OAuthError> {
    if !is_tenant_independent(segment) {
        return resolve_tenant(state, segment).await;
    }
    let client_id = client_id.ok_or_else(|| OAuthError::missing("client_id"))?;
    state
        .directory
        .find_tenant_of_client(client_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            OAuthError::new(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{}' was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant.",
                    clip(client_id)
                ),
            )
        })
}

/// [`resolve_tenant_for_client`] for a token or device-code request, with the client id it
/// presents.
async fn user_flow_tenant(
    state: &IdentityState,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Tenant, OAuthError> {
    let client = presented_client_id(headers, form);
    resolve_tenant_for_client(state, segment, client.as_deref()).await
}

/// The path segment the rest of a flow uses: the tenant's id where the request named none,
/// so that later pages and links reach the tenant the flow resolved to.
pub(crate) fn flow_segment(segment: String, tenant: &Tenant) -> String {
    if is_tenant_independent(&segment) {
        tenant.id.to_string()
    } else {
        segment
    }
}

/// The client id a token or device-code request presents, wherever it presents it (body,
/// HTTP Basic, or a client assertion's issuer), unauthenticated: only to find the tenant.
fn presented_client_id(headers: &HeaderMap, form: &Form) -> Option<String> {
    if let Some(id) = form.get("client_id") {
        return Some(id.to_owned());
    }
    if let Some(assertion) = form.get("client_assertion") {
        return crate::assertion::unverified_issuer(assertion);
    }
    client_credentials_from(headers, form)
        .ok()
        .map(|(id, _)| id)
}

pub(crate) fn internal(e: &dyn std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "identity endpoint failed");
    OAuthError::new(
        "server_error",
        90033,
        "A transient error has occurred. Please try again.",
    )
}

/// Echoed user input is clipped, so that an error never carries a large payload back.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

async fn discovery(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Response {
    match resolve_tenant(&state, &tenant).await {
        Ok(t) => Json(discovery_document(&state, &tenant, &t.id.to_string())).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn discovery_common(State(state): State<IdentityState>) -> Response {
    // Entra's multi-tenant documents name the issuer with a literal placeholder.
    Json(discovery_document(&state, "common", "{tenantid}")).into_response()
}

async fn discovery_organizations(State(state): State<IdentityState>) -> Response {
    Json(discovery_document(&state, "organizations", "{tenantid}")).into_response()
}

fn discovery_document(state: &IdentityState, segment: &str, tid: &str) -> serde_json::Value {
    let base = &state.public_url;
    let host = base.split_once("://").map_or(&**base, |(_, h)| h);
    json!({
        "token_endpoint": format!("{base}/{segment}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{segment}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": state.issuer(tid),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{segment}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": base.to_string(),
    })
}

async fn keys(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Response {
    if let Err(e) = resolve_tenant(&state, &tenant).await {
        return e.into_response();
    }
    keys_common(State(state)).await
}

async fn keys_common(State(state): State<IdentityState>) -> Response {
    // Make sure a key exists before the first token: relying parties may fetch JWKS first.
    if let Err(e) = state.tokens.keys().signing_key().await {
        return internal(&e).into_response();
    }
    match state.tokens.keys().jwks().await {
        Ok(jwks) => Json(jwks).into_response(),
        Err(e) => internal(&e).into_response(),
    }
}

/// MSAL asks whether a user's domain is federated before ROPC. Ours never are.
async fn user_realm(State(state): State<IdentityState>, Path(upn): Path<String>) -> Response {
    let domain = upn
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase();
    let known = match state.directory.find_tenant(&domain).await {
        Ok(t) => t.is_some(),
        Err(e) => return internal(&e).into_response(),
    };
    Json(json!({
        "ver": "1.0",
        "account_type": if known { "Managed" } else { "Unknown" },
        "domain_name": domain,
        "cloud_instance_name": "latchkey",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct InstanceQuery {
    authorization_endpoint: Option<String>,
}

/// Entra's instance discovery, which MSAL asks when given `instance_discovery=<url>`: it
/// validates the authority's host and names the tenant's discovery document. MSAL builds
/// `authorization_endpoint` from the authority with its port dropped, so the host is compared
/// without a port and the answer is built from our public URL, never from the parameter.
async fn instance_discovery(
    State(state): State<IdentityState>,
    Query(query): Query<InstanceQuery>,
) -> Response {
    let base = state.public_url.trim_end_matches('/');
    let Some(tenant) = query
        .authorization_endpoint
        .as_deref()
        .and_then(|endpoint| authority_tenant(base, endpoint))
    else {
        return OAuthError::new(
            "invalid_instance",
            50049,
            "Unknown or invalid instance: the authorization endpoint must be this server's https://<host>/<tenant>/oauth2/v2.0/authorize.",
        )
        .into_response();
    };
    let host = base.split_once("://").map_or(base, |(_, h)| h);
    Json(json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }))
    .into_response()
}

/// The tenant segment of an authorization endpoint on our own host (any port), or `None`.
fn authority_tenant<'a>(public_url: &str, endpoint: &'a str) -> Option<&'a str> {
    let without_port = |authority: &str| -> String {
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        host.to_ascii_lowercase()
    };
    let ours = public_url.strip_prefix("https://")?;
    let ours = ours.split('/').next()?;
    const SCHEME: &str = "https://";
    if !endpoint.get(..SCHEME.len())?.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let (authority, path) = endpoint[SCHEME.len()..].split_once('/')?;
    if without_port(authority) != without_port(ours) {
        return None;
    }
    let (tenant, tail) = path.split_once('/')?;
    let valid = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    (valid && tail.trim_end_matches('/') == "oauth2/v2.0/authorize").then_some(tenant)
}

/// The form's parameters; a parameter given twice is refused (RFC 6749 §3.2).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(OAuthError::invalid_request(
                900144,
                "The request body must be application/x-www-form-urlencoded.",
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            OAuthError::invalid_request(90014, "The request body is not a valid form.")
        })?;
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(other, _)| other == k) {
                return Err(OAuthError::invalid_request(
                    90015,
                    format!("The parameter '{}' appears more than once.", clip(k)),
                ));
            }
        }
        Ok(Self(pairs))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::missing(name))
    }
}

fn correlation(headers: &HeaderMap) -> Option<Uuid> {
    headers
        .get("client-request-id")
        .or_else(|| headers.get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn token(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let correlation_id = correlation(&headers);
    // An oversized or unreadable body is the client's error, in OAuth's shape.
    let Ok(body) = body else {
        return OAuthError::invalid_request(90014, "The request body is too large or unreadable.")
            .with_correlation(correlation_id)
            .into_response();
    };
    match token_inner(&state, &tenant, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.with_correlation(correlation_id).into_response(),
    }
}

async fn devicecode(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let correlation_id = correlation(&headers);
    let Ok(body) = body else {
        return OAuthError::invalid_request(90014, "The request body is too large or unreadable.")
            .with_correlation(correlation_id)
            .into_response();
    };
    let result = async {
        let form = Form::parse(&headers, &body)?;
        let tenant = user_flow_tenant(&state, &segment, &headers, &form).await?;
        // The page the person opens names the tenant the code belongs to.
        let segment = flow_segment(segment, &tenant);
        crate::user_flows::device_authorization(&state, &tenant, &segment, &headers, &form).await
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.with_correlation(correlation_id).into_response(),
    }
}

async fn token_inner(
    state: &IdentityState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let form = Form::parse(headers, body)?;
    let grant = form.require("grant_type")?;
    match grant {
        "client_credentials" => client_credentials(state, tenant, headers, &form).await,
        "password" => {
            let tenant = user_flow_tenant(state, tenant, headers, &form).await?;
            crate::user_flows::password_grant(state, &tenant, headers, &form).await
        }
        "refresh_token" => {
            let tenant = user_flow_tenant(state, tenant, headers, &form).await?;
            crate::user_flows::refresh_grant(state, &tenant, headers, &form).await
        }
        "authorization_code" => {
            let tenant = user_flow_tenant(state, tenant, headers, &form).await?;
            crate::user_flows::code_grant(state, &tenant, headers, &form).await
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let tenant = user_flow_tenant(state, tenant, headers, &form).await?;
            crate::user_flows::device_code_grant(state, &tenant, headers, &form).await
        }
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            70003,
            format!(
                "The app requested an unsupported grant type '{}'.",
                clip(other)
            ),
        )),
    }
}

/// The client's credentials: from the form, or HTTP Basic (`client_secret_basic`).
fn client_credentials_from(
    headers: &HeaderMap,
    form: &Form,
) -> Result<(String, Option<SecretString>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b64| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::new(
                        "invalid_client",
                        7000216,
                        "The Authorization header is malformed.",
                    )
                })?;
            let (id, secret) = raw.split_once(':').ok_or_else(|| {
                OAuthError::new(
                    "invalid_client",
                    7000216,
                    "The Authorization header is malformed.",
                )
            })?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            let decode = |s: &str| -> Result<String, OAuthError> {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
                    .ok_or_else(|| {
                        OAuthError::new(
                            "invalid_client",
                            7000216,
                            "The Authorization header is malformed.",
                        )
                    })
            };
            Ok::<_, OAuthError>((decode(id)?, decode(secret)?))
        })
        .transpose()?;
    match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            90016,
            "The client presented credentials both in the Authorization header and in the body; use one.",
        )),
        (Some((id, secret)), None) => {
            if form.get("client_id").is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    90016,
                    "client_id in the body differs from the Authorization header.",
                ));
            }
            Ok((id, Some(SecretString::from(secret))))
        }
        (None, secret) => Ok((
            form.require("client_id")?.to_owned(),
            secret.map(|s| SecretString::from(s.to_owned())),
        )),
    }
}

/// The audience for a `.default` scope's resource, when the resource is one Latchkey serves.
fn audience_for(state: &IdentityState, resource: &str) -> Option<&'static str> {
    let resource = resource.trim_end_matches('/');
    let public = state.public_url.trim_end_matches('/');
    // kiota derives `https://<host>/.default` from the Graph URL, without the port.
    let public_host = public
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split(':').next().unwrap_or(rest)));
    if resource.eq_ignore_ascii_case(GRAPH_RESOURCE)
        || resource.eq_ignore_ascii_case(GRAPH_APP_ID)
        || resource.eq_ignore_ascii_case(public)
        || public_host.is_some_and(|h| resource.eq_ignore_ascii_case(&h))
    {
        Some(GRAPH_RESOURCE)
    } else {
        None
    }
}

/// Identifies and authenticates the client. Confidential clients must present a valid
/// secret; public clients (allowed only where `allow_public`) must present none.
pub(crate) async fn authenticate_client(
    state: &IdentityState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
    allow_public: bool,
) -> Result<latchkey_core::app::App, OAuthError> {
    let assertion = form.get("client_assertion");
    if assertion.is_some()
        && form.get("client_assertion_type") != Some(crate::assertion::JWT_BEARER)
    {
        return Err(OAuthError::invalid_request(
            7000219,
            "The client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
        ));
    }
    let (client_id, secret) = match assertion {
        Some(a) if form.get("client_id").is_none() => (
            crate::assertion::unverified_issuer(a)
                .ok_or_else(|| OAuthError::missing("client_id"))?,
            None,
        ),
        _ => client_credentials_from(headers, form)?,
    };
    if assertion.is_some() && secret.is_some() {
        return Err(OAuthError::invalid_request(
            7000218,
            "Send either a client_secret or a client_assertion, not both.",
        ));
    }
    let not_found = || {
        OAuthError::new(
            "invalid_client",
            700016,
            format!(
                "Application with identifier '{}' was not found in the directory '{}'.",
                clip(&client_id),
                tenant.display_name
            ),
        )
    };
    let app_id = client_id
        .parse::<Uuid>()
        .map(AppId)
        .map_err(|_| not_found())?;
    let app = state
        .directory
        .find_client(tenant.id, app_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_found)?;
    if app.public_client {
        if !allow_public {
            return Err(OAuthError::new(
                "invalid_client",
                700025,
                "Client is public so the client credentials flow is not available to it.",
            ));
        }
        if secret.is_some() || assertion.is_some() {
            return Err(OAuthError::new(
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            ));
        }
        return Ok(app);
    }
    if let Some(a) = assertion {
        crate::assertion::verify(state, tenant, &app, a)?;
        return Ok(app);
    }
    let secret = secret.ok_or_else(|| {
        OAuthError::new(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    let now = state.directory.clock().now();
    app.verify_secret(&secret, now).map_err(|failure| match failure {
        ClientAuthFailure::InvalidSecret => OAuthError::new(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        ),
        ClientAuthFailure::Expired => OAuthError::new(
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{}' are expired.", app.app_id),
        ),
    })?;
    Ok(app)
}

async fn client_credentials(
    state: &IdentityState,
    tenant_segment: &str,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, OAuthError> {
    if matches!(tenant_segment, "common" | "organizations" | "consumers") {
        return Err(OAuthError::invalid_request(
            900023,
            format!(
                "The client credentials flow needs a tenant: use the tenant's id or domain instead of '{tenant_segment}'."
            ),
        ));
    }
    let tenant = resolve_tenant(state, tenant_segment).await?;
    let app = authenticate_client(state, &tenant, headers, form, false).await?;

    let scope = form.require("scope")?;
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let [single] = scopes.as_slice() else {
        return Err(OAuthError::new(
            "invalid_scope",
            70011,
            "The provided request must include exactly one scope for the client credentials flow: the resource's '.default'.",
        ));
    };
    let Some(resource) = single.strip_suffix("/.default") else {
        return Err(OAuthError::new(
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                clip(single)
            ),
        ));
    };
    let audience = audience_for(state, resource).ok_or_else(|| {
        OAuthError::new(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {} was not found in the tenant named {}.",
                clip(resource),
                tenant.display_name
            ),
        )
    })?;

    let issued = state
        .tokens
        .issue(TokenRequest {
            audience: audience.into(),
            issuer: state.issuer(&tenant.id.to_string()),
            tenant_id: tenant.id.to_string(),
            object_id: app.object_id.to_string(),
            client_id: app.app_id.to_string(),
            roles: app.granted_roles().to_vec(),
            scopes: None,
            app_only: true,
        })
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(client_id = %app.app_id, tenant = %tenant.id, "issued an app-only token");
    let mut response = (
        StatusCode::OK,
        Json(json!({
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.token,
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::authority_tenant;

    const OURS: &str = "https://login.contoso.test:8443";

    #[test]
    fn an_authorize_url_on_our_host_names_its_tenant_whatever_the_port() {
        for endpoint in [
            "https://login.contoso.test/contoso.test/oauth2/v2.0/authorize",
            "https://LOGIN.contoso.test:8443/contoso.test/oauth2/v2.0/authorize",
            "HTTPS://login.contoso.test:443/contoso.test/oauth2/v2.0/authorize/",
        ] {
            assert_eq!(
                authority_tenant(OURS, endpoint),
                Some("contoso.test"),
                "{endpoint}"
            );
        }
    }

    #[test]
    fn another_host_another_path_or_plain_http_is_not_our_instance() {
        for endpoint in [
            "https://login.microsoftonline.com/contoso.test/oauth2/v2.0/authorize",
            "https://login.contoso.test.evil.example/contoso.test/oauth2/v2.0/authorize",
            "http://login.contoso.test/contoso.test/oauth2/v2.0/authorize",
            "https://login.contoso.test/contoso.test/oauth2/v2.0/token",
            "https://login.contoso.test//oauth2/v2.0/authorize",
            "https://login.contoso.test/a%2Fb/oauth2/v2.0/authorize",
            "https://login.contoso.test",
            "",
        ] {
            assert_eq!(authority_tenant(OURS, endpoint), None, "{endpoint}");
        }
    }
}
