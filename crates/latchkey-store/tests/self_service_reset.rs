//! Self-service password reset through the real store, on SQLite and PostgreSQL: the same
//! answers for existing and unknown accounts, codes that lock the reset after five wrong
//! tries, per-name and per-address limits, the tenant's switch, expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::directory::{NewUser, PasswordChoice, ResetError, ResetStep};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::sspr::{SelfServiceResetScope, VerificationMethod};
use latchkey_core::user::{User, UserProfile};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

const PW: &str = "Blue-Harbour-Lantern-7";

async fn user(h: &Harness, upn: &str, recovery: Option<&str>) -> User {
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
                roles: vec![],
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
);
