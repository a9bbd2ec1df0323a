//! The authorization request (`GET /{tenant}/oauth2/v2.0/authorize`), parsed and checked
//! once, and re-checked from the same query string on every form of the sign-in pages (the
//! forms carry it), so no page trusts a value the browser could have changed.
//!
//! Until `client_id` and `redirect_uri` are known good, a bad request gets an error page and
//! never a redirect: sending a browser to an unregistered address would make Latchkey an open
//! redirector and could hand a code to an attacker.

use latchkey_core::app::{App, AppId};
use latchkey_core::interactive::{DeviceCodeRecord, is_s256_challenge};
use latchkey_core::tenant::Tenant;
use uuid::Uuid;

use crate::http::IdentityState;
use crate::user_flows::canonical_scopes;

/// A query string larger than this is refused outright.
pub(crate) const MAX_QUERY: usize = 8 * 1024;
/// Any one parameter longer than this is refused (state and nonce included).
const MAX_PARAMETER: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Query,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prompt {
    Login,
    None,
    SelectAccount,
    Consent,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeRequest {
    /// The query string as received; the forms carry it to the next step.
    pub raw: String,
    pub app: App,
    pub redirect_uri: String,
    /// Canonical scope names: OIDC scopes and Graph delegated permissions.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub response_mode: ResponseMode,
    pub prompt: Option<Prompt>,
    pub login_hint: Option<String>,
    /// Set for the device-login flow: the pages end by approving this device authorization
    /// instead of redirecting with a code (there is no redirect URI then).
    pub device: Option<DeviceCodeRecord>,
}

/// Where errors go once the redirect URI is trusted.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub response_mode: ResponseMode,
    pub app_name: String,
}

/// Why a request was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No trustworthy redirect URI: show this on a page.
    Page { code: u32, message: String },
    /// The redirect URI is registered: send the error back to the app (RFC 6749 §4.1.2.1).
    Redirect {
        to: ReplyTo,
        error: &'static str,
        code: u32,
        message: String,
    },
}

