//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use harbor_core::{ErrorCode, Reference, RepositoryName, MAX_MANIFEST_SIZE};

use super::{header, set, ApiError, OciState};

/// How much of an oversized manifest body is read and thrown away so that the
/// client gets the 413 instead of a connection reset; beyond it, the
/// connection is closed after the answer.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// A reference that is neither a valid tag nor a digest names nothing: such a
/// manifest is unknown, as CNCF distribution answers, not a malformed request.
fn existing_reference(repo: &RepositoryName, reference: &str) -> Result<Reference, ApiError> {
    Reference::parse(reference).map_err(|_| {
        ApiError::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference:?} is unknown to repository {repo}"),
        )
    })
}

pub(super) async fn get(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    reference: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let reference = existing_reference(&repo, reference)?;
    let accept: Vec<&str> = req
        .headers()
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let accept = accept.join(",");
    let accept = (!accept.is_empty()).then_some(accept.as_str());
    let manifest = state
        .registry
        .get_manifest(&repo, &reference, accept)
        .await?;
    let len = manifest.payload.len();
    let mut resp = if req.method() == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(manifest.payload))
    };
    set(&mut resp, "content-type", &manifest.media_type);
    set(&mut resp, "content-length", &len.to_string());
    set(
        &mut resp,
        "docker-content-digest",
        &manifest.digest.to_string(),
    );
    set(&mut resp, "etag", &format!("\"{}\"", manifest.digest));
    Ok(resp)
}

pub(super) async fn put(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    reference: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let reference = Reference::parse(reference)?;
    let content_type = header(req.headers(), "content-type").map(str::to_owned);
    let declared = super::content_length(req.headers());
    let payload = match read_manifest(req.into_body(), declared).await {
        Ok(p) => p,
        Err(drained) => {
            let mut resp = ApiError::new(
                ErrorCode::TooLarge,
                format!("manifest exceeds the limit of {MAX_MANIFEST_SIZE} bytes"),
            )
            .into_response();
            if !drained {
                resp.headers_mut()
                    .insert("connection", HeaderValue::from_static("close"));
            }
            return Ok(resp);
        }
    };
    let pushed = state
        .registry
        .put_manifest(&repo, &reference, content_type.as_deref(), payload)
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    set(
        &mut resp,
        "location",
        &format!("/v2/{repo}/manifests/{}", pushed.digest),
    );
    set(
        &mut resp,
        "docker-content-digest",
        &pushed.digest.to_string(),
    );
    set(&mut resp, "content-length", "0");
    if let Some(subject) = &pushed.subject {
        set(&mut resp, "oci-subject", &subject.to_string());
    }
    Ok(resp)
}

/// Reads a manifest body whole (a manifest is small and is parsed whole; the
/// limit keeps it so). Over the limit, the rest of the body is read and
/// dropped, up to [`DRAIN_LIMIT`], so the client is still reading when the
/// error arrives: `Err(true)` when the body was drained to its end,
/// `Err(false)` when the connection must be closed.
async fn read_manifest(body: Body, declared: Option<u64>) -> Result<Bytes, bool> {
    let max = MAX_MANIFEST_SIZE as u64;
    if declared.is_some_and(|l| l > max.saturating_add(DRAIN_LIMIT)) {
        return Err(false);
    }
    let mut stream = body.into_data_stream();
    let mut payload = BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(false);
        };
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > max.saturating_add(DRAIN_LIMIT) {
            return Err(false);
        }
        if seen <= max {
            payload.extend_from_slice(&chunk);
        }
    }
    if seen > max || declared.is_some_and(|l| l > max) {
        return Err(true);
    }
    Ok(payload.freeze())
}

pub(super) async fn delete(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    reference: &str,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let reference = existing_reference(&repo, reference)?;
    state.registry.delete_manifest(&repo, &reference).await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    set(&mut resp, "content-length", "0");
    Ok(resp)
}
