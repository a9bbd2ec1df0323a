//! SaaS discovery from a connected Microsoft 365 tenant (issue 8, source b): a pass reads the
//! remote tenant's `servicePrincipals`, `oauth2PermissionGrants` (with the consenting users'
//! UPNs) and the sign-ins since the last successful pass through `latchkey-graph-client`,
//! with the connection's client credentials ([`crate::remote::Clients`]), matches the apps to
//! the catalogue by name, and hands everything to core's
//! `Directory::record_remote_saas_discovery`, which decides what the inventory gains. A remote
//! that cannot be reached or refuses the credentials is recorded on the source
//! (`record_remote_saas_failure`: the time and Graph's error, never the secret) and the
//! inventory is left as it was; the next pass (hourly in `latchkey serve`) tries again.

use std::collections::HashMap;

use latchkey_core::Directory;
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::TenantId;
use latchkey_core::saas_remote::{
    ConsentType, RemoteApp, RemoteDiscoveryCounts, RemoteGrant, RemoteObservations, RemoteSignIn,
};
use latchkey_graph_client::{GraphClient, GraphClientError};

use crate::remote::Clients;
use crate::workflow_actor;

/// How one pass over one connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassOutcome {
    /// Read and recorded.
    Recorded(RemoteDiscoveryCounts),
    /// The remote could not be read; the error recorded on the source.
    Failed(String),
}

/// Reads everything a pass needs from the remote tenant.
async fn read_remote(
    client: &GraphClient,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<RemoteObservations, GraphClientError> {
    let principals = client.list_service_principals().await?;
    let grants = client.list_permission_grants().await?;
    let sign_ins = client.list_sign_ins(since).await?;
    let app_of: HashMap<String, String> = principals
        .iter()
        .map(|p| (p.id.to_lowercase(), p.app_id.clone()))
        .collect();
    // The consenting users' UPNs, one request per distinct user.
    let mut upns: HashMap<String, Option<String>> = HashMap::new();
    for id in grants.iter().filter_map(|g| g.principal_id.as_deref()) {
        if upns.contains_key(id) {
            continue;
        }
        let upn = match client.get_user(id, &["userPrincipalName".to_owned()]).await {
            Ok(v) => v["userPrincipalName"].as_str().map(str::to_owned),
            Err(e) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
        upns.insert(id.to_owned(), upn);
    }
    Ok(RemoteObservations {
        apps: principals
            .iter()
            .map(|p| {
                let name = p.display_name.clone().unwrap_or_else(|| p.app_id.clone());
                RemoteApp {
                    app_id: p.app_id.clone(),
                    matched: latchkey_saas::vendor::match_vendor(&name).map(|c| c.to_match()),
                    display_name: name,
                    app_owner_organization_id: p.app_owner_organization_id.clone(),
                    homepage: p.homepage.clone(),
                }
            })
            .collect(),
        grants: grants
            .iter()
            .filter_map(|g| {
                Some(RemoteGrant {
                    id: g.id.clone(),
                    client_app_id: app_of.get(&g.client_id.to_lowercase())?.clone(),
                    consent_type: ConsentType::parse(&g.consent_type)?,
                    principal: g
                        .principal_id
                        .as_deref()
                        .and_then(|p| upns.get(p).cloned().flatten()),
                    scopes: g.scopes(),
                })
            })
            .collect(),
        sign_ins: sign_ins
            .into_iter()
            .filter_map(|s| {
                Some(RemoteSignIn {
                    id: s.id,
                    app_id: s.app_id?,
                    user_principal_name: s.user_principal_name?,
                    at: s.created_date_time,
                    succeeded: s.status.as_ref().is_none_or(|st| st.error_code == 0),
                })
            })
            .collect(),
    })
}

/// One pass over the tenant's connection `name`. `Err` only when the connection is unusable
/// locally (missing, cannot be unsealed) or the local store fails.
pub async fn discover(
    directory: &Directory,
    clients: &Clients,
    tenant: TenantId,
    name: &str,
) -> Result<PassOutcome, DirectoryError> {
    let actor = workflow_actor();
    let (client, name) = clients.get(directory, tenant, name).await?;
    let since = directory
        .saas_discovery_source(&actor, tenant, &name)
        .await?
        .and_then(|s| s.sign_in_cursor);
    match read_remote(&client, since).await {
        Ok(observations) => Ok(PassOutcome::Recorded(
            directory
                .record_remote_saas_discovery(&actor, tenant, &name, observations)
                .await?,
        )),
        Err(e) => {
            let what = match e {
                GraphClientError::Token { .. } => "refused the credentials",
                _ => "could not be read",
            };
            let error = format!("the connected tenant '{name}' {what}: {e}");
            directory
                .record_remote_saas_failure(&actor, tenant, &name, &error)
                .await?;
            Ok(PassOutcome::Failed(error))
        }
    }
}

/// A pass over every connection of every tenant (the hourly pass in `latchkey serve`); each
/// connection's outcome, a local failure logged and the others still run.
pub async fn discover_all(directory: &Directory, clients: &Clients) -> Vec<(String, PassOutcome)> {
    let actor = workflow_actor();
    let mut out = Vec::new();
    let tenants = match directory.list_tenants().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "SaaS discovery could not list the tenants");
            return out;
        }
    };
    for tenant in tenants {
        let names = match directory
            .saas_discovery_connections(&actor, tenant.id)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "SaaS discovery could not list the connections");
                continue;
            }
        };
        for name in names {
            match discover(directory, clients, tenant.id, &name).await {
                Ok(outcome) => {
                    if let PassOutcome::Failed(e) = &outcome {
                        tracing::warn!(connection = %name, error = %e, "SaaS discovery failed");
                    }
                    out.push((name, outcome));
                }
                Err(e) => {
                    tracing::warn!(connection = %name, error = %e, "SaaS discovery failed locally");
                }
            }
        }
    }
    out
}
