//! The admin center's Workflows pages in process, on both backends, at an injected clock:
//! the list (trigger in words, pages), a workflow from a built-in template saved disabled
//! under its name, an import whose bad definition names the field and saves nothing, the
//! definition edited into a new version, enabling past the tenant's share asking first with
//! the count, the scope preview listing the users in scope, Run now refusing unknown user
//! names by name, the run history and a run's steps after the engine's worker ran them,
//! cancel and re-run; a form without the CSRF token changes nothing; a Helpdesk
//! Administrator neither sees nor opens the section.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::clock::Clock;
use latchkey_core::directory::{NewUser, PasswordChoice, RunFilter, Workflow};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::UserProfile;
use latchkey_core::workflow_store::RunStatus;
use latchkey_testkit::browser::Browser;
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;
use support::{ADMIN_PUBLIC, PW, World, admin_csrf, admin_signed_in, admin_world};

mod support;

async fn person(w: &World, upn: &str, profile: UserProfile) {
    w.h.directory
        .create_user(
            &Harness::operator(),
            w.h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse(upn.split('@').next().unwrap()).unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile,
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(PW.to_owned())),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap();
}

async fn saved(w: &World, json: &str) -> Workflow {
    w.h.directory
        .save_workflow(&Harness::operator(), w.h.tenant(), json)
        .await
        .unwrap()
}

async fn workflows(w: &World) -> Vec<Workflow> {
    w.h.directory
        .list_workflows(&Harness::operator(), w.h.tenant())
        .await
        .unwrap()
}

async fn global_admin(w: &World, b: &mut Browser) -> String {
    let home = admin_signed_in(
        w,
        b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    assert!(home.body.contains("id=\"nav-workflows\""), "{}", home.body);
    assert!(home.body.contains("id=\"nav-workflow-runs\""));
    admin_csrf(&home)
}

const MANUAL: &str = r#"{
    "name": "Sales reset",
    "trigger": {"kind": "manual"},
    "scope": "department eq 'Sales'",
    "steps": [
        {"action": "requirePasswordChange"},
        {"action": "revokeSessions", "onFailure": "continue", "condition": "accountEnabled eq true"}
    ]
}"#;

