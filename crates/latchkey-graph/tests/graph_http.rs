//! The Graph v1.0 surface over its router, in process, with real tokens from the identity
//! platform and a real store: every answer a client can see, and every bad input of the
//! users-and-passwords issue refused with Graph's envelope and code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_core::authz::Channel;
use latchkey_core::clock::Clock;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{ClientRef, NewApp, NewUser, PasswordChoice, SignInError};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::User;
use latchkey_graph::http::{GraphState, router};
use latchkey_graph::throttle::Throttle;
use latchkey_identity::tokens::{GRAPH_RESOURCE, TokenRequest};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt;

const PUBLIC: &str = "https://localhost:8443";
const PASSWORD: &str = "Harbour-Lantern-42";

struct Api {
    h: Harness,
    router: Router,
    tokens: TokenService,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// A Graph error: the envelope with ids and a JSON content type.
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        assert!(
            self.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let inner = &self.body["error"]["innerError"];
        assert!(inner["request-id"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(
            inner["date"].as_str().unwrap().len(),
            19,
            "YYYY-MM-DDTHH:MM:SS"
        );
    }
}

async fn api() -> Api {
    api_on(Backend::Sqlite).await
}

async fn api_on(backend: Backend) -> Api {
    api_with(backend, Throttle::unlimited()).await
}

async fn api_with(backend: Backend, throttle: Throttle) -> Api {
    let h = Harness::new(backend).await;
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let tokens = TokenService::new(keys, h.clock.clone(), Duration::hours(1));
    let router = router(GraphState {
        directory: h.directory.clone(),
        tokens: tokens.clone(),
        public_url: Arc::from(PUBLIC),
        throttle,
    });
    Api { h, router, tokens }
}

impl Api {
    fn tenant(&self) -> String {
        self.h.tenant().to_string()
    }

    /// An app registration with these application permissions, consented, and its token.
    async fn app_token(&self, permissions: &[&str]) -> String {
        let created = self
            .h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: "Automation".into(),
                    redirect_uris: vec![],
                    public_client: false,
                    application_permissions: permissions.iter().map(|p| (*p).into()).collect(),
                    delegated_permissions: vec![],
                    grant_admin_consent: true,
                },
            )
            .await
            .unwrap();
        self.issue(TokenRequest {
            audience: GRAPH_RESOURCE.into(),
            issuer: format!("{PUBLIC}/{}/v2.0", self.tenant()),
            tenant_id: self.tenant(),
            object_id: created.app.object_id.to_string(),
            client_id: created.app.app_id.to_string(),
            roles: created.app.granted_roles().to_vec(),
            scopes: None,
            app_only: true,
        })
        .await
    }

    async fn user_token(&self, user: &User, scopes: &str) -> String {
        self.issue(TokenRequest {
            audience: GRAPH_RESOURCE.into(),
            issuer: format!("{PUBLIC}/{}/v2.0", self.tenant()),
            tenant_id: self.tenant(),
            object_id: user.id.to_string(),
            client_id: "22222222-2222-2222-2222-222222222222".into(),
            roles: vec![],
            scopes: Some(scopes.into()),
            app_only: false,
        })
        .await
    }

    async fn issue(&self, req: TokenRequest) -> String {
        self.tokens.issue(req).await.unwrap().token
    }

