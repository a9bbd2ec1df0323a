//! The SaaS inventory over `/v1.0/latchkey/saas/apps`, in process, with real tokens and a real
//! store: the list paged by `@odata.nextLink`, one app with its users and evidence, `PATCH`
//! of state and owner, and each refusal in Graph's error envelope.
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

async fn api() -> Api {
    let h = Harness::new(Backend::Sqlite).await;
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
    let csv = "vendor,amount,currency,date,employee\n\
               Slack Technologies,10.00,USD,2026-11-01,ada@contoso.test\n\
               Zoom,12.00,USD,2026-11-01,ada@contoso.test\n\
               Figma,15.00,USD,2026-11-01,ada@contoso.test\n";
    let lines = latchkey_saas::parse_expenses(csv.as_bytes()).unwrap().lines;
    h.directory
        .import_expenses(&Harness::operator(), h.tenant(), lines)
        .await
        .unwrap();
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

    async fn user_token(&self, user: &User, scopes: &str) -> String {
        let tenant = self.h.tenant().to_string();
        self.tokens
            .issue(TokenRequest {
                audience: GRAPH_RESOURCE.into(),
                issuer: format!("{PUBLIC}/{tenant}/v2.0"),
                tenant_id: tenant,
                object_id: user.id.to_string(),
                client_id: "22222222-2222-2222-2222-222222222222".into(),
                roles: vec![],
                scopes: Some(scopes.into()),
                app_only: false,
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

fn names(body: &Value) -> Vec<&str> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_is_listed_by_name_a_page_at_a_time_with_directory_read_all() {
    let api = api().await;
    let token = api.app_token(&["Directory.Read.All"]).await;
    let (status, first) = api
        .send("GET", "/v1.0/latchkey/saas/apps?$top=2", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(names(&first), ["Figma", "Slack"]);
    assert_eq!(first["value"][1]["category"], "Communication");
    assert_eq!(first["value"][1]["state"], "discovered");
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with("https://localhost:8443/v1.0/latchkey/saas/apps?"),
        "{next}"
    );
    assert!(next.contains("%24top=2"), "{next}");
    let (status, second) = api
        .send("GET", next.strip_prefix(PUBLIC).unwrap(), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(names(&second), ["Zoom"]);
    assert!(second.get("@odata.nextLink").is_none());

    let (status, filtered) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/apps?$filter=state%20eq%20%27sanctioned%27",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filtered}");
    assert!(filtered["value"].as_array().unwrap().is_empty());

    let (status, bad) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/apps?$orderby=name",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, bad) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/apps?$skiptoken=bm9wZQ",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_is_read_with_its_evidence_and_an_unknown_one_is_not_found() {
    let api = api().await;
    let token = api.app_token(&["Directory.Read.All"]).await;
    let (_, list) = api
        .send("GET", "/v1.0/latchkey/saas/apps", &token, None)
        .await;
    let slack = list["value"][1]["id"].as_str().unwrap().to_owned();
    let (status, one) = api
        .send(
            "GET",
            &format!("/v1.0/latchkey/saas/apps/{slack}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["displayName"], "Slack");
    assert_eq!(one["evidence"][0]["source"], "expense");
    assert!(
        one["evidence"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("10.00 USD on 2026-11-01 by ada@contoso.test"),
        "{one}"
    );
    for missing in ["00000000-0000-0000-0000-000000000042", "not-a-guid"] {
        let (status, err) = api
            .send(
                "GET",
                &format!("/v1.0/latchkey/saas/apps/{missing}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
        assert_eq!(err["error"]["code"], "Request_ResourceNotFound");
    }
    let (status, err) = api
        .send("GET", "/v1.0/latchkey/saas/apps", "nope", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    let none = api.app_token(&["User.Read.All"]).await;
    let (status, err) = api
        .send("GET", "/v1.0/latchkey/saas/apps", &none, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_is_sanctioned_and_owned_with_directory_read_write_all_or_by_a_global_admin() {
    let api = api().await;
    let reader = api.app_token(&["Directory.Read.All"]).await;
    let writer = api.app_token(&["Directory.ReadWrite.All"]).await;
    let (_, list) = api
        .send("GET", "/v1.0/latchkey/saas/apps", &reader, None)
        .await;
    let zoom = list["value"][2]["id"].as_str().unwrap().to_owned();
    let uri = format!("/v1.0/latchkey/saas/apps/{zoom}");

    let (status, err) = api
        .send("PATCH", &uri, &reader, Some(r#"{"state":"sanctioned"}"#))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");

    let owner = api.user("owner@contoso.test", vec![]).await;
    let (status, done) = api
        .send(
            "PATCH",
            &uri,
            &writer,
            Some(r#"{"state":"sanctioned","ownerId":"owner@contoso.test"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "sanctioned");
    assert_eq!(done["ownerId"], owner.id.to_string());

    let (status, err) = api
        .send("PATCH", &uri, &writer, Some(r#"{"state":"discovered"}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        err["error"]["message"],
        "Invalid value specified for property 'state' of resource 'saasApp': an app that is sanctioned cannot become discovered; it can become: unsanctioned, retired"
    );
    for (body, says) in [
        (r#"{"state":"approved"}"#, "'approved' is not a state"),
        (r#"{"colour":"red"}"#, "Property 'colour' does not exist"),
        (r#"{"ownerId":42}"#, "expected a string or null"),
        (r#"{}"#, "nothing to change"),
    ] {
        let (status, err) = api.send("PATCH", &uri, &writer, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }

    // A Global Administrator signed in with a delegated token may review; a member may not.
    let admin = api
        .user("ga@contoso.test", vec![DirectoryRole::GlobalAdministrator])
        .await;
    let member = api.user("member@contoso.test", vec![]).await;
    let scopes = "Directory.ReadWrite.All";
    let (status, err) = api
        .send(
            "PATCH",
            &uri,
            &api.user_token(&member, scopes).await,
            Some(r#"{"state":"retired"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (status, done) = api
        .send(
            "PATCH",
            &uri,
            &api.user_token(&admin, scopes).await,
            Some(r#"{"state":"retired","ownerId":null}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "retired");
    assert!(done["ownerId"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_show_their_cancellation_deadline_and_idle_users_follow_the_clock() {
    use latchkey_core::saas::{BillingPeriod, NewContract};
    let api = api().await;
    let registration = api
        .h
        .directory
        .create_app(
            &Harness::operator(),
            api.h.tenant(),
            NewApp {
                display_name: "Team Board".into(),
                redirect_uris: vec!["https://board.example.test/cb".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app;
    let ada = api.user("ada@contoso.test", vec![]).await;
    api.h
        .directory
        .consent_as_user(&ada, &registration, &["User.Read".into()])
        .await
        .unwrap();
    let board = api
        .h
        .directory
        .find_saas_app_for_test(api.h.tenant(), "Team Board")
        .await;
    api.h
        .directory
        .add_saas_contract(
            &Harness::operator(),
            api.h.tenant(),
            board,
            NewContract {
                start: "2026-01-01".parse().unwrap(),
                end: "2027-01-01".parse().unwrap(),
                notice_days: 30,
                auto_renew: true,
                cost_minor: 1_200_000,
                currency: "EUR".into(),
                exponent: 2,
                billing_period: BillingPeriod::Annual,
                seats: None,
            },
        )
        .await
        .unwrap();
    api.h.clock.advance(Duration::days(61));
    let token = api.app_token(&["Directory.Read.All"]).await;
    let (status, contracts) = api
        .send(
            "GET",
            &format!("/v1.0/latchkey/saas/apps/{board}/contracts"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{contracts}");
    assert_eq!(contracts["value"][0]["cancellationDeadline"], "2026-12-02");
    assert_eq!(contracts["value"][0]["cost"], "12000.00");

    let uri = format!("/v1.0/latchkey/saas/apps/{board}/idleUsers");
    let (status, idle) = api.send("GET", &uri, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{idle}");
    assert_eq!(idle["value"][0]["userId"], ada.id.to_string());
    let (_, idle) = api
        .send("GET", &format!("{uri}?days=90"), &token, None)
        .await;
    assert!(idle["value"].as_array().unwrap().is_empty(), "{idle}");
    let (status, bad) = api
        .send("GET", &format!("{uri}?days=soon"), &token, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, _) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/apps/00000000-0000-0000-0000-000000000042/contracts",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

trait FindForTest {
    async fn find_saas_app_for_test(
        &self,
        tenant: latchkey_core::ids::TenantId,
        name: &str,
    ) -> latchkey_core::ids::SaasAppId;
}

impl FindForTest for latchkey_core::Directory {
    async fn find_saas_app_for_test(
        &self,
        tenant: latchkey_core::ids::TenantId,
        name: &str,
    ) -> latchkey_core::ids::SaasAppId {
        self.list_saas_apps(
            &Harness::operator(),
            tenant,
            &latchkey_core::saas::SaasQuery {
                limit: 999,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|a| a.name == name)
        .unwrap()
        .id
    }
}
