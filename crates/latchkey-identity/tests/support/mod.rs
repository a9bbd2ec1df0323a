//! What the identity tests share: a tenant with an app behind the real router (`world`), its
//! users, the authorization request a browser starts with, and the token endpoint's answers.
#![allow(dead_code)]

use axum::Router;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_identity::http::{IdentityState, router};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::browser::{Browser, Page};
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const PUBLIC: &str = "https://login.contoso.test";
pub const REDIRECT: &str = "http://127.0.0.1:5000/callback";
pub const PW: &str = "Blue-Harbour-Lantern-7";
pub const NEW_PW: &str = "Green-Meadow-Compass-42";
pub const VERIFIER: &str = "a-long-enough-code-verifier-for-pkce-0123456789";

pub struct World {
    pub h: Harness,
    pub app: Router,
    pub client_id: String,
    pub secret: String,
    pub tid: String,
}

pub async fn world(delegated: &[&str], admin_consent: bool) -> World {
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

pub async fn user(w: &World, upn: &str, force_change: bool) {
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

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn authorize_uri(w: &World, extra: &[(&str, &str)]) -> String {
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

pub async fn redeem(w: &World, code: &str, verifier: &str) -> (StatusCode, Value) {
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

pub fn claims(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The sign-in pages' forms: a `Browser` submits one with the page's hidden fields.
pub trait SignInForms {
    /// Submits the form on `page` to `/{tid}/login{step}` with the page's hidden fields plus
    /// `fields`.
    async fn submit(&mut self, w: &World, page: &Page, step: &str, fields: &[(&str, &str)])
    -> Page;
}

impl SignInForms for Browser {
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

/// Signs in a user without a forced change on an app with admin consent; returns the code.
pub async fn signed_in_code(w: &World, b: &mut Browser) -> String {
    let page = b.get(&w.app, &authorize_uri(w, &[])).await;
    let done = b
        .submit(
            w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    done.query()["code"].clone()
}

/// `s` percent-encoded for a query string.
pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_owned()
}
