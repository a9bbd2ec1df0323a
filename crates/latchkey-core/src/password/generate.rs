//! TEMPORARY STUB — being replaced by the full generator.
use super::policy::{PasswordContext, PasswordPolicy};
use rand::Rng;
pub fn generate_password<R: rand::RngCore + rand::CryptoRng>(
    _p: &PasswordPolicy,
    _c: &PasswordContext<'_>,
    rng: &mut R,
) -> secrecy::SecretString {
    let s: String = (0..16)
        .map(|_| {
            b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%+"[rng.gen_range(0..60)]
                as char
        })
        .collect();
    secrecy::SecretString::from(s)
}
pub fn generate_passphrase<R: rand::RngCore + rand::CryptoRng>(
    p: &PasswordPolicy,
    c: &PasswordContext<'_>,
    _w: usize,
    rng: &mut R,
) -> secrecy::SecretString {
    generate_password(p, c, rng)
}
