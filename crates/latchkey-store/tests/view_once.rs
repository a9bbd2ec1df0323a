//! View-once delivery of a reset password, through the real store on SQLite and PostgreSQL:
//! the reset, the sealed delivery and the e-mail are one change; the link reveals the
//! password once; expired, reused, unknown or superseded links say only that they are gone;
//! who may not reset may not deliver; nothing secret is readable in the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::authz::Actor;
use latchkey_core::directory::{
    NewUser, PasswordChoice, SetPassword, UserRef, ViewOnceGone, ViewOnceLink,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::mail::{MailAddress, MailContent, MailKind, MailQuery, MailStatus};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::AuditQuery;
use latchkey_core::user::{User, UserProfile};
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

const PREFIX: &str = "https://id.contoso.test/account/delivered/";

async fn user(h: &Harness, upn: &str, roles: Vec<DirectoryRole>) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Katherine Johnson").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    mail: Some("katherine@mail.contoso.test".into()),
                    other_mails: vec!["kj@home.example.org".into()],
                    ..Default::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from("Orbit-Trajectory-1962")),
                force_change_next_sign_in: false,
                roles,
            },
        )
        .await
        .unwrap()
        .user
}

fn generate() -> SetPassword {
    SetPassword {
        choice: PasswordChoice::Generate,
        force_change_next_sign_in: true,
        force_change_with_mfa: false,
        reason: None,
    }
}

fn link_to(address: &str) -> ViewOnceLink {
    ViewOnceLink {
        to: MailAddress::parse(address).unwrap(),
        link_prefix: PREFIX.into(),
        lifetime: None,
    }
}

async fn admin(h: &Harness) -> Actor {
    h.directory
        .admin_center_caller(h.tenant(), &h.boot.admin)
        .await
        .unwrap()
}

/// Resets with delivery to the user's `mail`, and returns the link's token as the e-mail
/// carries it (the queued message opened as the sender would).
async fn deliver(h: &Harness, u: &User) -> String {
    h.directory
        .reset_password_with_delivery(
            &admin(h).await,
            h.tenant(),
            u.id,
            u.version,
            generate(),
            link_to("katherine@mail.contoso.test"),
        )
        .await
        .unwrap();
    let due = h.directory.claim_due_mail(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].to[0].as_str(), "katherine@mail.contoso.test");
    match &due[0].message.content {
        MailContent::ViewOnceLink { link, .. } => {
            let link = link.expose_secret();
            assert!(link.starts_with(PREFIX), "{link}");
            link[PREFIX.len()..].to_owned()
        }
        other => panic!("{other:?}"),
    }
}

