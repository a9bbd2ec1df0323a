//! The workflow run history (`Directory::find_workflow_runs`, filtered by workflow, state
//! and user, paged after a run id) and a run's page (`get_workflow_run`: each step's state,
//! attempts, time, output and error as core stored them), with Cancel
//! (`cancel_workflow_run`) and Re-run (`rerun_workflow_run`) for those who may manage
//! workflows.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::Action;
use latchkey_core::directory::{RunFilter, UserRef};
use latchkey_core::ids::UserId;
use latchkey_core::workflow_store::{RunId, RunRecord, RunStatus};
use latchkey_identity::browser::csrf_matches;

use super::workflows::{
    EXPIRED, PAGE, TIME, no_such_run, parse_run, parse_workflow, query_string, status_label,
    step_text,
};
use super::{
    Chrome, DirectoryError, Form, SESSION_COOKIE, Viewer, WebState, denied_or_transient, html,
    message, viewer,
};

#[derive(Template)]
#[template(path = "workflow_runs.html")]
struct RunsPage {
    chrome: Chrome,
    /// The workflows the filter offers (id, name).
    workflows: Vec<(String, String)>,
    workflow: String,
    state: String,
    user: String,
    states: Vec<(&'static str, &'static str)>,
    rows: Vec<RunRow>,
    next: Option<String>,
    first_page: Option<String>,
}

#[derive(Debug)]
struct RunRow {
    href: String,
    workflow: String,
    user: String,
    status: &'static str,
    started: String,
    finished: String,
}

fn bad_filter(text: &str) -> Response {
    message(StatusCode::BAD_REQUEST, "That filter is not valid", text)
}

/// `GET /admin/workflows/runs?workflow=&state=&user=&after=`.
pub(super) async fn runs(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse_query(query.as_deref());
    let workflow = form.get("workflow").unwrap_or_default().trim().to_owned();
    let state_filter = form.get("state").unwrap_or_default().trim().to_owned();
    let user: String = form
        .get("user")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(super::MAX_SEARCH)
        .collect();
    let after = form
        .get("after")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let dir = &state.directory;
    let mut filter = RunFilter::default();
    if !workflow.is_empty() {
        match parse_workflow(&workflow) {
            Some(w) => filter.workflow = Some(w),
            None => return bad_filter("Workflow: choose one of the workflows the list offers."),
        }
    }
    if !state_filter.is_empty() {
        match RunStatus::parse(&state_filter) {
            Some(s) => filter.status = Some(s),
            None => return bad_filter("State: choose one of the states the list offers."),
        }
    }
    // A user name in the filter is resolved to the id the runs carry.
    let mut nobody = false;
    if !user.is_empty() {
        match UserRef::parse(&user) {
            Ok(r) => match dir.get_user(&v.actor, v.tenant.id, &r).await {
                Ok(u) => filter.user = Some(u.id),
                Err(DirectoryError::NotFound { .. }) => nobody = true,
                Err(e) => return denied_or_transient(&e),
            },
            Err(_) => return bad_filter("User: type a user name such as adele@contoso.com."),
        }
    }
    let page = if nobody {
        latchkey_core::store::Page {
            items: vec![],
            next: None,
        }
    } else {
        match dir
            .find_workflow_runs(&v.actor, v.tenant.id, filter, after.as_deref(), PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => return denied_or_transient(&e),
        }
    };
    let all = match dir
        .list_workflows_page(
            &v.actor,
            v.tenant.id,
            None,
            latchkey_core::directory::MAX_WORKFLOW_PAGE,
        )
        .await
    {
        Ok(p) => p.items,
        Err(e) => return denied_or_transient(&e),
    };
    let names = match run_user_names(&state, &v, &page.items).await {
        Ok(n) => n,
        Err(e) => return denied_or_transient(&e),
    };
    let filters = [
        ("workflow", workflow.as_str()),
        ("state", state_filter.as_str()),
        ("user", user.as_str()),
    ];
    html(
        StatusCode::OK,
        RunsPage {
            chrome: v.chrome("workflow-runs"),
            workflows: all
                .iter()
                .map(|w| (w.id.to_string(), w.workflow.definition.name.clone()))
                .collect(),
            states: [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed]
                .into_iter()
                .map(|s| (s.as_str(), status_label(s)))
                .collect(),
            rows: page
                .items
                .iter()
                .map(|r| RunRow {
                    href: format!("/admin/workflows/runs/{}", r.id),
                    workflow: r.workflow_name.clone(),
                    user: user_name(&names, r.user_id),
                    status: run_status(r),
                    started: r.created_at.format(TIME).to_string(),
                    finished: r
                        .finished_at
                        .map_or_else(|| "—".to_owned(), |t| t.format(TIME).to_string()),
                })
                .collect(),
            next: page.next.as_deref().map(|n| {
                let mut p = filters.to_vec();
                p.push(("after", n));
                format!("/admin/workflows/runs{}", query_string(&p))
            }),
            first_page: after
                .is_some()
                .then(|| format!("/admin/workflows/runs{}", query_string(&filters))),
            workflow,
            state: state_filter,
            user,
        }
        .render(),
    )
}

