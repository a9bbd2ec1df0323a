//! The joiner triggers and actions end to end through the engine, the directory and the
//! real store, on SQLite and on PostgreSQL, at an injected clock: a user created after a
//! `userCreated` workflow exists gets a department, a role and a licence, and their manager
//! a rendered e-mail through a real SMTP sink; an `accountDisabled` workflow takes a licence
//! back once per disable; bad definitions are refused naming the field; a template that
//! fails at run time fails its step with the error in the run history, and the run can be
//! re-run once the workflow is fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::directory::{NewUser, PasswordChoice, UserChanges, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::license::{AssignedLicense, LicenseChange, NewSku, Sku};
use latchkey_core::mail::{MailAddress, MailKind, MailQuery};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::{User, UserProfile};
use latchkey_core::workflow_store::{RunRecord, RunStatus, StepStatus};
use latchkey_mail::{DeliveryPass, Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::smtp::SmtpSink;
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

const PW: &str = "Quartz-Harbor-7319!";

const JOINER: &str = r#"{
    "name": "Joiner",
    "trigger": {"kind": "userCreated"},
    "scope": "startsWith(userPrincipalName, 'new.')",
    "steps": [
        {"action": "setAttributes",
         "attributes": {"department": "Engineering", "jobTitle": "Engineer", "usageLocation": "FR"}},
        {"action": "addRole", "role": "Helpdesk Administrator"},
        {"action": "assignLicense", "sku": "ENTERPRISEPACK"},
        {"action": "sendEmail", "to": "manager",
         "subject": "Welcome {{ user.displayName }} to {{ user.department }}",
         "body": "Hello {{ user.manager.displayName }},\n\n{{ user.displayName }} ({{ user.userPrincipalName }}) joins as {{ user.jobTitle | lower }}.\n\nSent by {{ workflow.name }}."}
    ]
}"#;

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
                password: PasswordChoice::Provided(SecretString::from(PW)),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn sku(h: &Harness) -> Sku {
    h.directory
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
        .unwrap()
}

async fn get(h: &Harness, user: &User) -> User {
    h.directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(user.id))
        .await
        .unwrap()
}

async fn licences(h: &Harness, user: &User) -> Vec<AssignedLicense> {
    h.directory
        .licenses_of(&Harness::operator(), h.tenant(), &[user.id])
        .await
        .unwrap()
        .remove(&user.id)
        .unwrap_or_default()
}

async fn runs(h: &Harness) -> Vec<RunRecord> {
    h.directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 100)
        .await
        .unwrap()
}

