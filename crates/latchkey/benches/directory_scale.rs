//! Graph and admin center requests over a directory of 100,000 users, on SQLite and on
//! PostgreSQL: each request goes through the same routers `latchkey serve` mounts (identity,
//! Graph, admin center), in process, so what is timed is server time — parsing, the token
//! check, the store's queries, serialisation or the page's rendering — without TLS or a
//! socket. The users are seeded through the store's own insert (one hash reused,
//! `latchkey_testkit::seed`), every tenth disabled, 20 given names × 18 surnames.
//!
//! Run: `cargo bench -p latchkey --bench directory_scale`. `LATCHKEY_BENCH_USERS` (default
//! 100000), `LATCHKEY_BENCH_SAMPLES` (requests per measurement, default 300),
//! `LATCHKEY_BENCH_BACKENDS` (`sqlite,postgres`), `LATCHKEY_BENCH_SECONDS` (throughput
//! runs, default 5). Figures go to benches/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::ids::UserId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_graph::http::GraphState;
use latchkey_graph::throttle::Throttle;
use latchkey_identity::http::IdentityState;
use latchkey_identity::tokens::{GRAPH_RESOURCE, TokenRequest};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::browser::Browser;
use latchkey_testkit::{Backend, Harness, seed};
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

/// A measured page's path for sample `i`.
type PathOf = Box<dyn Fn(usize) -> String>;

const PUBLIC: &str = "https://localhost:8443";
const ADMIN_PASSWORD: &str = "Quartz-Lantern-Meadow-4";
/// Prefixes that each match 1/20 of the seeded users (the seed's given names).
const PREFIXES: &[&str] = &[
    "Adele", "Alex", "Diego", "Grady", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne",
];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies of one measurement, in microseconds.
struct Stats(Vec<u64>);

impl Stats {
    fn ms(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * p).ceil() as usize).saturating_sub(1);
        v[i.min(v.len() - 1)] as f64 / 1000.0
    }

    fn mean_ms(&self) -> f64 {
        self.0.iter().sum::<u64>() as f64 / self.0.len() as f64 / 1000.0
    }

    fn print(&self, backend: &str, label: &str) {
        println!(
            "| {backend} | {label} | {:.2} | {:.2} | {:.2} | {:.2} |",
            self.ms(0.50),
            self.ms(0.99),
            self.ms(1.0),
            self.mean_ms()
        );
    }
}

struct World {
    h: Harness,
    app: Router,
    token: String,
    ids: Vec<UserId>,
    domain: String,
}

async fn world(backend: Backend, n: usize) -> World {
    let h = Harness::new(backend).await;
    let started = Instant::now();
    let ids = seed::seed_users(&h, n).await;
    println!(
        "seeded {n} users on {backend:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        chrono::Duration::hours(1),
    );
    let tokens = TokenService::new(keys, h.clock.clone(), chrono::Duration::hours(1));
    let identity = IdentityState {
        directory: h.directory.clone(),
        tokens: tokens.clone(),
        public_url: PUBLIC.into(),
    };
    let graph = GraphState {
        directory: h.directory.clone(),
        tokens: tokens.clone(),
        public_url: Arc::from(PUBLIC),
        throttle: Throttle::unlimited(),
    };
    let web = latchkey_web::WebState {
        directory: h.directory.clone(),
        public_url: PUBLIC.into(),
        workflows: None,
    };
    let app = latchkey_identity::http::router(identity)
        .merge(latchkey_graph::http::router(graph))
        .merge(latchkey_web::router(web));
    let created = h
        .directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: "Bench reader".into(),
                redirect_uris: vec![],
                public_client: false,
                application_permissions: vec!["User.Read.All".into()],
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
            object_id: created.app.object_id.to_string(),
            client_id: created.app.app_id.to_string(),
            roles: created.app.granted_roles().to_vec(),
            scopes: None,
            app_only: true,
        })
        .await
        .unwrap()
        .token;
    let domain = h.boot.tenant.domains[0].as_str().to_owned();
    World {
        h,
        app,
        token,
        ids,
        domain,
    }
}

