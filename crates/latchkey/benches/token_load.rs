//! Load on the identity endpoints of a real `latchkey serve` (release build, HTTPS, default
//! argon2id parameters), from keep-alive clients on loopback:
//!
//! 1. client-credential grants per second (and the same against node-oidc-provider, as a
//!    reference, when `npm` can install it in `benches/reference/oidc-provider`);
//! 2. password (ROPC) sign-ins per second, against raw argon2id verifications per second on
//!    as many threads as the server's hashing pool has;
//! 3. the p99 of discovery and of client-credential grants while sign-ins saturate the pool.
//!
//! Each server's CPU time over a run (user + system, from `/proc/<pid>/stat`) is reported
//! too, so a per-core figure counts the server's work and not the load generator's, which
//! shares the machine.
//!
//! Run: `cargo bench -p latchkey --bench token_load`. `LATCHKEY_BENCH_SECONDS` (default 10)
//! and `LATCHKEY_BENCH_CONCURRENCY` (default 32) tune it. Every loop is bounded in time and
//! talks only to 127.0.0.1. Figures go to benches/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use latchkey_core::password::HashParams;
use latchkey_core::password::hash::{hash_now, verify_now};
use secrecy::SecretString;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const PASSWORD: &str = "Kx9#vTq2mW-load7";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cli(data: &Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .arg("--json")
        .env("LATCHKEY_DATA_DIR", data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Kills the child when dropped, so an aborted bench leaves no server behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        .env_remove("LATCHKEY_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(rest) = line.strip_prefix("Latchkey is listening on ") {
            break rest
                .split(' ')
                .next()
                .unwrap()
                .replace("127.0.0.1", "localhost");
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), base)
}

#[derive(Debug, Default)]
struct Run {
    ok: u64,
    failed: u64,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies_us[i.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }
}

/// `concurrency` keep-alive workers send requests built by `make` for `seconds`.
async fn load<F>(client: &reqwest::Client, concurrency: u64, seconds: u64, make: F) -> Run
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut run = Run::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match make(&client).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        run.ok += 1;
                        run.latencies_us.push(t.elapsed().as_micros() as u64);
                    }
                    _ => run.failed += 1,
                }
            }
            run
        }));
    }
    let mut total = Run::default();
    for t in tasks {
        let r = t.await.unwrap();
        total.ok += r.ok;
        total.failed += r.failed;
        total.latencies_us.extend(r.latencies_us);
    }
    total.seconds = start.elapsed().as_secs_f64();
    total
}

fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// Raw argon2id verifications per second on `threads` threads for `seconds`.
fn raw_argon2(threads: usize, seconds: u64) -> f64 {
    let params = HashParams::default();
    let secret = SecretString::from(PASSWORD.to_owned());
    let stored = hash_now(params, &secret).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, secret, stored) = (stop.clone(), secret.clone(), stored.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    assert!(verify_now(params, &secret, &stored).unwrap().matches);
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let n: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

/// node-oidc-provider with one client-credentials client, serving JWT access tokens over
/// HTTPS with the same certificate; `None` when npm cannot install it here.
fn reference_provider(cert: &Path, key: &Path) -> Option<(Killed, String)> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/reference/oidc-provider");
    if !dir.join("node_modules/oidc-provider").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!("(node-oidc-provider reference skipped: npm could not install it)");
            return None;
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg("server.mjs")
        .arg(port.to_string())
        .arg(cert)
        .arg(key)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let ready = lines.next().and_then(Result::ok);
    if ready.as_deref() != Some("ready") {
        return None;
    }
    Some((Killed(child), format!("https://localhost:{port}")))
}