async fn signs_in_with(h: &Harness, u: &User, pw: &str) -> bool {
    let hash = h
        .store
        .find_password_hash(h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap();
    h.directory
        .hasher()
        .verify(&SecretString::from(pw.to_owned()), &hash)
        .await
        .unwrap()
        .matches
}

async fn the_link_reveals_the_new_password_once_then_is_gone(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let token = deliver(&h, &u).await;
    assert_eq!(
        h.directory.view_once_pending(&token).await.unwrap(),
        "katherine@contoso.test",
        "looking does not use it up"
    );
    assert!(h.directory.view_once_pending(&token).await.is_ok());
    let revealed = h.directory.reveal_view_once(&token).await.unwrap();
    assert_eq!(revealed.user_principal_name, "katherine@contoso.test");
    let password = revealed.password.expose_secret().to_owned();
    assert!(signs_in_with(&h, &u, &password).await);
    assert!(!signs_in_with(&h, &u, "Orbit-Trajectory-1962").await);
    let after = h.store.find_user(h.tenant(), u.id).await.unwrap().unwrap();
    assert!(
        after.force_change_password_next_sign_in,
        "the user must choose their own"
    );

    assert_eq!(
        h.directory.reveal_view_once(&token).await.unwrap_err(),
        ViewOnceGone
    );
    assert_eq!(
        h.directory.view_once_pending(&token).await.unwrap_err(),
        ViewOnceGone
    );
}

async fn opening_is_audited_without_the_password(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let token = deliver(&h, &u).await;
    let password = h
        .directory
        .reveal_view_once(&token)
        .await
        .unwrap()
        .password
        .expose_secret()
        .to_owned();
    let events = h
        .store
        .query_audit_events(
            h.tenant(),
            &AuditQuery {
                target_id: Some(u.id.to_string()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items;
    let reveal = events
        .iter()
        .find(|e| e.activity == "Reveal delivered password")
        .expect("the opening is audited");
    assert_eq!(reveal.initiated_by.display, "holder of a view-once link");
    let reset = events
        .iter()
        .find(|e| e.activity == "Reset user password")
        .unwrap();
    assert!(
        reset
            .details
            .contains(&("deliveredTo".into(), "katherine@mail.contoso.test".into()))
    );
    let all = format!("{events:?}");
    assert!(!all.contains(&password));
    assert!(!all.contains(&token));
}

async fn an_expired_link_is_gone_and_its_secret_purged(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let token = deliver(&h, &u).await;
    h.clock.advance(Duration::hours(24));
    assert_eq!(
        h.directory.reveal_view_once(&token).await.unwrap_err(),
        ViewOnceGone
    );
    assert_eq!(h.directory.purge_expired_deliveries().await.unwrap(), 1);
    assert_eq!(h.directory.purge_expired_deliveries().await.unwrap(), 0);
}

async fn a_wrong_or_malformed_token_is_gone(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let token = deliver(&h, &u).await;
    let mut wrong = token.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for bad in [
        wrong.as_str(),
        "",
        "short",
        "../../etc/passwd",
        &format!("{token}x"),
    ] {
        assert_eq!(
            h.directory.reveal_view_once(bad).await.unwrap_err(),
            ViewOnceGone,
            "{bad}"
        );
    }
    // The real one still works.
    assert!(h.directory.reveal_view_once(&token).await.is_ok());
}

async fn a_later_password_change_makes_the_link_moot(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let token = deliver(&h, &u).await;
    h.clock.advance(Duration::seconds(2));
    h.directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            generate(),
        )
        .await
        .unwrap();
    assert_eq!(
        h.directory.reveal_view_once(&token).await.unwrap_err(),
        ViewOnceGone
    );
}

async fn only_the_users_own_addresses_are_offered_and_accepted(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let offered = h
        .directory
        .delivery_recipients(&admin(&h).await, h.tenant(), u.id)
        .await
        .unwrap();
    assert_eq!(
        offered.iter().map(MailAddress::as_str).collect::<Vec<_>>(),
        ["katherine@mail.contoso.test", "kj@home.example.org"]
    );
    let err = h
        .directory
        .reset_password_with_delivery(
            &admin(&h).await,
            h.tenant(),
            u.id,
            u.version,
            generate(),
            link_to("attacker@evil.example"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { property, message } if property == "recipient" && message.contains("attacker@evil.example")),
        "{err:?}"
    );
    nothing_happened(&h, &u).await;
}

async fn a_typed_password_cannot_be_delivered(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let err = h
        .directory
        .reset_password_with_delivery(
            &admin(&h).await,
            h.tenant(),
            u.id,
            u.version,
            SetPassword {
                choice: PasswordChoice::Provided(SecretString::from("Typed-By-The-Admin-77")),
                ..generate()
            },
            link_to("katherine@mail.contoso.test"),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, DirectoryError::Invalid { property, .. } if property == "delivery"));
    nothing_happened(&h, &u).await;
}

async fn an_admin_who_may_not_reset_the_user_cannot_deliver(h: Harness) {
    let helpdesk = user(
        &h,
        "helpdesk@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let actor = h
        .directory
        .admin_center_caller(h.tenant(), &helpdesk)
        .await
        .unwrap();
    let global = &h.boot.admin;
    let err = h
        .directory
        .reset_password_with_delivery(
            &actor,
            h.tenant(),
            global.id,
            global.version,
            generate(),
            link_to("admin@contoso.test"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Denied(_)), "{err:?}");
    assert!(h.directory.mail_queue(&pending()).await.unwrap().is_empty());
}

async fn a_stale_form_delivers_nothing(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    let err = h
        .directory
        .reset_password_with_delivery(
            &admin(&h).await,
            h.tenant(),
            u.id,
            u.version - 1,
            generate(),
            link_to("katherine@mail.contoso.test"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Stale));
    nothing_happened(&h, &u).await;
}

async fn neither_the_password_nor_the_link_is_readable_in_the_database(h: Harness) {
    let u = user(&h, "katherine@contoso.test", vec![]).await;
    h.directory
        .reset_password_with_delivery(
            &admin(&h).await,
            h.tenant(),
            u.id,
            u.version,
            generate(),
            link_to("katherine@mail.contoso.test"),
        )
        .await
        .unwrap();
    // Read the link as the sender would, but leave the message pending (lease released by
    // the clock), then peek at the password without using the link up.
    let due = h.directory.claim_due_mail(10).await.unwrap();
    let token = match &due[0].message.content {
        MailContent::ViewOnceLink { link, .. } => link.expose_secret()[PREFIX.len()..].to_owned(),
        other => panic!("{other:?}"),
    };
    let rows = format!(
        "{}\n{}",
        h.raw_rows("mail_outbox").await,
        h.raw_rows("view_once_deliveries").await
    );
    assert!(
        !rows.contains(&token),
        "the link's token is stored only as a digest"
    );
    assert!(!rows.contains(&hex(&token)));
    let password = h
        .directory
        .reveal_view_once(&token)
        .await
        .unwrap()
        .password
        .expose_secret()
        .to_owned();
    let rows = format!(
        "{}\n{}",
        h.raw_rows("mail_outbox").await,
        h.raw_rows("view_once_deliveries").await
    );
    assert!(!rows.contains(&password));
    assert!(!rows.contains(&hex(&password)));
}

fn pending() -> MailQuery {
    MailQuery {
        tenant: None,
        statuses: vec![MailStatus::Pending],
        limit: 10,
    }
}

async fn nothing_happened(h: &Harness, u: &User) {
    assert!(signs_in_with(h, u, "Orbit-Trajectory-1962").await);
    assert!(h.directory.mail_queue(&pending()).await.unwrap().is_empty());
    let _ = MailKind::ViewOnceLink;
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn a_new_hire_without_a_mailbox_gets_the_link_through_their_manager(h: Harness) {
    let manager = user(&h, "katherine@contoso.test", vec![]).await;
    let hire = h
        .directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse("newhire@contoso.test").unwrap(),
                display_name: DisplayName::parse("Dorothy Vaughan").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: true,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user;
    let admin = admin(&h).await;
    // No manager yet, no mailbox: nowhere to send it.
    assert!(
        h.directory
            .delivery_recipients(&admin, h.tenant(), hire.id)
            .await
            .unwrap()
            .is_empty()
    );
    h.directory
        .set_manager(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(hire.id),
            manager.id,
        )
        .await
        .unwrap();
    let hire = h
        .directory
        .get_user(&admin, h.tenant(), &UserRef::Id(hire.id))
        .await
        .unwrap();
    let offered = h
        .directory
        .delivery_recipients(&admin, h.tenant(), hire.id)
        .await
        .unwrap();
    assert_eq!(
        offered.iter().map(MailAddress::as_str).collect::<Vec<_>>(),
        ["katherine@mail.contoso.test", "kj@home.example.org"]
    );
    h.directory
        .reset_password_with_delivery(
            &admin,
            h.tenant(),
            hire.id,
            hire.version,
            generate(),
            link_to("katherine@mail.contoso.test"),
        )
        .await
        .unwrap();
    let due = h.directory.claim_due_mail(10).await.unwrap();
    let link = due
        .iter()
        .find_map(|d| match &d.message.content {
            MailContent::ViewOnceLink {
                user_principal_name,
                ..
            } if d
                .to
                .iter()
                .any(|a| a.as_str() == "katherine@mail.contoso.test") =>
            {
                Some(user_principal_name.clone())
            }
            _ => None,
        })
        .expect("a link for the new hire, sent to the manager");
    assert_eq!(link, "newhire@contoso.test");
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
    the_link_reveals_the_new_password_once_then_is_gone,
    opening_is_audited_without_the_password,
    an_expired_link_is_gone_and_its_secret_purged,
    a_wrong_or_malformed_token_is_gone,
    a_later_password_change_makes_the_link_moot,
    only_the_users_own_addresses_are_offered_and_accepted,
    a_typed_password_cannot_be_delivered,
    an_admin_who_may_not_reset_the_user_cannot_deliver,
    a_stale_form_delivers_nothing,
    neither_the_password_nor_the_link_is_readable_in_the_database,
    a_new_hire_without_a_mailbox_gets_the_link_through_their_manager,
);
