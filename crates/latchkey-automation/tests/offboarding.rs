//! The offboarding workflow end to end through the engine, the directory and the real store,
//! on SQLite and on PostgreSQL: a leaver's date passes, the clock advances, a tick starts one
//! run, the worker completes it, and everything the issue asks for is visible to a client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::clock::Clock;
use latchkey_core::directory::{ClientRef, NewUser, PasswordChoice, SignInError, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::license::{AssignedLicense, LicenseChange, NewSku};
use latchkey_core::mail::{MailAddress, MailKind, MailQuery};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{User, UserProfile};
use latchkey_core::workflow_store::{RunStatus, StepStatus};
use latchkey_mail::{DeliveryPass, Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::smtp::SmtpSink;
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

const LEAVER_PW: &str = "Quartz-Harbor-7319!";

const OFFBOARDING: &str = r#"{
    "name": "Offboarding",
    "trigger": {"kind": "leaveDate", "offsetDays": 0},
    "scope": "department eq 'Sales'",
    "steps": [
        {"action": "resetPasswordUnknown"},
        {"action": "revokeSessions"},
        {"action": "disableAccount"},
        {"action": "removeAllLicenses"},
        {"action": "notifyManager"}
    ]
}"#;

fn client() -> ClientRef {
    ClientRef {
        app_id: None,
        display_name: Some("Workflow test".into()),
    }
}

async fn add_user(h: &Harness, upn: &str, name: &str, profile: UserProfile) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse(name).unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile,
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(LEAVER_PW)),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

/// A manager with an address, and a Sales leaver who reports to them, holds a licence and
/// leaves `days_ago` days before the harness's clock.
async fn leaver(h: &Harness, days_ago: i64) -> (User, User) {
    let manager = add_user(
        h,
        "mgr@contoso.test",
        "Morgan Manager",
        UserProfile {
            mail: Some("morgan@contoso.test".into()),
            ..UserProfile::default()
        },
    )
    .await;
    let leaver = add_user(
        h,
        "leaver@contoso.test",
        "Lee Leaver",
        UserProfile {
            department: Some("Sales".into()),
            usage_location: Some("FR".into()),
            employee_leave_date_time: Some(h.clock.now() - Duration::days(days_ago)),
            ..UserProfile::default()
        },
    )
    .await;
    h.directory
        .set_manager(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(leaver.id),
            manager.id,
        )
        .await
        .unwrap();
    let sku = h
        .directory
        .create_sku(
            &Harness::operator(),
            h.tenant(),
            NewSku {
                sku_id: None,
                sku_part_number: "ENTERPRISEPACK".into(),
                seats: 5,
                service_plans: vec!["EXCHANGE_S_ENTERPRISE".into()],
            },
        )
        .await
        .unwrap();
    h.directory
        .assign_licenses(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(leaver.id),
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: sku.sku_id,
                    disabled_plans: vec![],
                }],
                remove: vec![],
            },
        )
        .await
        .unwrap();
    (manager, leaver)
}