async fn set_enabled(h: &Harness, user: &User, enabled: bool) {
    h.directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            UserChanges {
                account_enabled: Some(enabled),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
}

fn invalid(e: DirectoryError) -> (String, String) {
    match e {
        DirectoryError::Invalid { property, message } => (property, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn workflow_audit_count(h: &Harness, user: &User, activity: &str) -> usize {
    h.store
        .list_audit_events(h.tenant(), 500)
        .await
        .unwrap()
        .iter()
        .filter(|a| {
            a.activity == activity
                && a.target_id.as_deref() == Some(user.id.to_string().as_str())
                && a.channel.as_str() == "workflow"
        })
        .count()
}

fn sink_mailer(sink: &SmtpSink) -> Mailer {
    Mailer::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port(),
        security: Security::None,
        username: None,
        password: None,
        from: MailAddress::parse("latchkey@contoso.test").unwrap(),
        timeout: std::time::Duration::from_secs(10),
    })
    .unwrap()
}

async fn a_user_created_after_the_joiner_workflow_gets_attributes_role_licence_and_a_mail_to_the_manager(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let sku = sku(&h).await;
    let manager = add_user(
        &h,
        "mgr@contoso.test",
        "Morgan Manager",
        UserProfile {
            mail: Some("morgan@contoso.test".into()),
            ..UserProfile::default()
        },
    )
    .await;
    // Created before the workflow: never a joiner run.
    let earlier = add_user(
        &h,
        "new.early@contoso.test",
        "Early",
        UserProfile::default(),
    )
    .await;
    h.clock.advance(Duration::minutes(1));
    h.directory
        .save_workflow(&op, h.tenant(), JOINER)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());

    h.clock.advance(Duration::minutes(1));
    let joiner = add_user(
        &h,
        "new.jo@contoso.test",
        "Jo Joiner",
        UserProfile::default(),
    )
    .await;
    // Outside the scope: created, but not a joiner of this workflow.
    let outside = add_user(&h, "svc@contoso.test", "Service", UserProfile::default()).await;
    h.directory
        .set_manager(&op, h.tenant(), &UserRef::Id(joiner.id), manager.id)
        .await
        .unwrap();
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        0,
        "a change settles before it is read"
    );
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.run_until_idle().await.unwrap(), 4);

    let after = get(&h, &joiner).await;
    assert_eq!(after.profile.department.as_deref(), Some("Engineering"));
    assert_eq!(after.profile.job_title.as_deref(), Some("Engineer"));
    let roles = h
        .directory
        .member_of(&op, h.tenant(), &UserRef::Id(joiner.id))
        .await
        .unwrap();
    assert_eq!(roles, [DirectoryRole::HelpdeskAdministrator]);
    let held = licences(&h, &joiner).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].sku_id, sku.sku_id);
    for other in [&earlier, &outside] {
        let o = get(&h, other).await;
        assert_eq!(o.profile.department, None);
        assert!(licences(&h, other).await.is_empty());
    }

    // The run history: every step succeeded, the mail's rendered subject in its output.
    let all = runs(&h).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].user_id, joiner.id);
    assert_eq!(all[0].status, RunStatus::Succeeded);
    assert!(
        all[0]
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Succeeded)
    );
    let mail_output = all[0].steps[3].output.as_deref().unwrap();
    assert!(
        mail_output.contains("Welcome Jo Joiner to Engineering"),
        "{mail_output}"
    );

    // The manager's message goes through a real SMTP server, rendered.
    let queued = h
        .store
        .list_mail(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![],
            limit: 50,
        })
        .await
        .unwrap();
    let ours: Vec<_> = queued
        .iter()
        .filter(|m| m.kind == MailKind::WorkflowMessage)
        .collect();
    assert_eq!(ours.len(), 1);
    let sink = SmtpSink::start().await.unwrap();
    let pass = deliver_due(&h.directory, &sink_mailer(&sink))
        .await
        .unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got[0].to, ["morgan@contoso.test"]);
    assert!(
        got[0]
            .data
            .contains("Subject: Welcome Jo Joiner to Engineering"),
        "{}",
        got[0].data
    );
    assert!(
        got[0].data.contains("Hello Morgan Manager,"),
        "{}",
        got[0].data
    );
    assert!(
        got[0]
            .data
            .contains("Jo Joiner (new.jo@contoso.test) joins as engineer."),
        "{}",
        got[0].data
    );

    // Each change is in the audit log, by the operation it went through, on the workflow
    // channel.
    for activity in [
        "Update user",
        "Add member to role",
        "Change user license",
        "Send workflow e-mail",
    ] {
        assert_eq!(
            workflow_audit_count(&h, &joiner, activity).await,
            1,
            "{activity}"
        );
    }

    // Nothing fires twice; a re-run finds the role and the licence held and applies nothing
    // again (only the message is sent anew).
    h.clock.advance(Duration::days(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.directory
        .rerun_workflow_run(&op, h.tenant(), all[0].id)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let rerun = runs(&h)
        .await
        .into_iter()
        .find(|r| r.id != all[0].id)
        .unwrap();
    assert_eq!(rerun.status, RunStatus::Succeeded);
    let outputs: Vec<_> = rerun
        .steps
        .iter()
        .map(|s| s.output.clone().unwrap_or_default())
        .collect();
    assert!(outputs[0].contains("nothing to do"), "{outputs:?}");
    assert!(outputs[1].contains("already holds"), "{outputs:?}");
    assert!(outputs[2].contains("already holds"), "{outputs:?}");
    for activity in ["Update user", "Add member to role", "Change user license"] {
        assert_eq!(
            workflow_audit_count(&h, &joiner, activity).await,
            1,
            "{activity} applied twice"
        );
    }
    assert_eq!(licences(&h, &joiner).await.len(), 1);

    // Disabled, the workflow passes over the users created meanwhile; enabled again, it
    // fires for those created after.
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            &JOINER.replace(
                r#""name": "Joiner","#,
                r#""name": "Joiner", "enabled": false,"#,
            ),
        )
        .await
        .unwrap();
    let while_off = add_user(&h, "new.off@contoso.test", "Off", UserProfile::default()).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.directory
        .save_workflow(&op, h.tenant(), JOINER)
        .await
        .unwrap();
    let after_on = add_user(&h, "new.on@contoso.test", "On", UserProfile::default()).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    let started: Vec<_> = runs(&h).await.iter().map(|r| r.user_id).collect();
    assert!(started.contains(&after_on.id));
    assert!(!started.contains(&while_off.id));
}

