//! The `requestApproval` step end to end through the engine, the directory and the real
//! store, on SQLite and on PostgreSQL, at an injected clock, with the approver's e-mail
//! through a real SMTP sink: the e-mail is sent once with its link, the run waits, an
//! approval continues it and a rejection ends it with the rest skipped; a request nobody
//! decides follows its `onTimeout` (reject, approve, fail); a step taken over after a crash
//! makes no second request; bad arguments are refused at save naming the field, and an
//! unknown approver fails the step at run time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::authz::Actor;
use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::mail::MailAddress;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{User, UserProfile};
use latchkey_core::workflow_store::{RunRecord, RunStatus, StepStatus};
use latchkey_mail::{DeliveryPass, Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::smtp::SmtpSink;
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

const PW: &str = "Quartz-Harbor-7319!";
const PUBLIC: &str = "https://id.contoso.test";

async fn add_user(h: &Harness, upn: &str, name: &str, mail: Option<&str>) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse(name).unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    mail: mail.map(str::to_owned),
                    ..UserProfile::default()
                },
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

/// The token from the text part's link (quoted-printable may wrap long lines with `=`).
fn token_in(data: &str) -> String {
    let unwrapped = data.replace("=\r\n", "");
    let at = unwrapped
        .find("/account/approvals/")
        .expect("a link in the message");
    unwrapped[at + "/account/approvals/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn runs(h: &Harness) -> Vec<RunRecord> {
    h.directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 100)
        .await
        .unwrap()
}

async fn audit_count(h: &Harness, activity: &str) -> usize {
    h.store
        .list_audit_events(h.tenant(), 500)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.activity == activity)
        .count()
}

async fn caller(h: &Harness, user: &User) -> Actor {
    h.directory
        .my_account_caller(h.tenant(), user)
        .await
        .unwrap()
}

struct Setup {
    h: Harness,
    engine: Engine,
    ada: User,
    boss: User,
    sink: SmtpSink,
}

/// Ada, her manager Morgan (with a mailbox), Blake the boss (with one); a manual workflow
/// with `approval` as its first step and a department set after it.
async fn setup(backend: Backend, approval: &str) -> Setup {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let ada = add_user(&h, "ada@contoso.test", "Ada Lovelace", None).await;
    let manager = add_user(
        &h,
        "morgan@contoso.test",
        "Morgan Manager",
        Some("morgan@mail.contoso.test"),
    )
    .await;
    let boss = add_user(
        &h,
        "boss@contoso.test",
        "Blake Boss",
        Some("blake@mail.contoso.test"),
    )
    .await;
    h.directory
        .set_manager(&op, h.tenant(), &UserRef::Id(ada.id), manager.id)
        .await
        .unwrap();
    let definition = format!(
        r#"{{"name": "Access", "trigger": {{"kind": "manual"}}, "steps": [
            {approval},
            {{"action": "setAttributes", "attributes": {{"department": "Approved"}}}}]}}"#
    );
    h.directory
        .save_workflow(&op, h.tenant(), &definition)
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone()).with_public_url(PUBLIC);
    engine
        .run_manually(h.tenant(), "access", &[UserRef::Id(ada.id)], false)
        .await
        .unwrap();
    let sink = SmtpSink::start().await.unwrap();
    Setup {
        h,
        engine,
        ada,
        boss,
        sink,
    }
}

async fn department(h: &Harness, user: &User) -> Option<String> {
    h.directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(user.id))
        .await
        .unwrap()
        .profile
        .department
}

