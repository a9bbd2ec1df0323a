//! The second factor on the sign-in pages, end to end through the real router, in process,
//! with an injected clock: a user with an authenticator app is asked for a code after the
//! password (a recovery code works once), wrong and replayed codes are refused, the step's
//! ticket works only in the browser that signed in, a forced change waits for the second
//! factor, tokens say `amr` `["pwd","mfa"]`, and ROPC answers `interaction_required`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_identity::http::{IdentityState, router};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const PUBLIC: &str = "https://login.contoso.test";
const REDIRECT: &str = "http://127.0.0.1:5000/callback";
const PW: &str = "Blue-Harbour-Lantern-7";
const NEW_PW: &str = "Green-Meadow-Compass-42";
const VERIFIER: &str = "a-long-enough-code-verifier-for-pkce-0123456789";

struct World {
    h: Harness,
    app: Router,
    client_id: String,
    secret: String,
    tid: String,
}

async fn world(delegated: &[&str], admin_consent: bool) -> World {
    let h = Harness::new(Backend::Sqlite).await;
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let state = IdentityState {
        directory: h.directory.clone(),
        tokens: TokenService::new(keys, h.clock.clone(), Duration::hours(1)),
        public_url: PUBLIC.into(),
    };
    let created = h
        .directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: "Contoso Web".into(),
                redirect_uris: vec![REDIRECT.into()],
                delegated_permissions: delegated.iter().map(|s| (*s).to_owned()).collect(),
                grant_admin_consent: admin_consent,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    World {
        tid: h.tenant().to_string(),
        app: router(state),
        client_id: created.app.app_id.to_string(),
        secret: created.secret.unwrap().expose_secret().to_owned(),
        h,
    }
}

async fn user(w: &World, upn: &str, force_change: bool) {
    w.h.directory
        .create_user(
            &Harness::operator(),
            w.h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Pat Example").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(PW.to_owned())),
                force_change_next_sign_in: force_change,
                roles: vec![],
            },
        )
        .await
        .unwrap();
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        unescape(&self.body[start..end])
    }

    fn query(&self) -> HashMap<String, String> {
        let q = self.location().split_once('?').unwrap().1;
        serde_urlencoded::from_str(q).unwrap()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// A browser: it keeps cookies and sends them back.
#[derive(Default)]
struct Browser {
    cookies: HashMap<String, String>,
}

impl Browser {
    async fn send(&mut self, app: &Router, req: Request<Body>) -> Page {
        let mut req = req;
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.headers_mut()
                .insert(header::COOKIE, c.join("; ").parse().unwrap());
        }
        let r = app.clone().oneshot(req).await.unwrap();
        for c in r.headers().get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status();
        let headers = r.headers().clone();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&mut self, app: &Router, uri: &str) -> Page {
        self.send(app, Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn post(&mut self, app: &Router, uri: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(app, req).await
    }

    /// Submits the form on `page` to `action` with the page's hidden fields plus `fields`.
    async fn submit(
        &mut self,
        w: &World,
        page: &Page,
        step: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let csrf = page.hidden("csrf");
        let request = page.hidden("request");
        let mut form = vec![("csrf", csrf.as_str()), ("request", request.as_str())];
        form.extend_from_slice(fields);
        self.post(&w.app, &format!("/{}/login{step}", w.tid), &form)
            .await
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_uri(w: &World, extra: &[(&str, &str)]) -> String {
    let c = challenge(VERIFIER);
    let mut params = vec![
        ("client_id", w.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile offline_access User.Read"),
        ("state", "st-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    format!(
        "/{}/oauth2/v2.0/authorize?{}",
        w.tid,
        serde_urlencoded::to_string(&params).unwrap()
    )
}

async fn redeem(w: &World, code: &str, verifier: &str) -> (StatusCode, Value) {
    let mut b = Browser::default();
    let p = b
        .post(
            &w.app,
            &format!("/{}/oauth2/v2.0/token", w.tid),
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await;
    (p.status, serde_json::from_str(&p.body).unwrap())
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

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
