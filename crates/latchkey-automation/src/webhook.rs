//! The webhook connector: a step's notice POSTed as JSON (or Slack's `{"text": …}`), signed
//! with the workflow's secret: `X-Latchkey-Signature: sha256=<hex HMAC-SHA-256 of the body>`.
//! Every attempt of one step carries the same `X-Latchkey-Delivery` id, so a receiver can drop
//! a repeat (delivery is at least once). 429 and 5xx answers and network failures are
//! transient (retried with backoff, no sooner than `Retry-After`); other non-2xx answers fail
//! the step. Neither the secret nor the URL's path (a Slack URL is itself a credential) is
//! written to the run history or the log: only the URL's origin.

use std::time::Duration as StdDuration;

use chrono::Duration;
use hmac::{Hmac, Mac};
use latchkey_core::Directory;
use latchkey_core::directory::{ActionResult, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::workflow::{WebhookFormat, url_origin};
use latchkey_core::workflow_store::ClaimedStep;
use secrecy::ExposeSecret as _;
use serde_json::json;
use sha2::Sha256;

use crate::workflow_actor;

pub const SIGNATURE_HEADER: &str = "X-Latchkey-Signature";
pub const DELIVERY_HEADER: &str = "X-Latchkey-Delivery";
/// How long one attempt may take.
const TIMEOUT: StdDuration = StdDuration::from_secs(15);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_SECONDS: i64 = 3600;

/// The HTTP client webhook steps use: no redirects (a signed notice goes where it was told).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// HMAC-SHA-256 of `body` under `secret`, as lowercase hex.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends the step's webhook.
pub async fn send(
    directory: &Directory,
    http: &reqwest::Client,
    step: &ClaimedStep,
    url: &str,
    format: WebhookFormat,
) -> ActionResult {
    let (body, signed) = match prepare(directory, step, format).await {
        Ok(prepared) => prepared,
        Err(e) => return ActionResult::Failed(e),
    };
    let origin = url_origin(url);
    let sent = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, format!("sha256={signed}"))
        .header(
            DELIVERY_HEADER,
            format!("{}:{}", step.run_id, step.position),
        )
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return ActionResult::Remote {
                error: format!("could not deliver to {origin}: {}", e.without_url()),
                transient: true,
                retry_after: None,
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return ActionResult::Done {
            output: format!("delivered to {origin}: {status}"),
        };
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|s| Duration::seconds(s.clamp(0, MAX_RETRY_AFTER_SECONDS)));
    ActionResult::Remote {
        error: format!("{origin} answered {status}"),
        transient: status.as_u16() == 429 || status.is_server_error(),
        retry_after,
    }
}

/// The body and its signature.
async fn prepare(
    directory: &Directory,
    step: &ClaimedStep,
    format: WebhookFormat,
) -> Result<(Vec<u8>, String), DirectoryError> {
    let actor = workflow_actor();
    let user = directory
        .get_user(&actor, step.tenant_id, &UserRef::Id(step.user_id))
        .await?;
    let workflow = directory
        .get_workflow(&actor, step.tenant_id, &step.workflow_name)
        .await?;
    let secret = directory
        .workflow_webhook_secret(&actor, workflow.id)
        .await?
        .ok_or_else(|| {
            DirectoryError::invalid(
                "webhookSecret",
                format!(
                    "the workflow has no webhook secret: set one with `latchkey workflows \
                     webhook-secret \"{}\"`",
                    step.workflow_name
                ),
            )
        })?;
    let saas = directory
        .saas_run_context(&actor, step.tenant_id, &step.occurrence)
        .await?;
    let body = match format {
        WebhookFormat::Json => {
            let mut body = json!({
                "workflow": step.workflow_name,
                "runId": step.run_id.to_string(),
                "step": step.position,
                "user": {
                    "id": user.id.to_string(),
                    "userPrincipalName": user.user_principal_name.as_str(),
                    "displayName": user.display_name.as_str(),
                },
            });
            // A run started by SaaS management: its app (with the risky permissions) and
            // seat or contract.
            if let Some(saas) = saas {
                body["saas"] = saas;
            }
            body
        }
        WebhookFormat::Slack => json!({
            "text": format!(
                "Workflow '{}' ran for {} ({})",
                step.workflow_name,
                user.display_name.as_str(),
                user.user_principal_name.as_str()
            ),
        }),
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| DirectoryError::Internal(format!("webhook body: {e}")))?;
    let signed = signature(secret.expose_secret(), &body);
    Ok((body, signed))
}
