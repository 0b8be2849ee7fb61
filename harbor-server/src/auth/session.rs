//! Sessions of signed-in users (the portal's own login, `/c/login`, and
//! OIDC's callback): a sealed cookie (`sid`: the session's id, the user,
//! whether an OIDC provider put it in the admin group, its CSRF token and
//! its expiry, encrypted and authenticated with a key every instance of a
//! cluster derives from the shared `secret.key`), and the session's id
//! recorded in the shared store until it ends. A forged or altered cookie
//! does not open; a copied one works only while the session is recorded:
//! signing out, a password change (for the user's other sessions) or
//! deleting the user ends it on every instance at once, as Harbor's
//! server-side sessions do. A change made with a session needs the CSRF
//! token in Harbor's `X-Harbor-CSRF-Token` header (or, for the portal's
//! forms, its hidden `_csrf` field); the token is also in the readable
//! `__csrf` cookie: a page of this site can send it, another site cannot
//! read it.
//!
//! A session lasts [`SESSION_TTL`] from sign-in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use harbor_auth::oidc::Sealer;
use harbor_auth::AuthError;
use harbor_core::IdentityStore;
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
    /// The session's id, as the store records it.
    pub(crate) sid: String,
    /// The user.
    pub(crate) uid: i64,
    /// In the OIDC provider's admin group at sign-in (false for others).
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
            sid: harbor_auth::oidc::random_token(24)?,
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
            .is_some_and(|v| self.csrf_matches(v))
    }

    /// Whether `token` is this session's CSRF token (compared in constant
    /// time).
    pub(crate) fn csrf_matches(&self, token: &str) -> bool {
        token.len() == self.csrf.len()
            && token
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// A session already checked for this request (recorded in the store, its
/// user read): the portal's in-process API calls carry it as a request
/// extension, which no HTTP client can set, so the API does not look the
/// session and its user up again for each call a page makes. The CSRF token
/// is still checked against the call's header.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSession {
    /// The session.
    pub(crate) session: Session,
    /// Its user, as the authorizer knows callers.
    pub(crate) principal: harbor_auth::Principal,
}

/// Which sites' requests a cookie goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Only requests that start on this site: the portal's own sign-in.
    Strict,
    /// Also top-level navigations from other sites: needed when the
    /// session is set at the end of a redirect from another site (OIDC's
    /// callback), else the browser would not send it on the way back.
    Lax,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
        }
    }
}

/// Where sessions are sealed and how their cookies are set: available
/// whenever the server has its secret key.
#[derive(Debug, Clone)]
pub struct Sessions {
    sealer: std::sync::Arc<Sealer>,
    secure: bool,
    store: std::sync::Arc<dyn IdentityStore>,
}

impl Sessions {
    /// Sessions sealed with a key derived from `master_key` (32 bytes or
    /// more, the same on every instance), with `Secure` cookies when
    /// `secure` (clients reach the server over TLS), recorded in `store`
    /// (the one every instance shares).
    pub fn new(
        master_key: &[u8],
        secure: bool,
        store: std::sync::Arc<dyn IdentityStore>,
    ) -> Result<Sessions, AuthError> {
        Ok(Sessions {
            sealer: std::sync::Arc::new(Sealer::derive(master_key, "sessions")?),
            secure,
            store,
        })
    }

    /// Whether cookies are `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The valid session a request's cookie holds: sealed by us, not
    /// expired, and still recorded (not signed out).
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, harbor_core::Error> {
        let Some(session) = Session::from_headers(headers, &self.sealer) else {
            return Ok(None);
        };
        Ok(self
            .store
            .session_alive(&session.sid)
            .await?
            .then_some(session))
    }

    /// Ends every session of user `user_id` but the one `headers` carry
    /// (after a password change); how many ended.
    pub(crate) async fn end_others(
        &self,
        user_id: i64,
        headers: &HeaderMap,
    ) -> Result<u64, harbor_core::Error> {
        let keep = Session::from_headers(headers, &self.sealer)
            .filter(|s| s.uid == user_id)
            .map(|s| s.sid);
        self.store
            .delete_user_sessions(user_id, keep.as_deref())
            .await
    }

    /// Signs user `uid` in: a new session, recorded, and its cookies on
    /// `resp`.
    pub(crate) async fn start(
        &self,
        resp: &mut Response,
        uid: i64,
        admin: bool,
        same_site: SameSite,
    ) -> Result<Session, AuthError> {
        let session = Session::new(uid, admin)?;
        let sealed = session.seal(&self.sealer)?;
        let expires = UNIX_EPOCH + Duration::from_secs(session.exp);
        self.store
            .create_session(&session.sid, uid, expires)
            .await?;
        let ttl = SESSION_TTL.as_secs();
        let cookies = [
            set_cookie(
                SESSION_COOKIE,
                &sealed,
                "/",
                ttl,
                false,
                self.secure,
                same_site,
            ),
            set_cookie(
                CSRF_COOKIE,
                &session.csrf,
                "/",
                ttl,
                true,
                self.secure,
                same_site,
            ),
        ];
        for c in cookies.into_iter().flatten() {
            resp.headers_mut().append("set-cookie", c);
        }
        Ok(session)
    }

