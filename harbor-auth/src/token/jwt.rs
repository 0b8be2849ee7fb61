//! Registry tokens as JWTs signed with ES256, in the form CNCF distribution
//! verifies: a `kid` in libtrust form in the header (distribution finds the
//! key among its `rootcertbundle`'s by that id, as it does for Harbor's
//! tokens), `aud` as a single string, and an `access` list.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde::{Deserialize, Serialize};

use super::keys::SigningKey;
use super::scope::Access;
use crate::error::AuthError;

/// Clock skew tolerated when checking `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct Header {
    typ: String,
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    x5c: Vec<String>,
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user or robot name; empty for anonymous.
    pub sub: String,
    /// Audience: the service the token is for (a single string).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Unique token id.
    pub jti: String,
    /// What the token grants.
    #[serde(default)]
    pub access: Vec<Access>,
}

/// Seconds since the epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs `claims` into a compact JWS.
pub fn sign(key: &SigningKey, claims: &Claims) -> Result<String, AuthError> {
    let enc = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
    // The header is the same for every token. It names the key by `kid`
    // only, as Harbor's and the token spec's examples do: an `x5c` chain
    // would more than double every token, and every verifier we serve
    // already holds the certificate.
    let header = key.header_with(|| {
        let header = Header {
            typ: "JWT".into(),
            alg: "ES256".into(),
            kid: Some(key.kid().to_owned()),
            x5c: Vec::new(),
        };
        enc(&serde_json::to_vec(&header).unwrap_or_default())
    });
    let payload = serde_json::to_vec(claims)
        .map_err(|e| AuthError::crypto_because("the claims do not serialize", e))?;
    let signing_input = format!("{header}.{}", enc(&payload));
    let sig = key.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", enc(&sig)))
}

/// How strictly [`verify`] treats the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `exp` and `nbf` must hold now (with [`LEEWAY`]).
    Enforce,
    /// Skip the `exp` check: for an upload session begun while the token was
    /// valid. Everything else is still checked.
    Ignore,
}

/// Verifies a token's signature (ES256 only, with our key), issuer, audience
/// and times, and returns its claims.
pub fn verify(
    key: &SigningKey,
    token: &str,
    issuer: &str,
    audience: &str,
    expiry: Expiry,
) -> Result<Claims, AuthError> {
    let claims = verify_signed(key, token, issuer, audience)?;
    check_times(&claims, expiry)?;
    Ok(claims)
}

/// What never changes about a token: its signature (ES256 only, with our
/// key), issuer and audience. The times are [`check_times`]'s.
pub fn verify_signed(
    key: &SigningKey,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Claims, AuthError> {
    let bad = |why: &str| AuthError::InvalidToken(why.to_owned());
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS"));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed header"))?;
    // Only our own algorithm: no `none`, no algorithm confusion.
    if header.alg != "ES256" {
        return Err(bad("unsupported algorithm"));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad("malformed signature"))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key())
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| bad("signature does not verify"))?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed claims"))?;
    if claims.iss != issuer {
        return Err(bad("wrong issuer"));
    }
    if claims.aud != audience {
        return Err(bad("wrong audience"));
    }
    Ok(claims)
}

/// Checks `nbf` and (unless ignored) `exp` against the clock, with [`LEEWAY`].
pub fn check_times(claims: &Claims, expiry: Expiry) -> Result<(), AuthError> {
    let bad = |why: &str| AuthError::InvalidToken(why.to_owned());
    let now = unix(SystemTime::now());
    let leeway = LEEWAY.as_secs();
    // `nbf` and `exp` come from the token: near u64::MAX they must not wrap.
    if claims.nbf > now.saturating_add(leeway) {
        return Err(bad("not yet valid"));
    }
    if expiry == Expiry::Enforce && claims.exp.saturating_add(leeway) < now {
        return Err(bad("expired"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_offset: i64) -> Claims {
        let now = unix(SystemTime::now()) as i64;
        Claims {
            iss: "harbor-token-issuer".into(),
            sub: "alice".into(),
            aud: "harbor-registry".into(),
            exp: (now + exp_offset) as u64,
            nbf: (now - 1) as u64,
            iat: (now - 1) as u64,
            jti: "id".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "library/app".into(),
                actions: vec![super::super::scope::ScopeAction::Pull],
            }],
        }
    }

    fn key() -> SigningKey {
        SigningKey::ephemeral().unwrap()
    }

    #[test]
    fn times_near_the_end_of_u64_neither_wrap_nor_panic() {
        let mut c = claims(60);
        c.exp = u64::MAX;
        c.nbf = 0;
        assert!(check_times(&c, Expiry::Enforce).is_ok());
        c.nbf = u64::MAX;
        assert!(check_times(&c, Expiry::Enforce).is_err(), "not yet valid");
        c.nbf = 0;
        c.exp = 0;
        assert!(check_times(&c, Expiry::Enforce).is_err(), "expired");
        assert!(check_times(&c, Expiry::Ignore).is_ok());
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let k = key();
        let t = sign(&k, &claims(300)).unwrap_or_default();
        let c = verify(
            &k,
            &t,
            "harbor-token-issuer",
            "harbor-registry",
            Expiry::Enforce,
        )
        .unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.aud, "harbor-registry");
        assert_eq!(c.access, claims(300).access);
        let header = t
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap_or_default();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], k.kid());
        // The key is named by `kid` alone, as Harbor's tokens do.
        assert!(header.get("x5c").is_none(), "{header}");
    }

    #[test]
    fn tampered_expired_misaddressed_and_foreign_tokens_are_refused() {
        let k = key();
        let good = sign(&k, &claims(300)).unwrap_or_default();
        let check = |t: &str| {
            verify(
                &k,
                t,
                "harbor-token-issuer",
                "harbor-registry",
                Expiry::Enforce,
            )
            .is_ok()
        };
        assert!(check(&good));

        // Tampered payload: grant push instead of pull.
        let mut c = claims(300);
        c.access[0].actions = vec![super::super::scope::ScopeAction::Push];
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default());
        let parts: Vec<&str> = good.split('.').collect();
        assert!(!check(&format!(
            "{}.{}.{}",
            parts[0], forged_payload, parts[2]
        )));

        // alg: none.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"none"}"#);
        assert!(!check(&format!("{none_header}.{}.", parts[1])));

        // Expired (beyond the leeway), yet acceptable when expiry is ignored.
        let old = sign(&k, &claims(-3600)).unwrap_or_default();
        assert!(!check(&old));
        assert!(verify(
            &k,
            &old,
            "harbor-token-issuer",
            "harbor-registry",
            Expiry::Ignore
        )
        .is_ok());

        // Wrong audience and issuer.
        assert!(verify(&k, &good, "harbor-token-issuer", "other", Expiry::Enforce).is_err());
        assert!(verify(
            &k,
            &good,
            "someone-else",
            "harbor-registry",
            Expiry::Enforce
        )
        .is_err());

        // Signed by another key.
        let other = sign(&key(), &claims(300)).unwrap_or_default();
        assert!(!check(&other));
        assert!(!check("garbage"));
    }
}
