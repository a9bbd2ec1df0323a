//! Workflows triggered by SaaS management, through the engine, the directory and the real
//! store, on SQLite and on PostgreSQL, at an injected clock: a user's consent to an app new
//! to the inventory starts one run of an `appDiscovered` workflow for that user; a seat
//! unused for 61 days starts one `licenseIdle` run for its holder, not again at the next
//! ticks, and again only after a new use and a new idle spell; a contract inside its
//! renewal window starts one `contractRenewalDue` run for the app's owner per contract and
//! deadline, caught up once after a gap in the ticks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::app::App;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice, SaasAppChanges, UserRef};
use latchkey_core::ids::SaasAppId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::saas::{BillingPeriod, NewContract, SaasQuery};
use latchkey_core::user::User;
use latchkey_core::workflow_store::{RunRecord, RunStatus};
use latchkey_testkit::{Backend, Harness};

async fn user(h: &Harness, upn: &str) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("SaaS User").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
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

async fn registration(h: &Harness, name: &str) -> App {
    h.directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: name.into(),
                redirect_uris: vec!["https://app.example.test/callback".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app
}

async fn consent(h: &Harness, u: &User, app: &App, permissions: &[&str]) {
    let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
    h.directory
        .consent_as_user(u, app, &permissions)
        .await
        .unwrap();
}

async fn inventory_id(h: &Harness, name: &str) -> SaasAppId {
    h.directory
        .list_saas_apps(
            &Harness::operator(),
            h.tenant(),
            &SaasQuery {
                limit: 999,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|a| a.name == name)
        .unwrap()
        .id
}

async fn save(h: &Harness, raw: &str) {
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), raw)
        .await
        .unwrap();
}

async fn runs_of(h: &Harness, workflow: &str) -> Vec<RunRecord> {
    h.directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.workflow_name == workflow)
        .collect()
}

async fn department(h: &Harness, u: &User) -> Option<String> {
    h.directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap()
        .profile
        .department
}

fn contract(start: &str, end: &str, notice: u32) -> NewContract {
    NewContract {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        notice_days: notice,
        auto_renew: true,
        cost_minor: 120_000,
        currency: "EUR".into(),
        exponent: 2,
        billing_period: BillingPeriod::Annual,
        seats: Some(10),
    }
}

const REVIEW: &str = r#"{
    "name": "Review new apps",
    "trigger": {"kind": "appDiscovered"},
    "steps": [
        {"action": "setAttributes", "attributes": {"department": "Under review"}},
        {"action": "sendEmail", "to": "security@contoso.test",
         "subject": "New app {{ saas.app.name }} ({{ saas.app.state }})",
         "body": "{{ user.userPrincipalName }} granted {{ saas.app.permissions | join(', ') }}."}
    ]
}"#;

async fn a_consent_to_an_unsanctioned_app_starts_one_run_for_the_user_who_consented(h: Harness) {
    let engine = Engine::new(h.directory.clone());
    let ada = user(&h, "ada@contoso.test").await;
    let grace = user(&h, "grace@contoso.test").await;
    // Discovered before the workflow existed: never fires.
    let old = registration(&h, "Old Tool").await;
    consent(&h, &grace, &old, &["User.Read"]).await;
    h.clock.advance(Duration::minutes(1));
    save(&h, REVIEW).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    let snoop = registration(&h, "Snoop Mail").await;
    consent(&h, &ada, &snoop, &["User.Read"]).await;
    // Changes settle for 30 s before a workflow reads them.
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    // A second user of the same app is not a new discovery.
    consent(&h, &grace, &snoop, &["User.Read"]).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    engine.run_until_idle().await.unwrap();
    let runs = runs_of(&h, "Review new apps").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].user_id, ada.id);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(department(&h, &ada).await.as_deref(), Some("Under review"));
    assert_eq!(department(&h, &grace).await, None);
    // The e-mail step rendered the app's name from the run's context (strict templates
    // would have failed the step otherwise).
    let output = runs[0].steps[1].output.clone().unwrap_or_default();
    assert!(
        output.contains("New app Snoop Mail (discovered)"),
        "{output}"
    );
    let context = h
        .directory
        .saas_run_context(&Harness::operator(), h.tenant(), &runs[0].occurrence)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(context["event"], "discovered");
    assert_eq!(context["app"]["name"], "Snoop Mail");
    assert_eq!(context["app"]["permissions"][0], "User.Read");
}

