//! Client assertions (private_key_jwt) at the token endpoint, in process, with an injected
//! clock: the one that fits gets a token; every way an assertion can be wrong is refused
//! with Entra's code. The key pair under tests/data is a throwaway made for these tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_core::clock::Clock;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::NewApp;
use latchkey_identity::http::{IdentityState, router};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use serde_json::{Value, json};
use tower::ServiceExt;

const PUBLIC: &str = "https://login.contoso.test";
const CERT: &[u8] = include_bytes!("data/rsa-cert.pem");
const KEY: &[u8] = include_bytes!("data/rsa-key.pem");
const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct World {
    h: Harness,
    app: Router,
    client_id: String,
    secret: String,
    x5t: String,
}

async fn world() -> World {
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
                display_name: "Automation".into(),
                application_permissions: vec!["User.Read.All".into()],
                grant_admin_consent: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cert = h
        .directory
        .add_app_certificate(
            &Harness::operator(),
            h.tenant(),
            created.app.app_id,
            CERT,
            "ci",
        )
        .await
        .unwrap();
    // The harness's clock starts before the test certificate was made.
    if h.clock.now() < cert.start {
        h.clock
            .advance(cert.start - h.clock.now() + Duration::minutes(1));
    }
    World {
        app: router(state),
        client_id: created.app.app_id.to_string(),
        secret: secrecy::ExposeSecret::expose_secret(&created.secret.unwrap()).to_owned(),
        x5t: URL_SAFE_NO_PAD.encode(cert.thumbprint_sha1),
        h,
    }
}

impl World {
    fn endpoint(&self) -> String {
        format!("{PUBLIC}/{}/oauth2/v2.0/token", self.h.tenant())
    }

    fn claims(&self) -> Value {
        let now = self.h.clock.now().timestamp();
        json!({
            "aud": self.endpoint(),
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "exp": now + 600,
        })
    }

    fn sign(&self, claims: &Value, alg: Algorithm, x5t: &str) -> String {
        let mut header = Header::new(alg);
        header.x5t = Some(x5t.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(KEY).unwrap()).unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut all = vec![
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        all.extend_from_slice(form);
        let req = Request::post(format!("/{}/oauth2/v2.0/token", self.h.tenant()))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded::to_string(&all).unwrap()))
            .unwrap();
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    async fn with_assertion(&self, assertion: &str) -> (StatusCode, Value) {
        self.token(&[
            ("client_id", &self.client_id),
            ("client_assertion_type", BEARER),
            ("client_assertion", assertion),
        ])
        .await
    }
}

fn code(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_signed_by_the_registered_certificate_gets_an_app_token() {
    let w = world().await;
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let (status, body) = w.with_assertion(&w.sign(&w.claims(), alg, &w.x5t)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["access_token"].is_string());
    }
    // Without client_id, the assertion's iss names the client.
    let (status, _) = w
        .token(&[
            ("client_assertion_type", BEARER),
            (
                "client_assertion",
                &w.sign(&w.claims(), Algorithm::RS256, &w.x5t),
            ),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_for_another_audience_client_time_or_key_are_refused() {
    let w = world().await;
    let mut wrong_aud = w.claims();
    wrong_aud["aud"] = json!("https://login.microsoftonline.com/common/oauth2/v2.0/token");
    let (status, e) = w
        .with_assertion(&w.sign(&wrong_aud, Algorithm::RS256, &w.x5t))
        .await;
    assert_eq!((status, code(&e)), (StatusCode::UNAUTHORIZED, 700027));

    let mut other_iss = w.claims();
    other_iss["iss"] = json!("11111111-1111-1111-1111-111111111111");
    let (_, e) = w
        .with_assertion(&w.sign(&other_iss, Algorithm::RS256, &w.x5t))
        .await;
    assert_eq!(code(&e), 700021);

    let assertion = w.sign(&w.claims(), Algorithm::RS256, &w.x5t);
    w.h.clock.advance(Duration::minutes(16));
    let (_, e) = w.with_assertion(&assertion).await;
    assert_eq!(code(&e), 700024, "{e}");

    let unknown = URL_SAFE_NO_PAD.encode([0u8; 20]);
    let (_, e) = w
        .with_assertion(&w.sign(&w.claims(), Algorithm::RS256, &unknown))
        .await;
    assert_eq!(code(&e), 700027);

    // HS256 keyed with the public certificate: algorithm confusion.
    let mut header = Header::new(Algorithm::HS256);
    header.x5t = Some(w.x5t.clone());
    let hs = jsonwebtoken::encode(&header, &w.claims(), &EncodingKey::from_secret(CERT)).unwrap();
    let (_, e) = w.with_assertion(&hs).await;
    assert_eq!(code(&e), 700027);

    // A tampered payload fails the signature.
    let good = w.sign(&w.claims(), Algorithm::RS256, &w.x5t);
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = w.claims();
    claims["exp"] = json!(w.h.clock.now().timestamp() + 86_400 * 365);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let (_, e) = w.with_assertion(&forged).await;
    assert_eq!(code(&e), 700027);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_needs_its_type_and_comes_alone() {
    let w = world().await;
    let assertion = w.sign(&w.claims(), Algorithm::RS256, &w.x5t);
    let (status, e) = w
        .token(&[
            ("client_id", &w.client_id),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_eq!((status, code(&e)), (StatusCode::BAD_REQUEST, 7000219));
    let (status, _) = w
        .token(&[
            ("client_id", &w.client_id),
            ("client_secret", &w.secret),
            ("client_assertion_type", BEARER),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
