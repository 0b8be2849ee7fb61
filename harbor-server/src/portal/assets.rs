//! The portal's style sheet and script, compiled into the binary.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `GET /portal/static/portal.css`.
pub(super) async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// `GET /portal/static/portal.js`.
pub(super) async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
