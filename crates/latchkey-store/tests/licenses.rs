//! Licences through the directory and the real store, on SQLite and on PostgreSQL: SKUs and
//! their seats, assignment rules, the race for the last seat, removal, deletion, and the
//! licence filter. Every test runs once per backend (see `both_backends!` at the bottom).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::Clock;
use latchkey_core::directory::{NewUser, PasswordChoice, ProfileField, UserChanges, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::UserId;
use latchkey_core::license::{AssignedLicense, LicenseChange, NewSku, Sku};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::query::Filter;
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::UserQuery;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};

async fn add_user(h: &Harness, upn: &str, usage_location: Option<&str>) -> User {
    let user = h
        .directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Licence Holder").unwrap(),
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
        .user;
    if let Some(location) = usage_location {
        h.directory
            .update_user(
                &Harness::operator(),
                h.tenant(),
                &UserRef::Id(user.id),
                UserChanges {
                    text: vec![(ProfileField::UsageLocation, Some(location.into()))],
                    ..UserChanges::default()
                },
            )
            .await
            .unwrap();
    }
    user
}

async fn sku(h: &Harness, part: &str, seats: u32, plans: &[&str]) -> Sku {
    h.directory
        .create_sku(
            &Harness::operator(),
            h.tenant(),
            NewSku {
                sku_id: None,
                sku_part_number: part.into(),
                seats,
                service_plans: plans.iter().map(|p| (*p).to_owned()).collect(),
            },
        )
        .await
        .unwrap()
}

fn add(sku: &Sku) -> LicenseChange {
    LicenseChange {
        add: vec![AssignedLicense {
            sku_id: sku.sku_id,
            disabled_plans: vec![],
        }],
        remove: vec![],
    }
}

async fn assign(h: &Harness, user: &User, change: LicenseChange) -> Result<User, DirectoryError> {
    h.directory
        .assign_licenses(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            change,
        )
        .await
}

async fn consumed(h: &Harness, sku: &Sku) -> u64 {
    h.directory
        .list_skus(&Harness::operator(), h.tenant())
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.sku.sku_id == sku.sku_id)
        .unwrap()
        .consumed
}

async fn licenses(h: &Harness, user: &User) -> Vec<AssignedLicense> {
    h.directory
        .licenses_of(&Harness::operator(), h.tenant(), &[user.id])
        .await
        .unwrap()
        .remove(&user.id)
        .unwrap_or_default()
}

async fn skus_are_listed_by_part_number_with_seats_used_and_bought(h: Harness) {
    let e5 = sku(&h, "SPE_E5", 2, &["EXCHANGE_S_ENTERPRISE"]).await;
    let e3 = sku(
        &h,
        "ENTERPRISEPACK",
        25,
        &["EXCHANGE_S_ENTERPRISE", "TEAMS1"],
    )
    .await;
    let ada = add_user(&h, "ada@contoso.test", Some("GB")).await;
    assign(&h, &ada, add(&e3)).await.unwrap();
    let listed = h
        .directory
        .list_skus(&Harness::operator(), h.tenant())
        .await
        .unwrap();
    let summary: Vec<(String, u64, u32)> = listed
        .iter()
        .map(|u| (u.sku.sku_part_number.clone(), u.consumed, u.sku.seats))
        .collect();
    assert_eq!(
        summary,
        vec![("ENTERPRISEPACK".into(), 1, 25), ("SPE_E5".into(), 0, 2)]
    );
    assert_eq!(listed[0].sku, e3);
    assert_eq!(listed[1].sku, e5);
}

