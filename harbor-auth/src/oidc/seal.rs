//! Sealing of what the OIDC pieces keep outside memory: CLI secrets and
//! provider tokens at rest, and the flow's state and sessions in cookies.
//! ChaCha20-Poly1305 (confidential and tamper-evident) under a key derived
//! with HKDF from a master key every instance of a cluster shares.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::AuthError;

/// Encrypts and authenticates small values under one derived key.
pub struct Sealer {
    key: LessSafeKey,
    purpose: &'static str,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({}, ***)", self.purpose)
    }
}

impl Sealer {
    /// A sealer for `purpose` (keys for different purposes differ, so a
    /// sealed secret is never accepted as a cookie), derived from `master`
    /// (at least 32 bytes; every instance that must open what another
    /// sealed needs the same one).
    pub fn derive(master: &[u8], purpose: &'static str) -> Result<Sealer, AuthError> {
        if master.len() < 32 {
            return Err(AuthError::crypto(
                "the master key must hold at least 32 bytes",
            ));
        }
        let prk = Salt::new(HKDF_SHA256, b"harbor-rs oidc").extract(master);
        let info = [purpose.as_bytes()];
        let okm = prk
            .expand(&info, &CHACHA20_POLY1305)
            .map_err(|_| AuthError::crypto("key derivation failed"))?;
        let key = UnboundKey::from(okm);
        Ok(Sealer {
            key: LessSafeKey::new(key),
            purpose,
        })
    }

    /// Seals `plain` and `context` (authenticated, not stored: opening
    /// needs the same context) into URL-safe base64 text.
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Result<String, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| AuthError::crypto("no randomness for a nonce"))?;
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut data,
            )
            .map_err(|_| AuthError::crypto("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens what [`Sealer::seal`] made with the same `context`; `None` if
    /// it was altered, sealed under another key, or is not sealed text.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Option<Vec<u8>> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed)
            .ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// `n` random bytes as URL-safe base64 text.
pub fn random_token(n: usize) -> Result<String, AuthError> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::crypto("no randomness"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_purpose_and_context() {
        let a = Sealer::derive(&[7u8; 32], "cookie").unwrap();
        let sealed = a.seal(b"hello", b"session").unwrap();
        assert_eq!(a.open(&sealed, b"session").unwrap(), b"hello");
        assert!(a.open(&sealed, b"state").is_none(), "another context");
        let other_purpose = Sealer::derive(&[7u8; 32], "secret").unwrap();
        assert!(other_purpose.open(&sealed, b"session").is_none());
        let other_key = Sealer::derive(&[8u8; 32], "cookie").unwrap();
        assert!(other_key.open(&sealed, b"session").is_none());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(a.open(&tampered, b"session").is_none());
        assert!(Sealer::derive(&[1u8; 16], "short").is_err());
    }
}
