//! Role membership writes through the directory and the real store, on SQLite and on
//! PostgreSQL: a role write checks the user's version, so of two racing role changes to one
//! user neither is lost silently (one may be refused as stale, to be retried).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use latchkey_core::audit::{AuditEvent, Events, OutboxEvent};
use latchkey_core::directory::{NewUser, PasswordChoice, UserChanges, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::EventId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::StoreError;
use latchkey_testkit::{Backend, Harness};

async fn add_user(h: &Harness, upn: &str) -> latchkey_core::user::User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Role Holder").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn a_role_write_at_a_stale_version_changes_nothing(h: Harness) {
    let user = add_user(&h, "stale@contoso.test").await;
    // Someone changes the user after it was read.
    h.directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            UserChanges {
                display_name: Some(DisplayName::parse("Renamed Meanwhile").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let before = h
        .store
        .list_audit_events(h.tenant(), 100)
        .await
        .unwrap()
        .len();
    // A role change's trail, as a directory operation would write it, under fresh ids.
    let audit = h
        .store
        .list_audit_events(h.tenant(), 1)
        .await
        .unwrap()
        .remove(0);
    let outbox = h
        .store
        .list_outbox_events(h.tenant(), 1)
        .await
        .unwrap()
        .remove(0);
    let events = Events::new(
        AuditEvent {
            id: EventId::new(),
            ..audit
        },
        OutboxEvent {
            id: EventId::new(),
            ..outbox
        },
    );
    let got = h
        .store
        .set_user_roles(
            h.tenant(),
            user.id,
            &[DirectoryRole::HelpdeskAdministrator],
            user.version,
            &events,
        )
        .await;
    assert!(matches!(got, Err(StoreError::Stale)), "{got:?}");
    assert!(
        h.store
            .list_user_roles(h.tenant(), user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.store
            .list_audit_events(h.tenant(), 100)
            .await
            .unwrap()
            .len(),
        before
    );
}

async fn racing_role_additions_never_lose_a_role_they_report_as_added(h: Harness) {
    let h = Arc::new(h);
    for n in 0..8 {
        let user = add_user(&h, &format!("racer{n}@contoso.test")).await;
        let mut tasks = Vec::new();
        for role in [
            DirectoryRole::HelpdeskAdministrator,
            DirectoryRole::PasswordAdministrator,
        ] {
            let (h, id) = (h.clone(), user.id);
            tasks.push(tokio::spawn(async move {
                let r = h
                    .directory
                    .add_role_member(&Harness::operator(), h.tenant(), role, &UserRef::Id(id))
                    .await;
                (role, r)
            }));
        }
        let mut added = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (role, Ok(())) => added.push(role),
                (_, Err(DirectoryError::Stale)) => {}
                (_, Err(other)) => panic!("{other:?}"),
            }
        }
        let held = h.store.list_user_roles(h.tenant(), user.id).await.unwrap();
        assert!(!added.is_empty(), "one of two writers wins");
        for role in added {
            assert!(
                held.contains(&role),
                "{role:?} was reported added but is not held: {held:?}"
            );
        }
    }
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
    a_role_write_at_a_stale_version_changes_nothing,
    racing_role_additions_never_lose_a_role_they_report_as_added,
);
