//! The SaaS inventory's operations: listing and reading apps, their review (state, owner),
//! expense imports, and the discovery of apps from Latchkey's own consents and sign-ins.
//! A discovery rides on the change that reveals it ([`crate::audit::Events::saas`]), so an
//! app a user consents to is in the inventory when the consent is.

use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::app::App;
use crate::audit::{Events, OutboxEvent};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{EventId, SaasAppId, TenantId, UserId};
use crate::mail::{MailAddress, MailContent, OutgoingMail};
use crate::role::DirectoryRole;
use crate::saas::{
    DEFAULT_IDLE_DAYS, DETAIL_LIMIT, EvidenceSource, ExpenseCounts, ExpenseLine, ExpenseWrite,
    NewContract, SaasApp, SaasAppDetail, SaasAppState, SaasAppWrite, SaasContract, SaasDiscovery,
    SaasEvidence, SaasQuery, UnmatchedExpense, idle_users, risky_permissions,
};
use crate::store::{Page, StoreError, UserQuery};
use crate::user::User;

/// Most lines one import may carry.
pub const MAX_EXPENSE_LINES: usize = 50_000;

/// A review of an app: what to change. `owner: Some(None)` removes the owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaasAppChanges {
    pub state: Option<SaasAppState>,
    pub owner: Option<Option<UserRef>>,
}

/// Latchkey's own page sets (admin center, My account) are not apps anyone needs to review.
pub(super) fn is_first_party(app: &App) -> bool {
    app.public_client
        && (app.display_name == super::ADMIN_CENTER_APP_NAME
            || app.display_name == super::MY_ACCOUNT_APP_NAME)
}

fn not_found(id: SaasAppId) -> DirectoryError {
    DirectoryError::not_found(format!("SaaS app '{id}'"))
}

