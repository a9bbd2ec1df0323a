//! The connected-tenant connector against a scripted Graph on a loopback port, on SQLite and
//! PostgreSQL: the connection saved with its secret sealed (bad fields refused by name), a
//! workflow naming a missing connection refused, a 429 left to the engine's backoff (not
//! retried before its Retry-After), and a 403 failing the step with Graph's code and message recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::directory::{TenantConnectionInput, UserRef};
use latchkey_core::names::Upn;
use latchkey_core::workflow_store::{RunStatus, StepStatus};
use latchkey_testkit::{Backend, Harness};
use serde_json::{Value, json};

const REMOTE_ID: &str = "6e1c5f0a-35c2-4c1b-9a53-0d7a0c8a1b2c";
const SECRET: &str = "remote-client-secret-XYZZY";

/// Statuses to answer each Graph user read and update with, in turn (then success); and
/// what was asked.
#[derive(Clone, Default)]
struct FakeGraph {
    reads: Arc<Mutex<VecDeque<u16>>>,
    updates: Arc<Mutex<VecDeque<u16>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

async fn token() -> Json<Value> {
    Json(json!({ "access_token": "fake", "token_type": "Bearer", "expires_in": 3600 }))
}

async fn read_user(State(g): State<FakeGraph>) -> Response {
    g.asked.lock().unwrap().push("GET user".into());
    match g.reads.lock().unwrap().pop_front().unwrap_or(200) {
        200 => Json(json!({
            "id": REMOTE_ID,
            "userPrincipalName": "ola@fabrikam.test",
            "accountEnabled": true,
        }))
        .into_response(),
        status => (
            StatusCode::from_u16(status).unwrap(),
            [("retry-after", "120")],
            Json(json!({ "error": { "code": "TooManyRequests", "message": "Slow down." } })),
        )
            .into_response(),
    }
}

async fn update_user(State(g): State<FakeGraph>, Json(body): Json<Value>) -> Response {
    g.asked.lock().unwrap().push(format!("PATCH user {body}"));
    match g.updates.lock().unwrap().pop_front().unwrap_or(204) {
        204 => StatusCode::NO_CONTENT.into_response(),
        status => (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({ "error": {
                "code": "Authorization_RequestDenied",
                "message": "Insufficient privileges to complete the operation.",
            } })),
        )
            .into_response(),
    }
}

async fn assign_license(State(g): State<FakeGraph>, Json(body): Json<Value>) -> Json<Value> {
    g.asked
        .lock()
        .unwrap()
        .push(format!("POST assignLicense {body}"));
    Json(json!({ "id": REMOTE_ID }))
}

async fn subscribed_skus() -> Json<Value> {
    Json(json!({ "value": [{ "skuId": SKU, "skuPartNumber": "ENTERPRISEPACK" }] }))
}

async fn directory_roles() -> Json<Value> {
    Json(json!({ "value": [
        { "id": "role-object-1", "roleTemplateId": "fe930be7-5e62-47db-91af-98c3a49a38b1",
          "displayName": "User Administrator" },
        { "id": "role-object-2", "roleTemplateId": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
          "displayName": "Helpdesk Administrator" }
    ] }))
}

async fn add_role_member(
    State(g): State<FakeGraph>,
    axum::extract::Path(role): axum::extract::Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    g.asked
        .lock()
        .unwrap()
        .push(format!("POST {role} member {}", body["@odata.id"]));
    StatusCode::NO_CONTENT
}

async fn remove_role_member(
    State(g): State<FakeGraph>,
    axum::extract::Path((role, member)): axum::extract::Path<(String, String)>,
) -> Response {
    g.asked
        .lock()
        .unwrap()
        .push(format!("DELETE {role} member {member}"));
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "error": { "code": "Request_ResourceNotFound", "message": "Not a member." } }),
        ),
    )
        .into_response()
}

async fn start(graph: FakeGraph) -> String {
    let app = axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
        .route(
            "/v1.0/users/{id}",
            axum::routing::get(read_user).patch(update_user),
        )
        .route("/v1.0/subscribedSkus", axum::routing::get(subscribed_skus))
        .route("/v1.0/directoryRoles", axum::routing::get(directory_roles))
        .route(
            "/v1.0/directoryRoles/{role}/members/$ref",
            axum::routing::post(add_role_member),
        )
        .route(
            "/v1.0/directoryRoles/{role}/members/{member}/$ref",
            axum::routing::delete(remove_role_member),
        )
        .route(
            "/v1.0/users/{id}/assignLicense",
            axum::routing::post(assign_license),
        )
        .with_state(graph);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}")
}

