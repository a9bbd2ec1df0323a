//! The `callHttp` step: one HTTP call to another system. Its header values and body are
//! minijinja templates rendered in core's sandbox against the user, the workflow and the run
//! (as `sendEmail`'s); with `auth`, a token is first fetched from the OAuth 2.0 token
//! endpoint by client credentials (the client secret opened from its seal for the call) and
//! sent as `Authorization: Bearer`. Every attempt of one step carries the same
//! `Idempotency-Key`, so a receiver can drop a repeat (delivery is at least once).
//!
//! As for webhooks, 429 and 5xx answers and network failures are transient (retried with
//! backoff, no sooner than `Retry-After`); other non-2xx answers fail the step with the
//! status and a short excerpt of the answer. Neither the client secret nor the token is
//! written to the run history or the log (an excerpt echoing them has them masked), and of
//! the URLs only their origins.

use chrono::Duration;
use latchkey_core::Directory;
use latchkey_core::directory::{ActionResult, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::workflow::{
    Action, MAX_RENDERED_BODY, MAX_RENDERED_SUBJECT, render_template, url_origin,
};
use latchkey_core::workflow_http::HttpAuth;
use latchkey_core::workflow_store::ClaimedStep;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::workflow_actor;

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_SECONDS: i64 = 3600;
/// Most characters of an answer kept in the run history.
const EXCERPT_CHARS: usize = 200;
/// Most bytes of an answer read.
const MAX_READ: usize = 64 * 1024;

/// The idempotency key of a run's step: the same on every attempt.
pub fn idempotency_key(step: &ClaimedStep) -> String {
    format!("{}:{}", step.run_id, step.position)
}

/// Performs the step's call.
pub async fn call(
    directory: &Directory,
    http: &reqwest::Client,
    step: &ClaimedStep,
) -> ActionResult {
    let Action::CallHttp {
        method,
        url,
        headers,
        body,
        auth,
    } = &step.step.action
    else {
        return ActionResult::Failed(DirectoryError::Internal("not a callHttp step".into()));
    };
    let field = |name: &str| format!("steps[{}].{name}", step.position);
    let origin = url_origin(url);
    let context = match template_context(directory, step).await {
        Ok(c) => c,
        Err(e) => return ActionResult::Failed(e),
    };
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return ActionResult::Failed(DirectoryError::invalid(field("method"), "is not a method"));
    };
    let mut request = http.request(method.clone(), url);
    let mut has_content_type = false;
    for (name, template) in headers {
        let here = field(&format!("headers.{name}"));
        let value = match render_template(template, &context, MAX_RENDERED_SUBJECT) {
            Ok(v) => v,
            Err(m) => return ActionResult::Failed(DirectoryError::invalid(here, m)),
        };
        let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) else {
            return ActionResult::Failed(DirectoryError::invalid(
                here,
                "renders to a value that is not a valid header value (a line break?)",
            ));
        };
        has_content_type |= name == reqwest::header::CONTENT_TYPE;
        request = request.header(name, value);
    }
    if let Some(body) = body {
        let rendered = match render_template(body, &context, MAX_RENDERED_BODY) {
            Ok(v) => v,
            Err(m) => return ActionResult::Failed(DirectoryError::invalid(field("body"), m)),
        };
        if !has_content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        request = request.body(rendered);
    }
    // What the history must never show: the client secret and the token.
    let mut masked: Vec<SecretString> = Vec::new();
    if let Some(auth) = auth {
        let secret = match directory.open_workflow_client_secret(&workflow_actor(), auth) {
            Ok(s) => s,
            Err(DirectoryError::Invalid { message, .. }) => {
                return ActionResult::Failed(DirectoryError::invalid(
                    field("auth.clientSecret"),
                    message,
                ));
            }
            Err(e) => return ActionResult::Failed(e),
        };
        let token = match fetch_token(http, auth, &secret).await {
            Ok(t) => t,
            Err(failed) => return failed,
        };
        request = request.bearer_auth(token.expose_secret());
        masked.push(secret);
        masked.push(token);
    }
    let sent = request
        .header(IDEMPOTENCY_HEADER, idempotency_key(step))
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return ActionResult::Remote {
                error: format!("could not call {method} {origin}: {}", e.without_url()),
                transient: true,
                retry_after: None,
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return ActionResult::Done {
            output: format!("{method} {origin} answered {status}"),
        };
    }
    let retry_after = retry_after(&response);
    let excerpt = excerpt(response, &masked).await;
    ActionResult::Remote {
        error: format!("{method} {origin} answered {status}{excerpt}"),
        transient: status.as_u16() == 429 || status.is_server_error(),
        retry_after,
    }
}