    async fn user(&self, upn: &str, roles: Vec<DirectoryRole>) -> User {
        self.h
            .directory
            .create_user(
                &Harness::operator(),
                self.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse(upn.split('@').next().unwrap()).unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: Default::default(),
                    password_policies: Default::default(),
                    password: PasswordChoice::Provided(SecretString::from(PASSWORD.to_owned())),
                    force_change_next_sign_in: false,
                    roles,
                },
            )
            .await
            .unwrap()
            .user
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str, token: &str) -> Answer {
        self.send("GET", uri, Some(token), None, &[]).await
    }

    async fn patch(&self, uri: &str, token: &str, body: &str) -> Answer {
        self.send("PATCH", uri, Some(token), Some(body), &[]).await
    }

    async fn sign_in(&self, upn: &str, pw: &str) -> Result<User, SignInError> {
        self.h
            .directory
            .sign_in_with_password(
                self.h.tenant(),
                upn,
                &SecretString::from(pw.to_owned()),
                &ClientRef::default(),
            )
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_one_patch_and_the_password_is_changed_with_a_forced_change() {
    let api = api().await;
    api.user("bob@contoso.test", vec![]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let r = api
        .patch(
            "/v1.0/users/bob%40contoso.test",
            &token,
            r##"{"@odata.type":"#microsoft.graph.user","passwordProfile":{"forceChangePasswordNextSignIn":true,"password":"Tq8#Harbour-Lime"}}"##,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.body, Value::Null);
    assert!(matches!(
        api.sign_in("bob@contoso.test", "Tq8#Harbour-Lime").await,
        Err(SignInError::MustChangePassword(_))
    ));
    assert!(matches!(
        api.sign_in("bob@contoso.test", PASSWORD).await,
        Err(SignInError::WrongPassword)
    ));
    let r = api
        .patch(
            "/v1.0/users/bob%40contoso.test",
            &token,
            r#"{"passwordProfile":{"password":"Second-Passw0rd!","forceChangePasswordNextSignIn":false}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    api.sign_in("bob@contoso.test", "Second-Passw0rd!")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_each_request_as_if_alone_after_the_ones_it_depends_on() {
    let api = api().await;
    let bob = api.user("bob@contoso.test", vec![]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let batch = json!({"requests": [
        // Listed first, runs after "create" and "rename" (dependsOn).
        {"id": "read", "method": "GET", "url": "/users/carol@contoso.test?$select=displayName,jobTitle",
         "dependsOn": ["rename"]},
        {"id": "create", "method": "POST", "url": "/users",
         "headers": {"Content-Type": "application/json"},
         "body": {"accountEnabled": true, "displayName": "Carol", "mailNickname": "carol",
                  "userPrincipalName": "carol@contoso.test",
                  "passwordProfile": {"password": "Tq8#Harbour-Lime"}}},
        {"id": "rename", "method": "PATCH", "url": "users/carol@contoso.test",
         "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "Buyer"},
         "dependsOn": ["create"]},
        {"id": "missing", "method": "GET", "url": "/users/nobody@contoso.test"},
        {"id": "after-missing", "method": "GET", "url": "/users", "dependsOn": ["missing"]},
        {"id": "bob", "method": "GET", "url": format!("/v1.0/users/{}", bob.id)},
    ]});
    let r = api
        .send(
            "POST",
            "/v1.0/$batch",
            Some(&token),
            Some(&batch.to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let responses = r.body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 6);
    let by_id = |id: &str| responses.iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!(by_id("create")["status"], 201);
    assert_eq!(
        by_id("create")["body"]["userPrincipalName"],
        "carol@contoso.test"
    );
    assert_eq!(by_id("rename")["status"], 204);
    assert!(by_id("rename").get("body").is_none());
    assert_eq!(by_id("read")["status"], 200);
    assert_eq!(by_id("read")["body"]["jobTitle"], "Buyer");
    assert!(
        by_id("read")["headers"]["Content-Type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(by_id("missing")["status"], 404);
    assert_eq!(
        by_id("missing")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(by_id("after-missing")["status"], 424);
    assert_eq!(by_id("bob")["body"]["id"], bob.id.to_string());
    // Dependencies ran before the requests that named them.
    let at = |id: &str| responses.iter().position(|x| x["id"] == id).unwrap();
    assert!(at("create") < at("rename") && at("rename") < at("read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_of_a_batch_is_authorized_on_its_own() {
    let api = api().await;
    api.user("bob@contoso.test", vec![]).await;
    let read_only = api.app_token(&["User.Read.All"]).await;
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users/bob@contoso.test"},
        {"id": "2", "method": "PATCH", "url": "/users/bob@contoso.test",
         "headers": {"Content-Type": "application/json", "Authorization": "Bearer smuggled"},
         "body": {"jobTitle": "Chief"}},
    ]});
    let r = api
        .send(
            "POST",
            "/v1.0/$batch",
            Some(&read_only),
            Some(&batch.to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let responses = r.body["responses"].as_array().unwrap();
    assert_eq!(responses[0]["status"], 200);
    assert_eq!(responses[1]["status"], 403, "{}", responses[1]);
    assert_eq!(
        responses[1]["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );
    // Without a token the batch itself is refused.
    let r = api
        .send("POST", "/v1.0/$batch", None, Some(&batch.to_string()), &[])
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_batch_is_refused_whole_naming_what_is_wrong() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let twenty_one: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let cases = [
        (json!({"requests": twenty_one}).to_string(), "limit is 20"),
        ("not json".to_owned(), "Invalid batch payload"),
        (json!({"requests": []}).to_string(), "no requests"),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": "/users"},
                                 {"id": "1", "method": "GET", "url": "/me"}]})
            .to_string(),
            "'1'",
        ),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]})
                .to_string(),
            "'9'",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]},
                                 {"id": "b", "method": "GET", "url": "/users", "dependsOn": ["a"]}]})
            .to_string(),
            "cycle",
        ),
        (
            json!({"requests": [{"id": "1", "method": "PATCH", "url": "/users/x", "body": {"a": 1}}]})
                .to_string(),
            "Content-Type",
        ),
        (
            json!({"requests": [{"id": "1", "method": "TRACE", "url": "/users"}]}).to_string(),
            "TRACE",
        ),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": "/$batch"}]}).to_string(),
            "/$batch",
        ),
    ];
    for (body, needle) in cases {
        let r = api
            .send("POST", "/v1.0/$batch", Some(&token), Some(&body), &[])
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
        assert!(r.message().contains(needle), "{needle}: {}", r.message());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_read_by_id_or_percent_encoded_upn_with_select_and_a_context() {
    let api = api().await;
    let u = api.user("carol@contoso.test", vec![]).await;
    let token = api.app_token(&["User.Read.All"]).await;
    let r = api.get("/v1.0/users/carol%40contoso.test", &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], u.id.to_string());
    assert_eq!(
        r.body["@odata.context"],
        format!("{PUBLIC}/v1.0/$metadata#users/$entity")
    );
    assert!(
        r.body.get("accountEnabled").is_none(),
        "not in the default set"
    );
    let r = api
        .get(
            &format!("/v1.0/users/{}?$select=id,accountEnabled,displayName", u.id),
            &token,
        )
        .await;
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec!["@odata.context", "accountEnabled", "displayName", "id"]
    );
    api.get("/v1.0/users/nobody%40contoso.test", &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    api.get("/v1.0/users/not%20a%20upn", &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_with_absolute_next_links_until_every_user_was_seen_once() {
    listing_pages_with_absolute_next_links_until_every_user_was_seen_once_on(Backend::Sqlite).await;
}

/// The same on PostgreSQL, whose SQL for filters and paging differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_with_absolute_next_links_until_every_user_was_seen_once_on_postgres() {
    listing_pages_with_absolute_next_links_until_every_user_was_seen_once_on(Backend::Postgres)
        .await;
}

async fn listing_pages_with_absolute_next_links_until_every_user_was_seen_once_on(
    backend: Backend,
) {
    let api = api_on(backend).await;
    for i in 0..9 {
        api.user(&format!("u{i}@contoso.test"), vec![]).await;
    }
    let token = api.app_token(&["User.Read.All"]).await;
    let mut uri = "/v1.0/users?$select=id,userPrincipalName&$top=4".to_owned();
    let mut seen = Vec::new();
    loop {
        let r = api.get(&uri, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["@odata.context"],
            format!("{PUBLIC}/v1.0/$metadata#users(id,userPrincipalName)")
        );
        for u in r.body["value"].as_array().unwrap() {
            assert_eq!(u.as_object().unwrap().len(), 2);
            seen.push(u["userPrincipalName"].as_str().unwrap().to_owned());
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                let rest = next
                    .strip_prefix(PUBLIC)
                    .expect("absolute, on our public URL");
                assert!(rest.contains("$select=id%2CuserPrincipalName"), "{rest}");
                assert!(rest.contains("$top=4"), "{rest}");
                uri = rest.to_owned();
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 10);
    assert_eq!(sorted, seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_orderby_search_and_count_answer_as_graph_does() {
    filters_orderby_search_and_count_answer_as_graph_does_on(Backend::Sqlite).await;
}

/// The same on PostgreSQL, whose SQL for filters and paging differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_orderby_search_and_count_answer_as_graph_does_on_postgres() {
    filters_orderby_search_and_count_answer_as_graph_does_on(Backend::Postgres).await;
}

async fn filters_orderby_search_and_count_answer_as_graph_does_on(backend: Backend) {
    let api = api_on(backend).await;
    for upn in [
        "ada@contoso.test",
        "alan@contoso.test",
        "grace@contoso.test",
    ] {
        api.user(upn, vec![]).await;
    }
    let token = api.app_token(&["User.Read.All"]).await;
    let upns = |r: &Answer| -> Vec<String> {
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = api
        .get(
            "/v1.0/users?$filter=accountEnabled%20eq%20true%20and%20startswith%28displayName%2C%27a%27%29&$select=id,userPrincipalName,displayName,accountEnabled&$top=2",
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(upns(&r), vec!["ada@contoso.test", "admin@contoso.test"]);
    assert!(r.body["@odata.nextLink"].is_string());

    // Advanced queries: refused without ConsistencyLevel, served with it.
    let advanced = "/v1.0/users?$count=true&$orderby=displayName%20desc&$filter=endswith(userPrincipalName,'contoso.test')&$select=userPrincipalName";
    api.get(advanced, &token)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery");
    let r = api
        .send(
            "GET",
            advanced,
            Some(&token),
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["@odata.count"], 4);
    assert_eq!(
        upns(&r),
        vec![
            "grace@contoso.test",
            "alan@contoso.test",
            "admin@contoso.test",
            "ada@contoso.test"
        ]
    );
    let count = "/v1.0/users/$count?$filter=startswith(displayName,'a')";
    api.get(count, &token)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery");
    let req = Request::builder()
        .uri(count)
        .header("authorization", format!("Bearer {token}"))
        .header("ConsistencyLevel", "eventual")
        .body(Body::empty())
        .unwrap();
    let res = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    assert_eq!(&text[..], b"3", "ada, admin, alan");

    let r = api
        .send(
            "GET",
            "/v1.0/users?$search=%22displayName:gra%22&$select=userPrincipalName",
            Some(&token),
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(upns(&r), vec!["grace@contoso.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_options_are_refused_naming_what_is_wrong() {
    let api = api().await;
    let token = api.app_token(&["User.Read.All"]).await;
    for (uri, code, says) in [
        (
            "/v1.0/users?$select=id,shoeSize",
            "Request_BadRequest",
            "shoeSize",
        ),
        (
            "/v1.0/users?$filter=shoeSize%20eq%20'42'",
            "Request_BadRequest",
            "shoeSize",
        ),
        (
            "/v1.0/users?$filter=displayName%20eq",
            "Request_BadRequest",
            "Invalid filter clause",
        ),
        (
            "/v1.0/users?$filter=assignedLicenses/any()",
            "Request_UnsupportedQuery",
            "not supported",
        ),
        (
            "/v1.0/users?$filter=contains(displayName,'a')",
            "Request_UnsupportedQuery",
            "contains",
        ),
        (
            "/v1.0/users?$top=0",
            "Request_BadRequest",
            "between 1 and 999",
        ),
        (
            "/v1.0/users?$top=1000",
            "Request_BadRequest",
            "between 1 and 999",
        ),
        (
            "/v1.0/users?$orderby=shoeSize",
            "Request_BadRequest",
            "shoeSize",
        ),
        (
            "/v1.0/users?$skiptoken=bm90LW91cnM",
            "Request_BadRequest",
            "$skiptoken",
        ),
        (
            "/v1.0/users?$expand=memberOf",
            "Request_UnsupportedQuery",
            "$expand",
        ),
        (
            "/v1.0/users?$filter=mail%20ne%20null",
            "Request_UnsupportedQuery",
            "ConsistencyLevel",
        ),
    ] {
        let r = api.get(uri, &token).await;
        r.assert_error(StatusCode::BAD_REQUEST, code);
        assert!(r.message().contains(says), "{uri}: {}", r.message());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_force_change_flag_alone_keeps_the_password_and_requires_a_change() {
    let api = api().await;
    api.user("erin@contoso.test", vec![]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let uri = "/v1.0/users/erin%40contoso.test";
    let r = api
        .patch(
            uri,
            &token,
            r#"{"jobTitle":"Buyer","passwordProfile":{"forceChangePasswordNextSignIn":true}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(matches!(
        api.sign_in("erin@contoso.test", PASSWORD).await,
        Err(SignInError::MustChangePassword(_))
    ));
    let read = api.get(&format!("{uri}?$select=jobTitle"), &token).await;
    assert_eq!(read.body["jobTitle"], "Buyer");
    let r = api
        .patch(
            uri,
            &token,
            r#"{"passwordProfile":{"forceChangePasswordNextSignIn":false}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    api.sign_in("erin@contoso.test", PASSWORD).await.unwrap();
    // Setting the flag is a password action: reading users is not enough.
    let reader = api.app_token(&["User.Read.All"]).await;
    let r = api
        .patch(
            uri,
            &reader,
            r#"{"passwordProfile":{"forceChangePasswordNextSignIn":true}}"#,
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    api.sign_in("erin@contoso.test", PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_naming_the_property_and_change_nothing() {
    let api = api().await;
    let u = api.user("dave@contoso.test", vec![]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let uri = "/v1.0/users/dave%40contoso.test";
    for (body, says) in [
        ("{not json", "Unable to read JSON"),
        ("[1,2]", "JSON object"),
        ("", "empty"),
        (r#"{"accountEnabled":"yes"}"#, "accountEnabled"),
        (r#"{"displayName":42}"#, "displayName"),
        (r#"{"businessPhones":"555"}"#, "businessPhones"),
        (
            r#"{"id":"00000000-0000-0000-0000-000000000000"}"#,
            "'id' is read-only",
        ),
        (
            r#"{"createdDateTime":"2020-01-01T00:00:00Z"}"#,
            "createdDateTime",
        ),
        (r#"{"shoeSize":42}"#, "shoeSize"),
        (
            r#"{"passwordProfile":{"password":"Fine-Passw0rd-1","colour":"red"}}"#,
            "passwordProfile.colour",
        ),
        (r#"{"passwordProfile":{}}"#, "passwordProfile"),
        (
            r#"{"passwordProfile":{"forceChangePasswordNextSignIn":"yes"}}"#,
            "passwordProfile.forceChangePasswordNextSignIn",
        ),
        (
            r#"{"passwordProfile":{"password":123}}"#,
            "passwordProfile.password",
        ),
        (r#"{"usageLocation":"Narnia"}"#, "usageLocation"),
        (
            r#"{"passwordPolicies":"DisableEverything"}"#,
            "DisableEverything",
        ),
    ] {
        let r = api.patch(uri, &token, body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
        assert!(r.message().contains(says), "{body}: {}", r.message());
    }
    // A weak password with a valid profile change: the policy's message, nothing written.
    let r = api
        .patch(
            uri,
            &token,
            r#"{"jobTitle":"CTO","passwordProfile":{"password":"short"}}"#,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("complexity"), "{}", r.message());
    assert!(!r.message().contains("short\""));
    let after = api
        .h
        .store
        .find_user(api.h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, u);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_users_needs_graphs_fields_a_verified_domain_and_a_free_upn() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let body = |upn: &str| {
        json!({
            "accountEnabled": true,
            "displayName": "Erin",
            "mailNickname": "erin",
            "userPrincipalName": upn,
            "passwordProfile": {"password": "Kite-Harbour-72q", "forceChangePasswordNextSignIn": true},
        })
        .to_string()
    };
    let r = api
        .send(
            "POST",
            "/v1.0/users",
            Some(&token),
            Some(&body("erin@contoso.test")),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["userPrincipalName"], "erin@contoso.test");
    assert!(r.body["id"].is_string());
    assert!(matches!(
        api.sign_in("erin@contoso.test", "Kite-Harbour-72q").await,
        Err(SignInError::MustChangePassword(_))
    ));

    let r = api
        .send(
            "POST",
            "/v1.0/users",
            Some(&token),
            Some(&body("ERIN@contoso.test")),
            &[],
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(
        r.message()
            .contains("same value for property userPrincipalName")
    );

    let r = api
        .send(
            "POST",
            "/v1.0/users",
            Some(&token),
            Some(&body("erin@fabrikam.test")),
            &[],
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("domain portion"), "{}", r.message());

    let r = api
        .send(
            "POST",
            "/v1.0/users",
            Some(&token),
            Some(r#"{"accountEnabled":true,"displayName":"F","userPrincipalName":"f@contoso.test","passwordProfile":{"password":"Kite-Harbour-72q"}}"#),
            &[],
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("mailNickname"), "{}", r.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_invalid_and_expired_tokens_get_401_with_a_bearer_challenge() {
    let api = api().await;
    let good = api.app_token(&["User.Read.All"]).await;
    let wrong_audience = api
        .issue(TokenRequest {
            audience: "api://something-else".into(),
            issuer: format!("{PUBLIC}/{}/v2.0", api.tenant()),
            tenant_id: api.tenant(),
            object_id: "33333333-3333-3333-3333-333333333333".into(),
            client_id: "33333333-3333-3333-3333-333333333333".into(),
            roles: vec!["User.Read.All".into()],
            scopes: None,
            app_only: true,
        })
        .await;
    // The same token with its signature's first character changed.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &sig[1..]);
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "empty"),
        (Some("garbage".into()), "malformed"),
        (Some(forged), "signature"),
        (Some(wrong_audience), "audience"),
    ];
    for (token, says) in cases {
        let r = api
            .send("GET", "/v1.0/users", token.as_deref(), None, &[])
            .await;
        r.assert_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
        assert!(r.message().to_lowercase().contains(says), "{}", r.message());
        let challenge = r.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
    }
    api.h.clock.advance(Duration::hours(2));
    let r = api.get("/v1.0/users", &good).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(r.message().contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permissions_and_privileged_targets_get_403() {
    let api = api().await;
    let ga = api
        .user(
            "root@contoso.test",
            vec![DirectoryRole::GlobalAdministrator],
        )
        .await;
    let plain = api.user("plain@contoso.test", vec![]).await;
    let reader = api.app_token(&["User.Read.All"]).await;
    let reset = r#"{"passwordProfile":{"password":"Reset-Passw0rd-9"}}"#;
    api.patch("/v1.0/users/plain%40contoso.test", &reader, reset)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");

    // An application with the permission but no directory role: ordinary users only.
    let writer = api.app_token(&["User.ReadWrite.All"]).await;
    api.patch("/v1.0/users/root%40contoso.test", &writer, reset)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");

    // A Helpdesk Administrator signed in through a delegated token: same rule.
    let helpdesk = api
        .user(
            "help@contoso.test",
            vec![DirectoryRole::HelpdeskAdministrator],
        )
        .await;
    let token = api.user_token(&helpdesk, "User.ReadWrite.All").await;
    api.patch(&format!("/v1.0/users/{}", ga.id), &token, reset)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let r = api
        .patch(&format!("/v1.0/users/{}", plain.id), &token, reset)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // But not create users: that needs a role that allows it.
    let r = api
        .send(
            "POST",
            "/v1.0/users",
            Some(&token),
            Some(r#"{"accountEnabled":true,"displayName":"X","mailNickname":"x","userPrincipalName":"x@contoso.test","passwordProfile":{"password":"Kite-Harbour-72q"}}"#),
            &[],
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_sessions_answers_true_and_kills_earlier_delegated_tokens() {
    let api = api().await;
    let u = api.user("gina@contoso.test", vec![]).await;
    let user_token = api.user_token(&u, "User.Read").await;
    assert_eq!(
        api.get("/v1.0/me", &user_token).await.status,
        StatusCode::OK
    );
    let admin = api.app_token(&["User.ReadWrite.All"]).await;
    api.h.clock.advance(Duration::seconds(2));
    let r = api
        .send(
            "POST",
            "/v1.0/users/gina%40contoso.test/revokeSignInSessions",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["value"], true);
    let r = api.get("/v1.0/me", &user_token).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(r.message().contains("revoked"));
    let fresh = api.user_token(&u, "User.Read").await;
    assert_eq!(api.get("/v1.0/me", &fresh).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_and_change_password_are_for_signed_in_users() {
    let api = api().await;
    let u = api.user("hana@contoso.test", vec![]).await;
    let token = api
        .user_token(&u, "User.Read Directory.AccessAsUser.All")
        .await;
    let r = api
        .get("/v1.0/me?$select=id,userPrincipalName", &token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["userPrincipalName"], "hana@contoso.test");

    let wrong = r#"{"currentPassword":"Not-It-At-All-1","newPassword":"Lime-Harbour-58x"}"#;
    let r = api
        .send(
            "POST",
            "/v1.0/me/changePassword",
            Some(&token),
            Some(wrong),
            &[],
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("currentPassword"));
    let right = format!(r#"{{"currentPassword":"{PASSWORD}","newPassword":"Lime-Harbour-58x"}}"#);
    let r = api
        .send(
            "POST",
            "/v1.0/me/changePassword",
            Some(&token),
            Some(&right),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    api.sign_in("hana@contoso.test", "Lime-Harbour-58x")
        .await
        .unwrap();

    let app = api.app_token(&["User.ReadWrite.All"]).await;
    api.get("/v1.0/me", &app)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_users_are_listed_restored_and_deleted_for_good() {
    let api = api().await;
    let u = api.user("ivan@contoso.test", vec![]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let r = api
        .send(
            "DELETE",
            "/v1.0/users/ivan%40contoso.test",
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    api.get("/v1.0/users/ivan%40contoso.test", &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let r = api
        .get("/v1.0/directory/deletedItems/microsoft.graph.user", &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["value"][0]["id"], u.id.to_string());
    assert!(r.body["value"][0]["deletedDateTime"].is_string());
    let r = api
        .send(
            "POST",
            &format!("/v1.0/directory/deletedItems/{}/restore", u.id),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["userPrincipalName"], "ivan@contoso.test");
    assert_eq!(
        api.get("/v1.0/users/ivan%40contoso.test", &token)
            .await
            .status,
        StatusCode::OK
    );

    api.send(
        "DELETE",
        &format!("/v1.0/users/{}", u.id),
        Some(&token),
        None,
        &[],
    )
    .await;
    let r = api
        .send(
            "DELETE",
            &format!("/v1.0/directory/deletedItems/{}", u.id),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    api.send(
        "POST",
        &format!("/v1.0/directory/deletedItems/{}/restore", u.id),
        Some(&token),
        None,
        &[],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    // The audit trail tells the story, and says it came through Graph.
    let audit = api
        .h
        .store
        .list_audit_events(api.h.tenant(), 1)
        .await
        .unwrap();
    assert_eq!(audit[0].activity, "Hard delete user");
    assert_eq!(audit[0].channel, Channel::Graph);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_segments_and_methods_still_get_graphs_envelope() {
    let api = api().await;
    let token = api.app_token(&["User.Read.All"]).await;
    let r = api.get("/v1.0/groups", &token).await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("groups"));
    let r = api
        .send("PUT", "/v1.0/users", Some(&token), None, &[])
        .await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "Request_BadRequest");
    // client-request-id is echoed when it is a GUID.
    let id = "0f0f0f0f-1111-2222-3333-444444444444";
    let r = api
        .send(
            "GET",
            "/v1.0/users/nobody%40contoso.test",
            Some(&token),
            None,
            &[("client-request-id", id)],
        )
        .await;
    assert_eq!(r.body["error"]["innerError"]["client-request-id"], id);
}

/// Entra's "who can reset whose password" table, over HTTP: signed-in administrators of each
/// role (delegated `User.ReadWrite.All`) and applications with each permission (no directory
/// role), against targets holding each role and none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_reset_matrix_over_http_matches_entras_table() {
    use DirectoryRole::*;
    let api = api().await;
    let mut targets: Vec<(Option<DirectoryRole>, User)> =
        vec![(None, api.user("target-none@contoso.test", vec![]).await)];
    for (i, role) in DirectoryRole::ALL.into_iter().enumerate() {
        targets.push((
            Some(role),
            api.user(&format!("target-{i}@contoso.test"), vec![role])
                .await,
        ));
    }
    // Which targets each actor may reset, straight from spec/graph-entra.md §3.
    let allowed = |actor: DirectoryRole, target: Option<DirectoryRole>| -> bool {
        match (actor, target) {
            // A License, SaaS reader or Lifecycle Workflows Administrator resets nobody's
            // password.
            (
                LicenseAdministrator
                | SaasItReader
                | SaasFinanceReader
                | SaasSecurityReader
                | LifecycleWorkflowsAdministrator,
                _,
            ) => false,
            (_, None) => true,
            (GlobalAdministrator | PrivilegedAuthenticationAdministrator, _) => true,
            (UserAdministrator, Some(t)) => {
                matches!(
                    t,
                    HelpdeskAdministrator
                        | PasswordAdministrator
                        | UserAdministrator
                        | LicenseAdministrator
                        | SaasItReader
                        | SaasFinanceReader
                        | SaasSecurityReader
                )
            }
            (HelpdeskAdministrator | PasswordAdministrator, Some(t)) => {
                matches!(t, HelpdeskAdministrator | PasswordAdministrator)
            }
        }
    };
    let reset = r#"{"passwordProfile":{"password":"Matrix-Passw0rd-7","forceChangePasswordNextSignIn":true}}"#;
    for (i, actor_role) in DirectoryRole::ALL.into_iter().enumerate() {
        let actor = api
            .user(&format!("actor-{i}@contoso.test"), vec![actor_role])
            .await;
        let token = api.user_token(&actor, "User.ReadWrite.All").await;
        for (target_role, target) in &targets {
            let r = api
                .patch(&format!("/v1.0/users/{}", target.id), &token, reset)
                .await;
            let want = allowed(actor_role, *target_role);
            assert_eq!(
                r.status == StatusCode::NO_CONTENT,
                want,
                "{actor_role:?} resetting {target_role:?}: {} {}",
                r.status,
                r.body
            );
            if !want {
                r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
            }
        }
    }
    for (permission, may_reset_ordinary) in [
        ("User.ReadWrite.All", true),
        ("User-PasswordProfile.ReadWrite.All", true),
        ("Directory.ReadWrite.All", true),
        ("User.Read.All", false),
    ] {
        let token = api.app_token(&[permission]).await;
        for (target_role, target) in &targets {
            let r = api
                .patch(&format!("/v1.0/users/{}", target.id), &token, reset)
                .await;
            let want = may_reset_ordinary && target_role.is_none();
            assert_eq!(
                r.status == StatusCode::NO_CONTENT,
                want,
                "app with {permission} resetting {target_role:?}: {} {}",
                r.status,
                r.body
            );
        }
    }
}

const PASSWORD_METHOD: &str = "28c10230-6103-485e-b985-444c60001490";

impl Api {
    async fn post(&self, uri: &str, token: &str, body: &str) -> Answer {
        self.send("POST", uri, Some(token), Some(body), &[]).await
    }

    fn reset_uri(user: &str) -> String {
        format!("/v1.0/users/{user}/authentication/methods/{PASSWORD_METHOD}/resetPassword")
    }

    /// The operation's path on this router, from the absolute `Location` of a 202.
    fn operation_path(r: &Answer) -> String {
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let location = r.headers["location"].to_str().unwrap();
        location
            .strip_prefix(PUBLIC)
            .unwrap_or_else(|| panic!("Location is not on the public URL: {location}"))
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_without_a_password_generates_one_that_the_operation_tells_exactly_once() {
    reset_generates_and_tells_once_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_without_a_password_generates_one_that_the_operation_tells_exactly_once_on_postgres()
 {
    reset_generates_and_tells_once_on(Backend::Postgres).await;
}

async fn reset_generates_and_tells_once_on(backend: Backend) {
    let api = api_on(backend).await;
    let carol = api.user("carol@contoso.test", vec![]).await;
    let token = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let r = api
        .post(&Api::reset_uri("carol%40contoso.test"), &token, "{}")
        .await;
    let operation = Api::operation_path(&r);
    assert!(
        operation.starts_with(&format!(
            "/v1.0/users/{}/authentication/operations/",
            carol.id
        )),
        "{operation}"
    );
    assert_eq!(r.body, Value::Null, "the 202 carries no password");

    let first = api.get(&operation, &token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["status"], "succeeded");
    assert_eq!(first.headers["cache-control"], "no-store");
    let generated = first.body["newPassword"].as_str().unwrap().to_owned();
    assert!(generated.len() >= 8);
    // The admin's temporary password: it signs in, and must be changed at once.
    assert!(matches!(
        api.sign_in("carol@contoso.test", &generated).await,
        Err(SignInError::MustChangePassword(_))
    ));
    assert!(matches!(
        api.sign_in("carol@contoso.test", PASSWORD).await,
        Err(SignInError::WrongPassword)
    ));

    let second = api.get(&operation, &token).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["status"], "succeeded");
    assert!(
        second.body.get("newPassword").is_none(),
        "told once: {}",
        second.body
    );
    assert!(!second.body.to_string().contains(&generated));

    // Nor is it in the audit log.
    let events = api
        .h
        .store
        .list_audit_events(api.h.tenant(), 100)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.activity == "Reset user password"
        && e.target_id.as_deref() == Some(&carol.id.to_string())));
    assert!(!format!("{events:?}").contains(&generated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_with_a_given_password_checks_the_policy_and_never_echoes_it() {
    let api = api().await;
    api.user("dave@contoso.test", vec![]).await;
    let token = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let uri = Api::reset_uri("dave%40contoso.test");

    let weak = api.post(&uri, &token, r#"{"newPassword":"short"}"#).await;
    weak.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(weak.message().contains("complexity"), "{}", weak.body);
    api.sign_in("dave@contoso.test", PASSWORD).await.unwrap();

    let r = api
        .post(&uri, &token, r#"{"newPassword":"Quarry-Beacon-318"}"#)
        .await;
    let operation = Api::operation_path(&r);
    let op = api.get(&operation, &token).await;
    assert_eq!(op.status, StatusCode::OK, "{}", op.body);
    assert_eq!(op.body["status"], "succeeded");
    assert!(op.body.get("newPassword").is_none(), "{}", op.body);
    assert!(matches!(
        api.sign_in("dave@contoso.test", "Quarry-Beacon-318").await,
        Err(SignInError::MustChangePassword(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_refuses_bad_input_and_missing_permissions_and_changes_nothing() {
    use DirectoryRole::*;
    let api = api().await;
    let erin = api.user("erin@contoso.test", vec![]).await;
    let admin = api.user("boss@contoso.test", vec![UserAdministrator]).await;
    let token = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let uri = Api::reset_uri(&erin.id.to_string());

    let r = api
        .post(
            &uri,
            &token,
            r#"{"newPassword":"Quarry-Beacon-318","force":true}"#,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("'force'"), "{}", r.body);
    let r = api.post(&uri, &token, r#"{"newPassword":42}"#).await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("newPassword"), "{}", r.body);
    let r = api.post(&uri, &token, r#"{"newPassword":"#).await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");

    let other_method = format!(
        "/v1.0/users/{}/authentication/methods/3179e48a-750b-4051-897c-87b9720928f7/resetPassword",
        erin.id
    );
    api.post(&other_method, &token, "{}")
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    api.post(&Api::reset_uri("nobody%40contoso.test"), &token, "{}")
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");

    // passwordProfile's permissions are not the authentication method's.
    for permission in ["User-PasswordProfile.ReadWrite.All", "User.ReadWrite.All"] {
        let other = api.app_token(&[permission]).await;
        api.post(&uri, &other, "{}")
            .await
            .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    }
    // An administrator needs a role allowed to reset them, which an app without one lacks.
    api.post(&Api::reset_uri(&admin.id.to_string()), &token, "{}")
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");

    api.sign_in("erin@contoso.test", PASSWORD).await.unwrap();
    api.sign_in("boss@contoso.test", PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_operation_is_only_for_its_caller_and_only_for_a_while() {
    let api = api().await;
    let frank = api.user("frank@contoso.test", vec![]).await;
    let grace = api.user("grace@contoso.test", vec![]).await;
    let token = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let other_app = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let r = api
        .post(&Api::reset_uri(&frank.id.to_string()), &token, "")
        .await;
    let operation = Api::operation_path(&r);
    let op_id = operation.rsplit('/').next().unwrap().to_owned();

    // Another app, the operation under another user, an unknown id: none of them exists.
    api.get(&operation, &other_app)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    api.get(
        &format!("/v1.0/users/{}/authentication/operations/{op_id}", grace.id),
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    api.get(
        &format!(
            "/v1.0/users/{}/authentication/operations/{}",
            frank.id,
            uuid::Uuid::new_v4()
        ),
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");

    // Unread, the password is forgotten when the operation expires.
    api.h.clock.advance(Duration::minutes(16));
    api.get(&operation, &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

/// Entra's who-may-reset-whom table holds for the authentication-method reset too, for
/// administrators signed in through an app with the delegated
/// `UserAuthenticationMethod.ReadWrite.All`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_by_delegated_admins_follows_entras_table() {
    use DirectoryRole::*;
    let api = api().await;
    let ordinary = api.user("plain@contoso.test", vec![]).await;
    let global = api
        .user("global@contoso.test", vec![GlobalAdministrator])
        .await;
    let user_admin = api
        .user("useradmin@contoso.test", vec![UserAdministrator])
        .await;
    for (role, target, want) in [
        (HelpdeskAdministrator, &ordinary, true),
        (HelpdeskAdministrator, &user_admin, false),
        (UserAdministrator, &ordinary, true),
        (UserAdministrator, &global, false),
        (GlobalAdministrator, &global, true),
    ] {
        let actor = api
            .user(
                &format!("actor-{}@contoso.test", uuid::Uuid::new_v4()),
                vec![role],
            )
            .await;
        let token = api
            .user_token(&actor, "UserAuthenticationMethod.ReadWrite.All")
            .await;
        let r = api
            .post(&Api::reset_uri(&target.id.to_string()), &token, "{}")
            .await;
        if want {
            let op = api.get(&Api::operation_path(&r), &token).await;
            assert!(op.body["newPassword"].is_string(), "{}", op.body);
        } else {
            r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
        }
    }
    // A member without a role may not, whatever the token says.
    let member = api.user("member@contoso.test", vec![]).await;
    let token = api
        .user_token(&member, "UserAuthenticationMethod.ReadWrite.All")
        .await;
    api.post(&Api::reset_uri(&ordinary.id.to_string()), &token, "{}")
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
}

const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const HELPDESK_ADMIN: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

fn member_ref(user: &User) -> String {
    format!(
        r#"{{"@odata.id":"{PUBLIC}/v1.0/directoryObjects/{}"}}"#,
        user.id
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_roles_are_listed_with_template_ids_and_their_members_page() {
    roles_and_members_page_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_roles_are_listed_with_template_ids_and_their_members_page_on_postgres() {
    roles_and_members_page_on(Backend::Postgres).await;
}

async fn roles_and_members_page_on(backend: Backend) {
    use DirectoryRole::*;
    let api = api_on(backend).await;
    let token = api.app_token(&["Directory.Read.All"]).await;
    let r = api.get("/v1.0/directoryRoles", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let roles = r.body["value"].as_array().unwrap();
    assert_eq!(roles.len(), DirectoryRole::ALL.len());
    let global = roles
        .iter()
        .find(|v| v["displayName"] == "Global Administrator")
        .unwrap();
    assert_eq!(global["roleTemplateId"], GLOBAL_ADMIN);
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#directoryRoles")
    );

    let mut helpdesk = Vec::new();
    for name in ["hd-a", "hd-b", "hd-c"] {
        helpdesk.push(
            api.user(&format!("{name}@contoso.test"), vec![HelpdeskAdministrator])
                .await,
        );
    }
    api.user("plain@contoso.test", vec![]).await;
    let first = api
        .get(
            &format!(
                "/v1.0/directoryRoles/{HELPDESK_ADMIN}/members?$top=2&$select=id,userPrincipalName"
            ),
            &token,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let page: Vec<&str> = first.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_eq!(u["@odata.type"], "#microsoft.graph.user");
            u["userPrincipalName"].as_str().unwrap()
        })
        .collect();
    assert_eq!(page, ["hd-a@contoso.test", "hd-b@contoso.test"]);
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    let second = api.get(next.strip_prefix(PUBLIC).unwrap(), &token).await;
    assert_eq!(
        second.body["value"][0]["userPrincipalName"],
        "hd-c@contoso.test"
    );
    assert!(second.body.get("@odata.nextLink").is_none());

    let of = api
        .get(&format!("/v1.0/users/{}/memberOf", helpdesk[0].id), &token)
        .await;
    assert_eq!(of.status, StatusCode::OK, "{}", of.body);
    assert_eq!(of.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        of.body["value"][0]["@odata.type"],
        "#microsoft.graph.directoryRole"
    );
    assert_eq!(of.body["value"][0]["roleTemplateId"], HELPDESK_ADMIN);

    api.get(
        "/v1.0/directoryRoles/00000000-0000-0000-0000-000000000001/members",
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let reader = api.app_token(&["User.Read.All"]).await;
    api.get("/v1.0/directoryRoles", &reader)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigning_a_role_over_graph_gives_its_powers_and_removing_it_takes_them_away() {
    let api = api().await;
    let helper = api.user("helper@contoso.test", vec![]).await;
    let victim = api.user("victim@contoso.test", vec![]).await;
    let token = api.app_token(&["RoleManagement.ReadWrite.Directory"]).await;
    let members = format!("/v1.0/directoryRoles/{HELPDESK_ADMIN}/members/$ref");
    let helper_token = api.user_token(&helper, "User.ReadWrite.All").await;
    let reset = r#"{"passwordProfile":{"password":"Granite-Meadow-74","forceChangePasswordNextSignIn":true}}"#;
    let victim_uri = format!("/v1.0/users/{}", victim.id);
    api.patch(&victim_uri, &helper_token, reset)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");

    let r = api.post(&members, &token, &member_ref(&helper)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = api.patch(&victim_uri, &helper_token, reset).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    api.post(&members, &token, &member_ref(&helper))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");

    let remove = format!(
        "/v1.0/directoryRoles/{HELPDESK_ADMIN}/members/{}/$ref",
        helper.id
    );
    let r = api.send("DELETE", &remove, Some(&token), None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    api.patch(&victim_uri, &helper_token, reset)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    api.send("DELETE", &remove, Some(&token), None, &[])
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let of = api
        .get(&format!("/v1.0/users/{}/memberOf", helper.id), &token)
        .await;
    assert_eq!(of.body["value"], json!([]));

    // Both changes are in the audit log under Entra's activity names.
    let events = api
        .h
        .store
        .list_audit_events(api.h.tenant(), 100)
        .await
        .unwrap();
    let on_helper: Vec<&str> = events
        .iter()
        .filter(|e| e.target_id.as_deref() == Some(&helper.id.to_string()))
        .map(|e| e.activity.as_str())
        .collect();
    assert_eq!(
        on_helper[..2],
        ["Remove member from role", "Add member to role"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_global_administrators_and_role_management_apps_assign_roles() {
    use DirectoryRole::*;
    let api = api().await;
    let target = api.user("target@contoso.test", vec![]).await;
    let members = format!("/v1.0/directoryRoles/{HELPDESK_ADMIN}/members/$ref");
    for permission in ["User.ReadWrite.All", "Directory.ReadWrite.All"] {
        let token = api.app_token(&[permission]).await;
        api.post(&members, &token, &member_ref(&target))
            .await
            .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    }
    let user_admin = api.user("ua@contoso.test", vec![UserAdministrator]).await;
    let token = api
        .user_token(&user_admin, "RoleManagement.ReadWrite.Directory")
        .await;
    api.post(&members, &token, &member_ref(&target))
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let global = api.user("ga@contoso.test", vec![GlobalAdministrator]).await;
    let token = api
        .user_token(&global, "RoleManagement.ReadWrite.Directory")
        .await;

    // Bad references are refused naming what is wrong, and assign nothing.
    for (body, code) in [
        (r#"{"@odata.id":42}"#, StatusCode::BAD_REQUEST),
        (r#"{}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"@odata.id":"https://x/v1.0/groups/1b4f1b4c-0000-0000-0000-000000000000"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"@odata.id":"https://x/v1.0/directoryObjects/1b4f1b4c-0000-0000-0000-000000000000"}"#,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = api.post(&members, &token, body).await;
        assert_eq!(r.status, code, "{body}: {}", r.body);
    }
    let r = api
        .post(
            &members,
            &token,
            &format!(
                r#"{{"@odata.id":"x/directoryObjects/{}","extra":1}}"#,
                target.id
            ),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("'extra'"), "{}", r.body);
    let of = api
        .get(&format!("/v1.0/users/{}/memberOf", target.id), &token)
        .await;
    assert_eq!(of.body["value"], json!([]));

    let r = api.post(&members, &token, &member_ref(&target)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    // The last Global Administrator keeps the role.
    let admins = api
        .get(
            &format!("/v1.0/directoryRoles/{GLOBAL_ADMIN}/members"),
            &token,
        )
        .await;
    let ids: Vec<String> = admins.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .filter(|id| *id != global.id.to_string())
        .collect();
    for id in &ids {
        let r = api
            .send(
                "DELETE",
                &format!("/v1.0/directoryRoles/{GLOBAL_ADMIN}/members/{id}/$ref"),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    let r = api
        .send(
            "DELETE",
            &format!(
                "/v1.0/directoryRoles/{GLOBAL_ADMIN}/members/{}/$ref",
                global.id
            ),
            Some(&token),
            None,
            &[],
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(
        r.message().contains("last Global Administrator"),
        "{}",
        r.body
    );
}

/// Every page of a log, following absolute next links.
async fn all_pages(api: &Api, first: &str, token: &str) -> (Vec<Value>, usize) {
    let mut uri = first.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let r = api.get(&uri, token).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        pages += 1;
        items.extend(r.body["value"].as_array().unwrap().iter().cloned());
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => uri = next.strip_prefix(PUBLIC).unwrap().to_owned(),
            None => return (items, pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_audits_page_newest_first_filter_as_graph_does_and_hold_no_password() {
    directory_audits_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_audits_page_newest_first_filter_as_graph_does_and_hold_no_password_on_postgres()
{
    directory_audits_on(Backend::Postgres).await;
}

async fn directory_audits_on(backend: Backend) {
    use DirectoryRole::*;
    let api = api_on(backend).await;
    let reader = api.app_token(&["AuditLog.Read.All"]).await;
    let writer = api.app_token(&["User.ReadWrite.All"]).await;
    let global = api.user("ga@contoso.test", vec![GlobalAdministrator]).await;
    let ga_token = api.user_token(&global, "User.ReadWrite.All").await;
    let before = api.h.clock.now();
    api.h.clock.advance(Duration::hours(1));
    let since = api.h.clock.now();
    for name in ["ann", "ben", "cat"] {
        let r = api
            .post(
                "/v1.0/users",
                &writer,
                &format!(
                    r#"{{"accountEnabled":true,"displayName":"{name}","mailNickname":"{name}","userPrincipalName":"{name}@contoso.test","passwordProfile":{{"password":"Created-Quarry-917"}}}}"#
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = api
        .patch(
            "/v1.0/users/ben%40contoso.test",
            &ga_token,
            r#"{"passwordProfile":{"password":"Patched-Lagoon-464"}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let (all, pages) = all_pages(&api, "/v1.0/auditLogs/directoryAudits?$top=2", &reader).await;
    let stored = api
        .h
        .store
        .list_audit_events(api.h.tenant(), 999)
        .await
        .unwrap();
    assert_eq!(all.len(), stored.len());
    assert_eq!(pages, stored.len().div_ceil(2));
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["activityDateTime"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "no event twice across pages");

    let q = |f: &str| format!("/v1.0/auditLogs/directoryAudits?$filter={}", urlencoding(f));
    let (resets, _) = all_pages(
        &api,
        &q("activityDisplayName eq 'Reset user password'"),
        &reader,
    )
    .await;
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(
        resets[0]["targetResources"][0]["userPrincipalName"],
        "ben@contoso.test"
    );
    assert_eq!(
        resets[0]["initiatedBy"]["user"]["id"],
        global.id.to_string()
    );
    assert_eq!(resets[0]["category"], "UserManagement");
    assert_eq!(resets[0]["result"], "success");

    let (by_ga, _) = all_pages(
        &api,
        &q(&format!("initiatedBy/user/id eq '{}'", global.id)),
        &reader,
    )
    .await;
    assert_eq!(by_ga.len(), 1);
    let ben = resets[0]["targetResources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (on_ben, _) = all_pages(
        &api,
        &q(&format!("targetResources/any(t:t/id eq '{ben}')")),
        &reader,
    )
    .await;
    let activities: Vec<&str> = on_ben
        .iter()
        .map(|e| e["activityDisplayName"].as_str().unwrap())
        .collect();
    assert_eq!(activities, ["Reset user password", "Add user"]);
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (recent, _) = all_pages(
        &api,
        &q(&format!("activityDateTime ge {}", fmt(since))),
        &reader,
    )
    .await;
    assert_eq!(recent.len(), 4, "three users added, one reset");
    let (older, _) = all_pages(
        &api,
        &q(&format!("activityDateTime le {}", fmt(before))),
        &reader,
    )
    .await;
    assert_eq!(older.len() + recent.len(), all.len());

    let text = serde_json::to_string(&all).unwrap();
    for secret in ["Created-Quarry-917", "Patched-Lagoon-464", PASSWORD] {
        assert!(!text.contains(secret), "a password is in the audit log");
    }
}

fn urlencoding(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_are_listed_and_filtered_by_user_and_error_code_without_the_typed_password() {
    let api = api().await;
    let reader = api.app_token(&["AuditLog.Read.All"]).await;
    api.user("dora@contoso.test", vec![]).await;
    api.user("eve@contoso.test", vec![]).await;
    let start = api.h.clock.now();
    assert!(
        api.sign_in("dora@contoso.test", "Wrong-Guess-981")
            .await
            .is_err()
    );
    api.h.clock.advance(Duration::minutes(1));
    api.sign_in("dora@contoso.test", PASSWORD).await.unwrap();
    api.sign_in("eve@contoso.test", PASSWORD).await.unwrap();

    let q = |f: &str| format!("/v1.0/auditLogs/signIns?$filter={}", urlencoding(f));
    let (dora, _) = all_pages(
        &api,
        &q("userPrincipalName eq 'DORA@contoso.test'"),
        &reader,
    )
    .await;
    assert_eq!(dora.len(), 2);
    assert_eq!(dora[0]["status"]["errorCode"], 0, "newest first");
    assert_eq!(dora[1]["status"]["errorCode"], 50126);
    assert!(
        dora[0]["createdDateTime"].as_str().unwrap() > dora[1]["createdDateTime"].as_str().unwrap()
    );
    let (failed, _) = all_pages(&api, &q("status/errorCode eq 50126"), &reader).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["userPrincipalName"], "dora@contoso.test");
    let after = (start + Duration::seconds(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (later, _) = all_pages(&api, &q(&format!("createdDateTime ge {after}")), &reader).await;
    assert_eq!(later.len(), 2);
    let (paged, pages) = all_pages(&api, "/v1.0/auditLogs/signIns?$top=1", &reader).await;
    assert_eq!((paged.len(), pages), (3, 3));

    let text = serde_json::to_string(&paged).unwrap();
    assert!(!text.contains("Wrong-Guess-981"));
    assert!(!text.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_logs_need_audit_log_read_all_and_refuse_bad_filters_naming_them() {
    use DirectoryRole::*;
    let api = api().await;
    for path in ["/v1.0/auditLogs/directoryAudits", "/v1.0/auditLogs/signIns"] {
        let writer = api
            .app_token(&["User.ReadWrite.All", "Directory.Read.All"])
            .await;
        api.get(path, &writer)
            .await
            .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    }
    let user_admin = api.user("ua@contoso.test", vec![UserAdministrator]).await;
    let token = api.user_token(&user_admin, "AuditLog.Read.All").await;
    api.get("/v1.0/auditLogs/directoryAudits", &token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let global = api.user("ga@contoso.test", vec![GlobalAdministrator]).await;
    let token = api.user_token(&global, "AuditLog.Read.All").await;
    let r = api.get("/v1.0/auditLogs/directoryAudits", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let reader = api.app_token(&["AuditLog.Read.All"]).await;
    let r = api
        .get(
            &format!(
                "/v1.0/auditLogs/directoryAudits?$filter={}",
                urlencoding("colour eq 'red'")
            ),
            &reader,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("'colour'"), "{}", r.body);
    let r = api
        .get(
            &format!(
                "/v1.0/auditLogs/signIns?$filter={}",
                urlencoding("createdDateTime ge yesterday")
            ),
            &reader,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(r.message().contains("yesterday"), "{}", r.body);
    for query in [
        format!(
            "$filter={}",
            urlencoding("category eq 'a' or category eq 'b'")
        ),
        "$orderby=activityDateTime".to_owned(),
    ] {
        api.get(&format!("/v1.0/auditLogs/directoryAudits?{query}"), &reader)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery");
    }
    api.get(
        "/v1.0/auditLogs/directoryAudits?$skiptoken=bm90LWEtbnVtYmVy",
        &reader,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    api.get("/v1.0/auditLogs/signIns?$top=0", &reader)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected() {
    let api = api_with(Backend::Sqlite, Throttle::per_minute(3)).await;
    let busy = api.app_token(&["User.Read.All"]).await;
    let calm = api.app_token(&["User.Read.All"]).await;
    for _ in 0..3 {
        assert_eq!(api.get("/v1.0/users", &busy).await.status, StatusCode::OK);
    }
    let r = api.get("/v1.0/users", &busy).await;
    r.assert_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    assert_eq!(
        r.headers["retry-after"], "20",
        "three a minute: one every 20 s"
    );
    assert!(r.message().contains("3 requests a minute"), "{}", r.body);
    assert_eq!(api.get("/v1.0/users", &calm).await.status, StatusCode::OK);

    api.h.clock.advance(Duration::seconds(19));
    api.get("/v1.0/users", &busy)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    api.h.clock.advance(Duration::seconds(1));
    assert_eq!(api.get("/v1.0/users", &busy).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_also_removed_by_ref_with_its_url_in_the_query() {
    let api = api().await;
    let helper = api
        .user(
            "helper@contoso.test",
            vec![DirectoryRole::HelpdeskAdministrator],
        )
        .await;
    let token = api.app_token(&["RoleManagement.ReadWrite.Directory"]).await;
    let base = format!("/v1.0/directoryRoles/{HELPDESK_ADMIN}/members/$ref");
    api.send("DELETE", &base, Some(&token), None, &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    let url = format!("{PUBLIC}/v1.0/directoryObjects/{}", helper.id);
    let r = api
        .send(
            "DELETE",
            &format!("{base}?@id={}", urlencoding(&url)),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let of = api
        .get(&format!("/v1.0/users/{}/memberOf", helper.id), &token)
        .await;
    assert_eq!(of.body["value"], json!([]));
}

/// Registers an authenticator app and a recovery e-mail for `user`, as they would on My account.
async fn with_methods(api: &Api, user: &User) {
    use latchkey_core::auth_method::{parse_totp_secret_base32, totp_code, totp_step};
    use latchkey_core::authz::Actor;
    use latchkey_core::directory::UserRef;
    use secrecy::ExposeSecret;
    let me = Actor::User {
        id: user.id,
        display: user.user_principal_name.to_string(),
        roles: vec![],
        scopes: None,
        channel: Channel::SelfService,
    };
    let r = UserRef::Id(user.id);
    let d = &api.h.directory;
    let e = d
        .begin_totp_registration(&me, api.h.tenant(), &r)
        .await
        .unwrap();
    let raw = parse_totp_secret_base32(e.secret.expose_secret()).unwrap();
    let code = totp_code(raw.expose_secret(), totp_step(api.h.clock.now())).unwrap();
    d.finish_totp_registration(&me, api.h.tenant(), &r, e.method_id, &code)
        .await
        .unwrap();
    d.add_email_method(&me, api.h.tenant(), &r, "kim.home@example.org")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_methods_are_listed_in_graphs_shapes_without_secrets() {
    let api = api().await;
    let kim = api.user("kim@contoso.test", vec![]).await;
    with_methods(&api, &kim).await;
    let token = api.app_token(&["UserAuthenticationMethod.Read.All"]).await;
    let all = api
        .get(
            &format!("/v1.0/users/{}/authentication/methods", kim.id),
            &token,
        )
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let mut types: Vec<&str> = all.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    // The password method first; the others registered in the same (injected) instant come
    // in no particular order.
    types[1..].sort_unstable();
    assert_eq!(
        types,
        vec![
            "#microsoft.graph.passwordAuthenticationMethod",
            "#microsoft.graph.emailAuthenticationMethod",
            "#microsoft.graph.softwareOathAuthenticationMethod",
        ]
    );
    let of_type = |t: &str| {
        all.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["@odata.type"] == t)
            .unwrap()
            .clone()
    };
    assert!(of_type("#microsoft.graph.softwareOathAuthenticationMethod")["secretKey"].is_null());
    assert_eq!(
        of_type("#microsoft.graph.emailAuthenticationMethod")["emailAddress"],
        "kim.home@example.org"
    );
    assert!(
        all.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/authentication/methods")
    );

    let oath = api
        .get(
            "/v1.0/users/kim@contoso.test/authentication/softwareOathMethods",
            &token,
        )
        .await;
    assert_eq!(oath.body["value"].as_array().unwrap().len(), 1);
    let id = oath.body["value"][0]["id"].as_str().unwrap().to_owned();
    let one = api
        .get(
            &format!(
                "/v1.0/users/{}/authentication/softwareOathMethods/{id}",
                kim.id
            ),
            &token,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["id"], id.as_str());
    // The same id is not an e-mail method.
    api.get(
        &format!("/v1.0/users/{}/authentication/emailMethods/{id}", kim.id),
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let password = api
        .get(
            &format!(
                "/v1.0/users/{}/authentication/methods/28c10230-6103-485e-b985-444c60001490",
                kim.id
            ),
            &token,
        )
        .await;
    assert_eq!(
        password.body["@odata.type"],
        "#microsoft.graph.passwordAuthenticationMethod"
    );
    assert!(password.body["password"].is_null());
    api.get(
        &format!(
            "/v1.0/users/{}/authentication/emailMethods/28c10230-6103-485e-b985-444c60001490",
            kim.id
        ),
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let emails = api
        .get(
            &format!("/v1.0/users/{}/authentication/emailMethods", kim.id),
            &token,
        )
        .await;
    assert_eq!(emails.body["value"].as_array().unwrap().len(), 1);

    // The signed-in user reads their own with the delegated permission.
    let mine = api
        .get(
            "/v1.0/me/authentication/methods",
            &api.user_token(&kim, "UserAuthenticationMethod.Read").await,
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body["value"].as_array().unwrap().len(), 3);
    api.get(
        "/v1.0/me/authentication/methods",
        &api.user_token(&kim, "User.Read").await,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_method_needs_read_write_and_leaves_the_password_alone() {
    let api = api().await;
    let kim = api.user("kim@contoso.test", vec![]).await;
    let lee = api.user("lee@contoso.test", vec![]).await;
    with_methods(&api, &kim).await;
    let reader = api.app_token(&["UserAuthenticationMethod.Read.All"]).await;
    let writer = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let users_only = api.app_token(&["User.ReadWrite.All"]).await;
    let list = api
        .get(
            &format!("/v1.0/users/{}/authentication/softwareOathMethods", kim.id),
            &reader,
        )
        .await;
    let id = list.body["value"][0]["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/v1.0/users/{}/authentication/softwareOathMethods/{id}",
        kim.id
    );

    api.get(&path, &users_only)
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    api.send("DELETE", &path, Some(&reader), None, &[])
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    // Another user's method under Lee's name does not exist.
    api.send(
        "DELETE",
        &format!(
            "/v1.0/users/{}/authentication/softwareOathMethods/{id}",
            lee.id
        ),
        Some(&writer),
        None,
        &[],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    api.send(
        "DELETE",
        &format!(
            "/v1.0/users/{}/authentication/methods/28c10230-6103-485e-b985-444c60001490",
            kim.id
        ),
        Some(&writer),
        None,
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");

    let gone = api.send("DELETE", &path, Some(&writer), None, &[]).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    api.get(&path, &reader)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let audits = api
        .h
        .store
        .list_audit_events(api.h.tenant(), 3)
        .await
        .unwrap();
    assert_eq!(audits[0].activity, "Admin deleted security info");
    assert_eq!(audits[0].channel, Channel::Graph);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_access_pass_is_shown_once_listed_without_it_and_deleted() {
    let api = api().await;
    let kim = api.user("kim@contoso.test", vec![]).await;
    let writer = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let users_only = api.app_token(&["User.ReadWrite.All"]).await;
    let base = format!(
        "/v1.0/users/{}/authentication/temporaryAccessPassMethods",
        kim.id
    );
    api.send("POST", &base, Some(&users_only), Some("{}"), &[])
        .await
        .assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let created = api
        .send(
            "POST",
            &base,
            Some(&writer),
            Some(r#"{"lifetimeInMinutes": 120, "isUsableOnce": true}"#),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let pass = created.body["temporaryAccessPass"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pass.len(), 16);
    assert_eq!(created.body["lifetimeInMinutes"], 120);
    assert_eq!(created.body["isUsableOnce"], true);
    assert_eq!(created.body["isUsable"], true);
    assert_eq!(created.body["methodUsabilityReason"], "EnabledByPolicy");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        created.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/temporaryAccessPassMethods/{id}"))
    );
    // Read back: never the pass.
    let listed = api.get(&base, &writer).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["value"][0]["id"], id.as_str());
    assert_eq!(listed.body["value"][0]["temporaryAccessPass"], Value::Null);
    let all = api
        .get(
            &format!("/v1.0/users/{}/authentication/methods", kim.id),
            &writer,
        )
        .await;
    assert!(
        all.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["@odata.type"]
                == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
                && m["temporaryAccessPass"].is_null())
    );
    assert!(!all.body.to_string().contains(&pass));
    // One per user.
    api.send("POST", &base, Some(&writer), Some("{}"), &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    // Deleted: 204, then gone.
    let one = format!("{base}/{id}");
    let gone = api.send("DELETE", &one, Some(&writer), None, &[]).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    api.get(&one, &writer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_temporary_access_pass_request_names_the_property() {
    let api = api().await;
    let kim = api.user("kim@contoso.test", vec![]).await;
    let writer = api
        .app_token(&["UserAuthenticationMethod.ReadWrite.All"])
        .await;
    let base = format!(
        "/v1.0/users/{}/authentication/temporaryAccessPassMethods",
        kim.id
    );
    for (body, needle) in [
        (r#"{"lifetimeInMinutes": 5}"#, "lifetimeInMinutes"),
        (r#"{"lifetimeInMinutes": "long"}"#, "lifetimeInMinutes"),
        (r#"{"isUsableOnce": "yes"}"#, "isUsableOnce"),
        (r#"{"startDateTime": "tomorrow"}"#, "startDateTime"),
        (
            r#"{"startDateTime": "2001-01-01T00:00:00Z"}"#,
            "startDateTime",
        ),
        (r#"{"colour": "blue"}"#, "colour"),
    ] {
        let r = api
            .send("POST", &base, Some(&writer), Some(body), &[])
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest");
        assert!(r.message().contains(needle), "{body}: {}", r.message());
    }
    // Nothing was issued.
    let listed = api.get(&base, &writer).await;
    assert_eq!(listed.body["value"], json!([]));
}
