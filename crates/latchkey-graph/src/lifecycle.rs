//! Lifecycle workflows as Graph v1.0's `identityGovernance/lifecycleWorkflows` resources:
//! `workflows` (list paged by `@odata.nextLink`, create, get, `PATCH`, delete), the
//! on-demand run (`activate`), and a workflow's `runs` with their `userProcessingResults`
//! and `taskProcessingResults`. Only translation lives here: Latchkey's definition to
//! `microsoft.graph.identityGovernance.workflow` and back; every rule (who may, what is
//! valid) is core's.
//!
//! Latchkey runs one user per run, so a Graph `run` here has one user processing result (its
//! id is the run's) and one task processing result per step. Latchkey steps and triggers
//! Graph has no built-in for are shown in the closest shape: steps as tasks with Latchkey's
//! own task definition ids ([`LATCHKEY_TASKS`]), triggers with the native trigger in the
//! `@latchkey.trigger` instance annotation (accepted back on create, so a workflow survives
//! a round trip). A per-step condition is not shown.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::DirectoryError;
use latchkey_core::directory::{Workflow, WorkflowChanges};
use latchkey_core::ids::UserId;
use latchkey_core::workflow::ScimDeprovisionMode;
use latchkey_core::workflow::{
    Action, OnFailure, Step, Trigger, WatchedAttribute, WebhookFormat, WorkflowCategory,
    WorkflowDefinition,
};
use latchkey_core::workflow_store::{
    RunId, RunRecord, RunStatus, StepRecord, StepStatus, WorkflowId,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::body;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response};
use crate::list::decode_skiptoken;
use crate::odata::parse_top;
use crate::user::timestamp;

const SET: &str = "identityGovernance/lifecycleWorkflows/workflows";
const DEFAULT_TOP: u32 = 100;
const NS: &str = "#microsoft.graph.identityGovernance.";
/// Graph's bound on `offsetInDays`.
const MAX_GRAPH_OFFSET_DAYS: i64 = 180;

// Entra's built-in task definitions Latchkey performs (ids from Microsoft's "Configure the
// arguments for built-in Lifecycle Workflow tasks" and the taskDefinition list).
const DISABLE_ACCOUNT: &str = "1dfdfcc7-52fa-4c2e-bf3a-e3919cc12950";
const REVOKE_REFRESH_TOKENS: &str = "509589a4-0466-4471-829e-49c5e502bdee";
const REMOVE_ALL_LICENSES: &str = "8fa97d28-3e52-4985-b3a9-a1126f9b8b4e";
const DELETE_USER: &str = "8d18588d-9ad3-4c0f-99d0-ec215f0e3dff";
const MAIL_BEFORE_LAST_DAY: &str = "52853a3e-f4e5-4eb8-bb24-1ac09a1da935";
const MAIL_ON_LAST_DAY: &str = "9c0a1eaf-5bda-4392-9d9e-6e155bb57411";
const MAIL_AFTER_LAST_DAY: &str = "6f22ddd4-b3a5-47a4-a846-0d7c201a49ce";
const MAIL_USER_MOVE: &str = "aab41899-9972-422a-9d97-f626014578b7";
const MAIL_ONBOARDING_REMINDER: &str = "3c860712-2d37-42a4-928f-5c93935d26a1";

// Latchkey's own task definitions, for steps Entra has no built-in for.
pub const RESET_PASSWORD_UNKNOWN: &str = "1a7c4b00-0000-4000-8000-000000000001";
pub const REQUIRE_PASSWORD_CHANGE: &str = "1a7c4b00-0000-4000-8000-000000000002";
pub const SEND_WEBHOOK: &str = "1a7c4b00-0000-4000-8000-000000000003";
pub const WAIT: &str = "1a7c4b00-0000-4000-8000-000000000004";
pub const ENABLE_ACCOUNT: &str = "1a7c4b00-0000-4000-8000-000000000005";
pub const SET_ATTRIBUTES: &str = "1a7c4b00-0000-4000-8000-000000000006";
pub const ADD_ROLE: &str = "1a7c4b00-0000-4000-8000-000000000007";
pub const REMOVE_ROLE: &str = "1a7c4b00-0000-4000-8000-000000000008";
pub const ASSIGN_LICENSE: &str = "1a7c4b00-0000-4000-8000-000000000009";
pub const REMOVE_LICENSE: &str = "1a7c4b00-0000-4000-8000-00000000000a";
pub const SEND_EMAIL: &str = "1a7c4b00-0000-4000-8000-00000000000b";
pub const RESET_PASSWORD_DELIVERED: &str = "1a7c4b00-0000-4000-8000-000000000071";
pub const CALL_HTTP: &str = "1a7c4b00-0000-4000-8000-000000000072";
/// Shown for `requestApproval` steps (not yet accepted back through Graph).
pub const REQUEST_APPROVAL: &str = "1a7c4b00-0000-4000-8000-000000000101";
pub const SCIM_PROVISION: &str = "1a7c4b00-0000-4000-8000-0000000005c1";
pub const SCIM_DEPROVISION: &str = "1a7c4b00-0000-4000-8000-0000000005c2";
/// Latchkey's own task definition ids (id, what it does).
pub const LATCHKEY_TASKS: [(&str, &str); 15] = [
    (
        RESET_PASSWORD_UNKNOWN,
        "Reset the password to an unknown value",
    ),
    (
        REQUIRE_PASSWORD_CHANGE,
        "Require a password change at next sign-in",
    ),
    (SEND_WEBHOOK, "Send a signed webhook"),
    (WAIT, "Wait"),
    (ENABLE_ACCOUNT, "Enable the user account"),
    (SET_ATTRIBUTES, "Set user properties"),
    (ADD_ROLE, "Assign a directory role"),
    (REMOVE_ROLE, "Remove a directory role"),
    (ASSIGN_LICENSE, "Assign a licence"),
    (REMOVE_LICENSE, "Remove a licence"),
    (SEND_EMAIL, "Send a templated e-mail"),
    (
        RESET_PASSWORD_DELIVERED,
        "Reset the password and deliver it by a view-once link",
    ),
    (CALL_HTTP, "Call an HTTP API"),
    (SCIM_PROVISION, "Provision the user in a SCIM app"),
    (SCIM_DEPROVISION, "Deprovision the user in a SCIM app"),
];

/// A refusal naming a property of the workflow.
fn invalid(property: &str, message: impl std::fmt::Display) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{property}' of resource 'workflow': {message}"
    ))
}

