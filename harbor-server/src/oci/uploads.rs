//! Blob uploads: `POST .../blobs/uploads/` (session, monolithic, mount), and
//! `GET`/`PATCH`/`PUT`/`DELETE .../blobs/uploads/<id>`.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harbor_core::{Digest, ErrorCode, RepositoryName, UploadStatus};

use super::range::parse_content_range;
use super::{body_stream, content_length, query_param, set, ApiError, OciState};

pub(super) async fn start(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    if let Some(mount) = query_param(&req, "mount") {
        let digest = Digest::parse(&mount)?;
        let from = match query_param(&req, "from") {
            Some(f) => Some(RepositoryName::parse(&f)?),
            None => None,
        };
        if state
            .registry
            .mount_blob(&repo, &digest, from.as_ref())
            .await?
            .is_some()
        {
            return Ok(created(&repo, &digest));
        }
        // The mount cannot be done: fall back to an ordinary upload session.
    } else if let Some(digest) = query_param(&req, "digest") {
        let digest = Digest::parse(&digest)?;
        let len = content_length(req.headers());
        let body = body_stream(req.into_body());
        state.registry.put_blob(&repo, &digest, body, len).await?;
        return Ok(created(&repo, &digest));
    }
    let status = state.registry.start_upload(&repo).await?;
    Ok(session_response(StatusCode::ACCEPTED, &repo, &status))
}

pub(super) async fn status(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    id: &str,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let status = state.registry.upload_status(&repo, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, &repo, &status))
}

pub(super) async fn patch(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    id: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    // A Content-Range that is present but not `<start>-<end>` in digits
    // (or not even text) is refused like a chunk out of order: nothing is
    // appended and the client is told where the upload stands.
    let range = match req.headers().get("content-range") {
        None => Ok(None),
        Some(h) => match h.to_str().ok().and_then(parse_content_range) {
            Some(r) => Ok(Some(r)),
            None => Err(harbor_core::Error::new(
                ErrorCode::RangeInvalid,
                format!("malformed Content-Range {h:?}: expected <start>-<end>"),
            )),
        },
    };
    let result = match range {
        Ok(range) => {
            let len = content_length(req.headers());
            let body = body_stream(req.into_body());
            state
                .registry
                .append_upload(&repo, id, range, len, body)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(status) => Ok(session_response(StatusCode::ACCEPTED, &repo, &status)),
        Err(e) if e.code() == ErrorCode::RangeInvalid => {
            // Tell the client where the upload stands so it can resume.
            let mut resp = ApiError(e).into_response();
            if let Ok(current) = state.registry.upload_status(&repo, id).await {
                session_headers(&mut resp, &repo, &current);
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn complete(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    id: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let digest = query_param(&req, "digest").ok_or_else(|| {
        ApiError::new(
            ErrorCode::DigestInvalid,
            "the digest query parameter is required",
        )
    })?;
    let digest = Digest::parse(&digest)?;
    let len = content_length(req.headers());
    let final_chunk = match len {
        Some(0) => None,
        _ => Some((body_stream(req.into_body()), len)),
    };
    state
        .registry
        .complete_upload(&repo, id, &digest, final_chunk)
        .await?;
    Ok(created(&repo, &digest))
}

pub(super) async fn cancel(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    id: &str,
) -> Result<Response, ApiError> {
    let repo = repo?;
    state.registry.cancel_upload(&repo, id).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set(&mut resp, "content-length", "0");
    Ok(resp)
}

fn created(repo: &RepositoryName, digest: &Digest) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    set(&mut resp, "location", &format!("/v2/{repo}/blobs/{digest}"));
    set(&mut resp, "docker-content-digest", &digest.to_string());
    set(&mut resp, "content-length", "0");
    resp
}

fn session_headers(resp: &mut Response, repo: &RepositoryName, status: &UploadStatus) {
    set(
        resp,
        "location",
        &format!("/v2/{repo}/blobs/uploads/{}", status.id),
    );
    // As CNCF distribution writes it: the last byte held, `0-0` when empty.
    set(
        resp,
        "range",
        &format!("0-{}", status.offset.saturating_sub(1)),
    );
    set(resp, "docker-upload-uuid", &status.id);
}

fn session_response(code: StatusCode, repo: &RepositoryName, status: &UploadStatus) -> Response {
    let mut resp = code.into_response();
    session_headers(&mut resp, repo, status);
    set(&mut resp, "content-length", "0");
    resp
}
