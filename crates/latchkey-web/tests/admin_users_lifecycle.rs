//! The admin center's user lifecycle pages in process, on both backends: Deleted users with
//! Restore, the Add user wizard, and bulk actions on Active users (block, unblock, revoke,
//! delete after a confirmation, reset with a CSV generated in the response). Every refusal:
//! a role that may not act, a missing CSRF token, a stale selection, bad input kept in the
//! form (never the passwords), markup and formulas in names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use latchkey_core::directory::{ClientRef, ProfileField, SignInError, UserChanges, UserRef};
use latchkey_core::license::NewSku;
use latchkey_core::names::Upn;
use latchkey_core::role::DirectoryRole;
use latchkey_testkit::browser::{Browser, Page};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;
use support::{
    ADMIN_PUBLIC, PW, World, admin_csrf, admin_signed_in, admin_world, contains, logs,
    stored_bytes, user,
};

mod support;

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

async fn sign_in_result(w: &World, upn: &str, password: &str) -> Result<(), SignInError> {
    w.h.directory
        .sign_in_with_password(
            w.h.tenant(),
            upn,
            &SecretString::from(password.to_owned()),
            &ClientRef::default(),
        )
        .await
        .map(|_| ())
}

async fn find(w: &World, upn: &str) -> Option<latchkey_core::user::User> {
    w.h.store
        .find_user_by_upn(w.h.tenant(), &Upn::parse(upn).unwrap())
        .await
        .unwrap()
}

