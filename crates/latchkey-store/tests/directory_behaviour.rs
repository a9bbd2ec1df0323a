//! The directory's behaviour, through the real store, on SQLite and on PostgreSQL. Every test
//! runs once per backend (see `both_backends!` at the bottom).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{NewUser, PasswordChoice, SetPassword, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::{EventId, UserId};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::password::PasswordHash;
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::{PasswordWrite, StoreError, UserQuery};
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn new_user(upn: &str, name: &str, password: PasswordChoice) -> NewUser {
    NewUser {
        user_principal_name: Upn::parse(upn).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        mail_nickname: None,
        account_enabled: true,
        profile: Default::default(),
        password_policies: Default::default(),
        password,
        force_change_next_sign_in: false,
        roles: vec![],
    }
}

async fn add(h: &Harness, upn: &str, name: &str, pw: &str) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            new_user(upn, name, PasswordChoice::Provided(secret(pw))),
        )
        .await
        .unwrap()
        .user
}

async fn add_with_roles(h: &Harness, upn: &str, roles: Vec<DirectoryRole>) -> User {
    let mut n = new_user(upn, "Someone Else", PasswordChoice::Generate);
    n.roles = roles;
    h.directory
        .create_user(&Harness::operator(), h.tenant(), n)
        .await
        .unwrap()
        .user
}

async fn password_is(h: &Harness, user: UserId, pw: &str) -> bool {
    let hash: PasswordHash = h
        .store
        .find_password_hash(h.tenant(), user)
        .await
        .unwrap()
        .unwrap();
    h.directory
        .hasher()
        .verify(&secret(pw), &hash)
        .await
        .unwrap()
        .matches
}

/// Everything a failed operation could have touched, to compare before and after.
async fn snapshot(h: &Harness) -> (Vec<User>, usize, usize) {
    let users = h
        .store
        .list_users(
            h.tenant(),
            &UserQuery {
                limit: 999,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items;
    let audit = h
        .store
        .list_audit_events(h.tenant(), 10_000)
        .await
        .unwrap()
        .len();
    let outbox = h
        .store
        .list_outbox_events(h.tenant(), 10_000)
        .await
        .unwrap()
        .len();
    (users, audit, outbox)
}

fn reset(choice: PasswordChoice, force: bool) -> SetPassword {
    SetPassword {
        choice,
        force_change_next_sign_in: force,
        force_change_with_mfa: false,
        reason: Some("ticket 42".into()),
    }
}

fn admin_actor(roles: Vec<DirectoryRole>) -> Actor {
    Actor::User {
        id: UserId::new(),
        display: "someadmin@contoso.test".into(),
        roles,
        scopes: None,
        channel: Channel::AdminCenter,
    }
}

async fn bootstrap_creates_a_global_administrator_who_must_change_the_generated_password(
    h: Harness,
) {
    let boot = &h.boot;
    assert_eq!(
        boot.admin.user_principal_name.as_str(),
        "admin@contoso.test"
    );
    assert!(boot.admin.force_change_password_next_sign_in);
    let pw = boot
        .generated_password
        .as_ref()
        .expect("a generated password");
    assert!(password_is(&h, boot.admin.id, pw.expose_secret()).await);
    let roles = h
        .store
        .list_user_roles(h.tenant(), boot.admin.id)
        .await
        .unwrap();
    assert_eq!(roles, vec![DirectoryRole::GlobalAdministrator]);
    let again = h
        .directory
        .bootstrap_tenant(&"contoso.test".parse_domain(), "Contoso", None)
        .await;
    assert!(matches!(again, Err(DirectoryError::Conflict(_))));
}

trait ParseDomain {
    fn parse_domain(&self) -> latchkey_core::names::DomainName;
}
impl ParseDomain for str {
    fn parse_domain(&self) -> latchkey_core::names::DomainName {
        latchkey_core::names::DomainName::parse(self).unwrap()
    }
}

async fn a_user_is_found_by_id_and_by_upn_in_any_case(h: Harness) {
    let u = add(
        &h,
        "Adele.Vance@contoso.test",
        "Adele Vance",
        "Tr0ub4dor&3x!",
    )
    .await;
    let op = Harness::operator();
    let by_id = h
        .directory
        .get_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    assert_eq!(by_id, u);
    let by_upn = h
        .directory
        .get_user(
            &op,
            h.tenant(),
            &UserRef::parse("ADELE.VANCE@CONTOSO.TEST").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(by_upn.id, u.id);
    assert_eq!(
        by_upn.user_principal_name.as_str(),
        "Adele.Vance@contoso.test"
    );
}

async fn a_duplicate_upn_in_any_case_is_refused_and_nothing_is_written(h: Harness) {
    add(&h, "megan@contoso.test", "Megan Bowen", "Tr0ub4dor&3x!").await;
    let before = snapshot(&h).await;
    let err = h
        .directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            new_user(
                "MEGAN@contoso.test",
                "Other Megan",
                PasswordChoice::Generate,
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Conflict(m) if m.contains("userPrincipalName")),
        "{err}"
    );
    assert_eq!(snapshot(&h).await, before);
}

async fn a_upn_on_an_unverified_domain_is_refused_and_nothing_is_written(h: Harness) {
    let before = snapshot(&h).await;
    let err = h
        .directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            new_user("x@fabrikam.test", "X", PasswordChoice::Generate),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { property, .. } if property == "userPrincipalName"),
        "{err}"
    );
    assert_eq!(snapshot(&h).await, before);
}

