//! Self-service password reset through the real store, on SQLite and PostgreSQL: the same
//! answers for existing and unknown accounts, codes that lock the reset after five wrong
//! tries, per-name and per-address limits, the tenant's switch, expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::auth_method::{parse_totp_secret_base32, totp_code, totp_step};
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::Clock;
use latchkey_core::directory::{
    ClientRef, NewUser, PasswordChoice, ResetError, ResetStep, SignInError, UserRef,
};
use latchkey_core::mail::{MailContent, MailKind};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::sspr::{SelfServiceResetScope, VerificationMethod};
use latchkey_core::user::{User, UserProfile};
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

const NEW_PW: &str = "Quiet-Meadow-Falcon-42";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// The one-time code the queue holds for `address`, read the way the sender reads it (the
/// message is sealed in the store); claiming it takes it off the queue.
async fn mailed_code(h: &Harness, address: &str) -> String {
    let due = h.directory.claim_due_mail(20).await.unwrap();
    let mut found = None;
    for d in &due {
        if let MailContent::OneTimeCode { code, .. } = &d.message.content
            && d.to.iter().any(|a| a.as_str() == address)
        {
            found = Some(code.expose_secret().to_owned());
        }
        h.directory.mail_sent(d).await.unwrap();
    }
    found.unwrap_or_else(|| panic!("no code was queued for {address}"))
}

async fn signs_in(h: &Harness, upn: &str, pw: &str) -> Result<User, SignInError> {
    h.directory
        .sign_in_with_password(h.tenant(), upn, &secret(pw), &ClientRef::default())
        .await
}

const PW: &str = "Blue-Harbour-Lantern-7";

async fn user(h: &Harness, upn: &str, recovery: Option<&str>) -> User {
    user_with(h, upn, recovery, vec![]).await
}

async fn user_with(
    h: &Harness,
    upn: &str,
    recovery: Option<&str>,
    roles: Vec<DirectoryRole>,
) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Rowan Field").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    other_mails: recovery.map(|r| vec![r.to_owned()]).unwrap_or_default(),
                    ..Default::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(PW.to_owned())),
                force_change_next_sign_in: false,
                roles,
            },
        )
        .await
        .unwrap()
        .user
}

fn every_method() -> ResetStep {
    ResetStep::Verify {
        methods: vec![
            VerificationMethod::Email,
            VerificationMethod::AuthenticatorApp,
        ],
    }
}

async fn an_unknown_name_gets_the_same_steps_as_a_real_account(h: Harness) {
    user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let d = &h.directory;
    for name in [
        "rowan@contoso.test",
        "nobody@contoso.test",
        "not even a name",
    ] {
        let flow = d
            .sspr_start(h.tenant(), name, Some("192.0.2.7"))
            .await
            .unwrap();
        assert_eq!(d.sspr_step(&flow).await.unwrap(), every_method(), "{name}");
        d.sspr_send_email_code(&flow).await.unwrap();
        let wrong = d
            .sspr_verify(&flow, VerificationMethod::Email, "12345678")
            .await
            .unwrap_err();
        assert!(
            matches!(wrong, ResetError::WrongCode { remaining: 4 }),
            "{name}: {wrong:?}"
        );
        assert!(matches!(
            d.sspr_complete(
                &flow,
                SecretString::from("Quiet-Meadow-Falcon-42".to_owned())
            )
            .await
            .unwrap_err(),
            ResetError::NotVerified
        ));
    }
}

