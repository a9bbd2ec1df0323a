//! The ceiling the token endpoint works under: one RS256 signature (RSA-2048 through ring,
//! as `jsonwebtoken` does it) and one validation of an Entra-shaped access token, per call on
//! one core. Client-credential grants per second per core cannot exceed 1 / signing time.
//!
//! Run: `cargo bench -p latchkey-identity --bench token_signing`. Figures in benches/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use serde_json::json;

fn signing(c: &mut Criterion) {
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let encoding = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
    let public = private.to_public_key().to_pkcs1_der().unwrap();
    let decoding = DecodingKey::from_rsa_der(public.as_bytes());
    let claims = json!({
        "aud": "https://graph.microsoft.com", "iss": "https://localhost:8443/7a0ddbea-0000-0000-0000-000000000000/v2.0",
        "iat": 1_800_000_000, "nbf": 1_800_000_000, "exp": 1_800_003_600,
        "tid": "7a0ddbea-0000-0000-0000-000000000000", "oid": "5f2c0000-0000-0000-0000-000000000000",
        "sub": "5f2c0000-0000-0000-0000-000000000000", "azp": "0c1d0000-0000-0000-0000-000000000000",
        "appid": "0c1d0000-0000-0000-0000-000000000000", "roles": ["User.ReadWrite.All"],
        "idtyp": "app", "ver": "2.0", "uti": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();

    let mut g = c.benchmark_group("rs256_2048");
    g.bench_function("sign_access_token", |b| {
        b.iter(|| jsonwebtoken::encode(&header, &claims, &encoding).unwrap())
    });
    g.bench_function("validate_access_token", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