impl World {
    fn graph_request(&self, path_and_query: &str) -> Request<Body> {
        // What a client sends on the wire: spaces and quotes percent-encoded.
        Request::get(path_and_query.replace(' ', "%20").replace('"', "%22"))
            .header("authorization", format!("Bearer {}", self.token))
            .header("consistencylevel", "eventual")
            .body(Body::empty())
            .unwrap()
    }

    /// One Graph GET, body read to the end; the JSON answer.
    async fn graph(&self, path_and_query: &str) -> Value {
        let res = self
            .app
            .clone()
            .oneshot(self.graph_request(path_and_query))
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 64 << 20)
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{path_and_query}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap()
    }

    /// `samples` sequential requests built by `path(i)`; their latencies.
    async fn time_graph(&self, samples: usize, path: impl Fn(usize) -> String) -> Stats {
        let mut out = Vec::with_capacity(samples);
        for i in 0..samples {
            let p = path(i);
            let t = Instant::now();
            self.graph(&p).await;
            out.push(t.elapsed().as_micros() as u64);
        }
        Stats(out)
    }

    /// Requests per second from `workers` concurrent callers for `seconds`.
    async fn throughput(
        self: &Arc<Self>,
        workers: usize,
        seconds: u64,
        path: fn(&World, usize) -> String,
    ) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..workers {
            let world = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    world.graph(&path(&world, w * 1_000_003 + n)).await;
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / started.elapsed().as_secs_f64()
    }
}

fn by_id(w: &World, i: usize) -> String {
    format!("/v1.0/users/{}", w.ids[(i * 7919) % w.ids.len()])
}

fn startswith_page(_: &World, i: usize) -> String {
    format!(
        "/v1.0/users?$filter=startswith(displayName,'{}')&$top=100",
        PREFIXES[i % PREFIXES.len()]
    )
}

