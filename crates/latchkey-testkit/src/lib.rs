//! Test harness: a throwaway PostgreSQL server per test process (initdb + postgres from the
//! machine's PostgreSQL packages, in a temp dir, on a unix socket), a fresh database per
//! test, and a ready directory on either backend. Tests never assume a running server. Also
//! a small real SMTP server ([`smtp::SmtpSink`]) for the e-mail tests.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod browser;
pub mod seed;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use latchkey_core::clock::ManualClock;
use latchkey_core::directory::Bootstrapped;
use latchkey_core::names::DomainName;
use latchkey_core::password::{HashParams, Hasher};
use latchkey_core::store::Store;
use latchkey_core::{Directory, authz::Actor, authz::Channel};
use tempfile::TempDir;

/// Cheap argon2 parameters: tests check behaviour, benches measure cost.
pub const TEST_HASH: HashParams = HashParams {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A PostgreSQL server owned by this test process. It lives as long as the process: a
/// wrapper shell stops it and removes its directory when our end of its stdin closes, which
/// happens however the process ends.
#[derive(Debug)]
pub struct PgServer {
    socket_dir: PathBuf,
    port: u16,
    _guard: Child,
}

static PG: OnceLock<PgServer> = OnceLock::new();

fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LATCHKEY_PG_BIN") {
        return PathBuf::from(dir);
    }
    // Debian installs the server binaries out of PATH, one directory per major version.
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
        .expect("PostgreSQL server binaries not found: run scripts/test (it installs them) or set LATCHKEY_PG_BIN")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    // The port only names the socket file; nothing listens on TCP.
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl PgServer {
    /// The process's server, started on first use.
    pub fn shared() -> &'static PgServer {
        PG.get_or_init(Self::start)
    }

    fn start() -> PgServer {
        let bin = pg_bin_dir();
        let root = tempfile::Builder::new()
            .prefix("latchkey-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let data = root.join("data");
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        // PostgreSQL refuses to run as root; as root, run it as the packaged postgres user.
        let run_as: Vec<String> = if is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .expect("chown");
            vec![
                "runuser".into(),
                "-u".into(),
                "postgres".into(),
                "--".into(),
            ]
        } else {
            vec![]
        };
        let port = free_port();
        let initdb = format!(
            "{}/initdb -D {} -A trust -U latchkey -E UTF8 --no-sync >{}/initdb.log 2>&1",
            bin.display(),
            data.display(),
            root.display()
        );
        let serve = format!(
            "{bin}/postgres -D {data} -k {sock} -p {port} -c listen_addresses='' -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 >{root}/server.log 2>&1",
            bin = bin.display(),
            data = data.display(),
            sock = socket_dir.display(),
            root = root.display(),
        );
        // Runs the server in the background and waits on stdin; EOF (our process ended) stops
        // the server and deletes everything.
        let script = format!(
            "set -e; {initdb}; {serve} & pg=$!; cat >/dev/null; kill -INT $pg; wait $pg || true; rm -rf {root}",
            root = root.display()
        );
        let mut cmd = Command::new(run_as.first().map_or("sh", String::as_str));
        if run_as.is_empty() {
            cmd.args(["-c", &script]);
        } else {
            cmd.args(&run_as[1..]).args(["sh", "-c", &script]);
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start PostgreSQL");
        let server = PgServer {
            socket_dir: socket_dir.clone(),
            port,
            _guard: child,
        };
        let socket = socket_dir.join(format!(".s.PGSQL.{port}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !socket.exists() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(root.join("initdb.log")).unwrap_or_default()
                    + &std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
                panic!("PostgreSQL did not start within 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// A URL for `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://latchkey@localhost/{database}?host={}&port={}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// Creates an empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        use sqlx::Connection;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        // The server may still be finishing its start-up after the socket appeared.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut conn = loop {
            match sqlx::PgConnection::connect(&self.url("postgres")).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot connect to the test PostgreSQL: {e}"),
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        self.url(&name)
    }
}

/// A directory on a fresh database with one bootstrapped tenant.
#[allow(missing_debug_implementations)]
pub struct Harness {
    pub backend: Backend,
    /// The data directory (SQLite file lives here; also scratch space for the test).
    pub dir: TempDir,
    /// `None` for SQLite in `dir`.
    pub database_url: Option<String>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub directory: Directory,
    pub boot: Bootstrapped,
}

impl Harness {
    pub async fn new(backend: Backend) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgServer::shared().fresh_database().await),
        };
        let store = latchkey_store::open(database_url.as_deref(), dir.path())
            .await
            .expect("open store");
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap(),
        ));
        let hasher = Hasher::new(TEST_HASH, 2, 1024).unwrap();
        let directory = Directory::new(store.clone(), hasher, clock.clone())
            .with_master_key(latchkey_core::crypto::MasterKey::generate());
        let boot = directory
            .bootstrap_tenant(&DomainName::parse("contoso.test").unwrap(), "Contoso", None)
            .await
            .expect("bootstrap");
        Harness {
            backend,
            dir,
            database_url,
            store,
            clock,
            directory,
            boot,
        }
    }

    pub fn tenant(&self) -> latchkey_core::ids::TenantId {
        self.boot.tenant.id
    }

    pub fn operator() -> Actor {
        Actor::Operator {
            channel: Channel::Cli,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the database holds for `table`, as text, to prove a secret is not in it:
    /// on SQLite the whole database file and its write-ahead log (every table, free pages
    /// included), on PostgreSQL the table's rows.
    pub async fn raw_rows(&self, table: &str) -> String {
        use sqlx::Row;
        match self.backend {
            Backend::Sqlite => {
                let mut all = Vec::new();
                for f in ["latchkey.db", "latchkey.db-wal"] {
                    if let Ok(b) = std::fs::read(self.data_dir().join(f)) {
                        all.extend(b);
                    }
                }
                String::from_utf8_lossy(&all).into_owned()
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.database_url.as_deref().unwrap())
                    .await
                    .unwrap();
                let rows = sqlx::query(&format!("SELECT t::text AS row FROM {table} t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>("row"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    }
}
