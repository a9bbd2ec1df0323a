//! Authentication methods through the real store, on SQLite and PostgreSQL: the two-step
//! authenticator registration, replay of codes, recovery codes, the second step's own
//! lockout, recovery e-mail addresses, and who may see and remove whose methods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::DirectoryError;
use latchkey_core::auth_method::{MethodKind, parse_totp_secret_base32, totp_code, totp_step};
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::Clock;
use latchkey_core::directory::{
    ClientRef, NewUser, PasswordChoice, SecondFactor, SecondFactorError, TotpEnrollment, UserRef,
};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::AuditQuery;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

const PW: &str = "Blue-Harbour-Lantern-7";

async fn user(h: &Harness, upn: &str, roles: Vec<DirectoryRole>) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Method Tester").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
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

/// The user on their own My account pages.
fn me(u: &User) -> Actor {
    Actor::User {
        id: u.id,
        display: u.user_principal_name.to_string(),
        roles: vec![],
        scopes: None,
        channel: Channel::SelfService,
    }
}

fn admin(u: &User, role: DirectoryRole) -> Actor {
    Actor::User {
        id: u.id,
        display: u.user_principal_name.to_string(),
        roles: vec![role],
        scopes: None,
        channel: Channel::AdminCenter,
    }
}

fn at(h: &Harness, e: &TotpEnrollment, steps_from_now: i64) -> String {
    let secret = parse_totp_secret_base32(e.secret.expose_secret()).unwrap();
    totp_code(
        secret.expose_secret(),
        totp_step(h.clock.now()) + steps_from_now,
    )
    .unwrap()
}

fn client() -> ClientRef {
    ClientRef {
        app_id: Some("22222222-2222-2222-2222-222222222222".into()),
        display_name: Some("Relying party".into()),
    }
}

