//! argon2id hashing and verification on a dedicated, bounded pool.
//!
//! Argon2 at OWASP's parameters costs ~19 MiB and tens of milliseconds per call. Running it on
//! the async runtime would stall every other request, and running it on an unbounded pool
//! would let a flood of sign-ins exhaust memory. So the work goes to a fixed set of threads
//! (one per core by default) behind a queue with a limit; when the queue is full the caller
//! gets [`HashError::Busy`] at once and can answer "try again later".

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash as Phc, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// argon2id cost parameters. The default is OWASP's recommendation (m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    fn argon2(&self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| HashError::Parameters(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). It is not a secret in the sense of
/// a password, but it is offline-attackable, so it never goes into logs either.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts a stored PHC string, checking that it parses.
    pub fn from_phc(phc: String) -> Result<Self, HashError> {
        Phc::new(&phc).map_err(|_| HashError::Malformed)?;
        Ok(Self(phc))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash was made with other parameters than the current ones: rehash on a
    /// successful sign-in.
    pub needs_rehash: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("the password service is busy; try again in a moment")]
    Busy,
    #[error("the password service has stopped")]
    Stopped,
    #[error("invalid password hashing parameters: {0}")]
    Parameters(String),
    #[error("the stored password hash is malformed")]
    Malformed,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Handle to the hashing pool; cheap to clone. The worker threads stop when the last handle
/// is dropped.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: SyncSender<Job>,
    params: HashParams,
    threads: usize,
    /// Nanoseconds the workers have spent on jobs, summed over threads.
    busy_nanos: Arc<AtomicU64>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.inner.params)
            .field("threads", &self.inner.threads)
            .finish()
    }
}

impl Hasher {
    /// Starts `threads` workers (at least one) behind a queue of `queue` waiting jobs.
    pub fn new(params: HashParams, threads: usize, queue: usize) -> Result<Self, HashError> {
        // Fail at start-up rather than on the first sign-in.
        params.argon2()?;
        let threads = threads.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("latchkey-hash-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, never while hashing.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Parameters(format!("cannot start hashing thread: {e}")))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                jobs: tx,
                params,
                threads,
                busy_nanos: Arc::new(AtomicU64::new(0)),
            }),
        })
    }

    /// One worker per available core and a queue of 256 jobs per worker.
    pub fn with_defaults(params: HashParams) -> Result<Self, HashError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(params, threads, threads * 256)
    }

    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// How many worker threads the pool has.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// The time the workers have spent hashing and verifying since the pool started, summed
    /// over its threads (two threads busy for a second make two seconds).
    pub fn busy(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.inner.busy_nanos.load(Ordering::Relaxed))
    }

    /// Hashes a password with a fresh random salt.
    pub async fn hash(&self, password: &SecretString) -> Result<PasswordHash, HashError> {
        let params = self.inner.params;
        let password = SecretString::from(password.expose_secret().to_owned());
        self.run(move || hash_now(params, &password)).await?
    }

    /// Verifies a password against a stored hash and says whether it should be rehashed.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: &PasswordHash,
    ) -> Result<Verification, HashError> {
        let params = self.inner.params;
        let password = SecretString::from(password.expose_secret().to_owned());
        let stored = stored.clone();
        self.run(move || verify_now(params, &password, &stored))
            .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let busy = Arc::clone(&self.inner.busy_nanos);
        let job: Job = Box::new(move || {
            let started = std::time::Instant::now();
            let done = work();
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            busy.fetch_add(nanos, Ordering::Relaxed);
            // The caller may have gone away (request cancelled); nothing to do then.
            let _ = tx.send(done);
        });
        self.inner.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => HashError::Busy,
            TrySendError::Disconnected(_) => HashError::Stopped,
        })?;
        rx.await.map_err(|_| HashError::Stopped)
    }
}

