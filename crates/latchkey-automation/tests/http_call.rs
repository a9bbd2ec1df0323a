//! The `callHttp` step against a real HTTP receiver and OAuth token endpoint on a loopback
//! port, on SQLite and PostgreSQL, at an injected clock: headers and body rendered from the
//! user, a bearer token by client credentials, the same `Idempotency-Key` on every attempt,
//! 503 and 429 retried (429 no sooner than `Retry-After`), a 404 failing the step with its
//! status and an excerpt; the client secret sealed at save and in no table, run output or
//! error; a sealed secret copied to another token endpoint does not open; a refused client
//! fails the step; bad definitions are refused naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{User, UserProfile};
use latchkey_core::workflow_store::{RunRecord, RunStatus, StepStatus};
use latchkey_testkit::{Backend, Harness};

const SECRET: &str = "s3cr3t-Client-Value-4242";
const TOKEN: &str = "eyJ-the-access-token-9876";

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// Per path, the (status, Retry-After, body) to answer in turn (then 200).
type Script = HashMap<String, VecDeque<(u16, Option<&'static str>, String)>>;

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Script>>,
    got: Arc<Mutex<Vec<Received>>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn calls(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn api(
    State(r): State<Receiver>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    r.got.lock().unwrap().push(Received {
        method: method.to_string(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let next = r
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let (status, retry_after, body) = next.unwrap_or((200, None, String::new()));
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    if let Some(after) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(after));
    }
    response
}

/// A third party's OAuth 2.0 token endpoint: client credentials for `latchkey` / SECRET.
async fn token(State(r): State<Receiver>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    r.tokens
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).into_owned());
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_id").map(String::as_str) != Some("latchkey")
        || form.get("client_secret").map(String::as_str) != Some(SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("bad secret {}", form["client_secret"]),
            })),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600,
    }))
    .into_response()
}

async fn start_receiver(receiver: Receiver) -> u16 {
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route("/api/{*path}", axum::routing::any(api))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn add_user(h: &Harness) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse("hana@contoso.test").unwrap(),
                display_name: DisplayName::parse("Hana Hire").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    department: Some("Finance".into()),
                    ..UserProfile::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

fn auth(port: u16, secret: &str) -> String {
    format!(
        r#"{{"kind": "clientCredentials", "tokenUrl": "http://127.0.0.1:{port}/token",
            "clientId": "latchkey", "scope": "api://hr/.default", "clientSecret": "{secret}"}}"#
    )
}

async fn runs(h: &Harness) -> Vec<RunRecord> {
    h.directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 100)
        .await
        .unwrap()
}

