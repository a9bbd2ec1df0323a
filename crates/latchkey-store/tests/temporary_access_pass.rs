//! Temporary Access Passes through the real store, on SQLite and PostgreSQL: issued once per
//! user and shown once, usable from its start for its lifetime, a one-time pass used exactly
//! once even when presented twice at the same moment, who may issue one, and the audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::DirectoryError;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::Clock;
use latchkey_core::directory::{NewTemporaryAccessPass, NewUser, PasswordChoice, UserRef};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::tap::TapUsability;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

async fn user(h: &Harness, upn: &str, roles: Vec<DirectoryRole>) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Noor Hale").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(
                    "Blue-Harbour-Lantern-7".to_owned(),
                )),
                force_change_next_sign_in: false,
                roles,
            },
        )
        .await
        .unwrap()
        .user
}

fn as_user(u: &User) -> Actor {
    Actor::User {
        id: u.id,
        display: u.display_name.to_string(),
        roles: vec![],
        scopes: None,
        channel: Channel::AdminCenter,
    }
}

fn with_roles(u: &User, roles: Vec<DirectoryRole>) -> Actor {
    Actor::User {
        id: u.id,
        display: u.display_name.to_string(),
        roles,
        scopes: None,
        channel: Channel::AdminCenter,
    }
}