fn page(code: u32, message: impl Into<String>) -> Refusal {
    Refusal::Page {
        code,
        message: message.into(),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

impl AuthorizeRequest {
    pub(crate) async fn parse(
        state: &IdentityState,
        tenant: &Tenant,
        raw: &str,
    ) -> Result<Self, Refusal> {
        if raw.len() > MAX_QUERY {
            return Err(page(90015, "The sign-in request is too large."));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| page(90014, "The sign-in request is not a valid query string."))?;
        for (i, (k, v)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(other, _)| other == k) {
                return Err(page(
                    90015,
                    format!("The parameter '{}' appears more than once.", clip(k)),
                ));
            }
            if v.len() > MAX_PARAMETER {
                return Err(page(
                    90015,
                    format!("The parameter '{}' is too long.", clip(k)),
                ));
            }
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };

        let client_id = get("client_id").ok_or_else(|| {
            page(
                900144,
                "The request must contain the parameter 'client_id'.",
            )
        })?;
        let unknown = || {
            page(
                700016,
                format!(
                    "Application with identifier '{}' was not found in the directory '{}'.",
                    clip(client_id),
                    tenant.display_name
                ),
            )
        };
        let app_id = client_id
            .parse::<Uuid>()
            .map(AppId)
            .map_err(|_| unknown())?;
        let app = state
            .directory
            .find_client(tenant.id, app_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "authorize: app lookup failed");
                page(90033, "A transient error has occurred. Please try again.")
            })?
            .ok_or_else(unknown)?;
        let redirect_uri = get("redirect_uri").ok_or_else(|| {
            page(
                900144,
                "The request must contain the parameter 'redirect_uri'.",
            )
        })?;
        // Exact string comparison, as Entra does: no prefix, no normalisation.
        if !app.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(page(
                50011,
                format!(
                    "The redirect URI '{}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                    redirect_uri.chars().take(256).collect::<String>(),
                    app.app_id
                ),
            ));
        }

        let response_mode = match get("response_mode") {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(other) => {
                return Err(page(
                    900144,
                    format!(
                        "The response_mode '{}' is not supported: use query or form_post.",
                        clip(other)
                    ),
                ));
            }
        };
        let to = ReplyTo {
            redirect_uri: redirect_uri.to_owned(),
            state: get("state").map(str::to_owned),
            response_mode,
            app_name: app.display_name.clone(),
        };
        let refuse = |error: &'static str, code: u32, message: String| Refusal::Redirect {
            to: to.clone(),
            error,
            code,
            message,
        };

        match get("response_type") {
            Some("code") => {}
            None => {
                return Err(refuse(
                    "invalid_request",
                    900144,
                    "The request must contain the parameter 'response_type'.".into(),
                ));
            }
            Some(other) => {
                return Err(refuse(
                    "unsupported_response_type",
                    700054,
                    format!(
                        "The response_type '{}' is not enabled for the application: use 'code'.",
                        clip(other)
                    ),
                ));
            }
        }
        let Some(scope) = get("scope") else {
            return Err(refuse(
                "invalid_request",
                900144,
                "The request must contain the parameter 'scope'.".into(),
            ));
        };
        let scopes = canonical_scopes(&app, scope)
            .map_err(|e| refuse("invalid_scope", e.code, e.message))?;
        let Some(code_challenge) = get("code_challenge") else {
            return Err(refuse(
                "invalid_request",
                9002325,
                "Proof Key for Code Exchange is required: send a code_challenge with code_challenge_method=S256.".into(),
            ));
        };
        if get("code_challenge_method") != Some("S256") {
            return Err(refuse(
                "invalid_request",
                9002325,
                "Only the S256 code_challenge_method is allowed; 'plain' offers no protection if the request is seen.".into(),
            ));
        }
        if !is_s256_challenge(code_challenge) {
            return Err(refuse(
                "invalid_request",
                50148,
                "The code_challenge must be 43 base64url characters: the SHA-256 of the code_verifier.".into(),
            ));
        }
        let prompt = match get("prompt") {
            None => None,
            Some("login") => Some(Prompt::Login),
            Some("none") => Some(Prompt::None),
            Some("select_account") => Some(Prompt::SelectAccount),
            Some("consent") => Some(Prompt::Consent),
            Some(other) => {
                return Err(refuse(
                    "invalid_request",
                    90023,
                    format!(
                        "The prompt '{}' is not supported: use login, none, select_account or consent.",
                        clip(other)
                    ),
                ));
            }
        };
        Ok(Self {
            raw: raw.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: to.state.clone(),
            nonce: get("nonce").map(str::to_owned),
            code_challenge: code_challenge.to_owned(),
            response_mode,
            prompt,
            login_hint: get("login_hint").map(str::to_owned),
            app,
            device: None,
        })
    }

    /// The device-login flow's request: `user_code=…`, carried by the forms like a query.
    pub(crate) fn device_request(raw: &str) -> bool {
        raw.starts_with("user_code=")
    }

    pub(crate) async fn for_device(
        state: &IdentityState,
        tenant: &Tenant,
        raw: &str,
    ) -> Result<Self, Refusal> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
        let typed = pairs
            .iter()
            .find(|(k, _)| k == "user_code")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let transient = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "device login: lookup failed");
            page(90033, "A transient error has occurred. Please try again.")
        };
        let record = state
            .directory
            .pending_device_code(tenant.id, typed)
            .await
            .map_err(|e| transient(&e))?
            .ok_or_else(|| {
                page(
                    70019,
                    "That code is not valid or has expired. Check the code on your device, or start again on the device to get a new one.",
                )
            })?;
        let app = state
            .directory
            .find_client(tenant.id, record.client_id)
            .await
            .map_err(|e| transient(&e))?
            .ok_or_else(|| page(700016, "The application is no longer registered."))?;
        Ok(Self {
            raw: serde_urlencoded::to_string([("user_code", record.user_code.as_str())])
                .unwrap_or_default(),
            redirect_uri: String::new(),
            scopes: record
                .scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            state: None,
            nonce: None,
            code_challenge: String::new(),
            response_mode: ResponseMode::Query,
            prompt: None,
            login_hint: None,
            app,
            device: Some(record),
        })
    }

    pub(crate) fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            response_mode: self.response_mode,
            app_name: self.app.display_name.clone(),
        }
    }
}

/// `scheme://host[:port]` of a URL, for the pages' `form-action`.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let safe = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    safe.then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_keep_scheme_host_and_port_only() {
        assert_eq!(
            origin("http://127.0.0.1:5000/callback?x=1").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            origin("https://app.contoso.test").as_deref(),
            Some("https://app.contoso.test")
        );
        assert_eq!(origin("https://a b/").as_deref(), None);
        assert_eq!(origin("nonsense"), None);
    }
}
