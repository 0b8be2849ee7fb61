//! `/projects/{project}/repositories[/{repository}[/artifacts[/{reference}[/tags]]]]`:
//! repositories of a project, artifacts of a repository with their tags, one
//! artifact, deleting an artifact, creating and deleting tags.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use harbor_auth::{Action, Resource};
use harbor_core::{
    media_type, ArtifactInfo, Digest, Manifest, Project, Reference, RepositoryName, Tag,
};
use harbor_core::{AuditOperation, AuditResource};
use harbor_replicate::ArtifactEvent;
use serde::Deserialize;

use super::{
    body, created, find_project, json, page_of, paged, query_of, require, time, ApiResult, AppState, Caller,
    HarborError,
};

/// Go's zero time, which Harbor shows for "never pulled".
const NEVER: &str = "0001-01-01T00:00:00.000Z";

/// `Tag` as a request: only `name` is used, the rest is accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagReq {
    name: String,
    id: Option<i64>,
    repository_id: Option<i64>,
    artifact_id: Option<i64>,
    push_time: Option<String>,
    pull_time: Option<String>,
    immutable: Option<bool>,
    signed: Option<bool>,
}

/// The full repository name from the path: `{project}/{repository}`, where a
/// nested repository arrives with its `/` double-encoded (`a%252Fb`).
fn repo_name(project: &Project, repository: &str) -> ApiResult<RepositoryName> {
    let decoded = repository.replace("%2F", "/").replace("%2f", "/");
    RepositoryName::parse(&format!("{}/{decoded}", project.name))
        .map_err(|e| HarborError::bad_request(e.message()))
}

async fn resolve(state: &AppState, repo: &RepositoryName, reference: &str) -> ApiResult<Digest> {
    let reference =
        Reference::parse(reference).map_err(|e| HarborError::bad_request(e.message()))?;
    match reference {
        Reference::Digest(d) => Ok(d),
        Reference::Tag(t) => state
            .registry
            .meta_store()
            .resolve_tag(repo, &t)
            .await?
            .ok_or_else(|| HarborError::not_found(format!("artifact {repo}:{t} not found"))),
    }
}

async fn artifact_json(
    state: &AppState,
    project: &Project,
    repository_id: i64,
    repo: &RepositoryName,
    a: &ArtifactInfo,
) -> ApiResult<serde_json::Value> {
    let content = state
        .registry
        .get_manifest(repo, &Reference::Digest(a.digest.clone()), None)
        .await?;
    let parsed = Manifest::parse(
        Some(&content.media_type),
        &content.payload,
        a.digest.algorithm(),
    )
    .ok();
    let size = content.payload.len() as u64
        + parsed
            .as_ref()
            .map(|m| {
                m.config
                    .iter()
                    .chain(&m.layers)
                    .chain(&m.manifests)
                    .map(|d| d.size)
                    .sum::<u64>()
            })
            .unwrap_or(0);
    let is_index = media_type::is_index(&a.media_type);
    let image_config = matches!(
        a.artifact_type.as_deref(),
        Some("application/vnd.oci.image.config.v1+json")
            | Some("application/vnd.docker.container.image.v1+json")
    );
    let references: Vec<serde_json::Value> = parsed
        .as_ref()
        .map(|m| {
            m.manifests
                .iter()
                .map(|c| serde_json::json!({ "parent_id": a.id, "child_digest": c.digest.to_string(), "platform": c.platform }))
                .collect()
        })
        .unwrap_or_default();
    let tags: Vec<serde_json::Value> = a
        .tags
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": 0, "repository_id": repository_id, "artifact_id": a.id, "name": t.name,
                "push_time": time(t.updated_at), "pull_time": NEVER, "immutable": false, "signed": false,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "id": a.id,
        "type": if is_index || image_config { "IMAGE" } else { "UNKNOWN" },
        "media_type": if is_index { a.media_type.clone() } else { a.artifact_type.clone().unwrap_or_default() },
        "manifest_media_type": a.media_type,
        "project_id": project.id,
        "repository_id": repository_id,
        "digest": a.digest.to_string(),
        "size": size,
        "push_time": time(a.pushed_at),
        "pull_time": NEVER,
        "extra_attrs": {},
        "annotations": parsed.map(|m| m.annotations).unwrap_or_default(),
        "references": references,
        "tags": tags,
    }))
}

async fn repository_id(state: &AppState, repo: &RepositoryName) -> ApiResult<i64> {
    state
        .registry
        .meta_store()
        .repository_info(repo)
        .await?
        .map(|r| r.id)
        .ok_or_else(|| HarborError::not_found(format!("repository {repo} not found")))
}

pub(super) async fn list_repositories(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    req: Request,
) -> ApiResult {
    let p = find_project(&state, req.headers(), &key).await?;
    require(&state, &caller, &p, Resource::Repository, Action::List).await?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let (repos, total) = state
        .registry
        .meta_store()
        .repositories_with_prefix(&format!("{}/", p.name), page)
        .await?;
    let items: Vec<_> = repos
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "project_id": p.id, "name": r.name, "description": "",
                "artifact_count": r.artifact_count, "pull_count": 0,
                "creation_time": time(r.created_at), "update_time": time(r.updated_at),
            })
        })
        .collect();
    Ok(paged(
        &format!("/api/v2.0/projects/{key}/repositories"),
        &query,
        page,
        total,
        &items,
    ))
}

pub(super) async fn get_repository(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = find_project(&state, &headers, &key).await?;
    require(&state, &caller, &p, Resource::Repository, Action::List).await?;
    let repo = repo_name(&p, &repository)?;
    let r = state
        .registry
        .meta_store()
        .repository_info(&repo)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("repository {repo} not found")))?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "id": r.id, "project_id": p.id, "name": r.name, "description": "",
            "artifact_count": r.artifact_count, "pull_count": 0,
            "creation_time": time(r.created_at), "update_time": time(r.updated_at),
        }),
    ))
}

