//! Bearer authentication: the identity platform's one token validation, then core decides
//! who the token speaks for (an application with its permissions, or a user with their
//! roles, whose sessions, account and deletion the token cannot outlive).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use latchkey_core::app::AppId;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::CallerRefused;
use latchkey_core::ids::{TenantId, UserId};
use latchkey_identity::TokenError;
use latchkey_identity::tokens::{GRAPH_APP_ID, GRAPH_RESOURCE};

use crate::error::GraphError;
use crate::http::GraphState;

/// The authenticated caller of a Graph request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub actor: Actor,
}

impl Caller {
    /// The signed-in user, for `/me`; Graph refuses `/me` with an app-only token.
    pub fn user_id(&self) -> Result<UserId, GraphError> {
        match &self.actor {
            Actor::User { id, .. } => Ok(*id),
            _ => Err(GraphError::bad_request(
                "/me request is only valid with delegated authentication flow.",
            )),
        }
    }
}

#[derive(serde::Deserialize)]
struct Unverified {
    tid: String,
}

/// The tenant a token claims, read before validation only to know which issuer to expect;
/// validation then checks that claim with the signature.
fn claimed_tenant(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Unverified>(&bytes)
        .ok()
        .map(|c| c.tid)
}

fn token_failure(e: &TokenError) -> &'static str {
    match e {
        TokenError::Malformed => "Access token validation failure: the token is malformed.",
        TokenError::Algorithm => {
            "Access token validation failure: the signing algorithm is not allowed."
        }
        TokenError::UnknownKey => {
            "Access token validation failure: the token was signed with an unknown key."
        }
        TokenError::Signature => "Access token validation failure: invalid signature.",
        TokenError::Expired => "Lifetime validation failed, the token is expired.",
        TokenError::NotYetValid => "Lifetime validation failed, the token is not yet valid.",
        TokenError::Audience => "Access token validation failure. Invalid audience.",
        TokenError::Issuer => "Access token validation failure. Invalid issuer.",
        TokenError::Keys(_) => "",
    }
}

impl FromRequestParts<GraphState> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &GraphState,
    ) -> Result<Self, Self::Rejection> {
        let refuse = |m: &str| GraphError::unauthenticated(&state.public_url, m);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| refuse("Access token is empty."))?;
        let value = value
            .to_str()
            .map_err(|_| refuse("The Authorization header is not valid text."))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refuse("Access token is empty: use 'Authorization: Bearer <token>'."))?;
        let tid = claimed_tenant(token)
            .ok_or_else(|| refuse("Access token validation failure: the token is malformed."))?;
        let tenant: TenantId = tid
            .parse()
            .map_err(|_| refuse("Access token validation failure. Invalid tenant."))?;
        let issuer = format!("{}/{tenant}/v2.0", state.public_url);
        let claims = state
            .tokens
            .validate(token, &[GRAPH_RESOURCE, GRAPH_APP_ID], &[issuer])
            .await
            .map_err(|e| match e {
                TokenError::Keys(k) => GraphError::internal(&k),
                other => refuse(token_failure(&other)),
            })?;
        let result = if claims.idtyp == "app" {
            let app_id = claims
                .appid
                .parse()
                .map(AppId)
                .map_err(|_| refuse("Access token validation failure: appid is not a GUID."))?;
            state
                .directory
                .app_caller(tenant, app_id, claims.roles.clone(), Channel::Graph)
                .await
        } else {
            let user: UserId = claims
                .oid
                .parse()
                .map_err(|_| refuse("Access token validation failure: oid is not a GUID."))?;
            let scopes: Vec<String> = claims
                .scp
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            let issued = Utc
                .timestamp_opt(claims.iat, 0)
                .single()
                .ok_or_else(|| refuse("Access token validation failure: iat is not a time."))?;
            state
                .directory
                .delegated_caller(tenant, user, scopes, issued, Channel::Graph)
                .await
        };
        let actor = result.map_err(|e| match e {
            CallerRefused::Directory(d) => GraphError::from(d),
            CallerRefused::Revoked => {
                refuse("Continuous access evaluation resulted in challenge: the user's sessions were revoked after this token was issued.")
            }
            CallerRefused::Disabled => refuse("The user account of this token is disabled."),
            CallerRefused::UnknownUser => {
                refuse("The user of this token does not exist in the tenant or has been deleted.")
            }
            CallerRefused::UnknownApp => {
                refuse("The application of this token is no longer registered in the tenant.")
            }
        })?;
        state
            .throttle
            .admit(&actor, state.directory.clock().now())?;
        Ok(Caller { tenant, actor })
    }
}