/// A token by client credentials; a failure is the step's result (transient or not).
async fn fetch_token(
    http: &reqwest::Client,
    auth: &HttpAuth,
    secret: &SecretString,
) -> Result<SecretString, ActionResult> {
    let HttpAuth::ClientCredentials {
        token_url,
        client_id,
        scope,
        ..
    } = auth;
    let origin = url_origin(token_url);
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.expose_secret()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.as_str()));
    }
    let body = serde_urlencoded::to_string(&form)
        .map_err(|_| ActionResult::Failed(DirectoryError::Internal("token request body".into())))?;
    let sent = http
        .post(token_url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await;
    let response = sent.map_err(|e| ActionResult::Remote {
        error: format!(
            "could not reach the token endpoint {origin}: {}",
            e.without_url()
        ),
        transient: true,
        retry_after: None,
    })?;
    let status = response.status();
    let retry_after = retry_after(&response);
    let answer: Value = read_limited(response)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if !status.is_success() {
        // Only OAuth's error code: a description may quote what was sent.
        let code = answer["error"]
            .as_str()
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        return Err(ActionResult::Remote {
            error: format!("the token endpoint {origin} answered {status}{code}"),
            transient: status.as_u16() == 429 || status.is_server_error(),
            retry_after,
        });
    }
    match answer["access_token"].as_str() {
        Some(token) if !token.is_empty() => Ok(SecretString::from(token.to_owned())),
        _ => Err(ActionResult::Remote {
            error: format!("the token endpoint {origin} answered without an access_token"),
            transient: false,
            retry_after: None,
        }),
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|s| Duration::seconds(s.clamp(0, MAX_RETRY_AFTER_SECONDS)))
}

/// At most [`MAX_READ`] bytes of an answer.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_READ.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_READ {
            break;
        }
    }
    Ok(out)
}

/// `": <the answer's first characters>"` on one line, with anything secret masked; empty
/// when the answer has no text.
async fn excerpt(response: reqwest::Response, masked: &[SecretString]) -> String {
    let Ok(bytes) = read_limited(response).await else {
        return String::new();
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    for secret in masked {
        let s = secret.expose_secret();
        if !s.is_empty() {
            text = text.replace(s, "[masked]");
        }
    }
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.is_empty() {
        return String::new();
    }
    let mut clipped: String = trimmed.chars().take(EXCERPT_CHARS).collect();
    if trimmed.chars().count() > EXCERPT_CHARS {
        clipped.push('…');
    }
    format!(": {clipped}")
}

/// What the templates see: the user (as `sendEmail`'s templates do), the workflow, the run.
async fn template_context(
    directory: &Directory,
    step: &ClaimedStep,
) -> Result<Value, DirectoryError> {
    let actor = workflow_actor();
    let target = UserRef::Id(step.user_id);
    let user = directory.get_user(&actor, step.tenant_id, &target).await?;
    let manager = directory
        .get_manager(&actor, step.tenant_id, &target)
        .await?;
    Ok(json!({
        "user": crate::local::user_context(&user, manager.as_ref()),
        "workflow": { "name": step.workflow_name },
        "run": { "id": step.run_id.to_string(), "step": step.position },
    }))
}
