//! The admin center's Roles and Audit log pages in process, on both backends: a role's
//! members, adding one by user name and removing one (never the last Global
//! Administrator); the directory audits and sign-ins with their filters, paging and the CSV
//! export (streamed page by page, formulas neutralised); and the refusals: roles that may
//! not see or change them, missing CSRF tokens, markup in names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use chrono::Duration;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{ClientRef, UserRef};
use latchkey_core::ids::UserId;
use latchkey_core::role::DirectoryRole;
use latchkey_testkit::browser::{Browser, Page};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;
use support::{ADMIN_PUBLIC, World, admin_csrf, admin_signed_in, admin_world, user};

mod support;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

async fn global_admin(w: &World) -> (Browser, Page) {
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        w,
        &mut b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    (b, home)
}

async fn roles_of(w: &World, id: &str) -> Vec<DirectoryRole> {
    w.h.store
        .list_user_roles(w.h.tenant(), id.parse().unwrap())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Roles.

async fn a_global_administrator_adds_and_removes_role_members_by_user_name(backend: Backend) {
    let w = admin_world(backend).await;
    let (mut b, home) = global_admin(&w).await;
    assert!(home.body.contains("id=\"nav-roles\""));
    let pat = user(&w, "pat@contoso.test", "Pat <script>x</script>", vec![]).await;
    let roles = b.get(&w.app, "/admin/roles").await;
    assert_eq!(roles.status, StatusCode::OK);
    for r in DirectoryRole::ALL {
        assert!(roles.body.contains(r.display_name()));
    }
    let page = b.get(&w.app, &format!("/admin/roles/{USER_ADMIN}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Nobody holds this role."));
    let csrf = admin_csrf(&page);

    let added = b
        .post(
            &w.app,
            &format!("/admin/roles/{USER_ADMIN}/members"),
            &[("csrf", &csrf), ("upn", "PAT@contoso.test")],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.body.contains("is now a User Administrator"));
    assert!(
        added.body.contains("Pat &#60;script&#62;") || added.body.contains("Pat &lt;script&gt;")
    );
    assert!(!added.body.contains("<script>x"));
    assert_eq!(
        roles_of(&w, &pat).await,
        vec![DirectoryRole::UserAdministrator]
    );

    let twice = b
        .post(
            &w.app,
            &format!("/admin/roles/{USER_ADMIN}/members"),
            &[("csrf", &csrf), ("upn", "pat@contoso.test")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(
        twice
            .body
            .contains("already holds the User Administrator role")
    );

    let nobody = b
        .post(
            &w.app,
            &format!("/admin/roles/{USER_ADMIN}/members"),
            &[("csrf", &csrf), ("upn", "nobody@contoso.test")],
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert!(
        nobody
            .body
            .contains("Username: there is no active user named nobody@contoso.test")
    );
    assert!(
        nobody.body.contains("value=\"nobody@contoso.test\""),
        "what was typed stays"
    );

    let forged = b
        .post(
            &w.app,
            &format!("/admin/roles/{USER_ADMIN}/members/{pat}/remove"),
            &[],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        roles_of(&w, &pat).await,
        vec![DirectoryRole::UserAdministrator]
    );

    let removed = b
        .post(
            &w.app,
            &format!("/admin/roles/{USER_ADMIN}/members/{pat}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(roles_of(&w, &pat).await.is_empty());
}

async fn the_last_global_administrator_cannot_be_removed_and_the_page_says_why(backend: Backend) {
    let w = admin_world(backend).await;
    let (mut b, home) = global_admin(&w).await;
    let csrf = admin_csrf(&home);
    let bootstrap = w.h.boot.admin.id.to_string();
    let first = b
        .post(
            &w.app,
            &format!("/admin/roles/{GA}/members/{bootstrap}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let ada =
        w.h.directory
            .get_user(
                &Harness::operator(),
                w.h.tenant(),
                &UserRef::Upn(latchkey_core::names::Upn::parse("ada@contoso.test").unwrap()),
            )
            .await
            .unwrap();
    let last = b
        .post(
            &w.app,
            &format!("/admin/roles/{GA}/members/{}/remove", ada.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(
        last.body
            .contains("last Global Administrator keeps the role")
    );
    assert_eq!(
        roles_of(&w, &ada.id.to_string()).await,
        vec![DirectoryRole::GlobalAdministrator]
    );
}

async fn a_user_administrator_sees_role_members_but_cannot_change_them(backend: Backend) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    assert!(home.body.contains("id=\"nav-roles\""));
    assert!(!home.body.contains("id=\"nav-audit\""));
    let page = b.get(&w.app, &format!("/admin/roles/{USER_ADMIN}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("uma@contoso.test"));
    assert!(!page.body.contains("id=\"add-member\""));
    assert!(!page.body.contains("Remove</button>"));
    let refused = b
        .post(
            &w.app,
            &format!("/admin/roles/{USER_ADMIN}/members"),
            &[("csrf", &admin_csrf(&home)), ("upn", "pat@contoso.test")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(roles_of(&w, &pat).await.is_empty());

    let unchanged = b
        .post(
            &w.app,
            &format!("/admin/roles/{GA}/members/{}/remove", w.h.boot.admin.id),
            &[("csrf", &admin_csrf(&home))],
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        roles_of(&w, &w.h.boot.admin.id.to_string()).await,
        vec![DirectoryRole::GlobalAdministrator]
    );
    let unknown = b.get(&w.app, "/admin/roles/not-a-role").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Audit log.

async fn revoke(w: &World, id: &str, times: usize) {
    for _ in 0..times {
        w.h.directory
            .revoke_sign_in_sessions(
                &Harness::operator(),
                w.h.tenant(),
                &UserRef::Id(id.parse().unwrap()),
            )
            .await
            .unwrap();
    }
}

async fn the_audit_log_filters_by_activity_target_and_time_and_pages(backend: Backend) {
    let w = admin_world(backend).await;
    // Three days before the admin signs in (a session lives 12 hours), pat was added.
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    w.h.clock.advance(Duration::days(3));
    let (mut b, home) = global_admin(&w).await;
    assert!(home.body.contains("id=\"nav-audit\""));
    let sam = user(&w, "sam@contoso.test", "Sam Example", vec![]).await;
    revoke(&w, &sam, 55).await;

    let all = b.get(&w.app, "/admin/audit").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(all.body.contains("Invalidate all refresh tokens for user"));
    let next = all.link("next-page").expect("a second page");

    let older = b.get(&w.app, &next).await;
    assert_eq!(older.status, StatusCode::OK);
    assert!(older.body.contains("Add user"));

    let adds = b.get(&w.app, "/admin/audit?activity=Add+user").await;
    assert!(adds.body.contains("<td>pat@contoso.test</td>"));
    assert!(adds.body.contains("<td>sam@contoso.test</td>"));
    assert!(!adds.body.contains("<td>Invalidate all refresh tokens"));

    let for_pat = b
        .get(
            &w.app,
            "/admin/audit?activity=Add+user&target=pat%40contoso.test",
        )
        .await;
    assert!(for_pat.body.contains("<td>pat@contoso.test</td>"));
    assert!(!for_pat.body.contains("<td>sam@contoso.test</td>"));
    assert!(
        for_pat.body.contains("value=\"pat@contoso.test\""),
        "the filter stays"
    );

    // Three days ago, only pat (and the bootstrap admin) were added.
    let early = b
        .get(&w.app, "/admin/audit?activity=Add+user&to=2026-11-25")
        .await;
    assert!(early.body.contains("<td>pat@contoso.test</td>"));
    assert!(!early.body.contains("<td>sam@contoso.test</td>"));
    let late = b
        .get(&w.app, "/admin/audit?activity=Add+user&from=2026-11-26")
        .await;
    assert!(late.body.contains("<td>sam@contoso.test</td>"));
    assert!(!late.body.contains("<td>pat@contoso.test</td>"));

    // An initiator's name is text, never markup.
    let marked = Actor::User {
        id: UserId::new(),
        display: "<b>Boss</b>".into(),
        roles: vec![DirectoryRole::GlobalAdministrator],
        scopes: None,
        channel: Channel::AdminCenter,
    };
    w.h.directory
        .revoke_sign_in_sessions(&marked, w.h.tenant(), &UserRef::Id(pat.parse().unwrap()))
        .await
        .unwrap();
    let escaped = b.get(&w.app, "/admin/audit").await;
    assert!(escaped.body.contains("&#60;b&#62;Boss") || escaped.body.contains("&lt;b&gt;Boss"));
    assert!(!escaped.body.contains("<b>Boss"));

    let bad = b.get(&w.app, "/admin/audit?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("From: give a date as YYYY-MM-DD"));
    let unknown = b
        .get(&w.app, "/admin/audit?actor=nobody%40contoso.test")
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown
            .body
            .contains("Initiated by: there is no active user named nobody@contoso.test")
    );
}

async fn the_sign_ins_tab_shows_failures_and_filters_by_user_and_result(backend: Backend) {
    let w = admin_world(backend).await;
    user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let _ =
        w.h.directory
            .sign_in_with_password(
                w.h.tenant(),
                "pat@contoso.test",
                &SecretString::from("wrong-password".to_owned()),
                &ClientRef::default(),
            )
            .await;
    let (mut b, _) = global_admin(&w).await;
    let tab = b.get(&w.app, "/admin/audit?tab=signins").await;
    assert_eq!(tab.status, StatusCode::OK, "{}", tab.body);
    assert!(
        tab.body
            .contains("id=\"tab-signins\" aria-current=\"page\"")
    );
    assert!(tab.body.contains("pat@contoso.test"));
    assert!(tab.body.contains("Failure 50126"));
    assert!(tab.body.contains("ada@contoso.test"));
    let failures = b.get(&w.app, "/admin/audit?tab=signins&result=50126").await;
    assert!(failures.body.contains("pat@contoso.test"));
    assert!(!failures.body.contains("<td>ada@contoso.test</td>"));
    // The user's pane shows their recent sign-ins to a Global Administrator.
    let pat =
        w.h.store
            .find_user_by_upn(
                w.h.tenant(),
                &latchkey_core::names::Upn::parse("pat@contoso.test").unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
    let pane = b
        .get(&w.app, &format!("/admin/users?user={}", pat.id))
        .await;
    assert!(pane.body.contains("id=\"sign-in-activity\""));
    assert!(pane.body.contains("Failure 50126"));
    let ok = b
        .get(
            &w.app,
            "/admin/audit?tab=signins&result=success&actor=ada%40contoso.test",
        )
        .await;
    assert!(ok.body.contains("<td>ada@contoso.test</td>"));
    assert!(!ok.body.contains("Failure 50126"));
    assert!(!ok.body.contains("wrong-password"));
}

async fn the_audit_export_streams_every_page_of_the_filtered_view_with_formulas_neutralised(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let eve = user(&w, "eve@contoso.test", "Eve Example", vec![]).await;
    // More than one export page (500 rows), by an administrator whose name is a formula.
    let formula = Actor::User {
        id: UserId::new(),
        display: "=cmd|' /C calc'!A0".into(),
        roles: vec![DirectoryRole::GlobalAdministrator],
        scopes: None,
        channel: Channel::AdminCenter,
    };
    for _ in 0..510 {
        w.h.directory
            .revoke_sign_in_sessions(&formula, w.h.tenant(), &UserRef::Id(eve.parse().unwrap()))
            .await
            .unwrap();
    }
    let (mut b, _) = global_admin(&w).await;
    let csv = b
        .get(
            &w.app,
            "/admin/audit/export.csv?activity=Invalidate+all+refresh+tokens+for+user",
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"audit-log.csv\""
    );
    assert_eq!(csv.headers[header::CACHE_CONTROL], "no-store");
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    assert_eq!(&reader.headers().unwrap()[2], "activity");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 510);
    assert!(
        rows.iter()
            .all(|r| &r[2] == "Invalidate all refresh tokens for user")
    );
    assert_eq!(&rows[0][4], "'=cmd|' /C calc'!A0");
    assert_eq!(&rows[0][6], "eve@contoso.test");
    assert_eq!(&rows[0][7], eve);

    // The sign-ins export has its own columns.
    let signins = b.get(&w.app, "/admin/audit/export.csv?tab=signins").await;
    assert_eq!(
        signins.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"sign-ins.csv\""
    );
    assert!(
        signins
            .body
            .starts_with("createdDateTime,userPrincipalName")
    );
    assert!(signins.body.contains("ada@contoso.test"));
}

async fn administrators_who_may_not_read_the_audit_log_get_neither_page_nor_export(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    admin_signed_in(
        &w,
        &mut b,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    let page = b.get(&w.app, "/admin/audit").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let own = w.h.boot.admin.id;
    let pane = b.get(&w.app, &format!("/admin/users?user={own}")).await;
    assert_eq!(pane.status, StatusCode::OK);
    assert!(
        !pane.body.contains("id=\"sign-in-activity\""),
        "nor sign-ins in the pane"
    );
    let export = b.get(&w.app, "/admin/audit/export.csv").await;
    assert_eq!(export.status, StatusCode::FORBIDDEN);
    assert!(!export.body.contains("activityDateTime"));
    let bad_filter = b.get(&w.app, "/admin/audit?from=nonsense").await;
    assert_eq!(bad_filter.status, StatusCode::FORBIDDEN);
    let stranger = Browser::at(ADMIN_PUBLIC)
        .get(&w.app, "/admin/audit/export.csv")
        .await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
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
    a_global_administrator_adds_and_removes_role_members_by_user_name,
    the_last_global_administrator_cannot_be_removed_and_the_page_says_why,
    a_user_administrator_sees_role_members_but_cannot_change_them,
    the_audit_log_filters_by_activity_target_and_time_and_pages,
    the_sign_ins_tab_shows_failures_and_filters_by_user_and_result,
    the_audit_export_streams_every_page_of_the_filtered_view_with_formulas_neutralised,
    administrators_who_may_not_read_the_audit_log_get_neither_page_nor_export,
);