fn connection(base: &str) -> TenantConnectionInput {
    TenantConnectionInput {
        name: "Fabrikam".into(),
        remote_tenant: "fabrikam.test".into(),
        client_id: "00000000-0000-0000-0000-00000000c0de".into(),
        client_secret: SECRET.to_owned().into(),
        authority_url: Some(base.to_owned()),
        graph_url: Some(base.to_owned()),
        ca_pem: None,
    }
}

async fn a_throttled_remote_is_retried_by_the_engine_and_a_refusal_fails_the_step_by_name(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let graph = FakeGraph::default();
    let base = start(graph.clone()).await;
    let definition = r#"{"name": "Remote lock", "trigger": {"kind": "manual"},
        "target": {"tenant": "fabrikam"},
        "steps": [{"action": "disableAccount"}, {"action": "revokeSessions"}]}"#;

    // Before the connection exists the workflow is refused, naming the field.
    let refused = h
        .directory
        .save_workflow(&op, h.tenant(), definition)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with("target.tenant"),
        "{refused}"
    );
    for (bad, field) in [
        (
            TenantConnectionInput {
                graph_url: Some("ftp://graph.example".into()),
                ..connection(&base)
            },
            "graphUrl",
        ),
        (
            TenantConnectionInput {
                authority_url: Some("http://login.example".into()),
                ..connection(&base)
            },
            "authority",
        ),
        (
            TenantConnectionInput {
                name: "no spaces".into(),
                ..connection(&base)
            },
            "name",
        ),
    ] {
        let e = h
            .directory
            .save_tenant_connection(&op, h.tenant(), bad)
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with(field), "{e}");
    }
    h.directory
        .save_tenant_connection(&op, h.tenant(), connection(&base))
        .await
        .unwrap();
    let rows = h.raw_rows("workflow_tenant_connections").await;
    assert!(
        rows.contains("fabrikam.test") && !rows.contains(SECRET),
        "{rows}"
    );
    let audit = h.raw_rows("audit_events").await;
    assert!(!audit.contains(SECRET));
    // Only manual and hire/leave-date triggers are available against a connected tenant yet.
    let timed = definition.replace(
        r#"{"kind": "manual"}"#,
        r#"{"kind": "schedule", "schedule": "0 9 * * *"}"#,
    );
    let e = h
        .directory
        .save_workflow(&op, h.tenant(), &timed)
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("trigger"), "{e}");
    h.directory
        .save_workflow(&op, h.tenant(), definition)
        .await
        .unwrap();

    let engine = Engine::new(h.directory.clone());
    let ola = UserRef::Upn(Upn::parse("ola@fabrikam.test").unwrap());
    assert_eq!(
        engine
            .run_manually(h.tenant(), "Remote lock", &[ola], false)
            .await
            .unwrap(),
        1
    );
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(
        run.user_id.to_string(),
        REMOTE_ID,
        "the run names the remote user"
    );

    // 429: one request, then the engine's backoff (nothing before it).
    graph.reads.lock().unwrap().push_back(429);
    graph.updates.lock().unwrap().push_back(403);
    assert_eq!(engine.run_due_steps().await.unwrap(), 1);
    assert_eq!(
        engine.run_due_steps().await.unwrap(),
        0,
        "not before the backoff"
    );
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(run.steps[0].status, StepStatus::Pending);
    assert!(run.steps[0].error.as_deref().unwrap().contains("429"));
    // Retry-After: 120 is honoured over the 30 s backoff.
    h.clock.advance(Duration::seconds(31));
    assert_eq!(
        engine.run_due_steps().await.unwrap(),
        0,
        "not before Retry-After"
    );
    h.clock.advance(Duration::seconds(90));

    // 403: the step fails with Graph's code and message, the run stops.
    engine.run_until_idle().await.unwrap();
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[0].status, StepStatus::Failed);
    assert_eq!(run.steps[0].attempts, 2);
    let error = run.steps[0].error.as_deref().unwrap();
    assert!(
        error.contains("Fabrikam")
            && error.contains("Authorization_RequestDenied")
            && error.contains("Insufficient privileges"),
        "{error}"
    );
    assert!(!error.contains(SECRET));
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    let asked = graph.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            "GET user",
            "GET user",
            "GET user",
            r#"PATCH user {"accountEnabled":false}"#
        ],
        "resolve, the throttled read, the read, one update"
    );
}