/// Core's field names in Graph's words; `tasks` maps core's step positions back to the
/// indexes the client sent.
fn graph_property(core: &str, tasks: &[usize]) -> String {
    if let Some(rest) = core.strip_prefix("steps[") {
        let (n, tail) = rest.split_once(']').unwrap_or((rest, ""));
        let index = n
            .parse::<usize>()
            .ok()
            .map(|i| tasks.get(i).copied().unwrap_or(i));
        return match index {
            Some(i) if tail.is_empty() => format!("tasks[{i}]"),
            Some(i) => format!("tasks[{i}].arguments{tail}"),
            None => "tasks".into(),
        };
    }
    match core {
        "name" => "displayName".into(),
        "enabled" => "isEnabled".into(),
        "schedulingEnabled" => "isSchedulingEnabled".into(),
        "scope" => "executionConditions.scope.rule".into(),
        "steps" => "tasks".into(),
        "trigger" => "executionConditions.trigger".into(),
        other if other.starts_with("trigger.") => "executionConditions.trigger".into(),
        other => other.into(),
    }
}

/// Core's refusals in this resource's words.
fn workflow_error(e: DirectoryError, tasks: &[usize]) -> GraphError {
    match e {
        DirectoryError::Invalid { property, message } => {
            invalid(&graph_property(&property, tasks), message)
        }
        DirectoryError::Stale => GraphError::new(
            StatusCode::CONFLICT,
            "Request_ConcurrencyViolation",
            "The workflow was changed by another request meanwhile; nothing was written. Read it again and retry.",
        ),
        other => other.into(),
    }
}

fn core_error(e: DirectoryError) -> GraphError {
    workflow_error(e, &[])
}

fn workflow_id(raw: &str) -> Result<WorkflowId, GraphError> {
    raw.parse().map_err(|_| GraphError::not_found(raw))
}

fn run_id(raw: &str) -> Result<RunId, GraphError> {
    raw.parse().map_err(|_| GraphError::not_found(raw))
}

/// A GUID for the `index`th child of `parent` (a task of a workflow, a task result of a
/// run): stable, and distinct from its siblings.
fn child_id(parent: Uuid, index: usize) -> String {
    Uuid::from_u128(parent.as_u128() ^ (index as u128 + 1)).to_string()
}

// ---------------------------------------------------------------------------------------
// Latchkey → Graph
// ---------------------------------------------------------------------------------------

/// The task definition a step is shown as, its display name and its arguments.
fn task_definition(
    action: &Action,
    trigger: &Trigger,
    category: WorkflowCategory,
) -> (&'static str, &'static str, Vec<(String, String)>) {
    match action {
        Action::DisableAccount => (DISABLE_ACCOUNT, "Disable user account", vec![]),
        Action::RevokeSessions => (
            REVOKE_REFRESH_TOKENS,
            "Revoke all refresh tokens for user",
            vec![],
        ),
        Action::RemoveAllLicenses => (
            REMOVE_ALL_LICENSES,
            "Remove all license assignments from user",
            vec![],
        ),
        Action::DeleteUser => (DELETE_USER, "Delete user", vec![]),
        Action::NotifyManager => {
            let (id, name) = match (category, trigger) {
                (WorkflowCategory::Joiner, _) => {
                    (MAIL_ONBOARDING_REMINDER, "Send onboarding reminder email")
                }
                (WorkflowCategory::Mover, _) => {
                    (MAIL_USER_MOVE, "Send email to notify manager of user move")
                }
                (WorkflowCategory::Leaver, Trigger::LeaveDate { offset_days })
                    if *offset_days < 0 =>
                {
                    (
                        MAIL_BEFORE_LAST_DAY,
                        "Send email to manager before user last day",
                    )
                }
                (WorkflowCategory::Leaver, Trigger::LeaveDate { offset_days })
                    if *offset_days > 0 =>
                {
                    (
                        MAIL_AFTER_LAST_DAY,
                        "Send offboarding email to user's manager after their last day",
                    )
                }
                (WorkflowCategory::Leaver, _) => {
                    (MAIL_ON_LAST_DAY, "Send email on user's last day")
                }
            };
            (id, name, vec![("to".into(), "Managers".into())])
        }
        Action::ResetPasswordUnknown => (
            RESET_PASSWORD_UNKNOWN,
            "Reset the password to an unknown value",
            vec![],
        ),
        Action::RequirePasswordChange => (
            REQUIRE_PASSWORD_CHANGE,
            "Require a password change at next sign-in",
            vec![],
        ),
        Action::SendWebhook { url, format } => (
            SEND_WEBHOOK,
            "Send a signed webhook",
            vec![
                ("url".into(), url.clone()),
                (
                    "format".into(),
                    match format {
                        WebhookFormat::Json => "json",
                        WebhookFormat::Slack => "slack",
                    }
                    .into(),
                ),
            ],
        ),
        Action::Wait { days, hours, until } => (
            WAIT,
            "Wait",
            match until {
                Some(until) => vec![("until".into(), until.to_rfc3339())],
                None => vec![
                    ("days".into(), days.to_string()),
                    ("hours".into(), hours.to_string()),
                ],
            },
        ),
        Action::EnableAccount => (ENABLE_ACCOUNT, "Enable the user account", vec![]),
        // One argument per property; a cleared one (null) as an empty value.
        Action::SetAttributes { attributes } => (
            SET_ATTRIBUTES,
            "Set user properties",
            attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        ),
        Action::AddRole { role } => (
            ADD_ROLE,
            "Assign a directory role",
            vec![("role".into(), role.clone())],
        ),
        Action::RemoveRole { role } => (
            REMOVE_ROLE,
            "Remove a directory role",
            vec![("role".into(), role.clone())],
        ),
        Action::AssignLicense { sku } => (
            ASSIGN_LICENSE,
            "Assign a licence",
            vec![("sku".into(), sku.clone())],
        ),
        Action::RemoveLicense { sku } => (
            REMOVE_LICENSE,
            "Remove a licence",
            vec![("sku".into(), sku.clone())],
        ),
        Action::SendEmail { to, subject, body } => (
            SEND_EMAIL,
            "Send a templated e-mail",
            vec![
                ("to".into(), to.clone()),
                ("subject".into(), subject.clone()),
                ("body".into(), body.clone()),
            ],
        ),
        Action::ResetPassword { deliver_to } => (
            RESET_PASSWORD_DELIVERED,
            "Reset the password and deliver it by a view-once link",
            vec![("deliverTo".into(), deliver_to.as_str().into())],
        ),
        // Only what it calls: headers, body and auth (a sealed secret) stay in Latchkey.
        Action::CallHttp { method, url, .. } => (
            CALL_HTTP,
            "Call an HTTP API",
            vec![
                ("method".into(), method.clone()),
                (
                    "url".into(),
                    latchkey_core::workflow::url_origin(url).to_owned(),
                ),
            ],
        ),
        Action::RequestApproval {
            approver,
            message,
            timeout_days,
            on_timeout,
        } => (
            REQUEST_APPROVAL,
            "Request approval",
            vec![
                ("approver".into(), approver.clone()),
                ("message".into(), message.clone().unwrap_or_default()),
                ("timeoutDays".into(), timeout_days.to_string()),
                ("onTimeout".into(), on_timeout.clone()),
            ],
        ),
        Action::ScimProvision { connection } => (
            SCIM_PROVISION,
            "Provision the user in a SCIM app",
            vec![("connection".into(), connection.clone())],
        ),
        Action::ScimDeprovision { connection, mode } => (
            SCIM_DEPROVISION,
            "Deprovision the user in a SCIM app",
            vec![
                ("connection".into(), connection.clone()),
                (
                    "mode".into(),
                    match mode {
                        ScimDeprovisionMode::Deactivate => "deactivate",
                        ScimDeprovisionMode::Delete => "delete",
                    }
                    .into(),
                ),
            ],
        ),
    }
}

