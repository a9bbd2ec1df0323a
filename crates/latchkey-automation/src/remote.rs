//! The connected-tenant connector: a workflow aimed at `{"tenant": NAME}` acts on that
//! Microsoft 365 tenant (or another Latchkey playing one) through `latchkey-graph-client`
//! with the connection's client credentials. Each action is idempotent: it reads the user
//! first where Graph lets it tell "already done" (disabled, no licences, deleted).
//!
//! Failures: 429, 5xx and network errors are transient and left to the engine's backoff, no
//! sooner than `Retry-After` (at most an hour; the client itself does not retry, so one
//! attempt is one request); other answers, and a token
//! endpoint refusing the credentials, fail the step with the remote error (Graph's code and
//! message, never the secret) in the run history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use latchkey_core::Directory;
use latchkey_core::directory::{ActionResult, TenantConnection};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::{TenantId, UserId};
use latchkey_core::password::{PasswordContext, PasswordPolicy, generate_password};
use latchkey_core::workflow::Action;
use latchkey_core::workflow_store::ClaimedStep;
use latchkey_graph_client::{Cloud, GraphClient, GraphClientError, RetryPolicy};
use serde_json::Value;

use crate::workflow_actor;

/// A client with the save time of the connection it was built from.
type CachedClient = (chrono::DateTime<chrono::Utc>, GraphClient);

/// Graph clients by (local tenant, connection name, connection's save time), so that a
/// token is reused across steps and a re-saved connection gets a new client.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    cached: Arc<Mutex<HashMap<(TenantId, String), CachedClient>>>,
}

impl Clients {
    /// The client for the tenant's named connection.
    pub async fn get(
        &self,
        directory: &Directory,
        tenant: TenantId,
        name: &str,
    ) -> Result<(GraphClient, String), DirectoryError> {
        let connection = directory
            .tenant_connection(&workflow_actor(), tenant, name)
            .await?;
        let key = (tenant, connection.name.to_lowercase());
        if let Ok(cached) = self.cached.lock()
            && let Some((at, client)) = cached.get(&key)
            && *at == connection.updated_at
        {
            return Ok((client.clone(), connection.name));
        }
        let client = client_for(&connection)?;
        if let Ok(mut cached) = self.cached.lock() {
            cached.insert(key, (connection.updated_at, client.clone()));
        }
        Ok((client, connection.name))
    }
}

/// Tries a connection before it is saved: a token from the remote tenant's token endpoint
/// with the client credentials, then one user read through Graph (what every step needs).
/// A refusal names the field at fault (`clientSecret`, `clientId`, `tenantId`,
/// `authority`, `graphUrl`) with the remote's own error, never the secret.
pub async fn verify_connection(c: &TenantConnection) -> Result<(), DirectoryError> {
    let client = client_for(c)?;
    if let Err(e) = client.token().await {
        let (field, what) = match &e {
            GraphClientError::Token { description, .. } => {
                // Entra's codes: unknown tenant, unknown application, wrong or expired secret.
                if description.contains("AADSTS90002") || description.contains("AADSTS900023") {
                    (
                        "tenantId",
                        "does not name a tenant the token endpoint knows",
                    )
                } else if description.contains("AADSTS700016") {
                    ("clientId", "is not an application of the remote tenant")
                } else {
                    ("clientSecret", "was refused by the remote tenant")
                }
            }
            _ => ("authority", "cannot be reached for a token"),
        };
        return Err(DirectoryError::invalid(field, format!("{what}: {e}")));
    }
    let probe = latchkey_graph_client::ListQuery {
        top: Some(1),
        select: vec!["id".into()],
        ..Default::default()
    };
    match client.list_users(&probe).await {
        Ok(_) => Ok(()),
        Err(
            e @ GraphClientError::Graph {
                status: 401 | 403, ..
            },
        ) => Err(DirectoryError::invalid(
            "clientId",
            format!(
                "got a token but may not read the remote tenant's users (grant the application \
                 User.ReadWrite.All with admin consent): {e}"
            ),
        )),
        Err(e) => Err(DirectoryError::invalid(
            "graphUrl",
            format!("got a token but Graph did not answer as Graph: {e}"),
        )),
    }
}

fn client_for(c: &TenantConnection) -> Result<GraphClient, DirectoryError> {
    GraphClient::new(
        Cloud::custom(&c.authority_url, &c.graph_url),
        &c.remote_tenant,
        &c.client_id,
        c.client_secret.clone(),
        c.ca_pem.as_deref().map(str::as_bytes),
        // One attempt per step attempt: the engine's backoff (durable, per step) retries.
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
    )
    .map_err(|e| {
        DirectoryError::invalid(
            "target.tenant",
            format!("the connection '{}' is unusable: {e}", c.name),
        )
    })
}

