//! Access tokens: JWTs shaped like Entra's v2 tokens, and the one validation function every
//! resource Latchkey serves uses.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::Duration;
use jsonwebtoken::{Algorithm, Header, Validation};
use latchkey_core::clock::Clock;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use crate::keys::{KeyError, KeyRing};

/// Microsoft Graph's resource URI and application id: tokens for Graph carry one of them as
/// `aud`, whatever host serves Graph.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    /// The client's app id (v2 name).
    pub azp: String,
    /// The client's app id (v1 name; Graph tooling reads this one).
    pub appid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// `app` for app-only tokens, `user` for delegated ones.
    pub idtyp: String,
    pub ver: String,
    /// A unique id per token.
    pub uti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signing algorithm is not allowed")]
    Algorithm,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's audience is not this resource")]
    Audience,
    #[error("the token's issuer is not this tenant")]
    Issuer,
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// Issues and validates access tokens.
#[derive(Debug, Clone)]
pub struct TokenService {
    keys: KeyRing,
    clock: Arc<dyn Clock>,
    lifetime: Duration,
    app_tokens: Arc<AppTokenCache>,
}

/// How long an app-only token, once signed, is handed out again for the same claims.
pub const APP_TOKEN_REUSE_SECONDS: i64 = 300;
/// The most app-only tokens kept for reuse on one node.
const APP_TOKEN_CACHE_CAPACITY: usize = 10_000;

/// App-only tokens already signed, by everything that goes into their claims.
///
/// A client-credentials grant costs one RSA-2048 signature, which bounds a core at about a
/// thousand grants a second. A token asked for again with the same claims (same client,
/// tenant, audience, issuer, roles, and the same signing key) within
/// [`APP_TOKEN_REUSE_SECONDS`] of its signing is the same token handed out again, with
/// `expires_in` counting down from its `exp`. That is the token the client would have been
/// given had it asked a moment earlier, so nothing it allows changes: the client is
/// authenticated on every request, and a change of its permissions (consent granted or
/// revoked) or of the signing key changes the claims and so misses the cache. Delegated
/// tokens are never reused: they carry a session's revocation time.
#[derive(Debug, Default)]
struct AppTokenCache {
    entries: Mutex<HashMap<AppTokenKey, CachedToken>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AppTokenKey {
    kid: String,
    audience: String,
    issuer: String,
    tenant_id: String,
    object_id: String,
    client_id: String,
    roles: Vec<String>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    token: String,
    iat: i64,
    exp: i64,
}

impl CachedToken {
    /// Reusable at `now`: signed at most the reuse window ago (and not in the future, should
    /// the clock step back), with more than five minutes left, as Entra's clients expect.
    fn reusable(&self, now: i64) -> bool {
        (self.iat..self.iat + APP_TOKEN_REUSE_SECONDS).contains(&now) && self.exp - now > 300
    }
}

impl AppTokenCache {
    fn get(&self, key: &AppTokenKey, now: i64) -> Option<Issued> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let cached = entries.get(key).filter(|c| c.reusable(now))?;
        Some(Issued {
            token: cached.token.clone(),
            expires_in: cached.exp - now,
        })
    }

    fn put(&self, key: AppTokenKey, token: CachedToken, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= APP_TOKEN_CACHE_CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, c| c.reusable(now));
            if entries.len() >= APP_TOKEN_CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, token);
    }
}

/// What the caller asks to be put in a token; times and ids are filled in here.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub audience: String,
    pub issuer: String,
    pub tenant_id: String,
    pub object_id: String,
    pub client_id: String,
    pub roles: Vec<String>,
    pub scopes: Option<String>,
    pub app_only: bool,
}

/// An issued token and its lifetime in seconds.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: i64,
}