fn task_json(workflow: &Workflow, index: usize, step: &Step) -> Value {
    let definition = &workflow.workflow.definition;
    let category = definition.category();
    let (id, name, arguments) = task_definition(&step.action, &definition.trigger, category);
    json!({
        "id": child_id(workflow.id.as_uuid(), index),
        "taskDefinitionId": id,
        "displayName": name,
        "description": name,
        "category": category.as_str(),
        "isEnabled": true,
        "continueOnError": step.on_failure == OnFailure::Continue,
        "executionSequence": index + 1,
        "arguments": arguments
            .into_iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect::<Vec<_>>(),
    })
}

fn time_trigger(attribute: &str, offset: i64) -> Value {
    json!({
        "@odata.type": format!("{NS}timeBasedAttributeTrigger"),
        "timeBasedAttribute": attribute,
        "offsetInDays": offset,
    })
}

fn conditions_json(definition: &WorkflowDefinition) -> Value {
    let trigger = match &definition.trigger {
        Trigger::Manual => return json!({ "@odata.type": format!("{NS}onDemandExecutionOnly") }),
        Trigger::HireDate { offset_days } => time_trigger("employeeHireDate", *offset_days),
        Trigger::LeaveDate { offset_days } => time_trigger("employeeLeaveDateTime", *offset_days),
        Trigger::AttributeChanged { attributes } => json!({
            "@odata.type": format!("{NS}attributeChangeTrigger"),
            "triggerAttributes": attributes
                .iter()
                .map(|a| json!({ "name": a.name() }))
                .collect::<Vec<_>>(),
        }),
        // No Graph trigger says "yearly", "inactive for N days" or "cron": the closest shape,
        // with the trigger itself in Latchkey's annotation.
        Trigger::Anniversary { offset_days, .. } => {
            time_trigger("unknownFutureValue", *offset_days)
        }
        Trigger::Inactivity { days } => time_trigger("unknownFutureValue", *days),
        Trigger::Schedule { .. } => time_trigger("unknownFutureValue", 0),
        // The closest Graph shapes: creation as a time trigger on `createdDateTime`, a
        // disabled account as a change of `accountEnabled`.
        Trigger::UserCreated => time_trigger("createdDateTime", 0),
        Trigger::AccountDisabled => json!({
            "@odata.type": format!("{NS}attributeChangeTrigger"),
            "triggerAttributes": [{ "name": "accountEnabled" }],
        }),
        // SaaS management's events have no Graph shape: the annotation carries them.
        Trigger::AppDiscovered => time_trigger("unknownFutureValue", 0),
        Trigger::LicenseIdle { days } => {
            time_trigger("unknownFutureValue", days.map_or(0, i64::from))
        }
        Trigger::ContractRenewalDue { offset_days } => {
            time_trigger("unknownFutureValue", -i64::from(*offset_days))
        }
    };
    let mut out = json!({
        "@odata.type": format!("{NS}triggerAndScopeBasedConditions"),
        "scope": {
            "@odata.type": format!("{NS}ruleBasedSubjectSet"),
            "rule": definition.scope.clone().unwrap_or_default(),
        },
        "trigger": trigger,
    });
    if matches!(
        definition.trigger,
        Trigger::Anniversary { .. }
            | Trigger::Inactivity { .. }
            | Trigger::Schedule { .. }
            | Trigger::UserCreated
            | Trigger::AccountDisabled
            | Trigger::AppDiscovered
            | Trigger::LicenseIdle { .. }
            | Trigger::ContractRenewalDue { .. }
    ) && let Value::Object(map) = &mut out
    {
        map.insert(
            "@latchkey.trigger".into(),
            serde_json::to_value(&definition.trigger).unwrap_or(Value::Null),
        );
    }
    out
}

fn workflow_json(w: &Workflow) -> Value {
    let d = &w.workflow.definition;
    json!({
        "@odata.type": format!("{NS}workflow"),
        "id": w.id.to_string(),
        "category": d.category().as_str(),
        "displayName": d.name,
        "description": d.description,
        "isEnabled": d.enabled,
        "isSchedulingEnabled": d.fires_on_schedule(),
        "executionConditions": conditions_json(d),
        "tasks": d.steps.iter().enumerate().map(|(i, s)| task_json(w, i, s)).collect::<Vec<_>>(),
        "version": w.version,
        "createdDateTime": timestamp(w.created_at),
        "lastModifiedDateTime": timestamp(w.updated_at),
        "deletedDateTime": null,
        "nextScheduleRunDateTime": null,
    })
}

fn entity(state: &GraphState, fragment: &str, mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(
            "@odata.context".into(),
            json!(format!("{}/$entity", context(state, fragment))),
        );
    }
    value
}

// ---------------------------------------------------------------------------------------
// Graph → Latchkey
// ---------------------------------------------------------------------------------------

fn as_str<'a>(v: &'a Value, property: &str) -> Result<&'a str, GraphError> {
    v.as_str()
        .ok_or_else(|| invalid(property, "expected a string"))
}

fn as_bool(v: &Value, property: &str) -> Result<bool, GraphError> {
    v.as_bool()
        .ok_or_else(|| invalid(property, "expected true or false"))
}

fn odata_type<'a>(v: &'a Map<String, Value>, property: &str) -> Result<&'a str, GraphError> {
    let raw = v
        .get("@odata.type")
        .ok_or_else(|| invalid(property, "needs its @odata.type"))?;
    let t = as_str(raw, &format!("{property}.@odata.type"))?;
    Ok(t.trim_start_matches('#')
        .trim_start_matches("microsoft.graph.identityGovernance."))
}