async fn the_manager_is_mailed_once_and_an_approval_continues_the_run(backend: Backend) {
    let s = setup(
        backend,
        r#"{"action": "requestApproval", "approver": "manager", "timeoutDays": 3,
            "message": "{{ user.displayName }} asks for access to the lab."}"#,
    )
    .await;
    let h = &s.h;
    assert_eq!(s.engine.run_until_idle().await.unwrap(), 1);
    let run = runs(h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[0].status, StepStatus::Pending);
    let waiting = run.steps[0].output.as_deref().unwrap();
    assert!(
        waiting.contains("waiting for morgan@contoso.test"),
        "{waiting}"
    );
    assert_eq!(run.steps[1].status, StepStatus::Pending);

    // The manager's e-mail, through a real SMTP server, with the message and the link.
    let mailer = sink_mailer(&s.sink);
    assert_eq!(
        deliver_due(&h.directory, &mailer).await.unwrap(),
        DeliveryPass { sent: 1, failed: 0 }
    );
    let got = s.sink.messages();
    assert_eq!(got[0].to, ["morgan@mail.contoso.test"]);
    assert!(
        got[0]
            .data
            .contains("Subject: Approval requested: Access for Ada Lovelace")
    );
    assert!(
        got[0]
            .data
            .contains("Ada Lovelace asks for access to the lab."),
        "{}",
        got[0].data
    );
    let token = token_in(&got[0].data);
    assert_eq!(token.len(), 43);

    // Hours pass: the step is looked at again, still waiting, and no second mail goes out.
    h.clock.advance(Duration::hours(5));
    s.engine.run_until_idle().await.unwrap();
    assert_eq!(
        deliver_due(&h.directory, &mailer).await.unwrap().claimed(),
        0
    );
    assert_eq!(runs(h).await[0].status, RunStatus::Running);
    assert_eq!(department(h, &s.ada).await, None);
    assert_eq!(audit_count(h, "Request approval").await, 1);

    // Another user may not decide; the manager approves and the run goes on at once.
    let refused = h
        .directory
        .decide_approval(&caller(h, &s.boss).await, &token, true)
        .await
        .unwrap_err();
    assert!(matches!(refused, DirectoryError::Denied(_)), "{refused:?}");
    let manager = h
        .directory
        .get_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Upn(Upn::parse("morgan@contoso.test").unwrap()),
        )
        .await
        .unwrap();
    let view = h
        .directory
        .decide_approval(&caller(h, &manager).await, &token, true)
        .await
        .unwrap();
    assert_eq!(view.status.as_str(), "approved");
    assert_eq!(s.engine.run_until_idle().await.unwrap(), 2);
    let run = runs(h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        run.steps[0].output.as_deref(),
        Some("approved by morgan@contoso.test")
    );
    assert_eq!(department(h, &s.ada).await.as_deref(), Some("Approved"));
    // Decided once: a second decision is refused.
    let again = h
        .directory
        .decide_approval(&caller(h, &manager).await, &token, false)
        .await
        .unwrap_err();
    assert!(matches!(again, DirectoryError::Invalid { .. }), "{again:?}");
    // The audit log says who decided what.
    let decided: Vec<_> = h
        .store
        .list_audit_events(h.tenant(), 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.activity == "Decide approval")
        .collect();
    assert_eq!(decided.len(), 1);
    let said = format!("{:?}", decided[0]);
    assert!(said.contains("morgan@contoso.test"), "{said}");
    assert!(said.contains("approved"), "{said}");
    assert!(!said.contains(&token));
}

async fn a_rejection_ends_the_run_and_skips_the_remaining_steps(backend: Backend) {
    let s = setup(
        backend,
        r#"{"action": "requestApproval", "approver": "boss@contoso.test", "timeoutDays": 3}"#,
    )
    .await;
    let h = &s.h;
    s.engine.run_until_idle().await.unwrap();
    let mailer = sink_mailer(&s.sink);
    deliver_due(&h.directory, &mailer).await.unwrap();
    let got = s.sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["blake@mail.contoso.test"]);
    let token = token_in(&got[0].data);
    h.directory
        .decide_approval(&caller(h, &s.boss).await, &token, false)
        .await
        .unwrap();
    s.engine.run_until_idle().await.unwrap();
    let run = runs(h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[0].status, StepStatus::Failed);
    let error = run.steps[0].error.as_deref().unwrap();
    assert!(error.contains("rejected by boss@contoso.test"), "{error}");
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    assert_eq!(department(h, &s.ada).await, None);
}