impl Directory {
    /// A page of the tenant's inventory, by name.
    pub async fn list_saas_apps(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &SaasQuery,
    ) -> Result<Page<SaasApp>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        if !(1..=999).contains(&query.limit) {
            return Err(DirectoryError::invalid(
                "$top",
                "the page size must be between 1 and 999",
            ));
        }
        self.store
            .list_saas_apps(tenant, query)
            .await
            .map_err(|e| match e {
                StoreError::BadCursor => {
                    DirectoryError::invalid("$skiptoken", "the page token is not valid")
                }
                other => other.into(),
            })
    }

    /// An app with its users and its newest evidence.
    pub async fn get_saas_app(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
    ) -> Result<SaasAppDetail, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        let app = self
            .store
            .find_saas_app(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let (users, evidence) = self
            .store
            .saas_app_activity(tenant, id, DETAIL_LIMIT)
            .await?;
        Ok(SaasAppDetail {
            app,
            users,
            evidence,
        })
    }

    /// Reviews an app: moves its state (only along the review's allowed moves) and sets or
    /// removes its owner.
    pub async fn update_saas_app(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
        changes: SaasAppChanges,
    ) -> Result<SaasApp, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        if changes.state.is_none() && changes.owner.is_none() {
            return Err(DirectoryError::invalid(
                "state",
                "nothing to change: give a state or an owner",
            ));
        }
        let mut app = self
            .store
            .find_saas_app(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let before = app.state;
        if let Some(to) = changes.state {
            app.state
                .check_move(to)
                .map_err(|m| DirectoryError::invalid("state", m))?;
            app.state = to;
        }
        let mut owner_display = None;
        if let Some(owner) = &changes.owner {
            app.owner = match owner {
                None => None,
                Some(r) => {
                    let user = self.active_user(tenant, r).await.map_err(|e| match e {
                        DirectoryError::NotFound { .. } => DirectoryError::invalid(
                            "owner",
                            format!("no active user '{r}' in this tenant"),
                        ),
                        other => other,
                    })?;
                    owner_display = Some(user.user_principal_name.to_string());
                    Some(user.id)
                }
            };
        }
        let mut details = vec![
            ("app".into(), app.name.clone()),
            ("state".into(), app.state.as_str().into()),
        ];
        if let Some(o) = &owner_display {
            details.push(("owner".into(), o.clone()));
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Update SaaS app",
            operation_type: "Update",
            target: None,
            other_target: Some((app.id.to_string(), app.name.clone())),
            details,
            outbox_kind: if before == app.state {
                "saas.appUpdated"
            } else {
                "saas.appStateChanged"
            },
            payload: json!({
                "id": app.id.to_string(),
                "name": app.name,
                "previousState": before.as_str(),
                "state": app.state.as_str(),
                "ownerId": app.owner.map(|o| o.to_string()),
            }),
        });
        let now = self.clock.now();
        self.store
            .update_saas_app(
                &SaasAppWrite {
                    tenant_id: tenant,
                    id,
                    expected_version: app.version,
                    state: app.state,
                    owner: app.owner,
                    at: now,
                },
                &events,
            )
            .await
            .map_err(|e| match e {
                StoreError::Stale => DirectoryError::Conflict(
                    "The app was changed by someone else meanwhile; reload and try again.".into(),
                ),
                StoreError::NotFound => not_found(id),
                other => other.into(),
            })?;
        app.version += 1;
        app.updated = now;
        Ok(app)
    }

    /// Imports parsed expense lines (`latchkey_saas::expenses`): lines already imported are
    /// skipped, matched lines are linked to their app (added to the inventory as discovered
    /// if it is not there), the others kept for review. One transaction.
    pub async fn import_expenses(
        &self,
        actor: &Actor,
        tenant: TenantId,
        lines: Vec<ExpenseLine>,
    ) -> Result<ExpenseCounts, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        if lines.len() > MAX_EXPENSE_LINES {
            return Err(DirectoryError::invalid(
                "lines",
                format!("an import may carry at most {MAX_EXPENSE_LINES} lines"),
            ));
        }
        for l in &lines {
            if l.amount_minor < 0 {
                return Err(DirectoryError::invalid(
                    "amount",
                    format!("line {}: the amount must not be negative", l.line),
                ));
            }
            if l.currency.len() != 3 || !l.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(DirectoryError::invalid(
                    "currency",
                    format!("line {}: '{}' is not an ISO 4217 code", l.line, l.currency),
                ));
            }
            if l.vendor.trim().is_empty() {
                return Err(DirectoryError::invalid(
                    "vendor",
                    format!("line {}: the vendor is empty", l.line),
                ));
            }
        }
        let now = self.clock.now();
        let mut keys: Vec<String> = Vec::new();
        for m in lines.iter().filter_map(|l| l.matched.as_ref()) {
            if !keys.contains(&m.key) {
                keys.push(m.key.clone());
            }
        }
        let present = self
            .store
            .saas_catalogue_keys_present(tenant, &keys)
            .await?;
        let mut new_apps = Vec::new();
        for key in keys.iter().filter(|k| !present.contains(k)) {
            let Some(m) = lines
                .iter()
                .filter_map(|l| l.matched.as_ref())
                .find(|m| &m.key == key)
            else {
                continue;
            };
            let app = SaasApp {
                id: SaasAppId::new(),
                tenant_id: tenant,
                name: m.name.clone(),
                vendor: Some(m.vendor.clone()),
                category: Some(m.category.clone()),
                catalogue_key: Some(m.key.clone()),
                owner: None,
                state: SaasAppState::Discovered,
                latchkey_app_id: None,
                permissions: vec![],
                user_count: 0,
                created: now,
                updated: now,
                version: 1,
            };
            let outbox = OutboxEvent {
                id: EventId::new(),
                tenant_id: tenant,
                occurred_at: now,
                kind: "saas.appDiscovered".into(),
                subject: None,
                payload: json!({
                    "id": app.id.to_string(),
                    "name": app.name,
                    "category": app.category,
                    "source": EvidenceSource::Expense.as_str(),
                    "permissions": [],
                    "riskyPermissions": [],
                }),
            };
            new_apps.push((app, outbox));
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Import expenses",
            operation_type: "Add",
            target: None,
            other_target: None,
            details: vec![("lines".into(), lines.len().to_string())],
            outbox_kind: "saas.expensesImported",
            payload: json!({ "lines": lines.len() }),
        });
        Ok(self
            .store
            .import_expenses(&ExpenseWrite {
                tenant_id: tenant,
                at: now,
                lines,
                new_apps,
                events,
            })
            .await?)
    }

    /// Expense lines no catalogue app matched, newest import first.
    pub async fn unmatched_expenses(
        &self,
        actor: &Actor,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<UnmatchedExpense>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        Ok(self
            .store
            .list_unmatched_expenses(tenant, limit.clamp(1, 999))
            .await?)
    }

    /// What a change that shows `app` in use adds to the inventory: `None` for Latchkey's
    /// own page sets. For an app not yet in the inventory it carries the `saas.appDiscovered`
    /// event and the alert to the Global Administrators naming the risky permissions.
    pub(super) async fn saas_discovery(
        &self,
        actor: &Actor,
        app: &App,
        user: Option<&User>,
        permissions: &[String],
        source: EvidenceSource,
    ) -> Result<Option<SaasDiscovery>, DirectoryError> {
        if is_first_party(app) {
            return Ok(None);
        }
        let tenant = app.tenant_id;
        let now = self.clock.now();
        let existing = self
            .store
            .find_saas_app_by_latchkey_app(tenant, app.app_id)
            .await?;
        let seen_by = user.map_or_else(
            || crate::audit::Initiator::of(actor).display,
            |u| u.user_principal_name.to_string(),
        );
        let detail = match source {
            EvidenceSource::UserConsent => {
                format!("{seen_by} consented to {}", permissions.join(" "))
            }
            EvidenceSource::AdminConsent => format!(
                "{seen_by} granted consent for the organisation to {}",
                permissions.join(" ")
            ),
            EvidenceSource::SignIn => format!("{seen_by} signed in ({})", permissions.join(" ")),
            EvidenceSource::Expense | EvidenceSource::Manual | EvidenceSource::Microsoft365 => {
                seen_by.clone()
            }
        };
        let sanctioned = existing
            .as_ref()
            .is_some_and(|a| a.state == SaasAppState::Sanctioned);
        let evidence = (!sanctioned).then(|| SaasEvidence {
            source,
            at: now,
            user_id: user.map(|u| u.id),
            detail,
        });
        let new_id = SaasAppId::new();
        let if_new = if existing.is_some() {
            None
        } else {
            let risky = risky_permissions(permissions);
            let mut events = self.events(Change {
                actor,
                tenant,
                category: "ApplicationManagement",
                activity: "Discover SaaS app",
                operation_type: "Add",
                target: user,
                other_target: Some((new_id.to_string(), app.display_name.clone())),
                details: vec![
                    ("appId".into(), app.app_id.to_string()),
                    ("source".into(), source.as_str().into()),
                    ("permissions".into(), permissions.join(" ")),
                    ("riskyPermissions".into(), risky.join(" ")),
                ],
                outbox_kind: "saas.appDiscovered",
                payload: json!({
                    "id": new_id.to_string(),
                    "name": app.display_name,
                    "appId": app.app_id.to_string(),
                    "source": source.as_str(),
                    "userId": user.map(|u| u.id.to_string()),
                    "permissions": permissions,
                    "riskyPermissions": risky,
                }),
            });
            if let Some(mail) = self
                .discovery_alert(
                    tenant,
                    &app.display_name,
                    &seen_by,
                    source,
                    permissions,
                    risky,
                )
                .await?
            {
                events.mail.push(mail);
            }
            Some(Box::new(events))
        };
        Ok(Some(SaasDiscovery {
            tenant_id: tenant,
            latchkey_app_id: app.app_id,
            new_id,
            name: app.display_name.clone(),
            fallback_name: format!("{} ({})", app.display_name, app.app_id),
            user_id: user.map(|u| u.id),
            permissions: permissions.to_vec(),
            evidence,
            at: now,
            if_new,
        }))
    }

    /// The alert to the Global Administrators (their `mail` and `otherMails`, else their
    /// UPN), when this directory can seal mail and someone has an address.
    pub(super) async fn discovery_alert(
        &self,
        tenant: TenantId,
        app_name: &str,
        seen_by: &str,
        source: EvidenceSource,
        permissions: &[String],
        risky: Vec<String>,
    ) -> Result<Option<OutgoingMail>, DirectoryError> {
        if self.master.is_none() {
            return Ok(None);
        }
        let admins = self
            .store
            .list_users(
                tenant,
                &UserQuery {
                    role: Some(DirectoryRole::GlobalAdministrator),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await?;
        let mut to: Vec<MailAddress> = Vec::new();
        for admin in admins.items.iter().filter(|u| u.account_enabled) {
            let mut addresses = super::mail::user_addresses(admin);
            if addresses.is_empty()
                && let Ok(a) = MailAddress::parse(admin.user_principal_name.as_str())
            {
                addresses.push(a);
            }
            for a in addresses {
                if !to
                    .iter()
                    .any(|o| o.as_str().eq_ignore_ascii_case(a.as_str()))
                {
                    to.push(a);
                }
            }
        }
        if to.is_empty() {
            return Ok(None);
        }
        let tenant_record = self.tenant(tenant).await?;
        let content = MailContent::SaasAppDiscovered {
            app_name: app_name.to_owned(),
            seen_by: seen_by.to_owned(),
            source: source.as_str().to_owned(),
            permissions: permissions.to_vec(),
            risky,
        };
        self.seal_mail(&tenant_record, to, &content).map(Some)
    }

    /// Records a user's sign-in to an app in the inventory (its own transaction; a failure is
    /// logged, never the sign-in's).
    pub(super) async fn note_app_sign_in(
        &self,
        tenant: TenantId,
        client_id: crate::app::AppId,
        user_id: UserId,
        scopes: &[String],
    ) {
        let result: Result<(), DirectoryError> = async {
            let Some(app) = self.store.find_app(tenant, client_id).await? else {
                return Ok(());
            };
            let Some(user) = self.store.find_user(tenant, user_id).await? else {
                return Ok(());
            };
            let actor = Actor::User {
                id: user.id,
                display: user.user_principal_name.to_string(),
                roles: vec![],
                scopes: None,
                channel: crate::authz::Channel::SelfService,
            };
            if let Some(d) = self
                .saas_discovery(&actor, &app, Some(&user), scopes, EvidenceSource::SignIn)
                .await?
            {
                self.store.record_saas_use(&d).await?;
                if let Some(e) = &d.if_new {
                    self.mail_queued(e);
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record the sign-in in the SaaS inventory");
        }
    }

    /// Wakes the mail sender for alerts a committed change's discoveries queued.
    pub(super) fn saas_mail_queued(&self, events: &Events) {
        for d in &events.saas {
            if let Some(e) = &d.if_new {
                self.mail_queued(e);
            }
        }
    }
}

impl Directory {
    /// Records a contract for an app: refused when it ends before it starts, costs less than
    /// nothing, or gives more notice than it lasts.
    pub async fn add_saas_contract(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
        new: NewContract,
    ) -> Result<SaasContract, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        let app = self
            .store
            .find_saas_app(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let contract = new
            .validate(tenant, id, self.clock.now())
            .map_err(|(property, message)| DirectoryError::invalid(property, message))?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Add SaaS contract",
            operation_type: "Add",
            target: None,
            other_target: Some((app.id.to_string(), app.name.clone())),
            details: vec![
                ("endDate".into(), contract.end.to_string()),
                (
                    "cancellationDeadline".into(),
                    contract.cancellation_deadline().to_string(),
                ),
            ],
            outbox_kind: "saas.contractAdded",
            payload: json!({
                "appId": app.id.to_string(),
                "contractId": contract.id.to_string(),
                "endDate": contract.end.to_string(),
                "cancellationDeadline": contract.cancellation_deadline().to_string(),
                "autoRenew": contract.auto_renew,
            }),
        });
        self.store
            .insert_saas_contract(&contract, &events)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(id),
                other => other.into(),
            })?;
        Ok(contract)
    }

    /// An app's contracts, by start date.
    pub async fn saas_contracts(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
    ) -> Result<Vec<SaasContract>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        Ok(self.store.list_saas_contracts(tenant, id).await?)
    }

    /// The app's users with no use in `idle_days` days (default 60) at the directory's clock,
    /// longest idle first.
    pub async fn idle_saas_users(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
        idle_days: Option<u32>,
    ) -> Result<Vec<crate::saas::SaasAppUser>, DirectoryError> {
        let detail = self.get_saas_app(actor, tenant, id).await?;
        Ok(idle_users(
            &detail.users,
            self.clock.now(),
            idle_days.unwrap_or(DEFAULT_IDLE_DAYS),
        ))
    }
}
