//! OAuth errors in the shape Entra gives them, so that MSAL and azure-identity surface them
//! as they would from Microsoft: `{"error", "error_description": "AADSTS…: …", "error_codes",
//! "timestamp", "trace_id", "correlation_id"}`, 400 (401 for `invalid_client`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub code: u32,
    pub message: String,
    pub correlation_id: Option<Uuid>,
}

impl OAuthError {
    pub fn new(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            error,
            code,
            message: message.into(),
            correlation_id: None,
        }
    }

    pub fn invalid_request(code: u32, message: impl Into<String>) -> Self {
        Self::new("invalid_request", code, message)
    }

    pub fn missing(parameter: &str) -> Self {
        Self::invalid_request(
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    pub fn with_correlation(mut self, id: Option<Uuid>) -> Self {
        self.correlation_id = id;
        self
    }

    pub fn status(&self) -> StatusCode {
        if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let trace_id = Uuid::new_v4();
        let correlation_id = self.correlation_id.unwrap_or_else(Uuid::new_v4);
        let now = chrono::Utc::now();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let description = format!(
            "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {}",
            self.code,
            self.message,
            now.format("%Y-%m-%d %H:%M:%S%.3fZ"),
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id.to_string(),
            "correlation_id": correlation_id.to_string(),
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.error == "invalid_client" {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"latchkey\""),
            );
        }
        response
    }
}