fn trigger_from(conditions: &Value) -> Result<(Trigger, Option<String>), GraphError> {
    const P: &str = "executionConditions";
    let map = conditions
        .as_object()
        .ok_or_else(|| invalid(P, "expected an object"))?;
    if let Some(native) = map.get("@latchkey.trigger") {
        let trigger: Trigger = serde_json::from_value(native.clone())
            .map_err(|e| invalid("executionConditions.@latchkey.trigger", e))?;
        let rule = map
            .get("scope")
            .and_then(|s| s.get("rule"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Ok((trigger, rule));
    }
    match odata_type(map, P)? {
        "onDemandExecutionOnly" => Ok((Trigger::Manual, None)),
        "triggerAndScopeBasedConditions" => {
            let scope = map
                .get("scope")
                .and_then(Value::as_object)
                .ok_or_else(|| invalid("executionConditions.scope", "is required"))?;
            let scope_type = odata_type(scope, "executionConditions.scope")?;
            if scope_type != "ruleBasedSubjectSet" {
                return Err(invalid(
                    "executionConditions.scope",
                    format!(
                        "'{}' is not supported; Latchkey scopes by a ruleBasedSubjectSet rule",
                        clip(scope_type)
                    ),
                ));
            }
            let rule = match scope.get("rule") {
                None | Some(Value::Null) => None,
                Some(v) => Some(as_str(v, "executionConditions.scope.rule")?.to_owned()),
            };
            let trigger = map
                .get("trigger")
                .and_then(Value::as_object)
                .ok_or_else(|| invalid("executionConditions.trigger", "is required"))?;
            let trigger = match odata_type(trigger, "executionConditions.trigger")? {
                "timeBasedAttributeTrigger" => {
                    let offset = trigger
                        .get("offsetInDays")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| {
                            invalid(
                                "executionConditions.trigger.offsetInDays",
                                "expected a whole number of days",
                            )
                        })?;
                    if offset.abs() > MAX_GRAPH_OFFSET_DAYS {
                        return Err(invalid(
                            "executionConditions.trigger.offsetInDays",
                            format!(
                                "must be between -{MAX_GRAPH_OFFSET_DAYS} and {MAX_GRAPH_OFFSET_DAYS}"
                            ),
                        ));
                    }
                    let attribute = trigger
                        .get("timeBasedAttribute")
                        .map(|v| as_str(v, "executionConditions.trigger.timeBasedAttribute"))
                        .transpose()?
                        .unwrap_or_default();
                    match attribute {
                        "employeeHireDate" => Trigger::HireDate {
                            offset_days: offset,
                        },
                        "employeeLeaveDateTime" => Trigger::LeaveDate {
                            offset_days: offset,
                        },
                        other => {
                            return Err(invalid(
                                "executionConditions.trigger.timeBasedAttribute",
                                format!(
                                    "'{}' is not supported; Latchkey triggers on employeeHireDate or employeeLeaveDateTime",
                                    clip(other)
                                ),
                            ));
                        }
                    }
                }
                "attributeChangeTrigger" => {
                    let list = trigger
                        .get("triggerAttributes")
                        .and_then(Value::as_array)
                        .ok_or_else(|| {
                            invalid(
                                "executionConditions.trigger.triggerAttributes",
                                "expected a list",
                            )
                        })?;
                    let mut attributes = Vec::with_capacity(list.len());
                    for (i, a) in list.iter().enumerate() {
                        let p = format!("executionConditions.trigger.triggerAttributes[{i}].name");
                        let name = as_str(a.get("name").unwrap_or(&Value::Null), &p)?;
                        let attribute: WatchedAttribute = serde_json::from_value(json!(name))
                            .map_err(|_| {
                                invalid(
                                    &p,
                                    format!(
                                        "'{}' is not an attribute Latchkey watches (department, jobTitle, manager, companyName, officeLocation, employeeType)",
                                        clip(name)
                                    ),
                                )
                            })?;
                        attributes.push(attribute);
                    }
                    Trigger::AttributeChanged { attributes }
                }
                other => {
                    return Err(invalid(
                        "executionConditions.trigger",
                        format!(
                            "'{}' is not supported; Latchkey takes timeBasedAttributeTrigger and attributeChangeTrigger",
                            clip(other)
                        ),
                    ));
                }
            };
            Ok((trigger, rule))
        }
        other => Err(invalid(
            P,
            format!(
                "'{}' is not supported; Latchkey takes triggerAndScopeBasedConditions and onDemandExecutionOnly",
                clip(other)
            ),
        )),
    }
}

/// A task's `arguments` as (name, value) pairs.
fn arguments(task: &Map<String, Value>, p: &str) -> Result<Vec<(String, String)>, GraphError> {
    let Some(raw) = task.get("arguments") else {
        return Ok(vec![]);
    };
    if raw.is_null() {
        return Ok(vec![]);
    }
    let list = raw.as_array().ok_or_else(|| {
        invalid(
            &format!("{p}.arguments"),
            "expected a list of {name, value}",
        )
    })?;
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let ap = format!("{p}.arguments[{i}]");
            let name = as_str(a.get("name").unwrap_or(&Value::Null), &format!("{ap}.name"))?;
            let value = as_str(
                a.get("value").unwrap_or(&Value::Null),
                &format!("{ap}.value"),
            )?;
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

fn action_from(id: &str, args: &[(String, String)], p: &str) -> Result<Action, GraphError> {
    let arg = |name: &str| {
        args.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    // Arguments Latchkey has nothing to do with are refused rather than ignored.
    let only = |allowed: &[&str]| -> Result<(), GraphError> {
        if let Some((name, _)) = args.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            return Err(invalid(
                &format!("{p}.arguments"),
                format!(
                    "'{}' is not an argument Latchkey supports for this task",
                    clip(name)
                ),
            ));
        }
        Ok(())
    };
    // The on-premises flags: Latchkey has no on-premises directory, so only false fits.
    let no_on_prem = |name: &str| -> Result<(), GraphError> {
        only(&[name])?;
        match arg(name) {
            None => Ok(()),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(()),
            Some(_) => Err(invalid(
                &format!("{p}.arguments"),
                format!("{name} must be false: Latchkey has no on-premises directory"),
            )),
        }
    };
    let id = id.to_ascii_lowercase();
    Ok(match id.as_str() {
        DISABLE_ACCOUNT => {
            no_on_prem("disableOnPremisesAccount")?;
            Action::DisableAccount
        }
        DELETE_USER => {
            no_on_prem("deleteOnPremisesAccount")?;
            Action::DeleteUser
        }
        REVOKE_REFRESH_TOKENS => {
            only(&[])?;
            Action::RevokeSessions
        }
        REMOVE_ALL_LICENSES => {
            only(&[])?;
            Action::RemoveAllLicenses
        }
        MAIL_BEFORE_LAST_DAY
        | MAIL_ON_LAST_DAY
        | MAIL_AFTER_LAST_DAY
        | MAIL_USER_MOVE
        | MAIL_ONBOARDING_REMINDER => {
            only(&["to"])?;
            if let Some(to) = arg("to")
                && !to.eq_ignore_ascii_case("Managers")
            {
                return Err(invalid(
                    &format!("{p}.arguments"),
                    "Latchkey's notice goes to the user's manager: 'to' can only be Managers",
                ));
            }
            Action::NotifyManager
        }
        RESET_PASSWORD_UNKNOWN => {
            only(&[])?;
            Action::ResetPasswordUnknown
        }
        REQUIRE_PASSWORD_CHANGE => {
            only(&[])?;
            Action::RequirePasswordChange
        }
        SEND_WEBHOOK => {
            only(&["url", "format"])?;
            let format = match arg("format") {
                None | Some("json") => WebhookFormat::Json,
                Some("slack") => WebhookFormat::Slack,
                Some(other) => {
                    return Err(invalid(
                        &format!("{p}.arguments"),
                        format!("format '{}' is neither json nor slack", clip(other)),
                    ));
                }
            };
            Action::SendWebhook {
                url: arg("url").unwrap_or_default().to_owned(),
                format,
            }
        }
        WAIT => {
            only(&["days", "hours", "until"])?;
            let number = |name: &str| -> Result<i64, GraphError> {
                arg(name).map_or(Ok(0), |v| {
                    v.trim().parse().map_err(|_| {
                        invalid(
                            &format!("{p}.arguments"),
                            format!("{name} must be a whole number, not '{}'", clip(v)),
                        )
                    })
                })
            };
            let until = match arg("until") {
                None => None,
                Some(v) => Some(
                    chrono::DateTime::parse_from_rfc3339(v.trim())
                        .map(|d| d.with_timezone(&chrono::Utc))
                        .map_err(|_| {
                            invalid(
                                &format!("{p}.arguments"),
                                format!(
                                    "until must be an RFC 3339 instant (2027-01-31T09:00:00Z), \
                                     not '{}'",
                                    clip(v)
                                ),
                            )
                        })?,
                ),
            };
            Action::Wait {
                days: number("days")?,
                hours: number("hours")?,
                until,
            }
        }
        ENABLE_ACCOUNT => {
            only(&[])?;
            Action::EnableAccount
        }
        SET_ATTRIBUTES => Action::SetAttributes {
            attributes: args
                .iter()
                .map(|(n, v)| {
                    let value = if v.is_empty() {
                        Value::Null
                    } else {
                        Value::String(v.clone())
                    };
                    (n.clone(), value)
                })
                .collect(),
        },
        ADD_ROLE | REMOVE_ROLE => {
            only(&["role"])?;
            let role = arg("role").unwrap_or_default().to_owned();
            if id == ADD_ROLE {
                Action::AddRole { role }
            } else {
                Action::RemoveRole { role }
            }
        }
        ASSIGN_LICENSE | REMOVE_LICENSE => {
            only(&["sku"])?;
            let sku = arg("sku").unwrap_or_default().to_owned();
            if id == ASSIGN_LICENSE {
                Action::AssignLicense { sku }
            } else {
                Action::RemoveLicense { sku }
            }
        }
        SEND_EMAIL => {
            only(&["to", "subject", "body"])?;
            Action::SendEmail {
                to: arg("to").unwrap_or_default().to_owned(),
                subject: arg("subject").unwrap_or_default().to_owned(),
                body: arg("body").unwrap_or_default().to_owned(),
            }
        }
        RESET_PASSWORD_DELIVERED => {
            only(&["deliverTo"])?;
            Action::ResetPassword {
                deliver_to: match arg("deliverTo") {
                    Some("user") => latchkey_core::workflow_http::DeliverTo::User,
                    Some("manager") => latchkey_core::workflow_http::DeliverTo::Manager,
                    _ => {
                        return Err(invalid(
                            &format!("{p}.arguments"),
                            "deliverTo must be user or manager",
                        ));
                    }
                },
            }
        }
        CALL_HTTP => {
            return Err(invalid(
                &format!("{p}.taskDefinitionId"),
                "an HTTP call (its headers, body and sealed credentials) is written with \
                 `latchkey workflows import`, not through Graph",
            ));
        }
        SCIM_PROVISION => {
            only(&["connection"])?;
            Action::ScimProvision {
                connection: arg("connection").unwrap_or_default().to_owned(),
            }
        }
        SCIM_DEPROVISION => {
            only(&["connection", "mode"])?;
            let mode = match arg("mode").unwrap_or("deactivate") {
                "deactivate" => ScimDeprovisionMode::Deactivate,
                "delete" => ScimDeprovisionMode::Delete,
                other => {
                    return Err(invalid(
                        &format!("{p}.arguments.mode"),
                        format!("'{}' is neither deactivate nor delete", clip(other)),
                    ));
                }
            };
            Action::ScimDeprovision {
                connection: arg("connection").unwrap_or_default().to_owned(),
                mode,
            }
        }
        other => {
            return Err(invalid(
                &format!("{p}.taskDefinitionId"),
                format!(
                    "'{}' is not a task Latchkey can perform; it performs disable user account, revoke all refresh tokens, remove all license assignments, delete user and the manager e-mails (and its own tasks)",
                    clip(other)
                ),
            ));
        }
    })
}

/// The tasks, in execution order, with the index each came at in the request.
fn steps_from(tasks: &Value) -> Result<(Vec<Step>, Vec<usize>), GraphError> {
    let list = tasks
        .as_array()
        .ok_or_else(|| invalid("tasks", "expected a list of tasks"))?;
    let mut steps = Vec::with_capacity(list.len());
    for (i, task) in list.iter().enumerate() {
        let p = format!("tasks[{i}]");
        let task = task
            .as_object()
            .ok_or_else(|| invalid(&p, "expected a task object"))?;
        if let Some(v) = task.get("isEnabled")
            && !as_bool(v, &format!("{p}.isEnabled"))?
        {
            return Err(invalid(
                &format!("{p}.isEnabled"),
                "Latchkey has no disabled tasks: leave the task out instead",
            ));
        }
        let continue_on_error = match task.get("continueOnError") {
            None | Some(Value::Null) => false,
            Some(v) => as_bool(v, &format!("{p}.continueOnError"))?,
        };
        let sequence = match task.get("executionSequence") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                invalid(&format!("{p}.executionSequence"), "expected a whole number")
            })?),
        };
        let definition = as_str(
            task.get("taskDefinitionId").unwrap_or(&Value::Null),
            &format!("{p}.taskDefinitionId"),
        )?;
        let args = arguments(task, &p)?;
        let action = action_from(definition, &args, &p)?;
        steps.push((
            sequence.unwrap_or(i64::MAX),
            i,
            Step {
                action,
                on_failure: if continue_on_error {
                    OnFailure::Continue
                } else {
                    OnFailure::Stop
                },
                condition: None,
            },
        ));
    }
    // A stable sort: tasks without a sequence keep their order after those with one.
    steps.sort_by_key(|(sequence, i, _)| (*sequence, *i));
    let order = steps.iter().map(|(_, i, _)| *i).collect();
    Ok((steps.into_iter().map(|(_, _, s)| s).collect(), order))
}