async fn the_list_pages_and_a_template_is_saved_disabled_under_its_name(backend: Backend) {
    let w = admin_world(backend).await;
    for n in 0..27 {
        saved(
            &w,
            &format!(
                r#"{{"name": "Leaver {n:02}", "enabled": false, "trigger": {{"kind": "leaveDate", "offsetDays": 3}}, "steps": [{{"action": "disableAccount"}}]}}"#
            ),
        )
        .await;
    }
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let list = b.get(&w.app, "/admin/workflows").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(">Leaver 00</a>"));
    assert!(list.body.contains(">Leaver 24</a>"));
    assert!(!list.body.contains(">Leaver 25</a>"));
    assert!(
        list.body
            .contains("<td class=\"workflow-trigger\">leaveDate (offsetDays 3)</td>")
    );
    assert!(list.body.contains("<td>leaver</td>"));
    let next = list.link("next-page").unwrap();
    let second = b.get(&w.app, &next).await;
    assert!(second.body.contains(">Leaver 25</a>"));
    assert!(second.body.contains(">Leaver 26</a>"));
    assert!(!second.body.contains(">Leaver 24</a>"));
    assert!(second.link("next-page").is_none());

    // New from a template: the engine's own, under the given name, disabled.
    assert!(list.body.contains("id=\"template-inactivity\""));
    let created = b
        .post(
            &w.app,
            "/admin/workflows/new",
            &[
                ("csrf", &csrf),
                ("template", "inactivity"),
                ("name", "Idle <b> accounts"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let page = b.get(&w.app, created.location()).await;
    assert!(
        page.body.contains(">Idle &#60;b&#62; accounts</h1>"),
        "escaped"
    );
    assert_eq!(page.text("workflow-enabled"), "No");
    assert_eq!(page.text("workflow-version"), "1");
    assert_eq!(page.text("workflow-trigger"), "inactivity (days 90)");
    assert_eq!(page.text("workflow-scope"), "accountEnabled eq true");
    assert!(
        page.body
            .contains("<td class=\"step-action\">revokeSessions</td>")
    );
    assert!(page.body.contains("id=\"enable\""));
    let stored = workflows(&w)
        .await
        .into_iter()
        .find(|x| x.workflow.definition.name == "Idle <b> accounts")
        .unwrap();
    assert!(!stored.workflow.definition.enabled);

    // A name that is taken by no template is refused, naming the field.
    let refused = b
        .post(
            &w.app,
            "/admin/workflows/new",
            &[("csrf", &csrf), ("template", "inactivity"), ("name", " ")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("name: must not be empty"),
        "{}",
        refused.body
    );
    assert_eq!(workflows(&w).await.len(), 28);
}

async fn a_bad_import_names_the_field_and_saves_nothing_and_an_edit_makes_a_version(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let bad = r#"{"name": "Idle", "trigger": {"kind": "inactivity", "days": 0}, "steps": [{"action": "disableAccount"}]}"#;
    let refused = b
        .post(
            &w.app,
            "/admin/workflows/import",
            &[("csrf", &csrf), ("definition", bad)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("trigger.days: must be between 1 and 3650. Nothing was saved."),
        "{}",
        refused.body
    );
    // The text box keeps what was typed.
    assert!(refused.body.contains("&#34;days&#34;: 0"));
    assert!(workflows(&w).await.is_empty());

    let imported = b
        .post(
            &w.app,
            "/admin/workflows/import",
            &[("csrf", &csrf), ("definition", MANUAL)],
        )
        .await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.body);
    let base = imported.location().split('?').next().unwrap().to_owned();
    let page = b.get(&w.app, &base).await;
    assert_eq!(page.text("workflow-trigger"), "manual");
    assert!(page.body.contains(
        "<td class=\"step-condition\">accountEnabled eq true</td><td>Continue with the next step</td>"
    ));

    let form = b.get(&w.app, &format!("{base}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("&#34;requirePasswordChange&#34;"));
    let version = form.hidden("version");
    assert_eq!(version, "1");
    let broken = MANUAL.replace("department eq 'Sales'", "department eq");
    let refused = b
        .post(
            &w.app,
            &format!("{base}/edit"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("definition", &broken),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("scope: "), "{}", refused.body);
    assert_eq!(workflows(&w).await[0].version, 1);
    let renamed = MANUAL.replace("Sales reset", "Sales reset (v2)");
    let edited = b
        .post(
            &w.app,
            &format!("{base}/edit"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("definition", &renamed),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let page = b.get(&w.app, edited.location()).await;
    assert_eq!(page.text("workflow-name"), "Sales reset (v2)");
    assert_eq!(page.text("workflow-version"), "2");
    // The same form again is older than the workflow now: refused, nothing saved.
    let stale = b
        .post(
            &w.app,
            &format!("{base}/edit"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("definition", MANUAL),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert!(stale.body.contains("Someone saved this workflow meanwhile"));
    let all = workflows(&w).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].workflow.definition.name, "Sales reset (v2)");
}

async fn enabling_past_the_share_asks_first_with_the_count(backend: Backend) {
    let w = admin_world(backend).await;
    let left = w.h.clock.now() - Duration::days(1);
    for n in 0..12 {
        person(
            &w,
            &format!("leaver{n}@contoso.test"),
            UserProfile {
                employee_leave_date_time: Some(left),
                ..Default::default()
            },
        )
        .await;
    }
    let wf = saved(
        &w,
        r#"{"name": "Leavers", "enabled": false, "trigger": {"kind": "leaveDate", "offsetDays": 0}, "steps": [{"action": "disableAccount"}]}"#,
    )
    .await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let base = format!("/admin/workflows/{}", wf.id);
    let asked = b
        .post(
            &w.app,
            &format!("{base}/enable"),
            &[("csrf", &csrf), ("version", "1")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.text("confirm-count"), "12");
    assert!(
        asked.body.contains("of the organization's 14 users"),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("id=\"confirm-enable\""));
    assert!(!workflows(&w).await[0].workflow.definition.enabled);

    let confirmed = b
        .post(
            &w.app,
            &format!("{base}/enable"),
            &[("csrf", &csrf), ("version", "1"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(
        confirmed.text("notice"),
        "The workflow is enabled (version 2)."
    );
    assert_eq!(confirmed.text("workflow-enabled"), "Yes");
    let now = &workflows(&w).await[0];
    assert!(now.workflow.definition.enabled);
    assert!(now.workflow.definition.confirm_share);
    // The engine's tick starts the twelve runs now.
    let started = Engine::new(w.h.directory.clone())
        .tick(w.h.tenant())
        .await
        .unwrap();
    assert_eq!(started, 12);

    let disabled = b
        .post(
            &w.app,
            &format!("{base}/disable"),
            &[("csrf", &csrf), ("version", "2")],
        )
        .await;
    assert_eq!(disabled.text("workflow-enabled"), "No");
    assert!(!workflows(&w).await[0].workflow.definition.enabled);
}

async fn the_scope_preview_lists_the_users_in_scope_and_what_each_step_would_do(backend: Backend) {
    let w = admin_world(backend).await;
    let sales = |d: &str| UserProfile {
        department: Some(d.to_owned()),
        ..Default::default()
    };
    person(&w, "sam@contoso.test", sales("Sales")).await;
    person(&w, "sue@contoso.test", sales("Sales")).await;
    person(&w, "eve@contoso.test", sales("Engineering")).await;
    let wf = saved(&w, MANUAL).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    global_admin(&w, &mut b).await;
    let page = b
        .get(&w.app, &format!("/admin/workflows/{}/preview", wf.id))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("preview-count"), "2 users.");
    assert!(
        page.body
            .contains("<td class=\"preview-user\">sam@contoso.test</td>")
    );
    assert!(
        page.body
            .contains("<td class=\"preview-user\">sue@contoso.test</td>")
    );
    assert!(!page.body.contains("eve@contoso.test"));
    assert!(
        page.body
            .contains("require sam@contoso.test to change their password at next sign-in")
    );
    assert!(page.body.contains(
        "revoke every session and refresh token of sue@contoso.test (only if accountEnabled eq true)"
    ));
    // Nothing was started.
    let runs =
        w.h.directory
            .list_workflow_runs(&Harness::operator(), w.h.tenant(), None, 10)
            .await
            .unwrap();
    assert!(runs.is_empty());
}

async fn the_preview_shows_the_first_fifty_of_many_and_hides_a_webhook_path(backend: Backend) {
    let w = admin_world(backend).await;
    for n in 0..53 {
        person(
            &w,
            &format!("many{n:02}@contoso.test"),
            UserProfile {
                department: Some("Many".into()),
                ..Default::default()
            },
        )
        .await;
    }
    let wf = saved(
        &w,
        r#"{"name": "Many", "trigger": {"kind": "manual"}, "scope": "department eq 'Many'",
            "steps": [{"action": "sendWebhook", "url": "https://hooks.example.test/services/T0/B0/s3cr3tpath"}]}"#,
    )
    .await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    global_admin(&w, &mut b).await;
    let page = b
        .get(&w.app, &format!("/admin/workflows/{}/preview", wf.id))
        .await;
    assert_eq!(page.text("preview-count"), "The first 50 of 53 users.");
    assert_eq!(page.body.matches("class=\"preview-user\"").count(), 50);
    assert!(!page.body.contains("s3cr3tpath"));
    let shown = b.get(&w.app, &format!("/admin/workflows/{}", wf.id)).await;
    assert!(
        shown
            .body
            .contains("<td class=\"step-action\">sendWebhook (format json, url https://hooks.example.test)</td>"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("s3cr3tpath"));
}

async fn run_now_refuses_unknown_names_and_the_history_shows_the_steps_cancel_and_rerun(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    person(&w, "bob@contoso.test", UserProfile::default()).await;
    person(&w, "cy@contoso.test", UserProfile::default()).await;
    let wf = saved(&w, MANUAL).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let base = format!("/admin/workflows/{}", wf.id);
    let refused = b
        .post(
            &w.app,
            &format!("{base}/run"),
            &[
                ("csrf", &csrf),
                ("users", "bob@contoso.test, nobody@contoso.test"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("users: no user named nobody@contoso.test in this tenant"),
        "{}",
        refused.body
    );
    // What was typed stays in the box; nothing started.
    assert!(
        refused
            .body
            .contains("bob@contoso.test, nobody@contoso.test</textarea>")
    );
    let none =
        w.h.directory
            .list_workflow_runs(&Harness::operator(), w.h.tenant(), None, 10)
            .await
            .unwrap();
    assert!(none.is_empty());

    let started = b
        .post(
            &w.app,
            &format!("{base}/run"),
            &[("csrf", &csrf), ("users", "bob@contoso.test")],
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.text("notice"), "1 run started.");
    Engine::new(w.h.directory.clone())
        .run_until_idle()
        .await
        .unwrap();
    let bob =
        w.h.store
            .find_user_by_upn(w.h.tenant(), &Upn::parse("bob@contoso.test").unwrap())
            .await
            .unwrap()
            .unwrap();
    assert!(bob.force_change_password_next_sign_in);

    let history = b.get(&w.app, "/admin/workflows/runs").await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert!(
        history
            .body
            .contains("<td class=\"run-user\">bob@contoso.test</td>")
    );
    assert!(
        history
            .body
            .contains("<td class=\"run-state\">Succeeded</td>")
    );
    let failed = b.get(&w.app, "/admin/workflows/runs?state=failed").await;
    assert!(failed.body.contains("id=\"no-runs\""));
    let of_cy = b
        .get(&w.app, "/admin/workflows/runs?user=cy%40contoso.test")
        .await;
    assert!(of_cy.body.contains("id=\"no-runs\""));
    let of_bob = b
        .get(
            &w.app,
            &format!(
                "/admin/workflows/runs?user=bob%40contoso.test&workflow={}",
                wf.id
            ),
        )
        .await;
    assert!(of_bob.body.contains("bob@contoso.test</td>"));

    let run =
        w.h.directory
            .find_workflow_runs(
                &Harness::operator(),
                w.h.tenant(),
                RunFilter::default(),
                None,
                10,
            )
            .await
            .unwrap()
            .items
            .remove(0);
    let details = b
        .get(&w.app, &format!("/admin/workflows/runs/{}", run.id))
        .await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    assert_eq!(details.text("run-state"), "Succeeded");
    assert_eq!(
        details
            .body
            .matches("<td class=\"step-state\">succeeded</td>")
            .count(),
        2,
        "{}",
        details.body
    );
    assert!(!details.body.contains("id=\"cancel-run\""), "finished");

    // Re-run: a new run for the same user, its steps pending until the worker runs.
    let rerun = b
        .post(
            &w.app,
            &format!("/admin/workflows/runs/{}/rerun", run.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(rerun.status, StatusCode::SEE_OTHER, "{}", rerun.body);
    let new = b.get(&w.app, rerun.location()).await;
    assert_eq!(new.text("run-state"), "Running");
    assert_eq!(new.text("run-user"), "bob@contoso.test");
    assert!(new.body.contains("<td class=\"step-state\">pending</td>"));
    let new_base = rerun.location().to_owned();
    // Cancel it: no further step runs.
    let cancelled = b
        .post(&w.app, &format!("{new_base}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.text("run-state"), "Cancelled");
    assert!(cancelled.body.contains("id=\"rerun\""));
    assert_eq!(
        Engine::new(w.h.directory.clone())
            .run_until_idle()
            .await
            .unwrap(),
        0
    );
    // Cancelling again says why and changes nothing.
    let again = b
        .post(&w.app, &format!("{new_base}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("has already finished"));
    let runs =
        w.h.directory
            .find_workflow_runs(
                &Harness::operator(),
                w.h.tenant(),
                RunFilter {
                    status: Some(RunStatus::Failed),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap()
            .items;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].cancelled_at.is_some());
}

async fn a_form_without_the_csrf_token_changes_nothing(backend: Backend) {
    let w = admin_world(backend).await;
    person(&w, "bob@contoso.test", UserProfile::default()).await;
    let wf = saved(
        &w,
        &MANUAL.replace("\"trigger\"", "\"enabled\": false, \"trigger\""),
    )
    .await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let base = format!("/admin/workflows/{}", wf.id);
    for (path, form) in [
        (format!("{base}/enable"), vec![("version", "1")]),
        (format!("{base}/run"), vec![("users", "bob@contoso.test")]),
        (
            format!("{base}/edit"),
            vec![("version", "1"), ("definition", MANUAL)],
        ),
        (
            "/admin/workflows/import".to_owned(),
            vec![("definition", MANUAL)],
        ),
        (
            "/admin/workflows/new".to_owned(),
            vec![("template", "joiner"), ("name", "Joiners")],
        ),
    ] {
        let mut forged = form.clone();
        forged.push(("csrf", "forged"));
        for f in [form, forged] {
            let r = b.post(&w.app, &path, &f).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            assert!(r.body.contains("Nothing was changed"), "{path}");
        }
    }
    let all = workflows(&w).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].version, 1);
    assert!(!all[0].workflow.definition.enabled);
    assert!(!csrf.is_empty());
}

async fn a_lifecycle_administrator_manages_and_a_helpdesk_administrator_is_refused(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let wf = saved(&w, MANUAL).await;
    let mut lwa = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut lwa,
        "lena@contoso.test",
        vec![DirectoryRole::LifecycleWorkflowsAdministrator],
    )
    .await;
    assert!(home.body.contains("id=\"nav-workflows\""));
    let page = lwa
        .get(&w.app, &format!("/admin/workflows/{}", wf.id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"disable\""));
    assert!(page.body.contains("id=\"run-now\""));
    assert!(page.body.contains("id=\"edit-definition\""));

    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    assert!(!home.body.contains("nav-workflows"));
    assert!(!home.body.contains("nav-workflow-runs"));
    let csrf = admin_csrf(&home);
    for path in [
        "/admin/workflows".to_owned(),
        "/admin/workflows/runs".to_owned(),
        format!("/admin/workflows/{}", wf.id),
        format!("/admin/workflows/{}/preview", wf.id),
        format!("/admin/workflows/{}/edit", wf.id),
    ] {
        let r = b.get(&w.app, &path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            r.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
    for (path, form) in [
        (
            format!("/admin/workflows/{}/disable", wf.id),
            vec![("csrf", csrf.as_str()), ("version", "1")],
        ),
        (
            "/admin/workflows/import".to_owned(),
            vec![("csrf", csrf.as_str()), ("definition", MANUAL)],
        ),
    ] {
        let r = b.post(&w.app, &path, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let all = workflows(&w).await;
    assert_eq!(all.len(), 1);
    assert!(all[0].workflow.definition.enabled);
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
    the_list_pages_and_a_template_is_saved_disabled_under_its_name,
    a_bad_import_names_the_field_and_saves_nothing_and_an_edit_makes_a_version,
    enabling_past_the_share_asks_first_with_the_count,
    the_scope_preview_lists_the_users_in_scope_and_what_each_step_would_do,
    the_preview_shows_the_first_fifty_of_many_and_hides_a_webhook_path,
    run_now_refuses_unknown_names_and_the_history_shows_the_steps_cancel_and_rerun,
    a_form_without_the_csrf_token_changes_nothing,
    a_lifecycle_administrator_manages_and_a_helpdesk_administrator_is_refused,
);
