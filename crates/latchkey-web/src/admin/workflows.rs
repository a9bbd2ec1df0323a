//! Workflows: the tenant's lifecycle workflows (`Directory::list_workflows_page`, keyset by
//! name), new ones from the engine's built-in templates or imported as JSON
//! (`save_workflow`, like `latchkey workflows import`), a workflow's page
//! (`workflow_by_id`), Enable / Disable (`set_workflow_enabled`, with core's share
//! confirmation), its definition edited (`replace_workflow_definition`), the scope preview
//! (the engine's dry run), Run now (`run_workflow_for_users`), and the run history
//! (`workflow_runs.rs`).
//! Readers (`Action::ReadWorkflows`) see every page; only those who may manage workflows
//! (`Action::ManageWorkflows`) see its forms, and core refuses the others.
//!
//! The dry run and the templates belong to the automation engine, which this crate does not
//! depend on: the binary hands one in as a [`WorkflowEngine`].

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use latchkey_core::authz::Action;
use latchkey_core::directory::Workflow;
use latchkey_core::ids::TenantId;
use latchkey_core::workflow::Step;
use latchkey_core::workflow_store::{RunId, RunStatus, WorkflowId};
use latchkey_identity::browser::csrf_matches;

use super::{
    Chrome, DirectoryError, Form, SESSION_COOKIE, Viewer, WebState, denied_or_transient, html,
    message, viewer,
};

pub(super) const PAGE: u32 = 25;
/// Users a scope preview lists at most.
const PREVIEW_SHOWN: usize = 50;
pub(super) const TIME: &str = "%Y-%m-%d %H:%M UTC";
pub(super) const EXPIRED: &str = "This form has expired or did not come from the admin center. Nothing was changed; submit it again.";

/// A built-in workflow template, as the engine offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowTemplate {
    pub name: String,
    pub description: String,
    /// The definition (JSON).
    pub definition: String,
}

/// What a dry run found for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewUser {
    pub user_principal_name: String,
    /// When the trigger is due for the user (`None` for manual workflows).
    pub due: Option<DateTime<Utc>>,
    /// What each step would do, in order.
    pub steps: Vec<String>,
}

/// What the Workflows pages need of the automation engine (its templates and dry run).
#[async_trait::async_trait]
pub trait WorkflowEngine: Send + Sync + std::fmt::Debug {
    fn templates(&self) -> Vec<WorkflowTemplate>;
    /// The users the named workflow would start a run for now, with what each step would
    /// do; nothing is changed. The pages call it only after core let the viewer read the
    /// workflow.
    async fn dry_run(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Vec<PreviewUser>, DirectoryError>;
}

pub(super) fn parse_workflow(s: &str) -> Option<WorkflowId> {
    s.parse().ok()
}

pub(super) fn parse_run(s: &str) -> Option<RunId> {
    s.parse().ok()
}

fn no_such_workflow() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Workflow not found",
        "This workflow is not one of your organization's.",
    )
}

pub(super) fn no_such_run() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Run not found",
        "This run is not one of your organization's workflow runs.",
    )
}

fn no_engine() -> DirectoryError {
    DirectoryError::invalid(
        "engine",
        "this server runs no workflow engine, so it cannot preview",
    )
}

pub(super) fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
    }
}

/// A JSON object's fields other than `skip`, as "key value" in words: how the pages show a
/// trigger's or a step's arguments without knowing every kind (new ones show as well).
fn arguments(value: &serde_json::Value, skip: &[&str]) -> String {
    let Some(object) = value.as_object() else {
        return String::new();
    };
    object
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| match v {
            // A webhook's path may be its credential (Slack's are): only the origin shows,
            // as in the dry run's words.
            serde_json::Value::String(s) if k == "url" => {
                format!("{k} {}", latchkey_core::workflow::url_origin(s))
            }
            serde_json::Value::String(s) => format!("{k} {s}"),
            other => format!("{k} {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn trigger_text(w: &Workflow) -> String {
    let value = serde_json::to_value(&w.workflow.definition.trigger).unwrap_or_default();
    let kind = value["kind"].as_str().unwrap_or("unknown").to_owned();
    let args = arguments(&value, &["kind"]);
    if args.is_empty() {
        kind
    } else {
        format!("{kind} ({args})")
    }
}

pub(super) fn step_text(step: &Step) -> String {
    let value = serde_json::to_value(step).unwrap_or_default();
    let args = arguments(&value, &["action", "onFailure", "condition"]);
    if args.is_empty() {
        step.action.name().to_owned()
    } else {
        format!("{} ({args})", step.action.name())
    }
}

fn on_failure_text(step: &Step) -> &'static str {
    match step.on_failure {
        latchkey_core::workflow::OnFailure::Stop => "Stop the run",
        latchkey_core::workflow::OnFailure::Continue => "Continue with the next step",
    }
}

pub(super) fn status_label(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "Running",
        RunStatus::Succeeded => "Succeeded",
        RunStatus::Failed => "Failed",
    }
}