async fn an_undecided_request_follows_its_timeout_policy(backend: Backend) {
    for (policy, status, department_after, said) in [
        ("reject", RunStatus::Failed, None, "rejected on timeout"),
        (
            "approve",
            RunStatus::Succeeded,
            Some("Approved"),
            "approved on timeout",
        ),
        ("fail", RunStatus::Failed, None, "fails on timeout"),
    ] {
        let s = setup(
            backend,
            &format!(
                r#"{{"action": "requestApproval", "approver": "manager", "timeoutDays": 2,
                    "onTimeout": "{policy}"}}"#
            ),
        )
        .await;
        let h = &s.h;
        s.engine.run_until_idle().await.unwrap();
        deliver_due(&h.directory, &sink_mailer(&s.sink))
            .await
            .unwrap();
        let token = token_in(&s.sink.messages()[0].data);
        // Just before the deadline it still waits; after it, the policy decides.
        h.clock.advance(Duration::days(2) - Duration::minutes(1));
        s.engine.run_until_idle().await.unwrap();
        assert_eq!(runs(h).await[0].status, RunStatus::Running, "{policy}");
        h.clock.advance(Duration::minutes(2));
        s.engine.run_until_idle().await.unwrap();
        let run = runs(h).await.pop().unwrap();
        assert_eq!(run.status, status, "{policy}");
        let text = run.steps[0]
            .output
            .clone()
            .or(run.steps[0].error.clone())
            .unwrap();
        assert!(text.contains(said), "{policy}: {text}");
        assert_eq!(
            department(h, &s.ada).await.as_deref(),
            department_after,
            "{policy}"
        );
        if policy != "approve" {
            assert_eq!(run.steps[1].status, StepStatus::Skipped, "{policy}");
        }
        // The expired link decides nothing any more.
        let manager = h
            .directory
            .get_user(
                &Harness::operator(),
                h.tenant(),
                &UserRef::Upn(Upn::parse("morgan@contoso.test").unwrap()),
            )
            .await
            .unwrap();
        let late = h
            .directory
            .decide_approval(&caller(h, &manager).await, &token, true)
            .await
            .unwrap_err();
        assert!(late.to_string().contains("expired"), "{late}");
    }
}

