//! SaaS licences, reclamation, renewals, overlaps and manual entry under
//! `/v1.0/latchkey/saas/...`, in process with real tokens and a real store at an injected
//! clock, on SQLite and PostgreSQL (`both_backends!` below): a seat unused for 61 days is idle
//! with its saving, reclaiming it removes the seat and queues a notice to the user, lists page
//! by `@odata.nextLink`, reads need `Directory.Read.All` and writes `Directory.ReadWrite.All`,
//! and each bad input is a 400 naming the property.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::mail::{MailKind, MailQuery};
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
    reader: String,
    writer: String,
    nobody: String,
    /// What the three tokens were issued for, to issue them again after the clock moves.
    requests: Vec<TokenRequest>,
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
    let mut api = Api {
        h,
        router,
        tokens,
        reader: String::new(),
        writer: String::new(),
        nobody: String::new(),
        requests: Vec::new(),
    };
    for (name, permission) in [
        ("Reader", "Directory.Read.All"),
        ("Writer", "Directory.ReadWrite.All"),
        ("Nobody", "User.Read.All"),
    ] {
        let request = api.app_token(name, permission).await;
        api.requests.push(request);
    }
    api.renew().await;
    api
}

impl Api {
    /// Fresh tokens at the clock's time (they live an hour).
    async fn renew(&mut self) {
        let mut tokens = Vec::new();
        for r in &self.requests {
            tokens.push(self.tokens.issue(r.clone()).await.unwrap().token);
        }
        self.reader = tokens[0].clone();
        self.writer = tokens[1].clone();
        self.nobody = tokens[2].clone();
    }

    async fn app_token(&self, name: &str, permission: &str) -> TokenRequest {
        let created = self
            .h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: name.into(),
                    application_permissions: vec![permission.into()],
                    grant_admin_consent: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let tenant = self.h.tenant().to_string();
        TokenRequest {
            audience: GRAPH_RESOURCE.into(),
            issuer: format!("{PUBLIC}/{tenant}/v2.0"),
            tenant_id: tenant,
            object_id: created.app.object_id.to_string(),
            client_id: created.app.app_id.to_string(),
            roles: created.app.granted_roles().to_vec(),
            scopes: None,
            app_only: true,
        }
    }