async fn a_seat_idle_for_61_days_starts_one_run_and_not_again_the_next_tick(h: Harness) {
    let engine = Engine::new(h.directory.clone());
    let ada = user(&h, "ada@contoso.test").await;
    let grace = user(&h, "grace@contoso.test").await;
    let board = registration(&h, "Seat Board").await;
    consent(&h, &ada, &board, &["User.Read"]).await;
    consent(&h, &grace, &board, &["User.Read"]).await;
    save(
        &h,
        r#"{"name": "Idle seat", "trigger": {"kind": "licenseIdle"},
            "steps": [{"action": "setAttributes", "attributes": {"department": "Idle"}}]}"#,
    )
    .await;
    save(
        &h,
        r#"{"name": "Idle 90", "trigger": {"kind": "licenseIdle", "days": 90},
            "steps": [{"action": "setAttributes", "attributes": {"jobTitle": "Idle 90"}}]}"#,
    )
    .await;
    h.clock.advance(Duration::days(59));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    // Grace used it on day 59; Ada did not.
    consent(&h, &grace, &board, &["User.Read"]).await;
    h.clock.advance(Duration::days(2));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.clock.advance(Duration::days(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    engine.run_until_idle().await.unwrap();
    let runs = runs_of(&h, "Idle seat").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].user_id, ada.id);
    assert_eq!(department(&h, &ada).await.as_deref(), Some("Idle"));
    assert!(runs_of(&h, "Idle 90").await.is_empty());

    // Ada uses it again: a new spell, one more run once it has lasted 60 days; Grace's
    // seat is idle by then too.
    consent(&h, &ada, &board, &["User.Read"]).await;
    h.clock.advance(Duration::days(61));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 2);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    let runs = runs_of(&h, "Idle seat").await;
    assert_eq!(runs.iter().filter(|r| r.user_id == ada.id).count(), 2);
    assert_eq!(runs.iter().filter(|r| r.user_id == grace.id).count(), 1);
}

