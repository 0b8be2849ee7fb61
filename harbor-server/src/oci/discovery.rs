//! Content discovery: `tags/list`, `_catalog` and the referrers API.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harbor_core::{media_type, Digest, ErrorCode, RepositoryName};

use super::{query_param, set, ApiError, OciState};

/// `n` and `last` from the query; a bad `n` is `PAGINATION_NUMBER_INVALID`.
fn page_params(req: &Request) -> Result<(Option<usize>, Option<String>), ApiError> {
    let n = match query_param(req, "n") {
        None => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::new(
                ErrorCode::PaginationNumberInvalid,
                format!("n={s:?} is not a number"),
            )
        })?),
    };
    Ok((n, query_param(req, "last").filter(|l| !l.is_empty())))
}

fn json(body: serde_json::Value) -> Response {
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    set(&mut resp, "content-type", "application/json");
    resp
}

fn link_next(resp: &mut Response, path: &str, n: usize, last: &str) {
    let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
    set(
        resp,
        "link",
        &format!("<{path}?n={n}&last={last}>; rel=\"next\""),
    );
}

pub(super) async fn tags(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let (n, last) = page_params(&req)?;
    let (tags, more) = state.registry.list_tags(&repo, last.as_deref(), n).await?;
    let next = tags.last().cloned();
    let mut resp = json(serde_json::json!({ "name": repo.as_str(), "tags": tags }));
    if let (true, Some(last)) = (more, next) {
        let n = n
            .unwrap_or(harbor_core::registry::MAX_PAGE)
            .min(harbor_core::registry::MAX_PAGE);
        link_next(&mut resp, &format!("/v2/{repo}/tags/list"), n, &last);
    }
    Ok(resp)
}

pub(super) async fn catalog(state: &OciState, req: Request) -> Result<Response, ApiError> {
    let (n, last) = page_params(&req)?;
    let (mut repos, more) = state.registry.catalog(last.as_deref(), n).await?;
    // With authentication on, only repositories of projects the caller may see.
    if let Some(crate::auth::CatalogScope(Some(visible))) =
        req.extensions().get::<crate::auth::CatalogScope>()
    {
        repos.retain(|r| visible.contains(r.split('/').next().unwrap_or(r)));
    }
    let next = repos.last().cloned();
    let mut resp = json(serde_json::json!({ "repositories": repos }));
    if let (true, Some(last)) = (more, next) {
        let n = n
            .unwrap_or(harbor_core::registry::MAX_PAGE)
            .min(harbor_core::registry::MAX_PAGE);
        link_next(&mut resp, "/v2/_catalog", n, &last);
    }
    Ok(resp)
}

pub(super) async fn referrers(
    state: &OciState,
    repo: Result<RepositoryName, ApiError>,
    digest: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let repo = repo?;
    let digest = Digest::parse(digest)?;
    let artifact_type = query_param(&req, "artifactType").filter(|a| !a.is_empty());
    let list = state
        .registry
        .referrers(&repo, &digest, artifact_type.as_deref())
        .await?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": list,
    });
    let mut resp = json(index);
    set(&mut resp, "content-type", media_type::OCI_INDEX);
    if artifact_type.is_some() {
        set(&mut resp, "oci-filters-applied", "artifactType");
    }
    Ok(resp)
}