async fn a_weak_password_on_create_is_refused_naming_the_rule(h: Harness) {
    let before = snapshot(&h).await;
    let err = h
        .directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            new_user(
                "lee@contoso.test",
                "Lee Gu",
                PasswordChoice::Provided(secret("short")),
            ),
        )
        .await
        .unwrap_err();
    let DirectoryError::Policy(p) = &err else {
        panic!("{err}")
    };
    assert!(p.to_string().contains("8 characters"), "{p}");
    assert!(!p.to_string().contains("short"));
    assert_eq!(snapshot(&h).await, before);
}

async fn a_generated_reset_returns_the_password_once_and_replaces_the_old_one(h: Harness) {
    let u = add(&h, "diego@contoso.test", "Diego Siciliani", "Tr0ub4dor&3x!").await;
    h.clock.advance(Duration::minutes(5));
    let out = h
        .directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            reset(PasswordChoice::Generate, true),
        )
        .await
        .unwrap();
    let pw = out.generated_password.expect("generated");
    assert_eq!(pw.expose_secret().chars().count(), 16);
    assert!(password_is(&h, u.id, pw.expose_secret()).await);
    assert!(!password_is(&h, u.id, "Tr0ub4dor&3x!").await);
    let after = h.store.find_user(h.tenant(), u.id).await.unwrap().unwrap();
    assert!(after.force_change_password_next_sign_in);
    assert_eq!(after.last_password_change, Some(h.clock_now()));
    assert_eq!(after.version, u.version + 1);

    let audit = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    let last = &audit[0];
    assert_eq!(last.activity, "Reset user password");
    assert_eq!(last.target_id.as_deref(), Some(u.id.to_string().as_str()));
    assert!(
        last.details
            .contains(&("passwordMethod".into(), "generated".into()))
    );
    assert!(
        last.details
            .contains(&("reason".into(), "ticket 42".into()))
    );
    let everything = format!(
        "{audit:?}{:?}",
        h.store.list_outbox_events(h.tenant(), 100).await.unwrap()
    );
    assert!(!everything.contains(pw.expose_secret()));
    let outbox = h.store.list_outbox_events(h.tenant(), 100).await.unwrap();
    assert!(
        outbox
            .iter()
            .any(|e| e.kind == "user.passwordSet" && e.subject == Some(u.id))
    );
}

trait Now {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}
impl Now for Harness {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use latchkey_core::clock::Clock;
        self.clock.now()
    }
}

async fn a_provided_password_that_fails_policy_leaves_the_old_one_and_writes_nothing(h: Harness) {
    let u = add(&h, "alex@contoso.test", "Alex Wilber", "Tr0ub4dor&3x!").await;
    let before = snapshot(&h).await;
    let err = h
        .directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            reset(PasswordChoice::Provided(secret("alllowercase")), false),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Policy(_)), "{err}");
    assert_eq!(snapshot(&h).await, before);
    assert!(password_is(&h, u.id, "Tr0ub4dor&3x!").await);
}

