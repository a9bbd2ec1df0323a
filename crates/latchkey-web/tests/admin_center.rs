//! The admin center end to end through the real routers (the identity platform's and the
//! admin center's), in process, as a browser sees it: sign-in through the authorization code
//! flow with PKCE, the user list and its search, the details pane, the password reset, and
//! every refusal (no administrator role, a role that may not act on the target, CSRF, stale
//! forms, mismatched or weak passwords, markup in names).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use chrono::Duration;
use latchkey_core::delivery::DeliverySettings;
use latchkey_core::directory::{ClientRef, NewUser, PasswordChoice, SignInError};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_testkit::browser::{Browser, Page, unescape};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;
use support::{PW, World, contains, logs, stored_bytes, user};

mod support;

const PUBLIC: &str = "https://admin.contoso.test";

async fn world(backend: Backend) -> World {
    world_with(backend, DeliverySettings::default()).await
}

/// A world whose server sends mail (so the reset form offers delivery by e-mail).
async fn world_sending_mail(backend: Backend) -> World {
    world_with(
        backend,
        DeliverySettings {
            mail_enabled: true,
            ..DeliverySettings::default()
        },
    )
    .await
}

async fn world_with(backend: Backend, delivery: DeliverySettings) -> World {
    logs();
    let mut h = Harness::new(backend).await;
    h.directory = h.directory.clone().with_delivery_settings(delivery);
    let app = support::app(&h, PUBLIC);
    World { h, app }
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

/// Goes to `/admin` and signs in on the identity platform's page; returns what the admin
/// center answers after the callback (following its redirect to the home page).
async fn sign_in(w: &World, b: &mut Browser, upn: &str) -> Page {
    let start = b.get(&w.app, "/admin").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    assert!(start.location().contains("/oauth2/v2.0/authorize?"));
    assert!(start.location().contains("code_challenge_method=S256"));
    let page = b.get(&w.app, start.location()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Latchkey admin center"));
    let csrf = page.hidden("csrf");
    let request = page.hidden("request");
    let done = b
        .post(
            &w.app,
            &format!("/{}/login", w.h.tenant()),
            &[
                ("csrf", csrf.as_str()),
                ("request", request.as_str()),
                ("username", upn),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert!(
        done.location()
            .starts_with(&format!("{PUBLIC}/admin/callback?"))
    );
    let back = b.get(&w.app, done.location()).await;
    if back.status != StatusCode::SEE_OTHER {
        return back;
    }
    assert_eq!(back.location(), "/admin");
    b.get(&w.app, "/admin").await
}

async fn admin(w: &World, b: &mut Browser) {
    user(
        w,
        "ada@contoso.test",
        "Ada Admin",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let home = sign_in(w, b, "ada@contoso.test").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
}

async fn an_administrator_signs_in_through_the_identity_platform_with_a_locked_down_session_cookie(
    backend: Backend,
) {
    let w = world(backend).await;
    user(
        &w,
        "ada@contoso.test",
        "Ada Admin",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let mut b = Browser::at(PUBLIC);
    let start = b.get(&w.app, "/admin").await;
    let flow = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("lk_admin_flow="))
        .unwrap();
    assert!(flow.contains("HttpOnly") && flow.contains("Path=/admin"));

    let mut b = Browser::at(PUBLIC);
    let home = sign_in(&w, &mut b, "ada@contoso.test").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body
            .contains("Signed in as <strong>ada@contoso.test</strong>")
    );
    assert!(home.body.contains("Global Administrator"));
    assert!(home.body.contains("Active users"));
    let csp = home.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    // Our own script and fetches to ourselves, nothing inline, nothing from elsewhere.
    assert!(csp.contains("default-src 'none'"));
    assert!(csp.contains("script-src 'self';") && csp.contains("connect-src 'self';"));
    assert!(!csp.contains("unsafe"));
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        home.body.matches("<script").count(),
        home.body
            .matches("<script src=\"/admin/assets/admin.js\" defer></script>")
            .count()
    );
    let script = b.get(&w.app, "/admin/assets/admin.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.body.contains("password-check") || script.body.contains("data-check"));
    let session = b.cookies.get("lk_admin").unwrap();
    assert!(session.len() >= 40);

    // The session cookie is HttpOnly, SameSite=Lax, Secure on https, for /admin only.
    let mut again = Browser::at(PUBLIC);
    let start = again.get(&w.app, "/admin").await;
    let page = again.get(&w.app, start.location()).await;
    let done = again
        .post(
            &w.app,
            &format!("/{}/login", w.h.tenant()),
            &[
                ("csrf", &page.hidden("csrf")),
                ("request", &page.hidden("request")),
                ("username", "ada@contoso.test"),
                ("password", PW),
            ],
        )
        .await;
    let back = again.get(&w.app, done.location()).await;
    let set = back
        .set_cookies
        .iter()
        .find(|c| c.starts_with("lk_admin="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/admin"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Max-Age"), "a session cookie: {set}");

    // Both sign-ins used the one client the first registered: a public client with the
    // callback as its only redirect URI.
    let apps = w.h.store.list_apps(w.h.tenant()).await.unwrap();
    let ours: Vec<_> = apps
        .iter()
        .filter(|a| a.display_name == latchkey_core::directory::ADMIN_CENTER_APP_NAME)
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].public_client && ours[0].secrets.is_empty());
    assert_eq!(
        ours[0].redirect_uris,
        vec![format!("{PUBLIC}/admin/callback")]
    );
}

async fn a_callback_with_another_browsers_state_or_a_replayed_code_signs_nobody_in(
    backend: Backend,
) {
    let w = world(backend).await;
    user(
        &w,
        "ada@contoso.test",
        "Ada Admin",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let mut victim = Browser::at(PUBLIC);
    let start = victim.get(&w.app, "/admin").await;
    let page = victim.get(&w.app, start.location()).await;
    let done = victim
        .post(
            &w.app,
            &format!("/{}/login", w.h.tenant()),
            &[
                ("csrf", &page.hidden("csrf")),
                ("request", &page.hidden("request")),
                ("username", "ada@contoso.test"),
                ("password", PW),
            ],
        )
        .await;
    // Another browser (its own flow cookie) presenting the victim's callback gets nothing.
    let mut attacker = Browser::at(PUBLIC);
    attacker.get(&w.app, "/admin").await;
    let stolen = attacker.get(&w.app, done.location()).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert!(!attacker.cookies.contains_key("lk_admin"));

    // The right browser gets in once; replaying the callback (with the same flow cookie)
    // does not make a second session.
    let mut replay = Browser {
        cookies: victim.cookies.clone(),
        ..Browser::at(PUBLIC)
    };
    let ok = victim.get(&w.app, done.location()).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/admin");
    let again = replay.get(&w.app, done.location()).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("expired or was already used"));
    assert!(!replay.cookies.contains_key("lk_admin"));

    // A browser that keeps no cookies gets a page saying so, not a redirect loop.
    let mut cookieless = Browser::at(PUBLIC);
    let lost = cookieless.get(&w.app, done.location()).await;
    assert_eq!(lost.status, StatusCode::BAD_REQUEST);
    assert!(lost.body.contains("does not keep cookies"));
}

async fn a_user_without_an_administrator_role_is_told_they_need_one_and_gets_no_session(
    backend: Backend,
) {
    let w = world(backend).await;
    user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let mut b = Browser::at(PUBLIC);
    let page = sign_in(&w, &mut b, "pat@contoso.test").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("You need an administrator role"));
    assert!(!b.cookies.contains_key("lk_admin"));
    // Nor can they reach a list by typing its address.
    let list = b.get(&w.app, "/admin/users").await;
    assert_eq!(list.status, StatusCode::SEE_OTHER);
    assert!(list.location().contains("/oauth2/v2.0/authorize"));
}

async fn active_users_are_listed_searched_with_a_plain_get_and_paged(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    for i in 0..27 {
        user(
            &w,
            &format!("member{i:02}@contoso.test"),
            &format!("Member {i:02}"),
            vec![],
        )
        .await;
    }
    user(&w, "zoe@contoso.test", "Zoe Quartz", vec![]).await;

    let list = b.get(&w.app, "/admin/users").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.matches("class=\"user-link\"").count(), 25);
    assert!(list.body.contains("id=\"next-page\""));
    let next = unescape(
        list.body
            .split("href=\"")
            .find(|s| s.contains("after="))
            .unwrap()
            .split('"')
            .next()
            .unwrap(),
    );
    let second = b.get(&w.app, &next).await;
    assert_eq!(second.status, StatusCode::OK);
    // 27 members, the admin, Zoe and the bootstrap administrator: 30 in all.
    let total = 25 + second.body.matches("class=\"user-link\"").count();
    let everyone =
        w.h.directory
            .count_users(&Harness::operator(), w.h.tenant(), &Default::default())
            .await
            .unwrap();
    assert_eq!(total as u64, everyone);

    let found = b.get(&w.app, "/admin/users?q=zoe").await;
    assert!(found.body.contains("zoe@contoso.test"));
    assert_eq!(found.body.matches("class=\"user-link\"").count(), 1);
    assert!(found.body.contains("value=\"zoe\""));
    let by_name = b.get(&w.app, "/admin/users?q=Member+1").await;
    assert_eq!(by_name.body.matches("class=\"user-link\"").count(), 10);
    let none = b.get(&w.app, "/admin/users?q=nobody").await;
    assert!(none.body.contains("No users match."));

    let forged = b.get(&w.app, "/admin/users?after=not-a-cursor").await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
}

