//! Service principals and delegated grants read from the app model (Graph's
//! `servicePrincipals` and `oauth2PermissionGrants`), and the inventory's discovery from a
//! connected Microsoft 365 tenant: a pass (in `latchkey-automation`) reads the remote
//! tenant's service principals, grants and sign-ins and hands them to
//! [`Directory::record_remote_saas_discovery`], which decides what they add to the inventory;
//! an unreachable remote is recorded with [`Directory::record_remote_saas_failure`] and
//! changes nothing else.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::saas::is_first_party;
use super::{Change, Directory};
use crate::app::{App, AppId};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{SaasAppId, TenantId, UserId};
use crate::names::Upn;
use crate::saas::{EvidenceSource, SaasEvidence, risky_permissions};
use crate::saas_remote::{
    ConsentType, GRAPH_APP_ID, GRAPH_SERVICE_PRINCIPAL_ID, MICROSOFT_TENANTS, PermissionGrant,
    RemoteAppUser, RemoteAppWrite, RemoteDiscoveryCounts, RemoteDiscoveryWrite, RemoteObservations,
    SaasDiscoverySource, ServicePrincipal,
};
use crate::store::Page;
use crate::user::User;

/// Longest error kept on a source.
const MAX_ERROR_CHARS: usize = 300;

fn check_limit(limit: u32) -> Result<(), DirectoryError> {
    if (1..=999).contains(&limit) {
        Ok(())
    } else {
        Err(DirectoryError::invalid(
            "$top",
            "the page size must be between 1 and 999",
        ))
    }
}

fn bad_token() -> DirectoryError {
    DirectoryError::invalid("$skiptoken", "the page token is not valid")
}

fn service_principal(tenant: TenantId, app: &App) -> ServicePrincipal {
    // Latchkey's own page sets play Microsoft's first-party apps.
    let owner = if is_first_party(app) {
        MICROSOFT_TENANTS[0].to_owned()
    } else {
        tenant.to_string()
    };
    ServicePrincipal {
        id: app.object_id,
        app_id: app.app_id.to_string(),
        display_name: app.display_name.clone(),
        account_enabled: true,
        app_owner_organization_id: owner,
        reply_urls: app.redirect_uris.clone(),
    }
}

fn graph_service_principal() -> ServicePrincipal {
    ServicePrincipal {
        id: GRAPH_SERVICE_PRINCIPAL_ID,
        app_id: GRAPH_APP_ID.to_owned(),
        display_name: "Microsoft Graph".to_owned(),
        account_enabled: true,
        app_owner_organization_id: MICROSOFT_TENANTS[0].to_owned(),
        reply_urls: vec![],
    }
}

/// A grant's id, as Entra builds them: base64url of the client's, the resource's and (for
/// a user's grant) the user's ids.
fn grant_id(client: uuid::Uuid, principal: Option<UserId>) -> String {
    let mut raw = client.as_bytes().to_vec();
    raw.extend_from_slice(GRAPH_SERVICE_PRINCIPAL_ID.as_bytes());
    if let Some(p) = principal {
        raw.extend_from_slice(p.as_uuid().as_bytes());
    }
    URL_SAFE_NO_PAD.encode(raw)
}

/// Where a page of grants starts: administrators' grants by app, then users' by app and
/// user.
enum GrantCursor {
    Start,
    Admin(uuid::Uuid),
    User(AppId, UserId),
}