async fn a_helpdesk_administrator_cannot_reset_a_global_administrator(h: Harness) {
    let global = add_with_roles(
        &h,
        "ga@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let plain = add(&h, "plain@contoso.test", "Plain User", "Tr0ub4dor&3x!").await;
    let helpdesk = admin_actor(vec![DirectoryRole::HelpdeskAdministrator]);
    let before = snapshot(&h).await;
    let err = h
        .directory
        .set_password(
            &helpdesk,
            h.tenant(),
            &UserRef::Id(global.id),
            reset(PasswordChoice::Generate, true),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Denied(_)), "{err}");
    assert_eq!(snapshot(&h).await, before);
    h.directory
        .set_password(
            &helpdesk,
            h.tenant(),
            &UserRef::Id(plain.id),
            reset(PasswordChoice::Generate, true),
        )
        .await
        .unwrap();
}

async fn an_unknown_user_is_not_found(h: Harness) {
    let err = h
        .directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(UserId::new()),
            reset(PasswordChoice::Generate, true),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

async fn a_stale_write_is_refused_and_the_old_password_stays(h: Harness) {
    let u = add(&h, "stale@contoso.test", "Stale Reader", "Tr0ub4dor&3x!").await;
    h.directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            reset(PasswordChoice::Provided(secret("Second-Passw0rd!")), false),
        )
        .await
        .unwrap();
    // A writer that read version 1 before that change.
    let hash = h
        .directory
        .hasher()
        .hash(&secret("Third-Passw0rd!"))
        .await
        .unwrap();
    let events = h.store.list_outbox_events(h.tenant(), 1).await.unwrap();
    let _ = events;
    let write = PasswordWrite {
        tenant_id: h.tenant(),
        user_id: u.id,
        expected_version: u.version,
        hash,
        changed_at: h.clock_now(),
        force_change_next_sign_in: false,
        force_change_with_mfa: false,
        revoke_sessions_from: None,
    };
    let err = h
        .store
        .write_password(&write, &fresh_events(&h, u.id))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale), "{err}");
    assert!(password_is(&h, u.id, "Second-Passw0rd!").await);
}

fn fresh_events(h: &Harness, subject: UserId) -> latchkey_core::audit::Events {
    use latchkey_core::audit::{AuditEvent, Events, Initiator, OutboxEvent};
    let now = h.clock_now();
    Events::new(
        AuditEvent {
            id: EventId::new(),
            tenant_id: h.tenant(),
            activity_date_time: now,
            category: "UserManagement".into(),
            activity: "Reset user password".into(),
            operation_type: "Update".into(),
            result: "success".into(),
            initiated_by: Initiator::of(&Harness::operator()),
            target_id: Some(subject.to_string()),
            target_display: None,
            channel: Channel::Cli,
            details: vec![],
        },
        OutboxEvent {
            id: EventId::new(),
            tenant_id: h.tenant(),
            occurred_at: now,
            kind: "user.passwordSet".into(),
            subject: Some(subject),
            payload: serde_json::json!({}),
        },
    )
}

async fn a_failure_between_hashing_and_commit_leaves_the_old_credential_valid(h: Harness) {
    let u = add(&h, "crash@contoso.test", "Crash Test", "Tr0ub4dor&3x!").await;
    let before = snapshot(&h).await;
    // The credential update succeeds inside the transaction, then the audit insert fails (its
    // id is taken): the whole transaction must roll back.
    let mut events = fresh_events(&h, u.id);
    events.audit.id = h.store.list_audit_events(h.tenant(), 1).await.unwrap()[0].id;
    let write = PasswordWrite {
        tenant_id: h.tenant(),
        user_id: u.id,
        expected_version: u.version,
        hash: h
            .directory
            .hasher()
            .hash(&secret("Never-Committed-1!"))
            .await
            .unwrap(),
        changed_at: h.clock_now(),
        force_change_next_sign_in: true,
        force_change_with_mfa: false,
        revoke_sessions_from: None,
    };
    assert!(h.store.write_password(&write, &events).await.is_err());
    assert_eq!(snapshot(&h).await, before);
    assert!(password_is(&h, u.id, "Tr0ub4dor&3x!").await);
    assert!(!password_is(&h, u.id, "Never-Committed-1!").await);
}

async fn a_deleted_user_is_gone_until_restored_within_thirty_days(h: Harness) {
    let op = Harness::operator();
    let u = add(&h, "bin@contoso.test", "Recycle Bin", "Tr0ub4dor&3x!").await;
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    let gone = h
        .directory
        .get_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap_err();
    assert!(matches!(gone, DirectoryError::NotFound { .. }));
    let deleted = h
        .directory
        .list_deleted_users(
            &op,
            h.tenant(),
            &UserQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        deleted.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![u.id]
    );
    h.clock.advance(Duration::days(29));
    let back = h
        .directory
        .restore_user(&op, h.tenant(), u.id)
        .await
        .unwrap();
    assert!(!back.is_deleted());
    assert!(password_is(&h, u.id, "Tr0ub4dor&3x!").await);
}

