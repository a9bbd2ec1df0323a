//! My account end to end through the real routers (the identity platform's and the web
//! crate's), in process, as a browser sees it: sign-in through the code flow as the "Latchkey
//! My account" client, the read-only profile, the password change, the authenticator's
//! two-step registration with its QR code, recovery e-mail and codes, sign-in activity and
//! sign out everywhere; and the refusals (CSRF, another user's method, markup in names, the
//! secret nowhere in the database in plaintext).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use chrono::Duration;
use latchkey_testkit::browser::{Browser, Page};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;
use support::{PW, World, contains, logs, stored_bytes, user};

mod support;

const PUBLIC: &str = "https://id.contoso.test";

async fn world(backend: Backend) -> World {
    logs();
    let h = Harness::new(backend).await;
    let app = support::app(&h, PUBLIC);
    World { h, app }
}

/// Goes to `/account` and signs in on the identity platform's page; returns My account's
/// answer after the callback (following its redirect to the overview).
async fn sign_in(w: &World, b: &mut Browser, upn: &str, password: &str) -> Page {
    let start = b.get(&w.app, "/account").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    assert!(start.location().contains("/oauth2/v2.0/authorize?"));
    assert!(start.location().contains("code_challenge_method=S256"));
    let page = b.get(&w.app, start.location()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Latchkey My account"));
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
                ("password", password),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert!(
        done.location()
            .starts_with(&format!("{PUBLIC}/account/callback?"))
    );
    let back = b.get(&w.app, done.location()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), "/account");
    b.get(&w.app, "/account").await
}

async fn member(w: &World, b: &mut Browser, upn: &str) -> (String, Page) {
    let id = user(w, upn, "Morgan Member", vec![]).await;
    let home = sign_in(w, b, upn, PW).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    (id, home)
}

fn code_now(w: &World, secret: &str, steps: i64) -> String {
    use latchkey_core::auth_method::{parse_totp_secret_base32, totp_code, totp_step};
    use latchkey_core::clock::Clock;
    use secrecy::ExposeSecret;
    let raw = parse_totp_secret_base32(secret).unwrap();
    totp_code(raw.expose_secret(), totp_step(w.h.clock.now()) + steps).unwrap()
}

async fn any_member_signs_in_and_sees_their_profile_read_only(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    assert_eq!(home.text("display-name"), "Morgan Member");
    assert_eq!(home.text("upn"), "morgan@contoso.test");
    assert!(
        home.body
            .contains("Your organization manages these details")
    );
    assert!(
        !home.body.contains("name=\"display_name\""),
        "no profile form"
    );
    assert!(!home.body.contains("<script"));
    let csp = home.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
    let session = home_cookie(&b);
    assert!(session.len() >= 40);
    // The session cookie is for My account's paths only.
    let mut fresh = Browser::at(PUBLIC);
    let start = fresh.get(&w.app, "/account").await;
    let flow = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("lk_account_flow="))
        .unwrap();
    assert!(flow.contains("HttpOnly") && flow.contains("Path=/account"));
}

fn home_cookie(b: &Browser) -> String {
    b.cookies.get("lk_account").cloned().unwrap_or_default()
}

