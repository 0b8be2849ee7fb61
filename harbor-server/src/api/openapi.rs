//! `GET /openapi.json`: the OpenAPI 3.0 document of this API
//! (`harbor-server/openapi.json`, built into the binary).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The OpenAPI document, as written in the repository.
const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// `GET /openapi.json`: the document, for anyone.
pub(super) async fn openapi() -> Response {
    let mut resp = (StatusCode::OK, OPENAPI_JSON).into_response();
    super::set(&mut resp, "content-type", "application/json");
    resp
}
