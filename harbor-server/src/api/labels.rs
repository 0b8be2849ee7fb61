//! `/labels` (global labels, made by system administrators, and project
//! labels, made by a project's administrators and maintainers) and the
//! labels on an artifact (`.../artifacts/{reference}/labels`), in Harbor's
//! `Label` shape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use harbor_auth::{Action, Resource};
use harbor_core::{Digest, Label, LabelScope, LabelStore, Project, RepositoryName};
use serde::{Deserialize, Serialize};

use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery,
    ListParams, Paged,
};

/// The longest label name, as Harbor allows.
const MAX_NAME: usize = 128;

/// Harbor's `Label` as sent.
#[derive(Debug, Deserialize)]
pub(super) struct LabelReq {
    id: Option<i64>,
    name: Option<String>,
    description: Option<String>,
    color: Option<String>,
    scope: Option<String>,
    project_id: Option<i64>,
}

/// Harbor's `Label` as answered.
#[derive(Debug, Serialize)]
pub(crate) struct LabelResp {
    id: i64,
    name: String,
    description: String,
    color: String,
    scope: &'static str,
    project_id: i64,
    creation_time: String,
    update_time: String,
}

impl From<&Label> for LabelResp {
    fn from(l: &Label) -> Self {
        LabelResp {
            id: l.id,
            name: l.name.clone(),
            description: l.description.clone(),
            color: l.color.clone(),
            scope: l.scope.as_str(),
            project_id: l.project_id.unwrap_or(0),
            creation_time: time(l.creation_time),
            update_time: time(l.update_time),
        }
    }
}

/// `scope=`, `project_id=`, `name=` of `GET /labels`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    scope: Option<String>,
    project_id: Option<i64>,
    name: Option<String>,
}

fn store(state: &AppState) -> ApiResult<&Arc<dyn LabelStore>> {
    state.labels.as_ref().ok_or_else(|| {
        HarborError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "labels are not enabled",
        )
    })
}

