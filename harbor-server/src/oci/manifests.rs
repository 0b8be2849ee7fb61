//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use harbor_core::{ErrorCode, Reference, RepositoryName, MAX_MANIFEST_SIZE};

use super::{header, set, ApiError, OciState};

pub(super) async fn get(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    reference: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let reference = Reference::parse(reference)?;
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
    let too_large = || {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("manifest exceeds the limit of {MAX_MANIFEST_SIZE} bytes"),
        )
    };
    if super::content_length(req.headers()).is_some_and(|l| l > MAX_MANIFEST_SIZE as u64) {
        return Err(too_large());
    }
    // A manifest is small and must be parsed whole; the limit keeps it so.
    let payload = axum::body::to_bytes(req.into_body(), MAX_MANIFEST_SIZE)
        .await
        .map_err(|_| too_large())?;
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

pub(super) async fn delete(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    reference: &str,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let reference = Reference::parse(reference)?;
    state.registry.delete_manifest(&repo, &reference).await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    set(&mut resp, "content-length", "0");
    Ok(resp)
}