    /// Signs out: the session `headers` carry ends on every instance,
    /// and both cookies are removed from the browser.
    pub(crate) async fn end(
        &self,
        headers: &HeaderMap,
        resp: &mut Response,
    ) -> Result<(), harbor_core::Error> {
        if let Some(s) = Session::from_headers(headers, &self.sealer) {
            self.store.delete_session(&s.sid).await?;
        }
        let cookies = [
            set_cookie(
                SESSION_COOKIE,
                "",
                "/",
                0,
                false,
                self.secure,
                SameSite::Strict,
            ),
            set_cookie(CSRF_COOKIE, "", "/", 0, true, self.secure, SameSite::Strict),
        ];
        for c in cookies.into_iter().flatten() {
            resp.headers_mut().append("set-cookie", c);
        }
        Ok(())
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
/// deletes it), HttpOnly unless `readable`, `same_site`, Secure when served
/// over TLS.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    readable: bool,
    secure: bool,
    same_site: SameSite,
) -> Option<HeaderValue> {
    let mut s = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; SameSite={}",
        same_site.as_str()
    );
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
        let sealer = Sealer::derive(&[3u8; 32], "sessions").unwrap();
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
        let other = Sealer::derive(&[4u8; 32], "sessions").unwrap();
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

#[cfg(test)]
mod cookie_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set_cookies(resp: &Response) -> Vec<String> {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// A store with one user, and that user's id.
    async fn store() -> (std::sync::Arc<dyn IdentityStore>, i64) {
        let store = harbor_storage::SqliteMetaStore::in_memory().unwrap();
        let user = store
            .create_user(&harbor_core::NewUser {
                username: "ann".into(),
                email: "ann@example.com".into(),
                realname: "Ann".into(),
                comment: String::new(),
                password_hash: "hash".into(),
                sysadmin: false,
            })
            .await
            .unwrap();
        (std::sync::Arc::new(store), user.id)
    }

    #[tokio::test]
    async fn a_portal_session_cookie_is_http_only_strict_expiring_and_secure_under_tls() {
        let (store, uid) = store().await;
        let sessions = Sessions::new(&[5u8; 32], true, store.clone()).unwrap();
        let mut resp = Response::default();
        let s = sessions
            .start(&mut resp, uid, false, SameSite::Strict)
            .await
            .unwrap();
        let cookies = set_cookies(&resp);
        let sid = cookies.iter().find(|c| c.starts_with("sid=")).unwrap();
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(sid.contains(part), "{part} missing in {sid}");
        }
        let csrf = cookies.iter().find(|c| c.starts_with("__csrf=")).unwrap();
        assert!(csrf.starts_with(&format!("__csrf={};", s.csrf)));
        assert!(!csrf.contains("HttpOnly"), "the page must read it: {csrf}");
        assert!(csrf.contains("SameSite=Strict") && csrf.contains("Secure"));
        let plain = Sessions::new(&[5u8; 32], false, store).unwrap();
        let mut resp = Response::default();
        plain
            .start(&mut resp, uid, false, SameSite::Lax)
            .await
            .unwrap();
        let cookies = set_cookies(&resp);
        assert!(cookies
            .iter()
            .all(|c| !c.contains("Secure") && c.contains("SameSite=Lax")));
    }

    #[tokio::test]
    async fn signing_out_removes_both_cookies_and_ends_the_session_for_good() {
        let (store, uid) = store().await;
        let sessions = Sessions::new(&[5u8; 32], false, store).unwrap();
        let mut resp = Response::default();
        sessions
            .start(&mut resp, uid, false, SameSite::Strict)
            .await
            .unwrap();
        let sid = set_cookies(&resp)
            .into_iter()
            .find(|c| c.starts_with("sid="))
            .unwrap();
        let mut copied = HeaderMap::new();
        let pair = sid.split(';').next().unwrap();
        copied.insert("cookie", HeaderValue::from_str(pair).unwrap());
        assert!(sessions.session(&copied).await.unwrap().is_some());
        let mut resp = Response::default();
        sessions.end(&copied, &mut resp).await.unwrap();
        let cookies = set_cookies(&resp);
        assert_eq!(cookies.len(), 2);
        assert!(cookies.iter().all(|c| c.contains("Max-Age=0")));
        assert!(
            sessions.session(&copied).await.unwrap().is_none(),
            "a copy of the cookie kept from before signing out opens nothing"
        );
    }
}