fn main() {
    let seconds = env_num("LATCHKEY_BENCH_SECONDS", 10);
    let concurrency = env_num("LATCHKEY_BENCH_CONCURRENCY", 32);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = cli(&data, &["init", "--domain", "contoso.test"]);
    let tenant = init["tenantId"].as_str().unwrap().to_owned();
    let app = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Bench",
            "--application-permission",
            "User.Read.All",
            "--grant-admin-consent",
        ],
    );
    let public = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Bench ROPC",
            "--public-client",
            "--delegated-permission",
            "User.Read",
            "--grant-admin-consent",
        ],
    );
    let pw = dir.path().join("pw.txt");
    std::fs::write(&pw, PASSWORD).unwrap();
    let pw_arg = pw.to_str().unwrap().to_owned();
    cli(
        &data,
        &[
            "users",
            "create",
            "--upn",
            "bench@contoso.test",
            "--display-name",
            "Bench User",
            "--password-file",
            &pw_arg,
            "--no-force-change",
        ],
    );
    let (server, base) = serve(&data);
    let server_pid = server.0.id();
    let ca = std::fs::read(data.join("tls/ca.pem")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = client(&ca);
    let token_url = format!("{base}/{tenant}/oauth2/v2.0/token");
    let (app_id, secret) = (
        app["appId"].as_str().unwrap().to_owned(),
        app["clientSecret"].as_str().unwrap().to_owned(),
    );
    let public_id = public["appId"].as_str().unwrap().to_owned();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());

    println!("machine: {workers} cores; {seconds} s per run; {concurrency} keep-alive clients");

    // 1. Client credentials.
    let cc = {
        let (url, id, s) = (token_url.clone(), app_id.clone(), secret.clone());
        move |c: &reqwest::Client| {
            c.post(&url).form(&[
                ("client_id", id.as_str()),
                ("client_secret", s.as_str()),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
        }
    };
    let cpu = cpu_seconds(server_pid);
    let mut run = rt.block_on(load(&http, concurrency, seconds, cc.clone()));
    let used = cpu_seconds(server_pid) - cpu;
    println!(
        "client_credentials (Latchkey): {:.0} grants/s, p50 {:.2} ms, p99 {:.2} ms, {} failed; server used {used:.1} CPU-s = {:.0} grants per server CPU-second",
        run.rate(),
        run.percentile(0.50),
        run.percentile(0.99),
        run.failed,
        run.ok as f64 / used
    );

    if let Some((node, node_base)) = reference_provider(
        &data.join("tls/server.pem"),
        &data.join("tls/server-key.pem"),
    ) {
        let url = format!("{node_base}/token");
        let node_pid = node.0.id();
        let cpu = cpu_seconds(node_pid);
        let mut run = rt.block_on(load(&http, concurrency, seconds, move |c| {
            c.post(&url).form(&[
                ("client_id", "bench"),
                (
                    "client_secret",
                    "bench-secret-0123456789abcdef0123456789abcdef",
                ),
                ("grant_type", "client_credentials"),
                ("scope", "api:read"),
            ])
        }));
        let used = cpu_seconds(node_pid) - cpu;
        println!(
            "client_credentials (node-oidc-provider): {:.0} grants/s, p50 {:.2} ms, p99 {:.2} ms, {} failed; server used {used:.1} CPU-s = {:.0} grants per server CPU-second",
            run.rate(),
            run.percentile(0.50),
            run.percentile(0.99),
            run.failed,
            run.ok as f64 / used
        );
    }

    // 2. Password sign-ins against raw argon2id on the pool's thread count.
    let raw = raw_argon2(workers, seconds);
    let ropc = {
        let (url, id) = (token_url.clone(), public_id.clone());
        move |c: &reqwest::Client| {
            c.post(&url).form(&[
                ("client_id", id.as_str()),
                ("grant_type", "password"),
                ("username", "bench@contoso.test"),
                ("password", PASSWORD),
                ("scope", "User.Read openid profile offline_access"),
            ])
        }
    };
    let cpu = cpu_seconds(server_pid);
    let mut alone = rt.block_on(load(&http, concurrency, seconds, ropc.clone()));
    let used = cpu_seconds(server_pid) - cpu;
    println!(
        "password sign-ins (ROPC), alone: {:.1}/s = {:.0} % of raw argon2id ({raw:.1} verifications/s on {workers} threads); p50 {:.0} ms, p99 {:.0} ms; {} refused or busy; server used {used:.1} CPU-s = {:.1} ms per sign-in ({:.1} ms of it argon2id)",
        alone.rate(),
        100.0 * alone.rate() / raw,
        alone.percentile(0.50),
        alone.percentile(0.99),
        alone.failed,
        1000.0 * used / alone.ok as f64,
        1000.0 * workers as f64 / raw
    );
    // 3. Sign-ins again while one client each measures other endpoints' latency.
    let discovery_url = format!("{base}/{tenant}/v2.0/.well-known/openid-configuration");
    let (mut signins, mut discovery, mut grants) = rt.block_on(async {
        let side = http.clone();
        let d =
            tokio::spawn(
                async move { load(&side, 1, seconds, move |c| c.get(&discovery_url)).await },
            );
        let side = http.clone();
        let g = tokio::spawn(async move { load(&side, 1, seconds, cc).await });
        let s = load(&http, concurrency, seconds, ropc).await;
        (s, d.await.unwrap(), g.await.unwrap())
    });
    println!(
        "password sign-ins (ROPC) with that side load: {:.1}/s = {:.0} % of raw argon2id; p99 {:.0} ms; {} refused or busy",
        signins.rate(),
        100.0 * signins.rate() / raw,
        signins.percentile(0.99),
        signins.failed
    );
    println!(
        "while sign-ins saturate the pool: discovery p99 {:.2} ms ({} requests); client_credentials p99 {:.2} ms ({} grants)",
        discovery.percentile(0.99),
        discovery.ok,
        grants.percentile(0.99),
        grants.ok
    );
}