fn invalid(e: DirectoryError) -> (String, String) {
    match e {
        DirectoryError::Invalid { property, message } => (property, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn a_call_is_rendered_authenticated_retried_on_503_and_429_and_a_404_fails_with_an_excerpt(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let receiver = Receiver::default();
    {
        let mut script = receiver.script.lock().unwrap();
        script.insert(
            "flaky".into(),
            VecDeque::from([
                (503, None, String::new()),
                (429, Some("120"), String::new()),
            ]),
        );
        script.insert(
            "gone".into(),
            VecDeque::from([(
                404,
                None,
                format!("no such employee\n(you sent token {TOKEN}, secret {SECRET})"),
            )]),
        );
    }
    let port = start_receiver(receiver.clone()).await;
    let user = add_user(&h).await;
    let definition = format!(
        r#"{{"name": "HR", "trigger": {{"kind": "manual"}}, "steps": [
            {{"action": "callHttp", "method": "POST", "url": "http://127.0.0.1:{port}/api/employees",
              "headers": {{"X-Employee": "{{{{ user.userPrincipalName }}}}"}},
              "body": "{{\"name\": \"{{{{ user.displayName }}}}\", \"department\": \"{{{{ user.department }}}}\", \"run\": \"{{{{ run.id }}}}\"}}",
              "auth": {auth}}},
            {{"action": "callHttp", "method": "PATCH", "url": "http://127.0.0.1:{port}/api/flaky",
              "body": "{{}}", "headers": {{"Content-Type": "application/merge-patch+json"}}}},
            {{"action": "callHttp", "method": "DELETE", "url": "http://127.0.0.1:{port}/api/gone",
              "auth": {auth}}},
            {{"action": "revokeSessions"}}]}}"#,
        auth = auth(port, SECRET)
    );
    let saved = h
        .directory
        .save_workflow(&Harness::operator(), h.tenant(), &definition)
        .await
        .unwrap();
    // Saved sealed: the definition as read back has no secret in clear.
    let shown = serde_json::to_string(&saved.workflow.definition).unwrap();
    assert!(shown.contains("\"sealed\""), "{shown}");
    assert!(!shown.contains(SECRET));
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "HR", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    let run_id = runs(&h).await[0].id;

    // The first call succeeds; the PATCH answers 503 and waits its backoff.
    engine.run_until_idle().await.unwrap();
    let posted = receiver.calls("employees");
    assert_eq!(posted.len(), 1);
    let post = &posted[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(post.headers["x-employee"], "hana@contoso.test");
    assert_eq!(post.headers["content-type"], "application/json");
    assert_eq!(post.headers["idempotency-key"], format!("{run_id}:0"));
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "Hana Hire", "department": "Finance", "run": run_id.to_string()})
    );
    let token_request = receiver.tokens.lock().unwrap()[0].clone();
    assert!(token_request.contains("grant_type=client_credentials"));
    assert!(
        token_request.contains("scope=api%3A%2F%2Fhr%2F.default"),
        "{token_request}"
    );
    assert_eq!(receiver.calls("flaky").len(), 1);

    // 30 s later: 429 with Retry-After 120, so not a minute later, but two.
    h.clock.advance(Duration::seconds(31));
    engine.run_until_idle().await.unwrap();
    assert_eq!(receiver.calls("flaky").len(), 2);
    h.clock.advance(Duration::seconds(61));
    engine.run_until_idle().await.unwrap();
    assert_eq!(receiver.calls("flaky").len(), 2, "Retry-After honoured");
    h.clock.advance(Duration::seconds(60));
    engine.run_until_idle().await.unwrap();
    let flaky = receiver.calls("flaky");
    assert_eq!(flaky.len(), 3);
    assert!(
        flaky
            .iter()
            .all(|r| r.headers["idempotency-key"] == format!("{run_id}:1"))
    );
    assert!(flaky.iter().all(|r| r.method == "PATCH"));
    assert_eq!(
        flaky[0].headers["content-type"],
        "application/merge-patch+json"
    );
    assert!(!flaky[0].headers.contains_key("authorization"));

    // The DELETE's 404 fails the step (not retried) and the run stops.
    assert_eq!(receiver.calls("gone").len(), 1);
    let run = runs(&h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.steps[0].status, StepStatus::Succeeded);
    assert_eq!(run.steps[1].status, StepStatus::Succeeded);
    assert_eq!(run.steps[1].attempts, 3);
    assert_eq!(run.steps[2].status, StepStatus::Failed);
    assert_eq!(run.steps[2].attempts, 1);
    assert_eq!(run.steps[3].status, StepStatus::Skipped);
    let error = run.steps[2].error.clone().unwrap();
    assert!(error.contains("DELETE http://127.0.0.1"), "{error}");
    assert!(error.contains("404"), "{error}");
    assert!(error.contains("no such employee"), "{error}");
    assert!(error.contains("[masked]"), "{error}");

    // The secret and the token are in no run output or error, and in no table.
    let history = format!("{run:?}");
    assert!(
        !history.contains(SECRET) && !history.contains(TOKEN),
        "{history}"
    );
    for table in [
        "workflow_versions",
        "workflows",
        "workflow_steps",
        "audit_events",
    ] {
        let rows = h.raw_rows(table).await;
        assert!(!rows.contains(SECRET), "{table}");
        assert!(!rows.contains(TOKEN), "{table}");
    }
}

async fn a_sealed_secret_copied_elsewhere_does_not_open_and_a_refused_client_fails_the_step(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let receiver = Receiver::default();
    let port = start_receiver(receiver.clone()).await;
    let user = add_user(&h).await;
    let op = Harness::operator();
    let saved = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            &format!(
                r#"{{"name": "Good", "trigger": {{"kind": "manual"}}, "steps": [
                    {{"action": "callHttp", "method": "GET", "url": "http://127.0.0.1:{port}/api/x",
                      "auth": {}}}]}}"#,
                auth(port, SECRET)
            ),
        )
        .await
        .unwrap();
    // Someone copies the sealed secret into a step whose token URL is theirs.
    let mut copied = saved.workflow.definition.clone();
    copied.name = "Copied".into();
    let copied = serde_json::to_string(&copied).unwrap().replace(
        &format!("127.0.0.1:{port}/token"),
        &format!("localhost:{port}/token"),
    );
    h.directory
        .save_workflow(&op, h.tenant(), &copied)
        .await
        .unwrap();
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            &format!(
                r#"{{"name": "Wrong", "trigger": {{"kind": "manual"}}, "steps": [
                    {{"action": "callHttp", "method": "GET", "url": "http://127.0.0.1:{port}/api/x",
                      "auth": {}}}]}}"#,
                auth(port, "not-the-secret")
            ),
        )
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    for name in ["Copied", "Wrong"] {
        engine
            .run_manually(h.tenant(), name, &[UserRef::Id(user.id)], false)
            .await
            .unwrap();
    }
    engine.run_until_idle().await.unwrap();
    let runs = runs(&h).await;
    let error = |name: &str| {
        let run = runs.iter().find(|r| r.workflow_name == name).unwrap();
        assert_eq!(run.status, RunStatus::Failed, "{run:?}");
        assert_eq!(run.steps[0].attempts, 1);
        run.steps[0].error.clone().unwrap()
    };
    let copied = error("Copied");
    assert!(copied.starts_with("steps[0].auth.clientSecret"), "{copied}");
    assert!(copied.contains("does not open"), "{copied}");
    let wrong = error("Wrong");
    assert!(wrong.contains("token endpoint"), "{wrong}");
    assert!(
        wrong.contains("401") && wrong.contains("(invalid_client)"),
        "{wrong}"
    );
    assert!(!wrong.contains("not-the-secret"), "{wrong}");
    // Only the wrong client reached the token endpoint; nothing reached the API.
    assert_eq!(receiver.tokens.lock().unwrap().len(), 1);
    assert!(receiver.calls("x").is_empty());
}