/// Properties Graph computes: accepted in a body (a client may send back what it read) and
/// ignored.
const READ_ONLY: [&str; 8] = [
    "id",
    "version",
    "createdDateTime",
    "lastModifiedDateTime",
    "deletedDateTime",
    "nextScheduleRunDateTime",
    "createdBy",
    "lastModifiedBy",
];

fn definition_from(
    map: &Map<String, Value>,
) -> Result<(WorkflowDefinition, Vec<usize>), GraphError> {
    for key in map.keys() {
        if !key.starts_with('@')
            && !READ_ONLY.contains(&key.as_str())
            && ![
                "category",
                "displayName",
                "description",
                "isEnabled",
                "isSchedulingEnabled",
                "executionConditions",
                "tasks",
            ]
            .contains(&key.as_str())
        {
            return Err(invalid(
                &clip(key),
                "is not a property of workflow that Latchkey supports",
            ));
        }
    }
    let category = as_str(
        map.get("category")
            .ok_or_else(|| invalid("category", "is required (joiner, mover or leaver)"))?,
        "category",
    )?;
    let category = WorkflowCategory::parse(category).ok_or_else(|| {
        invalid(
            "category",
            format!("'{}' is not joiner, mover or leaver", clip(category)),
        )
    })?;
    let name = as_str(
        map.get("displayName")
            .ok_or_else(|| invalid("displayName", "is required"))?,
        "displayName",
    )?;
    let description = match map.get("description") {
        None | Some(Value::Null) => None,
        Some(v) => Some(as_str(v, "description")?.to_owned()),
    };
    let enabled = match map.get("isEnabled") {
        None | Some(Value::Null) => true,
        Some(v) => as_bool(v, "isEnabled")?,
    };
    // Graph's default: an enabled workflow runs on demand only until scheduling is turned on.
    let scheduling = match map.get("isSchedulingEnabled") {
        None | Some(Value::Null) => false,
        Some(v) => as_bool(v, "isSchedulingEnabled")?,
    };
    if scheduling && !enabled {
        return Err(invalid(
            "isSchedulingEnabled",
            "cannot be true for a disabled workflow (isEnabled false)",
        ));
    }
    let (trigger, scope) = trigger_from(
        map.get("executionConditions")
            .ok_or_else(|| invalid("executionConditions", "is required"))?,
    )?;
    if scheduling && trigger == Trigger::Manual {
        return Err(invalid(
            "isSchedulingEnabled",
            "an onDemandExecutionOnly workflow has no schedule to enable",
        ));
    }
    let (steps, order) = steps_from(
        map.get("tasks")
            .ok_or_else(|| invalid("tasks", "is required"))?,
    )?;
    Ok((
        WorkflowDefinition {
            name: name.to_owned(),
            description,
            category: Some(category),
            enabled,
            scheduling_enabled: scheduling,
            trigger,
            scope: scope.filter(|s| !s.trim().is_empty()),
            steps,
            confirm_share: false,
            target: None,
        },
        order,
    ))
}

