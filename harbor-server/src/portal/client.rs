//! The management API called in-process: a request built with the
//! browser's own session cookie (and, for a change, the CSRF token its form
//! carried), run through the same router, middleware and handlers as a
//! request from outside.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use super::error::PortalError;
use crate::auth::session::{CheckedSession, CSRF_HEADER};

/// Largest API answer a page reads (a page of a list is far smaller).
const ANSWER_LIMIT: usize = 16 * 1024 * 1024;

/// The management API's router, with its state and layers.
#[derive(Clone)]
pub(crate) struct ApiClient {
    router: Router,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").finish_non_exhaustive()
    }
}

/// Who a call is made for: the browser's cookies and address.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallAs {
    /// The request's `Cookie` header.
    pub(crate) cookie: Option<axum::http::HeaderValue>,
    /// The browser's address, for the API's per-address limits.
    pub(crate) client: Option<SocketAddr>,
    /// The session the page has already checked, passed on so that the API
    /// need not check it again.
    pub(crate) checked: Option<CheckedSession>,
}

/// An API answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its status.
    pub(crate) status: StatusCode,
    /// Its headers.
    pub(crate) headers: HeaderMap,
    /// Its body.
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as `T`, after [`Answer::ok`].
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, PortalError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| PortalError::internal(format!("reading an API answer: {e}")))
    }

    /// The answer if it succeeded, else the API's error (its status and
    /// Harbor's message) as the page's.
    pub(crate) fn ok(self) -> Result<Answer, PortalError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                v.pointer("/errors/0/message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        Err(PortalError::new(self.status, message))
    }

    /// `X-Total-Count`: how many items a list has in all.
    pub(crate) fn total(&self) -> u64 {
        self.headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl ApiClient {
    /// Calls into `router` (the management API's, with its state).
    pub(crate) fn new(router: Router) -> ApiClient {
        ApiClient { router }
    }

    /// `GET path` as `who`, answered with success or the API's error.
    pub(crate) async fn get(&self, who: &CallAs, path: &str) -> Result<Answer, PortalError> {
        self.call(who, Method::GET, path, None, None).await?.ok()
    }

    /// `method path` as `who` with a JSON `body`, showing `csrf` (the token
    /// the browser's form carried) as Harbor's CSRF header.
    pub(crate) async fn call(
        &self,
        who: &CallAs,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        csrf: Option<&str>,
    ) -> Result<Answer, PortalError> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = &who.cookie {
            req = req.header("cookie", c.clone());
        }
        if let Some(t) = csrf {
            req = req.header(CSRF_HEADER, t);
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut req = req
            .body(body)
            .map_err(|e| PortalError::internal(format!("building an API request: {e}")))?;
        if let Some(addr) = who.client {
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        if let Some(checked) = &who.checked {
            req.extensions_mut().insert(checked.clone());
        }
        let resp = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, ANSWER_LIMIT)
            .await
            .map_err(|e| PortalError::internal(format!("reading an API answer: {e}")))?;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
