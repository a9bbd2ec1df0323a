//! Token-signing keys. RS256 like Entra, 2048-bit RSA, a `kid` in every token header. Keys
//! live in the store (private halves sealed under the master key), so every node signs with
//! keys every other node can verify. A key signs for 90 days, then stays published in JWKS
//! until the last token it signed has expired, so rotation never breaks a valid token.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use latchkey_core::clock::Clock;
use latchkey_core::crypto::MasterKey;
use latchkey_core::store::{SigningKeyRecord, Store, StoreError};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

/// How long a new key signs before a newer one takes over.
pub const SIGNING_PERIOD_DAYS: i64 = 90;
/// How often a node re-reads the key set, to pick up keys another node created. Stated in
/// ARCHITECTURE.md: a key made on one node is trusted by the others within this time (and at
/// once when a token names an unknown `kid`).
pub const RELOAD_SECONDS: i64 = 300;

const PURPOSE: &str = "latchkey/signing-key/v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing keys: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Crypto(String),
}

/// One usable key.
#[derive(Clone)]
pub struct LoadedKey {
    pub kid: String,
    pub encoding: Option<EncodingKey>,
    pub decoding: DecodingKey,
    pub jwk: Value,
    pub created: DateTime<Utc>,
    pub retire_after: DateTime<Utc>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Loaded {
    keys: Vec<LoadedKey>,
    at: Option<DateTime<Utc>>,
}

/// The key set, cached in the node and refreshed from the store.
#[derive(Debug, Clone)]
pub struct KeyRing {
    store: Arc<dyn Store>,
    master: MasterKey,
    clock: Arc<dyn Clock>,
    /// How long tokens live: keys stay published this long after they stop signing.
    token_lifetime: Duration,
    loaded: Arc<RwLock<Loaded>>,
    /// Held while a node makes a key, so that concurrent first requests wait for one key
    /// instead of each generating their own.
    creating: Arc<tokio::sync::Mutex<()>>,
}

impl KeyRing {
    pub fn new(
        store: Arc<dyn Store>,
        master: MasterKey,
        clock: Arc<dyn Clock>,
        token_lifetime: Duration,
    ) -> Self {
        Self {
            store,
            master,
            clock,
            token_lifetime,
            loaded: Arc::default(),
            creating: Arc::default(),
        }
    }

    /// The key to sign with now, creating one when none is in its signing period.
    pub async fn signing_key(&self) -> Result<LoadedKey, KeyError> {
        let now = self.clock.now();
        if let Some(k) = self.current(now).await? {
            return Ok(k);
        }
        // None in force: make one, once per node. Two nodes racing here both succeed; each
        // key is published and valid, so the only cost is one extra key.
        let _one_at_a_time = self.creating.lock().await;
        self.reload().await?;
        if let Some(k) = self.current(now).await? {
            return Ok(k);
        }
        self.create(now).await?;
        self.reload().await?;
        self.current(now).await?.ok_or_else(|| {
            KeyError::Crypto("a new signing key is not visible after creation".into())
        })
    }

    async fn current(&self, now: DateTime<Utc>) -> Result<Option<LoadedKey>, KeyError> {
        self.ensure_fresh().await?;
        let loaded = self.loaded.read().await;
        Ok(loaded
            .keys
            .iter()
            .find(|k| k.encoding.is_some() && k.created <= now && now < k.retire_after)
            .cloned())
    }

    /// Every key still published: in its signing period, or retired less than a token
    /// lifetime ago.
    pub async fn published(&self) -> Result<Vec<LoadedKey>, KeyError> {
        self.ensure_fresh().await?;
        let now = self.clock.now();
        let loaded = self.loaded.read().await;
        Ok(loaded
            .keys
            .iter()
            .filter(|k| now < k.retire_after + self.token_lifetime)
            .cloned()
            .collect())
    }

    /// The JWKS document.
    pub async fn jwks(&self) -> Result<Value, KeyError> {
        Ok(
            json!({ "keys": self.published().await?.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
        )
    }

    /// The published key with this `kid`; re-reads the store once if it is not known yet
    /// (another node may have just created it).
    pub async fn find(&self, kid: &str) -> Result<Option<LoadedKey>, KeyError> {
        if let Some(k) = self.published().await?.into_iter().find(|k| k.kid == kid) {
            return Ok(Some(k));
        }
        self.reload().await?;
        Ok(self.published().await?.into_iter().find(|k| k.kid == kid))
    }

    async fn ensure_fresh(&self) -> Result<(), KeyError> {
        let stale = {
            let loaded = self.loaded.read().await;
            loaded
                .at
                .is_none_or(|at| self.clock.now() - at > Duration::seconds(RELOAD_SECONDS))
        };
        if stale {
            self.reload().await?;
        }
        Ok(())
    }

    /// Re-reads every key from the store.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let records = self.store.list_signing_keys().await?;
        let mut keys = Vec::with_capacity(records.len());
        for r in records {
            keys.push(self.load(&r)?);
        }
        let mut loaded = self.loaded.write().await;
        loaded.keys = keys;
        loaded.at = Some(self.clock.now());
        Ok(())
    }

    fn load(&self, r: &SigningKeyRecord) -> Result<LoadedKey, KeyError> {
        let public = RsaPublicKey::from_pkcs1_der(&r.public_key)
            .map_err(|e| KeyError::Crypto(format!("public key {}: {e}", r.kid)))?;
        // A key that no longer signs need not be opened at all.
        let encoding = if self.clock.now() < r.retire_after {
            let der = self
                .master
                .open(PURPOSE, &r.sealed_private_key)
                .map_err(|e| KeyError::Crypto(format!("key {}: {e}", r.kid)))?;
            Some(EncodingKey::from_rsa_der(&der))
        } else {
            None
        };
        Ok(LoadedKey {
            kid: r.kid.clone(),
            encoding,
            decoding: DecodingKey::from_rsa_der(&r.public_key),
            jwk: json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": r.kid,
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
            created: r.created,
            retire_after: r.retire_after,
        })
    }

    async fn create(&self, now: DateTime<Utc>) -> Result<(), KeyError> {
        // RSA key generation takes a noticeable fraction of a second: on the blocking pool,
        // never on a runtime worker.
        let private =
            tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048))
                .await
                .map_err(|e| KeyError::Crypto(e.to_string()))?
                .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let private_der = private
            .to_pkcs1_der()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let public_der = private
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public_der.as_bytes())[..20]);
        let sealed = self
            .master
            .seal(PURPOSE, private_der.as_bytes())
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        self.store
            .insert_signing_key(&SigningKeyRecord {
                kid,
                sealed_private_key: sealed,
                public_key: public_der.as_bytes().to_vec(),
                created: now,
                retire_after: now + Duration::days(SIGNING_PERIOD_DAYS),
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_testkit::{Backend, Harness};
    use std::collections::HashSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_requests_share_one_new_signing_key() {
        let h = Harness::new(Backend::Sqlite).await;
        let ring = KeyRing::new(
            h.store.clone(),
            MasterKey::generate(),
            h.clock.clone(),
            Duration::hours(1),
        );
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let ring = ring.clone();
                tokio::spawn(async move { ring.signing_key().await.unwrap().kid })
            })
            .collect();
        let mut kids = HashSet::new();
        for t in tasks {
            kids.insert(t.await.unwrap());
        }
        assert_eq!(kids.len(), 1);
        assert_eq!(h.store.list_signing_keys().await.unwrap().len(), 1);
    }
}
