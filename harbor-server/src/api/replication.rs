//! `/registries` and `/replication/{policies,executions}`: replication
//! endpoints, policies, executions, tasks and task logs, in Harbor's shapes.
//! System administrators only. Credentials are stored encrypted and never
//! returned.

use harbor_core::{AuditOperation, AuditResource};
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harbor_core::{Execution, RegistryRecord, TaskRecord};
use harbor_replicate::{Credential, Endpoint, Policy, ReplicateError};
use serde::Deserialize;

use super::{
    body, created, json, page_of, paged, param, query_of, time, ApiResult, AppState, Caller,
    HarborError,
};
use harbor_replicate::{parse_policy, ReplicationService};

/// `credential` of a registry request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CredentialReq {
    #[serde(rename = "type")]
    kind: String,
    access_key: Option<String>,
    access_secret: Option<String>,
}

/// A registry request (create, update, ping).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegistryReq {
    id: Option<i64>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    description: Option<String>,
    insecure: Option<bool>,
    credential: Option<CredentialReq>,
    status: Option<String>,
    creation_time: Option<String>,
    update_time: Option<String>,
}

/// `POST /replication/executions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartExecution {
    policy_id: i64,
}

fn service(state: &AppState) -> ApiResult<&Arc<ReplicationService>> {
    state.replication.as_ref().ok_or_else(|| {
        HarborError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "replication is not enabled",
        )
    })
}

/// Harbor's answer to a replication failure: what the caller got wrong is
/// a 400 (with the cause), what does not exist a 404, a policy already
/// running a 412, a broken key or store a 500.
fn invalid(e: ReplicateError) -> HarborError {
    match e {
        ReplicateError::Invalid { message, source } => HarborError::bad_request(match source {
            Some(cause) => format!("{message}: {cause}"),
            None => message,
        }),
        ReplicateError::NotFound { .. } => HarborError::not_found(e.to_string()),
        ReplicateError::Busy(m) => {
            HarborError::new(StatusCode::PRECONDITION_FAILED, "PRECONDITION", m)
        }
        ReplicateError::Core(e) => e.into(),
        e @ (ReplicateError::Secret(_) | ReplicateError::Io { .. }) => {
            tracing::error!(error = %e, "replication failed");
            HarborError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal server error",
            )
        }
        other => HarborError::bad_request(other.to_string()),
    }
}

fn credential(c: &Option<CredentialReq>) -> ApiResult<Option<Credential>> {
    match c {
        None => Ok(None),
        Some(c) => match c.kind.as_str() {
            "basic" => Ok(Some(Credential::Basic {
                username: c.access_key.clone().unwrap_or_default(),
                password: c.access_secret.clone().unwrap_or_default(),
            })),
            "secret" | "bearer" => Ok(Some(Credential::Bearer {
                token: c.access_secret.clone().unwrap_or_default(),
            })),
            other => Err(HarborError::bad_request(format!(
                "credential type {other:?}: basic or secret"
            ))),
        },
    }
}

fn registry_json(
    svc: &ReplicationService,
    r: &RegistryRecord,
    status: Option<&str>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": r.id,
        "name": r.name,
        "type": r.kind,
        "url": r.url,
        "description": r.description,
        "insecure": r.insecure,
        "creation_time": time(r.created_at),
        "update_time": time(r.updated_at),
    });
    if let Some(sealed) = &r.credential {
        // The kind and the user name, never the secret itself.
        let credential = svc
            .secrets
            .open(sealed)
            .ok()
            .and_then(|json| serde_json::from_str::<Credential>(&json).ok());
        v["credential"] = match credential {
            Some(Credential::Basic { username, .. }) => {
                serde_json::json!({ "type": "basic", "access_key": username, "access_secret": "*****" })
            }
            _ => serde_json::json!({ "type": "secret", "access_secret": "*****" }),
        };
    }
    if let Some(s) = status {
        v["status"] = s.into();
    }
    v
}

fn execution_json(e: &Execution) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "policy_id": e.policy_id,
        "status": e.status.as_str(),
        "status_text": e.status_text,
        "trigger": e.trigger,
        "total": e.total,
        "failed": e.failed,
        "succeed": e.succeeded,
        "in_progress": e.in_progress,
        "stopped": e.stopped,
        "start_time": time(e.start_time),
        "end_time": e.end_time.map(time),
    })
}

fn task_json(t: &TaskRecord) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "execution_id": t.execution_id,
        "resource_type": "image",
        "src_resource": t.src_resource,
        "dst_resource": t.dst_resource,
        "operation": t.operation,
        "status": t.status.as_str(),
        "attempts": t.attempts,
        "start_time": t.start_time.map(time),
        "end_time": t.end_time.map(time),
    })
}

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| HarborError::bad_request(format!("{raw:?} is not an id")))
}

async fn find_registry(svc: &ReplicationService, id: i64) -> ApiResult<RegistryRecord> {
    svc.store
        .registry(id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("registry {id} not found")))
}

