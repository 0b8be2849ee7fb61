//! Encryption of registry credentials at rest: ChaCha20-Poly1305 with a key
//! created on first start in the data directory (`secret.key`, mode 0600).

use std::path::Path;

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::ReplicateError;

/// Encrypts and decrypts registry credentials, so that the store never holds
/// them in clear.
pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// Loads `secret.key` from `dir`, creating it on first use. Blocking I/O.
    pub fn load_or_create(dir: &Path) -> Result<SecretBox, ReplicateError> {
        let path = dir.join("secret.key");
        let io = |source| ReplicateError::Io {
            path: path.clone(),
            source,
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| ReplicateError::Secret("no randomness for the key"))?;
                write_private(&path, &key).map_err(io)?;
                key.to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_key(&bytes)
    }

    /// A box with the given 32-byte key.
    pub fn from_key(key: &[u8]) -> Result<SecretBox, ReplicateError> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key)
            .map_err(|_| ReplicateError::Secret("the key (secret.key) must hold 32 bytes"))?;
        Ok(SecretBox {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts `plain` into base64 text (nonce then ciphertext).
    pub fn seal(&self, plain: &str) -> Result<String, ReplicateError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ReplicateError::Secret("no randomness for a nonce"))?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .map_err(|_| ReplicateError::Secret("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Decrypts what [`SecretBox::seal`] produced.
    pub fn open(&self, sealed: &str) -> Result<String, ReplicateError> {
        let bad = || {
            ReplicateError::Secret(
                "a stored credential does not decrypt (was secret.key replaced?)",
            )
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_with_their_key_and_are_not_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let b = SecretBox::load_or_create(dir.path()).unwrap();
        let sealed = b.seal(r#"{"password":"hunter2"}"#).unwrap_or_default();
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            b.seal(r#"{"password":"hunter2"}"#).unwrap_or_default(),
            "fresh nonce each time"
        );
        let again = SecretBox::load_or_create(dir.path()).unwrap();
        assert_eq!(
            again.open(&sealed).ok().as_deref(),
            Some(r#"{"password":"hunter2"}"#)
        );
        let other = SecretBox::from_key(&[7u8; 32]).unwrap();
        assert!(other.open(&sealed).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret.key"))
                .map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
    }
}
