//! Self-service password reset pages through the real router, in process: the link from the
//! sign-in page, identical pages for existing and unknown accounts, CSRF, and the tenant's
//! switch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use latchkey_core::directory::{NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::sspr::SelfServiceResetScope;
use latchkey_core::user::UserProfile;
use latchkey_testkit::Harness;
use latchkey_testkit::browser::{Browser, Page};
use secrecy::SecretString;
use support::{PW, REDIRECT, World};

mod support;

async fn world() -> World {
    let w = support::world(&["User.Read"], true).await;
    let h = &w.h;
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse("rowan@contoso.test").unwrap(),
                display_name: DisplayName::parse("Rowan Field").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    other_mails: vec!["rowan.home@example.test".into()],
                    ..Default::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(PW.to_owned())),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap();
    w
}

fn authorize_uri(w: &World) -> String {
    format!(
        "/{}/oauth2/v2.0/authorize?{}",
        w.tid,
        serde_urlencoded::to_string([
            ("client_id", w.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid User.Read"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ),
            ("code_challenge_method", "S256"),
        ])
        .unwrap()
    )
}

/// The page with every CSRF token blanked, to compare two pages' words.
fn words(p: &Page) -> String {
    let mut body = p.body.clone();
    while let Some(at) = body.find("name=\"csrf\" value=\"") {
        let start = at + "name=\"csrf\" value=\"".len();
        let end = start + body[start..].find('"').unwrap();
        body.replace_range(at..end, "CSRF");
    }
    body
}

async fn start(w: &World, b: &mut Browser, name: &str) -> Page {
    let first = b.get(&w.app, &format!("/{}/sspr", w.tid)).await;
    assert_eq!(first.status, StatusCode::OK);
    let csrf = first.hidden("csrf");
    b.post(
        &w.app,
        &format!("/{}/sspr", w.tid),
        &[("csrf", &csrf), ("request", ""), ("username", name)],
    )
    .await
}

#[tokio::test]
async fn the_sign_in_page_offers_forgot_my_password_and_it_leads_back_to_sign_in() {
    let w = world().await;
    let mut b = Browser::default();
    let sign_in = b.get(&w.app, &authorize_uri(&w)).await;
    assert_eq!(sign_in.status, StatusCode::OK);
    let link = sign_in.link("forgot").expect("a Forgot my password link");
    assert!(link.starts_with(&format!("/{}/sspr?", w.tid)), "{link}");
    let sspr = b.get(&w.app, &link).await;
    assert_eq!(sspr.status, StatusCode::OK);
    assert!(sspr.body.contains("Get back into your account"));
    // The way back is the same authorization request.
    let back = sspr.link("back").unwrap();
    assert_eq!(back, authorize_uri(&w));
    // The page is as locked down as the sign-in pages.
    let csp = sspr.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script"));
    assert_eq!(sspr.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn an_existing_and_an_unknown_account_see_the_same_pages() {
    let w = world().await;
    let mut pages = vec![];
    for name in ["rowan@contoso.test", "nobody@contoso.test"] {
        let mut b = Browser::default();
        let chosen = start(&w, &mut b, name).await;
        assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.body);
        assert!(b.cookies.contains_key("lk_sspr"));
        let sent = b
            .post(
                &w.app,
                &format!("/{}/sspr/send", w.tid),
                &[
                    ("csrf", &chosen.hidden("csrf")),
                    ("request", ""),
                    ("method", "email"),
                ],
            )
            .await;
        assert_eq!(sent.status, StatusCode::OK);
        let wrong = b
            .post(
                &w.app,
                &format!("/{}/sspr/verify", w.tid),
                &[
                    ("csrf", &sent.hidden("csrf")),
                    ("request", ""),
                    ("method", "email"),
                    ("code", "12345678"),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        assert!(wrong.body.contains("That code didn"), "{}", wrong.body);
        pages.push([words(&chosen), words(&sent), words(&wrong)]);
    }
    assert_eq!(pages[0], pages[1]);
}

#[tokio::test]
async fn a_reset_form_without_its_csrf_token_changes_nothing() {
    let w = world().await;
    let mut b = Browser::default();
    let chosen = start(&w, &mut b, "rowan@contoso.test").await;
    for csrf in ["", "forged"] {
        let r = b
            .post(
                &w.app,
                &format!("/{}/sspr/send", w.tid),
                &[("csrf", csrf), ("request", ""), ("method", "email")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("did not come from this password reset"));
    }
    // Another browser (no reset cookie) cannot continue this one's reset.
    let mut other = Browser::default();
    let r = other
        .post(
            &w.app,
            &format!("/{}/sspr/send", w.tid),
            &[
                ("csrf", &chosen.hidden("csrf")),
                ("request", ""),
                ("method", "email"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_self_service_reset_off_there_is_no_link_and_no_reset() {
    let w = world().await;
    let tenant = w.h.directory.find_tenant(&w.tid).await.unwrap().unwrap();
    let mut policy = tenant.password_policy;
    policy.self_service_reset.enabled_for = SelfServiceResetScope::None;
    w.h.directory
        .update_password_policy(&Harness::operator(), w.h.tenant(), policy)
        .await
        .unwrap();
    let mut b = Browser::default();
    let sign_in = b.get(&w.app, &authorize_uri(&w)).await;
    assert!(sign_in.link("forgot").is_none());
    let sspr = b.get(&w.app, &format!("/{}/sspr", w.tid)).await;
    assert_eq!(sspr.status, StatusCode::FORBIDDEN);
    assert!(sspr.body.contains("Contact your administrator"));
}