const SKU: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";

async fn joiner_actions_reach_the_connected_tenant_through_graph_and_the_others_are_refused_at_save(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let graph = FakeGraph::default();
    let base = start(graph.clone()).await;
    h.directory
        .save_tenant_connection(&op, h.tenant(), connection(&base))
        .await
        .unwrap();
    // E-mail needs this directory's users: refused against a connected tenant, by step.
    for step in [
        r#"{"action": "sendEmail", "to": "manager", "subject": "s", "body": "b"}"#,
        r#"{"action": "notifyManager"}"#,
    ] {
        let raw = format!(
            r#"{{"name": "Remote joiner", "trigger": {{"kind": "manual"}},
                "target": {{"tenant": "fabrikam"}}, "steps": [{{"action": "enableAccount"}}, {step}]}}"#
        );
        let e = h
            .directory
            .save_workflow(&op, h.tenant(), &raw)
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("steps[1].action")
                && e.to_string()
                    .contains("not available against a connected tenant"),
            "{e}"
        );
    }
    let definition = format!(
        r#"{{"name": "Remote joiner", "trigger": {{"kind": "manual"}},
            "target": {{"tenant": "fabrikam"}},
            "steps": [
                {{"action": "enableAccount"}},
                {{"action": "setAttributes", "attributes": {{"department": "Ops", "jobTitle": null}}}},
                {{"action": "assignLicense", "sku": "{SKU}"}},
                {{"action": "removeLicense", "sku": "enterprisepack", "onFailure": "continue"}},
                {{"action": "assignLicense", "sku": "NOSUCHSKU", "onFailure": "continue"}},
                {{"action": "addRole", "role": "User Administrator"}},
                {{"action": "removeRole", "role": "729827e3-9c14-49f7-bb1b-9608f156bbb8"}}
            ]}}"#
    );
    h.directory
        .save_workflow(&op, h.tenant(), &definition)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    let ola = UserRef::Upn(Upn::parse("ola@fabrikam.test").unwrap());
    engine
        .run_manually(h.tenant(), "Remote joiner", &[ola], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_ne!(run.status, RunStatus::Running, "{run:?}");
    for step in &run.steps[..4] {
        assert_eq!(step.status, StepStatus::Succeeded, "{step:?}");
    }
    assert!(
        run.steps[3]
            .output
            .as_deref()
            .unwrap()
            .contains("does not hold")
    );
    // A SKU the tenant does not have fails its step for good, naming it.
    assert_eq!(run.steps[4].status, StepStatus::Failed);
    assert_eq!(run.steps[4].attempts, 1);
    let error = run.steps[4].error.as_deref().unwrap();
    assert!(error.contains("no SKU 'NOSUCHSKU'"), "{error}");
    // Roles by their activated role's object id; one not held is done.
    assert_eq!(
        run.steps[5].status,
        StepStatus::Succeeded,
        "{:?}",
        run.steps[5]
    );
    assert_eq!(
        run.steps[6].status,
        StepStatus::Succeeded,
        "{:?}",
        run.steps[6]
    );
    assert!(
        run.steps[6]
            .output
            .as_deref()
            .unwrap()
            .contains("does not hold")
    );
    assert_eq!(
        run.steps[0].output.as_deref(),
        Some("the account was already enabled")
    );
    let asked = graph.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            "GET user".to_owned(),
            "GET user".to_owned(),
            // Read first: jobTitle is already empty, only the department is sent.
            "GET user".to_owned(),
            r#"PATCH user {"department":"Ops"}"#.to_owned(),
            "GET user".to_owned(),
            format!(
                r#"POST assignLicense {{"addLicenses":[{{"disabledPlans":[],"skuId":"{SKU}"}}],"removeLicenses":[]}}"#
            ),
            // The fake never shows the licence held, so the removal by part number reads
            // and finds nothing to do.
            "GET user".to_owned(),
            format!(r#"POST role-object-1 member "{base}/v1.0/directoryObjects/{REMOTE_ID}""#),
            format!("DELETE role-object-2 member {REMOTE_ID}"),
        ],
        "resolve; enable read first (already enabled: no PATCH); read, one PATCH of what differs; licence read, then assigned; \
         the part number resolved through subscribedSkus, then read"
    );
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

both_backends!(
    a_throttled_remote_is_retried_by_the_engine_and_a_refusal_fails_the_step_by_name,
    joiner_actions_reach_the_connected_tenant_through_graph_and_the_others_are_refused_at_save,
);