async fn http_steps_are_checked_at_save_naming_the_field_and_nothing_is_saved(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let save = |step: String| {
        let directory = h.directory.clone();
        let tenant = h.tenant();
        let op = op.clone();
        async move {
            directory
                .save_workflow(
                    &op,
                    tenant,
                    &format!(
                        r#"{{"name": "Bad", "trigger": {{"kind": "manual"}}, "steps": [{step}]}}"#
                    ),
                )
                .await
        }
    };
    let call = |extra: &str| {
        format!(
            r#"{{"action": "callHttp", "method": "POST", "url": "https://hr.example.test/api"{extra}}}"#
        )
    };
    let cases = [
        (
            r#"{"action": "callHttp", "method": "FETCH", "url": "https://hr.example.test/"}"#
                .to_owned(),
            "steps[0].method",
        ),
        (
            r#"{"action": "callHttp", "method": "GET", "url": "http://hr.example.test/"}"#
                .to_owned(),
            "steps[0].url",
        ),
        (
            r#"{"action": "callHttp", "method": "GET", "url": "ftp://127.0.0.1/"}"#.to_owned(),
            "steps[0].url",
        ),
        (
            call(r#", "headers": {"Host": "evil.test"}"#),
            "steps[0].headers.Host",
        ),
        (
            call(r#", "headers": {"content-length": "3"}"#),
            "steps[0].headers.content-length",
        ),
        (
            call(r#", "headers": {"Connection": "close"}"#),
            "steps[0].headers.Connection",
        ),
        (
            call(r#", "headers": {"Transfer-Encoding": "chunked"}"#),
            "steps[0].headers.Transfer-Encoding",
        ),
        (
            call(r#", "headers": {"X-Who": "{{ user.displayName"}"#),
            "steps[0].headers.X-Who",
        ),
        (call(r#", "body": "{% for %}""#), "steps[0].body"),
        (
            call(
                r#", "auth": {"kind": "clientCredentials", "tokenUrl": "http://login.example.test/t",
                   "clientId": "a", "clientSecret": "topsecret-value"}"#,
            ),
            "steps[0].auth.tokenUrl",
        ),
        (
            call(
                r#", "auth": {"kind": "clientCredentials", "tokenUrl": "https://login.example.test/t",
                   "clientId": " ", "clientSecret": "topsecret-value"}"#,
            ),
            "steps[0].auth.clientId",
        ),
        (
            call(
                r#", "headers": {"Authorization": "Basic x"}, "auth": {"kind": "clientCredentials",
                   "tokenUrl": "https://login.example.test/t", "clientId": "a",
                   "clientSecret": "topsecret-value"}"#,
            ),
            "steps[0].headers.Authorization",
        ),
    ];
    for (step, field) in cases {
        let e = save(step.clone()).await.unwrap_err();
        let shown = e.to_string();
        let (property, _) = invalid(e);
        assert_eq!(property, field, "{step}");
        assert!(!shown.contains("topsecret-value"), "{shown}");
    }
    // Against a connected tenant the step is not available.
    let e = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            &format!(
                r#"{{"name": "Bad", "trigger": {{"kind": "manual"}}, "target": {{"tenant": "fabrikam"}},
                    "steps": [{}]}}"#,
                call("")
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(invalid(e).0, "steps[0].action");
    assert!(
        h.directory
            .list_workflows(&op, h.tenant())
            .await
            .unwrap()
            .is_empty()
    );
    // The good one saves, https to anywhere.
    save(call(
        r#", "headers": {"X-Who": "{{ user.displayName }}"}, "body": "{}""#,
    ))
    .await
    .unwrap();
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
    a_call_is_rendered_authenticated_retried_on_503_and_429_and_a_404_fails_with_an_excerpt,
    a_sealed_secret_copied_elsewhere_does_not_open_and_a_refused_client_fails_the_step,
    http_steps_are_checked_at_save_naming_the_field_and_nothing_is_saved,
);