async fn a_user_deleted_more_than_thirty_days_ago_cannot_be_restored_and_is_purged(h: Harness) {
    let op = Harness::operator();
    let u = add(&h, "old@contoso.test", "Old Timer", "Tr0ub4dor&3x!").await;
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    h.clock.advance(Duration::days(30) + Duration::seconds(1));
    let err = h
        .directory
        .restore_user(&op, h.tenant(), u.id)
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
    assert_eq!(
        h.directory
            .purge_expired_deleted_users(h.tenant())
            .await
            .unwrap(),
        1
    );
    assert!(h.store.find_user(h.tenant(), u.id).await.unwrap().is_none());
}

async fn restoring_a_user_whose_upn_was_reused_is_a_conflict(h: Harness) {
    let op = Harness::operator();
    let u = add(&h, "reuse@contoso.test", "First Owner", "Tr0ub4dor&3x!").await;
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    add(&h, "Reuse@contoso.test", "Second Owner", "Tr0ub4dor&3x!").await;
    let err = h
        .directory
        .restore_user(&op, h.tenant(), u.id)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Conflict(m) if m.contains("reuse@contoso.test")),
        "{err}"
    );
}

async fn listing_pages_through_every_user_in_upn_order_and_searches_by_prefix(h: Harness) {
    let op = Harness::operator();
    for i in 0..23 {
        add(
            &h,
            &format!("user{i:02}@contoso.test"),
            &format!("Person {i:02}"),
            "Tr0ub4dor&3x!",
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = h
            .directory
            .list_users(
                &op,
                h.tenant(),
                &UserQuery {
                    after: after.clone(),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|u| u.user_principal_name.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 24, "23 users and the admin");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    let found = h
        .directory
        .list_users(
            &op,
            h.tenant(),
            &UserQuery {
                search: Some("PERSON 1".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 10);
    // LIKE wildcards in the search are literal.
    let none = h
        .directory
        .list_users(
            &op,
            h.tenant(),
            &UserQuery {
                search: Some("%".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

async fn role_assignments_are_replaced_and_audited(h: Harness) {
    let u = add(&h, "roles@contoso.test", "Role Holder", "Tr0ub4dor&3x!").await;
    let r = UserRef::Id(u.id);
    h.directory
        .set_user_roles(
            &Harness::operator(),
            h.tenant(),
            &r,
            vec![
                DirectoryRole::HelpdeskAdministrator,
                DirectoryRole::HelpdeskAdministrator,
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        h.directory
            .user_roles(&Harness::operator(), h.tenant(), &r)
            .await
            .unwrap(),
        vec![DirectoryRole::HelpdeskAdministrator]
    );
    let helpdesk = admin_actor(vec![DirectoryRole::HelpdeskAdministrator]);
    let err = h
        .directory
        .set_user_roles(
            &helpdesk,
            h.tenant(),
            &r,
            vec![DirectoryRole::GlobalAdministrator],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Denied(_)));
    let audit = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    assert_eq!(audit[0].category, "RoleManagement");
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
    bootstrap_creates_a_global_administrator_who_must_change_the_generated_password,
    a_user_is_found_by_id_and_by_upn_in_any_case,
    a_duplicate_upn_in_any_case_is_refused_and_nothing_is_written,
    a_upn_on_an_unverified_domain_is_refused_and_nothing_is_written,
    a_weak_password_on_create_is_refused_naming_the_rule,
    a_generated_reset_returns_the_password_once_and_replaces_the_old_one,
    a_provided_password_that_fails_policy_leaves_the_old_one_and_writes_nothing,
    a_helpdesk_administrator_cannot_reset_a_global_administrator,
    an_unknown_user_is_not_found,
    a_stale_write_is_refused_and_the_old_password_stays,
    a_failure_between_hashing_and_commit_leaves_the_old_credential_valid,
    a_deleted_user_is_gone_until_restored_within_thirty_days,
    a_user_deleted_more_than_thirty_days_ago_cannot_be_restored_and_is_purged,
    restoring_a_user_whose_upn_was_reused_is_a_conflict,
    listing_pages_through_every_user_in_upn_order_and_searches_by_prefix,
    role_assignments_are_replaced_and_audited,
);
