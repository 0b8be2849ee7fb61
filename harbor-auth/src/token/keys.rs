//! The token signing key (ECDSA P-256) and its self-signed certificate, created
//! on first start and kept in the data directory: `token.key` (PKCS#8 PEM,
//! mode 0600) and `token.crt` (PEM), which a registry's `rootcertbundle` can
//! point at.

use std::path::Path;

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::error::AuthError;

/// DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The key that signs tokens, with what a verifier needs to trust it.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    kid: String,
    cert_der: Vec<u8>,
    cert_pem: String,
    /// The encoded JWS header of every token, made once.
    header: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The base64url JWS header for this key (made by `make` the first time).
    pub(crate) fn header_with(&self, make: impl FnOnce() -> String) -> &str {
        self.header.get_or_init(make)
    }

    /// Loads `token.key` and `token.crt` from `dir`, creating both on first use.
    /// Blocking file I/O: call at start-up.
    pub fn load_or_create(dir: &Path) -> Result<SigningKey, AuthError> {
        let key_path = dir.join("token.key");
        let cert_path = dir.join("token.crt");
        let io = |p: &Path, e: std::io::Error| AuthError::Io {
            path: p.to_owned(),
            source: e,
        };
        if key_path.exists() && cert_path.exists() {
            let key_pem = std::fs::read(&key_path).map_err(|e| io(&key_path, e))?;
            let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| io(&cert_path, e))?;
            let pkcs8 = match rustls_pemfile::private_key(&mut key_pem.as_slice()) {
                Ok(Some(rustls_pki_types::PrivateKeyDer::Pkcs8(k))) => {
                    k.secret_pkcs8_der().to_vec()
                }
                _ => {
                    return Err(AuthError::crypto(format!(
                        "{}: not a PKCS#8 key",
                        key_path.display()
                    )))
                }
            };
            let cert_der = match rustls_pemfile::certs(&mut cert_pem.as_bytes()).next() {
                Some(Ok(c)) => c.to_vec(),
                _ => {
                    return Err(AuthError::crypto(format!(
                        "{}: no certificate",
                        cert_path.display()
                    )))
                }
            };
            return Self::from_parts(&pkcs8, cert_der, cert_pem);
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let (pkcs8, cert_der, cert_pem) = generate()?;
        let key_pem = pem("PRIVATE KEY", &pkcs8);
        write_private(&key_path, key_pem.as_bytes()).map_err(|e| io(&key_path, e))?;
        std::fs::write(&cert_path, &cert_pem).map_err(|e| io(&cert_path, e))?;
        tracing::info!(cert = %cert_path.display(), "created the token signing key and certificate");
        Self::from_parts(&pkcs8, cert_der, cert_pem)
    }

    /// A fresh key held only in memory (tests, embedding without a data directory).
    pub fn ephemeral() -> Result<SigningKey, AuthError> {
        let (pkcs8, cert_der, cert_pem) = generate()?;
        Self::from_parts(&pkcs8, cert_der, cert_pem)
    }

    fn from_parts(
        pkcs8: &[u8],
        cert_der: Vec<u8>,
        cert_pem: String,
    ) -> Result<SigningKey, AuthError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| AuthError::crypto_because("the token key is not a P-256 key", e))?;
        let kid = libtrust_key_id(pair.public_key().as_ref());
        Ok(SigningKey {
            header: std::sync::OnceLock::new(),
            pair,
            kid,
            cert_der,
            cert_pem,
        })
    }

    /// The libtrust key id CNCF distribution uses to find the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The certificate (DER), for verifiers that pin or bundle it.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate (PEM), for a registry's `rootcertbundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The uncompressed public point.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| AuthError::crypto_because("signing failed", e))
    }
}

fn generate() -> Result<(Vec<u8>, Vec<u8>, String), AuthError> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|e| AuthError::crypto_because("key generation failed", e))?;
    let key = rcgen::KeyPair::try_from(pkcs8.as_ref())
        .map_err(|e| AuthError::crypto_because("the new key does not load", e))?;
    let mut params = rcgen::CertificateParams::new(vec!["harbor-token-issuer".to_owned()])
        .map_err(|e| AuthError::crypto_because("certificate parameters", e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "harbor-token-issuer");
    let cert = params
        .self_signed(&key)
        .map_err(|e| AuthError::crypto_because("self-signing the certificate", e))?;
    Ok((pkcs8.as_ref().to_vec(), cert.der().to_vec(), cert.pem()))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
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

/// libtrust's key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits,
/// base32 without padding, in groups of four joined by `:`.
pub fn libtrust_key_id(p256_point: &[u8]) -> String {
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(p256_point);
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
    let encoded = base32(&digest.as_ref()[..30]);
    encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 4648 base32, no padding (30 bytes encode to exactly 48 characters).
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn the_key_id_has_twelve_groups_of_four() {
        let key = SigningKey::ephemeral().unwrap();
        let groups: Vec<&str> = key.kid().split(':').collect();
        assert_eq!(groups.len(), 12, "{}", key.kid());
        assert!(groups.iter().all(|g| g.len() == 4));
    }

    #[test]
    fn the_key_and_certificate_are_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKey::load_or_create(dir.path()).unwrap();
        let b = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.cert_der(), b.cert_der());
        let crt = std::fs::read_to_string(dir.path().join("token.crt")).unwrap_or_default();
        assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(dir.path().join("token.key")).map(|m| m.permissions().mode());
            assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o600));
        }
    }
}
