//! Password hashing: PBKDF2-HMAC-SHA256 with 600,000 iterations (OWASP's
//! figure), a random 16-byte salt, compared in constant time.
//!
//! Stored form: `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`, so the
//! iteration count can grow without breaking existing hashes.

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::AuthError;

/// The iteration count new hashes use.
pub const ITERATIONS: u32 = 600_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// Hashes `password` for storage.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|e| AuthError::crypto_because("no randomness available", e))?;
    Ok(hash_with(password, &salt, ITERATIONS))
}

fn hash_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; HASH_LEN];
    let n = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        salt,
        password.as_bytes(),
        &mut out,
    );
    format!(
        "pbkdf2-sha256${iterations}${}${}",
        hex::encode(salt),
        hex::encode(out)
    )
}

/// Whether `password` matches the stored `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iter), Ok(salt), Ok(hash)) =
        (iter.parse::<u32>(), hex::decode(salt), hex::decode(hash))
    else {
        return false;
    };
    let Some(n) = NonZeroU32::new(iter) else {
        return false;
    };
    ring::pbkdf2::verify(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        n,
        &salt,
        password.as_bytes(),
        &hash,
    )
    .is_ok()
}

/// Harbor's password rule: 8 to 128 characters with at least one upper-case
/// letter, one lower-case letter and one digit.
pub fn check_password_strength(password: &str) -> Result<(), AuthError> {
    let len = password.chars().count();
    let ok = (8..=128).contains(&len)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadRequest(
            "the password must be 8 to 128 characters long with at least one upper-case letter, one lower-case letter and one digit".into(),
        ))
    }
}

/// A random secret of `len` bytes, hex-encoded (robot secrets, generated
/// admin passwords).
pub fn random_secret(len: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|e| AuthError::crypto_because("no randomness available", e))?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let h = hash_with("Secret123", b"0123456789abcdef", 1000);
        assert!(verify_password("Secret123", &h));
        assert!(!verify_password("secret123", &h));
        assert!(!verify_password("", &h));
        assert!(!verify_password("Secret123", "plain"));
        assert!(!verify_password("Secret123", "pbkdf2-sha256$0$00$00"));
    }

    #[test]
    fn new_hashes_use_the_full_iteration_count_and_fresh_salt() {
        let a = hash_password("Secret123").unwrap_or_default();
        let b = hash_password("Secret123").unwrap_or_default();
        assert!(a.starts_with("pbkdf2-sha256$600000$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(verify_password("Secret123", &a));
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in ["short1A", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere"] {
            assert!(check_password_strength(weak).is_err(), "{weak}");
        }
        assert!(check_password_strength("Harbor12345").is_ok());
    }
}
