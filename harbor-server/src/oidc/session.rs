//! Sessions of users signed in through the provider: a sealed cookie
//! (`sid`: the user, whether the provider put it in the admin group, its
//! CSRF token and its expiry, encrypted and authenticated with a key every
//! instance of a cluster derives from the shared `secret.key`), so any
//! instance accepts it without a session table. A change made with a
//! session needs the CSRF token in Harbor's `X-Harbor-CSRF-Token` header
//! (the token is also in the readable `__csrf` cookie: a page of this site
//! can send it, another site cannot read it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use harbor_auth::oidc::Sealer;
use serde::{Deserialize, Serialize};

/// The session cookie's name (Harbor's).
pub(crate) const SESSION_COOKIE: &str = "sid";
/// The readable cookie holding the CSRF token (Harbor's).
pub(crate) const CSRF_COOKIE: &str = "__csrf";
/// The header a change made with a session must carry (Harbor's).
pub(crate) const CSRF_HEADER: &str = "x-harbor-csrf-token";
/// How long a session lasts (Harbor's default `session_timeout`).
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(60 * 60);

const SESSION_CONTEXT: &[u8] = b"harbor session";

/// What a session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The user.
    pub(crate) uid: i64,
    /// In the provider's admin group at sign-in.
    pub(crate) adm: bool,
    /// The CSRF token changes must show.
    pub(crate) csrf: String,
    /// Expiry, seconds since the epoch.
    pub(crate) exp: u64,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Session {
    /// A new session of `uid`.
    pub(crate) fn new(uid: i64, adm: bool) -> Result<Session, harbor_auth::AuthError> {
        Ok(Session {
            uid,
            adm,
            csrf: harbor_auth::oidc::random_token(24)?,
            exp: now_secs() + SESSION_TTL.as_secs(),
        })
    }

    /// The sealed cookie value.
    pub(crate) fn seal(&self, sealer: &Sealer) -> Result<String, harbor_auth::AuthError> {
        let json = serde_json::to_vec(self)
            .map_err(|e| harbor_auth::AuthError::crypto_because("encoding a session", e))?;
        sealer.seal(&json, SESSION_CONTEXT)
    }

    /// The session a request's cookie holds, if it opens and has not expired.
    pub(crate) fn from_headers(headers: &HeaderMap, sealer: &Sealer) -> Option<Session> {
        let value = cookie(headers, SESSION_COOKIE)?;
        let plain = sealer.open(&value, SESSION_CONTEXT)?;
        let s: Session = serde_json::from_slice(&plain).ok()?;
        (s.exp > now_secs()).then_some(s)
    }

    /// Whether `headers` carry this session's CSRF token.
    pub(crate) fn csrf_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.len() == self.csrf.len()
                    && v.bytes()
                        .zip(self.csrf.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            })
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `name=value` on `path`, `max_age` seconds (0
/// deletes it), HttpOnly unless `readable`, SameSite=Lax (the callback
/// arrives by a cross-site redirect), Secure when served over TLS.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    readable: bool,
    secure: bool,
) -> Option<HeaderValue> {
    let mut s = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
    if !readable {
        s.push_str("; HttpOnly");
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_session_opens_only_unaltered_and_unexpired() {
        let sealer = Sealer::derive(&[3u8; 32], "oidc-cookies").unwrap();
        let s = Session::new(7, false).unwrap();
        let mut headers = HeaderMap::new();
        let v = format!("a=b; {SESSION_COOKIE}={}; c=d", s.seal(&sealer).unwrap());
        headers.insert("cookie", HeaderValue::from_str(&v).unwrap());
        let back = Session::from_headers(&headers, &sealer).unwrap();
        assert_eq!(back.uid, 7);
        assert!(!back.csrf_ok(&headers));
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&s.csrf).unwrap());
        assert!(back.csrf_ok(&headers));
        let old = Session {
            exp: now_secs() - 1,
            ..s
        };
        let v = format!("{SESSION_COOKIE}={}", old.seal(&sealer).unwrap());
        headers.insert("cookie", HeaderValue::from_str(&v).unwrap());
        assert!(
            Session::from_headers(&headers, &sealer).is_none(),
            "expired"
        );
        let other = Sealer::derive(&[4u8; 32], "oidc-cookies").unwrap();
        let v = format!(
            "{SESSION_COOKIE}={}",
            Session::new(1, true).unwrap().seal(&other).unwrap()
        );
        headers.insert("cookie", HeaderValue::from_str(&v).unwrap());
        assert!(
            Session::from_headers(&headers, &sealer).is_none(),
            "another key"
        );
    }
}
