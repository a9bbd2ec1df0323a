//! My account end to end through the real routers (the identity platform's and the web
//! crate's), in process, as a browser sees it: sign-in through the code flow as the "Latchkey
//! My account" client, the read-only profile, the password change, the authenticator's
//! two-step registration with its QR code, recovery e-mail and codes, sign-in activity and
//! sign out everywhere; and the refusals (CSRF, another user's method, markup in names, the
//! secret nowhere in the database in plaintext).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_identity::http::IdentityState;
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use latchkey_web::WebState;
use secrecy::SecretString;
use tower::ServiceExt;

const PUBLIC: &str = "https://id.contoso.test";
const PW: &str = "Blue-Harbour-Lantern-7";

struct World {
    h: Harness,
    app: Router,
}

/// Every log line any test of this process writes, at every level.
fn logs() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn world(backend: Backend) -> World {
    logs();
    let h = Harness::new(backend).await;
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let identity = IdentityState {
        directory: h.directory.clone(),
        tokens: TokenService::new(keys, h.clock.clone(), Duration::hours(1)),
        public_url: PUBLIC.into(),
    };
    let web = WebState {
        directory: h.directory.clone(),
        public_url: PUBLIC.into(),
    };
    let app = latchkey_identity::http::router(identity).merge(latchkey_web::router(web));
    World { h, app }
}

async fn user(w: &World, upn: &str, name: &str, roles: Vec<DirectoryRole>) -> String {
    let created =
        w.h.directory
            .create_user(
                &Harness::operator(),
                w.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse(name).unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: Default::default(),
                    password_policies: Default::default(),
                    password: PasswordChoice::Provided(SecretString::from(PW.to_owned())),
                    force_change_next_sign_in: false,
                    roles,
                },
            )
            .await
            .unwrap();
    created.user.id.to_string()
}

/// Everything the store holds, as bytes: the SQLite files, or PostgreSQL's rows as JSON.
async fn stored_bytes(w: &World) -> Vec<u8> {
    match &w.h.database_url {
        None => {
            let mut all = Vec::new();
            collect_files(w.h.data_dir(), &mut all);
            all
        }
        Some(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let mut all = String::new();
            for table in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                all.push_str(&rows.join("\n"));
            }
            all.into_bytes()
        }
    }
}

fn collect_files(dir: &std::path::Path, into: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.extend(std::fs::read(&path).unwrap());
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    set_cookies: Vec<String>,
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

    /// The value of the input with this id.
    fn input(&self, id: &str) -> String {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find("value=\"").unwrap() + 7;
        let end = start + rest[start..].find('"').unwrap();
        unescape(&rest[start..end])
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
    async fn send(&mut self, app: &Router, mut req: Request<Body>) -> Page {
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
        let mut set_cookies = vec![];
        for c in r.headers().get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            set_cookies.push(c.to_owned());
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
            set_cookies,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&mut self, app: &Router, uri: &str) -> Page {
        let uri = uri.strip_prefix(PUBLIC).unwrap_or(uri);
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
}

impl Page {
    /// The text inside the element with this id (up to its first closing tag).
    fn text(&self, id: &str) -> String {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find('>').unwrap() + 1;
        let end = start + rest[start..].find('<').unwrap();
        unescape(&rest[start..end])
    }
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
    let mut b = Browser::default();
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
    let mut fresh = Browser::default();
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
    let mut b = Browser::default();
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
    let mut b = Browser::default();
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
    let mut ann = Browser::default();
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

    let mut bob = Browser::default();
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
    let mut b = Browser::default();
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
    let mut b = Browser::default();
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
    let mut b = Browser::default();
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
    let mut again = Browser::default();
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
    let mut b = Browser::default();
    let (_, home) = member(&w, &mut b, "morgan@contoso.test").await;
    let mut other = Browser::default();
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
    let mut b = Browser::default();
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
    let mut b = Browser::default();
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