async fn an_account_disabled_workflow_removes_the_licence_once_per_disable(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let sku = sku(&h).await;
    let user = add_user(
        &h,
        "lee@contoso.test",
        "Lee",
        UserProfile {
            usage_location: Some("FR".into()),
            ..UserProfile::default()
        },
    )
    .await;
    let assign = || LicenseChange {
        add: vec![AssignedLicense {
            sku_id: sku.sku_id,
            disabled_plans: vec![],
        }],
        remove: vec![],
    };
    h.directory
        .assign_licenses(&op, h.tenant(), &UserRef::Id(user.id), assign())
        .await
        .unwrap();
    // A disable before the workflow exists does not fire.
    set_enabled(&h, &user, false).await;
    set_enabled(&h, &user, true).await;
    h.clock.advance(Duration::minutes(1));
    // The SKU named by its id this time.
    let raw = format!(
        r#"{{"name": "Disabled", "trigger": {{"kind": "accountDisabled"}},
            "steps": [{{"action": "removeLicense", "sku": "{}"}}]}}"#,
        sku.sku_id
    );
    h.directory
        .save_workflow(&op, h.tenant(), &raw)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // Another change: nothing.
    h.directory
        .update_user(
            &op,
            h.tenant(),
            &UserRef::Id(user.id),
            UserChanges {
                text: vec![(
                    latchkey_core::directory::ProfileField::Department,
                    Some("Sales".into()),
                )],
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // Disabled: one run, and only one however often it ticks; the licence is gone.
    set_enabled(&h, &user, false).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    engine.run_until_idle().await.unwrap();
    assert!(licences(&h, &user).await.is_empty());
    assert_eq!(
        workflow_audit_count(&h, &user, "Change user license").await,
        1
    );

    // Enabled again with the licence back, and disabled again: a second run.
    set_enabled(&h, &user, true).await;
    h.directory
        .assign_licenses(&op, h.tenant(), &UserRef::Id(user.id), assign())
        .await
        .unwrap();
    set_enabled(&h, &user, false).await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    engine.run_until_idle().await.unwrap();
    assert!(licences(&h, &user).await.is_empty());
    let all = runs(&h).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|r| r.status == RunStatus::Succeeded));
    // A re-run finds nothing to remove and changes nothing.
    h.directory
        .rerun_workflow_run(&op, h.tenant(), all[0].id)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let outputs: Vec<String> = runs(&h)
        .await
        .iter()
        .flat_map(|r| r.steps.iter().filter_map(|s| s.output.clone()))
        .collect();
    assert!(
        outputs.iter().any(|o| o.contains("does not hold")),
        "{outputs:?}"
    );
    assert_eq!(
        workflow_audit_count(&h, &user, "Change user license").await,
        2
    );
}

