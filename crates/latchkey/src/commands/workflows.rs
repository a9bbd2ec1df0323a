//! `latchkey workflows …`: offline administration of lifecycle workflows through the same
//! directory operations the engine uses, as the local operator. Runs started here are
//! performed by a running server's worker (it holds the master key the manager's notice is
//! sealed with).

use latchkey_automation::definition_file::{self, Format};
use latchkey_automation::{Engine, templates};
use latchkey_core::directory::UserRef;
use latchkey_core::workflow::Trigger;
use serde_json::json;

use super::users::{OPERATOR, open};
use super::{CliError, CliResult};
use crate::cli::WorkflowsCommand;
use crate::output;

fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::HireDate { offset_days } => format!("employeeHireDate {offset_days:+} days"),
        Trigger::LeaveDate { offset_days } => {
            format!("employeeLeaveDateTime {offset_days:+} days")
        }
        Trigger::Manual => "manual".into(),
        Trigger::Anniversary {
            attribute,
            offset_days,
        } => format!("yearly on {} {offset_days:+} days", attribute.name()),
        Trigger::Inactivity { days } => format!("no sign-in for {days} days"),
        Trigger::Schedule { schedule } => format!("schedule {schedule}"),
        Trigger::AttributeChanged { attributes } => format!(
            "{} changed",
            attributes
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Trigger::UserCreated => "user created".into(),
        Trigger::AccountDisabled => "account disabled".into(),
        Trigger::AppDiscovered => "SaaS app discovered".into(),
        Trigger::LicenseIdle { days: Some(days) } => format!("SaaS seat idle for {days} days"),
        Trigger::LicenseIdle { days: None } => "SaaS seat idle (the app's threshold)".into(),
        Trigger::ContractRenewalDue { offset_days } => {
            format!("SaaS contract {offset_days} days before its cancellation deadline")
        }
    }
}

/// The directory with the data directory's master key when it has one (a workflow aimed at a
/// connected tenant opens the connection's sealed secret).
fn with_key(
    directory: latchkey_core::Directory,
    data_dir: &std::path::Path,
) -> CliResult<latchkey_core::Directory> {
    if !data_dir.join("master.key").exists() {
        return Ok(directory);
    }
    Ok(directory.with_master_key(super::serve::master_key_at(data_dir, None)?))
}

/// Enables or disables the named workflow (a new version), as the admin center's buttons
/// do: enabling a trigger that would start runs for more than the tenant's share of users at
/// once needs `confirm_share`.
async fn set_enabled(
    directory: latchkey_core::Directory,
    tenant: latchkey_core::ids::TenantId,
    name: &str,
    enable: bool,
    confirm_share: bool,
    json_out: bool,
) -> CliResult {
    let current = directory.get_workflow(&OPERATOR, tenant, name).await?;
    let due = if enable {
        let engine = Engine::new(directory.clone());
        engine.dry_run(tenant, name).await?.len() as u64
    } else {
        0
    };
    let saved = directory
        .set_workflow_enabled(
            &OPERATOR,
            tenant,
            current.id,
            current.version,
            enable,
            due,
            confirm_share,
        )
        .await?
        .map_err(|e| {
            CliError(format!(
                "enabling '{}' would start runs for {} of the tenant's {} users at once (more \
                 than {} %): check its scope with `latchkey workflows dry-run`, then pass \
                 --confirm-share",
                current.workflow.definition.name, e.starting, e.total, e.limit_percent
            ))
        })?;
    let state = if saved.workflow.definition.enabled {
        "enabled"
    } else {
        "disabled"
    };
    if json_out {
        output::json(&json!({
            "name": saved.workflow.definition.name,
            "enabled": saved.workflow.definition.enabled,
            "version": saved.version,
        }));
    } else {
        println!(
            "{} is {state} (version {}).",
            saved.workflow.definition.name, saved.version
        );
    }
    Ok(())
}

/// A definition file's text, or standard input's for `-`, refused past the size limit.
fn read_definition(file: &std::path::Path) -> CliResult<String> {
    use std::io::Read as _;
    let limit = definition_file::MAX_FILE_BYTES as u64 + 1;
    let mut raw = String::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_string(&mut raw)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_string(&mut raw))
    };
    read.map_err(|e| CliError(format!("cannot read {}: {e}", file.display())))?;
    Ok(raw)
}

fn parse_run(raw: &str) -> CliResult<latchkey_core::workflow_store::RunId> {
    raw.trim().parse().map_err(|_| {
        CliError(format!(
            "'{raw}' is not a run id (see `latchkey workflows runs`)"
        ))
    })
}