async fn delete(w: &World, id: &str) {
    w.h.directory
        .delete_user(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(id.parse().unwrap()),
        )
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Deleted users.

async fn deleted_users_are_listed_and_restored_and_a_taken_user_name_is_explained(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let (mut b, home) = global_admin(&w).await;
    assert!(home.body.contains("id=\"nav-deleted-users\""));
    let sam = user(
        &w,
        "sam@contoso.test",
        "Sam <script>alert(1)</script>",
        vec![],
    )
    .await;
    let pat = user(&w, "pat@contoso.test", "Pat Old", vec![]).await;
    delete(&w, &sam).await;
    delete(&w, &pat).await;
    // Someone new took pat's user name meanwhile.
    user(&w, "pat@contoso.test", "Pat New", vec![]).await;

    let list = b.get(&w.app, "/admin/users/deleted").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("Sam &#60;script&#62;") || list.body.contains("Sam &lt;script&gt;"));
    assert!(!list.body.contains("<script>alert(1)"));
    assert!(list.body.contains("Pat Old"));
    assert!(
        !list.body.contains("Pat New"),
        "active users are not in the bin"
    );
    assert!(list.body.contains(&format!("id=\"restore-{sam}\"")));
    let csrf = admin_csrf(&list);

    // pat's name is taken: nothing is restored and the page says why.
    let clash = b
        .post(
            &w.app,
            &format!("/admin/users/deleted/{pat}/restore"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    assert!(clash.body.contains("Not restored."));
    assert!(
        clash
            .body
            .contains("pat@contoso.test is used by an active user")
    );
    assert_eq!(
        find(&w, "pat@contoso.test")
            .await
            .unwrap()
            .display_name
            .as_str(),
        "Pat New"
    );

    // Without the CSRF token nothing is restored.
    let forged = b
        .post(&w.app, &format!("/admin/users/deleted/{sam}/restore"), &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("Nothing was restored"));
    assert!(find(&w, "sam@contoso.test").await.is_none());

    let restored = b
        .post(
            &w.app,
            &format!("/admin/users/deleted/{sam}/restore"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert!(
        restored
            .body
            .contains("is restored and is in Active users again")
    );
    assert!(find(&w, "sam@contoso.test").await.is_some());
    assert!(!restored.body.contains(&format!("id=\"restore-{sam}\"")));

    // Restoring again (a second tab, a reload) says the user is no longer in the bin.
    let again = b
        .post(
            &w.app,
            &format!("/admin/users/deleted/{sam}/restore"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("no longer in Deleted users"));
}

async fn a_helpdesk_administrator_sees_deleted_users_without_restore_and_cannot_restore(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let sam = user(&w, "sam@contoso.test", "Sam Example", vec![]).await;
    delete(&w, &sam).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    // Nor does the rail offer what a helpdesk administrator may not do.
    assert!(
        home.body.contains("id=\"nav-roles\""),
        "every member may read the roles"
    );
    for hidden in ["nav-add-user", "nav-audit"] {
        assert!(!home.body.contains(hidden), "{hidden} shown");
    }
    let list = b.get(&w.app, "/admin/users/deleted").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Sam Example"));
    assert!(!list.body.contains("Restore</button>"));
    let refused = b
        .post(
            &w.app,
            &format!("/admin/users/deleted/{sam}/restore"),
            &[("csrf", &admin_csrf(&home))],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(find(&w, "sam@contoso.test").await.is_none());
}

// ---------------------------------------------------------------------------------------
// Add user.

async fn an_administrator_adds_a_user_whose_generated_password_is_shown_once_and_must_be_changed(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let (mut b, _) = global_admin(&w).await;
    let form = b.get(&w.app, "/admin/users/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body
            .contains("<option value=\"contoso.test\" selected>contoso.test</option>")
    );
    assert!(form.body.contains("id=\"mode-auto\" checked"));
    assert!(form.body.contains("id=\"require-change\" checked"));
    let done = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &admin_csrf(&form)),
                ("given", "Kim"),
                ("surname", "Lee"),
                ("display", "Kim Lee"),
                ("local", "kim"),
                ("domain", "contoso.test"),
                ("mode", "auto"),
                ("require_change", "on"),
                ("department", "Finance"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.headers[header::CACHE_CONTROL], "no-store");
    assert!(done.body.contains("will not be shown again"));
    let password = done.input("new-password");
    assert!(password.len() >= 16);
    let kim = find(&w, "kim@contoso.test").await.unwrap();
    assert_eq!(kim.profile.department.as_deref(), Some("Finance"));
    assert!(matches!(
        sign_in_result(&w, "kim@contoso.test", &password).await,
        Err(SignInError::MustChangePassword(_))
    ));
    assert!(!contains(&stored_bytes(&w).await, &password));
    assert!(!contains(&logs().lock().unwrap(), &password));
    // The result page is that one response: the user's page never shows the password.
    let pane = b
        .get(&w.app, &format!("/admin/users?user={}", kim.id))
        .await;
    assert!(!pane.body.contains(&password));
}

async fn bad_input_in_add_user_names_the_field_keeps_what_was_typed_but_never_the_passwords(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let (mut b, home) = global_admin(&w).await;
    let csrf = admin_csrf(&home);
    let typed = "Typed-Secret-Quay-93";
    let mismatch = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &csrf),
                ("display", "Kim <b>Lee</b>"),
                ("local", "kim"),
                ("domain", "contoso.test"),
                ("mode", "typed"),
                ("password", typed),
                ("confirm", "Something-Else-12"),
                ("require_change", "on"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(
        mismatch
            .body
            .contains("Password: the passwords don&#39;t match")
            || mismatch
                .body
                .contains("Password: the passwords don&#x27;t match"),
        "{}",
        mismatch.body
    );
    assert!(mismatch.body.contains("id=\"mode-typed\" checked"));
    assert!(mismatch.body.contains("value=\"kim\""));
    assert!(
        mismatch.body.contains("Kim &#60;b&#62;Lee") || mismatch.body.contains("Kim &lt;b&gt;Lee")
    );
    assert!(!mismatch.body.contains(typed));
    assert!(find(&w, "kim@contoso.test").await.is_none());

    let weak = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &csrf),
                ("display", "Kim Lee"),
                ("local", "kim"),
                ("domain", "contoso.test"),
                ("mode", "typed"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("id=\"password-error\""));
    assert!(
        !weak.body.contains("id=\"require-change\" checked"),
        "the unticked box stays unticked"
    );
    assert!(find(&w, "kim@contoso.test").await.is_none());

    let empty = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &csrf),
                ("display", ""),
                ("local", ""),
                ("domain", "contoso.test"),
                ("mode", "auto"),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("Display name: type the name"));
    assert!(empty.body.contains("Username: type the part before the @"));

    let foreign = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &csrf),
                ("display", "Kim"),
                ("local", "kim"),
                ("domain", "fabrikam.test"),
                ("mode", "auto"),
            ],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST);
    assert!(
        foreign
            .body
            .contains("Domain: pick one of your organization")
    );

    user(&w, "taken@contoso.test", "Taken", vec![]).await;
    let taken = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &csrf),
                ("display", "Someone"),
                ("local", "taken"),
                ("domain", "contoso.test"),
                ("mode", "auto"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert!(
        taken
            .body
            .contains("Username: taken@contoso.test is already taken")
    );
    assert_eq!(
        find(&w, "taken@contoso.test")
            .await
            .unwrap()
            .display_name
            .as_str(),
        "Taken"
    );

    let forged = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("display", "Kim"),
                ("local", "kim"),
                ("domain", "contoso.test"),
                ("mode", "auto"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("Nobody was created"));
    assert!(find(&w, "kim@contoso.test").await.is_none());

    // Typed twice and good: created, the password nowhere on the page, and it signs in.
    let done = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &csrf),
                ("display", "Kim Lee"),
                ("local", "kim"),
                ("domain", "contoso.test"),
                ("mode", "typed"),
                ("password", typed),
                ("confirm", typed),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains("The user signs in with the password you typed.")
    );
    assert!(!done.body.contains(typed));
    assert!(sign_in_result(&w, "kim@contoso.test", typed).await.is_ok());
}

