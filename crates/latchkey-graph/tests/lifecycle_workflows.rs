//! Lifecycle workflows over Graph v1.0's `identityGovernance/lifecycleWorkflows`, in process,
//! with real tokens and a real store, on SQLite and on PostgreSQL: create, list a page at a
//! time, get, `PATCH`, delete, `activate` for users and the run with its user and task
//! processing results once the engine has processed it; and the refusals: 403 for a token
//! that may only read or may not read at all, 400 naming the field for bad input, and the
//! Lifecycle Workflows Administrator's delegated path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice, UserRef};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::User;
use latchkey_graph::http::{GraphState, router};
use latchkey_graph::throttle::Throttle;
use latchkey_identity::tokens::{GRAPH_RESOURCE, TokenRequest};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use serde_json::{Value, json};
use tower::ServiceExt;

const PUBLIC: &str = "https://localhost:8443";
const WORKFLOWS: &str = "/v1.0/identityGovernance/lifecycleWorkflows/workflows";
const READ_WRITE: &str = "LifecycleWorkflows.ReadWrite.All";
const READ: &str = "LifecycleWorkflows.Read.All";

const REVOKE_REFRESH_TOKENS: &str = "509589a4-0466-4471-829e-49c5e502bdee";
const DISABLE_ACCOUNT: &str = "1dfdfcc7-52fa-4c2e-bf3a-e3919cc12950";
const REMOVE_ALL_LICENSES: &str = "8fa97d28-3e52-4985-b3a9-a1126f9b8b4e";
const DELETE_USER: &str = "8d18588d-9ad3-4c0f-99d0-ec215f0e3dff";
const ADD_USER_TO_GROUPS: &str = "22085229-5809-45e8-97fd-270d28d66910";

struct Api {
    h: Harness,
    router: Router,
    tokens: TokenService,
}

async fn api(backend: Backend) -> Api {
    let h = Harness::new(backend).await;
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let tokens = TokenService::new(keys, h.clock.clone(), Duration::hours(1));
    let router = router(GraphState {
        directory: h.directory.clone(),
        tokens: tokens.clone(),
        public_url: Arc::from(PUBLIC),
        throttle: Throttle::unlimited(),
    });
    Api { h, router, tokens }
}

impl Api {
    async fn app_token(&self, permissions: &[&str]) -> String {
        let created = self
            .h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: "Automation".into(),
                    application_permissions: permissions.iter().map(|p| (*p).into()).collect(),
                    grant_admin_consent: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let tenant = self.h.tenant().to_string();
        self.tokens
            .issue(TokenRequest {
                audience: GRAPH_RESOURCE.into(),
                issuer: format!("{PUBLIC}/{tenant}/v2.0"),
                tenant_id: tenant,
                object_id: created.app.object_id.to_string(),
                client_id: created.app.app_id.to_string(),
                roles: created.app.granted_roles().to_vec(),
                scopes: None,
                app_only: true,
            })
            .await
            .unwrap()
            .token
    }

    async fn user_token(&self, user: &User, scopes: &str) -> String {
        let tenant = self.h.tenant().to_string();
        self.tokens
            .issue(TokenRequest {
                audience: GRAPH_RESOURCE.into(),
                issuer: format!("{PUBLIC}/{tenant}/v2.0"),
                tenant_id: tenant,
                object_id: user.id.to_string(),
                client_id: "22222222-2222-2222-2222-222222222222".into(),
                roles: vec![],
                scopes: Some(scopes.into()),
                app_only: false,
            })
            .await
            .unwrap()
            .token
    }

    async fn user(&self, upn: &str, roles: Vec<DirectoryRole>) -> User {
        self.h
            .directory
            .create_user(
                &Harness::operator(),
                self.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse("Someone").unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: Default::default(),
                    password_policies: Default::default(),
                    password: PasswordChoice::Generate,
                    force_change_next_sign_in: false,
                    roles,
                },
            )
            .await
            .unwrap()
            .user
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let uri = uri.strip_prefix(PUBLIC).unwrap_or(uri);
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }
}

