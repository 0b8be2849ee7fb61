//! `/replication/{policies,executions}`: policies, executions, tasks and task
//! logs, in Harbor's `ReplicationPolicy`, `ReplicationExecution` and
//! `ReplicationTask` shapes. System administrators only.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harbor_core::{AuditOperation, AuditResource, Execution, RunStatus, TaskRecord, TriggerKind};
use harbor_replicate::{parse_policy, Filter, Policy, RegistryRef, ReplicationService, Trigger};
use serde::{Deserialize, Serialize};

use super::paging::slice;
use super::registries::{find_registry, id_of, name_filter, service, RegistryResp};
use super::{
    created, json, time, ApiResult, AppState, Caller, HarborError, HarborJson, HarborQuery,
    ListParams, Paged,
};

/// Harbor's `StartReplicationExecution`.
#[derive(Debug, Deserialize)]
pub(super) struct StartExecution {
    policy_id: i64,
}

/// `name=` of `GET /replication/policies`.
#[derive(Debug, Deserialize)]
pub(super) struct PolicyQuery {
    name: Option<String>,
}

/// `policy_id=`, `status=`, `trigger=` of `GET /replication/executions`.
#[derive(Debug, Deserialize)]
pub(super) struct ExecutionQuery {
    policy_id: Option<i64>,
    status: Option<String>,
    trigger: Option<String>,
}

/// `status=`, `resource_type=` of `GET .../tasks`.
#[derive(Debug, Deserialize)]
pub(super) struct TaskQuery {
    status: Option<String>,
    resource_type: Option<String>,
}

/// Harbor's `ReplicationPolicy`: both ends whole (this server is registry
/// 0, `Local`), `deletion` beside `replicate_deletion` for older clients.
#[derive(Debug, Serialize)]
pub(super) struct PolicyResp {
    id: i64,
    name: String,
    description: String,
    src_registry: RegistryResp,
    dest_registry: RegistryResp,
    dest_namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_namespace_replace_count: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<Trigger>,
    filters: Vec<Filter>,
    replicate_deletion: bool,
    deletion: bool,
    #[serde(rename = "override")]
    override_tags: bool,
    enabled: bool,
    creation_time: String,
    update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed: Option<i64>,
    copy_by_chunk: bool,
    single_active_replication: bool,
}