fn field_error(e: &DirectoryError) -> Option<String> {
    match e {
        DirectoryError::Invalid { property, message } => {
            Some(format!("{property}: {message}. Nothing was saved."))
        }
        DirectoryError::Stale => Some(
            "Someone saved this workflow meanwhile. Nothing was saved; reload it and try again."
                .to_owned(),
        ),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The list, new from a template, import.

#[derive(Template)]
#[template(path = "workflows.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<ListRow>,
    next: Option<String>,
    first_page: Option<String>,
    manage: bool,
    templates: Vec<(String, String)>,
    chosen_template: String,
    new_name: String,
    definition: String,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct ListRow {
    href: String,
    name: String,
    category: &'static str,
    trigger: String,
    enabled: bool,
    version: i64,
}

struct ListInput {
    chosen_template: String,
    new_name: String,
    definition: String,
}

async fn list_page(
    state: &WebState,
    v: &Viewer,
    after: Option<String>,
    status: StatusCode,
    input: ListInput,
    notice: Option<String>,
    errors: Vec<String>,
) -> Response {
    let page = match state
        .directory
        .list_workflows_page(&v.actor, v.tenant.id, after.as_deref(), PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return denied_or_transient(&e),
    };
    let manage = v.may(Action::ManageWorkflows);
    let templates = match (&state.workflows, manage) {
        (Some(engine), true) => engine
            .templates()
            .into_iter()
            .map(|t| (t.name, t.description))
            .collect(),
        _ => vec![],
    };
    html(
        status,
        ListPage {
            chrome: v.chrome("workflows"),
            rows: page
                .items
                .iter()
                .map(|w| ListRow {
                    href: format!("/admin/workflows/{}", w.id),
                    name: w.workflow.definition.name.clone(),
                    category: w.workflow.definition.category().as_str(),
                    trigger: trigger_text(w),
                    enabled: w.workflow.definition.enabled,
                    version: w.version,
                })
                .collect(),
            next: page
                .next
                .as_deref()
                .map(|n| format!("/admin/workflows{}", query_string(&[("after", n)]))),
            first_page: after.is_some().then(|| "/admin/workflows".to_owned()),
            manage,
            templates,
            chosen_template: input.chosen_template,
            new_name: input.new_name,
            definition: input.definition,
            notice,
            errors,
        }
        .render(),
    )
}

fn empty_input() -> ListInput {
    ListInput {
        chosen_template: String::new(),
        new_name: String::new(),
        definition: String::new(),
    }
}

/// `GET /admin/workflows?after=`.
pub(super) async fn list(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse_query(query.as_deref());
    let after = form
        .get("after")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    list_page(
        &state,
        &v,
        after,
        StatusCode::OK,
        empty_input(),
        None,
        vec![],
    )
    .await
}

/// `POST /admin/workflows/new` (`template`, `name`: saved disabled) or
/// `POST /admin/workflows/import` (`definition`: the JSON `latchkey workflows import` takes).
pub(super) async fn create(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(how): Path<String>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse(&body);
    let input = ListInput {
        chosen_template: form.get("template").unwrap_or_default().to_owned(),
        new_name: form.get("name").unwrap_or_default().to_owned(),
        definition: form.get("definition").unwrap_or_default().to_owned(),
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return list_page(
            &state,
            &v,
            None,
            StatusCode::FORBIDDEN,
            input,
            None,
            vec![EXPIRED.into()],
        )
        .await;
    }
    let raw = match how.as_str() {
        "new" => {
            let template = state.workflows.as_ref().and_then(|e| {
                e.templates()
                    .into_iter()
                    .find(|t| t.name == input.chosen_template)
            });
            let Some(template) = template else {
                return list_page(
                    &state,
                    &v,
                    None,
                    StatusCode::BAD_REQUEST,
                    input,
                    None,
                    vec![
                        "template: choose one of the offered templates. Nothing was saved.".into(),
                    ],
                )
                .await;
            };
            // The template as it is, under the chosen name, saved disabled.
            let mut value: serde_json::Value =
                serde_json::from_str(&template.definition).unwrap_or_default();
            value["name"] = serde_json::Value::String(input.new_name.trim().to_owned());
            value["enabled"] = serde_json::Value::Bool(false);
            value.to_string()
        }
        "import" => input.definition.clone(),
        _ => return no_such_workflow(),
    };
    match state
        .directory
        .save_workflow(&v.actor, v.tenant.id, &raw)
        .await
    {
        Ok(w) => super::redirect(&format!("/admin/workflows/{}?saved=1", w.id)),
        Err(e) => match field_error(&e) {
            Some(m) => {
                list_page(
                    &state,
                    &v,
                    None,
                    StatusCode::BAD_REQUEST,
                    input,
                    None,
                    vec![m],
                )
                .await
            }
            None => denied_or_transient(&e),
        },
    }
}

// ---------------------------------------------------------------------------------------
// A workflow's page, enable / disable, edit, run now, preview.

#[derive(Template)]
#[template(path = "workflow.html")]
struct WorkflowPage {
    chrome: Chrome,
    base: String,
    runs_href: String,
    name: String,
    description: String,
    category: &'static str,
    trigger: String,
    scope: String,
    enabled: bool,
    version: i64,
    target: String,
    steps: Vec<StepRow>,
    manage: bool,
    /// Enabling needs the share confirmation: (starting, total, limit %).
    confirm: Option<(u64, u64, u8)>,
    run_users: String,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct StepRow {
    number: usize,
    action: String,
    condition: String,
    on_failure: &'static str,
}

struct PageExtras {
    confirm: Option<(u64, u64, u8)>,
    run_users: String,
    notice: Option<String>,
    errors: Vec<String>,
}

fn no_extras() -> PageExtras {
    PageExtras {
        confirm: None,
        run_users: String::new(),
        notice: None,
        errors: vec![],
    }
}

async fn workflow_page(
    state: &WebState,
    v: &Viewer,
    id: WorkflowId,
    status: StatusCode,
    extras: PageExtras,
) -> Response {
    let w = match state
        .directory
        .workflow_by_id(&v.actor, v.tenant.id, id)
        .await
    {
        Ok(w) => w,
        Err(DirectoryError::NotFound { .. }) => return no_such_workflow(),
        Err(e) => return denied_or_transient(&e),
    };
    let d = &w.workflow.definition;
    html(
        status,
        WorkflowPage {
            chrome: v.chrome("workflows"),
            base: format!("/admin/workflows/{}", w.id),
            runs_href: format!("/admin/workflows/runs?workflow={}", w.id),
            name: d.name.clone(),
            description: d.description.clone().unwrap_or_default(),
            category: d.category().as_str(),
            trigger: trigger_text(&w),
            scope: d
                .scope
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "Every user of the organization".to_owned()),
            enabled: d.enabled,
            version: w.version,
            target: d.target.as_ref().map_or_else(
                || "This directory".to_owned(),
                |t| format!("Connected tenant {}", t.tenant),
            ),
            steps: d
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| StepRow {
                    number: i + 1,
                    action: step_text(s),
                    condition: s
                        .condition
                        .clone()
                        .filter(|c| !c.trim().is_empty())
                        .unwrap_or_else(|| "Always".to_owned()),
                    on_failure: on_failure_text(s),
                })
                .collect(),
            manage: v.may(Action::ManageWorkflows),
            confirm: extras.confirm,
            run_users: extras.run_users,
            notice: extras.notice,
            errors: extras.errors,
        }
        .render(),
    )
}

/// `GET /admin/workflows/{id}`.
pub(super) async fn show(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_workflow(&id) else {
        return no_such_workflow();
    };
    let form = Form::parse_query(query.as_deref());
    let mut extras = no_extras();
    if form.get("saved").is_some() {
        extras.notice = Some("The workflow is saved.".into());
    }
    workflow_page(&state, &v, id, StatusCode::OK, extras).await
}

/// How many users the workflow's trigger is due for now (the engine's dry run); none for a
/// manual one or without an engine.
async fn due_now(state: &WebState, v: &Viewer, w: &Workflow) -> Result<u64, DirectoryError> {
    if w.workflow.definition.trigger == latchkey_core::workflow::Trigger::Manual {
        return Ok(0);
    }
    match &state.workflows {
        Some(engine) => Ok(engine
            .dry_run(v.tenant.id, &w.workflow.definition.name)
            .await?
            .len() as u64),
        None => Ok(0),
    }
}

/// `POST /admin/workflows/{id}/{action}`: `enable` (`version`, `confirm`), `disable`
/// (`version`) or `run` (`users`: user names, one a line or comma-separated).
pub(super) async fn act(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_workflow(&id) else {
        return no_such_workflow();
    };
    let form = Form::parse(&body);
    let mut extras = no_extras();
    extras.run_users = form.get("users").unwrap_or_default().to_owned();
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        extras.errors = vec![EXPIRED.into()];
        return workflow_page(&state, &v, id, StatusCode::FORBIDDEN, extras).await;
    }
    let dir = &state.directory;
    let version = form.get("version").and_then(|s| s.parse::<i64>().ok());
    let result: Result<String, DirectoryError> = match action.as_str() {
        "enable" | "disable" => {
            let enable = action == "enable";
            let current = match dir.workflow_by_id(&v.actor, v.tenant.id, id).await {
                Ok(w) => w,
                Err(DirectoryError::NotFound { .. }) => return no_such_workflow(),
                Err(e) => return denied_or_transient(&e),
            };
            let due = if enable {
                match due_now(&state, &v, &current).await {
                    Ok(n) => n,
                    Err(e) => return denied_or_transient(&e),
                }
            } else {
                0
            };
            match dir
                .set_workflow_enabled(
                    &v.actor,
                    v.tenant.id,
                    id,
                    version.unwrap_or(-1),
                    enable,
                    due,
                    form.get("confirm") == Some("yes"),
                )
                .await
            {
                Ok(Ok(w)) if w.workflow.definition.enabled => {
                    Ok(format!("The workflow is enabled (version {}).", w.version))
                }
                Ok(Ok(w)) => Ok(format!("The workflow is disabled (version {}).", w.version)),
                Ok(Err(exceeded)) => {
                    extras.confirm =
                        Some((exceeded.starting, exceeded.total, exceeded.limit_percent));
                    return workflow_page(&state, &v, id, StatusCode::OK, extras).await;
                }
                Err(e) => Err(e),
            }
        }
        "run" => {
            let typed = form.get("users").unwrap_or_default();
            let names: Vec<&str> = typed
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .collect();
            dir.run_workflow_for_users(&v.actor, v.tenant.id, id, &names)
                .await
                .map(|n| match n {
                    1 => "1 run started.".to_owned(),
                    n => format!("{n} runs started."),
                })
        }
        _ => return no_such_workflow(),
    };
    match result {
        Ok(notice) => {
            extras.notice = Some(notice);
            extras.run_users = String::new();
            workflow_page(&state, &v, id, StatusCode::OK, extras).await
        }
        Err(DirectoryError::NotFound { .. }) => no_such_workflow(),
        Err(e) => match field_error(&e) {
            Some(m) => {
                extras.errors = vec![m.replace("Nothing was saved", "Nothing was changed")];
                workflow_page(&state, &v, id, StatusCode::BAD_REQUEST, extras).await
            }
            None => denied_or_transient(&e),
        },
    }
}

