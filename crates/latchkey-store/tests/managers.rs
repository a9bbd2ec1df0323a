//! The manager relationship through the directory and the real store, on SQLite and on
//! PostgreSQL: loops refused (also between racing writers), deletion, direct reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::store::UserQuery;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};

async fn add_user(h: &Harness, upn: &str) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Team Member").unwrap(),
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

async fn set(h: &Harness, user: &User, manager: &User) -> Result<(), DirectoryError> {
    h.directory
        .set_manager(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            manager.id,
        )
        .await
}

async fn manager_of(h: &Harness, user: &User) -> Option<String> {
    h.directory
        .get_manager(&Harness::operator(), h.tenant(), &UserRef::Id(user.id))
        .await
        .unwrap()
        .map(|m| m.user_principal_name.to_string())
}

async fn reports_of(h: &Harness, user: &User) -> Vec<String> {
    h.directory
        .list_direct_reports(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            &UserQuery {
                limit: 999,
                ..UserQuery::default()
            },
        )
        .await
        .unwrap()
        .items
        .iter()
        .map(|u| u.user_principal_name.to_string())
        .collect()
}

async fn a_chain_may_grow_but_never_close_into_a_loop(h: Harness) {
    let a = add_user(&h, "a@contoso.test").await;
    let b = add_user(&h, "b@contoso.test").await;
    let c = add_user(&h, "c@contoso.test").await;
    set(&h, &a, &b).await.unwrap();
    set(&h, &b, &c).await.unwrap();
    for (user, manager) in [(&c, &a), (&c, &b), (&a, &a)] {
        let err = set(&h, user, manager).await.unwrap_err();
        assert!(
            matches!(&err, DirectoryError::Invalid { property, message } if property == "manager" && message.contains("loop")),
            "{err}"
        );
    }
    assert_eq!(manager_of(&h, &c).await, None, "nothing was written");
    // Changing a manager replaces the old one.
    set(&h, &a, &c).await.unwrap();
    assert_eq!(manager_of(&h, &a).await.as_deref(), Some("c@contoso.test"));
    assert_eq!(reports_of(&h, &b).await, Vec::<String>::new());
    assert_eq!(
        reports_of(&h, &c).await,
        vec!["a@contoso.test".to_owned(), "b@contoso.test".to_owned()]
    );
    let managers = h
        .directory
        .managers_of(&Harness::operator(), h.tenant(), &[a.id, b.id, c.id])
        .await
        .unwrap();
    assert_eq!(managers.len(), 2);
    assert_eq!(managers[&a.id].id, c.id);
    assert_eq!(managers[&b.id].id, c.id);
}

async fn two_racing_changes_cannot_close_a_loop_between_them(h: Harness) {
    // Each pair races "x reports to y" against "y reports to x": one may win, never both.
    for round in 0..6 {
        let x = add_user(&h, &format!("x{round}@contoso.test")).await;
        let y = add_user(&h, &format!("y{round}@contoso.test")).await;
        let spawn = |user: &User, manager: &User| {
            let directory = h.directory.clone();
            let (tenant, user, manager) = (h.tenant(), user.id, manager.id);
            tokio::spawn(async move {
                directory
                    .set_manager(&Harness::operator(), tenant, &UserRef::Id(user), manager)
                    .await
            })
        };
        let (one, two) = (spawn(&x, &y), spawn(&y, &x));
        let won = [one.await.unwrap(), two.await.unwrap()]
            .iter()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(won, 1, "round {round}");
        let loop_closed = manager_of(&h, &x).await.is_some() && manager_of(&h, &y).await.is_some();
        assert!(!loop_closed, "round {round}");
    }
}

async fn a_deleted_manager_is_hidden_and_gone_for_good_after_a_hard_delete(h: Harness) {
    let boss = add_user(&h, "boss@contoso.test").await;
    let kim = add_user(&h, "kim@contoso.test").await;
    set(&h, &kim, &boss).await.unwrap();
    h.directory
        .delete_user(&Harness::operator(), h.tenant(), &UserRef::Id(boss.id))
        .await
        .unwrap();
    assert_eq!(manager_of(&h, &kim).await, None);
    h.directory
        .restore_user(&Harness::operator(), h.tenant(), boss.id)
        .await
        .unwrap();
    assert_eq!(
        manager_of(&h, &kim).await.as_deref(),
        Some("boss@contoso.test"),
        "restored with the relationship"
    );
    h.directory
        .delete_user(&Harness::operator(), h.tenant(), &UserRef::Id(boss.id))
        .await
        .unwrap();
    h.directory
        .delete_user_permanently(&Harness::operator(), h.tenant(), boss.id)
        .await
        .unwrap();
    assert_eq!(manager_of(&h, &kim).await, None);
    let err = h
        .directory
        .remove_manager(&Harness::operator(), h.tenant(), &UserRef::Id(kim.id))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

async fn a_stale_user_version_writes_no_manager(h: Harness) {
    let boss = add_user(&h, "boss@contoso.test").await;
    let kim = add_user(&h, "kim@contoso.test").await;
    let write = latchkey_core::store::ManagerWrite {
        tenant_id: h.tenant(),
        user_id: kim.id,
        expected_version: kim.version - 1,
        manager: Some(boss.id),
        at: kim.created,
    };
    let events = h
        .store
        .list_audit_events(h.tenant(), 999)
        .await
        .unwrap()
        .len();
    // Reuse any well-formed events; the write must fail before they are inserted.
    let sample = {
        set(&h, &boss, &kim).await.unwrap();
        h.directory
            .remove_manager(&Harness::operator(), h.tenant(), &UserRef::Id(boss.id))
            .await
            .unwrap();
        h.store
            .list_audit_events(h.tenant(), 1)
            .await
            .unwrap()
            .remove(0)
    };
    let outbox = h
        .store
        .list_outbox_events(h.tenant(), 1)
        .await
        .unwrap()
        .remove(0);
    let mut audit = sample;
    audit.id = latchkey_core::ids::EventId::new();
    let mut outbox = outbox;
    outbox.id = latchkey_core::ids::EventId::new();
    let err = h
        .store
        .write_manager(&write, &latchkey_core::audit::Events::new(audit, outbox))
        .await
        .unwrap_err();
    assert!(
        matches!(err, latchkey_core::store::StoreError::Stale),
        "{err}"
    );
    assert_eq!(manager_of(&h, &kim).await, None);
    assert_eq!(
        h.store
            .list_audit_events(h.tenant(), 999)
            .await
            .unwrap()
            .len(),
        events + 2,
        "only the two earlier changes"
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
    a_chain_may_grow_but_never_close_into_a_loop,
    two_racing_changes_cannot_close_a_loop_between_them,
    a_deleted_manager_is_hidden_and_gone_for_good_after_a_hard_delete,
    a_stale_user_version_writes_no_manager,
);