/// Hashes on the calling thread. Public for benchmarks and tests; servers use [`Hasher`].
pub fn hash_now(params: HashParams, password: &SecretString) -> Result<PasswordHash, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    let phc = params
        .argon2()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| HashError::Parameters(e.to_string()))?;
    Ok(PasswordHash(phc.to_string()))
}

/// Verifies on the calling thread. Public for benchmarks and tests; servers use [`Hasher`].
pub fn verify_now(
    params: HashParams,
    password: &SecretString,
    stored: &PasswordHash,
) -> Result<Verification, HashError> {
    let phc = Phc::new(&stored.0).map_err(|_| HashError::Malformed)?;
    // Verify with the parameters recorded in the hash, not the current ones, so that hashes
    // made before a parameter change still verify.
    let matches = verify_in_place(password.expose_secret().as_bytes(), &phc);
    Ok(Verification {
        matches,
        needs_rehash: needs_rehash(params, &phc),
    })
}

thread_local! {
    /// This thread's argon2 memory, kept between verifications. argon2's own
    /// `verify_password` allocates and zeroes its ~19 MiB on every call, and the page faults
    /// and `memset` that costs were about a tenth of a sign-in's CPU (benches/README.md).
    /// Only the hashing pool's threads verify in a server, so this is bounded by workers ×
    /// the largest memory cost among stored hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// `password` against a PHC string the way `PasswordVerifier::verify_password` does it
/// (the recorded algorithm, version, parameters and salt; a constant-time comparison of the
/// outputs), but in this thread's reused memory. Anything unusable in the string is a
/// mismatch, as it is there.
fn verify_in_place(password: &[u8], phc: &Phc<'_>) -> bool {
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(phc) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let computed = Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
                .map_err(Into::into)
        });
        // `Output`'s equality is constant-time.
        computed.is_ok_and(|c| c == expected)
    })
}