async fn bad_definitions_are_refused_naming_the_field_and_nothing_is_saved(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    sku(&h).await;
    let manual = |steps: &str| {
        format!(r#"{{"name": "Bad", "trigger": {{"kind": "manual"}}, "steps": [{steps}]}}"#)
    };
    let remote = |steps: &str| {
        format!(
            r#"{{"name": "Bad", "trigger": {{"kind": "manual"}}, "target": {{"tenant": "fabrikam"}},
                "steps": [{steps}]}}"#
        )
    };
    let cases = [
        (
            manual(r#"{"action": "setAttributes", "attributes": {"shoeSize": "44"}}"#),
            "steps[0].attributes.shoeSize",
            "shoeSize",
        ),
        (
            manual(r#"{"action": "setAttributes", "attributes": {"department": 42}}"#),
            "steps[0].attributes.department",
            "string or null",
        ),
        (
            manual(r#"{"action": "setAttributes", "attributes": {}}"#),
            "steps[0].attributes",
            "at least one",
        ),
        (
            manual(r#"{"action": "addRole", "role": "Chief Wizard"}"#),
            "steps[0].role",
            "Chief Wizard",
        ),
        (
            manual(r#"{"action": "revokeSessions"}, {"action": "assignLicense", "sku": "NOPE"}"#),
            "steps[1].sku",
            "NOPE",
        ),
        (
            manual(r#"{"action": "sendEmail", "to": "nobody", "subject": "x", "body": "y"}"#),
            "steps[0].to",
            "nobody",
        ),
        (
            manual(
                r#"{"action": "revokeSessions"},
                   {"action": "sendEmail", "to": "user", "subject": "Hi {{ user.displayName", "body": "y"}"#,
            ),
            "steps[1].subject",
            "template",
        ),
        (
            manual(
                r#"{"action": "sendEmail", "to": "it@contoso.test", "subject": "x", "body": "{% for %}"}"#,
            ),
            "steps[0].body",
            "template",
        ),
        (
            remote(r#"{"action": "notifyManager"}"#),
            "steps[0].action",
            "connected tenant",
        ),
        (
            remote(r#"{"action": "sendEmail", "to": "user", "subject": "x", "body": "y"}"#),
            "steps[0].action",
            "connected tenant",
        ),
        (
            remote(r#"{"action": "assignLicense", "sku": " "}"#),
            "steps[0].sku",
            "must name a SKU",
        ),
    ];
    for (raw, field, says) in cases {
        let (property, message) = invalid(
            h.directory
                .save_workflow(&op, h.tenant(), &raw)
                .await
                .unwrap_err(),
        );
        assert_eq!(property, field, "{raw}: {message}");
        assert!(message.contains(says), "{raw}: {message}");
    }
    // An unknown trigger kind is named by the parser.
    let (_, message) = invalid(
        h.directory
            .save_workflow(
                &op,
                h.tenant(),
                r#"{"name": "Bad", "trigger": {"kind": "userHired"}, "steps": [{"action": "enableAccount"}]}"#,
            )
            .await
            .unwrap_err(),
    );
    assert!(message.contains("userHired"), "{message}");
    assert!(
        h.directory
            .list_workflows(&op, h.tenant())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_template_failing_at_run_time_fails_its_step_with_the_error_and_the_run_can_be_rerun(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let user = add_user(
        &h,
        "ada@contoso.test",
        "Ada",
        UserProfile {
            mail: Some("ada@contoso.test".into()),
            ..UserProfile::default()
        },
    )
    .await;
    set_enabled(&h, &user, false).await;
    // Parses, but names an attribute users do not have.
    let broken = r#"{"name": "Welcome back", "trigger": {"kind": "manual"}, "steps": [
        {"action": "sendEmail", "to": "user", "subject": "Welcome back",
         "body": "Your shoe size is {{ user.shoeSize }}"},
        {"action": "enableAccount"}]}"#;
    h.directory
        .save_workflow(&op, h.tenant(), broken)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "welcome back", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let failed = runs(&h).await.pop().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.steps[0].status, StepStatus::Failed);
    assert_eq!(
        failed.steps[0].attempts, 1,
        "a template error is not retried"
    );
    let error = failed.steps[0].error.as_deref().unwrap();
    assert!(error.contains("steps[0].body"), "{error}");
    assert!(error.contains("undefined"), "{error}");
    assert_eq!(failed.steps[1].status, StepStatus::Skipped);
    assert!(!get(&h, &user).await.account_enabled);
    let queued = h
        .store
        .list_mail(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![],
            limit: 50,
        })
        .await
        .unwrap();
    assert!(queued.iter().all(|m| m.kind != MailKind::WorkflowMessage));

    // Fixed and re-run: the message goes out and the account is enabled.
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            &broken.replace(
                "{{ user.shoeSize }}",
                "{{ user.shoeSize | default('unknown') }}",
            ),
        )
        .await
        .unwrap();
    h.directory
        .rerun_workflow_run(&op, h.tenant(), failed.id)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let rerun = runs(&h)
        .await
        .into_iter()
        .find(|r| r.id != failed.id)
        .unwrap();
    assert_eq!(rerun.status, RunStatus::Succeeded, "{rerun:?}");
    assert!(get(&h, &user).await.account_enabled);
    let sink = SmtpSink::start().await.unwrap();
    let pass = deliver_due(&h.directory, &sink_mailer(&sink))
        .await
        .unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got[0].to, ["ada@contoso.test"]);
    assert!(
        got[0].data.contains("Your shoe size is unknown"),
        "{}",
        got[0].data
    );
    assert_eq!(
        workflow_audit_count(&h, &user, "Send workflow e-mail").await,
        1
    );
}

async fn an_email_step_taken_over_after_a_crash_does_not_send_twice(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let user = add_user(
        &h,
        "ada@contoso.test",
        "Ada",
        UserProfile {
            mail: Some("ada@contoso.test".into()),
            ..UserProfile::default()
        },
    )
    .await;
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Hello", "trigger": {"kind": "manual"}, "steps": [
                {"action": "sendEmail", "to": "user", "subject": "Hello {{ user.displayName }}",
                 "body": "Hi."}]}"#,
        )
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "hello", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    // A worker claims the step, queues the message, and dies before recording it.
    let claimed = h
        .directory
        .claim_workflow_steps(&latchkey_automation::workflow_actor(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    latchkey_automation::local::perform(&h.directory, &claimed[0])
        .await
        .unwrap();
    // After the lease another worker takes over and finds the message queued.
    h.clock.advance(Duration::minutes(6));
    assert_eq!(engine.run_until_idle().await.unwrap(), 1);
    let run = runs(&h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[0].attempts, 2);
    let output = run.steps[0].output.as_deref().unwrap();
    assert!(output.contains("already queued"), "{output}");
    let sink = SmtpSink::start().await.unwrap();
    let pass = deliver_due(&h.directory, &sink_mailer(&sink))
        .await
        .unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(
        workflow_audit_count(&h, &user, "Send workflow e-mail").await,
        1
    );
}

async fn a_manager_notice_taken_over_after_a_crash_is_sent_once(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let manager = add_user(
        &h,
        "grace@contoso.test",
        "Grace",
        UserProfile {
            mail: Some("grace@contoso.test".into()),
            ..UserProfile::default()
        },
    )
    .await;
    let user = add_user(&h, "ada@contoso.test", "Ada", UserProfile::default()).await;
    h.directory
        .set_manager(&op, h.tenant(), &UserRef::Id(user.id), manager.id)
        .await
        .unwrap();
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Tell the manager", "trigger": {"kind": "manual"},
                "steps": [{"action": "notifyManager"}]}"#,
        )
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(
            h.tenant(),
            "tell the manager",
            &[UserRef::Id(user.id)],
            false,
        )
        .await
        .unwrap();
    // A worker claims the step, queues the notice, and dies before recording it.
    let claimed = h
        .directory
        .claim_workflow_steps(&latchkey_automation::workflow_actor(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    latchkey_automation::local::perform(&h.directory, &claimed[0])
        .await
        .unwrap();
    // Another worker takes the step over once the lease has run out.
    h.clock.advance(Duration::minutes(6));
    assert_eq!(engine.run_until_idle().await.unwrap(), 1);
    let run = runs(&h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[0].attempts, 2);
    let output = run.steps[0].output.as_deref().unwrap();
    assert!(output.contains("already queued"), "{output}");
    let sink = SmtpSink::start().await.unwrap();
    let pass = deliver_due(&h.directory, &sink_mailer(&sink))
        .await
        .unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["grace@contoso.test"]);
    assert_eq!(workflow_audit_count(&h, &user, "Notify manager").await, 1);
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
    a_user_created_after_the_joiner_workflow_gets_attributes_role_licence_and_a_mail_to_the_manager,
    an_account_disabled_workflow_removes_the_licence_once_per_disable,
    bad_definitions_are_refused_naming_the_field_and_nothing_is_saved,
    a_template_failing_at_run_time_fails_its_step_with_the_error_and_the_run_can_be_rerun,
    an_email_step_taken_over_after_a_crash_does_not_send_twice,
    a_manager_notice_taken_over_after_a_crash_is_sent_once,
);