/// A remote failure as the run history records it.
fn remote(connection: &str, e: &GraphClientError) -> ActionResult {
    let transient = match e {
        GraphClientError::Graph { status, .. } => *status == 429 || *status >= 500,
        GraphClientError::Transport(_) => true,
        GraphClientError::Token { .. }
        | GraphClientError::ForeignUrl(_)
        | GraphClientError::InvalidBatch(_) => false,
    };
    let what = match e {
        GraphClientError::Token { .. } => "refused the credentials",
        _ => "answered",
    };
    let retry_after = match e {
        GraphClientError::Graph {
            retry_after: Some(after),
            ..
        } => chrono::Duration::from_std(*after)
            .ok()
            .map(|d| d.min(chrono::Duration::hours(1))),
        _ => None,
    };
    ActionResult::Remote {
        error: format!("the connected tenant '{connection}' {what}: {e}"),
        transient,
        retry_after,
    }
}

/// Resolves users of the connected tenant by id or UPN to their object ids, for a manual run.
pub async fn resolve_users(
    client: &GraphClient,
    connection: &str,
    users: &[String],
) -> Result<Vec<UserId>, DirectoryError> {
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        let found = client
            .get_user(user, &["id".into()])
            .await
            .map_err(|e| match e.status() {
                Some(404) => DirectoryError::not_found(format!(
                    "User '{user}' in the connected tenant '{connection}'"
                )),
                _ => DirectoryError::invalid(
                    "target.tenant",
                    format!("the connected tenant '{connection}' answered: {e}"),
                ),
            })?;
        let id = found["id"]
            .as_str()
            .and_then(|id| id.parse::<UserId>().ok())
            .ok_or_else(|| {
                DirectoryError::invalid(
                    "target.tenant",
                    format!("the connected tenant '{connection}' gave '{user}' no GUID id"),
                )
            })?;
        out.push(id);
    }
    Ok(out)
}

/// Performs the step's action on its user in the connected tenant.
pub async fn perform(client: &GraphClient, connection: &str, step: &ClaimedStep) -> ActionResult {
    let action = match resolve_sku(client, connection, &step.step.action).await {
        Ok(action) => action,
        Err(result) => return result,
    };
    if let Action::AddRole { role } | Action::RemoveRole { role } = &action {
        return match role_step(client, connection, &action, role, &step.user_id.to_string()).await {
            Ok(output) => ActionResult::Done { output },
            Err(result) => result,
        };
    }
    match act(client, &action, &step.user_id.to_string()).await {
        Ok(output) => ActionResult::Done { output },
        Err(e) => {
            tracing::warn!(
                workflow = %step.workflow_name,
                action = step.step.action.name(),
                connection,
                error = %e,
                "workflow step against a connected tenant failed"
            );
            remote(connection, &e)
        }
    }
}

/// A licence step naming its SKU by `skuPartNumber` gets the connected tenant's `skuId` for
/// it (`GET /subscribedSkus`); one the tenant does not have fails the step for good.
async fn resolve_sku(
    client: &GraphClient,
    connection: &str,
    action: &Action,
) -> Result<Action, ActionResult> {
    let (Action::AssignLicense { sku } | Action::RemoveLicense { sku }) = action else {
        return Ok(action.clone());
    };
    let name = sku.trim();
    if name.parse::<latchkey_core::ids::SkuId>().is_ok() {
        return Ok(action.clone());
    }
    let skus = client
        .list_subscribed_skus()
        .await
        .map_err(|e| remote(connection, &e))?;
    let id = skus
        .iter()
        .find(|s| {
            s["skuPartNumber"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case(name))
        })
        .and_then(|s| s["skuId"].as_str())
        .ok_or_else(|| ActionResult::Remote {
            error: format!("the connected tenant '{connection}' has no SKU '{name}'"),
            transient: false,
            retry_after: None,
        })?
        .to_owned();
    Ok(match action {
        Action::AssignLicense { .. } => Action::AssignLicense { sku: id },
        _ => Action::RemoveLicense { sku: id },
    })
}

/// A role step: the role (named by display name or template id, checked at save) found
/// among the connected tenant's activated roles by its `roleTemplateId`, then the member
/// added or removed. Already held (Graph's 400 "already exist") or not held (404) is done.
async fn role_step(
    client: &GraphClient,
    connection: &str,
    action: &Action,
    role: &str,
    user: &str,
) -> Result<String, ActionResult> {
    let role = latchkey_core::role::DirectoryRole::parse(role).ok_or_else(|| {
        ActionResult::Failed(DirectoryError::invalid("role", "is not a directory role"))
    })?;
    let roles = client
        .list_directory_roles()
        .await
        .map_err(|e| remote(connection, &e))?;
    let id = roles
        .iter()
        .find(|r| r["roleTemplateId"].as_str() == Some(role.template_id()))
        .and_then(|r| r["id"].as_str())
        .ok_or_else(|| ActionResult::Remote {
            error: format!(
                "the connected tenant '{connection}' has no activated role '{}'",
                role.display_name()
            ),
            transient: false,
            retry_after: None,
        })?
        .to_owned();
    let adding = matches!(action, Action::AddRole { .. });
    let result = if adding {
        client.add_directory_role_member(&id, user).await
    } else {
        client.remove_directory_role_member(&id, user).await
    };
    match result {
        Ok(()) if adding => Ok(format!("assigned the role {role}")),
        Ok(()) => Ok(format!("removed the role {role}")),
        Err(GraphClientError::Graph {
            status: 400,
            message,
            ..
        }) if adding && message.contains("already exist") => {
            Ok(format!("the user already holds {role}"))
        }
        Err(e) if !adding && e.status() == Some(404) => {
            Ok(format!("the user does not hold {role}: nothing to do"))
        }
        Err(e) => {
            tracing::warn!(connection, error = %e, "workflow role step against a connected tenant failed");
            Err(remote(connection, &e))
        }
    }
}