async fn a_step_taken_over_after_a_crash_makes_no_second_request(backend: Backend) {
    let s = setup(
        backend,
        r#"{"action": "requestApproval", "approver": "manager", "timeoutDays": 3}"#,
    )
    .await;
    let h = &s.h;
    // A worker claims the step, makes the request, and dies before recording it.
    let claimed = h
        .directory
        .claim_workflow_steps(&latchkey_automation::workflow_actor(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let first =
        latchkey_automation::approval::request(&h.directory, &claimed[0], Some(PUBLIC)).await;
    assert!(matches!(
        first,
        latchkey_core::directory::ActionResult::Done { .. }
    ));
    // After the lease another worker takes over and finds the request made.
    h.clock.advance(Duration::minutes(6));
    assert_eq!(s.engine.run_until_idle().await.unwrap(), 1);
    let run = runs(h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[0].attempts, 1, "a wait's claims are not attempts");
    assert_eq!(
        deliver_due(&h.directory, &sink_mailer(&s.sink))
            .await
            .unwrap(),
        DeliveryPass { sent: 1, failed: 0 }
    );
    assert_eq!(s.sink.messages().len(), 1);
    assert_eq!(audit_count(h, "Request approval").await, 1);
}

async fn bad_arguments_are_refused_at_save_and_an_unknown_approver_fails_the_step(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    for (step, field) in [
        (
            r#"{"action": "requestApproval", "approver": "manager", "timeoutDays": 0}"#,
            "steps[0].timeoutDays",
        ),
        (
            r#"{"action": "requestApproval", "approver": "manager", "timeoutDays": 91}"#,
            "steps[0].timeoutDays",
        ),
        (
            r#"{"action": "requestApproval", "approver": "manager", "onTimeout": "later"}"#,
            "steps[0].onTimeout",
        ),
        (
            r#"{"action": "requestApproval", "approver": "the boss"}"#,
            "steps[0].approver",
        ),
        (
            r#"{"action": "requestApproval", "approver": "manager", "message": "{{ oops"}"#,
            "steps[0].message",
        ),
    ] {
        let definition =
            format!(r#"{{"name": "Bad", "trigger": {{"kind": "manual"}}, "steps": [{step}]}}"#);
        match h
            .directory
            .save_workflow(&op, h.tenant(), &definition)
            .await
        {
            Err(DirectoryError::Invalid { property, .. }) => assert_eq!(property, field, "{step}"),
            other => panic!("{step}: {other:?}"),
        }
    }
    assert!(
        h.directory
            .list_workflows(&op, h.tenant())
            .await
            .unwrap()
            .is_empty()
    );

    let ada = add_user(&h, "ada@contoso.test", "Ada", None).await;
    h.directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Nobody", "trigger": {"kind": "manual"}, "steps": [
                {"action": "requestApproval", "approver": "nobody@contoso.test"}]}"#,
        )
        .await
        .unwrap();
    let engine = Engine::new(h.directory.clone()).with_public_url(PUBLIC);
    engine
        .run_manually(h.tenant(), "nobody", &[UserRef::Id(ada.id)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let run = runs(&h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.steps[0].error.as_deref().unwrap();
    assert!(
        error.contains("steps[0].approver") && error.contains("no user nobody@contoso.test"),
        "{error}"
    );
}

async fn an_engine_without_the_public_url_leaves_the_request_to_one_that_has_it(backend: Backend) {
    let s = setup(
        backend,
        r#"{"action": "requestApproval", "approver": "manager"}"#,
    )
    .await;
    let h = &s.h;
    let offline = Engine::new(h.directory.clone());
    offline.run_until_idle().await.unwrap();
    let run = runs(h).await.pop().unwrap();
    assert_eq!(run.steps[0].status, StepStatus::Pending);
    let error = run.steps[0].error.as_deref().unwrap();
    assert!(error.contains("no public URL"), "{error}");
    assert_eq!(audit_count(h, "Request approval").await, 0);
    // The server's worker, a minute later, makes the request.
    h.clock.advance(Duration::minutes(1));
    s.engine.run_until_idle().await.unwrap();
    assert_eq!(audit_count(h, "Request approval").await, 1);
    assert_eq!(
        deliver_due(&h.directory, &sink_mailer(&s.sink))
            .await
            .unwrap(),
        DeliveryPass { sent: 1, failed: 0 }
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

async fn a_request_of_a_cancelled_run_can_no_longer_be_decided(backend: Backend) {
    let s = setup(
        backend,
        r#"{"action": "requestApproval", "approver": "boss@contoso.test", "timeoutDays": 3}"#,
    )
    .await;
    let h = &s.h;
    s.engine.run_until_idle().await.unwrap();
    deliver_due(&h.directory, &sink_mailer(&s.sink))
        .await
        .unwrap();
    let token = token_in(&s.sink.messages()[0].data);
    let run = runs(h).await.pop().unwrap();
    h.directory
        .cancel_workflow_run(&Harness::operator(), h.tenant(), run.id)
        .await
        .unwrap();
    let refused = h
        .directory
        .decide_approval(&caller(h, &s.boss).await, &token, true)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DirectoryError::Invalid { message, .. } if message.contains("cancelled")),
        "{refused:?}"
    );
    assert_eq!(
        audit_count(h, "Decide approval").await,
        0,
        "nothing was decided"
    );
    s.engine.run_until_idle().await.unwrap();
    assert_eq!(department(h, &s.ada).await, None);
}

both_backends!(
    a_request_of_a_cancelled_run_can_no_longer_be_decided,
    the_manager_is_mailed_once_and_an_approval_continues_the_run,
    a_rejection_ends_the_run_and_skips_the_remaining_steps,
    an_undecided_request_follows_its_timeout_policy,
    a_step_taken_over_after_a_crash_makes_no_second_request,
    bad_arguments_are_refused_at_save_and_an_unknown_approver_fails_the_step,
    an_engine_without_the_public_url_leaves_the_request_to_one_that_has_it,
);
