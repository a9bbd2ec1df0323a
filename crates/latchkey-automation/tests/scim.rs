//! SCIM app connections and the SCIM connector's failure paths, on SQLite and PostgreSQL:
//! connections saved with the token sealed (bad fields refused by name), listed by pages,
//! replaced and deleted, audited without the token; a workflow naming a missing connection
//! refused at save; and against a scripted SCIM service on a loopback port: a 429 left to the
//! engine's backoff no sooner than its Retry-After, a 409 on create looked up and brought up
//! to date with PUT when the service has no PATCH, and a 400's `scimType` and `detail` on the
//! failed step with the token cut out. The happy path against a real SCIM server is
//! `tests/compat/test_workflow_scim.py`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::directory::{NewUser, PasswordChoice, ScimConnectionInput, UserRef};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::scim_connection::ScimMapping;
use latchkey_core::user::UserProfile;
use latchkey_core::workflow_store::{RunStatus, StepStatus};
use latchkey_testkit::{Backend, Harness};
use serde_json::{Value, json};

const TOKEN: &str = "scim-bearer-token-PLUGH";

/// One request the service saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    authorization: String,
    content_type: String,
    body: Value,
}

/// A scripted answer: status, `Retry-After`, body.
type Answer = (u16, Option<&'static str>, Value);

/// Answers requests with the scripted (status, headers, body) in turn, and records them.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn then(&self, status: u16, retry_after: Option<&'static str>, body: Value) -> &Self {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, retry_after, body));
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn start(script: Script) -> String {
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let script = script.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                script.seen.lock().unwrap().push(Seen {
                    method,
                    uri: uri.to_string(),
                    authorization: header("authorization"),
                    content_type: header("content-type"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let (status, retry_after, body) = script
                    .answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((500, None, json!({"detail": "unscripted request"})));
                let mut response: Response = (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/scim+json")],
                    body.to_string(),
                )
                    .into_response();
                if let Some(after) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", after.parse().unwrap());
                }
                response
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/scim/v2")
}

fn input(name: &str, base: &str) -> ScimConnectionInput {
    ScimConnectionInput {
        name: name.into(),
        base_url: base.into(),
        token: TOKEN.to_owned().into(),
        mapping: ScimMapping::default(),
    }
}

fn list(resources: &Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": resources.as_array().map_or(0, Vec::len),
        "Resources": resources,
    })
}

async fn add_user(h: &Harness, upn: &str) -> latchkey_core::user::User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Ola Nordmann").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    given_name: Some("Ola".into()),
                    ..UserProfile::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: true,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

fn query_filter(uri: &str) -> String {
    reqwest::Url::parse(&format!("http://stand-in{uri}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "filter")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn connections_are_saved_sealed_listed_by_page_replaced_and_deleted_by_name(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let definition = r#"{"name": "Provision", "trigger": {"kind": "manual"},
        "steps": [{"action": "revokeSessions"}, {"action": "scimProvision", "connection": "Expenses"}]}"#;
    let refused = h
        .directory
        .save_workflow(&op, h.tenant(), definition)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with("steps[1].connection")
            && refused.to_string().contains("Expenses"),
        "{refused}"
    );
    for (bad, field) in [
        (input("Expenses", "http://scim.example/v2"), "baseUrl"),
        (input("Expenses", "scim.example/v2"), "baseUrl"),
        (input("no spaces", "https://scim.example/v2"), "name"),
        (
            ScimConnectionInput {
                token: " ".to_owned().into(),
                ..input("Expenses", "https://scim.example/v2")
            },
            "token",
        ),
    ] {
        let e = h
            .directory
            .save_scim_connection(&op, h.tenant(), bad)
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }
    assert!(
        !h.raw_rows("workflow_scim_connections")
            .await
            .contains("scim.example"),
        "nothing half-written"
    );
    for name in ["Expenses", "wiki", "crm"] {
        h.directory
            .save_scim_connection(
                &op,
                h.tenant(),
                input(name, &format!("https://{name}.example/scim/v2/")),
            )
            .await
            .unwrap();
    }
    // Same name in another case: replaced, not added.
    h.directory
        .save_scim_connection(
            &op,
            h.tenant(),
            ScimConnectionInput {
                mapping: ScimMapping::with_overrides(["title="]).unwrap(),
                ..input("EXPENSES", "https://expenses.example/scim/v2")
            },
        )
        .await
        .unwrap();
    let rows = h.raw_rows("workflow_scim_connections").await;
    assert!(
        rows.contains("expenses.example") && !rows.contains(TOKEN),
        "{rows}"
    );
    assert!(!h.raw_rows("audit_events").await.contains(TOKEN));
    let first = h
        .directory
        .list_scim_connections(&op, h.tenant(), None, 2)
        .await
        .unwrap();
    let names: Vec<_> = first.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["crm", "EXPENSES"]);
    assert_eq!(first[1].base_url, "https://expenses.example/scim/v2");
    assert_eq!(
        first[1]
            .mapping
            .source(latchkey_core::scim_connection::ScimTarget::Title),
        None
    );
    let rest = h
        .directory
        .list_scim_connections(&op, h.tenant(), Some("EXPENSES"), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["wiki"]
    );
    // The step's connection name ignores case too.
    h.directory
        .save_workflow(&op, h.tenant(), definition)
        .await
        .unwrap();
    h.directory
        .delete_scim_connection(&op, h.tenant(), "Wiki")
        .await
        .unwrap();
    let e = h
        .directory
        .delete_scim_connection(&op, h.tenant(), "wiki")
        .await
        .unwrap_err();
    assert!(
        matches!(e, latchkey_core::error::DirectoryError::NotFound { .. }),
        "{e}"
    );
    let audit = h.raw_rows("audit_events").await;
    assert!(audit.contains("Delete workflow SCIM connection"));
}

async fn a_throttled_scim_app_is_retried_after_retry_after_and_a_409_on_create_is_brought_up_to_date(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let script = Script::default();
    let base = start(script.clone()).await;
    h.directory
        .save_scim_connection(&op, h.tenant(), input("expenses", &base))
        .await
        .unwrap();
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Provision", "trigger": {"kind": "manual"},
                "steps": [{"action": "scimProvision", "connection": "expenses"}]}"#,
        )
        .await
        .unwrap();
    let ola = add_user(&h, "ola@contoso.test").await;
    let remote = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u 1", "userName": "ola@contoso.test", "displayName": "Someone else",
        "active": true, "meta": {"version": "W/\"1\""},
    });
    script
        .then(
            429,
            Some("120"),
            json!({"status": "429", "detail": "slow down"}),
        )
        .then(200, None, list(&json!([])))
        .then(200, None, list(&json!([])))
        .then(
            409,
            None,
            json!({"status": "409", "scimType": "uniqueness", "detail": "userName is taken"}),
        )
        .then(200, None, list(&json!([])))
        .then(200, None, list(&json!([remote])))
        .then(200, None, json!({"patch": {"supported": false}}))
        .then(200, None, remote.clone());
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "Provision", &[UserRef::Id(ola.id)], false)
        .await
        .unwrap();
    assert_eq!(engine.run_due_steps().await.unwrap(), 1);
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(run.steps[0].status, StepStatus::Pending);
    let error = run.steps[0].error.as_deref().unwrap();
    assert!(
        error.contains("'expenses' answered 429: slow down"),
        "{error}"
    );
    h.clock.advance(Duration::seconds(31));
    assert_eq!(
        engine.run_due_steps().await.unwrap(),
        0,
        "not before Retry-After"
    );
    h.clock.advance(Duration::seconds(90));
    engine.run_until_idle().await.unwrap();
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let output = run.steps[0].output.as_deref().unwrap();
    assert_eq!(
        output,
        "updated externalId, displayName, name.givenName of ola@contoso.test in the SCIM app \
         'expenses'"
    );

    let seen = script.seen();
    let asked: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.uri.split('?').next().unwrap()))
        .collect();
    assert_eq!(
        asked,
        [
            "GET /scim/v2/Users",
            "GET /scim/v2/Users",
            "GET /scim/v2/Users",
            "POST /scim/v2/Users",
            "GET /scim/v2/Users",
            "GET /scim/v2/Users",
            "GET /scim/v2/ServiceProviderConfig",
            "PUT /scim/v2/Users/u%201",
        ]
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization == format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        query_filter(&seen[0].uri),
        format!("externalId eq \"{}\"", ola.id)
    );
    assert_eq!(
        query_filter(&seen[2].uri),
        "userName eq \"ola@contoso.test\""
    );
    assert_eq!(seen[3].content_type, "application/scim+json");
    assert_eq!(
        seen[3].body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    assert_eq!(seen[3].body["userName"], "ola@contoso.test");
    assert_eq!(seen[3].body["externalId"], ola.id.to_string());
    // The PUT is the app's user with the mapped values over it, without its meta.
    let put = &seen[7].body;
    assert_eq!(seen[7].content_type, "application/scim+json");
    assert_eq!(put["id"], "u 1");
    assert_eq!(put["displayName"], "Ola Nordmann");
    assert_eq!(put["name"]["givenName"], "Ola");
    assert_eq!(put["externalId"], ola.id.to_string());
    assert!(put.get("meta").is_none(), "{put}");
}