async fn the_details_pane_shows_the_user_beside_the_list_with_reset_for_a_global_administrator(
    backend: Backend,
) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let list = b.get(&w.app, "/admin/users?q=pat").await;
    assert!(list.body.contains(&format!("user={id}")));
    let pane = b
        .get(&w.app, &format!("/admin/users?q=pat&user={id}"))
        .await;
    assert_eq!(pane.status, StatusCode::OK);
    assert!(pane.body.contains("id=\"pane\""));
    assert!(
        pane.body.contains("id=\"users\""),
        "the list stays beside it"
    );
    assert!(
        pane.body
            .contains("<dd id=\"pane-upn\">pat@contoso.test</dd>")
    );
    assert!(pane.body.contains("No administrator roles"));
    assert!(pane.body.contains("Last password change"));
    assert!(pane.body.contains("id=\"reset-password\""));

    let unknown = b
        .get(
            &w.app,
            "/admin/users?user=00000000-0000-0000-0000-000000000001",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = b.get(&w.app, "/admin/users?user=nonsense").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn a_helpdesk_administrator_neither_sees_nor_can_use_reset_on_a_global_administrator(
    backend: Backend,
) {
    let w = world(backend).await;
    user(
        &w,
        "hal@contoso.test",
        "Hal Helpdesk",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let boss = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let mut b = Browser::at(PUBLIC);
    let home = sign_in(&w, &mut b, "hal@contoso.test").await;
    assert_eq!(home.status, StatusCode::OK);

    let pane = b.get(&w.app, &format!("/admin/users?user={boss}")).await;
    assert!(pane.body.contains("Global Administrator"));
    assert!(!pane.body.contains("id=\"reset-password\""));
    let ordinary = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(ordinary.body.contains("id=\"reset-password\""));

    let form = b
        .get(&w.app, &format!("/admin/users/{boss}/reset-password"))
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    // Even a hand-made post with a valid CSRF token is refused, and nothing changes.
    let csrf = ordinary.hidden("csrf");
    let target =
        w.h.directory
            .find_active_user(
                w.h.tenant(),
                boss.parse::<uuid::Uuid>()
                    .map(latchkey_core::ids::UserId::from_uuid)
                    .unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
    let posted = b
        .post(
            &w.app,
            &format!("/admin/users/{boss}/reset-password"),
            &[
                ("csrf", &csrf),
                ("version", &target.version.to_string()),
                ("mode", "auto"),
                ("require_change", "on"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(sign_in_result(&w, "gia@contoso.test", PW).await.is_ok());
}

async fn reset_form(w: &World, b: &mut Browser, id: &str) -> Page {
    let form = b
        .get(&w.app, &format!("/admin/users/{id}/reset-password?q=pat"))
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    form
}

async fn post_reset(
    w: &World,
    b: &mut Browser,
    id: &str,
    form: &Page,
    fields: &[(&str, &str)],
) -> Page {
    let csrf = form.hidden("csrf");
    let version = form.hidden("version");
    let mut all = vec![("csrf", csrf.as_str()), ("version", version.as_str())];
    all.extend_from_slice(fields);
    b.post(
        &w.app,
        &format!("/admin/users/{id}/reset-password?q=pat"),
        &all,
    )
    .await
}

async fn check(w: &World, b: &mut Browser, id: &str, csrf: &str, candidate: &str) -> Page {
    b.post(
        &w.app,
        &format!("/admin/users/{id}/password-check"),
        &[("csrf", csrf), ("password", candidate)],
    )
    .await
}

fn rules(page: &Page) -> Vec<String> {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(page.headers[header::CONTENT_TYPE], "application/json");
    let v: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            assert!(!x["message"].as_str().unwrap().is_empty());
            x["rule"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn live_feedback_names_the_unmet_rules_of_the_tenants_own_policy_for_whoever_may_reset(
    backend: Backend,
) {
    let w = world(backend).await;
    let mut policy =
        w.h.store
            .find_tenant(w.h.tenant())
            .await
            .unwrap()
            .unwrap()
            .password_policy;
    policy.min_length = 12;
    policy.generated_length = 16;
    policy.min_character_categories = 4;
    w.h.directory
        .update_password_policy(&Harness::operator(), w.h.tenant(), policy)
        .await
        .unwrap();
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let boss = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let form = reset_form(&w, &mut b, &pat).await;
    // The hint states this tenant's rules, and the form says where the script checks.
    assert!(
        form.body
            .contains("Use 12 to 256 characters with all four of"),
        "{}",
        form.body
    );
    assert!(
        form.body
            .contains(&format!("data-check=\"/admin/users/{pat}/password-check\""))
    );
    let csrf = form.hidden("csrf");

    let short = check(&w, &mut b, &pat, &csrf, "amber-falcon").await;
    assert_eq!(
        rules(&short),
        vec!["characterCategories".to_owned()],
        "12 characters but no upper case or digit"
    );
    let shorter = check(&w, &mut b, &pat, &csrf, "Pat-Ex9").await;
    let r = rules(&shorter);
    assert!(r.contains(&"minLength".to_owned()), "{r:?}");
    let named = check(&w, &mut b, &pat, &csrf, "Example-Harbour-71").await;
    assert!(rules(&named).contains(&"noUserName".to_owned()));
    let good = check(&w, &mut b, &pat, &csrf, "Amber-Falcon-Ridge-31").await;
    assert_eq!(rules(&good), Vec::<String>::new());

    // A forged check (no token) is refused and says nothing about the candidate.
    let forged = check(&w, &mut b, &pat, "", "Pat-Ex9").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!forged.body.contains("violations"));

    // Checking changed nothing: the old password still signs in.
    assert!(sign_in_result(&w, "pat@contoso.test", PW).await.is_ok());

    // A Helpdesk Administrator gets feedback for an ordinary user, not for a Global
    // Administrator whose password they may not reset.
    user(
        &w,
        "hal@contoso.test",
        "Hal Helpdesk",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let mut hb = Browser::at(PUBLIC);
    sign_in(&w, &mut hb, "hal@contoso.test").await;
    let hal_form = reset_form(&w, &mut hb, &pat).await;
    let hal_csrf = hal_form.hidden("csrf");
    assert_eq!(
        rules(&check(&w, &mut hb, &pat, &hal_csrf, "Amber-Falcon-Ridge-31").await),
        Vec::<String>::new()
    );
    let refused = check(&w, &mut hb, &boss, &hal_csrf, "amber").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(!refused.body.contains("violations"));

    // No candidate reaches a log line.
    let logged = logs().lock().unwrap().clone();
    for candidate in ["Amber-Falcon-Ridge-31", "Example-Harbour-71", "Pat-Ex9"] {
        assert!(!contains(&logged, candidate), "{candidate} was logged");
    }
}

async fn an_automatic_reset_shows_the_password_once_and_the_user_must_change_it(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;

    let form = reset_form(&w, &mut b, &id).await;
    assert!(form.body.contains("Automatically create a password"));
    assert!(form.body.contains("Let me create the password"));
    assert!(form.body.contains("id=\"mode-auto\" checked"));
    assert!(form.body.contains("id=\"require-change\" checked"));
    assert!(
        form.body
            .contains("Require this user to change their password when they first sign in")
    );

    let done = post_reset(
        &w,
        &mut b,
        &id,
        &form,
        &[("mode", "auto"), ("require_change", "on")],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.headers[header::CACHE_CONTROL], "no-store");
    assert!(done.body.contains("will not be shown again"));
    let password = done.input("new-password");
    assert!(password.len() >= 16);
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", &password).await,
        Err(SignInError::MustChangePassword(_))
    ));
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", PW).await,
        Err(SignInError::WrongPassword)
    ));

    assert!(
        !contains(&stored_bytes(&w).await, &password),
        "the generated password is stored nowhere in plaintext"
    );

    let logged = logs().lock().unwrap().clone();
    assert!(!logged.is_empty(), "the capture works");
    assert!(
        !contains(&logged, &password),
        "the password is in no log line"
    );

    // The one password operation ran as the administrator, on the admin center's channel.
    let audit =
        w.h.store
            .list_audit_events(w.h.tenant(), 100)
            .await
            .unwrap();
    let reset = audit
        .iter()
        .find(|e| e.activity == "Reset user password" && e.target_id.as_deref() == Some(&id))
        .unwrap();
    assert_eq!(reset.channel, latchkey_core::authz::Channel::AdminCenter);
    assert_eq!(reset.initiated_by.display, "ada@contoso.test");
    assert!(
        reset
            .details
            .contains(&("passwordMethod".into(), "generated".into()))
    );
    assert!(
        reset
            .details
            .contains(&("forceChangePasswordNextSignIn".into(), "true".into()))
    );

    // A reload re-posts the same form: refused as stale, the password nowhere.
    let reload = post_reset(
        &w,
        &mut b,
        &id,
        &form,
        &[("mode", "auto"), ("require_change", "on")],
    )
    .await;
    assert_eq!(reload.status, StatusCode::CONFLICT);
    assert!(reload.body.contains("changed since this form was opened"));
    assert!(!reload.body.contains(&password));
    for page in [
        format!("/admin/users?user={id}"),
        format!("/admin/users/{id}/reset-password"),
        "/admin".to_owned(),
    ] {
        let p = b.get(&w.app, &page).await;
        assert!(!p.body.contains(&password), "{page} shows the password");
    }
    // Still the generated one: the reload applied nothing.
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", &password).await,
        Err(SignInError::MustChangePassword(_))
    ));
}

async fn a_typed_password_must_match_and_pass_the_policy_and_a_refusal_applies_nothing(
    backend: Backend,
) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let form = reset_form(&w, &mut b, &id).await;

    let mismatch = post_reset(
        &w,
        &mut b,
        &id,
        &form,
        &[
            ("mode", "typed"),
            ("password", "Amber-Falcon-Ridge-31"),
            ("confirm", "Amber-Falcon-Ridge-13"),
        ],
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(
        mismatch.body.contains("The passwords don&#39;t match")
            || mismatch.body.contains("The passwords don't match")
    );
    assert!(!mismatch.body.contains("Amber-Falcon"), "never echoed");
    assert!(
        mismatch.body.contains("id=\"mode-typed\" checked"),
        "choices kept"
    );
    assert!(
        !mismatch.body.contains("id=\"require-change\" checked"),
        "choices kept"
    );
    assert!(sign_in_result(&w, "pat@contoso.test", PW).await.is_ok());

    let weak = post_reset(
        &w,
        &mut b,
        &id,
        &mismatch,
        &[
            ("mode", "typed"),
            ("password", "patpatpat"),
            ("confirm", "patpatpat"),
            ("require_change", "on"),
        ],
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("id=\"reset-errors\""));
    // Each rule it breaks is named.
    assert!(
        weak.body
            .contains("characters from at least 3 of these groups"),
        "{}",
        weak.body
    );
    assert!(weak.body.contains("sign-in name or parts of their name"));
    assert!(!weak.body.contains("patpatpat"));
    assert!(sign_in_result(&w, "pat@contoso.test", PW).await.is_ok());

    let good = post_reset(
        &w,
        &mut b,
        &id,
        &weak,
        &[
            ("mode", "typed"),
            ("password", "Amber-Falcon-Ridge-31"),
            ("confirm", "Amber-Falcon-Ridge-31"),
        ],
    )
    .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    assert!(!good.body.contains("Amber-Falcon"));
    assert!(!good.body.contains("id=\"new-password\""));
    assert!(
        sign_in_result(&w, "pat@contoso.test", "Amber-Falcon-Ridge-31")
            .await
            .is_ok(),
        "no change required: the box was unticked"
    );
}

async fn a_reset_without_the_csrf_token_or_from_another_session_changes_nothing(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let form = reset_form(&w, &mut b, &id).await;
    let version = form.hidden("version");
    for csrf in [None, Some("forged-token")] {
        let mut fields = vec![
            ("version", version.as_str()),
            ("mode", "auto"),
            ("require_change", "on"),
        ];
        if let Some(c) = csrf {
            fields.push(("csrf", c));
        }
        let r = b
            .post(
                &w.app,
                &format!("/admin/users/{id}/reset-password"),
                &fields,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.body
                .contains("This form has expired or did not come from the admin center")
        );
        assert!(!r.body.contains("id=\"new-password\""));
    }
    assert!(sign_in_result(&w, "pat@contoso.test", PW).await.is_ok());

    // Signing out needs the token too.
    let out = b.post(&w.app, "/admin/signout", &[]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get(&w.app, "/admin").await.status, StatusCode::OK);
}

async fn markup_in_a_display_name_renders_as_text(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(
        &w,
        "mallory@contoso.test",
        "<script>alert(1)</script>",
        vec![],
    )
    .await;
    for page in [
        "/admin/users".to_owned(),
        format!("/admin/users?user={id}"),
        format!("/admin/users/{id}/reset-password"),
        "/admin/users?q=%3Cscript%3E".to_owned(),
    ] {
        let p = b.get(&w.app, &page).await;
        // The one script tag is our own file's; the name adds none.
        let ours = "<script src=\"/admin/assets/admin.js\" defer></script>";
        assert_eq!(p.body.matches(ours).count(), 1, "{page}");
        assert!(
            !p.body.replace(ours, "").contains("<script"),
            "{page}: {}",
            p.body
        );
    }
    let p = b.get(&w.app, &format!("/admin/users?user={id}")).await;
    assert!(
        p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || p.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        p.body
    );
}

async fn signing_out_ends_the_admin_session_and_the_sign_in_session(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let stolen = b.cookies.get("lk_admin").unwrap().clone();
    let home = b.get(&w.app, "/admin").await;
    let out = b
        .post(&w.app, "/admin/signout", &[("csrf", &home.hidden("csrf"))])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.location().ends_with("/oauth2/v2.0/logout"));
    assert!(!b.cookies.contains_key("lk_admin"));
    let signed_out = b.get(&w.app, out.location()).await;
    assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.body);

    // The old cookie is dead on the server, not just forgotten by the browser.
    let mut replay = Browser::at(PUBLIC);
    replay.cookies.insert("lk_admin".into(), stolen);
    let r = replay.get(&w.app, "/admin").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().contains("/oauth2/v2.0/authorize"));
    // And /admin asks for a password again rather than reusing a sign-in session.
    let again = b.get(&w.app, "/admin").await;
    let page = b.get(&w.app, again.location()).await;
    assert!(page.body.contains("name=\"password\""));
}

