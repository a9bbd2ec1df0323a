//! Grants that act for a user: resource owner password credentials (ROPC) and refresh
//! tokens with rotation. Both end in [`issue_user_tokens`], which returns what MSAL and
//! azure-identity need: an access token, an id_token, `client_info`, and a refresh token when
//! `offline_access` was asked for.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use latchkey_core::app::{App, DELEGATED_PERMISSIONS};
use latchkey_core::directory::{
    ClientRef, CodeError, DeviceCodeError, OIDC_SCOPES, SignInError, missing_consent,
};
use latchkey_core::interactive::UserConsent;
use latchkey_core::sign_in::RefreshTokenRecord;
use latchkey_core::tenant::Tenant;
use latchkey_core::user::User;
use rand::RngCore;
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::OAuthError;
use crate::http::{Form, IdentityState, authenticate_client, internal};
use crate::tokens::{GRAPH_RESOURCE, TokenRequest};

/// Refresh tokens live 90 days, as Entra's do.
const REFRESH_LIFETIME_DAYS: i64 = 90;

/// The scopes a request asks for, checked against the app's consented delegated permissions.
pub(crate) struct Scopes {
    /// Granted Graph delegated permissions, for `scp`.
    delegated: Vec<String>,
    /// Whether a refresh token was asked for.
    offline: bool,
    /// What was asked for, echoed back as `scope` so that MSAL's cache finds it again.
    echo: String,
}

impl Scopes {
    /// The scopes an authorization code was issued for (consent was settled on the pages).
    pub(crate) fn granted(scopes: &str) -> Self {
        let mut delegated: Vec<String> = scopes
            .split_whitespace()
            .filter(|s| !OIDC_SCOPES.contains(s))
            .map(str::to_owned)
            .collect();
        delegated.sort();
        delegated.dedup();
        Self {
            delegated,
            offline: scopes.split_whitespace().any(|s| s == "offline_access"),
            echo: scopes.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

/// Canonical names of requested scopes: OIDC scopes as they are, Graph delegated
/// permissions (`User.Read`, `https://graph.microsoft.com/User.Read`) in the catalogue's
/// spelling, a Graph `.default` expanded to the app's delegated permissions. Unknown scopes
/// are refused with Entra's code.
pub(crate) fn canonical_scopes(app: &App, requested: &str) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    for scope in requested.split_whitespace() {
        if OIDC_SCOPES.contains(&scope) {
            push(scope);
            continue;
        }
        let name = scope
            .strip_prefix("https://graph.microsoft.com/")
            .or_else(|| scope.strip_prefix("00000003-0000-0000-c000-000000000000/"))
            .unwrap_or(scope);
        if name == ".default" {
            for p in &app.delegated_permissions {
                push(p);
            }
            continue;
        }
        let known = DELEGATED_PERMISSIONS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                OAuthError::new(
                    "invalid_scope",
                    70011,
                    format!("The provided value for the input parameter 'scope' is not valid. The scope '{}' does not exist.", name.chars().take(64).collect::<String>()),
                )
            })?;
        push(known);
    }
    Ok(out)
}

