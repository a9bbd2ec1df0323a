//! A Graph listing costs the same number of database statements for 10 users as for 200:
//! every statement the store sends is counted (sqlx reports each one as a tracing event),
//! and pages with licences, managers (`$expand=manager`), delta rounds and the audit log
//! are asked for at both sizes. A query per row would make the larger page cost more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, UserRef};
use latchkey_core::ids::UserId;
use latchkey_core::license::{AssignedLicense, LicenseChange, NewSku};
use latchkey_graph::http::{GraphState, router};
use latchkey_graph::throttle::Throttle;
use latchkey_identity::tokens::{GRAPH_RESOURCE, TokenRequest};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness, seed};
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

const PUBLIC: &str = "https://localhost:8443";

/// Statements sqlx has sent, process-wide (it reports each as an event of `sqlx::query`).
static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut summary = Summary(String::new());
        event.record(&mut summary);
        // A connection the pool opens meanwhile sets itself up (SQLite's PRAGMAs,
        // PostgreSQL's SETs): that is the pool's, not the request's.
        let setup = ["\"PRAGMA", "\"SET"]
            .iter()
            .any(|p| summary.0.starts_with(p));
        if std::env::var_os("QUERY_COUNT_DEBUG").is_some() {
            eprintln!("statement: {}", summary.0);
        }
        if !setup {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The `summary` field of sqlx's event: the statement's first words, debug-quoted.
struct Summary(String);

impl tracing::field::Visit for Summary {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "summary" {
            self.0 = format!("{v:?}");
        }
    }
}

/// One test at a time: the count is process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn install_counter() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry()
            .with(CountStatements)
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

struct World {
    h: Harness,
    router: Router,
    token: String,
    sku: String,
}

async fn world(backend: Backend) -> World {
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
    let app = h
        .directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: "Counter".into(),
                redirect_uris: vec![],
                public_client: false,
                application_permissions: vec![
                    "User.Read.All".into(),
                    "AuditLog.Read.All".into(),
                    "Directory.Read.All".into(),
                ],
                delegated_permissions: vec![],
                grant_admin_consent: true,
            },
        )
        .await
        .unwrap();
    let tenant = h.tenant().to_string();
    let token = tokens
        .issue(TokenRequest {
            audience: GRAPH_RESOURCE.into(),
            issuer: format!("{PUBLIC}/{tenant}/v2.0"),
            tenant_id: tenant,
            object_id: app.app.object_id.to_string(),
            client_id: app.app.app_id.to_string(),
            roles: app.app.granted_roles().to_vec(),
            scopes: None,
            app_only: true,
        })
        .await
        .unwrap()
        .token;
    let sku = h
        .directory
        .create_sku(
            &Harness::operator(),
            h.tenant(),
            NewSku {
                sku_id: None,
                sku_part_number: "ENTERPRISEPACK".into(),
                seats: 1_000,
                service_plans: vec!["EXCHANGE_S_ENTERPRISE".into()],
            },
        )
        .await
        .unwrap();
    World {
        h,
        router,
        token,
        sku: sku.sku_id.to_string(),
    }
}

impl World {
    /// Seeds `n` more users, each with a licence and the first seeded user as manager.
    async fn grow(&self, n: usize, manager: Option<UserId>) -> Vec<UserId> {
        let ids = seed::seed_users_from(&self.h, self.seeded().await, n).await;
        let boss = manager.unwrap_or(ids[0]);
        for id in &ids {
            self.h
                .directory
                .assign_licenses(
                    &Harness::operator(),
                    self.h.tenant(),
                    &UserRef::Id(*id),
                    LicenseChange {
                        add: vec![AssignedLicense {
                            sku_id: self.sku.parse().unwrap(),
                            disabled_plans: vec![],
                        }],
                        remove: vec![],
                    },
                )
                .await
                .unwrap();
            if *id != boss {
                self.h
                    .directory
                    .set_manager(
                        &Harness::operator(),
                        self.h.tenant(),
                        &UserRef::Id(*id),
                        boss,
                    )
                    .await
                    .unwrap();
            }
        }
        ids
    }

    async fn seeded(&self) -> usize {
        self.get("/v1.0/users?$count=true&$top=1").await["@odata.count"]
            .as_u64()
            .unwrap() as usize
    }