async fn the_admin_session_dies_when_the_administrators_sessions_are_revoked(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    w.h.clock.advance(Duration::seconds(5));
    w.h.directory
        .revoke_sign_in_sessions(
            &Harness::operator(),
            w.h.tenant(),
            &latchkey_core::directory::UserRef::parse("ada@contoso.test").unwrap(),
        )
        .await
        .unwrap();
    let r = b.get(&w.app, "/admin/users").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().contains("/oauth2/v2.0/authorize"));
}

async fn an_administrator_whose_roles_are_removed_is_shut_out_on_the_next_request(
    backend: Backend,
) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    w.h.directory
        .set_user_roles(
            &Harness::operator(),
            w.h.tenant(),
            &latchkey_core::directory::UserRef::parse("ada@contoso.test").unwrap(),
            vec![],
        )
        .await
        .unwrap();
    let r = b.get(&w.app, "/admin/users").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("You need an administrator role"));
    assert!(!r.body.contains("id=\"users\""));
    // They can still sign out from there.
    let out = b
        .post(&w.app, "/admin/signout", &[("csrf", &r.hidden("csrf"))])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
}

async fn the_details_pane_shows_licences_and_manager_and_the_licences_page_counts_seats(
    backend: Backend,
) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let op = Harness::operator();
    let tenant = w.h.tenant();
    let sku =
        w.h.directory
            .create_sku(
                &op,
                tenant,
                latchkey_core::license::NewSku {
                    sku_id: None,
                    sku_part_number: "ENTERPRISEPACK".into(),
                    seats: 1,
                    service_plans: vec!["TEAMS1".into()],
                },
            )
            .await
            .unwrap();
    let boss = user(&w, "boss@contoso.test", "Bea <Boss>", vec![]).await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let pat_ref = latchkey_core::directory::UserRef::Id(pat.parse().unwrap());
    w.h.directory
        .update_user(
            &op,
            tenant,
            &pat_ref,
            latchkey_core::directory::UserChanges {
                text: vec![(
                    latchkey_core::directory::ProfileField::UsageLocation,
                    Some("GB".into()),
                )],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.h.directory
        .assign_licenses(
            &op,
            tenant,
            &pat_ref,
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
    w.h.directory
        .set_manager(&op, tenant, &pat_ref, boss.parse().unwrap())
        .await
        .unwrap();

    let pane = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert_eq!(pane.status, StatusCode::OK, "{}", pane.body);
    assert!(
        pane.body
            .contains("<dd id=\"pane-licenses\">ENTERPRISEPACK</dd>"),
        "{}",
        pane.body
    );
    assert!(
        pane.body
            .contains("<dd id=\"pane-manager\">Bea &#60;Boss&#62; (boss@contoso.test)</dd>"),
        "escaped: {}",
        pane.body
    );
    let pane = b.get(&w.app, &format!("/admin/users?user={boss}")).await;
    assert!(pane.body.contains("<dd id=\"pane-licenses\">—</dd>"));
    assert!(pane.body.contains("<dd id=\"pane-manager\">—</dd>"));

    let page = b.get(&w.app, "/admin/licenses").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("id=\"nav-licenses\" aria-current=\"page\"")
    );
    assert!(page.body.contains("ENTERPRISEPACK"));
    assert!(page.body.contains("<td class=\"sku-used\">1 of 1</td>"));
    assert!(page.body.contains("None left"));
    assert!(page.body.contains("TEAMS1"));

    // Without an admin session the page is the sign-in, never the list.
    let stranger = Browser::at(PUBLIC).get(&w.app, "/admin/licenses").await;
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
    live_feedback_names_the_unmet_rules_of_the_tenants_own_policy_for_whoever_may_reset,
    an_administrator_whose_roles_are_removed_is_shut_out_on_the_next_request,
    an_administrator_signs_in_through_the_identity_platform_with_a_locked_down_session_cookie,
    a_callback_with_another_browsers_state_or_a_replayed_code_signs_nobody_in,
    a_user_without_an_administrator_role_is_told_they_need_one_and_gets_no_session,
    active_users_are_listed_searched_with_a_plain_get_and_paged,
    the_details_pane_shows_the_user_beside_the_list_with_reset_for_a_global_administrator,
    a_helpdesk_administrator_neither_sees_nor_can_use_reset_on_a_global_administrator,
    an_automatic_reset_shows_the_password_once_and_the_user_must_change_it,
    a_typed_password_must_match_and_pass_the_policy_and_a_refusal_applies_nothing,
    a_reset_without_the_csrf_token_or_from_another_session_changes_nothing,
    markup_in_a_display_name_renders_as_text,
    signing_out_ends_the_admin_session_and_the_sign_in_session,
    the_admin_session_dies_when_the_administrators_sessions_are_revoked,
    an_administrator_sends_a_view_once_link_that_reveals_the_password_once,
    delivery_by_email_is_offered_only_when_the_server_sends_mail,
    a_recipient_that_is_not_the_users_own_is_refused_and_nothing_changes,
    a_helpdesk_administrator_cannot_deliver_a_global_administrators_password,
    an_unknown_or_expired_link_shows_the_same_page_and_no_details,
    a_link_the_mail_server_refused_is_shown_pending_with_its_error_in_the_mail_queue,
    the_details_pane_shows_licences_and_manager_and_the_licences_page_counts_seats,
    an_administrator_creates_a_temporary_access_pass_shown_once_and_deletes_it,
    a_helpdesk_administrator_cannot_issue_a_pass_even_to_a_global_administrator,
    a_pass_is_not_created_without_the_csrf_token,
);

// ---------------------------------------------------------------------------------------
// Delivery by e-mail: a view-once link instead of the password.

const MAILED_PW: &str = "Harbour-Lantern-Quay-42";

/// A user with a `mail` and an `otherMails` address.
async fn mailable_user(w: &World, upn: &str, roles: Vec<DirectoryRole>) -> String {
    let created =
        w.h.directory
            .create_user(
                &Harness::operator(),
                w.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse("Pat Example").unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: latchkey_core::user::UserProfile {
                        mail: Some("pat@mail.contoso.test".into()),
                        other_mails: vec!["pat@home.example.org".into()],
                        ..Default::default()
                    },
                    password_policies: Default::default(),
                    password: PasswordChoice::Provided(SecretString::from(MAILED_PW.to_owned())),
                    force_change_next_sign_in: false,
                    roles,
                },
            )
            .await
            .unwrap();
    created.user.id.to_string()
}

