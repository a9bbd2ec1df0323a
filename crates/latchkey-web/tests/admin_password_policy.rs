//! Settings › Password policy in process, on both backends: a Global Administrator changes
//! the length and banned terms (and the next password is checked against them), a bad value
//! is refused naming the field with what was typed kept, a stale or forged form changes
//! nothing, and other administrators neither see nor use the page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use latchkey_core::role::DirectoryRole;
use latchkey_testkit::Backend;
use latchkey_testkit::browser::{Browser, Page};
use support::{ADMIN_PUBLIC, World, admin_csrf, admin_signed_in, admin_world};

mod support;

async fn policy(w: &World) -> latchkey_core::password::PasswordPolicy {
    w.h.store
        .find_tenant(w.h.tenant())
        .await
        .unwrap()
        .unwrap()
        .password_policy
}

async fn save(w: &World, b: &mut Browser, form: &Page, fields: &[(&str, &str)]) -> Page {
    let csrf = admin_csrf(form);
    let digest = form.hidden("digest");
    let mut all = vec![("csrf", csrf.as_str()), ("digest", digest.as_str())];
    all.extend_from_slice(fields);
    b.post(&w.app, "/admin/settings/password-policy", &all)
        .await
}

async fn a_global_administrator_changes_the_password_policy_and_bad_or_stale_forms_change_nothing(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    assert!(home.body.contains("id=\"nav-password-policy\""));
    let form = b.get(&w.app, "/admin/settings/password-policy").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(form.input("min_length"), "8");
    assert!(form.body.contains("After 10 failed sign-ins"));

    let bad = save(
        &w,
        &mut b,
        &form,
        &[
            ("min_length", "twelve"),
            ("categories", "3"),
            ("generated_length", "16"),
            ("banned_terms", "<b>contoso</b>"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Minimum length: type a whole number."));
    assert!(bad.body.contains("value=\"twelve\""));
    assert!(bad.body.contains("&#60;b&#62;contoso") || bad.body.contains("&lt;b&gt;contoso"));
    assert_eq!(policy(&w).await.min_length, 8);

    let core_refuses = save(
        &w,
        &mut b,
        &form,
        &[
            ("min_length", "20"),
            ("categories", "3"),
            ("generated_length", "16"),
        ],
    )
    .await;
    assert_eq!(core_refuses.status, StatusCode::BAD_REQUEST);
    assert!(
        core_refuses
            .body
            .contains("Not saved: generated passwords must be between")
    );
    assert_eq!(policy(&w).await.min_length, 8);

    let forged = b
        .post(
            &w.app,
            "/admin/settings/password-policy",
            &[("digest", &form.hidden("digest")), ("min_length", "12")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(policy(&w).await.min_length, 8);

    let saved = save(
        &w,
        &mut b,
        &form,
        &[
            ("min_length", "12"),
            ("categories", "3"),
            ("generated_length", "16"),
            ("validity_days", ""),
            ("banned_terms", "contoso\nharbour\n"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("The password policy is saved"));
    let now = policy(&w).await;
    assert_eq!(now.min_length, 12);
    assert_eq!(now.custom_banned_terms, vec!["contoso", "harbour"]);

    // The form opened before that save is stale now.
    let stale = save(
        &w,
        &mut b,
        &form,
        &[
            ("min_length", "9"),
            ("categories", "3"),
            ("generated_length", "16"),
        ],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("changed by someone else"));
    assert_eq!(stale.input("min_length"), "12");
    assert_eq!(policy(&w).await.min_length, 12);
}

async fn other_administrators_neither_see_nor_use_the_password_policy(backend: Backend) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    assert!(!home.body.contains("nav-password-policy"));
    let page = b.get(&w.app, "/admin/settings/password-policy").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let posted = b
        .post(
            &w.app,
            "/admin/settings/password-policy",
            &[("csrf", &admin_csrf(&home)), ("min_length", "30")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    assert_eq!(policy(&w).await.min_length, 8);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

both_backends!(
    a_global_administrator_changes_the_password_policy_and_bad_or_stale_forms_change_nothing,
    other_administrators_neither_see_nor_use_the_password_policy,
);