/// Harbor's `ReplicationExecution`.
#[derive(Debug, Serialize)]
pub(super) struct ExecutionResp {
    id: i64,
    policy_id: i64,
    status: &'static str,
    status_text: String,
    trigger: &'static str,
    total: u64,
    failed: u64,
    succeed: u64,
    in_progress: u64,
    stopped: u64,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

impl From<&Execution> for ExecutionResp {
    fn from(e: &Execution) -> Self {
        ExecutionResp {
            id: e.id,
            policy_id: e.policy_id,
            status: e.status.as_str(),
            status_text: e.status_text.clone(),
            trigger: e.trigger.as_str(),
            total: e.total,
            failed: e.failed,
            succeed: e.succeeded,
            in_progress: e.in_progress,
            stopped: e.stopped,
            start_time: time(e.start_time),
            end_time: e.end_time.map(time),
        }
    }
}

/// Harbor's `ReplicationTask` (with `attempts` beyond it).
#[derive(Debug, Serialize)]
pub(super) struct TaskResp {
    id: i64,
    execution_id: i64,
    status: &'static str,
    operation: &'static str,
    resource_type: &'static str,
    src_resource: String,
    dst_resource: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

impl From<&TaskRecord> for TaskResp {
    fn from(t: &TaskRecord) -> Self {
        TaskResp {
            id: t.id,
            execution_id: t.execution_id,
            status: t.status.as_str(),
            operation: t.operation.as_str(),
            resource_type: "artifact",
            src_resource: t.src_resource.clone(),
            dst_resource: t.dst_resource.clone(),
            attempts: t.attempts,
            start_time: t.start_time.map(time),
            end_time: t.end_time.map(time),
        }
    }
}

/// One end of a policy as Harbor shows it: the stored endpoint, or `Local`.
async fn end(
    state: &AppState,
    svc: &ReplicationService,
    r: Option<RegistryRef>,
) -> ApiResult<RegistryResp> {
    match r {
        None => Ok(RegistryResp::local(state)),
        Some(r) => match svc.store.registry(r.id).await? {
            Some(rec) => Ok(RegistryResp::new(svc, &rec)),
            None => Err(HarborError::not_found(format!(
                "registry {} of the policy not found",
                r.id
            ))),
        },
    }
}

async fn policy_resp(
    state: &AppState,
    svc: &ReplicationService,
    id: i64,
    definition: &str,
    created: SystemTime,
    updated: SystemTime,
) -> ApiResult<PolicyResp> {
    let p = parse_policy(id, definition)?;
    Ok(PolicyResp {
        id: p.id,
        name: p.name,
        description: p.description,
        src_registry: end(state, svc, p.src_registry).await?,
        dest_registry: end(state, svc, p.dest_registry).await?,
        dest_namespace: p.dest_namespace.unwrap_or_default(),
        dest_namespace_replace_count: p.dest_namespace_replace_count,
        trigger: p.trigger,
        filters: p.filters,
        replicate_deletion: p.replicate_deletion,
        deletion: p.replicate_deletion,
        override_tags: p.override_tags,
        enabled: p.enabled,
        creation_time: time(created),
        update_time: time(updated),
        speed: p.speed,
        copy_by_chunk: p.copy_by_chunk,
        single_active_replication: p.single_active_replication,
    })
}

/// A policy from a request, checked, with its remote registry existing.
async fn checked(svc: &ReplicationService, mut policy: Policy) -> ApiResult<String> {
    policy.validate()?;
    let remote = policy
        .dest_registry
        .as_ref()
        .or(policy.src_registry.as_ref())
        .map(|r| r.id);
    if let Some(id) = remote {
        find_registry(svc, id).await?;
    }
    policy.id = 0;
    policy.creation_time = None;
    policy.update_time = None;
    serde_json::to_string(&policy)
        .map_err(|e| HarborError::bad_request(format!("the policy does not serialize: {e}")))
}

pub(super) async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(params): HarborQuery<PolicyQuery>,
    uri: Uri,
) -> ApiResult<Paged<PolicyResp>> {
    caller.require_system("replication-policy", "list")?;
    let svc = service(&state)?;
    let mut all = svc.store.list_policies().await?;
    let selected = name_filter(&list, params.name.as_deref())?;
    all.retain(|p| selected(&p.name));
    let mut items = Vec::new();
    for p in slice(&all, list.page) {
        items
            .push(policy_resp(&state, svc, p.id, &p.definition, p.created_at, p.updated_at).await?);
    }
    Ok(Paged {
        items,
        total: all.len() as u64,
        page: list.page,
        uri,
    })
}

pub(super) async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<Policy>, HarborError>,
) -> ApiResult {
    caller.require_system("replication-policy", "create")?;
    let HarborJson(policy) = body?;
    let svc = service(&state)?;
    let name = policy.name.clone();
    let definition = checked(svc, policy).await?;
    let rec = svc.store.create_policy(&name, &definition).await?;
    state
        .audit(
            None,
            &caller,
            rec.name.clone(),
            AuditResource::ReplicationPolicy,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!(
        "/api/v2.0/replication/policies/{}",
        rec.id
    )))
}

pub(super) async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("replication-policy", "read")?;
    let svc = service(&state)?;
    let p = svc
        .store
        .policy(id_of(&id)?)
        .await?
        .ok_or_else(|| HarborError::not_found("policy not found"))?;
    Ok(json(
        StatusCode::OK,
        &policy_resp(&state, svc, p.id, &p.definition, p.created_at, p.updated_at).await?,
    ))
}

pub(super) async fn update_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<HarborJson<Policy>, HarborError>,
) -> ApiResult {
    caller.require_system("replication-policy", "update")?;
    let HarborJson(policy) = body?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    svc.store
        .policy(id)
        .await?
        .ok_or_else(|| HarborError::not_found("policy not found"))?;
    let name = policy.name.clone();
    let definition = checked(svc, policy).await?;
    svc.store.update_policy(id, &name, &definition).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("replication-policy", "delete")?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    let (running, _) = svc
        .store
        .list_executions(
            Some(id),
            harbor_core::Page {
                page: 1,
                page_size: 100,
            },
        )
        .await?;
    if running.iter().any(|e| !e.status.is_final()) {
        return Err(HarborError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "the policy has a running execution; stop it first",
        ));
    }
    if !svc.store.delete_policy(id).await? {
        return Err(HarborError::not_found("policy not found"));
    }
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn start_execution(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<HarborJson<StartExecution>, HarborError>,
) -> ApiResult {
    caller.require_system("replication", "create")?;
    let HarborJson(r) = body?;
    let svc = service(&state)?;
    svc.store
        .policy(r.policy_id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("policy {} not found", r.policy_id)))?;
    let e = svc.start(r.policy_id).await?;
    Ok(created(&format!(
        "/api/v2.0/replication/executions/{}",
        e.id
    )))
}

