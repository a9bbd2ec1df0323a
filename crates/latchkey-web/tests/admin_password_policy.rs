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
    assert!(
        home.body
            .contains("href=\"/admin/settings/password-policy#smart-lockout\"")
    );
    let form = b.get(&w.app, "/admin/settings/password-policy").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(form.input("min_length"), "8");
    assert_eq!(form.input("lockout_threshold"), "10");
    assert_eq!(form.input("lockout_seconds"), "60");

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

async fn a_stricter_lockout_saved_on_the_page_locks_the_next_sign_ins_sooner_and_longer(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    admin_signed_in(
        &w,
        &mut b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let form = b.get(&w.app, "/admin/settings/password-policy").await;
    let fields = |threshold: &'static str, seconds: &'static str| {
        [
            ("min_length", "8"),
            ("categories", "3"),
            ("generated_length", "16"),
            ("lockout_threshold", threshold),
            ("lockout_seconds", seconds),
        ]
    };
    for (threshold, seconds, said) in [
        (
            "0",
            "60",
            "Not saved: the lockout threshold must be 1 to 100",
        ),
        (
            "3",
            "2",
            "Not saved: the lockout duration must be 5 to 86400 seconds",
        ),
        ("three", "60", "Lockout threshold: type a whole number."),
        ("", "60", "Lockout threshold: type a whole number."),
    ] {
        let refused = save(&w, &mut b, &form, &fields(threshold, seconds)).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{threshold} {seconds}"
        );
        assert!(refused.body.contains(said), "{}", refused.body);
        assert_eq!(refused.input("lockout_threshold"), threshold);
        assert_eq!(policy(&w).await.lockout.threshold, 10);
    }
    let saved = save(&w, &mut b, &form, &fields("3", "300")).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.input("lockout_threshold"), "3");
    assert_eq!(saved.input("lockout_seconds"), "300");
    let audit = w.h.store.list_audit_events(w.h.tenant(), 5).await.unwrap();
    let changed = audit
        .iter()
        .find(|e| e.activity == "Update password policy")
        .unwrap();
    assert!(
        changed
            .details
            .iter()
            .any(|(k, v)| k == "lockoutThreshold" && v == "3")
    );

    // Three wrong passwords now lock the account for five minutes.
    let pat = support::user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let client = latchkey_core::directory::ClientRef {
        app_id: None,
        display_name: Some("Test".into()),
    };
    let attempt = |pw: &'static str| {
        let (d, t, c) = (w.h.directory.clone(), w.h.tenant(), client.clone());
        async move {
            d.sign_in_with_password(
                t,
                "pat@contoso.test",
                &secrecy::SecretString::from(pw.to_owned()),
                &c,
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("wrong-Password-1").await.unwrap_err().aadsts(),
            50126
        );
    }
    assert_eq!(attempt(support::PW).await.unwrap_err().aadsts(), 50053);
    w.h.clock.advance(chrono::Duration::seconds(299));
    assert_eq!(attempt(support::PW).await.unwrap_err().aadsts(), 50053);
    w.h.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(attempt(support::PW).await.unwrap().id.to_string(), pat);
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
    assert!(!home.body.contains("nav-lockout"));
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
    a_stricter_lockout_saved_on_the_page_locks_the_next_sign_ins_sooner_and_longer,
    other_administrators_neither_see_nor_use_the_password_policy,
);