async fn an_authenticator_is_registered_with_a_qr_code_and_a_current_code(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    let csrf = home.hidden("csrf");
    let security = b.get(&w.app, "/account/security").await;
    assert!(security.body.contains("id=\"add-authenticator\""));
    assert!(security.body.contains("No methods registered yet."));

    let setup = b
        .post(
            &w.app,
            "/account/security/authenticator",
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(setup.body.contains("<svg"), "a server-rendered QR code");
    assert!(!setup.body.contains("<?xml"));
    let secret = setup.text("totp-secret");
    assert_eq!(secret.len(), 32);
    let method = setup.hidden("method");

    // A wrong code: the same QR code and secret again, with the reason.
    let good = code_now(&w, &secret, 0);
    let wrong = if good == "123456" { "654321" } else { "123456" };
    let again = b
        .post(
            &w.app,
            "/account/security/authenticator/confirm",
            &[
                ("csrf", csrf.as_str()),
                ("method", method.as_str()),
                ("code", wrong),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.body.contains("The code is not correct"),
        "{}",
        again.body
    );
    assert_eq!(again.text("totp-secret"), secret);

    let done = b
        .post(
            &w.app,
            "/account/security/authenticator/confirm",
            &[
                ("csrf", csrf.as_str()),
                ("method", method.as_str()),
                ("code", good.as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.text("notice")
            .contains("authenticator app is registered")
    );
    assert!(done.body.contains("id=\"remove-softwareOath\""));
    assert!(!done.body.contains("id=\"add-authenticator\""));

    // The secret is in the database only sealed, and in no log line.
    let stored = stored_bytes(&w).await;
    assert!(!contains(&stored, &secret));
    assert!(!contains(&logs().lock().unwrap(), &secret));
    let activity = b.get(&w.app, "/account/activity").await;
    assert!(activity.body.contains("Latchkey My account"));
}

async fn a_post_without_the_csrf_token_changes_nothing(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (id, _) = member(&w, &mut b, "morgan@contoso.test").await;
    for (path, form) in [
        ("/account/security/authenticator", vec![]),
        ("/account/security/email", vec![("email", "m@example.org")]),
        ("/account/security/recovery-codes", vec![]),
        ("/account/signout-everywhere", vec![]),
        (
            "/account/password",
            vec![
                ("current_password", PW),
                ("new_password", "Quiet-Meadow-Forge-42"),
                ("confirm_password", "Quiet-Meadow-Forge-42"),
            ],
        ),
    ] {
        let mut f = form.clone();
        f.push(("csrf", "forged"));
        let p = b.post(&w.app, path, &f).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.body);
        assert!(p.body.contains("Nothing was changed"));
    }
    let stored =
        w.h.store
            .list_auth_methods(w.h.tenant(), id.parse().unwrap())
            .await
            .unwrap();
    assert!(stored.is_empty());
    let codes =
        w.h.store
            .recovery_code_status(w.h.tenant(), id.parse().unwrap())
            .await
            .unwrap();
    assert_eq!(codes.total, 0);
    // Still signed in, with the old password.
    assert_eq!(b.get(&w.app, "/account").await.status, StatusCode::OK);
}

async fn another_users_method_cannot_be_removed(backend: Backend) {
    let w = world(backend).await;
    let mut ann = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut ann, "ann@contoso.test").await;
    let added = ann
        .post(
            &w.app,
            "/account/security/email",
            &[
                ("csrf", home.hidden("csrf").as_str()),
                ("email", "ann@example.org"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let method = added.hidden("method");

    let mut bob = Browser::at(PUBLIC);
    let (_, bob_home) = member(&w, &mut bob, "bob@contoso.test").await;
    let refused = bob
        .post(
            &w.app,
            "/account/security/remove",
            &[
                ("csrf", bob_home.hidden("csrf").as_str()),
                ("method", method.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(refused.body.contains("not one of yours"));
    let still = ann.get(&w.app, "/account/security").await;
    assert!(still.body.contains("ann@example.org"));
}

async fn a_recovery_email_is_checked_and_named_when_wrong(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    let csrf = home.hidden("csrf");
    let bad = b
        .post(
            &w.app,
            "/account/security/email",
            &[("csrf", csrf.as_str()), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("That is not an e-mail address"),
        "{}",
        bad.body
    );
    assert_eq!(bad.input("email"), "not-an-address");
    let ok = b
        .post(
            &w.app,
            "/account/security/email",
            &[("csrf", csrf.as_str()), ("email", "morgan@example.org")],
        )
        .await;
    assert!(ok.body.contains("morgan@example.org"));
    let removed = b
        .post(
            &w.app,
            "/account/security/remove",
            &[
                ("csrf", csrf.as_str()),
                ("method", ok.hidden("method").as_str()),
            ],
        )
        .await;
    assert!(removed.text("notice").contains("deleted"));
    assert!(!removed.body.contains("morgan@example.org"));
}

async fn recovery_codes_are_shown_once_and_stored_only_as_digests(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    let shown = b
        .post(
            &w.app,
            "/account/security/recovery-codes",
            &[("csrf", home.hidden("csrf").as_str())],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.headers[header::CACHE_CONTROL], "no-store");
    let codes: Vec<String> = shown
        .body
        .split("<code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let security = b.get(&w.app, "/account/security").await;
    assert!(
        security
            .text("recovery-status")
            .starts_with("10 of 10 codes left")
    );
    for c in &codes {
        assert!(!security.body.contains(c.as_str()), "shown once only");
    }
    let stored = stored_bytes(&w).await;
    let logged = logs().lock().unwrap().clone();
    for c in &codes {
        assert!(!contains(&logged, c), "no recovery code in a log line");
        assert!(!contains(&stored, c));
        assert!(!contains(&stored, &c.replace('-', "")));
    }
}

async fn changing_the_password_names_each_problem_and_then_signs_out_everywhere(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    let csrf = home.hidden("csrf");
    let post = |cur: &'static str, new: &'static str, conf: &'static str| {
        vec![
            ("current_password", cur),
            ("new_password", new),
            ("confirm_password", conf),
        ]
    };
    let mut send = async |f: Vec<(&str, &str)>| {
        let mut f = f;
        f.push(("csrf", csrf.as_str()));
        b.post(&w.app, "/account/password", &f).await
    };
    let mismatch = send(post(PW, "Quiet-Meadow-Forge-42", "Quiet-Meadow-Forge-43")).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(
        mismatch
            .body
            .contains("match. Type the same new password in both boxes.")
    );
    let weak = send(post(PW, "short", "short")).await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("<li>"), "{}", weak.body);
    assert!(!weak.body.contains("value=\"short\""), "never echoed");
    let wrong = send(post(
        "Not-The-Password-9",
        "Quiet-Meadow-Forge-42",
        "Quiet-Meadow-Forge-42",
    ))
    .await;
    assert!(wrong.body.contains("Your current password is incorrect."));

    w.h.clock.advance(Duration::seconds(1));
    let done = send(post(PW, "Quiet-Meadow-Forge-42", "Quiet-Meadow-Forge-42")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.text("heading").contains("Your password was changed"));
    // Signed out: the old session opens nothing.
    let after = b.get(&w.app, "/account").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().contains("/oauth2/v2.0/authorize?"));
    let audits = w.h.store.list_audit_events(w.h.tenant(), 5).await.unwrap();
    assert_eq!(audits[0].activity, "Change user password");
    assert_eq!(audits[0].channel.as_str(), "selfService");
    let mut again = Browser::at(PUBLIC);
    let home = sign_in(
        &w,
        &mut again,
        "morgan@contoso.test",
        "Quiet-Meadow-Forge-42",
    )
    .await;
    assert_eq!(home.status, StatusCode::OK);
}

async fn signing_out_everywhere_revokes_every_session(backend: Backend) {
    let w = world(backend).await;
    let mut b = Browser::at(PUBLIC);
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    let mut other = Browser::at(PUBLIC);
    sign_in(&w, &mut other, "morgan@contoso.test", PW).await;
    w.h.clock.advance(Duration::seconds(1));
    let done = b
        .post(
            &w.app,
            "/account/signout-everywhere",
            &[("csrf", home.hidden("csrf").as_str())],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.text("heading").contains("signed out everywhere"));
    w.h.clock.advance(Duration::seconds(1));
    for browser in [&mut b, &mut other] {
        let p = browser.get(&w.app, "/account").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert!(p.location().contains("/oauth2/v2.0/authorize?"));
    }
    let audits = w.h.store.list_audit_events(w.h.tenant(), 5).await.unwrap();
    assert_eq!(audits[0].activity, "Invalidate all refresh tokens for user");
}

async fn sign_in_activity_shows_only_the_users_own_sign_ins(backend: Backend) {
    let w = world(backend).await;
    user(&w, "other@contoso.test", "Other Person", vec![]).await;
    let _ =
        w.h.directory
            .sign_in_with_password(
                w.h.tenant(),
                "other@contoso.test",
                &SecretString::from("Wrong-Password-11".to_owned()),
                &Default::default(),
            )
            .await;
    let mut b = Browser::at(PUBLIC);
    member(&w, &mut b, "morgan@contoso.test").await;
    let page = b.get(&w.app, "/account/activity").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Latchkey My account"));
    assert!(page.body.contains("Success"));
    assert!(!page.body.contains("Failure"), "not another user's sign-in");
    let bad = b.get(&w.app, "/account/activity?after=not-a-cursor").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn markup_in_a_display_name_renders_as_text(backend: Backend) {
    let w = world(backend).await;
    user(
        &w,
        "mallory@contoso.test",
        "<script>alert(1)</script>",
        vec![],
    )
    .await;
    let mut b = Browser::at(PUBLIC);
    let home = sign_in(&w, &mut b, "mallory@contoso.test", PW).await;
    assert!(!home.body.contains("<script"), "{}", home.body);
    assert!(
        home.body.contains("&#60;script&#62;") || home.body.contains("&lt;script&gt;"),
        "{}",
        home.body
    );
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
    any_member_signs_in_and_sees_their_profile_read_only,
    an_authenticator_is_registered_with_a_qr_code_and_a_current_code,
    a_post_without_the_csrf_token_changes_nothing,
    another_users_method_cannot_be_removed,
    a_recovery_email_is_checked_and_named_when_wrong,
    recovery_codes_are_shown_once_and_stored_only_as_digests,
    changing_the_password_names_each_problem_and_then_signs_out_everywhere,
    signing_out_everywhere_revokes_every_session,
    sign_in_activity_shows_only_the_users_own_sign_ins,
    markup_in_a_display_name_renders_as_text,
);