async fn a_pass_is_shown_once_and_signs_in_for_its_lifetime(h: Harness) {
    let noor = user(&h, "noor@contoso.test", vec![]).await;
    let d = &h.directory;
    let issued = d
        .create_temporary_access_pass(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(noor.id),
            NewTemporaryAccessPass {
                lifetime_minutes: Some(60),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(issued.pass.expose_secret().len(), 16);
    // Listed without the pass.
    let listed = d
        .temporary_access_passes(&Harness::operator(), h.tenant(), &UserRef::Id(noor.id))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, issued.record.id);
    assert_eq!(
        listed[0].usability(h.clock.now()),
        TapUsability::EnabledByPolicy
    );
    // Usable (many times: not one-time), and only the right pass.
    for _ in 0..2 {
        assert!(
            d.use_temporary_access_pass(h.tenant(), &noor, &issued.pass)
                .await
                .unwrap()
        );
    }
    let wrong = SecretString::from("not-the-pass-123".to_owned());
    assert!(
        !d.use_temporary_access_pass(h.tenant(), &noor, &wrong)
            .await
            .unwrap()
    );
    // After its lifetime it no longer signs in.
    h.clock.advance(Duration::minutes(61));
    assert!(
        !d.use_temporary_access_pass(h.tenant(), &noor, &issued.pass)
            .await
            .unwrap()
    );
    // The issue is in the audit log, without the pass.
    let audit = h.store.list_audit_events(h.tenant(), 10).await.unwrap();
    let event = audit
        .iter()
        .find(|e| e.activity == "Admin registered security info")
        .unwrap();
    assert!(
        event
            .details
            .iter()
            .any(|(k, v)| k == "authenticationMethod" && v == "Temporary Access Pass")
    );
    assert!(!format!("{audit:?}").contains(issued.pass.expose_secret()));
}

async fn a_one_time_pass_is_used_once_even_when_presented_twice_at_once(h: Harness) {
    let noor = user(&h, "noor@contoso.test", vec![]).await;
    let d = &h.directory;
    let issued = d
        .create_temporary_access_pass(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(noor.id),
            NewTemporaryAccessPass {
                usable_once: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        d.use_temporary_access_pass(h.tenant(), &noor, &issued.pass),
        d.use_temporary_access_pass(h.tenant(), &noor, &issued.pass),
    );
    assert_eq!(u8::from(a.unwrap()) + u8::from(b.unwrap()), 1);
    let listed = d
        .temporary_access_passes(&Harness::operator(), h.tenant(), &UserRef::Id(noor.id))
        .await
        .unwrap();
    assert_eq!(
        listed[0].usability(h.clock.now()),
        TapUsability::OneTimeUsed
    );
    // A used-up pass does not stand in the way of a new one.
    d.create_temporary_access_pass(
        &Harness::operator(),
        h.tenant(),
        &UserRef::Id(noor.id),
        NewTemporaryAccessPass::default(),
    )
    .await
    .unwrap();
}

async fn one_pass_per_user_and_bad_lifetimes_are_refused(h: Harness) {
    let noor = user(&h, "noor@contoso.test", vec![]).await;
    let d = &h.directory;
    let target = UserRef::Id(noor.id);
    d.create_temporary_access_pass(
        &Harness::operator(),
        h.tenant(),
        &target,
        Default::default(),
    )
    .await
    .unwrap();
    let e = d
        .create_temporary_access_pass(
            &Harness::operator(),
            h.tenant(),
            &target,
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, DirectoryError::Conflict(ref m) if m.contains("already has")),
        "{e}"
    );
    for minutes in [9, 43_201] {
        let e = d
            .create_temporary_access_pass(
                &Harness::operator(),
                h.tenant(),
                &UserRef::Upn(Upn::parse("noor@contoso.test").unwrap()),
                NewTemporaryAccessPass {
                    lifetime_minutes: Some(minutes),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("lifetimeInMinutes"), "{e}");
    }
    // Deleting makes room for a new one.
    let id = d
        .temporary_access_passes(&Harness::operator(), h.tenant(), &target)
        .await
        .unwrap()[0]
        .id;
    d.delete_temporary_access_pass(&Harness::operator(), h.tenant(), &target, id)
        .await
        .unwrap();
    assert!(
        d.temporary_access_passes(&Harness::operator(), h.tenant(), &target)
            .await
            .unwrap()
            .is_empty()
    );
    d.create_temporary_access_pass(
        &Harness::operator(),
        h.tenant(),
        &target,
        Default::default(),
    )
    .await
    .unwrap();
}

async fn only_authentication_administrators_issue_passes(h: Harness) {
    let noor = user(&h, "noor@contoso.test", vec![]).await;
    let helpdesk = user(
        &h,
        "help@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let auth_admin = user(
        &h,
        "pam@contoso.test",
        vec![DirectoryRole::PrivilegedAuthenticationAdministrator],
    )
    .await;
    let d = &h.directory;
    let target = UserRef::Id(noor.id);
    for refused in [
        as_user(&noor),
        with_roles(&helpdesk, vec![DirectoryRole::HelpdeskAdministrator]),
    ] {
        let e = d
            .create_temporary_access_pass(&refused, h.tenant(), &target, Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, DirectoryError::Denied(_)), "{e}");
    }
    d.create_temporary_access_pass(
        &with_roles(
            &auth_admin,
            vec![DirectoryRole::PrivilegedAuthenticationAdministrator],
        ),
        h.tenant(),
        &target,
        Default::default(),
    )
    .await
    .unwrap();
    // The user sees that they have one (not the pass).
    let own = d
        .temporary_access_passes(
            &Actor::User {
                id: noor.id,
                display: "Noor".into(),
                roles: vec![],
                scopes: None,
                channel: Channel::SelfService,
            },
            h.tenant(),
            &target,
        )
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
}

async fn a_pass_typed_as_the_password_signs_in_but_never_a_disabled_account(h: Harness) {
    let noor = user(&h, "noor@contoso.test", vec![]).await;
    let d = &h.directory;
    let client = latchkey_core::directory::ClientRef::default();
    let issued = d
        .create_temporary_access_pass(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(noor.id),
            NewTemporaryAccessPass {
                usable_once: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let wrong = SecretString::from("Blue-Harbour-Lantern-7".to_owned());
    // Not the pass (even the password): the caller goes on to check a password.
    assert!(
        d.sign_in_with_temporary_access_pass(h.tenant(), "noor@contoso.test", &wrong, &client)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        d.sign_in_with_temporary_access_pass(
            h.tenant(),
            "ghost@contoso.test",
            &issued.pass,
            &client
        )
        .await
        .unwrap()
        .is_none()
    );
    // Disabled: refused, and the one-time pass is not used up.
    let changes = latchkey_core::directory::UserChanges {
        account_enabled: Some(false),
        ..Default::default()
    };
    d.update_user(
        &Harness::operator(),
        h.tenant(),
        &UserRef::Id(noor.id),
        changes,
    )
    .await
    .unwrap();
    assert!(matches!(
        d.sign_in_with_temporary_access_pass(
            h.tenant(),
            "NOOR@contoso.test",
            &issued.pass,
            &client
        )
        .await,
        Err(latchkey_core::directory::SignInError::Disabled)
    ));
    let changes = latchkey_core::directory::UserChanges {
        account_enabled: Some(true),
        ..Default::default()
    };
    d.update_user(
        &Harness::operator(),
        h.tenant(),
        &UserRef::Id(noor.id),
        changes,
    )
    .await
    .unwrap();
    let signed = d
        .sign_in_with_temporary_access_pass(h.tenant(), "noor@contoso.test", &issued.pass, &client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signed.id, noor.id);
    // Once.
    assert!(
        d.sign_in_with_temporary_access_pass(
            h.tenant(),
            "noor@contoso.test",
            &issued.pass,
            &client
        )
        .await
        .unwrap()
        .is_none()
    );
    let log = h.store.list_sign_in_events(h.tenant(), 10).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.user_id == Some(noor.id) && e.error_code == 0)
    );
}

/// Makes the user's next sign-in a forced change (a new hire, or a reset by an administrator).
async fn must_change(h: &Harness, u: &User) {
    h.directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            latchkey_core::directory::SetPassword {
                choice: PasswordChoice::Generate,
                force_change_next_sign_in: true,
                force_change_with_mfa: false,
                reason: None,
            },
        )
        .await
        .unwrap();
}