fn check_registry(svc: &ReplicationService, kind: &str, url: &str) -> ApiResult<()> {
    if !svc.adapters.kinds().iter().any(|k| k == kind) {
        return Err(HarborError::bad_request(format!(
            "registry type {kind:?} is not one of {:?}",
            svc.adapters.kinds()
        )));
    }
    let parsed =
        url::Url::parse(url).map_err(|e| HarborError::bad_request(format!("url {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(HarborError::bad_request("url must be http:// or https://"));
    }
    Ok(())
}

pub(super) async fn list_registries(State(state): State<AppState>, caller: Caller) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let items: Vec<_> = svc
        .store
        .list_registries()
        .await?
        .iter()
        .map(|r| registry_json(svc, r, None))
        .collect();
    Ok(json(StatusCode::OK, &items))
}

pub(super) async fn create_registry(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let r: RegistryReq = body(req).await?;
    let _ = (&r.id, &r.status, &r.creation_time, &r.update_time);
    let name = r
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| HarborError::bad_request("name is required"))?;
    let kind = r.kind.clone().unwrap_or_else(|| "docker-registry".into());
    let url = r
        .url
        .clone()
        .ok_or_else(|| HarborError::bad_request("url is required"))?;
    check_registry(svc, &kind, &url)?;
    let sealed = match credential(&r.credential)? {
        Some(c) => Some(svc.seal(&c).map_err(invalid)?),
        None => None,
    };
    let record = RegistryRecord {
        id: 0,
        name,
        kind,
        url: url.trim_end_matches('/').to_owned(),
        credential: sealed,
        insecure: r.insecure.unwrap_or(false),
        description: r.description.clone().unwrap_or_default(),
        created_at: std::time::SystemTime::now(),
        updated_at: std::time::SystemTime::now(),
    };
    let created_rec = svc.store.create_registry(&record).await?;
    state
        .audit(
            None,
            &caller,
            created_rec.name.clone(),
            AuditResource::Registry,
            AuditOperation::Create,
        )
        .await;
    Ok(created(&format!("/api/v2.0/registries/{}", created_rec.id)))
}

pub(super) async fn get_registry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let r = find_registry(svc, id_of(&id)?).await?;
    let status = match svc.adapter_for(&r) {
        Ok(a) if a.health().await.is_ok() => "healthy",
        _ => "unhealthy",
    };
    Ok(json(StatusCode::OK, &registry_json(svc, &r, Some(status))))
}

