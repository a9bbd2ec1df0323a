//! `latchkey apps …`: app registrations, straight on the store, as the local operator.

use latchkey_core::app::{App, AppId};
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::NewApp;
use latchkey_graph::user::timestamp;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{CliError, CliResult, open_directory, resolve_tenant};
use crate::cli::{AppTarget, AppsCommand, TenantArgs};
use crate::output;

const OPERATOR: Actor = Actor::Operator {
    channel: Channel::Cli,
};

pub async fn run(cmd: AppsCommand) -> CliResult {
    match cmd {
        AppsCommand::Create(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let created = directory
                .create_app(
                    &OPERATOR,
                    tenant,
                    NewApp {
                        display_name: a.name,
                        redirect_uris: a.redirect_uris,
                        public_client: a.public_client,
                        application_permissions: a.application_permissions,
                        delegated_permissions: a.delegated_permissions,
                        grant_admin_consent: a.grant_admin_consent,
                    },
                )
                .await?;
            let mut v = json!({
                "appId": created.app.app_id.to_string(),
                "tenantId": tenant.to_string(),
                "displayName": created.app.display_name,
                "adminConsent": created.app.admin_consent,
            });
            if let Some(secret) = &created.secret {
                v["clientSecret"] = json!(secret.expose_secret());
            }
            if a.tenant.json {
                output::json(&v);
            } else {
                let mut pairs = vec![
                    ("App id", created.app.app_id.to_string()),
                    ("Tenant id", tenant.to_string()),
                ];
                if let Some(secret) = &created.secret {
                    pairs.push(("Client secret", secret.expose_secret().to_owned()));
                }
                output::fields(&pairs);
                if created.secret.is_some() {
                    println!("The client secret is shown only once.");
                }
            }
        }
        AppsCommand::List(t) => {
            let (directory, tenant) = open(&t).await?;
            let apps = directory.list_apps(&OPERATOR, tenant).await?;
            if t.json {
                output::json(&json!({ "value": apps.iter().map(app_json).collect::<Vec<_>>() }));
            } else {
                let rows: Vec<Vec<String>> = apps
                    .iter()
                    .map(|a| {
                        vec![
                            a.display_name.clone(),
                            a.app_id.to_string(),
                            a.application_permissions.join(" "),
                            if a.admin_consent {
                                "granted"
                            } else {
                                "not granted"
                            }
                            .into(),
                        ]
                    })
                    .collect();
                output::table(
                    &["NAME", "APP ID", "APPLICATION PERMISSIONS", "ADMIN CONSENT"],
                    &rows,
                );
            }
        }
        AppsCommand::Show(t) => {
            let (directory, tenant, app_id) = target(&t).await?;
            let app = directory.get_app(&OPERATOR, tenant, app_id).await?;
            print_app(&app, t.tenant.json);
        }
        AppsCommand::AddSecret(a) => {
            let (directory, tenant, app_id) = target(&a.target).await?;
            let (key_id, secret) = directory
                .add_app_secret(&OPERATOR, tenant, app_id, &a.name, a.days)
                .await?;
            if a.target.tenant.json {
                output::json(
                    &json!({ "keyId": key_id.to_string(), "clientSecret": secret.expose_secret() }),
                );
            } else {
                output::fields(&[
                    ("Key id", key_id.to_string()),
                    ("Client secret", secret.expose_secret().to_owned()),
                ]);
                println!("The client secret is shown only once.");
            }
        }
        AppsCommand::AddCertificate(a) => {
            let bytes = std::fs::read(&a.certificate_file).map_err(|e| {
                CliError(format!("cannot read {}: {e}", a.certificate_file.display()))
            })?;
            let (directory, tenant, app_id) = target(&a.target).await?;
            let cert = directory
                .add_app_certificate(&OPERATOR, tenant, app_id, &bytes, &a.name)
                .await?;
            let thumbprint = thumbprint(&cert.thumbprint_sha1);
            if a.target.tenant.json {
                output::json(&json!({
                    "keyId": cert.key_id.to_string(),
                    "thumbprint": thumbprint,
                    "endDateTime": cert.end.to_rfc3339(),
                }));
            } else {
                output::fields(&[
                    ("Key id", cert.key_id.to_string()),
                    ("Thumbprint (SHA-1)", thumbprint),
                    ("Expires", cert.end.to_rfc3339()),
                ]);
            }
        }
        AppsCommand::RemoveSecret(a) => {
            let (directory, tenant, app_id) = target(&a.target).await?;
            let key_id = a
                .key_id
                .parse()
                .map_err(|_| CliError(format!("'{}' is not a secret key id (a GUID)", a.key_id)))?;
            directory
                .remove_app_secret(&OPERATOR, tenant, app_id, key_id)
                .await?;
            println!("Removed secret {key_id}.");
        }
        AppsCommand::GrantAdminConsent(t) => {
            let (directory, tenant, app_id) = target(&t).await?;
            let app = directory
                .grant_admin_consent(&OPERATOR, tenant, app_id)
                .await?;
            print_app(&app, t.tenant.json);
        }
        AppsCommand::Delete(t) => {
            let (directory, tenant, app_id) = target(&t).await?;
            directory.delete_app(&OPERATOR, tenant, app_id).await?;
            println!("Deleted app {app_id}.");
        }
    }
    Ok(())
}

