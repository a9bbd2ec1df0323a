//! Signing in with a Temporary Access Pass on the sign-in pages, through the real router, in
//! process: a new hire types the pass where the password goes, creates a password without a
//! current one, and the app gets a code whose tokens say `mfa`; a one-time pass works once; a
//! disabled account is refused; a wrong pass is an ordinary wrong password counted once; the
//! create-password ticket works only in the browser that signed in; and neither the pass nor
//! the new password reaches a log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};

use axum::http::StatusCode;
use chrono::Duration;
use latchkey_core::directory::{
    ClientRef, NewTemporaryAccessPass, NewUser, PasswordChoice, UserChanges, UserRef,
};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::User;
use latchkey_testkit::Harness;
use latchkey_testkit::browser::{Browser, Page};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use support::{NEW_PW, PW, REDIRECT, SignInForms, VERIFIER, World, claims};

mod support;

const INCORRECT: &str = "Your account or password is incorrect";

/// Every log line any test of this process writes, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn world() -> World {
    logs();
    support::world(&["User.Read"], true).await
}

/// A user (a new hire when `force_change`) and a pass for them; returns the user and the pass.
async fn user_with_pass(w: &World, upn: &str, force_change: bool, once: bool) -> (User, String) {
    let user =
        w.h.directory
            .create_user(
                &Harness::operator(),
                w.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse("Noor Hale").unwrap(),
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
            .unwrap()
            .user;
    let issued =
        w.h.directory
            .create_temporary_access_pass(
                &Harness::operator(),
                w.h.tenant(),
                &UserRef::Id(user.id),
                NewTemporaryAccessPass {
                    usable_once: Some(once),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    (user, issued.pass.expose_secret().to_owned())
}

fn authorize_uri(w: &World) -> String {
    support::authorize_uri(w, &[])
}

/// Posts the form on `page` to `/login{step}` with its CSRF token and request plus `fields`.
async fn submit(
    w: &World,
    b: &mut Browser,
    page: &Page,
    step: &str,
    fields: &[(&str, &str)],
) -> Page {
    b.submit(w, page, step, fields).await
}

async fn sign_in(w: &World, b: &mut Browser, upn: &str, typed: &str) -> Page {
    let page = b.get(&w.app, &authorize_uri(w)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    submit(w, b, &page, "", &[("username", upn), ("password", typed)]).await
}

async fn create(w: &World, b: &mut Browser, page: &Page, new: &str, confirm: &str) -> Page {
    let ticket = page.hidden("ticket");
    submit(
        w,
        b,
        page,
        "/create-password",
        &[
            ("ticket", ticket.as_str()),
            ("new_password", new),
            ("confirm_password", confirm),
        ],
    )
    .await
}

fn code_of(p: &Page) -> String {
    assert_eq!(p.status, StatusCode::FOUND, "{}", p.body);
    p.query()["code"].clone()
}

async fn redeem(w: &World, code: &str) -> Value {
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
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    serde_json::from_str(&p.body).unwrap()
}

async fn fresh(w: &World, u: &User) -> User {
    w.h.store
        .find_user(w.h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap()
}

async fn failed_count(w: &World, u: &User) -> i64 {
    w.h.store
        .find_sign_in_state(w.h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap_or_default()
        .failed_count
}

fn logged(needle: &str) -> bool {
    let all = logs().lock().unwrap();
    all.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_hire_signs_in_with_a_pass_creates_a_password_and_the_app_gets_a_code() {
    let w = world().await;
    let (noor, pass) = user_with_pass(&w, "noor@contoso.test", true, false).await;
    let mut b = Browser::default();

    let page = sign_in(&w, &mut b, "noor@contoso.test", &pass).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Create your password"), "{}", page.body);
    assert!(!page.body.contains("current_password"));
    assert!(!b.cookies.contains_key("lk_session"));

    // Two different passwords: told so, nothing changes.
    let mismatch = create(&w, &mut b, &page, NEW_PW, "Green-Meadow-Compass-43").await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(mismatch.body.contains("do not match"));
    // A password the policy refuses: the rule is named, nothing changes.
    let weak = create(&w, &mut b, &mismatch, "short", "short").await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("id=\"error\""), "{}", weak.body);
    assert!(fresh(&w, &noor).await.force_change_password_next_sign_in);

    let done = create(&w, &mut b, &weak, NEW_PW, NEW_PW).await;
    let tokens = redeem(&w, &code_of(&done)).await;
    let amr = claims(tokens["id_token"].as_str().unwrap())["amr"].clone();
    assert!(
        amr.as_array().unwrap().contains(&Value::from("mfa")),
        "{amr}"
    );
    assert!(b.cookies.contains_key("lk_session"));
    assert!(!fresh(&w, &noor).await.force_change_password_next_sign_in);
    // The new password is the password now; the old one is not.
    let d = &w.h.directory;
    let client = ClientRef::default();
    let typed = |s: &str| SecretString::from(s.to_owned());
    assert!(
        d.sign_in_with_password(w.h.tenant(), "noor@contoso.test", &typed(NEW_PW), &client)
            .await
            .is_ok()
    );
    assert!(
        d.sign_in_with_password(w.h.tenant(), "noor@contoso.test", &typed(PW), &client)
            .await
            .is_err()
    );
    // Neither the pass nor the new password reached a log line.
    assert!(!logged(&pass));
    assert!(!logged(NEW_PW));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_password_goes_straight_to_the_app_with_a_pass() {
    let w = world().await;
    let (_, pass) = user_with_pass(&w, "noor@contoso.test", false, false).await;
    let mut b = Browser::default();
    let done = sign_in(&w, &mut b, "noor@contoso.test", &pass).await;
    let tokens = redeem(&w, &code_of(&done)).await;
    let amr = claims(tokens["id_token"].as_str().unwrap())["amr"].clone();
    assert!(
        amr.as_array().unwrap().contains(&Value::from("mfa")),
        "{amr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_pass_is_refused_the_second_time() {
    let w = world().await;
    let (noor, pass) = user_with_pass(&w, "noor@contoso.test", false, true).await;
    let first = sign_in(&w, &mut Browser::default(), "noor@contoso.test", &pass).await;
    code_of(&first);
    let second = sign_in(&w, &mut Browser::default(), "noor@contoso.test", &pass).await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED, "{}", second.body);
    assert!(second.body.contains(INCORRECT));
    assert_eq!(failed_count(&w, &noor).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_is_refused_with_a_pass() {
    let w = world().await;
    let (noor, pass) = user_with_pass(&w, "noor@contoso.test", true, true).await;
    w.h.directory
        .update_user(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(noor.id),
            UserChanges {
                account_enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut b = Browser::default();
    let p = sign_in(&w, &mut b, "noor@contoso.test", &pass).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains("Your account has been disabled"));
    assert!(!p.body.contains("Create your password"));
    assert!(!b.cookies.contains_key("lk_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pass_is_an_incorrect_password_counted_once() {
    let w = world().await;
    let (noor, pass) = user_with_pass(&w, "noor@contoso.test", true, false).await;
    // The pass with its last character changed (never to itself: a pass ending in 'x' made
    // this "wrong" pass the right one once in 67 runs).
    let last = if pass.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &pass[..pass.len() - 1]);
    assert_ne!(wrong, pass);
    let p = sign_in(&w, &mut Browser::default(), "noor@contoso.test", &wrong).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.body);
    assert!(p.body.contains(INCORRECT));
    assert_eq!(failed_count(&w, &noor).await, 1);
    let failures =
        w.h.store
            .list_sign_in_events(w.h.tenant(), 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.user_id == Some(noor.id) && e.error_code != 0)
            .count();
    assert_eq!(failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_password_ticket_works_only_in_the_browser_that_signed_in() {
    let w = world().await;
    let (noor, pass) = user_with_pass(&w, "noor@contoso.test", true, false).await;
    let mut victim = Browser::default();
    let page = sign_in(&w, &mut victim, "noor@contoso.test", &pass).await;
    let stolen = page.hidden("ticket");

    let mut attacker = Browser::default();
    let own = attacker.get(&w.app, &authorize_uri(&w)).await;
    for ticket in [stolen.as_str(), "forged", ""] {
        let p = submit(
            &w,
            &mut attacker,
            &own,
            "/create-password",
            &[
                ("ticket", ticket),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.body);
        assert!(p.body.contains("Your sign-in expired"));
        assert!(!attacker.cookies.contains_key("lk_session"));
    }
    // Without the CSRF token of the victim's flow, the victim's own form is refused too.
    let forged = attacker
        .post(
            &w.app,
            &format!("/{}/login/create-password", w.tid),
            &[
                ("csrf", page.hidden("csrf").as_str()),
                ("request", page.hidden("request").as_str()),
                ("ticket", stolen.as_str()),
                ("new_password", NEW_PW),
                ("confirm_password", NEW_PW),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(fresh(&w, &noor).await.force_change_password_next_sign_in);

    // And the ticket expires after ten minutes.
    w.h.clock.advance(Duration::minutes(11));
    let late = create(&w, &mut victim, &page, NEW_PW, NEW_PW).await;
    assert!(late.body.contains("Your sign-in expired"));
    assert!(fresh(&w, &noor).await.force_change_password_next_sign_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_signing_in_with_a_pass_creates_a_password_then_registers_an_authenticator()
 {
    use latchkey_core::auth_method::{parse_totp_secret_base32, totp_code, totp_step};
    use latchkey_core::clock::Clock;
    use latchkey_core::role::DirectoryRole;
    let w = world().await;
    let (ada, pass) = user_with_pass(&w, "ada@contoso.test", true, false).await;
    w.h.directory
        .set_user_roles(
            &Harness::operator(),
            w.h.tenant(),
            &UserRef::Id(ada.id),
            vec![DirectoryRole::UserAdministrator],
        )
        .await
        .unwrap();
    w.h.directory
        .set_require_mfa_for_admins(&Harness::operator(), w.h.tenant(), true)
        .await
        .unwrap();
    let mut b = Browser::default();
    let page = sign_in(&w, &mut b, "ada@contoso.test", &pass).await;
    assert!(page.body.contains("Create your password"), "{}", page.body);
    let setup = create(&w, &mut b, &page, NEW_PW, NEW_PW).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(setup.body.contains("More information required"));
    assert!(!b.cookies.contains_key("lk_session"));
    let marker = "id=\"totp-secret\">";
    let start = setup.body.find(marker).unwrap() + marker.len();
    let end = start + setup.body[start..].find('<').unwrap();
    let raw = parse_totp_secret_base32(&setup.body[start..end]).unwrap();
    let code = totp_code(raw.expose_secret(), totp_step(w.h.clock.now())).unwrap();
    let ticket = setup.hidden("ticket");
    let method = setup.hidden("method");
    let done = submit(
        &w,
        &mut b,
        &setup,
        "/register-authenticator",
        &[
            ("ticket", ticket.as_str()),
            ("method", method.as_str()),
            ("code", code.as_str()),
        ],
    )
    .await;
    let tokens = redeem(&w, &code_of(&done)).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "mfa"])
    );
}
