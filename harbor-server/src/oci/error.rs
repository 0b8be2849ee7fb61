//! Turning `harbor_core::Error` into the OCI error body.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_core::{Error, ErrorCode};

/// An error answered in the distribution-spec's JSON form:
/// `{"errors":[{"code":..,"message":..,"detail":..}]}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// A protocol error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(Error::new(code, message))
    }
}

/// The JSON body for one error.
pub fn error_body(code: &str, message: &str, detail: Option<&serde_json::Value>) -> Vec<u8> {
    let body = serde_json::json!({
        "errors": [{ "code": code, "message": message, "detail": detail.cloned().unwrap_or(serde_json::Value::Null) }]
    });
    body.to_string().into_bytes()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        if code == ErrorCode::Unknown {
            tracing::error!(error = %self.0, source = ?std::error::Error::source(&self.0), "request failed");
        } else {
            tracing::debug!(error = %self.0, "request refused");
        }
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = error_body(code.as_str(), &self.0.message(), self.0.detail());
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        resp
    }
}
