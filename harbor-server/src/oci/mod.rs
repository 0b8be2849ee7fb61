//! The OCI distribution API under `/v2/`.
//!
//! Repository names contain `/`, so the path is parsed here from its end
//! (`.../manifests/<ref>`, `.../blobs/uploads/<id>`, ...) rather than by a
//! router pattern.

mod blobs;
mod discovery;
pub mod error;
mod manifests;
pub mod range;
mod uploads;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use harbor_core::{ByteStream, ErrorCode, Registry, RepositoryName};

pub use error::ApiError;

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct OciState {
    /// The engine.
    pub registry: Registry,
}

/// The endpoint a `/v2/` path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

pub(crate) fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::UploadStart(name));
    }
    let (prefix, last) = rest.rsplit_once('/')?;
    if last.is_empty() {
        return None;
    }
    if let Some(name) = prefix.strip_suffix("/manifests") {
        Some(Route::Manifest(name, last))
    } else if let Some(name) = prefix.strip_suffix("/blobs/uploads") {
        Some(Route::Upload(name, last))
    } else if let Some(name) = prefix.strip_suffix("/blobs") {
        Some(Route::Blob(name, last))
    } else {
        prefix
            .strip_suffix("/referrers")
            .map(|name| Route::Referrers(name, last))
    }
}

/// Serves every `/v2/` request.
pub async fn dispatch(State(state): State<OciState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(route) = parse_route(&path) else {
        return not_found();
    };
    let method = req.method().clone();
    let result = match (route, &method) {
        (Route::Base, &Method::GET | &Method::HEAD) => Ok(base()),
        (Route::Catalog, &Method::GET) => discovery::catalog(&state, req).await,
        (Route::Tags(name), &Method::GET) => discovery::tags(&state, repo(name), req).await,
        (Route::Referrers(name, digest), &Method::GET) => {
            discovery::referrers(&state, repo(name), digest, req).await
        }
        (Route::Manifest(name, reference), m) if is_one_of(m, &[Method::GET, Method::HEAD]) => {
            manifests::get(&state, repo(name), reference, req).await
        }
        (Route::Manifest(name, reference), &Method::PUT) => {
            manifests::put(&state, repo(name), reference, req).await
        }
        (Route::Manifest(name, reference), &Method::DELETE) => {
            manifests::delete(&state, repo(name), reference).await
        }
        (Route::Blob(name, digest), m) if is_one_of(m, &[Method::GET, Method::HEAD]) => {
            blobs::get(&state, repo(name), digest, req).await
        }
        (Route::Blob(name, digest), &Method::DELETE) => {
            blobs::delete(&state, repo(name), digest).await
        }
        (Route::UploadStart(name), &Method::POST) => uploads::start(&state, repo(name), req).await,
        (Route::Upload(name, id), &Method::GET) => uploads::status(&state, repo(name), id).await,
        (Route::Upload(name, id), &Method::PATCH) => {
            uploads::patch(&state, repo(name), id, req).await
        }
        (Route::Upload(name, id), &Method::PUT) => {
            uploads::complete(&state, repo(name), id, req).await
        }
        (Route::Upload(name, id), &Method::DELETE) => uploads::cancel(&state, repo(name), id).await,
        _ => Err(ApiError::new(
            ErrorCode::Unsupported,
            format!("{method} is not supported on {path}"),
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn is_one_of(m: &Method, set: &[Method]) -> bool {
    set.contains(m)
}

fn repo(name: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::parse(name).map_err(ApiError)
}

fn base() -> Response {
    let mut resp = (StatusCode::OK, "{}").into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn not_found() -> Response {
    let body = error::error_body("NOT_FOUND", "no such endpoint", None);
    let mut resp = (StatusCode::NOT_FOUND, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// Adds the header every `/v2/` answer carries.
pub async fn api_version_header(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    header(headers, "content-length").and_then(|v| v.trim().parse().ok())
}

/// The request body as a stream of bytes, never gathered in memory.
fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

fn query_param(req: &Request, key: &str) -> Option<String> {
    let q = req.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed_from_their_end() {
        assert_eq!(parse_route("/v2/"), Some(Route::Base));
        assert_eq!(parse_route("/v2"), Some(Route::Base));
        assert_eq!(parse_route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(parse_route("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            parse_route("/v2/x/blobs/y/manifests/latest"),
            Some(Route::Manifest("x/blobs/y", "latest"))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads/"),
            Some(Route::UploadStart("a"))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads"),
            Some(Route::UploadStart("a"))
        );
        assert_eq!(
            parse_route("/v2/a/b/blobs/uploads/123"),
            Some(Route::Upload("a/b", "123"))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/sha256:00"),
            Some(Route::Blob("a", "sha256:00"))
        );
        assert_eq!(
            parse_route("/v2/a/referrers/sha256:00"),
            Some(Route::Referrers("a", "sha256:00"))
        );
        assert_eq!(parse_route("/v2/a/manifests/"), None);
        assert_eq!(parse_route("/v2/a/other/x"), None);
        assert_eq!(parse_route("/v3/a"), None);
    }
}
