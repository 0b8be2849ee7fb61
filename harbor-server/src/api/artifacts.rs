//! `/projects/{project}/repositories[/{repository}[/artifacts[/{reference}[/tags]]]]`:
//! repositories of a project, artifacts of a repository with their tags, one
//! artifact, deleting an artifact, creating and deleting tags, in Harbor's
//! `Repository`, `Artifact`, `Reference` and `Tag` shapes.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::{Action, Resource};
use harbor_core::{
    media_type, ArtifactInfo, AuditOperation, AuditResource, Digest, Manifest, Project, Reference,
    RepositoryInfo, RepositoryName, Tag, TagInfo,
};
use harbor_replicate::ArtifactEvent;
use serde::{Deserialize, Serialize};

use super::labels::LabelResp;
use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery,
    ListParams, Paged,
};

/// Go's zero time, which Harbor shows for "never pulled".
const NEVER: &str = "0001-01-01T00:00:00.000Z";

/// Harbor's `Tag` as a request: only `name` is used, the rest is ignored.
#[derive(Debug, Deserialize)]
pub(super) struct TagReq {
    name: String,
}

/// Harbor's `Repository`.
#[derive(Debug, Serialize)]
pub(super) struct RepositoryResp {
    id: i64,
    project_id: i64,
    name: String,
    description: String,
    artifact_count: u64,
    pull_count: u64,
    creation_time: String,
    update_time: String,
}

impl RepositoryResp {
    fn new(project: &Project, r: &RepositoryInfo) -> Self {
        RepositoryResp {
            id: r.id,
            project_id: project.id,
            name: r.name.clone(),
            description: String::new(),
            artifact_count: r.artifact_count,
            pull_count: 0,
            creation_time: time(r.created_at),
            update_time: time(r.updated_at),
        }
    }
}

/// Harbor's `Tag`.
#[derive(Debug, Serialize)]
pub(super) struct TagResp {
    id: i64,
    repository_id: i64,
    artifact_id: i64,
    name: String,
    push_time: String,
    pull_time: &'static str,
    immutable: bool,
}

impl TagResp {
    fn new(repository_id: i64, artifact_id: i64, t: &TagInfo, immutable: bool) -> Self {
        TagResp {
            id: 0,
            repository_id,
            artifact_id,
            name: t.name.clone(),
            push_time: time(t.updated_at),
            pull_time: NEVER,
            immutable,
        }
    }
}

/// `tags` of an artifact of `repo` as Harbor's `Tag`s, each `immutable` as
/// the project's rules say.
async fn tag_resps(
    state: &AppState,
    repo: &RepositoryName,
    repository_id: i64,
    artifact_id: i64,
    tags: Vec<&TagInfo>,
) -> ApiResult<Vec<TagResp>> {
    let mut out = Vec::new();
    for t in tags {
        let immutable = state
            .registry
            .immutable_rule_for(repo, &t.name)
            .await?
            .is_some();
        out.push(TagResp::new(repository_id, artifact_id, t, immutable));
    }
    Ok(out)
}