async fn five_wrong_codes_lock_the_reset(h: Harness) {
    user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let d = &h.directory;
    let flow = d
        .sspr_start(h.tenant(), "Rowan@Contoso.test", None)
        .await
        .unwrap();
    d.sspr_send_email_code(&flow).await.unwrap();
    for remaining in (1..=4).rev() {
        let e = d
            .sspr_verify(&flow, VerificationMethod::Email, "00000000")
            .await
            .unwrap_err();
        assert!(
            matches!(e, ResetError::WrongCode { remaining: r } if r == remaining),
            "{e:?}"
        );
    }
    let e = d
        .sspr_verify(&flow, VerificationMethod::Email, "00000000")
        .await
        .unwrap_err();
    assert!(matches!(e, ResetError::Locked), "{e:?}");
    // Locked: no new code, no more guesses.
    assert!(matches!(
        d.sspr_send_email_code(&flow).await.unwrap_err(),
        ResetError::Locked
    ));
    assert!(matches!(
        d.sspr_verify(&flow, VerificationMethod::Email, "11111111")
            .await
            .unwrap_err(),
        ResetError::Locked
    ));
    // The failure is in the user's sign-in log.
    let log = h.store.list_sign_in_events(h.tenant(), 10).await.unwrap();
    assert!(log.iter().any(|e| e.error_code == 50053
        && e.app_display_name.as_deref() == Some("Self-service password reset")));
}

async fn resets_for_one_name_are_limited_whether_or_not_it_exists(h: Harness) {
    user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let d = &h.directory;
    for name in ["rowan@contoso.test", "ghost@contoso.test"] {
        for _ in 0..5 {
            d.sspr_start(h.tenant(), name, None).await.unwrap();
        }
        assert!(matches!(
            d.sspr_start(h.tenant(), name, None).await.unwrap_err(),
            ResetError::TooManyAttempts
        ));
    }
    // An hour later the name may try again.
    h.clock.advance(Duration::minutes(61));
    d.sspr_start(h.tenant(), "ghost@contoso.test", None)
        .await
        .unwrap();
}

async fn one_client_address_may_start_twenty_resets_an_hour(h: Harness) {
    let d = &h.directory;
    for i in 0..20 {
        d.sspr_start(
            h.tenant(),
            &format!("n{i}@contoso.test"),
            Some("198.51.100.9"),
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        d.sspr_start(h.tenant(), "n99@contoso.test", Some("198.51.100.9"))
            .await
            .unwrap_err(),
        ResetError::TooManyAttempts
    ));
    // Another address is not affected.
    d.sspr_start(h.tenant(), "n99@contoso.test", Some("198.51.100.10"))
        .await
        .unwrap();
}

async fn the_tenant_can_turn_self_service_reset_off(h: Harness) {
    user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let tenant = h
        .directory
        .find_tenant(&h.tenant().to_string())
        .await
        .unwrap()
        .unwrap();
    let mut policy = tenant.password_policy.clone();
    policy.self_service_reset.enabled_for = SelfServiceResetScope::None;
    h.directory
        .update_password_policy(&Harness::operator(), h.tenant(), policy.clone())
        .await
        .unwrap();
    for name in ["rowan@contoso.test", "ghost@contoso.test"] {
        assert!(matches!(
            h.directory
                .sspr_start(h.tenant(), name, None)
                .await
                .unwrap_err(),
            ResetError::Disabled
        ));
    }
    // A bad setting is refused, naming what is wrong, and the stored one stays.
    policy.self_service_reset.methods_required = 3;
    let e = h
        .directory
        .update_password_policy(&Harness::operator(), h.tenant(), policy)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1 or 2"), "{e}");
}

async fn a_reset_expires_after_thirty_minutes(h: Harness) {
    user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let flow = h
        .directory
        .sspr_start(h.tenant(), "rowan@contoso.test", None)
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(31));
    assert!(matches!(
        h.directory.sspr_step(&flow).await.unwrap_err(),
        ResetError::Expired
    ));
    assert!(matches!(
        h.directory
            .sspr_step(&SecretString::from("made-up".to_owned()))
            .await
            .unwrap_err(),
        ResetError::Expired
    ));
}