fn parse_grant_cursor(raw: Option<&str>) -> Result<GrantCursor, DirectoryError> {
    let Some(raw) = raw else {
        return Ok(GrantCursor::Start);
    };
    if let Some(app) = raw.strip_prefix("a:") {
        return Ok(GrantCursor::Admin(app.parse().map_err(|_| bad_token())?));
    }
    let rest = raw.strip_prefix("u:").ok_or_else(bad_token)?;
    let (app, user) = rest.split_once(':').ok_or_else(bad_token)?;
    Ok(GrantCursor::User(
        AppId(app.parse().map_err(|_| bad_token())?),
        user.parse().map_err(|_| bad_token())?,
    ))
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

impl Directory {
    /// A page of the tenant's service principals, by id: Microsoft Graph's and one per app
    /// registration. The cursor is the last id of the previous page.
    pub async fn list_service_principals(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<ServicePrincipal>, DirectoryError> {
        authorize(actor, Action::ReadApps, &[])?;
        check_limit(limit)?;
        let after: Option<uuid::Uuid> = after
            .map(|a| a.parse().map_err(|_| bad_token()))
            .transpose()?;
        let apps = self.store.list_apps(tenant).await?;
        let mut all: Vec<ServicePrincipal> =
            apps.iter().map(|a| service_principal(tenant, a)).collect();
        all.push(graph_service_principal());
        all.sort_by_key(|s| s.id);
        let mut items: Vec<ServicePrincipal> = all
            .into_iter()
            .filter(|s| after.is_none_or(|a| s.id > a))
            .take(limit as usize + 1)
            .collect();
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|s| s.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// A page of the tenant's delegated permission grants to Graph: an administrator's
    /// consent (`AllPrincipals`, the app's delegated permissions) by app, then each user's
    /// (`Principal`) by app and user. Two queries a page, whatever its size.
    pub async fn list_permission_grants(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<PermissionGrant>, DirectoryError> {
        authorize(actor, Action::ReadApps, &[])?;
        check_limit(limit)?;
        let cursor = parse_grant_cursor(after)?;
        let apps = self.store.list_apps(tenant).await?;
        let by_app: HashMap<AppId, uuid::Uuid> =
            apps.iter().map(|a| (a.app_id, a.object_id)).collect();
        let mut admin: Vec<&App> = apps
            .iter()
            .filter(|a| a.admin_consent && !a.delegated_permissions.is_empty())
            .collect();
        admin.sort_by_key(|a| a.app_id.0);
        let mut items: Vec<PermissionGrant> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let user_after = match cursor {
            GrantCursor::Start | GrantCursor::Admin(_) => {
                let from = match cursor {
                    GrantCursor::Admin(a) => Some(a),
                    _ => None,
                };
                for a in admin
                    .iter()
                    .filter(|a| from.is_none_or(|f| a.app_id.0 > f))
                    .take(limit as usize + 1)
                {
                    items.push(PermissionGrant {
                        id: grant_id(a.object_id, None),
                        client_id: a.object_id,
                        consent_type: ConsentType::AllPrincipals,
                        principal_id: None,
                        resource_id: GRAPH_SERVICE_PRINCIPAL_ID,
                        scopes: a.delegated_permissions.clone(),
                    });
                    keys.push(format!("a:{}", a.app_id.0));
                }
                None
            }
            GrantCursor::User(app, user) => Some((app, user)),
        };
        if items.len() <= limit as usize {
            let want = limit as usize + 1 - items.len();
            let want = u32::try_from(want).unwrap_or(limit);
            for c in self
                .store
                .user_consents_page(tenant, user_after, want)
                .await?
            {
                let Some(client) = by_app.get(&c.app_id) else {
                    continue;
                };
                items.push(PermissionGrant {
                    id: grant_id(*client, Some(c.user_id)),
                    client_id: *client,
                    consent_type: ConsentType::Principal,
                    principal_id: Some(c.user_id),
                    resource_id: GRAPH_SERVICE_PRINCIPAL_ID,
                    scopes: c.scopes.clone(),
                });
                keys.push(format!("u:{}:{}", c.app_id.0, c.user_id));
            }
        }
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            keys.get(limit as usize - 1).cloned()
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// The names of the tenant's connected tenants (the discovery sources a pass reads).
    pub async fn saas_discovery_connections(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<String>, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        Ok(self.store.tenant_connection_names(tenant).await?)
    }

    /// The status of the discovery from the tenant's connection `connection`, if a pass ran.
    pub async fn saas_discovery_source(
        &self,
        actor: &Actor,
        tenant: TenantId,
        connection: &str,
    ) -> Result<Option<SaasDiscoverySource>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        Ok(self
            .store
            .saas_discovery_source(tenant, &connection.to_lowercase())
            .await?)
    }

    /// Records that a pass could not read the connected tenant (unreachable, credentials
    /// refused): the time and the error, clipped; the inventory is unchanged.
    pub async fn record_remote_saas_failure(
        &self,
        actor: &Actor,
        tenant: TenantId,
        connection: &str,
        error: &str,
    ) -> Result<(), DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        self.store
            .record_saas_discovery_failure(
                tenant,
                &connection.to_lowercase(),
                self.clock.now(),
                &clip(error, MAX_ERROR_CHARS),
            )
            .await?;
        Ok(())
    }

    /// What a pass read from the connected tenant `connection`, added to the inventory in one
    /// transaction: each app the tenant uses (Microsoft's own left out) is matched to the
    /// inventory (by its link to the remote `appId`, then the catalogue entry, then its name)
    /// or added as discovered with the alert naming its risky permissions; its grants'
    /// scopes, the local users (by UPN) who consented or signed in, with their last use, and
    /// one evidence row per grant and per user's sign-ins, each written once.
    pub async fn record_remote_saas_discovery(
        &self,
        actor: &Actor,
        tenant: TenantId,
        connection: &str,
        observations: RemoteObservations,
    ) -> Result<RemoteDiscoveryCounts, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        let key = connection.to_lowercase();
        let source = format!("microsoft365:{connection}");
        let now = self.clock.now();
        let previous = self.store.saas_discovery_source(tenant, &key).await?;
        let cursor = previous.and_then(|p| p.sign_in_cursor);

        let apps: Vec<_> = observations
            .apps
            .iter()
            .filter(|a| {
                a.app_id != GRAPH_APP_ID
                    && !a.app_owner_organization_id.as_deref().is_some_and(|o| {
                        MICROSOFT_TENANTS
                            .iter()
                            .any(|m| m.eq_ignore_ascii_case(o.trim()))
                    })
            })
            .collect();

        // Local users by UPN, once each.
        let mut users: HashMap<String, Option<User>> = HashMap::new();
        let upns = observations
            .grants
            .iter()
            .filter_map(|g| g.principal.as_deref())
            .chain(
                observations
                    .sign_ins
                    .iter()
                    .map(|s| s.user_principal_name.as_str()),
            );
        for upn in upns {
            let lower = upn.to_lowercase();
            if users.contains_key(&lower) {
                continue;
            }
            let found = match Upn::parse(upn) {
                Ok(u) => self.store.find_user_by_upn(tenant, &u).await?,
                Err(_) => None,
            };
            users.insert(lower, found);
        }
        let local = |upn: &str| users.get(&upn.to_lowercase()).and_then(|u| u.as_ref());

        let linked = self
            .store
            .linked_remote_saas_apps(
                tenant,
                &key,
                &apps.iter().map(|a| a.app_id.clone()).collect::<Vec<_>>(),
            )
            .await?;

        let mut writes = Vec::new();
        let mut newest = cursor;
        for app in apps {
            let mut permissions: Vec<String> = Vec::new();
            let mut app_users: BTreeMap<UserId, RemoteAppUser> = BTreeMap::new();
            let mut evidence = Vec::new();
            let mut first_user: Option<String> = None;
            for g in observations
                .grants
                .iter()
                .filter(|g| g.client_app_id.eq_ignore_ascii_case(&app.app_id))
            {
                for s in &g.scopes {
                    if !permissions.iter().any(|p| p.eq_ignore_ascii_case(s)) {
                        permissions.push(s.clone());
                    }
                }
                let mut sorted = g.scopes.clone();
                sorted.sort();
                let user = g.principal.as_deref().and_then(&local);
                let detail = match (g.consent_type, g.principal.as_deref()) {
                    (ConsentType::Principal, Some(upn)) => {
                        first_user.get_or_insert_with(|| upn.to_owned());
                        format!("{source}: {upn} consented to {}", g.scopes.join(" "))
                    }
                    _ => format!(
                        "{source}: an administrator granted consent for the organisation to {}",
                        g.scopes.join(" ")
                    ),
                };
                if let Some(u) = user {
                    let entry = app_users.entry(u.id).or_insert_with(|| RemoteAppUser {
                        user_id: u.id,
                        last_used: None,
                        permissions: vec![],
                    });
                    for s in &g.scopes {
                        if !entry.permissions.iter().any(|p| p.eq_ignore_ascii_case(s)) {
                            entry.permissions.push(s.clone());
                        }
                    }
                }
                evidence.push((
                    format!("grant:{}:{}", g.id, sorted.join(" ")),
                    SaasEvidence {
                        source: EvidenceSource::Microsoft365,
                        at: now,
                        user_id: user.map(|u| u.id),
                        detail,
                    },
                ));
            }
            // Sign-ins: each user's newest one, with how many the pass saw.
            let mut by_user: BTreeMap<String, (usize, &crate::saas_remote::RemoteSignIn)> =
                BTreeMap::new();
            for s in observations.sign_ins.iter().filter(|s| {
                s.succeeded
                    && s.app_id.eq_ignore_ascii_case(&app.app_id)
                    && cursor.is_none_or(|c| s.at >= c)
            }) {
                newest = Some(newest.map_or(s.at, |n| n.max(s.at)));
                let e = by_user
                    .entry(s.user_principal_name.to_lowercase())
                    .or_insert((0, s));
                e.0 += 1;
                if s.at > e.1.at {
                    e.1 = s;
                }
            }
            for (count, s) in by_user.values() {
                let user = local(&s.user_principal_name);
                first_user.get_or_insert_with(|| s.user_principal_name.clone());
                if let Some(u) = user {
                    let entry = app_users.entry(u.id).or_insert_with(|| RemoteAppUser {
                        user_id: u.id,
                        last_used: None,
                        permissions: vec![],
                    });
                    entry.last_used = Some(entry.last_used.map_or(s.at, |l| l.max(s.at)));
                }
                let times = if *count == 1 {
                    "once".to_owned()
                } else {
                    format!("{count} times")
                };
                evidence.push((
                    format!("signIn:{}", s.id),
                    SaasEvidence {
                        source: EvidenceSource::Microsoft365,
                        at: s.at,
                        user_id: user.map(|u| u.id),
                        detail: format!("{source}: {} signed in {times}", s.user_principal_name),
                    },
                ));
            }
            let new_id = SaasAppId::new();
            let name = app
                .matched
                .as_ref()
                .map_or_else(|| app.display_name.clone(), |m| m.name.clone());
            let if_new = if linked.iter().any(|l| l.eq_ignore_ascii_case(&app.app_id)) {
                None
            } else {
                let risky = risky_permissions(&permissions);
                let mut events = self.events(Change {
                    actor,
                    tenant,
                    category: "ApplicationManagement",
                    activity: "Discover SaaS app",
                    operation_type: "Add",
                    target: None,
                    other_target: Some((new_id.to_string(), name.clone())),
                    details: vec![
                        ("appId".into(), app.app_id.clone()),
                        ("source".into(), source.clone()),
                        ("permissions".into(), permissions.join(" ")),
                        ("riskyPermissions".into(), risky.join(" ")),
                    ],
                    outbox_kind: "saas.appDiscovered",
                    payload: json!({
                        "id": new_id.to_string(),
                        "name": name,
                        "category": app.matched.as_ref().map(|m| m.category.clone()),
                        "appId": app.app_id,
                        "source": EvidenceSource::Microsoft365.as_str(),
                        "connection": connection,
                        "permissions": permissions,
                        "riskyPermissions": risky,
                    }),
                });
                let seen_by = first_user.clone().unwrap_or_else(|| source.clone());
                if let Some(mail) = self
                    .discovery_alert(
                        tenant,
                        &name,
                        &seen_by,
                        EvidenceSource::Microsoft365,
                        &permissions,
                        risky,
                    )
                    .await?
                {
                    events.mail.push(mail);
                }
                Some(Box::new(events))
            };
            writes.push(RemoteAppWrite {
                remote_app_id: app.app_id.clone(),
                new_id,
                fallback_name: format!("{name} ({connection})"),
                name,
                matched: app.matched.clone(),
                permissions,
                users: app_users.into_values().collect(),
                evidence,
                if_new,
            });
        }
        let counts = self
            .store
            .write_remote_saas_discovery(&RemoteDiscoveryWrite {
                tenant_id: tenant,
                connection: key,
                at: now,
                apps: writes.clone(),
                sign_in_cursor: newest,
            })
            .await?;
        for w in &writes {
            if let Some(e) = &w.if_new {
                self.mail_queued(e);
            }
        }
        Ok(counts)
    }
}
