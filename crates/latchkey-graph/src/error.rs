//! Graph's error envelope, the one place errors become Graph JSON:
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
//! with a JSON content type, so that msgraph-sdk raises `ODataError` with the right code.
//!
//! A handler returns a [`GraphError`]; the [`envelope`] middleware fills in the request's
//! ids (and turns the framework's own bare 4xx answers into the envelope too).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_core::DirectoryError;
use serde_json::json;
use uuid::Uuid;

use crate::odata::QueryError;

/// A Graph error: status, Graph's code, and a message for the caller (never internals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For 401: what `WWW-Authenticate` says.
    pub challenge: Option<String>,
    /// For 503: seconds to wait.
    pub retry_after: Option<u32>,
}

/// What the middleware needs to render the body; carried in the response's extensions.
#[derive(Debug, Clone)]
struct Envelope {
    code: &'static str,
    message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
                clip(what)
            ),
        )
    }

    /// 401 with a bearer challenge saying what failed.
    pub fn unauthenticated(public_url: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message.clone(),
        );
        e.challenge = Some(format!(
            "Bearer realm=\"\", authorization_uri=\"{public_url}/common/oauth2/v2.0/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\", error=\"invalid_token\", error_description=\"{}\"",
            message.replace(['"', '\\'], "'")
        ));
        e
    }

    /// A failure that is not the caller's fault: logged here, generic on the wire.
    pub fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "graph request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An internal server error occurred. Try again; if it persists, quote the request-id to the administrator.",
        )
    }
}

/// Echoed input is clipped, so that an error never carries a large payload back.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(128).collect();
    if s.chars().count() > 128 {
        out.push('…');
    }
    out
}

impl From<DirectoryError> for GraphError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound { what } => Self::new(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                format!(
                    "{what} does not exist or one of its queried reference-property objects are not present."
                ),
            ),
            DirectoryError::Invalid { property, message } => {
                if message.contains(&property) || message.contains("userPrincipalName") {
                    Self::bad_request(message)
                } else {
                    Self::bad_request(format!(
                        "Invalid value specified for property '{property}' of resource 'User': {message}"
                    ))
                }
            }
            // Graph answers a uniqueness clash (duplicate UPN) with 400.
            DirectoryError::Conflict(message) => Self::bad_request(message),
            DirectoryError::Policy(p) => Self::bad_request(format!(
                "The specified password does not comply with password complexity requirements. Please provide a different password. {}",
                p.message()
            )),
            DirectoryError::Denied(d) => {
                Self::new(StatusCode::FORBIDDEN, "Authorization_RequestDenied", d.0)
            }
            DirectoryError::Stale => Self::new(
                StatusCode::CONFLICT,
                "Request_ConcurrencyViolation",
                "The user was changed by another request meanwhile; nothing was written. Read it again and retry.",
            ),
            DirectoryError::Busy => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The password service is busy. Retry after the interval in Retry-After.",
                );
                e.retry_after = Some(1);
                e
            }
            DirectoryError::Internal(m) => Self::internal(&m),
        }
    }
}

impl From<QueryError> for GraphError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Bad(m) => Self::bad_request(m),
            QueryError::Unsupported(m) => Self::unsupported(m),
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        // Rendered without ids here; `envelope` renders it again with them. A response that
        // bypasses the middleware is still a well-formed Graph error.
        let mut response =
            (self.status, render(self.code, &self.message, "", None)).into_response();
        let headers = response.headers_mut();
        json_content_type(headers);
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(Envelope {
            code: self.code,
            message: self.message,
        });
        response
    }
}

fn json_content_type(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

fn render(code: &str, message: &str, request_id: &str, client_request_id: Option<&str>) -> Body {
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": date,
                "request-id": request_id,
                "client-request-id": client_request_id.unwrap_or(request_id),
            }
        }
    });
    Body::from(body.to_string())
}

const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

/// Gives every error under `/v1.0` Graph's envelope with the request's ids: errors from
/// handlers, and the framework's own answers (unknown method, body too large, unreadable
/// body) which would otherwise be bare text that the SDK cannot parse.
pub async fn envelope(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    // Echoed only when it is a GUID, as Graph does, so nothing else is reflected.
    let client_request_id = request
        .headers()
        .get(CLIENT_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Uuid>().ok())
        .map(|u| u.to_string());
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (code, message) = match response.extensions_mut().remove::<Envelope>() {
        Some(e) => (e.code, e.message),
        None => match status {
            StatusCode::METHOD_NOT_ALLOWED => (
                "Request_BadRequest",
                "The HTTP method is not allowed on this resource.".to_owned(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "Request_BadRequest",
                "The request body is too large.".to_owned(),
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                "The request took too long and was abandoned.".to_owned(),
            ),
            s if s.is_server_error() => (
                "generalException",
                "An internal server error occurred.".to_owned(),
            ),
            _ => ("Request_BadRequest", "The request is not valid.".to_owned()),
        },
    };
    let (mut parts, _) = response.into_parts();
    json_content_type(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        parts.headers.insert(REQUEST_ID, v);
    }
    if let Some(v) = client_request_id
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        parts.headers.insert(CLIENT_REQUEST_ID, v);
    }
    Response::from_parts(
        parts,
        render(code, &message, &request_id, client_request_id.as_deref()),
    )
}