async fn run(backend: Backend, n: usize, samples: usize, seconds: u64) {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let w = Arc::new(world(backend, n).await);
    // Warm the pools and the caches a running server would have warm.
    for i in 0..20 {
        w.graph(&by_id(&w, i)).await;
        w.graph(&startswith_page(&w, i)).await;
    }

    println!("\n| backend | request ({n} users) | p50 ms | p99 ms | max ms | mean ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    w.time_graph(samples, |i| by_id(&w, i))
        .await
        .print(name, "`GET /users/{id}`");
    let domain = w.domain.clone();
    w.time_graph(samples, |i| {
        format!("/v1.0/users/bench.{}@{domain}", (i * 7919) % n)
    })
    .await
    .print(name, "`GET /users/{userPrincipalName}`");
    w.time_graph(samples, |i| startswith_page(&w, i))
        .await
        .print(name, "`$filter=startswith(displayName,…)&$top=100`");
    w.time_graph(samples, |i| {
        format!(
            "/v1.0/users?$filter=startswith(displayName,'{}') and accountEnabled eq true&$top=100&$select=id,displayName,userPrincipalName",
            PREFIXES[i % PREFIXES.len()]
        )
    })
    .await
    .print(name, "startswith … and accountEnabled eq true, `$select`");
    w.time_graph(samples.min(50), |_| {
        "/v1.0/users?$count=true&$top=100".into()
    })
    .await
    .print(name, "`$count=true&$top=100` (counts every user)");
    w.time_graph(samples.min(50), |i| {
        format!(
            "/v1.0/users?$count=true&$filter=startswith(displayName,'{}')&$top=100",
            PREFIXES[i % PREFIXES.len()]
        )
    })
    .await
    .print(name, "`$count=true` with startswith");
    w.time_graph(samples, |i| {
        format!(
            "/v1.0/users?$search=\"displayName:{}\"&$top=100",
            PREFIXES[i % PREFIXES.len()]
        )
    })
    .await
    .print(name, "`$search=\"displayName:…\"&$top=100`");
    w.time_graph(samples, |i| {
        format!(
            "/v1.0/users?$orderby=displayName&$top=100&$filter=startswith(displayName,'{}')",
            PREFIXES[i % PREFIXES.len()]
        )
    })
    .await
    .print(name, "`$orderby=displayName` with startswith, `$top=100`");

    // Follow @odata.nextLink through the whole directory's first pages: sample i is page i+2.
    let mut next = w.graph("/v1.0/users?$top=100").await["@odata.nextLink"]
        .as_str()
        .unwrap()
        .strip_prefix(PUBLIC)
        .unwrap()
        .to_owned();
    let mut pages = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let page = w.graph(&next).await;
        pages.push(t.elapsed().as_micros() as u64);
        next = page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .strip_prefix(PUBLIC)
            .unwrap()
            .to_owned();
    }
    Stats(pages).print(name, "next page by `$skiptoken` (`$top=100`, pages 2…)");
    w.time_graph(samples.min(100), |_| "/v1.0/users?$top=999".into())
        .await
        .print(name, "`$top=999` (the largest page)");

    // The admin center, signed in as a Global Administrator.
    w.h.directory
        .create_user(
            &Harness::operator(),
            w.h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(&format!("bench.admin@{}", w.domain)).unwrap(),
                display_name: DisplayName::parse("Bench Admin").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(ADMIN_PASSWORD.to_owned())),
                force_change_next_sign_in: false,
                roles: vec![DirectoryRole::GlobalAdministrator],
            },
        )
        .await
        .unwrap();
    let mut b = Browser::at(PUBLIC);
    b.sign_in(
        &w.app,
        "/admin",
        &w.h.tenant().to_string(),
        &format!("bench.admin@{}", w.domain),
        ADMIN_PASSWORD,
    )
    .await;
    let ids = w.ids.clone();
    let pages: Vec<(&str, PathOf)> = vec![
        (
            "admin Active users (first page)",
            Box::new(|_| "/admin/users".into()),
        ),
        (
            "admin Active users, search as you type",
            Box::new(|i| format!("/admin/users?q={}", PREFIXES[i % PREFIXES.len()])),
        ),
        (
            "admin Active users, enabled in Finance (department filter)",
            Box::new(|_| "/admin/users?status=enabled&department=Finance".into()),
        ),
        (
            "admin Active users, a filter nobody matches (disabled in Finance)",
            Box::new(|_| "/admin/users?status=disabled&department=Finance".into()),
        ),
        (
            "admin Active users with a user's details pane",
            Box::new(move |i| format!("/admin/users?user={}", ids[(i * 7919) % ids.len()])),
        ),
        (
            "admin Audit log (first page)",
            Box::new(|_| "/admin/audit".into()),
        ),
        ("admin Roles", Box::new(|_| "/admin/roles".into())),
        ("admin Licences", Box::new(|_| "/admin/licenses".into())),
        (
            "admin Deleted users",
            Box::new(|_| "/admin/users/deleted".into()),
        ),
    ];
    for (label, path) in pages {
        let mut out = Vec::with_capacity(samples);
        for i in 0..samples.min(200) {
            let p = path(i);
            let t = Instant::now();
            let page = b.get(&w.app, &p).await;
            out.push(t.elapsed().as_micros() as u64);
            assert_eq!(page.status, StatusCode::OK, "{p}: {}", page.body);
        }
        Stats(out).print(name, label);
    }

    let workers = 4;
    println!(
        "\n{name}: `GET /users/{{id}}` {:.0} requests/s, startswith `$top=100` pages {:.0} requests/s ({workers} concurrent callers, {seconds} s each)",
        w.throughput(workers, seconds, by_id).await,
        w.throughput(workers, seconds, startswith_page).await,
    );
}

fn main() {
    // `RUST_LOG=sqlx=debug` shows every statement a measured request runs, with its time.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let n = env_num("LATCHKEY_BENCH_USERS", 100_000) as usize;
    let samples = env_num("LATCHKEY_BENCH_SAMPLES", 300) as usize;
    let seconds = env_num("LATCHKEY_BENCH_SECONDS", 5);
    let backends =
        std::env::var("LATCHKEY_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("machine: {cores} cores; {samples} sequential requests per measurement");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for b in backends.split(',') {
        let backend = match b.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("LATCHKEY_BENCH_BACKENDS: unknown backend {other:?}"),
        };
        rt.block_on(run(backend, n, samples, seconds));
    }
}