async fn seats_bought_change_but_never_below_the_seats_held_and_each_change_is_audited(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 2, &["EXCHANGE_S_ENTERPRISE"]).await;
    let ada = add_user(&h, "ada@contoso.test", Some("GB")).await;
    let bob = add_user(&h, "bob@contoso.test", Some("GB")).await;
    let cy = add_user(&h, "cy@contoso.test", Some("GB")).await;
    assign(&h, &ada, add(&e3)).await.unwrap();
    assign(&h, &bob, add(&e3)).await.unwrap();
    assert!(
        assign(&h, &cy, add(&e3)).await.is_err(),
        "two seats, both held"
    );
    let op = Harness::operator();

    // More seats bought (named by part number, any case): the third user gets one.
    let more = h
        .directory
        .set_sku_seats(&op, h.tenant(), "enterprisepack", 3)
        .await
        .unwrap();
    assert_eq!((more.consumed, more.sku.seats), (2, 3));
    assign(&h, &cy, add(&e3)).await.unwrap();

    // Fewer than are held: refused naming `seats`, nothing changed.
    let refused = h
        .directory
        .set_sku_seats(&op, h.tenant(), "ENTERPRISEPACK", 2)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DirectoryError::Invalid { property: field, message }
            if field == "seats" && message.contains("more seats assigned than 2")),
        "{refused:?}"
    );
    let skus = h.directory.list_skus(&op, h.tenant()).await.unwrap();
    assert_eq!((skus[0].consumed, skus[0].sku.seats), (3, 3));

    // Exactly the seats held is fine (by id this time); and freeing one lets it shrink.
    let same = h
        .directory
        .set_sku_seats(&op, h.tenant(), &e3.sku_id.to_string(), 3)
        .await
        .unwrap();
    assert_eq!(same.sku.seats, 3);
    assign(
        &h,
        &cy,
        LicenseChange {
            add: vec![],
            remove: vec![e3.sku_id],
        },
    )
    .await
    .unwrap();
    let fewer = h
        .directory
        .set_sku_seats(&op, h.tenant(), "ENTERPRISEPACK", 2)
        .await
        .unwrap();
    assert_eq!((fewer.consumed, fewer.sku.seats), (2, 2));

    // Unknown SKU, too many seats, an administrator without tenant rights.
    assert!(matches!(
        h.directory
            .set_sku_seats(&op, h.tenant(), "SPE_E5", 5)
            .await
            .unwrap_err(),
        DirectoryError::NotFound { .. }
    ));
    assert!(matches!(
        h.directory
            .set_sku_seats(&op, h.tenant(), "ENTERPRISEPACK", 1_000_001)
            .await
            .unwrap_err(),
        DirectoryError::Invalid { property: field, .. } if field == "seats"
    ));
    let licence_admin = Actor::User {
        id: UserId::new(),
        display: "lic@contoso.test".into(),
        roles: vec![DirectoryRole::LicenseAdministrator],
        scopes: None,
        channel: Channel::AdminCenter,
    };
    assert!(matches!(
        h.directory
            .set_sku_seats(&licence_admin, h.tenant(), "ENTERPRISEPACK", 9)
            .await
            .unwrap_err(),
        DirectoryError::Denied(_)
    ));

    // Three changes went through, three audit events; the refused ones wrote none.
    let audits = h.store.list_audit_events(h.tenant(), 999).await.unwrap();
    let updates: Vec<_> = audits
        .iter()
        .filter(|e| e.activity == "Update subscribed SKU")
        .collect();
    assert_eq!(updates.len(), 3);
    assert_eq!(skus_seats(&h).await, 2);
}

async fn skus_seats(h: &Harness) -> u32 {
    h.directory
        .list_skus(&Harness::operator(), h.tenant())
        .await
        .unwrap()[0]
        .sku
        .seats
}

