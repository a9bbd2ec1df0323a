//! `GET /v1.0/users/delta` over Graph's router, in process, with real tokens and a real
//! store: a first round paged by `@odata.nextLink`, then `@odata.deltaLink` rounds with only
//! what changed and removals as `@removed`; `$select` and `$filter` on ids remembered by the
//! links; Graph's errors for bad and expired tokens and unsupported options.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
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
                    display_name: "Sync tool".into(),
                    redirect_uris: vec![],
                    public_client: false,
                    application_permissions: permissions.iter().map(|p| (*p).into()).collect(),
                    delegated_permissions: vec![],
                    grant_admin_consent: true,
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

    async fn user(&self, upn: &str) -> User {
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
                    password: PasswordChoice::Generate,
                    force_change_next_sign_in: false,
                    roles: vec![],
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
        let uri = uri.strip_prefix(PUBLIC).unwrap_or(uri);
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
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    /// Follows next links from `url` to the delta link: every item and the delta link.
    async fn round(&self, url: &str, token: &str) -> (Vec<Value>, String) {
        let mut items = Vec::new();
        let mut url = url.to_owned();
        loop {
            let (status, body) = self.send("GET", &url, token, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(
                body["@odata.context"],
                format!("{PUBLIC}/v1.0/$metadata#users")
            );
            items.extend(body["value"].as_array().unwrap().iter().cloned());
            if let Some(next) = body["@odata.nextLink"].as_str() {
                assert!(body.get("@odata.deltaLink").is_none());
                assert!(
                    next.starts_with(&format!("{PUBLIC}/v1.0/users/delta?$skiptoken=")),
                    "{next}"
                );
                url = next.to_owned();
            } else {
                let delta = body["@odata.deltaLink"]
                    .as_str()
                    .expect("a round ends with a delta link");
                assert!(
                    delta.starts_with(&format!("{PUBLIC}/v1.0/users/delta?$deltatoken=")),
                    "{delta}"
                );
                return (items, delta.to_owned());
            }
        }
    }
}

fn by_id<'a>(items: &'a [Value], user: &User) -> Vec<&'a Value> {
    let id = user.id.to_string();
    items.iter().filter(|i| i["id"] == id.as_str()).collect()
}

#[tokio::test]
async fn a_sync_tool_pages_through_all_users_then_follows_delta_links_to_each_change() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let mut users = Vec::new();
    for name in ["ada", "grace", "edsger", "barbara", "donald"] {
        users.push(api.user(&format!("{name}@contoso.test")).await);
    }
    let (first, delta) = api
        .round(
            "/v1.0/users/delta?$select=displayName,jobTitle&$top=2",
            &token,
        )
        .await;
    // The bootstrap administrator and five users, each once, with the selection and the id.
    assert_eq!(first.len(), 6, "{first:?}");
    for u in &users {
        let seen = by_id(&first, u);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["displayName"], u.display_name.as_str());
        assert!(seen[0].get("jobTitle").is_some());
        assert!(seen[0].get("userPrincipalName").is_none(), "{}", seen[0]);
    }

    // Nothing changed since: an empty round.
    let (none, delta) = api.round(&delta, &token).await;
    assert!(none.is_empty(), "{none:?}");

    let (s, b) = api
        .send(
            "PATCH",
            &format!("/v1.0/users/{}", users[0].id),
            &token,
            Some(r#"{"jobTitle":"Countess"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, _) = api
        .send(
            "DELETE",
            &format!("/v1.0/users/{}", users[1].id),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let newcomer = api.user("alan@contoso.test").await;

    let (changes, delta) = api.round(&delta, &token).await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    let changed = by_id(&changes, &users[0]);
    assert_eq!(changed[0]["jobTitle"], "Countess");
    assert_eq!(
        changed[0]["displayName"], "ada",
        "the round keeps the first request's $select"
    );
    assert_eq!(by_id(&changes, &newcomer)[0]["displayName"], "alan");
    let removed = by_id(&changes, &users[1]);
    assert_eq!(
        removed[0]["@removed"]["reason"], "changed",
        "in the recycle bin"
    );

    // Purged from the recycle bin: gone for good.
    let (s, _) = api
        .send(
            "DELETE",
            &format!("/v1.0/directory/deletedItems/{}", users[1].id),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (changes, _) = api.round(&delta, &token).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["id"], users[1].id.to_string());
    assert_eq!(changes[0]["@removed"]["reason"], "deleted");
}

#[tokio::test]
async fn deltatoken_latest_starts_from_now_on_the_sdks_spelling_of_the_function() {
    let api = api().await;
    let token = api.app_token(&["User.Read.All"]).await;
    api.user("before@contoso.test").await;
    let (none, delta) = api
        .round("/v1.0/users/delta()?$deltatoken=latest", &token)
        .await;
    assert!(none.is_empty(), "{none:?}");
    let after = api.user("after@contoso.test").await;
    let (changes, _) = api.round(&delta, &token).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["id"], after.id.to_string());
    // Without $select: Graph's default properties.
    assert_eq!(changes[0]["userPrincipalName"], "after@contoso.test");
}

#[tokio::test]
async fn bad_tokens_unsupported_options_and_missing_permissions_get_graphs_errors() {
    let api = api().await;
    let token = api.app_token(&["User.Read.All"]).await;
    let (s, b) = api
        .send(
            "GET",
            "/v1.0/users/delta?$deltatoken=bm90LWEtdG9rZW4",
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"]["code"], "Request_BadRequest");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$deltatoken"),
        "{b}"
    );

    let (s, b) = api
        .send(
            "GET",
            "/v1.0/users/delta?$filter=startswith(displayName,'a')",
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"]["code"], "Request_UnsupportedQuery", "{b}");

    let (s, b) = api
        .send("GET", "/v1.0/users/delta?$select=shoeSize", &token, None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("shoeSize"),
        "{b}"
    );

    let (s, b) = api
        .send(
            "GET",
            "/v1.0/users/delta?$orderby=displayName",
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["error"]["code"], "Request_UnsupportedQuery", "{b}");

    let nobody = api.app_token(&[]).await;
    let (s, b) = api.send("GET", "/v1.0/users/delta", &nobody, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "Authorization_RequestDenied");

    // A delta link older than seven days: Graph's syncStateNotFound, start again.
    let (_, delta) = api.round("/v1.0/users/delta", &token).await;
    api.h.clock.advance(Duration::days(8));
    let fresh = api.app_token(&["User.Read.All"]).await;
    let (s, b) = api.send("GET", &delta, &fresh, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "syncStateNotFound");
    let (s, _) = api.send("GET", "/v1.0/users/delta", &fresh, None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_filter_on_ids_tracks_only_those_users_through_later_rounds() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let ada = api.user("ada@contoso.test").await;
    let ben = api.user("ben@contoso.test").await;
    let cy = api.user("cy@contoso.test").await;
    let filter = format!("id%20eq%20'{}'%20or%20id%20eq%20'{}'", ada.id, ben.id);
    let (first, delta) = api
        .round(
            &format!("/v1.0/users/delta?$filter={filter}&$top=1"),
            &token,
        )
        .await;
    let mut ids: Vec<&str> = first.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut want = vec![ada.id.to_string(), ben.id.to_string()];
    want.sort();
    assert_eq!(ids, want);

    for u in [&ben, &cy] {
        let (s, _) = api
            .send(
                "PATCH",
                &format!("/v1.0/users/{}", u.id),
                &token,
                Some(r#"{"jobTitle":"Changed"}"#),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (changes, _) = api.round(&delta, &token).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["id"], ben.id.to_string());
}