#[derive(Template)]
#[template(path = "workflow_edit.html")]
struct EditPage {
    chrome: Chrome,
    base: String,
    name: String,
    version: i64,
    definition: String,
    errors: Vec<String>,
}

fn pretty(w: &Workflow) -> String {
    serde_json::to_string_pretty(&w.workflow.definition).unwrap_or_default()
}

/// `GET /admin/workflows/{id}/edit`: the current definition in a text box.
pub(super) async fn edit_form(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_workflow(&id) else {
        return no_such_workflow();
    };
    if !v.may(Action::ManageWorkflows) {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your roles do not allow you to change workflows.",
        );
    }
    let w = match state
        .directory
        .workflow_by_id(&v.actor, v.tenant.id, id)
        .await
    {
        Ok(w) => w,
        Err(DirectoryError::NotFound { .. }) => return no_such_workflow(),
        Err(e) => return denied_or_transient(&e),
    };
    html(
        StatusCode::OK,
        EditPage {
            chrome: v.chrome("workflows"),
            base: format!("/admin/workflows/{}", w.id),
            name: w.workflow.definition.name.clone(),
            version: w.version,
            definition: pretty(&w),
            errors: vec![],
        }
        .render(),
    )
}

/// `POST /admin/workflows/{id}/edit` (`definition`, `version`): the next version.
pub(super) async fn edit_save(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_workflow(&id) else {
        return no_such_workflow();
    };
    let form = Form::parse(&body);
    let definition = form.get("definition").unwrap_or_default().to_owned();
    let version = form
        .get("version")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1);
    let again = |status: StatusCode, errors: Vec<String>, name: String| {
        html(
            status,
            EditPage {
                chrome: v.chrome("workflows"),
                base: format!("/admin/workflows/{id}"),
                name,
                version,
                definition: definition.clone(),
                errors,
            }
            .render(),
        )
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return again(StatusCode::FORBIDDEN, vec![EXPIRED.into()], String::new());
    }
    match state
        .directory
        .replace_workflow_definition(&v.actor, v.tenant.id, id, version, &definition)
        .await
    {
        Ok(w) => super::redirect(&format!("/admin/workflows/{}?saved=1", w.id)),
        Err(DirectoryError::NotFound { .. }) => no_such_workflow(),
        Err(e) => match field_error(&e) {
            Some(m) => again(StatusCode::BAD_REQUEST, vec![m], String::new()),
            None => denied_or_transient(&e),
        },
    }
}

