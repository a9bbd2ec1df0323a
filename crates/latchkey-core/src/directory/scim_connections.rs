//! SCIM 2.0 app connections: the apps `scimProvision` / `scimDeprovision` steps act on. The
//! bearer token is sealed under the master key before it reaches the store and is in no
//! event, listing, log line or error; only the engine's SCIM client opens it.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

use super::{Change, Directory};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::scim_connection::{ScimMapping, StoredScimConnection};
use crate::workflow::WorkflowDefinition;

/// The sealing purpose of SCIM connections' bearer tokens.
const TOKEN_PURPOSE: &str = "workflow-scim-connection-token";
const MAX_NAME_LEN: usize = 64;
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Most connections one listing page holds.
pub const MAX_SCIM_CONNECTIONS_PAGE: u32 = 200;

/// A connection to save.
#[derive(Debug, Clone)]
pub struct ScimConnectionInput {
    pub name: String,
    /// The SCIM service's base URL (the one `/Users` and `/ServiceProviderConfig` hang off).
    pub base_url: String,
    pub token: SecretString,
    pub mapping: ScimMapping,
}

/// A saved connection without its token: what listings and the CLI show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimConnectionSummary {
    pub name: String,
    pub base_url: String,
    pub mapping: ScimMapping,
    pub updated_at: DateTime<Utc>,
}

/// A saved connection, its token opened (for the SCIM client only; `Debug` hides it).
#[derive(Debug, Clone)]
pub struct ScimConnection {
    pub name: String,
    pub base_url: String,
    pub token: SecretString,
    pub mapping: ScimMapping,
    pub updated_at: DateTime<Utc>,
}

fn connection_name(raw: &str) -> Result<String, DirectoryError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_LEN
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(DirectoryError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(name.to_owned())
}

fn summary(stored: &StoredScimConnection) -> Result<ScimConnectionSummary, DirectoryError> {
    Ok(ScimConnectionSummary {
        name: stored.name.clone(),
        base_url: stored.base_url.clone(),
        mapping: ScimMapping::from_json(&stored.mapping)?,
        updated_at: stored.updated_at,
    })
}

impl Directory {
    /// Validates and saves a SCIM connection (replacing one of the same name), the token
    /// sealed under the master key, audited without the token. Nothing is written if a field
    /// is invalid.
    pub async fn save_scim_connection(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: ScimConnectionInput,
    ) -> Result<ScimConnectionSummary, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let name = connection_name(&input.name)?;
        let base_url = super::tenant_connections::base_url("baseUrl", Some(&input.base_url), "")?;
        let token = input.token.expose_secret().trim();
        if token.is_empty() {
            return Err(DirectoryError::invalid("token", "must not be empty"));
        }
        if token.len() > MAX_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(DirectoryError::invalid(
                "token",
                format!("must be at most {MAX_TOKEN_LEN} characters without spaces"),
            ));
        }
        let sealed_token = self
            .master_key()?
            .seal(TOKEN_PURPOSE, token.as_bytes())
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let mapping = input.mapping.to_json();
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Update workflow SCIM connection",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![
                ("connection".into(), name.clone()),
                ("baseUrl".into(), base_url.clone()),
                ("mapping".into(), mapping.clone()),
            ],
            outbox_kind: "workflow.scimConnectionChanged",
            payload: json!({ "connection": name, "baseUrl": base_url }),
        });
        self.store
            .save_scim_connection(
                &StoredScimConnection {
                    tenant_id: tenant,
                    name: name.clone(),
                    base_url: base_url.clone(),
                    mapping,
                    sealed_token,
                    updated_at: now,
                },
                &events,
            )
            .await?;
        Ok(ScimConnectionSummary {
            name,
            base_url,
            mapping: input.mapping,
            updated_at: now,
        })
    }

    /// A page of the tenant's SCIM connections (by name, after `after`), without tokens.
    pub async fn list_scim_connections(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScimConnectionSummary>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let limit = limit.clamp(1, MAX_SCIM_CONNECTIONS_PAGE);
        self.store
            .list_scim_connections(tenant, after.map(str::trim), limit)
            .await?
            .iter()
            .map(summary)
            .collect()
    }

    /// Deletes the named connection, audited. Steps that still name it fail when they run.
    pub async fn delete_scim_connection(
        &self,
        actor: &Actor,
        tenant: TenantId,
        name: &str,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let name = name.trim();
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Delete workflow SCIM connection",
            operation_type: "Delete",
            target: None,
            other_target: None,
            details: vec![("connection".into(), name.to_owned())],
            outbox_kind: "workflow.scimConnectionDeleted",
            payload: json!({ "connection": name }),
        });
        if self
            .store
            .delete_scim_connection(tenant, name, &events)
            .await?
        {
            Ok(())
        } else {
            Err(DirectoryError::not_found(format!(
                "SCIM connection '{name}'"
            )))
        }
    }

    /// The named connection with its token opened, for the SCIM client.
    pub async fn scim_connection(
        &self,
        actor: &Actor,
        tenant: TenantId,
        name: &str,
    ) -> Result<ScimConnection, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let stored = self
            .store
            .find_scim_connection(tenant, name)
            .await?
            .ok_or_else(|| {
                DirectoryError::not_found(format!("SCIM connection '{}'", name.trim()))
            })?;
        let token =
            self.open_secret(TOKEN_PURPOSE, &stored.sealed_token, "SCIM connection token")?;
        let s = summary(&stored)?;
        Ok(ScimConnection {
            name: s.name,
            base_url: s.base_url,
            token,
            mapping: s.mapping,
            updated_at: s.updated_at,
        })
    }

    /// Refuses a definition whose SCIM steps name a connection the tenant does not have,
    /// naming the step's field; needs no master key.
    pub(crate) async fn check_scim_connections(
        &self,
        tenant: TenantId,
        definition: &WorkflowDefinition,
    ) -> Result<(), DirectoryError> {
        for (i, step) in definition.steps.iter().enumerate() {
            if let Some(name) = step.action.scim_connection()
                && self
                    .store
                    .find_scim_connection(tenant, name)
                    .await?
                    .is_none()
            {
                return Err(DirectoryError::invalid(
                    format!("steps[{i}].connection"),
                    format!(
                        "no SCIM connection '{name}' (add it with `latchkey workflows connect-scim`)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