async fn a_new_user_gets_the_chosen_role_and_licence_and_a_licence_needs_a_usage_location(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let sku =
        w.h.directory
            .create_sku(
                &Harness::operator(),
                w.h.tenant(),
                NewSku {
                    sku_id: None,
                    sku_part_number: "ENTERPRISEPACK".into(),
                    seats: 5,
                    service_plans: vec!["EXCHANGE_S_STANDARD".into()],
                },
            )
            .await
            .unwrap();
    let (mut b, home) = global_admin(&w).await;
    let csrf = admin_csrf(&home);
    let form = b.get(&w.app, "/admin/users/new").await;
    assert!(form.body.contains("ENTERPRISEPACK (5 available)"));
    assert!(
        form.body
            .contains(DirectoryRole::UserAdministrator.template_id())
    );
    let sku_id = sku.sku_id.to_string();
    let fields = |loc: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("display", "Kim Lee".to_owned()),
            ("local", "kim".to_owned()),
            ("domain", "contoso.test".to_owned()),
            ("mode", "auto".to_owned()),
            (
                "role",
                DirectoryRole::UserAdministrator.template_id().to_owned(),
            ),
            ("license", sku_id.clone()),
            ("usage_location", loc.to_owned()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { f.clone() };
    let without = as_refs(&fields(""));
    let without: Vec<(&str, &str)> = without.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post(&w.app, "/admin/users/new", &without).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("Usage location: a license needs the country")
    );
    assert!(find(&w, "kim@contoso.test").await.is_none());

    let with = fields("gb");
    let with: Vec<(&str, &str)> = with.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = b.post(&w.app, "/admin/users/new", &with).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains("with the User Administrator role and a ENTERPRISEPACK license")
    );
    let kim = find(&w, "kim@contoso.test").await.unwrap();
    let roles =
        w.h.store
            .list_user_roles(w.h.tenant(), kim.id)
            .await
            .unwrap();
    assert_eq!(roles, vec![DirectoryRole::UserAdministrator]);
    let licences =
        w.h.directory
            .license_details(&Harness::operator(), w.h.tenant(), &UserRef::Id(kim.id))
            .await
            .unwrap();
    assert_eq!(licences.len(), 1);
}

async fn a_helpdesk_administrator_can_neither_open_nor_submit_add_user(backend: Backend) {
    let w = admin_world(backend).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let form = b.get(&w.app, "/admin/users/new").await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    let users = b.get(&w.app, "/admin/users").await;
    assert!(!users.body.contains("id=\"add-user\""));
    let posted = b
        .post(
            &w.app,
            "/admin/users/new",
            &[
                ("csrf", &admin_csrf(&home)),
                ("display", "Kim"),
                ("local", "kim"),
                ("domain", "contoso.test"),
                ("mode", "auto"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(find(&w, "kim@contoso.test").await.is_none());
}

// ---------------------------------------------------------------------------------------
// Bulk actions.

async fn bulk(w: &World, b: &mut Browser, csrf: &str, action: &str, ids: &[&str]) -> Page {
    let mut form = vec![("csrf", csrf), ("action", action)];
    for id in ids {
        form.push(("ids", id));
    }
    b.post(&w.app, "/admin/users/bulk", &form).await
}

async fn bulk_block_reports_each_user_and_one_refusal_does_not_stop_the_others(backend: Backend) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let gia = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let sam = user(&w, "sam@contoso.test", "Sam Example", vec![]).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    admin_signed_in(
        &w,
        &mut b,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    let list = b.get(&w.app, "/admin/users").await;
    assert!(list.body.contains(&format!("id=\"select-{pat}\"")));
    assert!(list.body.contains("id=\"bulk-block\""));
    let csrf = admin_csrf(&list);

    let done = bulk(&w, &mut b, &csrf, "block", &[&pat, &gia, &sam]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("2 done, 1 not done"));
    assert!(done.body.contains("Pat Example (pat@contoso.test)"));
    assert!(!find(&w, "pat@contoso.test").await.unwrap().account_enabled);
    assert!(!find(&w, "sam@contoso.test").await.unwrap().account_enabled);
    assert!(find(&w, "gia@contoso.test").await.unwrap().account_enabled);

    let back = bulk(&w, &mut b, &csrf, "unblock", &[&pat]).await;
    assert!(back.body.contains("1 done."));
    assert!(find(&w, "pat@contoso.test").await.unwrap().account_enabled);

    // A user deleted since the list was shown is an outcome, not a failure of the rest.
    delete(&w, &sam).await;
    let stale = bulk(&w, &mut b, &csrf, "revoke", &[&sam, &pat]).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert!(stale.body.contains("This user no longer exists"));
    assert!(stale.body.contains("Sessions revoked"));

    // Without the CSRF token nothing happens.
    let forged = bulk(&w, &mut b, "", "block", &[&pat]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(find(&w, "pat@contoso.test").await.unwrap().account_enabled);
}

async fn bulk_delete_asks_first_then_deletes_into_deleted_users(backend: Backend) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat <i>Example</i>", vec![]).await;
    let sam = user(&w, "sam@contoso.test", "Sam Example", vec![]).await;
    let (mut b, home) = global_admin(&w).await;
    let csrf = admin_csrf(&home);
    let ask = bulk(&w, &mut b, &csrf, "delete", &[&pat, &sam]).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.body.contains("Delete 2 users"));
    assert!(!ask.body.contains("<i>Example"));
    assert!(
        find(&w, "pat@contoso.test").await.is_some(),
        "asked, not done"
    );
    let mut confirm = vec![
        ("csrf", csrf.as_str()),
        ("action", "delete"),
        ("confirm", "yes"),
    ];
    confirm.push(("ids", &pat));
    confirm.push(("ids", &sam));
    let done = b.post(&w.app, "/admin/users/bulk", &confirm).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("2 done."));
    assert!(find(&w, "pat@contoso.test").await.is_none());
    let bin = b.get(&w.app, "/admin/users/deleted").await;
    assert!(bin.body.contains("Sam Example"));
}

async fn bulk_reset_downloads_each_new_password_once_as_csv_and_stores_none(backend: Backend) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "=HYPERLINK(\"http://x\")", vec![]).await;
    let sam = user(&w, "sam@contoso.test", "Sam Example", vec![]).await;
    let gia = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let list = b.get(&w.app, "/admin/users").await;
    assert!(list.body.contains("id=\"bulk-reset\""));
    assert!(
        !list.body.contains("id=\"bulk-delete\""),
        "a helpdesk administrator may not delete"
    );
    let mut form = vec![
        ("csrf", admin_csrf(&home)),
        ("action", "reset".to_owned()),
        ("require_change", "on".to_owned()),
    ];
    for id in [&pat, &sam, &gia] {
        form.push(("ids", id.clone()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let csv = b.post(&w.app, "/admin/users/bulk", &form).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"reset-passwords-")
    );
    assert_eq!(csv.headers[header::CACHE_CONTROL], "no-store");
    let mut rows = csv::Reader::from_reader(csv.body.as_bytes());
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    // The display name starting with '=' is text, not a formula.
    assert_eq!(&rows[0][1], "'=HYPERLINK(\"http://x\")");
    let bytes = stored_bytes(&w).await;
    for (row, upn) in rows
        .iter()
        .take(2)
        .zip(["pat@contoso.test", "sam@contoso.test"])
    {
        assert_eq!(&row[0], upn);
        assert_eq!(&row[3], "Password reset");
        let pw = &row[2];
        assert!(pw.len() >= 16);
        assert!(matches!(
            sign_in_result(&w, upn, pw).await,
            Err(SignInError::MustChangePassword(_))
        ));
        assert!(!contains(&bytes, pw));
        assert!(!contains(&logs().lock().unwrap(), pw));
    }
    // The Global Administrator was refused and keeps their password.
    assert_eq!(&rows[2][0], "gia@contoso.test");
    assert_eq!(&rows[2][2], "");
    assert_ne!(&rows[2][3], "Password reset");
    assert!(sign_in_result(&w, "gia@contoso.test", PW).await.is_ok());
}