    async fn get(&self, uri: &str) -> Value {
        let req = Request::get(uri)
            .header("authorization", format!("Bearer {}", self.token))
            .header("consistencylevel", "eventual")
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The statements one GET costs (asked twice; the second is counted, so connection
    /// setup and first-use caches are not), and the number of items it answered with.
    async fn cost(&self, uri: &str) -> (usize, usize) {
        self.get(uri).await;
        let before = STATEMENTS.load(Ordering::SeqCst);
        let body = self.get(uri).await;
        let after = STATEMENTS.load(Ordering::SeqCst);
        (after - before, body["value"].as_array().map_or(0, Vec::len))
    }
}

const PAGES: &[&str] = &[
    "/v1.0/users?$top=999",
    "/v1.0/users?$top=999&$select=id,displayName,assignedLicenses&$expand=manager",
    "/v1.0/users?$top=999&$filter=assignedLicenses/any(x:x/skuId eq {sku})",
    "/v1.0/users?$top=999&$filter=startswith(displayName,'a') or accountEnabled eq true&$count=true",
    "/v1.0/users/delta?$top=999",
    "/v1.0/auditLogs/directoryAudits?$top=999",
];

async fn a_page_of_200_users_costs_the_statements_of_a_page_of_10(backend: Backend) {
    let _one = SERIAL.lock().await;
    install_counter();
    let w = world(backend).await;
    let first = w.grow(10, None).await;
    let mut small = Vec::new();
    for page in PAGES {
        let uri = page.replace("{sku}", &w.sku).replace(' ', "%20");
        small.push(w.cost(&uri).await);
    }
    w.grow(190, Some(first[0])).await;
    for (page, (statements, items)) in PAGES.iter().zip(small) {
        let uri = page.replace("{sku}", &w.sku).replace(' ', "%20");
        let (more_statements, more_items) = w.cost(&uri).await;
        assert!(
            more_items > items && more_items >= 150,
            "{page}: the larger directory answered {more_items} items against {items}"
        );
        assert!(statements > 0, "{page}: no statement was counted");
        assert_eq!(
            more_statements, statements,
            "{page}: {statements} statements for {items} items but {more_statements} for {more_items}"
        );
    }
}

#[tokio::test]
async fn sqlite_a_page_of_200_users_costs_the_statements_of_a_page_of_10() {
    a_page_of_200_users_costs_the_statements_of_a_page_of_10(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_page_of_200_users_costs_the_statements_of_a_page_of_10() {
    a_page_of_200_users_costs_the_statements_of_a_page_of_10(Backend::Postgres).await;
}

/// `n` more apps entered by hand, all in one category, each with an owner and a contract
/// whose cancellation deadline is ahead.
async fn grow_saas(w: &World, from: usize, n: usize) {
    use latchkey_core::saas::{BillingPeriod, NewContract};
    for i in from..from + n {
        w.h.directory
            .add_saas_app(
                &Harness::operator(),
                w.h.tenant(),
                latchkey_core::directory::NewSaasApp {
                    name: format!("Chat {i:03}"),
                    vendor: None,
                    category: Some("Communication".into()),
                    owner: Some(UserRef::Id(w.h.boot.admin.id)),
                    state: None,
                    contract: Some(NewContract {
                        start: "2026-01-01".parse().unwrap(),
                        end: "2027-03-01".parse().unwrap(),
                        notice_days: 30,
                        auto_renew: true,
                        cost_minor: 120_000,
                        currency: "EUR".into(),
                        exponent: 2,
                        billing_period: BillingPeriod::Annual,
                        seats: Some(10),
                    }),
                },
            )
            .await
            .unwrap();
    }
}

const SAAS_PAGES: &[&str] = &[
    "/v1.0/latchkey/saas/renewals?$top=999",
    "/v1.0/latchkey/saas/overlaps?$top=999",
    "/v1.0/latchkey/saas/reclamation?$top=999",
];

async fn saas_reports_of_40_apps_cost_the_statements_of_3(backend: Backend) {
    let _one = SERIAL.lock().await;
    install_counter();
    let w = world(backend).await;
    grow_saas(&w, 0, 3).await;
    let mut small = Vec::new();
    for page in SAAS_PAGES {
        small.push(w.cost(page).await);
    }
    grow_saas(&w, 3, 37).await;
    for (page, (statements, items)) in SAAS_PAGES.iter().zip(small) {
        let (more_statements, more_items) = w.cost(page).await;
        assert!(statements > 0, "{page}: no statement was counted");
        assert_eq!(
            more_statements, statements,
            "{page}: {statements} statements for {items} items but {more_statements} for {more_items}"
        );
    }
    let (_, renewals) = w.cost(SAAS_PAGES[0]).await;
    assert_eq!(renewals, 40);
}

#[tokio::test]
async fn sqlite_saas_reports_of_40_apps_cost_the_statements_of_3() {
    saas_reports_of_40_apps_cost_the_statements_of_3(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_saas_reports_of_40_apps_cost_the_statements_of_3() {
    saas_reports_of_40_apps_cost_the_statements_of_3(Backend::Postgres).await;
}