async fn a_second_sku_with_the_same_part_number_in_any_case_is_refused(h: Harness) {
    sku(&h, "ENTERPRISEPACK", 5, &[]).await;
    let err = h
        .directory
        .create_sku(
            &Harness::operator(),
            h.tenant(),
            NewSku {
                sku_id: None,
                sku_part_number: "enterprisepack".into(),
                seats: 5,
                service_plans: vec![],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Conflict(ref m) if m.contains("enterprisepack")),
        "{err}"
    );
    assert_eq!(
        h.directory
            .list_skus(&Harness::operator(), h.tenant())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_licence_needs_a_usage_location_and_nothing_is_written_without_one(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 5, &[]).await;
    let ben = add_user(&h, "ben@contoso.test", None).await;
    let audits_before = h
        .store
        .list_audit_events(h.tenant(), 999)
        .await
        .unwrap()
        .len();
    let err = assign(&h, &ben, add(&e3)).await.unwrap_err();
    assert!(
        matches!(err, DirectoryError::Invalid { ref property, ref message } if property == "usageLocation" && message.contains("usage location")),
        "{err}"
    );
    assert!(licenses(&h, &ben).await.is_empty());
    assert_eq!(consumed(&h, &e3).await, 0);
    assert_eq!(
        h.store
            .list_audit_events(h.tenant(), 999)
            .await
            .unwrap()
            .len(),
        audits_before
    );
}

async fn an_assignment_is_audited_and_announced_and_keeps_the_disabled_plans(h: Harness) {
    let e3 = sku(
        &h,
        "ENTERPRISEPACK",
        5,
        &["EXCHANGE_S_ENTERPRISE", "TEAMS1"],
    )
    .await;
    let teams = e3.service_plans[1].id;
    let cy = add_user(&h, "cy@contoso.test", Some("FR")).await;
    let before = cy.version;
    let updated = assign(
        &h,
        &cy,
        LicenseChange {
            add: vec![AssignedLicense {
                sku_id: e3.sku_id,
                disabled_plans: vec![teams],
            }],
            remove: vec![],
        },
    )
    .await
    .unwrap();
    assert!(updated.version > before, "the user's version moves");
    assert_eq!(
        licenses(&h, &cy).await,
        vec![AssignedLicense {
            sku_id: e3.sku_id,
            disabled_plans: vec![teams]
        }]
    );
    let audit = h.store.list_audit_events(h.tenant(), 999).await.unwrap();
    let change = audit
        .iter()
        .find(|e| e.activity == "Change user license")
        .expect("audited");
    assert_eq!(
        change.target_id.as_deref(),
        Some(cy.id.to_string().as_str())
    );
    assert!(
        change
            .details
            .iter()
            .any(|(k, v)| k == "DisabledPlans" && v == "TEAMS1")
    );
    let outbox = h.store.list_outbox_events(h.tenant(), 999).await.unwrap();
    let event = outbox
        .iter()
        .find(|e| e.kind == "user.licenseAssigned")
        .expect("announced");
    assert_eq!(event.subject, Some(cy.id));
    assert_eq!(event.payload["skuPartNumber"], "ENTERPRISEPACK");

    // Assigning again replaces the disabled plans and takes no second seat.
    assign(&h, &cy, add(&e3)).await.unwrap();
    assert!(licenses(&h, &cy).await[0].disabled_plans.is_empty());
    assert_eq!(consumed(&h, &e3).await, 1);
}

async fn of_eight_users_racing_for_three_seats_exactly_three_win(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 3, &[]).await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(add_user(&h, &format!("racer{i}@contoso.test"), Some("US")).await);
    }
    // Every assignment in its own task, so that on PostgreSQL they race on separate
    // connections.
    let tasks: Vec<_> = users
        .iter()
        .map(|u| {
            let directory = h.directory.clone();
            let (tenant, user, change) = (h.tenant(), u.id, add(&e3));
            tokio::spawn(async move {
                directory
                    .assign_licenses(&Harness::operator(), tenant, &UserRef::Id(user), change)
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 3, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, DirectoryError::Conflict(m) if m.contains("does not have any available licenses")),
            "{r}"
        );
    }
    assert_eq!(consumed(&h, &e3).await, 3);
    let holders = h
        .store
        .count_users(
            h.tenant(),
            &UserQuery {
                filter: Some(Filter::HasLicense(e3.sku_id)),
                ..UserQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(holders, 3);
}

async fn removing_a_licence_frees_its_seat_for_someone_else(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 1, &[]).await;
    let dee = add_user(&h, "dee@contoso.test", Some("DE")).await;
    let eve = add_user(&h, "eve@contoso.test", Some("DE")).await;
    assign(&h, &dee, add(&e3)).await.unwrap();
    assert!(assign(&h, &eve, add(&e3)).await.is_err(), "no seat left");
    assign(
        &h,
        &dee,
        LicenseChange {
            add: vec![],
            remove: vec![e3.sku_id],
        },
    )
    .await
    .unwrap();
    assert!(licenses(&h, &dee).await.is_empty());
    assign(&h, &eve, add(&e3)).await.unwrap();
    assert_eq!(consumed(&h, &e3).await, 1);
    let outbox = h.store.list_outbox_events(h.tenant(), 999).await.unwrap();
    assert!(
        outbox
            .iter()
            .any(|e| e.kind == "user.licenseRemoved" && e.subject == Some(dee.id))
    );
}

async fn a_deleted_user_keeps_its_licences_until_deleted_for_good(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 5, &[]).await;
    let fay = add_user(&h, "fay@contoso.test", Some("NL")).await;
    assign(&h, &fay, add(&e3)).await.unwrap();
    h.directory
        .delete_user(&Harness::operator(), h.tenant(), &UserRef::Id(fay.id))
        .await
        .unwrap();
    assert_eq!(licenses(&h, &fay).await.len(), 1, "kept in the recycle bin");
    assert_eq!(consumed(&h, &e3).await, 1, "and still holding the seat");
    let restored = h
        .directory
        .restore_user(&Harness::operator(), h.tenant(), fay.id)
        .await
        .unwrap();
    assert_eq!(licenses(&h, &restored).await.len(), 1, "back with the user");
    h.directory
        .delete_user(&Harness::operator(), h.tenant(), &UserRef::Id(fay.id))
        .await
        .unwrap();
    h.directory
        .delete_user_permanently(&Harness::operator(), h.tenant(), fay.id)
        .await
        .unwrap();
    assert!(licenses(&h, &fay).await.is_empty());
    assert_eq!(consumed(&h, &e3).await, 0, "a hard delete frees the seat");

    // Purged after thirty days: the same.
    let gus = add_user(&h, "gus@contoso.test", Some("NL")).await;
    assign(&h, &gus, add(&e3)).await.unwrap();
    h.directory
        .delete_user(&Harness::operator(), h.tenant(), &UserRef::Id(gus.id))
        .await
        .unwrap();
    h.store
        .purge_deleted_users(h.tenant(), h.clock.now() + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(consumed(&h, &e3).await, 0);
}

async fn the_licence_filter_finds_exactly_the_holders_page_by_page(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 10, &[]).await;
    let e5 = sku(&h, "SPE_E5", 10, &[]).await;
    let mut holders = Vec::new();
    for i in 0..5 {
        let u = add_user(&h, &format!("holder{i}@contoso.test"), Some("US")).await;
        assign(&h, &u, add(&e3)).await.unwrap();
        holders.push(u.user_principal_name.to_string());
    }
    let other = add_user(&h, "other@contoso.test", Some("US")).await;
    assign(&h, &other, add(&e5)).await.unwrap();
    add_user(&h, "nobody@contoso.test", None).await;
    let mut query = UserQuery {
        filter: Some(Filter::HasLicense(e3.sku_id)),
        limit: 2,
        ..UserQuery::default()
    };
    let mut found = Vec::new();
    loop {
        let page = h
            .directory
            .list_users(&Harness::operator(), h.tenant(), &query)
            .await
            .unwrap();
        found.extend(page.items.iter().map(|u| u.user_principal_name.to_string()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(found, holders);
    let not_e3 = UserQuery {
        filter: Some(Filter::Not(Box::new(Filter::HasLicense(e3.sku_id)))),
        limit: 999,
        ..UserQuery::default()
    };
    let rest: Vec<String> = h
        .directory
        .list_users(&Harness::operator(), h.tenant(), &not_e3)
        .await
        .unwrap()
        .items
        .iter()
        .map(|u| u.user_principal_name.to_string())
        .collect();
    assert!(rest.contains(&"other@contoso.test".to_owned()));
    assert!(rest.contains(&"nobody@contoso.test".to_owned()));
    assert!(!rest.iter().any(|u| holders.contains(u)));
}

async fn bad_changes_are_refused_naming_the_property_and_change_nothing(h: Harness) {
    let e3 = sku(&h, "ENTERPRISEPACK", 5, &["TEAMS1"]).await;
    let e5 = sku(&h, "SPE_E5", 5, &[]).await;
    let hal = add_user(&h, "hal@contoso.test", Some("US")).await;
    assign(&h, &hal, add(&e5)).await.unwrap();
    let unknown = latchkey_core::ids::SkuId::new();
    let cases: Vec<(LicenseChange, &str, &str)> = vec![
        (LicenseChange::default(), "addLicenses", "at least one"),
        (
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: unknown,
                    disabled_plans: vec![],
                }],
                remove: vec![],
            },
            "addLicenses",
            "does not correspond to a valid company License",
        ),
        (
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: e3.sku_id,
                    disabled_plans: vec![uuid::Uuid::new_v4()],
                }],
                remove: vec![],
            },
            "disabledPlans",
            "not part of the SKU",
        ),
        (
            LicenseChange {
                add: vec![],
                remove: vec![e3.sku_id],
            },
            "removeLicenses",
            "does not have a corresponding license",
        ),
        (
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: e5.sku_id,
                    disabled_plans: vec![],
                }],
                remove: vec![e5.sku_id],
            },
            "removeLicenses",
            "more than once",
        ),
        (
            // A valid addition beside a bad removal: neither happens.
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: e3.sku_id,
                    disabled_plans: vec![],
                }],
                remove: vec![unknown],
            },
            "removeLicenses",
            "does not correspond",
        ),
    ];
    for (change, want_property, says) in cases {
        let err = assign(&h, &hal, change).await.unwrap_err();
        match err {
            DirectoryError::Invalid { property, message } => {
                assert_eq!(property, want_property, "{message}");
                assert!(message.contains(says), "{message}");
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(
        licenses(&h, &hal).await,
        vec![AssignedLicense {
            sku_id: e5.sku_id,
            disabled_plans: vec![]
        }]
    );
    assert_eq!(consumed(&h, &e3).await, 0);
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
    seats_bought_change_but_never_below_the_seats_held_and_each_change_is_audited,
    skus_are_listed_by_part_number_with_seats_used_and_bought,
    a_second_sku_with_the_same_part_number_in_any_case_is_refused,
    a_licence_needs_a_usage_location_and_nothing_is_written_without_one,
    an_assignment_is_audited_and_announced_and_keeps_the_disabled_plans,
    of_eight_users_racing_for_three_seats_exactly_three_win,
    removing_a_licence_frees_its_seat_for_someone_else,
    a_deleted_user_keeps_its_licences_until_deleted_for_good,
    the_licence_filter_finds_exactly_the_holders_page_by_page,
    bad_changes_are_refused_naming_the_property_and_change_nothing,
);