#[derive(Template)]
#[template(path = "workflow_preview.html")]
struct PreviewPage {
    chrome: Chrome,
    base: String,
    name: String,
    total: usize,
    users: Vec<PreviewUserRow>,
    error: Option<String>,
}

#[derive(Debug)]
struct PreviewUserRow {
    upn: String,
    due: String,
    steps: Vec<String>,
}

/// `GET /admin/workflows/{id}/preview`: the engine's dry run, the first
/// [`PREVIEW_SHOWN`] users of however many.
pub(super) async fn preview(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_workflow(&id) else {
        return no_such_workflow();
    };
    let w = match state
        .directory
        .workflow_by_id(&v.actor, v.tenant.id, id)
        .await
    {
        Ok(w) => w,
        Err(DirectoryError::NotFound { .. }) => return no_such_workflow(),
        Err(e) => return denied_or_transient(&e),
    };
    let found = match &state.workflows {
        Some(engine) => {
            engine
                .dry_run(v.tenant.id, &w.workflow.definition.name)
                .await
        }
        None => Err(no_engine()),
    };
    let (users, error) = match found {
        Ok(users) => (users, None),
        Err(e @ DirectoryError::Invalid { .. }) => (vec![], Some(e.to_string())),
        Err(e) => return denied_or_transient(&e),
    };
    html(
        StatusCode::OK,
        PreviewPage {
            chrome: v.chrome("workflows"),
            base: format!("/admin/workflows/{}", w.id),
            name: w.workflow.definition.name.clone(),
            total: users.len(),
            users: users
                .into_iter()
                .take(PREVIEW_SHOWN)
                .map(|u| PreviewUserRow {
                    upn: u.user_principal_name,
                    due: u
                        .due
                        .map_or_else(|| "—".to_owned(), |d| d.format(TIME).to_string()),
                    steps: u.steps,
                })
                .collect(),
            error,
        }
        .render(),
    )
}
