//! Graph's `servicePrincipals` and `oauth2PermissionGrants`, in process, on SQLite and
//! PostgreSQL: one service principal per app registration and Microsoft Graph's, an
//! administrator's consent as an `AllPrincipals` grant and a user's as a `Principal` grant,
//! both paged by `@odata.nextLink`, and who may read them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::User;
use latchkey_graph::http::{GraphState, router};
use latchkey_graph::throttle::Throttle;
use latchkey_identity::tokens::{GRAPH_RESOURCE, TokenRequest};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use serde_json::Value;
use tower::ServiceExt;

const PUBLIC: &str = "https://localhost:8443";

struct Api {
    h: Harness,
    router: Router,
    tokens: TokenService,
}

async fn api(backend: Backend) -> Api {
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
        throttle: Throttle::unlimited(),
    });
    Api { h, router, tokens }
}

impl Api {
    async fn app_token(&self, permissions: &[&str]) -> String {
        let created = self
            .h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: "Automation".into(),
                    application_permissions: permissions.iter().map(|p| (*p).into()).collect(),
                    grant_admin_consent: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let tenant = self.h.tenant().to_string();
        self.tokens
            .issue(TokenRequest {
                audience: GRAPH_RESOURCE.into(),
                issuer: format!("{PUBLIC}/{tenant}/v2.0"),
                tenant_id: tenant,
                object_id: created.app.object_id.to_string(),
                client_id: created.app.app_id.to_string(),
                roles: created.app.granted_roles().to_vec(),
                scopes: None,
                app_only: true,
            })
            .await
            .unwrap()
            .token
    }

    async fn user(&self, upn: &str, roles: Vec<DirectoryRole>) -> User {
        self.h
            .directory
            .create_user(
                &Harness::operator(),
                self.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse("Someone").unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: Default::default(),
                    password_policies: Default::default(),
                    password: PasswordChoice::Generate,
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
        token: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }
}

impl Api {
    async fn register(
        &self,
        name: &str,
        delegated: &[&str],
        consent: bool,
    ) -> latchkey_core::app::App {
        self.h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: name.into(),
                    public_client: true,
                    redirect_uris: vec!["http://localhost/callback".into()],
                    delegated_permissions: delegated.iter().map(|p| (*p).into()).collect(),
                    grant_admin_consent: consent,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .app
    }

    /// Every item of a collection, following `@odata.nextLink`, and the number of pages.
    async fn all(&self, first: &str, token: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut uri = first.to_owned();
        loop {
            let (status, body) = self.send("GET", &uri, token, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            pages += 1;
            items.extend(body["value"].as_array().unwrap().iter().cloned());
            match body["@odata.nextLink"].as_str() {
                Some(next) => uri = next.strip_prefix(PUBLIC).unwrap().to_owned(),
                None => return (items, pages),
            }
        }
    }
}

async fn every_app_registration_is_a_service_principal_listed_a_page_at_a_time(backend: Backend) {
    let api = api(backend).await;
    let slack = api.register("Slack", &["User.Read"], false).await;
    api.register("Zoom", &[], false).await;
    let token = api.app_token(&["Application.Read.All"]).await;
    let (all, pages) = api.all("/v1.0/servicePrincipals?$top=2", &token).await;
    assert!(pages >= 2, "{pages}");
    let ids: Vec<&str> = all.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), unique.len());
    let graph = all
        .iter()
        .find(|s| s["appId"] == "00000003-0000-0000-c000-000000000000")
        .unwrap();
    assert_eq!(graph["displayName"], "Microsoft Graph");
    assert_eq!(
        graph["appOwnerOrganizationId"],
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
    );
    let s = all
        .iter()
        .find(|s| s["appId"] == slack.app_id.to_string())
        .unwrap();
    assert_eq!(s["displayName"], "Slack");
    assert_eq!(s["servicePrincipalType"], "Application");
    assert_eq!(s["accountEnabled"], true);
    assert_eq!(s["appOwnerOrganizationId"], api.h.tenant().to_string());
    assert_eq!(
        s["replyUrls"],
        serde_json::json!(["http://localhost/callback"])
    );
    for name in ["Zoom", "Automation"] {
        assert!(all.iter().any(|s| s["displayName"] == name), "{name}");
    }

    let directory = api.app_token(&["Directory.Read.All"]).await;
    let (status, _) = api
        .send("GET", "/v1.0/servicePrincipals", &directory, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let users_only = api.app_token(&["User.Read.All"]).await;
    let (status, body) = api
        .send("GET", "/v1.0/servicePrincipals", &users_only, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    let (status, body) = api
        .send("GET", "/v1.0/servicePrincipals?$top=0", &token, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn an_administrators_consent_and_a_users_consent_are_grants_to_graph(backend: Backend) {
    let api = api(backend).await;
    let dropbox = api
        .register("Dropbox", &["User.Read", "Directory.Read.All"], true)
        .await;
    let notion = api.register("Notion", &["User.Read"], false).await;
    let ada = api.user("ada@contoso.test", vec![]).await;
    let bob = api.user("bob@contoso.test", vec![]).await;
    for u in [&ada, &bob] {
        api.h
            .directory
            .consent_as_user(u, &notion, &["openid".into(), "User.Read".into()])
            .await
            .unwrap();
    }
    let token = api.app_token(&["DelegatedPermissionGrant.Read.All"]).await;
    let (all, pages) = api.all("/v1.0/oauth2PermissionGrants?$top=1", &token).await;
    assert_eq!(pages, all.len());
    let (sps, _) = api
        .all(
            "/v1.0/servicePrincipals",
            &api.app_token(&["Application.Read.All"]).await,
        )
        .await;
    let sp_of = |app: &latchkey_core::app::App| {
        sps.iter()
            .find(|s| s["appId"] == app.app_id.to_string())
            .unwrap()["id"]
            .clone()
    };
    let graph_sp = sps
        .iter()
        .find(|s| s["appId"] == "00000003-0000-0000-c000-000000000000")
        .unwrap()["id"]
        .clone();
    let admin: Vec<&Value> = all
        .iter()
        .filter(|g| g["clientId"] == sp_of(&dropbox))
        .collect();
    assert_eq!(admin.len(), 1);
    assert_eq!(admin[0]["consentType"], "AllPrincipals");
    assert_eq!(admin[0]["principalId"], Value::Null);
    assert_eq!(admin[0]["resourceId"], graph_sp);
    assert_eq!(admin[0]["scope"], "User.Read Directory.Read.All");
    let users: Vec<&Value> = all
        .iter()
        .filter(|g| g["clientId"] == sp_of(&notion))
        .collect();
    assert_eq!(users.len(), 2);
    for u in [&ada, &bob] {
        let g = users
            .iter()
            .find(|g| g["principalId"] == u.id.to_string())
            .unwrap();
        assert_eq!(g["consentType"], "Principal");
        assert_eq!(g["scope"], "openid User.Read");
    }
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());

    let users_only = api.app_token(&["User.Read.All"]).await;
    let (status, _) = api
        .send("GET", "/v1.0/oauth2PermissionGrants", &users_only, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api
        .send(
            "GET",
            "/v1.0/oauth2PermissionGrants?$skiptoken=bm9wZQ",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
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
    every_app_registration_is_a_service_principal_listed_a_page_at_a_time,
    an_administrators_consent_and_a_users_consent_are_grants_to_graph,
);
