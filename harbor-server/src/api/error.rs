//! Errors in Harbor's form: `{"errors":[{"code":..,"message":..}]}` with the
//! status Harbor answers, from every error the layers below can give.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_auth::AuthError;
use harbor_core::ErrorCode;
use serde::Serialize;

/// An error in Harbor's form: `{"errors":[{"code":..,"message":..}]}`.
#[derive(Debug)]
pub struct HarborError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl HarborError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        HarborError {
            status,
            code,
            message: message.into(),
        }
    }

    /// What it says.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `400 BAD_REQUEST`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// `404 NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// `403 FORBIDDEN`.
    pub(crate) fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "forbidden")
    }

    /// `401 UNAUTHORIZED`.
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized")
    }
}

impl From<harbor_core::Error> for HarborError {
    fn from(e: harbor_core::Error) -> Self {
        // Harbor answers a change to an immutable tag with 412.
        if let Some(refusal) = harbor_core::TagImmutable::from_error(&e) {
            return HarborError::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION",
                refusal.harbor_message(),
            );
        }
        let code = e.code();
        let (status, name) = match code {
            ErrorCode::Conflict => (StatusCode::CONFLICT, "CONFLICT"),
            ErrorCode::NotFound
            | ErrorCode::NameUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::BlobUnknown => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ErrorCode::Precondition => (StatusCode::PRECONDITION_FAILED, "PRECONDITION"),
            ErrorCode::Unknown => {
                tracing::error!(error = %e, "management API request failed");
                return HarborError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                );
            }
            ErrorCode::Denied => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            _ => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        };
        HarborError::new(status, name, e.message())
    }
}

impl From<AuthError> for HarborError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized(m) | AuthError::InvalidToken(m) => {
                HarborError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m)
            }
            AuthError::Forbidden(m) => HarborError::new(StatusCode::FORBIDDEN, "FORBIDDEN", m),
            AuthError::BadRequest(m) => HarborError::bad_request(m),
            AuthError::TooManyAttempts { .. } => HarborError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                e.to_string(),
            ),
            AuthError::Store(e) => e.into(),
            // Only administrators' LDAP calls meet it: say what the
            // directory said.
            AuthError::Directory(m) => {
                HarborError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", m)
            }
            e => {
                tracing::error!(error = %e, "management API request failed");
                HarborError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                )
            }
        }
    }
}

impl From<harbor_replicate::ReplicateError> for HarborError {
    /// What the caller got wrong is a 400 (with every cause), what does not
    /// exist a 404, a policy already running a 412, a broken key or store a
    /// 500.
    fn from(e: harbor_replicate::ReplicateError) -> Self {
        use harbor_replicate::ReplicateError as E;
        match e {
            E::NotFound { .. } => HarborError::not_found(e.to_string()),
            E::Busy(m) => HarborError::new(StatusCode::PRECONDITION_FAILED, "PRECONDITION", m),
            E::Core(e) => e.into(),
            e @ (E::Secret(_) | E::Io { .. }) => {
                tracing::error!(error = %e.chain(), "replication failed");
                HarborError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                )
            }
            other => HarborError::bad_request(other.chain()),
        }
    }
}

impl IntoResponse for HarborError {
    fn into_response(self) -> Response {
        let body = Errors {
            errors: [ErrorItem {
                code: self.code,
                message: &self.message,
            }],
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut resp = (self.status, text).into_response();
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"harbor\""),
            );
        }
        resp
    }
}

/// Harbor's `Errors` body.
#[derive(Debug, Serialize)]
struct Errors<'a> {
    errors: [ErrorItem<'a>; 1],
}

/// Harbor's `Error`.
#[derive(Debug, Serialize)]
struct ErrorItem<'a> {
    code: &'a str,
    message: &'a str,
}
