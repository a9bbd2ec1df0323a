//! The benchmark seeder writes users the directory can find, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_core::names::Upn;
use latchkey_testkit::{Backend, Harness, seed};

async fn seeded_users_are_found_by_upn_with_their_department(backend: Backend) {
    let h = Harness::new(backend).await;
    let ids = seed::seed_users(&h, 25).await;
    assert_eq!(ids.len(), 25);
    let found = h
        .store
        .find_user_by_upn(h.tenant(), &Upn::parse("bench.11@contoso.test").unwrap())
        .await
        .unwrap()
        .expect("seeded user 11");
    assert_eq!(found.id, ids[11]);
    assert_eq!(found.profile.department.as_deref(), Some("Finance"));
    assert!(found.account_enabled);
    let first = h
        .store
        .find_user_by_upn(h.tenant(), &Upn::parse("bench.0@contoso.test").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !first.account_enabled,
        "every tenth seeded user is disabled"
    );
}

#[tokio::test]
async fn sqlite_seeded_users_are_found_by_upn_with_their_department() {
    seeded_users_are_found_by_upn_with_their_department(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_seeded_users_are_found_by_upn_with_their_department() {
    seeded_users_are_found_by_upn_with_their_department(Backend::Postgres).await;
}
