//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_core::{ByteRange, Digest, ErrorCode, RepositoryName};

use super::{header, set, ApiError, OciState};

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
        Some(h) => Some(ByteRange::parse(h).ok_or_else(|| {
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
    let content = match state.registry.get_blob(&repo, &digest, range).await {
        Ok(c) => c,
        Err(e) if e.code() == ErrorCode::RangeInvalid => {
            let size = e.detail().and_then(|d| d["size"].as_u64());
            let mut resp = ApiError(e).into_response();
            if let Some(size) = size {
                set(&mut resp, "content-range", &format!("bytes */{size}"));
            }
            return Ok(resp);
        }
        Err(e) => return Err(e.into()),
    };
    let len = content.range.end - content.range.start;
    let partial = range.is_some();
    let mut resp = Response::new(Body::from_stream(content.body));
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            &mut resp,
            "content-range",
            &format!(
                "bytes {}-{}/{}",
                content.range.start,
                content.range.end - 1,
                content.size
            ),
        );
    }
    set(&mut resp, "content-length", &len.to_string());
    blob_headers(&mut resp, &digest);
    Ok(resp)
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