impl TokenService {
    pub fn new(keys: KeyRing, clock: Arc<dyn Clock>, lifetime: Duration) -> Self {
        Self {
            keys,
            clock,
            lifetime,
            app_tokens: Arc::default(),
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Signs a token for `req`; an app-only one may be a token signed for the same claims
    /// moments ago (see [`AppTokenCache`]).
    pub async fn issue(&self, req: TokenRequest) -> Result<Issued, TokenError> {
        let key = self.keys.signing_key().await?;
        let now = self.clock.now().timestamp();
        let cache_key = req.app_only.then(|| AppTokenKey {
            kid: key.kid.clone(),
            audience: req.audience.clone(),
            issuer: req.issuer.clone(),
            tenant_id: req.tenant_id.clone(),
            object_id: req.object_id.clone(),
            client_id: req.client_id.clone(),
            roles: req.roles.clone(),
        });
        if let Some(issued) = cache_key.as_ref().and_then(|k| self.app_tokens.get(k, now)) {
            return Ok(issued);
        }
        let claims = AccessClaims {
            aud: req.audience,
            iss: req.issuer,
            iat: now,
            nbf: now,
            exp: now + self.lifetime.num_seconds(),
            tid: req.tenant_id,
            sub: req.object_id.clone(),
            oid: req.object_id,
            azp: req.client_id.clone(),
            appid: req.client_id,
            roles: req.roles,
            scp: req.scopes,
            idtyp: if req.app_only { "app" } else { "user" }.into(),
            ver: "2.0".into(),
            uti: Uuid::new_v4().simple().to_string(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        let encoding = key.encoding.as_ref().ok_or(TokenError::UnknownKey)?;
        let token =
            jsonwebtoken::encode(&header, &claims, encoding).map_err(|_| TokenError::Malformed)?;
        if let Some(k) = cache_key {
            let cached = CachedToken {
                token: token.clone(),
                iat: claims.iat,
                exp: claims.exp,
            };
            self.app_tokens.put(k, cached, now);
        }
        Ok(Issued {
            token,
            expires_in: self.lifetime.num_seconds(),
        })
    }

    /// Signs any claim set (id tokens) with the current key.
    pub async fn sign_json(&self, claims: &serde_json::Value) -> Result<String, TokenError> {
        let key = self.keys.signing_key().await?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        let encoding = key.encoding.as_ref().ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::encode(&header, claims, encoding).map_err(|_| TokenError::Malformed)
    }

    /// The client an `id_token_hint` was issued to (its `aud`), if we signed it. Expiry is
    /// not checked: RP-initiated logout accepts expired hints (OpenID RP-Initiated Logout
    /// §2); the signature and the issuer are.
    pub async fn id_token_audience(&self, token: &str, issuers: &[String]) -> Option<String> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let key = self.keys.find(&header.kid?).await.ok()??;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .ok()?
            .claims;
        let iss = claims.get("iss")?.as_str()?;
        if !issuers.iter().any(|i| i == iss) {
            return None;
        }
        claims.get("aud")?.as_str().map(str::to_owned)
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The one validation every resource uses: RS256 only (so `none` and HMAC-with-the-public-
    /// key confusion are refused before any key is touched), a known `kid`, a valid signature,
    /// `exp`/`nbf` against our clock, and `aud`/`iss` among the expected values.
    pub async fn validate(
        &self,
        token: &str,
        audiences: &[&str],
        issuers: &[String],
    ) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.find(&kid).await?.ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Time and audience are checked below against the injected clock and our own lists,
        // so that tests control time and errors say exactly what failed.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                _ => TokenError::Malformed,
            })?;
        let claims = data.claims;
        let now = self.clock.now().timestamp();
        // Five minutes of leeway for clock skew between nodes, as Entra's resources allow.
        const SKEW: i64 = 300;
        if now >= claims.exp + SKEW {
            return Err(TokenError::Expired);
        }
        if now + SKEW < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !audiences.contains(&claims.aud.as_str()) {
            return Err(TokenError::Audience);
        }
        if !issuers.contains(&claims.iss) {
            return Err(TokenError::Issuer);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use latchkey_core::crypto::MasterKey;
    use latchkey_testkit::{Backend, Harness};

    async fn service(h: &Harness) -> TokenService {
        let keys = KeyRing::new(
            h.store.clone(),
            MasterKey::generate(),
            h.clock.clone(),
            Duration::hours(1),
        );
        TokenService::new(keys, h.clock.clone(), Duration::hours(1))
    }

    fn request() -> TokenRequest {
        TokenRequest {
            audience: GRAPH_RESOURCE.into(),
            issuer: "https://localhost:8443/tid/v2.0".into(),
            tenant_id: "tid".into(),
            object_id: "oid".into(),
            client_id: "cid".into(),
            roles: vec!["User.Read.All".into()],
            scopes: None,
            app_only: true,
        }
    }

    fn iss() -> Vec<String> {
        vec!["https://localhost:8443/tid/v2.0".into()]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_round_trips_with_entras_claims_and_a_kid() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let issued = s.issue(request()).await.unwrap();
        assert_eq!(issued.expires_in, 3600);
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        let claims = s
            .validate(&issued.token, &[GRAPH_RESOURCE], &iss())
            .await
            .unwrap();
        assert_eq!(claims.roles, vec!["User.Read.All"]);
        assert_eq!(claims.idtyp, "app");
        assert_eq!(claims.exp - claims.iat, 3600);
        let jwks = s.keys().jwks().await.unwrap();
        assert_eq!(jwks["keys"][0]["kid"], header.kid.unwrap().as_str());
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_are_refused_for_the_wrong_audience_issuer_or_time() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let t = s.issue(request()).await.unwrap().token;
        assert!(matches!(
            s.validate(&t, &["api://other"], &iss()).await,
            Err(TokenError::Audience)
        ));
        assert!(matches!(
            s.validate(&t, &[GRAPH_RESOURCE], &["https://evil/tid/v2.0".into()])
                .await,
            Err(TokenError::Issuer)
        ));
        h.clock.advance(Duration::hours(1) + Duration::minutes(5));
        assert!(matches!(
            s.validate(&t, &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::Expired)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_from_the_future_is_not_valid_yet() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        h.clock.advance(Duration::minutes(10));
        let t = s.issue(request()).await.unwrap().token;
        h.clock.advance(Duration::minutes(-10));
        assert!(matches!(
            s.validate(&t, &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::NotYetValid)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alg_none_hmac_confusion_unknown_kids_and_tampering_are_refused() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let t = s.issue(request()).await.unwrap().token;
        let parts: Vec<&str> = t.split('.').collect();
        let kid = jsonwebtoken::decode_header(&t).unwrap().kid.unwrap();

        // alg: none, no signature.
        let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
        let forged = format!("{none}.{}.", parts[1]);
        assert!(matches!(
            s.validate(&forged, &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::Malformed | TokenError::Algorithm)
        ));

        // HS256 signed with the public key's JWK as the secret.
        let jwks = s.keys().jwks().await.unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let claims: AccessClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let hs = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(
                jwks["keys"][0]["n"].as_str().unwrap().as_bytes(),
            ),
        )
        .unwrap();
        assert!(matches!(
            s.validate(&hs, &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::Algorithm)
        ));

        // Unknown kid.
        let other = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"nope","typ":"JWT"}"#);
        let unknown = format!("{other}.{}.{}", parts[1], parts[2]);
        assert!(matches!(
            s.validate(&unknown, &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::UnknownKey)
        ));

        // Claims changed after signing (roles elevated).
        let mut elevated = claims.clone();
        elevated.roles = vec!["Directory.ReadWrite.All".into()];
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&elevated).unwrap());
        let tampered = format!("{}.{body}.{}", parts[0], parts[2]);
        assert!(matches!(
            s.validate(&tampered, &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::Signature)
        ));

        assert!(matches!(
            s.validate("garbage", &[GRAPH_RESOURCE], &iss()).await,
            Err(TokenError::Malformed)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_rotate_with_overlap_and_old_tokens_stay_valid_until_they_expire() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let first = s.issue(request()).await.unwrap().token;
        let first_kid = jsonwebtoken::decode_header(&first).unwrap().kid.unwrap();
        // Just before the first key retires, a token is signed with it.
        h.clock
            .advance(Duration::days(crate::keys::SIGNING_PERIOD_DAYS) - Duration::minutes(30));
        let late = s.issue(request()).await.unwrap().token;
        assert_eq!(
            jsonwebtoken::decode_header(&late).unwrap().kid.unwrap(),
            first_kid
        );
        // After retirement a new key signs; both are published; the late token still validates.
        h.clock.advance(Duration::minutes(31));
        let second = s.issue(request()).await.unwrap().token;
        let second_kid = jsonwebtoken::decode_header(&second).unwrap().kid.unwrap();
        assert_ne!(second_kid, first_kid);
        let kids: Vec<String> = s.keys().jwks().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert!(kids.contains(&first_kid) && kids.contains(&second_kid));
        s.validate(&late, &[GRAPH_RESOURCE], &iss()).await.unwrap();
        // Once its last token has expired, the old key leaves JWKS.
        h.clock.advance(Duration::hours(1));
        let kids: Vec<String> = s.keys().jwks().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kids, vec![second_kid]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_app_token_asked_again_within_the_reuse_window_is_the_same_token_counting_down() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let first = s.issue(request()).await.unwrap();
        h.clock
            .advance(Duration::seconds(APP_TOKEN_REUSE_SECONDS - 1));
        let again = s.issue(request()).await.unwrap();
        assert_eq!(again.token, first.token);
        assert_eq!(again.expires_in, 3600 - (APP_TOKEN_REUSE_SECONDS - 1));
        // Once the window has passed, a new token is signed with the full lifetime.
        h.clock.advance(Duration::seconds(1));
        let later = s.issue(request()).await.unwrap();
        assert_ne!(later.token, first.token);
        assert_eq!(later.expires_in, 3600);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_roles_another_client_or_a_delegated_token_are_never_a_reused_token() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let first = s.issue(request()).await.unwrap().token;

        // Consent changed: the roles differ, so does the token, and it carries the new roles.
        let mut more = request();
        more.roles.push("User.ReadWrite.All".into());
        let widened = s.issue(more).await.unwrap().token;
        assert_ne!(widened, first);
        let claims = s
            .validate(&widened, &[GRAPH_RESOURCE], &iss())
            .await
            .unwrap();
        assert_eq!(claims.roles, vec!["User.Read.All", "User.ReadWrite.All"]);
        let mut fewer = request();
        fewer.roles.clear();
        let narrowed = s.issue(fewer).await.unwrap().token;
        assert_ne!(narrowed, first);
        assert!(
            s.validate(&narrowed, &[GRAPH_RESOURCE], &iss())
                .await
                .unwrap()
                .roles
                .is_empty()
        );

        let mut other = request();
        other.client_id = "another".into();
        assert_ne!(s.issue(other).await.unwrap().token, first);
        let mut audience = request();
        audience.audience = "api://other".into();
        assert_ne!(s.issue(audience).await.unwrap().token, first);

        let mut delegated = request();
        delegated.app_only = false;
        delegated.roles.clear();
        delegated.scopes = Some("User.Read".into());
        let one = s.issue(delegated.clone()).await.unwrap().token;
        let two = s.issue(delegated).await.unwrap().token;
        assert_ne!(one, two, "delegated tokens are signed each time");
        // And the first app token is still the one handed out for its claims.
        assert_eq!(s.issue(request()).await.unwrap().token, first);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_app_token_is_not_reused_when_the_clock_steps_back() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        let first = s.issue(request()).await.unwrap().token;
        h.clock.advance(Duration::seconds(-1));
        assert_ne!(s.issue(request()).await.unwrap().token, first);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn private_keys_are_sealed_in_the_store() {
        let h = Harness::new(Backend::Sqlite).await;
        let s = service(&h).await;
        s.issue(request()).await.unwrap();
        let stored = h.store.list_signing_keys().await.unwrap();
        assert_eq!(stored.len(), 1);
        // A PKCS#1 private key starts with SEQUENCE { INTEGER 0, ... }: the sealed bytes must not.
        assert!(
            <rsa::RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_der(
                &stored[0].sealed_private_key
            )
            .is_err()
        );
        let other = KeyRing::new(
            h.store.clone(),
            MasterKey::generate(),
            h.clock.clone(),
            Duration::hours(1),
        );
        assert!(
            other.reload().await.is_err(),
            "another master key cannot open it"
        );
    }
}