fn needs_rehash(params: HashParams, phc: &Phc<'_>) -> bool {
    if phc.algorithm != argon2::ARGON2ID_IDENT || phc.version != Some(Version::V0x13 as u32) {
        return true;
    }
    match Params::try_from(phc) {
        Ok(p) => {
            p.m_cost() != params.memory_kib
                || p.t_cost() != params.iterations
                || p.p_cost() != params.parallelism
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_in_reused_memory_agrees_with_argon2s_own_verifier_for_every_variant() {
        use argon2::password_hash::PasswordVerifier;
        // Largest first, then smaller, then larger again: the reused memory is resized and
        // sliced, never stale.
        let variants = [
            (Algorithm::Argon2id, Version::V0x13, 512, 2, 2),
            (Algorithm::Argon2id, Version::V0x13, 64, 1, 1),
            (Algorithm::Argon2i, Version::V0x13, 128, 3, 1),
            (Algorithm::Argon2d, Version::V0x10, 96, 1, 3),
            (Algorithm::Argon2id, Version::V0x13, 1024, 1, 4),
        ];
        for (algorithm, version, m, t, p) in variants {
            let argon2 = Argon2::new(algorithm, version, Params::new(m, t, p, None).unwrap());
            let salt = SaltString::generate(&mut OsRng);
            let made = argon2
                .hash_password(b"Correct-Horse-7", &salt)
                .unwrap()
                .to_string();
            let phc = Phc::new(&made).unwrap();
            for (candidate, right) in [
                (&b"Correct-Horse-7"[..], true),
                (&b"Correct-Horse-8"[..], false),
                (&b""[..], false),
            ] {
                assert_eq!(verify_in_place(candidate, &phc), right, "{made}");
                assert_eq!(
                    Argon2::default().verify_password(candidate, &phc).is_ok(),
                    right
                );
            }
        }
    }

    #[test]
    fn a_phc_string_without_a_hash_or_salt_never_matches() {
        let made = hash_now(cheap(), &secret("Correct-Horse-7")).unwrap();
        let (head, _) = made.as_str().rsplit_once('$').unwrap();
        let phc = Phc::new(head).unwrap();
        assert!(!verify_in_place(b"Correct-Horse-7", &phc));
    }

    // Small parameters keep the tests fast; the defaults are measured in benches/.
    fn cheap() -> HashParams {
        HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn a_hash_is_an_argon2id_phc_string_that_verifies_only_the_right_password() {
        let hash = hash_now(cheap(), &secret("Correct-Horse-9")).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(!hash.as_str().contains("Correct-Horse-9"));
        let ok = verify_now(cheap(), &secret("Correct-Horse-9"), &hash).unwrap();
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = verify_now(cheap(), &secret("Correct-Horse-8"), &hash).unwrap();
        assert!(!wrong.matches);
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let a = hash_now(cheap(), &secret("Same-Password-1")).unwrap();
        let b = hash_now(cheap(), &secret("Same-Password-1")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_hash_made_with_other_parameters_still_verifies_and_asks_for_a_rehash() {
        let old = hash_now(cheap(), &secret("Rotate-Me-42")).unwrap();
        let newer = HashParams {
            memory_kib: 128,
            ..cheap()
        };
        let v = verify_now(newer, &secret("Rotate-Me-42"), &old).unwrap();
        assert!(v.matches);
        assert!(v.needs_rehash);
    }

    #[test]
    fn a_phc_string_round_trips_through_from_phc() {
        let hash = hash_now(cheap(), &secret("Round-Trip-7")).unwrap();
        let again = PasswordHash::from_phc(hash.as_str().to_owned()).unwrap();
        assert!(
            verify_now(cheap(), &secret("Round-Trip-7"), &again)
                .unwrap()
                .matches
        );
        assert_eq!(
            PasswordHash::from_phc("not a phc".into()),
            Err(HashError::Malformed)
        );
    }

    #[test]
    fn debug_output_never_shows_the_hash() {
        let hash = hash_now(cheap(), &secret("Hidden-Value-1")).unwrap();
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }

    #[tokio::test]
    async fn the_pool_hashes_and_verifies_off_the_runtime() {
        let pool = Hasher::new(cheap(), 2, 8).unwrap();
        let hash = pool.hash(&secret("Pooled-Secret-3")).await.unwrap();
        let v = pool
            .verify(&secret("Pooled-Secret-3"), &hash)
            .await
            .unwrap();
        assert!(v.matches);
    }

    #[tokio::test]
    async fn the_pool_counts_the_time_its_threads_spend_hashing() {
        let pool = Hasher::new(cheap(), 2, 8).unwrap();
        assert_eq!(pool.busy(), std::time::Duration::ZERO);
        assert_eq!(pool.threads(), 2);
        let hash = pool.hash(&secret("Counted-Secret-4")).await.unwrap();
        let after_hash = pool.busy();
        assert!(after_hash > std::time::Duration::ZERO);
        pool.verify(&secret("Counted-Secret-4"), &hash)
            .await
            .unwrap();
        assert!(pool.busy() > after_hash);
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_growing() {
        // One worker held on a gate and a queue of one: the third job cannot be accepted.
        let pool = Hasher::new(cheap(), 1, 1).unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        pool.inner
            .jobs
            .try_send(Box::new(move || {
                let _ = gate_rx.recv();
                let _ = done_tx.send(());
            }))
            .unwrap();
        // A no-op fits in the queue only once the worker has taken the blocking job; then it
        // stays queued behind it, and the queue is full.
        while pool.inner.jobs.try_send(Box::new(|| {})).is_err() {
            std::thread::yield_now();
        }
        let err = pool.hash(&secret("Too-Many-Now-1")).await.unwrap_err();
        assert_eq!(err, HashError::Busy);
        gate_tx.send(()).unwrap();
        done_rx.recv().unwrap();
    }

    #[test]
    fn invalid_parameters_are_refused_at_start() {
        let bad = HashParams {
            memory_kib: 1,
            iterations: 0,
            parallelism: 1,
        };
        assert!(matches!(
            Hasher::new(bad, 1, 1),
            Err(HashError::Parameters(_))
        ));
    }
}