    async fn user(&self, upn: &str) -> User {
        self.h
            .directory
            .create_user(
                &Harness::operator(),
                self.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse("Seat Holder").unwrap(),
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

    /// The inventory id of a registration the users consented to.
    async fn used_app(&self, name: &str, users: &[&User]) -> String {
        let app = self
            .h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: name.into(),
                    redirect_uris: vec!["https://app.example.test/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .app;
        for u in users {
            self.consent(u, &app).await;
        }
        self.inventory_id(name).await
    }

    async fn consent(&self, u: &User, app: &latchkey_core::app::App) {
        self.h
            .directory
            .consent_as_user(u, app, &["User.Read".into()])
            .await
            .unwrap();
    }

    async fn inventory_id(&self, name: &str) -> String {
        let (_, list) = self
            .send(
                "GET",
                "/v1.0/latchkey/saas/apps?$top=999",
                &self.reader,
                None,
            )
            .await;
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["displayName"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
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

    /// Every item of a list, following `@odata.nextLink`; and how many pages it took.
    async fn all(&self, first: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut uri = first.to_owned();
        loop {
            let (status, page) = self.send("GET", &uri, &self.reader, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            pages += 1;
            items.extend(page["value"].as_array().unwrap().iter().cloned());
            match page["@odata.nextLink"].as_str() {
                Some(next) => uri = next.strip_prefix(PUBLIC).unwrap().to_owned(),
                None => break,
            }
        }
        (items, pages)
    }

    /// A 400 whose message names `property`.
    async fn refused(&self, method: &str, uri: &str, body: &str, property: &str) {
        let (status, err) = self.send(method, uri, &self.writer, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["error"]["code"], "Request_BadRequest", "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("'{property}'")),
            "{body}: {message}"
        );
    }
}

async fn a_seat_unused_for_61_days_is_idle_with_its_saving_and_reclaiming_it_tells_the_user(
    backend: Backend,
) {
    let mut api = api(backend).await;
    let ada = api.user("ada@contoso.test").await;
    let grace = api.user("grace@contoso.test").await;
    let board = api.used_app("Team Board", &[&ada]).await;
    let contracts = format!("/v1.0/latchkey/saas/apps/{board}/contracts");
    let (status, c) = api
        .send(
            "POST",
            &contracts,
            &api.writer,
            Some(
                r#"{"startDate":"2026-01-01","endDate":"2028-01-01","noticePeriodDays":30,
                    "autoRenew":true,"cost":"1200.00","currency":"eur","billingPeriod":"monthly",
                    "seats":10}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["cancellationDeadline"], "2027-12-02");
    assert_eq!(c["currency"], "EUR");
    let (status, _) = api
        .send(
            "POST",
            &contracts,
            &api.reader,
            Some(
                r#"{"startDate":"2026-01-01","endDate":"2027-01-01","cost":"1","currency":"EUR"}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Grace starts two days after Ada; 59 days later Ada has not used it for 61 days.
    api.h.clock.advance(Duration::days(2));
    let registration = api
        .h
        .directory
        .list_apps(&Harness::operator(), api.h.tenant())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.display_name == "Team Board")
        .unwrap();
    api.consent(&grace, &registration).await;
    api.h.clock.advance(Duration::days(59));
    api.renew().await;

    let licenses = format!("/v1.0/latchkey/saas/apps/{board}/licenses");
    let (status, report) = api.send("GET", &licenses, &api.reader, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["seatsBought"], 10);
    assert_eq!(report["seatsAssigned"], 2);
    assert_eq!(report["idleSeats"], 1);
    assert_eq!(report["cost"]["costPerSeatPerMonth"], "120.00");
    assert_eq!(report["savingPerMonth"], "120.00");
    assert_eq!(report["currency"], "EUR");
    assert_eq!(report["idle"][0]["userId"], ada.id.to_string());
    assert_eq!(report["idle"][0]["idleDays"], 61);
    assert_eq!(report["idle"][0]["savingPerMonth"], "120.00");
    let (status, _) = api.send("GET", &licenses, &api.nobody, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (idle, _) = api.all("/v1.0/latchkey/saas/reclamation").await;
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert_eq!(idle[0]["userPrincipalName"], "ada@contoso.test");
    assert_eq!(idle[0]["appDisplayName"], "Team Board");

    // A 30-day threshold makes Grace idle too; the list pages one seat at a time.
    let licensing = format!("/v1.0/latchkey/saas/apps/{board}/licensing");
    let (status, _) = api
        .send("PATCH", &licensing, &api.reader, Some(r#"{"idleDays":30}"#))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, set) = api
        .send("PATCH", &licensing, &api.writer, Some(r#"{"idleDays":30}"#))
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["idleDays"], 30);
    assert!(set["seatsBought"].is_null());
    let (idle, pages) = api.all("/v1.0/latchkey/saas/reclamation?$top=1").await;
    let mut upns: Vec<&str> = idle
        .iter()
        .map(|s| s["userPrincipalName"].as_str().unwrap())
        .collect();
    upns.sort_unstable();
    assert_eq!(upns, ["ada@contoso.test", "grace@contoso.test"]);
    assert!(pages >= 2, "paged by $top=1");
    api.send(
        "PATCH",
        &licensing,
        &api.writer,
        Some(r#"{"idleDays":null}"#),
    )
    .await;

    for (body, property) in [
        (r#"{"idleDays":0}"#, "idleDays"),
        (r#"{"idleDays":"soon"}"#, "idleDays"),
        (r#"{"seatsBought":-1}"#, "seatsBought"),
        (r#"{"seatsBought":20000000}"#, "seatsBought"),
        (r#"{"skuId":"nope"}"#, "skuId"),
        (
            r#"{"skuId":"00000000-0000-0000-0000-000000000042"}"#,
            "skuId",
        ),
        (r#"{"colour":"blue"}"#, "colour"),
    ] {
        api.refused("PATCH", &licensing, body, property).await;
    }
    let (status, _) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/reclamation?$skiptoken=bm9wZQ",
            &api.reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let reclaim = format!("/v1.0/latchkey/saas/apps/{board}/reclaim");
    let (status, _) = api
        .send(
            "POST",
            &reclaim,
            &api.reader,
            Some(r#"{"userId":"ada@contoso.test"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    api.refused("POST", &reclaim, "{}", "userId").await;
    api.refused("POST", &reclaim, r#"{"userId":7}"#, "userId")
        .await;
    let (status, seat) = api
        .send(
            "POST",
            &reclaim,
            &api.writer,
            Some(r#"{"userId":"ada@contoso.test"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{seat}");
    assert_eq!(seat["userId"], ada.id.to_string());
    assert_eq!(seat["savingPerMonth"], "120.00");
    let (_, report) = api.send("GET", &licenses, &api.reader, None).await;
    assert_eq!(report["seatsAssigned"], 1, "the seat is gone");
    assert_eq!(report["idleSeats"], 0);
    let notices: Vec<_> = api
        .h
        .directory
        .mail_queue(&MailQuery {
            tenant: Some(api.h.tenant()),
            statuses: vec![],
            limit: 999,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MailKind::SaasNotice)
        .collect();
    assert_eq!(notices.len(), 1, "the user is told");
    assert_eq!(notices[0].to[0].as_str(), "ada@contoso.test");
    // Nothing left to reclaim.
    api.refused(
        "POST",
        &reclaim,
        r#"{"userId":"ada@contoso.test"}"#,
        "userId",
    )
    .await;
}

async fn apps_entered_by_hand_show_in_overlaps_and_renewals_a_page_at_a_time(backend: Backend) {
    let api = api(backend).await;
    // The clock starts on 2026-11-24.
    let (status, one) = api
        .send(
            "POST",
            "/v1.0/latchkey/saas/apps",
            &api.writer,
            Some(
                r#"{"displayName":"Chat  One","vendor":"Chat Inc","category":"Communication",
                    "state":"sanctioned","contract":{"startDate":"2026-01-01",
                    "endDate":"2027-03-01","noticePeriodDays":30,"cost":"3000","currency":"USD",
                    "billingPeriod":"annual","seats":10}}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{one}");
    assert_eq!(one["displayName"], "Chat One");
    assert_eq!(one["state"], "sanctioned");
    assert_eq!(one["contracts"][0]["cancellationDeadline"], "2027-01-30");
    let (status, two) = api
        .send(
            "POST",
            "/v1.0/latchkey/saas/apps",
            &api.writer,
            Some(r#"{"displayName":"Chat Two","category":"communication"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{two}");
    assert_eq!(two["state"], "discovered");
    let two_id = two["id"].as_str().unwrap();
    let (status, _) = api
        .send(
            "POST",
            "/v1.0/latchkey/saas/apps",
            &api.reader,
            Some(r#"{"displayName":"Chat Three"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let apps = "/v1.0/latchkey/saas/apps";
    for (body, property) in [
        (r#"{"displayName":"chat one"}"#, "displayName"),
        ("{}", "displayName"),
        (r#"{"displayName":"   "}"#, "displayName"),
        (r#"{"displayName":"X","state":"approved"}"#, "state"),
        (
            r#"{"displayName":"X","ownerId":"nobody@contoso.test"}"#,
            "ownerId",
        ),
        (
            r#"{"displayName":"X","contract":{"startDate":"2026-01-01","endDate":"2025-01-01","cost":"1","currency":"EUR"}}"#,
            "endDate",
        ),
        (
            r#"{"displayName":"X","contract":{"startDate":"2026-01-01","endDate":"2027-01-01","cost":"-1","currency":"EUR"}}"#,
            "cost",
        ),
        (
            r#"{"displayName":"X","contract":{"startDate":"2026-01-01","endDate":"2027-01-01","cost":"1","currency":"XYZ"}}"#,
            "currency",
        ),
        (
            r#"{"displayName":"X","contract":{"startDate":"someday","endDate":"2027-01-01","cost":"1","currency":"EUR"}}"#,
            "startDate",
        ),
        (r#"{"displayName":"X","price":1}"#, "price"),
    ] {
        api.refused("POST", apps, body, property).await;
    }
    assert_eq!(
        api.all(apps)
            .await
            .0
            .iter()
            .filter(|a| a["displayName"] == "X")
            .count(),
        0,
        "nothing half-written"
    );

    // Chat Two's seats are set on the app, its contract gives none: the overlap report
    // prices its seats from the app's setting.
    let (status, _) = api
        .send(
            "PATCH",
            &format!("{apps}/{two_id}/licensing"),
            &api.writer,
            Some(r#"{"seatsBought":5}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, c) = api
        .send(
            "POST",
            &format!("{apps}/{two_id}/contracts"),
            &api.writer,
            Some(
                r#"{"startDate":"2026-06-01","endDate":"2027-06-01","cost":500,"currency":"USD","billingPeriod":"monthly"}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (groups, _) = api.all("/v1.0/latchkey/saas/overlaps").await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["category"], "Communication");
    let names: Vec<&str> = groups[0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Chat One", "Chat Two"]);
    assert_eq!(groups[0]["apps"][0]["cost"]["monthlyCost"], "250.00");
    assert_eq!(groups[0]["apps"][0]["cost"]["costPerSeatPerMonth"], "25.00");
    assert_eq!(groups[0]["apps"][1]["cost"]["seatsBought"], 5);
    assert_eq!(
        groups[0]["apps"][1]["cost"]["costPerSeatPerMonth"],
        "100.00"
    );
    let (status, _) = api
        .send("GET", "/v1.0/latchkey/saas/overlaps", &api.nobody, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The renewal calendar by deadline, one contract a page.
    let (renewals, pages) = api.all("/v1.0/latchkey/saas/renewals?$top=1").await;
    assert_eq!(pages, 2);
    let order: Vec<(&str, &str)> = renewals
        .iter()
        .map(|r| {
            (
                r["appDisplayName"].as_str().unwrap(),
                r["cancellationDeadline"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [("Chat One", "2027-01-30"), ("Chat Two", "2027-06-01")]
    );
    assert_eq!(renewals[0]["daysLeft"], 67);
    let (status, err) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/renewals?$top=0",
            &api.reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = api
        .send(
            "GET",
            "/v1.0/latchkey/saas/renewals?$filter=x",
            &api.reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let settings = "/v1.0/latchkey/saas/renewalSettings";
    let (status, got) = api.send("GET", settings, &api.reader, None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["renewalAlertDays"], serde_json::json!([90, 60, 30]));
    let (status, _) = api
        .send(
            "PATCH",
            settings,
            &api.reader,
            Some(r#"{"renewalAlertDays":[14]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, set) = api
        .send(
            "PATCH",
            settings,
            &api.writer,
            Some(r#"{"renewalAlertDays":[14,45,14]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["renewalAlertDays"], serde_json::json!([45, 14]));
    for body in [
        r#"{"renewalAlertDays":[0]}"#,
        r#"{"renewalAlertDays":[]}"#,
        r#"{"renewalAlertDays":"30"}"#,
        r#"{"renewalAlertDays":[1.5]}"#,
        "{}",
    ] {
        api.refused("PATCH", settings, body, "renewalAlertDays")
            .await;
    }
    let (_, got) = api.send("GET", settings, &api.reader, None).await;
    assert_eq!(got["renewalAlertDays"], serde_json::json!([45, 14]));
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
    a_seat_unused_for_61_days_is_idle_with_its_saving_and_reclaiming_it_tells_the_user,
    apps_entered_by_hand_show_in_overlaps_and_renewals_a_page_at_a_time,
);