async fn registered(h: &Harness, u: &User) -> TotpEnrollment {
    let e = h
        .directory
        .begin_totp_registration(&me(u), h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    let code = at(h, &e, 0);
    h.directory
        .finish_totp_registration(&me(u), h.tenant(), &UserRef::Id(u.id), e.method_id, &code)
        .await
        .unwrap();
    // The registration's code is used up; the tests continue in the next time step.
    h.clock.advance(Duration::seconds(30));
    e
}

async fn an_authenticator_is_registered_in_two_steps_and_its_secret_is_stored_only_sealed(
    h: Harness,
) {
    let ann = user(&h, "ann@contoso.test", vec![]).await;
    let me_ = me(&ann);
    let r = UserRef::Id(ann.id);
    let e = h
        .directory
        .begin_totp_registration(&me_, h.tenant(), &r)
        .await
        .unwrap();
    assert_eq!(e.secret.expose_secret().len(), 32, "160 bits in base32");
    assert!(
        e.uri
            .expose_secret()
            .starts_with("otpauth://totp/Contoso:ann%40contoso.test?secret=")
    );
    assert!(!format!("{e:?}").contains(e.secret.expose_secret()));
    // Pending: listed nowhere, and it signs nobody in.
    assert!(
        h.directory
            .auth_methods(&me_, h.tenant(), &r)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !h.directory
            .has_second_factor(h.tenant(), &ann)
            .await
            .unwrap()
    );
    assert!(matches!(
        h.directory
            .verify_totp_code(h.tenant(), &ann, &at(&h, &e, 0))
            .await,
        Err(SecondFactorError::NoMethod)
    ));

    let wrong = h
        .directory
        .finish_totp_registration(&me_, h.tenant(), &r, e.method_id, &at(&h, &e, 5))
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, DirectoryError::Invalid { property, message } if property == "code" && message.contains("not correct")),
        "{wrong:?}"
    );
    let done = h
        .directory
        .finish_totp_registration(&me_, h.tenant(), &r, e.method_id, &at(&h, &e, 0))
        .await
        .unwrap();
    assert_eq!(done.kind, MethodKind::SoftwareOath);
    let listed = h
        .directory
        .auth_methods(&me_, h.tenant(), &r)
        .await
        .unwrap();
    assert_eq!(listed, vec![done.clone()]);
    assert!(
        h.directory
            .has_second_factor(h.tenant(), &ann)
            .await
            .unwrap()
    );

    // Finishing twice does nothing; registering a second app is refused.
    assert!(matches!(
        h.directory
            .finish_totp_registration(&me_, h.tenant(), &r, e.method_id, &at(&h, &e, 1))
            .await,
        Err(DirectoryError::Invalid { .. })
    ));
    assert!(matches!(
        h.directory
            .begin_totp_registration(&me_, h.tenant(), &r)
            .await,
        Err(DirectoryError::Conflict(_))
    ));

    // The store holds the secret sealed: neither raw nor base32 is in the record.
    let raw = parse_totp_secret_base32(e.secret.expose_secret()).unwrap();
    let records = h.store.list_auth_methods(h.tenant(), ann.id).await.unwrap();
    let sealed = records[0].sealed_secret.clone().unwrap();
    assert!(
        !sealed
            .windows(raw.expose_secret().len())
            .any(|w| w == raw.expose_secret().as_slice())
    );
    assert!(!format!("{records:?}").contains(e.secret.expose_secret()));

    // Audited as Entra names it, without the secret.
    let audits = h
        .store
        .query_audit_events(
            h.tenant(),
            &AuditQuery {
                target_id: Some(ann.id.to_string()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let registered = audits
        .items
        .iter()
        .find(|a| a.activity == "User registered security info")
        .expect("audited");
    assert_eq!(
        registered.details,
        vec![("authenticationMethod".into(), "Authenticator app".into())]
    );
    assert!(!format!("{audits:?}").contains(e.secret.expose_secret()));
}

async fn a_code_is_accepted_once_and_a_replayed_or_older_code_is_refused(h: Harness) {
    let bo = user(&h, "bo@contoso.test", vec![]).await;
    let e = registered(&h, &bo).await;
    let now_code = at(&h, &e, 0);
    h.directory
        .verify_totp_code(h.tenant(), &bo, &now_code)
        .await
        .unwrap();
    assert!(matches!(
        h.directory
            .verify_totp_code(h.tenant(), &bo, &now_code)
            .await,
        Err(SecondFactorError::Replayed)
    ));
    // The previous step's code is still within the ±1 window, but older than the last
    // accepted one: refused too.
    let previous = at(&h, &e, -1);
    if previous != now_code {
        assert!(matches!(
            h.directory
                .verify_totp_code(h.tenant(), &bo, &previous)
                .await,
            Err(SecondFactorError::Replayed)
        ));
    }
    h.clock.advance(Duration::seconds(30));
    h.directory
        .verify_totp_code(h.tenant(), &bo, &at(&h, &e, 0))
        .await
        .unwrap();
    // A code from the next step (a phone clock a little ahead) works once, then the current
    // one is older than it.
    h.clock.advance(Duration::seconds(30));
    h.directory
        .verify_totp_code(h.tenant(), &bo, &at(&h, &e, 1))
        .await
        .unwrap();
    let current = at(&h, &e, 0);
    assert!(matches!(
        h.directory
            .verify_totp_code(h.tenant(), &bo, &current)
            .await,
        Err(SecondFactorError::Replayed)
    ));
    // Two steps out is outside the window.
    h.clock.advance(Duration::seconds(90));
    let far = at(&h, &e, 3);
    if ![at(&h, &e, -1), at(&h, &e, 0), at(&h, &e, 1)].contains(&far) {
        assert!(matches!(
            h.directory.verify_totp_code(h.tenant(), &bo, &far).await,
            Err(SecondFactorError::WrongCode)
        ));
    }
}

async fn recovery_codes_are_stored_as_digests_and_each_works_once(h: Harness) {
    let cy = user(&h, "cy@contoso.test", vec![]).await;
    let r = UserRef::Id(cy.id);
    registered(&h, &cy).await;
    let codes = h
        .directory
        .generate_recovery_codes(&me(&cy), h.tenant(), &r)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    let status = h
        .directory
        .recovery_codes(&me(&cy), h.tenant(), &r)
        .await
        .unwrap();
    assert_eq!((status.total, status.unused), (10, 10));

    let typed = codes[3].expose_secret().to_lowercase();
    assert_eq!(
        h.directory
            .verify_second_factor(h.tenant(), &cy, &typed, &client())
            .await
            .unwrap(),
        SecondFactor::RecoveryCode
    );
    assert!(matches!(
        h.directory
            .verify_second_factor(h.tenant(), &cy, codes[3].expose_secret(), &client())
            .await,
        Err(SecondFactorError::WrongCode)
    ));
    let status = h
        .directory
        .recovery_codes(&me(&cy), h.tenant(), &r)
        .await
        .unwrap();
    assert_eq!((status.total, status.unused), (10, 9));

    // A new set replaces the old one entirely.
    h.directory
        .generate_recovery_codes(&me(&cy), h.tenant(), &r)
        .await
        .unwrap();
    assert!(matches!(
        h.directory
            .verify_second_factor(h.tenant(), &cy, codes[4].expose_secret(), &client())
            .await,
        Err(SecondFactorError::WrongCode)
    ));
    let audits = h.store.list_audit_events(h.tenant(), 50).await.unwrap();
    let text = format!("{audits:?}");
    for c in &codes {
        assert!(
            !text.contains(c.expose_secret()),
            "no code in the audit log"
        );
    }
}

async fn ten_wrong_codes_lock_the_second_step_and_the_right_password_does_not_unlock_it(
    h: Harness,
) {
    let di = user(&h, "di@contoso.test", vec![]).await;
    let e = registered(&h, &di).await;
    let good = at(&h, &e, 0);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for _ in 0..10 {
        // The password is right every time: that must not give the guesser a fresh count.
        h.directory
            .sign_in_with_password(
                h.tenant(),
                "di@contoso.test",
                &SecretString::from(PW.to_owned()),
                &client(),
            )
            .await
            .unwrap();
        assert!(matches!(
            h.directory
                .verify_second_factor(h.tenant(), &di, wrong, &client())
                .await,
            Err(SecondFactorError::WrongCode)
        ));
    }
    assert!(matches!(
        h.directory
            .verify_second_factor(h.tenant(), &di, &good, &client())
            .await,
        Err(SecondFactorError::Locked)
    ));
    let log = h.store.list_sign_in_events(h.tenant(), 5).await.unwrap();
    assert_eq!(log[0].error_code, 50053);
    assert_eq!(log[1].error_code, 500121);
    assert_eq!(log[1].app_display_name.as_deref(), Some("Relying party"));

    h.clock.advance(Duration::seconds(61));
    assert_eq!(
        h.directory
            .verify_second_factor(h.tenant(), &di, &at(&h, &e, 0), &client())
            .await
            .unwrap(),
        SecondFactor::AuthenticatorApp
    );
}

async fn a_recovery_email_is_checked_and_one_per_user(h: Harness) {
    let ed = user(&h, "ed@contoso.test", vec![]).await;
    let r = UserRef::Id(ed.id);
    for bad in [
        "",
        "no-at-sign",
        "a@b",
        "two@@contoso.test",
        "sp ace@contoso.test",
    ] {
        let err = h
            .directory
            .add_email_method(&me(&ed), h.tenant(), &r, bad)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DirectoryError::Invalid { property, .. } if property == "emailAddress"),
            "{bad}: {err:?}"
        );
    }
    assert!(
        h.store
            .list_auth_methods(h.tenant(), ed.id)
            .await
            .unwrap()
            .is_empty()
    );
    let m = h
        .directory
        .add_email_method(&me(&ed), h.tenant(), &r, " ed.home@example.org ")
        .await
        .unwrap();
    assert_eq!(
        (m.kind, m.display.as_str()),
        (MethodKind::Email, "ed.home@example.org")
    );
    assert!(matches!(
        h.directory
            .add_email_method(&me(&ed), h.tenant(), &r, "other@example.org")
            .await,
        Err(DirectoryError::Conflict(_))
    ));
    h.directory
        .remove_auth_method(&me(&ed), h.tenant(), &r, m.id)
        .await
        .unwrap();
    assert!(
        h.directory
            .auth_methods(&me(&ed), h.tenant(), &r)
            .await
            .unwrap()
            .is_empty()
    );
    let audits = h.store.list_audit_events(h.tenant(), 5).await.unwrap();
    assert_eq!(audits[0].activity, "User deleted security info");
}