async fn act(client: &GraphClient, action: &Action, id: &str) -> Result<String, GraphClientError> {
    match action {
        Action::DisableAccount => {
            let user = client.get_user(id, &["accountEnabled".into()]).await?;
            if user["accountEnabled"] == Value::Bool(false) {
                return Ok("the account was already disabled".into());
            }
            client.set_account_enabled(id, false).await?;
            Ok("disabled the account".into())
        }
        Action::RevokeSessions => {
            client.revoke_sign_in_sessions(id).await?;
            Ok("revoked every session and refresh token".into())
        }
        Action::ResetPasswordUnknown => {
            let user = client
                .get_user(id, &["userPrincipalName".into(), "displayName".into()])
                .await?;
            let ctx = PasswordContext {
                user_principal_name: user["userPrincipalName"].as_str().unwrap_or_default(),
                display_name: user["displayName"].as_str().unwrap_or_default(),
                disable_strong_password: false,
            };
            // Generated here and dropped once sent: nobody is meant to know it, and a
            // repeat after a crash only sets another unknown one.
            let password =
                generate_password(&PasswordPolicy::default(), &ctx, &mut rand::rngs::OsRng);
            client.set_password(id, &password, true).await?;
            Ok("set an unknown generated password; a change is required at next sign-in".into())
        }
        Action::RemoveAllLicenses => {
            let user = client.get_user(id, &["assignedLicenses".into()]).await?;
            let held: Vec<String> = user["assignedLicenses"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l["skuId"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if held.is_empty() {
                return Ok("the user holds no licence".into());
            }
            client.assign_license(id, &[], &held).await?;
            Ok(format!("removed {} licence(s)", held.len()))
        }
        Action::RequirePasswordChange => {
            client
                .update_user(
                    id,
                    &serde_json::json!({
                        "passwordProfile": { "forceChangePasswordNextSignIn": true }
                    }),
                )
                .await?;
            Ok("a password change is required at next sign-in".into())
        }
        Action::DeleteUser => match client.delete_user(id).await {
            Err(e) if e.status() == Some(404) => Ok("the user was already deleted".into()),
            other => other.map(|()| "moved the user to the deleted items".into()),
        },
        Action::EnableAccount => {
            let user = client.get_user(id, &["accountEnabled".into()]).await?;
            if user["accountEnabled"] == Value::Bool(true) {
                return Ok("the account was already enabled".into());
            }
            client.set_account_enabled(id, true).await?;
            Ok("enabled the account".into())
        }
        // Read first; only the properties that differ are sent.
        Action::SetAttributes { attributes } => {
            let names: Vec<String> = attributes.keys().cloned().collect();
            let user = client.get_user(id, &names).await?;
            let body: serde_json::Map<String, Value> = attributes
                .iter()
                .filter(|(k, v)| user.get(k.as_str()).unwrap_or(&Value::Null) != *v)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if body.is_empty() {
                return Ok("every property already had its value: nothing to do".into());
            }
            let said = format!(
                "set {}",
                body.keys().cloned().collect::<Vec<_>>().join(", ")
            );
            client.update_user(id, &Value::Object(body)).await?;
            Ok(said)
        }
        Action::AssignLicense { sku } | Action::RemoveLicense { sku } => {
            let sku = sku.trim().to_ascii_lowercase();
            let user = client.get_user(id, &["assignedLicenses".into()]).await?;
            let held = user["assignedLicenses"].as_array().is_some_and(|a| {
                a.iter().any(|l| {
                    l["skuId"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&sku))
                })
            });
            let adding = matches!(action, Action::AssignLicense { .. });
            if adding == held {
                return Ok(if adding {
                    format!("the user already holds {sku}")
                } else {
                    format!("the user does not hold {sku}: nothing to do")
                });
            }
            if adding {
                client
                    .assign_license(id, std::slice::from_ref(&sku), &[])
                    .await?;
                Ok(format!("assigned the licence {sku}"))
            } else {
                client
                    .assign_license(id, &[], std::slice::from_ref(&sku))
                    .await?;
                Ok(format!("removed the licence {sku}"))
            }
        }
        Action::NotifyManager
        | Action::SendWebhook { .. }
        | Action::Wait { .. }
        | Action::AddRole { .. }
        | Action::RemoveRole { .. }
        | Action::SendEmail { .. }
        | Action::CallHttp { .. }
        | Action::ResetPassword { .. }
        | Action::RequestApproval { .. }
        | Action::ScimProvision { .. }
        | Action::ScimDeprovision { .. } => Err(GraphClientError::Transport(format!(
            "{} is not a connected-tenant action",
            action.name()
        ))),
    }
}