pub(super) async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    HarborQuery(q): HarborQuery<ExecutionQuery>,
    uri: Uri,
) -> ApiResult<Paged<ExecutionResp>> {
    caller.require_system("replication", "list")?;
    let svc = service(&state)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            RunStatus::parse(s)
                .ok_or_else(|| HarborError::bad_request(format!("unknown status {s:?}")))
        })
        .transpose()?;
    let trigger = q
        .trigger
        .as_deref()
        .map(|t| {
            TriggerKind::parse(t)
                .ok_or_else(|| HarborError::bad_request(format!("unknown trigger {t:?}")))
        })
        .transpose()?;
    let (items, total) = if status.is_none() && trigger.is_none() {
        let (list, total) = svc.store.list_executions(q.policy_id, list.page).await?;
        (list.iter().map(ExecutionResp::from).collect(), total)
    } else {
        // Filtered by status or trigger: read them all (newest first) and
        // page what is left.
        let mut all = Vec::new();
        let mut page = harbor_core::Page {
            page: 1,
            page_size: 1000,
        };
        loop {
            let (chunk, total) = svc.store.list_executions(q.policy_id, page).await?;
            let done = chunk.is_empty() || page.page.saturating_mul(page.page_size) >= total;
            all.extend(chunk.into_iter().filter(|e| {
                status.is_none_or(|s| e.status == s) && trigger.is_none_or(|t| e.trigger == t)
            }));
            if done {
                break;
            }
            page.page += 1;
        }
        let items = slice(&all, list.page)
            .iter()
            .map(ExecutionResp::from)
            .collect();
        (items, all.len() as u64)
    };
    Ok(Paged {
        items,
        total,
        page: list.page,
        uri,
    })
}

pub(super) async fn get_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("replication", "read")?;
    let svc = service(&state)?;
    let e = svc
        .store
        .execution(id_of(&id)?)
        .await?
        .ok_or_else(|| HarborError::not_found("execution not found"))?;
    Ok(json(StatusCode::OK, &ExecutionResp::from(&e)))
}

/// `PUT /replication/executions/{id}`: stops it.
pub(super) async fn stop_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_system("replication", "create")?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    svc.store
        .execution(id)
        .await?
        .ok_or_else(|| HarborError::not_found("execution not found"))?;
    svc.runner().stop(id).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
    HarborQuery(q): HarborQuery<TaskQuery>,
    uri: Uri,
) -> ApiResult<Paged<TaskResp>> {
    caller.require_system("replication", "list")?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    svc.store
        .execution(id)
        .await?
        .ok_or_else(|| HarborError::not_found("execution not found"))?;
    let mut tasks = svc.store.tasks(id).await?;
    if let Some(s) = q.status.as_deref() {
        tasks.retain(|t| t.status.as_str() == s);
    }
    if q.resource_type
        .as_deref()
        .is_some_and(|r| r != "artifact" && r != "image")
    {
        tasks.clear();
    }
    Ok(Paged {
        items: slice(&tasks, list.page)
            .iter()
            .map(TaskResp::from)
            .collect(),
        total: tasks.len() as u64,
        page: list.page,
        uri,
    })
}

pub(super) async fn task_log(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_system("replication", "read")?;
    let svc = service(&state)?;
    let (id, task) = (id_of(&id)?, id_of(&task)?);
    let t = svc.store.task(task).await?.filter(|t| t.execution_id == id);
    let t = t.ok_or_else(|| HarborError::not_found("task not found"))?;
    let log = svc.store.task_log(t.id).await?.unwrap_or_default();
    let mut resp = (StatusCode::OK, log).into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    Ok(resp)
}