async fn a_leaver_whose_date_passed_is_offboarded_once_and_every_step_is_recorded(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let (manager, leaver) = leaver(&h, 1).await;
    // Someone outside the scope, also leaving, is not touched.
    add_user(
        &h,
        "other@contoso.test",
        "Ola Other",
        UserProfile {
            department: Some("Support".into()),
            employee_leave_date_time: Some(h.clock.now() - Duration::days(1)),
            ..UserProfile::default()
        },
    )
    .await;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), OFFBOARDING)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());

    h.clock.advance(Duration::hours(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.run_until_idle().await.unwrap(), 5);

    // The old password no longer signs in; the account is disabled.
    let signed_in = h
        .directory
        .sign_in_with_password(
            h.tenant(),
            "leaver@contoso.test",
            &SecretString::from(LEAVER_PW),
            &client(),
        )
        .await;
    assert!(
        matches!(
            signed_in,
            Err(SignInError::WrongPassword | SignInError::Disabled)
        ),
        "{signed_in:?}"
    );
    let after = h
        .directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(!after.account_enabled);
    assert!(after.force_change_password_next_sign_in);
    assert!(after.last_password_change > leaver.last_password_change);
    assert!(after.sign_in_sessions_valid_from > leaver.sign_in_sessions_valid_from);
    let licences = h
        .directory
        .licenses_of(&Harness::operator(), h.tenant(), &[leaver.id])
        .await
        .unwrap();
    assert!(licences.get(&leaver.id).is_none_or(Vec::is_empty));

    // The manager is notified: a workflow notice to their address is queued.
    let mail = h
        .store
        .list_mail(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![],
            limit: 50,
        })
        .await
        .unwrap();
    let notices: Vec<_> = mail
        .iter()
        .filter(|m| m.kind == MailKind::WorkflowNotice)
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].to[0].as_str(), "morgan@contoso.test");
    // …and reaches them through a real SMTP server.
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port(),
        security: Security::None,
        username: None,
        password: None,
        from: MailAddress::parse("latchkey@contoso.test").unwrap(),
        timeout: std::time::Duration::from_secs(10),
    })
    .unwrap();
    let pass = deliver_due(&h.directory, &mailer).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got[0].to, ["morgan@contoso.test"]);
    assert!(
        got[0]
            .data
            .contains("Subject: Offboarding ran for Lee Leaver"),
        "{}",
        got[0].data
    );
    assert!(got[0].data.contains("leaver@contoso.test"));

    // The run history has the run with every step succeeded.
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].user_id, leaver.id);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(runs[0].workflow_version, 1);
    assert_eq!(runs[0].steps.len(), 5);
    for step in &runs[0].steps {
        assert_eq!(step.status, StepStatus::Succeeded, "{step:?}");
        assert_eq!(step.attempts, 1);
        assert!(step.output.is_some());
    }

    // The audit log shows each change, made on the workflow channel.
    let audit = h.store.list_audit_events(h.tenant(), 50).await.unwrap();
    for activity in [
        "Reset user password",
        "Invalidate all refresh tokens for user",
        "Update user",
        "Change user license",
        "Notify manager",
    ] {
        assert!(
            audit.iter().any(|a| a.activity == activity
                && a.target_id.as_deref() == Some(leaver.id.to_string().as_str())
                && a.channel.as_str() == "workflow"),
            "no workflow audit event '{activity}': {:?}",
            audit.iter().map(|a| &a.activity).collect::<Vec<_>>()
        );
    }
    let _ = manager;

    // A second tick, even a day later, fires nothing.
    h.clock.advance(Duration::days(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    assert_eq!(engine.run_until_idle().await.unwrap(), 0);
}

async fn a_leave_date_that_passed_while_nothing_ticked_fires_once_when_ticking_resumes(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    // The leave date is still ahead when the workflow is saved.
    let (_, leaver) = leaver(&h, -3).await;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), OFFBOARDING)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    assert!(
        engine
            .dry_run(h.tenant(), "Offboarding")
            .await
            .unwrap()
            .is_empty()
    );

    // Ten days of downtime: the date passed unseen.
    h.clock.advance(Duration::days(10));
    let preview = engine.dry_run(h.tenant(), "offboarding").await.unwrap();
    assert_eq!(preview.len(), 1);
    assert_eq!(preview[0].user_principal_name, "leaver@contoso.test");
    assert_eq!(preview[0].steps.len(), 5);
    // The dry run did nothing.
    let untouched = h
        .directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(untouched.account_enabled);

    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
}

async fn a_workflow_whose_scope_names_an_unknown_attribute_is_refused_and_nothing_is_saved(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let bad = OFFBOARDING.replace("department eq", "favouriteColour eq");
    let err = h
        .directory
        .save_workflow(&Harness::operator(), h.tenant(), &bad)
        .await
        .unwrap_err();
    match err {
        DirectoryError::Invalid { property, message } => {
            assert_eq!(property, "scope");
            assert!(message.contains("favouriteColour"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let saved = h
        .directory
        .list_workflows(&Harness::operator(), h.tenant())
        .await
        .unwrap();
    assert!(saved.is_empty());
}

async fn saving_again_makes_a_new_version_and_a_run_keeps_the_one_it_started_with(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let (_, _leaver) = leaver(&h, 1).await;
    let first = h
        .directory
        .save_workflow(&Harness::operator(), h.tenant(), OFFBOARDING)
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    let second = h
        .directory
        .save_workflow(
            &Harness::operator(),
            h.tenant(),
            &OFFBOARDING.replace(
                "{\"action\": \"notifyManager\"}",
                "{\"action\": \"revokeSessions\"}",
            ),
        )
        .await
        .unwrap();
    assert_eq!((second.id, second.version), (first.id, 2));
    engine.run_until_idle().await.unwrap();
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), Some(first.id), 10)
        .await
        .unwrap();
    assert_eq!(runs[0].workflow_version, 1);
    assert_eq!(
        runs[0].steps[4].step.action.name(),
        "notifyManager",
        "the run keeps the steps of version 1"
    );
}

async fn two_workers_running_at_once_perform_each_step_exactly_once(backend: Backend) {
    let h = Harness::new(backend).await;
    let (_, _leaver) = leaver(&h, 1).await;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), OFFBOARDING)
        .await
        .unwrap();
    let a = Engine::new(h.directory.clone());
    let b = Engine::new(h.directory.clone());
    let (ta, tb) = tokio::join!(a.tick(h.tenant()), b.tick(h.tenant()));
    assert_eq!(ta.unwrap() + tb.unwrap(), 1, "one run, whoever ticked");
    let (ra, rb) = tokio::join!(a.run_until_idle(), b.run_until_idle());
    assert_eq!(ra.unwrap() + rb.unwrap(), 5, "five steps performed in all");
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert!(runs[0].steps.iter().all(|s| s.attempts == 1));
    let audit = h.store.list_audit_events(h.tenant(), 100).await.unwrap();
    let resets = audit
        .iter()
        .filter(|a| a.activity == "Reset user password" && a.channel.as_str() == "workflow")
        .count();
    assert_eq!(resets, 1, "the password was reset once");
}