async fn an_emailed_code_resets_the_password_and_ends_every_session(h: Harness) {
    let rowan = user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let d = &h.directory;
    let flow = d
        .sspr_start(h.tenant(), "rowan@contoso.test", Some("192.0.2.7"))
        .await
        .unwrap();
    d.sspr_send_email_code(&flow).await.unwrap();
    let code = mailed_code(&h, "rowan.home@example.test").await;
    assert_eq!(code.len(), 8);
    // Neither the code nor its plain SHA-256 is stored: not in the flows, not in the queue.
    for table in ["reset_flows", "mail_outbox"] {
        assert!(!h.raw_rows(table).await.contains(&code), "{table}");
    }
    h.clock.advance(Duration::minutes(1));
    let step = d
        .sspr_verify(&flow, VerificationMethod::Email, &code)
        .await
        .unwrap();
    assert_eq!(step, ResetStep::NewPassword);
    // A weak password is refused naming the rule, and changes nothing.
    let weak = d
        .sspr_complete(&flow, secret("rowan1234"))
        .await
        .unwrap_err();
    assert!(matches!(weak, ResetError::Policy(_)), "{weak:?}");
    signs_in(&h, "rowan@contoso.test", PW).await.unwrap();
    let before = h.clock.now();
    h.clock.advance(Duration::seconds(2));
    let done = d.sspr_complete(&flow, secret(NEW_PW)).await.unwrap();
    assert_eq!(done.id, rowan.id);
    assert!(
        done.sign_in_sessions_valid_from > before,
        "sessions revoked"
    );
    assert!(!done.force_change_password_next_sign_in);
    assert!(matches!(
        signs_in(&h, "rowan@contoso.test", PW).await,
        Err(SignInError::WrongPassword)
    ));
    signs_in(&h, "rowan@contoso.test", NEW_PW).await.unwrap();
    // The flow is over: it sets no second password.
    assert!(matches!(
        d.sspr_complete(&flow, secret("Amber-Canyon-Willow-58"))
            .await
            .unwrap_err(),
        ResetError::Expired
    ));
    // The trail: the code sent, the reset (self-service), and a notice to the user.
    let audit = h.store.list_audit_events(h.tenant(), 20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.activity == "Reset password (self-service)"
                && e.target_id.as_deref() == Some(&rowan.id.to_string()))
    );
    assert!(
        audit
            .iter()
            .any(|e| e.activity == "Self-service password reset flow activity progress")
    );
    assert!(!format!("{audit:?}").contains(&code));
    let queued = d
        .mail_queue(&latchkey_core::mail::MailQuery {
            tenant: None,
            statuses: vec![],
            limit: 100,
        })
        .await
        .unwrap();
    assert!(queued.iter().any(|m| m.kind == MailKind::PasswordChanged));
}

async fn a_code_works_once_and_only_for_its_own_reset(h: Harness) {
    user(&h, "rowan@contoso.test", Some("rowan.home@example.test")).await;
    let d = &h.directory;
    let first = d
        .sspr_start(h.tenant(), "rowan@contoso.test", None)
        .await
        .unwrap();
    let second = d
        .sspr_start(h.tenant(), "rowan@contoso.test", None)
        .await
        .unwrap();
    d.sspr_send_email_code(&first).await.unwrap();
    let code = mailed_code(&h, "rowan.home@example.test").await;
    d.sspr_send_email_code(&second).await.unwrap();
    // The first reset's code does not open the second.
    assert!(matches!(
        d.sspr_verify(&second, VerificationMethod::Email, &code)
            .await
            .unwrap_err(),
        ResetError::WrongCode { .. }
    ));
    d.sspr_verify(&first, VerificationMethod::Email, &code)
        .await
        .unwrap();
    // A new code replaces the previous one.
    d.sspr_send_email_code(&second).await.unwrap();
    let old = mailed_code(&h, "rowan.home@example.test").await;
    d.sspr_send_email_code(&second).await.unwrap();
    let new = mailed_code(&h, "rowan.home@example.test").await;
    if old != new {
        assert!(matches!(
            d.sspr_verify(&second, VerificationMethod::Email, &old)
                .await
                .unwrap_err(),
            ResetError::WrongCode { .. }
        ));
    }
    // An expired code is refused.
    h.clock.advance(Duration::minutes(11));
    assert!(matches!(
        d.sspr_verify(&second, VerificationMethod::Email, &new)
            .await
            .unwrap_err(),
        ResetError::WrongCode { .. }
    ));
}

