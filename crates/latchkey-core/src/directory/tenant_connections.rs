//! Connected Microsoft 365 tenants: what a workflow aimed at `{"tenant": NAME}` acts on
//! through Graph with client credentials. The client secret is sealed under the master key
//! before it reaches the store and is in no event, log line or error; only the engine's
//! connector opens it.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

use super::{Change, Directory};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::workflow_store::StoredTenantConnection;

/// The sealing purpose of connected tenants' client secrets.
const CONNECTION_SECRET_PURPOSE: &str = "workflow-tenant-connection-secret";
const MAX_NAME_LEN: usize = 64;
const MAX_FIELD_LEN: usize = 256;
const MAX_CA_LEN: usize = 64 * 1024;
/// Microsoft's public cloud, the default endpoints.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com";

/// A connection to save.
#[derive(Debug, Clone)]
pub struct TenantConnectionInput {
    pub name: String,
    /// The remote tenant's id (a GUID) or one of its domains.
    pub remote_tenant: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Token endpoint host (`{authority}/{tenant}/oauth2/v2.0/token`); default Microsoft's.
    pub authority_url: Option<String>,
    /// Graph's base URL (without `/v1.0`); default Microsoft's.
    pub graph_url: Option<String>,
    /// An extra CA certificate (PEM) to trust, e.g. a test Latchkey's local CA.
    pub ca_pem: Option<String>,
}

/// A saved connection, its secret opened (for the connector only; `Debug` hides it).
#[derive(Debug, Clone)]
pub struct TenantConnection {
    pub name: String,
    pub remote_tenant: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authority_url: String,
    pub graph_url: String,
    pub ca_pem: Option<String>,
    pub updated_at: DateTime<Utc>,
}

fn text(field: &str, raw: &str) -> Result<String, DirectoryError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(DirectoryError::invalid(field, "must not be empty"));
    }
    if v.len() > MAX_FIELD_LEN || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DirectoryError::invalid(
            field,
            format!("must be at most {MAX_FIELD_LEN} characters without spaces"),
        ));
    }
    Ok(v.to_owned())
}

/// An https URL (plain http only on loopback), without a trailing slash.
pub(super) fn base_url(
    field: &str,
    raw: Option<&str>,
    default: &str,
) -> Result<String, DirectoryError> {
    let v = text(field, raw.unwrap_or(default))?;
    let v = v.trim_end_matches('/').to_owned();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| DirectoryError::invalid(field, format!("'{v}' is not an https:// URL")))?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(DirectoryError::invalid(field, format!("'{v}' has no host")));
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1") || rest.starts_with("[::1]");
    if v.starts_with("http://") && !loopback {
        return Err(DirectoryError::invalid(
            field,
            "must use https (plain http only on loopback)",
        ));
    }
    Ok(v)
}

impl TenantConnectionInput {
    /// The connection with every field checked and the defaults filled in, as it would be
    /// saved (stamped `at`); the first invalid field is refused by name. Lets a channel try
    /// the credentials against the remote tenant before anything is saved.
    pub fn check(&self, at: DateTime<Utc>) -> Result<TenantConnection, DirectoryError> {
        let name = self.name.trim().to_owned();
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
        let remote_tenant = text("tenantId", &self.remote_tenant)?;
        let client_id = text("clientId", &self.client_id)?;
        let secret = self.client_secret.expose_secret().trim();
        if secret.is_empty() {
            return Err(DirectoryError::invalid("clientSecret", "must not be empty"));
        }
        let authority_url = base_url(
            "authority",
            self.authority_url.as_deref(),
            DEFAULT_AUTHORITY,
        )?;
        let graph_url = base_url("graphUrl", self.graph_url.as_deref(), DEFAULT_GRAPH)?;
        let ca_pem = match self.ca_pem.clone() {
            Some(pem) if !pem.contains("-----BEGIN CERTIFICATE-----") || pem.len() > MAX_CA_LEN => {
                return Err(DirectoryError::invalid(
                    "caFile",
                    "must hold a PEM certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
            other => other,
        };
        Ok(TenantConnection {
            name,
            remote_tenant,
            client_id,
            client_secret: SecretString::from(secret.to_owned()),
            authority_url,
            graph_url,
            ca_pem,
            updated_at: at,
        })
    }
}

impl Directory {
    /// Validates and saves a connected tenant (replacing one of the same name), the client
    /// secret sealed under the master key, audited without the secret. Nothing is written
    /// if a field is invalid.
    pub async fn save_tenant_connection(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: TenantConnectionInput,
    ) -> Result<TenantConnection, DirectoryError> {
        authorize(actor, Action::ManageTenant, &[])?;
        let now = self.clock.now();
        let checked = input.check(now)?;
        let sealed_secret = self
            .master_key()?
            .seal(
                CONNECTION_SECRET_PURPOSE,
                checked.client_secret.expose_secret().as_bytes(),
            )
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Update workflow tenant connection",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![
                ("connection".into(), checked.name.clone()),
                ("remoteTenant".into(), checked.remote_tenant.clone()),
                ("clientId".into(), checked.client_id.clone()),
                ("graphUrl".into(), checked.graph_url.clone()),
            ],
            outbox_kind: "workflow.tenantConnectionChanged",
            payload: json!({ "connection": checked.name, "remoteTenant": checked.remote_tenant }),
        });
        self.store
            .save_tenant_connection(
                &StoredTenantConnection {
                    tenant_id: tenant,
                    name: checked.name.clone(),
                    remote_tenant: checked.remote_tenant.clone(),
                    client_id: checked.client_id.clone(),
                    authority_url: checked.authority_url.clone(),
                    graph_url: checked.graph_url.clone(),
                    ca_pem: checked.ca_pem.clone(),
                    sealed_secret,
                    updated_at: now,
                },
                &events,
            )
            .await?;
        Ok(checked)
    }

    /// Whether the tenant has a connection of that name (ignoring case); needs no master key.
    pub async fn has_tenant_connection(
        &self,
        actor: &Actor,
        tenant: TenantId,
        name: &str,
    ) -> Result<bool, DirectoryError> {
        authorize(actor, Action::ManageTenant, &[])?;
        Ok(self.store.tenant_connection(tenant, name).await?.is_some())
    }

    /// The named connection with its secret opened, for the connector.
    pub async fn tenant_connection(
        &self,
        actor: &Actor,
        tenant: TenantId,
        name: &str,
    ) -> Result<TenantConnection, DirectoryError> {
        authorize(actor, Action::ManageTenant, &[])?;
        let stored = self
            .store
            .tenant_connection(tenant, name)
            .await?
            .ok_or_else(|| {
                DirectoryError::not_found(format!("Connected tenant '{}'", name.trim()))
            })?;
        let client_secret = self.open_secret(
            CONNECTION_SECRET_PURPOSE,
            &stored.sealed_secret,
            "connection secret",
        )?;
        Ok(TenantConnection {
            name: stored.name,
            remote_tenant: stored.remote_tenant,
            client_id: stored.client_id,
            client_secret,
            authority_url: stored.authority_url,
            graph_url: stored.graph_url,
            ca_pem: stored.ca_pem,
            updated_at: stored.updated_at,
        })
    }
}
