//! The second factor on the sign-in pages, end to end through the real router, in process,
//! with an injected clock: a user with an authenticator app is asked for a code after the
//! password (a recovery code works once), wrong and replayed codes are refused, the step's
//! ticket works only in the browser that signed in, a forced change waits for the second
//! factor, tokens say `amr` `["pwd","mfa"]`, and ROPC answers `interaction_required`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use chrono::Duration;
use latchkey_core::names::Upn;
use latchkey_testkit::Harness;
use latchkey_testkit::browser::{Browser, Page};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use support::*;

mod support;

fn me(u: &latchkey_core::user::User) -> latchkey_core::authz::Actor {
    latchkey_core::authz::Actor::User {
        id: u.id,
        display: u.user_principal_name.to_string(),
        roles: vec![],
        scopes: None,
        channel: latchkey_core::authz::Channel::SelfService,
    }
}

async fn find(w: &World, upn: &str) -> latchkey_core::user::User {
    w.h.store
        .find_user_by_upn(w.h.tenant(), &Upn::parse(upn).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Registers an authenticator for the user; returns its base32 secret. The clock then moves
/// on one step, so the registration's code is behind us.
async fn with_authenticator(w: &World, upn: &str) -> String {
    let u = find(w, upn).await;
    let r = latchkey_core::directory::UserRef::Id(u.id);
    let e =
        w.h.directory
            .begin_totp_registration(&me(&u), w.h.tenant(), &r)
            .await
            .unwrap();
    let secret = e.secret.expose_secret().to_owned();
    w.h.directory
        .finish_totp_registration(&me(&u), w.h.tenant(), &r, e.method_id, &code(w, &secret))
        .await
        .unwrap();
    w.h.clock.advance(Duration::seconds(30));
    secret
}

fn code(w: &World, secret: &str) -> String {
    use latchkey_core::auth_method::{parse_totp_secret_base32, totp_code, totp_step};
    use latchkey_core::clock::Clock;
    let raw = parse_totp_secret_base32(secret).unwrap();
    totp_code(raw.expose_secret(), totp_step(w.h.clock.now())).unwrap()
}

fn other_than(c: &str) -> &'static str {
    if c == "000000" { "111111" } else { "000000" }
}

/// Password step: returns the second-factor page.
async fn password_step(w: &World, b: &mut Browser, upn: &str) -> Page {
    let page = b.get(&w.app, &authorize_uri(w, &[])).await;
    let p = b
        .submit(w, &page, "", &[("username", upn), ("password", PW)])
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Enter code"), "{}", p.body);
    p
}

async fn code_step(w: &World, b: &mut Browser, page: &Page, typed: &str) -> Page {
    let ticket = page.hidden("ticket");
    b.submit(
        w,
        page,
        "/second-factor",
        &[("ticket", ticket.as_str()), ("code", typed)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_an_authenticator_is_asked_for_a_code_and_the_tokens_say_mfa() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let secret = with_authenticator(&w, "pat@contoso.test").await;
    let mut b = Browser::default();
    let asked = password_step(&w, &mut b, "pat@contoso.test").await;
    assert!(
        !b.cookies.contains_key("lk_session"),
        "no session before the second factor"
    );
    let good = code(&w, &secret);

    let wrong = code_step(&w, &mut b, &asked, other_than(&good)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("That code didn"), "{}", wrong.body);
    assert!(!b.cookies.contains_key("lk_session"));

    let done = code_step(&w, &mut b, &wrong, &good).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let (status, tokens) = redeem(&w, &done.query()["code"], VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["pwd", "mfa"]));

    // Single sign-on from that session keeps saying so.
    let again = b.get(&w.app, &authorize_uri(&w, &[])).await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.body);
    let (_, tokens) = redeem(&w, &again.query()["code"], VERIFIER).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "mfa"])
    );

    // A user without a second factor signs in with the password alone: amr is pwd.
    user(&w, "sam@contoso.test", false).await;
    let mut other = Browser::default();
    let page = other.get(&w.app, &authorize_uri(&w, &[])).await;
    let done = other
        .submit(
            &w,
            &page,
            "",
            &[("username", "sam@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND);
    let (_, tokens) = redeem(&w, &done.query()["code"], VERIFIER).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused_and_a_recovery_code_works_once() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let secret = with_authenticator(&w, "pat@contoso.test").await;
    let good = code(&w, &secret);
    let mut first = Browser::default();
    let asked = password_step(&w, &mut first, "pat@contoso.test").await;
    assert_eq!(
        code_step(&w, &mut first, &asked, &good).await.status,
        StatusCode::FOUND
    );

    let mut second = Browser::default();
    let asked = password_step(&w, &mut second, "pat@contoso.test").await;
    let replay = code_step(&w, &mut second, &asked, &good).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(replay.body.contains("already used"), "{}", replay.body);

    let u = find(&w, "pat@contoso.test").await;
    let codes =
        w.h.directory
            .generate_recovery_codes(
                &me(&u),
                w.h.tenant(),
                &latchkey_core::directory::UserRef::Id(u.id),
            )
            .await
            .unwrap();
    let recovery = codes[0].expose_secret().to_owned();
    assert_eq!(
        code_step(&w, &mut second, &replay, &recovery).await.status,
        StatusCode::FOUND
    );
    let mut third = Browser::default();
    let asked = password_step(&w, &mut third, "pat@contoso.test").await;
    assert_eq!(
        code_step(&w, &mut third, &asked, &recovery).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_steps_ticket_works_only_in_the_browser_that_signed_in() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let secret = with_authenticator(&w, "pat@contoso.test").await;
    let mut victim = Browser::default();
    let asked = password_step(&w, &mut victim, "pat@contoso.test").await;
    let stolen = asked.hidden("ticket");

    let mut attacker = Browser::default();
    let page = attacker.get(&w.app, &authorize_uri(&w, &[])).await;
    for ticket in [stolen.as_str(), "forged", ""] {
        let p = attacker
            .submit(
                &w,
                &page,
                "/second-factor",
                &[("ticket", ticket), ("code", &code(&w, &secret))],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.body);
        assert!(p.body.contains("Your sign-in expired"));
        assert!(!attacker.cookies.contains_key("lk_session"));
    }
    // And a ticket expires after ten minutes.
    w.h.clock.advance(Duration::minutes(11));
    let late = code_step(&w, &mut victim, &asked, &code(&w, &secret)).await;
    assert!(late.body.contains("Your sign-in expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_change_waits_for_the_second_factor() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", true).await;
    let secret = with_authenticator(&w, "pat@contoso.test").await;
    let mut b = Browser::default();
    let asked = password_step(&w, &mut b, "pat@contoso.test").await;

    // Skipping the code and posting the change directly changes nothing.
    let skipped = b
        .submit(
            &w,
            &asked,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
    assert_eq!(skipped.status, StatusCode::UNAUTHORIZED, "{}", skipped.body);
    assert!(skipped.body.contains("authenticator app first"));
    assert!(
        find(&w, "pat@contoso.test")
            .await
            .force_change_password_next_sign_in
    );

    let change = code_step(&w, &mut b, &asked, &code(&w, &secret)).await;
    assert_eq!(change.status, StatusCode::OK);
    assert!(
        change.body.contains("Update your password"),
        "{}",
        change.body
    );
    let ticket = change.hidden("ticket");
    let done = b
        .submit(
            &w,
            &change,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("ticket", ticket.as_str()),
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let (_, tokens) = redeem(&w, &done.query()["code"], VERIFIER).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "mfa"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ropc_for_a_user_with_a_second_factor_needs_interaction() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let ropc = async |b: &mut Browser| {
        b.post(
            &w.app,
            &format!("/{}/oauth2/v2.0/token", w.tid),
            &[
                ("grant_type", "password"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("username", "pat@contoso.test"),
                ("password", PW),
                ("scope", "User.Read"),
            ],
        )
        .await
    };
    assert_eq!(ropc(&mut b).await.status, StatusCode::OK);
    with_authenticator(&w, "pat@contoso.test").await;
    let refused = ropc(&mut b).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"], "interaction_required");
    assert_eq!(body["error_codes"][0], 50076);
    assert!(body.get("access_token").is_none());
}

fn secret_on(page: &Page) -> String {
    let marker = "id=\"totp-secret\">";
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no secret in {}", page.body))
        + marker.len();
    let end = start + page.body[start..].find('<').unwrap();
    page.body[start..end].to_owned()
}

async fn register_step(w: &World, b: &mut Browser, page: &Page, typed: &str) -> Page {
    let ticket = page.hidden("ticket");
    let method = page.hidden("method");
    b.submit(
        w,
        page,
        "/register-authenticator",
        &[
            ("ticket", ticket.as_str()),
            ("method", method.as_str()),
            ("code", typed),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_registers_an_authenticator_at_sign_in_when_the_tenant_requires_it() {
    use latchkey_core::role::DirectoryRole;
    let w = world(&["User.Read"], true).await;
    user(&w, "ada@contoso.test", false).await;
    user(&w, "sam@contoso.test", false).await;
    let ada = find(&w, "ada@contoso.test").await;
    w.h.directory
        .set_user_roles(
            &Harness::operator(),
            w.h.tenant(),
            &latchkey_core::directory::UserRef::Id(ada.id),
            vec![DirectoryRole::UserAdministrator],
        )
        .await
        .unwrap();
    let sign_in = async |b: &mut Browser, upn: &str| {
        let page = b.get(&w.app, &authorize_uri(&w, &[])).await;
        b.submit(&w, &page, "", &[("username", upn), ("password", PW)])
            .await
    };
    // Off by default: the password is enough.
    assert_eq!(
        sign_in(&mut Browser::default(), "ada@contoso.test")
            .await
            .status,
        StatusCode::FOUND
    );

    w.h.directory
        .set_require_mfa_for_admins(&Harness::operator(), w.h.tenant(), true)
        .await
        .unwrap();
    let audits = w.h.store.list_audit_events(w.h.tenant(), 1).await.unwrap();
    assert_eq!(audits[0].activity, "Update authentication methods policy");
    // A member without a role is not asked for anything.
    assert_eq!(
        sign_in(&mut Browser::default(), "sam@contoso.test")
            .await
            .status,
        StatusCode::FOUND
    );

    let mut b = Browser::default();
    let setup = sign_in(&mut b, "ada@contoso.test").await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(setup.body.contains("More information required"));
    assert!(setup.body.contains("<svg"));
    assert!(!b.cookies.contains_key("lk_session"));
    let secret = secret_on(&setup);
    let good = code(&w, &secret);
    let wrong = register_step(&w, &mut b, &setup, other_than(&good)).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("The code is not correct"));
    assert_eq!(secret_on(&wrong), secret, "the same registration again");
    let done = register_step(&w, &mut b, &wrong, &good).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let (_, tokens) = redeem(&w, &done.query()["code"], VERIFIER).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "mfa"])
    );
    // From now on Ada is asked for a code like anyone with an authenticator.
    w.h.clock.advance(Duration::seconds(30));
    let mut again = Browser::default();
    password_step(&w, &mut again, "ada@contoso.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_change_with_mfa_registers_an_authenticator_before_the_change() {
    use latchkey_core::directory::{PasswordChoice as Choice, SetPassword, UserRef};
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let pat = find(&w, "pat@contoso.test").await;
    w.h.directory
        .set_password(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(pat.id),
            SetPassword {
                choice: Choice::Provided(SecretString::from(PW.to_owned())),
                force_change_next_sign_in: true,
                force_change_with_mfa: true,
                reason: None,
            },
        )
        .await
        .unwrap();
    let mut b = Browser::default();
    let page = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let setup = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert!(
        setup.body.contains("More information required"),
        "{}",
        setup.body
    );
    let change = register_step(&w, &mut b, &setup, &code(&w, &secret_on(&setup))).await;
    assert!(
        change.body.contains("Update your password"),
        "{}",
        change.body
    );
    let ticket = change.hidden("ticket");
    let done = b
        .submit(
            &w,
            &change,
            "/change-password",
            &[
                ("username", "pat@contoso.test"),
                ("ticket", ticket.as_str()),
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_before_the_authenticator_does_not_stand_in_for_it() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let page = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let done = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert!(b.cookies.contains_key("lk_session"));
    let secret = with_authenticator(&w, "pat@contoso.test").await;

    let silent = b
        .get(&w.app, &authorize_uri(&w, &[("prompt", "none")]))
        .await;
    assert_eq!(silent.status, StatusCode::FOUND);
    assert_eq!(silent.query()["error"], "interaction_required");

    let asked = b.get(&w.app, &authorize_uri(&w, &[])).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(asked.body.contains("Enter code"));
    let done = code_step(&w, &mut b, &asked, &code(&w, &secret)).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let (_, tokens) = redeem(&w, &done.query()["code"], VERIFIER).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "mfa"])
    );
}