async fn run_user_names(
    state: &WebState,
    v: &Viewer,
    runs: &[RunRecord],
) -> Result<std::collections::HashMap<UserId, String>, DirectoryError> {
    let mut ids: Vec<UserId> = runs.iter().map(|r| r.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    state
        .directory
        .workflow_user_names(&v.actor, v.tenant.id, &ids)
        .await
}

fn user_name(names: &std::collections::HashMap<UserId, String>, id: UserId) -> String {
    names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("Deleted user ({id})"))
}

fn run_status(r: &RunRecord) -> &'static str {
    if r.cancelled_at.is_some() {
        "Cancelled"
    } else {
        status_label(r.status)
    }
}

#[derive(Template)]
#[template(path = "workflow_run.html")]
struct RunPage {
    chrome: Chrome,
    base: String,
    workflow: String,
    workflow_href: String,
    version: i64,
    user: String,
    status: &'static str,
    occurrence: String,
    started: String,
    finished: String,
    steps: Vec<RunStepRow>,
    may_cancel: bool,
    may_rerun: bool,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct RunStepRow {
    number: i32,
    action: String,
    status: &'static str,
    attempts: i32,
    finished: String,
    output: String,
    error: String,
}

async fn run_page(
    state: &WebState,
    v: &Viewer,
    id: RunId,
    status: StatusCode,
    notice: Option<String>,
    errors: Vec<String>,
) -> Response {
    let r = match state
        .directory
        .get_workflow_run(&v.actor, v.tenant.id, id)
        .await
    {
        Ok(r) => r,
        Err(DirectoryError::NotFound { .. }) => return no_such_run(),
        Err(e) => return denied_or_transient(&e),
    };
    let names = match run_user_names(state, v, std::slice::from_ref(&r)).await {
        Ok(n) => n,
        Err(e) => return denied_or_transient(&e),
    };
    let manage = v.may(Action::ManageWorkflows);
    html(
        status,
        RunPage {
            chrome: v.chrome("workflow-runs"),
            base: format!("/admin/workflows/runs/{}", r.id),
            workflow: r.workflow_name.clone(),
            workflow_href: format!("/admin/workflows/{}", r.workflow_id),
            version: r.workflow_version,
            user: user_name(&names, r.user_id),
            status: run_status(&r),
            occurrence: r.occurrence.clone(),
            started: r.created_at.format(TIME).to_string(),
            finished: r
                .finished_at
                .map_or_else(|| "—".to_owned(), |t| t.format(TIME).to_string()),
            steps: r
                .steps
                .iter()
                .map(|s| RunStepRow {
                    number: s.position + 1,
                    action: step_text(&s.step),
                    status: s.status.as_str(),
                    attempts: s.attempts,
                    finished: s
                        .finished_at
                        .map_or_else(|| "—".to_owned(), |t| t.format(TIME).to_string()),
                    output: s.output.clone().unwrap_or_default(),
                    error: s.error.clone().unwrap_or_default(),
                })
                .collect(),
            may_cancel: manage && r.status == RunStatus::Running,
            may_rerun: manage && r.status != RunStatus::Running,
            notice,
            errors,
        }
        .render(),
    )
}

/// `GET /admin/workflows/runs/{run}`.
pub(super) async fn show_run(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(run): Path<String>,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_run(&run) else {
        return no_such_run();
    };
    run_page(&state, &v, id, StatusCode::OK, None, vec![]).await
}

/// `POST /admin/workflows/runs/{run}/{cancel|rerun}`.
pub(super) async fn act_on_run(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path((run, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_run(&run) else {
        return no_such_run();
    };
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return run_page(
            &state,
            &v,
            id,
            StatusCode::FORBIDDEN,
            None,
            vec![EXPIRED.into()],
        )
        .await;
    }
    let dir = &state.directory;
    let result = match action.as_str() {
        "cancel" => dir
            .cancel_workflow_run(&v.actor, v.tenant.id, id)
            .await
            .map(|_| id),
        "rerun" => dir.rerun_workflow_run(&v.actor, v.tenant.id, id).await,
        _ => return no_such_run(),
    };
    match result {
        Ok(new) if new == id => {
            run_page(
                &state,
                &v,
                id,
                StatusCode::OK,
                Some("The run is cancelled: no further step of it runs.".into()),
                vec![],
            )
            .await
        }
        Ok(new) => super::redirect(&format!("/admin/workflows/runs/{new}")),
        Err(DirectoryError::NotFound { .. }) => no_such_run(),
        Err(e @ DirectoryError::Invalid { .. }) => {
            run_page(
                &state,
                &v,
                id,
                StatusCode::BAD_REQUEST,
                None,
                vec![format!("{e}. Nothing was changed.")],
            )
            .await
        }
        Err(e) => denied_or_transient(&e),
    }
}
