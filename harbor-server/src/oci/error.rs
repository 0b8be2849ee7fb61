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

/// The HTTP status CNCF distribution answers each error code with: the
/// protocol's codes are the engine's, their HTTP spelling is the server's.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BlobUnknown
        | ErrorCode::BlobUploadUnknown
        | ErrorCode::ManifestUnknown
        | ErrorCode::NameUnknown
        | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::BlobUploadInvalid
        | ErrorCode::DigestInvalid
        | ErrorCode::ManifestBlobUnknown
        | ErrorCode::ManifestInvalid
        | ErrorCode::NameInvalid
        | ErrorCode::SizeInvalid
        | ErrorCode::TagInvalid
        | ErrorCode::PaginationNumberInvalid
        | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Precondition => StatusCode::PRECONDITION_FAILED,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Denied => StatusCode::FORBIDDEN,
        ErrorCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        if code == ErrorCode::Unknown {
            tracing::error!(error = %self.0, source = ?std::error::Error::source(&self.0), "request failed");
        } else {
            tracing::debug!(error = %self.0, "request refused");
        }
        let status = status_of(code);
        let body = error_body(code.as_str(), &self.0.message(), self.0.detail());
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        resp
    }
}