pub(super) async fn update_registry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let mut rec = find_registry(svc, id_of(&id)?).await?;
    let r: RegistryReq = body(req).await?;
    if let Some(n) = r.name.clone().filter(|n| !n.trim().is_empty()) {
        rec.name = n;
    }
    if let Some(u) = r.url.clone() {
        rec.url = u.trim_end_matches('/').to_owned();
    }
    if let Some(k) = r.kind.clone() {
        rec.kind = k;
    }
    check_registry(svc, &rec.kind, &rec.url)?;
    if let Some(i) = r.insecure {
        rec.insecure = i;
    }
    if let Some(d) = r.description.clone() {
        rec.description = d;
    }
    if r.credential.is_some() {
        rec.credential = match credential(&r.credential)? {
            Some(c) => Some(svc.seal(&c).map_err(invalid)?),
            None => None,
        };
    }
    svc.store.update_registry(&rec).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete_registry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    let rec = find_registry(svc, id).await?;
    for p in svc.store.list_policies().await? {
        if let Ok(policy) = parse_policy(p.id, &p.definition) {
            let uses = [&policy.src_registry, &policy.dest_registry]
                .iter()
                .any(|r| r.as_ref().is_some_and(|r| r.id == id));
            if uses {
                return Err(HarborError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "PRECONDITION",
                    format!("registry {} is used by policy {}", rec.name, policy.name),
                ));
            }
        }
    }
    svc.store.delete_registry(id).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /registries/ping`: checks a stored registry (`id`) or an unsaved one.
pub(super) async fn ping_registry(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let r: RegistryReq = body(req).await?;
    let adapter = match r.id {
        Some(id) => svc
            .adapter_for(&find_registry(svc, id).await?)
            .map_err(invalid)?,
        None => {
            let kind = r.kind.clone().unwrap_or_else(|| "docker-registry".into());
            let url = r
                .url
                .clone()
                .ok_or_else(|| HarborError::bad_request("url or id is required"))?;
            check_registry(svc, &kind, &url)?;
            svc.adapters
                .create(
                    &kind,
                    &Endpoint {
                        url,
                        credential: credential(&r.credential)?,
                        insecure: r.insecure.unwrap_or(false),
                    },
                )
                .map_err(invalid)?
        }
    };
    adapter.health().await.map_err(|e| {
        HarborError::bad_request(format!("the registry is not reachable or refused us: {e}"))
    })?;
    Ok(StatusCode::OK.into_response())
}

async fn checked_policy(svc: &ReplicationService, req: Request) -> ApiResult<Policy> {
    let policy: Policy = body(req).await?;
    policy.validate().map_err(invalid)?;
    let remote = policy
        .dest_registry
        .as_ref()
        .or(policy.src_registry.as_ref())
        .map(|r| r.id);
    if let Some(id) = remote {
        find_registry(svc, id).await?;
    }
    Ok(policy)
}

fn policy_json(
    id: i64,
    definition: &str,
    created: std::time::SystemTime,
    updated: std::time::SystemTime,
) -> ApiResult<serde_json::Value> {
    let mut p = parse_policy(id, definition).map_err(invalid)?;
    p.creation_time = Some(time(created));
    p.update_time = Some(time(updated));
    serde_json::to_value(p).map_err(|e| HarborError::bad_request(e.to_string()))
}

pub(super) async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let mut all = svc.store.list_policies().await?;
    if let Some(name) = param(&query, "name") {
        all.retain(|p| p.name.contains(name));
    }
    let total = all.len() as u64;
    let mut items = Vec::new();
    for p in all
        .iter()
        .skip(((page.page - 1) * page.page_size) as usize)
        .take(page.page_size as usize)
    {
        items.push(policy_json(
            p.id,
            &p.definition,
            p.created_at,
            p.updated_at,
        )?);
    }
    Ok(paged(
        "/api/v2.0/replication/policies",
        &query,
        page,
        total,
        &items,
    ))
}

pub(super) async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let mut policy = checked_policy(svc, req).await?;
    policy.id = 0;
    policy.creation_time = None;
    policy.update_time = None;
    let definition =
        serde_json::to_string(&policy).map_err(|e| HarborError::bad_request(e.to_string()))?;
    let rec = svc.store.create_policy(&policy.name, &definition).await?;
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
    caller.require_admin()?;
    let svc = service(&state)?;
    let p = svc
        .store
        .policy(id_of(&id)?)
        .await?
        .ok_or_else(|| HarborError::not_found("policy not found"))?;
    Ok(json(
        StatusCode::OK,
        &policy_json(p.id, &p.definition, p.created_at, p.updated_at)?,
    ))
}

pub(super) async fn update_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    svc.store
        .policy(id)
        .await?
        .ok_or_else(|| HarborError::not_found("policy not found"))?;
    let mut policy = checked_policy(svc, req).await?;
    policy.id = 0;
    policy.creation_time = None;
    policy.update_time = None;
    let definition =
        serde_json::to_string(&policy).map_err(|e| HarborError::bad_request(e.to_string()))?;
    svc.store
        .update_policy(id, &policy.name, &definition)
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin()?;
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
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let r: StartExecution = body(req).await?;
    svc.store
        .policy(r.policy_id)
        .await?
        .ok_or_else(|| HarborError::not_found(format!("policy {} not found", r.policy_id)))?;
    let e = svc.start(r.policy_id).await.map_err(invalid)?;
    Ok(created(&format!(
        "/api/v2.0/replication/executions/{}",
        e.id
    )))
}

pub(super) async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let policy_id = match param(&query, "policy_id") {
        Some(p) => Some(id_of(p)?),
        None => None,
    };
    let (list, total) = svc.store.list_executions(policy_id, page).await?;
    let items: Vec<_> = list.iter().map(execution_json).collect();
    Ok(paged(
        "/api/v2.0/replication/executions",
        &query,
        page,
        total,
        &items,
    ))
}

pub(super) async fn get_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let e = svc
        .store
        .execution(id_of(&id)?)
        .await?
        .ok_or_else(|| HarborError::not_found("execution not found"))?;
    Ok(json(StatusCode::OK, &execution_json(&e)))
}

/// `PUT /replication/executions/{id}`: stops it.
pub(super) async fn stop_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    svc.store
        .execution(id)
        .await?
        .ok_or_else(|| HarborError::not_found("execution not found"))?;
    svc.runner().stop(id).await.map_err(invalid)?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    caller.require_admin()?;
    let svc = service(&state)?;
    let id = id_of(&id)?;
    svc.store
        .execution(id)
        .await?
        .ok_or_else(|| HarborError::not_found("execution not found"))?;
    let query = query_of(&req);
    let page = page_of(&query)?;
    let mut tasks = svc.store.tasks(id).await?;
    if let Some(s) = param(&query, "status") {
        tasks.retain(|t| t.status.as_str() == s);
    }
    let total = tasks.len() as u64;
    let items: Vec<_> = tasks
        .iter()
        .skip(((page.page - 1) * page.page_size) as usize)
        .take(page.page_size as usize)
        .map(task_json)
        .collect();
    Ok(paged(
        &format!("/api/v2.0/replication/executions/{id}/tasks"),
        &query,
        page,
        total,
        &items,
    ))
}

pub(super) async fn task_log(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let svc = service(&state)?;
    let (id, task) = (id_of(&id)?, id_of(&task)?);
    let t = svc.store.task(task).await?.filter(|t| t.execution_id == id);
    let t = t.ok_or_else(|| HarborError::not_found("task not found"))?;
    let log = svc.store.task_log(t.id).await?.unwrap_or_default();
    let mut resp = (StatusCode::OK, log).into_response();
    super::set(&mut resp, "content-type", "text/plain; charset=utf-8");
    Ok(resp)
}
