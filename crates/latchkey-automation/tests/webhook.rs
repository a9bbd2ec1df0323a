//! The webhook step against a real HTTP receiver on a loopback port, on SQLite and
//! PostgreSQL: a signed JSON POST (HMAC-SHA-256 over the body with the workflow's sealed
//! secret), Slack's `text` shape, 5xx and 429 retried (429 no sooner than `Retry-After`), a
//! 4xx failing the step, and neither the secret nor the URL's path in the run history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use latchkey_automation::{Engine, webhook};
use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::UserProfile;
use latchkey_core::workflow_store::{RunStatus, StepStatus};
use latchkey_testkit::{Backend, Harness};
use secrecy::ExposeSecret;

#[derive(Debug, Clone)]
struct Received {
    path: String,
    signature: String,
    delivery: String,
    body: Vec<u8>,
}

/// Per path, the statuses to answer in turn (with an optional `Retry-After`).
type Script = std::collections::HashMap<String, VecDeque<(u16, Option<&'static str>)>>;

/// Answers each path with its scripted statuses in turn (then 200), recording every request.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Script>>,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn hook(
    State(r): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Received {
        path: path.clone(),
        signature: header(webhook::SIGNATURE_HEADER),
        delivery: header(webhook::DELIVERY_HEADER),
        body: body.to_vec(),
    });
    let next = r
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let (status, retry_after) = next.unwrap_or((200, None));
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(after) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(after));
    }
    response
}

async fn start_receiver(receiver: Receiver) -> u16 {
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::post(hook))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn a_webhook_is_signed_retried_on_5xx_and_429_and_a_4xx_fails_the_step(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let receiver = Receiver::default();
    {
        let mut script = receiver.script.lock().unwrap();
        script.insert("flaky".into(), VecDeque::from([(503, None)]));
        script.insert(
            "slack/T0/B0/XXSECRETPATH".into(),
            VecDeque::from([(429, Some("120"))]),
        );
        script.insert("gone".into(), VecDeque::from([(404, None)]));
    }
    let port = start_receiver(receiver.clone()).await;
    let user = h
        .directory
        .create_user(
            &op,
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse("wendy@contoso.test").unwrap(),
                display_name: DisplayName::parse("Wendy Webhook").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user;
    let bad = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Hooks", "trigger": {"kind": "manual"},
                "steps": [{"action": "sendWebhook", "url": "ftp://example.test/x"}]}"#,
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().starts_with("steps[0].url"), "{bad}");
    let definition = format!(
        r#"{{"name": "Hooks", "trigger": {{"kind": "manual"}}, "steps": [
            {{"action": "sendWebhook", "url": "http://127.0.0.1:{port}/flaky"}},
            {{"action": "sendWebhook", "url": "http://127.0.0.1:{port}/slack/T0/B0/XXSECRETPATH",
              "format": "slack"}},
            {{"action": "sendWebhook", "url": "http://127.0.0.1:{port}/gone"}},
            {{"action": "revokeSessions"}}]}}"#
    );
    h.directory
        .save_workflow(&op, h.tenant(), &definition)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());

    // Without a secret the step fails, saying how to set one, and sends nothing.
    engine
        .run_manually(h.tenant(), "Hooks", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let runs = h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert!(
        runs[0].steps[0]
            .error
            .as_deref()
            .unwrap()
            .contains("webhook-secret"),
        "{:?}",
        runs[0].steps[0]
    );
    assert!(receiver.got.lock().unwrap().is_empty());

    let secret = h
        .directory
        .new_workflow_webhook_secret(&op, h.tenant(), "hooks")
        .await
        .unwrap();
    assert!(
        !h.raw_rows("workflow_secrets")
            .await
            .contains(secret.expose_secret()),
        "the secret is stored sealed"
    );
    h.clock.advance(Duration::minutes(1));
    engine
        .run_manually(h.tenant(), "Hooks", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();

    // 503: retried after the backoff, with the same delivery id and a valid signature.
    assert_eq!(engine.run_due_steps().await.unwrap(), 1);
    assert_eq!(
        engine.run_due_steps().await.unwrap(),
        0,
        "not before the backoff"
    );
    h.clock.advance(Duration::seconds(31));
    assert_eq!(engine.run_due_steps().await.unwrap(), 1);
    // 429 with Retry-After: 120 waits the 120 s, not the 30 s backoff.
    assert_eq!(engine.run_due_steps().await.unwrap(), 1);
    h.clock.advance(Duration::seconds(31));
    assert_eq!(engine.run_due_steps().await.unwrap(), 0);
    h.clock.advance(Duration::seconds(90));
    engine.run_until_idle().await.unwrap();

    let got = receiver.got.lock().unwrap().clone();
    let paths: Vec<_> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "flaky",
            "flaky",
            "slack/T0/B0/XXSECRETPATH",
            "slack/T0/B0/XXSECRETPATH",
            "gone"
        ]
    );
    for g in &got {
        assert_eq!(
            g.signature,
            format!(
                "sha256={}",
                webhook::signature(secret.expose_secret(), &g.body)
            ),
            "{g:?}"
        );
    }
    assert_eq!(
        got[0].delivery, got[1].delivery,
        "a retry is the same delivery"
    );
    assert_ne!(got[0].delivery, got[2].delivery);
    let json: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(json["workflow"], "Hooks");
    assert_eq!(json["user"]["userPrincipalName"], "wendy@contoso.test");
    let slack: serde_json::Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(
        slack["text"],
        "Workflow 'Hooks' ran for Wendy Webhook (wendy@contoso.test)"
    );

    let runs = h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 10)
        .await
        .unwrap();
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Failed, "the 404 stopped the run");
    assert_eq!(run.steps[0].status, StepStatus::Succeeded);
    assert_eq!(run.steps[0].attempts, 2);
    assert_eq!(run.steps[1].status, StepStatus::Succeeded);
    assert_eq!(run.steps[1].attempts, 2);
    assert_eq!(run.steps[2].status, StepStatus::Failed);
    assert_eq!(run.steps[2].attempts, 1, "a 4xx is not retried");
    assert!(
        run.steps[2].error.as_deref().unwrap().contains("404"),
        "{:?}",
        run.steps[2]
    );
    assert_eq!(run.steps[3].status, StepStatus::Skipped);
    for step in &run.steps {
        let shown = format!("{:?} {:?}", step.output, step.error);
        assert!(!shown.contains("XXSECRETPATH"), "{shown}");
        assert!(!shown.contains(secret.expose_secret()), "{shown}");
    }
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

both_backends!(a_webhook_is_signed_retried_on_5xx_and_429_and_a_4xx_fails_the_step);
