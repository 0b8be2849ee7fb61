//! Signing deliveries as the Standard Webhooks specification does
//! (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
//!
//! A secret written `whsec_<base64>` (the convention's form) signs with the
//! bytes it encodes, so the receiver's Standard Webhooks library takes it as
//! is; any other secret signs with its UTF-8 bytes.

use base64::Engine;
use ring::hmac;

/// The longest secret accepted, in characters.
pub const MAX_SECRET_LEN: usize = 1024;

/// Why a secret cannot sign.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Err("the secret is empty".into());
    }
    if secret.len() > MAX_SECRET_LEN {
        return Err(format!("the secret is longer than {MAX_SECRET_LEN} characters"));
    }
    if key_bytes(secret).is_none() {
        return Err("a secret beginning with whsec_ must go on in base64".into());
    }
    Ok(())
}

fn key_bytes(secret: &str) -> Option<Vec<u8>> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .filter(|k| !k.is_empty()),
        None => Some(secret.as_bytes().to_vec()),
    }
}

/// The `webhook-signature` value for a message: `v1,<base64>`; `None` for a
/// secret [`check_secret`] refuses.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes(secret)?);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// libraries: this secret, id, timestamp and body sign to this value.
    #[test]
    fn matches_the_specifications_example() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(check_secret("").is_err());
        assert!(check_secret("whsec_!!!").is_err());
        assert!(check_secret(&"x".repeat(MAX_SECRET_LEN + 1)).is_err());
        assert!(check_secret("plain words work").is_ok());
    }
}