pub(super) async fn list_artifacts(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository)): Path<(String, String)>,
    req: Request,
) -> ApiResult {
    let p = find_project(&state, req.headers(), &key).await?;
    require(&state, &caller, &p, Resource::Artifact, Action::List).await?;
    let repo = repo_name(&p, &repository)?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let path = format!("/api/v2.0/projects/{key}/repositories/{repository}/artifacts");
    // A repository whose last artifact was deleted lists as empty.
    let Some(info) = state.registry.meta_store().repository_info(&repo).await? else {
        if state.registry.meta_store().repository_exists(&repo).await? {
            return Ok(paged(
                &path,
                &query,
                page,
                0,
                &Vec::<serde_json::Value>::new(),
            ));
        }
        return Err(HarborError::not_found(format!(
            "repository {repo} not found"
        )));
    };
    let repository_id = info.id;
    let (list, total) = state
        .registry
        .meta_store()
        .list_artifacts(&repo, page)
        .await?;
    let mut items = Vec::with_capacity(list.len());
    for a in &list {
        items.push(artifact_json(&state, &p, repository_id, &repo, a).await?);
    }
    Ok(paged(&path, &query, page, total, &items))
}

/// The artifact a path names, after checking `action` on `resource`.
async fn one(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    (key, repository, reference): (&str, &str, &str),
    resource: Resource,
    action: Action,
) -> ApiResult<(Project, RepositoryName, ArtifactInfo)> {
    let p = find_project(state, headers, key).await?;
    require(state, caller, &p, resource, action).await?;
    let repo = repo_name(&p, repository)?;
    let digest = resolve(state, &repo, reference).await?;
    let a = state
        .registry
        .meta_store()
        .artifact(&repo, &digest)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("artifact {repo}@{digest} not found")))?;
    Ok((p, repo, a))
}

pub(super) async fn get_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (p, repo, a) = one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::Artifact,
        Action::Read,
    )
    .await?;
    let repository_id = repository_id(&state, &repo).await?;
    Ok(json(
        StatusCode::OK,
        &artifact_json(&state, &p, repository_id, &repo, &a).await?,
    ))
}

pub(super) async fn delete_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, repo, a) = one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::Artifact,
        Action::Delete,
    )
    .await?;
    state
        .registry
        .delete_manifest(&repo, &Reference::Digest(a.digest.clone()))
        .await?;
    tracing::info!(%repo, digest = %a.digest, by = %caller.0, "artifact deleted");
    state.notify(|| {
        let tags = a.tags.iter().filter_map(|t| Tag::parse(&t.name).ok());
        ArtifactEvent::manifest_deleted(repo.clone(), a.digest.clone(), tags.collect())
    });
    state
        .audit(
            Some(repo.first_component()),
            &caller,
            format!("{repo}@{}", a.digest),
            AuditResource::Artifact,
            AuditOperation::Delete,
        )
        .await;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn list_tags(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, repo, a) = one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::Tag,
        Action::List,
    )
    .await?;
    let repository_id = repository_id(&state, &repo).await?;
    let items: Vec<_> = a
        .tags
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": 0, "repository_id": repository_id, "artifact_id": a.id, "name": t.name,
                "push_time": time(t.updated_at), "pull_time": NEVER, "immutable": false, "signed": false,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, &items))
}

pub(super) async fn create_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference)): Path<(String, String, String)>,
    req: Request,
) -> ApiResult {
    let headers = req.headers().clone();
    let location_base = req.uri().path().trim_end_matches('/').to_owned();
    let (_, repo, a) = one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::Tag,
        Action::Create,
    )
    .await?;
    let r: TagReq = body(req).await?;
    let _ = (
        r.id,
        r.repository_id,
        r.artifact_id,
        &r.push_time,
        &r.pull_time,
        r.immutable,
        r.signed,
    );
    let tag = Tag::parse(&r.name).map_err(|e| HarborError::bad_request(e.message()))?;
    if state
        .registry
        .meta_store()
        .resolve_tag(&repo, &tag)
        .await?
        .is_some()
    {
        return Err(HarborError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("tag {tag} already exists in {repo}"),
        ));
    }
    let content = state
        .registry
        .get_manifest(&repo, &Reference::Digest(a.digest.clone()), None)
        .await?;
    let payload: Bytes = content.payload;
    state
        .registry
        .put_manifest(
            &repo,
            &Reference::Tag(tag.clone()),
            Some(&content.media_type),
            payload,
        )
        .await?;
    state.notify(|| ArtifactEvent::push(repo.clone(), Reference::Tag(tag.clone())));
    state
        .audit(
            Some(repo.first_component()),
            &caller,
            format!("{repo}:{tag}"),
            AuditResource::Tag,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!("{location_base}/{tag}")))
}

pub(super) async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference, tag)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, repo, a) = one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::Tag,
        Action::Delete,
    )
    .await?;
    if !a.tags.iter().any(|t| t.name == tag) {
        return Err(HarborError::not_found(format!(
            "tag {tag} not found on {}",
            a.digest
        )));
    }
    let tag = Tag::parse(&tag).map_err(|e| HarborError::bad_request(e.message()))?;
    state
        .registry
        .delete_manifest(&repo, &Reference::Tag(tag.clone()))
        .await?;
    state.notify(|| ArtifactEvent::tag_deleted(repo.clone(), tag.clone()));
    state
        .audit(
            Some(repo.first_component()),
            &caller,
            format!("{repo}:{tag}"),
            AuditResource::Tag,
            AuditOperation::Delete,
        )
        .await;
    Ok(StatusCode::OK.into_response())
}