async fn a_pass_ticket_creates_one_password_and_nothing_else_does(h: Harness) {
    use latchkey_core::directory::TicketStage;
    let noor = user(&h, "noor@contoso.test", vec![]).await;
    must_change(&h, &noor).await;
    let noor = h
        .store
        .find_user(h.tenant(), noor.id)
        .await
        .unwrap()
        .unwrap();
    let d = &h.directory;
    let binding = "browser-a";
    let ticket = d
        .sign_in_ticket(&noor, TicketStage::TemporaryAccessPassVerified, binding)
        .unwrap();
    let new = SecretString::from("Green-Meadow-Compass-42".to_owned());

    // Another browser, another stage's ticket, a forged one: nothing changes.
    let other_stage = d
        .sign_in_ticket(&noor, TicketStage::SecondFactorVerified, binding)
        .unwrap();
    for (t, b) in [
        (ticket.as_str(), "browser-b"),
        (other_stage.as_str(), binding),
        ("forged", binding),
    ] {
        assert!(
            d.create_password_after_temporary_access_pass(h.tenant(), t, b, &new)
                .await
                .unwrap()
                .is_none()
        );
    }
    // A password the policy refuses: refused naming the rule, nothing changes.
    let weak = SecretString::from("Noor".to_owned());
    assert!(matches!(
        d.create_password_after_temporary_access_pass(h.tenant(), &ticket, binding, &weak)
            .await,
        Err(DirectoryError::Policy(_))
    ));
    assert_eq!(
        h.store
            .find_user(h.tenant(), noor.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        noor.version
    );

    let done = d
        .create_password_after_temporary_access_pass(h.tenant(), &ticket, binding, &new)
        .await
        .unwrap()
        .unwrap();
    assert!(!done.force_change_password_next_sign_in);
    assert!(
        d.sign_in_with_password(
            h.tenant(),
            "noor@contoso.test",
            &new,
            &latchkey_core::directory::ClientRef::default()
        )
        .await
        .is_ok()
    );
    // Audited as the user changing their own password.
    let audit = h.store.list_audit_events(h.tenant(), 20).await.unwrap();
    assert!(audit.iter().any(|e| e.activity == "Change user password"));
    // The same ticket does not set a second password.
    let again = SecretString::from("Silver-Canyon-Ember-58".to_owned());
    assert!(
        d.create_password_after_temporary_access_pass(h.tenant(), &ticket, binding, &again)
            .await
            .unwrap()
            .is_none()
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
    a_pass_is_shown_once_and_signs_in_for_its_lifetime,
    a_one_time_pass_is_used_once_even_when_presented_twice_at_once,
    one_pass_per_user_and_bad_lifetimes_are_refused,
    only_authentication_administrators_issue_passes,
    a_pass_typed_as_the_password_signs_in_but_never_a_disabled_account,
    a_pass_ticket_creates_one_password_and_nothing_else_does,
);