pub async fn run(cmd: WorkflowsCommand) -> CliResult {
    match cmd {
        WorkflowsCommand::Import(a) => {
            let mut raw = match (&a.file, &a.template) {
                (_, Some(name)) => templates::find(name)
                    .ok_or_else(|| {
                        CliError(format!(
                            "--template '{name}': no such template (see `latchkey workflows templates`)"
                        ))
                    })?
                    .definition
                    .to_owned(),
                (Some(file), None) => {
                    let raw = read_definition(file)?;
                    let format = match a.format.as_deref().and_then(Format::parse) {
                        Some(format) => format,
                        None => Format::of(Some(file), &raw),
                    };
                    definition_file::to_json(&raw, format)?
                }
                (None, None) => return Err(CliError("give a FILE or --template NAME".into())),
            };
            if a.confirm_share {
                // A definition that is not a JSON object is left for the parser to refuse.
                if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(&raw) {
                    object.insert("confirmShare".into(), serde_json::Value::Bool(true));
                    raw = serde_json::Value::Object(object).to_string();
                }
            }
            let (directory, tenant) = open(&a.tenant).await?;
            let saved = directory.save_workflow(&OPERATOR, tenant, &raw).await?;
            let name = saved.workflow.definition.name.clone();
            if a.tenant.json {
                output::json(
                    &json!({ "id": saved.id.to_string(), "name": name, "version": saved.version }),
                );
            } else {
                output::fields(&[
                    ("Saved", name),
                    ("Id", saved.id.to_string()),
                    ("Version", saved.version.to_string()),
                ]);
            }
        }
        WorkflowsCommand::List(a) => {
            let (directory, tenant) = open(&a).await?;
            let workflows = directory.list_workflows(&OPERATOR, tenant).await?;
            if a.json {
                output::json(&json!({
                    "value": workflows.iter().map(|w| json!({
                        "id": w.id.to_string(),
                        "name": w.workflow.definition.name,
                        "enabled": w.workflow.definition.enabled,
                        "version": w.version,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = workflows
                    .iter()
                    .map(|w| {
                        let d = &w.workflow.definition;
                        vec![
                            d.name.clone(),
                            if d.enabled { "enabled" } else { "disabled" }.into(),
                            trigger_text(&d.trigger),
                            d.steps.len().to_string(),
                            w.version.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "STATE", "TRIGGER", "STEPS", "VERSION"], &rows);
            }
        }
        WorkflowsCommand::Export(a) => {
            let format = Format::parse(&a.format)
                .ok_or_else(|| CliError(format!("--format '{}': use json or yaml", a.format)))?;
            let (directory, tenant) = open(&a.tenant).await?;
            let w = directory.get_workflow(&OPERATOR, tenant, &a.name).await?;
            let text = definition_file::export(&w.workflow.definition, format)?;
            match &a.output {
                None => print!("{text}"),
                Some(path) => {
                    use std::io::Write as _;
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .map_err(|e| CliError(format!("cannot create {}: {e}", path.display())))?;
                    file.write_all(text.as_bytes())
                        .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
                    if a.tenant.json {
                        output::json(&json!({ "written": path.display().to_string() }));
                    } else {
                        println!(
                            "Wrote {} to {}.",
                            w.workflow.definition.name,
                            path.display()
                        );
                    }
                }
            }
        }
        WorkflowsCommand::Enable(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let directory = with_key(directory, &a.tenant.store.data_dir)?;
            set_enabled(
                directory,
                tenant,
                &a.name,
                true,
                a.confirm_share,
                a.tenant.json,
            )
            .await?;
        }
        WorkflowsCommand::Disable(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            set_enabled(directory, tenant, &a.name, false, false, a.tenant.json).await?;
        }
        WorkflowsCommand::Show(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let w = directory.get_workflow(&OPERATOR, tenant, &a.name).await?;
            let definition = serde_json::to_value(&w.workflow.definition)
                .map_err(|e| CliError(e.to_string()))?;
            output::json(&json!({
                "id": w.id.to_string(),
                "version": w.version,
                "definition": definition,
            }));
        }
        WorkflowsCommand::DryRun(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let directory = with_key(directory, &a.tenant.store.data_dir)?;
            let preview = Engine::new(directory).dry_run(tenant, &a.name).await?;
            if a.tenant.json {
                output::json(&json!({
                    "value": preview.iter().map(|u| json!({
                        "userPrincipalName": u.user_principal_name,
                        "due": u.due.map(|d| d.to_rfc3339()),
                        "steps": u.steps,
                    })).collect::<Vec<_>>(),
                }));
            } else if preview.is_empty() {
                println!("The workflow would touch nobody now.");
            } else {
                for user in &preview {
                    println!("{}", user.user_principal_name);
                    for (i, step) in user.steps.iter().enumerate() {
                        println!("  {}. {step}", i + 1);
                    }
                }
                println!("{} user(s); nothing was changed.", preview.len());
            }
        }
        WorkflowsCommand::Run(a) => {
            let users = a
                .users
                .iter()
                .map(|u| UserRef::parse(u).map_err(|e| CliError(format!("--user '{u}': {e}"))))
                .collect::<CliResult<Vec<_>>>()?;
            let (directory, tenant) = open(&a.tenant).await?;
            let directory = with_key(directory, &a.tenant.store.data_dir)?;
            let started = Engine::new(directory)
                .run_manually(tenant, &a.name, &users, a.confirm_share)
                .await?;
            if a.tenant.json {
                output::json(&json!({ "started": started }));
            } else {
                println!(
                    "Started {started} run(s); the server's worker performs them (see `latchkey workflows runs`)."
                );
            }
        }
        WorkflowsCommand::Templates(a) => {
            if a.json {
                output::json(&json!({
                    "value": templates::TEMPLATES.iter().map(|t| json!({
                        "name": t.name,
                        "description": t.description,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = templates::TEMPLATES
                    .iter()
                    .map(|t| vec![t.name.to_owned(), t.description.to_owned()])
                    .collect();
                output::table(&["TEMPLATE", "WHAT IT DOES"], &rows);
            }
        }
        WorkflowsCommand::Settings(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let settings = if a.time_zone.is_some() || a.max_run_share.is_some() {
                directory
                    .set_workflow_settings(
                        &OPERATOR,
                        tenant,
                        a.time_zone.as_deref(),
                        a.max_run_share,
                    )
                    .await?
            } else {
                directory.workflow_settings(&OPERATOR, tenant).await?
            };
            if a.tenant.json {
                output::json(&json!({
                    "timeZone": settings.time_zone.name(),
                    "maxRunSharePercent": settings.max_run_share_percent,
                }));
            } else {
                output::fields(&[
                    ("Time zone", settings.time_zone.name().to_owned()),
                    (
                        "Max run share",
                        format!("{} %", settings.max_run_share_percent),
                    ),
                ]);
            }
        }
        WorkflowsCommand::WebhookSecret(a) => {
            let path = a.tenant.store.data_dir.join("master.key");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError(format!(
                    "cannot read the master key {} ({e}): start `latchkey serve` once first",
                    path.display()
                ))
            })?;
            let bytes = {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| CliError(format!("{} is not base64", path.display())))?
            };
            let key = latchkey_core::crypto::MasterKey::from_bytes(&bytes)
                .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
            let (directory, tenant) = open(&a.tenant).await?;
            let directory = directory.with_master_key(key);
            let secret = directory
                .new_workflow_webhook_secret(&OPERATOR, tenant, &a.name)
                .await?;
            use secrecy::ExposeSecret as _;
            if a.tenant.json {
                output::json(&json!({ "secret": secret.expose_secret() }));
            } else {
                println!("{}", secret.expose_secret());
                println!(
                    "This secret is shown only once. Receivers check X-Latchkey-Signature: \
                     sha256=<hex HMAC-SHA-256 of the body>."
                );
            }
        }
        WorkflowsCommand::Cancel(a) => {
            let run = parse_run(&a.run)?;
            let (directory, tenant) = open(&a.tenant).await?;
            let record = directory
                .cancel_workflow_run(&OPERATOR, tenant, run)
                .await?;
            if a.tenant.json {
                output::json(&json!({ "id": record.id.to_string(), "cancelled": true }));
            } else {
                println!("Cancelled run {}.", record.id);
            }
        }
        WorkflowsCommand::Rerun(a) => {
            let run = parse_run(&a.run)?;
            let (directory, tenant) = open(&a.tenant).await?;
            let new = directory.rerun_workflow_run(&OPERATOR, tenant, run).await?;
            if a.tenant.json {
                output::json(&json!({ "id": new.to_string() }));
            } else {
                println!("Started run {new}; the server's worker performs it.");
            }
        }
        WorkflowsCommand::ConnectTenant(a) => {
            let secret = std::fs::read_to_string(&a.client_secret_file).map_err(|e| {
                CliError(format!(
                    "cannot read --client-secret-file {}: {e}",
                    a.client_secret_file.display()
                ))
            })?;
            let ca_pem = match &a.ca_file {
                Some(f) => Some(std::fs::read_to_string(f).map_err(|e| {
                    CliError(format!("cannot read --ca-file {}: {e}", f.display()))
                })?),
                None => None,
            };
            let key = super::serve::master_key_at(&a.tenant.store.data_dir, None)?;
            let (directory, tenant) = open(&a.tenant).await?;
            let directory = directory.with_master_key(key);
            let input = latchkey_core::directory::TenantConnectionInput {
                name: a.name.clone(),
                remote_tenant: a.tenant_id.clone(),
                client_id: a.client_id.clone(),
                client_secret: secrecy::SecretString::from(secret),
                authority_url: a.authority.clone(),
                graph_url: a.graph_url.clone(),
                ca_pem,
            };
            if !a.no_verify {
                // The credentials are tried before anything is saved.
                let checked = input.check(chrono::Utc::now())?;
                latchkey_automation::remote::verify_connection(&checked).await?;
            }
            let saved = directory
                .save_tenant_connection(&OPERATOR, tenant, input)
                .await?;
            if a.tenant.json {
                output::json(&json!({
                    "name": saved.name,
                    "tenantId": saved.remote_tenant,
                    "clientId": saved.client_id,
                    "authority": saved.authority_url,
                    "graphUrl": saved.graph_url,
                }));
            } else {
                output::fields(&[
                    ("Connected", saved.name),
                    ("Remote tenant", saved.remote_tenant),
                    ("Client id", saved.client_id),
                    ("Graph", saved.graph_url),
                ]);
            }
        }
        WorkflowsCommand::ConnectScim(a) => super::workflows_scim::connect(&a).await?,
        WorkflowsCommand::ScimConnections(a) => super::workflows_scim::list(&a).await?,
        WorkflowsCommand::DisconnectScim(a) => super::workflows_scim::disconnect(&a).await?,
        WorkflowsCommand::Work(a) => {
            let key = super::serve::master_key_at(&a.store.data_dir, None)?;
            let (directory, tenant) = open(&a).await?;
            let mut engine = Engine::new(directory.with_master_key(key));
            // Approval e-mails and resetPassword links point at the server's pages.
            if let Ok(url) = std::env::var("LATCHKEY_PUBLIC_URL") {
                engine = engine.with_public_url(&url);
            }
            let started = engine.tick(tenant).await?;
            let steps = engine.run_until_idle().await?;
            if a.json {
                output::json(&json!({ "started": started, "steps": steps }));
            } else {
                println!("Started {started} run(s); performed {steps} step(s).");
            }
        }
        WorkflowsCommand::Runs(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let workflow = match &a.workflow {
                Some(name) => Some(directory.get_workflow(&OPERATOR, tenant, name).await?.id),
                None => None,
            };
            let runs = if a.status.is_some() || a.user.is_some() {
                let status = match a.status.as_deref() {
                    Some(raw) => Some(
                        latchkey_core::workflow_store::RunStatus::parse(raw).ok_or_else(|| {
                            CliError(format!(
                                "--status '{raw}': use running, succeeded or failed"
                            ))
                        })?,
                    ),
                    None => None,
                };
                let user = match a.user.as_deref() {
                    Some(raw) => {
                        let r = UserRef::parse(raw)
                            .map_err(|e| CliError(format!("--user '{raw}': {e}")))?;
                        Some(directory.get_user(&OPERATOR, tenant, &r).await?.id)
                    }
                    None => None,
                };
                let filter = latchkey_core::directory::RunFilter {
                    workflow,
                    status,
                    user,
                };
                directory
                    .find_workflow_runs(&OPERATOR, tenant, filter, None, a.limit)
                    .await?
                    .items
            } else {
                directory
                    .list_workflow_runs(&OPERATOR, tenant, workflow, a.limit)
                    .await?
            };
            if a.tenant.json {
                output::json(&json!({
                    "value": runs.iter().map(|r| json!({
                        "id": r.id.to_string(),
                        "workflow": r.workflow_name,
                        "workflowVersion": r.workflow_version,
                        "userId": r.user_id.to_string(),
                        "status": r.status.as_str(),
                        "cancelled": r.cancelled_at.is_some(),
                        "createdDateTime": r.created_at.to_rfc3339(),
                        "steps": r.steps.iter().map(|s| json!({
                            "action": s.step.action.name(),
                            "status": s.status.as_str(),
                            "attempts": s.attempts,
                            "output": s.output,
                            "error": s.error,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let mut rows = Vec::new();
                for r in &runs {
                    for s in &r.steps {
                        rows.push(vec![
                            r.id.to_string(),
                            r.workflow_name.clone(),
                            r.user_id.to_string(),
                            if r.cancelled_at.is_some() {
                                "cancelled".into()
                            } else {
                                r.status.as_str().into()
                            },
                            format!("{}. {}", s.position + 1, s.step.action.name()),
                            s.status.as_str().into(),
                            s.attempts.to_string(),
                            s.error
                                .clone()
                                .or_else(|| s.output.clone())
                                .unwrap_or_default(),
                        ]);
                    }
                }
                output::table(
                    &[
                        "RUN",
                        "WORKFLOW",
                        "USER",
                        "RUN STATE",
                        "STEP",
                        "STATE",
                        "ATTEMPTS",
                        "RESULT",
                    ],
                    &rows,
                );
            }
        }
    }
    Ok(())
}
