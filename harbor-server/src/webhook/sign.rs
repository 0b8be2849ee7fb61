//! Signing deliveries as the Standard Webhooks specification does
//! (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
//!
//! A secret is base64, optionally prefixed `whsec_` (the convention's form),
//! and signs with the bytes it encodes: exactly what the Standard Webhooks
//! libraries take, so a receiver passes the same string to `Webhook(...)`.

use base64::Engine;
use ring::hmac;

/// The longest secret accepted, in characters.
pub const MAX_SECRET_LEN: usize = 1024;

/// The fewest key bytes a secret may encode.
pub const MIN_KEY_BYTES: usize = 16;

/// Why a secret cannot sign.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() > MAX_SECRET_LEN {
        return Err(format!(
            "the secret is longer than {MAX_SECRET_LEN} characters"
        ));
    }
    if key_bytes(secret).is_none() {
        return Err(format!(
            "the secret must be base64 (optionally prefixed whsec_) of at least {MIN_KEY_BYTES} bytes, as Standard Webhooks libraries take it"
        ));
    }
    Ok(())
}

fn key_bytes(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|k| k.len() >= MIN_KEY_BYTES)
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
        assert!(check_secret("c2hvcnQ=").is_err(), "5 bytes is too short");
        assert!(check_secret("not base64 at all").is_err());
        assert!(
            check_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok(),
            "no prefix"
        );
    }
}
