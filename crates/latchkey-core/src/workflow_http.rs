//! The arguments of two workflow actions and their checks at save: `callHttp` (an HTTP call
//! to another system, its headers and body minijinja templates, optionally authenticated by
//! OAuth 2.0 client credentials) and `resetPassword` (a generated password delivered by a
//! view-once link).
//!
//! A `callHttp` step's client secret arrives in the definition in clear and is sealed under
//! the master key by `Directory::save_workflow` before anything is stored
//! ([`ClientSecret::Sealed`]); the sealing purpose names the token URL and client id, so a
//! sealed secret copied into another step (aimed at another token endpoint) does not open.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;
use crate::workflow::{MAX_URL_LEN, check_template};

/// The methods a `callHttp` step may use.
pub const HTTP_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Most headers on one call.
pub const MAX_HEADERS: usize = 20;
/// Headers a step may not set: hop-by-hop ones, those the HTTP client owns, and the
/// idempotency key the engine derives.
pub const REFUSED_HEADERS: [&str; 12] = [
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "idempotency-key",
];

/// The sealing purpose of a `callHttp` step's client secret, bound to where it is sent.
pub fn client_secret_purpose(token_url: &str, client_id: &str) -> String {
    format!("workflow-http-client-secret\0{token_url}\0{client_id}")
}

/// Who receives a `resetPassword` step's view-once link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliverTo {
    /// The run's user (`mail`, then `otherMails`).
    User,
    /// The run's user's manager (a new hire has no mailbox yet).
    Manager,
}

impl DeliverTo {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Manager => "manager",
        }
    }
}

/// How a `callHttp` step authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum HttpAuth {
    /// OAuth 2.0 client credentials: a token from `tokenUrl` for `clientId` (and `scope`),
    /// sent as `Authorization: Bearer`.
    #[serde(rename_all = "camelCase")]
    ClientCredentials {
        token_url: String,
        client_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        client_secret: ClientSecret,
    },
}

/// A client secret: in clear only on its way in (the definition as written), sealed under
/// the master key (base64) once saved. `Debug` never shows either.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientSecret {
    Sealed { sealed: String },
    Plain(String),
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sealed { .. } => f.write_str("ClientSecret::Sealed(..)"),
            Self::Plain(_) => f.write_str("ClientSecret::Plain(..)"),
        }
    }
}

/// Whether `url` is `https://`, or `http://` to this machine (a loopback address: tests and
/// a sidecar), of at most [`MAX_URL_LEN`] characters, without spaces or credentials.
pub fn acceptable_url(url: &str) -> bool {
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let (rest, loopback_only) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, false)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, true)
    } else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return false;
    }
    !loopback_only
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The checks of a `callHttp` step at save; each error names the step's field.
pub fn validate_call_http(
    i: usize,
    method: &str,
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: Option<&str>,
    auth: Option<&HttpAuth>,
) -> Result<(), DirectoryError> {
    let field = |name: &str| format!("steps[{i}].{name}");
    if !HTTP_METHODS.contains(&method) {
        return Err(DirectoryError::invalid(
            field("method"),
            format!(
                "'{}' is not a method a step can call (one of: {})",
                method.trim(),
                HTTP_METHODS.join(", ")
            ),
        ));
    }
    if !acceptable_url(url) {
        return Err(DirectoryError::invalid(
            field("url"),
            format!(
                "must be an https:// URL (http:// only to a loopback address) of at most \
                 {MAX_URL_LEN} characters, without user information"
            ),
        ));
    }
    if headers.len() > MAX_HEADERS {
        return Err(DirectoryError::invalid(
            field("headers"),
            format!("must have at most {MAX_HEADERS} headers"),
        ));
    }
    for (name, value) in headers {
        let here = field(&format!("headers.{name}"));
        if !is_token(name) {
            return Err(DirectoryError::invalid(here, "is not a valid header name"));
        }
        let lower = name.to_ascii_lowercase();
        if REFUSED_HEADERS.contains(&lower.as_str()) {
            return Err(DirectoryError::invalid(
                here,
                format!("'{name}' is set by Latchkey or the HTTP client, not by a step"),
            ));
        }
        if lower == "authorization" && auth.is_some() {
            return Err(DirectoryError::invalid(
                here,
                "the step's auth sets Authorization: leave one of them out",
            ));
        }
        check_template(value, &here)?;
    }
    if let Some(body) = body {
        if method == "GET" {
            return Err(DirectoryError::invalid(field("body"), "a GET has no body"));
        }
        check_template(body, &field("body"))?;
    }
    if let Some(HttpAuth::ClientCredentials {
        token_url,
        client_id,
        scope,
        client_secret,
    }) = auth
    {
        if !acceptable_url(token_url) {
            return Err(DirectoryError::invalid(
                field("auth.tokenUrl"),
                "must be an https:// URL (http:// only to a loopback address)",
            ));
        }
        if client_id.trim().is_empty() || client_id.len() > 200 {
            return Err(DirectoryError::invalid(
                field("auth.clientId"),
                "must be between 1 and 200 characters",
            ));
        }
        if scope.as_deref().is_some_and(|s| s.len() > 1000) {
            return Err(DirectoryError::invalid(
                field("auth.scope"),
                "must be at most 1000 characters",
            ));
        }
        let ok = match client_secret {
            ClientSecret::Plain(s) => !s.is_empty() && s.len() <= 1000,
            ClientSecret::Sealed { sealed } => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(sealed)
                    .is_ok()
            }
        };
        if !ok {
            return Err(DirectoryError::invalid(
                field("auth.clientSecret"),
                "must be the client secret (1 to 1000 characters)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_urls_without_credentials_are_acceptable() {
        assert!(acceptable_url("https://api.example.test/v1/users"));
        assert!(acceptable_url("http://127.0.0.1:8080/x"));
        assert!(acceptable_url("http://[::1]:80/x"));
        assert!(acceptable_url("http://localhost/x"));
        assert!(!acceptable_url("http://api.example.test/x"));
        assert!(!acceptable_url("http://127.0.0.1.example.test/x"));
        assert!(!acceptable_url("https://user:pw@api.example.test/"));
        assert!(!acceptable_url("ftp://example.test/"));
        assert!(!acceptable_url("https://"));
        assert!(!acceptable_url("https://a b/"));
    }

    #[test]
    fn a_client_secret_never_shows_in_debug() {
        let s = ClientSecret::Plain("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