/// The path of the link in the queued message, as the e-mail carries it.
async fn queued_link(w: &World) -> String {
    let due = w.h.directory.claim_due_mail(10).await.unwrap();
    assert_eq!(due.len(), 1);
    match &due[0].message.content {
        latchkey_core::mail::MailContent::ViewOnceLink { link, .. } => {
            use secrecy::ExposeSecret;
            let link = link.expose_secret();
            assert!(
                link.starts_with(&format!("{PUBLIC}/account/delivered/")),
                "{link}"
            );
            link[PUBLIC.len()..].to_owned()
        }
        other => panic!("{other:?}"),
    }
}

fn pending_mail() -> latchkey_core::mail::MailQuery {
    latchkey_core::mail::MailQuery {
        tenant: None,
        statuses: vec![latchkey_core::mail::MailStatus::Pending],
        limit: 10,
    }
}

async fn an_administrator_sends_a_view_once_link_that_reveals_the_password_once(backend: Backend) {
    let w = world_sending_mail(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = mailable_user(&w, "pat@contoso.test", vec![]).await;

    let form = reset_form(&w, &mut b, &id).await;
    assert!(
        form.body
            .contains("Send the password to pat@mail.contoso.test by e-mail")
    );
    assert!(
        form.body
            .contains("Send the password to pat@home.example.org by e-mail")
    );
    assert!(form.body.contains("id=\"deliver-show\" checked"));
    let done = post_reset(
        &w,
        &mut b,
        &id,
        &form,
        &[
            ("mode", "auto"),
            ("require_change", "on"),
            ("deliver", "pat@mail.contoso.test"),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains("A link to the new password is on its way to")
    );
    assert!(done.body.contains("pat@mail.contoso.test"));
    assert!(
        !done.body.contains("id=\"new-password\""),
        "the admin never sees it"
    );
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", MAILED_PW).await,
        Err(SignInError::WrongPassword)
    ));

    // The person opens the link: an interstitial, which a mail scanner may load freely.
    let path = queued_link(&w).await;
    let mut person = Browser::at(PUBLIC);
    for _ in 0..2 {
        let page = person.get(&w.app, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Reveal the password"));
        assert!(page.body.contains("pat@contoso.test"));
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
        assert!(
            page.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
    let interstitial = person.get(&w.app, &path).await;
    let cookie = interstitial
        .set_cookies
        .iter()
        .chain(std::iter::once(&String::new()))
        .find(|c| c.starts_with("lk_view="))
        .cloned();
    // (Set on the first visit only; the browser kept it.)
    assert!(cookie.is_none() && person.cookies.contains_key("lk_view"));

    // A post without the form's token (another site, or a scanner) reveals nothing.
    let forged = person.post(&w.app, &path, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("Open the link from your e-mail again"));
    let stranger = Browser::at(PUBLIC)
        .post(&w.app, &path, &[("csrf", &interstitial.hidden("csrf"))])
        .await;
    assert_eq!(
        stranger.status,
        StatusCode::FORBIDDEN,
        "no cookie, no reveal"
    );

    let revealed = person
        .post(&w.app, &path, &[("csrf", &interstitial.hidden("csrf"))])
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.body);
    assert_eq!(revealed.headers[header::CACHE_CONTROL], "no-store");
    let password = revealed.input("password");
    assert!(password.len() >= 16);
    assert!(revealed.body.contains("will not be shown again"));
    assert!(matches!(
        sign_in_result(&w, "pat@contoso.test", &password).await,
        Err(SignInError::MustChangePassword(_))
    ));

    // Used up: the same page for a second reveal and for the link itself.
    let again = person
        .post(&w.app, &path, &[("csrf", &interstitial.hidden("csrf"))])
        .await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(
        again
            .body
            .contains("This link has expired or was already used")
    );
    assert!(!again.body.contains(&password));
    let link = person.get(&w.app, &path).await;
    assert_eq!(link.status, StatusCode::GONE);
    assert!(
        link.body
            .contains("This link has expired or was already used")
    );

    let token = path.rsplit('/').next().unwrap();
    let stored = stored_bytes(&w).await;
    assert!(
        !contains(&stored, &password),
        "the password is sealed at rest"
    );
    assert!(!contains(&stored, token), "the link is stored as a digest");
    let logged = logs().lock().unwrap().clone();
    assert!(
        !contains(&logged, &password),
        "the password is in no log line"
    );
    assert!(!contains(&logged, token), "the link is in no log line");
}

async fn delivery_by_email_is_offered_only_when_the_server_sends_mail(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = mailable_user(&w, "pat@contoso.test", vec![]).await;
    let form = reset_form(&w, &mut b, &id).await;
    assert!(!form.body.contains("by e-mail"));
    assert!(!form.body.contains("id=\"delivery\""));
}

async fn a_recipient_that_is_not_the_users_own_is_refused_and_nothing_changes(backend: Backend) {
    let w = world_sending_mail(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = mailable_user(&w, "pat@contoso.test", vec![]).await;
    let form = reset_form(&w, &mut b, &id).await;
    for (deliver, mode, expected) in [
        (
            "attacker@evil.example",
            "auto",
            "attacker@evil.example is not one of this user's e-mail addresses",
        ),
        ("not an address", "auto", "is not an e-mail address"),
        (
            "pat@mail.contoso.test",
            "typed",
            "Only an automatically created password can be sent by e-mail",
        ),
    ] {
        let refused = post_reset(
            &w,
            &mut b,
            &id,
            &form,
            &[
                ("mode", mode),
                ("password", "Typed-By-The-Admin-77"),
                ("confirm", "Typed-By-The-Admin-77"),
                ("require_change", "on"),
                ("deliver", deliver),
            ],
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{deliver}: {}",
            refused.body
        );
        assert!(
            unescape(&refused.body).contains(expected),
            "{deliver}: {}",
            refused.body
        );
        assert!(
            sign_in_result(&w, "pat@contoso.test", MAILED_PW)
                .await
                .is_ok()
        );
        assert!(
            w.h.directory
                .mail_queue(&pending_mail())
                .await
                .unwrap()
                .is_empty()
        );
    }
}

async fn a_helpdesk_administrator_cannot_deliver_a_global_administrators_password(
    backend: Backend,
) {
    let w = world_sending_mail(backend).await;
    user(
        &w,
        "hal@contoso.test",
        "Hal Helpdesk",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let boss = mailable_user(
        &w,
        "gia@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let pat = mailable_user(&w, "pat@contoso.test", vec![]).await;
    let mut b = Browser::at(PUBLIC);
    sign_in(&w, &mut b, "hal@contoso.test").await;
    let ordinary = reset_form(&w, &mut b, &pat).await;
    let target =
        w.h.store
            .find_user(
                w.h.tenant(),
                latchkey_core::ids::UserId::from_uuid(boss.parse().unwrap()),
            )
            .await
            .unwrap()
            .unwrap();
    let posted = b
        .post(
            &w.app,
            &format!("/admin/users/{boss}/reset-password"),
            &[
                ("csrf", &ordinary.hidden("csrf")),
                ("version", &target.version.to_string()),
                ("mode", "auto"),
                ("require_change", "on"),
                ("deliver", "pat@mail.contoso.test"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(
        sign_in_result(&w, "gia@contoso.test", MAILED_PW)
            .await
            .is_ok()
    );
    assert!(
        w.h.directory
            .mail_queue(&pending_mail())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_unknown_or_expired_link_shows_the_same_page_and_no_details(backend: Backend) {
    let w = world_sending_mail(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = mailable_user(&w, "pat@contoso.test", vec![]).await;
    let form = reset_form(&w, &mut b, &id).await;
    post_reset(
        &w,
        &mut b,
        &id,
        &form,
        &[("mode", "auto"), ("deliver", "pat@home.example.org")],
    )
    .await;
    let path = queued_link(&w).await;
    let mut person = Browser::at(PUBLIC);
    let unknown = person
        .get(
            &w.app,
            "/account/delivered/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::GONE);
    assert!(
        unknown
            .body
            .contains("This link has expired or was already used")
    );
    let interstitial = person.get(&w.app, &path).await;
    assert_eq!(interstitial.status, StatusCode::OK);
    w.h.clock.advance(Duration::hours(24));
    for page in [
        person.get(&w.app, &path).await,
        person
            .post(&w.app, &path, &[("csrf", &interstitial.hidden("csrf"))])
            .await,
    ] {
        assert_eq!(page.status, StatusCode::GONE);
        assert!(
            page.body
                .contains("This link has expired or was already used")
        );
        assert!(!page.body.contains("pat@contoso.test"), "no details");
    }
}

async fn a_link_the_mail_server_refused_is_shown_pending_with_its_error_in_the_mail_queue(
    backend: Backend,
) {
    let w = world_sending_mail(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let empty = b.get(&w.app, "/admin/mail").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("id=\"mail-empty\""));

    let id = mailable_user(&w, "pat@contoso.test", vec![]).await;
    let form = reset_form(&w, &mut b, &id).await;
    let done = post_reset(
        &w,
        &mut b,
        &id,
        &form,
        &[("mode", "auto"), ("deliver", "pat@mail.contoso.test")],
    )
    .await;
    assert!(done.body.contains("Mail queue"));
    // The mail server is down: the sender records the failure.
    let due = w.h.directory.claim_due_mail(10).await.unwrap();
    w.h.directory
        .mail_failed(
            &due[0],
            "127.0.0.1:25 refused or failed: <Connection refused>",
            false,
        )
        .await
        .unwrap();
    let page = b.get(&w.app, "/admin/mail").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Password link"));
    assert!(page.body.contains("pat@mail.contoso.test"));
    assert!(page.body.contains("Pending"));
    assert!(
        page.body.contains("&#60;Connection refused&#62;")
            || page.body.contains("&lt;Connection refused&gt;")
    );
    assert!(!page.body.contains("/account/delivered/"), "never the link");
}

async fn tap_post(
    w: &World,
    b: &mut Browser,
    id: &str,
    pane: &Page,
    fields: &[(&str, &str)],
) -> Page {
    let csrf = pane.hidden("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    b.post(
        &w.app,
        &format!("/admin/users/{id}/temporary-access-pass?q=pat"),
        &all,
    )
    .await
}

async fn an_administrator_creates_a_temporary_access_pass_shown_once_and_deletes_it(
    backend: Backend,
) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let pane = b
        .get(&w.app, &format!("/admin/users?q=pat&user={id}"))
        .await;
    assert_eq!(pane.status, StatusCode::OK, "{}", pane.body);
    assert!(pane.body.contains("Temporary Access Pass"));
    assert!(pane.body.contains("id=\"tap-none\""));
    assert_eq!(pane.input("tap-lifetime"), "60");

    // A lifetime out of Entra's bounds, or not a number: refused naming the field.
    for bad in ["5", "soon"] {
        let r = tap_post(&w, &mut b, &id, &pane, &[("lifetime", bad)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("Lifetime (minutes)"), "{}", r.body);
        assert!(!r.body.contains("id=\"tap-pass\""));
    }

    let done = tap_post(
        &w,
        &mut b,
        &id,
        &pane,
        &[("lifetime", "120"), ("once", "on")],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.headers[header::CACHE_CONTROL], "no-store");
    assert!(done.body.contains("will not be shown again"));
    let pass = done.input("tap-pass");
    assert_eq!(pass.len(), 16);
    // A reload re-posts the form: the user has a pass now, so nothing is created and the
    // pass is not shown again.
    let reload = tap_post(
        &w,
        &mut b,
        &id,
        &pane,
        &[("lifetime", "120"), ("once", "on")],
    )
    .await;
    assert_eq!(reload.status, StatusCode::CONFLICT, "{}", reload.body);
    assert!(reload.body.contains("already has a Temporary Access Pass"));
    assert!(!reload.body.contains(&pass));
    assert!(!reload.body.contains("id=\"tap-pass\""));
    // It signs the user in.
    let signed_in =
        w.h.directory
            .sign_in_with_temporary_access_pass(
                w.h.tenant(),
                "pat@contoso.test",
                &SecretString::from(pass.clone()),
                &ClientRef::default(),
            )
            .await
            .unwrap();
    assert!(signed_in.is_some());

    // Never again: the pane says it exists (used, one-time, its lifetime), not what it is.
    let after = b
        .get(&w.app, &format!("/admin/users?q=pat&user={id}"))
        .await;
    assert!(!after.body.contains(&pass));
    assert!(
        after.body.contains("id=\"tap-state\">Used<"),
        "{}",
        after.body
    );
    assert!(after.body.contains("120 minutes"));
    // Used up, it no longer stands in the way of a new one.
    assert!(after.body.contains("id=\"tap-create\""));
    assert!(!contains(&stored_bytes(&w).await, &pass));
    assert!(!contains(&logs().lock().unwrap(), &pass));

    // Delete it; a second delete of the same form is stale and deletes nothing else.
    let csrf = after.hidden("csrf");
    let pass_id = after.hidden("pass");
    let delete = format!("/admin/users/{id}/temporary-access-pass/delete");
    let deleted = b
        .post(&w.app, &delete, &[("csrf", &csrf), ("pass", &pass_id)])
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(deleted.body.contains("id=\"tap-none\""));
    let again = b
        .post(&w.app, &delete, &[("csrf", &csrf), ("pass", &pass_id)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again
            .body
            .contains("deleted or replaced since this page was opened")
    );
}

async fn a_helpdesk_administrator_cannot_issue_a_pass_even_to_a_global_administrator(
    backend: Backend,
) {
    let w = world(backend).await;
    user(
        &w,
        "hal@contoso.test",
        "Hal Helpdesk",
        vec![DirectoryRole::HelpdeskAdministrator],
    )
    .await;
    let boss = user(
        &w,
        "gia@contoso.test",
        "Gia Global",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    let pat = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    let mut b = Browser::at(PUBLIC);
    assert_eq!(
        sign_in(&w, &mut b, "hal@contoso.test").await.status,
        StatusCode::OK
    );

    let pane = b.get(&w.app, &format!("/admin/users?user={boss}")).await;
    assert!(!pane.body.contains("id=\"tap-create\""));
    // As in Entra, a Helpdesk Administrator does not manage authentication methods at all
    // (an Authentication Administrator does).
    let ordinary = b.get(&w.app, &format!("/admin/users?user={pat}")).await;
    assert!(ordinary.body.contains("id=\"reset-password\""));
    assert!(!ordinary.body.contains("id=\"tap-create\""));
    // A hand-made post with a valid CSRF token is refused, and no pass exists.
    let posted = tap_post(&w, &mut b, &boss, &ordinary, &[("lifetime", "60")]).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(!posted.body.contains("id=\"tap-pass\""));
    let boss_ref = latchkey_core::directory::UserRef::Id(
        boss.parse::<uuid::Uuid>()
            .map(latchkey_core::ids::UserId::from_uuid)
            .unwrap(),
    );
    assert!(
        w.h.directory
            .temporary_access_passes(&Harness::operator(), w.h.tenant(), &boss_ref)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_pass_is_not_created_without_the_csrf_token(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    admin(&w, &mut b).await;
    let id = user(&w, "pat@contoso.test", "Pat Example", vec![]).await;
    for csrf in [None, Some("forged-token")] {
        let mut fields = vec![("lifetime", "60")];
        if let Some(c) = csrf {
            fields.push(("csrf", c));
        }
        let r = b
            .post(
                &w.app,
                &format!("/admin/users/{id}/temporary-access-pass"),
                &fields,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.body
                .contains("This form has expired or did not come from the admin center")
        );
        assert!(!r.body.contains("id=\"tap-pass\""));
        assert!(r.body.contains("id=\"tap-none\""));
    }
}