/// Harbor's `Reference`: a child of an index.
#[derive(Debug, Serialize)]
pub(super) struct ReferenceResp {
    parent_id: i64,
    child_digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

/// Harbor's `Artifact`.
#[derive(Debug, Serialize)]
pub(super) struct ArtifactResp {
    id: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: String,
    manifest_media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    project_id: i64,
    repository_id: i64,
    repository_name: String,
    digest: String,
    size: u64,
    push_time: String,
    /// When it was last pulled (recorded in batches, a second or so late).
    pull_time: String,
    extra_attrs: BTreeMap<String, serde_json::Value>,
    annotations: BTreeMap<String, String>,
    references: Vec<ReferenceResp>,
    tags: Vec<TagResp>,
    /// With `with_label=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<LabelResp>>,
}

/// `with_label=` of the artifact reads.
#[derive(Debug, Deserialize)]
pub(super) struct ArtifactQuery {
    with_label: Option<bool>,
}

/// The full repository name from the path: `{project}/{repository}`, where a
/// nested repository arrives with its `/` double-encoded (`a%252Fb`).
pub(super) fn repo_name(project: &Project, repository: &str) -> ApiResult<RepositoryName> {
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

async fn artifact_resp(
    state: &AppState,
    project: &Project,
    repository_id: i64,
    repo: &RepositoryName,
    a: &ArtifactInfo,
    labels: Option<Vec<LabelResp>>,
) -> ApiResult<ArtifactResp> {
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
    // Sizes come from stored manifests: add without wrapping.
    let size = parsed
        .iter()
        .flat_map(|m| m.config.iter().chain(&m.layers).chain(&m.manifests))
        .fold(content.payload.len() as u64, |sum, d| {
            sum.saturating_add(d.size)
        });
    let is_index = media_type::is_index(&a.media_type);
    let image_config = matches!(
        a.artifact_type.as_deref(),
        Some("application/vnd.oci.image.config.v1+json")
            | Some("application/vnd.docker.container.image.v1+json")
    );
    let references = parsed
        .as_ref()
        .map(|m| {
            m.manifests
                .iter()
                .map(|c| ReferenceResp {
                    parent_id: a.id,
                    child_digest: c.digest.to_string(),
                    platform: c.platform.clone(),
                    annotations: c.annotations.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ArtifactResp {
        id: a.id,
        kind: if is_index || image_config {
            "IMAGE"
        } else {
            "UNKNOWN"
        },
        media_type: if is_index {
            a.media_type.clone()
        } else {
            a.artifact_type.clone().unwrap_or_default()
        },
        manifest_media_type: a.media_type.clone(),
        artifact_type: a.artifact_type.clone(),
        project_id: project.id,
        repository_id,
        repository_name: repo.to_string(),
        digest: a.digest.to_string(),
        size,
        push_time: time(a.pushed_at),
        pull_time: a.pulled_at.map_or_else(|| NEVER.to_owned(), time),
        extra_attrs: BTreeMap::new(),
        annotations: parsed.map(|m| m.annotations).unwrap_or_default(),
        references,
        tags: tag_resps(state, repo, repository_id, a.id, a.tags.iter().collect()).await?,
        labels,
    })
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
    headers: HeaderMap,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<RepositoryResp>> {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Repository, Action::List)
        .await?;
    // Harbor's `q=name=~x` (and `name=x`) match the full name.
    let name = list.q.text("name").map_err(HarborError::bad_request)?;
    let prefix = format!("{}/", p.name);
    let (contains, exact) = match name {
        Some((v, true)) => (Some(v), None),
        Some((v, false)) => (None, Some(v)),
        None => (None, None),
    };
    let (repos, total) = match exact {
        Some(full) => {
            let found = match RepositoryName::parse(full) {
                Ok(r) if r.as_str().starts_with(&prefix) => {
                    state.registry.meta_store().repository_info(&r).await?
                }
                _ => None,
            };
            let total = u64::from(found.is_some());
            let page = (list.page.page == 1).then_some(found).flatten();
            (page.into_iter().collect(), total)
        }
        None => {
            state
                .registry
                .meta_store()
                .repositories_with_prefix(&prefix, contains, list.page)
                .await?
        }
    };
    Ok(Paged {
        items: repos.iter().map(|r| RepositoryResp::new(&p, r)).collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn get_repository(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Repository, Action::Read)
        .await?;
    let repo = repo_name(&p, &repository)?;
    let r = state
        .registry
        .meta_store()
        .repository_info(&repo)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("repository {repo} not found")))?;
    Ok(json(StatusCode::OK, &RepositoryResp::new(&p, &r)))
}

pub(super) async fn list_artifacts(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository)): Path<(String, String)>,
    headers: HeaderMap,
    list: ListParams,
    HarborQuery(q): HarborQuery<ArtifactQuery>,
    uri: Uri,
) -> ApiResult<Paged<ArtifactResp>> {
    let p = state
        .project_for(&caller, &headers, &key, Resource::Artifact, Action::List)
        .await?;
    let repo = repo_name(&p, &repository)?;
    // As Harbor: a repository without artifacts (or none at all under that
    // name) lists as empty, not as missing.
    let (list_page, total, repository_id) =
        match state.registry.meta_store().repository_info(&repo).await? {
            None => (Vec::new(), 0, 0),
            Some(info) => {
                let (l, total) = state
                    .registry
                    .meta_store()
                    .list_artifacts(&repo, list.page)
                    .await?;
                (l, total, info.id)
            }
        };
    let mut labels = if q.with_label == Some(true) {
        let digests: Vec<Digest> = list_page.iter().map(|a| a.digest.clone()).collect();
        Some(super::labels::on_artifacts(&state, &repo, &digests).await?)
    } else {
        None
    };
    let mut items = Vec::with_capacity(list_page.len());
    for a in &list_page {
        let on = labels
            .as_mut()
            .map(|l| l.remove(&a.digest).unwrap_or_default());
        items.push(artifact_resp(&state, &p, repository_id, &repo, a, on).await?);
    }
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

/// The artifact a path names, after checking `action` on `resource`.
pub(super) async fn one(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    (key, repository, reference): (&str, &str, &str),
    resource: Resource,
    action: Action,
) -> ApiResult<(Project, RepositoryName, ArtifactInfo)> {
    let p = state
        .project_for(caller, headers, key, resource, action)
        .await?;
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
    HarborQuery(q): HarborQuery<ArtifactQuery>,
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
    let labels = if q.with_label == Some(true) {
        let mut on =
            super::labels::on_artifacts(&state, &repo, std::slice::from_ref(&a.digest)).await?;
        Some(on.remove(&a.digest).unwrap_or_default())
    } else {
        None
    };
    Ok(json(
        StatusCode::OK,
        &artifact_resp(&state, &p, repository_id, &repo, &a, labels).await?,
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
    if let Some(webhooks) = &state.webhooks {
        webhooks.notify(crate::webhook::WebhookEvent::Artifact {
            kind: crate::webhook::ArtifactAction::Delete,
            repository: repo.clone(),
            digest: a.digest.clone(),
            tags: a.tags.iter().map(|t| t.name.clone()).collect(),
            operator: caller.0.name().to_owned(),
            at: std::time::SystemTime::now(),
        });
    }
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
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<TagResp>> {
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
    let name = list.q.matcher("name").map_err(HarborError::bad_request)?;
    let selected: Vec<&TagInfo> = a.tags.iter().filter(|t| name.matches(&t.name)).collect();
    // An artifact's tags are few and already in memory: page them here.
    let total = selected.len() as u64;
    let items = tag_resps(
        &state,
        &repo,
        repository_id,
        a.id,
        super::paging::slice(&selected, list.page).to_vec(),
    )
    .await?;
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn create_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<HarborJson<TagReq>, HarborError>,
) -> ApiResult {
    let (_, repo, a) = one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::Tag,
        Action::Create,
    )
    .await?;
    let HarborJson(r) = body?;
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
    state
        .registry
        .put_manifest(
            &repo,
            &Reference::Tag(tag.clone()),
            Some(&content.media_type),
            content.payload,
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
    Ok(created(&format!(
        "{}/{tag}",
        uri.path().trim_end_matches('/')
    )))
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
