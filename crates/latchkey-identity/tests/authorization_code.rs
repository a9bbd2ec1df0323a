//! The authorization code flow end to end through the real router, in process, with an
//! injected clock: the sign-in pages as a browser sees them (cookies, forms, redirects), the
//! token endpoint's `authorization_code` grant, userinfo and sign-out, and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Duration;
use latchkey_core::directory::PasswordChoice;
use latchkey_core::names::Upn;
use latchkey_testkit::Harness;
use latchkey_testkit::browser::Browser;
use serde_json::Value;
use support::*;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_user_changes_the_password_consents_and_the_app_gets_tokens_with_the_nonce() {
    let w = world(&["User.Read"], false).await;
    user(&w, "pat@contoso.test", true).await;
    let mut b = Browser::default();

    let sign_in = b.get(&w.app, &authorize_uri(&w, &[])).await;
    assert_eq!(sign_in.status, StatusCode::OK);
    assert!(sign_in.body.contains("Contoso Web"));

    let change = b
        .submit(
            &w,
            &sign_in,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert!(
        change.body.contains("Update your password"),
        "{}",
        change.body
    );
    assert!(
        !b.cookies.contains_key("lk_session"),
        "no session before the change"
    );

    let consent = b
        .submit(
            &w,
            &change,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
    assert!(
        consent.body.contains("Permissions requested"),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("Sign you in and read your profile"));

    let back = b
        .submit(&w, &consent, "/consent", &[("decision", "accept")])
        .await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert!(back.location().starts_with(REDIRECT));
    let q = back.query();
    assert_eq!(q["state"], "st-123");

    let (status, tokens) = redeem(&w, &q["code"], VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["aud"], w.client_id);
    assert_eq!(id["iss"], format!("{PUBLIC}/{}/v2.0", w.tid));
    assert_eq!(id["preferred_username"], "pat@contoso.test");
    assert!(id["auth_time"].is_i64());
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );
    assert!(tokens["refresh_token"].is_string());

    // The user's consent holds for the refresh grant too.
    let mut c = Browser::default();
    let refreshed = c
        .post(
            &w.app,
            &format!("/{}/oauth2/v2.0/token", w.tid),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);

    // userinfo answers for the access token.
    let req = Request::get("/oidc/userinfo")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )
        .body(Body::empty())
        .unwrap();
    let info = c.send(&w.app, req).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    let info: Value = serde_json::from_str(&info.body).unwrap();
    assert_eq!(info["preferred_username"], "pat@contoso.test");
    assert_eq!(info["sub"], id["sub"]);

    // Single sign-on: the same browser gets a code for the next request without a password.
    let again = b.get(&w.app, &authorize_uri(&w, &[])).await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.body);
    assert!(again.query().contains_key("code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_new_passwords_are_shown_inline_and_nothing_typed_comes_back() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", true).await;
    let mut b = Browser::default();
    let sign_in = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let change = b
        .submit(
            &w,
            &sign_in,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    let again = b
        .submit(
            &w,
            &change,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("confirm_password", "Green-Meadow-Compass-43"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("do not match"), "{}", again.body);
    for typed in [PW, NEW_PW, "Green-Meadow-Compass-43"] {
        assert!(
            !again.body.contains(typed),
            "a typed password was re-rendered"
        );
    }
    let weak = b
        .submit(
            &w,
            &again,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("current_password", PW),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("at least 8 characters"), "{}", weak.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_shown_in_words_and_the_password_is_not_echoed() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let sign_in = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let wrong = b
        .submit(
            &w,
            &sign_in,
            "",
            &[
                ("username", "pat@contoso.test"),
                ("password", "Not-The-Password-9"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Your account or password is incorrect"));
    assert!(wrong.body.contains("value=\"pat@contoso.test\""));
    assert!(!wrong.body.contains("Not-The-Password-9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_never_a_redirect() {
    let w = world(&["User.Read"], true).await;
    let mut b = Browser::default();
    for uri in [
        "https://evil.example/callback",
        "http://127.0.0.1:5000/callback/extra",
    ] {
        let p = b
            .get(&w.app, &authorize_uri(&w, &[("redirect_uri", uri)]))
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.headers.get(header::LOCATION).is_none());
        assert!(p.body.contains("AADSTS50011"), "{}", p.body);
    }
    let p = b
        .get(
            &w.app,
            &authorize_uri(&w, &[("client_id", "00000000-0000-0000-0000-000000000001")]),
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("AADSTS700016"));
    assert!(p.headers.get(header::LOCATION).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pkce_and_a_missing_challenge_are_refused_back_to_the_app() {
    let w = world(&["User.Read"], true).await;
    let mut b = Browser::default();
    let plain = b
        .get(
            &w.app,
            &authorize_uri(
                &w,
                &[
                    ("code_challenge", VERIFIER),
                    ("code_challenge_method", "plain"),
                ],
            ),
        )
        .await;
    assert_eq!(plain.status, StatusCode::FOUND);
    let q = plain.query();
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("S256"));
    assert_eq!(q["state"], "st-123");
    let none = b
        .get(&w.app, &authorize_uri(&w, &[("code_challenge", "")]))
        .await;
    assert_eq!(none.query()["error"], "invalid_request");
    let token = b
        .get(&w.app, &authorize_uri(&w, &[("response_type", "token")]))
        .await;
    assert_eq!(token.query()["error"], "unsupported_response_type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_this_browsers_csrf_token_is_refused() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let page = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let request = page.hidden("request");
    let uri = format!("/{}/login", w.tid);

    let missing = b
        .post(
            &w.app,
            &uri,
            &[
                ("request", &request),
                ("username", "pat@contoso.test"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing
            .body
            .contains("did not come from this sign-in session")
    );

    // A token from another browser's page does not fit this browser's cookie.
    let mut other = Browser::default();
    let theirs = other
        .get(&w.app, &authorize_uri(&w, &[]))
        .await
        .hidden("csrf");
    let forged = b
        .post(
            &w.app,
            &uri,
            &[
                ("csrf", &theirs),
                ("request", &request),
                ("username", "pat@contoso.test"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);

    // And a browser without the flow cookie (a cross-site post) is refused as well.
    let mut stranger = Browser::default();
    let mine = page.hidden("csrf");
    let cross = stranger
        .post(
            &w.app,
            &uri,
            &[
                ("csrf", &mine),
                ("request", &request),
                ("username", "pat@contoso.test"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(cross.status, StatusCode::BAD_REQUEST);
    assert!(!stranger.cookies.contains_key("lk_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkce_mismatch_is_invalid_grant() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let code = signed_in_code(&w, &mut Browser::default()).await;
    let (status, e) = redeem(&w, &code, "b-long-enough-code-verifier-for-pkce-0123456789").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_codes"][0], 501481);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused_and_the_refresh_token_it_gave_is_revoked() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let code = signed_in_code(&w, &mut Browser::default()).await;
    let (status, tokens) = redeem(&w, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = redeem(&w, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_codes"][0], 54005);
    let refreshed = Browser::default()
        .post(
            &w.app,
            &format!("/{}/oauth2/v2.0/token", w.tid),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    assert!(refreshed.body.contains("revoked"), "{}", refreshed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_older_than_ten_minutes_is_refused() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let code = signed_in_code(&w, &mut Browser::default()).await;
    w.h.clock.advance(Duration::minutes(10));
    let (status, e) = redeem(&w, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error_codes"][0], 70008);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_sends_strict_security_headers_and_a_secure_session_cookie() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let page = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"));
    assert!(csp.contains("style-src 'self'"));
    assert!(csp.contains("form-action 'self' http://127.0.0.1:5000"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(!page.body.contains("<script"));
    let flow = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(flow.contains("HttpOnly") && flow.contains("SameSite=Lax") && flow.contains("Secure"));

    let done = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    let session = done
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lk_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Secure")
    );

    let error = b
        .get(
            &w.app,
            &authorize_uri(&w, &[("redirect_uri", "https://evil.example/")]),
        )
        .await;
    assert!(
        error.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_and_returns_only_to_a_registered_address() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    signed_in_code(&w, &mut b).await;
    let session = b.cookies["lk_session"].clone();

    let out = b
        .get(
            &w.app,
            &format!(
                "/{}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri={}&state=bye",
                w.tid,
                w.client_id,
                urlencode(REDIRECT)
            ),
        )
        .await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert_eq!(out.location(), format!("{REDIRECT}?state=bye"));

    // The old cookie, replayed, opens nothing: silent sign-in needs a login.
    let mut replay = Browser::default();
    replay.cookies.insert("lk_session".into(), session);
    let silent = replay
        .get(&w.app, &authorize_uri(&w, &[("prompt", "none")]))
        .await;
    assert_eq!(silent.query()["error"], "login_required");

    let elsewhere = b
        .get(
            &w.app,
            &format!(
                "/{}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri={}",
                w.tid,
                w.client_id,
                urlencode("https://evil.example/")
            ),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    assert!(elsewhere.headers.get(header::LOCATION).is_none());

    // A relying party may name itself with the id_token it got instead of client_id.
    let code = signed_in_code(&w, &mut b).await;
    let (_, tokens) = redeem(&w, &code, VERIFIER).await;
    let hinted = b
        .get(
            &w.app,
            &format!(
                "/{}/oauth2/v2.0/logout?id_token_hint={}&post_logout_redirect_uri={}",
                w.tid,
                tokens["id_token"].as_str().unwrap(),
                urlencode(REDIRECT)
            ),
        )
        .await;
    assert_eq!(hinted.status, StatusCode::FOUND);
    // A forged hint names no one.
    let forged = format!("{}x", tokens["id_token"].as_str().unwrap());
    let refused = b
        .get(
            &w.app,
            &format!(
                "/{}/oauth2/v2.0/logout?id_token_hint={}&post_logout_redirect_uri={}",
                w.tid,
                forged,
                urlencode(REDIRECT)
            ),
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.headers.get(header::LOCATION).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_ends_single_sign_on_and_userinfo_for_older_tokens() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let code = signed_in_code(&w, &mut b).await;
    let (_, tokens) = redeem(&w, &code, VERIFIER).await;
    w.h.clock.advance(Duration::seconds(5));
    let upn = latchkey_core::directory::UserRef::Upn(Upn::parse("pat@contoso.test").unwrap());
    w.h.directory
        .set_password(
            &Harness::operator(),
            w.h.tenant(),
            &upn,
            latchkey_core::directory::SetPassword {
                choice: PasswordChoice::Generate,
                force_change_next_sign_in: true,
                force_change_with_mfa: false,
                reason: None,
            },
        )
        .await
        .unwrap();
    let again = b.get(&w.app, &authorize_uri(&w, &[])).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "the sign-in page again, not a code"
    );
    assert!(again.body.contains("name=\"password\""));
    let req = Request::get("/oidc/userinfo")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )
        .body(Body::empty())
        .unwrap();
    let info = b.send(&w.app, req).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_only_an_admin_may_grant_stop_at_an_approval_page() {
    let w = world(&["User.Read", "User.ReadWrite.All"], false).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let page = b
        .get(
            &w.app,
            &authorize_uri(&w, &[("scope", "openid User.ReadWrite.All")]),
        )
        .await;
    let stop = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(stop.status, StatusCode::FORBIDDEN);
    assert!(stop.body.contains("Need admin approval"));
    assert!(stop.headers.get(header::LOCATION).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_passwords_on_the_page_lock_the_account_even_for_the_right_one() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let mut page = b.get(&w.app, &authorize_uri(&w, &[])).await;
    for _ in 0..10 {
        page = b
            .submit(
                &w,
                &page,
                "",
                &[
                    ("username", "pat@contoso.test"),
                    ("password", "Not-The-Password-9"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let locked = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked.body.contains("temporarily locked"),
        "{}",
        locked.body
    );
    assert!(!b.cookies.contains_key("lk_session"));
    w.h.clock.advance(Duration::seconds(61));
    let ok = b
        .submit(
            &w,
            &locked,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::FOUND);
}

// The device code grant (RFC 8628) shares the sign-in pages: the device-login page leads to
// them, and they end by approving the device instead of redirecting.

async fn start_device(w: &World) -> Value {
    let p = Browser::default()
        .post(
            &w.app,
            &format!("/{}/oauth2/v2.0/devicecode", w.tid),
            &[
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("scope", "openid profile offline_access User.Read"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    serde_json::from_str(&p.body).unwrap()
}

async fn poll(w: &World, device_code: &str) -> (StatusCode, Value) {
    let p = Browser::default()
        .post(
            &w.app,
            &format!("/{}/oauth2/v2.0/token", w.tid),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("device_code", device_code),
            ],
        )
        .await;
    (p.status, serde_json::from_str(&p.body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_gets_tokens_once_the_user_typed_its_code_changed_the_password_and_consented() {
    let w = world(&["User.Read"], false).await;
    user(&w, "pat@contoso.test", true).await;
    let started = start_device(&w).await;
    assert_eq!(started["interval"], 5);
    assert_eq!(
        started["verification_uri"],
        format!("{PUBLIC}/{}/devicelogin", w.tid)
    );
    let device_code = started["device_code"].as_str().unwrap();
    let (status, pending) = poll(&w, device_code).await;
    assert_eq!(
        (status, pending["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );

    let mut b = Browser::default();
    let entry = b.get(&w.app, &format!("/{}/devicelogin", w.tid)).await;
    let wrong = b
        .post(
            &w.app,
            &format!("/{}/devicelogin", w.tid),
            &[("csrf", &entry.hidden("csrf")), ("user_code", "ZZZZZZZZ")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("not valid or has expired"));
    // Typed in lower case with a dash: still the code.
    let code = started["user_code"].as_str().unwrap().to_lowercase();
    let typed = format!("{}-{}", &code[..4], &code[4..]);
    let sign_in = b
        .post(
            &w.app,
            &format!("/{}/devicelogin", w.tid),
            &[("csrf", &entry.hidden("csrf")), ("user_code", &typed)],
        )
        .await;
    assert!(
        sign_in.body.contains("name=\"password\""),
        "{}",
        sign_in.body
    );
    let change = b
        .submit(
            &w,
            &sign_in,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    let consent = b
        .submit(
            &w,
            &change,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
    assert!(
        consent.body.contains("Permissions requested"),
        "{}",
        consent.body
    );
    let done = b
        .submit(&w, &consent, "/consent", &[("decision", "accept")])
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(
        done.body
            .contains("You have signed in to Contoso Web on your device")
    );

    let (status, tokens) = poll(&w, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["preferred_username"],
        "pat@contoso.test"
    );
    assert!(tokens["refresh_token"].is_string());
    let (status, again) = poll(&w, device_code).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_or_expired_device_code_gets_no_tokens() {
    let w = world(&["User.Read"], false).await;
    user(&w, "pat@contoso.test", false).await;
    let started = start_device(&w).await;
    let mut b = Browser::default();
    let entry = b.get(&w.app, &format!("/{}/devicelogin", w.tid)).await;
    let sign_in = b
        .post(
            &w.app,
            &format!("/{}/devicelogin", w.tid),
            &[
                ("csrf", &entry.hidden("csrf")),
                ("user_code", started["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    let consent = b
        .submit(
            &w,
            &sign_in,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    let declined = b
        .submit(&w, &consent, "/consent", &[("decision", "cancel")])
        .await;
    assert!(
        declined.body.contains("Sign-in declined"),
        "{}",
        declined.body
    );
    let (_, e) = poll(&w, started["device_code"].as_str().unwrap()).await;
    assert_eq!(e["error"], "authorization_declined");

    let late = start_device(&w).await;
    w.h.clock.advance(Duration::minutes(15));
    let (_, e) = poll(&w, late["device_code"].as_str().unwrap()).await;
    assert_eq!(e["error"], "expired_token");
    let entry = b.get(&w.app, &format!("/{}/devicelogin", w.tid)).await;
    let gone = b
        .post(
            &w.app,
            &format!("/{}/devicelogin", w.tid),
            &[
                ("csrf", &entry.hidden("csrf")),
                ("user_code", late["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_account_offers_the_signed_in_account_or_another_one() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    signed_in_code(&w, &mut b).await;
    let picker = b
        .get(&w.app, &authorize_uri(&w, &[("prompt", "select_account")]))
        .await;
    assert_eq!(picker.status, StatusCode::OK);
    assert!(
        picker.body.contains("Continue as pat@contoso.test"),
        "{}",
        picker.body
    );
    assert!(picker.body.contains("prompt=login"));
    let back = b.submit(&w, &picker, "/continue", &[]).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    assert!(back.query().contains_key("code"));
    let login = b
        .get(&w.app, &authorize_uri(&w, &[("prompt", "login")]))
        .await;
    assert!(login.body.contains("name=\"password\""));
}