// ---------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------

fn run_status(r: &RunRecord) -> &'static str {
    match r.status {
        RunStatus::Succeeded => "completed",
        RunStatus::Failed if r.cancelled_at.is_some() => "canceled",
        RunStatus::Failed => "failed",
        RunStatus::Running
            if r.steps
                .iter()
                .any(|s| s.status != StepStatus::Pending || s.attempts > 0) =>
        {
            "inProgress"
        }
        RunStatus::Running => "queued",
    }
}

fn step_status(s: &StepRecord) -> &'static str {
    match s.status {
        StepStatus::Pending if s.attempts > 0 || s.output.is_some() => "inProgress",
        StepStatus::Pending => "queued",
        StepStatus::Running => "inProgress",
        StepStatus::Succeeded => "completed",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "canceled",
    }
}

fn execution_type(r: &RunRecord) -> &'static str {
    if ["manual:", "onDemand:", "rerun:"]
        .iter()
        .any(|p| r.occurrence.starts_with(p))
    {
        "onDemand"
    } else {
        "scheduled"
    }
}

struct Counts {
    total: usize,
    failed: usize,
    unprocessed: usize,
}

fn counts(r: &RunRecord) -> Counts {
    Counts {
        total: r.steps.len(),
        failed: r
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .count(),
        unprocessed: r
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Pending | StepStatus::Running))
            .count(),
    }
}

fn last_updated(r: &RunRecord) -> String {
    let last = r
        .steps
        .iter()
        .filter_map(|s| s.finished_at)
        .chain(r.finished_at)
        .chain(r.cancelled_at)
        .max()
        .unwrap_or(r.created_at);
    timestamp(last.max(r.created_at))
}

fn run_json(r: &RunRecord) -> Value {
    let c = counts(r);
    json!({
        "@odata.type": format!("{NS}run"),
        "id": r.id.to_string(),
        "processingStatus": run_status(r),
        "workflowExecutionType": execution_type(r),
        "scheduledDateTime": timestamp(r.created_at),
        "startedDateTime": timestamp(r.created_at),
        "completedDateTime": r.finished_at.map(timestamp),
        "lastUpdatedDateTime": last_updated(r),
        "totalUsersCount": 1,
        "successfulUsersCount": i32::from(r.status == RunStatus::Succeeded),
        "failedUsersCount": i32::from(r.status == RunStatus::Failed && r.cancelled_at.is_none()),
        "totalTasksCounts": c.total,
        "failedTasksCount": c.failed,
        "totalUnprocessedTasksCount": c.unprocessed,
    })
}

fn user_result_json(r: &RunRecord) -> Value {
    let c = counts(r);
    json!({
        "@odata.type": format!("{NS}userProcessingResult"),
        "id": r.id.to_string(),
        "processingStatus": run_status(r),
        "workflowExecutionType": execution_type(r),
        "workflowVersion": r.workflow_version,
        "scheduledDateTime": timestamp(r.created_at),
        "startedDateTime": timestamp(r.created_at),
        "completedDateTime": r.finished_at.map(timestamp),
        "totalTasksCount": c.total,
        "failedTasksCount": c.failed,
        "totalUnprocessedTasksCount": c.unprocessed,
        "subject": { "id": r.user_id.to_string() },
    })
}

