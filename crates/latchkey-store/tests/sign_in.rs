//! Password sign-in with smart lockout, through the real store, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Duration;
use latchkey_core::Directory;
use latchkey_core::directory::{ClientRef, NewUser, PasswordChoice, SignInError};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::password::{HashParams, Hasher};
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

const PW: &str = "Blue-Harbour-Lantern-7";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn client() -> ClientRef {
    ClientRef {
        app_id: Some("11111111-1111-1111-1111-111111111111".into()),
        display_name: Some("Test app".into()),
    }
}

async fn user(h: &Harness, upn: &str, enabled: bool, force_change: bool) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Sign In").unwrap(),
                mail_nickname: None,
                account_enabled: enabled,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Provided(secret(PW)),
                force_change_next_sign_in: force_change,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn sign_in(h: &Harness, upn: &str, pw: &str) -> Result<User, SignInError> {
    h.directory
        .sign_in_with_password(h.tenant(), upn, &secret(pw), &client())
        .await
}

async fn the_right_password_signs_in_and_is_logged(h: Harness) {
    let u = user(&h, "ok@contoso.test", true, false).await;
    let signed = sign_in(&h, "OK@contoso.test", PW).await.unwrap();
    assert_eq!(signed.id, u.id);
    let log = h.store.list_sign_in_events(h.tenant(), 10).await.unwrap();
    assert_eq!(log[0].error_code, 0);
    assert_eq!(log[0].user_id, Some(u.id));
    assert_eq!(log[0].app_display_name.as_deref(), Some("Test app"));
}

async fn wrong_passwords_and_unknown_users_fail_with_entras_codes_and_are_logged(h: Harness) {
    user(&h, "typo@contoso.test", true, false).await;
    let e = sign_in(&h, "typo@contoso.test", "Blue-Harbour-Lantern-8")
        .await
        .unwrap_err();
    assert_eq!(e.aadsts(), 50126);
    let e = sign_in(&h, "ghost@contoso.test", PW).await.unwrap_err();
    assert_eq!(e.aadsts(), 50034);
    let log = h.store.list_sign_in_events(h.tenant(), 10).await.unwrap();
    assert_eq!(log[0].user_principal_name, "ghost@contoso.test");
    assert_eq!(log[0].error_code, 50034);
    assert_eq!(log[1].error_code, 50126);
    assert!(
        !format!("{log:?}").contains("Lantern"),
        "no password in the sign-in log"
    );
}

async fn ten_failures_lock_the_account_and_even_the_right_password_waits(h: Harness) {
    user(&h, "locked@contoso.test", true, false).await;
    for _ in 0..10 {
        assert_eq!(
            sign_in(&h, "locked@contoso.test", "wrong-Password-1")
                .await
                .unwrap_err()
                .aadsts(),
            50126
        );
    }
    assert_eq!(
        sign_in(&h, "locked@contoso.test", PW)
            .await
            .unwrap_err()
            .aadsts(),
        50053
    );
    h.clock.advance(Duration::seconds(59));
    assert_eq!(
        sign_in(&h, "locked@contoso.test", PW)
            .await
            .unwrap_err()
            .aadsts(),
        50053
    );
    h.clock.advance(Duration::seconds(2));
    sign_in(&h, "locked@contoso.test", PW).await.unwrap();
}

async fn the_second_lockout_lasts_twice_as_long(h: Harness) {
    let u = user(&h, "twice@contoso.test", true, false).await;
    for _ in 0..10 {
        let _ = sign_in(&h, "twice@contoso.test", "wrong-Password-1").await;
    }
    h.clock.advance(Duration::seconds(61));
    for _ in 0..10 {
        let _ = sign_in(&h, "twice@contoso.test", "wrong-Password-1").await;
    }
    let state = h.directory.sign_in_state(h.tenant(), u.id).await.unwrap();
    assert_eq!(state.lockouts, 2);
    h.clock.advance(Duration::seconds(119));
    assert_eq!(
        sign_in(&h, "twice@contoso.test", PW)
            .await
            .unwrap_err()
            .aadsts(),
        50053
    );
    h.clock.advance(Duration::seconds(2));
    sign_in(&h, "twice@contoso.test", PW).await.unwrap();
}

async fn concurrent_failures_are_all_counted(h: Harness) {
    let u = user(&h, "race@contoso.test", true, false).await;
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            sign_in(&h, "race@contoso.test", "wrong-Password-1").await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err().aadsts(), 50126);
    }
    let state = h.directory.sign_in_state(h.tenant(), u.id).await.unwrap();
    assert_eq!(
        state.lockouts, 1,
        "ten concurrent failures lock the account: {state:?}"
    );
}

