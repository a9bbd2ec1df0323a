//! The `resetPassword` step and the built-in pre-hire template end to end through the engine,
//! the directory and the real store, on SQLite and PostgreSQL, at an injected clock: the day
//! before the hire date the manager receives (through a real SMTP sink) a view-once link whose
//! password signs in and must be changed; a step taken over after a crash resets once and
//! sends one link; no mail delivery, no manager or no address fail the step naming
//! `deliverTo` and reset nothing; the step is refused at save against a connected tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_automation::{Engine, delivered, templates, workflow_actor};
use latchkey_core::Directory;
use latchkey_core::clock::Clock as _;
use latchkey_core::delivery::DeliverySettings;
use latchkey_core::directory::{ClientRef, NewUser, PasswordChoice, SignInError, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::mail::MailAddress;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{User, UserProfile};
use latchkey_core::workflow_http::DeliverTo;
use latchkey_core::workflow_store::{RunRecord, RunStatus, StepStatus};
use latchkey_mail::{DeliveryPass, Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::smtp::SmtpSink;
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

const PW: &str = "Quartz-Harbor-7319!";
const PUBLIC_URL: &str = "https://id.contoso.test";

async fn add_user(h: &Harness, upn: &str, enabled: bool, profile: UserProfile) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse(upn.split('@').next().unwrap()).unwrap(),
                mail_nickname: None,
                account_enabled: enabled,
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

fn mail(address: &str) -> UserProfile {
    UserProfile {
        mail: Some(address.into()),
        ..UserProfile::default()
    }
}

async fn set_manager(h: &Harness, user: &User, manager: &User) {
    h.directory
        .set_manager(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            manager.id,
        )
        .await
        .unwrap();
}

/// The harness's directory as a server with an SMTP host configured.
fn with_mail(h: &Harness) -> Directory {
    h.directory
        .clone()
        .with_delivery_settings(DeliverySettings {
            mail_enabled: true,
            ..DeliverySettings::default()
        })
}

async fn get(h: &Harness, user: &User) -> User {
    h.directory
        .get_user(&Harness::operator(), h.tenant(), &UserRef::Id(user.id))
        .await
        .unwrap()
}

async fn runs(h: &Harness) -> Vec<RunRecord> {
    h.directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 100)
        .await
        .unwrap()
}

async fn resets(h: &Harness, user: &User) -> usize {
    h.store
        .list_audit_events(h.tenant(), 500)
        .await
        .unwrap()
        .iter()
        .filter(|a| {
            a.activity == "Reset user password"
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

/// The token from the text part's link (quoted-printable may wrap long lines with `=`).
fn token_in(data: &str) -> String {
    let unwrapped = data.replace("=\r\n", "");
    let at = unwrapped
        .find("/account/delivered/")
        .expect("a link in the message");
    unwrapped[at + "/account/delivered/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn client() -> ClientRef {
    ClientRef {
        app_id: None,
        display_name: Some("Pre-hire test".into()),
    }
}

fn invalid(e: DirectoryError) -> (String, String) {
    match e {
        DirectoryError::Invalid { property, message } => (property, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn the_pre_hire_template_sends_the_manager_a_link_to_a_password_that_signs_in_and_must_be_changed(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let directory = with_mail(&h);
    let manager = add_user(
        &h,
        "morgan@contoso.test",
        true,
        mail("morgan@mail.contoso.test"),
    )
    .await;
    let hire = add_user(
        &h,
        "hana@contoso.test",
        false,
        UserProfile {
            employee_hire_date: Some(h.clock.now() + Duration::days(3)),
            ..UserProfile::default()
        },
    )
    .await;
    set_manager(&h, &hire, &manager).await;
    let template = templates::find("pre-hire").unwrap();
    directory
        .save_workflow(&Harness::operator(), h.tenant(), template.definition)
        .await
        .unwrap();
    let engine = Engine::new(directory.clone()).with_public_url(PUBLIC_URL);

    // Two days before the hire date nothing is due; the day before, one run.
    h.clock.advance(Duration::days(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    h.clock.advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.run_until_idle().await.unwrap(), 2);
    let run = runs(&h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let output = run.steps[1].output.clone().unwrap();
    assert!(output.contains("morgan@mail.contoso.test"), "{output}");

    let sink = SmtpSink::start().await.unwrap();
    let pass = deliver_due(&directory, &sink_mailer(&sink)).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got[0].to, ["morgan@mail.contoso.test"]);
    assert!(
        got[0]
            .data
            .contains("https://id.contoso.test/account/delivered/")
    );
    let revealed = directory
        .reveal_view_once(&token_in(&got[0].data))
        .await
        .unwrap();
    assert_eq!(revealed.user_principal_name, "hana@contoso.test");
    let password = revealed.password.expose_secret().to_owned();
    assert!(!got[0].data.contains(&password));
    assert!(!output.contains(&password));

    // The delivered password is right and must be changed; the old one no longer works.
    let signed_in = directory
        .sign_in_with_password(
            h.tenant(),
            "hana@contoso.test",
            &SecretString::from(password),
            &client(),
        )
        .await;
    assert!(
        matches!(signed_in, Err(SignInError::MustChangePassword(_))),
        "{signed_in:?}"
    );
    let old = directory
        .sign_in_with_password(
            h.tenant(),
            "hana@contoso.test",
            &SecretString::from(PW),
            &client(),
        )
        .await;
    assert!(matches!(old, Err(SignInError::WrongPassword)), "{old:?}");
    let after = get(&h, &hire).await;
    assert!(after.account_enabled);
    assert!(after.force_change_password_next_sign_in);
    assert_eq!(resets(&h, &hire).await, 1);
    // A second tick starts nothing more for the same hire date.
    h.clock.advance(Duration::hours(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
}

async fn a_reset_step_taken_over_after_a_crash_resets_once_and_sends_one_link(backend: Backend) {
    let h = Harness::new(backend).await;
    let directory = with_mail(&h);
    let user = add_user(&h, "ada@contoso.test", true, mail("ada@mail.contoso.test")).await;
    directory
        .save_workflow(
            &Harness::operator(),
            h.tenant(),
            r#"{"name": "Reset", "trigger": {"kind": "manual"},
                "steps": [{"action": "resetPassword", "deliverTo": "user"}]}"#,
        )
        .await
        .unwrap();
    let engine = Engine::new(directory.clone()).with_public_url(PUBLIC_URL);
    engine
        .run_manually(h.tenant(), "reset", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    // A worker claims the step, resets and queues the link, and dies before recording it.
    let claimed = directory
        .claim_workflow_steps(&workflow_actor(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let first = delivered::reset_password(
        &directory,
        &claimed[0],
        DeliverTo::User,
        Some("https://id.contoso.test/account/delivered/"),
    )
    .await
    .unwrap();
    assert!(first.contains("ada@mail.contoso.test"), "{first}");
    // The same step's delivery again (the message id is the step's) writes nothing.
    assert!(
        directory
            .reset_password_for_workflow_step(
                &workflow_actor(),
                &claimed[0],
                DeliverTo::User,
                "https://id.contoso.test/account/delivered/",
            )
            .await
            .unwrap()
            .is_none()
    );
    // After the lease another worker takes over and recognises the reset as its own.
    h.clock.advance(Duration::minutes(6));
    assert_eq!(engine.run_until_idle().await.unwrap(), 1);
    let run = runs(&h).await.pop().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[0].attempts, 2);
    let output = run.steps[0].output.as_deref().unwrap();
    assert!(output.contains("already reset"), "{output}");
    let sink = SmtpSink::start().await.unwrap();
    let pass = deliver_due(&directory, &sink_mailer(&sink)).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(resets(&h, &user).await, 1);
    // And the one link works.
    let revealed = directory
        .reveal_view_once(&token_in(&sink.messages()[0].data))
        .await
        .unwrap();
    assert_eq!(revealed.user_principal_name, "ada@contoso.test");
}

async fn a_reset_that_cannot_be_delivered_fails_naming_deliver_to_and_resets_nothing(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let no_mailbox = add_user(&h, "nomail@contoso.test", true, UserProfile::default()).await;
    let no_manager = add_user(
        &h,
        "alone@contoso.test",
        true,
        mail("alone@mail.contoso.test"),
    )
    .await;
    let silent_manager = add_user(&h, "quiet@contoso.test", true, UserProfile::default()).await;
    let managed = add_user(
        &h,
        "managed@contoso.test",
        true,
        mail("m@mail.contoso.test"),
    )
    .await;
    set_manager(&h, &managed, &silent_manager).await;
    for (name, to) in [("To user", "user"), ("To manager", "manager")] {
        h.directory
            .save_workflow(
                &op,
                h.tenant(),
                &format!(
                    r#"{{"name": "{name}", "trigger": {{"kind": "manual"}},
                        "steps": [{{"action": "resetPassword", "deliverTo": "{to}"}}]}}"#
                ),
            )
            .await
            .unwrap();
    }
    let failure = |run: &RunRecord| {
        assert_eq!(run.status, RunStatus::Failed, "{run:?}");
        assert_eq!(run.steps[0].status, StepStatus::Failed);
        run.steps[0].error.clone().unwrap()
    };

    // A server without mail delivery: nothing is reset.
    let engine = Engine::new(h.directory.clone()).with_public_url(PUBLIC_URL);
    engine
        .run_manually(h.tenant(), "to user", &[UserRef::Id(no_manager.id)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let error = failure(&runs(&h).await[0]);
    assert!(error.starts_with("steps[0].deliverTo"), "{error}");
    assert!(error.contains("sends no e-mail"), "{error}");

    // With mail: no address, no manager, a manager without an address.
    let directory = with_mail(&h);
    let engine = Engine::new(directory.clone()).with_public_url(PUBLIC_URL);
    for (workflow, user, says) in [
        ("to user", &no_mailbox, "has no e-mail address"),
        ("to manager", &no_manager, "has no manager"),
        (
            "to manager",
            &managed,
            "the manager quiet@contoso.test has no e-mail address",
        ),
    ] {
        h.clock.advance(Duration::seconds(1));
        engine
            .run_manually(h.tenant(), workflow, &[UserRef::Id(user.id)], false)
            .await
            .unwrap();
        engine.run_until_idle().await.unwrap();
        let error = failure(&runs(&h).await[0]);
        assert!(error.starts_with("steps[0].deliverTo"), "{error}");
        assert!(error.contains(says), "{error}");
    }
    for user in [&no_mailbox, &no_manager, &managed] {
        assert_eq!(
            get(&h, user).await.last_password_change,
            user.last_password_change
        );
        assert_eq!(resets(&h, user).await, 0);
    }
    assert!(directory.claim_due_mail(10).await.unwrap().is_empty());

    // A worker that does not know the public URL resets nothing either.
    h.clock.advance(Duration::seconds(1));
    Engine::new(directory.clone())
        .run_manually(h.tenant(), "to user", &[UserRef::Id(no_manager.id)], false)
        .await
        .unwrap();
    Engine::new(directory.clone())
        .run_until_idle()
        .await
        .unwrap();
    assert!(failure(&runs(&h).await[0]).contains("public URL"));
    assert_eq!(resets(&h, &no_manager).await, 0);

    // Refused at save: an unknown recipient, and against a connected tenant.
    let (_, message) = invalid(
        h.directory
            .save_workflow(
                &op,
                h.tenant(),
                r#"{"name": "Bad", "trigger": {"kind": "manual"},
                    "steps": [{"action": "resetPassword", "deliverTo": "boss"}]}"#,
            )
            .await
            .unwrap_err(),
    );
    assert!(message.contains("boss"), "{message}");
    let (property, _) = invalid(
        h.directory
            .save_workflow(
                &op,
                h.tenant(),
                r#"{"name": "Bad", "trigger": {"kind": "manual"}, "target": {"tenant": "fabrikam"},
                    "steps": [{"action": "resetPassword", "deliverTo": "manager"}]}"#,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(property, "steps[0].action");
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
    the_pre_hire_template_sends_the_manager_a_link_to_a_password_that_signs_in_and_must_be_changed,
    a_reset_step_taken_over_after_a_crash_resets_once_and_sends_one_link,
    a_reset_that_cannot_be_delivered_fails_naming_deliver_to_and_resets_nothing,
);