async fn open(
    args: &TenantArgs,
) -> CliResult<(latchkey_core::Directory, latchkey_core::ids::TenantId)> {
    let directory = open_directory(&args.store).await?;
    let tenant = resolve_tenant(&directory, args.tenant.as_deref()).await?;
    Ok((directory, tenant.id))
}

async fn target(
    t: &AppTarget,
) -> CliResult<(
    latchkey_core::Directory,
    latchkey_core::ids::TenantId,
    AppId,
)> {
    let app_id = t
        .app_id
        .parse()
        .map(AppId)
        .map_err(|_| CliError(format!("'{}' is not an app id (a GUID)", t.app_id)))?;
    let (directory, tenant) = open(&t.tenant).await?;
    Ok((directory, tenant, app_id))
}

/// A certificate thumbprint as Windows and the Azure portal print it: upper-case hex.
fn thumbprint(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn app_json(app: &App) -> Value {
    json!({
        "appId": app.app_id.to_string(),
        "id": app.object_id.to_string(),
        "displayName": app.display_name,
        "publicClient": app.public_client,
        "redirectUris": app.redirect_uris,
        "applicationPermissions": app.application_permissions,
        "delegatedPermissions": app.delegated_permissions,
        "adminConsent": app.admin_consent,
        "createdDateTime": timestamp(app.created),
        "passwordCredentials": app.secrets.iter().map(|s| json!({
            "keyId": s.key_id.to_string(),
            "displayName": s.display_name,
            "hint": s.hint,
            "startDateTime": timestamp(s.start),
            "endDateTime": timestamp(s.end),
            "secretText": Value::Null,
        })).collect::<Vec<_>>(),
        // Graph's name for certificate credentials; `customKeyIdentifier` is the thumbprint.
        "keyCredentials": app.certificates.iter().map(|c| json!({
            "keyId": c.key_id.to_string(),
            "displayName": c.display_name,
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "customKeyIdentifier": thumbprint(&c.thumbprint_sha1),
            "startDateTime": timestamp(c.start),
            "endDateTime": timestamp(c.end),
        })).collect::<Vec<_>>(),
    })
}

fn print_app(app: &App, as_json: bool) {
    let v = app_json(app);
    if as_json {
        output::json(&v);
    } else {
        output::fields(&[
            ("Name", app.display_name.clone()),
            ("App id", app.app_id.to_string()),
            (
                "Application permissions",
                app.application_permissions.join(" "),
            ),
            ("Delegated permissions", app.delegated_permissions.join(" ")),
            (
                "Admin consent",
                if app.admin_consent {
                    "granted"
                } else {
                    "not granted"
                }
                .into(),
            ),
            (
                "Secrets",
                app.secrets
                    .iter()
                    .map(|s| format!("{} ({}…, until {})", s.key_id, s.hint, timestamp(s.end)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "Certificates",
                app.certificates
                    .iter()
                    .map(|c| {
                        format!(
                            "{} (thumbprint {}, until {})",
                            c.key_id,
                            thumbprint(&c.thumbprint_sha1),
                            timestamp(c.end)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]);
    }
}
