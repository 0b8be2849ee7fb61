//! Extractors of the management API, each refusing bad input in Harbor's
//! error form: the caller, a JSON body, the query string, and a list's page.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use harbor_auth::Principal;
use harbor_core::Page;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::HarborError;
use super::q::Q;
use crate::auth::session::{CheckedSession, Session};
use crate::auth::{basic_credentials, client_ip, AuthState};

/// Request bodies larger than this are refused.
const BODY_LIMIT: usize = 1024 * 1024;

/// Harbor's page size when none is given, and its largest.
const DEFAULT_PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 100;

/// The caller, from Basic credentials or a session cookie (anonymous
/// without); wrong credentials are refused before the handler runs, and so
/// is a change (not GET/HEAD/OPTIONS) made with a session that does not
/// show its CSRF token in `X-Harbor-CSRF-Token`.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    Arc<AuthState>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = HarborError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<AuthState>::from_ref(state);
        let Some((user, pass)) = basic_credentials(&parts.headers) else {
            return session_caller(&auth, parts).await;
        };
        let client = client_ip(&parts.extensions);
        Ok(Caller(
            auth.authenticator
                .authenticate(&user, &pass, client)
                .await?,
        ))
    }
}

/// The caller a session cookie names, if it holds a valid one.
async fn session_caller(auth: &AuthState, parts: &Parts) -> Result<Caller, HarborError> {
    if let Some(checked) = parts.extensions.get::<CheckedSession>() {
        return checked_caller(checked, parts);
    }
    let Some(sessions) = &auth.sessions else {
        return Ok(Caller(Principal::Anonymous));
    };
    let Some(session) = sessions.session(&parts.headers).await? else {
        return Ok(Caller(Principal::Anonymous));
    };
    csrf_check(&session, parts)?;
    match auth.identity.user_by_id(session.uid).await? {
        Some(u) => Ok(Caller(Principal::User {
            id: u.id,
            name: u.username,
            sysadmin: u.sysadmin || session.adm,
        })),
        None => Ok(Caller(Principal::Anonymous)),
    }
}

/// The caller of a session the portal has already checked.
fn checked_caller(checked: &CheckedSession, parts: &Parts) -> Result<Caller, HarborError> {
    csrf_check(&checked.session, parts)?;
    Ok(Caller(checked.principal.clone()))
}

/// Refuses a change (not GET/HEAD/OPTIONS) made with `session` that does not
/// show its CSRF token.
fn csrf_check(session: &Session, parts: &Parts) -> Result<(), HarborError> {
    let safe = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if !safe && !session.csrf_ok(&parts.headers) {
        return Err(HarborError::new(
            axum::http::StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "CSRF token invalid: send the __csrf cookie's value in X-Harbor-CSRF-Token",
        ));
    }
    Ok(())
}

impl Caller {
    /// Any signed-in caller: 401 for anonymous ones.
    pub(crate) fn require_user(&self) -> Result<(), HarborError> {
        match self.0 {
            Principal::Anonymous => Err(HarborError::unauthorized()),
            _ => Ok(()),
        }
    }

    /// The system-level `action` on `resource` (Harbor's names, from
    /// [`harbor_auth::system::SYSTEM`]): system administrators, and robots
    /// whose system permissions grant it. 401 for anonymous callers, 403 for
    /// others.
    pub(crate) fn require_system(&self, resource: &str, action: &str) -> Result<(), HarborError> {
        debug_assert!(
            harbor_auth::system::is_system_access(resource, action),
            "{resource}:{action} is not in the system table"
        );
        self.require_user()?;
        if self.0.may_system(resource, action) {
            Ok(())
        } else {
            Err(HarborError::forbidden())
        }
    }

    /// Real system administrators only (never robots): 401 for anonymous
    /// callers, 403 for others.
    pub(crate) fn require_admin(&self) -> Result<(), HarborError> {
        self.require_user()?;
        if self.0.is_sysadmin() {
            Ok(())
        } else {
            Err(HarborError::forbidden())
        }
    }
}

/// A JSON body. Fields Harbor has that a request type does not name are
/// ignored, as Harbor (and the Go decoder behind it) ignores them, so clients
/// of other Harbor versions work; a wrong type or malformed JSON is a 400.
#[derive(Debug, Clone)]
pub struct HarborJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for HarborJson<T> {
    type Rejection = HarborError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| HarborError::bad_request("the request body is too large"))?;
        serde_json::from_slice(&bytes)
            .map(HarborJson)
            .map_err(|e| HarborError::bad_request(format!("invalid request body: {e}")))
    }
}

/// The query string as `T` (a missing or malformed parameter is a 400).
#[derive(Debug, Clone)]
pub struct HarborQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for HarborQuery<T> {
    type Rejection = HarborError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|q| HarborQuery(q.0))
            .map_err(|e| HarborError::bad_request(e.body_text()))
    }
}

/// What every list takes: `page`, `page_size` and `q`.
#[derive(Debug, Clone)]
pub struct ListParams {
    /// The page asked for.
    pub page: Page,
    /// The parsed `q`.
    pub q: Q,
}

#[derive(Deserialize)]
struct RawList {
    page: Option<String>,
    page_size: Option<String>,
    q: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = HarborError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let HarborQuery(raw) = HarborQuery::<RawList>::from_request_parts(parts, state).await?;
        // Any u64 is a page (a page past the end is empty); zero, signs and
        // numbers beyond u64 are not.
        let num = |key: &str, v: Option<String>, default: u64| match v {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                HarborError::bad_request(format!("{key} must be a positive integer, not {v:?}"))
            }),
        };
        let page = Page {
            page: num("page", raw.page, 1)?,
            page_size: num("page_size", raw.page_size, DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE),
        };
        let q = Q::parse(raw.q.as_deref()).map_err(|e| HarborError::bad_request(e.to_string()))?;
        Ok(ListParams { page, q })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(method: &str, csrf: Option<&str>) -> Parts {
        let mut req = axum::http::Request::builder().method(method).uri("/x");
        if let Some(t) = csrf {
            req = req.header(crate::auth::session::CSRF_HEADER, t);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_checked_session_still_needs_its_csrf_token_for_changes() {
        let checked = CheckedSession {
            session: Session::new(7, false).unwrap(),
            principal: Principal::User {
                id: 7,
                name: "ann".into(),
                sysadmin: false,
            },
        };
        let read = checked_caller(&checked, &parts("GET", None)).unwrap();
        assert!(matches!(read.0, Principal::User { id: 7, .. }));
        for wrong in [None, Some("not-the-token")] {
            let e = checked_caller(&checked, &parts("DELETE", wrong)).unwrap_err();
            let status = axum::response::IntoResponse::into_response(e).status();
            assert_eq!(status, axum::http::StatusCode::FORBIDDEN);
        }
        let token = checked.session.csrf.clone();
        let change = checked_caller(&checked, &parts("DELETE", Some(&token))).unwrap();
        assert!(matches!(change.0, Principal::User { id: 7, .. }));
    }
}
