//! What a page answers when it cannot show what was asked: an error page
//! with the reason (escaped like all text), or the sign-in page for a
//! browser without a session.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::layout;

/// A page's failure.
#[derive(Debug)]
pub(crate) enum PortalError {
    /// An error page with this status and message.
    Page {
        /// The status.
        status: StatusCode,
        /// What went wrong, for the user.
        message: String,
    },
    /// No valid session: to the sign-in page, and back to `back` after.
    SignIn {
        /// The local path to return to.
        back: String,
    },
}

impl PortalError {
    /// An error page.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> PortalError {
        if status == StatusCode::UNAUTHORIZED {
            return PortalError::SignIn {
                back: "/harbor/projects".into(),
            };
        }
        PortalError::Page {
            status,
            message: message.into(),
        }
    }

    /// 400: a form the page cannot send on, and why.
    pub(crate) fn bad_request(message: impl Into<String>) -> PortalError {
        PortalError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 500 page (the detail goes to the log, not to the browser).
    pub(crate) fn internal(detail: impl Into<String>) -> PortalError {
        let detail = detail.into();
        tracing::error!(%detail, "portal page failed");
        PortalError::Page {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The server could not show this page; its log says why.".into(),
        }
    }

    /// 403: the form's CSRF token is missing or wrong.
    pub(crate) fn csrf() -> PortalError {
        PortalError::Page {
            status: StatusCode::FORBIDDEN,
            message: "CSRF token invalid: reload the page and try again.".into(),
        }
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        match self {
            PortalError::Page { status, message } => {
                let mut resp = layout::html(layout::error_page(status, &message));
                *resp.status_mut() = status;
                resp
            }
            PortalError::SignIn { back } => {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("redirect_url", &back)
                    .finish();
                see_other(&format!("/harbor/sign-in?{query}"))
            }
        }
    }
}

impl From<harbor_auth::AuthError> for PortalError {
    fn from(e: harbor_auth::AuthError) -> Self {
        PortalError::internal(e.to_string())
    }
}

impl From<harbor_core::Error> for PortalError {
    fn from(e: harbor_core::Error) -> Self {
        PortalError::internal(e.to_string())
    }
}

/// `303 See Other` to `to`: where a form's answer sends the browser.
pub(crate) fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert("location", v);
    }
    resp
}