async fn only_authentication_admins_see_and_remove_others_methods_and_nobody_registers_them(
    h: Harness,
) {
    let fay = user(&h, "fay@contoso.test", vec![]).await;
    let gus = user(&h, "gus@contoso.test", vec![]).await;
    let pam = user(
        &h,
        "pam@contoso.test",
        vec![DirectoryRole::PrivilegedAuthenticationAdministrator],
    )
    .await;
    let uma = user(
        &h,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    registered(&h, &fay).await;
    let fay_ref = UserRef::Id(fay.id);
    let method = h
        .directory
        .auth_methods(&me(&fay), h.tenant(), &fay_ref)
        .await
        .unwrap()
        .remove(0);

    // Another member, and a User Administrator (as in Entra), may not look.
    for outsider in [me(&gus), admin(&uma, DirectoryRole::UserAdministrator)] {
        assert!(matches!(
            h.directory
                .auth_methods(&outsider, h.tenant(), &fay_ref)
                .await,
            Err(DirectoryError::Denied(_))
        ));
        assert!(matches!(
            h.directory
                .remove_auth_method(&outsider, h.tenant(), &fay_ref, method.id)
                .await,
            Err(DirectoryError::Denied(_))
        ));
    }
    // Nobody registers an authenticator or recovery codes for someone else.
    let pam_actor = admin(&pam, DirectoryRole::PrivilegedAuthenticationAdministrator);
    assert!(matches!(
        h.directory
            .begin_totp_registration(&pam_actor, h.tenant(), &fay_ref)
            .await,
        Err(DirectoryError::Denied(_))
    ));
    assert!(matches!(
        h.directory
            .generate_recovery_codes(&me(&gus), h.tenant(), &fay_ref)
            .await,
        Err(DirectoryError::Denied(_))
    ));
    // Gus cannot remove Fay's method by naming it under his own account either.
    assert!(matches!(
        h.directory
            .remove_auth_method(&me(&gus), h.tenant(), &UserRef::Id(gus.id), method.id)
            .await,
        Err(DirectoryError::NotFound { .. })
    ));
    assert!(
        h.directory
            .has_second_factor(h.tenant(), &fay)
            .await
            .unwrap()
    );

    // A Privileged Authentication Administrator sees and removes it, audited as the admin.
    let seen = h
        .directory
        .auth_methods(&pam_actor, h.tenant(), &fay_ref)
        .await
        .unwrap();
    assert_eq!(seen, vec![method.clone()]);
    h.directory
        .remove_auth_method(&pam_actor, h.tenant(), &fay_ref, method.id)
        .await
        .unwrap();
    assert!(
        !h.directory
            .has_second_factor(h.tenant(), &fay)
            .await
            .unwrap()
    );
    let audits = h.store.list_audit_events(h.tenant(), 5).await.unwrap();
    assert_eq!(audits[0].activity, "Admin deleted security info");
    assert_eq!(audits[0].initiated_by.id, Some(pam.id.to_string()));
}

async fn starting_again_replaces_a_pending_registration(h: Harness) {
    let hal = user(&h, "hal@contoso.test", vec![]).await;
    let r = UserRef::Id(hal.id);
    let first = h
        .directory
        .begin_totp_registration(&me(&hal), h.tenant(), &r)
        .await
        .unwrap();
    let second = h
        .directory
        .begin_totp_registration(&me(&hal), h.tenant(), &r)
        .await
        .unwrap();
    assert_ne!(first.secret.expose_secret(), second.secret.expose_secret());
    assert_eq!(
        h.store
            .list_auth_methods(h.tenant(), hal.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        h.directory
            .finish_totp_registration(
                &me(&hal),
                h.tenant(),
                &r,
                first.method_id,
                &at(&h, &first, 0)
            )
            .await,
        Err(DirectoryError::Invalid { .. })
    ));
    h.directory
        .finish_totp_registration(
            &me(&hal),
            h.tenant(),
            &r,
            second.method_id,
            &at(&h, &second, 0),
        )
        .await
        .unwrap();
}

async fn administrators_owe_a_registration_once_the_tenant_requires_a_second_factor(h: Harness) {
    use latchkey_core::directory::SecondFactorDue;
    let ivy = user(
        &h,
        "ivy@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let joe = user(&h, "joe@contoso.test", vec![]).await;
    let due = async |u: &User| h.directory.second_factor_due(h.tenant(), u).await.unwrap();
    assert_eq!(due(&ivy).await, SecondFactorDue::None);
    // Only a tenant administrator may change the setting.
    assert!(matches!(
        h.directory
            .set_require_mfa_for_admins(
                &admin(&ivy, DirectoryRole::HelpdeskAdministrator),
                h.tenant(),
                true
            )
            .await,
        Err(DirectoryError::Denied(_))
    ));
    h.directory
        .set_require_mfa_for_admins(&Harness::operator(), h.tenant(), true)
        .await
        .unwrap();
    let tenant = h.store.find_tenant(h.tenant()).await.unwrap().unwrap();
    assert!(tenant.require_mfa_for_admins);
    assert_eq!(due(&ivy).await, SecondFactorDue::Register);
    assert_eq!(due(&joe).await, SecondFactorDue::None);
    registered(&h, &ivy).await;
    assert_eq!(due(&ivy).await, SecondFactorDue::Verify);
}

async fn the_operator_removes_the_authenticator_of_a_lost_phone(h: Harness) {
    let kit = user(&h, "kit@contoso.test", vec![]).await;
    registered(&h, &kit).await;
    let r = UserRef::Id(kit.id);
    let methods = h
        .directory
        .auth_methods(&Harness::operator(), h.tenant(), &r)
        .await
        .unwrap();
    assert_eq!(methods.len(), 1);
    h.directory
        .remove_auth_method(&Harness::operator(), h.tenant(), &r, methods[0].id)
        .await
        .unwrap();
    assert!(
        !h.directory
            .has_second_factor(h.tenant(), &kit)
            .await
            .unwrap()
    );
    let audits = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    assert_eq!(audits[0].activity, "Admin deleted security info");
    assert_eq!(audits[0].initiated_by.kind, "operator");
}

async fn an_imported_authenticator_secret_works_at_once_and_a_malformed_one_is_refused(h: Harness) {
    let ann = user(&h, "ann@contoso.test", vec![]).await;
    let r = UserRef::Id(ann.id);
    let op = Harness::operator();
    // RFC 6238's test secret, as an export would carry it (lower case, spaced, padded).
    let b32 = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq====";
    for (bad, why) in [
        ("not base32 at all!", "base32"),
        ("GEZDGNBVGY3TQOJQ", "128 bits"),
        ("", "base32"),
    ] {
        let e = h
            .directory
            .import_totp_method(&op, h.tenant(), &r, &SecretString::from(bad.to_owned()))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DirectoryError::Invalid { property, message } if property == "secret" && message.contains(why)),
            "{bad}: {e}"
        );
        assert!(
            !e.to_string().contains(bad) || bad.is_empty(),
            "the secret is not echoed"
        );
    }
    assert!(
        !h.directory
            .has_second_factor(h.tenant(), &ann)
            .await
            .unwrap()
    );
    // Only the local operator imports: not a user on their own page, not an administrator.
    let e = h
        .directory
        .import_totp_method(
            &me(&ann),
            h.tenant(),
            &r,
            &SecretString::from(b32.to_owned()),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::Denied(_)), "{e}");
    h.directory
        .import_totp_method(&op, h.tenant(), &r, &SecretString::from(b32.to_owned()))
        .await
        .unwrap();
    assert!(
        h.directory
            .has_second_factor(h.tenant(), &ann)
            .await
            .unwrap()
    );
    let raw = parse_totp_secret_base32(b32).unwrap();
    let code = totp_code(raw.expose_secret(), totp_step(h.clock.now())).unwrap();
    h.directory
        .verify_totp_code(h.tenant(), &ann, &code)
        .await
        .unwrap();
    // One authenticator per user.
    let e = h
        .directory
        .import_totp_method(&op, h.tenant(), &r, &SecretString::from(b32.to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::Conflict(_)), "{e}");
    // Sealed, not stored as typed.
    assert!(
        !h.raw_rows("auth_methods")
            .await
            .contains("GEZDGNBVGY3TQOJQ")
    );
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
    an_authenticator_is_registered_in_two_steps_and_its_secret_is_stored_only_sealed,
    a_code_is_accepted_once_and_a_replayed_or_older_code_is_refused,
    recovery_codes_are_stored_as_digests_and_each_works_once,
    ten_wrong_codes_lock_the_second_step_and_the_right_password_does_not_unlock_it,
    a_recovery_email_is_checked_and_one_per_user,
    only_authentication_admins_see_and_remove_others_methods_and_nobody_registers_them,
    starting_again_replaces_a_pending_registration,
    administrators_owe_a_registration_once_the_tenant_requires_a_second_factor,
    the_operator_removes_the_authenticator_of_a_lost_phone,
    an_imported_authenticator_secret_works_at_once_and_a_malformed_one_is_refused,
);
