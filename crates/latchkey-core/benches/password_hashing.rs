//! Cost of argon2id at the default (OWASP) parameters, and what the bounded pool adds or
//! gains: N hashes through the 2-thread pool against N raw calls on one thread.
//!
//! Run: `cargo bench -p latchkey-core --bench password_hashing`. Figures in benches/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use latchkey_core::password::hash::{hash_now, verify_now};
use latchkey_core::password::{HashParams, Hasher};
use secrecy::SecretString;

fn secret() -> SecretString {
    SecretString::from("Correct-Horse-Battery-9".to_owned())
}

fn raw(c: &mut Criterion) {
    let params = HashParams::default();
    let stored = hash_now(params, &secret()).unwrap();
    let mut g = c.benchmark_group("argon2id_default_params");
    g.sample_size(20);
    g.bench_function("hash", |b| b.iter(|| hash_now(params, &secret()).unwrap()));
    g.bench_function("verify", |b| {
        b.iter(|| assert!(verify_now(params, &secret(), &stored).unwrap().matches))
    });
    g.finish();
}

fn pool(c: &mut Criterion) {
    const BATCH: u64 = 8;
    let params = HashParams::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let hasher = Hasher::new(params, 2, 1024).unwrap();
    let stored = hash_now(params, &secret()).unwrap();
    let mut g = c.benchmark_group("verify_throughput");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function(BenchmarkId::new("raw_one_thread", BATCH), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                assert!(verify_now(params, &secret(), &stored).unwrap().matches);
            }
        })
    });
    g.bench_function(BenchmarkId::new("pool_two_threads", BATCH), |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = Vec::new();
                for _ in 0..BATCH {
                    let h = hasher.clone();
                    let s = stored.clone();
                    tasks.push(tokio::spawn(async move { h.verify(&secret(), &s).await }));
                }
                for t in tasks {
                    assert!(t.await.unwrap().unwrap().matches);
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, raw, pool);
criterion_main!(benches);