async fn a_step_taken_over_after_a_crash_does_not_reset_the_password_twice(backend: Backend) {
    let h = Harness::new(backend).await;
    let (_, leaver) = leaver(&h, 1).await;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), OFFBOARDING)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);

    // A worker claims the reset, makes it, and dies before recording it.
    let claimed = h
        .directory
        .claim_workflow_steps(&latchkey_automation::workflow_actor(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    latchkey_automation::local::perform(&h.directory, &claimed[0])
        .await
        .unwrap();
    // While its lease holds, nobody else takes the step.
    assert_eq!(engine.run_due_steps().await.unwrap(), 0);

    // After the lease, another worker takes over and recognises the reset as done.
    h.clock.advance(Duration::minutes(6));
    assert_eq!(engine.run_until_idle().await.unwrap(), 5);
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(runs[0].steps[0].attempts, 2);
    assert!(
        runs[0].steps[0]
            .output
            .as_deref()
            .unwrap()
            .contains("already reset")
    );
    let audit = h.store.list_audit_events(h.tenant(), 100).await.unwrap();
    let resets = audit
        .iter()
        .filter(|a| {
            a.activity == "Reset user password"
                && a.target_id.as_deref() == Some(leaver.id.to_string().as_str())
        })
        .count();
    assert_eq!(resets, 1);
    // The dead worker's late report is refused: the lease is no longer its own.
    assert!(
        !h.directory
            .finish_workflow_step(
                &claimed[0],
                latchkey_core::directory::ActionResult::Done {
                    output: "late".into()
                }
            )
            .await
            .unwrap()
    );
}

async fn a_permanent_failure_stops_the_run_and_skips_the_rest_unless_told_to_continue(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let (_, leaver) = leaver(&h, 1).await;
    // The manager of a second leaver has no address: notifying fails for good.
    let quiet_manager = add_user(
        &h,
        "quiet@contoso.test",
        "Quinn Quiet",
        UserProfile::default(),
    )
    .await;
    h.directory
        .set_manager(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(leaver.id),
            quiet_manager.id,
        )
        .await
        .unwrap();
    let stop = r#"{"name": "Stopper", "trigger": {"kind": "leaveDate", "offsetDays": 0},
        "steps": [{"action": "notifyManager"}, {"action": "disableAccount"}]}"#;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), stop)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    engine.run_until_idle().await.unwrap();
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].steps[0].status, StepStatus::Failed);
    assert_eq!(
        runs[0].steps[0].attempts, 1,
        "a permanent failure is not retried"
    );
    assert!(
        runs[0].steps[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no e-mail address"),
        "{:?}",
        runs[0].steps[0].error
    );
    assert_eq!(runs[0].steps[1].status, StepStatus::Skipped);
    let user = h
        .directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(user.account_enabled, "a skipped step did nothing");

    let go_on = stop.replace("Stopper", "Continuer").replace(
        r#"{"action": "notifyManager"}"#,
        r#"{"action": "notifyManager", "onFailure": "continue"}"#,
    );
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), &go_on)
        .await
        .unwrap();
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    engine.run_until_idle().await.unwrap();
    let user = h
        .directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(
        !user.account_enabled,
        "the run went on past the failed notice"
    );
}

async fn two_workers_over_many_leavers_process_every_user_exactly_once(backend: Backend) {
    let h = Harness::new(backend).await;
    let mut leavers = Vec::new();
    for i in 0..12 {
        leavers.push(
            add_user(
                &h,
                &format!("leaver{i}@contoso.test"),
                &format!("Leaver Number{i}"),
                UserProfile {
                    employee_leave_date_time: Some(h.clock.now() - Duration::days(2)),
                    ..UserProfile::default()
                },
            )
            .await,
        );
    }
    // Twelve of the tenant's thirteen users at once: confirmed in the definition.
    let workflow = r#"{"name": "Lock out", "trigger": {"kind": "leaveDate", "offsetDays": 1},
        "confirmShare": true,
        "steps": [{"action": "resetPasswordUnknown"}, {"action": "disableAccount"}]}"#;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), workflow)
        .await
        .unwrap();
    let a = Engine::new(h.directory.clone());
    let b = Engine::new(h.directory.clone());
    let (pa, pb) = tokio::join!(a.pass(), b.pass());
    pa.unwrap();
    pb.unwrap();
    // Whatever either left over (a step the other held), one more pass finishes.
    a.pass().await.unwrap();
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 100)
        .await
        .unwrap();
    assert_eq!(runs.len(), leavers.len());
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(run.steps.iter().all(|s| s.attempts == 1), "{run:?}");
    }
    let audit = h.store.list_audit_events(h.tenant(), 500).await.unwrap();
    for leaver in &leavers {
        let id = leaver.id.to_string();
        let resets = audit
            .iter()
            .filter(|e| e.activity == "Reset user password" && e.target_id.as_deref() == Some(&id))
            .count();
        assert_eq!(resets, 1, "{}", leaver.user_principal_name);
    }
}

