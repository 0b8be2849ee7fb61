//! `/retentions...`: Harbor's tag retention API. A policy belongs to the
//! project its `scope.ref` names (one per project, named by the project's
//! `retention_id` metadata); permissions are Harbor's `tag-retention`
//! resource of that project (`operate`, run and stop, is `Update` here).

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_auth::{Action, Resource};
use harbor_core::{
    ErrorCode, JobTrigger, Project, RetentionExecution, RetentionPolicy, RetentionTask,
    TEMPLATE_IDS,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::registries::id_of;
use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, ListParams, Paged,
};
use crate::retention::shape::{self, PolicyBody};
use crate::retention::{policy_not_found, RetentionService};

fn service(state: &AppState) -> ApiResult<&RetentionService> {
    state
        .retention
        .as_deref()
        .ok_or_else(|| HarborError::not_found("tag retention is not enabled on this server"))
}

/// The policy `raw` names and its project, once the caller may do
/// `action` on the project's `tag-retention`.
async fn policy_for(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    action: Action,
) -> ApiResult<(RetentionPolicy, Project)> {
    // No project grants anonymous callers any of this: 401 before looking.
    caller.require_user()?;
    let svc = service(state)?;
    let id = id_of(raw)?;
    let policy = svc
        .store
        .retention_policy(id)
        .await?
        .ok_or_else(|| HarborError::from(policy_not_found(id)))?;
    let project = state
        .auth
        .identity
        .project_by_id(policy.spec.project_id)
        .await?
        .ok_or_else(|| HarborError::from(policy_not_found(id)))?;
    state
        .require(caller, &project, Resource::TagRetention, action)
        .await?;
    Ok((policy, project))
}

/// `GET /retentions/metadatas`: the templates, their parameters and the
/// selectors, as Harbor lists them.
pub(super) async fn metadatas(caller: Caller) -> ApiResult {
    caller.require_user()?;
    let count = |id: &str, text: &str, unit: &str| {
        json!({
            "rule_template": id,
            "display_text": text,
            "action": shape::ACTION,
            "params": [{ "type": "int", "unit": unit, "required": true }],
        })
    };
    let templates = vec![
        count(
            TEMPLATE_IDS[0],
            "retain the most recently pushed # artifacts",
            "count",
        ),
        count(
            TEMPLATE_IDS[1],
            "retain the most recently pulled # artifacts",
            "count",
        ),
        count(
            TEMPLATE_IDS[2],
            "retain the artifacts pushed within the last # days",
            "days",
        ),
        count(
            TEMPLATE_IDS[3],
            "retain the artifacts pulled within the last # days",
            "days",
        ),
        json!({
            "rule_template": TEMPLATE_IDS[4],
            "display_text": "retain always",
            "action": shape::ACTION,
            "params": [],
        }),
    ];
    Ok(json(
        StatusCode::OK,
        &json!({
            "templates": templates,
            "scope_selectors": [{
                "display_text": "Repositories",
                "kind": "doublestar",
                "decorations": ["repoMatches", "repoExcludes"],
            }],
            "tag_selectors": [
                {
                    "display_text": "Labels",
                    "kind": shape::LABEL,
                    "decorations": ["withLabels", "withoutLabels"],
                },
                {
                    "display_text": "Tags",
                    "kind": "doublestar",
                    "decorations": ["matches", "excludes"],
                },
            ],
        }),
    ))
}

/// `POST /retentions`: the policy of the project `scope.ref` names.
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    body: Result<HarborJson<PolicyBody>, HarborError>,
) -> ApiResult {
    caller.require_user()?;
    let svc = service(&state)?;
    let HarborJson(body) = body?;
    let project_id = shape::scope_project(&body)?;
    let project = state
        .auth
        .identity
        .project_by_id(project_id)
        .await?
        .ok_or_else(|| HarborError::bad_request(format!("project {project_id} not found")))?;
    state
        .require(&caller, &project, Resource::TagRetention, Action::Create)
        .await?;
    let spec = shape::policy_spec(&body, project.id)?;
    let policy = svc.create_policy(&spec).await.map_err(|e| {
        // Harbor answers a second policy for a project with 400.
        if e.code() == ErrorCode::Conflict {
            HarborError::bad_request(e.message())
        } else {
            e.into()
        }
    })?;
    tracing::info!(project = %project.name, policy = policy.id, by = %caller.0, "retention policy created");
    Ok(created(&format!(
        "{}/{}",
        uri.path().trim_end_matches('/'),
        policy.id
    )))
}

/// `GET /retentions/{id}`.
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let (policy, _) = policy_for(&state, &caller, &id, Action::Read).await?;
    Ok(json(StatusCode::OK, &shape::policy_json(&policy)))
}

