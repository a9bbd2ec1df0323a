//! App registrations: create, secrets, admin consent, delete. The secret's value exists only
//! in the return value of the operation that made it.

use chrono::Duration;
use rand::rngs::OsRng;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::{Change, Directory};
use crate::app::{
    APPLICATION_PERMISSIONS, App, AppId, DELEGATED_PERMISSIONS, canonical_permissions,
    generate_secret,
};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;

/// Default lifetime of a client secret: Entra's recommended (and default) 180 days.
pub const DEFAULT_SECRET_DAYS: i64 = 180;

#[derive(Debug, Default)]
pub struct NewApp {
    pub display_name: String,
    pub redirect_uris: Vec<String>,
    pub public_client: bool,
    pub application_permissions: Vec<String>,
    pub delegated_permissions: Vec<String>,
    pub grant_admin_consent: bool,
}

#[derive(Debug)]
pub struct CreatedApp {
    pub app: App,
    /// The first client secret, for confidential clients; shown once.
    pub secret: Option<SecretString>,
}

impl Directory {
    pub async fn create_app(
        &self,
        actor: &Actor,
        tenant: TenantId,
        new: NewApp,
    ) -> Result<CreatedApp, DirectoryError> {
        authorize(actor, Action::ManageApps, &[])?;
        self.tenant(tenant).await?;
        let display_name = new.display_name.trim().to_owned();
        if display_name.is_empty() || display_name.chars().count() > 256 {
            return Err(DirectoryError::invalid(
                "displayName",
                "must be 1 to 256 characters",
            ));
        }
        for uri in &new.redirect_uris {
            validate_redirect_uri(uri)?;
        }
        let application_permissions =
            canonical_permissions(&new.application_permissions, APPLICATION_PERMISSIONS)
                .map_err(|m| DirectoryError::invalid("applicationPermissions", m))?;
        let delegated_permissions =
            canonical_permissions(&new.delegated_permissions, DELEGATED_PERMISSIONS)
                .map_err(|m| DirectoryError::invalid("delegatedPermissions", m))?;
        let now = self.clock.now();
        let first = (!new.public_client).then(|| {
            generate_secret(
                "initial",
                now,
                now + Duration::days(DEFAULT_SECRET_DAYS),
                &mut OsRng,
            )
        });
        let app = App {
            app_id: AppId(Uuid::new_v4()),
            object_id: Uuid::new_v4(),
            tenant_id: tenant,
            display_name,
            redirect_uris: new.redirect_uris,
            public_client: new.public_client,
            application_permissions,
            delegated_permissions,
            admin_consent: new.grant_admin_consent,
            secrets: first.iter().map(|s| s.stored.clone()).collect(),
            certificates: vec![],
            created: now,
        };
        let events = self.app_events(actor, &app, "Add application", "Add", "app.created");
        self.store.insert_app(&app, &events).await?;
        if new.grant_admin_consent {
            let events = self.app_events(
                actor,
                &app,
                "Consent to application",
                "Assign",
                "app.consented",
            );
            self.store.update_app(&app, &events).await?;
        }
        Ok(CreatedApp {
            app,
            secret: first.map(|s| s.value),
        })
    }

    pub async fn get_app(
        &self,
        actor: &Actor,
        tenant: TenantId,
        app_id: AppId,
    ) -> Result<App, DirectoryError> {
        authorize(actor, Action::ManageApps, &[])?;
        self.store
            .find_app(tenant, app_id)
            .await?
            .ok_or_else(|| DirectoryError::not_found(format!("Application '{app_id}'")))
    }

