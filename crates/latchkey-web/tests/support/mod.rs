//! What the web tests share: the identity platform and the web pages behind one router
//! (`app`), its users, every log line, and everything the store holds.
#![allow(dead_code)]

use axum::Router;
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewUser, PasswordChoice};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_identity::http::IdentityState;
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::Harness;
use latchkey_web::WebState;
use secrecy::SecretString;

pub const PW: &str = "Blue-Harbour-Lantern-7";

pub struct World {
    pub h: Harness,
    pub app: Router,
}

/// The identity platform and the web pages, both at `public`, over the harness's directory.
pub fn app(h: &Harness, public: &str) -> Router {
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let identity = IdentityState {
        directory: h.directory.clone(),
        tokens: TokenService::new(keys, h.clock.clone(), Duration::hours(1)),
        public_url: public.into(),
    };
    let web = WebState {
        directory: h.directory.clone(),
        public_url: public.into(),
        workflows: Some(std::sync::Arc::new(TestEngine(
            latchkey_automation::Engine::new(h.directory.clone()),
        ))),
    };
    latchkey_identity::http::router(identity).merge(latchkey_web::router(web))
}

/// The automation engine's templates and dry run, as the binary hands them to the pages.
#[derive(Debug)]
pub struct TestEngine(pub latchkey_automation::Engine);

#[async_trait::async_trait]
impl latchkey_web::WorkflowEngine for TestEngine {
    fn templates(&self) -> Vec<latchkey_web::WorkflowTemplate> {
        latchkey_automation::templates::TEMPLATES
            .iter()
            .map(|t| latchkey_web::WorkflowTemplate {
                name: t.name.to_owned(),
                description: t.description.to_owned(),
                definition: t.definition.to_owned(),
            })
            .collect()
    }

    async fn dry_run(
        &self,
        tenant: latchkey_core::ids::TenantId,
        name: &str,
    ) -> Result<Vec<latchkey_web::PreviewUser>, latchkey_core::DirectoryError> {
        Ok(self
            .0
            .dry_run(tenant, name)
            .await?
            .into_iter()
            .map(|u| latchkey_web::PreviewUser {
                user_principal_name: u.user_principal_name,
                due: u.due,
                steps: u.steps,
            })
            .collect())
    }
}

/// Every log line any test of this process writes, at every level.
pub fn logs() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn user(w: &World, upn: &str, name: &str, roles: Vec<DirectoryRole>) -> String {
    let created =
        w.h.directory
            .create_user(
                &Harness::operator(),
                w.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse(name).unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: Default::default(),
                    password_policies: Default::default(),
                    password: PasswordChoice::Provided(SecretString::from(PW.to_owned())),
                    force_change_next_sign_in: false,
                    roles,
                },
            )
            .await
            .unwrap();
    created.user.id.to_string()
}

/// Everything the store holds, as bytes: the SQLite files, or PostgreSQL's rows as JSON.
pub async fn stored_bytes(w: &World) -> Vec<u8> {
    match &w.h.database_url {
        None => {
            let mut all = Vec::new();
            collect_files(w.h.data_dir(), &mut all);
            all
        }
        Some(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let mut all = String::new();
            for table in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                all.push_str(&rows.join("\n"));
            }
            all.into_bytes()
        }
    }
}

pub fn collect_files(dir: &std::path::Path, into: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.extend(std::fs::read(&path).unwrap());
        }
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------
// The admin center's pages (deleted users, roles, audit log, add user, bulk actions).

/// Where the admin center tests' browser reaches the server.
pub const ADMIN_PUBLIC: &str = "https://admin.contoso.test";

/// A world whose pages are served at [`ADMIN_PUBLIC`].
pub async fn admin_world(backend: latchkey_testkit::Backend) -> World {
    logs();
    let h = Harness::new(backend).await;
    let app = app(&h, ADMIN_PUBLIC);
    World { h, app }
}

/// Creates `upn` with `roles` and signs them in to the admin center in `b`; returns the
/// home page.
pub async fn admin_signed_in(
    w: &World,
    b: &mut latchkey_testkit::browser::Browser,
    upn: &str,
    roles: Vec<DirectoryRole>,
) -> latchkey_testkit::browser::Page {
    user(w, upn, "Signed-in Admin", roles).await;
    b.sign_in(&w.app, "/admin", &w.h.tenant().to_string(), upn, PW)
        .await
}

/// The CSRF token of the signed-in admin center (from any of its pages).
pub fn admin_csrf(page: &latchkey_testkit::browser::Page) -> String {
    page.hidden("csrf")
}
