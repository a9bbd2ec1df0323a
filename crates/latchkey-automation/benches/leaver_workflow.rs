//! A leaver workflow over many users (default 10,000), through the real engine, directory and
//! store, on SQLite and on PostgreSQL, with production argon2id parameters (m=19456 KiB, t=2,
//! p=1) on the bounded pool sized to the machine's cores: every user's leave date has passed,
//! one tick starts a run per user, and the worker performs each run's steps (reset to an
//! unknown password, revoke sessions, disable, remove licences) until nothing is due.
//!
//! Reported: users per second, and where the time goes. The hashing threads' CPU time (from
//! `/proc/self/task/<tid>/stat` of the `latchkey-hash-N` threads) is argon2's; this process's
//! CPU time (user + system, from `/proc/self/stat`) less that is the engine's own work (the tick, leasing and recording
//! steps, each action's directory operation, the SQLite driver); PostgreSQL's server
//! processes are counted apart. The engine's overhead target is under 10 % of the time spent
//! hashing. How busy the pool was (`Hasher::busy` over the wall time of all its threads)
//! shows whether the engine keeps it fed.
//!
//! Run: `cargo bench -p latchkey-automation --bench leaver_workflow`. `LATCHKEY_BENCH_USERS`
//! (default 10000), `LATCHKEY_BENCH_BACKENDS` (`sqlite,postgres`). Figures go to
//! benches/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use latchkey_automation::Engine;
use latchkey_core::Directory;
use latchkey_core::clock::Clock;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::UserRef;
use latchkey_core::password::{HashParams, Hasher};
use latchkey_testkit::{Backend, Harness, seed};

const LEAVER: &str = r#"{
    "name": "Leaver",
    "trigger": {"kind": "leaveDate", "offsetDays": 0},
    "confirmShare": true,
    "steps": [
        {"action": "resetPasswordUnknown"},
        {"action": "revokeSessions"},
        {"action": "disableAccount"},
        {"action": "removeAllLicenses"}
    ]
}"#;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let used: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    used / ticks
}

/// CPU seconds of this process's hashing threads (`latchkey-hash-N`).
fn hashing_cpu_seconds(ticks: f64) -> f64 {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|tid| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .is_ok_and(|c| c.starts_with("latchkey-hash"))
        })
        .map(|tid| cpu_seconds(&format!("self/task/{tid}"), ticks))
        .sum()
}

/// CPU seconds of every `postgres` process on the machine (the bench's own server when
/// nothing else runs one).
fn postgres_cpu_seconds(ticks: f64) -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid, ticks))
        .sum()
}

async fn run(backend: Backend, users: usize, ticks: f64) {
    let h = Harness::new(backend).await;
    let tenant = h.tenant();
    let hasher = Hasher::with_defaults(HashParams::default()).unwrap();
    let directory = Directory::new(h.store.clone(), hasher.clone(), h.clock.clone())
        .with_master_key(MasterKey::generate());
    let left = h.clock.now() - chrono::Duration::days(1);
    let seeded = Instant::now();
    let ids = seed::seed_users_with(&h, 0, users, |_, user| {
        user.account_enabled = true;
        user.profile.employee_leave_date_time = Some(left);
    })
    .await;
    println!(
        "{backend:?}: seeded {users} leavers in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    directory
        .save_workflow(&Harness::operator(), tenant, LEAVER)
        .await
        .unwrap();
    let engine = Engine::new(directory.clone());

    let cpu0 = cpu_seconds("self", ticks);
    let pg0 = postgres_cpu_seconds(ticks);
    let busy0 = hasher.busy();
    let hash_cpu0 = hashing_cpu_seconds(ticks);
    let start = Instant::now();
    let started = engine.tick(tenant).await.unwrap();
    let tick = start.elapsed();
    let steps = engine.run_until_idle().await.unwrap();
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self", ticks) - cpu0;
    let pg = postgres_cpu_seconds(ticks) - pg0;
    let busy = (hasher.busy() - busy0).as_secs_f64();
    let hashing = hashing_cpu_seconds(ticks) - hash_cpu0;

    assert_eq!(started, users, "one run per leaver");
    assert_eq!(steps, users * 4, "four steps per run");
    for id in [ids[0], ids[users / 2], ids[users - 1]] {
        let user = directory
            .get_user(&Harness::operator(), tenant, &UserRef::Id(id))
            .await
            .unwrap();
        assert!(!user.account_enabled, "the leaver is disabled");
        assert!(user.force_change_password_next_sign_in);
    }

    let engine_cpu = (cpu - hashing).max(0.0);
    println!(
        "{backend:?}: {users} users in {wall:.1} s = {:.1} users/s (tick {:.2} s, {steps} steps)",
        users as f64 / wall,
        tick.as_secs_f64(),
    );
    println!(
        "{backend:?}: hashing CPU {hashing:.1} s on {} threads ({:.2} ms per reset; the pool \
         busy {:.0} % of the time); process CPU {cpu:.1} s, the engine's own {engine_cpu:.1} s \
         = {:.1} % of hashing{}",
        hasher.threads(),
        hashing * 1000.0 / users as f64,
        100.0 * busy / (wall * hasher.threads() as f64),
        100.0 * engine_cpu / hashing.max(f64::EPSILON),
        if backend == Backend::Postgres {
            format!(
                "; PostgreSQL CPU {pg:.1} s = {:.1} % of hashing",
                100.0 * pg / hashing
            )
        } else {
            String::new()
        },
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let users = env_num("LATCHKEY_BENCH_USERS", 10_000).max(1);
    let ticks = clock_ticks();
    let backends =
        std::env::var("LATCHKEY_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for name in backends.split(',') {
        let backend = match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("LATCHKEY_BENCH_BACKENDS: unknown backend {other}"),
        };
        run(backend, users, ticks).await;
    }
}
