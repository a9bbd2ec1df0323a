//! `latchkey workflows …`: offline administration of lifecycle workflows through the same
//! directory operations the engine uses, as the local operator. Runs started here are
//! performed by a running server's worker (it holds the master key the manager's notice is
//! sealed with).

use latchkey_automation::Engine;
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
    }
}

pub async fn run(cmd: WorkflowsCommand) -> CliResult {
    match cmd {
        WorkflowsCommand::Import(a) => {
            let raw = std::fs::read_to_string(&a.file)
                .map_err(|e| CliError(format!("cannot read {}: {e}", a.file.display())))?;
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
            let started = Engine::new(directory)
                .run_manually(tenant, &a.name, &users)
                .await?;
            if a.tenant.json {
                output::json(&json!({ "started": started }));
            } else {
                println!(
                    "Started {started} run(s); the server's worker performs them (see `latchkey workflows runs`)."
                );
            }
        }
        WorkflowsCommand::Runs(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let workflow = match &a.workflow {
                Some(name) => Some(directory.get_workflow(&OPERATOR, tenant, name).await?.id),
                None => None,
            };
            let runs = directory
                .list_workflow_runs(&OPERATOR, tenant, workflow, a.limit)
                .await?;
            if a.tenant.json {
                output::json(&json!({
                    "value": runs.iter().map(|r| json!({
                        "id": r.id.to_string(),
                        "workflow": r.workflow_name,
                        "workflowVersion": r.workflow_version,
                        "userId": r.user_id.to_string(),
                        "status": r.status.as_str(),
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
                            r.status.as_str().into(),
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
