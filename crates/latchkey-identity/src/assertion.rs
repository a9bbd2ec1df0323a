//! Client assertions (`private_key_jwt`, RFC 7523): a confidential client proves itself with
//! a JWT signed by the private key of a certificate registered on the app, as MSAL's
//! certificate credential does. The header names the certificate by thumbprint (`x5t`, or
//! `x5t#S256`); the claims must name the client (`iss` = `sub` = client id) and this tenant's
//! token endpoint (`aud`), and be within their validity.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey_core::app::App;
use latchkey_core::tenant::Tenant;
use serde::Deserialize;

use crate::error::OAuthError;
use crate::http::IdentityState;

pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew allowed between the client and us.
const SKEW: i64 = 300;

#[derive(Deserialize)]
struct AssertionClaims {
    aud: String,
    iss: String,
    sub: String,
    // Numeric dates may carry fractions (MSAL sends them so).
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
}

fn refused(code: u32, message: &str) -> OAuthError {
    OAuthError::new("invalid_client", code, message.to_owned())
}

/// The `iss` of an assertion before it is verified, to know which app to look up when the
/// request has no `client_id`; the verification that follows checks it.
pub(crate) fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let v: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
}

pub(crate) fn verify(
    state: &IdentityState,
    tenant: &Tenant,
    app: &App,
    assertion: &str,
) -> Result<(), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| refused(50027, "The client assertion is not a valid JWT."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(refused(
            700027,
            "The client assertion must be signed with RS256 or PS256.",
        ));
    }
    // base64url per RFC 7515, but MSAL pads it: accept both, and plain base64 too.
    let thumb = |t: &Option<String>| {
        t.as_deref().and_then(|v| {
            let v = v.trim_end_matches('=');
            URL_SAFE_NO_PAD
                .decode(v)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v))
                .ok()
        })
    };
    let (sha1, sha256) = (thumb(&header.x5t), thumb(&header.x5t_s256));
    let cert = app
        .certificate_by_thumbprint(sha1.as_deref(), sha256.as_deref())
        .ok_or_else(|| {
            refused(
                700027,
                "Client assertion failed signature validation: the certificate its header names (x5t) is not registered on the application.",
            )
        })?;
    let now = state.directory.clock().now();
    if now < cert.start || now >= cert.end {
        return Err(refused(
            700027,
            "The certificate that signed the client assertion is not within its validity period.",
        ));
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = std::collections::HashSet::new();
    let claims = jsonwebtoken::decode::<AssertionClaims>(
        assertion,
        &DecodingKey::from_rsa_der(&cert.public_key),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => {
            refused(700027, "Client assertion failed signature validation.")
        }
        _ => refused(
            50027,
            "The client assertion is malformed: it needs aud, iss, sub and exp claims.",
        ),
    })?
    .claims;
    let client = app.app_id.to_string();
    if claims.iss != client || claims.sub != client {
        return Err(refused(
            700021,
            "The client assertion's iss and sub must both be the application's client id.",
        ));
    }
    #[allow(clippy::cast_precision_loss)]
    let t = now.timestamp() as f64;
    let skew = SKEW as f64;
    if t >= claims.exp + skew || claims.nbf.is_some_and(|nbf| t + skew < nbf) {
        return Err(refused(
            700024,
            "The client assertion is not within its valid time range.",
        ));
    }
    if !is_our_token_endpoint(state, tenant, &claims.aud) {
        return Err(refused(
            700027,
            "The client assertion's audience must be this tenant's token endpoint.",
        ));
    }
    Ok(())
}

/// `<public-url>/<tenant id or domain>/oauth2/v2.0/token` (with or without `/v2.0`).
fn is_our_token_endpoint(state: &IdentityState, tenant: &Tenant, aud: &str) -> bool {
    let Some(rest) = aud.strip_prefix(&format!("{}/", state.public_url)) else {
        return false;
    };
    let Some(segment) = rest
        .strip_suffix("/oauth2/v2.0/token")
        .or_else(|| rest.strip_suffix("/oauth2/token"))
    else {
        return false;
    };
    segment.eq_ignore_ascii_case(&tenant.id.to_string())
        || tenant
            .domains
            .iter()
            .any(|d| d.as_str().eq_ignore_ascii_case(segment))
}