async fn a_joiner_trigger_fires_its_offset_in_days_before_the_hire_date(backend: Backend) {
    let h = Harness::new(backend).await;
    let joiner = add_user(
        &h,
        "joiner@contoso.test",
        "Jo Joiner",
        UserProfile {
            employee_hire_date: Some(h.clock.now() + Duration::days(10)),
            ..UserProfile::default()
        },
    )
    .await;
    let pre_hire = r#"{"name": "Pre-hire", "trigger": {"kind": "hireDate", "offsetDays": -7},
        "steps": [{"action": "revokeSessions"}]}"#;
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), pre_hire)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.clock.advance(Duration::days(3) - Duration::minutes(1));
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        0,
        "not yet: a minute early"
    );
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.run_until_idle().await.unwrap(), 1);
    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs[0].user_id, joiner.id);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
}

async fn a_cancelled_run_does_no_further_step_and_a_rerun_starts_it_over_once(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let (_, leaver) = leaver(&h, 1).await;
    h.directory
        .save_workflow(&op, h.tenant(), OFFBOARDING)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    // The password is reset; then an operator cancels the run.
    assert_eq!(engine.run_due_steps().await.unwrap(), 1);
    let run = h
        .directory
        .list_workflow_runs(&op, h.tenant(), None, 10)
        .await
        .unwrap()[0]
        .id;
    let rerun_running = h
        .directory
        .rerun_workflow_run(&op, h.tenant(), run)
        .await
        .unwrap_err();
    assert!(
        rerun_running.to_string().contains("cancel it first"),
        "{rerun_running}"
    );
    let cancelled = h
        .directory
        .cancel_workflow_run(&op, h.tenant(), run)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Failed);
    assert!(cancelled.cancelled_at.is_some());
    assert_eq!(cancelled.steps[0].status, StepStatus::Succeeded);
    assert!(
        cancelled.steps[1..]
            .iter()
            .all(|s| s.status == StepStatus::Skipped)
    );
    assert_eq!(
        engine.run_until_idle().await.unwrap(),
        0,
        "no further step runs"
    );
    let user = h
        .directory
        .get_user(&op, h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(user.account_enabled, "the disable step never ran");
    let again = h
        .directory
        .cancel_workflow_run(&op, h.tenant(), run)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already finished"), "{again}");
    // The trigger does not fire again for the same occurrence…
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // …but a re-run starts the workflow over for the user, once.
    h.clock.advance(Duration::minutes(1));
    let rerun = h
        .directory
        .rerun_workflow_run(&op, h.tenant(), run)
        .await
        .unwrap();
    assert_eq!(engine.run_until_idle().await.unwrap(), 5);
    let record = h
        .directory
        .get_workflow_run(&op, h.tenant(), rerun)
        .await
        .unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.user_id, leaver.id);
    let user = h
        .directory
        .get_user(&op, h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(!user.account_enabled);
    let audit = h.store.list_audit_events(h.tenant(), 200).await.unwrap();
    for activity in ["Cancel workflow run", "Re-run workflow run"] {
        assert_eq!(
            audit.iter().filter(|a| a.activity == activity).count(),
            1,
            "{activity}"
        );
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

both_backends!(
    a_leaver_whose_date_passed_is_offboarded_once_and_every_step_is_recorded,
    a_leave_date_that_passed_while_nothing_ticked_fires_once_when_ticking_resumes,
    a_workflow_whose_scope_names_an_unknown_attribute_is_refused_and_nothing_is_saved,
    saving_again_makes_a_new_version_and_a_run_keeps_the_one_it_started_with,
    two_workers_running_at_once_perform_each_step_exactly_once,
    a_step_taken_over_after_a_crash_does_not_reset_the_password_twice,
    a_permanent_failure_stops_the_run_and_skips_the_rest_unless_told_to_continue,
    two_workers_over_many_leavers_process_every_user_exactly_once,
    a_joiner_trigger_fires_its_offset_in_days_before_the_hire_date,
    a_cancelled_run_does_no_further_step_and_a_rerun_starts_it_over_once,
);