/// A leaver workflow as Microsoft's tutorial writes one: on demand until scheduling is
/// turned on, seven days after the leave date, for Marketing, three tasks in sequence.
fn leaver(name: &str) -> Value {
    json!({
        "category": "leaver",
        "displayName": name,
        "description": "Configure offboarding tasks for employees after their last day of work",
        "isEnabled": true,
        "isSchedulingEnabled": false,
        "executionConditions": {
            "@odata.type": "#microsoft.graph.identityGovernance.triggerAndScopeBasedConditions",
            "scope": {
                "@odata.type": "#microsoft.graph.identityGovernance.ruleBasedSubjectSet",
                "rule": "department eq 'Marketing'"
            },
            "trigger": {
                "@odata.type": "#microsoft.graph.identityGovernance.timeBasedAttributeTrigger",
                "timeBasedAttribute": "employeeLeaveDateTime",
                "offsetInDays": 7
            }
        },
        "tasks": [
            {
                "continueOnError": false,
                "displayName": "Delete user account",
                "executionSequence": 3,
                "isEnabled": true,
                "taskDefinitionId": DELETE_USER,
                "arguments": []
            },
            {
                "continueOnError": true,
                "displayName": "Remove all licenses for user",
                "executionSequence": 1,
                "isEnabled": true,
                "taskDefinitionId": REMOVE_ALL_LICENSES,
                "arguments": []
            },
            {
                "continueOnError": false,
                "displayName": "Revoke all refresh tokens for user",
                "executionSequence": 2,
                "isEnabled": true,
                "taskDefinitionId": REVOKE_REFRESH_TOKENS,
                "arguments": []
            }
        ]
    })
}

/// A real-time termination: on demand only, revoke then disable.
fn on_demand(name: &str) -> Value {
    json!({
        "category": "leaver",
        "displayName": name,
        "executionConditions": {
            "@odata.type": "#microsoft.graph.identityGovernance.onDemandExecutionOnly"
        },
        "tasks": [
            {"taskDefinitionId": REVOKE_REFRESH_TOKENS, "arguments": []},
            {"taskDefinitionId": DISABLE_ACCOUNT, "arguments": [
                {"name": "disableOnPremisesAccount", "value": "false"}
            ]}
        ]
    })
}

fn names(body: &Value) -> Vec<&str> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["displayName"].as_str().unwrap())
        .collect()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

