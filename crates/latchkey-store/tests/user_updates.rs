//! Changing users after creation (properties with or without a password, session
//! revocation, self-service password change, permanent deletion) and the typed user
//! queries (filter, order, count, paging), through the real store on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, TimeZone, Utc};
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::Clock;
use latchkey_core::directory::{
    CallerRefused, NewUser, PasswordChoice, ProfileField, SetPassword, UserChanges, UserRef,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::UserId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::query::{Comparison, Filter, Literal, OrderBy, UserProperty};
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::UserQuery;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

async fn add(h: &Harness, upn: &str, name: &str, roles: Vec<DirectoryRole>) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse(name).unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Provided(secret("Harbour-Lantern-42")),
                force_change_next_sign_in: false,
                roles,
            },
        )
        .await
        .unwrap()
        .user
}

async fn password_is(h: &Harness, user: UserId, pw: &str) -> bool {
    let hash = h
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

async fn reload(h: &Harness, id: UserId) -> User {
    h.store.find_user(h.tenant(), id).await.unwrap().unwrap()
}

fn app(permissions: &[&str]) -> Actor {
    Actor::App {
        app_id: "11111111-1111-1111-1111-111111111111".into(),
        display: "Automation".into(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        roles: vec![],
        channel: Channel::Graph,
    }
}

fn reset(pw: &str, force: bool) -> SetPassword {
    SetPassword {
        choice: PasswordChoice::Provided(secret(pw)),
        force_change_next_sign_in: force,
        force_change_with_mfa: false,
        reason: None,
    }
}

async fn a_profile_and_password_change_is_written_together_with_two_audit_events(h: Harness) {
    let u = add(&h, "grace@contoso.test", "Grace Taylor", vec![]).await;
    let audit_before = h
        .store
        .list_audit_events(h.tenant(), 100)
        .await
        .unwrap()
        .len();
    let changes = UserChanges {
        display_name: Some(DisplayName::parse("Grace Hopper").unwrap()),
        text: vec![
            (ProfileField::JobTitle, Some("  Admiral ".into())),
            (ProfileField::UsageLocation, Some("us".into())),
        ],
        account_enabled: Some(false),
        user_type: Some(latchkey_core::user::UserType::Guest),
        password: Some(reset("Compiler-Cobol-1959", true)),
        ..Default::default()
    };
    h.directory
        .update_user(
            &app(&["User.ReadWrite.All"]),
            h.tenant(),
            &UserRef::Id(u.id),
            changes,
        )
        .await
        .unwrap();
    let after = reload(&h, u.id).await;
    assert_eq!(after.display_name.as_str(), "Grace Hopper");
    assert_eq!(after.profile.job_title.as_deref(), Some("Admiral"));
    assert_eq!(after.profile.usage_location.as_deref(), Some("US"));
    assert!(!after.account_enabled);
    assert_eq!(after.user_type, latchkey_core::user::UserType::Guest);
    assert!(after.force_change_password_next_sign_in);
    assert_eq!(after.version, u.version + 2);
    assert!(password_is(&h, u.id, "Compiler-Cobol-1959").await);
    let audit = h.store.list_audit_events(h.tenant(), 100).await.unwrap();
    assert_eq!(audit.len(), audit_before + 2);
    let activities: Vec<&str> = audit.iter().take(2).map(|a| a.activity.as_str()).collect();
    assert!(activities.contains(&"Update user"), "{activities:?}");
    assert!(
        activities.contains(&"Reset user password"),
        "{activities:?}"
    );
}

fn events(h: &Harness, subject: UserId, activity: &str) -> latchkey_core::audit::Events {
    use latchkey_core::audit::{AuditEvent, Events, Initiator, OutboxEvent};
    use latchkey_core::ids::EventId;
    let now = h.clock.now();
    Events::new(
        AuditEvent {
            id: EventId::new(),
            tenant_id: h.tenant(),
            activity_date_time: now,
            category: "UserManagement".into(),
            activity: activity.into(),
            operation_type: "Update".into(),
            result: "success".into(),
            initiated_by: Initiator::of(&Harness::operator()),
            target_id: Some(subject.to_string()),
            target_display: None,
            channel: Channel::Graph,
            details: vec![],
        },
        OutboxEvent {
            id: EventId::new(),
            tenant_id: h.tenant(),
            occurred_at: now,
            kind: "user.updated".into(),
            subject: Some(subject),
            payload: serde_json::json!({}),
        },
    )
}

async fn a_failure_after_the_user_row_and_credential_rolls_both_back(h: Harness) {
    let u = add(&h, "crash@contoso.test", "Crash Test", vec![]).await;
    let mut changed = u.clone();
    changed.display_name = DisplayName::parse("Never Committed").unwrap();
    changed.account_enabled = false;
    let write = latchkey_core::store::UserWrite {
        user: changed,
        password: Some(latchkey_core::store::PasswordWrite {
            tenant_id: h.tenant(),
            user_id: u.id,
            expected_version: u.version,
            hash: h
                .directory
                .hasher()
                .hash(&secret("Never-Committed-1!"))
                .await
                .unwrap(),
            changed_at: h.clock.now(),
            force_change_next_sign_in: true,
            force_change_with_mfa: false,
            revoke_sessions_from: Some(h.clock.now()),
        }),
    };
    // Both updates succeed inside the transaction, then the second audit insert fails (its id
    // is taken): everything must roll back.
    let first = events(&h, u.id, "Update user");
    let mut second = events(&h, u.id, "Reset user password");
    second.audit.id = h.store.list_audit_events(h.tenant(), 1).await.unwrap()[0].id;
    let audit_before = h
        .store
        .list_audit_events(h.tenant(), 100)
        .await
        .unwrap()
        .len();
    assert!(h.store.update_user(&write, &[first, second]).await.is_err());
    assert_eq!(reload(&h, u.id).await, u);
    assert!(password_is(&h, u.id, "Harbour-Lantern-42").await);
    assert_eq!(
        h.store
            .list_audit_events(h.tenant(), 100)
            .await
            .unwrap()
            .len(),
        audit_before
    );
    // And a stale version writes nothing either.
    let mut stale = write.clone();
    stale.user.version -= 1;
    let err = h
        .store
        .update_user(&stale, &[events(&h, u.id, "Update user")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, latchkey_core::store::StoreError::Stale),
        "{err:?}"
    );
    assert_eq!(reload(&h, u.id).await, u);
}

async fn a_patch_whose_password_fails_policy_changes_nothing(h: Harness) {
    let u = add(&h, "henry@contoso.test", "Henry Ford", vec![]).await;
    let audit_before = h
        .store
        .list_audit_events(h.tenant(), 100)
        .await
        .unwrap()
        .len();
    let err = h
        .directory
        .update_user(
            &app(&["User.ReadWrite.All"]),
            h.tenant(),
            &UserRef::Id(u.id),
            UserChanges {
                display_name: Some(DisplayName::parse("Henry Model-T").unwrap()),
                password: Some(reset("short", false)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Policy(_)), "{err:?}");
    assert_eq!(reload(&h, u.id).await, u);
    assert!(password_is(&h, u.id, "Harbour-Lantern-42").await);
    assert_eq!(
        h.store
            .list_audit_events(h.tenant(), 100)
            .await
            .unwrap()
            .len(),
        audit_before
    );
}

async fn a_upn_change_to_a_taken_or_unverified_upn_is_refused(h: Harness) {
    let u = add(&h, "ivy@contoso.test", "Ivy", vec![]).await;
    add(&h, "jack@contoso.test", "Jack", vec![]).await;
    let op = Harness::operator();
    let to = |upn: &str| UserChanges {
        user_principal_name: Some(Upn::parse(upn).unwrap()),
        ..Default::default()
    };
    let err = h
        .directory
        .update_user(&op, h.tenant(), &UserRef::Id(u.id), to("JACK@contoso.test"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Conflict(m) if m.contains("userPrincipalName")),
        "{err:?}"
    );
    let err = h
        .directory
        .update_user(&op, h.tenant(), &UserRef::Id(u.id), to("ivy@fabrikam.test"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { property, .. } if property == "userPrincipalName")
    );
    h.directory
        .update_user(
            &op,
            h.tenant(),
            &UserRef::Id(u.id),
            to("ivy.new@contoso.test"),
        )
        .await
        .unwrap();
    let found = h
        .directory
        .get_user(
            &op,
            h.tenant(),
            &UserRef::parse("IVY.NEW@contoso.test").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(found.id, u.id);
}

async fn a_bad_profile_value_is_refused_naming_the_property(h: Harness) {
    let u = add(&h, "kim@contoso.test", "Kim", vec![]).await;
    let err = h
        .directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            UserChanges {
                text: vec![(ProfileField::UsageLocation, Some("Narnia".into()))],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { property, .. } if property == "usageLocation")
    );
    assert_eq!(reload(&h, u.id).await, u);
}

async fn an_app_without_a_role_cannot_update_a_global_administrator(h: Harness) {
    let ga = add(
        &h,
        "boss@contoso.test",
        "Boss",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    for changes in [
        UserChanges {
            account_enabled: Some(false),
            ..Default::default()
        },
        UserChanges {
            password: Some(reset("Takeover-Attempt-99", false)),
            ..Default::default()
        },
    ] {
        let err = h
            .directory
            .update_user(
                &app(&["User.ReadWrite.All"]),
                h.tenant(),
                &UserRef::Id(ga.id),
                changes,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryError::Denied(_)), "{err:?}");
    }
    let err = h
        .directory
        .revoke_sign_in_sessions(
            &app(&["User.ReadWrite.All"]),
            h.tenant(),
            &UserRef::Id(ga.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Denied(_)));
    assert_eq!(reload(&h, ga.id).await, ga);
}

async fn a_password_only_app_may_reset_but_not_edit_profiles(h: Harness) {
    let u = add(&h, "lee@contoso.test", "Lee", vec![]).await;
    let pw_app = app(&["User-PasswordProfile.ReadWrite.All"]);
    h.directory
        .update_user(
            &pw_app,
            h.tenant(),
            &UserRef::Id(u.id),
            UserChanges {
                password: Some(reset("Lighthouse-Keeper-7", false)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = h
        .directory
        .update_user(
            &pw_app,
            h.tenant(),
            &UserRef::Id(u.id),
            UserChanges {
                text: vec![(ProfileField::City, Some("Oslo".into()))],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Denied(_)));
}

async fn revoking_sessions_refuses_tokens_issued_before(h: Harness) {
    let u = add(&h, "mia@contoso.test", "Mia", vec![]).await;
    let issued = h.clock.now();
    h.clock.advance(Duration::seconds(5));
    h.directory
        .revoke_sign_in_sessions(
            &app(&["User.ReadWrite.All"]),
            h.tenant(),
            &UserRef::Id(u.id),
        )
        .await
        .unwrap();
    let refused = h
        .directory
        .delegated_caller(
            h.tenant(),
            u.id,
            vec!["User.Read".into()],
            issued,
            Channel::Graph,
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, CallerRefused::Revoked), "{refused:?}");
    let later = issued + Duration::seconds(5);
    let actor = h
        .directory
        .delegated_caller(
            h.tenant(),
            u.id,
            vec!["User.Read".into()],
            later,
            Channel::Graph,
        )
        .await
        .unwrap();
    assert_eq!(
        h.directory
            .get_own_user(&actor, h.tenant())
            .await
            .unwrap()
            .id,
        u.id
    );
    let audit = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    assert_eq!(audit[0].activity, "Invalidate all refresh tokens for user");
}

async fn a_user_with_user_read_sees_only_themselves(h: Harness) {
    let u = add(&h, "rae@contoso.test", "Rae", vec![]).await;
    let other = add(&h, "sam@contoso.test", "Sam", vec![]).await;
    let me = Actor::User {
        id: u.id,
        display: "rae@contoso.test".into(),
        roles: vec![],
        scopes: Some(vec!["User.Read".into()]),
        channel: Channel::Graph,
    };
    let by_upn = UserRef::parse("RAE@contoso.test").unwrap();
    assert_eq!(
        h.directory
            .get_user(&me, h.tenant(), &by_upn)
            .await
            .unwrap()
            .id,
        u.id
    );
    for hidden in [
        UserRef::Id(other.id),
        UserRef::parse("nobody@contoso.test").unwrap(),
    ] {
        let err = h
            .directory
            .get_user(&me, h.tenant(), &hidden)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DirectoryError::Denied(_)),
            "{hidden}: {err:?}"
        );
    }
}

async fn a_disabled_or_deleted_user_has_no_delegated_caller(h: Harness) {
    let u = add(&h, "nia@contoso.test", "Nia", vec![]).await;
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let op = Harness::operator();
    h.directory
        .update_user(
            &op,
            h.tenant(),
            &UserRef::Id(u.id),
            UserChanges {
                account_enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = h
        .directory
        .delegated_caller(h.tenant(), u.id, vec![], now, Channel::Graph)
        .await
        .unwrap_err();
    assert!(matches!(e, CallerRefused::Disabled));
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    let e = h
        .directory
        .delegated_caller(h.tenant(), u.id, vec![], now, Channel::Graph)
        .await
        .unwrap_err();
    assert!(matches!(e, CallerRefused::UnknownUser));
}

async fn a_user_changes_their_own_password_only_with_the_current_one(h: Harness) {
    let u = add(&h, "olga@contoso.test", "Olga", vec![]).await;
    let me = Actor::User {
        id: u.id,
        display: "olga@contoso.test".into(),
        roles: vec![],
        scopes: Some(vec!["Directory.AccessAsUser.All".into()]),
        channel: Channel::Graph,
    };
    let err = h
        .directory
        .change_own_password(
            &me,
            h.tenant(),
            &secret("Wrong-Guess-123"),
            secret("Brand-New-Pass-1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { property, .. } if property == "currentPassword")
    );
    assert!(password_is(&h, u.id, "Harbour-Lantern-42").await);
    h.directory
        .change_own_password(
            &me,
            h.tenant(),
            &secret("Harbour-Lantern-42"),
            secret("Brand-New-Pass-1"),
        )
        .await
        .unwrap();
    assert!(password_is(&h, u.id, "Brand-New-Pass-1").await);
    let audit = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    assert_eq!(audit[0].activity, "Change user password");
    // A token without Directory.AccessAsUser.All, or an app, may not.
    let narrow = Actor::User {
        id: u.id,
        display: "olga".into(),
        roles: vec![],
        scopes: Some(vec!["User.Read".into()]),
        channel: Channel::Graph,
    };
    for actor in [narrow, app(&["User.ReadWrite.All"])] {
        let err = h
            .directory
            .change_own_password(
                &actor,
                h.tenant(),
                &secret("Brand-New-Pass-1"),
                secret("Another-New-Pass-2"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryError::Denied(_)));
    }
}

async fn wrong_current_passwords_count_towards_lockout(h: Harness) {
    let u = add(&h, "quinn@contoso.test", "Quinn", vec![]).await;
    let me = Actor::User {
        id: u.id,
        display: "quinn@contoso.test".into(),
        roles: vec![],
        scopes: None,
        channel: Channel::Graph,
    };
    for i in 0..10 {
        let err = h
            .directory
            .change_own_password(
                &me,
                h.tenant(),
                &secret(&format!("Guess-Number-{i}")),
                secret("Brand-New-Pass-1"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryError::Invalid { .. }), "{err:?}");
    }
    let err = h
        .directory
        .change_own_password(
            &me,
            h.tenant(),
            &secret("Harbour-Lantern-42"),
            secret("Brand-New-Pass-1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { message, .. } if message.contains("locked")),
        "{err:?}"
    );
    assert!(password_is(&h, u.id, "Harbour-Lantern-42").await);
    let log = h.store.list_sign_in_events(h.tenant(), 20).await.unwrap();
    assert!(log.len() >= 11, "every attempt is in the sign-in log");
}

async fn a_deleted_user_can_be_deleted_for_good_and_not_restored(h: Harness) {
    let u = add(&h, "pia@contoso.test", "Pia", vec![]).await;
    let op = Harness::operator();
    let err = h
        .directory
        .delete_user_permanently(&op, h.tenant(), u.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::NotFound { .. }),
        "active users are not in the bin"
    );
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(u.id))
        .await
        .unwrap();
    h.directory
        .delete_user_permanently(&op, h.tenant(), u.id)
        .await
        .unwrap();
    assert!(h.store.find_user(h.tenant(), u.id).await.unwrap().is_none());
    let err = h
        .directory
        .restore_user(&op, h.tenant(), u.id)
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }));
    let audit = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    assert_eq!(audit[0].activity, "Hard delete user");
}

fn q(filter: Filter) -> UserQuery {
    UserQuery {
        filter: Some(filter),
        limit: 999,
        ..Default::default()
    }
}

async fn upns(h: &Harness, query: &UserQuery) -> Vec<String> {
    h.directory
        .list_users(&Harness::operator(), h.tenant(), query)
        .await
        .unwrap()
        .items
        .iter()
        .map(|u| u.user_principal_name.to_string())
        .collect()
}

/// A `startswith` on a normalised name is the range [prefix, prefix + U+10FFFF) on both
/// backends (PostgreSQL's name columns compare byte by byte since migration 0029): exactly
/// the names with the prefix, whatever follows it (punctuation, accents, the last code
/// point), and paged in byte order, the same on both.
async fn a_name_prefix_matches_exactly_the_names_with_it_in_byte_order_on_both_backends(
    h: Harness,
) {
    for (upn, name) in [
        ("a1@contoso.test", "Ab Cd"),
        ("a2@contoso.test", "ab-c"),
        ("a3@contoso.test", "Ab%y"),
        ("a4@contoso.test", "Ab_x"),
        ("a5@contoso.test", "Abz"),
        ("a6@contoso.test", "Abé"),
        ("a7@contoso.test", "Ab\u{10FFFF}"),
        ("b1@contoso.test", "Ábel"),
        ("b2@contoso.test", "Aa Zed"),
        ("b3@contoso.test", "Ac"),
        ("b4@contoso.test", "A"),
    ] {
        add(&h, upn, name, vec![]).await;
    }
    let by_name = OrderBy {
        property: UserProperty::DisplayName,
        descending: false,
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .directory
            .list_users(
                &Harness::operator(),
                h.tenant(),
                &UserQuery {
                    filter: Some(Filter::StartsWith {
                        property: UserProperty::DisplayName,
                        prefix: "AB".into(),
                    }),
                    order: by_name,
                    after: after.take(),
                    limit: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|u| u.display_name.to_string()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    // Space (0x20) < % (0x25) < - (0x2d) < _ (0x5f) < z < é < U+10FFFF.
    assert_eq!(
        seen,
        [
            "Ab Cd",
            "Ab%y",
            "ab-c",
            "Ab_x",
            "Abz",
            "Abé",
            "Ab\u{10FFFF}"
        ]
    );
    let upn_prefix = upns(
        &h,
        &q(Filter::StartsWith {
            property: UserProperty::UserPrincipalName,
            prefix: "B".into(),
        }),
    )
    .await;
    assert_eq!(
        upn_prefix,
        [
            "b1@contoso.test",
            "b2@contoso.test",
            "b3@contoso.test",
            "b4@contoso.test"
        ]
    );
}

async fn typed_filters_select_the_right_users_on_every_operator(h: Harness) {
    let op = Harness::operator();
    for (upn, name, city, enabled) in [
        ("ada@contoso.test", "Ada Lovelace", Some("London"), true),
        ("alan@contoso.test", "Alan Turing", Some("london"), false),
        ("grace@contoso.test", "Grace Hopper", None, true),
        (
            "o_brien@contoso.test",
            "Pat O'Brien 100%",
            Some("Dublin"),
            true,
        ),
    ] {
        let u = add(&h, upn, name, vec![]).await;
        h.directory
            .update_user(
                &op,
                h.tenant(),
                &UserRef::Id(u.id),
                UserChanges {
                    account_enabled: Some(enabled),
                    text: vec![(ProfileField::City, city.map(str::to_owned))],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    use UserProperty::*;
    let text = |s: &str| Literal::Text(s.into());
    let cmp = |property, op, value| Filter::Compare {
        property,
        op,
        value,
    };
    let cases: Vec<(Filter, Vec<&str>)> = vec![
        (
            cmp(City, Comparison::Eq, text("LONDON")),
            vec!["ada@contoso.test", "alan@contoso.test"],
        ),
        (
            cmp(City, Comparison::Ne, text("london")),
            vec![
                "admin@contoso.test",
                "grace@contoso.test",
                "o_brien@contoso.test",
            ],
        ),
        (
            cmp(City, Comparison::Eq, Literal::Null),
            vec!["admin@contoso.test", "grace@contoso.test"],
        ),
        (
            cmp(AccountEnabled, Comparison::Eq, Literal::Bool(false)),
            vec!["alan@contoso.test"],
        ),
        (
            Filter::StartsWith {
                property: DisplayName,
                prefix: "a".into(),
            },
            vec![
                "ada@contoso.test",
                "admin@contoso.test",
                "alan@contoso.test",
            ],
        ),
        (
            Filter::StartsWith {
                property: UserPrincipalName,
                prefix: "o_".into(),
            },
            vec!["o_brien@contoso.test"],
        ),
        (
            // `_` and `%` are matched literally, not as wildcards.
            Filter::StartsWith {
                property: UserPrincipalName,
                prefix: "a_".into(),
            },
            vec![],
        ),
        (
            Filter::EndsWith {
                property: DisplayName,
                suffix: "100%".into(),
            },
            vec!["o_brien@contoso.test"],
        ),
        (
            Filter::In {
                property: UserPrincipalName,
                values: vec![text("GRACE@contoso.test"), text("nobody@contoso.test")],
            },
            vec!["grace@contoso.test"],
        ),
        (
            Filter::Not(Box::new(cmp(City, Comparison::Eq, text("london")))),
            vec![
                "admin@contoso.test",
                "grace@contoso.test",
                "o_brien@contoso.test",
            ],
        ),
        (
            Filter::And(
                Box::new(cmp(AccountEnabled, Comparison::Eq, Literal::Bool(true))),
                Box::new(Filter::Or(
                    Box::new(cmp(City, Comparison::Eq, text("dublin"))),
                    Box::new(Filter::StartsWith {
                        property: DisplayName,
                        prefix: "gr".into(),
                    }),
                )),
            ),
            vec!["grace@contoso.test", "o_brien@contoso.test"],
        ),
        (
            Filter::Not(Box::new(Filter::In {
                property: UserPrincipalName,
                values: vec![text("admin@contoso.test"), text("ada@contoso.test")],
            })),
            vec![
                "alan@contoso.test",
                "grace@contoso.test",
                "o_brien@contoso.test",
            ],
        ),
        (
            Filter::WordStartsWith {
                property: DisplayName,
                word: "tur".into(),
            },
            vec!["alan@contoso.test"],
        ),
        (
            cmp(
                CreatedDateTime,
                Comparison::Ge,
                Literal::DateTime(Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()),
            ),
            vec![
                "ada@contoso.test",
                "admin@contoso.test",
                "alan@contoso.test",
                "grace@contoso.test",
                "o_brien@contoso.test",
            ],
        ),
        (
            cmp(
                CreatedDateTime,
                Comparison::Le,
                Literal::DateTime(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
            ),
            vec![],
        ),
    ];
    let ada = h
        .store
        .find_user_by_upn(h.tenant(), &Upn::parse("ada@contoso.test").unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut cases = cases;
    cases.push((
        cmp(Id, Comparison::Eq, Literal::Id(ada.id)),
        vec!["ada@contoso.test"],
    ));
    cases.push((
        Filter::In {
            property: Id,
            values: vec![Literal::Id(ada.id), Literal::Id(UserId::new())],
        },
        vec!["ada@contoso.test"],
    ));
    for (filter, want) in cases {
        let got = upns(&h, &q(filter.clone())).await;
        assert_eq!(got, want, "{filter:?}");
        let count = h
            .directory
            .count_users(&op, h.tenant(), &q(filter.clone()))
            .await
            .unwrap();
        assert_eq!(count, want.len() as u64, "{filter:?}");
    }
}

async fn listings_page_in_every_order_without_gaps_or_repeats(h: Harness) {
    for i in 0..23 {
        // Display names repeat, so ties must be broken by id.
        add(
            &h,
            &format!("user{i:02}@contoso.test"),
            &format!("Name {}", i % 5),
            vec![],
        )
        .await;
        h.clock.advance(Duration::seconds(1));
    }
    for (property, descending) in [
        (UserProperty::UserPrincipalName, false),
        (UserProperty::DisplayName, false),
        (UserProperty::DisplayName, true),
        (UserProperty::CreatedDateTime, true),
    ] {
        let order = OrderBy {
            property,
            descending,
        };
        let all = h
            .directory
            .list_users(
                &Harness::operator(),
                h.tenant(),
                &UserQuery {
                    order,
                    limit: 999,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items;
        assert_eq!(all.len(), 24);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = h
                .directory
                .list_users(
                    &Harness::operator(),
                    h.tenant(),
                    &UserQuery {
                        order,
                        after: after.clone(),
                        limit: 5,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            paged.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let ids = |v: &[User]| v.iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(&paged), ids(&all), "{order:?}");
        let keys: Vec<String> = all
            .iter()
            .map(|u| match property {
                UserProperty::DisplayName => u.display_name.as_str().to_lowercase(),
                UserProperty::CreatedDateTime => u.created.to_rfc3339(),
                _ => u.user_principal_name.normalized(),
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if descending {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{order:?}");
    }
    // A cursor from another order is refused as the caller's error, not a server fault.
    let page = h
        .directory
        .list_users(
            &Harness::operator(),
            h.tenant(),
            &UserQuery {
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = h
        .directory
        .list_users(
            &Harness::operator(),
            h.tenant(),
            &UserQuery {
                order: OrderBy {
                    property: UserProperty::DisplayName,
                    descending: false,
                },
                after: page.next,
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Invalid { property, .. } if property == "$skiptoken"),
        "{err:?}"
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
    a_name_prefix_matches_exactly_the_names_with_it_in_byte_order_on_both_backends,
    a_profile_and_password_change_is_written_together_with_two_audit_events,
    a_patch_whose_password_fails_policy_changes_nothing,
    a_failure_after_the_user_row_and_credential_rolls_both_back,
    a_upn_change_to_a_taken_or_unverified_upn_is_refused,
    a_bad_profile_value_is_refused_naming_the_property,
    an_app_without_a_role_cannot_update_a_global_administrator,
    a_password_only_app_may_reset_but_not_edit_profiles,
    revoking_sessions_refuses_tokens_issued_before,
    a_disabled_or_deleted_user_has_no_delegated_caller,
    a_user_with_user_read_sees_only_themselves,
    a_user_changes_their_own_password_only_with_the_current_one,
    wrong_current_passwords_count_towards_lockout,
    a_deleted_user_can_be_deleted_for_good_and_not_restored,
    typed_filters_select_the_right_users_on_every_operator,
    listings_page_in_every_order_without_gaps_or_repeats,
);