async fn a_disabled_account_is_reported_only_after_the_right_password(h: Harness) {
    user(&h, "off@contoso.test", false, false).await;
    assert_eq!(
        sign_in(&h, "off@contoso.test", "wrong-Password-1")
            .await
            .unwrap_err()
            .aadsts(),
        50126
    );
    assert_eq!(
        sign_in(&h, "off@contoso.test", PW)
            .await
            .unwrap_err()
            .aadsts(),
        50057
    );
}

async fn a_reset_password_must_be_changed_before_signing_in(h: Harness) {
    user(&h, "reset@contoso.test", true, true).await;
    let e = sign_in(&h, "reset@contoso.test", PW).await.unwrap_err();
    assert_eq!(e.aadsts(), 50055);
    assert!(
        matches!(e, SignInError::MustChangePassword(u) if u.user_principal_name.as_str() == "reset@contoso.test")
    );
}

async fn a_hash_made_with_old_parameters_is_upgraded_at_sign_in(h: Harness) {
    let u = user(&h, "old@contoso.test", true, false).await;
    let before = h
        .store
        .find_password_hash(h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap();
    assert!(before.as_str().contains("m=256,"));
    let stronger = HashParams {
        memory_kib: 512,
        ..latchkey_testkit::TEST_HASH
    };
    let directory = Directory::new(
        h.store.clone(),
        Hasher::new(stronger, 1, 16).unwrap(),
        h.clock.clone(),
    );
    directory
        .sign_in_with_password(h.tenant(), "old@contoso.test", &secret(PW), &client())
        .await
        .unwrap();
    let after = h
        .store
        .find_password_hash(h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.as_str().contains("m=512,"),
        "{:?}",
        after.as_str().split('$').nth(3)
    );
    directory
        .sign_in_with_password(h.tenant(), "old@contoso.test", &secret(PW), &client())
        .await
        .unwrap();
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

/// The sign-in log pages newest first by keyset, filters by user, UPN (any case) and error
/// code, and refuses a cursor it did not make.
async fn the_sign_in_log_pages_and_filters_in_one_query_each(h: Harness) {
    use latchkey_core::store::{SignInQuery, StoreError};
    let ann = user(&h, "ann@contoso.test", true, false).await;
    user(&h, "bob@contoso.test", true, false).await;
    let _ = sign_in(&h, "ann@contoso.test", "Wrong-Guess-981").await;
    h.clock.advance(Duration::seconds(5));
    sign_in(&h, "ann@contoso.test", PW).await.unwrap();
    sign_in(&h, "bob@contoso.test", PW).await.unwrap();
    let tenant = h.tenant();
    let q = |f: fn(&mut SignInQuery)| {
        let mut q = SignInQuery {
            limit: 10,
            ..SignInQuery::default()
        };
        f(&mut q);
        q
    };
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = h
            .store
            .query_sign_in_events(
                tenant,
                &SignInQuery {
                    limit: 2,
                    after: after.clone(),
                    ..SignInQuery::default()
                },
            )
            .await
            .unwrap();
        seen.extend(
            page.items
                .iter()
                .map(|e| (e.user_principal_name.clone(), e.error_code)),
        );
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            ("bob@contoso.test".to_owned(), 0),
            ("ann@contoso.test".to_owned(), 0),
            ("ann@contoso.test".to_owned(), 50126)
        ]
    );
    let by_upn = h
        .store
        .query_sign_in_events(
            tenant,
            &q(|q| q.user_principal_name = Some("ANN@contoso.test".into())),
        )
        .await
        .unwrap();
    assert_eq!(by_upn.items.len(), 2);
    assert!(by_upn.items.iter().all(|e| e.user_id == Some(ann.id)));
    let failed = h
        .store
        .query_sign_in_events(tenant, &q(|q| q.error_code = Some(50126)))
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 1);
    let bad = h
        .store
        .query_sign_in_events(tenant, &q(|q| q.after = Some("not-a-cursor".into())))
        .await;
    assert!(matches!(bad, Err(StoreError::BadCursor)));
}

both_backends!(
    the_right_password_signs_in_and_is_logged,
    wrong_passwords_and_unknown_users_fail_with_entras_codes_and_are_logged,
    ten_failures_lock_the_account_and_even_the_right_password_waits,
    the_second_lockout_lasts_twice_as_long,
    concurrent_failures_are_all_counted,
    a_disabled_account_is_reported_only_after_the_right_password,
    a_reset_password_must_be_changed_before_signing_in,
    a_hash_made_with_old_parameters_is_upgraded_at_sign_in,
    the_sign_in_log_pages_and_filters_in_one_query_each,
);