fn task_result_json(workflow: &Workflow, r: &RunRecord, s: &StepRecord) -> Value {
    let index = usize::try_from(s.position).unwrap_or_default();
    let started = match s.status {
        StepStatus::Pending if s.attempts == 0 => None,
        _ => Some(s.finished_at.unwrap_or(r.created_at)),
    };
    json!({
        "@odata.type": format!("{NS}taskProcessingResult"),
        "id": child_id(r.id.as_uuid(), index),
        "processingStatus": step_status(s),
        "createdDateTime": timestamp(r.created_at),
        "startedDateTime": started.map(timestamp),
        "completedDateTime": s.finished_at.map(timestamp),
        "failureReason": s.error,
        "subject": { "id": r.user_id.to_string() },
        "task": task_json(workflow, index, &s.step),
    })
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// `$top` and `$skiptoken`, the options the collections take.
/// A collection's query: every pair (kept for the next link), `$top`, `$skiptoken`.
struct Paging {
    pairs: Vec<(String, String)>,
    top: u32,
    after: Option<String>,
}

fn paging(raw: Option<&str>) -> Result<Paging, GraphError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let mut top = DEFAULT_TOP;
    let mut after = None;
    for (key, value) in &pairs {
        match key.to_ascii_lowercase().as_str() {
            "$top" => top = parse_top(value)?,
            "$skiptoken" => after = Some(decode_skiptoken(value)?),
            k if k.starts_with('$') => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on lifecycle workflows.",
                    clip(key)
                )));
            }
            _ => {}
        }
    }
    Ok(Paging { pairs, top, after })
}

fn no_options(raw: Option<&str>) -> Result<(), GraphError> {
    let Paging { pairs, .. } = paging(raw)?;
    if let Some((key, _)) = pairs.iter().find(|(k, _)| k.starts_with('$')) {
        return Err(GraphError::unsupported(format!(
            "Query option '{}' is not supported on a single lifecycle-workflows object.",
            clip(key)
        )));
    }
    Ok(())
}

fn collection(
    state: &GraphState,
    path: &str,
    pairs: Vec<(String, String)>,
    items: &[Value],
    next: Option<String>,
) -> Value {
    let mut out = json!({
        "@odata.context": context(state, path),
        "value": items,
    });
    if let (Some(next), Value::Object(map)) = (next, &mut out) {
        let mut keep: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect();
        keep.push(("$skiptoken".into(), URL_SAFE_NO_PAD.encode(next)));
        let query = serde_urlencoded::to_string(&keep).unwrap_or_default();
        map.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/v1.0/{path}?{query}", state.public_url)),
        );
    }
    out
}

/// `GET /v1.0/identityGovernance/lifecycleWorkflows/workflows`.
pub(crate) async fn list_workflows(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let Paging { pairs, top, after } = paging(raw.as_deref())?;
    let page = state
        .directory
        .list_workflows_page(&caller.actor, caller.tenant, after.as_deref(), top)
        .await
        .map_err(core_error)?;
    let items: Vec<Value> = page.items.iter().map(workflow_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &collection(&state, SET, pairs, &items, page.next),
    ))
}