async fn an_administrator_proves_two_methods_the_second_from_the_authenticator(h: Harness) {
    let ada = user_with(
        &h,
        "ada@contoso.test",
        Some("ada.home@example.test"),
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    let me = Actor::User {
        id: ada.id,
        display: "Ada".into(),
        roles: vec![],
        scopes: None,
        channel: Channel::SelfService,
    };
    let d = &h.directory;
    let e = d
        .begin_totp_registration(&me, h.tenant(), &UserRef::Id(ada.id))
        .await
        .unwrap();
    let raw = parse_totp_secret_base32(e.secret.expose_secret()).unwrap();
    let code_now = |h: &Harness| totp_code(raw.expose_secret(), totp_step(h.clock.now())).unwrap();
    d.finish_totp_registration(
        &me,
        h.tenant(),
        &UserRef::Id(ada.id),
        e.method_id,
        &code_now(&h),
    )
    .await
    .unwrap();
    h.clock.advance(Duration::seconds(30));

    let flow = d
        .sspr_start(h.tenant(), "ada@contoso.test", None)
        .await
        .unwrap();
    d.sspr_send_email_code(&flow).await.unwrap();
    let mailed = mailed_code(&h, "ada.home@example.test").await;
    // One method is not enough for an administrator: the authenticator is asked for next.
    assert_eq!(
        d.sspr_verify(&flow, VerificationMethod::Email, &mailed)
            .await
            .unwrap(),
        ResetStep::Verify {
            methods: vec![VerificationMethod::AuthenticatorApp]
        }
    );
    assert!(matches!(
        d.sspr_complete(&flow, secret(NEW_PW)).await.unwrap_err(),
        ResetError::NotVerified
    ));
    assert!(matches!(
        d.sspr_verify(&flow, VerificationMethod::AuthenticatorApp, "000000")
            .await
            .unwrap_err(),
        ResetError::WrongCode { .. }
    ));
    let code = code_now(&h);
    assert_eq!(
        d.sspr_verify(&flow, VerificationMethod::AuthenticatorApp, &code)
            .await
            .unwrap(),
        ResetStep::NewPassword
    );
    d.sspr_complete(&flow, secret(NEW_PW)).await.unwrap();
    signs_in(&h, "ada@contoso.test", NEW_PW).await.unwrap();
    // The authenticator's code was used up: a second reset cannot reuse it.
    let again = d
        .sspr_start(h.tenant(), "ada@contoso.test", None)
        .await
        .unwrap();
    d.sspr_send_email_code(&again).await.unwrap();
    let mailed = mailed_code(&h, "ada.home@example.test").await;
    d.sspr_verify(&again, VerificationMethod::Email, &mailed)
        .await
        .unwrap();
    assert!(matches!(
        d.sspr_verify(&again, VerificationMethod::AuthenticatorApp, &code)
            .await
            .unwrap_err(),
        ResetError::WrongCode { .. }
    ));
}

async fn a_user_without_a_second_method_is_told_after_proving_the_first(h: Harness) {
    user_with(
        &h,
        "ada@contoso.test",
        Some("ada.home@example.test"),
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let d = &h.directory;
    let flow = d
        .sspr_start(h.tenant(), "ada@contoso.test", None)
        .await
        .unwrap();
    d.sspr_send_email_code(&flow).await.unwrap();
    let mailed = mailed_code(&h, "ada.home@example.test").await;
    assert!(matches!(
        d.sspr_verify(&flow, VerificationMethod::Email, &mailed)
            .await
            .unwrap_err(),
        ResetError::NotEnoughMethods
    ));
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(latchkey_testkit::Harness::new(super::Backend::Sqlite).await).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(latchkey_testkit::Harness::new(super::Backend::Postgres).await).await })*
        }
    };
}

both_backends!(
    an_unknown_name_gets_the_same_steps_as_a_real_account,
    five_wrong_codes_lock_the_reset,
    resets_for_one_name_are_limited_whether_or_not_it_exists,
    one_client_address_may_start_twenty_resets_an_hour,
    the_tenant_can_turn_self_service_reset_off,
    a_reset_expires_after_thirty_minutes,
    an_emailed_code_resets_the_password_and_ends_every_session,
    a_code_works_once_and_only_for_its_own_reset,
    an_administrator_proves_two_methods_the_second_from_the_authenticator,
    a_user_without_a_second_method_is_told_after_proving_the_first,
);