    pub async fn list_apps(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<App>, DirectoryError> {
        authorize(actor, Action::ManageApps, &[])?;
        Ok(self.store.list_apps(tenant).await?)
    }

    /// Adds a client secret valid for `days` days and returns its value, once.
    pub async fn add_app_secret(
        &self,
        actor: &Actor,
        tenant: TenantId,
        app_id: AppId,
        display_name: &str,
        days: i64,
    ) -> Result<(Uuid, SecretString), DirectoryError> {
        let mut app = self.get_app(actor, tenant, app_id).await?;
        if app.public_client {
            return Err(DirectoryError::invalid(
                "passwordCredentials",
                "a public client has no secrets",
            ));
        }
        if !(1..=730).contains(&days) {
            return Err(DirectoryError::invalid(
                "endDateTime",
                "a secret is valid for 1 to 730 days",
            ));
        }
        let now = self.clock.now();
        let secret = generate_secret(display_name, now, now + Duration::days(days), &mut OsRng);
        let key_id = secret.stored.key_id;
        app.secrets.push(secret.stored);
        let events = self.app_events(
            actor,
            &app,
            "Update application – Certificates and secrets management",
            "Update",
            "app.secretAdded",
        );
        self.store.update_app(&app, &events).await?;
        Ok((key_id, secret.value))
    }

    /// Adds a certificate credential (PEM or DER); its public key verifies the app's client
    /// assertions. Returns the credential's key id.
    pub async fn add_app_certificate(
        &self,
        actor: &Actor,
        tenant: TenantId,
        app_id: AppId,
        certificate: &[u8],
        display_name: &str,
    ) -> Result<crate::app::CertificateCredential, DirectoryError> {
        let mut app = self.get_app(actor, tenant, app_id).await?;
        if app.public_client {
            return Err(DirectoryError::invalid(
                "keyCredentials",
                "a public client has no credentials",
            ));
        }
        let cert = crate::app::parse_certificate(certificate, display_name)
            .map_err(|m| DirectoryError::invalid("keyCredentials", m))?;
        if self.clock.now() >= cert.end {
            return Err(DirectoryError::invalid(
                "keyCredentials",
                format!("the certificate expired on {}", cert.end.format("%Y-%m-%d")),
            ));
        }
        if app
            .certificate_by_thumbprint(Some(&cert.thumbprint_sha1), None)
            .is_some()
        {
            return Err(DirectoryError::Conflict(
                "this certificate is already a credential of the application".into(),
            ));
        }
        app.certificates.push(cert.clone());
        let events = self.app_events(
            actor,
            &app,
            "Update application – Certificates and secrets management",
            "Update",
            "app.certificateAdded",
        );
        self.store.update_app(&app, &events).await?;
        Ok(cert)
    }

    pub async fn remove_app_secret(
        &self,
        actor: &Actor,
        tenant: TenantId,
        app_id: AppId,
        key_id: Uuid,
    ) -> Result<(), DirectoryError> {
        let mut app = self.get_app(actor, tenant, app_id).await?;
        let before = app.secrets.len();
        app.secrets.retain(|s| s.key_id != key_id);
        if app.secrets.len() == before {
            return Err(DirectoryError::not_found(format!("Secret '{key_id}'")));
        }
        let events = self.app_events(
            actor,
            &app,
            "Update application – Certificates and secrets management",
            "Update",
            "app.secretRemoved",
        );
        self.store.update_app(&app, &events).await?;
        Ok(())
    }

    pub async fn grant_admin_consent(
        &self,
        actor: &Actor,
        tenant: TenantId,
        app_id: AppId,
    ) -> Result<App, DirectoryError> {
        let mut app = self.get_app(actor, tenant, app_id).await?;
        app.admin_consent = true;
        let mut events = self.app_events(
            actor,
            &app,
            "Consent to application",
            "Assign",
            "app.consented",
        );
        let mut granted = app.delegated_permissions.clone();
        for p in &app.application_permissions {
            if !granted.contains(p) {
                granted.push(p.clone());
            }
        }
        events.saas.extend(
            self.saas_discovery(
                actor,
                &app,
                None,
                &granted,
                crate::saas::EvidenceSource::AdminConsent,
            )
            .await?,
        );
        self.store.update_app(&app, &events).await?;
        self.saas_mail_queued(&events);
        Ok(app)
    }

    pub async fn delete_app(
        &self,
        actor: &Actor,
        tenant: TenantId,
        app_id: AppId,
    ) -> Result<(), DirectoryError> {
        let app = self.get_app(actor, tenant, app_id).await?;
        let events = self.app_events(actor, &app, "Delete application", "Delete", "app.deleted");
        self.store.delete_app(tenant, app_id, &events).await?;
        Ok(())
    }

    /// Finds an app for client authentication. Not an authorized read: the caller is the
    /// token endpoint proving the client's own identity.
    pub async fn find_client(
        &self,
        tenant: TenantId,
        app_id: AppId,
    ) -> Result<Option<App>, DirectoryError> {
        Ok(self.store.find_app(tenant, app_id).await?)
    }

    fn app_events(
        &self,
        actor: &Actor,
        app: &App,
        activity: &'static str,
        operation_type: &'static str,
        outbox_kind: &'static str,
    ) -> crate::audit::Events {
        self.events(Change {
            actor,
            tenant: app.tenant_id,
            category: "ApplicationManagement",
            activity,
            operation_type,
            target: None,
            other_target: Some((app.app_id.to_string(), app.display_name.clone())),
            details: vec![
                (
                    "applicationPermissions".into(),
                    app.application_permissions.join(" "),
                ),
                ("adminConsent".into(), app.admin_consent.to_string()),
            ],
            outbox_kind,
            payload: json!({ "appId": app.app_id.to_string() }),
        })
    }
}

/// Redirect URIs must be absolute https URLs, or http on loopback (as Entra allows for
/// native apps), without fragments.
fn validate_redirect_uri(uri: &str) -> Result<(), DirectoryError> {
    let bad = |why: &str| DirectoryError::invalid("redirectUris", format!("'{uri}' {why}"));
    let rest = if let Some(rest) = uri.strip_prefix("https://") {
        rest
    } else if let Some(rest) = uri.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if !matches!(host, "localhost" | "127.0.0.1" | "[") {
            return Err(bad("must use https (http is allowed only for localhost)"));
        }
        rest
    } else {
        return Err(bad("must be an absolute https URL"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("has no host"));
    }
    if uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if uri.len() > 256 {
        return Err(bad("is longer than 256 characters"));
    }
    Ok(())
}