async fn a_renewal_due_starts_one_run_for_the_owner_per_contract_occurrence(h: Harness) {
    let op = Harness::operator();
    let engine = Engine::new(h.directory.clone());
    let owner = user(&h, "owner@contoso.test").await;
    let reg = registration(&h, "Renew Board").await;
    consent(&h, &owner, &reg, &["User.Read"]).await;
    let app = inventory_id(&h, "Renew Board").await;
    h.directory
        .update_saas_app(
            &op,
            h.tenant(),
            app,
            SaasAppChanges {
                state: None,
                owner: Some(Some(UserRef::Id(owner.id))),
            },
        )
        .await
        .unwrap();
    // An app without an owner: no one to run for.
    let orphan_reg = registration(&h, "Orphan Board").await;
    consent(&h, &owner, &orphan_reg, &["User.Read"]).await;
    let orphan = inventory_id(&h, "Orphan Board").await;
    // The clock is 2026-11-24. Deadline 2027-01-30 (end less 30 days): due from 2026-12-01.
    for id in [app, orphan] {
        h.directory
            .add_saas_contract(
                &op,
                h.tenant(),
                id,
                contract("2026-03-01", "2027-03-01", 30),
            )
            .await
            .unwrap();
    }
    save(
        &h,
        r#"{"name": "Renewal", "trigger": {"kind": "contractRenewalDue", "offsetDays": 60},
            "steps": [{"action": "setAttributes", "attributes": {"department": "Renewals"}}]}"#,
    )
    .await;
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.clock.advance(Duration::days(7));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.clock.advance(Duration::days(10));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // A second contract of the same app (deadline 2027-03-02, due from 2027-01-01); no tick
    // runs until well after its alert day, and then it fires once.
    h.directory
        .add_saas_contract(
            &op,
            h.tenant(),
            app,
            contract("2027-03-01", "2027-04-01", 30),
        )
        .await
        .unwrap();
    h.clock.advance(Duration::days(40));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    engine.run_until_idle().await.unwrap();
    let runs = runs_of(&h, "Renewal").await;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.user_id == owner.id));
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    assert_eq!(department(&h, &owner).await.as_deref(), Some("Renewals"));
    // Each run knows its contract.
    let mut deadlines = Vec::new();
    for run in &runs {
        let context = h
            .directory
            .saas_run_context(&op, h.tenant(), &run.occurrence)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(context["app"]["name"], "Renew Board");
        assert_eq!(context["contract"]["cost"], "1200.00");
        deadlines.push(
            context["contract"]["cancellationDeadline"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    deadlines.sort();
    assert_eq!(deadlines, ["2027-01-30", "2027-03-02"]);
}

/// Records every POST's signature and body; answers 200.
type Got = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

async fn start_receiver(got: Got) -> u16 {
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(
                |axum::extract::State(got): axum::extract::State<Got>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let signature = headers
                        .get(latchkey_automation::webhook::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    got.lock().unwrap().push((signature, body.to_vec()));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(got);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn a_discovery_reaches_a_webhook_signed_with_the_app_and_its_permissions(h: Harness) {
    use secrecy::ExposeSecret as _;
    let op = Harness::operator();
    let engine = Engine::new(h.directory.clone());
    let got = Got::default();
    let port = start_receiver(got.clone()).await;
    save(
        &h,
        &format!(
            r#"{{"name": "Alert", "trigger": {{"kind": "appDiscovered"}},
                "steps": [{{"action": "sendWebhook", "url": "http://127.0.0.1:{port}/saas"}}]}}"#
        ),
    )
    .await;
    let secret = h
        .directory
        .new_workflow_webhook_secret(&op, h.tenant(), "Alert")
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(1));
    let ada = user(&h, "ada@contoso.test").await;
    let app = registration(&h, "Snoop Mail").await;
    consent(&h, &ada, &app, &["User.Read"]).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    engine.run_until_idle().await.unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (signature, body) = &got[0];
    assert_eq!(
        *signature,
        format!(
            "sha256={}",
            latchkey_automation::webhook::signature(secret.expose_secret(), body)
        )
    );
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["user"]["userPrincipalName"], "ada@contoso.test");
    assert_eq!(body["saas"]["event"], "discovered");
    assert_eq!(body["saas"]["app"]["name"], "Snoop Mail");
    assert_eq!(
        body["saas"]["app"]["permissions"],
        serde_json::json!(["User.Read"])
    );
    assert_eq!(
        body["saas"]["app"]["riskyPermissions"],
        serde_json::json!([])
    );
}

async fn saas_triggers_with_bad_arguments_are_refused_naming_the_field(h: Harness) {
    for (raw, field) in [
        (
            r#"{"name": "Bad", "trigger": {"kind": "licenseIdle", "days": 0},
                "steps": [{"action": "revokeSessions"}]}"#,
            "trigger.days",
        ),
        (
            r#"{"name": "Bad", "trigger": {"kind": "contractRenewalDue", "offsetDays": 4000},
                "steps": [{"action": "revokeSessions"}]}"#,
            "trigger.offsetDays",
        ),
    ] {
        match h
            .directory
            .save_workflow(&Harness::operator(), h.tenant(), raw)
            .await
        {
            Err(latchkey_core::error::DirectoryError::Invalid { property, .. }) => {
                assert_eq!(property, field);
            }
            other => panic!("expected a refusal naming {field}, got {other:?}"),
        }
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::new(super::Backend::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::new(super::Backend::Postgres).await).await
            })*
        }
    };
}

both_backends!(
    a_consent_to_an_unsanctioned_app_starts_one_run_for_the_user_who_consented,
    a_seat_idle_for_61_days_starts_one_run_and_not_again_the_next_tick,
    a_renewal_due_starts_one_run_for_the_owner_per_contract_occurrence,
    saas_triggers_with_bad_arguments_are_refused_naming_the_field,
    a_discovery_reaches_a_webhook_signed_with_the_app_and_its_permissions,
);