async fn a_workflow_is_created_listed_a_page_at_a_time_read_changed_and_deleted(backend: Backend) {
    let api = api(backend).await;
    let rw = api.app_token(&[READ_WRITE]).await;

    let (status, created) = api
        .send("POST", WORKFLOWS, &rw, Some(&leaver("Post-offboarding")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["category"], "leaver");
    assert_eq!(created["displayName"], "Post-offboarding");
    assert_eq!(created["isEnabled"], true);
    assert_eq!(created["isSchedulingEnabled"], false);
    assert_eq!(created["version"], 1);
    let conditions = &created["executionConditions"];
    assert_eq!(
        conditions["@odata.type"],
        "#microsoft.graph.identityGovernance.triggerAndScopeBasedConditions"
    );
    assert_eq!(conditions["scope"]["rule"], "department eq 'Marketing'");
    assert_eq!(
        conditions["trigger"]["timeBasedAttribute"],
        "employeeLeaveDateTime"
    );
    assert_eq!(conditions["trigger"]["offsetInDays"], 7);
    // The tasks in their execution sequence, each with its continueOnError.
    let tasks = created["tasks"].as_array().unwrap();
    let ids: Vec<&str> = tasks
        .iter()
        .map(|t| t["taskDefinitionId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [REMOVE_ALL_LICENSES, REVOKE_REFRESH_TOKENS, DELETE_USER]
    );
    assert_eq!(tasks[0]["continueOnError"], true);
    assert_eq!(tasks[2]["continueOnError"], false);
    assert_eq!(tasks[2]["executionSequence"], 3);
    let id = created["id"].as_str().unwrap().to_owned();

    for name in ["Another leaver", "Zeta leaver"] {
        let (status, body) = api.send("POST", WORKFLOWS, &rw, Some(&leaver(name))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // A name already in use is another workflow's: refused, naming displayName.
    let (status, body) = api
        .send("POST", WORKFLOWS, &rw, Some(&leaver("Zeta leaver")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("'displayName'"), "{body}");

    let (status, first) = api
        .send("GET", &format!("{WORKFLOWS}?$top=2"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(names(&first), ["Another leaver", "Post-offboarding"]);
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{PUBLIC}{WORKFLOWS}?")), "{next}");
    let (status, second) = api.send("GET", next, &rw, None).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(names(&second), ["Zeta leaver"]);
    assert!(second.get("@odata.nextLink").is_none());

    let (status, one) = api
        .send("GET", &format!("{WORKFLOWS}/{id}"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["displayName"], "Post-offboarding");
    assert_eq!(one["tasks"], created["tasks"]);

    let (status, body) = api
        .send(
            "PATCH",
            &format!("{WORKFLOWS}/{id}"),
            &rw,
            Some(&json!({
                "displayName": "Offboarding, a week after",
                "description": "Now scheduled",
                "isSchedulingEnabled": true
            })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, one) = api
        .send("GET", &format!("{WORKFLOWS}/{id}"), &rw, None)
        .await;
    assert_eq!(one["displayName"], "Offboarding, a week after");
    assert_eq!(one["description"], "Now scheduled");
    assert_eq!(one["isSchedulingEnabled"], true);
    assert_eq!(one["version"], 2);
    assert_eq!(one["tasks"].as_array().unwrap().len(), 3);

    let (status, _) = api
        .send("DELETE", &format!("{WORKFLOWS}/{id}"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .send("GET", &format!("{WORKFLOWS}/{id}"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = api.send("GET", WORKFLOWS, &rw, None).await;
    assert_eq!(names(&all), ["Another leaver", "Zeta leaver"]);
}

async fn activating_a_workflow_runs_it_for_each_user_and_the_runs_show_their_task_results(
    backend: Backend,
) {
    let api = api(backend).await;
    let rw = api.app_token(&[READ_WRITE]).await;
    let (status, created) = api
        .send(
            "POST",
            WORKFLOWS,
            &rw,
            Some(&on_demand("Real-time termination")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["executionConditions"]["@odata.type"],
        "#microsoft.graph.identityGovernance.onDemandExecutionOnly"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let users = [
        api.user("ann@contoso.test", vec![]).await,
        api.user("bob@contoso.test", vec![]).await,
        api.user("cyd@contoso.test", vec![]).await,
    ];

    let subjects: Vec<Value> = users.iter().map(|u| json!({"id": u.id})).collect();
    let (status, body) = api
        .send(
            "POST",
            &format!("{WORKFLOWS}/{id}/microsoft.graph.identityGovernance.activate"),
            &rw,
            Some(&json!({ "subjects": subjects })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, runs) = api
        .send("GET", &format!("{WORKFLOWS}/{id}/runs"), &rw, None)
        .await;
    let runs = runs["value"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["processingStatus"] == "queued"));

    Engine::new(api.h.directory.clone())
        .run_until_idle()
        .await
        .unwrap();

    // Paged two at a time; every run completed on demand with both tasks.
    let (status, first) = api
        .send("GET", &format!("{WORKFLOWS}/{id}/runs?$top=2"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let next = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let (_, second) = api.send("GET", &next, &rw, None).await;
    assert!(second.get("@odata.nextLink").is_none());
    let mut all: Vec<Value> = first["value"].as_array().unwrap().clone();
    all.extend(second["value"].as_array().unwrap().iter().cloned());
    assert_eq!(all.len(), 3);
    let mut run_ids: Vec<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    run_ids.sort_unstable();
    run_ids.dedup();
    assert_eq!(run_ids.len(), 3, "a run was listed twice");
    for run in &all {
        assert_eq!(run["processingStatus"], "completed", "{run}");
        assert_eq!(run["workflowExecutionType"], "onDemand");
        assert_eq!(run["totalTasksCounts"], 2);
        assert_eq!(run["failedTasksCount"], 0);
        assert_eq!(run["successfulUsersCount"], 1);
        assert!(run["completedDateTime"].is_string());
    }

    let run = all[0]["id"].as_str().unwrap();
    let (status, one) = api
        .send("GET", &format!("{WORKFLOWS}/{id}/runs/{run}"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], run);

    let (status, results) = api
        .send(
            "GET",
            &format!("{WORKFLOWS}/{id}/runs/{run}/userProcessingResults"),
            &rw,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{results}");
    let result = &results["value"][0];
    assert_eq!(result["processingStatus"], "completed");
    assert_eq!(result["workflowVersion"], 1);
    let subject = result["subject"]["id"].as_str().unwrap();
    assert!(users.iter().any(|u| u.id.to_string() == subject));

    let (status, tasks) = api
        .send(
            "GET",
            &format!("{WORKFLOWS}/{id}/runs/{run}/taskProcessingResults"),
            &rw,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    let tasks = tasks["value"].as_array().unwrap();
    let done: Vec<(&str, &str)> = tasks
        .iter()
        .map(|t| {
            (
                t["task"]["taskDefinitionId"].as_str().unwrap(),
                t["processingStatus"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        done,
        [
            (REVOKE_REFRESH_TOKENS, "completed"),
            (DISABLE_ACCOUNT, "completed")
        ]
    );
    assert!(tasks.iter().all(|t| t["subject"]["id"] == subject));

    // What the tasks did, as the directory shows it: every account is disabled.
    for u in &users {
        let now = api
            .h
            .directory
            .get_user(&Harness::operator(), api.h.tenant(), &UserRef::Id(u.id))
            .await
            .unwrap();
        assert!(!now.account_enabled, "{}", u.user_principal_name);
    }

    // A run of another workflow is not this one's.
    let (_, other) = api
        .send("POST", WORKFLOWS, &rw, Some(&on_demand("Other")))
        .await;
    let other = other["id"].as_str().unwrap();
    let (status, _) = api
        .send("GET", &format!("{WORKFLOWS}/{other}/runs/{run}"), &rw, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An unknown user starts nothing and is named.
    let (status, body) = api
        .send(
            "POST",
            &format!("{WORKFLOWS}/{id}/activate"),
            &rw,
            Some(&json!({"subjects": [
                {"id": users[0].id},
                {"id": "7d2b1c1e-0000-4000-8000-000000000000"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("subjects"), "{body}");
    let (_, runs) = api
        .send("GET", &format!("{WORKFLOWS}/{id}/runs"), &rw, None)
        .await;
    assert_eq!(runs["value"].as_array().unwrap().len(), 3);
}

async fn read_all_reads_but_writes_nothing_and_no_permission_reads_nothing(backend: Backend) {
    let api = api(backend).await;
    let rw = api.app_token(&[READ_WRITE]).await;
    let read = api.app_token(&[READ]).await;
    let none = api.app_token(&["User.Read.All"]).await;
    let (_, created) = api
        .send("POST", WORKFLOWS, &rw, Some(&on_demand("Termination")))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let user = api.user("ann@contoso.test", vec![]).await;

    let (status, list) = api.send("GET", WORKFLOWS, &read, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&list), ["Termination"]);
    let (status, _) = api
        .send("GET", &format!("{WORKFLOWS}/{id}/runs"), &read, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let one = format!("{WORKFLOWS}/{id}");
    let activate = format!("{one}/microsoft.graph.identityGovernance.activate");
    let subjects = json!({"subjects": [{"id": user.id}]});
    let patch = json!({"displayName": "Renamed"});
    let create = on_demand("Another");
    for (method, uri, body) in [
        ("POST", WORKFLOWS, Some(&create)),
        ("PATCH", one.as_str(), Some(&patch)),
        ("DELETE", one.as_str(), None),
        ("POST", activate.as_str(), Some(&subjects)),
    ] {
        let (status, body) = api.send(method, uri, &read, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {body}");
        assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    }
    for uri in [WORKFLOWS, one.as_str()] {
        let (status, _) = api.send("GET", uri, &none, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
    }
    // Nothing changed.
    let (_, list) = api.send("GET", WORKFLOWS, &rw, None).await;
    assert_eq!(names(&list), ["Termination"]);
    let (_, runs) = api
        .send("GET", &format!("{WORKFLOWS}/{id}/runs"), &rw, None)
        .await;
    assert!(runs["value"].as_array().unwrap().is_empty());
}

async fn bad_input_is_refused_naming_the_field_and_nothing_is_saved(backend: Backend) {
    let api = api(backend).await;
    let rw = api.app_token(&[READ_WRITE]).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut w = leaver("Groups");
                w["tasks"][1]["taskDefinitionId"] = json!(ADD_USER_TO_GROUPS);
                w
            },
            "'tasks[1].taskDefinitionId'",
        ),
        (
            {
                let mut w = leaver("Created");
                w["executionConditions"]["trigger"]["timeBasedAttribute"] =
                    json!("createdDateTime");
                w
            },
            "'executionConditions.trigger.timeBasedAttribute'",
        ),
        (
            {
                let mut w = leaver("Far");
                w["executionConditions"]["trigger"]["offsetInDays"] = json!(999);
                w
            },
            "'executionConditions.trigger.offsetInDays'",
        ),
        (
            {
                let mut w = leaver("Shoes");
                w["executionConditions"]["scope"]["rule"] = json!("shoeSize eq 44");
                w
            },
            "'executionConditions.scope.rule'",
        ),
        (
            {
                let mut w = leaver("Nameless");
                w.as_object_mut().unwrap().remove("displayName");
                w
            },
            "'displayName'",
        ),
        (
            {
                let mut w = leaver("Custom mail");
                w["tasks"][0] = json!({
                    "taskDefinitionId": "9c0a1eaf-5bda-4392-9d9e-6e155bb57411",
                    "arguments": [{"name": "customSubject", "value": "Bye"}]
                });
                w
            },
            "'tasks[0].arguments'",
        ),
        (
            {
                let mut w = leaver("Sideways");
                w["category"] = json!("sideways");
                w
            },
            "'category'",
        ),
        (
            json!({"displayName": "Bare", "category": "joiner"}),
            "'executionConditions'",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = api.send("POST", WORKFLOWS, &rw, Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert!(message(&answer).contains(field), "{field}: {answer}");
    }
    let (_, list) = api.send("GET", WORKFLOWS, &rw, None).await;
    assert!(names(&list).is_empty());

    let (_, created) = api
        .send("POST", WORKFLOWS, &rw, Some(&leaver("Kept")))
        .await;
    let one = format!("{WORKFLOWS}/{}", created["id"].as_str().unwrap());
    let (status, body) = api
        .send("PATCH", &one, &rw, Some(&json!({"tasks": []})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("'tasks'"), "{body}");
    let (status, body) = api
        .send(
            "PATCH",
            &one,
            &rw,
            Some(&json!({"isEnabled": false, "isSchedulingEnabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("'isSchedulingEnabled'"), "{body}");
    let (status, body) = api
        .send("PATCH", &one, &rw, Some(&json!({"displayName": " "})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("'displayName'"), "{body}");
    let (_, after) = api.send("GET", &one, &rw, None).await;
    assert_eq!(after["displayName"], "Kept");
    assert_eq!(after["version"], 1);
    assert_eq!(after["isEnabled"], true);
}

async fn a_lifecycle_workflows_administrator_manages_workflows_with_a_delegated_token(
    backend: Backend,
) {
    let api = api(backend).await;
    let admin = api
        .user(
            "lcw@contoso.test",
            vec![DirectoryRole::LifecycleWorkflowsAdministrator],
        )
        .await;
    let user_admin = api
        .user("ua@contoso.test", vec![DirectoryRole::UserAdministrator])
        .await;

    let token = api.user_token(&admin, READ_WRITE).await;
    let (status, created) = api
        .send("POST", WORKFLOWS, &token, Some(&leaver("Delegated")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let one = format!("{WORKFLOWS}/{}", created["id"].as_str().unwrap());
    let (status, _) = api
        .send("PATCH", &one, &token, Some(&json!({"isEnabled": false})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = api.send("GET", &one, &token, None).await;
    assert_eq!(after["isEnabled"], false);

    // The same scope without the role: the user's roles do not allow it.
    let token = api.user_token(&user_admin, READ_WRITE).await;
    let (status, body) = api.send("GET", WORKFLOWS, &token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The role with the read scope only: reads, writes nothing.
    let token = api.user_token(&admin, READ).await;
    let (status, list) = api.send("GET", WORKFLOWS, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&list), ["Delegated"]);
    let (status, _) = api.send("DELETE", &one, &token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The role appears in Graph's directory roles with Entra's template id.
    let token = api.user_token(&admin, "Directory.Read.All").await;
    let (status, roles) = api.send("GET", "/v1.0/directoryRoles", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    assert!(
        roles["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |r| r["roleTemplateId"] == "59d46f88-662b-457b-bceb-5c3809e5908f"
                    && r["displayName"] == "Lifecycle Workflows Administrator"
            ),
        "{roles}"
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
    a_workflow_is_created_listed_a_page_at_a_time_read_changed_and_deleted,
    activating_a_workflow_runs_it_for_each_user_and_the_runs_show_their_task_results,
    read_all_reads_but_writes_nothing_and_no_permission_reads_nothing,
    bad_input_is_refused_naming_the_field_and_nothing_is_saved,
    a_lifecycle_workflows_administrator_manages_workflows_with_a_delegated_token,
);