/// Scopes for the non-interactive grants: every delegated permission must be consented,
/// by an administrator or (through the sign-in pages) by this user.
fn parse_scopes(
    app: &App,
    requested: &str,
    consent: Option<&UserConsent>,
) -> Result<Scopes, OAuthError> {
    let canonical = canonical_scopes(app, requested)?;
    let delegated: Vec<String> = canonical
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    let default_unconsented = requested
        .split_whitespace()
        .any(|s| s.ends_with(".default"))
        && !app.admin_consent
        && consent.is_none();
    if default_unconsented || !missing_consent(app, consent, &delegated).is_empty() {
        return Err(consent_required(app));
    }
    let mut delegated = delegated;
    delegated.sort();
    Ok(Scopes {
        delegated,
        offline: canonical.iter().any(|s| s == "offline_access"),
        echo: requested.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

fn consent_required(app: &App) -> OAuthError {
    OAuthError::new(
        "invalid_grant",
        65001,
        format!(
            "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.",
            app.app_id, app.display_name
        ),
    )
}

fn sign_in_error(e: &SignInError) -> OAuthError {
    let message = match e {
        SignInError::UnknownUser => "User account does not exist in this directory.".to_owned(),
        SignInError::WrongPassword => {
            "Error validating credentials due to invalid username or password.".to_owned()
        }
        SignInError::Locked => {
            "The user account is locked: too many sign-ins with a wrong password. Try again later."
                .to_owned()
        }
        SignInError::Disabled => "The user account is disabled.".to_owned(),
        SignInError::MustChangePassword(_) => {
            "The password is expired: the user must sign in interactively and change it.".to_owned()
        }
        SignInError::Busy | SignInError::Internal(_) => return internal(e),
    };
    let code = u32::try_from(e.aadsts()).unwrap_or(90033);
    OAuthError::new("invalid_grant", code, message)
}

pub(crate) async fn password_grant(
    state: &IdentityState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, OAuthError> {
    let app = authenticate_client(state, tenant, headers, form, true).await?;
    let username = form.require("username")?;
    let password = SecretString::from(form.require("password")?.to_owned());
    let scopes = parse_scopes(&app, form.require("scope")?, None)?;
    let client = ClientRef {
        app_id: Some(app.app_id.to_string()),
        display_name: Some(app.display_name.clone()),
    };
    let user = state
        .directory
        .sign_in_with_password(tenant.id, username, &password, &client)
        .await
        .map_err(|e| sign_in_error(&e))?;
    // A password alone is not enough for a user with a second factor, and ROPC cannot ask
    // for one: Entra answers AADSTS50076 and the client must sign in interactively.
    let due = state
        .directory
        .second_factor_due(tenant.id, &user)
        .await
        .map_err(|e| internal(&e))?;
    if due != latchkey_core::directory::SecondFactorDue::None {
        return Err(OAuthError::new(
            "interaction_required",
            50076,
            format!(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{}'.",
                app.display_name
            ),
        ));
    }
    issue_user_tokens(state, tenant, &app, &user, &scopes, None, None).await
}

pub(crate) async fn refresh_grant(
    state: &IdentityState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, OAuthError> {
    let app = authenticate_client(state, tenant, headers, form, true).await?;
    let presented = form.require("refresh_token")?;
    let invalid = || {
        OAuthError::new(
            "invalid_grant",
            9002313,
            "Invalid request. The refresh token is malformed or not valid.",
        )
    };
    let revoked = || {
        OAuthError::new(
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked; a fresh sign-in is needed.",
        )
    };
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let record = state
        .directory
        .store()
        .find_refresh_token(&digest)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(invalid)?;
    if record.tenant_id != tenant.id || record.client_id != app.app_id.to_string() {
        return Err(invalid());
    }
    let now = state.directory.clock().now();
    if record.revoked_at.is_some() {
        return Err(revoked());
    }
    if now >= record.expires_at {
        return Err(OAuthError::new(
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity.",
        ));
    }
    // One use per token: a second use means it was stolen or replayed, so the whole family
    // (every token rotated from the same sign-in) dies.
    let first_use = state
        .directory
        .store()
        .use_refresh_token(record.id, now)
        .await
        .map_err(|e| internal(&e))?;
    if !first_use {
        state
            .directory
            .store()
            .revoke_refresh_family(record.family_id, now)
            .await
            .map_err(|e| internal(&e))?;
        tracing::warn!(family = %record.family_id, "refresh token reused: family revoked");
        return Err(revoked());
    }
    let user = state
        .directory
        .find_active_user(tenant.id, record.user_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(revoked)?;
    if !user.account_enabled {
        return Err(OAuthError::new(
            "invalid_grant",
            50057,
            "The user account is disabled.",
        ));
    }
    if record.issued_at < user.sign_in_sessions_valid_from {
        return Err(revoked());
    }
    let consent = state
        .directory
        .user_consent(&user, &app)
        .await
        .map_err(|e| internal(&e))?;
    let requested = form.get("scope").unwrap_or(&record.scopes);
    let scopes = parse_scopes(&app, requested, consent.as_ref())?;
    let original = parse_scopes(&app, &record.scopes, consent.as_ref())?;
    if scopes
        .delegated
        .iter()
        .any(|s| !original.delegated.contains(s))
    {
        return Err(OAuthError::new(
            "invalid_scope",
            70011,
            "A refresh token cannot widen the scopes it was issued for.",
        ));
    }
    issue_user_tokens(
        state,
        tenant,
        &app,
        &user,
        &scopes,
        Some(record.family_id),
        None,
    )
    .await
}

/// The authorization code grant: the client that asked for the code redeems it with the
/// PKCE verifier and the same redirect URI; the code is used up whatever happens next.
pub(crate) async fn code_grant(
    state: &IdentityState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, OAuthError> {
    let app = authenticate_client(state, tenant, headers, form, true).await?;
    let code = SecretString::from(form.require("code")?.to_owned());
    let redirect_uri = form.require("redirect_uri")?;
    let verifier = SecretString::from(form.require("code_verifier")?.to_owned());
    let (record, user) = state
        .directory
        .redeem_authorization_code(tenant.id, &code, app.app_id, redirect_uri, &verifier)
        .await
        .map_err(|e| match e {
            CodeError::Directory(inner) => internal(&inner),
            other => OAuthError::new(
                "invalid_grant",
                other.aadsts(),
                format!("{}.", capitalised(&other.to_string())),
            ),
        })?;
    let scopes = Scopes::granted(&record.scopes);
    let id_extra = IdTokenExtra {
        nonce: record.nonce.clone(),
        auth_time: Some(record.auth_time.timestamp()),
        mfa: record.mfa,
    };
    issue_user_tokens(
        state,
        tenant,
        &app,
        &user,
        &scopes,
        Some(record.family_id),
        Some(id_extra),
    )
    .await
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What an interactive sign-in adds to the id_token.
pub(crate) struct IdTokenExtra {
    pub nonce: Option<String>,
    pub auth_time: Option<i64>,
    /// Whether the sign-in included a second factor: `amr` is `["pwd","mfa"]`, else `["pwd"]`.
    pub mfa: bool,
}

/// Access token, id_token, client_info and (with offline_access) a new refresh token.
pub(crate) async fn issue_user_tokens(
    state: &IdentityState,
    tenant: &Tenant,
    app: &App,
    user: &User,
    scopes: &Scopes,
    family: Option<Uuid>,
    extra: Option<IdTokenExtra>,
) -> Result<Response, OAuthError> {
    let tid = tenant.id.to_string();
    let oid = user.id.to_string();
    let scp = if scopes.delegated.is_empty() {
        "openid profile email".to_owned()
    } else {
        scopes.delegated.join(" ")
    };
    let access = state
        .tokens
        .issue(TokenRequest {
            audience: GRAPH_RESOURCE.into(),
            issuer: state.issuer(&tid),
            tenant_id: tid.clone(),
            object_id: oid.clone(),
            client_id: app.app_id.to_string(),
            roles: vec![],
            scopes: Some(scp),
            app_only: false,
        })
        .await
        .map_err(|e| internal(&e))?;
    let now = state.directory.clock().now();
    let mut id_claims = json!({
            "aud": app.app_id.to_string(),
            "iss": state.issuer(&tid),
            "iat": now.timestamp(),
            "nbf": now.timestamp(),
            "exp": now.timestamp() + access.expires_in,
            "tid": tid,
            "oid": oid,
            "sub": oid,
            "preferred_username": user.user_principal_name.as_str(),
            "name": user.display_name.as_str(),
            "ver": "2.0",
    });
    if let Some(extra) = extra {
        if let Some(nonce) = extra.nonce {
            id_claims["nonce"] = json!(nonce);
        }
        if let Some(at) = extra.auth_time {
            id_claims["auth_time"] = json!(at);
        }
        id_claims["amr"] = if extra.mfa {
            json!(["pwd", "mfa"])
        } else {
            json!(["pwd"])
        };
    }
    let id_token = state
        .tokens
        .sign_json(&id_claims)
        .await
        .map_err(|e| internal(&e))?;
    let client_info = URL_SAFE_NO_PAD.encode(json!({ "uid": oid, "utid": tid }).to_string());
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.echo,
        "expires_in": access.expires_in,
        "ext_expires_in": access.expires_in,
        "access_token": access.token,
        "id_token": id_token,
        "client_info": client_info,
    });
    if scopes.offline {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let record = RefreshTokenRecord {
            id: Uuid::new_v4(),
            family_id: family.unwrap_or_else(Uuid::new_v4),
            tenant_id: tenant.id,
            user_id: user.id,
            client_id: app.app_id.to_string(),
            scopes: scopes.echo.clone(),
            digest: Sha256::digest(token.as_bytes()).into(),
            issued_at: now,
            expires_at: now + Duration::days(REFRESH_LIFETIME_DAYS),
            used_at: None,
            revoked_at: None,
        };
        state
            .directory
            .store()
            .insert_refresh_token(&record)
            .await
            .map_err(|e| internal(&e))?;
        body["refresh_token"] = json!(token);
    }
    tracing::info!(client_id = %app.app_id, user = %user.id, "issued user tokens");
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (RFC 8628 §3.1).
pub(crate) async fn device_authorization(
    state: &IdentityState,
    tenant: &Tenant,
    segment: &str,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, OAuthError> {
    let app = authenticate_client(state, tenant, headers, form, true).await?;
    let scopes = canonical_scopes(&app, form.require("scope")?)?;
    let (device_code, record) = state
        .directory
        .start_device_authorization(&app, &scopes.join(" "))
        .await
        .map_err(|e| internal(&e))?;
    let uri = format!("{}/{segment}/devicelogin", state.public_url);
    let mut response = Json(json!({
        "device_code": secrecy::ExposeSecret::expose_secret(&device_code),
        "user_code": record.user_code,
        "verification_uri": uri,
        "expires_in": (record.expires_at - record.issued_at).num_seconds(),
        "interval": latchkey_core::interactive::DEVICE_POLL_SECONDS,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {} to authenticate.", record.user_code),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The device code grant: pending until the user approves, then tokens exactly once.
pub(crate) async fn device_code_grant(
    state: &IdentityState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, OAuthError> {
    let app = authenticate_client(state, tenant, headers, form, true).await?;
    let code = SecretString::from(form.require("device_code")?.to_owned());
    let (record, user) = state
        .directory
        .redeem_device_code(tenant.id, &code, &app)
        .await
        .map_err(|e| match e {
            DeviceCodeError::Directory(inner) => internal(&inner),
            other => {
                let (error, code) = other.wire();
                OAuthError::new(error, code, format!("{}.", capitalised(&other.to_string())))
            }
        })?;
    let scopes = Scopes::granted(&record.scopes);
    let extra = IdTokenExtra {
        nonce: None,
        auth_time: record.auth_time.map(|t| t.timestamp()),
        mfa: false,
    };
    issue_user_tokens(state, tenant, &app, &user, &scopes, None, Some(extra)).await
}
