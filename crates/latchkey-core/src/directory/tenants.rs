//! Tenants: bootstrap (the first tenant and its Global Administrator) and look-ups.

use chrono::Duration;
use secrecy::SecretString;

use super::{Change, Directory, PasswordChoice};
use crate::audit::{AuditEvent, Initiator};
use crate::authz::{Actor, Channel};
use crate::error::DirectoryError;
use crate::ids::{EventId, TenantId};
use crate::names::{DisplayName, DomainName, Upn};
use crate::password::PasswordPolicy;
use crate::role::DirectoryRole;
use crate::tenant::Tenant;
use crate::user::{User, UserProfile};

use super::users::NewUser;

/// The result of creating a tenant with its first administrator.
#[derive(Debug)]
pub struct Bootstrapped {
    pub tenant: Tenant,
    pub admin: User,
    /// Present only when the password was generated; shown once, then forgotten.
    pub generated_password: Option<SecretString>,
}

impl Directory {
    /// Creates a tenant for `domain` and a Global Administrator `admin@domain`. With no
    /// password given one is generated, and the admin must change it at first sign-in.
    pub async fn bootstrap_tenant(
        &self,
        domain: &DomainName,
        display_name: &str,
        admin_password: Option<SecretString>,
    ) -> Result<Bootstrapped, DirectoryError> {
        if self.store.find_tenant_by_domain(domain).await?.is_some() {
            return Err(DirectoryError::Conflict(format!(
                "a tenant with the domain '{domain}' already exists"
            )));
        }
        let display_name = DisplayName::parse(display_name)?;
        let now = self.clock.now();
        let tenant = Tenant {
            id: TenantId::new(),
            display_name: display_name.to_string(),
            domains: vec![domain.clone()],
            password_policy: PasswordPolicy::default(),
            created: now,
            require_mfa_for_admins: false,
        };
        let actor = Actor::Operator {
            channel: Channel::Bootstrap,
        };
        let audit = AuditEvent {
            id: EventId::new(),
            tenant_id: tenant.id,
            activity_date_time: now,
            category: "DirectoryManagement".into(),
            activity: "Create company".into(),
            operation_type: "Add".into(),
            result: "success".into(),
            initiated_by: Initiator::of(&actor),
            target_id: Some(tenant.id.to_string()),
            target_display: Some(tenant.display_name.clone()),
            channel: Channel::Bootstrap,
            details: vec![("domain".into(), domain.to_string())],
        };
        self.store.create_tenant(&tenant, &audit).await?;

        let generated = admin_password.is_none();
        let created = self
            .create_user(
                &actor,
                tenant.id,
                NewUser {
                    user_principal_name: Upn::parse(&format!("admin@{domain}"))?,
                    display_name: DisplayName::parse("Administrator")?,
                    mail_nickname: None,
                    account_enabled: true,
                    profile: UserProfile::default(),
                    password_policies: Default::default(),
                    password: admin_password
                        .map_or(PasswordChoice::Generate, PasswordChoice::Provided),
                    force_change_next_sign_in: generated,
                    roles: vec![DirectoryRole::GlobalAdministrator],
                },
            )
            .await?;
        Ok(Bootstrapped {
            tenant,
            admin: created.user,
            generated_password: created.generated_password,
        })
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, DirectoryError> {
        Ok(self.store.list_tenants().await?)
    }

    /// The tenant named by its GUID or one of its verified domains.
    pub async fn find_tenant(&self, id_or_domain: &str) -> Result<Option<Tenant>, DirectoryError> {
        if let Ok(id) = id_or_domain.parse::<TenantId>() {
            return Ok(self.store.find_tenant(id).await?);
        }
        match DomainName::parse(id_or_domain) {
            Ok(domain) => Ok(self.store.find_tenant_by_domain(&domain).await?),
            Err(_) => Ok(None),
        }
    }

    /// The tenant a tenant-independent authority (`common`, `organizations`) stands for in a
    /// request from `client_id`: the one the client is registered in. Entra needs a
    /// multi-tenant app for these; a Latchkey registration belongs to exactly one tenant, so
    /// its client id says which, and Microsoft's clients left on their default authority
    /// (`organizations` for azure-identity's user credentials) work unchanged.
    pub async fn find_tenant_of_client(
        &self,
        client_id: &str,
    ) -> Result<Option<Tenant>, DirectoryError> {
        let Ok(app_id) = client_id.parse::<uuid::Uuid>() else {
            return Ok(None);
        };
        match self
            .store
            .find_app_tenant(crate::app::AppId(app_id))
            .await?
        {
            Some(tenant) => Ok(self.store.find_tenant(tenant).await?),
            None => Ok(None),
        }
    }

    /// Replaces the tenant's password policy, after checking its custom banned terms.
    pub async fn update_password_policy(
        &self,
        actor: &Actor,
        tenant: TenantId,
        policy: PasswordPolicy,
    ) -> Result<(), DirectoryError> {
        crate::authz::authorize(actor, crate::authz::Action::ManageTenant, &[])?;
        policy
            .validate()
            .map_err(|m| DirectoryError::invalid("passwordPolicy", m))?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Update password policy",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![
                ("minLength".into(), policy.min_length.to_string()),
                (
                    "customBannedTerms".into(),
                    policy.custom_banned_terms.len().to_string(),
                ),
                (
                    "lockoutThreshold".into(),
                    policy.lockout.threshold.to_string(),
                ),
                (
                    "lockoutDurationInSeconds".into(),
                    policy.lockout.duration_seconds.to_string(),
                ),
            ],
            outbox_kind: "tenant.policyChanged",
            payload: serde_json::json!({}),
        });
        self.store
            .update_password_policy(tenant, &policy, &events.audit)
            .await?;
        Ok(())
    }

    /// Turns the tenant's "require a second factor for administrators" on or off (audited).
    pub async fn set_require_mfa_for_admins(
        &self,
        actor: &Actor,
        tenant: TenantId,
        require: bool,
    ) -> Result<(), DirectoryError> {
        crate::authz::authorize(actor, crate::authz::Action::ManageTenant, &[])?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "Policy",
            activity: "Update authentication methods policy",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![("requireMfaForAdministrators".into(), require.to_string())],
            outbox_kind: "tenant.policyChanged",
            payload: serde_json::json!({ "requireMfaForAdministrators": require }),
        });
        self.store
            .update_mfa_requirement(tenant, require, &events.audit)
            .await?;
        Ok(())
    }

    /// Permanently removes users whose 30-day restore window has passed.
    pub async fn purge_expired_deleted_users(
        &self,
        tenant: TenantId,
    ) -> Result<u64, DirectoryError> {
        let cutoff = self.clock.now() - Duration::days(crate::user::DELETED_RETENTION_DAYS);
        Ok(self.store.purge_deleted_users(tenant, cutoff).await?)
    }
}