/// `POST /v1.0/identityGovernance/lifecycleWorkflows/workflows`: 201 with the workflow.
pub(crate) async fn create_workflow(
    caller: Caller,
    State(state): State<GraphState>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let map = body::object(&bytes)?;
    let (definition, order) = definition_from(&map)?;
    let created = state
        .directory
        .create_workflow(&caller.actor, caller.tenant, definition)
        .await
        .map_err(|e| workflow_error(e, &order))?;
    let mut response = json_response(
        StatusCode::CREATED,
        &entity(&state, SET, workflow_json(&created)),
    );
    if let Ok(location) = format!("{}/v1.0/{SET}/{}", state.public_url, created.id).parse() {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

/// `GET …/workflows/{id}`.
pub(crate) async fn get_workflow(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    no_options(raw.as_deref())?;
    let id = workflow_id(&id)?;
    let w = state
        .directory
        .workflow_by_id(&caller.actor, caller.tenant, id)
        .await
        .map_err(core_error)?;
    Ok(json_response(
        StatusCode::OK,
        &entity(&state, SET, workflow_json(&w)),
    ))
}

/// `PATCH …/workflows/{id}`: `displayName`, `description`, `isEnabled`,
/// `isSchedulingEnabled` (as in Graph; tasks and conditions change by a new version). 204.
pub(crate) async fn update_workflow(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let id = workflow_id(&id)?;
    let map = body::object(&bytes)?;
    let mut changes = WorkflowChanges::default();
    for (k, v) in &map {
        match k.as_str() {
            "displayName" => changes.name = Some(as_str(v, "displayName")?.to_owned()),
            "description" => {
                changes.description = Some(match v {
                    Value::Null => None,
                    v => Some(as_str(v, "description")?.to_owned()),
                });
            }
            "isEnabled" => changes.enabled = Some(as_bool(v, "isEnabled")?),
            "isSchedulingEnabled" => {
                changes.scheduling_enabled = Some(as_bool(v, "isSchedulingEnabled")?);
            }
            k if k.starts_with('@') => {}
            other => {
                return Err(invalid(
                    &clip(other),
                    "cannot be changed with PATCH; only displayName, description, isEnabled and isSchedulingEnabled can",
                ));
            }
        }
    }
    if changes.enabled == Some(false) && changes.scheduling_enabled == Some(true) {
        return Err(invalid(
            "isSchedulingEnabled",
            "cannot be true for a disabled workflow (isEnabled false)",
        ));
    }
    state
        .directory
        .update_workflow(&caller.actor, caller.tenant, id, changes)
        .await
        .map_err(core_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE …/workflows/{id}`: 204.
pub(crate) async fn delete_workflow(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let id = workflow_id(&id)?;
    state
        .directory
        .delete_workflow(&caller.actor, caller.tenant, id)
        .await
        .map_err(core_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/workflows/{id}/microsoft.graph.identityGovernance.activate` (and `/activate`)
/// with `{"subjects": [{"id": …}]}`: one run per user now. 204.
pub(crate) async fn activate(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, GraphError> {
    let id = workflow_id(&id)?;
    let map = body::object(&bytes)?;
    if let Some(key) = map.keys().find(|k| *k != "subjects" && !k.starts_with('@')) {
        return Err(GraphError::bad_request(format!(
            "'{}' is not a parameter of activate; it takes subjects.",
            clip(key)
        )));
    }
    let subjects = map
        .get("subjects")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            GraphError::bad_request(
                "Invalid value specified for parameter 'subjects' of activate: expected a list of {\"id\": user id}.",
            )
        })?;
    let mut users = Vec::with_capacity(subjects.len());
    for (i, s) in subjects.iter().enumerate() {
        let raw = s.get("id").and_then(Value::as_str).unwrap_or_default();
        let user: UserId = raw.parse().map_err(|_| {
            GraphError::bad_request(format!(
                "Invalid value specified for parameter 'subjects[{i}].id' of activate: '{}' is not a user id.",
                clip(raw)
            ))
        })?;
        users.push(user);
    }
    state
        .directory
        .run_workflow_on_demand(&caller.actor, caller.tenant, id, &users)
        .await
        .map_err(core_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET …/workflows/{id}/runs`: newest first, paged.
pub(crate) async fn list_runs(
    caller: Caller,
    State(state): State<GraphState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let id = workflow_id(&id)?;
    let Paging { pairs, top, after } = paging(raw.as_deref())?;
    let page = state
        .directory
        .list_workflow_runs_page(&caller.actor, caller.tenant, id, after.as_deref(), top)
        .await
        .map_err(core_error)?;
    let items: Vec<Value> = page.items.iter().map(run_json).collect();
    let path = format!("{SET}/{id}/runs");
    Ok(json_response(
        StatusCode::OK,
        &collection(&state, &path, pairs, &items, page.next),
    ))
}

async fn one_run(
    caller: &Caller,
    state: &GraphState,
    id: &str,
    run: &str,
) -> Result<(WorkflowId, RunRecord), GraphError> {
    let id = workflow_id(id)?;
    let run = run_id(run)?;
    let record = state
        .directory
        .workflow_run(&caller.actor, caller.tenant, id, run)
        .await
        .map_err(core_error)?;
    Ok((id, record))
}

/// `GET …/workflows/{id}/runs/{runId}`.
pub(crate) async fn get_run(
    caller: Caller,
    State(state): State<GraphState>,
    Path((id, run)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    no_options(raw.as_deref())?;
    let (id, record) = one_run(&caller, &state, &id, &run).await?;
    Ok(json_response(
        StatusCode::OK,
        &entity(&state, &format!("{SET}('{id}')/runs"), run_json(&record)),
    ))
}

/// `GET …/workflows/{id}/runs/{runId}/userProcessingResults`: the run's one user.
pub(crate) async fn list_user_results(
    caller: Caller,
    State(state): State<GraphState>,
    Path((id, run)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    no_options(raw.as_deref())?;
    let (id, record) = one_run(&caller, &state, &id, &run).await?;
    let path = format!("{SET}/{id}/runs/{}/userProcessingResults", record.id);
    Ok(json_response(
        StatusCode::OK,
        &collection(&state, &path, vec![], &[user_result_json(&record)], None),
    ))
}

/// `GET …/workflows/{id}/runs/{runId}/taskProcessingResults`: one per step, in order.
pub(crate) async fn list_task_results(
    caller: Caller,
    State(state): State<GraphState>,
    Path((id, run)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    no_options(raw.as_deref())?;
    let (id, record) = one_run(&caller, &state, &id, &run).await?;
    let workflow = state
        .directory
        .workflow_by_id(&caller.actor, caller.tenant, id)
        .await
        .map_err(core_error)?;
    let items: Vec<Value> = record
        .steps
        .iter()
        .map(|s| task_result_json(&workflow, &record, s))
        .collect();
    let path = format!("{SET}/{id}/runs/{}/taskProcessingResults", record.id);
    Ok(json_response(
        StatusCode::OK,
        &collection(&state, &path, vec![], &items, None),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_field_names_become_graphs_with_the_clients_task_index() {
        assert_eq!(graph_property("name", &[]), "displayName");
        assert_eq!(
            graph_property("scope", &[]),
            "executionConditions.scope.rule"
        );
        assert_eq!(
            graph_property("trigger.offsetDays", &[]),
            "executionConditions.trigger"
        );
        assert_eq!(
            graph_property("steps[0].url", &[2, 0, 1]),
            "tasks[2].arguments.url"
        );
        assert_eq!(graph_property("steps[1]", &[2, 0, 1]), "tasks[0]");
    }

    #[test]
    fn every_latchkey_action_round_trips_through_its_task_definition() {
        let trigger = Trigger::LeaveDate { offset_days: 0 };
        for action in [
            Action::DisableAccount,
            Action::RevokeSessions,
            Action::ResetPasswordUnknown,
            Action::RemoveAllLicenses,
            Action::NotifyManager,
            Action::RequirePasswordChange,
            Action::DeleteUser,
            Action::Wait {
                days: 2,
                hours: 3,
                until: None,
            },
            Action::SendWebhook {
                url: "https://hooks.example/x".into(),
                format: WebhookFormat::Slack,
            },
            Action::EnableAccount,
            Action::SetAttributes {
                attributes: [
                    ("department".to_owned(), Value::from("Engineering")),
                    ("jobTitle".to_owned(), Value::Null),
                ]
                .into_iter()
                .collect(),
            },
            Action::AddRole {
                role: "Helpdesk Administrator".into(),
            },
            Action::RemoveRole {
                role: "User Administrator".into(),
            },
            Action::AssignLicense {
                sku: "ENTERPRISEPACK".into(),
            },
            Action::RemoveLicense {
                sku: "ENTERPRISEPACK".into(),
            },
            Action::SendEmail {
                to: "manager".into(),
                subject: "Welcome {{ user.displayName }}".into(),
                body: "Hello {{ user.manager.displayName }}".into(),
            },
            Action::ResetPassword {
                deliver_to: latchkey_core::workflow_http::DeliverTo::Manager,
            },
            Action::ScimProvision {
                connection: "slack".into(),
            },
            Action::ScimDeprovision {
                connection: "slack".into(),
                mode: ScimDeprovisionMode::Delete,
            },
        ] {
            let (id, _, args) = task_definition(&action, &trigger, WorkflowCategory::Leaver);
            assert_eq!(action_from(id, &args, "tasks[0]").unwrap(), action);
        }
    }

    #[test]
    fn the_joiner_triggers_round_trip_through_the_latchkey_annotation() {
        for trigger in [Trigger::UserCreated, Trigger::AccountDisabled] {
            let definition = WorkflowDefinition::parse_json(&format!(
                r#"{{"name": "J", "trigger": {}, "steps": [{{"action": "enableAccount"}}]}}"#,
                serde_json::to_string(&trigger).unwrap()
            ))
            .unwrap()
            .definition;
            let conditions = conditions_json(&definition);
            assert_eq!(trigger_from(&conditions).unwrap().0, trigger);
        }
    }
}