fn scope_of(raw: Option<&str>) -> ApiResult<LabelScope> {
    match raw {
        None | Some("") => Ok(LabelScope::Global),
        Some(s) => LabelScope::parse(s).ok_or_else(|| {
            HarborError::bad_request(format!("scope {s:?} is not g (global) or p (project)"))
        }),
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() {
        return Err(HarborError::bad_request("name is required"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(HarborError::bad_request(format!(
            "name is longer than {MAX_NAME} characters"
        )));
    }
    Ok(())
}

/// The project of a project label, after checking `action` on its labels;
/// for a global label, checks the caller may act on global labels
/// (reading: anyone signed in; changing: system administrators and robots
/// with the system `label` permission).
async fn authorize(
    state: &AppState,
    caller: &Caller,
    scope: LabelScope,
    project_id: Option<i64>,
    action: Action,
) -> ApiResult<Option<Project>> {
    match scope {
        LabelScope::Global => {
            if matches!(action, Action::Read | Action::List) {
                caller.require_user()?;
            } else {
                caller.require_system("label", action.as_str())?;
            }
            Ok(None)
        }
        LabelScope::Project => {
            let id = project_id
                .filter(|id| *id > 0)
                .ok_or_else(|| HarborError::bad_request("project_id is required for scope p"))?;
            let p = state
                .project_for(
                    caller,
                    &HeaderMap::new(),
                    &id.to_string(),
                    Resource::Label,
                    action,
                )
                .await?;
            Ok(Some(p))
        }
    }
}

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| HarborError::bad_request(format!("label id {raw:?} is not an id")))
}

/// The label `raw`, after checking `action` on it.
async fn label_for(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    action: Action,
) -> ApiResult<Label> {
    let id = id_of(raw)?;
    let label = store(state)?.label(id).await?;
    let Some(label) = label else {
        caller.require_user()?;
        return Err(HarborError::not_found(format!("label {id} not found")));
    };
    authorize(state, caller, label.scope, label.project_id, action).await?;
    Ok(label)
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(q): HarborQuery<ListQuery>,
    uri: Uri,
) -> ApiResult<Paged<LabelResp>> {
    let scope = scope_of(q.scope.as_deref())?;
    authorize(&state, &caller, scope, q.project_id, Action::List).await?;
    let project_id = match scope {
        LabelScope::Global => None,
        LabelScope::Project => q.project_id,
    };
    let name = match q.name.as_deref() {
        Some(n) => Some(n.to_owned()),
        None => list
            .q
            .text("name")
            .map_err(HarborError::bad_request)?
            .map(|(v, _)| v.to_owned()),
    };
    let (items, total) = store(&state)?
        .labels(scope, project_id, name.as_deref(), list.page)
        .await?;
    Ok(Paged {
        items: items.iter().map(LabelResp::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<LabelReq>, HarborError>,
) -> ApiResult {
    caller.require_user()?;
    let HarborJson(req) = body?;
    let scope = scope_of(req.scope.as_deref())?;
    let project = authorize(&state, &caller, scope, req.project_id, Action::Create).await?;
    let name = req.name.unwrap_or_default();
    check_name(&name)?;
    let label = Label {
        id: 0,
        name,
        description: req.description.unwrap_or_default(),
        color: req.color.unwrap_or_default(),
        scope,
        project_id: project.map(|p| p.id),
        creation_time: SystemTime::UNIX_EPOCH,
        update_time: SystemTime::UNIX_EPOCH,
    };
    let stored = store(&state)?.create_label(&label).await?;
    Ok(created(&format!("/api/v2.0/labels/{}", stored.id)))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let label = label_for(&state, &caller, &id, Action::Read).await?;
    Ok(json(StatusCode::OK, &LabelResp::from(&label)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<LabelReq>, HarborError>,
) -> ApiResult {
    let mut label = label_for(&state, &caller, &id, Action::Update).await?;
    let HarborJson(req) = body?;
    if let Some(name) = req.name {
        check_name(&name)?;
        label.name = name;
    }
    if let Some(d) = req.description {
        label.description = d;
    }
    if let Some(c) = req.color {
        label.color = c;
    }
    // Scope and project are fixed at creation, as in Harbor.
    if req.scope.is_some_and(|s| s != label.scope.as_str())
        || req
            .project_id
            .is_some_and(|p| p != 0 && Some(p) != label.project_id)
    {
        return Err(HarborError::bad_request(
            "a label's scope and project cannot change",
        ));
    }
    if !store(&state)?.update_label(&label).await? {
        return Err(HarborError::not_found(format!(
            "label {} not found",
            label.id
        )));
    }
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let label = label_for(&state, &caller, &id, Action::Delete).await?;
    store(&state)?.delete_label(label.id).await?;
    Ok(StatusCode::OK.into_response())
}

/// The labels on each of `digests`, by digest, when labels are on.
pub(crate) async fn on_artifacts(
    state: &AppState,
    repo: &RepositoryName,
    digests: &[Digest],
) -> ApiResult<BTreeMap<Digest, Vec<LabelResp>>> {
    let mut out: BTreeMap<Digest, Vec<LabelResp>> = BTreeMap::new();
    if let Some(labels) = &state.labels {
        for (digest, label) in labels.artifact_labels(repo, digests).await? {
            out.entry(digest).or_default().push(LabelResp::from(&label));
        }
    }
    Ok(out)
}

/// `POST .../artifacts/{reference}/labels` with `{"id": N}`: the label must
/// be global or the artifact's project's.
pub(super) async fn add_to_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<HarborJson<LabelReq>, HarborError>,
) -> ApiResult {
    let (p, repo, a) = super::artifacts::one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::ArtifactLabel,
        Action::Create,
    )
    .await?;
    let HarborJson(req) = body?;
    let id = req
        .id
        .filter(|id| *id > 0)
        .ok_or_else(|| HarborError::bad_request("the label's id is required"))?;
    let store = store(&state)?;
    let label = store
        .label(id)
        .await?
        .filter(|l| l.scope == LabelScope::Global || l.project_id == Some(p.id))
        .ok_or_else(|| {
            HarborError::bad_request(format!(
                "label {id} is neither global nor project {}'s",
                p.name
            ))
        })?;
    if !store.add_artifact_label(&repo, &a.digest, label.id).await? {
        return Err(HarborError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("label {} is already on the artifact", label.name),
        ));
    }
    Ok(StatusCode::OK.into_response())
}

/// `DELETE .../artifacts/{reference}/labels/{label_id}`.
pub(super) async fn remove_from_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((key, repository, reference, label)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, repo, a) = super::artifacts::one(
        &state,
        &headers,
        &caller,
        (&key, &repository, &reference),
        Resource::ArtifactLabel,
        Action::Delete,
    )
    .await?;
    let id = id_of(&label)?;
    if !store(&state)?
        .remove_artifact_label(&repo, &a.digest, id)
        .await?
    {
        return Err(HarborError::not_found(format!(
            "label {id} is not on the artifact"
        )));
    }
    Ok(StatusCode::OK.into_response())
}
