//! The identity endpoints over real HTTPS: discovery, JWKS, the token endpoint's client
//! credentials grant and every refusal a client can provoke.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Server, cli, serve};

struct Running {
    _server: Server,
    base: String,
    client: reqwest::Client,
    tenant: String,
    app_id: String,
    secret: String,
}

async fn start(dir: &Path) -> Running {
    let data = dir.join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let app = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Automation",
            "--application-permission",
            "User.ReadWrite.All",
            "--grant-admin-consent",
        ],
    );
    let server = serve(&data).await;
    Running {
        base: server.base.clone(),
        client: server.client.clone(),
        _server: server,
        tenant: app["tenantId"].as_str().unwrap().to_owned(),
        app_id: app["appId"].as_str().unwrap().to_owned(),
        secret: app["clientSecret"].as_str().unwrap().to_owned(),
    }
}

impl Running {
    async fn token(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        (status, r.json().await.unwrap())
    }

    fn good(&self) -> Vec<(&str, &str)> {
        vec![
            ("client_id", self.app_id.as_str()),
            ("client_secret", self.secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_info", "1"),
        ]
    }
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap(),
    )
    .unwrap()
}

fn aadsts(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_absolute_https_endpoints_and_the_tenant_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    for name in [s.tenant.as_str(), "contoso.test"] {
        let doc: Value = s
            .client
            .get(format!(
                "{}/{name}/v2.0/.well-known/openid-configuration",
                s.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["token_endpoint"],
            format!("{}/{name}/oauth2/v2.0/token", s.base)
        );
        assert_eq!(doc["issuer"], format!("{}/{}/v2.0", s.base, s.tenant));
        assert!(
            doc["authorization_endpoint"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
    }
    let unknown = s
        .client
        .get(format!(
            "{}/fabrikam.test/v2.0/.well-known/openid-configuration",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(aadsts(&body), 90002);

    let jwks: Value = s
        .client
        .get(format!("{}/{}/discovery/v2.0/keys", s.base, s.tenant))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    let realm: Value = s
        .client
        .get(format!(
            "{}/common/userrealm/admin@contoso.test?api-version=1.0",
            s.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(realm["account_type"], "Managed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_give_an_app_token_with_the_consented_roles() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (status, body) = s.token(&s.tenant, &s.good()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 300);
    assert!(
        body.get("scope").is_none(),
        "Entra omits scope for client credentials"
    );
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["tid"], s.tenant);
    assert_eq!(c["appid"], s.app_id);
    assert_eq!(c["roles"], serde_json::json!(["User.ReadWrite.All"]));
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["iss"], format!("{}/{}/v2.0", s.base, s.tenant));

    // HTTP Basic and the domain as tenant work too; so does the scope kiota derives.
    let r = s
        .client
        .post(format!("{}/contoso.test/oauth2/v2.0/token", s.base))
        .basic_auth(&s.app_id, Some(&s.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://localhost/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_entras_error_shape_and_never_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let t = s.tenant.clone();
    let with = |k: &'static str, v: &'static str| {
        let mut f: Vec<(&str, &str)> = s.good().into_iter().filter(|(n, _)| *n != k).collect();
        if !v.is_empty() {
            f.push((k, v));
        }
        f
    };

    let (st, b) = s.token(&t, &with("client_secret", "wrong")).await;
    assert_eq!(
        (st, b["error"].as_str().unwrap(), aadsts(&b)),
        (401, "invalid_client", 7000215)
    );
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: ")
    );
    assert!(
        !b["error_description"].as_str().unwrap().contains("wrong"),
        "the secret is not echoed"
    );
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(b[field].is_string(), "{field}");
    }

    let (st, b) = s
        .token(
            &t,
            &with("client_id", "00000000-0000-0000-0000-000000000001"),
        )
        .await;
    assert_eq!((st, aadsts(&b)), (401, 700016));
    let (st, b) = s.token(&t, &with("client_id", "not-a-guid")).await;
    assert_eq!((st, aadsts(&b)), (401, 700016));
    let (st, b) = s.token(&t, &with("client_secret", "")).await;
    assert_eq!((st, aadsts(&b)), (401, 7000218));
    let (st, b) = s.token(&t, &with("grant_type", "magic")).await;
    assert_eq!(
        (st, b["error"].as_str().unwrap()),
        (400, "unsupported_grant_type")
    );
    let (st, b) = s.token(&t, &with("grant_type", "")).await;
    assert_eq!((st, aadsts(&b)), (400, 900144));
    let (st, b) = s.token(&t, &with("scope", "User.Read")).await;
    assert_eq!(
        (st, b["error"].as_str().unwrap(), aadsts(&b)),
        (400, "invalid_scope", 1002012)
    );
    let (st, b) = s
        .token(&t, &with("scope", "api://elsewhere/.default"))
        .await;
    assert_eq!((st, aadsts(&b)), (400, 500011));
    let (st, b) = s.token("fabrikam.test", &s.good()).await;
    assert_eq!((st, aadsts(&b)), (400, 90002));
    let (st, b) = s.token("common", &s.good()).await;
    assert_eq!(st, 400, "{b}");

    let mut dup = s.good();
    dup.push(("scope", "https://graph.microsoft.com/.default"));
    let (st, b) = s.token(&t, &dup).await;
    assert_eq!((st, b["error"].as_str().unwrap()), (400, "invalid_request"));

    let url = format!("{}/{t}/oauth2/v2.0/token", s.base);
    let json_body = s
        .client
        .post(&url)
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let huge = "a".repeat(200_000);
    let big = s
        .client
        .post(&url)
        .form(&[("grant_type", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 400);
    let garbage = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x00])
        .send()
        .await
        .unwrap();
    assert!(garbage.status().is_client_error());
}