/// `PUT /retentions/{id}`: replaces the rules and the schedule; the
/// project stays.
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<PolicyBody>, HarborError>,
) -> ApiResult {
    let (policy, project) = policy_for(&state, &caller, &id, Action::Update).await?;
    let HarborJson(body) = body?;
    if body.scope.is_some() && shape::scope_project(&body)? != project.id {
        return Err(HarborError::bad_request(
            "a retention policy cannot move to another project",
        ));
    }
    let spec = shape::policy_spec(&body, project.id)?;
    if !service(&state)?.update_policy(policy.id, &spec).await? {
        return Err(policy_not_found(policy.id).into());
    }
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /retentions/{id}`: the policy and its history.
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let (policy, _) = policy_for(&state, &caller, &id, Action::Delete).await?;
    service(&state)?.delete_policy(&policy).await?;
    Ok(StatusCode::OK.into_response())
}

/// Harbor's `RetentionExecution`.
#[derive(Debug, Serialize)]
pub(super) struct ExecutionResp {
    id: i64,
    policy_id: i64,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    status: &'static str,
    trigger: &'static str,
    dry_run: bool,
}

impl From<&RetentionExecution> for ExecutionResp {
    fn from(e: &RetentionExecution) -> Self {
        ExecutionResp {
            id: e.id,
            policy_id: e.policy_id,
            start_time: time(e.start_time),
            end_time: e.end_time.map(time),
            status: e.status.as_str(),
            trigger: e.trigger.as_str(),
            dry_run: e.dry_run,
        }
    }
}

/// `GET /retentions/{id}/executions`, newest first.
pub(super) async fn executions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<ExecutionResp>> {
    let (policy, _) = policy_for(&state, &caller, &id, Action::List).await?;
    let (items, total) = service(&state)?
        .store
        .list_retention_executions(policy.id, list.page)
        .await?;
    Ok(Paged {
        items: items.iter().map(ExecutionResp::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

/// The body of `POST /retentions/{id}/executions`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TriggerBody {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /retentions/{id}/executions`: runs the policy now.
pub(super) async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    body: Result<HarborJson<TriggerBody>, HarborError>,
) -> ApiResult {
    let (policy, project) = policy_for(&state, &caller, &id, Action::Update).await?;
    let HarborJson(body) = body?;
    let execution = service(&state)?
        .trigger(policy.id, body.dry_run, JobTrigger::Manual)
        .await?;
    tracing::info!(project = %project.name, execution = execution.id, dry_run = body.dry_run, by = %caller.0, "retention run requested");
    Ok(created(&format!(
        "{}/{}",
        uri.path().trim_end_matches('/'),
        execution.id
    )))
}

/// The execution `raw` names, of `policy`.
async fn execution_of(
    state: &AppState,
    policy: &RetentionPolicy,
    raw: &str,
) -> ApiResult<RetentionExecution> {
    let id = id_of(raw)?;
    service(state)?
        .store
        .retention_execution(id)
        .await?
        .filter(|e| e.policy_id == policy.id)
        .ok_or_else(|| HarborError::not_found(format!("retention execution {id} not found")))
}

/// The body of `PATCH /retentions/{id}/executions/{eid}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct OperateBody {
    #[serde(default)]
    action: Option<String>,
}

/// `PATCH /retentions/{id}/executions/{eid}` with `{action: "stop"}`.
pub(super) async fn operate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, eid)): Path<(String, String)>,
    body: Result<HarborJson<OperateBody>, HarborError>,
) -> ApiResult {
    let (policy, _) = policy_for(&state, &caller, &id, Action::Update).await?;
    let HarborJson(body) = body?;
    if body.action.as_deref() != Some("stop") {
        return Err(HarborError::bad_request(
            "only the action \"stop\" is supported",
        ));
    }
    let execution = execution_of(&state, &policy, &eid).await?;
    // Stopping an execution that has ended is a no-op, as in Harbor.
    service(&state)?.stop(execution.id).await?;
    Ok(StatusCode::OK.into_response())
}

/// Harbor's `RetentionExecutionTask`.
#[derive(Debug, Serialize)]
pub(super) struct TaskResp {
    id: i64,
    execution_id: i64,
    repository: String,
    job_id: String,
    status: &'static str,
    status_code: i64,
    status_revision: i64,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    total: u64,
    retained: u64,
}

impl From<&RetentionTask> for TaskResp {
    fn from(t: &RetentionTask) -> Self {
        TaskResp {
            id: t.id,
            execution_id: t.execution_id,
            repository: t.repository.clone(),
            job_id: String::new(),
            status: t.status.as_str(),
            status_code: match t.status {
                harbor_core::RetentionStatus::InProgress => 2,
                harbor_core::RetentionStatus::Stopped => 3,
                _ => 4,
            },
            status_revision: 0,
            start_time: time(t.start_time),
            end_time: t.end_time.map(time),
            total: t.total,
            retained: t.retained,
        }
    }
}

/// `GET /retentions/{id}/executions/{eid}/tasks`: one per repository.
pub(super) async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, eid)): Path<(String, String)>,
    list: ListParams,
    uri: Uri,
) -> ApiResult<Paged<TaskResp>> {
    let (policy, _) = policy_for(&state, &caller, &id, Action::List).await?;
    let execution = execution_of(&state, &policy, &eid).await?;
    let (items, total) = service(&state)?
        .store
        .list_retention_tasks(execution.id, list.page)
        .await?;
    Ok(Paged {
        items: items.iter().map(TaskResp::from).collect(),
        total,
        page: list.page,
        uri,
    })
}

/// `GET /retentions/{id}/executions/{eid}/tasks/{tid}`: the task's log.
pub(super) async fn task_log(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, eid, tid)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (policy, _) = policy_for(&state, &caller, &id, Action::Read).await?;
    let execution = execution_of(&state, &policy, &eid).await?;
    let tid = id_of(&tid)?;
    let svc = service(&state)?;
    let task = svc
        .store
        .retention_task(tid)
        .await?
        .filter(|t| t.execution_id == execution.id)
        .ok_or_else(|| HarborError::not_found(format!("retention task {tid} not found")))?;
    let text = svc
        .store
        .retention_task_log(task.id)
        .await?
        .unwrap_or_default();
    let mut resp = (StatusCode::OK, text).into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    Ok(resp)
}
