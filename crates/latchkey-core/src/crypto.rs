//! Sealing secrets at rest. Values the server must read back later (token-signing private
//! keys; later, view-once links) are stored encrypted under the server's master key with
//! XChaCha20-Poly1305: a random 192-bit nonce per value, so nonces never repeat in practice,
//! and the purpose is bound in as associated data so a sealed value cannot be moved to
//! another use.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;

/// The 256-bit master key. Its `Debug` prints nothing.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be 32 bytes")]
    KeyLength,
    #[error("a value could not be sealed")]
    Seal,
    #[error("a sealed value could not be opened: wrong master key, or the value was altered")]
    Open,
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        Ok(Self(bytes.try_into().map_err(|_| SealError::KeyLength)?))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// `nonce || ciphertext+tag`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    /// A keyed digest (HMAC-SHA-256 under the master key, separated by purpose) of a
    /// low-entropy secret such as an 8-digit code: a copy of the database alone cannot
    /// brute-force it back, as it could a plain SHA-256.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        // HMAC takes a key of any length; this cannot fail for 32 bytes.
        let mut m = match <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts any key length"),
        };
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 24 {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(24);
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyed_digest_depends_on_the_key_the_purpose_and_the_value() {
        let key = MasterKey::generate();
        assert_eq!(key.mac("code", b"12345678"), key.mac("code", b"12345678"));
        assert_ne!(key.mac("code", b"12345678"), key.mac("code", b"12345679"));
        assert_ne!(key.mac("code", b"12345678"), key.mac("other", b"12345678"));
        assert_ne!(
            key.mac("code", b"12345678"),
            MasterKey::generate().mac("code", b"12345678")
        );
    }

    #[test]
    fn a_sealed_value_opens_only_with_the_same_key_and_purpose() {
        let key = MasterKey::generate();
        let sealed = key.seal("signing-key", b"private material").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(
            key.open("signing-key", &sealed).unwrap(),
            b"private material"
        );
        assert_eq!(key.open("other", &sealed), Err(SealError::Open));
        assert_eq!(
            MasterKey::generate().open("signing-key", &sealed),
            Err(SealError::Open)
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(key.open("signing-key", &tampered), Err(SealError::Open));
        assert_ne!(
            key.seal("signing-key", b"x").unwrap(),
            key.seal("signing-key", b"x").unwrap()
        );
    }

    #[test]
    fn the_master_key_never_prints() {
        assert_eq!(format!("{:?}", MasterKey::generate()), "MasterKey(..)");
        assert_eq!(
            MasterKey::from_bytes(&[0; 31]).unwrap_err(),
            SealError::KeyLength
        );
    }
}
