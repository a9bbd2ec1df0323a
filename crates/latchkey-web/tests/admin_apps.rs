//! The admin center's Apps page in process, on both backends: registering an app (its
//! first secret shown once and stored only as a digest), admin consent, a new secret shown
//! once, removing a secret; bad input kept and named; CSRF; markup in names; and who may
//! not manage apps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use latchkey_core::role::DirectoryRole;
use latchkey_testkit::Backend;
use latchkey_testkit::browser::Browser;
use support::{
    ADMIN_PUBLIC, World, admin_csrf, admin_signed_in, admin_world, contains, logs, stored_bytes,
};

mod support;

async fn apps_named(w: &World, name: &str) -> Vec<latchkey_core::app::App> {
    w.h.store
        .list_apps(w.h.tenant())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.display_name == name)
        .collect()
}

async fn a_global_administrator_registers_an_app_whose_secrets_are_shown_once(backend: Backend) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    assert!(home.body.contains("id=\"nav-apps\""));
    let csrf = admin_csrf(&home);
    let created = b
        .post(
            &w.app,
            "/admin/apps",
            &[
                ("csrf", &csrf),
                ("name", "Payroll <sync>"),
                ("redirect_uri", "https://payroll.contoso.test/callback"),
                ("application", "User.Read.All"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        created.body.contains("Payroll &#60;sync&#62;")
            || created.body.contains("Payroll &lt;sync&gt;")
    );
    assert!(!created.body.contains("<sync>"));
    let secret = created.input("new-secret");
    assert!(secret.len() >= 32);
    assert!(created.body.contains("will not be shown again"));
    assert!(
        created
            .body
            .contains("<dd id=\"consent-state\">Not granted</dd>")
    );
    assert!(!contains(&stored_bytes(&w).await, &secret));
    assert!(!contains(&logs().lock().unwrap(), &secret));
    let app = apps_named(&w, "Payroll <sync>").await.remove(0);
    let page = format!("/admin/apps/{}", app.app_id);

    let again = b.get(&w.app, &page).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(!again.body.contains(&secret));
    assert!(again.body.contains("initial"));

    let forged = b.post(&w.app, &format!("{page}/consent"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!apps_named(&w, "Payroll <sync>").await[0].admin_consent);
    let consented = b
        .post(&w.app, &format!("{page}/consent"), &[("csrf", &csrf)])
        .await;
    assert_eq!(consented.status, StatusCode::OK, "{}", consented.body);
    assert!(
        consented
            .body
            .contains("<dd id=\"consent-state\">Granted</dd>")
    );
    assert!(apps_named(&w, "Payroll <sync>").await[0].admin_consent);

    let bad_days = b
        .post(
            &w.app,
            &format!("{page}/secrets"),
            &[("csrf", &csrf), ("name", "rotation"), ("days", "9999")],
        )
        .await;
    assert_eq!(bad_days.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_days
            .body
            .contains("a secret is valid for 1 to 730 days")
    );
    let second = b
        .post(
            &w.app,
            &format!("{page}/secrets"),
            &[("csrf", &csrf), ("name", "rotation"), ("days", "90")],
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let value = second.input("new-secret");
    assert_ne!(value, secret);
    assert_eq!(apps_named(&w, "Payroll <sync>").await[0].secrets.len(), 2);

    let first_key = apps_named(&w, "Payroll <sync>").await[0].secrets[0]
        .key_id
        .to_string();
    let removed = b
        .post(
            &w.app,
            &format!("{page}/remove-secret"),
            &[("csrf", &csrf), ("key", &first_key)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(removed.body.contains("The secret is removed"));
    assert!(!removed.body.contains(&value));
    assert_eq!(apps_named(&w, "Payroll <sync>").await[0].secrets.len(), 1);
    let twice = b
        .post(
            &w.app,
            &format!("{page}/remove-secret"),
            &[("csrf", &csrf), ("key", &first_key)],
        )
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);

    let list = b.get(&w.app, "/admin/apps").await;
    assert!(list.body.contains(&app.app_id.to_string()));
    assert!(list.body.contains("Granted"));
}

async fn bad_app_registrations_name_the_field_keep_the_input_and_create_nothing(backend: Backend) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let csrf = admin_csrf(&home);
    let before = w.h.store.list_apps(w.h.tenant()).await.unwrap().len();
    let empty = b
        .post(
            &w.app,
            "/admin/apps",
            &[
                ("csrf", &csrf),
                ("name", ""),
                ("application", "User.Read.All"),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("Name: must be 1 to 256 characters"));
    assert!(empty.body.contains("value=\"User.Read.All\""));
    let unknown = b
        .post(
            &w.app,
            "/admin/apps",
            &[
                ("csrf", &csrf),
                ("name", "Mystery"),
                ("application", "Everything.All"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("Application permissions:"));
    assert!(unknown.body.contains("value=\"Mystery\""));
    let forged = b.post(&w.app, "/admin/apps", &[("name", "Forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        w.h.store.list_apps(w.h.tenant()).await.unwrap().len(),
        before
    );
}

async fn a_user_administrator_neither_sees_nor_manages_apps(backend: Backend) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    assert!(!home.body.contains("nav-apps"));
    assert_eq!(
        b.get(&w.app, "/admin/apps").await.status,
        StatusCode::FORBIDDEN
    );
    let posted = b
        .post(
            &w.app,
            "/admin/apps",
            &[("csrf", &admin_csrf(&home)), ("name", "Sneaky")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    assert!(apps_named(&w, "Sneaky").await.is_empty());
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
    a_global_administrator_registers_an_app_whose_secrets_are_shown_once,
    bad_app_registrations_name_the_field_keep_the_input_and_create_nothing,
    a_user_administrator_neither_sees_nor_manages_apps,
);