async fn a_refused_scim_change_fails_the_step_with_scim_type_and_detail_and_no_token(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let script = Script::default();
    let base = start(script.clone()).await;
    h.directory
        .save_scim_connection(&op, h.tenant(), input("expenses", &base))
        .await
        .unwrap();
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Leave", "trigger": {"kind": "manual"},
                "steps": [{"action": "scimDeprovision", "connection": "expenses"},
                          {"action": "revokeSessions"}]}"#,
        )
        .await
        .unwrap();
    let ola = add_user(&h, "ola@contoso.test").await;
    script
        .then(
            200,
            None,
            list(&json!([{"id": "u1", "userName": "ola@contoso.test", "active": true}])),
        )
        .then(200, None, json!({"patch": {"supported": true}}))
        .then(
            400,
            None,
            json!({"status": "400", "scimType": "mutability",
                   "detail": format!("active is read-only for token {TOKEN}")}),
        );
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "Leave", &[UserRef::Id(ola.id)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let run = &h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[0].status, StepStatus::Failed);
    assert_eq!(run.steps[0].attempts, 1, "a 400 is not retried");
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    let error = run.steps[0].error.as_deref().unwrap();
    assert!(
        error.contains("400 (mutability): active is read-only"),
        "{error}"
    );
    assert!(!error.contains(TOKEN), "{error}");
    let seen = script.seen();
    assert_eq!(seen[2].method, Method::PATCH);
    assert_eq!(
        seen[2].body,
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}],
        })
    );
    assert!(!h.raw_rows("workflow_steps").await.contains(TOKEN));
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
    connections_are_saved_sealed_listed_by_page_replaced_and_deleted_by_name,
    a_throttled_scim_app_is_retried_after_retry_after_and_a_409_on_create_is_brought_up_to_date,
    a_refused_scim_change_fails_the_step_with_scim_type_and_detail_and_no_token,
);