async fn bulk_require_change_makes_each_user_change_at_next_sign_in_unless_refused(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let gia = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let list = b.get(&w.app, "/admin/users").await;
    assert!(list.body.contains("id=\"bulk-require\""));
    let done = bulk(
        &w,
        &mut b,
        &admin_csrf(&home),
        "require_change",
        &[&pat, &gia],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("1 done, 1 not done"));
    assert!(
        done.body
            .contains("Must change their password at next sign-in")
    );
    // The password is unchanged; signing in with it now asks for a new one.
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", PW).await,
        Err(SignInError::MustChangePassword(_))
    ));
    assert!(sign_in_result(&w, "gia@contoso.test", PW).await.is_ok());
}

async fn a_license_administrator_assigns_a_licence_to_several_users_and_sees_who_lacks_a_usage_location(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let sku =
        w.h.directory
            .create_sku(
                &Harness::operator(),
                w.h.tenant(),
                NewSku {
                    sku_id: None,
                    sku_part_number: "ENTERPRISEPACK".into(),
                    seats: 5,
                    service_plans: vec![],
                },
            )
            .await
            .unwrap();
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let sam = user(&w, "sam@contoso.test", "Sam Example", vec![]).await;
    w.h.directory
        .update_user(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(pat.parse().unwrap()),
            UserChanges {
                text: vec![(ProfileField::UsageLocation, Some("GB".into()))],
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "lia@contoso.test",
        vec![DirectoryRole::LicenseAdministrator],
    )
    .await;
    let list = b.get(&w.app, "/admin/users").await;
    assert!(list.body.contains("id=\"bulk-assign\""));
    assert!(list.body.contains(">ENTERPRISEPACK</option>"));
    for hidden in ["bulk-reset", "bulk-block", "bulk-delete", "bulk-revoke"] {
        assert!(
            !list.body.contains(hidden),
            "{hidden} shown to a License Administrator"
        );
    }
    let sku_id = sku.sku_id.to_string();
    let done = b
        .post(
            &w.app,
            "/admin/users/bulk",
            &[
                ("csrf", &admin_csrf(&home)),
                ("action", "assign_license"),
                ("sku", &sku_id),
                ("ids", &pat),
                ("ids", &sam),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("1 done, 1 not done"), "{}", done.body);
    assert!(done.body.contains("License assigned"));
    let of = |id: &str| {
        let id = id.parse().unwrap();
        let w = &w;
        async move {
            w.h.directory
                .license_details(&Harness::operator(), w.h.tenant(), &UserRef::Id(id))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(of(&pat).await, 1);
    assert_eq!(of(&sam).await, 0);
}

async fn the_details_pane_offers_only_the_actions_the_viewers_role_allows_on_that_user(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let gia = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let on_pat = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(on_pat.body.contains("id=\"pane-revoke\""));
    assert!(on_pat.body.contains("id=\"pane-require-change\""));
    assert!(!on_pat.body.contains("id=\"pane-block\""));
    assert!(!on_pat.body.contains("id=\"pane-delete\""));
    let on_gia = b.get(&w.app, &format!("/admin/users?user={gia}")).await;
    assert!(!on_gia.body.contains("id=\"pane-actions\""));

    let mut u = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut u,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    let pane = u.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(pane.body.contains("id=\"pane-block\""));
    assert!(pane.body.contains("id=\"pane-delete\""));
    let blocked = bulk(&w, &mut u, &admin_csrf(&home), "block", &[&pat]).await;
    assert!(blocked.body.contains("1 done."));
    let pane = u.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(pane.body.contains("id=\"pane-unblock\""));
}

async fn licences_and_the_manager_are_assigned_from_the_details_pane_and_refusals_are_shown_there(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let sku =
        w.h.directory
            .create_sku(
                &Harness::operator(),
                w.h.tenant(),
                NewSku {
                    sku_id: None,
                    sku_part_number: "ENTERPRISEPACK".into(),
                    seats: 5,
                    service_plans: vec![],
                },
            )
            .await
            .unwrap();
    let sku_id = sku.sku_id.to_string();
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    user(&w, "sam@contoso.test", "Sam <b>Boss</b>", vec![]).await;
    let (mut b, home) = global_admin(&w).await;
    let csrf = admin_csrf(&home);
    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(pane.body.contains("id=\"assign-license-form\""));
    assert!(pane.body.contains("id=\"manager-form\""));
    let licenses = format!("/admin/users/{pat}/licenses");
    let manager = format!("/admin/users/{pat}/manager");

    // Without a usage location core refuses the licence; the pane says so.
    let refused = b
        .post(
            &w.app,
            &licenses,
            &[("csrf", &csrf), ("op", "add"), ("sku", &sku_id)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body.contains("id=\"assign-errors\""));
    assert!(
        refused.body.contains("usage location") || refused.body.contains("usageLocation"),
        "{}",
        refused.body
    );
    w.h.directory
        .update_user(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(pat.parse().unwrap()),
            UserChanges {
                text: vec![(ProfileField::UsageLocation, Some("GB".into()))],
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    let forged = b
        .post(&w.app, &licenses, &[("op", "add"), ("sku", &sku_id)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let added = b
        .post(
            &w.app,
            &licenses,
            &[("csrf", &csrf), ("op", "add"), ("sku", &sku_id)],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.body.contains("The license is assigned."));
    assert!(
        added
            .body
            .contains("<dd id=\"pane-licenses\">ENTERPRISEPACK</dd>")
    );

    let set = b
        .post(
            &w.app,
            &manager,
            &[("csrf", &csrf), ("op", "set"), ("upn", "sam@contoso.test")],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body.contains("Sam &#60;b&#62;Boss") || set.body.contains("Sam &lt;b&gt;Boss"));
    assert!(!set.body.contains("<b>Boss"));
    let nobody = b
        .post(
            &w.app,
            &manager,
            &[
                ("csrf", &csrf),
                ("op", "set"),
                ("upn", "nobody@contoso.test"),
            ],
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert!(
        nobody
            .body
            .contains("Manager: there is no active user named nobody@contoso.test")
    );
    assert!(nobody.body.contains("value=\"nobody@contoso.test\""));
    let sam = find(&w, "sam@contoso.test").await.unwrap();
    let looped = b
        .post(
            &w.app,
            &format!("/admin/users/{}/manager", sam.id),
            &[("csrf", &csrf), ("op", "set"), ("upn", "pat@contoso.test")],
        )
        .await;
    assert_eq!(looped.status, StatusCode::BAD_REQUEST, "{}", looped.body);
    assert!(looped.body.contains("Manager not changed"));

    let removed = b
        .post(&w.app, &manager, &[("csrf", &csrf), ("op", "remove")])
        .await;
    assert!(removed.body.contains("The manager is removed."));
    assert!(removed.body.contains("<dd id=\"pane-manager\">—</dd>"));
    let dropped = b
        .post(
            &w.app,
            &licenses,
            &[("csrf", &csrf), ("op", "remove"), ("sku", &sku_id)],
        )
        .await;
    assert!(dropped.body.contains("The license is removed."));

    // A helpdesk administrator gets neither form, and the server refuses the post.
    let mut h = Browser::at(ADMIN_PUBLIC);
    let hh = admin_signed_in(
        &w,
        &mut h,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let pane = h.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(!pane.body.contains("id=\"assign\""));
    let refused = h
        .post(
            &w.app,
            &manager,
            &[
                ("csrf", &admin_csrf(&hh)),
                ("op", "set"),
                ("upn", "sam@contoso.test"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

async fn authentication_methods_are_listed_in_the_pane_and_removed_by_an_authentication_administrator(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    w.h.directory
        .add_email_method(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(pat.parse().unwrap()),
            "pat.home@example.net",
        )
        .await
        .unwrap();
    let mut u = Browser::at(ADMIN_PUBLIC);
    admin_signed_in(
        &w,
        &mut u,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    let hidden = u.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(
        !hidden.body.contains("id=\"methods\""),
        "a User Administrator does not see methods"
    );

    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "pia@contoso.test",
        vec![DirectoryRole::PrivilegedAuthenticationAdministrator],
    )
    .await;
    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(pane.body.contains("id=\"methods\""));
    assert!(pane.body.contains("pat.home@example.net"));
    assert!(pane.body.contains("Recovery codes: none generated"));
    let at = pane.body.find("/methods/").unwrap();
    let start = pane.body[..at].rfind('"').unwrap() + 1;
    let end = at + pane.body[at..].find('"').unwrap();
    let remove = pane.body[start..end].to_owned();

    let forged = b.post(&w.app, &remove, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("pat.home@example.net"));
    let done = b
        .post(&w.app, &remove, &[("csrf", &admin_csrf(&home))])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("The authentication method is removed."));
    assert!(done.body.contains("id=\"no-methods\""));
    let again = b
        .post(&w.app, &remove, &[("csrf", &admin_csrf(&home))])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("not registered for this user any more"));
}

async fn active_users_filter_by_status_role_licence_and_department_and_sort_by_name(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let sku =
        w.h.directory
            .create_sku(
                &Harness::operator(),
                w.h.tenant(),
                NewSku {
                    sku_id: None,
                    sku_part_number: "ENTERPRISEPACK".into(),
                    seats: 5,
                    service_plans: vec![],
                },
            )
            .await
            .unwrap();
    let amy = user(&w, "amy@contoso.test", "Zed Amy", vec![]).await;
    let bob = user(
        &w,
        "bob@contoso.test",
        "Yan Bob",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let cat = user(&w, "cat@contoso.test", "Xia Cat", vec![]).await;
    let op = Harness::operator();
    w.h.directory
        .update_user(
            &op,
            w.h.tenant(),
            &UserRef::Id(amy.parse().unwrap()),
            UserChanges {
                text: vec![
                    (ProfileField::Department, Some("Finance".into())),
                    (ProfileField::UsageLocation, Some("GB".into())),
                ],
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    w.h.directory
        .update_user(
            &op,
            w.h.tenant(),
            &UserRef::Id(cat.parse().unwrap()),
            UserChanges {
                account_enabled: Some(false),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    w.h.directory
        .assign_licenses(
            &op,
            w.h.tenant(),
            &UserRef::Id(amy.parse().unwrap()),
            latchkey_core::license::LicenseChange {
                add: vec![latchkey_core::license::AssignedLicense {
                    sku_id: sku.sku_id,
                    disabled_plans: vec![],
                }],
                remove: vec![],
            },
        )
        .await
        .unwrap();
    let (mut b, _) = global_admin(&w).await;
    let names = |p: &Page| -> Vec<String> {
        p.body
            .split("class=\"user-link\">")
            .skip(1)
            .map(|s| s[..s.find('<').unwrap()].to_owned())
            .collect()
    };
    let blocked = b.get(&w.app, "/admin/users?status=disabled").await;
    assert_eq!(names(&blocked), vec!["Xia Cat"]);
    assert!(
        blocked
            .body
            .contains("<option value=\"disabled\" selected>")
    );
    let finance = b.get(&w.app, "/admin/users?department=Finance").await;
    assert_eq!(names(&finance), vec!["Zed Amy"]);
    let helpdesk = b
        .get(
            &w.app,
            &format!(
                "/admin/users?role={}",
                DirectoryRole::HelpdeskAdministrator.template_id()
            ),
        )
        .await;
    assert_eq!(names(&helpdesk), vec!["Yan Bob"]);
    let licensed = b
        .get(&w.app, &format!("/admin/users?license={}", sku.sku_id))
        .await;
    assert_eq!(names(&licensed), vec!["Zed Amy"]);
    let by_name = b.get(&w.app, "/admin/users?q=&sort=name&status=").await;
    let sorted = names(&by_name);
    let mut expected = sorted.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    assert!(sorted.len() >= 5);
    let descending = b.get(&w.app, "/admin/users?sort=-name").await;
    let mut reversed = names(&descending);
    reversed.reverse();
    assert_eq!(reversed, sorted);
    // The pane's link keeps the filters.
    let link = finance.link("sort-name").unwrap();
    assert!(
        link.contains("department=Finance") && link.contains("sort=name"),
        "{link}"
    );
    let _ = bob;
}

async fn the_tenant_switcher_signs_in_to_another_organization_and_shows_only_its_users(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    // Created after Contoso, so that Contoso stays the home tenant (the first created).
    w.h.clock.advance(chrono::Duration::seconds(1));
    let fabrikam =
        w.h.directory
            .bootstrap_tenant(
                &latchkey_core::names::DomainName::parse("fabrikam.test").unwrap(),
                "Fabrikam",
                Some(SecretString::from(PW.to_owned())),
            )
            .await
            .unwrap();
    let fab = fabrikam.tenant.id.to_string();
    let (mut b, home) = global_admin(&w).await;
    assert!(home.body.contains("id=\"switch-tenant\""));
    let csrf = admin_csrf(&home);

    let forged = b
        .post(
            &w.app,
            "/admin/tenant",
            &[("organization", "fabrikam.test")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let unknown = b
        .post(
            &w.app,
            "/admin/tenant",
            &[("csrf", &csrf), ("organization", "nowhere.test")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let go = b
        .post(
            &w.app,
            "/admin/tenant",
            &[("csrf", &csrf), ("organization", "fabrikam.test")],
        )
        .await;
    assert_eq!(go.status, StatusCode::SEE_OTHER, "{}", go.body);
    assert!(
        go.location()
            .starts_with(&format!("/{fab}/oauth2/v2.0/authorize?"))
    );
    let page = b.get(&w.app, go.location()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let done = b
        .post(
            &w.app,
            &format!("/{fab}/login"),
            &[
                ("csrf", &page.hidden("csrf")),
                ("request", &page.hidden("request")),
                ("username", "admin@fabrikam.test"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let back = b.get(&w.app, done.location()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let there = b.get(&w.app, "/admin/users").await;
    assert_eq!(there.status, StatusCode::OK, "{}", there.body);
    assert!(there.body.contains("Fabrikam · Admin center"));
    assert!(there.body.contains("admin@fabrikam.test"));
    assert!(!there.body.contains("ada@contoso.test"));

    // Contoso's administrator, switched to Fabrikam, is not signed in there.
    let mut other = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut other,
        "cy@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let go = other
        .post(
            &w.app,
            "/admin/tenant",
            &[("csrf", &admin_csrf(&home)), ("organization", &fab)],
        )
        .await;
    assert_eq!(go.status, StatusCode::SEE_OTHER);
    let list = other.get(&w.app, "/admin/users").await;
    assert_eq!(
        list.status,
        StatusCode::SEE_OTHER,
        "the Contoso session does not open Fabrikam"
    );
    assert!(
        list.location()
            .starts_with(&format!("/{fab}/oauth2/v2.0/authorize?"))
    );
}

async fn an_administrator_edits_a_user_in_the_pane_and_a_stale_or_bad_form_changes_nothing(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let (mut b, _) = global_admin(&w).await;
    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    let edit = pane.link("edit-user").unwrap();
    let form = b.get(&w.app, &edit).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(form.input("edit-display"), "Pat Example");
    let action = format!("/admin/users/{pat}/edit");
    let post = |fields: Vec<(&'static str, String)>| {
        let mut all = vec![
            ("csrf", form.hidden("csrf")),
            ("version", form.hidden("version")),
        ];
        all.extend(fields);
        all
    };
    let bad = post(vec![
        ("display", "Pat Example".into()),
        ("usage_location", "G1".into()),
    ]);
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post(&w.app, &action, &bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Usage location: must be a two-letter country code")
    );
    assert!(refused.body.contains("value=\"G1\""));

    let forged = b
        .post(
            &w.app,
            &action,
            &[("version", &form.hidden("version")), ("display", "Forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let good = post(vec![
        ("display", "Pat <i>Renamed</i>".into()),
        ("department", "Finance".into()),
        ("usage_location", "gb".into()),
    ]);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = b.post(&w.app, &action, &good).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(
        saved.body.contains("The user&#39;s details are saved")
            || saved.body.contains("The user&#x27;s details are saved"),
        "{}",
        saved.body
    );
    assert!(!saved.body.contains("<i>Renamed"));
    let now = find(&w, "pat@contoso.test").await.unwrap();
    assert_eq!(now.display_name.as_str(), "Pat <i>Renamed</i>");
    assert_eq!(now.profile.department.as_deref(), Some("Finance"));
    assert_eq!(now.profile.usage_location.as_deref(), Some("GB"));

    // The same form again is older than the user now.
    let again = post(vec![("display", "Someone Else".into())]);
    let again: Vec<(&str, &str)> = again.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stale = b.post(&w.app, &action, &again).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(stale.body.contains("changed since this form was opened"));
    assert_eq!(
        find(&w, "pat@contoso.test")
            .await
            .unwrap()
            .display_name
            .as_str(),
        "Pat <i>Renamed</i>"
    );

    let mut h = Browser::at(ADMIN_PUBLIC);
    let hh = admin_signed_in(
        &w,
        &mut h,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let pane = h.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(!pane.body.contains("id=\"edit-user\""));
    assert_eq!(h.get(&w.app, &action).await.status, StatusCode::FORBIDDEN);
    let version = find(&w, "pat@contoso.test")
        .await
        .unwrap()
        .version
        .to_string();
    let refused = h
        .post(
            &w.app,
            &action,
            &[
                ("csrf", &admin_csrf(&hh)),
                ("version", &version),
                ("display", "Helpdesk Was Here"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        find(&w, "pat@contoso.test")
            .await
            .unwrap()
            .display_name
            .as_str(),
        "Pat <i>Renamed</i>"
    );
}

// ---------------------------------------------------------------------------------------
// Unlock.

/// Ten wrong passwords in a row: smart lockout's threshold.
async fn lock_out(w: &World, upn: &str) {
    for _ in 0..10 {
        assert!(matches!(
            sign_in_result(w, upn, "Not-The-Password-1").await,
            Err(SignInError::WrongPassword | SignInError::Locked)
        ));
    }
    assert!(matches!(
        sign_in_result(w, upn, PW).await,
        Err(SignInError::Locked)
    ));
}

async fn a_locked_out_user_is_unlocked_from_the_details_pane_and_signs_in_at_once(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let gia = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let (mut b, _) = global_admin(&w).await;
    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(
        !pane.body.contains("id=\"pane-unlock\""),
        "not locked: no Unlock"
    );
    assert!(!pane.body.contains("id=\"pane-locked\""));

    lock_out(&w, "pat@contoso.test").await;
    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(pane.body.contains("id=\"pane-unlock\""), "{}", pane.body);
    assert!(
        pane.body
            .contains("Locked out after too many failed sign-ins until 2026-11-24 09:01 UTC")
    );
    let csrf = admin_csrf(&pane);

    // Without the CSRF token nothing happens.
    let forged = bulk(&w, &mut b, "", "unlock", &[&pat]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", PW).await,
        Err(SignInError::Locked)
    ));

    let done = bulk(&w, &mut b, &csrf, "unlock", &[&pat]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Unlocked: may sign in again"),
        "{}",
        done.body
    );
    let audits = w.h.store.list_audit_events(w.h.tenant(), 20).await.unwrap();
    let unlocks: Vec<_> = audits
        .iter()
        .filter(|a| a.activity == "Unlock user")
        .collect();
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0].target_id.as_deref(), Some(pat.as_str()));
    assert_eq!(unlocks[0].initiated_by.display, "ada@contoso.test");
    // The failures were cleared too: the right password works at once, and so would nine
    // more wrong ones without locking again.
    sign_in_result(&w, "pat@contoso.test", PW).await.unwrap();
    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(!pane.body.contains("id=\"pane-unlock\""));

    // Unlocking again changes nothing and says so; no second audit event.
    let again = bulk(&w, &mut b, &csrf, "unlock", &[&pat]).await;
    assert!(
        again.body.contains("Was not locked: nothing changed"),
        "{}",
        again.body
    );
    let audits = w.h.store.list_audit_events(w.h.tenant(), 20).await.unwrap();
    assert_eq!(
        audits
            .iter()
            .filter(|a| a.activity == "Unlock user")
            .count(),
        1
    );

    // A lock that ran out is no lock.
    lock_out(&w, "gia@contoso.test").await;
    w.h.clock.advance(chrono::Duration::minutes(2));
    let pane = b.get(&w.app, &format!("/admin/users?user={gia}")).await;
    assert!(!pane.body.contains("id=\"pane-unlock\""));
}

async fn a_helpdesk_administrator_cannot_unlock_a_global_administrator(backend: Backend) {
    let w = admin_world(backend).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let gia = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    lock_out(&w, "pat@contoso.test").await;
    lock_out(&w, "gia@contoso.test").await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    admin_signed_in(
        &w,
        &mut b,
        "hal@contoso.test",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let pane = b.get(&w.app, &format!("/admin/users?user={gia}")).await;
    assert!(
        pane.body.contains("id=\"pane-locked\""),
        "the lock is shown"
    );
    assert!(!pane.body.contains("id=\"pane-unlock\""), "but no Unlock");
    let csrf = admin_csrf(&pane);
    let refused = bulk(&w, &mut b, &csrf, "unlock", &[&gia, &pat]).await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
    assert!(
        refused.body.contains("1 done, 1 not done"),
        "{}",
        refused.body
    );
    assert!(matches!(
        sign_in_result(&w, "gia@contoso.test", PW).await,
        Err(SignInError::Locked)
    ));
    sign_in_result(&w, "pat@contoso.test", PW).await.unwrap();
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
    deleted_users_are_listed_and_restored_and_a_taken_user_name_is_explained,
    a_helpdesk_administrator_sees_deleted_users_without_restore_and_cannot_restore,
    an_administrator_adds_a_user_whose_generated_password_is_shown_once_and_must_be_changed,
    bad_input_in_add_user_names_the_field_keeps_what_was_typed_but_never_the_passwords,
    a_new_user_gets_the_chosen_role_and_licence_and_a_licence_needs_a_usage_location,
    a_helpdesk_administrator_can_neither_open_nor_submit_add_user,
    bulk_block_reports_each_user_and_one_refusal_does_not_stop_the_others,
    bulk_delete_asks_first_then_deletes_into_deleted_users,
    bulk_reset_downloads_each_new_password_once_as_csv_and_stores_none,
    bulk_require_change_makes_each_user_change_at_next_sign_in_unless_refused,
    a_license_administrator_assigns_a_licence_to_several_users_and_sees_who_lacks_a_usage_location,
    the_details_pane_offers_only_the_actions_the_viewers_role_allows_on_that_user,
    licences_and_the_manager_are_assigned_from_the_details_pane_and_refusals_are_shown_there,
    authentication_methods_are_listed_in_the_pane_and_removed_by_an_authentication_administrator,
    active_users_filter_by_status_role_licence_and_department_and_sort_by_name,
    the_tenant_switcher_signs_in_to_another_organization_and_shows_only_its_users,
    an_administrator_edits_a_user_in_the_pane_and_a_stale_or_bad_form_changes_nothing,
    a_locked_out_user_is_unlocked_from_the_details_pane_and_signs_in_at_once,
    a_helpdesk_administrator_cannot_unlock_a_global_administrator,
);
