//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::extract::Request;
use std::ops::Range;
use std::sync::Arc;

use axum::http::{Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use harbor_core::{Digest, ErrorCode, RepositoryName};

use super::{header, set, ApiError, OciState};
use crate::sendfile::{FileBody, SendfileSlot};

pub(super) async fn get(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    digest: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let digest = Digest::parse(digest)?;
    let range = match header(req.headers(), "range") {
        None => None,
        Some(h) => Some(super::range::parse_range(h).ok_or_else(|| {
            ApiError::new(
                ErrorCode::RangeInvalid,
                format!("unsupported Range header {h:?}"),
            )
        })?),
    };
    if req.method() == Method::HEAD {
        let size = state
            .registry
            .stat_blob(&repo, &digest)
            .await?
            .ok_or_else(|| ApiError(harbor_core::blob_store::blob_unknown(&digest)))?;
        let mut resp = StatusCode::OK.into_response();
        set(&mut resp, "content-length", &size.to_string());
        blob_headers(&mut resp, &digest);
        return Ok(resp);
    }
    // Object storage with redirects on: the client fetches from the bucket.
    if let Some(url) = state.registry.blob_redirect(&repo, &digest).await? {
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        set(&mut resp, "location", &url);
        // Not `blob_headers`: the URL expires, so this must not be cached.
        set(&mut resp, "docker-content-digest", &digest.to_string());
        return Ok(resp);
    }
    // On a plain HTTP/1 connection, a blob kept in a local file goes out by
    // `sendfile`; otherwise it is streamed through the read path.
    let slot = req
        .extensions()
        .get::<Arc<SendfileSlot>>()
        .filter(|_| req.version() <= Version::HTTP_11)
        .cloned();
    if let Some(slot) = slot {
        match state.registry.get_blob_file(&repo, &digest, range).await {
            Ok(Some(f)) => {
                let body = FileBody::new(slot, f.file, f.range.start, f.range.end);
                return Ok(blob_response(
                    Body::new(body),
                    f.size,
                    f.range,
                    range.is_some(),
                    &digest,
                ));
            }
            Ok(None) => {}
            Err(e) => return range_error(e),
        }
    }
    let content = match state.registry.get_blob(&repo, &digest, range).await {
        Ok(c) => c,
        Err(e) => return range_error(e),
    };
    Ok(blob_response(
        Body::from_stream(content.body),
        content.size,
        content.range,
        range.is_some(),
        &digest,
    ))
}

/// An unsatisfiable range answers 416 with the blob's size in
/// `Content-Range`, as RFC 9110 asks; other errors pass through.
fn range_error(e: harbor_core::Error) -> Result<Response, ApiError> {
    if e.code() != ErrorCode::RangeInvalid {
        return Err(e.into());
    }
    let size = e.detail().and_then(|d| d["size"].as_u64());
    let mut resp = ApiError(e).into_response();
    if let Some(size) = size {
        set(&mut resp, "content-range", &format!("bytes */{size}"));
    }
    Ok(resp)
}

/// The 200 (or 206 for a range) carrying `range` of a blob of `size` bytes.
fn blob_response(
    body: Body,
    size: u64,
    range: Range<u64>,
    partial: bool,
    digest: &Digest,
) -> Response {
    let len = range.end - range.start;
    let mut resp = Response::new(body);
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            &mut resp,
            "content-range",
            &format!("bytes {}-{}/{size}", range.start, range.end - 1),
        );
    }
    set(&mut resp, "content-length", &len.to_string());
    blob_headers(&mut resp, digest);
    resp
}

fn blob_headers(resp: &mut Response, digest: &Digest) {
    set(resp, "content-type", "application/octet-stream");
    set(resp, "docker-content-digest", &digest.to_string());
    set(resp, "etag", &format!("\"{digest}\""));
    set(resp, "accept-ranges", "bytes");
    set(resp, "cache-control", "max-age=31536000");
}

pub(super) async fn delete(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    digest: &str,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let digest = Digest::parse(digest)?;
    state.registry.delete_blob(&repo, &digest).await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    set(&mut resp, "content-length", "0");
    set(&mut resp, "docker-content-digest", &digest.to_string());
    Ok(resp)
}
