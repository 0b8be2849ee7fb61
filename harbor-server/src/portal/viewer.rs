//! Who is looking at a page: the signed-in user of the browser's session
//! (a browser without one is sent to the sign-in page), and the changes
//! they send with a form, refused without the session's CSRF token.

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::Response;
use harbor_auth::Principal;
use serde::de::DeserializeOwned;

use super::client::{Answer, ApiClient, CallAs};
use super::error::{see_other, PortalError};
use super::PortalState;
use crate::auth::session::{CheckedSession, Session};

/// Form bodies larger than this are refused.
const FORM_LIMIT: usize = 64 * 1024;

/// The signed-in user looking at a page.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// The user's id.
    pub(crate) id: i64,
    /// The user's name.
    pub(crate) name: String,
    /// Whether the user is a system administrator.
    pub(crate) sysadmin: bool,
    /// The session's CSRF token, for the page's forms.
    pub(crate) csrf: String,
    /// Whether the server runs garbage collection (its page is linked).
    pub(crate) gc: bool,
    /// Whether the server replicates (its pages are linked).
    pub(crate) replication: bool,
    /// Whether the server keeps project quotas (their page is linked).
    pub(crate) quotas: bool,
    /// Whether the server purges the audit log (its page is linked).
    pub(crate) purge_audit: bool,
    /// How to call the API as this user.
    pub(crate) call_as: CallAs,
    session: Session,
}

impl Viewer {
    /// System administrators only: 403 with `forbidden` for other users.
    pub(crate) fn admin_only(&self, forbidden: &str) -> Result<(), PortalError> {
        if self.sysadmin {
            Ok(())
        } else {
            Err(PortalError::new(
                axum::http::StatusCode::FORBIDDEN,
                forbidden,
            ))
        }
    }

    /// An administration page of a feature the server may not run: 404
    /// with `missing` when it does not (`enabled` false), then
    /// [`Viewer::admin_only`].
    pub(crate) fn admin_page(
        &self,
        enabled: bool,
        missing: &str,
        forbidden: &str,
    ) -> Result<(), PortalError> {
        if !enabled {
            return Err(PortalError::new(axum::http::StatusCode::NOT_FOUND, missing));
        }
        self.admin_only(forbidden)
    }

    /// The user as the authorizer knows callers.
    pub(crate) fn principal(&self) -> Principal {
        Principal::User {
            id: self.id,
            name: self.name.clone(),
            sysadmin: self.sysadmin,
        }
    }
}

impl FromRequestParts<PortalState> for Viewer {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Self, Self::Rejection> {
        let back = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map_or("/harbor/projects".to_owned(), |p| p.as_str().to_owned())
        } else {
            "/harbor/projects".to_owned()
        };
        let sign_in = || PortalError::SignIn { back: back.clone() };
        let sessions = state.app.auth.sessions.as_ref().ok_or_else(sign_in)?;
        let session = sessions
            .session(&parts.headers)
            .await?
            .ok_or_else(sign_in)?;
        let user = state
            .app
            .auth
            .identity
            .user_by_id(session.uid)
            .await?
            .ok_or_else(sign_in)?;
        let mut viewer = Viewer {
            id: user.id,
            name: user.username,
            sysadmin: user.sysadmin || session.adm,
            csrf: session.csrf.clone(),
            gc: state.app.gc.is_some(),
            replication: state.app.replication.is_some(),
            quotas: state.app.quotas.is_some(),
            purge_audit: state.app.purge_audit.is_some(),
            call_as: CallAs {
                cookie: parts.headers.get("cookie").cloned(),
                client: parts
                    .extensions
                    .get::<ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0),
                checked: None,
            },
            session,
        };
        viewer.call_as.checked = Some(CheckedSession {
            session: viewer.session.clone(),
            principal: viewer.principal(),
        });
        Ok(viewer)
    }
}

/// A change sent with a form: the viewer, the form as `T`, and the CSRF
/// token it carried (`_csrf`), already checked against the session.
#[derive(Debug)]
pub(crate) struct Change<T> {
    /// Who sends it.
    pub(crate) viewer: Viewer,
    /// The form.
    pub(crate) form: T,
    /// The token, to show the API in turn.
    pub(crate) csrf: String,
}

impl<T: DeserializeOwned> FromRequest<PortalState> for Change<T> {
    type Rejection = PortalError;

    async fn from_request(req: Request, state: &PortalState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| PortalError::new(axum::http::StatusCode::BAD_REQUEST, "form too large"))?;
        let csrf = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !viewer.session.csrf_matches(&csrf) {
            return Err(PortalError::csrf());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            PortalError::new(
                axum::http::StatusCode::BAD_REQUEST,
                format!("bad form: {e}"),
            )
        })?;
        Ok(Change { viewer, form, csrf })
    }
}

impl<T> Change<T> {
    /// Sends this change on to the management API: `method path` with a
    /// JSON `body`, as the viewer, showing the form's CSRF token. The
    /// API's refusal (its status and message) becomes the page's.
    pub(crate) async fn send(
        &self,
        api: &ApiClient,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, PortalError> {
        api.call(&self.viewer.call_as, method, path, body, Some(&self.csrf))
            .await?
            .ok()
    }

    /// [`Change::send`], then the browser to `back` (a form's usual
    /// answer: the page it came from, showing the change).
    pub(crate) async fn forward(
        &self,
        api: &ApiClient,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        back: &str,
    ) -> Result<Response, PortalError> {
        self.send(api, method, path, body).await?;
        Ok(see_other(back))
    }
}
